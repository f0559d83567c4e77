/*
 * dataplane/handlers/add_partitions_to_txn.c: AddPartitionsToTxn (key 24) from clients (v0-3):
 * the broker-side check Kafka's KafkaApis makes before the transaction coordinator sees the
 * request, then the request goes to the control process as every coordinator API does.
 *
 * Kafka's rule: a partition that does not exist fails the whole request: it gets
 * UNKNOWN_TOPIC_OR_PARTITION, every other partition of the request OPERATION_NOT_ATTEMPTED, and
 * nothing is added to the transaction (so no marker is ever sent to a partition that does not
 * exist).  v4+ (sent by brokers to verify a transaction, KIP-890) goes to the coordinator as it is.
 */
#include "handlers.h"

/* True when partition p of the topic named n exists. */
static bool exists(const struct dp_snap *snap, struct kp_str n, int32_t p)
{
	const struct dp_topic *t = dp_topic_by_str(snap, n);
	return t && p >= 0 && p < t->nparts;
}

void dp_h_add_partitions_to_txn(struct dp_req *req, void *msg)
{
	struct kp_add_partitions_to_txn_req *m = msg;
	const struct dp_snap *snap = dp_meta_snap(dp_req_broker(req)->meta);
	bool missing = false;
	for (int32_t i = 0; req->api_version <= 3 && i < m->v_3_and_below_topics.n && !missing; i++) {
		const struct kp_add_partitions_to_txn_req_topic *t = &m->v_3_and_below_topics.items[i];
		for (int32_t k = 0; k < t->partitions.n && !missing; k++)
			missing = !exists(snap, t->name, t->partitions.items[k]);
	}
	if (!missing) {
		dp_control_forward(req, msg);
		return;
	}
	struct kp_add_partitions_to_txn_resp resp;
	kp_add_partitions_to_txn_resp_init(&resp);
	DP_ARRAY(req, resp.results_by_topic_v_3_and_below, m->v_3_and_below_topics.n);
	for (int32_t i = 0; i < resp.results_by_topic_v_3_and_below.n; i++) {
		const struct kp_add_partitions_to_txn_req_topic *t = &m->v_3_and_below_topics.items[i];
		struct kp_add_partitions_to_txn_resp_topic_result *o = &resp.results_by_topic_v_3_and_below.items[i];
		kp_add_partitions_to_txn_resp_topic_result_init(o);
		o->name = t->name;
		DP_ARRAY(req, o->results_by_partition, t->partitions.n);
		for (int32_t k = 0; k < o->results_by_partition.n; k++) {
			struct kp_add_partitions_to_txn_resp_partition_result *r = &o->results_by_partition.items[k];
			kp_add_partitions_to_txn_resp_partition_result_init(r);
			r->partition_index = t->partitions.items[k];
			r->partition_error_code = exists(snap, t->name, r->partition_index)
			                          ? KP_ERR_OPERATION_NOT_ATTEMPTED
			                          : KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		}
	}
	dp_req_respond(req, &resp);
}
