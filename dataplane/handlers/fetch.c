/*
 * dataplane/handlers/fetch.c: Fetch (key 1).
 *
 * Every requested partition is read on its owner shard at once: storage maps (offset, max
 * bytes) to a range of whole batches in one segment file and pins the segment, reading the
 * batch headers it needs through the owner's io_uring (stor_log_read_start: a page-cache miss
 * delays this partition's answer, never the shard); the range goes
 * into the response as a FILE segment, so the connection's shard moves it from the file to the
 * socket without copying (net_uring.c splices).  A batch that starts before the requested
 * offset is returned whole, as Kafka does; the client skips the records before its offset.
 *
 * Long polling: when a round finds fewer than min_bytes, each owner arms a storage watch (woken
 * by appends past what the round saw) and the connection's shard arms a max_wait timer once;
 * the first wake-up cancels the other watches and another round of reads follows.  That round
 * answers when it finds min_bytes (or an error), or when the timer has run; otherwise it waits
 * again, as Kafka's DelayedFetch completes only once min_bytes have accumulated or max_wait has
 * passed.  Every watch sends exactly one message back (fired or cancelled), so the request
 * outlives all of them.
 *
 * Byte limits: the response's limit is the request's max_bytes (v3+) capped by the broker's
 * fetch.max.bytes (replica.fetch.response.max.bytes for a follower), as Kafka's; each partition
 * reads at most min(partition_max_bytes, that limit); the response then keeps partitions in
 * request order while the total fits the limit (the first partition with data always, even when
 * its first batch alone is larger, as Kafka does) and returns the rest empty.  Copying
 * (ringtail.fetch.zero.copy=false), the reads of a round copy at most the limit between them
 * (rop.copy_budget): a range past it is sent from the file instead, so a fetch of many
 * partitions with huge limits never allocates more.  Pins are released on the owner shard when
 * the response has been sent.
 *
 * read_committed (isolation_level 1, v4+): records stop at the last stable offset and each
 * partition lists the aborted transactions among them (fetch_aborted.c, gathered on the owner
 * shard with the read).
 *
 * Fetch sessions (KIP-227, dataplane/fetch_session.h): the connection's shard keeps the
 * sessions.  A full fetch is answered like a sessionless one and then may get a session made of
 * its partitions; an incremental fetch reads every partition of its session (in the session's
 * order, from the cached offsets updated by the request) and its answer keeps only the
 * partitions with records, an error or a new high watermark or log start offset.
 */
#include <errno.h>
#include <stdlib.h>

#include "../fetch_session.h"
#include "../parts.h"
#include "fetch_aborted.h"
#include "handlers.h"
#include "storage/producer_state.h"

struct fetch_ctx;

struct fpart {
	struct fetch_ctx *ctx;
	struct kp_fetch_resp_partition_data *out;
	const struct dp_topic *topic;
	int32_t index;
	int owner;
	int64_t offset;
	uint32_t max_bytes;
	/* written on the owner shard, read on the connection's shard after the message back */
	struct dp_fs_part *cached;     /* incremental: the session's entry */
	bool keep;                     /* incremental: in the answer */
	struct dp_part *part;
	struct stor_read_op rop;       /* the owner's read (its batch headers come through the ring);
	                                * rop.rd: the range, pinned while len > 0 */
	int16_t err;
	int64_t hwm, lstart;
	int64_t lso;                   /* last stable offset (== hwm without open transactions) */
	int64_t wait_from;             /* long poll: an append past this wakes the fetch */
	struct dp_fetch_aborted ab;    /* read_committed: aborted transactions in rop.rd (owned) */
	/* long poll */
	struct stor_watch w;
	bool w_done;                   /* owner side: fired or cancelled */
	bool w_back;                   /* connection side: its one message has arrived */
};

enum { ROUND1, WAITING, ROUND2 };

