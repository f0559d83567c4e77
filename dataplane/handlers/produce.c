/*
 * dataplane/handlers/produce.c: Produce (key 0).
 *
 * The connection's shard validates each partition's record set (kp_records_validate: framing,
 * CRC, records, size against max.message.bytes) and sends it to the partition's owner shard,
 * which appends it with storage straight from the request frame (no copy).  Every partition of
 * a request is in flight at once; the response is built when the last one reports back.
 * Durability follows acks: 1 answers once the write is in the page cache, -1 once an fdatasync
 * covers it (group commit in storage), 0 sends no response at all (the request still completes
 * before its frame is freed).
 *
 * timeout_ms (acks=-1 only, as Kafka's DelayedProduce): the partitions whose append is not
 * durable when it expires are answered REQUEST_TIMED_OUT (the others with their outcome) and the
 * response goes; the appends go on (Kafka keeps them in the log too, so a retry may duplicate
 * them unless the producer is idempotent), and the request stays held (dp_req_hold) until the
 * last one reports back, since they write from its frame.  The owner shard writes a job's
 * outcome into the job; only the connection's shard touches the response.
 *
 * KIP-890 part 1 (Kafka 3.6+): the first transactional batch of a producer on a partition (its
 * producer state has no open transaction there) is appended only once the transaction
 * coordinator in ringtail-control confirms that the partition is in that producer's ongoing
 * transaction (AddPartitionsToTxn v4 verify-only over the owner shard's link).  A produce that
 * arrives late, after its transaction ended, is then INVALID_TXN_STATE instead of opening a
 * transaction on the partition that nothing will ever end (a hanging transaction: the last
 * stable offset stuck, read_committed consumers stalled) or joining the producer's next one.
 * A marker that lands while the check is out voids it (Kafka's verification guard); errors of
 * an unavailable coordinator are NOT_ENOUGH_REPLICAS (retriable) and PRODUCER_FENCED is
 * INVALID_PRODUCER_EPOCH, as Kafka converts them.  The
 * internal topics are written by ringtail-control itself after its own checks: not verified.
 */
#include <errno.h>

#include "../control_link.h"
#include "../parts.h"
#include "base/bytes.h"
#include "base/lat_trace.h"
#include "base/chain.h"
#include "handlers.h"
#include "proto/batch.h"
#include "storage/producer_state.h"

#define DP_MAX_DECOMPRESSED (64u << 20)

struct produce_ctx;

/* One partition's append, travelling conn shard -> owner shard -> conn shard. */
struct produce_job {
	struct produce_ctx *ctx;
	struct kp_produce_resp_partition *out;
	const struct dp_topic *topic;
	int32_t index;
	int16_t acks;
	struct kp_records_info info;
	struct stor_append a;
	struct dp_shard *owner;
	int16_t err;
	bool back;                     /* its outcome reached the connection's shard */
	int64_t base_offset, log_append_time, log_start;   /* the outcome (owner shard) */
	struct stor_ps_batch pb;       /* producer fields of the batch (pb.producer_id -1: none) */
	struct stor_sync dup_sync;     /* a duplicate waits until its original is durable */
	uint64_t lt_handler, lt_owner, lt_done;  /* base/lat_trace.h stamps */
	bool verified;                 /* KIP-890: the coordinator confirmed the transaction */
	bool known;                    /* the producer's state when the check went out: */
	struct stor_ps_info seen;      /* a marker for it changes this (verification guard) */
};

struct produce_ctx {
	struct dp_req *req;
	struct kp_produce_resp resp;
	int pending;
	struct produce_job **jobs;
	int njobs;
	struct dp_timer timer;         /* acks=-1: timeout_ms */
	bool timed_out;                /* answered; the request is held until pending is 0 */
};

