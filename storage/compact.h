/*
 * storage/compact.h: log compaction for cleanup.policy=compact (and compact,delete), after
 * Kafka's LogCleaner and LogCleanerManager.
 *
 * What is cleanable (Kafka's LogCleanerManager.cleanableOffsets).  A log keeps a clean point
 * (Kafka's cleaner-offset-checkpoint entry): offsets below it were cleaned.  The dirty section
 * runs from there (or the log start) to the first uncleanable offset, the smallest of: the active
 * segment's base (the active segment is never read or written here), the base of the first
 * segment not yet sealed (appends or index writes still in flight), and the base of the first
 * dirty segment holding a record younger than min.compaction.lag.ms.  The dirty ratio is
 * dirty bytes / (clean bytes + dirty bytes); a log is due when the ratio exceeds
 * min.cleanable.dirty.ratio, or when its first dirty segment's first batch is older than
 * max.compaction.lag.ms (KIP-354).  The cleaner picks the due log with the largest ratio.
 *
 * The latest delete horizon.  A quiet log (no new dirty bytes) is also due once the latest
 * delete horizon the last cleaning left in a kept batch has passed, so its tombstones and
 * markers go without new writes.  Kafka's grabFilthiestCompactedLog has no such trigger (one
 * was proposed in the KAFKA-8522 review, where its loss at a restart was the objection); here
 * it survives a restart the way the horizons themselves do, through the batches: after an open
 * the latest horizon is unknown, and the first look at a log with clean bytes reads the batch
 * headers of its clean segments once (a horizon scan on the cleaner thread: one sequential read,
 * no decompression, no write) and takes the largest base timestamp of a batch with the
 * delete-horizon attribute that still holds records.  Nothing new is kept on disk.
 *
 * One cleaning (Kafka's Cleaner.doClean, cleanInto and CleanedTransactionMetadata).  A map key ->
 * newest offset is built over the dirty section (bounded by log.cleaner.dedupe.buffer.size: when
 * it fills, the section ends at that segment, as Kafka's does); records of aborted transactions
 * and markers supersede nothing, committed transactional records count like any other.  Then
 * every segment from the log start to the end of the mapped section is walked in offset order
 * and rewritten when it changes:
 *   - aborted transactions come from the .txnindex entries that overlap the walk; a data batch
 *     of one (between its first offset and its ABORT marker, same producer) is removed whole;
 *   - a data record survives when it is the newest of its key (a record without a key does
 *     not: Kafka's cleaner drops them); a tombstone also needs its batch's delete horizon not
 *     yet reached;
 *   - a marker stays while the walk met a batch of its transaction since the previous marker of
 *     that producer; when it met none (the data was removed or compacted away) the marker is
 *     removable, and goes once its batch's delete horizon has passed;
 *   - KIP-534: a batch that keeps a tombstone, or a removable marker, and carries no horizon yet
 *     gets one: attribute bit 6 set and the base timestamp = now + delete.retention.ms, every
 *     record's timestamp delta rewritten so its timestamp stays.  The horizon is in the batch,
 *     so it holds across restarts and does not depend on file times;
 *   - batches keep their base offset, last offset delta, producer id/epoch and base sequence; a
 *     batch left with no record is dropped, except an active producer's last data batch (or, for
 *     a producer with no data batch, its last marker of its epoch), kept empty (records_count
 *     0, uncompressed, timestamps its max timestamp) so its sequence and epoch survive
 *     (stor_log_set_producers says which producers are active);
 *   - compressed batches are recompressed with their own codec; the max timestamp is that of
 *     the kept records (LogAppendTime batches keep theirs).
 * What is cleanable also stops below the segment holding the last stable offset the owner last
 * gave (stor_log_set_last_stable): an open transaction's records are never judged, and every
 * transaction met on the walk has its marker in the log.  While a .txnindex is missing (rebuilt
 * from the log after an unclean stop) nothing is cleanable.  A cleaned segment's .txnindex is
 * rewritten with the entries whose ABORT marker stays with data of its transaction (Kafka's
 * cleanedIndex): an entry left for a transaction whose marker is gone would make a
 * read_committed client skip that producer's later, committed batches.
 *
 * Files (crash safety).  A rewritten segment is written to "<base>.log.cleaned",
 * ".index.cleaned", ".timeindex.cleaned" and ".txnindex.cleaned" and fdatasync()ed; then
 * .log.cleaned is renamed to .log.swap, the old .index/.timeindex/.txnindex are unlinked and the
 * directory fsync()ed, .log.swap is renamed over .log (atomic), the index files are renamed into
 * place and the directory fsync()ed again (a .txnindex missing at open is rebuilt from the log
 * through the producer state, and nothing is cleaned until it is).  At every point "<base>.log" is a whole segment (original or cleaned) and no index file
 * can describe the other version: a missing index is rebuilt at open, and recovery removes
 * leftover .cleaned and .swap files (recover.c).
 *
 * Readers.  A segment a reader pins is still cleaned: the reader keeps the old file (its
 * descriptor stays open until the pin is released; the name already belongs to the new file, so
 * the old one is closed without unlinking).
 */
