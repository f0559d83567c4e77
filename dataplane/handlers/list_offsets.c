/*
 * dataplane/handlers/list_offsets.c: ListOffsets (key 2).  Each partition is answered by its
 * owner shard: EARLIEST (-2) the log start offset, LATEST (-1) the high watermark, MAX_TIMESTAMP
 * (-3, v7+) the first record with the largest timestamp, EARLIEST_LOCAL (-4, v8+) the log start
 * offset (every record is local), LATEST_TIERED (-5, v9+) offset -1 (nothing is tiered: Kafka's
 * answer without remote storage), and a timestamp the first offset whose record is at or after
 * it (-1 when none).  Another negative timestamp, or one the request's version does not know,
 * is UNSUPPORTED_VERSION, as Kafka's ReplicaManager answers it.  A partition the request names
 * more than once is INVALID_REQUEST at every occurrence (KafkaApis).  read_committed reads the last stable offset, which is the high watermark
 * until transactions exist.  A timestamp's search reads the log through the owner's io_uring
 * (stor_log_offset_for_time_start), so a page-cache miss delays this partition's answer, never
 * the shard.
 */
#include <errno.h>

#include "../parts.h"
#include "handlers.h"
#include "storage/producer_state.h"

struct lo_ctx {
	struct dp_req *req;
	struct kp_list_offsets_resp resp;
	int pending;
};

struct lo_job {
	struct lo_ctx *ctx;
	struct kp_list_offsets_resp_partition *out;
	const struct dp_topic *topic;
	int32_t index;
	int64_t ts;
	bool committed;                /* isolation_level=read_committed: latest is the LSO */
	struct dp_part *part;          /* pinned while its timestamp search is in flight */
	struct stor_time_op top;
};

static void done_one(struct lo_ctx *ctx)
{
	if (--ctx->pending == 0)
		dp_req_respond(ctx->req, &ctx->resp);
}

static void job_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct lo_job *j = arg;
	done_one(j->ctx);
}

/* The answer to a timestamp (or MAX_TIMESTAMP) from storage's result. */
static void put_time(struct kp_list_offsets_resp_partition *o, int rc, int64_t off, int64_t ts)
{
	if (rc == 0) {
		o->offset = off;
		o->timestamp = ts;
	} else if (rc == -ENOENT) {
		o->offset = -1;
		o->timestamp = -1;
	} else {
		o->error_code = stor_err_to_kafka(rc);
		if (!o->error_code)
			o->error_code = KP_ERR_KAFKA_STORAGE_ERROR;
	}
}

static void time_done(struct stor_time_op *t, int err)
{
	struct lo_job *j = rt_container_of(t, struct lo_job, top);
	struct dp_shard *s = dp_shard_self();
	put_time(j->out, err, t->offset, t->timestamp);
	j->part->pins--;
	dp_shard_post(s, j->ctx->req->s->id, job_back, j);
}

static void job_run(struct dp_shard *s, void *arg)
{
	struct lo_job *j = arg;
	struct kp_list_offsets_resp_partition *o = j->out;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->index, &kerr);
	if (!part) {
		o->error_code = kerr;
	} else {
		struct stor_log *log = part->log;
		o->leader_epoch = stor_log_leader_epoch(log);
		o->timestamp = -1;
		if (j->ts == -2 || j->ts == -4) {
			o->offset = stor_log_start_offset(log);
		} else if (j->ts == -5) {
			o->offset = -1;
			o->leader_epoch = -1;
		} else if (j->ts == -1) {
			o->offset = stor_log_high_watermark(log);
			if (j->committed && part->pstate)
				o->offset = stor_pstate_lso(part->pstate, o->offset);
		} else {
			int64_t target = j->ts;
			if (target == -3) {
				/* Kafka's UnifiedLog answers MAX_TIMESTAMP with the first record that carries
				 * the largest timestamp, found inside its batch (offsetOfMaxTimestamp), not
				 * the batch's last offset: the search for that timestamp finds exactly it.
				 * (The call comes first: an argument list would not order it before reading
				 * off and ts.) */
				int64_t off = -1, ts = -1;
				int rc = stor_log_max_timestamp(log, &off, &ts);
				if (rc) {
					put_time(o, rc, off, ts);
					dp_shard_post(s, j->ctx->req->s->id, job_back, j);
					return;
				}
				target = ts;
			}
			j->part = part;
			j->top.ts = target;
			j->top.done = time_done;
			/* Pinned: the partition is not closed under a read in flight. */
			part->pins++;
			int rc = stor_log_offset_for_time_start(log, &j->top);
			if (rc == -EINPROGRESS)
				return;
			part->pins--;
			put_time(o, rc, j->top.offset, j->top.timestamp);
		}
	}
	dp_shard_post(s, j->ctx->req->s->id, job_back, j);
}

/* Kafka's special timestamps and the first version that knows each (ReplicaManager's
 * timestampMinSupportedVersion). */
static bool timestamp_known(int64_t ts, int16_t version)
{
	switch (ts) {
	case -1:
	case -2:
		return true;
	case -3:
		return version >= 7;
	case -4:
		return version >= 8;
	case -5:
		return version >= 9;
	default:
		return ts >= 0;
	}
}

/* Marks dup[n] (n: the request's partitions in order, flattened) for every (topic name,
 * partition) the request gives more than once, counting a topic named twice as one: Kafka's
 * ListOffsetsRequest collects these duplicatePartitions and KafkaApis answers each occurrence
 * INVALID_REQUEST.  Sorted (dup_names.h), keys of 8 bytes (the topic's first index, the
 * partition), so the memory follows the request's size and not its names' lengths.  NULL when
 * the request arena is full. */
