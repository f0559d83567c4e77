/*
 * storage/storage.h: the whole public surface of the storage module (prefix stor_).
 *
 * Storage owns every byte of a partition on disk, in Kafka's own layout:
 *
 *   <log.dir>/.lock                              flock()ed: one process per log dir
 *   <log.dir>/recovery-point-offset-checkpoint   text, see below
 *   <log.dir>/log-start-offset-checkpoint        text, see below
 *   <log.dir>/<topic>-<partition>/
 *       <20-digit base offset>.log               record batches exactly as on the wire
 *       <20-digit base offset>.index             8-byte entries: int32 relative offset, int32 position
 *       <20-digit base offset>.timeindex         12-byte entries: int64 timestamp, int32 relative offset
 *       <20-digit base offset>.txnindex          34-byte entries: the aborted transactions whose ABORT
 *                                                marker is in the segment (storage/txn_index.h)
 *       leader-epoch-checkpoint                  "0\n<n>\n<epoch> <start offset>\n..."
 *       partition.metadata                       "version: 0\ntopic_id: <base64 uuid>\n"
 *
 * Checkpoint files are Kafka's text format: a version line "0", a count line, then one line
 * "<topic> <partition> <offset>" per partition.  Every checkpoint is written to "<name>.tmp",
 * fsync()ed, renamed over the old file, and the directory is fsync()ed.
 *
 * Threads and I/O.  One shard owns each partition, so a `struct stor_log` has no locks: every
 * stor_log_* call is made on the owner shard.  Steady-state I/O (append, flush, index writes,
 * segment deletion) is asynchronous on the owner shard's io_uring, passed in at open.  Storage
 * only prepares SQEs (it calls io_uring_submit itself only when the SQ is full); the shard loop
 * calls stor_ring_flush, submits them and dispatches each CQE through base/ioop.h
 * (`op->cb(op, res, flags)`).  The appends accepted in one pass of that loop are written at its
 * end, together (stor_ring_flush): whoever drives a ring must call it before submitting.  A
 * segment roll takes files created ahead through the ring (spare.c, from the log's first append
 * on) and renames them through it; a roll that finds them not ready yet (rolls in quick
 * succession) waits for their opens, holding the appends accepted meanwhile (at most
 * segment.bytes of them); only after a failed open, or past that bound, are files created with
 * blocking opens.  The active segment's file is kept zero-filled ahead of the appends
 * (prealloc.c) and cut back to its data at roll (through the ring) and at close; every size
 * storage reports or uses is the data's, never the file's.  Aborted-transaction entries are written through
 * the ring (aborted.c); reaped segments' descriptors are closed through it (IORING_OP_CLOSE).
 * Compaction runs on a cleaner thread (compact.h); producer snapshots at a roll and partition
 * deletion run on the shard's file worker (bg.h, stor_log_delete_bg), and so do the file calls
 * of a cut (the repair after a failed write, stor_log_truncate_start; stor_log_set_bg) and of
 * the producer state's rebuild after it (stor_pstate_rebuild_start).  Calls documented as
 * "blocking" do file system calls directly: open (recovery), close, stor_log_truncate, stor_log_delete,
 * checkpoints, leader-epoch changes, stor_log_offset_for_time and stor_log_read's batch headers
 * (pread; ListOffsets uses stor_log_offset_for_time_start and the fetch path
 * stor_log_read_start, whose reads, and the copy of the records when asked, go through the ring).
 * tests/interop/test_shard_syscalls.py traces the shard threads under load and fails on any
 * file system call of the steady state.
 * The `struct stor_dir` calls are thread-safe (a mutex, never taken on the data path).
 *
 * Offsets.  Appends get offsets when they are submitted, in submission order.  The log end offset
 * (LEO) is the end of the contiguous prefix of appends whose writes have completed; readers see
 * nothing past it.  On a single broker the high watermark is the LEO.  The durable offset is the
 * end of the prefix covered by a completed fdatasync.
 *
 * Errors.  System-level calls return 0 or -errno; constructors return a pointer or NULL (with the
 * -errno in *err).  The one mapping to Kafka error codes is stor_err_to_kafka().  Errors that
 * storage itself produces:
 *   -ERANGE     offset out of range (OFFSET_OUT_OF_RANGE)
 *   -EMSGSIZE   a record set larger than segment.bytes (RECORD_LIST_TOO_LARGE)
 *   -EBADMSG    a record set that does not frame as whole v2 batches (CORRUPT_MESSAGE)
 *   -EINVAL     a bad argument or configuration value
 *   -ENOSPC, -EIO, ...  from the disk (KAFKA_STORAGE_ERROR)
 *   -EROFS      the partition is offline after a failed fdatasync (KAFKA_STORAGE_ERROR); it stays
 *               offline until it is closed and reopened (which runs recovery).
 *
 * Faults.  storage/fault.h (internal, for tests) can arm failed or short writes, failed
 * fdatasyncs, ENOSPC and EIO at numbered points, because LD_PRELOAD wrappers do not see io_uring.
 *
 * Compaction is in storage/compact.h, producer state and its snapshots in storage/producer_state.h
 * (the last stable offset comes from there).
 */
