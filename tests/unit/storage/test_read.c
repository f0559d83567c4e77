/* Unit tests for storage/read.c: offset -> file range of whole batches, limits, pins,
 * timestamps, and the watches that wake long-polling fetches. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static struct stor_log *lg;
static size_t blen;  /* every test batch has the same size */

static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 8192;
	t.cfg.index_interval_bytes = 512;
	int err;
	lg = stor_log_open(t.d, "r", 3, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	/* 100 batches of 5 records: offsets 0..499, timestamps 10000 + offset. */
	for (int i = 0; i < 100; i++) {
		uint8_t *b = t_batch(5, 10000 + i * 5, 40, &blen);
		cr_assert_eq(t_append(&t, lg, b, blen, 0, NULL), 0);
		free(b);
	}
}

static void teardown(void)
{
	if (lg) t_close(&t, lg);
	t_teardown(&t);
}

TestSuite(stor_read, .init = setup, .fini = teardown);

static void check_range(const struct stor_read *r, int64_t first)
{
	uint8_t *p = t_read_range(r);
	size_t off = 0;
	int64_t expect = first;
	while (off < r->len) {
		size_t sz = kp_batch_size(p + off, r->len - off);
		cr_assert(sz > 0 && off + sz <= r->len, "whole batches only");
		cr_expect(kp_batch_crc_ok(p + off, sz));
		cr_expect_eq((int64_t)rt_be64_get(p + off), expect);
		expect += 5;
		off += sz;
	}
	cr_expect_eq(r->next_offset, expect);
	free(p);
}

Test(stor_read, finds_the_batch_holding_an_offset)
{
	cr_assert(stor_log_segment_count(lg) > 2);
	for (int64_t off = 0; off < 500; off += 37) {
		struct stor_read r;
		cr_assert_eq(stor_log_read(lg, off, 1 << 20, INT64_MAX, true, &r), 0);
		cr_assert(r.len > 0);
		cr_expect_eq(r.first_offset, off / 5 * 5, "offset %lld", (long long)off);
		check_range(&r, r.first_offset);
		stor_read_release(lg, &r);
	}
}

Test(stor_read, respects_max_bytes_and_min_one)
{
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, 0, (uint32_t)(3 * blen + 10), INT64_MAX, false, &r), 0);
	cr_expect_eq(r.len, 3 * blen);
	check_range(&r, 0);
	stor_read_release(lg, &r);
	cr_assert_eq(stor_log_read(lg, 0, 10, INT64_MAX, false, &r), 0);
	cr_expect_eq(r.len, 0);
	cr_assert_eq(stor_log_read(lg, 0, 10, INT64_MAX, true, &r), 0);
	cr_expect_eq(r.len, blen, "min_one returns the first batch whole");
	stor_read_release(lg, &r);
}

Test(stor_read, stops_before_max_offset_and_at_the_end)
{
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, 0, 1 << 20, 12, true, &r), 0);
	cr_expect_eq(r.len, 2 * blen, "batches 0..4 and 5..9; 10..14 holds max_offset 12");
	stor_read_release(lg, &r);
	cr_assert_eq(stor_log_read(lg, 500, 1 << 20, INT64_MAX, true, &r), 0);
	cr_expect_eq(r.len, 0);
	cr_expect_eq(stor_log_read(lg, 501, 1 << 20, INT64_MAX, true, &r), -ERANGE);
	cr_expect_eq(stor_log_read(lg, -1, 1 << 20, INT64_MAX, true, &r), -ERANGE);
}

Test(stor_read, offsets_by_timestamp)
{
	int64_t off, ts;
	cr_assert_eq(stor_log_offset_for_time(lg, 10123, &off, &ts), 0);
	cr_expect_eq(off, 123);
	cr_expect_eq(ts, 10123);
	cr_assert_eq(stor_log_offset_for_time(lg, 0, &off, &ts), 0);
	cr_expect_eq(off, 0);
	cr_expect_eq(stor_log_offset_for_time(lg, 20000, &off, &ts), -ENOENT);
	cr_assert_eq(stor_log_max_timestamp(lg, &off, &ts), 0);
	cr_expect_eq(ts, 10499);
	cr_expect_eq(off, 499);
}

