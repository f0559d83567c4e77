/*
 * dataplane/handlers/api_versions.c: ApiVersions (key 18).  Lists every API the dataplane
 * answers (its own handlers and what it forwards to the control process) with the versions the
 * codec serves.  Answered before anything else on a connection; an unsupported version gets a
 * v0 response with UNSUPPORTED_VERSION (the router calls dp_api_versions_answer for that) that
 * lists ApiVersions alone, as Kafka's ApiVersionsRequest.getErrorResponse does (KIP-511): the
 * client needs only key 18's range to retry, and the other APIs are not yet negotiated.
 */
#include "handlers.h"

void dp_api_versions_answer(struct dp_req *req, int16_t version, int16_t error)
{
	struct kp_api_versions_resp resp;
	kp_api_versions_resp_init(&resp);
	resp.error_code = error;
	int32_t n = 0;
	DP_ARRAY(req, resp.api_keys, (int32_t)kp_api_count);
	for (size_t i = 0; i < kp_api_count && resp.api_keys.items; i++) {
		const struct kp_api_info *a = &kp_api_info[i];
		if (!dp_router_handler(a->key) && !dp_control_serves(a->key))
			continue;
		if (error == KP_ERR_UNSUPPORTED_VERSION && a->key != KP_API_API_VERSIONS)
			continue;
		struct kp_api_versions_resp_api_version *v = &resp.api_keys.items[n++];
		v->api_key = a->key;
		v->min_version = a->advertised_min;
		v->max_version = a->max_version;
	}
	resp.api_keys.n = n;
	resp.finalized_features_epoch = -1;
	const struct kp_api_info *info = kp_api_lookup(KP_API_API_VERSIONS);
	info->resp_encode(&req->resp, version, &resp);
	dp_req_finish(req);
}

void dp_h_api_versions(struct dp_req *req, void *msg)
{
	(void)msg;
	dp_api_versions_answer(req, req->api_version, 0);
}