static void finish(struct produce_ctx *ctx)
{
	struct dp_req *req = ctx->req;
	struct kp_produce_req *m = req->ctx;
	if (m->acks == 0) {
		/* No response; but as Kafka does, a failed acks=0 produce closes the connection so
		 * that the client notices and refreshes its metadata. */
		bool failed = false;
		for (int32_t i = 0; i < ctx->resp.responses.n; i++)
			for (int32_t k = 0; k < ctx->resp.responses.items[i].partition_responses.n; k++)
				if (ctx->resp.responses.items[i].partition_responses.items[k].error_code)
					failed = true;
		if (failed)
			req->close_after = true;
		else
			req->no_response = true;
		dp_req_finish(req);
		return;
	}
	dp_req_respond(req, &ctx->resp);
}

/* On the connection's shard: one partition has its outcome. */
static void job_back(struct dp_shard *s, void *arg)
{
	struct produce_job *j = arg;
	struct produce_ctx *ctx = j->ctx;
	j->back = true;
	if (RT_LT_ENABLED && j->lt_done) {
		uint64_t now = rt_lt_now();
		rt_lt_record(RT_LT_RECV_HANDLER, ctx->req->lt_recv, j->lt_handler);
		rt_lt_record(RT_LT_HANDLER_OWNER, j->lt_handler, j->lt_owner);
		rt_lt_record(RT_LT_OWNER_WRITTEN, j->lt_owner, j->a.lt_written);
		rt_lt_record(RT_LT_WRITTEN_DONE, j->a.lt_written, j->lt_done);
		rt_lt_record(RT_LT_DONE_BACK, j->lt_done, now);
		ctx->req->lt_back = now;
		const uint64_t t[] = {ctx->req->lt_recv, j->lt_handler, j->lt_owner, j->a.lt_written,
		                      j->a.lt_round, j->lt_done, now};
		rt_lt_row('A', (uintptr_t)ctx->req->conn, ctx->req->corr_id, j->index, t, 7);
	}
	if (ctx->timed_out) {
		if (--ctx->pending == 0)
			dp_req_unhold(ctx->req);
		return;
	}
	j->out->error_code = j->err;
	j->out->base_offset = j->base_offset;
	j->out->log_append_time_ms = j->log_append_time;
	j->out->log_start_offset = j->log_start;
	if (--ctx->pending == 0) {
		dp_timer_cancel(s, &ctx->timer);
		finish(ctx);
	}
}

/* timeout_ms passed before every acks=-1 append was durable. */
static void produce_timeout(struct dp_shard *s, struct dp_timer *t)
{
	(void)s;
	struct produce_ctx *ctx = rt_container_of(t, struct produce_ctx, timer);
	for (int i = 0; i < ctx->njobs; i++)
		if (!ctx->jobs[i]->back)
			ctx->jobs[i]->out->error_code = KP_ERR_REQUEST_TIMED_OUT;
	ctx->timed_out = true;
	dp_req_hold(ctx->req);
	finish(ctx);
}

static void append_done(struct stor_append *a, int err)
{
	struct produce_job *j = rt_container_of(a, struct produce_job, a);
	struct dp_part *part = NULL;
	int16_t kerr = 0;
	RT_LT_STAMP(j->lt_done);
	if (err) {
		j->err = stor_err_to_kafka(err);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		/* Nothing of it is in the log: the producer's state must not claim it is.  It is stale
		 * until rebuilt from the log after the cut that follows (no checks, no LSO past now). */
		part = dp_parts_get(j->owner, j->topic, j->index, &kerr);
		if (part && part->pstate)
			stor_pstate_set_stale(part->pstate, stor_log_high_watermark(part->log));
		if (part && part->pstate && j->pb.producer_id >= 0)
			stor_pstate_forget(part->pstate, j->pb.producer_id);
	} else {
		j->err = 0;
		j->base_offset = a->base_offset;
		j->log_append_time = a->log_append_time;
		part = dp_parts_get(j->owner, j->topic, j->index, &kerr);
		if (part)
			j->log_start = stor_log_start_offset(part->log);
	}
	dp_shard_post(j->owner, j->ctx->req->s->id, job_back, j);
}

