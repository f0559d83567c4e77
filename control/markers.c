/*
 * control/markers.c: the WriteTxnMarkers client of markers.h.
 *
 * A request is queued (`q`) until the connection is up, then encoded into `out` and moved to
 * the in-flight list (`fl`, in send order, which is the answer order).  Any failure of the
 * connection answers every queued and in-flight request with an error; the transaction
 * coordinator sends them again on its next tick (Kafka retries markers until they land).
 */
#include "control/markers.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "base/chain.h"
#include "base/clock.h"
#include "base/log.h"
#include "kp_errors.h"
#include "kp_msgs.h"

#define V_MARKERS 1
#define RECONNECT_MS 200
#define MAX_IN (16u << 20)

struct item {
	struct item *next;
	struct ctl_txn_markers *m;
	int32_t corr;
	int64_t deadline;
};

struct ctl_markers {
	char host[256];
	int port;
	struct ctl_markers_ops ops;
	int fd;
	bool connecting;
	int64_t now, retry_at;
	int32_t corr;
	struct rt_buf out, in;
	size_t out_off;
	struct item *q, *q_tail;        /* waiting for the connection */
	struct item *fl, *fl_tail;      /* sent, answers in this order */
};

static int64_t mono_ms(void)
{
	return (int64_t)(rt_clock_ns() / 1000000);
}

struct ctl_markers *ctl_markers_create(const char *host, int port, const struct ctl_markers_ops *ops)
{
	struct ctl_markers *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	snprintf(mc->host, sizeof(mc->host), "%s", host);
	mc->port = port;
	mc->ops = *ops;
	mc->fd = -1;
	rt_buf_init(&mc->out, 0);
	rt_buf_init(&mc->in, MAX_IN);
	return mc;
}

static void fail_list(struct ctl_markers *mc, struct item *it, int16_t err)
{
	while (it) {
		struct item *n = it->next;
		mc->ops.done(mc->ops.ctx, it->m, NULL, err);
		free(it);
		it = n;
	}
}

/* Closes the connection and answers everything with err. */
static void drop(struct ctl_markers *mc, int16_t err, const char *why)
{
	if (mc->fd >= 0) {
		if (why)
			RT_WARN("markers: connection to %s:%d lost: %s", mc->host, mc->port, why);
		close(mc->fd);
	}
	mc->fd = -1;
	mc->connecting = false;
	mc->retry_at = mc->now + RECONNECT_MS;
	rt_buf_reset(&mc->out);
	rt_buf_reset(&mc->in);
	mc->out_off = 0;
	struct item *fl = mc->fl, *q = mc->q;
	mc->fl = mc->fl_tail = mc->q = mc->q_tail = NULL;
	fail_list(mc, fl, err);
	fail_list(mc, q, err);
}

void ctl_markers_destroy(struct ctl_markers *mc)
{
	if (!mc)
		return;
	if (mc->fd >= 0)
		close(mc->fd);
	for (struct item *lists[2] = { mc->q, mc->fl }, **l = lists; l < lists + 2; l++)
		while (*l) {
			struct item *n = (*l)->next;
			free(*l);
			*l = n;
		}
	rt_buf_fini(&mc->out);
	rt_buf_fini(&mc->in);
	free(mc);
}

void ctl_markers_send(struct ctl_markers *mc, struct ctl_txn_markers *m)
{
	struct item *it = calloc(1, sizeof(*it));
	if (!it)
		abort(); /* the control process cannot run without memory; it is restarted */
	it->m = m;
	if (mc->q_tail)
		mc->q_tail->next = it;
	else
		mc->q = it;
	mc->q_tail = it;
}

/* WriteTxnMarkers v1 with one marker entry per partition, so that the answer can be matched by
 * name and partition whatever order the dataplane answers in, and so that no two partitions
 * share one marker batch in the dataplane (each partition's append stamps its own offset into
 * the bytes it writes; a shared copy once got other partitions' offsets).  Returns 0 or
 * -ENOMEM. */
