/* Unit tests for storage/fds.c: a written partition holds one descriptor (its .log) once idle,
 * whatever it went through (index pages written, rolls through the spare files, durable appends
 * whose rounds synced the directory, a transaction abort recorded through the ring), and the
 * files written through descriptors opened for the occasion hold what they should. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/internal.h"
#include "storage/producer_state.h"
#include "util.h"

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
}
static void teardown(void)
{
	t_teardown(&t);
}
TestSuite(stor_fds, .init = setup, .fini = teardown);

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') n++;
	closedir(d);
	return n - 1;  /* the listing's own */
}

/* The closes go through the ring without completions to wait for (IORING_OP_CLOSE with
 * IOSQE_CQE_SKIP_SUCCESS): submit and give them a moment, until the count is `want`. */
static int settle_fds(int want)
{
	int n = count_fds();
	for (int i = 0; i < 200 && n != want; i++) {
		stor_ring_flush(&t.ring);
		io_uring_submit(&t.ring);
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
		n = count_fds();
	}
	return n;
}

static struct stor_log *open_part(const char *topic, int32_t p)
{
	int err = 0;
	struct stor_log *lg = stor_log_open(t.d, topic, p, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg, "open %s-%d: %d", topic, p, err);
	return lg;
}

static void put(struct stor_log *lg, int recs, size_t vsize, unsigned flags)
{
	size_t len;
	uint8_t *b = t_batch(recs, 1700000000000LL, vsize, &len);
	int64_t base;
	cr_assert_eq(t_append(&t, lg, b, len, flags, &base), 0);
	free(b);
}

/* The descriptors a log holds by itself: its segments' .log files, plus what is open for a
 * reason the test states (spare files from half way to a roll). */
static int held(const struct stor_log *lg)
{
	int n = 0;
	for (size_t i = 0; i < lg->nseg; i++) {
		const struct stor_segment *s = lg->segs[i];
		n += (s->fd >= 0) + (s->ifd >= 0) + (s->tfd >= 0) + (s->txn && stor_txnidx_fd(s->txn) >= 0);
	}
	for (int i = 0; i < STOR_SPARE_FILES; i++) n += lg->spare_fd[i] >= 0;
	return n + (lg->dfd >= 0);
}

Test(stor_fds, a_written_partition_holds_one_descriptor)
{
	enum { N = 40 };
	struct stor_log *lg[N];
	int before = count_fds();
	for (int i = 0; i < N; i++) lg[i] = open_part("many", i);
	cr_assert_eq(settle_fds(before + N), before + N, "created: %d descriptors for %d partitions",
	             count_fds() - before, N);
	for (int i = 0; i < N; i++) put(lg[i], 10, 100, 0);
	for (int i = 0; i < N; i++) t_run_idle(&t.ring, lg[i]);
	cr_assert_eq(settle_fds(before + N), before + N, "written: %d descriptors for %d partitions",
	             count_fds() - before, N);
	for (int i = 0; i < N; i++) cr_assert_eq(held(lg[i]), 1);
	for (int i = 0; i < N; i++) cr_assert_eq(t_close(&t, lg[i]), 0);
	cr_assert_eq(settle_fds(before), before);
}