struct fetch_ctx {
	struct dp_req *req;
	struct kp_fetch_req *m;
	struct kp_fetch_resp resp;
	struct fpart **parts;          /* the partitions read */
	int n;
	struct fpart *slots;           /* every partition of the answer, in answer order */
	int nslots;
	struct dp_fs_preq *preq;       /* full fetch: slots as the session cache sees them */
	struct dp_fs_ctx fs;
	bool privileged;
	int64_t copy_left;             /* copying: the bytes the round's reads may still copy (their
	                                * rop.copy_budget, taken atomically on the owner shards) */
	int pending;
	int phase;
	bool woken;                    /* this wait's watches are being cancelled */
	bool expired;                  /* the max_wait timer ran (or the drain ended the wait) */
	struct dp_timer timer;         /* armed at the first wait, cancelled by the answer */
};

/* A pin to drop on the owner shard; malloc'ed because the request's arena may be gone. */
struct unpin {
	struct dp_part *part;
	struct stor_read rd;
};

static void unpin_run(struct dp_shard *s, void *arg)
{
	(void)s;
	struct unpin *u = arg;
	stor_read_release(u->part->log, &u->rd);
	u->part->pins--;
	free(u);
}

static void unpin(struct dp_shard *from, struct fpart *j)
{
	free(j->rop.data);             /* a copy not handed to the response */
	j->rop.data = NULL;
	if (!j->part || j->rop.rd.len == 0)
		return;
	struct unpin *u = malloc(sizeof(*u));
	if (!u) {
		/* Cannot happen in practice; leaking the pin only delays a segment's deletion. */
		RT_ERROR("fetch: out of memory releasing a read of %s-%d", j->topic->name, j->index);
		j->rop.rd.len = 0;
		return;
	}
	u->part = j->part;
	u->rd = j->rop.rd;
	j->rop.rd.len = 0;
	dp_shard_post(from, j->owner, unpin_run, u);
}

static void unpin_release(void *arg)
{
	struct fpart *j = arg;
	unpin(j->ctx->req->s, j);
}

static void start_wait(struct fetch_ctx *ctx);

/* ringtail.fetch.zero.copy=false: the copying path that zero-copy is measured against.  The
 * owner read the records into memory through its ring with the range (rop.copy); they are sent
 * from memory and freed with the request.  Without a copy (memory was short) the file range is
 * sent. */
static void copy_records(struct dp_req *req, struct fpart *j, struct kp_fetch_resp_partition_data *o)
{
	uint8_t *p = j->rop.data;
	if (!p)
		return;
	j->rop.data = NULL;
	if (dp_req_on_release(req, free, p)) {
		free(p);
		return;
	}
	o->records = (struct kp_records){ p, (int32_t)j->rop.rd.len, -1, 0 };
}

static struct dp_fs_presp presp_of(const struct kp_fetch_resp_partition_data *o)
{
	return (struct dp_fs_presp){ o->error_code, o->high_watermark, o->log_start_offset,
	                             o->records.len > 0 ? o->records.len : 0 };
}

/* The session step of an answer: a full fetch may get a session of its partitions; an
 * incremental one leaves out the partitions that did not change. */
static void session_answer(struct fetch_ctx *ctx)
{
	struct dp_req *req = ctx->req;
	int64_t now_ms = (int64_t)(req->s->now_ns / 1000000u);
	if (ctx->fs.kind == DP_FS_FULL) {
		struct dp_fs_presp *r = dp_req_array(req, ctx->nslots, sizeof(*r));
		if (!r && ctx->nslots)
			return;                /* no session: the protocol allows it */
		for (int i = 0; i < ctx->nslots; i++)
			r[i] = presp_of(ctx->slots[i].out);
		ctx->resp.session_id = dp_fs_create(req->s->fsess, now_ms, ctx->privileged,
		                                    req->api_version >= 13, ctx->preq, r, ctx->nslots);
		return;
	}
	if (ctx->fs.kind != DP_FS_INCREMENTAL)
		return;
	ctx->resp.session_id = ctx->fs.s->id;
	for (int i = 0; i < ctx->nslots; i++) {
		struct dp_fs_presp r = presp_of(ctx->slots[i].out);
		ctx->slots[i].keep = dp_fs_must_respond(ctx->fs.s, ctx->slots[i].cached, &r);
	}
	/* slots are in answer order: walk them beside the topics and partitions */
	int si = 0;
	int32_t nt = 0;
	for (int32_t t = 0; t < ctx->resp.responses.n; t++) {
		struct kp_fetch_resp_fetchable_topic *rt = &ctx->resp.responses.items[t];
		int32_t np = 0;
		for (int32_t k = 0; k < rt->partitions.n; k++, si++)
			if (ctx->slots[si].keep)
				rt->partitions.items[np++] = rt->partitions.items[k];
		rt->partitions.n = np;
		if (np)
			ctx->resp.responses.items[nt++] = *rt;
	}
	ctx->resp.responses.n = nt;
}

