/*
 * dataplane/router.h: from a request frame to its handler.
 *
 * The router decodes the request header, looks the API up in the generated table
 * (kp_api_lookup), writes the response header, decodes the body into the request's arena and
 * calls the API's handler (dataplane/handlers/<api>.c).  Kafka's answers to requests it cannot
 * serve: an unknown API key or a malformed header or body closes the connection; an ApiVersions
 * request of an unsupported version gets a v0 response with UNSUPPORTED_VERSION; any other
 * unsupported version closes the connection.
 *
 * Coordinator APIs (groups, offsets, transactions) belong to the control process; the router
 * sends them to dp_control_forward, which answers COORDINATOR_NOT_AVAILABLE until the control
 * process is wired in.
 */
#ifndef DP_ROUTER_H
#define DP_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

struct dp_req;

/* A handler owns the request from here: it must end with dp_req_finish (directly or after
 * cross-shard work).  `msg` is the decoded request struct, in the request's arena. */
typedef void (*dp_handler_fn)(struct dp_req *req, void *msg);

/* Takes a request whose frame has arrived and routes it (on the connection's shard). */
void dp_router_dispatch(struct dp_req *req);

/* The handler for an API key, or NULL when the dataplane does not serve it. */
dp_handler_fn dp_router_handler(int16_t api_key);

/* Encodes resp (the API's response struct) into req's response and finishes the request. */
void dp_req_respond(struct dp_req *req, const void *resp);

/* Handlers (one file each under dataplane/handlers/). */
void dp_h_api_versions(struct dp_req *req, void *msg);
void dp_h_metadata(struct dp_req *req, void *msg);
void dp_h_produce(struct dp_req *req, void *msg);
/* True when every hole of req (a Produce received in pieces, conn.h) lies in the records of one
 * of msg's partitions, past the batch header: the decode read no byte of a hole, and the handler
 * may write those records from the pieces. */
bool dp_produce_holes_ok(const struct dp_req *req, const void *msg);
void dp_h_fetch(struct dp_req *req, void *msg);
void dp_h_list_offsets(struct dp_req *req, void *msg);
void dp_h_describe_producers(struct dp_req *req, void *msg);
void dp_h_write_txn_markers(struct dp_req *req, void *msg);
void dp_h_add_partitions_to_txn(struct dp_req *req, void *msg);
void dp_h_create_topics(struct dp_req *req, void *msg);
void dp_h_delete_topics(struct dp_req *req, void *msg);
void dp_h_find_coordinator(struct dp_req *req, void *msg);
void dp_h_describe_configs(struct dp_req *req, void *msg);
void dp_h_alter_configs(struct dp_req *req, void *msg);
void dp_h_incremental_alter_configs(struct dp_req *req, void *msg);
void dp_h_create_partitions(struct dp_req *req, void *msg);
void dp_h_delete_records(struct dp_req *req, void *msg);
void dp_h_offset_for_leader_epoch(struct dp_req *req, void *msg);
void dp_h_describe_cluster(struct dp_req *req, void *msg);
void dp_h_describe_log_dirs(struct dp_req *req, void *msg);
void dp_h_describe_topic_partitions(struct dp_req *req, void *msg);
void dp_h_sasl_handshake(struct dp_req *req, void *msg);
void dp_h_sasl_authenticate(struct dp_req *req, void *msg);
void dp_control_forward(struct dp_req *req, void *msg);
/* True for the coordinator APIs that dp_control_forward answers. */
bool dp_control_serves(int16_t api_key);

/* Writes an ApiVersions response of `version` (0 with UNSUPPORTED_VERSION for the fallback). */
void dp_api_versions_answer(struct dp_req *req, int16_t version, int16_t error);

#endif
