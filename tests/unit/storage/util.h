/* tests/unit/storage/util.h: helpers shared by the storage tests: a scratch log dir, a tiny
 * shard loop that dispatches CQEs exactly as base/ioop.h says, and batch building. */
#ifndef STOR_TEST_UTIL_H
#define STOR_TEST_UTIL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "proto/batch.h"
#include "storage/storage.h"

struct tctx {
	char dir[256];
	struct io_uring ring;
	struct stor_dir *d;
	struct stor_config cfg;
	bool ring_ok;               /* ring set up (t_teardown frees it once) */
	char mnt[256];              /* the tmpfs of t_setup_tmpfs, "" when none */
};

/* Makes a fresh directory under /tmp (or under `parent` when given), a ring, opens the dir. */
void t_setup(struct tctx *t, const char *parent);
/* t_setup on a tmpfs of `size` (mount(8)'s size=, e.g. "512k") mounted for the test on a fresh
 * directory under /tmp: a small file system to fill.  Needs root and mount(2): a failure to
 * mount fails the test, it never skips. */
void t_setup_tmpfs(struct tctx *t, const char *size);
/* Closes the dir (when open), removes the directory tree, frees the ring; unmounts and removes
 * the tmpfs of t_setup_tmpfs.  Safe after a setup that failed half way. */
void t_teardown(struct tctx *t);
/* Writes up to n bytes ('z') to path, created or truncated: as many as fit. */
void t_fill_file(const char *path, size_t n);
/* Opens partition 0 of `topic` in t's dir with t's config and ring; asserts it opened.
 * Returns the open log (closed by t_close or the caller). */
struct stor_log *t_open(struct tctx *t, const char *topic);
/* Removes a directory tree. */
void t_rmtree(const char *path);

/* Submits, waits for at least one completion and dispatches what is there. */
void t_run_once(struct io_uring *ring);
/* Runs the loop until *flag becomes true (or the log is idle when flag is NULL). */
void t_run_until(struct io_uring *ring, volatile bool *flag);
void t_run_idle(struct io_uring *ring, struct stor_log *log);
/* Runs the loop until *flag becomes true or `ms` milliseconds have passed; returns *flag.  For
 * waits that a bug would make endless (nothing left in flight to wake t_run_until). */
bool t_run_for(struct io_uring *ring, volatile bool *flag, int ms);

/* A batch of n records with values of vsize bytes ('a' + i) and timestamps ts, ts+1, ...;
 * returns malloc'ed bytes. */
uint8_t *t_batch(int n, int64_t ts, size_t vsize, size_t *len);
/* Concatenation of k such batches. */
uint8_t *t_batches(int k, int n, int64_t ts, size_t vsize, size_t *len);
/* t_batch's batch from producer pid at epoch, base sequence seq (transactional when txn), its
 * CRC recomputed; malloc'ed. */
uint8_t *t_producer_batch(int n, int64_t ts, size_t vsize, int64_t pid, int16_t epoch, int32_t seq, bool txn,
                          size_t *len);
/* A control batch ending pid's transaction (a commit or an abort marker, coordinator epoch
 * coord_epoch, timestamp ts); malloc'ed, its length in *len. */
uint8_t *t_marker_batch(int64_t pid, int16_t epoch, bool commit, int32_t coord_epoch, int64_t ts, size_t *len);

/* An append the test waits for. */
struct t_app {
	struct stor_append a;
	bool done;
	int err;
};
/* Submits (info from kp_records_validate).  Returns stor_log_append's result. */
int t_append_submit(struct stor_log *log, struct t_app *ta, uint8_t *buf, size_t len, unsigned flags);
/* Submits n batches without waiting: batch i has `recs` records with values of vsize bytes and
 * timestamps from ts + i; b[i] gets its bytes (malloc'ed, the caller frees them once ta[i] is
 * done).  Asserts that every submit is accepted; returns the length of one batch. */
size_t t_submit_batches(struct stor_log *log, struct t_app *ta, uint8_t **b, int n, int recs, int64_t ts,
                        size_t vsize, unsigned flags);
/* Submits and waits; returns the completion error (or the submit error). */
int t_append(struct tctx *t, struct stor_log *log, uint8_t *buf, size_t len, unsigned flags,
             int64_t *base);

/* Drives the ring until the log is idle, then closes it. */
int t_close(struct tctx *t, struct stor_log *log);

/* Reads the whole file range of a read into malloc'ed memory. */
uint8_t *t_read_range(const struct stor_read *r);

/* One batch as t_each_batch hands it over: its header and bytes (valid during the call only),
 * and an arena for decoding its records (reset after each read of the log). */
struct t_batch_view {
	struct kp_batch_hdr h;
	const uint8_t *p;
	size_t size;
	struct rt_arena *arena;
};
/* Reads log from its start offset up to its end and calls fn(ctx, v) for every batch, in offset
 * order, once the batch's framing, CRC and header are checked (a failed check fails the test).
 * A compacted log may end below its end offset: the walk stops at the last batch. */
void t_each_batch(struct stor_log *log, void (*fn)(void *ctx, const struct t_batch_view *v), void *ctx);

/* Size of a file, -1 when missing. */
long long t_file_size(const char *path);
/* Captured log lines (stor_set_log_line sink), newline-joined; t_lines_reset clears. */
const char *t_lines(void);
void t_lines_reset(void);

#endif

#ifndef STOR_TEST_UTIL_H2
#define STOR_TEST_UTIL_H2
/* Closes and reopens t->d; with `crash` the clean-shutdown marker is removed first, as if the
 * process had died (every log of the dir must be closed). */
void t_reopen_dir(struct tctx *t, bool crash);
/* Appends n batches of `recs` records (values of vsize bytes), waiting for each. */
void t_fill(struct tctx *t, struct stor_log *log, int n, int recs, size_t vsize);
/* Reads every batch from offset `from` to the LEO; checks CRCs and offsets; returns the count
 * of records seen. */
int64_t t_verify_log(struct stor_log *log, int64_t from);
#endif
