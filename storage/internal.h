/*
 * storage/internal.h: what the files of storage/ share and nothing outside storage/ may use.
 *
 * Invariants of a log (all on the owner shard):
 *   log_start <= first segment's base (or inside it) <= leo <= next_offset
 *   durable <= leo;  segs[] sorted by base offset, segs[nseg-1] is the active segment
 *   wq holds accepted appends in offset order until their write is resolved; LEO advances over
 *   the resolved prefix only, so readers and the index never see bytes whose write failed.
 *   A segment's index entries (in memory and on disk) only cover bytes below its visible size.
 */
#ifndef STOR_INTERNAL_H
#define STOR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>

#include "base/ioop.h"
#include "storage/bg.h"
#include "storage/storage.h"
#include "storage/txn_index.h"
#include "storage/compact.h"

#define STOR_OFF_ENTRY 8    /* .index entry: int32 relative offset, int32 position */
#define STOR_TIME_ENTRY 12  /* .timeindex entry: int64 timestamp, int32 relative offset */

/* One log line through the sink set by stor_set_log_line (printf-style, no newline). */
void stor_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wall clock in ms (CLOCK_REALTIME), as Kafka's timestamps are. */
int64_t stor_now_ms(void);

/* --- segments (segment.c) ------------------------------------------------------------------ */

struct stor_segment {
	struct stor_log *log;
	int64_t base;               /* base offset: the 20-digit file name */
	int fd, ifd, tfd;           /* .log, .index, .timeindex (O_RDWR); the .log's for the segment's
	                             * lifetime, the indexes' only while something needs them (fds.c),
	                             * -1 otherwise */
	uint64_t size;              /* bytes assigned to appends (>= visible) */
	uint64_t visible;           /* bytes of resolved, successfully written batches */
	int64_t end_offset;         /* offset after the last visible batch (base when empty) */
	int64_t max_ts;             /* largest visible batch max timestamp, -1 when none */
	int64_t max_ts_off;         /* last offset of the batch that carries it */
	int64_t roll_ts;            /* first batch's max timestamp (segment.ms), -1 when none */
	bool roll_is_ts;
	int64_t created_ms;         /* when this process created or opened it */
	uint64_t since_index;       /* bytes appended since the last offset index entry */
	/* The indexes, in their on-disk (big-endian) form, in anonymous mappings sized for the
	 * largest index so they never move while a write from them is in flight. */
	uint8_t *oidx;
	size_t on, ocap;            /* entries, capacity */
	size_t on_disk;             /* entries whose write has been queued */
	uint8_t *tidx;
	size_t tn, tcap, tn_disk;
	bool dirty;                 /* completed data writes not yet covered by an fdatasync */
	uint64_t sync_lo;           /* the resolved writes below it are covered by a round issued
	                             * already: the next round's fdatasync of the file need only
	                             * cover [sync_lo, visible) (sync.c) */
	bool idx_dirty;             /* index writes not yet covered by an fdatasync */
	bool idx_bad;               /* an index write failed: rewrite before trusting the files */
	bool idx_missing;           /* an index file was missing at open: rebuild */
	bool deleted;               /* removed from the log; unlinked once unpinned and idle */
	bool sealed;                /* no longer active and every append resolved: final time entry */
	bool replaced;              /* swapped out by the cleaner (its names belong to the cleaned
	                             * segment now) or cut off by a truncation (its names unlinked
	                             * already), so reaping closes it without unlinking */
	int refs;                   /* reader pins */
	int inflight;               /* SQEs in flight that use this segment's descriptors */
	int idx_inflight;           /* of which index writes */
	struct rt_ioop idx_op;      /* shared by every index write of this segment */
	struct stor_segment *grave_next;
	uint64_t grave_round;       /* the newest group-commit round in flight when it left the log
	                             * (stor_sync_newest_round): its descriptors stay open until that
	                             * round is done */
	/* The .txnindex (aborted.c): its entries, NULL while the file is empty (no descriptor is
	 * held for the common segment without aborted transactions). */
	struct stor_txnidx *txn;
	/* Opens of the index and .txnindex descriptors through the ring (fds.c): [0] .index,
	 * [1] .timeindex, [2] .txnindex; each counted in inflight and idx_inflight. */
	struct stor_aux_op {
		struct rt_ioop op;
		struct stor_segment *s;
		char *path;             /* "<dir>/<name>", alive until the completion */
		bool busy;
		bool deferred;          /* wanted while the segment's spare renames are in flight */
	} aux[3];
	bool idx_want;              /* index entries wait for the opens of [0] and [1] */
	bool aux_held;              /* may hold an index or .txnindex descriptor (counted in the
	                             * log's aux_segs) */
	uint64_t aux_round;         /* the last group-commit round that synced them (sync.c): they
	                             * stay open until it is done */
	struct txn_write *txn_wait; /* .txnindex writes waiting for the open of [2] (aborted.c) */
	bool txn_missing;           /* absent or unreadable at open: rebuilt from the log */
	bool txn_dirty;             /* entries written since the file's last fdatasync */
	/* Preallocation (prealloc.c).  The file may be longer than the segment: [size, pa_end)
	 * holds zeros already written and fdatasynced ahead of the appends, and file_end bounds the
	 * file's size from above (zero chunks issued, appends reserved).  The segment's size is
	 * always `size`/`visible`, never the file's. */
	uint64_t pa_end;
	uint64_t file_end;
	bool pa_stop;               /* a zero chunk failed: no more for this segment */
	uint64_t fa_end;            /* blocks may be reserved (fallocate KEEP_SIZE) up to here, past
	                             * the file's end: the trim at roll and close frees them */
	bool fa_stop;               /* a fallocate failed: no more for this segment */
	int trim_left;              /* > 0: the cut back to `size` (roll) is in flight */
	int32_t trim_err;           /* the cut failed (sticky; the partition went offline) */
	int32_t trim_inj[2];        /* fault layer: results in place of the ftruncate's, the sync's */
	struct rt_ioop trim_op;
};

