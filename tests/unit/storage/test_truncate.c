/* Unit tests for storage/truncate.c: a cut's file calls run on the shard's file worker
 * (stor_log_set_bg), not on the caller's thread, while the log's memory is cut at once: an
 * explicit truncation (stor_log_truncate_start) and the repair after a failed write, each held
 * behind a worker job the test releases, so the files can be seen uncut until the worker runs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/bg.h"
#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static struct stor_bg *bg;
static size_t blen;

static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 1024;
	t.cfg.index_interval_bytes = 256;
	t.cfg.prealloc_window_ms = 0;   /* file sizes are the data's */
	int err;
	bg = stor_bg_create(&t.ring, &err);
	cr_assert_not_null(bg);
	stor_fault_clear();
}

static void teardown(void)
{
	stor_fault_clear();
	stor_bg_destroy(bg);
	t_teardown(&t);
}

TestSuite(stor_truncate, .init = setup, .fini = teardown);

/* A job that keeps the worker busy until released: what is queued behind it waits. */
struct blocker {
	struct stor_bg_job j;
	atomic_bool go;
	bool back;
};
static void block_run(struct stor_bg_job *j)
{
	struct blocker *b = (struct blocker *)j;
	while (!atomic_load(&b->go)) usleep(1000);
}
static void block_done(struct stor_bg_job *j, int32_t res)
{
	(void)res;
	((struct blocker *)j)->back = true;
}

static struct stor_log *open_filled(int batches)
{
	struct stor_log *lg = t_open(&t, "cut");
	stor_log_set_bg(lg, bg);
	for (int i = 0; i < batches; i++) {
		uint8_t *b = t_batch(3, 1000 + i * 3, 20, &blen);
		cr_assert_eq(t_append(&t, lg, b, blen, 0, NULL), 0);
		free(b);
	}
	t_run_idle(&t.ring, lg);
	return lg;
}

static long long file_size(int64_t base)
{
	char p[512];
	snprintf(p, sizeof p, "%s/cut-0/%020lld.log", t.dir, (long long)base);
	return t_file_size(p);
}

struct t_trunc {
	struct stor_trunc_op op;
	bool done;
	int err;
};
static void on_trunc(struct stor_trunc_op *op, int err)
{
	struct t_trunc *x = (struct t_trunc *)op;
	x->done = true;
	x->err = err;
}

Test(stor_truncate, files_are_cut_on_the_worker_memory_at_once)
{
	struct stor_log *lg = open_filled(12);
	cr_assert_eq(stor_log_set_leader_epoch(lg, 3), 0);   /* epoch 3 starts at offset 36 */
	for (int i = 0; i < 28; i++) {
		uint8_t *b = t_batch(3, 2000 + i * 3, 20, &blen);
		cr_assert_eq(t_append(&t, lg, b, blen, 0, NULL), 0);
		free(b);
	}
	t_run_idle(&t.ring, lg);
	size_t nseg = stor_log_segment_count(lg);
	cr_assert(nseg > 3, "several segments (%zu)", nseg);
	int64_t last_base = stor_log_active(lg)->base;
	long long seg0 = file_size(0);
	cr_assert(seg0 > (long long)(3 * blen));

	struct blocker blk = {0};
	stor_bg_submit(bg, &blk.j, block_run, block_done);
	struct t_trunc x = {.op = {.offset = 10, .done = on_trunc}};
	int rc = stor_log_truncate_start(lg, &x.op);
	cr_assert_eq(rc, -EINPROGRESS);
	/* The batch holding 10 is found through the ring; then the cut waits behind the blocker. */
	for (int i = 0; i < 100 && !lg->cut; i++) t_run_once(&t.ring);
	cr_assert_not_null(lg->cut, "the cut is queued on the worker");
	cr_expect_eq(stor_log_end_offset(lg), 9, "memory is cut at once, whole batches (9..11 goes)");
	cr_expect_eq(stor_log_segment_count(lg), 1);
	cr_expect(!stor_log_idle(lg), "the cut in flight keeps the log busy");
	cr_expect_eq(file_size(0), seg0, "no file call on this thread: the .log is not cut yet");
	cr_expect(file_size(last_base) >= 0, "nor the segments cut off unlinked");
	cr_expect(!x.done);
	/* Ten days on, everything is due for retention, yet nothing rolls or goes meanwhile. */
	cr_expect_eq(stor_log_tick(lg, stor_now_ms() + 10LL * 86400 * 1000), 0);
	cr_expect_eq(stor_log_segment_count(lg), 1);
	cr_expect_eq(stor_log_active(lg)->base, 0);

	atomic_store(&blk.go, true);
	t_run_until(&t.ring, &x.done);
	cr_assert_eq(x.err, 0);
	t_run_until(&t.ring, &blk.back);
	cr_expect_eq(file_size(0), (long long)(3 * blen), "the worker cut the .log at the batch");
	cr_expect_eq(file_size(last_base), -1, "and unlinked the segments cut off");
	cr_expect_eq(stor_log_durable_offset(lg), 9, "durable when done");
	char p[512], buf[256] = {0};
	snprintf(p, sizeof p, "%s/cut-0/leader-epoch-checkpoint", t.dir);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	cr_expect(n > 0 && !strstr(buf, "3 36"), "epoch 3 (from 36) is gone from the checkpoint: %s", buf);
	cr_expect(strstr(t_lines(), "truncating to offset 9"), "log: %s", t_lines());

	/* Appends go on at 9; a reopen after a crash finds exactly that. */
	uint8_t *b = t_batch(2, 5000, 20, &blen);
	int64_t base;
	cr_assert_eq(t_append(&t, lg, b, blen, STOR_APPEND_DURABLE, &base), 0);
	free(b);
	cr_expect_eq(base, 9);
	cr_expect_eq(t_verify_log(lg, 0), 11);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = t_open(&t, "cut");
	cr_expect_eq(stor_log_end_offset(lg), 11);
	cr_expect_eq(t_verify_log(lg, 0), 11);
	t_close(&t, lg);
}