Test(stor_fds, index_pages_and_rolls_leave_one_descriptor_per_segment)
{
	/* An index entry per batch: the active segment writes a page of entries every 512 batches
	 * and seals with its whole index at each roll, each through descriptors opened for it. */
	t.cfg.index_interval_bytes = 1;
	t.cfg.segment_bytes = 600 * 120;
	int before = count_fds();
	struct stor_log *lg = open_part("roll", 0);
	for (int i = 0; i < 1400; i++) put(lg, 1, 40, i % 7 ? 0 : STOR_APPEND_DURABLE);
	t_run_idle(&t.ring, lg);
	cr_assert_geq(lg->nseg, 2, "it rolled");
	/* Durable appends after the rolls: every round that synced a sealed index or the
	 * directory is settled, so nothing but the .log files (and the spares, past half way) is
	 * held. */
	put(lg, 1, 40, STOR_APPEND_DURABLE);
	t_run_idle(&t.ring, lg);
	int spares = 0;
	for (int i = 0; i < STOR_SPARE_FILES; i++) spares += lg->spare_fd[i] >= 0;
	cr_assert_eq(lg->dfd, -1);
	for (size_t i = 0; i < lg->nseg; i++) {
		cr_assert_eq(lg->segs[i]->ifd, -1, "segment %zu holds its .index", i);
		cr_assert_eq(lg->segs[i]->tfd, -1, "segment %zu holds its .timeindex", i);
	}
	int want = before + (int)lg->nseg + spares;
	cr_assert_eq(settle_fds(want), want, "%d descriptors for %zu segments and %d spare files",
	             count_fds() - before, lg->nseg, spares);
	/* The index files hold every entry: a sealed one whole, the active one a page at a time. */
	char p[512];
	for (size_t i = 0; i + 1 < lg->nseg; i++) {
		snprintf(p, sizeof p, "%s/roll-0/%020lld.index", t.dir, (long long)lg->segs[i]->base);
		cr_assert_eq(t_file_size(p), (long long)lg->segs[i]->on * 8, "sealed %zu", i);
	}
	struct stor_segment *a = lg->segs[lg->nseg - 1];
	snprintf(p, sizeof p, "%s/roll-0/%020lld.index", t.dir, (long long)a->base);
	cr_assert_eq(t_file_size(p), (long long)a->on_disk * 8);
	cr_assert_eq(a->on_disk % (STOR_INDEX_PAGE / 8), 0);
	int64_t leo = stor_log_end_offset(lg);
	cr_assert_eq(t_close(&t, lg), 0);
	/* A clean reopen trusts them (no rebuild) and finds every record. */
	t_lines_reset();
	lg = open_part("roll", 0);
	cr_assert_eq(stor_log_end_offset(lg), leo);
	cr_assert_null(strstr(t_lines(), "rebuil"), "%s", t_lines());
	cr_assert_eq(t_verify_log(lg, 0), leo);
	cr_assert_eq(t_close(&t, lg), 0);
	cr_assert_eq(settle_fds(before), before);
}

Test(stor_fds, an_abort_opens_the_txnindex_through_the_ring)
{
	int before = count_fds();
	struct stor_log *lg = open_part("abort", 0);
	put(lg, 3, 50, 0);
	t_run_idle(&t.ring, lg);
	struct stor_segment *s = lg->segs[lg->nseg - 1];
	cr_assert(s->txn && stor_txnidx_fd(s->txn) < 0, "the entries are held, the descriptor not");
	/* A marker at the log end (its write not yet done: the steady-state path). */
	int64_t end = stor_log_end_offset(lg);
	struct stor_aborted_txn a = {.producer_id = 7, .first_offset = 0, .last_offset = end,
	                             .last_stable_offset = 0};
	cr_assert_eq(stor_log_add_aborted(lg, &a), 0);
	put(lg, 1, 10, 0);  /* the marker's place */
	t_run_idle(&t.ring, lg);
	cr_assert(s->txn_dirty && stor_txnidx_fd(s->txn) >= 0, "held until a round syncs it");
	put(lg, 1, 10, STOR_APPEND_DURABLE);  /* a round: it syncs the entry */
	t_run_idle(&t.ring, lg);
	char p[512];
	snprintf(p, sizeof p, "%s/abort-0/%020lld.txnindex", t.dir, (long long)s->base);
	cr_assert_eq(t_file_size(p), STOR_TXNIDX_ENTRY);
	cr_assert(!s->txn_dirty);
	cr_assert_eq(stor_txnidx_fd(s->txn), -1, "closed again once synced");
	cr_assert_eq(settle_fds(before + 1), before + 1);
	struct stor_aborted_txn got[4];
	cr_assert_eq(stor_log_collect_aborted(lg, 0, end + 1, got, 4), 1);
	cr_assert_eq(got[0].producer_id, 7);
	cr_assert_eq(t_close(&t, lg), 0);
	cr_assert_eq(settle_fds(before), before);
}