Test(stor_read, timestamps_survive_reopen)
{
	t_close(&t, lg);
	int err;
	lg = stor_log_open(t.d, "r", 3, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	int64_t off, ts;
	cr_assert_eq(stor_log_offset_for_time(lg, 10321, &off, &ts), 0);
	cr_expect_eq(off, 321);
	cr_assert_eq(stor_log_max_timestamp(lg, &off, &ts), 0);
	cr_expect_eq(ts, 10499);
}

static int64_t fired_at = -1;
static void on_fire(struct stor_watch *w, int64_t leo)
{
	(void)w;
	fired_at = leo;
}

Test(stor_read, watches_fire_when_the_leo_passes)
{
	struct stor_watch w = {.offset = 500, .fire = on_fire};
	fired_at = -1;
	stor_log_watch(lg, &w);
	cr_expect_eq(fired_at, -1);
	uint8_t *b = t_batch(2, 1, 1, &blen);
	cr_assert_eq(t_append(&t, lg, b, blen, 0, NULL), 0);
	free(b);
	cr_expect_eq(fired_at, 502);
	struct stor_watch w2 = {.offset = 502, .fire = on_fire};
	fired_at = -1;
	stor_log_watch(lg, &w2);
	stor_log_unwatch(lg, &w2);
	b = t_batch(2, 1, 1, &blen);
	cr_assert_eq(t_append(&t, lg, b, blen, 0, NULL), 0);
	free(b);
	cr_expect_eq(fired_at, -1, "a cancelled watch does not fire");
	struct stor_watch w3 = {.offset = 100, .fire = on_fire};
	stor_log_watch(lg, &w3);
	cr_expect_eq(fired_at, 504, "already past: fires at once");
}

Test(stor_read, pinned_segment_outlives_retention)
{
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, 0, 1 << 20, INT64_MAX, true, &r), 0);
	size_t nseg = stor_log_segment_count(lg);
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 400, &lw), 0);
	cr_expect_eq(lw, 400);
	cr_expect(stor_log_segment_count(lg) < nseg);
	/* The segment is gone from the lg but the reader's descriptor still reads it. */
	check_range(&r, 0);
	char p[512];
	snprintf(p, sizeof p, "%s/r-3/00000000000000000000.log", t.dir);
	cr_expect(t_file_size(p) > 0, "not unlinked while pinned: %s", t_lines());
	stor_read_release(lg, &r);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(t_file_size(p), -1, "unlinked after the release");
	struct stor_read r2;
	cr_expect_eq(stor_log_read(lg, 10, 100, INT64_MAX, true, &r2), -ERANGE);
}

/* --- the asynchronous read of the fetch path (stor_log_read_start) ---------------------------- */

struct t_rop {
	struct stor_read_op op;
	bool done;
	int err;
};

static void on_read(struct stor_read_op *r, int err)
{
	struct t_rop *x = (struct t_rop *)r;
	x->done = true;
	x->err = err;
}

/* Runs one asynchronous read to its end; *queued says whether it went through the ring. */
static int read_async(int64_t offset, uint32_t max_bytes, int64_t max_offset, bool min_one,
                      struct stor_read *out, bool *queued)
{
	struct t_rop x = {.op = {.offset = offset, .max_bytes = max_bytes, .max_offset = max_offset,
	                         .min_one = min_one, .done = on_read}};
	int rc = stor_log_read_start(lg, &x.op);
	*queued = rc == -EINPROGRESS;
	if (rc == -EINPROGRESS) {
		cr_assert(!stor_log_idle(lg), "a header read in flight keeps the log busy");
		t_run_until(&t.ring, &x.done);
		rc = x.err;
	}
	*out = x.op.rd;
	return rc;
}