/* A segment object with no files (fds -1) and index mappings for `index_bytes`
 * (segment.index.bytes); the cleaner fills it.  Touches nothing of `log` but the pointer, so any
 * thread may call it.  NULL on ENOMEM. */
struct stor_segment *stor_segment_alloc(struct stor_log *log, int64_t base, int64_t index_bytes);
/* The object of a segment a roll is about to create (stor_segment_create, spare.c): the roll's
 * fault point (STOR_FAULT_SEG_CREATE, one check per roll whichever way its files come) and
 * stor_segment_alloc for this log.  NULL with *err (the fault's error, or -ENOMEM). */
struct stor_segment *stor_segment_new(struct stor_log *log, int64_t base, int *err);
/* Creates an empty segment (files created or truncated) with base offset `base`.  Blocking.
 * NULL with *err. */
struct stor_segment *stor_segment_create(struct stor_log *log, int64_t base, int *err);
/* Opens an existing segment's files (index files created when missing); indexes are loaded
 * with stor_segment_load_index.  Blocking.  NULL with *err. */
struct stor_segment *stor_segment_open(struct stor_log *log, int64_t base, int *err);
/* Closes descriptors and frees (does not unlink). */
void stor_segment_free(struct stor_segment *s);
/* The same with the descriptors closed through the log's ring (IORING_OP_CLOSE), for segments
 * reaped on the shard.  Requires s->inflight == 0 (nothing else uses the descriptors). */
void stor_segment_free_async(struct stor_segment *s);
/* Unlinks the segment's four files (blocking; used on error paths and deletion). */
void stor_segment_unlink(struct stor_segment *s);
/* "<20-digit base>.<ext>" into out (at least 32 bytes). */
void stor_segment_name(char *out, size_t n, int64_t base, const char *ext);

/* Reads the index files into memory and sanity-checks them against the log file size.
 * Returns 0, or -EBADMSG when they are missing or inconsistent (the caller rebuilds). */
int stor_segment_load_index(struct stor_segment *s, uint64_t log_size);
/* Discards the indexes (memory and files) for a rebuild. */
void stor_segment_reset_index(struct stor_segment *s);
/* Records a resolved append of `bytes` at `pos` whose last offset is `last` and max timestamp
 * `max_ts` (Kafka's LogSegment.append rule for index.interval.bytes).  Memory only. */
void stor_segment_note_append(struct stor_segment *s, uint64_t pos, uint64_t bytes, int64_t last,
                              int64_t max_ts, int64_t max_ts_off, int64_t interval);
/* Adds the final time index entry when the segment stops being active. */
void stor_segment_seal_timeindex(struct stor_segment *s);
/* The active segment's index files are written when this many bytes of entries are new. */
#define STOR_INDEX_PAGE 4096u
/* Queues io_uring writes for index entries not yet written.  0 or -errno. */
int stor_segment_write_index_async(struct stor_segment *s);
/* Writes both index files whole (blocking pwrite + ftruncate).  0 or -errno. */
int stor_segment_write_index_sync(struct stor_segment *s);
/* True when the offset index has no room left (roll). */
bool stor_segment_index_full(const struct stor_segment *s);
/* Trims index entries at or past file position pos / offset (truncation).  Memory and files
 * (blocking: recovery). */
void stor_segment_trim_index(struct stor_segment *s, uint64_t pos, int64_t offset);
/* The same in memory only; the files' lengths are then on_disk * 8 and tn_disk * 12 (truncate.c
 * cuts them off the shard).  No I/O. */
void stor_segment_trim_index_mem(struct stor_segment *s, uint64_t pos, int64_t offset);

/* Offset index lookup: position of the entry with the largest offset <= target, or 0. */
uint64_t stor_segment_lookup(const struct stor_segment *s, int64_t target);
/* Position index lookup: the largest indexed position <= pos, or 0. */
uint64_t stor_segment_lookup_pos(const struct stor_segment *s, uint64_t pos);
/* Time index lookup: offset of the entry with the largest timestamp <= ts, or base. */
int64_t stor_segment_lookup_time(const struct stor_segment *s, int64_t ts);

/* Batch header fields storage needs while walking a file: base, size, last offset. */
struct stor_bhdr {
	int64_t base;
	int64_t last;
	uint64_t size;
	int64_t max_ts;
};
/* Reads the batch header at pos (pread, blocking on a page-cache miss).  0, -ENODATA at or past
 * `limit`, -EBADMSG when what is there is not a plausible batch header, or -errno. */