/* A duplicate's original is durable (or the partition went offline). */
static void dup_synced(struct stor_sync *sy, int err)
{
	struct produce_job *j = rt_container_of(sy, struct produce_job, dup_sync);
	if (err) {
		j->err = stor_err_to_kafka(err);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		j->base_offset = -1;
	}
	dp_shard_post(j->owner, j->ctx->req->s->id, job_back, j);
}

/* Idempotent and transactional producers (issue 7): Kafka's sequence and epoch decisions on the
 * owner shard before offsets are assigned.  Returns true when the job is answered here (an
 * error, or a duplicate answered with the original's offsets once they are durable). */
static bool producer_check(struct dp_shard *s, struct produce_job *j, struct dp_part *part)
{
	const struct kp_records_info *i = &j->info;
	j->pb.producer_id = -1;
	if (i->producer_id < 0)
		return false;
	/* validate() took the batch's header apart already (one batch: a client's produce). */
	j->pb = (struct stor_ps_batch){
		.producer_id = i->producer_id,
		.producer_epoch = i->producer_epoch,
		.base_sequence = i->base_sequence,
		.last_offset_delta = i->last_offset_delta,
		.max_timestamp = i->header_max_timestamp,
		.transactional = i->transactional,
	};
	struct stor_ps_dup dup;
	int16_t e = part->pstate ? stor_pstate_check(part->pstate, &j->pb, 1, STOR_PS_CLIENT, &dup)
	                         : KP_ERR_UNKNOWN_SERVER_ERROR;
	if (!e && !dup.found)
		return false;
	if (e) {
		j->err = e;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return true;
	}
	j->err = 0;
	j->base_offset = dup.first_offset;
	j->log_start = stor_log_start_offset(part->log);
	j->dup_sync = (struct stor_sync){ .offset = dup.last_offset + 1, .done = dup_synced };
	int rc = stor_log_sync(part->log, &j->dup_sync);
	if (rc)
		dup_synced(&j->dup_sync, rc);
	return true;
}

static void job_run(struct dp_shard *s, void *arg);

/* KIP-890: would this batch open a transaction on the partition (and so need the coordinator's
 * word first)?  Asked before the sequence checks, as Kafka verifies before it appends, so that
 * a producer's next batches, held behind the first, stay in order.  The validated batch's fields
 * (j->info; validate() refuses control batches) decide it: a non-transactional batch costs one
 * test, a transaction's later batches one producer-state lookup. */
static bool needs_verification(struct produce_job *j, const struct dp_part *part)
{
	if (!j->info.transactional || j->verified || j->info.producer_id < 0 || j->topic->internal || !part->pstate)
		return false;
	j->known = stor_pstate_get(part->pstate, j->info.producer_id, &j->seen);
	return !j->known || j->seen.txn_first_offset < 0;
}

/* Kafka's verification guard: a marker of the producer appended while the check was out ended
 * the transaction it confirmed.  A batch of it appended meanwhile (one verified before this one)
 * opened the transaction here instead, which this one joins. */
static bool guard_holds(const struct produce_job *j, const struct dp_part *part)
{
	struct stor_ps_info now;
	bool known = part->pstate && stor_pstate_get(part->pstate, j->info.producer_id, &now);
	if (known && now.txn_first_offset >= 0)
		return true;
	if (known != j->known)
		return false;
	return !known || (now.producer_epoch == j->seen.producer_epoch && now.last_timestamp == j->seen.last_timestamp &&
	                  now.coordinator_epoch == j->seen.coordinator_epoch);
}

/* Kafka's ReplicaManager: coordinator errors that a producer would not know are retriable
 * NOT_ENOUGH_REPLICAS; INVALID_TXN_STATE ("the partition was not added") and the rest pass. */