static void same_reads(int64_t off, uint32_t mb, int64_t maxo, bool one, int *queued, bool fives)
{
	struct stor_read a, b;
	int ra = stor_log_read(lg, off, mb, maxo, one, &a);
	bool q;
	int rb = read_async(off, mb, maxo, one, &b, &q);
	*queued += q;
	cr_assert_eq(rb, ra, "offset %lld max_bytes %u max_offset %lld", (long long)off, mb, (long long)maxo);
	cr_expect(a.len == b.len && a.pos == b.pos && a.fd == b.fd && a.first_offset == b.first_offset &&
	          a.next_offset == b.next_offset,
	          "offset %lld max_bytes %u max_offset %lld min_one %d: blocking (%u@%llu, %lld..%lld) "
	          "async (%u@%llu, %lld..%lld)", (long long)off, mb, (long long)maxo, one,
	          a.len, (unsigned long long)a.pos, (long long)a.first_offset, (long long)a.next_offset,
	          b.len, (unsigned long long)b.pos, (long long)b.first_offset, (long long)b.next_offset);
	if (b.len && fives) check_range(&b, b.first_offset);  /* batches of five records */
	stor_read_release(lg, &a);
	stor_read_release(lg, &b);
}

Test(stor_read, async_reads_match_the_blocking_ones)
{
	/* Both walks over the file: the headers of the last appends are not at hand (the test
	 * below checks those). */
	stor_recent_reset(lg);
	int queued = 0, n = 0;
	const uint32_t mbs[] = {10, (uint32_t)blen, (uint32_t)(3 * blen + 7), 5000, 1 << 20};
	const int64_t maxos[] = {3, 12, 250, 499, INT64_MAX};
	for (int64_t off = 0; off <= 500; off += 23)
		for (size_t i = 0; i < sizeof mbs / sizeof *mbs; i++)
			for (size_t k = 0; k < sizeof maxos / sizeof *maxos; k++, n++)
				same_reads(off, mbs[i], maxos[k], (off + (int64_t)i) % 2, &queued, true);
	struct stor_read r;
	bool q;
	cr_expect_eq(read_async(501, 100, INT64_MAX, true, &r, &q), -ERANGE);
	cr_expect(queued > n / 2, "the header reads went through the ring (%d of %d)", queued, n);
	/* Batches larger than the header window: every header is a read of its own. */
	for (int i = 0; i < 4; i++) {
		size_t len;
		uint8_t *b = t_batch(3, 20000 + i, 2500, &len);
		cr_assert(len > STOR_READ_WINDOW);
		cr_assert_eq(t_append(&t, lg, b, len, 0, NULL), 0);
		free(b);
	}
	stor_recent_reset(lg);
	for (int64_t off = 495; off < 512; off++)
		for (size_t i = 0; i < sizeof mbs / sizeof *mbs; i++)
			same_reads(off, mbs[i], off % 3 ? INT64_MAX : 509, true, &queued, false);
	t_run_idle(&t.ring, lg);
}

Test(stor_read, async_read_in_flight_pins_its_segment)
{
	struct t_rop x = {.op = {.offset = 3, .max_bytes = 1 << 20, .max_offset = INT64_MAX,
	                         .min_one = true, .done = on_read}};
	cr_assert_eq(stor_log_read_start(lg, &x.op), -EINPROGRESS);
	/* Retention takes the segment while its header read is in flight. */
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 400, &lw), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/r-3/00000000000000000000.log", t.dir);
	t_run_until(&t.ring, &x.done);
	cr_assert_eq(x.err, 0);
	cr_assert(x.op.rd.len > 0);
	cr_expect_eq(x.op.rd.first_offset, 0);
	check_range(&x.op.rd, 0);
	cr_expect(t_file_size(p) > 0, "not unlinked while the answer pins it");
	stor_read_release(lg, &x.op.rd);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(t_file_size(p), -1, "unlinked after the release");
}

Test(stor_read, async_read_with_nothing_to_read_answers_at_once)
{
	t_run_idle(&t.ring, lg);   /* the appends' index and spare-file work */
	struct t_rop x = {.op = {.offset = 500, .max_bytes = 1 << 20, .max_offset = INT64_MAX,
	                         .min_one = true, .done = on_read}};
	cr_expect_eq(stor_log_read_start(lg, &x.op), 0, "at the LEO: no header to read");
	cr_expect_eq(x.op.rd.len, 0);
	cr_expect(!x.done);
	x.op.offset = -1;
	cr_expect_eq(stor_log_read_start(lg, &x.op), -ERANGE);
	cr_expect(stor_log_idle(lg), "nothing was queued");
}

