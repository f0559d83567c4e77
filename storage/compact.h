/*
 * storage/compact.h: log compaction for cleanup.policy=compact (and compact,delete), after
 * Kafka's LogCleaner.
 *
 * One pass builds a map key -> newest offset over every inactive segment (the active segment is
 * never read or written here), then rewrites each inactive segment that loses records: a record
 * survives when it is the newest of its key (null keys are kept), a tombstone (null value) also
 * needs its segment's largest timestamp to be within delete.retention.ms of now.  Batches keep
 * their base offset, last offset delta, timestamps, producer id/epoch and base sequence; a batch
 * whose records are all gone is dropped, except that the last batch of a producer stays as an
 * empty batch (records_count 0, uncompressed) so its sequence survives, as Kafka does.  Compressed
 * batches are recompressed with their own codec.  Control and transactional batches are copied
 * untouched and their keys do not supersede anything (full transactional cleaning is not done).
 *
 * The cleaned segment goes to "<base>.log.cleaned", is fdatasync()ed, renamed to "<base>.log.swap"
 * and then renamed over "<base>.log" (atomic): the original stays whole until that last rename,
 * so recovery at open simply removes leftover .cleaned / .swap files (recover.c does).  The
 * segment's indexes are rebuilt and written at once.
 */
#ifndef STOR_COMPACT_H
#define STOR_COMPACT_H

#include <stdint.h>

#include "storage/storage.h"

struct stor_compact_stats {
	int64_t segments_rewritten;
	int64_t records_removed;        /* superseded records and expired tombstones */
	int64_t batches_removed;
	int64_t bytes_before, bytes_after; /* of the rewritten segments */
	int64_t segments_skipped;       /* pinned by a reader or with I/O in flight: next pass */
};

/* Compacts the inactive segments of `log` (a no-op returning 0 unless cleanup.policy has
 * compact).  Blocking (reads and rewrites whole segments with pread/pwrite, fdatasync, rename):
 * call it on the owner shard from idle time or a timer, not per request.  Appends are never
 * rejected or reordered by it; they wait only while the call runs, because the shard owns the
 * log without locks.  Memory: one segment (<= segment.bytes) and its cleaned copy plus the key
 * map.  `st` may be NULL.  Returns 0 or -errno (-ENOMEM, -EIO, ...); on error every segment is
 * either its original or its fully cleaned version. */
int stor_log_compact(struct stor_log *log, int64_t now_ms, struct stor_compact_stats *st);

#endif
