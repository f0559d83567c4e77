/*
 * control/txnlog_codec.h: the records of `__transaction_state` (prefix ctl_txnlog_), Kafka's
 * TransactionLogKey and TransactionLogValue formats, encoded and decoded by hand.
 *
 * Key (version 0):      int16 version 0, string transactional id (int16 length + bytes).
 * Value version 0:      int16 version, int64 producer id, int16 producer epoch,
 *                       int32 transaction timeout ms, int8 transaction status,
 *                       nullable array of partitions (int32 count, -1 = null; each: string
 *                       topic, int32 count + int32 partition ids), int64 last update time,
 *                       int64 start time.
 * Value version 1 (flexible): the same fields with compact strings and arrays (uvarint
 *                       length + 1, 0 = null) and a tagged-field section after each partition
 *                       entry and after the value; value tags: 0 previous producer id (int64),
 *                       1 next producer id (int64), 2 client transaction version (int16).
 * A null value (tombstone) removes a transactional id (expired).
 * Status numbers are Kafka's: Empty 0, Ongoing 1, PrepareCommit 2, PrepareAbort 3,
 * CompleteCommit 4, CompleteAbort 5, Dead 6, PrepareEpochFence 7.  Empty states carry a null
 * partition list, as Kafka writes them.
 */
#ifndef CTL_TXNLOG_CODEC_H
#define CTL_TXNLOG_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum ctl_txn_state {
	CTL_TXN_EMPTY = 0,
	CTL_TXN_ONGOING = 1,
	CTL_TXN_PREPARE_COMMIT = 2,
	CTL_TXN_PREPARE_ABORT = 3,
	CTL_TXN_COMPLETE_COMMIT = 4,
	CTL_TXN_COMPLETE_ABORT = 5,
	CTL_TXN_DEAD = 6,
	CTL_TXN_PREPARE_EPOCH_FENCE = 7,
};

/* Kafka's names ("Empty", "Ongoing", ...), as DescribeTransactions and ListTransactions show. */
const char *ctl_txn_state_name(enum ctl_txn_state s);

struct ctl_txn_tp {
	char *topic;                    /* owned, NUL-terminated */
	int32_t partition;
};

struct ctl_txnlog_value {
	int16_t version;                /* 0 or 1 */
	int64_t producer_id;
	int64_t prev_producer_id;       /* v1 tag 0, -1 when absent */
	int64_t next_producer_id;       /* v1 tag 1, -1 when absent */
	int16_t producer_epoch;
	int32_t timeout_ms;
	enum ctl_txn_state state;
	struct ctl_txn_tp *tps;         /* owned array (NULL when none) */
	size_t ntps;
	int64_t last_update_ms;
	int64_t start_ms;
	int16_t client_txn_version;     /* v1 tag 2, 0 when absent */
};

/* Appends the key for a transactional id of len bytes. */
void ctl_txnlog_key_encode(struct rt_buf *b, const char *txn_id, size_t len);
/* Decodes a key.  Returns 0 with the id borrowed from p in *id / *len, 1 for a key of another
 * version (not a transactional id record: skip it, as Kafka does), or -EBADMSG. */
int ctl_txnlog_key_decode(const uint8_t *p, size_t n, const char **id, size_t *len);

/* Appends v in its version (v->version); the topics of tps with the same name are grouped. */
void ctl_txnlog_value_encode(struct rt_buf *b, const struct ctl_txnlog_value *v);
/* Decodes a value into *v (owned arrays: free with ctl_txnlog_value_fini).  Returns 0,
 * -EBADMSG (malformed, unknown version or status) or -ENOMEM. */
int ctl_txnlog_value_decode(const uint8_t *p, size_t n, struct ctl_txnlog_value *v);
void ctl_txnlog_value_fini(struct ctl_txnlog_value *v);

#endif
