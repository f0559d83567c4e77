/* Unit tests for storage/read_time.c: the offset of a timestamp (ListOffsets), by the blocking
 * driver and through the ring (stor_log_offset_for_time_start), which must agree on every
 * answer; the ring's reads pin their segment and keep the log busy. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static struct stor_log *lg;

static void append(int n, int64_t ts, size_t vsize)
{
	size_t len;
	uint8_t *b = t_batch(n, ts, vsize, &len);
	cr_assert_eq(t_append(&t, lg, b, len, 0, NULL), 0);
	free(b);
	t_run_idle(&t.ring, lg);   /* the append's index and spare-file work: the log is idle */
}

static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 8192;
	t.cfg.index_interval_bytes = 512;
	int err;
	lg = stor_log_open(t.d, "tt", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	/* 100 batches of 5 records: offsets 0..499, timestamps 10000 + offset. */
	for (int i = 0; i < 100; i++) append(5, 10000 + i * 5, 40);
}

static void teardown(void)
{
	if (lg) t_close(&t, lg);
	t_teardown(&t);
}

TestSuite(stor_read_time, .init = setup, .fini = teardown);

struct t_top {
	struct stor_time_op op;
	bool done;
	int err;
};

static void on_time(struct stor_time_op *op, int err)
{
	struct t_top *x = (struct t_top *)op;
	x->done = true;
	x->err = err;
}

/* One search through the ring, run to its end; *queued says whether it read anything. */
static int time_async(int64_t ts, int64_t *off, int64_t *found, bool *queued)
{
	struct t_top x = {.op = {.ts = ts, .done = on_time}};
	int rc = stor_log_offset_for_time_start(lg, &x.op);
	*queued = rc == -EINPROGRESS;
	if (rc == -EINPROGRESS) {
		cr_assert(!stor_log_idle(lg), "a read in flight keeps the log busy");
		t_run_until(&t.ring, &x.done);
		rc = x.err;
	}
	cr_expect(stor_log_idle(lg), "nothing left in flight");
	*off = x.op.offset;
	*found = x.op.timestamp;
	return rc;
}

/* Both drivers on ts: the same result; returns it (the offset, or -1 for none). */
static int64_t both(int64_t ts, int *queued)
{
	int64_t a_off = -1, a_ts = -1, b_off, b_ts;
	int ra = stor_log_offset_for_time(lg, ts, &a_off, &a_ts);
	bool q;
	int rb = time_async(ts, &b_off, &b_ts, &q);
	*queued += q;
	cr_assert_eq(rb, ra, "ts %lld: blocking %d, async %d", (long long)ts, ra, rb);
	if (ra) return -1;
	cr_expect(a_off == b_off && a_ts == b_ts, "ts %lld: blocking %lld@%lld, async %lld@%lld",
	          (long long)ts, (long long)a_off, (long long)a_ts, (long long)b_off, (long long)b_ts);
	return b_off;
}

Test(stor_read_time, async_answers_match_the_blocking_ones)
{
	int queued = 0, n = 0;
	for (int64_t ts = 9990; ts <= 10510; ts += 7, n++) {
		int64_t off = both(ts, &queued);
		if (ts <= 10000) cr_expect_eq(off, 0);
		else if (ts <= 10499) cr_expect_eq(off, ts - 10000, "ts %lld", (long long)ts);
		else cr_expect_eq(off, -1, "past every timestamp: none");
	}
	cr_expect_eq(queued, n - 2, "every search with an answer read through the ring (%d of %d)", queued, n);
}

Test(stor_read_time, unordered_timestamps_and_batches_larger_than_a_window)
{
	/* Timestamps go back within the segment: the search starts where the time index points
	 * and walks forward over the batches whose max timestamp does not reach ts. */
	append(3, 50000, 2500);   /* 500..502: 50000..50002, each batch > 4096 bytes */
	append(3, 40000, 2500);   /* 503..505: 40000..40002 */
	append(3, 60000, 2500);   /* 506..508: 60000..60002 */
	append(2, 45000, 10);     /* 509..510 */
	int queued = 0;
	cr_expect_eq(both(40001, &queued), 500, "the first record at or after it in offset order");
	cr_expect_eq(both(50002, &queued), 502);
	cr_expect_eq(both(50003, &queued), 506);
	cr_expect_eq(both(60002, &queued), 508);
	cr_expect_eq(both(60003, &queued), -1);
	cr_expect_eq(queued, 4);
	/* After DeleteRecords the answer is never below the log start offset. */
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 501, &lw), 0);
	t_run_idle(&t.ring, lg);   /* the retired segments' unlinks */
	cr_expect_eq(both(0, &queued), 501);
	cr_expect_eq(both(50000, &queued), 501);
}

Test(stor_read_time, a_search_in_flight_pins_its_segment)
{
	struct t_top x = {.op = {.ts = 10003, .done = on_time}};
	cr_assert_eq(stor_log_offset_for_time_start(lg, &x.op), -EINPROGRESS);
	/* Retention takes the segment while its read is in flight. */
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 400, &lw), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/tt-0/00000000000000000000.log", t.dir);
	cr_expect(t_file_size(p) > 0, "not unlinked while the read is in flight");
	t_run_until(&t.ring, &x.done);
	/* The batches below the new log start are passed over, in the retired segment and after. */
	cr_assert_eq(x.err, 0);
	cr_expect_eq(x.op.offset, 400, "clamped to the new log start");
	t_run_idle(&t.ring, lg);
	cr_expect_eq(t_file_size(p), -1, "unlinked once the read is back");
}

Test(stor_read_time, nothing_to_read_answers_at_once)
{
	struct t_top x = {.op = {.ts = 99999, .done = on_time}};
	cr_expect_eq(stor_log_offset_for_time_start(lg, &x.op), -ENOENT, "no segment reaches it");
	cr_expect(!x.done);
	t_run_idle(&t.ring, lg);
	cr_expect(stor_log_idle(lg), "nothing was queued");
}

Test(stor_read_time, log_append_time_topics_answer_the_batch)
{
	t_close(&t, lg);
	struct stor_config c = t.cfg;
	c.timestamp_type = STOR_TS_LOG_APPEND_TIME;
	int err;
	lg = stor_log_open(t.d, "tla", 0, &c, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	append(4, 5, 10);
	append(4, 6, 10);
	int queued = 0;
	cr_expect_eq(both(0, &queued), 0, "every record carries the append time");
	cr_expect_eq(both(INT64_MAX / 2, &queued), -1);
	int64_t off, ts;
	bool q;
	cr_assert_eq(time_async(stor_now_ms() - 60000, &off, &ts, &q), 0);
	cr_expect_eq(off, 0);
	cr_expect(ts > 1000000000000LL, "the append time, not the producer's 5: %lld", (long long)ts);
}