/* read_committed (issue 7): stop at the LSO and list the aborted transactions */
static bool committed(const struct fetch_ctx *ctx)
{
	return ctx->req->api_version >= 4 && ctx->m->isolation_level == 1;
}

/* The response's byte limit: the request's max_bytes (v3+), capped by the broker's
 * fetch.max.bytes, or replica.fetch.response.max.bytes for a follower, as Kafka's. */
static int64_t resp_limit(const struct fetch_ctx *ctx)
{
	const struct dp_config *c = &dp_req_broker(ctx->req)->cfg;
	int64_t limit = ctx->req->api_version >= 3 ? ctx->m->max_bytes : INT32_MAX;
	int64_t cap = ctx->privileged ? c->replica_fetch_response_max_bytes : c->fetch_max_bytes;
	return limit < cap ? limit : cap;
}

static void respond(struct fetch_ctx *ctx)
{
	struct dp_req *req = ctx->req;
	dp_timer_cancel(req->s, &ctx->timer);
	if (ctx->fs.kind == DP_FS_INCREMENTAL && !dp_fs_ctx_current(&ctx->fs)) {
		/* Another fetch used the session while this one waited (Kafka: "possible duplicate
		 * request"). */
		for (int i = 0; i < ctx->n; i++) {
			unpin(req->s, ctx->parts[i]);
			dp_fetch_aborted_drop(&ctx->parts[i]->ab);
		}
		ctx->resp.error_code = KP_ERR_INVALID_FETCH_SESSION_EPOCH;
		ctx->resp.session_id = ctx->fs.s->id;
		ctx->resp.responses.n = 0;
		dp_req_respond(req, &ctx->resp);
		return;
	}
	int64_t limit = resp_limit(ctx);
	int64_t used = 0;
	bool first = true;
	for (int i = 0; i < ctx->n; i++) {
		struct fpart *j = ctx->parts[i];
		struct kp_fetch_resp_partition_data *o = j->out;
		o->error_code = j->err;
		o->high_watermark = j->hwm;
		o->last_stable_offset = j->lso;
		o->log_start_offset = j->lstart;
		if (j->err || j->rop.rd.len == 0)
			continue;
		if ((first || used + j->rop.rd.len <= limit) &&
		    dp_fetch_aborted_put(req, o, &j->ab, committed(ctx))) {
			first = false;
			used += j->rop.rd.len;
			o->records = (struct kp_records){ NULL, (int32_t)j->rop.rd.len, j->rop.rd.fd, j->rop.rd.pos };
			copy_records(req, j, o);
			if (dp_req_on_release(req, unpin_release, j))
				unpin(req->s, j);
		} else {
			unpin(req->s, j);
		}
	}
	for (int i = 0; i < ctx->n; i++)
		dp_fetch_aborted_drop(&ctx->parts[i]->ab);
	session_answer(ctx);
	dp_req_respond(req, &ctx->resp);
}

/* One read of the round is back (or the round's own extra count is dropped). */
static void read_one_done(struct fetch_ctx *ctx)
{
	if (--ctx->pending)
		return;
	int64_t bytes = 0;
	bool err = false;
	for (int i = 0; i < ctx->n; i++) {
		bytes += ctx->parts[i]->rop.rd.len;
		err |= ctx->parts[i]->err != 0;
	}
	struct dp_broker *b = dp_req_broker(ctx->req);
	if (!err && bytes < ctx->m->min_bytes && ctx->m->max_wait_ms > 0 && !ctx->expired &&
	    atomic_load(&b->phase) == DP_RUNNING) {
		start_wait(ctx);
		return;
	}
	respond(ctx);
}

static void read_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct fpart *j = arg;
	read_one_done(j->ctx);
}

