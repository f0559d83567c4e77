/*
 * storage/producer_state.h: per-partition producer state for idempotent and transactional
 * producers (prefix stor_pstate_), deciding every append exactly as Kafka's ProducerStateManager
 * and ProducerAppendInfo decide, plus Kafka's producer snapshot files.
 *
 * What is kept per producer id: the current epoch, the metadata of its last five batches (first
 * and last sequence, first and last offset, max timestamp), the epoch of the coordinator that
 * wrote its last transaction marker, the timestamp of its last write, and the first offset of
 * its open transaction in this partition (-1 when none).  Per partition: the open transactions
 * ordered by first offset, and the transactions whose marker is assigned an offset but not yet
 * below the high watermark, because both hold back the last stable offset.
 *
 * Decisions for a client's data batch with a producer id (Kafka 2.5+ answers, KIP-360):
 *  - same epoch and the same first and last sequence as one of the five retained batches: a
 *    duplicate; nothing is written and the append is answered with the original offsets;
 *  - epoch below the current one: INVALID_PRODUCER_EPOCH;
 *  - epoch above the current one (a bump): the first sequence must be 0, else
 *    OUT_OF_ORDER_SEQUENCE_NUMBER; an unknown producer (no state here, e.g. after its records
 *    were deleted by retention) is accepted at any sequence, as Kafka does since it stopped
 *    answering UNKNOWN_PRODUCER_ID to produce requests;
 *  - same epoch: the first sequence must follow the last one (wrapping after INT32_MAX to 0),
 *    else OUT_OF_ORDER_SEQUENCE_NUMBER;
 *  - a non-transactional batch while the producer has a transaction open here:
 *    INVALID_TXN_STATE.
 * Transaction markers (control batches written for the coordinator): an epoch below the current
 * one is INVALID_PRODUCER_EPOCH, a coordinator epoch below the last one seen is
 * TRANSACTION_COORDINATOR_FENCED.  Batches replayed from the log (recovery) are not checked.
 *
 * Use on the owner shard: stor_pstate_check() for an append before offsets are assigned; if it
 * says append, assign offsets and call stor_pstate_apply() in the same turn (no other append of
 * the partition between the two), which cannot fail.  A duplicate must be answered only once
 * the original's offsets are acknowledged under the request's acks rule (the original may still
 * be in flight).
 *
 * Snapshot files: "<20-digit offset>.snapshot" in the partition directory, Kafka's
 * ProducerSnapshot version 1 (big-endian):
 *     0  int16   version (1)
 *     2  uint32  CRC-32C of every byte from offset 6 to the end
 *     6  int32   number of entries, then per entry (46 bytes):
 *        int64 producer id, int16 epoch, int32 last sequence, int64 last offset,
 *        int32 offset delta (last minus first sequence of the last batch), int64 timestamp,
 *        int32 coordinator epoch, int64 first offset of the open transaction (-1 = none)
 * The offset in the name is the log end offset the snapshot covers: loading it and replaying the
 * log from that offset rebuilds the state.  Only the last batch of each producer is kept, as in
 * Kafka.  Files are written to "<name>.tmp", fsync()ed, renamed and the directory fsync()ed.
 *
 * Threads: one shard owns a partition, so there are no locks.  Snapshot calls block (file I/O),
 * and so does stor_pstate_recover (start-up); the rebuild after a cut does its file I/O on the
 * log's file worker (stor_pstate_rebuild_start); everything else does no I/O and reads no clock
 * (times are passed in).
 */
#ifndef STOR_PRODUCER_STATE_H
#define STOR_PRODUCER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka error codes the producer state answers with (Kafka's own numbers). */
enum {
	STOR_PS_OK = 0,
	STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	STOR_PS_INVALID_PRODUCER_EPOCH = 47,
	STOR_PS_INVALID_TXN_STATE = 48,
	STOR_PS_TRANSACTION_COORDINATOR_FENCED = 52,
	STOR_PS_KAFKA_STORAGE_ERROR = 56,   /* the state is stale (stor_pstate_set_stale): retriable */
	STOR_PS_UNKNOWN_PRODUCER_ID = 59,
	STOR_PS_INVALID_RECORD = 87,
};

