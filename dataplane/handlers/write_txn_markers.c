/*
 * dataplane/handlers/write_txn_markers.c: WriteTxnMarkers (key 27), sent by the transaction
 * coordinator in ringtail-control (issue 7).
 *
 * For each partition of each marker the connection's shard builds Kafka's control batch
 * (attributes transactional | control, the producer id and epoch, sequence -1, one record whose
 * key is version 0 + type (0 ABORT, 1 COMMIT) and whose value is version 0 + coordinator epoch),
 * validates it as internal-origin and sends it to the partition's owner shard, which checks it
 * against the producer state (epoch and coordinator-epoch fencing), appends it through storage
 * as Produce appends (durable: the coordinator completes the transaction on our answer) and
 * ends the producer's open transaction in the producer state, which moves the last stable
 * offset; an ABORT also records the transaction (producer id, its first offset here, the
 * marker's offset, the LSO after it) in the segment's .txnindex for read_committed fetches.
 * Each partition is answered with Kafka's error code.
 */
#include <errno.h>

#include "../parts.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "handlers.h"
#include "proto/batch.h"
#include "storage/producer_state.h"

struct wtm_ctx;

/* One partition's marker, travelling conn shard -> owner shard -> conn shard. */
struct wtm_job {
	struct wtm_ctx *ctx;
	struct kp_write_txn_markers_resp_writable_txn_marker_partition_result *out;
	const struct dp_topic *topic;
	int32_t index;
	struct kp_records_info info;
	struct stor_append a;
	struct stor_ps_batch pb;
	struct dp_shard *owner;
	int16_t err;
};

struct wtm_ctx {
	struct dp_req *req;
	struct kp_write_txn_markers_resp resp;
	int pending;
};

static void job_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct wtm_job *j = arg;
	j->out->error_code = j->err;
	if (--j->ctx->pending == 0)
		dp_req_respond(j->ctx->req, &j->ctx->resp);
}

static void append_done(struct stor_append *a, int err)
{
	struct wtm_job *j = rt_container_of(a, struct wtm_job, a);
	j->err = 0;
	if (err) {
		j->err = stor_err_to_kafka(err);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		/* The marker was recorded at submission but is not in the log: the state is stale
		 * until rebuilt after the cut that follows (its transaction must hold the LSO). */
		int16_t kerr = 0;
		struct dp_part *part = dp_parts_get(j->owner, j->topic, j->index, &kerr);
		if (part && part->pstate)
			stor_pstate_set_stale(part->pstate, stor_log_high_watermark(part->log));
	}
	dp_shard_post(j->owner, j->ctx->req->s->id, job_back, j);
}

/* On the owner shard. */
static void job_run(struct dp_shard *s, void *arg)
{
	struct wtm_job *j = arg;
	j->owner = s;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->index, &kerr);
	if (!part || !part->pstate) {
		j->err = part ? KP_ERR_UNKNOWN_SERVER_ERROR : kerr;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return;
	}
	struct stor_ps_dup dup;
	int16_t e = stor_pstate_check(part->pstate, &j->pb, 1, STOR_PS_COORDINATOR, &dup);
	if (e) {
		j->err = e;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return;
	}
	j->a.flags = STOR_APPEND_DURABLE;
	j->a.done = append_done;
	int rc = stor_log_append(part->log, &j->a, &j->info);
	if (rc) {
		j->err = stor_err_to_kafka(rc);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return;
	}
	j->pb.base_offset = j->a.base_offset;
	struct stor_ps_txn_done done;
	size_t ndone = 0;
	if (stor_pstate_apply(part->pstate, &j->pb, 1, STOR_PS_COORDINATOR, &done, &ndone))
		RT_WARN("%s-%d: marker of producer %lld not recorded (out of memory)", j->topic->name,
		        j->index, (long long)j->pb.producer_id);
	/* An abort goes into the .txnindex now, before the marker's write completes: read_committed
	 * fetches cannot reach it before then (the transaction holds the LSO back until its marker
	 * is below the high watermark), and a failed write truncates the entry with the log.  A
	 * failure here is logged by storage and the file rebuilt from the log at the next open. */
	if (ndone && done.aborted)
		(void)stor_log_add_aborted(part->log, &(struct stor_aborted_txn){
			done.producer_id, done.first_offset, done.last_offset, done.last_stable_offset });
}