/* The owner's read is finished (now, or from the ring's completion): the aborted transactions
 * of a read_committed range, then the answer goes back to the connection's shard. */
static void read_finish(struct dp_shard *s, struct fpart *j, int rc)
{
	struct stor_log *log = j->part->log;
	if (!rc && j->rop.rd.len && committed(j->ctx) &&
	    dp_fetch_aborted_collect(log, j->offset, &j->rop.rd, &j->ab)) {
		stor_read_release(log, &j->rop.rd);
		j->rop.rd.len = 0;   /* no list, no records: the consumer asks again */
		free(j->rop.data);
		j->rop.data = NULL;
	}
	if (rc) {
		j->err = stor_err_to_kafka(rc);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		j->rop.rd.len = 0;
		/* Kafka answers a failed read (OFFSET_OUT_OF_RANGE too) without the offsets
		 * (ReplicaManager.createLogReadResult) */
		j->hwm = j->lstart = j->lso = -1;
	}
	if (!j->rop.rd.len)
		j->part->pins--;       /* the pin taken for the read; a range keeps it until sent */
	dp_shard_post(s, j->ctx->req->s->id, read_back, j);
}

static void read_done(struct stor_read_op *r, int err)
{
	struct fpart *j = rt_container_of(r, struct fpart, rop);
	read_finish(dp_shard_self(), j, err);
}

static void read_run(struct dp_shard *s, void *arg)
{
	struct fpart *j = arg;
	j->part = dp_parts_get(s, j->topic, j->index, &j->err);
	if (!j->part) {
		dp_shard_post(s, j->ctx->req->s->id, read_back, j);
		return;
	}
	struct stor_log *log = j->part->log;
	j->hwm = stor_log_high_watermark(log);
	j->lstart = stor_log_start_offset(log);
	j->lso = j->part->pstate ? stor_pstate_lso(j->part->pstate, j->hwm) : j->hwm;
	/* Pinned from here: the partition is not closed under a header read in flight. */
	j->part->pins++;
	j->rop.offset = j->offset;
	j->rop.max_bytes = j->max_bytes;
	j->rop.max_offset = committed(j->ctx) ? j->lso : j->hwm;
	j->rop.min_one = true;
	j->rop.copy = !dp_req_broker(j->ctx->req)->cfg.fetch_zero_copy;
	j->rop.copy_budget = &j->ctx->copy_left;
	j->rop.done = read_done;
	int rc = stor_log_read_start(log, &j->rop);
	if (rc != -EINPROGRESS)
		read_finish(s, j, rc);
}

static void read_round(struct fetch_ctx *ctx)
{
	ctx->pending = ctx->n + 1;
	ctx->copy_left = resp_limit(ctx);  /* the round before freed or sent its copies */
	for (int i = 0; i < ctx->n; i++) {
		struct fpart *j = ctx->parts[i];
		j->err = 0;
		j->rop.rd.len = 0;
		j->rop.data = NULL;   /* the round before freed or sent its copy (unpin) */
		j->hwm = j->lstart = j->lso = -1;
		dp_fetch_aborted_drop(&j->ab);
		dp_shard_post(ctx->req->s, j->owner, read_run, j);
	}
	/* The extra count keeps an early answer from finishing the round before all are posted. */
	read_one_done(ctx);
}

/* --- long poll --------------------------------------------------------------------------- */

static void watch_back(struct dp_shard *s, void *arg);

static void watch_fire(struct stor_watch *w, int64_t leo)
{
	(void)leo;
	struct fpart *j = rt_container_of(w, struct fpart, w);
	j->w_done = true;
	j->part->pins--;
	dp_shard_post(dp_shard_self(), j->ctx->req->s->id, watch_back, j);
}

static void watch_arm(struct dp_shard *s, void *arg)
{
	struct fpart *j = arg;
	int16_t kerr;
	j->w_done = false;
	j->part = dp_parts_get(s, j->topic, j->index, &kerr);
	if (!j->part) {
		j->w_done = true;
		dp_shard_post(s, j->ctx->req->s->id, watch_back, j);
		return;
	}
	j->w.offset = j->wait_from;
	j->w.fire = watch_fire;
	/* An armed watch keeps the log from being deleted under it (DeleteTopics). */
	j->part->pins++;
	stor_log_watch(j->part->log, &j->w);
}