#ifndef STOR_STORAGE_H
#define STOR_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/uio.h>

#include "base/ioop.h"
#include "proto/batch.h"
#include "storage/txn_index.h"

struct io_uring;
struct stor_bg;
struct stor_dir;
struct stor_log;
struct stor_segment;

/* ---------------------------------------------------------------------------------------------
 * Per-topic configuration, in Kafka's topic-level key names (broker-level log.* defaults map
 * onto the same fields).
 */

enum stor_ts_type {
	STOR_TS_CREATE_TIME = 0,      /* message.timestamp.type=CreateTime (default) */
	STOR_TS_LOG_APPEND_TIME = 1,  /* LogAppendTime: storage sets max timestamp, recomputes CRC */
};

#define STOR_CLEANUP_DELETE 0x1
#define STOR_CLEANUP_COMPACT 0x2

struct stor_config {
	int64_t segment_bytes;          /* segment.bytes: roll when the next append would pass it (1 GiB) */
	int64_t segment_ms;             /* segment.ms: roll when the segment's first batch is older (7 d) */
	int64_t segment_index_bytes;    /* segment.index.bytes: roll when the offset index is full (10 MiB) */
	int64_t index_interval_bytes;   /* index.interval.bytes: bytes between index entries (4096) */
	int64_t retention_ms;           /* retention.ms, -1 = keep forever (7 d) */
	int64_t retention_bytes;        /* retention.bytes, -1 = no size limit (-1) */
	unsigned cleanup_policy;        /* cleanup.policy: STOR_CLEANUP_* bits (delete) */
	int64_t delete_retention_ms;    /* delete.retention.ms: tombstone lifetime under compaction (1 d) */
	double min_cleanable_ratio;     /* min.cleanable.dirty.ratio: dirty share that starts a cleaning (0.5) */
	int64_t min_compaction_lag_ms;  /* min.compaction.lag.ms: records younger stay uncompacted (0) */
	int64_t max_compaction_lag_ms;  /* max.compaction.lag.ms: dirty records older get cleaned whatever
	                                 * the ratio; also caps segment.ms of compacted topics (INT64_MAX) */
	int64_t flush_messages;         /* flush.messages: background fdatasync after this many (INT64_MAX) */
	int64_t flush_ms;               /* flush.ms: background fdatasync after this long (INT64_MAX) */
	int64_t file_delete_delay_ms;   /* file.delete.delay.ms: kept for config compatibility (60000) */
	enum stor_ts_type timestamp_type; /* message.timestamp.type */
	int64_t prealloc_window_ms;     /* ringtail's own, no Kafka key (Kafka's `preallocate` is
	                                 * fallocate of whole segments): keep the active segment
	                                 * zero-filled ahead of its appends (storage/prealloc.c), sized
	                                 * by the append rate measured over windows this long; 0 = off
	                                 * (1000) */
};

/* Fills c with Kafka's defaults. */
void stor_config_default(struct stor_config *c);

/* Sets one topic-level key (e.g. "segment.bytes", "cleanup.policy", "message.timestamp.type")
 * from its text value.  Returns 0, -ENOENT for a key storage does not know, or -EINVAL for a bad
 * value; then *why (when given) points at a static message naming the allowed values. */