static int16_t verification_error(int16_t e)
{
	switch (e) {
	case KP_ERR_PRODUCER_FENCED:
		return KP_ERR_INVALID_PRODUCER_EPOCH;    /* what producers expect here (Kafka) */
	case KP_ERR_CONCURRENT_TRANSACTIONS:
	case KP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
	case KP_ERR_COORDINATOR_NOT_AVAILABLE:
	case KP_ERR_NOT_COORDINATOR:
		return KP_ERR_NOT_ENOUGH_REPLICAS;
	default:
		return e;
	}
}

/* On the owner shard: the coordinator's answer to the verify-only AddPartitionsToTxn. */
static void verified(void *arg, const uint8_t *body, size_t n, int16_t err)
{
	struct produce_job *j = arg;
	struct dp_shard *s = j->owner;
	if (body) {
		struct rt_arena a;
		rt_arena_init(&a, 0, 1u << 20);
		struct rt_rd r;
		rt_rd_init(&r, body, n);
		struct kp_add_partitions_to_txn_resp m;
		kp_add_partitions_to_txn_resp_init(&m);
		err = KP_ERR_UNKNOWN_SERVER_ERROR;
		if (!kp_add_partitions_to_txn_resp_decode(&r, 4, &a, &m)) {
			err = m.error_code;
			if (!err && m.results_by_transaction.n == 1 &&
			    m.results_by_transaction.items[0].topic_results.n == 1 &&
			    m.results_by_transaction.items[0].topic_results.items[0].results_by_partition.n == 1)
				err = m.results_by_transaction.items[0].topic_results.items[0].results_by_partition.items[0]
				              .partition_error_code;
			else if (!err)
				err = KP_ERR_UNKNOWN_SERVER_ERROR;
		}
		rt_arena_fini(&a);
	}
	if (!err) {
		int16_t kerr = 0;
		struct dp_part *part = dp_parts_get(s, j->topic, j->index, &kerr);
		if (part && part->pstate && stor_pstate_stale(part->pstate))
			err = KP_ERR_KAFKA_STORAGE_ERROR;  /* being rebuilt after a cut: retriable */
		else if (part && !guard_holds(j, part))
			err = KP_ERR_INVALID_TXN_STATE;   /* the transaction ended while the check was out */
	}
	if (err) {
		j->err = verification_error(err);
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return;
	}
	j->verified = true;
	job_run(s, j);
}

static void encode_verify(struct rt_chain *c, const void *what)
{
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = KP_API_ADD_PARTITIONS_TO_TXN;
	h.request_api_version = 4;
	h.client_id = (struct kp_str){ "ringtail", 8 };
	kp_req_hdr_encode(c, &h);
	kp_add_partitions_to_txn_req_encode(c, 4, what);
}

/* Asks the coordinator whether the batch's partition is in its producer's ongoing transaction. */
static void verify(struct dp_shard *s, struct produce_job *j)
{
	const struct kp_produce_req *pr = j->ctx->req->ctx;
	int32_t idx = j->index;
	struct kp_add_partitions_to_txn_req_topic t;
	kp_add_partitions_to_txn_req_topic_init(&t);
	t.name = (struct kp_str){ j->topic->name, (int32_t)strlen(j->topic->name) };
	t.partitions.items = &idx;
	t.partitions.n = 1;
	struct kp_add_partitions_to_txn_req_transaction x;
	kp_add_partitions_to_txn_req_transaction_init(&x);
	x.transactional_id = pr->transactional_id;
	x.producer_id = j->info.producer_id;
	x.producer_epoch = j->info.producer_epoch;
	x.verify_only = true;
	x.topics.items = &t;
	x.topics.n = 1;
	struct kp_add_partitions_to_txn_req m;
	kp_add_partitions_to_txn_req_init(&m);
	m.transactions.items = &x;
	m.transactions.n = 1;
	dp_control_link_call(s, encode_verify, &m, verified, j);
}