static int encode(struct ctl_markers *mc, struct item *it)
{
	const struct ctl_txn_markers *m = it->m;
	size_t n = m->ntps ? m->ntps : 1;
	struct kp_write_txn_markers_req_writable_txn_marker *mks = calloc(n, sizeof(*mks));
	struct kp_write_txn_markers_req_writable_txn_marker_topic *tps = calloc(n, sizeof(*tps));
	int32_t *parts = calloc(n, sizeof(*parts));
	struct rt_chain c;
	rt_chain_init(&c, 0);
	int rc = -ENOMEM;
	if (!mks || !tps || !parts)
		goto done;
	for (size_t i = 0; i < m->ntps; i++) {
		kp_write_txn_markers_req_writable_txn_marker_topic_init(&tps[i]);
		tps[i].name = (struct kp_str){ m->tps[i].topic, (int32_t)strlen(m->tps[i].topic) };
		parts[i] = m->tps[i].partition;
		tps[i].partition_indexes.items = &parts[i];
		tps[i].partition_indexes.n = 1;
		kp_write_txn_markers_req_writable_txn_marker_init(&mks[i]);
		mks[i].producer_id = m->producer_id;
		mks[i].producer_epoch = m->producer_epoch;
		mks[i].transaction_result = m->commit;
		mks[i].coordinator_epoch = m->coordinator_epoch;
		mks[i].topics.items = &tps[i];
		mks[i].topics.n = 1;
	}
	struct kp_write_txn_markers_req req;
	kp_write_txn_markers_req_init(&req);
	req.markers.items = mks;
	req.markers.n = (int32_t)m->ntps;
	struct kp_frame f = kp_frame_begin(&c);
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = KP_API_WRITE_TXN_MARKERS;
	h.request_api_version = V_MARKERS;
	h.correlation_id = it->corr = ++mc->corr;
	h.client_id = (struct kp_str){ "ringtail-control", 16 };
	kp_req_hdr_encode(&c, &h);
	kp_api_lookup(KP_API_WRITE_TXN_MARKERS)->req_encode(&c, V_MARKERS, &req);
	kp_frame_end(&c, f);
	if (rt_chain_finish(&c))
		goto done;
	size_t len = rt_chain_len(&c);
	uint8_t *p = rt_buf_extend(&mc->out, len);
	if (!p)
		goto done;
	if (rt_chain_flatten(&c, p)) {
		mc->out.len -= len;
		goto done;
	}
	rc = 0;
done:
	rt_chain_fini(&c);
	free(mks);
	free(tps);
	free(parts);
	return rc;
}

/* One answer: each partition's error, matched by topic and partition. */
static void on_answer(struct ctl_markers *mc, struct item *it, const uint8_t *p, size_t n)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 64u << 20);
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	struct kp_resp_hdr h;
	struct kp_write_txn_markers_resp resp;
	kp_write_txn_markers_resp_init(&resp);
	const struct ctl_txn_markers *m = it->m;
	int16_t *errs = calloc(m->ntps ? m->ntps : 1, sizeof(*errs));
	if (!errs)
		abort();
	if (kp_resp_hdr_decode(&r, KP_API_WRITE_TXN_MARKERS, V_MARKERS, &a, &h) || h.correlation_id != it->corr ||
	    kp_api_lookup(KP_API_WRITE_TXN_MARKERS)->resp_decode(&r, V_MARKERS, &a, &resp)) {
		free(errs);
		rt_arena_fini(&a);
		it->next = mc->fl;         /* answered with the rest by drop() */
		mc->fl = it;
		if (!mc->fl_tail)
			mc->fl_tail = it;
		drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "malformed WriteTxnMarkers answer");
		return;
	}
	for (size_t i = 0; i < m->ntps; i++) {
		errs[i] = KP_ERR_UNKNOWN_SERVER_ERROR;
		size_t tl = strlen(m->tps[i].topic);
		for (int32_t x = 0; x < resp.markers.n; x++)
			for (int32_t t = 0; t < resp.markers.items[x].topics.n; t++) {
				const struct kp_write_txn_markers_resp_writable_txn_marker_topic_result *rt =
					&resp.markers.items[x].topics.items[t];
				if (rt->name.len != (int32_t)tl || memcmp(rt->name.ptr, m->tps[i].topic, tl))
					continue;
				for (int32_t k = 0; k < rt->partitions.n; k++)
					if (rt->partitions.items[k].partition_index == m->tps[i].partition)
						errs[i] = rt->partitions.items[k].error_code;
			}
	}
	mc->ops.done(mc->ops.ctx, it->m, errs, 0);
	free(errs);
	free(it);
	rt_arena_fini(&a);
}

