/* Unit tests for storage/coalesce.c: the appends accepted in one pass (before stor_ring_flush)
 * share one writev and one group-commit round (its fdatasync linked to the write); an append
 * that comes after the pass's end writes by itself; a shared write cut short by a full disk
 * acknowledges the members it covered whole, fails the rest, and the log goes on from the first
 * failed offset once space is back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;

static void setup(void) { t_setup(&t, NULL); stor_fault_clear(); }
static void teardown(void) { stor_fault_clear(); t_teardown(&t); }

TestSuite(stor_coalesce, .init = setup, .fini = teardown);

/* n durable appends queued in one pass (as the owner accepts producers answered by one round);
 * runs until all are done and returns the log writes and rounds they took. */
static void burst(struct stor_log *lg, int n, int64_t first, uint64_t *writes, uint64_t *rounds)
{
	struct t_app ta[16];
	uint8_t *b[16];
	cr_assert_leq(n, 16);
	uint64_t w0 = lg->write_sqes, r0 = lg->round_seq, f0 = stor_fault_seen(STOR_FAULT_FSYNC);
	t_submit_batches(lg, ta, b, n, 3, 1700000000000LL, 16000, STOR_APPEND_DURABLE);
	for (int i = 0; i < n; i++) {
		t_run_until(&t.ring, &ta[i].done);
		cr_expect_eq(ta[i].err, 0, "append %d", i);
		cr_expect_eq(ta[i].a.base_offset, first + 3 * i);
		cr_expect_gt(stor_log_durable_offset(lg), ta[i].a.last_offset);
		free(b[i]);
	}
	*writes = lg->write_sqes - w0;
	*rounds = lg->round_seq - r0;
	cr_expect_eq(stor_fault_seen(STOR_FAULT_FSYNC) - f0, *rounds);
}

