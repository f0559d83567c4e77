/*
 * control/txn_coord.h: the transaction coordinator of the control process (prefix ctl_txn_):
 * InitProducerId, AddPartitionsToTxn (with the v4+ verify-only check of KIP-890),
 * AddOffsetsToTxn, EndTxn, timed-out transaction aborts, expiry of idle transactional ids,
 * DescribeTransactions and ListTransactions, as Apache Kafka's TransactionCoordinator behaves
 * with transaction version 1 (epoch bumps only on InitProducerId and on fencing).
 *
 * States (Kafka's): Empty -> Ongoing (partitions added) -> PrepareCommit / PrepareAbort
 * (durable in `__transaction_state`) -> markers written by the dataplane to every partition of
 * the transaction -> CompleteCommit / CompleteAbort (durable; EndTxn answered) -> Ongoing again
 * on the next AddPartitionsToTxn.  Kafka answers EndTxn at PrepareCommit already, but then the
 * client's next AddPartitionsToTxn meets the markers still out and gets CONCURRENT_TRANSACTIONS,
 * which librdkafka and the Java client retry only after 20 ms (KafkaJS after 100 ms+): answering
 * at Complete* costs the client nothing it could use (it cannot start the next transaction
 * sooner) and saves that back-off; the committed records are also readable when it returns.  An InitProducerId while a transaction is Ongoing (a new producer
 * instance with the same transactional.id) and a transaction past transaction.timeout.ms are
 * fenced: the epoch is bumped and the transaction aborted (Kafka's PrepareEpochFence), so the
 * old producer's next request gets PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for the older
 * request versions, see ctl_txn_fenced_error).
 *
 * Like control/coord.h this is pure logic: no I/O, no clock.  Its owner
 *   - writes the records the coordinator hands it (struct ctl_txn_append) to partition
 *     a->partition of `__transaction_state` with acks=-1 and calls ctl_txn_append_done,
 *   - sends the markers it hands out (struct ctl_txn_markers) as WriteTxnMarkers to the
 *     dataplane and calls ctl_txn_markers_done,
 *   - feeds every record of `__transaction_state` at start (ctl_txn_load_record), then
 *     ctl_txn_load_done, which resumes the transactions a previous run had prepared (their
 *     markers are sent again, which is idempotent on the partitions);
 *   - calls ctl_txn_tick with the wall clock, about once a second.
 * A request's `req` token comes back exactly once through ops.init_pid_done or ops.done.
 * A transition waits for its record to be durable before it takes effect; meanwhile other
 * requests for that transactional id get CONCURRENT_TRANSACTIONS, as in Kafka.
 */
#ifndef CTL_TXN_COORD_H
#define CTL_TXN_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "control/txnlog_codec.h"

/* Kafka error codes the transaction coordinator answers with. */
enum {
	CTL_TXN_ERR_NONE = 0,
	CTL_TXN_ERR_UNKNOWN_SERVER_ERROR = -1,
	CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	CTL_TXN_ERR_COORDINATOR_NOT_AVAILABLE = 15,
	CTL_TXN_ERR_NOT_COORDINATOR = 16,
	CTL_TXN_ERR_INVALID_REQUEST = 42,
	CTL_TXN_ERR_INVALID_PRODUCER_EPOCH = 47,
	CTL_TXN_ERR_INVALID_TXN_STATE = 48,
	CTL_TXN_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
	CTL_TXN_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
	CTL_TXN_ERR_CONCURRENT_TRANSACTIONS = 51,
	CTL_TXN_ERR_PRODUCER_FENCED = 90,
	CTL_TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND = 105,
};

/* Broker settings, Kafka's names; ctl_txn_config_default gives Kafka's defaults. */
struct ctl_txn_config {
	int32_t max_timeout_ms;             /* transaction.max.timeout.ms (900000) */
	int64_t abort_interval_ms;          /* transaction.abort.timed.out.transaction.cleanup.interval.ms (10000) */
	int64_t id_expiration_ms;           /* transactional.id.expiration.ms (604800000) */
	int64_t expire_interval_ms;         /* transaction.remove.expired.transaction.cleanup.interval.ms (3600000) */
	int32_t log_partitions;             /* transaction.state.log.num.partitions (50) */
	int32_t offsets_partitions;         /* offsets.topic.num.partitions (50) */
	int32_t coordinator_epoch;          /* stamped on markers: the leader epoch of the log */
	int16_t value_version;              /* TransactionLogValue version written (0) */
};
void ctl_txn_config_default(struct ctl_txn_config *cfg);

/* One record for `__transaction_state`, owned by the coordinator until ctl_txn_append_done. */
struct ctl_txn_append {
	int32_t partition;
	struct rt_buf key;
	struct rt_buf value;
	bool tombstone;                     /* write a null value (value is empty) */
	/* private */
	struct ctl_txn_append *next;
	void *txn;
	int op;
	int64_t block;
};

/* A WriteTxnMarkers request, owned by the coordinator until ctl_txn_markers_done. */
struct ctl_txn_markers {
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t coordinator_epoch;
	bool commit;
	const struct ctl_txn_tp *tps;       /* every partition of the transaction */
	size_t ntps;
	/* private */
	void *txn;
};