int stor_segment_read_hdr(const struct stor_segment *s, uint64_t pos, uint64_t limit,
                          struct stor_bhdr *h);
/* The same from bytes at hand: b holds the n (<= KP_BATCH_HEADER_SIZE is enough) bytes at file
 * position pos.  0, or -EBADMSG (also when n is shorter than a batch header).  No I/O. */
int stor_bhdr_parse(const uint8_t *b, size_t n, uint64_t pos, uint64_t limit, struct stor_bhdr *h);

/* A batch appended to the active segment at file position pos (read.c's recent headers). */
struct stor_recent {
	uint64_t pos;
	struct stor_bhdr h;
};
#define STOR_RECENT 32
/* Records the batch headers of the len bytes (whole batches, stamped) just placed at pos of s,
 * the active segment.  Without memory it records nothing (the walk reads the file instead). */
void stor_recent_note(struct stor_log *log, struct stor_segment *s, uint64_t pos, const uint8_t *b,
                      size_t len);
/* Forgets them: the active segment changes (roll) or its bytes do (truncation). */
void stor_recent_reset(struct stor_log *log);

/* --- descriptors (fds.c) ------------------------------------------------------------------- */

/* "<log dir>/<name>", malloc'ed (the caller frees), or NULL on ENOMEM. */
char *stor_log_file_path(const struct stor_log *log, const char *name);
/* The partition directory's descriptor, opened (blocking) when the log holds none: for the
 * blocking paths (open, close, recovery, a roll without spare files).  fd (borrowed: the log
 * closes it when idle) or -errno. */
int stor_log_dirfd(struct stor_log *log);
/* Index descriptors of s for a blocking path: opened (blocking) when closed.  0 or -errno. */
int stor_segment_aux_open_sync(struct stor_segment *s);
/* Queues through the ring the opens of s's closed index descriptors (idx) and/or of its
 * .txnindex descriptor (txn; s->txn must exist).  Their completions go on with what waits
 * (idx_want, txn_wait).  Returns true when the asked descriptors are open now. */
bool stor_segment_aux_open(struct stor_segment *s, bool idx, bool txn);
/* s may hold index or .txnindex descriptors (opened by a blocking path): count it for
 * stor_log_fds_release. */
void stor_segment_aux_note(struct stor_segment *s);
/* s leaves the log (grave, free): stop counting it. */
void stor_segment_aux_forget(struct stor_segment *s);
/* Closes what no longer needs a descriptor: index and .txnindex descriptors of segments with
 * nothing in flight, dirty or waiting, and the directory's once no sync of it is due, all only
 * while no group-commit round is in flight (a round may name any of them).  `now`: close(2)
 * (blocking paths: open), else through the ring. */
void stor_log_fds_release(struct stor_log *log, bool now);
/* True while s's files are a roll's spare files being renamed into place (the newest segment
 * while renames are in flight): nothing may be created by its real names yet. */
bool stor_segment_renaming(const struct stor_segment *s);
/* Queues the opens that waited for s's spare renames to land (spare.c calls it then). */
void stor_segment_aux_resume(struct stor_segment *s);
/* The index entries that waited for the opens (segment.c). */
void stor_segment_idx_resume(struct stor_segment *s);
/* The .txnindex writes that waited for its open (aborted.c); err < 0: the open failed. */
void stor_segment_txn_resume(struct stor_segment *s, int err);

/* --- aborted-transaction index files (aborted.c) ------------------------------------------ */

/* At open, after the replay that rebuilt the aborted transactions (producer_recover.c): syncs
 * the .txnindex files it wrote and the directory when files were created (blocking), so that
 * no partition keeps those descriptors until a round that an idle one never has (fds.c); a
 * failure takes the partition offline. */
void stor_log_txn_settle_sync(struct stor_log *log);

/* Creates the segment's empty .txnindex (create = true: a new segment) or loads an existing one,
 * setting txn_missing when it is absent or does not decode.  Blocking.  0 or -errno (only a
 * failure to create is an error). */
int stor_segment_txn_open(struct stor_segment *s, bool create);
/* Gives a new segment the descriptor of its just-created, empty .txnindex (a spare's). */
void stor_segment_txn_adopt(struct stor_segment *s, int fd);
/* Opens the .txnindex of the active segment of a log being opened, so that aborts recorded in
 * the steady state never open a file (blocking; open only). */
void stor_segment_txn_hold(struct stor_segment *s);
/* Closes the entries' descriptor and frees them. */
void stor_segment_txn_close(struct stor_segment *s);
/* Drops the entries whose marker is at or past `offset` (truncation).  Blocking. */
void stor_segment_txn_trim(struct stor_segment *s, int64_t offset);

/* --- the log ------------------------------------------------------------------------------- */

#define STOR_SPARE_FILES 4          /* .log, .index, .timeindex, .txnindex of the next segment */
struct stor_spare_op {
	struct rt_ioop op;
	struct stor_log *log;
	int i;
};

/* One group-commit round (sync.c): the fdatasyncs issued together, and the LEO when they were
 * issued, durable once they and every round issued before them succeeded.  At most
 * STOR_SYNC_ROUNDS are in flight per log, a ring in issue order; a second only while the log's
 * rounds acknowledge about one append each (sync.c, "Rounds in flight"). */