Test(stor_read, async_reads_reuse_the_logs_window)
{
	t_run_idle(&t.ring, lg);
	struct stor_read r;
	bool q;
	cr_assert_eq(read_async(3, 1 << 20, INT64_MAX, true, &r, &q), 0);
	cr_assert(q, "the header read went through the ring");
	stor_read_release(lg, &r);
	uint8_t *win = lg->read_win;
	cr_assert_not_null(win, "the window is kept for the next read");
	cr_assert_eq(read_async(250, 1 << 20, INT64_MAX, true, &r, &q), 0);
	cr_assert(q);
	check_range(&r, r.first_offset);
	stor_read_release(lg, &r);
	cr_expect_eq(lg->read_win, win, "the next read used it and gave it back");
	t_run_idle(&t.ring, lg);
}

/* A consumer at the tail: the headers of the batches just appended come from memory
 * (stor_recent_note), so its reads need no header read from the file; they find what a walk
 * over the file finds. */
Test(stor_read, tail_reads_take_their_headers_from_the_appends)
{
	t_run_idle(&t.ring, lg);
	struct stor_segment *act = stor_log_active(lg);
	int64_t leo = stor_log_end_offset(lg);
	cr_assert(lg->rh_seg == act && lg->rh_n > 0, "the appends' headers are recorded");
	const uint32_t mbs[] = {10, (uint32_t)blen, (uint32_t)(3 * blen + 7), 1 << 20};
	enum { CAP = 512 };
	static struct stor_read got[CAP];
	int k = 0;
	for (int64_t off = act->base; off < leo; off += 3)
		for (size_t i = 0; i < sizeof mbs / sizeof *mbs; i++, k++) {
			cr_assert(k < CAP);
			bool q;
			cr_assert_eq(read_async(off, mbs[i], off % 2 ? INT64_MAX : leo - 4, true, &got[k], &q), 0);
			cr_expect(!q, "offset %lld: no header read from the file", (long long)off);
		}
	/* The same reads walking the file. */
	stor_recent_reset(lg);
	k = 0;
	for (int64_t off = act->base; off < leo; off += 3)
		for (size_t i = 0; i < sizeof mbs / sizeof *mbs; i++, k++) {
			struct stor_read a;
			cr_assert_eq(stor_log_read(lg, off, mbs[i], off % 2 ? INT64_MAX : leo - 4, true, &a), 0);
			struct stor_read *b = &got[k];
			cr_expect(a.len == b->len && a.pos == b->pos && a.first_offset == b->first_offset &&
			          a.next_offset == b->next_offset, "offset %lld max_bytes %u: file (%u@%llu, %lld..%lld) "
			          "memory (%u@%llu, %lld..%lld)", (long long)off, mbs[i], a.len, (unsigned long long)a.pos,
			          (long long)a.first_offset, (long long)a.next_offset, b->len, (unsigned long long)b->pos,
			          (long long)b->first_offset, (long long)b->next_offset);
			if (b->len) check_range(b, b->first_offset);
			stor_read_release(lg, &a);
			stor_read_release(lg, b);
		}
	struct stor_read r;
	bool q;
	cr_assert_eq(read_async(leo - 1, 1 << 20, INT64_MAX, true, &r, &q), 0);
	cr_expect(q, "forgotten headers are read from the file again");
	stor_read_release(lg, &r);
	t_run_idle(&t.ring, lg);
}

