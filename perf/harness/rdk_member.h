/*
 * perf/harness/rdk_member.h: the rdkafka driver's consumer-group members (--driver rdkafka
 * --group ID): N librdkafka high-level consumers (rd_kafka_subscribe) in one classic group with
 * the assignor of --assignor: the eager "range" one by default, as the native driver's members
 * (member.h), or KIP-429's cooperative-sticky (incremental assign and unassign), checked by the same
 * ledger (ledger.h) so that the two drivers' group figures mean the same thing.
 *
 * librdkafka runs JoinGroup, SyncGroup and Heartbeat itself; the harness takes part through the
 * rebalance callback and its own commits (enable.auto.commit=false):
 *   - assigned: the committed offset of each partition, else the offset the run fixed at set-up
 *     (earliest; latest with --from latest and in e2e mode), so that records produced while the
 *     group forms are not missed.  The offsets are asked for asynchronously (the OffsetFetch of
 *     rd_kafka_committed, sent as ListConsumerGroupOffsets on the set-up handle with its answer
 *     on a queue) and the partitions are assigned when the answer comes: librdkafka keeps the
 *     rebalance open until the assign call, which need not come from the callback;
 *   - revoked: every position is committed before the partitions are given up, so the next
 *     owner continues exactly where this member stopped: the commit is asynchronous
 *     (rd_kafka_commit_queue on a queue of the member's) and the unassign waits for its answer;
 *   - every --commit-interval-ms the positions are committed (asynchronously);
 *   - --group-churn S: every S seconds one member in turn is closed (rd_kafka_consumer_close_queue:
 *     the revoke arrives as an event and commits as above, then LeaveGroup on librdkafka's
 *     threads) and replaced by a new member at once;
 *   - at the end every member is closed the same way, all at once, and the figures are read
 *     when every close has finished.
 * A position is what the application was handed: librdkafka stores an offset when
 * rd_kafka_consumer_poll returns its message, and only stored offsets are committed.
 * Heartbeats and generation ids stay inside librdkafka: the result reports them as -1.
 * Single-threaded: everything here runs on the driver's thread (librdkafka calls the rebalance
 * and commit callbacks from rd_kafka_consumer_poll; a closing member's arrive as events that
 * perf_rdk_grp_poll hands to the same functions, and so do the answers to the rebalances'
 * offset lookups and commits).  Outside set-up and perf_rdk_grp_finish nothing waits for a round
 * trip: a member whose rebalance waits for one is not polled meanwhile (so nothing it reads can
 * miss the revoke's commit), while the producers, the other members and the clock go on.
 */
#ifndef PERF_RDK_MEMBER_H
#define PERF_RDK_MEMBER_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "perf/harness/opts.h"
#include "perf/harness/stats.h"

struct perf_rdk_grp;

/* drv_rdkafka.c: a consumer configuration with every setting of o (group ones when group),
 * --driver-conf last.  Returns owned, or NULL with the error in st. */
rd_kafka_conf_t *perf_rdk_consumer_conf(const struct perf_opts *o, struct perf_stats *st, bool group);

/* drv_rdkafka.c: asks rk for topic's metadata until every partition has a leader (10 s at most):
 * the answer also fills rk's cache.  0 with the partition count in *nparts, or -EIO (recorded in
 * st). */
int perf_rdk_topic_wait(rd_kafka_t *rk, const char *topic, struct perf_stats *st, int32_t *nparts);

/* drv_rdkafka.c: counts one consumed message (and its e2e latency in e2e mode).  Borrows m. */
void perf_rdk_consumed(const struct perf_opts *o, struct perf_stats *st, const rd_kafka_message_t *m);

/* Set-up (blocking): the topic's partitions, the offsets the run starts from, the end offsets in
 * consume mode, and o->consumers members subscribed to o->topic.  Returns owned, or NULL with the
 * error in st. */
struct perf_rdk_grp *perf_rdk_grp_new(const struct perf_opts *o, struct perf_stats *st);

/* Serves every member (messages, rebalances, periodic commits, churn) and the closing ones (their
 * rebalance and commit events).  Returns true when something happened. */
bool perf_rdk_grp_poll(struct perf_rdk_grp *g, uint64_t now);

/* Polls until the group has given out every partition (the run's clock starts then), at most
 * timeout_ns.  0 or -ETIMEDOUT (recorded in st). */
int perf_rdk_grp_wait_formed(struct perf_rdk_grp *g, uint64_t timeout_ns);

/* The offsets the group has reached: over every partition, from the offset the run started it
 * at to one past the highest offset handed out.  A record read twice counts once, so an e2e run
 * has caught up when this reaches the acknowledged records. */
int64_t perf_rdk_grp_reached(const struct perf_rdk_grp *g);

/* Consume mode: true when every partition's position reached the end offset read at set-up. */
bool perf_rdk_grp_read_all(const struct perf_rdk_grp *g);

/* After the run (blocking): closes every member (commit, LeaveGroup), reads the committed and
 * the log end offsets and puts the ledger's tally into st->group. */
void perf_rdk_grp_finish(struct perf_rdk_grp *g);

/* The connections count: members (one rd_kafka_t each). */
int perf_rdk_grp_members(const struct perf_rdk_grp *g);

/* Frees g (closing members still open).  NULL is fine. */
void perf_rdk_grp_free(struct perf_rdk_grp *g);

#endif
