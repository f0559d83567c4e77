/*
 * control/txn_service.c: the transaction coordinator in the control process (see
 * txn_service.h).  Each coordinator record travels as a one-record struct ctl_append whose
 * `req` points back at the coordinator's struct ctl_txn_append.
 */
#include "control/txn_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "control/store.h"
#include "base/bytes.h"
#include "base/arena.h"
#include "base/chain.h"
#include "kp_msgs.h"

struct ctl_txnsvc {
	struct ctl_txn_coord *coord;
	struct ctl_store *store;        /* NULL until the first request needs the topic */
	char host[256];
	int port;
	int32_t partitions;
	struct ctl_txn_ops user;
	int64_t last_marker_log;
};

static void free_append(struct ctl_append *a)
{
	rt_buf_fini(&a->data);
	free(a->kv);
	free(a);
}

static void on_append(void *ctx, struct ctl_txn_append *ta)
{
	struct ctl_txnsvc *t = ctx;
	struct ctl_append *a = calloc(1, sizeof(*a));
	struct ctl_kv *kv = calloc(1, sizeof(*kv));
	if (!a || !kv) {
		free(a);
		free(kv);
		ctl_txn_append_done(t->coord, ta, -1);  /* UNKNOWN_SERVER_ERROR */
		return;
	}
	rt_buf_init(&a->data, 0);
	rt_buf_put(&a->data, ta->key.data, ta->key.len);
	rt_buf_put(&a->data, ta->value.data, ta->value.len);
	*kv = (struct ctl_kv){ .koff = 0, .klen = (uint32_t)ta->key.len, .voff = (uint32_t)ta->key.len,
	                       .vlen = ta->tombstone ? -1 : (int32_t)ta->value.len };
	a->partition = ta->partition;
	a->kv = kv;
	a->n = a->cap = 1;
	a->req = ta;
	if (a->data.err) {
		free_append(a);
		ctl_txn_append_done(t->coord, ta, -1);
		return;
	}
	ctl_store_append(t->store, a);
}

/* Reads exactly n bytes; 0 or -1 (error, timeout or EOF). */
static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Sends m as one WriteTxnMarkers v1 request on a fresh connection to the dataplane and waits
 * for the answer (at most 10 s).  Blocking by choice for this first step: the dataplane answers
 * markers without the control process, so this cannot deadlock, but the control loop stalls
 * for the round trip.  Returns the first partition error, or 0 when every partition has its
 * marker, or COORDINATOR_NOT_AVAILABLE (15) when the dataplane could not be asked. */
static int16_t send_markers(struct ctl_txnsvc *t, const struct ctl_txn_markers *m)
{
	int16_t err = 15;
	struct kp_write_txn_markers_req req;
	kp_write_txn_markers_req_init(&req);
	struct kp_write_txn_markers_req_writable_txn_marker mk;
	kp_write_txn_markers_req_writable_txn_marker_init(&mk);
	struct kp_write_txn_markers_req_writable_txn_marker_topic *tps = calloc(m->ntps ? m->ntps : 1, sizeof(*tps));
	int32_t *parts = calloc(m->ntps ? m->ntps : 1, sizeof(*parts));
	struct rt_chain c;
	rt_chain_init(&c, 0);
	uint8_t *out = NULL, *in = NULL;
	int fd = -1;
	struct rt_arena a;
	rt_arena_init(&a, 0, 16u << 20);
	if (!tps || !parts)
		goto done;
	for (size_t i = 0; i < m->ntps; i++) {
		kp_write_txn_markers_req_writable_txn_marker_topic_init(&tps[i]);
		tps[i].name = (struct kp_str){ m->tps[i].topic, (int32_t)strlen(m->tps[i].topic) };
		parts[i] = m->tps[i].partition;
		tps[i].partition_indexes.items = &parts[i];
		tps[i].partition_indexes.n = 1;
	}
	mk.producer_id = m->producer_id;
	mk.producer_epoch = m->producer_epoch;
	mk.transaction_result = m->commit;
	mk.coordinator_epoch = m->coordinator_epoch;
	mk.topics.items = tps;
	mk.topics.n = (int32_t)m->ntps;
	req.markers.items = &mk;
	req.markers.n = 1;
	const struct kp_api_info *info = kp_api_lookup(KP_API_WRITE_TXN_MARKERS);
	struct kp_frame f = kp_frame_begin(&c);
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = KP_API_WRITE_TXN_MARKERS;
	h.request_api_version = 1;
	h.correlation_id = 1;
	h.client_id = (struct kp_str){ "ringtail-control", 16 };
	kp_req_hdr_encode(&c, &h);
	info->req_encode(&c, 1, &req);
	kp_frame_end(&c, f);
	if (rt_chain_finish(&c))
		goto done;
	size_t n = rt_chain_len(&c);
	if (!(out = malloc(n)) || rt_chain_flatten(&c, out))
		goto done;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto done;
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->port) };
	if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto done;
	for (size_t off = 0; off < n;) {
		ssize_t k = write(fd, out + off, n - off);
		if (k <= 0)
			goto done;
		off += (size_t)k;
	}
	uint8_t lb[4];
	if (read_full(fd, lb, 4))
		goto done;
	uint32_t len = rt_be32_get(lb);
	if (len > (16u << 20) || !(in = malloc(len ? len : 1)) || read_full(fd, in, len))
		goto done;
	struct rt_rd r;
	rt_rd_init(&r, in, len);
	struct kp_resp_hdr rh;
	struct kp_write_txn_markers_resp resp;
	kp_write_txn_markers_resp_init(&resp);
	if (kp_resp_hdr_decode(&r, KP_API_WRITE_TXN_MARKERS, 1, &a, &rh) ||
	    info->resp_decode(&r, 1, &a, &resp))
		goto done;
	err = 0;
	for (int32_t i = 0; i < resp.markers.n && !err; i++)
		for (int32_t k = 0; k < resp.markers.items[i].topics.n && !err; k++)
			for (int32_t p = 0; p < resp.markers.items[i].topics.items[k].partitions.n && !err; p++)
				err = resp.markers.items[i].topics.items[k].partitions.items[p].error_code;