int stor_config_set(struct stor_config *c, const char *key, const char *value, const char **why);

/* ---------------------------------------------------------------------------------------------
 * A log directory (one entry of log.dirs).
 */

/* Opens (creating it when missing) the log directory `path`, takes its lock file (.lock, flock)
 * and reads its checkpoint files.  Blocking.  Returns an owned object, or NULL with *err set:
 * -EWOULDBLOCK when another process holds the lock, -EBADMSG for an unreadable checkpoint (the
 * message is logged), other -errno from the file system. */
struct stor_dir *stor_dir_open(const char *path, int *err);

/* Writes both checkpoints (stor_dir_checkpoint), releases the lock and frees d.  Every log of
 * the directory must be closed first.  Blocking.  Returns 0 or -errno of the checkpoint write
 * (d is freed either way). */
int stor_dir_close(struct stor_dir *d);

/* Writes recovery-point-offset-checkpoint and log-start-offset-checkpoint for every partition of
 * the directory: the open logs' current values, and the values read at open for partitions not
 * open now.  Blocking (tmp file, fsync, rename, directory fsync); call it from a thread that is
 * not a shard loop (Kafka's log.flush.offset.checkpoint.interval.ms timer) and at shutdown.
 * Thread-safe.  Returns 0 or -errno. */
int stor_dir_checkpoint(struct stor_dir *d);

/* Calls fn once for every "<topic>-<partition>" directory in d (skipping "-delete" leftovers),
 * so the broker can load the partitions it has.  Blocking.  Returns 0 or -errno. */
int stor_dir_list(struct stor_dir *d, void (*fn)(void *arg, const char *topic, int32_t partition),
                  void *arg);

/* The directory's path (borrowed, lives as long as d). */
const char *stor_dir_path(const struct stor_dir *d);

/* ---------------------------------------------------------------------------------------------
 * A partition log.
 */

/* Opens the log of topic-partition in d, creating its directory when missing, and recovers it:
 * every segment past the recovery point is scanned (lengths, CRC-32C, increasing offsets), the
 * log is truncated after the last valid batch, missing or corrupt indexes are rebuilt, and one
 * log line says exactly what was dropped.  Blocking.
 * `cfg` is copied.  `ring` is the owner shard's io_uring (borrowed; must outlive the log).
 * `topic_id` (16 bytes, or NULL when unknown) is written to partition.metadata when that file is
 * missing; a different id already on disk is -EEXIST.
 * Returns an owned log, or NULL with *err: -EINVAL (bad name or config), -EEXIST, -errno
 * (-EMFILE: out of descriptors).  A failed open removes the directory when it created it. */
struct stor_log *stor_log_open(struct stor_dir *d, const char *topic, int32_t partition,
                               const struct stor_config *cfg, const uint8_t *topic_id,
                               struct io_uring *ring, int *err);

/* True when no append, flush or deletion of this log has an SQE in flight; only then may the log
 * be closed or deleted.  The owner keeps driving its ring until this is true. */
bool stor_log_idle(const struct stor_log *log);

/* Flushes everything (data and indexes, blocking fdatasync), makes the recovery point the LEO,
 * and frees the log.  Requires stor_log_idle() and every read released (asserted).  Returns 0
 * or -errno of the final flush (the log is freed either way; a failed flush leaves the recovery
 * point behind, so the next open scans the tail). */
int stor_log_close(struct stor_log *log);

/* Closes the log and removes its directory (renamed to "<topic>-<partition>.<n>-delete" first
 * so a crash midway leaves nothing that loads as a partition).  Requires stor_log_idle() and no
 * pinned reads.  Blocking.  Returns 0 or -errno (the log is freed either way). */
int stor_log_delete(struct stor_log *log);
/* The same without blocking the caller: takes the log (the caller must not touch it again) and
 * deletes it on bg's worker thread (storage/bg.h), after every job queued there before.  The
 * partition's name stays registered in its stor_dir until the rename is durable, so opening a
 * partition of that name meanwhile fails with -EBUSY instead of finding the old files.  A
 * failure is logged.  Requires stor_log_idle() and no pinned reads.  Returns 0. */
