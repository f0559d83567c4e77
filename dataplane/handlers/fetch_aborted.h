/*
 * dataplane/handlers/fetch_aborted.h: the aborted_transactions list of a read_committed Fetch
 * (issue 7), kept apart from fetch.c so the read path there only calls three functions.
 *
 * Kafka's rule (UnifiedLog.read with isolation TXN_COMMITTED, addAbortedTransactions): the
 * records stop at the last stable offset, and the partition lists every aborted transaction
 * whose ABORT marker is at or past the fetch offset and whose first offset is below the end of
 * the returned records, so the consumer can drop that producer's records from its first offset
 * to its marker.  read_uncommitted answers null (v4+), as Kafka does.
 */
#ifndef DP_FETCH_ABORTED_H
#define DP_FETCH_ABORTED_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_msgs.h"

struct dp_req;
struct stor_log;
struct stor_read;

struct dp_fetch_aborted {
	struct kp_fetch_resp_aborted_transaction *items;   /* owned (malloc), NULL when none */
	int32_t n;
};

/* On the owner shard, after a read of rd (len > 0) from fetch offset `offset`: fills *ab with
 * the aborted transactions overlapping the records.  Returns 0, or -ENOMEM (then the caller
 * must not return the records: a read_committed consumer would take aborted records for
 * committed ones). */
int dp_fetch_aborted_collect(struct stor_log *log, int64_t offset, const struct stor_read *rd,
                             struct dp_fetch_aborted *ab);

/* On the connection's shard, for a partition whose records go into the response: the list
 * (empty for read_committed without aborts, null for read_uncommitted) moves into o, owned by
 * the request until it is released.  Returns false when it could not be attached (out of
 * memory): the records must then be left out. */
bool dp_fetch_aborted_put(struct dp_req *req, struct kp_fetch_resp_partition_data *o,
                          struct dp_fetch_aborted *ab, bool committed);

/* Frees a list not handed to a response (any shard). */
void dp_fetch_aborted_drop(struct dp_fetch_aborted *ab);

#endif