done:
	if (fd >= 0)
		close(fd);
	free(in);
	free(out);
	rt_chain_fini(&c);
	rt_arena_fini(&a);
	free(tps);
	free(parts);
	return err;
}

static void on_markers(void *ctx, struct ctl_txn_markers *m)
{
	struct ctl_txnsvc *t = ctx;
	int16_t err = send_markers(t, m);
	int64_t now = (int64_t)(rt_clock_ns() / 1000000);
	if (err && now - t->last_marker_log > 10000) {
		t->last_marker_log = now;
		RT_WARN("transaction of producer %lld: WriteTxnMarkers answered %d; retrying",
		        (long long)m->producer_id, err);
	}
	ctl_txn_markers_done(t->coord, m, err);
}

static void sink_record(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, int32_t vl)
{
	struct ctl_txnsvc *t = ctx;
	if (ctl_txn_load_record(t->coord, k, kl, vl < 0 ? NULL : v, vl < 0 ? 0 : (size_t)vl))
		RT_WARN("__transaction_state: an undecodable record skipped");
}

static void sink_done(void *ctx)
{
	struct ctl_txnsvc *t = ctx;
	ctl_txn_load_done(t->coord, rt_clock_wall_ms());
}

static void sink_append_done(void *ctx, struct ctl_append *a, int16_t err)
{
	struct ctl_txnsvc *t = ctx;
	struct ctl_txn_append *ta = a->req;
	free_append(a);
	ctl_txn_append_done(t->coord, ta, err);
}

static void tramp_init(void *ctx, void *req, int16_t err, int64_t pid, int16_t epoch)
{
	struct ctl_txnsvc *t = ctx;
	t->user.init_pid_done(t->user.ctx, req, err, pid, epoch);
}

static void tramp_done(void *ctx, void *req, int16_t err)
{
	struct ctl_txnsvc *t = ctx;
	t->user.done(t->user.ctx, req, err);
}

struct ctl_txnsvc *ctl_txnsvc_create(const char *host, int port, const struct ctl_txn_config *cfg,
                                     const struct ctl_txn_ops *ops)
{
	struct ctl_txnsvc *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->user = *ops;
	struct ctl_txn_ops o = *ops;
	o.append = on_append;
	o.markers = on_markers;
	o.init_pid_done = tramp_init;
	o.done = tramp_done;
	o.ctx = t;              /* answers go on to the user's callbacks with the user's ctx */
	t->coord = ctl_txn_create(cfg, &o);
	if (!t->coord) {
		free(t);
		return NULL;
	}
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->port = port;
	t->partitions = cfg->log_partitions;
	return t;
}

struct ctl_txn_coord *ctl_txnsvc_use(struct ctl_txnsvc *t)
{
	if (!t->store) {
		struct ctl_store_sink sink = { t, sink_record, sink_done, NULL, sink_append_done };
		t->store = ctl_store_create_sink(t->host, t->port, "__transaction_state", t->partitions,
		                                 &sink);
		if (t->store)
			RT_INFO("transaction coordinator: loading __transaction_state");
	}
	return t->coord;
}

void ctl_txnsvc_destroy(struct ctl_txnsvc *t)
{
	if (!t)
		return;
	if (t->store)
		ctl_store_destroy(t->store);
	ctl_txn_destroy(t->coord);
	free(t);
}

struct ctl_txn_coord *ctl_txnsvc_coord(struct ctl_txnsvc *t)
{
	return t->coord;
}

struct ctl_store *ctl_txnsvc_store(struct ctl_txnsvc *t)
{
	return t->store;
}

void ctl_txnsvc_tick(struct ctl_txnsvc *t, int64_t now_ms)
{
	ctl_txn_tick(t->coord, now_ms);
}