/* On the owner shard. */
static void job_run(struct dp_shard *s, void *arg)
{
	struct produce_job *j = arg;
	j->owner = s;
	RT_LT_STAMP(j->lt_owner);
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->index, &kerr);
	if (!part) {
		j->err = kerr;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
		return;
	}
	if (needs_verification(j, part)) {
		verify(s, j);
		return;
	}
	if (producer_check(s, j, part))
		return;
	j->a.flags = j->acks == -1 ? STOR_APPEND_DURABLE : 0;
	j->a.done = append_done;
	int rc = stor_log_append(part->log, &j->a, &j->info);
	if (!rc && j->pb.producer_id >= 0) {
		j->pb.base_offset = j->a.base_offset;
		if (stor_pstate_apply(part->pstate, &j->pb, 1, STOR_PS_CLIENT, NULL, NULL))
			RT_WARN("%s-%d: producer %lld not recorded (out of memory)", j->topic->name,
			        j->index, (long long)j->pb.producer_id);
	}
	if (rc) {
		j->err = stor_err_to_kafka(rc);
		if (!j->err)
			j->err = KP_ERR_KAFKA_STORAGE_ERROR;
		dp_shard_post(s, j->ctx->req->s->id, job_back, j);
	}
}

/* A record set that lies partly in the frame's holes (received in pieces, conn.h): validated
 * over the pieces, and appended from them with its header stamped where it lies, in the frame.
 * -EXDEV when the layout does not allow it (not one uncompressed batch, too many pieces). */
static int validate_pieces(struct dp_req *req, const struct kp_records *rec, const struct kp_validate_opts *o,
                           struct produce_job *j, const char **why)
{
	int max = req->lent->nholes * 2 + 1;
	struct iovec *v = rt_arena_alloc(&req->arena, (size_t)max * sizeof *v);
	if (!v)
		return -EXDEV;
	int n = dp_req_iov(req, rec->ptr, (size_t)rec->len, v, max);
	/* dp_produce_holes_ok made sure the batch header is in the frame */
	if (n < 2 || v[0].iov_base != rec->ptr || v[0].iov_len < KP_BATCH_HEADER_SIZE)
		return -EXDEV;
	int rc = kp_records_validate_iov(v, n, o, &req->s->scratch, &j->info, why);
	rt_arena_reset(&req->s->scratch);
	if (!rc) {
		j->a.iov = v;
		j->a.iovcnt = n;
	}
	return rc;
}

static int16_t validate(struct dp_req *req, const struct dp_topic *t, const struct kp_records *rec,
                        struct produce_job *j, const char **why)
{
	struct dp_shard *s = req->s;
	/* Kafka's ProduceRequest.validateRecords, before anything looks into the batch: one batch
	 * at least, of magic 2 (0 and 1 are INVALID_RECORD here, where a broken header is
	 * CORRUPT_MESSAGE), and zstd only from version 7 on (KIP-110). */
	if (rec->len <= 0) {
		*why = "Produce requests must have at least one record batch per partition";
		return KP_ERR_INVALID_RECORD;
	}
	uint8_t magic = rec->len > KP_BATCH_OFF_MAGIC ? rec->ptr[KP_BATCH_OFF_MAGIC] : 0xff;
	if (magic == 0 || magic == 1) {
		*why = "Produce requests are only allowed to contain record batches with magic version 2";
		return KP_ERR_INVALID_RECORD;
	}
	if (req->api_version < 7 && magic == 2 && rec->len >= KP_BATCH_OFF_ATTRIBUTES + 2 &&
	    (rt_be16_get(rec->ptr + KP_BATCH_OFF_ATTRIBUTES) & KP_ATTR_COMPRESSION_MASK) == KP_COMPRESSION_ZSTD) {
		*why = "Produce requests below version 7 cannot carry zstd-compressed batches";
		return KP_ERR_UNSUPPORTED_COMPRESSION_TYPE;
	}
	struct kp_validate_opts o = {
		.max_batch_bytes = (size_t)t->max_message_bytes,
		.max_decompressed = DP_MAX_DECOMPRESSED,
		.check_records = true,
		.require_keys = (t->scfg.cleanup_policy & STOR_CLEANUP_COMPACT) != 0,
	};
	int rc = -EXDEV;
	if (req->lent && dp_req_in_holes(req, rec->ptr, (size_t)rec->len)) {
		rc = validate_pieces(req, rec, &o, j, why);
		if (rc == -EXDEV) {
			dp_req_fill(req);
			s->pieces_filled++;
		} else if (!rc) {
			s->pieces_batches++;
			s->pieces_bytes += (uint64_t)rec->len;
		}
	}
	if (rc == -EXDEV) {
		rc = kp_records_validate(rec->ptr, (size_t)rec->len, &o, &s->scratch, &j->info, why);
		rt_arena_reset(&s->scratch);
	}
	if (!rc)
		return 0;
	if (rc == -E2BIG)
		return KP_ERR_MESSAGE_TOO_LARGE;
	if (rc == -EINVAL)
		return KP_ERR_INVALID_RECORD;
	if (rc == -ENOTSUP)
		return KP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
	return KP_ERR_CORRUPT_MESSAGE;
}

