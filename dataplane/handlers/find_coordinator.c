/*
 * dataplane/handlers/find_coordinator.c: FindCoordinator (key 10).  The coordinator of every
 * group and transactional id is this broker (the control process behind it does the work);
 * key types other than GROUP (0) and TRANSACTION (1) are INVALID_REQUEST.
 */
#include "handlers.h"

void dp_h_find_coordinator(struct dp_req *req, void *msg)
{
	struct kp_find_coordinator_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_find_coordinator_resp resp;
	kp_find_coordinator_resp_init(&resp);
	int16_t err = m->key_type == 0 || m->key_type == 1 ? 0 : KP_ERR_INVALID_REQUEST;
	if (req->api_version < 4) {
		resp.error_code = err;
		resp.error_message = (struct kp_str){ NULL, -1 };
		resp.node_id = err ? -1 : b->cfg.node_id;
		resp.host = err ? dp_str("") : dp_str(b->cfg.adv_host);
		resp.port = err ? -1 : b->cfg.adv_port;
	} else {
		DP_ARRAY(req, resp.coordinators, m->coordinator_keys.n);
		for (int32_t i = 0; i < resp.coordinators.n; i++) {
			struct kp_find_coordinator_resp_coordinator *c = &resp.coordinators.items[i];
			c->key = m->coordinator_keys.items[i];
			c->error_code = err;
			c->error_message = (struct kp_str){ NULL, -1 };
			c->node_id = err ? -1 : b->cfg.node_id;
			c->host = err ? dp_str("") : dp_str(b->cfg.adv_host);
			c->port = err ? -1 : b->cfg.adv_port;
		}
	}
	dp_req_respond(req, &resp);
}
