/*
 * control/handlers.h: the coordinator's Kafka APIs on the wire.  A request frame forwarded by
 * the dataplane (request header and body, without the size prefix) is decoded with the
 * generated codec, handed to the coordinator (coord.h), and its answer encoded as a Kafka
 * response body (no size prefix, no response header: the dataplane, which wrote the header
 * for the client's connection already, appends the body) given to `reply`.
 *
 * Served: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, TxnOffsetCommit,
 * OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete, and the transaction
 * coordinator's APIs (control/link.h has the list), over the versions of the generated API
 * table.  JoinGroup, SyncGroup and OffsetCommit may be answered later (other members, the
 * log); every accepted request is answered exactly once, or dropped by ctl_handlers_fini.
 */
#ifndef CTL_HANDLERS_H
#define CTL_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include "control/coord.h"
#include "control/txn_service.h"

/* Borrows the response body for the duration of the call (copy it to keep it).  origin and
 * link_id are those given to ctl_handle. */
typedef void (*ctl_reply_fn)(void *ctx, int origin, uint64_t link_id, const uint8_t *body, size_t len);

struct ctl_handlers {
	struct ctl_coord *coord;
	struct ctl_txnsvc *txn;         /* InitProducerId (issue 7); NULL: COORDINATOR_NOT_AVAILABLE */
	ctl_reply_fn reply;
	void *ctx;
	size_t arena_limit;             /* bytes one request may decode into (default 64 MiB) */
	int64_t pending;                /* requests accepted and not yet answered */
	struct ctl_hreq *live;          /* every pending request, for ctl_handlers_fini */
};

/* The coordinator callbacks that route answers back through these handlers; pass them in
 * ctl_coord_ops (join_done, sync_done, commit_done) with ctx = the struct ctl_handlers. */
void ctl_handlers_join_done(void *ctx, void *req, const struct ctl_join_result *r);
void ctl_handlers_sync_done(void *ctx, void *req, const struct ctl_sync_result *r);
void ctl_handlers_commit_done(void *ctx, void *req, struct ctl_commit_req *c);

/* The transaction coordinator's answers (struct ctl_txn_ops, ctx = the struct ctl_handlers). */
void ctl_handlers_init_pid_done(void *ctx, void *req, int16_t err, int64_t pid, int16_t epoch);
void ctl_handlers_txn_done(void *ctx, void *req, int16_t err);

/* True for the API keys these handlers serve. */
bool ctl_handlers_serves(int16_t api_key);

/* What the link frame says besides the client's request (control/link.h): the client's
 * address as Kafka shows it, and for OffsetCommit / TxnOffsetCommit the positions (over all
 * topics' partitions, in request order) of the partitions the dataplane does not know, which
 * are answered UNKNOWN_TOPIC_OR_PARTITION without reaching the coordinator.  Borrowed. */
struct ctl_link_req {
	const char *host;
	size_t host_len;
	const int32_t *unknown;
	int32_t n_unknown;
};

/* Handles one request.  Borrows frame and lr (copies what it keeps).  Returns 0 (answered
 * or to be answered), -EBADMSG (malformed header or body), -ENOTSUP (an API or version not
 * served) or -ENOMEM; on an error nothing is answered and the dataplane closes the client's
 * connection, as Kafka does with a request it cannot parse. */
int ctl_handle(struct ctl_handlers *hs, int origin, uint64_t link_id, const struct ctl_link_req *lr,
               const uint8_t *frame, size_t len);

/* Drops every pending request without an answer (the link is gone). */
void ctl_handlers_fini(struct ctl_handlers *hs);

#endif