static void do_read(struct ctl_markers *mc)
{
	for (;;) {
		if (rt_buf_reserve(&mc->in, 65536)) {
			drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "answer too large");
			return;
		}
		ssize_t k = recv(mc->fd, mc->in.data + mc->in.len, mc->in.cap - mc->in.len, 0);
		if (k == 0) {
			drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, "closed by the broker");
			return;
		}
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, strerror(errno));
			return;
		}
		mc->in.len += (size_t)k;
		size_t off = 0;
		while (mc->fd >= 0 && mc->in.len - off >= 4) {
			uint32_t fl = rt_be32_get(mc->in.data + off);
			if (fl > MAX_IN - 4) {
				drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "bad frame length");
				return;
			}
			if (mc->in.len - off - 4 < fl)
				break;
			struct item *it = mc->fl;
			if (!it) {
				drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "an answer nobody asked for");
				return;
			}
			mc->fl = it->next;
			if (!mc->fl)
				mc->fl_tail = NULL;
			it->next = NULL;
			on_answer(mc, it, mc->in.data + off + 4, fl);
			off += 4 + fl;
		}
		if (mc->fd < 0)
			return;
		if (off) {
			memmove(mc->in.data, mc->in.data + off, mc->in.len - off);
			mc->in.len -= off;
		}
	}
}

static void do_write(struct ctl_markers *mc)
{
	while (mc->out.len > mc->out_off) {
		ssize_t k = send(mc->fd, mc->out.data + mc->out_off, mc->out.len - mc->out_off, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno != EAGAIN && errno != EINTR)
				drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, strerror(errno));
			return;
		}
		mc->out_off += (size_t)k;
	}
	rt_buf_reset(&mc->out);
	mc->out_off = 0;
}

int ctl_markers_fd(const struct ctl_markers *mc)
{
	return mc->fd;
}

short ctl_markers_events(const struct ctl_markers *mc)
{
	if (mc->fd < 0)
		return 0;
	if (mc->connecting)
		return POLLOUT;
	return (short)(POLLIN | (mc->out.len > mc->out_off ? POLLOUT : 0));
}

void ctl_markers_io(struct ctl_markers *mc, short revents)
{
	mc->now = mono_ms();
	if (mc->fd < 0)
		return;
	if (mc->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(mc->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
			return;
		}
		mc->connecting = false;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		do_read(mc);
	if (mc->fd >= 0)
		do_write(mc);
}

static void try_connect(struct ctl_markers *mc)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", mc->port);
	if (getaddrinfo(mc->host, port, &hints, &res) || !res) {
		drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
		return;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc && errno != EINPROGRESS) {
		close(fd);
		drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
		return;
	}
	mc->fd = fd;
	mc->connecting = rc != 0;
}

void ctl_markers_tick(struct ctl_markers *mc, int64_t now_ms)
{
	(void)now_ms;   /* the client keeps its own monotonic time */
	mc->now = mono_ms();
	if (mc->fd < 0 && mc->q) {
		if (mc->now < mc->retry_at)
			return;
		try_connect(mc);
		if (mc->fd < 0)
			return;
	}
	if (mc->fl && mc->now >= mc->fl->deadline) {
		drop(mc, KP_ERR_REQUEST_TIMED_OUT, "no WriteTxnMarkers answer in time");
		return;
	}
	if (mc->fd < 0 || mc->connecting)
		return;
	while (mc->q) {
		struct item *it = mc->q;
		if (encode(mc, it)) {
			drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
			return;
		}
		mc->q = it->next;
		if (!mc->q)
			mc->q_tail = NULL;
		it->next = NULL;
		it->deadline = mc->now + CTL_MARKERS_TIMEOUT_MS;
		if (mc->fl_tail)
			mc->fl_tail->next = it;
		else
			mc->fl = it;
		mc->fl_tail = it;
	}
	if (mc->out.len > mc->out_off)
		do_write(mc);
}