/* Builds the marker batch into the request's arena.  Returns its bytes or NULL. */
static uint8_t *build_marker(struct dp_req *req, const struct kp_write_txn_markers_req_writable_txn_marker *mk,
                             size_t *len)
{
	struct kp_batch_builder b;
	uint8_t *out = NULL;
	if (!kp_batch_builder_marker(&b, mk->producer_id, mk->producer_epoch, mk->transaction_result,
	                             mk->coordinator_epoch, rt_clock_wall_ms())) {
		const uint8_t *p = kp_batch_builder_finish(&b, len);
		if (p && (out = rt_arena_alloc(&req->arena, *len)))
			memcpy(out, p, *len);
	}
	kp_batch_builder_fini(&b);
	return out;
}

void dp_h_write_txn_markers(struct dp_req *req, void *msg)
{
	struct kp_write_txn_markers_req *m = msg;
	struct dp_broker *br = dp_req_broker(req);
	struct wtm_ctx *ctx = rt_arena_alloc(&req->arena, sizeof(*ctx));
	if (!ctx) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	ctx->req = req;
	kp_write_txn_markers_resp_init(&ctx->resp);
	const struct dp_snap *snap = dp_meta_snap(br->meta);

	/* The whole response first, so that no job can finish the request early. */
	int njobs = 0;
	for (int32_t i = 0; i < m->markers.n; i++)
		for (int32_t t = 0; t < m->markers.items[i].topics.n; t++)
			njobs += m->markers.items[i].topics.items[t].partition_indexes.n;
	struct wtm_job **jl = njobs ? rt_arena_calloc(&req->arena, (size_t)njobs, sizeof(*jl)) : NULL;
	if (njobs && !jl) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	njobs = 0;
	DP_ARRAY(req, ctx->resp.markers, m->markers.n);
	for (int32_t i = 0; i < ctx->resp.markers.n; i++) {
		const struct kp_write_txn_markers_req_writable_txn_marker *mk = &m->markers.items[i];
		struct kp_write_txn_markers_resp_writable_txn_marker_result *rm = &ctx->resp.markers.items[i];
		rm->producer_id = mk->producer_id;
		size_t blen = 0;
		uint8_t *batch = build_marker(req, mk, &blen);
		struct kp_records_info info;
		const char *why = NULL;
		struct kp_validate_opts o = { .check_records = true, .internal_origin = true };
		int16_t berr = 0;
		if (!batch)
			berr = KP_ERR_UNKNOWN_SERVER_ERROR;
		else if (kp_records_validate(batch, blen, &o, &req->s->scratch, &info, &why))
			berr = KP_ERR_CORRUPT_MESSAGE;
		rt_arena_reset(&req->s->scratch);
		struct kp_batch_hdr h;
		if (!berr && kp_batch_hdr_parse(batch, blen, &h))
			berr = KP_ERR_CORRUPT_MESSAGE;
		DP_ARRAY(req, rm->topics, mk->topics.n);
		for (int32_t t = 0; t < rm->topics.n; t++) {
			const struct kp_write_txn_markers_req_writable_txn_marker_topic *mt = &mk->topics.items[t];
			struct kp_write_txn_markers_resp_writable_txn_marker_topic_result *rt = &rm->topics.items[t];
			rt->name = mt->name;
			const struct dp_topic *top = dp_topic_by_str(snap, mt->name);
			DP_ARRAY(req, rt->partitions, mt->partition_indexes.n);
			for (int32_t k = 0; k < rt->partitions.n; k++) {
				struct kp_write_txn_markers_resp_writable_txn_marker_partition_result *rp = &rt->partitions.items[k];
				rp->partition_index = mt->partition_indexes.items[k];
				if (berr) {
					rp->error_code = berr;
					continue;
				}
				if (!top || rp->partition_index < 0 || rp->partition_index >= top->nparts) {
					rp->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
					continue;
				}
				struct wtm_job *j = rt_arena_calloc(&req->arena, 1, sizeof(*j));
				/* Each partition's append stamps its own base offset and leader epoch into
				 * the bytes it writes (asynchronously, on its owner shard): one copy each. */
				uint8_t *own = j ? rt_arena_alloc(&req->arena, blen) : NULL;
				if (!own) {
					rp->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
					continue;
				}
				j->ctx = ctx;
				j->out = rp;
				j->topic = top;
				j->index = rp->partition_index;
				j->info = info;
				memcpy(own, batch, blen);
				j->a.data = own;
				j->a.len = blen;
				stor_ps_batch_from_hdr(&j->pb, &h);
				j->pb.commit = mk->transaction_result;
				j->pb.coordinator_epoch = mk->coordinator_epoch;
				jl[njobs++] = j;
			}
		}
	}
	ctx->pending = njobs + 1;
	for (int i = 0; i < njobs; i++)
		dp_shard_post(req->s, jl[i]->topic->owner[jl[i]->index], job_run, jl[i]);
	if (--ctx->pending == 0)
		dp_req_respond(req, &ctx->resp);
}