#define STOR_PS_MAX_BATCHES 5           /* batches retained per producer (max in-flight) */
#define STOR_PS_DEFAULT_EXPIRATION_MS 86400000LL  /* producer.id.expiration.ms */

/* Where an append comes from. */
enum stor_ps_origin {
	STOR_PS_CLIENT,                 /* a Produce request: every check */
	STOR_PS_COORDINATOR,            /* a transaction marker from WriteTxnMarkers: epoch checks */
	STOR_PS_LOG,                    /* replayed from the log at recovery: no checks */
};

/* What the producer state needs of one record batch (from its header, see proto/batch.h). */
struct stor_ps_batch {
	int64_t producer_id;            /* -1: no producer, the batch is ignored */
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t last_offset_delta;
	int64_t max_timestamp;
	bool transactional;
	bool control;                   /* a transaction marker (transactional too) */
	bool commit;                    /* for a marker: COMMIT (true) or ABORT (false) */
	int32_t coordinator_epoch;      /* for a marker */
	int64_t base_offset;            /* assigned offset; read by stor_pstate_apply only */
};

/* The original offsets of a duplicate batch. */
struct stor_ps_dup {
	bool found;
	int64_t first_offset;
	int64_t last_offset;
	int64_t timestamp;
};

/* A transaction that a marker completed in this partition. */
struct stor_ps_txn_done {
	int64_t producer_id;
	int64_t first_offset;           /* first offset the transaction wrote here */
	int64_t last_offset;            /* the marker's offset */
	int64_t last_stable_offset;     /* the LSO right after it: what the .txnindex records */
	bool aborted;
};

/* One producer as DescribeProducers shows it. */
struct stor_ps_info {
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t last_sequence;          /* -1 when no batch is known */
	int64_t last_timestamp;
	int32_t coordinator_epoch;
	int64_t txn_first_offset;       /* -1 when no transaction is open */
	int64_t last_data_offset;       /* last offset of its last data batch, -1 when none is known
	                                 * (only markers): Kafka's lastDataOffset */
};

struct stor_pstate;

/* Creates an empty producer state.  expiration_ms: producer.id.expiration.ms.  Returns an owned
 * object or NULL (out of memory). */
struct stor_pstate *stor_pstate_create(int64_t expiration_ms);
void stor_pstate_destroy(struct stor_pstate *ps);
/* Forgets every producer and transaction (log truncated to nothing). */
void stor_pstate_clear(struct stor_pstate *ps);

/* Decides the batches of one append (in log order; b[i].base_offset is not read).  Returns
 * STOR_PS_OK and leaves dup->found false when they are to be appended; STOR_PS_OK with
 * dup->found when the append is a duplicate of a retained batch (nothing to write, answer with
 * dup's offsets); or a Kafka error code for the whole append.  Changes nothing. */
int16_t stor_pstate_check(const struct stor_pstate *ps, const struct stor_ps_batch *b, size_t n,
                          enum stor_ps_origin origin, struct stor_ps_dup *dup);

/* Records the batches of an append after their offsets are assigned (b[i].base_offset set).
 * For CLIENT and COORDINATOR origins, stor_pstate_check must have said append for the same
 * batches just before (asserted).  Completed transactions are written to done[] (at most n;
 * `done` may be NULL when n_done is NULL) and counted in *n_done.  Returns 0, or -ENOMEM (the
 * state is then unchanged). */
int stor_pstate_apply(struct stor_pstate *ps, const struct stor_ps_batch *b, size_t n,
                      enum stor_ps_origin origin, struct stor_ps_txn_done *done, size_t *n_done);

/* The last stable offset for high watermark hw: the first offset of the earliest transaction
 * that is open or whose marker is not yet below hw, or hw when there is none.  Forgets the
 * completed transactions whose marker is below hw. */
int64_t stor_pstate_lso(struct stor_pstate *ps, int64_t hw);

/* First offset of the earliest open transaction, or -1. */
int64_t stor_pstate_first_open_txn(const struct stor_pstate *ps);

/* Removes producers with no open transaction whose last write is at least expiration_ms old at
 * now_ms.  Returns how many were removed. */
size_t stor_pstate_expire(struct stor_pstate *ps, int64_t now_ms);