int stor_log_delete_bg(struct stor_log *log, struct stor_bg *bg);

/* Copies the config (for AlterConfigs); takes effect from the next append / tick. */
void stor_log_set_config(struct stor_log *log, const struct stor_config *cfg);

/* --- append ---------------------------------------------------------------------------------- */

#define STOR_APPEND_DURABLE 0x1       /* complete only once an fdatasync covers the records (acks=-1) */

struct stor_append;

/* Called exactly once per accepted append, on the owner shard, from the ring's completion.
 * err is 0 or -errno (-ENOSPC, -EIO, -EROFS, ...); on error no offset of this append is in the
 * log (nothing is acknowledged that a later open could lose or expose). */
typedef void (*stor_append_fn)(struct stor_append *a, int err);

/* One append, embedded in the caller's own request object (find it with rt_container_of).
 * The caller fills the "in" fields; storage fills "out" at submission; the rest is private. */
struct stor_append {
	/* in */
	uint8_t *data;                  /* whole validated v2 batches; borrowed, stamped in place, and
	                                 * must stay alive and unchanged until `done` is called */
	size_t len;
	/* optional, for one batch that lies in pieces (received frames): the batch is iov[0..iovcnt),
	 * len bytes in all, and data is iov[0].iov_base, a piece of at least the 61 header bytes
	 * that is stamped in place (CRC included, over every piece); written with one writev.  The
	 * entries are borrowed like data, and storage moves them past what a short write wrote. */
	struct iovec *iov;
	int iovcnt;
	unsigned flags;                 /* STOR_APPEND_* */
	stor_append_fn done;
	/* out: valid from a successful stor_log_append until `done` */
	int64_t base_offset;            /* offset of the first record */
	int64_t last_offset;            /* offset of the last record */
	int64_t log_append_time;        /* the LogAppendTime stamped, or -1 for CreateTime topics */
	/* private */
	struct rt_ioop op;
	struct stor_append *next;
	struct stor_segment *seg;
	uint64_t pos;                   /* file position of data[0] in seg */
	size_t written;                 /* bytes of data confirmed written */
	int err;
	int32_t fault;                  /* injected completion result (fault layer), 0 = none */
	int64_t max_ts, max_ts_off;     /* largest batch max timestamp and that batch's last offset */
	int64_t messages;
	uint8_t state;
	bool held;                      /* its write waits for a preallocation chunk (prealloc.c) */
	uint64_t link_seq;              /* the linked round its write carries (sync.c), 0: none or
	                                 * cancelled by a short write */
	uint64_t seq;                   /* the log's count of appends accepted, this one included */
	int iov_at;                     /* iov: the first entry not wholly written */
	size_t iov_written;             /* iov: bytes already stepped over in the entries */
	uint64_t lt_written, lt_round;  /* base/lat_trace.h stamps (0 unless built with it) */
};

/* Assigns offsets to a->data (every batch's base offset and the log's leader epoch are stamped
 * in place; for LogAppendTime topics each batch's max timestamp and attribute are set and its
 * CRC recomputed) and queues one write of the whole buffer at the end of the active segment
 * (rolling first when segment.bytes, segment.ms or a full index says so).
 * `info` (borrowed for the call) is kp_records_validate's result for the same bytes.
 * Returns 0 when the append is accepted (`done` will be called exactly once), or a -errno and
 * `done` is never called: -EROFS (offline), -EMSGSIZE (larger than segment.bytes), -EBADMSG
 * (batches do not frame), -ENOSPC/-EIO (the log is recovering from a failed write), -EAGAIN (the
 * producer state is being rebuilt after a cut: stor_pstate_rebuild_start), -errno from a
 * segment roll. */
int stor_log_append(struct stor_log *log, struct stor_append *a, const struct kp_records_info *info);

/* --- durability ------------------------------------------------------------------------------ */

struct stor_sync;
/* err is 0 (offsets below the waited-for offset are on stable storage) or -errno (-EROFS: the
 * fdatasync failed and the partition is offline). */
typedef void (*stor_sync_fn)(struct stor_sync *s, int err);

