/*
 * dataplane/handlers/describe_cluster.c: DescribeCluster (key 60): the cluster id, this broker
 * as controller, and the broker list (one node per shard as well in shard-aware mode, as
 * Metadata advertises them).  Only the broker endpoint type (1) is served.
 */
#include "handlers.h"

void dp_h_describe_cluster(struct dp_req *req, void *msg)
{
	struct kp_describe_cluster_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_describe_cluster_resp resp;
	kp_describe_cluster_resp_init(&resp);
	resp.error_message = (struct kp_str){ NULL, -1 };
	resp.cluster_id = dp_str(b->meta->cluster_id);
	resp.cluster_authorized_operations = INT32_MIN;
	resp.endpoint_type = m->endpoint_type;
	if (req->api_version >= 1 && m->endpoint_type != 1) {
		resp.error_code = KP_ERR_UNSUPPORTED_ENDPOINT_TYPE;
		resp.error_message = dp_str("Only broker endpoints are served");
		resp.controller_id = -1;
		dp_req_respond(req, &resp);
		return;
	}
	resp.controller_id = b->cfg.node_id;
	int nb = b->cfg.advertise_shards ? 1 + b->nshards : 1;
	DP_ARRAY(req, resp.brokers, nb);
	for (int i = 0; i < resp.brokers.n; i++) {
		struct kp_describe_cluster_resp_broker *br = &resp.brokers.items[i];
		br->broker_id = i == 0 ? b->cfg.node_id : b->cfg.node_id * 1000 + i;
		br->host = dp_str(b->cfg.adv_host);
		br->port = b->cfg.adv_port + i;
		br->rack = (struct kp_str){ NULL, -1 };
	}
	dp_req_respond(req, &resp);
}