/* Changes producer.id.expiration.ms (a dynamic broker config): the next stor_pstate_expire
 * judges every producer by the new value, as Kafka's ProducerStateManager reads its config's
 * current value at each expiry pass.  Owner shard only, like every call here. */
void stor_pstate_set_expiration(struct stor_pstate *ps, int64_t expiration_ms);

/* Forgets one producer (its append failed after stor_pstate_apply recorded it: the next batch
 * it sends is then accepted as from an unknown producer, never taken for a duplicate of data
 * that is not in the log). */
void stor_pstate_forget(struct stor_pstate *ps, int64_t producer_id);

/* Completes the batch history of producers loaded from a snapshot (which keeps only the last
 * batch of each): `older` holds the state replayed from log just before the snapshot's offset;
 * each producer of ps gets, in front of its batches, older's batches of the same producer and
 * epoch that lie before its first one, up to STOR_PS_MAX_BATCHES in all.  Borrows older. */
void stor_pstate_backfill(struct stor_pstate *ps, const struct stor_pstate *older);

/* Fills *b from a v2 batch header (for a control batch the caller fills commit and
 * coordinator_epoch, see stor_ps_marker_parse). */
struct kp_batch_hdr;
void stor_ps_batch_from_hdr(struct stor_ps_batch *b, const struct kp_batch_hdr *h);

/* Reads the end transaction marker of a whole control batch p[0..n): COMMIT or ABORT and the
 * coordinator epoch.  Returns 0 or -EBADMSG. */
int stor_ps_marker_parse(const uint8_t *p, size_t n, bool *commit, int32_t *coordinator_epoch);

/* Rebuilds ps for an open log: loads the newest snapshot of `dir` at or below the log end offset
 * (or starts empty), then replays every batch from there (or from the log start) to the log end
 * offset, as Kafka's loadProducerState does.  Blocking (pread).  Returns 0 or -errno. */
struct stor_log;
struct stor_bg;
int stor_pstate_recover(struct stor_pstate *ps, struct stor_log *log, const char *dir, int64_t now_ms);

/* --- after a cut: stale state and its rebuild off the owner shard ------------------------------ */

/* Marks ps stale: the log no longer matches it (an append it recorded failed, and the log is
 * about to be cut back to before it; or the log was cut back).  Until stor_pstate_rebuild_start's
 * rebuild replaces it, stor_pstate_check answers STOR_PS_KAFKA_STORAGE_ERROR (retriable) to every
 * client and coordinator batch, and stor_pstate_lso(ps, hw) is min(hw, the LSO for high watermark
 * `hw` at the first call), so neither a producer check nor the last stable offset uses a state
 * the log may have lost (a producer forgotten with its open transaction, a marker whose write
 * failed).  Further calls change nothing.  A stale state must not be written as a snapshot. */
void stor_pstate_set_stale(struct stor_pstate *ps, int64_t hw);
bool stor_pstate_stale(const struct stor_pstate *ps);

/* Called exactly once on the owner shard when the rebuild is over: err 0 (ps is the rebuilt
 * state and no longer stale) or -errno (ps stays stale and the partition is offline). */
typedef void (*stor_pstate_rebuilt_fn)(void *arg, struct stor_pstate *ps, int err);

/* stor_pstate_recover's rebuild (snapshot plus log tail, the same result) for a log that was
 * just cut back (the roll hook with truncated set), without a file system call on the owner
 * shard: the snapshot directory is listed and read, and the log read, on the log's file worker
 * (stor_log_set_bg; storage/pstate_rebuild.c); without a worker, blocking on this thread.  ps is
 * marked stale (stor_pstate_set_stale) until `done`; meanwhile the log takes no append
 * (stor_log_append: -EAGAIN, KAFKA_STORAGE_ERROR) and is not idle.  ps and log are borrowed until
 * `done` (which may run before this returns: without a worker, or out of memory). */
void stor_pstate_rebuild_start(struct stor_pstate *ps, struct stor_log *log, int64_t now_ms,
                               stor_pstate_rebuilt_fn done, void *arg);

/* For the rebuild: ps's producer.id.expiration.ms; replacing ps's producers and transactions by
 * from's (from is left empty) and clearing stale. */
