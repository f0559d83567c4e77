/*
 * perf/harness/member.h: the native driver's consumer-group members (--group ID): N consumers
 * that join one classic consumer group through the broker's coordinator, as Kafka's Java
 * consumer does with the eager "range" assignor, and read what the group gives them.
 *
 * Each member has its own coordinator connection (JoinGroup waits there for the whole
 * rebalance) and its own fetch connection per leader node.  A member's life:
 *   FindCoordinator (at set-up) -> JoinGroup (MEMBER_ID_REQUIRED answered by joining again
 *   with the given id) -> SyncGroup (the leader sends every member's range assignment, from
 *   the subscriptions in the JoinGroup answer) -> OffsetFetch (committed offset, else the
 *   reset offset) -> fetching, with Heartbeat and periodic OffsetCommit.
 * A Heartbeat or OffsetCommit answered REBALANCE_IN_PROGRESS starts a hand-over: no new Fetch,
 * the fetches in flight are read, the position of every partition is committed, and only then
 * does the member join again.  So a partition's next owner (which starts from the committed
 * offset after SyncGroup, when every member has rejoined) continues exactly where the last one
 * stopped: every record is read once.  --group-churn S makes one member at a time leave
 * (commit, LeaveGroup) and come back as a new member every S seconds; at the end every
 * member commits and leaves.
 *
 * The ledger (ledger.h) records each stretch every partition was read over, and the result
 * counts records read twice, offsets skipped and records left unread at the end.
 */
#ifndef PERF_MEMBER_H
#define PERF_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct native;
struct conn;
struct nreq;

/* Session timeout, rebalance timeout and heartbeat interval the members ask for.  The
 * heartbeat is short so that members notice a rebalance quickly (Kafka's default is 3 s); the
 * session timeout is above Kafka's group.min.session.timeout.ms (6 s). */
#define PERF_GRP_SESSION_MS 10000
#define PERF_GRP_REBALANCE_MS 10000
#define PERF_GRP_HEARTBEAT_MS 250

/* Set-up (blocking): FindCoordinator (retried while the coordinator loads), the reset offsets
 * of every partition (and, in consume mode, the end offsets), one coordinator connection per
 * member, the ledger.  nv->grp owns it all.  0 or a negative errno with the error recorded. */
int perf_grp_setup(struct native *nv, struct rt_buf *frame);

/* Drives every member: sends what its state calls for, heartbeats, commits, churn.  With
 * stopping, members that hold partitions hand them over and leave. */
void perf_grp_step(struct native *nv, uint64_t now, bool stopping);

/* A response frame (with its size prefix) for request r on coordinator connection c. */
void perf_grp_on_response(struct native *nv, struct conn *c, const struct nreq *r, const uint8_t *frame,
                          size_t n, uint64_t now);

/* A member's fetch read [from, to) of partition part. */
void perf_grp_consumed(struct native *nv, int32_t part, int64_t from, int64_t to);

/* True once the group has given out every partition at least once (the run's clock starts
 * then, so that the group's forming is not counted as the consumers' latency). */
bool perf_grp_formed(const struct native *nv);

/* Consume mode: true when every partition's position reached its end offset. */
bool perf_grp_read_all(const struct native *nv);

/* The offsets the group has reached: over every partition, from where the run started it to the
 * furthest position any member read.  Records read twice count once, so an e2e run is caught up
 * when this reaches the acknowledged records (consumed_records counts every read). */
int64_t perf_grp_reached(const struct native *nv);

/* True when every member has left the group. */
bool perf_grp_gone(const struct native *nv);

/* Nanoseconds until the next member timer (heartbeat, commit, churn, back-off), at most cap. */
uint64_t perf_grp_wait_ns(const struct native *nv, uint64_t now, uint64_t cap);

/* After the run (blocking): the log end offsets, and the ledger's tally into the stats. */
void perf_grp_finish(struct native *nv);

/* Frees nv->grp (the connections themselves belong to nv->conns). */
void perf_grp_fini(struct native *nv);

#endif
