/*
 * dataplane/handlers/sasl.c: SaslHandshake (key 17) and SaslAuthenticate (key 36) on this
 * broker's only listener kind, PLAINTEXT.  Kafka's KafkaApis answers both with
 * ILLEGAL_SASL_STATE and keeps the connection (handleSaslHandshakeRequest: no mechanisms;
 * handleSaslAuthenticateRequest: "SaslAuthenticate request received after successful
 * authentication"), since a PLAINTEXT connection is authenticated from its start; both stay in
 * ApiVersions, as Kafka lists them on every listener.
 */
#include "handlers.h"

void dp_h_sasl_handshake(struct dp_req *req, void *msg)
{
	(void)msg;
	struct kp_sasl_handshake_resp resp;
	kp_sasl_handshake_resp_init(&resp);
	resp.error_code = KP_ERR_ILLEGAL_SASL_STATE;
	resp.mechanisms.items = NULL;
	resp.mechanisms.n = 0;
	dp_req_respond(req, &resp);
}

void dp_h_sasl_authenticate(struct dp_req *req, void *msg)
{
	(void)msg;
	struct kp_sasl_authenticate_resp resp;
	kp_sasl_authenticate_resp_init(&resp);
	resp.error_code = KP_ERR_ILLEGAL_SASL_STATE;
	resp.error_message = dp_str("SaslAuthenticate request received after successful authentication");
	resp.auth_bytes = (struct kp_bytes){ NULL, 0 };
	dp_req_respond(req, &resp);
}