int64_t stor_pstate_expiration(const struct stor_pstate *ps);
void stor_pstate_take(struct stor_pstate *ps, struct stor_pstate *from);

/* Number of producers known. */
size_t stor_pstate_count(const struct stor_pstate *ps);
/* Copies one producer's state into *out.  Returns false when the producer is unknown. */
bool stor_pstate_get(const struct stor_pstate *ps, int64_t producer_id, struct stor_ps_info *out);
/* Calls fn for every producer (in no particular order). */
void stor_pstate_foreach(const struct stor_pstate *ps,
                         void (*fn)(void *arg, const struct stor_ps_info *p), void *arg);
/* DescribeProducers' answer for the partition: calls fn for every producer and returns
 * STOR_PS_OK; or, while the state is stale (its rebuild after a cut is under way, or failed and
 * the partition is offline), returns STOR_PS_KAFKA_STORAGE_ERROR (retriable) without calling fn,
 * as stor_pstate_check answers the producers' batches meanwhile: the producers of a log that is
 * no longer there are not shown. */
int16_t stor_pstate_describe(const struct stor_pstate *ps,
                             void (*fn)(void *arg, const struct stor_ps_info *p), void *arg);

/* Last sequence of a batch that starts at base_seq and spans last_offset_delta + 1 records,
 * wrapping past INT32_MAX to 0 as Kafka's producers do. */
int32_t stor_ps_last_seq(int32_t base_seq, int32_t last_offset_delta);

/* --- snapshots (blocking) ---------------------------------------------------------------------- */

/* Writes "<dir>/<offset, 20 digits>.snapshot" with every producer (tmp file, fsync, rename,
 * directory fsync).  Returns 0 or -errno. */
int stor_pstate_snapshot_write(const struct stor_pstate *ps, const char *dir, int64_t offset);
/* The same with the snapshot already encoded (stor_pstate_snapshot_encode; p borrowed).  Touches
 * no state, so any thread may call it.  Returns 0 or -errno. */
int stor_pstate_snapshot_write_encoded(const char *dir, int64_t offset, const uint8_t *p, size_t len);

/* Kafka's snapshot at a segment roll, without blocking the shard: encodes ps now (the state of
 * every offset below `offset`), then bg's thread (storage/bg.h) writes it as
 * stor_pstate_snapshot_write does and prunes the snapshots below the log start offset (as of
 * now) and above `offset`.  Until that is done the log is not idle (stor_log_idle), so it is not
 * closed or deleted under the write, and bg runs jobs in order, so two rolls' snapshots and
 * prunes land in roll order.  A failure is logged; a crash before the write lands leaves the
 * previous snapshot, from which recovery replays a longer tail.  Returns 0, or -ENOMEM (nothing
 * queued). */
int stor_pstate_snapshot_queue(const struct stor_pstate *ps, struct stor_log *log, struct stor_bg *bg,
                               int64_t offset);

/* Replaces the state by the newest snapshot in dir whose offset is <= max_offset, skipping
 * producers expired at now_ms.  A snapshot that does not decode (version, CRC, length) is
 * deleted and the next older one tried, as Kafka does.  Returns 0 with *offset set, -ENOENT when
 * there is no usable snapshot (the state is then empty: replay the log from its start), or
 * -errno. */
int stor_pstate_snapshot_load(struct stor_pstate *ps, const char *dir, int64_t max_offset,
                              int64_t now_ms, int64_t *offset);

/* Deletes the snapshots of dir whose offset is < below or > above (log start advanced, log
 * truncated).  Returns how many were deleted, or -errno. */
int stor_pstate_snapshot_prune(const char *dir, int64_t below, int64_t above);

/* Encodes / decodes the snapshot format above into / from memory (for tests and tools).
 * encode returns an owned malloc'ed buffer (NULL on out of memory) and its size in *len.
 * decode replaces ps's state; returns 0, -EBADMSG (bad version, CRC or length) or -ENOMEM. */
uint8_t *stor_pstate_snapshot_encode(const struct stor_pstate *ps, size_t *len);
int stor_pstate_snapshot_decode(struct stor_pstate *ps, const uint8_t *p, size_t n, int64_t now_ms);

#endif