struct ctl_txn_ops {
	void *ctx;
	void (*append)(void *ctx, struct ctl_txn_append *a);
	void (*markers)(void *ctx, struct ctl_txn_markers *m);
	void (*init_pid_done)(void *ctx, void *req, int16_t err, int64_t producer_id, int16_t epoch);
	void (*done)(void *ctx, void *req, int16_t err);
};

struct ctl_txn_coord;

/* Copies cfg and ops.  Returns an owned coordinator (loading: every request gets
 * COORDINATOR_LOAD_IN_PROGRESS until ctl_txn_load_done) or NULL. */
struct ctl_txn_coord *ctl_txn_create(const struct ctl_txn_config *cfg, const struct ctl_txn_ops *ops);
/* Frees everything; appends and markers handed out must not be reported afterwards. */
void ctl_txn_destroy(struct ctl_txn_coord *c);

/* One record of `__transaction_state` in log order (value NULL: a tombstone).  Borrows.
 * Returns 0, or -EBADMSG for a record that does not decode (skipped, as Kafka logs and skips). */
int ctl_txn_load_record(struct ctl_txn_coord *c, const uint8_t *key, size_t klen,
                        const uint8_t *value, size_t vlen);
/* Ends loading at now_ms: prepared transactions get their markers again. */
void ctl_txn_load_done(struct ctl_txn_coord *c, int64_t now_ms);
/* Claims no producer id block until an id is asked for: a block is a write to the log, and the
 * first write creates `__transaction_state`, which Kafka creates only when a producer needs it.
 * Call before ctl_txn_load_done when the log does not exist. */
void ctl_txn_defer_ids(struct ctl_txn_coord *c);

/* InitProducerId.  txn_id NULL: an idempotent producer (a fresh producer id, epoch 0).
 * expected_pid / expected_epoch: -1 / -1 when the request carries none (v0-2). */
void ctl_txn_init_pid(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                      int32_t timeout_ms, int64_t expected_pid, int16_t expected_epoch);

/* AddPartitionsToTxn for one transaction (v0-3, and v4+ entries without verify_only). */
void ctl_txn_add_partitions(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                            int64_t pid, int16_t epoch, const struct ctl_txn_tp *tps, size_t n);

/* AddPartitionsToTxn v4+ with verify_only (KIP-890): answers at once, one error per partition
 * in errs[n]: NONE when the partition is in the ongoing transaction, else INVALID_TXN_STATE; or
 * the same error for all (mapping, fencing, concurrent) as the return value. */
int16_t ctl_txn_verify_partitions(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                                  int64_t pid, int16_t epoch, const struct ctl_txn_tp *tps,
                                  size_t n, int16_t *errs);

/* AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction. */
void ctl_txn_add_offsets(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                         int64_t pid, int16_t epoch, const char *group, size_t glen);

/* EndTxn.  Errors are answered at once; success once CompleteCommit / CompleteAbort is durable
 * (the markers written), however long the markers take. */
void ctl_txn_end(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                 int64_t pid, int16_t epoch, bool commit);

/* TxnOffsetCommit's check for the group coordinator: NONE when pid/epoch own txn_id's
 * transaction, else Kafka's error (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED). */
int16_t ctl_txn_check_producer(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                               int64_t pid, int16_t epoch);

/* Completions from the owner.  err is the produce error code of the append (0 = durable) or
 * the WriteTxnMarkers error (0 = every partition has its marker). */
void ctl_txn_append_done(struct ctl_txn_coord *c, struct ctl_txn_append *a, int16_t err);
void ctl_txn_markers_done(struct ctl_txn_coord *c, struct ctl_txn_markers *m, int16_t err);

/* Timers: aborts of timed-out transactions, expiry of idle transactional ids, retries of
 * failed markers and log writes, and the producer id block prefetch. */
void ctl_txn_tick(struct ctl_txn_coord *c, int64_t now_ms);

/* DescribeTransactions / ListTransactions. */
struct ctl_txn_info {
	const char *txn_id;                 /* borrowed until the next call into the coordinator */
	size_t idlen;
	enum ctl_txn_state state;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t timeout_ms;
	int64_t start_ms;                   /* -1 when no transaction is open */
	const struct ctl_txn_tp *tps;
	size_t ntps;
};
int16_t ctl_txn_describe(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                         struct ctl_txn_info *out);
/* True until ctl_txn_load_done (requests then get COORDINATOR_LOAD_IN_PROGRESS). */
bool ctl_txn_loading(const struct ctl_txn_coord *c);
/* The time of the last tick (ms), for ListTransactions' duration filter. */
int64_t ctl_txn_now(const struct ctl_txn_coord *c);
void ctl_txn_list(struct ctl_txn_coord *c, void (*fn)(void *arg, const struct ctl_txn_info *t),
                  void *arg);

/* The error an old request version gets instead of PRODUCER_FENCED (Kafka's mapping):
 * InitProducerId below v4 and AddPartitionsToTxn, AddOffsetsToTxn, EndTxn below v2 get
 * INVALID_PRODUCER_EPOCH. */
int16_t ctl_txn_fenced_error(int16_t err, int16_t api_key, int16_t api_version);

#endif
