/*
 * dataplane/handlers/create_partitions.c: CreatePartitions (key 37).  Grows topics to the
 * requested count (never shrinks: INVALID_PARTITIONS); new partitions get owner shards as at
 * creation, and the registry is persisted before the answer.  Manual assignments may only name
 * this broker.  A topic some of whose new partitions cannot be opened (out of file descriptors, a
 * failing disk) is answered with the error and goes back to its partitions before the request:
 * the registry's count is restored and what was opened of the new ones deleted (offload.h).
 */
#include "handlers.h"
#include "offload.h"

/* On the connection's shard: topic i was grown but a new partition could not be opened. */
static void cp_open_failed(struct dp_off *off, int32_t i, int err)
{
	struct kp_create_partitions_resp *resp = off->resp;
	struct kp_create_partitions_resp_topic_result *o = &resp->results.items[i];
	o->error_code = dp_off_open_error(off, err, "the topic keeps the partitions it had", &o->error_message);
}

/* On the shard's file worker: the registry write blocks (offload.h). */
static void cp_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_create_partitions_req *m = off->msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_create_partitions_resp *resp = off->resp;
	kp_create_partitions_resp_init(resp);
	DP_ARRAY(req, resp->results, m->topics.n);
	off->open = dp_req_array(req, resp->results.n, sizeof(*off->open));  /* per topic: grown now */
	off->nopen = resp->results.n;
	off->open_first = dp_req_array(req, resp->results.n, sizeof(*off->open_first));
	off->open_failed = cp_open_failed;
	for (int32_t i = 0; i < resp->results.n; i++) {
		struct kp_create_partitions_req_topic *q = &m->topics.items[i];
		struct kp_create_partitions_resp_topic_result *o = &resp->results.items[i];
		o->name = q->name;
		o->error_message = (struct kp_str){ NULL, -1 };
		bool dup = false;
		for (int32_t k = 0; k < m->topics.n; k++)
			if (k != i && m->topics.items[k].name.len == q->name.len && q->name.len > 0 &&
			    !memcmp(m->topics.items[k].name.ptr, q->name.ptr, (size_t)q->name.len))
				dup = true;
		if (dup) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str("Duplicate topic in the request");
			continue;
		}
		bool bad = false;
		for (int32_t k = 0; k < q->assignments.n; k++) {
			struct kp_create_partitions_req_assignment *a = &q->assignments.items[k];
			if (a->broker_ids.n != 1 || a->broker_ids.items[0] != b->cfg.node_id)
				bad = true;
		}
		if (bad) {
			o->error_code = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
			o->error_message = dp_str("Replica assignments may only name this broker, one replica per partition");
			continue;
		}
		const char *why = NULL;
		const struct dp_topic *was = dp_topic_by_str(dp_meta_snap(b->meta), q->name);
		o->error_code = dp_meta_add_partitions(b->meta, q->name.len > 0 ? q->name.ptr : "",
		                                       q->name.len > 0 ? (size_t)q->name.len : 0, q->count, m->validate_only, &why);
		if (o->error_code && why)
			o->error_message = dp_str(why);
		if (!o->error_code && !m->validate_only && off->open && off->open_first && was) {
			off->open[i] = dp_topic_by_str(dp_meta_snap(b->meta), q->name);
			off->open_first[i] = was->nparts;
		}
	}
}

void dp_h_create_partitions(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_create_partitions_resp), cp_run, NULL);
}
