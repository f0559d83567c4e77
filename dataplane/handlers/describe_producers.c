/*
 * dataplane/handlers/describe_producers.c: DescribeProducers (key 61, KIP-664).  Each
 * partition's owner shard lists the producers its producer state knows (storage/
 * producer_state.h): id, epoch, last sequence and timestamp, coordinator epoch and the first
 * offset of an open transaction.  The owner fills a malloc'ed array (the request arena belongs
 * to the connection's shard), freed when the request is released.  While the producer state is
 * rebuilt after a cut (storage/pstate_rebuild.c) the partition is answered KAFKA_STORAGE_ERROR
 * (retriable), as the producers' batches are, rather than from the state of a log that is no
 * longer there.
 */
#include <stdlib.h>

#include "../parts.h"
#include "handlers.h"
#include "storage/producer_state.h"

struct dpr_ctx {
	struct dp_req *req;
	struct kp_describe_producers_resp resp;
	int pending;
};

struct dpr_job {
	struct dpr_ctx *ctx;
	struct kp_describe_producers_resp_partition *out;
	const struct dp_topic *topic;
	int32_t index;
	struct kp_describe_producers_resp_producer_state *list;     /* owned, freed at release */
};

static void done_one(struct dpr_ctx *ctx)
{
	if (--ctx->pending == 0)
		dp_req_respond(ctx->req, &ctx->resp);
}

static void job_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct dpr_job *j = arg;
	if (j->list && dp_req_on_release(j->ctx->req, free, j->list)) {
		free(j->list);
		j->out->active_producers.items = NULL;
		j->out->active_producers.n = 0;
		j->out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
	}
	done_one(j->ctx);
}

static void add_one(void *arg, const struct stor_ps_info *p)
{
	struct dpr_job *j = arg;
	struct kp_describe_producers_resp_producer_state *x = &j->list[j->out->active_producers.n++];
	kp_describe_producers_resp_producer_state_init(x);
	x->producer_id = p->producer_id;
	x->producer_epoch = p->producer_epoch;
	x->last_sequence = p->last_sequence;
	x->last_timestamp = p->last_timestamp;
	x->coordinator_epoch = p->coordinator_epoch;
	x->current_txn_start_offset = p->txn_first_offset;
}

static void job_run(struct dp_shard *s, void *arg)
{
	struct dpr_job *j = arg;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->index, &kerr);
	if (!part) {
		j->out->error_code = kerr;
	} else if (part->pstate) {
		/* A stale state (rebuilt after a cut) lists nothing: describe refuses it. */
		size_t n = stor_pstate_stale(part->pstate) ? 0 : stor_pstate_count(part->pstate);
		if (n && !(j->list = calloc(n, sizeof(*j->list))))
			j->out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		else if (!(j->out->error_code = stor_pstate_describe(part->pstate, add_one, j)))
			j->out->active_producers.items = j->list;
	}
	dp_shard_post(s, j->ctx->req->s->id, job_back, j);
}

void dp_h_describe_producers(struct dp_req *req, void *msg)
{
	struct kp_describe_producers_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct dpr_ctx *ctx = rt_arena_alloc(&req->arena, sizeof(*ctx));
	if (!ctx) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	ctx->req = req;
	kp_describe_producers_resp_init(&ctx->resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	int total = 0, njobs = 0;
	for (int32_t i = 0; i < m->topics.n; i++)
		total += m->topics.items[i].partition_indexes.n;
	struct dpr_job **jobs = dp_req_array(req, total, sizeof(*jobs));
	DP_ARRAY(req, ctx->resp.topics, m->topics.n);
	for (int32_t i = 0; i < ctx->resp.topics.n; i++) {
		struct kp_describe_producers_req_topic *q = &m->topics.items[i];
		struct kp_describe_producers_resp_topic *rt = &ctx->resp.topics.items[i];
		const struct dp_topic *t = dp_topic_by_str(snap, q->name);
		rt->name = q->name;
		DP_ARRAY(req, rt->partitions, q->partition_indexes.n);
		for (int32_t k = 0; k < rt->partitions.n; k++) {
			struct kp_describe_producers_resp_partition *o = &rt->partitions.items[k];
			kp_describe_producers_resp_partition_init(o);
			o->partition_index = q->partition_indexes.items[k];
			if (!t || o->partition_index < 0 || o->partition_index >= t->nparts) {
				o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			struct dpr_job *j = rt_arena_alloc(&req->arena, sizeof(*j));
			if (!j || !jobs) {
				o->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
				continue;
			}
			*j = (struct dpr_job){ .ctx = ctx, .out = o, .topic = t, .index = o->partition_index };
			jobs[njobs++] = j;
		}
	}
	ctx->pending = njobs + 1;
	for (int i = 0; i < njobs; i++)
		dp_shard_post(req->s, jobs[i]->topic->owner[jobs[i]->index], job_run, jobs[i]);
	done_one(ctx);
}