static bool *lo_dup_partitions(struct dp_req *req, const struct kp_list_offsets_req *m, int32_t total)
{
	int32_t nt = m->topics.n;
	struct dp_dup_name *tkeys = dp_req_array(req, nt, sizeof(*tkeys));
	bool *tdup = dp_req_array(req, nt, sizeof(*tdup)), *tfirst = dp_req_array(req, nt, sizeof(*tfirst));
	int32_t *canon = dp_req_array(req, nt, sizeof(*canon));
	struct dp_dup_name *pkeys = dp_req_array(req, total, sizeof(*pkeys));
	uint8_t *pbytes = dp_req_array(req, total, 8);
	bool *dup = dp_req_array(req, total, sizeof(*dup));
	if (!tkeys || !tdup || !tfirst || !canon || !pkeys || !pbytes || !dup)
		return NULL;
	for (int32_t i = 0; i < nt; i++)
		tkeys[i] = (struct dp_dup_name){ 0, m->topics.items[i].name, i };
	dp_dup_names_mark_first(tkeys, nt, tdup, tfirst);
	/* Sorted by name then index: a later copy of a name follows its first occurrence. */
	for (int32_t k = 0; k < nt; k++) {
		int32_t i = tkeys[k].i;
		canon[i] = tdup[i] && !tfirst[i] ? canon[tkeys[k - 1].i] : i;
	}
	int32_t n = 0;
	for (int32_t i = 0; i < nt; i++)
		for (int32_t k = 0; k < m->topics.items[i].partitions.n && n < total; k++, n++) {
			uint8_t *b = pbytes + (size_t)n * 8;
			uint32_t t = (uint32_t)canon[i], p = (uint32_t)m->topics.items[i].partitions.items[k].partition_index;
			for (int x = 0; x < 4; x++) {
				b[x] = (uint8_t)(t >> (24 - 8 * x));
				b[4 + x] = (uint8_t)(p >> (24 - 8 * x));
			}
			pkeys[n] = (struct dp_dup_name){ 0, { (const char *)b, 8 }, n };
		}
	dp_dup_names_mark(pkeys, n, dup);
	return dup;
}

void dp_h_list_offsets(struct dp_req *req, void *msg)
{
	struct kp_list_offsets_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct lo_ctx *ctx = rt_arena_alloc(&req->arena, sizeof(*ctx));
	if (!ctx) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	ctx->req = req;
	kp_list_offsets_resp_init(&ctx->resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	ctx->pending = 1;
	int njobs = 0;
	int total = 0;
	for (int32_t i = 0; i < m->topics.n; i++)
		total += m->topics.items[i].partitions.n > 0 ? m->topics.items[i].partitions.n : 0;
	struct lo_job **jobs = dp_req_array(req, total, sizeof(*jobs));
	bool *dup = total > 1 ? lo_dup_partitions(req, m, total) : NULL;
	int32_t flat = 0;   /* the request's partitions before this topic's */
	DP_ARRAY(req, ctx->resp.topics, m->topics.n);
	for (int32_t i = 0; i < ctx->resp.topics.n; i++) {
		struct kp_list_offsets_req_topic *q = &m->topics.items[i];
		struct kp_list_offsets_resp_topic *rt = &ctx->resp.topics.items[i];
		const struct dp_topic *t = dp_topic_by_str(snap, q->name);
		rt->name = q->name;
		DP_ARRAY(req, rt->partitions, q->partitions.n);
		int32_t base = flat;   /* this topic's first partition in dup */
		flat += q->partitions.n > 0 ? q->partitions.n : 0;
		for (int32_t k = 0; k < rt->partitions.n; k++) {
			struct kp_list_offsets_req_partition *qp = &q->partitions.items[k];
			struct kp_list_offsets_resp_partition *o = &rt->partitions.items[k];
			o->partition_index = qp->partition_index;
			o->timestamp = -1;
			o->offset = -1;
			o->leader_epoch = -1;
			if (total > 1 && (!dup || dup[base + k])) {
				/* A duplicate (or no memory to look for them): checked first, as KafkaApis
				 * does, so an unknown partition named twice is INVALID_REQUEST too. */
				o->error_code = dup ? KP_ERR_INVALID_REQUEST : KP_ERR_UNKNOWN_SERVER_ERROR;
				continue;
			}
			if (!t || qp->partition_index < 0 || qp->partition_index >= t->nparts) {
				o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			if (!timestamp_known(qp->timestamp, req->api_version)) {
				o->error_code = KP_ERR_UNSUPPORTED_VERSION;
				continue;
			}
			struct lo_job *j = rt_arena_alloc(&req->arena, sizeof(*j));
			if (!j || !jobs) {
				o->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
				continue;
			}
			j->ctx = ctx;
			j->out = o;
			j->topic = t;
			j->index = qp->partition_index;
			j->ts = qp->timestamp;
			j->committed = req->api_version >= 2 && m->isolation_level == 1;
			jobs[njobs++] = j;
		}
	}
	ctx->pending = njobs + 1;
	for (int i = 0; i < njobs; i++)
		dp_shard_post(req->s, jobs[i]->topic->owner[jobs[i]->index], job_run, jobs[i]);
	done_one(ctx);
}