bool dp_produce_holes_ok(const struct dp_req *req, const void *msg)
{
	const struct kp_produce_req *m = msg;
	const struct dp_req_lent *lt = req->lent;
	for (int h = 0; h < lt->nholes; h++) {
		size_t lo = lt->holes[h].off, hi = lo + lt->holes[h].len;
		bool in = false;
		for (int32_t i = 0; i < m->topic_data.n && !in; i++)
			for (int32_t k = 0; k < m->topic_data.items[i].partition_data.n && !in; k++) {
				const struct kp_records *r = &m->topic_data.items[i].partition_data.items[k].records;
				if (!r->ptr || r->len <= 0)
					continue;
				size_t ro = (size_t)(r->ptr - req->frame);
				in = lo >= ro + KP_BATCH_HEADER_SIZE && hi <= ro + (size_t)r->len;
			}
		if (!in)
			return false;
	}
	return true;
}

/* Kafka's KafkaApis: transactional records need a transactional id (the authorization of that
 * id is the check; with none the whole request is refused).  A partition's records are
 * transactional when its first batch says so (RequestUtils.hasTransactionalRecords). */
static bool txn_without_id(const struct kp_produce_req *m)
{
	if (m->transactional_id.len >= 0)
		return false;
	for (int32_t i = 0; i < m->topic_data.n; i++)
		for (int32_t k = 0; k < m->topic_data.items[i].partition_data.n; k++) {
			const struct kp_records *r = &m->topic_data.items[i].partition_data.items[k].records;
			if (r->ptr && r->len >= KP_BATCH_OFF_ATTRIBUTES + 2 && r->ptr[KP_BATCH_OFF_MAGIC] == 2 &&
			    (rt_be16_get(r->ptr + KP_BATCH_OFF_ATTRIBUTES) & KP_ATTR_TRANSACTIONAL))
				return true;
		}
	return false;
}

/* Kafka's ReplicaManager appends to an internal topic (__consumer_offsets,
 * __transaction_state) only for its own coordinators (and the "__admin_client" client id):
 * here ringtail-control, whose connections come in on the internal listener.  A client's
 * records there would be read back as group or transaction state. */
static bool internal_allowed(const struct dp_req *req)
{
	static const char admin[] = "__admin_client";
	return req->conn->internal || (req->client_id_len == (int16_t)(sizeof(admin) - 1) &&
	                               !memcmp(req->client_id, admin, sizeof(admin) - 1));
}