#ifndef STOR_COMPACT_H
#define STOR_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

struct io_uring;

struct stor_compact_stats {
	int64_t segments_rewritten;
	int64_t records_removed;        /* superseded records and expired tombstones */
	int64_t batches_removed;
	int64_t bytes_before, bytes_after; /* of the rewritten segments */
	int64_t segments_skipped;       /* gone (retention) before the swap: nothing installed */
	int64_t clean_point;            /* the log's clean point after the cleaning */
};

/* What a log looks like to the scheduler right now (owner shard). */
struct stor_clean_view {
	int64_t first_dirty;            /* clean point, at least the log start */
	int64_t first_uncleanable;      /* end of the cleanable dirty section */
	uint64_t clean_bytes, dirty_bytes;
	double ratio;                   /* dirty / (clean + dirty), 0 when empty */
	bool urgent;                    /* max.compaction.lag.ms passed for the first dirty batch */
	bool horizon_due;               /* not due by dirt, but the latest delete horizon the last
	                                 * cleaning left (a tombstone's or a marker's) has passed */
	bool horizon_scan;              /* not due otherwise, but that horizon is not known yet (the
	                                 * log was opened since): the clean segments' batch headers
	                                 * are read once for it, nothing is rewritten */
	bool due;                       /* compact policy and (ratio > min.cleanable.dirty.ratio or
	                                 * urgent, or horizon_due, or horizon_scan) */
};

/* Fills v for log at now_ms.  On the owner shard. */
void stor_log_clean_view(const struct stor_log *log, int64_t now_ms, struct stor_clean_view *v);

/* True while a cleaner job of this log is out (the log is then not idle). */
bool stor_log_cleaning(const struct stor_log *log);

/* The log's clean point (offsets below were cleaned). */
int64_t stor_log_clean_point(const struct stor_log *log);

/* The log's current last stable offset, from the owner's producer state: the cleaner never
 * cleans a segment holding offsets at or past it (Kafka cleans below the first unstable offset
 * only).  Until it is first called nothing bounds cleaning that way (tools, tests without
 * transactions).  On the owner shard, before each scheduling round. */
void stor_log_set_last_stable(struct stor_log *log, int64_t lso);

/* The owner's producer state of this log (borrowed, NULL: none), read by the owner shard when a
 * cleaning starts: a producer's last batch is kept (empty when its records go) only while the
 * producer is in it, i.e. still active (Kafka's lastRecordsOfActiveProducers): the batch that
 * holds its last data offset, or for a producer known only by markers its last marker of its
 * epoch.  The batches of producers that expired (producer.id.expiration.ms) go like any other.
 * Until it is set (tools, tests), every producer met in the log counts as active.  On the owner
 * shard; ps must outlive the log or be cleared first. */
