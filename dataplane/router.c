/*
 * dataplane/router.c: request header, API lookup, body decode, handler dispatch (see router.h).
 */
#include "router.h"

#include <stdlib.h>

#include "base/log.h"
#include "conn.h"
#include "kp_errors.h"
#include "kp_msgs.h"
#include "shard.h"

static const struct {
	int16_t key;
	dp_handler_fn fn;
} handlers[] = {
	{ KP_API_PRODUCE, dp_h_produce },
	{ KP_API_FETCH, dp_h_fetch },
	{ KP_API_LIST_OFFSETS, dp_h_list_offsets },
	{ KP_API_DESCRIBE_PRODUCERS, dp_h_describe_producers },
	{ KP_API_WRITE_TXN_MARKERS, dp_h_write_txn_markers },
	{ KP_API_ADD_PARTITIONS_TO_TXN, dp_h_add_partitions_to_txn },
	{ KP_API_METADATA, dp_h_metadata },
	{ KP_API_FIND_COORDINATOR, dp_h_find_coordinator },
	{ KP_API_API_VERSIONS, dp_h_api_versions },
	{ KP_API_CREATE_TOPICS, dp_h_create_topics },
	{ KP_API_DELETE_TOPICS, dp_h_delete_topics },
	{ KP_API_DESCRIBE_CONFIGS, dp_h_describe_configs },
	{ KP_API_ALTER_CONFIGS, dp_h_alter_configs },
	{ KP_API_INCREMENTAL_ALTER_CONFIGS, dp_h_incremental_alter_configs },
	{ KP_API_CREATE_PARTITIONS, dp_h_create_partitions },
	{ KP_API_DELETE_RECORDS, dp_h_delete_records },
	{ KP_API_OFFSET_FOR_LEADER_EPOCH, dp_h_offset_for_leader_epoch },
	{ KP_API_DESCRIBE_CLUSTER, dp_h_describe_cluster },
	{ KP_API_DESCRIBE_LOG_DIRS, dp_h_describe_log_dirs },
	{ KP_API_DESCRIBE_TOPIC_PARTITIONS, dp_h_describe_topic_partitions },
	{ KP_API_SASL_HANDSHAKE, dp_h_sasl_handshake },
	{ KP_API_SASL_AUTHENTICATE, dp_h_sasl_authenticate },
};

dp_handler_fn dp_router_handler(int16_t api_key)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].key == api_key)
			return handlers[i].fn;
	return NULL;
}

void dp_req_respond(struct dp_req *req, const void *resp)
{
	const struct kp_api_info *info = kp_api_lookup(req->api_key);
	info->resp_encode(&req->resp, req->api_version, resp);
	dp_req_finish(req);
}

static void refuse(struct dp_req *req, const char *why)
{
	RT_INFO("%s: api %d v%d: %s; closing the connection", req->conn->peer, req->api_key, req->api_version, why);
	req->close_after = true;
	dp_req_finish(req);
}

void dp_router_dispatch(struct dp_req *req)
{
	struct rt_rd r;
	rt_rd_init(&r, req->frame, req->len);
	struct kp_req_hdr h;
	int rc = kp_req_hdr_decode(&r, &req->arena, &h);
	req->api_key = h.request_api_key;
	req->api_version = h.request_api_version;
	req->corr_id = h.correlation_id;
	if (rc) {
		/* An ApiVersions request of a version this broker does not know still gets its v0
		 * answer: the client may have framed the header for a version we cannot know. */
		const struct kp_api_info *av = kp_api_lookup(KP_API_API_VERSIONS);
		if (req->len >= 8 && req->api_key == KP_API_API_VERSIONS && req->api_version > av->max_version) {
			rt_buf_put_i32(rt_chain_buf(&req->resp), 0);
			struct kp_resp_hdr rh0 = { .correlation_id = req->corr_id };
			kp_resp_hdr_encode(&req->resp, req->api_key, 0, &rh0);
			dp_api_versions_answer(req, 0, KP_ERR_UNSUPPORTED_VERSION);
			return;
		}
		refuse(req, "malformed request header");
		return;
	}
	req->client_id = h.client_id.ptr;
	req->client_id_len = (int16_t)h.client_id.len;
	req->body_off = (size_t)(r.p - req->frame);

	const struct kp_api_info *info = kp_api_lookup(req->api_key);
	dp_handler_fn fn = info ? dp_router_handler(req->api_key) : NULL;
	if (!fn && info)
		fn = dp_control_forward;
	if (!fn) {
		refuse(req, "unknown API key");
		return;
	}

	/* The response starts with its size (patched when sent) and the response header. */
	rt_buf_put_i32(rt_chain_buf(&req->resp), 0);
	struct kp_resp_hdr rh = { .correlation_id = req->corr_id };
	if (req->api_version < info->min_version || req->api_version > info->max_version) {
		if (req->api_key == KP_API_API_VERSIONS) {
			/* Kafka answers with a v0 response so that any client can read the error. */
			kp_resp_hdr_encode(&req->resp, req->api_key, 0, &rh);
			dp_api_versions_answer(req, 0, KP_ERR_UNSUPPORTED_VERSION);
			return;
		}
		refuse(req, "unsupported version");
		return;
	}
	kp_resp_hdr_encode(&req->resp, req->api_key, req->api_version, &rh);
	req->flexible = info->flexible_version >= 0 && req->api_version >= info->flexible_version;

	void *msg = rt_arena_alloc(&req->arena, info->req_size);
	if (!msg) {
		refuse(req, "request too large for its arena");
		return;
	}
	info->req_init(msg);
	rc = info->req_decode(&r, req->api_version, &req->arena, msg);
	if (req->lent && req->lent->nholes && (rc || !dp_produce_holes_ok(req, msg))) {
		/* The decode met bytes that were left in the receive buffers (conn.h: a frame
		 * received in pieces): copied into the frame, and decoded again. */
		dp_req_fill(req);
		req->s->pieces_filled++;
		/* what the first decode took from the arena goes (nothing else is there yet: the
		 * header's own fields are not kept) */
		rt_arena_reset(&req->arena);
		msg = rt_arena_alloc(&req->arena, info->req_size);
		if (!msg) {
			refuse(req, "request too large for its arena");
			return;
		}
		rt_rd_init(&r, req->frame + req->body_off, req->len - req->body_off);
		info->req_init(msg);
		rc = info->req_decode(&r, req->api_version, &req->arena, msg);
	}
	if (rc) {
		refuse(req, rc == -E2BIG ? "request needs more memory than allowed" : "malformed request body");
		return;
	}
	fn(req, msg);
}