#define STOR_SYNC_ROUNDS 2
/* Rounds that acknowledge more durable appends each than this (x16, a moving average) are
 * concurrent producers': one round in flight, shared. */
#define STOR_SYNC_GROUP_ACKS16 24
struct stor_round {
	struct rt_ioop op;
	struct stor_log *log;
	int left;                   /* completions outstanding */
	int err;
	int64_t target;
	uint64_t id;                /* for the fault layer's trace */
	uint64_t seq;               /* the log's own count of rounds issued */
	uint64_t lt_issued;         /* base/lat_trace.h stamp */
	uint64_t lt_pa;             /* lat_trace: zero chunks issued on the log before it, +1
	                             * when one was in flight */
	/* A linked round (stor_sync_link): its first fdatasync is chained to a durable append's
	 * write (IOSQE_IO_LINK), so it starts in the same io_uring worker as soon as the write is
	 * in the page cache, without a trip through the shard.  The write's completion (append.c)
	 * emits its SYNC_ISSUE trace; a short or failed write cancels it (-ECANCELED), and then
	 * the round makes nothing durable. */
	struct rt_ioop lop;
	struct stor_segment *lseg;  /* the linked fdatasync's segment, NULL for a plain round */
	bool cancelled;
	uint64_t llo;                /* lseg's sync_lo before the linked fdatasync took it */
	uint64_t lr_lo, lr_hi;      /* the linked fdatasync's range (both 0: the whole file) */
};

/* Preallocation (prealloc.c): at most one zero chunk in flight per log, on the active segment
 * or on the spare .log file (seg NULL), a linked write of zeros and fdatasync. */
struct stor_pa_op {
	struct rt_ioop wop, fop;
	struct stor_log *log;
	struct stor_segment *seg;   /* NULL: the spare "spare.log.tmp" */
	uint64_t lo, hi;
	int left;
	int32_t wres, fres;
	int32_t winj, finj;         /* fault layer: results in place of the write's, the sync's */
	bool stale;                 /* the segment was cut back meanwhile: do not count the zeros */
};

/* A write shared by the appends of one pass (coalesce.c): one writev of their pieces, in offset
 * order. */
struct stor_wgroup {
	struct rt_ioop op;
	struct stor_log *log;
	struct stor_append *first;  /* the members: first and the n - 1 appends behind it (wq) */
	unsigned n;
	size_t len;                 /* bytes of all members */
	int iovcnt, iovcap;
	struct iovec *iov;          /* owned: the writev's entries */
	struct stor_wgroup *next;   /* the log's free list */
};

/* The appends the log accepted since the owner last called stor_ring_flush, not written yet
 * (coalesce.c): consecutive in wq and in one segment's file, counted as one write in flight. */
struct stor_wpass {
	struct stor_append *first, *last;  /* first NULL: none */
	unsigned n;
	int pieces;                 /* their iovec entries */
	size_t len;                 /* their bytes */
	bool durable;               /* one of them is STOR_APPEND_DURABLE */
	struct stor_log *next;      /* the thread's list of logs with a pass (coalesce.c) */
};

struct stor_epoch_entry {
	int32_t epoch;
	int64_t start;
};

struct stor_log {
	struct stor_dir *dir;
	char *topic;
	int32_t partition;
	char *path;                 /* <dir>/<topic>-<partition> */
	char *name;                 /* <topic>-<partition> */
	int dfd;                    /* the partition directory: held only while a directory sync is
	                             * due or a blocking path needs it (fds.c), -1 otherwise */
	size_t aux_segs;            /* segments with aux_held (fds.c) */
	uint64_t dir_round;         /* the last round that synced the directory (sync.c) */
	struct stor_config cfg;
	struct io_uring *ring;

	struct stor_segment **segs; /* sorted by base; owned */
	size_t nseg, segcap;
	struct stor_segment *grave; /* deleted segments awaiting unpin and unlink */

	int64_t log_start;
	int64_t next_offset;        /* next offset to assign */
	int64_t leo;
	int64_t durable;
	int64_t recovery_point;
	_Atomic int64_t ck_recovery_point;  /* copies read by stor_dir_checkpoint on other threads */
	_Atomic int64_t ck_log_start;
	_Atomic int64_t ck_clean_point;

	int32_t epoch;
	struct stor_epoch_entry *epochs;
	size_t nepochs;

	/* appends */
	struct stor_append *wq_head, *wq_tail;  /* writes in offset order, not yet resolved */
	struct stor_wpass wpass;    /* appends waiting for the pass's end (coalesce.c) */
	struct stor_wgroup *wg_free; /* shared writes' spare objects (coalesce.c; owned) */
	uint64_t write_sqes;        /* log writes queued (SQEs; a shared write counts once) */
	struct stor_append *dq_head, *dq_tail;  /* written, waiting for an fdatasync (DURABLE) */
	int fail_err;               /* a write failed: reject appends until the tail is repaired */
	bool failing;               /* resolving appends behind a failed one */
	struct stor_segment *fail_seg;
	uint64_t fail_pos;
	int64_t fail_offset;