/* ringtail.fetch.zero.copy=false: the range's bytes come into memory through the ring too. */
Test(stor_read, async_copy_reads_the_range_into_memory)
{
	t_run_idle(&t.ring, lg);
	const int64_t offs[] = {0, 3, 250, 497, 500};
	const uint32_t mbs[] = {10, (uint32_t)blen, 5000, 1 << 20};
	for (size_t i = 0; i < sizeof offs / sizeof *offs; i++)
		for (size_t k = 0; k < sizeof mbs / sizeof *mbs; k++) {
			struct t_rop x = {.op = {.offset = offs[i], .max_bytes = mbs[k], .max_offset = INT64_MAX,
			                         .min_one = k % 2, .copy = true, .done = on_read}};
			int rc = stor_log_read_start(lg, &x.op);
			if (!x.op.rd.len && rc == 0) {
				cr_expect(offs[i] == 500 || !x.op.min_one, "nothing to read, nothing to copy");
				cr_expect_null(x.op.data);
				continue;
			}
			cr_assert_eq(rc, -EINPROGRESS, "the copy is a read on the ring");
			cr_assert(!stor_log_idle(lg));
			t_run_until(&t.ring, &x.done);
			cr_assert_eq(x.err, 0);
			if (!x.op.rd.len) {
				cr_expect_null(x.op.data);
				continue;
			}
			cr_assert_not_null(x.op.data, "offset %lld max_bytes %u", (long long)offs[i], mbs[k]);
			uint8_t *want = t_read_range(&x.op.rd);
			cr_expect_arr_eq(x.op.data, want, x.op.rd.len, "the copy is the file range's bytes");
			check_range(&x.op.rd, x.op.rd.first_offset);
			free(want);
			free(x.op.data);
			stor_read_release(lg, &x.op.rd);
			cr_expect(stor_log_idle(lg));
		}
	/* The tail, whose headers are in memory: the walk reads nothing, the copy still does. */
	struct t_rop x = {.op = {.offset = 499, .max_bytes = 1 << 20, .max_offset = INT64_MAX,
	                         .min_one = true, .copy = true, .done = on_read}};
	cr_assert_eq(stor_log_read_start(lg, &x.op), -EINPROGRESS);
	t_run_until(&t.ring, &x.done);
	cr_assert_eq(x.err, 0);
	cr_assert_eq(x.op.rd.len, blen);
	cr_assert_not_null(x.op.data);
	cr_expect_eq(rt_be64_get(x.op.data), 495, "the batch holding 499, whole");
	free(x.op.data);
	stor_read_release(lg, &x.op.rd);
}

/* The copies of one fetch share a budget (copy_budget): a range longer than what is left is not
 * copied and its file range serves; what is copied is taken from it. */
Test(stor_read, async_copy_takes_from_the_fetchs_budget)
{
	t_run_idle(&t.ring, lg);
	int64_t budget = 3 * (int64_t)blen;
	struct {
		int64_t offset;
		uint32_t max_bytes;
		bool copied;
		int64_t left;            /* the budget after the read */
	} steps[] = {
		{0, 5000, false, 3 * (int64_t)blen},             /* many batches: over the budget */
		{50, 2 * (uint32_t)blen, true, (int64_t)blen},
		{100, 10, true, 0},                              /* min_one: one batch past max_bytes */
		{200, 10, false, 0},                             /* nothing left: the file serves */
		{250, 5000, false, 0},
	};
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		struct t_rop x = {.op = {.offset = steps[i].offset, .max_bytes = steps[i].max_bytes,
		                         .max_offset = INT64_MAX, .min_one = true, .copy = true,
		                         .copy_budget = &budget, .done = on_read}};
		int rc = stor_log_read_start(lg, &x.op);
		if (rc == -EINPROGRESS) {
			t_run_until(&t.ring, &x.done);
			rc = x.err;
		}
		cr_assert_eq(rc, 0);
		cr_assert(x.op.rd.len > 0, "step %zu: the range is there, copied or not", i);
		check_range(&x.op.rd, x.op.rd.first_offset);
		cr_expect_eq(x.op.data != NULL, steps[i].copied, "step %zu: %u bytes copied: %d", i, x.op.rd.len,
		             x.op.data != NULL);
		cr_expect_eq(budget, steps[i].left, "step %zu: %lld left", i, (long long)budget);
		if (x.op.data) {
			uint8_t *want = t_read_range(&x.op.rd);
			cr_expect_arr_eq(x.op.data, want, x.op.rd.len, "the copy is the file range's bytes");
			free(want);
			free(x.op.data);
		}
		stor_read_release(lg, &x.op.rd);
		t_run_idle(&t.ring, lg);
	}
}