/* A "durable up to offset X" waiter, embedded in the caller's object. */
struct stor_sync {
	int64_t offset;                 /* in: wait until every offset < this is durable */
	stor_sync_fn done;              /* in */
	struct stor_sync *next;         /* private */
};

/* Completes s once an fdatasync covers every offset below s->offset (which must be <= the next
 * offset to be assigned).  One fdatasync covers every write completed before it was issued and
 * serves every waiter it covers (group commit).  When already durable, s->done is called before
 * this returns.  Returns 0 (s->done will be / was called exactly once) or -EROFS / -EINVAL
 * (s->done is not called). */
int stor_log_sync(struct stor_log *log, struct stor_sync *s);

/* How many group-commit rounds of the calling thread's logs have fdatasyncs not yet back (a
 * round that is back but not settled behind an earlier one does not count). */
unsigned stor_sync_rounds_in_flight(void);

/* Queues the writes of the appends accepted on the calling thread's logs of `ring` since the
 * last call: each log's appends of the pass share one writev, with one fdatasync linked to it
 * when they are durable and all the log has unresolved (storage/coalesce.c).  Until this is
 * called they are not in the SQ: the owner calls it before each io_uring_submit of the ring that
 * should carry them (the end of every pass of its loop, and in any loop that waits for their
 * completions).  May complete appends with an error (`done`) when the ring has no SQE left. */
void stor_ring_flush(struct io_uring *ring);

/* Appends' writes and group-commit rounds of the calling thread's logs not yet back: the work
 * of the io_uring workers that run on the shard's CPU, beside which a shard does not poll
 * (dataplane/shard.c). */
unsigned stor_io_in_flight(void);

/* --- read ------------------------------------------------------------------------------------ */

/* A file range of whole batches in one segment, pinned until stor_read_release. */
struct stor_read {
	int fd;                         /* segment file, readable from any thread while pinned */
	uint64_t pos;                   /* file position of the first batch */
	uint32_t len;                   /* bytes of whole batches; 0 = nothing to return */
	int64_t first_offset;           /* base offset of the first batch in the range */
	int64_t next_offset;            /* offset after the last batch in the range */
	struct stor_segment *seg;       /* the pin; NULL when len == 0 */
};

/* Finds the batch containing `offset` through the offset index (O(log n)) and returns the range
 * of whole batches from there, at most max_bytes long, stopping at `max_offset` (exclusive: the
 * high watermark, or the last stable offset) and at the end of that segment.  When the first
 * batch alone is larger than max_bytes it is returned whole if min_one is set (Kafka's rule for
 * the first partition of a fetch), otherwise len is 0.  Pins the segment when len > 0.
 * Returns 0, or -ERANGE when offset is below the log start offset or above the LEO, -EROFS when
 * the partition is offline, or -errno from reading batch headers (pread, blocking only on a
 * page-cache miss; a pread the disk fails takes the partition offline, as the ring's do). */
int stor_log_read(struct stor_log *log, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                  bool min_one, struct stor_read *out);

/* The same without blocking the owner shard: the batch headers the read needs are read through
 * the log's io_uring (a window of STOR_READ_WINDOW bytes at a time), and the read is answered
 * from the ring's completion.  This is the fetch path's read; stor_log_read (pread) stays for
 * start-up and tests.  Embedded in the caller's object, which must stay alive until `done`. */
struct stor_read_op;
/* Called exactly once, on the owner shard, for a read that stor_log_read_start queued: err is
 * 0 (r->rd holds the range, pinned when len > 0) or -errno as stor_log_read's. */
typedef void (*stor_read_fn)(struct stor_read_op *r, int err);

#define STOR_READ_WINDOW 4096

