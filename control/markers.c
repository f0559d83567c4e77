/*
 * control/markers.c: the WriteTxnMarkers client of markers.h.
 *
 * A request is queued (`q`) until the connection is up, then encoded onto the connection
 * (kconn.h), which keeps it in flight in send order, the answer order.  Any failure of the
 * connection answers every queued and in-flight request with an error; the transaction
 * coordinator sends them again on its next tick (Kafka retries markers until they land).
 */
#include "control/markers.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "control/kconn.h"
#include "kp_errors.h"
#include "kp_msgs.h"

#define V_MARKERS 1
#define RECONNECT_MS 200
#define MAX_IN (16u << 20)

struct item {
	struct item *next;
	struct ctl_txn_markers *m;
	int64_t deadline;
};

struct ctl_markers {
	struct ctl_markers_ops ops;
	struct ctl_kconn conn;          /* in flight there: each request's struct item */
	int64_t now, retry_at;
	struct item *q, *q_tail;        /* waiting for the connection */
};

static int on_answer(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *r, struct rt_arena *a);

static int64_t mono_ms(void)
{
	return (int64_t)(rt_clock_ns() / 1000000);
}

struct ctl_markers *ctl_markers_create(const char *host, int port, const struct ctl_markers_ops *ops)
{
	struct ctl_markers *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	mc->ops = *ops;
	ctl_kconn_init(&mc->conn, "markers", host, port, MAX_IN, 64u << 20, on_answer, mc);
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

struct lost_ctx {
	struct ctl_markers *mc;
	int16_t err;
};

static void lost_item(void *ctx, void *arg)
{
	struct lost_ctx *l = ctx;
	struct item *it = arg;
	it->next = NULL;
	fail_list(l->mc, it, l->err);
}

static void free_item(void *ctx, void *arg)
{
	(void)ctx;
	free(arg);
}

/* Closes the connection and answers everything with err, in flight first. */
static void drop(struct ctl_markers *mc, int16_t err, const char *why)
{
	mc->retry_at = mc->now + RECONNECT_MS;
	struct item *q = mc->q;
	mc->q = mc->q_tail = NULL;
	struct lost_ctx l = { mc, err };
	ctl_kconn_close(&mc->conn, why, lost_item, &l);
	fail_list(mc, q, err);
}

void ctl_markers_destroy(struct ctl_markers *mc)
{
	if (!mc)
		return;
	ctl_kconn_close(&mc->conn, NULL, free_item, NULL);
	ctl_kconn_fini(&mc->conn);
	while (mc->q) {
		struct item *n = mc->q->next;
		free(mc->q);
		mc->q = n;
	}
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
	rc = ctl_kconn_send(&mc->conn, KP_API_WRITE_TXN_MARKERS, V_MARKERS, &req, it);
done:
	free(mks);
	free(tps);
	free(parts);
	return rc;
}

/* One answer: each partition's error, matched by topic and partition.  Returns 0 or -EPROTO
 * (malformed: the connection is dropped with it; kconn.h). */
static int on_answer(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *r, struct rt_arena *a)
{
	struct ctl_markers *mc = ctx;
	struct item *it = arg;
	struct kp_write_txn_markers_resp resp;
	kp_write_txn_markers_resp_init(&resp);
	if (kp_api_lookup(key)->resp_decode(r, version, a, &resp))
		return -EPROTO;
	const struct ctl_txn_markers *m = it->m;
	int16_t *errs = calloc(m->ntps ? m->ntps : 1, sizeof(*errs));
	if (!errs)
		abort();
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
	return 0;
}

static void do_write(struct ctl_markers *mc)
{
	int rc = ctl_kconn_write(&mc->conn);
	if (rc)
		drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, strerror(-rc));
}

int ctl_markers_fd(const struct ctl_markers *mc)
{
	return ctl_kconn_fd(&mc->conn);
}

short ctl_markers_events(const struct ctl_markers *mc)
{
	return ctl_kconn_events(&mc->conn);
}

void ctl_markers_io(struct ctl_markers *mc, short revents)
{
	mc->now = mono_ms();
	if (ctl_kconn_fd(&mc->conn) < 0)
		return;
	if (ctl_kconn_connecting(&mc->conn) && ctl_kconn_connect_done(&mc->conn)) {
		drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		const char *why;
		int rc = ctl_kconn_read(&mc->conn, &why);
		/* The broker's bytes making no sense is not the connection's fault. */
		if (rc)
			drop(mc, rc == -EPROTO ? KP_ERR_UNKNOWN_SERVER_ERROR : KP_ERR_COORDINATOR_NOT_AVAILABLE, why);
	}
	if (ctl_kconn_fd(&mc->conn) >= 0)
		do_write(mc);
}

void ctl_markers_tick(struct ctl_markers *mc, int64_t now_ms)
{
	(void)now_ms;   /* the client keeps its own monotonic time */
	mc->now = mono_ms();
	if (ctl_kconn_fd(&mc->conn) < 0 && mc->q) {
		if (mc->now < mc->retry_at)
			return;
		if (ctl_kconn_connect(&mc->conn)) {
			drop(mc, KP_ERR_COORDINATOR_NOT_AVAILABLE, NULL);
			return;
		}
	}
	const struct item *oldest = ctl_kconn_oldest(&mc->conn);
	if (oldest && mc->now >= oldest->deadline) {
		drop(mc, KP_ERR_REQUEST_TIMED_OUT, "no WriteTxnMarkers answer in time");
		return;
	}
	if (ctl_kconn_fd(&mc->conn) < 0 || ctl_kconn_connecting(&mc->conn))
		return;
	while (mc->q) {
		struct item *it = mc->q;
		it->deadline = mc->now + CTL_MARKERS_TIMEOUT_MS;
		if (encode(mc, it)) {
			drop(mc, KP_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
			return;
		}
		/* in flight now (kconn.h) */
		mc->q = it->next;
		if (!mc->q)
			mc->q_tail = NULL;
		it->next = NULL;
	}
	if (ctl_kconn_pending(&mc->conn))
		do_write(mc);
}