Test(stor_truncate, nothing_to_cut_and_out_of_range)
{
	struct stor_log *lg = open_filled(4);
	struct t_trunc x = {.op = {.offset = 12, .done = on_trunc}};
	cr_expect_eq(stor_log_truncate_start(lg, &x.op), 0, "at the LEO: nothing to cut");
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 6, &lw), 0);
	t_run_idle(&t.ring, lg);
	x.op.offset = 3;
	cr_expect_eq(stor_log_truncate_start(lg, &x.op), -ERANGE, "below the log start");
	cr_expect(!x.done);
	cr_expect(stor_log_idle(lg));
	t_close(&t, lg);
}

Test(stor_truncate, the_blocking_truncate_cuts_before_it_returns)
{
	struct stor_log *lg = open_filled(8);
	cr_assert_eq(stor_log_truncate(lg, 7), 0);
	cr_expect_eq(stor_log_end_offset(lg), 6);
	cr_expect_eq(file_size(0), (long long)(2 * blen), "cut on this thread, worker or not");
	cr_expect(stor_log_idle(lg));
	t_close(&t, lg);
}

/* The repair after a failed write: the tail is cut on the worker, and appends are refused
 * (KAFKA_STORAGE_ERROR, retriable) until it is. */
Test(stor_truncate, repair_cuts_on_the_worker_and_holds_appends_until_then)
{
	struct stor_log *lg = open_filled(2);   /* offsets 0..5 */
	long long good = file_size(0);
	struct blocker blk = {0};
	stor_bg_submit(bg, &blk.j, block_run, block_done);
	stor_fault_arm(STOR_FAULT_LOG_WRITE, 1, -ENOSPC, 1);
	struct t_app ta[4];
	uint8_t *b[4];
	t_submit_batches(lg, ta, b, 4, 3, 0, 20, 0);
	for (int i = 0; i < 4; i++) t_run_until(&t.ring, &ta[i].done);
	cr_expect_eq(ta[0].err, 0);
	for (int i = 1; i < 4; i++) cr_expect_eq(ta[i].err, -ENOSPC, "append %d", i);
	cr_assert_not_null(lg->cut, "the repair's cut waits on the worker");
	cr_expect_eq(stor_log_end_offset(lg), 9);
	cr_expect(file_size(0) > good + (long long)blen, "the bytes behind the failed write are still there");
	size_t len;
	uint8_t *nb = t_batch(3, 50, 20, &len);
	struct t_app x;
	cr_expect_eq(t_append_submit(lg, &x, nb, len, 0), -ENOSPC, "no append before the tail is cut");

	atomic_store(&blk.go, true);
	t_run_until(&t.ring, &blk.back);
	t_run_idle(&t.ring, lg);
	cr_expect_null(lg->cut);
	cr_expect_eq(file_size(0), good + (long long)blen, "cut back to the end of offset 8");
	cr_expect(strstr(t_lines(), "tail cut back to offset 9"), "log: %s", t_lines());
	int64_t base;
	cr_assert_eq(t_append(&t, lg, nb, len, STOR_APPEND_DURABLE, &base), 0);
	cr_expect_eq(base, 9, "appends resume at the first failed offset");
	cr_expect_eq(t_verify_log(lg, 0), 12);
	for (int i = 0; i < 4; i++) free(b[i]);
	free(nb);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = t_open(&t, "cut");
	cr_expect_eq(stor_log_end_offset(lg), 12);
	cr_expect_eq(t_verify_log(lg, 0), 12);
	t_close(&t, lg);
}