	/* group commit */
	struct stor_sync *sw_head;  /* stor_sync waiters (unordered) */
	bool flush_wanted;          /* background flush requested (flush.*, roll) */
	bool dir_dirty;             /* a segment file was created: fsync the directory too */
	struct stor_round rounds[STOR_SYNC_ROUNDS];  /* in flight: a ring in issue order */
	unsigned round_first, round_n; /* round_n > 0: descriptors must stay open */
	uint64_t round_seq;         /* rounds issued so far */
	uint64_t round_done;        /* seq of the newest round completed (they complete in order) */
	unsigned round_acks;        /* durable appends the last completed round acknowledged */
	unsigned acks_avg16;        /* durable appends per settled round, x16, moving average */
	uint64_t append_seq;        /* appends accepted so far (stor_append.seq) */
	uint64_t sync_hold;         /* a round is wanted but waits until the appends with seq up to
	                             * this one (writes issued before it was wanted) are resolved */
	int64_t unflushed;          /* messages since the last flush (flush.messages) */
	int64_t last_flush_ms;

	bool offline;
	int inflight;               /* SQEs in flight for this log */

	struct stor_watch *watches;

	int64_t max_ts, max_ts_off; /* over all segments; -1 when none */

	/* the next segment's files, created ahead through the ring (spare.c) */
	int spare_fd[STOR_SPARE_FILES];         /* -1: not (yet) open; only [0], the .log, stays
	                                         * open once made (fds.c) */
	bool spare_made[STOR_SPARE_FILES];      /* [1..3]: made (empty) and closed again */
	struct stor_spare_op spare_op[STOR_SPARE_FILES + 1];  /* [4]: the directory's open at a roll */
	char *spare_src[STOR_SPARE_FILES + 1];  /* full names, alive until the CQE ([4]: the dir) */
	char *spare_dest[STOR_SPARE_FILES];     /* rename targets, alive until the CQE */
	int spare_opening, spare_renaming;
	bool spare_failed;          /* an open failed: rolls create their files themselves */
	uint8_t *read_win;          /* a STOR_READ_WINDOW buffer kept for the next
	                             * stor_log_read_start (read.c), or NULL */
	/* The headers of the batches appended last to the active segment (read.c): a walk finds
	 * them here instead of reading the file, so a consumer at the tail costs no header read. */
	struct stor_recent *rh;     /* STOR_RECENT entries, a ring (malloc'ed at the first append) */
	struct stor_segment *rh_seg; /* the segment they are of (the active one), or NULL */
	unsigned rh_head, rh_n;     /* the next slot; how many are valid */
	/* A roll waiting for the spare files (append.c): appends accepted meanwhile are held with
	 * no segment and go to the new one, in offset order, once the spares are open. */
	bool roll_wait;
	int64_t roll_base;          /* the new segment's base offset */
	uint64_t roll_wait_bytes;   /* bytes held for it (at most segment.bytes) */

	/* preallocation (prealloc.c) */
	struct stor_pa_op pa;
	uint64_t lt_pa_issued;      /* lat_trace: zero chunks issued */
	uint64_t lt_pa_start;
	uint64_t spare_zeroed;      /* spare.log.tmp: [0, spare_zeroed) durable zeros */
	uint64_t spare_file_end;
	bool spare_pa_stop;
	bool pa_held;               /* appends wait for the zero chunk in flight */
	int trims;                  /* segments whose trim (ftruncate + fdatasync) is in flight */
	int64_t pa_win_ms;          /* append rate: start of the current window */
	uint64_t pa_win_bytes;      /* bytes appended in it */
	bool pa_win_durable;        /* a durable append was among them */
	bool pa_durable;            /* the last whole window had one */
	uint64_t pa_rate;           /* bytes/s over the last whole window */
	uint64_t pa_win_round;      /* round_seq when the window began */
	uint64_t pa_round_bytes;    /* bytes per group-commit round over the last window (0: none) */
	struct rt_ioop fa_op;       /* the one fallocate in flight per log (prealloc.c) */
	struct stor_segment *fa_seg; /* its segment, NULL when none is in flight */
	uint64_t fa_hi;             /* it reserves up to here */
	int32_t fa_inj;             /* fault layer: the result in place of its own, 0 = none */
	bool fa_off;                /* the file system refused one: no more for this log */

	/* compaction (compact.c, cleaner.c) */
	int64_t clean_point;        /* Kafka's cleaner checkpoint: offsets below were cleaned */
	struct stor_clean_job *clean_job; /* the job out on a cleaner thread, or NULL */
	int64_t clean_ratio;        /* last dirty ratio seen, in millionths (for logs/tests) */
	int64_t delete_horizon;     /* the latest delete horizon the last cleaning left in a kept
	                             * batch (wall ms), 0 when none (compact.c: cleaned again once it
	                             * passes) */
	bool horizon_known;         /* delete_horizon covers the batches below the clean point: false
	                             * from open until a cleaning or a horizon scan read them (the
	                             * horizons themselves are in the batches, KIP-534) */
	int64_t last_stable;        /* the last stable offset the owner last gave (lso_known) */
	bool lso_known;             /* false until stor_log_set_last_stable: nothing bounds cleaning */
	const struct stor_pstate *pstate; /* the owner's producer state (stor_log_set_producers), or NULL */