static void watch_cancel(struct dp_shard *s, void *arg)
{
	struct fpart *j = arg;
	if (j->w_done)
		return;                /* its "fired" message is on the way already */
	stor_log_unwatch(j->part->log, &j->w);
	j->part->pins--;
	j->w_done = true;
	dp_shard_post(s, j->ctx->req->s->id, watch_back, j);
}

static void wake_all(struct fetch_ctx *ctx)
{
	if (ctx->woken)
		return;
	ctx->woken = true;
	for (int i = 0; i < ctx->n; i++)
		if (!ctx->parts[i]->w_back)
			dp_shard_post(ctx->req->s, ctx->parts[i]->owner, watch_cancel, ctx->parts[i]);
}

static void watch_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct fpart *j = arg;
	struct fetch_ctx *ctx = j->ctx;
	j->w_back = true;
	wake_all(ctx);
	if (--ctx->pending == 0) {
		ctx->phase = ROUND2;
		read_round(ctx);
	}
}

static void wait_timeout(struct dp_shard *s, struct dp_timer *t)
{
	(void)s;
	struct fetch_ctx *ctx = rt_container_of(t, struct fetch_ctx, timer);
	ctx->expired = true;
	wake_all(ctx);
}

static void start_wait(struct fetch_ctx *ctx)
{
	struct dp_shard *s = ctx->req->s;
	for (int i = 0; i < ctx->n; i++) {
		unpin(s, ctx->parts[i]);
		dp_fetch_aborted_drop(&ctx->parts[i]->ab);   /* round 2 collects them again */
	}
	ctx->phase = WAITING;
	ctx->woken = false;
	ctx->pending = ctx->n;
	for (int i = 0; i < ctx->n; i++) {
		struct fpart *j = ctx->parts[i];
		/* what the round saw is there already: the next append past it wakes the fetch */
		j->wait_from = j->hwm > j->offset ? j->hwm : j->offset;
		j->w_back = false;
		dp_shard_post(s, j->owner, watch_arm, j);
	}
	if (!ctx->timer.armed) {
		ctx->timer.fn = wait_timeout;
		ctx->timer.ends_wait = true;
		dp_timer_arm(s, &ctx->timer, (uint64_t)ctx->m->max_wait_ms);
	}
}

/* --- request ----------------------------------------------------------------------------- */

static void set_defaults(struct kp_fetch_resp_partition_data *o, int32_t index)
{
	o->partition_index = index;
	o->high_watermark = -1;
	o->last_stable_offset = -1;
	o->log_start_offset = -1;
	o->diverging_epoch.epoch = -1;
	o->diverging_epoch.end_offset = -1;
	o->current_leader.leader_id = -1;
	o->current_leader.leader_epoch = -1;
	o->snapshot_id.end_offset = -1;
	o->snapshot_id.epoch = -1;
	o->aborted_transactions.n = 0;
	o->preferred_read_replica = -1;
	o->records = (struct kp_records){ NULL, 0, -1, 0 };
}

static void fs_release(void *arg)
{
	dp_fs_ctx_fini(arg);
}

static void fs_close_run(struct dp_shard *s, void *arg)
{
	dp_fs_close(s->fsess, (int32_t)(intptr_t)arg);
}

/* Slot i of the answer: the partition's defaults, and a read unless its topic or index is
 * unknown. */
