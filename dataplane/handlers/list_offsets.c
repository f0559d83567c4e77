/*
 * dataplane/handlers/list_offsets.c: ListOffsets (key 2).  Each partition is answered by its
 * owner shard: EARLIEST (-2) the log start offset, LATEST (-1) the high watermark, MAX_TIMESTAMP
 * (-3, v7+) the first record with the largest timestamp, EARLIEST_LOCAL (-4, v8+) the log start
 * offset (every record is local), LATEST_TIERED (-5, v9+) offset -1 (nothing is tiered: Kafka's
 * answer without remote storage), and a timestamp the first offset whose record is at or after
 * it (-1 when none).  Another negative timestamp, or one the request's version does not know,
 * is UNSUPPORTED_VERSION, as Kafka's ReplicaManager answers it.  read_committed reads the last stable offset, which is the high watermark
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
		total += m->topics.items[i].partitions.n;
	struct lo_job **jobs = dp_req_array(req, total, sizeof(*jobs));
	DP_ARRAY(req, ctx->resp.topics, m->topics.n);
	for (int32_t i = 0; i < ctx->resp.topics.n; i++) {
		struct kp_list_offsets_req_topic *q = &m->topics.items[i];
		struct kp_list_offsets_resp_topic *rt = &ctx->resp.topics.items[i];
		const struct dp_topic *t = dp_topic_by_str(snap, q->name);
		rt->name = q->name;
		DP_ARRAY(req, rt->partitions, q->partitions.n);
		for (int32_t k = 0; k < rt->partitions.n; k++) {
			struct kp_list_offsets_req_partition *qp = &q->partitions.items[k];
			struct kp_list_offsets_resp_partition *o = &rt->partitions.items[k];
			o->partition_index = qp->partition_index;
			o->timestamp = -1;
			o->offset = -1;
			o->leader_epoch = -1;
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