	stor_roll_fn roll_hook;     /* borrowed */
	void *roll_arg;

	struct stor_bg *bg;         /* the shard's file worker (stor_log_set_bg; borrowed), or NULL */
	struct stor_cut *cut;       /* a cut whose files are being cut (truncate.c), or NULL */
	int holds;                  /* > 0: appends refused with -EAGAIN (a producer-state rebuild
	                             * after a cut, pstate_rebuild.c) */

	/* Lowest offset whose aborted transactions must be re-derived from the log (recovery
	 * scanned from there, or a .txnindex was missing); INT64_MAX when none (aborted.c). */
	int64_t txn_rebuild_from;
};

/* Segment array helpers (log.c). */
int stor_log_push_segment(struct stor_log *log, struct stor_segment *s);
struct stor_segment *stor_log_active(const struct stor_log *log);
/* Index of the segment that holds `offset` (largest base <= offset), or -1. */
ssize_t stor_log_find_segment(const struct stor_log *log, int64_t offset);
/* Publishes recovery point / log start for the directory's checkpoint thread. */
void stor_log_publish(struct stor_log *log);
/* Recomputes the log's max timestamp from its segments. */
void stor_log_recompute_max_ts(struct stor_log *log);
/* Drops leader-epoch entries that start at or past `end` (truncation), in memory: true when
 * some were dropped (then leader-epoch-checkpoint must be written again).  No I/O. */
bool stor_log_trim_epochs(struct stor_log *log, int64_t end);
/* leader-epoch-checkpoint's text for the log's entries: malloc'ed (the caller frees), its length
 * in *len; NULL on ENOMEM. */
char *stor_log_epochs_text(const struct stor_log *log, size_t *len);
/* Takes the partition offline with a log line (failed fdatasync or repair). */
void stor_log_go_offline(struct stor_log *log, const char *what, int err);

/* Gets an SQE from the log's ring, submitting once when the SQ is full.  NULL only when the
 * ring is unusable. */
struct io_uring_sqe *stor_get_sqe(struct stor_log *log);
/* True when n SQEs can be taken from the log's ring now (submitting what is queued first when
 * needed), so that a linked or all-or-none set is never half prepared. */
bool stor_sq_reserve(struct stor_log *log, unsigned n);
/* Closes fd through the log's ring (IORING_OP_CLOSE; its completion is ignored), or with
 * close(2) when the ring has no room.  Nothing may use fd afterwards. */
void stor_close_async(struct stor_log *log, int fd);

/* append.c */
void stor_append_resolve(struct stor_log *log);
/* a's write, or its share of a shared write (coalesce.c), completed with res (bytes, or -errno):
 * a is written, asks again for the rest of a short write (as a write of its own), or fails.
 * The caller resolves the queue afterwards.  True when a is written whole now. */
bool stor_append_wrote(struct stor_log *log, struct stor_append *a, int32_t res);
/* a's write is made again from a->written, by itself (its share of a shared write was cut off
 * before it began): queued, or a fails. */
void stor_append_retry(struct stor_log *log, struct stor_append *a);

/* Counts a write (or a pass's, coalesce.c) in flight from now: s's, the log's, the thread's
 * (stor_io_in_flight).  Its completion takes them back (stor_append_write_back and the two
 * counters). */
void stor_append_write_start(struct stor_log *log, struct stor_segment *s);
/* Queues a's write (a pass member of coalesce.c, never written yet), with the fdatasync linked
 * to it when `link` (stor_sync_can_link said yes).  counted: stor_append_write_start was
 * called for it.  0, or -EBUSY when the ring has no SQE: then a failed (the caller resolves the
 * queue) and its count, when counted, is taken back. */
int stor_append_issue(struct stor_log *log, struct stor_append *a, bool link, bool counted);

/* coalesce.c: the appends a log accepts in one pass of the owner's loop share a write.
 * a (accepted, placed at its segment's end, not held, no fault to inject, not yet in wq) joins
 * the log's pass when it continues it, or starts one: true, and stor_ring_flush writes it.
 * False: a needs a write of its own now. */
bool stor_wc_collect(struct stor_log *log, struct stor_append *a);
/* Frees the log's spare shared-write objects (close; none may be in flight). */
void stor_wc_free(struct stor_log *log);
int stor_log_roll(struct stor_log *log);

/* spare.c: queues the spare files' creation (when none are open or pending). */
void stor_spare_prepare(struct stor_log *log);
/* stor_spare_prepare once the active segment is half way to its roll (see spare.c); a no-op
 * before, so that an idle partition holds no spare descriptors. */
void stor_spare_prepare_due(struct stor_log *log);
/* The next segment on the spare files (their renames queued), or NULL (then *err is 0: create
 * the files the blocking way; or -errno). */
struct stor_segment *stor_spare_take(struct stor_log *log, int64_t base, int *err);
/* True when a roll can take the spare files now. */
bool stor_spare_ready(const struct stor_log *log);
/* True while a taken spare's renames are in flight: no group commit may start. */
bool stor_spare_busy(const struct stor_log *log);
/* Closes and unlinks spare files not taken (log close; blocking). */
void stor_spare_discard(struct stor_log *log);

