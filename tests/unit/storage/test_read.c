/* Unit tests for storage/read.c: offset -> file range of whole batches, limits, pins,
 * timestamps, and the watches that wake long-polling fetches. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
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