void dp_h_produce(struct dp_req *req, void *msg)
{
	struct kp_produce_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	req->ctx = m;
	struct produce_ctx *ctx = rt_arena_alloc(&req->arena, sizeof(*ctx));
	if (!ctx) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	ctx->req = req;
	kp_produce_resp_init(&ctx->resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	bool acks_ok = m->acks == 0 || m->acks == 1 || m->acks == -1;
	bool no_txn_id = txn_without_id(m);

	/* Fill the whole response first so that no job can finish the request early. */
	struct produce_job *jobs[64], **jl = jobs;
	int njobs = 0, cap = 64;
	DP_ARRAY(req, ctx->resp.responses, m->topic_data.n);
	for (int32_t i = 0; i < ctx->resp.responses.n; i++) {
		struct kp_produce_req_topic_data *td = &m->topic_data.items[i];
		struct kp_produce_resp_topic *rt = &ctx->resp.responses.items[i];
		rt->name = td->name;
		const struct dp_topic *t = dp_topic_by_str(snap, td->name);
		DP_ARRAY(req, rt->partition_responses, td->partition_data.n);
		for (int32_t k = 0; k < rt->partition_responses.n; k++) {
			struct kp_produce_req_partition_data *pd = &td->partition_data.items[k];
			struct kp_produce_resp_partition *rp = &rt->partition_responses.items[k];
			rp->index = pd->index;
			rp->base_offset = -1;
			rp->log_append_time_ms = -1;
			rp->log_start_offset = -1;
			rp->error_message = (struct kp_str){ NULL, -1 };
			rp->current_leader.leader_id = -1;
			rp->current_leader.leader_epoch = -1;
			if (no_txn_id) {
				rp->error_code = KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
				continue;
			}
			if (!acks_ok) {
				rp->error_code = KP_ERR_INVALID_REQUIRED_ACKS;
				continue;
			}
			if (!t || pd->index < 0 || pd->index >= t->nparts) {
				rp->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			if (t->internal && !internal_allowed(req)) {
				rp->error_code = KP_ERR_INVALID_TOPIC_EXCEPTION;
				rp->error_message = dp_str("Cannot append to internal topic");
				continue;
			}
			struct produce_job *j = rt_arena_alloc(&req->arena, sizeof(*j));
			if (!j) {
				rp->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
				continue;
			}
			const char *why = NULL;
			j->a = (struct stor_append){0};
			rp->error_code = validate(req, t, &pd->records, j, &why);
			if (rp->error_code) {
				rp->error_message = why ? dp_str(why) : (struct kp_str){ NULL, -1 };
				RT_DEBUG("produce to %s-%d rejected: %s", t->name, pd->index, why ? why : "");
				continue;
			}
			j->ctx = ctx;
			RT_LT_STAMP(j->lt_handler);
			j->out = rp;
			j->back = false;
			j->base_offset = j->log_append_time = j->log_start = -1;
			j->topic = t;
			j->index = pd->index;
			j->acks = m->acks;
			j->a.data = (uint8_t *)pd->records.ptr; /* with a.iov, the header piece */
			j->a.len = (size_t)pd->records.len;
			if (njobs == cap) {
				struct produce_job **nl = rt_arena_calloc(&req->arena, (size_t)cap * 2, sizeof(*nl));
				if (!nl) {
					rp->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
					continue;
				}
				memcpy(nl, jl, sizeof(*nl) * (size_t)njobs);
				jl = nl;
				cap *= 2;
			}
			jl[njobs++] = j;
		}
	}
	/* the timeout needs the list after this returns: jobs[] is on the stack */
	ctx->jobs = jl == jobs && njobs ? dp_req_array(req, njobs, sizeof(*jl)) : jl;
	if (ctx->jobs && ctx->jobs != jl)
		memcpy(ctx->jobs, jl, sizeof(*jl) * (size_t)njobs);
	ctx->njobs = ctx->jobs ? njobs : 0;
	ctx->pending = njobs + 1;
	for (int i = 0; i < njobs; i++)
		dp_shard_post(req->s, jl[i]->topic->owner[jl[i]->index], job_run, jl[i]);
	if (ctx->njobs && m->acks == -1) {
		ctx->timer.fn = produce_timeout;
		dp_timer_arm(req->s, &ctx->timer, m->timeout_ms > 0 ? (uint64_t)m->timeout_ms : 0);
	}
	if (--ctx->pending == 0) {
		dp_timer_cancel(req->s, &ctx->timer);
		finish(ctx);
	}
}