struct stor_pstate;
void stor_log_set_producers(struct stor_log *log, const struct stor_pstate *ps);

/* Cleans `log` now, whatever its dirty ratio (a no-op returning 0 unless cleanup.policy has
 * compact or there is nothing cleanable), on the calling thread: blocking file I/O.  For tests
 * and tools; the broker uses the cleaner below.  `map_limit` bounds the key map in bytes (0:
 * Kafka's default 128 MiB).  `st` may be NULL.  Returns 0 or -errno (-ENOMEM, -EIO, ...); on
 * error every segment is either its original or its fully cleaned version. */
int stor_log_compact_limit(struct stor_log *log, int64_t now_ms, int64_t map_limit,
                           struct stor_compact_stats *st);
int stor_log_compact(struct stor_log *log, int64_t now_ms, struct stor_compact_stats *st);

/* --- the cleaner: scheduling and a thread per shard ------------------------------------------ */

struct stor_cleaner_config {
	bool enable;                    /* log.cleaner.enable (true) */
	int64_t backoff_ms;             /* log.cleaner.backoff.ms: pause when nothing is due (15000) */
	int64_t dedupe_buffer_size;     /* log.cleaner.dedupe.buffer.size: key map bytes (128 MiB) */
	int64_t io_max_bytes_per_second; /* log.cleaner.io.max.bytes.per.second, <= 0 unlimited */
};
void stor_cleaner_config_default(struct stor_cleaner_config *c);

struct stor_cleaner;

/* Starts the cleaner of one shard: a thread at SCHED_IDLE that does the reading, key mapping,
 * recompression and file writing of one job at a time.  `ring` is the shard's io_uring
 * (borrowed): a finished job comes back to the shard as a CQE (IORING_OP_MSG_RING) whose ioop
 * installs the cleaned segments there.  Returns an owned cleaner or NULL with *err. */
struct stor_cleaner *stor_cleaner_create(struct io_uring *ring, const struct stor_cleaner_config *cfg,
                                         int *err);

/* Scheduling round, on the owner shard (its once-a-second timer): call consider() for every log
 * the shard owns, then kick().  kick() hands the filthiest due log to the thread when the thread
 * is free and the backoff allows; the log stays not idle (stor_log_idle) until its job is back.
 * Returns 1 when a job was started, 0 when not, -errno on failure (logged). */
void stor_cleaner_consider(struct stor_cleaner *c, struct stor_log *log, int64_t now_ms);
int stor_cleaner_kick(struct stor_cleaner *c, int64_t now_ms);

/* New settings (dynamic broker configs), on the owner shard: log.cleaner.backoff.ms,
 * .dedupe.buffer.size and .io.max.bytes.per.second from cfg; `enable` stays as created
 * (log.cleaner.enable is not dynamic in Kafka).  The next round looks at once, as Kafka's
 * reconfigure restarts its cleaner threads, which look before they sleep; so a shorter backoff
 * acts now, not after the long one in progress.  A job already out keeps the key-map bound it
 * was prepared with and follows the new I/O rate from its next batch (the rate is read live, so
 * lifting a rate set too low helps the job that is crawling under it). */
void stor_cleaner_set_config(struct stor_cleaner *c, const struct stor_cleaner_config *cfg);

/* The settings in effect (owner shard). */
void stor_cleaner_get_config(const struct stor_cleaner *c, struct stor_cleaner_config *out);

/* Asks a running job to stop at its next batch (shutdown, partition deletion); the job still
 * comes back through the ring, with nothing installed. */
void stor_cleaner_cancel(struct stor_cleaner *c);

/* Totals since create, for logs and tests (owner shard). */
void stor_cleaner_stats(const struct stor_cleaner *c, struct stor_compact_stats *total, int64_t *runs);

/* Stops the thread and frees c.  No job may be out (every log idle). */
void stor_cleaner_destroy(struct stor_cleaner *c);

#endif