struct stor_read_op {
	/* in: stor_log_read's arguments */
	int64_t offset;
	uint32_t max_bytes;
	int64_t max_offset;
	bool min_one;
	bool copy;                      /* also read the range's bytes into memory (through the ring):
	                                 * ringtail.fetch.zero.copy=false */
	int64_t *copy_budget;           /* copy: the bytes still allowed to be copied (borrowed; read and
	                                 * taken atomically: the reads of one fetch on every shard share
	                                 * it), or NULL: no cap.  A range longer than what is left is not
	                                 * copied (data NULL): its file range serves, so the cap bounds
	                                 * memory and never what is returned (min_one's first batch) */
	stor_read_fn done;
	/* out */
	struct stor_read rd;
	uint8_t *data;                  /* with copy and rd.len > 0: the range's rd.len bytes,
	                                 * malloc'ed and owned by the caller (free); NULL when memory
	                                 * or the ring was short: then only the file range is there */
	/* private */
	struct rt_ioop op;
	struct stor_log *log;
	struct stor_segment *seg;       /* the segment walked; pinned while its read is in flight */
	uint8_t *win;                   /* bytes [wpos, wpos + wlen) of seg's file (the log's window) */
	uint64_t wpos;
	uint32_t wlen;
	uint64_t limit;                 /* seg's visible size and end offset when the walk entered it */
	int64_t end_off;
	uint64_t cur, start, end_lim, want;
	int64_t first_base;             /* the first batch of the range: base and size */
	uint64_t first_size;
	uint32_t copied;                /* copy: bytes of data read so far */
	int32_t fault;                  /* the result the fault layer put in place of the read's */
	uint8_t step;
};

/* Starts an asynchronous read.  Returns 0 when nothing had to be read from the file (r->rd
 * holds the result now; `done` is not called), -EINPROGRESS when a read is queued on the ring
 * (`done` will be called exactly once; the log is not idle until then), or -errno as
 * stor_log_read (`done` is not called), -EROFS when the partition is offline.  A header read
 * or a copy's read that fails on the disk takes the partition offline (`done` gets its -errno). */
int stor_log_read_start(struct stor_log *log, struct stor_read_op *r);

/* Releases the pin of a read with len > 0 (on the owner shard).  A segment deleted by retention
 * or DeleteRecords is closed and unlinked after its last release. */
void stor_read_release(struct stor_log *log, struct stor_read *r);

/* --- offsets and timestamps ------------------------------------------------------------------ */

int64_t stor_log_start_offset(const struct stor_log *log);
int64_t stor_log_end_offset(const struct stor_log *log);      /* LEO */
int64_t stor_log_high_watermark(const struct stor_log *log);  /* == LEO on one broker */
int64_t stor_log_durable_offset(const struct stor_log *log);
int64_t stor_log_recovery_point(const struct stor_log *log);
bool stor_log_offline(const struct stor_log *log);
/* Bytes in all segments. */
uint64_t stor_log_size(const struct stor_log *log);
/* Number of segments (the active one included). */
size_t stor_log_segment_count(const struct stor_log *log);

/* ListOffsets by timestamp: the first offset whose record timestamp is >= ts, and that record's
 * timestamp.  Blocking reads (pread) of the candidate batches (start-up, tests).  Returns 0, or
 * -ENOENT when no record has such a timestamp (Kafka answers offset -1), or -errno. */
int stor_log_offset_for_time(struct stor_log *log, int64_t ts, int64_t *offset, int64_t *timestamp);

/* The same without blocking the owner shard (ListOffsets): the batch headers and the batch
 * searched are read through the log's io_uring (storage/read_time.c).  Embedded in the caller's
 * object, which must stay alive until `done`. */
struct stor_time_op;
/* Called exactly once, on the owner shard, for a search that was queued: err is 0 (t->offset and
 * t->timestamp hold the answer), -ENOENT or -errno as stor_log_offset_for_time's. */
typedef void (*stor_time_fn)(struct stor_time_op *t, int err);

struct stor_time_op {
	/* in */
	int64_t ts;
	stor_time_fn done;
	/* out */
	int64_t offset;
	int64_t timestamp;
	/* private */
	struct rt_ioop op;
	struct stor_log *log;
	struct stor_segment *seg;       /* the segment searched; pinned while its read is in flight */
	int64_t after;                  /* base of the last segment entered */
	uint8_t *buf;                   /* bytes [bpos, bpos + blen) of seg's file; malloc'ed, cap */
	size_t cap;
	uint64_t bpos;
	uint32_t blen;
	uint64_t limit;                 /* seg's visible size when the search entered it */
	uint64_t pos;                   /* the batch looked at */
	uint64_t rpos, rlen;            /* the bytes the search needs next */
};

