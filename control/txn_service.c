/*
 * control/txn_service.c: the transaction coordinator in the control process (see
 * txn_service.h).  Each coordinator record travels as a one-record struct ctl_append whose
 * `req` points back at the coordinator's struct ctl_txn_append.
 */
#include "control/txn_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "control/markers.h"
#include "control/store.h"

struct ctl_txnsvc {
	struct ctl_txn_coord *coord;
	struct ctl_store *store;        /* opened at creation; NULL only when that failed */
	char host[256];
	int port;
	int32_t partitions;
	struct ctl_txn_ops user;
	int64_t last_marker_log;
	struct ctl_markers *mc;         /* WriteTxnMarkers to the dataplane */
	struct ctl_coord *groups;       /* the group coordinator (TxnOffsetCommit); borrowed */
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

/* The coordinator hands out a transaction's markers.  They wait while a TxnOffsetCommit of the
 * producer is still being written (its offset records must precede the marker in the log);
 * the coordinator tries again on its next tick. */
static void on_markers(void *ctx, struct ctl_txn_markers *m)
{
	struct ctl_txnsvc *t = ctx;
	if (t->groups && ctl_coord_txn_writing(t->groups, m->producer_id)) {
		ctl_txn_markers_done(t->coord, m, CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
		return;
	}
	ctl_markers_send(t->mc, m);
}

/* The dataplane's answer.  A partition whose topic is gone (UNKNOWN_TOPIC_OR_PARTITION: the
 * dataplane's registry no longer has it) counts as done, as Kafka skips the markers of
 * partitions whose leader is unknown; any other error sends the markers again later.  A
 * marker that landed on `__consumer_offsets` settles the transaction's offsets there. */
static void on_markers_done(void *ctx, struct ctl_txn_markers *m, const int16_t *errs, int16_t err)
{
	struct ctl_txnsvc *t = ctx;
	int16_t first = errs ? 0 : err;
	for (size_t i = 0; errs && i < m->ntps; i++) {
		if (!errs[i]) {
			if (t->groups && !strcmp(m->tps[i].topic, "__consumer_offsets"))
				ctl_coord_txn_complete(t->groups, m->tps[i].partition, m->producer_id, m->commit);
		} else if (errs[i] == CTL_ERR_UNKNOWN_TOPIC_OR_PARTITION) {
			RT_INFO("transaction of producer %lld: %s-%d no longer exists; its %s marker is dropped",
			        (long long)m->producer_id, m->tps[i].topic, m->tps[i].partition,
			        m->commit ? "COMMIT" : "ABORT");
		} else if (!first) {
			first = errs[i];
		}
	}
	int64_t now = (int64_t)(rt_clock_ns() / 1000000);
	if (first && now - t->last_marker_log > 10000) {
		t->last_marker_log = now;
		RT_WARN("transaction of producer %lld: WriteTxnMarkers answered %d; retrying",
		        (long long)m->producer_id, first);
	}
	ctl_txn_markers_done(t->coord, m, first);
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
	if (t->store && ctl_store_missing(t->store))
		ctl_txn_defer_ids(t->coord);
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

/* Opens the store: it loads `__transaction_state` when the topic exists and creates it with the
 * first write otherwise. */
static void open_store(struct ctl_txnsvc *t)
{
	struct ctl_store_sink sink = { t, sink_record, sink_done, NULL, sink_append_done };
	t->store = ctl_store_create_sink(t->host, t->port, "__transaction_state", t->partitions, &sink);
	if (!t->store)
		return;
	ctl_store_create_lazily(t->store);
	RT_INFO("transaction coordinator: loading __transaction_state");
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
	struct ctl_markers_ops mo = { t, on_markers_done };
	t->mc = ctl_markers_create(host, port, &mo);
	if (!t->mc) {
		ctl_txn_destroy(t->coord);
		free(t);
		return NULL;
	}
	/* Loaded at once, as Kafka loads the partitions of __transaction_state when it becomes
	 * their leader: a transaction left in PrepareCommit/PrepareAbort by a killed incarnation
	 * gets its markers, and an abandoned one its timeout abort, without waiting for a client
	 * of the coordinator to come back. (Loaded on first use instead, a consumer whose
	 * require_stable OffsetFetch waited on such a transaction never got to ask.) */
	open_store(t);
	return t;
}

struct ctl_txn_coord *ctl_txnsvc_use(struct ctl_txnsvc *t)
{
	if (!t->store)
		open_store(t);          /* the start could not allocate it */
	return t->coord;
}

void ctl_txnsvc_destroy(struct ctl_txnsvc *t)
{
	if (!t)
		return;
	if (t->store)
		ctl_store_destroy(t->store);
	ctl_markers_destroy(t->mc);
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
	ctl_markers_tick(t->mc, now_ms);
}

void ctl_txnsvc_set_groups(struct ctl_txnsvc *t, struct ctl_coord *groups)
{
	t->groups = groups;
}

int ctl_txnsvc_markers_fd(const struct ctl_txnsvc *t)
{
	return ctl_markers_fd(t->mc);
}

short ctl_txnsvc_markers_events(const struct ctl_txnsvc *t)
{
	return ctl_markers_events(t->mc);
}

void ctl_txnsvc_markers_io(struct ctl_txnsvc *t, short revents)
{
	ctl_markers_io(t->mc, revents);
}