/* prealloc.c: keeping the active segment's file zero-filled ahead of its appends.
 * Whether the running kernel can cut files through io_uring (IORING_OP_FTRUNCATE); without it
 * nothing is preallocated. */
bool stor_pa_supported(void);
/* Append a (borrowed) goes to a->seg at a->pos (the segment's size not yet advanced): counts it
 * for the rate (and whether it is durable) and returns true when its write must wait for the
 * zero chunk in flight (it overlaps it). */
bool stor_pa_place(struct stor_log *log, const struct stor_append *a);
/* Queues the next zero chunk (active segment first, then the spare) or a sealed segment's trim
 * when due and nothing is in flight, and the active segment's next block reservation. */
void stor_pa_kick(struct stor_log *log);
/* Zero chunks of the calling thread's logs in flight (0 or 1: one at a time per thread). */
unsigned stor_pa_chunks_in_flight(void);
/* A sealed segment whose file is longer than its size (or with blocks reserved past it): queue the trim (ftruncate + fdatasync
 * through the ring) unless a zero chunk for it is in flight (its completion queues it). */
void stor_pa_trim(struct stor_log *log, struct stor_segment *s);
/* The spare .log becomes segment s: its zeros and any chunk in flight go with it. */
void stor_pa_take_spare(struct stor_log *log, struct stor_segment *s);
/* s was cut back to pos (truncation, repair). */
void stor_pa_cut(struct stor_log *log, struct stor_segment *s, uint64_t pos);
/* Blocking trim of a segment's file to its size (close).  0 or -errno. */
int stor_pa_trim_sync(struct stor_segment *s);
/* True when the file bytes [pos, end) are all zero (recovery: a preallocated tail).  Blocking
 * pread; a read error counts as not zero. */
bool stor_pa_zero_tail(int fd, uint64_t pos, uint64_t end);
/* append.c: submits the writes of appends that waited for a zero chunk. */
void stor_append_release_held(struct stor_log *log);
/* append.c: finishes a roll that waited for the spare files (their opens are done, or failed:
 * then the files are created the blocking way). */
void stor_roll_resume(struct stor_log *log);

/* sync.c: issue an fdatasync round when a waiter is covered by the LEO and none is in flight. */
void stor_sync_kick(struct stor_log *log);
/* Appends' writes (one per SQE, a shared one of coalesce.c included) of the calling thread's
 * logs whose completion is not back (append.c); each completion calls stor_append_write_back. */
unsigned stor_append_writes_in_flight(void);
void stor_append_write_back(void);
/* The seq of the newest round in flight, or 0 when none is. */
uint64_t stor_sync_newest_round(const struct stor_log *log);
/* Whether the write of the appends from `first` on (n of them, the log's pass: coalesce.c), or
 * with first NULL of one durable append not queued yet, may carry an fdatasync linked to it:
 * they are every unresolved append of the log (so every earlier write is in the page cache
 * before theirs is submitted), a round slot is free, a lone append only when the last round
 * acknowledged at most one (no concurrent producers to group: they come together after a round,
 * and linking the first would split them), and no fault point is armed (the fault tests keep the
 * plain rounds).  Reserves the two SQEs the pair needs. */
bool stor_sync_can_link(struct stor_log *log, const struct stor_append *first, unsigned n);
/* Called right after a's write SQE was prepared with IOSQE_IO_LINK (stor_sync_can_link said
 * yes; a is the last append the write covers): queues the linked fdatasync of a's segment up to
 * a's end in the very next SQE and issues the round it belongs to (with every other fdatasync a
 * plain round would need), targeting a's last offset; sets a's link_seq.  The write's
 * completion must then call stor_sync_link_written. */
void stor_sync_link(struct stor_log *log, struct stor_append *a);
/* a's linked write completed whole: the fdatasync chained to it starts now (fault trace). */
void stor_sync_link_written(struct stor_log *log, struct stor_append *a);
/* Settles the rounds that completed, in issue order (durable offset, recovery point, waiters),
 * unless a zero chunk or a trim is in flight (prealloc.c calls it again when that is back). */
void stor_sync_settle(struct stor_log *log);
void stor_sync_fail_all(struct stor_log *log, int err);

/* read.c: fire watches below the LEO. */
void stor_watch_fire(struct stor_log *log);

/* recover.c: loads and recovers the segments of an opened log.  Blocking. */
int stor_recover(struct stor_log *log, int64_t recovery_point, bool clean);
/* Scans one segment from `from` (a batch boundary) to its end, checking every batch, rebuilding
 * index entries from there, and truncating an invalid tail.  *dropped gets the bytes cut. */
int stor_recover_scan(struct stor_log *log, struct stor_segment *s, uint64_t from, int64_t expect,
                      uint64_t *dropped, const char **why, char *claim, size_t claim_n);

/* retention.c: removes segs[0..n) from the log and queues them for unlinking. */
void stor_retire_head(struct stor_log *log, size_t n);
/* Puts a segment that left the log on its grave list (marked deleted), to be closed (and, unless
 * replaced, unlinked) by stor_reap once no reader, write or group-commit round can use it. */