Test(stor_coalesce, appends_queued_together_share_one_write_and_one_round)
{
	struct stor_log *lg = t_open(&t, "wc8");
	uint64_t w, r;
	/* An idle log: the eight are all it has unresolved, so their writev carries the
	 * fdatasync linked to it. */
	burst(lg, 8, 0, &w, &r);
	cr_expect_eq(w, 1, "8 appends queued together took %llu writes", (unsigned long long)w);
	cr_expect_eq(r, 1, "and %llu rounds", (unsigned long long)r);
	/* The last round acknowledged eight (a lone append would not be linked now): the eight
	 * together are, all the same. */
	burst(lg, 8, 24, &w, &r);
	cr_expect_eq(w, 1, "8 appends queued together took %llu writes", (unsigned long long)w);
	cr_expect_eq(r, 1, "and %llu rounds", (unsigned long long)r);
	cr_expect_eq(t_verify_log(lg, 0), 48);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(t_close(&t, lg), 0);
	/* Byte for byte after a crash-style reopen too. */
	t_reopen_dir(&t, true);
	int err;
	lg = stor_log_open(t.d, "wc8", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	cr_expect_eq(stor_log_end_offset(lg), 48);
	cr_expect_eq(t_verify_log(lg, 0), 48);
	t_close(&t, lg);
}

Test(stor_coalesce, an_append_after_the_pass_writes_by_itself)
{
	struct stor_log *lg = t_open(&t, "wcs");
	size_t len;
	uint8_t *a = t_batch(2, 1700000000000LL, 1000, &len), *b = t_batch(2, 1700000000001LL, 1000, &len);
	struct t_app x, y;
	uint64_t w0 = lg->write_sqes;
	cr_assert_eq(t_append_submit(lg, &x, a, len, 0), 0);
	stor_ring_flush(&t.ring);  /* the pass ends: x's write is queued, whole */
	cr_expect_eq(lg->write_sqes - w0, 1);
	cr_assert_eq(t_append_submit(lg, &y, b, len, 0), 0);
	t_run_until(&t.ring, &x.done);
	t_run_until(&t.ring, &y.done);
	cr_expect(x.err == 0 && y.err == 0);
	cr_expect_eq(lg->write_sqes - w0, 2);
	cr_expect_eq(t_verify_log(lg, 0), 4);
	free(a);
	free(b);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}

Test(stor_coalesce, a_roll_in_the_middle_of_a_pass)
{
	/* Segments of four batches, the first one half full and its spare files ready: the pass's
	 * appends go to three segments.  Those of the new segments do not continue the pass
	 * (another file) and are written by themselves at once (or held for the next roll's
	 * spare files); all are acknowledged, durable and in order. */
	size_t len;
	uint8_t *one = t_batch(2, 1700000000000LL, 1000, &len);
	t.cfg.segment_bytes = (int64_t)(4 * len);
	struct stor_log *lg = t_open(&t, "wcroll");
	for (int i = 0; i < 2; i++) {
		uint8_t *c = t_batch(2, 1700000000000LL, 1000, &len);
		cr_assert_eq(t_append(&t, lg, c, len, STOR_APPEND_DURABLE, NULL), 0);
		free(c);
	}
	free(one);
	t_run_idle(&t.ring, lg);
	struct t_app ta[8];
	uint8_t *b[8];
	uint64_t w0 = lg->write_sqes;
	t_submit_batches(lg, ta, b, 8, 2, 1700000000000LL, 1000, STOR_APPEND_DURABLE);
	cr_expect_eq(stor_log_segment_count(lg), 2, "the roll took the spare files at once");
	cr_expect_geq(lg->write_sqes - w0, 1, "the new segment's first append was not written at once");
	for (int i = 0; i < 8; i++) t_run_until(&t.ring, &ta[i].done);
	for (int i = 0; i < 8; i++) {
		cr_expect_eq(ta[i].err, 0, "append %d: %d", i, ta[i].err);
		cr_expect_eq(ta[i].a.base_offset, 4 + 2 * i);
		free(b[i]);
	}
	cr_expect_geq(stor_log_segment_count(lg), 3);
	cr_expect_eq(stor_log_durable_offset(lg), 20);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	int err;
	lg = stor_log_open(t.d, "wcroll", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	cr_expect_eq(stor_log_end_offset(lg), 20);
	cr_expect_eq(t_verify_log(lg, 0), 20);
	t_close(&t, lg);
}

Test(stor_coalesce, an_append_with_a_fault_to_inject_is_not_joined)
{
	/* The fault layer's points stay per append: the third of five fails alone, the two
	 * before it are written (shared), it and the two behind it fail. */
	struct stor_log *lg = t_open(&t, "wcf");
	struct t_app ta[5];
	uint8_t *b[5];
	stor_fault_arm(STOR_FAULT_LOG_WRITE, 2, -EIO, 1);
	t_submit_batches(lg, ta, b, 5, 2, 1700000000000LL, 1000, 0);
	for (int i = 0; i < 5; i++) t_run_until(&t.ring, &ta[i].done);
	for (int i = 0; i < 5; i++) {
		cr_expect_eq(ta[i].err, i < 2 ? 0 : -EIO, "append %d: %d", i, ta[i].err);
		free(b[i]);
	}
	stor_fault_clear();
	t_run_idle(&t.ring, lg);
	cr_expect_eq(stor_log_end_offset(lg), 4);
	cr_expect_eq(t_verify_log(lg, 0), 4);
	t_close(&t, lg);
}

/* Its own suite: a test's .init runs after its suite's, so under stor_coalesce it would set
 * up a second scratch directory over the first and leak it. */
static void full_setup(void) { t_setup_tmpfs(&t, "512k"); stor_fault_clear(); }

TestSuite(stor_coalesce_full, .init = full_setup, .fini = teardown);

Test(stor_coalesce_full, a_shared_write_cut_short_by_a_full_disk)
{
	int err;
	struct stor_log *lg = stor_log_open(t.d, "wcfull", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	/* Eight appends of about 40 KiB in one shared write, with room for about three of them:
	 * the tmpfs takes what fits, so the writev comes back short. */
	enum { N = 8 };
	struct t_app ta[N];
	uint8_t *b[N];
	struct stat st;
	char filler[512];
	snprintf(filler, sizeof filler, "%s/filler", t.mnt);
	t_fill_file(filler, 512 * 1024);
	cr_assert_eq(stat(filler, &st), 0);
	/* Free 130 KiB again. */
	cr_assert_eq(truncate(filler, st.st_size - 130 * 1024), 0);
	uint64_t w0 = lg->write_sqes;
	t_submit_batches(lg, ta, b, N, 4, 1700000000000LL, 10000, STOR_APPEND_DURABLE);
	cr_expect_eq(lg->write_sqes - w0, 0, "written before the pass's end");
	stor_ring_flush(&t.ring);
	cr_expect_eq(lg->write_sqes - w0, 1, "the eight appends were not one write");
	for (int i = 0; i < N; i++) t_run_until(&t.ring, &ta[i].done);
	int ok = 0;
	for (int i = 0; i < N; i++) {
		if (!ta[i].err) {
			cr_expect_eq(ok, i, "append %d succeeded after one that failed", i);
			ok++;
		} else {
			cr_expect(ta[i].err == -ENOSPC || ta[i].err == -EIO, "append %d: %d", i, ta[i].err);
		}
	}
	cr_expect(ok > 0 && ok < N, "%d of %d appends succeeded: the write was not cut short", ok, N);
	t_run_idle(&t.ring, lg);
	cr_expect(!stor_log_offline(lg));
	cr_expect_eq(stor_log_end_offset(lg), 4 * ok);
	cr_expect_eq(stor_log_durable_offset(lg), 4 * ok);
	cr_expect_eq(t_verify_log(lg, 0), 4 * ok);
	for (int i = 0; i < N; i++) free(b[i]);
	/* Space comes back: the log goes on from the first failed offset. */
	cr_assert_eq(unlink(filler), 0);
	t_submit_batches(lg, ta, b, N, 4, 1700000000000LL, 10000, STOR_APPEND_DURABLE);
	for (int i = 0; i < N; i++) {
		t_run_until(&t.ring, &ta[i].done);
		cr_expect_eq(ta[i].err, 0, "append %d after space came back: %d", i, ta[i].err);
		cr_expect_eq(ta[i].a.base_offset, 4 * (ok + i));
		free(b[i]);
	}
	t_run_idle(&t.ring, lg);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = stor_log_open(t.d, "wcfull", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	cr_expect_eq(stor_log_end_offset(lg), 4 * (ok + N), "nothing acknowledged is lost");
	cr_expect_eq(t_verify_log(lg, 0), 4 * (ok + N));
	t_close(&t, lg);
}