/* Starts an asynchronous search.  Returns 0 or -ENOENT when no byte had to be read (the answer
 * is in t now; `done` is not called), -EINPROGRESS when a read is queued on the ring (`done`
 * will be called exactly once; the log is not idle until then), or -errno (`done` is not
 * called). */
int stor_log_offset_for_time_start(struct stor_log *log, struct stor_time_op *t);

/* ListOffsets MAX_TIMESTAMP (-3): the largest timestamp in the log and the offset of the batch's
 * last record that carries it (Kafka's shallow offset).  -ENOENT when the log is empty. */
int stor_log_max_timestamp(const struct stor_log *log, int64_t *offset, int64_t *timestamp);

/* --- waking long-polling fetches ------------------------------------------------------------- */

struct stor_watch;
typedef void (*stor_watch_fn)(struct stor_watch *w, int64_t leo);

/* A one-shot watch: fires once the LEO passes `offset` (leo > offset), on the owner shard. */
struct stor_watch {
	int64_t offset;                 /* in */
	stor_watch_fn fire;             /* in */
	struct stor_watch *prev, *next; /* private */
	bool armed;                     /* private */
};

/* Arms w (fires before returning when the LEO is already past w->offset).  Borrows w until it
 * fires or is cancelled. */
void stor_log_watch(struct stor_log *log, struct stor_watch *w);
/* Disarms w if it has not fired yet. */
void stor_log_unwatch(struct stor_log *log, struct stor_watch *w);

/* --- leader epochs ------------------------------------------------------------------------------ */

/* Makes `epoch` the leader epoch stamped on later appends and records (epoch, LEO) in
 * leader-epoch-checkpoint when it is new.  Blocking (checkpoint write).  0 or -errno. */
int stor_log_set_leader_epoch(struct stor_log *log, int32_t epoch);
int32_t stor_log_leader_epoch(const struct stor_log *log);

/* --- retention, DeleteRecords, truncation, background work ------------------------------------ */

/* DeleteRecords: advances the log start offset to `offset` (<= high watermark) and schedules
 * deletion of the segments entirely below it.  Returns 0 (new start offset in *low_watermark)
 * or -ERANGE. */
int stor_log_delete_records(struct stor_log *log, int64_t offset, int64_t *low_watermark);

/* Removes every offset >= `offset` (follower truncation, tests): whole batches, so the batch
 * that holds it goes too; durable (fdatasync, directory fsync, leader-epoch checkpoint) before
 * it returns.  Requires stor_log_idle().  Blocking.  0 or -errno (-ERANGE below the log start;
 * a failed cut of the files takes the partition offline). */
int stor_log_truncate(struct stor_log *log, int64_t offset);

/* The same without blocking the owner shard: the batch that holds the offset is found through
 * the log's io_uring, the log's memory is cut at once, and its files on the log's file worker
 * (stor_log_set_bg; storage/truncate.c).  Embedded in the caller's object. */
struct stor_trunc_op;
typedef void (*stor_trunc_fn)(struct stor_trunc_op *t, int err);
struct stor_trunc_op {
	int64_t offset;                 /* in */
	stor_trunc_fn done;             /* in: on the owner shard, err 0 or -errno as stor_log_truncate's */
	/* private */
	struct stor_read_op rop;
	struct stor_log *log;
};
/* Requires stor_log_idle(); nothing may be appended until `done`.  Returns 0 when there is
 * nothing to cut (offset >= LEO) or -ERANGE (`done` is not called), or -EINPROGRESS: `done`
 * is called exactly once (before this returns when the log has no file worker). */
int stor_log_truncate_start(struct stor_log *log, struct stor_trunc_op *t);

/* Gives the log its owner shard's file worker (borrowed; must outlive the log; NULL: none):
 * truncations and the repair after a failed write cut their files there (truncate.c) instead
 * of on the caller's thread. */
void stor_log_set_bg(struct stor_log *log, struct stor_bg *bg);