void stor_grave_push(struct stor_log *log, struct stor_segment *s);
void stor_reap(struct stor_log *log);
/* truncate.c: cuts the log back to `offset`, at file position pos of segs[i] (a batch
 * boundary), dropping every segment after it.  The log's memory is cut before this returns; its
 * files are cut by a job on log->bg's worker (on this thread, blocking, without one), `sync`
 * (explicit truncation) making the cut durable and rewriting the leader-epoch checkpoint.  Then
 * the roll hook runs (truncated) and done(log, arg, err) is called on the owner shard exactly
 * once (before this returns without a worker and spare renames in flight): err 0, or -errno
 * (memory and files disagree: the caller takes the partition offline).
 * Until then log->cut is set, the log is not idle, and nothing may be appended. */
typedef void (*stor_cut_fn)(struct stor_log *log, void *arg, int err);
void stor_truncate_at(struct stor_log *log, size_t i, uint64_t pos, int64_t offset, bool sync,
                      stor_cut_fn done, void *arg);
/* Starts the file work of a cut that waited for the spare files' renames (spare.c calls it
 * when the last one is back). */
void stor_truncate_resume(struct stor_log *log);

/* compact.c: one cleaning, in three steps.  prepare (owner shard) takes the cleanable section
 * and pins its segments; run (any thread, blocking file I/O, touches only the job and the pinned
 * segments' descriptors) maps keys, writes and swaps the cleaned files; install (owner shard)
 * puts the cleaned segments in the log, unpins, advances the clean point and frees the job. */
struct stor_clean_in {
	struct stor_segment *seg;   /* pinned (refs) from prepare to install */
	int64_t base;
	uint64_t size;
	int64_t max_ts;
	struct stor_segment *out;   /* the cleaned segment, swapped in on disk; NULL = unchanged */
	struct stor_txnidx *txn_out; /* with out: its .txnindex (owned until install) */
};
/* An active producer as a cleaning sees it (stor_log_set_producers): the last offset of its
 * last data batch (-1: none, keep its last marker of `epoch` instead). */
struct stor_clean_producer {
	int64_t pid;
	int64_t last_data;
	int16_t epoch;
};
struct stor_clean_job {
	struct stor_bg_job bg;      /* the cleaner runs it on its worker (storage/bg.h) */
	struct stor_log *log;
	struct stor_clean_job *next;
	void *cleaner;              /* the stor_cleaner that runs it, or NULL */
	struct stor_config cfg;     /* copies: the thread never reads the log's own */
	int dfd;                    /* the log's directory: the job's own, open while it runs */
	const char *path;           /* the log's directory path (lives as long as the log) */
	struct stor_dir *dir;       /* for its checkpoint (thread-safe) */
	const char *name;           /* the log's name (idem) */
	int64_t now_ms, map_limit, io_bps;
	int64_t first_dirty, end;
	struct stor_clean_in *in;
	size_t nin, dirty_from;     /* in[dirty_from..nin) hold the dirty section */
	struct stor_aborted_txn *aborted; /* owned: the aborted transactions overlapping the job's
	                             * segments, from every .txnindex, by first offset */
	size_t naborted;
	struct stor_clean_producer *active; /* owned: the active producers, when active_known */
	size_t nactive;
	bool active_known;          /* false: every producer met in the log counts as active */
	int err;
	int64_t map_end;            /* the new clean point */
	int64_t latest_horizon;     /* the latest delete horizon of a batch kept (0: none) */
	bool scan;                  /* a horizon scan: reads the clean segments' batch headers for
	                             * latest_horizon, writes nothing (compact.c) */
	struct stor_compact_stats st;
	_Atomic bool *cancel;       /* may be NULL */
	const _Atomic int64_t *io_rate; /* the cleaner's current io rate, read at each batch (it
	                             * may change while the job runs); NULL: io_bps */
};
struct stor_clean_job *stor_clean_prepare(struct stor_log *log, int64_t now_ms, int64_t map_limit,
                                          int *err);
void stor_clean_run(struct stor_clean_job *j);
int stor_clean_install(struct stor_clean_job *j, struct stor_compact_stats *st);

/* dir.c: the directory's registry of open logs and checkpoint values read at open. */
int64_t stor_dir_lookup(struct stor_dir *d, const char *file, const char *topic, int32_t partition,
                        int64_t dflt);
bool stor_dir_clean(struct stor_dir *d);
/* -EBUSY when that partition is open already (one owner per partition). */
int stor_dir_register(struct stor_dir *d, struct stor_log *log);
void stor_dir_unregister(struct stor_dir *d, struct stor_log *log);
/* Unregisters a log that failed to open, without recording its values. */
void stor_dir_unregister_only(struct stor_dir *d, struct stor_log *log);
void stor_dir_mark_unclean(struct stor_dir *d);
/* Drops a deleted partition's checkpoint values. */
void stor_dir_forget(struct stor_dir *d, const char *topic, int32_t partition);
int stor_fsync_dir(const char *path);
/* Opens the checkpoint file `name` of directory dirfd and reads Kafka's header (version 0, then
 * the number of entries, 0..max): 0 with *f open at the first entry (the caller fcloses it) and
 * *n set, or 0 with *f NULL when there is no such file; -EBADMSG when the header is not that
 * (nothing left open), or -errno.  Blocking. */
int stor_ck_open(int dirfd, const char *name, long max, FILE **f, long *n);

#endif