Test(stor_fds, a_seal_with_every_entry_written_still_gets_its_round)
{
	/* Same timestamps throughout and an offset entry per batch: the 513th batch completes a
	 * page of 512 entries (written while active), so the roll after it seals the segment with
	 * nothing left to write, and only the round that syncs the files needs their descriptors. */
	size_t len;
	uint8_t *b = t_batch(1, 1700000000000LL, 40, &len);
	free(b);
	t.cfg.index_interval_bytes = 1;
	t.cfg.segment_bytes = (int64_t)(513 * len + len / 2);
	t.cfg.prealloc_window_ms = 0;  /* no trim at the roll (its completion asks for a round too) */
	struct stor_log *lg = open_part("seal", 0);
	/* Without spare files the roll's round is not held back by their renames (which gives
	 * the opens time to land first): it starts at once, while the opens are in flight. */
	lg->spare_failed = true;
	for (int i = 0; i < 513; i++) put(lg, 1, 40, 0);
	t_run_idle(&t.ring, lg);  /* the page's write (and its opens) done */
	cr_assert_eq(lg->segs[0]->on_disk, 512);
	put(lg, 1, 40, 0);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(lg->nseg, 2);
	struct stor_segment *s = lg->segs[0];
	cr_assert_eq(s->on, 512);
	cr_assert_eq(s->on_disk, s->on);
	cr_assert(s->sealed);
	cr_assert(!s->idx_dirty, "the round that syncs the sealed index ran");
	cr_assert_eq(s->ifd, -1);
	cr_assert_eq(s->tfd, -1);
	cr_assert_geq(stor_log_recovery_point(lg), lg->segs[1]->base);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* A transactional batch of producer pid (epoch 0) and its ABORT marker, as test_aborted.c
 * builds them. */
static uint8_t *txn_batch(int64_t pid, int n, size_t *len)
{
	uint8_t *b = t_batch(n, 1000, 40, len);
	rt_be64_put(b + KP_BATCH_OFF_PRODUCER_ID, (uint64_t)pid);
	rt_be16_put(b + KP_BATCH_OFF_PRODUCER_EPOCH, 0);
	rt_be32_put(b + KP_BATCH_OFF_BASE_SEQUENCE, 0);
	rt_be16_put(b + KP_BATCH_OFF_ATTRIBUTES,
	            (uint16_t)(rt_be16_get(b + KP_BATCH_OFF_ATTRIBUTES) | KP_ATTR_TRANSACTIONAL));
	kp_batch_crc_update(b, *len);
	return b;
}

Test(stor_fds, an_unclean_open_that_rebuilds_a_txnindex_keeps_only_the_log)
{
	struct stor_log *lg = open_part("rb", 0);
	size_t len;
	int64_t base;
	uint8_t *b = txn_batch(5, 3, &len);
	cr_assert_eq(t_append(&t, lg, b, len, 0, &base), 0);
	free(b);
	b = t_marker_batch(5, 0, false, 0, 2000, &len);
	cr_assert_eq(t_append(&t, lg, b, len, 0, &base), 0);
	free(b);
	cr_assert_eq(t_close(&t, lg), 0);
	/* The .txnindex is gone and the stop was unclean: the open scans the segment and the
	 * producer state's replay writes the abort again, into a file it creates. */
	char p[700], dir[512];
	snprintf(dir, sizeof dir, "%s/rb-0", t.dir);
	snprintf(p, sizeof p, "%s/%020d.txnindex", dir, 0);
	unlink(p);
	t_reopen_dir(&t, true);
	int before = count_fds();
	lg = open_part("rb", 0);
	struct stor_pstate *ps = stor_pstate_create(7LL * 24 * 3600 * 1000);
	cr_assert(ps);
	cr_assert_eq(stor_pstate_recover(ps, lg, dir, (int64_t)time(NULL) * 1000), 0);
	cr_assert_eq(t_file_size(p), STOR_TXNIDX_ENTRY);
	struct stor_aborted_txn got[2];
	cr_assert_eq(stor_log_collect_aborted(lg, 0, INT64_MAX, got, 2), 1);
	cr_assert_eq(got[0].producer_id, 5);
	/* Synced at open, so neither the .txnindex nor the directory waits for a round that an
	 * idle partition never has. */
	cr_assert(!lg->segs[0]->txn_dirty && !lg->dir_dirty);
	cr_assert_eq(held(lg), 1);
	cr_assert_eq(settle_fds(before + 1), before + 1);
	cr_assert_eq(t_close(&t, lg), 0);
	stor_pstate_destroy(ps);
}

Test(stor_fds, spare_files_hold_only_the_log_and_a_roll_opens_the_rest_after_its_renames)
{
	t.cfg.segment_bytes = 8192;
	int before = count_fds();
	struct stor_log *lg = open_part("sp", 0);
	size_t len;
	uint8_t *b = t_batch(1, 1700000000000LL, 500, &len);
	free(b);
	while (lg->segs[lg->nseg - 1]->size + len <= (uint64_t)t.cfg.segment_bytes) put(lg, 1, 500, 0);
	t_run_idle(&t.ring, lg);
	/* Past half way: the next segment's four files are made, only the .log stays open. */
	cr_assert_geq(lg->spare_fd[0], 0);
	for (int i = 1; i < STOR_SPARE_FILES; i++) cr_assert(lg->spare_made[i] && lg->spare_fd[i] < 0);
	cr_assert_eq(settle_fds(before + 2), before + 2);
	/* The roll takes them; an abort recorded before its renames landed waits for them to open
	 * "<base>.txnindex" (by name before, it could make a file the rename replaces: here the
	 * renames are queued first and would win anyway, so this checks the outcome, not the
	 * order). */
	struct t_app ta;
	b = t_batch(1, 1700000000000LL, 500, &len);
	cr_assert_eq(t_append_submit(lg, &ta, b, len, 0), 0);
	cr_assert_eq(lg->nseg, 2, "the append rolled");
	cr_assert_gt(lg->spare_renaming, 0);
	struct stor_segment *s = lg->segs[1];
	struct stor_aborted_txn a = {.producer_id = 9, .first_offset = s->base, .last_offset = s->base + 1,
	                             .last_stable_offset = s->base};
	cr_assert_eq(stor_log_add_aborted(lg, &a), 0);
	cr_assert(s->txn_wait, "waits for the renames");
	t_run_idle(&t.ring, lg);
	cr_assert(ta.done && !ta.err);
	free(b);
	put(lg, 1, 10, 0);  /* the marker's place */
	put(lg, 1, 10, STOR_APPEND_DURABLE);
	t_run_idle(&t.ring, lg);
	char p[700];
	snprintf(p, sizeof p, "%s/sp-0/%020lld.txnindex", t.dir, (long long)s->base);
	cr_assert_eq(t_file_size(p), STOR_TXNIDX_ENTRY);
	snprintf(p, sizeof p, "%s/sp-0/spare.txnindex.tmp", t.dir);
	cr_assert_eq(t_file_size(p), -1);
	cr_assert_eq(settle_fds(before + (int)lg->nseg), before + (int)lg->nseg);
	int64_t leo = stor_log_end_offset(lg);
	cr_assert_eq(t_close(&t, lg), 0);
	lg = open_part("sp", 0);
	struct stor_aborted_txn got[2];
	cr_assert_eq(stor_log_collect_aborted(lg, 0, leo, got, 2), 1);
	cr_assert_eq(got[0].producer_id, 9);
	cr_assert_eq(t_close(&t, lg), 0);
}