static void add_slot(struct fetch_ctx *ctx, const struct dp_snap *snap, int i,
                     struct kp_fetch_resp_partition_data *o, struct kp_str topic, const uint8_t *id,
                     int32_t partition, int64_t offset, int32_t partition_max_bytes)
{
	struct dp_req *req = ctx->req;
	bool by_id = req->api_version >= 13;
	struct fpart *j = &ctx->slots[i];
	j->ctx = ctx;
	j->out = o;
	j->index = partition;
	set_defaults(o, partition);
	const struct dp_topic *t = by_id ? dp_snap_find_id(snap, id) : dp_topic_by_str(snap, topic);
	if (!t) {
		o->error_code = by_id ? KP_ERR_UNKNOWN_TOPIC_ID : KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	if (partition < 0 || partition >= t->nparts) {
		o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	j->topic = t;
	j->owner = t->owner[partition];
	j->offset = offset;
	int64_t mb = partition_max_bytes;
	if (resp_limit(ctx) < mb)
		mb = resp_limit(ctx);
	j->max_bytes = mb < 0 ? 0 : (uint32_t)mb;
	ctx->parts[ctx->n++] = j;
}

/* The answer's shape from the request's topics (sessionless and full fetches). */
static int from_request(struct fetch_ctx *ctx, const struct dp_snap *snap)
{
	struct dp_req *req = ctx->req;
	struct kp_fetch_req *m = ctx->m;
	DP_ARRAY(req, ctx->resp.responses, m->topics.n);
	if (m->topics.n && !ctx->resp.responses.items)
		return -ENOMEM;
	int i = 0;
	for (int32_t t = 0; t < m->topics.n; t++) {
		struct kp_fetch_req_topic *q = &m->topics.items[t];
		struct kp_fetch_resp_fetchable_topic *rt = &ctx->resp.responses.items[t];
		rt->topic = q->topic;
		memcpy(rt->topic_id, q->topic_id, 16);
		DP_ARRAY(req, rt->partitions, q->partitions.n);
		if (q->partitions.n && !rt->partitions.items)
			return -ENOMEM;
		for (int32_t k = 0; k < q->partitions.n; k++, i++) {
			struct kp_fetch_req_partition *qp = &q->partitions.items[k];
			add_slot(ctx, snap, i, &rt->partitions.items[k], q->topic, q->topic_id, qp->partition,
			         qp->fetch_offset, qp->partition_max_bytes);
		}
	}
	return 0;
}

static bool same_topic(const struct dp_fsess *s, const struct dp_fs_part *a, const struct dp_fs_part *b)
{
	if (s->uses_topic_ids)
		return memcmp(a->topic_id, b->topic_id, 16) == 0;
	return a->topic_len == b->topic_len && memcmp(a->topic, b->topic, (size_t)a->topic_len) == 0;
}

/* The answer's shape from the session (incremental fetches): its partitions in its order,
 * consecutive partitions of one topic under one topic entry. */
static int from_session(struct fetch_ctx *ctx, const struct dp_snap *snap)
{
	struct dp_req *req = ctx->req;
	struct dp_fsess *s = ctx->fs.s;
	int32_t nt = 0;
	for (struct dp_fs_part *x = s->head; x; x = x->next)
		nt += !x->prev || !same_topic(s, x->prev, x);
	DP_ARRAY(req, ctx->resp.responses, nt);
	if (nt && !ctx->resp.responses.items)
		return -ENOMEM;
	int i = 0;
	int32_t t = -1;
	for (struct dp_fs_part *x = s->head; x; x = x->next) {
		if (!x->prev || !same_topic(s, x->prev, x)) {
			int32_t np = 1;
			for (struct dp_fs_part *y = x->next; y && same_topic(s, x, y); y = y->next)
				np++;
			struct kp_fetch_resp_fetchable_topic *rt = &ctx->resp.responses.items[++t];
			rt->topic = (struct kp_str){ x->topic, x->topic_len };
			memcpy(rt->topic_id, x->topic_id, 16);
			DP_ARRAY(req, rt->partitions, np);
			if (!rt->partitions.items)
				return -ENOMEM;
			rt->partitions.n = 0;
		}
		struct kp_fetch_resp_fetchable_topic *rt = &ctx->resp.responses.items[t];
		ctx->slots[i].cached = x;
		add_slot(ctx, snap, i, &rt->partitions.items[rt->partitions.n++],
		         (struct kp_str){ x->topic, x->topic_len }, x->topic_id, x->partition,
		         x->fetch_offset, x->max_bytes);
		i++;
	}
	return 0;
}

/* The request's partitions and forgotten partitions as the session cache sees them. */
static int session_context(struct fetch_ctx *ctx)
{
	struct dp_req *req = ctx->req;
	struct kp_fetch_req *m = ctx->m;
	int32_t n = 0, nf = 0;
	for (int32_t t = 0; t < m->topics.n; t++)
		n += m->topics.items[t].partitions.n;
	for (int32_t t = 0; t < m->forgotten_topics_data.n; t++)
		nf += m->forgotten_topics_data.items[t].partitions.n;
	struct dp_fs_preq *pq = dp_req_array(req, n, sizeof(*pq));
	struct dp_fs_preq *fq = dp_req_array(req, nf, sizeof(*fq));
	if ((n && !pq) || (nf && !fq))
		return -ENOMEM;
	bool by_id = req->api_version >= 13;
	int32_t i = 0;
	for (int32_t t = 0; t < m->topics.n; t++) {
		struct kp_fetch_req_topic *q = &m->topics.items[t];
		for (int32_t k = 0; k < q->partitions.n; k++, i++) {
			struct kp_fetch_req_partition *qp = &q->partitions.items[k];
			pq[i] = (struct dp_fs_preq){
				.topic = q->topic.ptr, .topic_len = by_id ? 0 : q->topic.len,
				.topic_id = by_id ? q->topic_id : NULL, .partition = qp->partition,
				.max_bytes = qp->partition_max_bytes, .leader_epoch = qp->current_leader_epoch,
				.last_fetched_epoch = qp->last_fetched_epoch, .fetch_offset = qp->fetch_offset,
				.log_start_offset = qp->log_start_offset,
			};
		}
	}
	i = 0;
	for (int32_t t = 0; t < m->forgotten_topics_data.n; t++) {
		struct kp_fetch_req_forgotten_topic *q = &m->forgotten_topics_data.items[t];
		for (int32_t k = 0; k < q->partitions.n; k++, i++)
			fq[i] = (struct dp_fs_preq){
				.topic = q->topic.ptr, .topic_len = by_id ? 0 : q->topic.len,
				.topic_id = by_id ? q->topic_id : NULL, .partition = q->partitions.items[k],
			};
	}
	ctx->preq = pq;
	ctx->nslots = n;
	ctx->privileged = (req->api_version >= 15 ? m->replica_state.replica_id : m->replica_id) >= 0;
	int32_t sid = req->api_version >= 7 ? m->session_id : 0;
	int32_t epoch = req->api_version >= 7 ? m->session_epoch : DP_FS_FINAL_EPOCH;
	dp_fs_context(req->s->fsess, req->api_version, sid, epoch, pq, n, fq, nf,
	              (int64_t)(req->s->now_ns / 1000000u), &ctx->fs);
	if (ctx->fs.close_shard >= 0)
		dp_shard_post(req->s, ctx->fs.close_shard, fs_close_run, (void *)(intptr_t)ctx->fs.close_id);
	if (ctx->fs.kind == DP_FS_INCREMENTAL) {
		ctx->nslots = ctx->fs.s->size;
		if (dp_req_on_release(req, fs_release, &ctx->fs)) {
			dp_fs_ctx_fini(&ctx->fs);
			return -ENOMEM;
		}
	}
	return 0;
}

void dp_h_fetch(struct dp_req *req, void *msg)
{
	struct kp_fetch_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct fetch_ctx *ctx = rt_arena_alloc(&req->arena, sizeof(*ctx));
	if (!ctx) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	memset(ctx, 0, sizeof(*ctx));
	ctx->req = req;
	ctx->m = m;
	kp_fetch_resp_init(&ctx->resp);
	ctx->resp.session_id = 0;
	if (session_context(ctx)) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	if (ctx->fs.kind == DP_FS_ERROR) {
		ctx->resp.error_code = ctx->fs.error;
		dp_req_respond(req, &ctx->resp);
		return;
	}
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	ctx->slots = dp_req_array(req, ctx->nslots, sizeof(*ctx->slots));
	ctx->parts = dp_req_array(req, ctx->nslots, sizeof(*ctx->parts));
	if (ctx->nslots && (!ctx->slots || !ctx->parts)) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	int rc = ctx->fs.kind == DP_FS_INCREMENTAL ? from_session(ctx, snap) : from_request(ctx, snap);
	if (rc) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	if (ctx->n == 0) {
		respond(ctx);
		return;
	}
	ctx->phase = ROUND1;
	read_round(ctx);
}