/* Periodic work, called from the owner shard's timer (about once a second) with the wall clock
 * in ms: background flush (flush.ms), retention by retention.ms / retention.bytes (deleting whole
 * segments, never a segment a reader still pins: that one is unlinked after its release), and
 * asynchronous unlinking of deleted segments.  Returns the number of segments deleted, or -errno. */
int stor_log_tick(struct stor_log *log, int64_t now_ms);

/* --- aborted transactions (the .txnindex files, issue 7) -------------------------------------- */

/* Records an aborted transaction in the .txnindex of the segment that holds its ABORT marker
 * (t->last_offset, already assigned by stor_log_append).  An entry whose marker is not past the
 * segment's last entry is already there and is skipped (replays after recovery), so this is
 * idempotent.  The entry is in memory at once (read_committed fetches see it).  A new marker
 * (at or past the log end: its own write is still in flight) has the entry written through the
 * log's io_uring, without blocking the shard; once that write completes a flush round syncs the
 * file, and the recovery point never passes an entry in flight or unsynced.  A replay (a marker
 * below the log end: start-up recovery, after a truncation), or a new marker when memory is
 * short, is written with a blocking pwrite, synced by the next flush round; a segment whose
 * index is not loaded (replay only) has it opened first, blocking.  A truncation of the log
 * drops entries past the new end.  Returns 0 or -errno (-EINVAL: no segment holds that offset,
 * or first_offset > last_offset; -EBUSY: no SQE, the entry stays in memory only).  A failed
 * write, at once or at its completion, is logged and the file removed so that the next open
 * rebuilds it from the log. */
int stor_log_add_aborted(struct stor_log *log, const struct stor_aborted_txn *t);

/* Kafka's collectAbortedTransactions for a read_committed fetch from `fetch_offset` whose data
 * ends before `upper`: every aborted transaction with last offset >= fetch_offset and first
 * offset < upper, searching the indexes from the segment holding fetch_offset onwards until an
 * entry's last stable offset reaches upper.  Writes at most cap entries to out (in marker order)
 * and returns how many there are (call again with more room when that is above cap).  No I/O. */
size_t stor_log_collect_aborted(const struct stor_log *log, int64_t fetch_offset, int64_t upper,
                                struct stor_aborted_txn *out, size_t cap);

/* Recovery of the indexes: the lowest offset from which the aborted transactions must be derived
 * again from the log (recovery scanned the segments from there, or a .txnindex was missing or
 * did not decode), or INT64_MAX.  The producer state's recovery (stor_pstate_recover) replays
 * the log from at most there, calling stor_log_add_aborted for every abort it meets, and then
 * stor_log_txn_rebuilt (which creates the files that were missing and resets this offset). */
int64_t stor_log_txn_rebuild_from(const struct stor_log *log);
void stor_log_txn_rebuilt(struct stor_log *log);

/* --- roll and truncation hook ----------------------------------------------------------------- */

/* Called on the owner shard, synchronously, after a segment rolls (offset = the new segment's
 * base: every offset below it has been assigned, truncated = false) and after the log is cut
 * back (stor_log_truncate, or the tail cut after a failed write; offset = the new log end,
 * truncated = true).  For the owner of the partition's producer state: Kafka writes a producer
 * snapshot at every roll and rebuilds the state after a truncation.  On a shard it must not
 * block: the roll's snapshot is queued on the file worker (stor_pstate_snapshot_queue) and the
 * rebuild after a cut runs there (stor_pstate_rebuild_start). */
typedef void (*stor_roll_fn)(void *arg, struct stor_log *log, int64_t offset, bool truncated);
/* Sets (fn NULL: clears) the hook; arg is borrowed. */
void stor_log_set_roll_hook(struct stor_log *log, stor_roll_fn fn, void *arg);

/* ---------------------------------------------------------------------------------------------
 * Errors and logging.
 */

/* The one mapping from a storage -errno to a Kafka error code (0 for 0). */
int16_t stor_err_to_kafka(int err);

/* Where storage's log lines go (recovery drops, offline partitions, failed writes).  Default:
 * stderr with a "storage: " prefix.  Thread-safe to call before any log is open. */
typedef void (*stor_log_line_fn)(void *arg, const char *line);
void stor_set_log_line(stor_log_line_fn fn, void *arg);

#endif
