/*
 * storage/fault.h: the storage fault layer, for tests.
 *
 * io_uring submissions bypass LD_PRELOAD wrappers, so storage asks this layer at each numbered
 * point before preparing an SQE.  An armed point turns the operation into a failure the
 * completion path cannot tell from a real one: a failed write or fdatasync completes with the
 * armed -errno (the SQE becomes a NOP whose result is replaced), a short write really writes
 * only the first half of the buffer.  SQLite's numbered fault points are the model: a test can
 * sweep "fail the n-th operation at point p" over n.  A point may also hold its operation in
 * flight until the test releases it (stor_fault_hold), for a deterministic order of completions.
 *
 * The state is per thread (a shard, or a test's main thread).
 */
#ifndef STOR_FAULT_H
#define STOR_FAULT_H

#include <stdbool.h>
#include <stdint.h>

enum stor_fault_point {
	STOR_FAULT_LOG_WRITE = 0,   /* a record write to a .log file */
	STOR_FAULT_INDEX_WRITE = 1, /* an index entry write */
	STOR_FAULT_FSYNC = 2,       /* an fdatasync of a group commit */
	STOR_FAULT_SEG_CREATE = 3,  /* creating the files of a new segment (roll) */
	STOR_FAULT_TRUNCATE = 4,    /* cutting a .log file back (the repair after a failed write,
	                             * stor_log_truncate): the ftruncate is not made */
	STOR_FAULT_READ_HDR = 5,    /* a read of batch headers through the ring (stor_log_read_start,
	                             * the fetch path) */
	STOR_FAULT_PA_ZERO = 6,     /* a zero chunk written ahead of the appends (prealloc.c); its
	                             * linked fdatasync is then cancelled, as the kernel does */
	STOR_FAULT_PA_SYNC = 7,     /* the fdatasync linked to a zero chunk */
	STOR_FAULT_TRIM = 8,        /* the ftruncate that cuts a rolled segment's zeros off at roll
	                             * (prealloc.c); its linked fdatasync is then cancelled */
	STOR_FAULT_TRIM_SYNC = 9,   /* the fdatasync linked to that ftruncate */
	STOR_FAULT_READ_COPY = 10,  /* a read of a fetch range's records into memory through the ring
	                             * (ringtail.fetch.zero.copy=false) */
	STOR_FAULT_READ_PREAD = 11, /* a pread of batch headers by the blocking stor_log_read
	                             * (start-up, truncation, producer state recovery) */
	STOR_FAULT_PA_FALLOC = 12,  /* the fallocate that reserves the active segment's blocks ahead
	                             * of its appends (prealloc.c) */
	STOR_FAULT_SPARE_RENAME = 13, /* the rename of a roll's spare .log into place (spare.c); holds
	                             * only (stor_fault_hold), it takes no -errno */
	STOR_FAULT_NPOINTS
};

/* Result to inject for a short write (half the bytes are written, the rest left to a retry):
 * STOR_FAULT_LOG_WRITE and STOR_FAULT_PA_ZERO.  The other points take a -errno only. */
#define STOR_FAULT_SHORT 1

/* Arms point p: after `skip` more operations pass, the next `count` operations get `res`
 * (a -errno such as -ENOSPC or -EIO, or STOR_FAULT_SHORT for writes). */
void stor_fault_arm(enum stor_fault_point p, uint32_t skip, int32_t res, uint32_t count);
/* Chains a second fault to point p: once the `count` operations armed by stor_fault_arm have
 * had theirs, the next `count` operations get `res`.  A short write followed by -ENOSPC for its
 * rest is a disk that fills up in the middle of a write. */
void stor_fault_arm_then(enum stor_fault_point p, int32_t res, uint32_t count);
/* Disarms every point. */
void stor_fault_clear(void);
/* How many operations have reached point p since the last clear (for sweeps). */
uint64_t stor_fault_seen(enum stor_fault_point p);

/* Holds operations at point p in flight: after `skip` more pass, the next `count` are queued
 * behind a gate (a poll of an eventfd linked before the operation's SQE), so the kernel starts
 * them only once the test calls stor_fault_release.  For orderings that the kernel's timing
 * decides otherwise, such as a roll that comes while the previous roll's renames are still in
 * flight.  The points that honour it say so above; the operation's completion stays in flight
 * meanwhile, so a held log is not idle: release before waiting for idle or closing. */
void stor_fault_hold(enum stor_fault_point p, uint32_t skip, uint32_t count);
/* Opens the gate: the operations held so far go on.  Those held by a later stor_fault_hold wait
 * for the next release.  stor_fault_clear releases too. */
void stor_fault_release(void);
/* Internal: storage calls this at a point that honours holds; returns the gate's descriptor, to
 * poll for POLLIN in an SQE linked before the operation's, or -1 to go ahead. */
int stor_fault_gate(enum stor_fault_point p);

/* Internal: whether any point is armed (storage then keeps to paths the fault tests know). */
bool stor_fault_armed(void);
/* Internal: storage calls this at point p; returns 0 (go ahead) or the result to inject. */
int32_t stor_fault_check(enum stor_fault_point p);

/* The trace, for power-loss simulation: what reached the disk and what an fdatasync covers.
 * WRITE_DONE: a record write to a .log file completed with `len` bytes at `pos` of fd.
 * SYNC_ISSUE: group-commit round number `pos` queued an fdatasync of fd (it covers the writes of
 * fd that completed before).  SYNC_DONE / SYNC_FAILED: round `pos`'s fdatasyncs all completed,
 * or one failed.  Rounds of one log may be in flight together and complete in any order.
 * SYNC_RANGE: see the enum.  Per thread, like the fault points; fn NULL turns it off. */
enum stor_trace_ev {
	STOR_TRACE_WRITE_DONE, STOR_TRACE_SYNC_ISSUE, STOR_TRACE_SYNC_DONE, STOR_TRACE_SYNC_FAILED,
	STOR_TRACE_SYNC_RANGE,  /* the fdatasync of fd just reported by SYNC_ISSUE covers only the
	                         * bytes [pos, len) of it (a ranged fdatasync, sync.c) */
};
typedef void (*stor_trace_fn)(void *arg, enum stor_trace_ev ev, int fd, uint64_t pos, uint64_t len);
void stor_fault_set_trace(stor_trace_fn fn, void *arg);
/* Internal: storage reports an event (no-op without a trace). */
void stor_fault_trace(enum stor_trace_ev ev, int fd, uint64_t pos, uint64_t len);

#endif
