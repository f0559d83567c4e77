/* Unit tests for storage/retention.c: retention.ms and retention.bytes delete whole segments
 * from the front, DeleteRecords advances the log start, truncation cuts whole batches,
 * flush.messages / flush.ms drive background flushes, and a removed segment stays open while a
 * group-commit round issued before its removal is in flight. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 2048;
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_retention, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "ret");
}

Test(stor_retention, by_bytes_deletes_oldest_segments)
{
	t.cfg.retention_bytes = 5000;
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 3, 60);
	size_t before = stor_log_segment_count(lg);
	cr_assert(stor_log_size(lg) > 10000);
	int n = stor_log_tick(lg, 0);
	cr_expect(n > 0);
	cr_expect_eq(stor_log_segment_count(lg), before - (size_t)n);
	cr_expect(stor_log_size(lg) <= 5000 + 2048 && stor_log_size(lg) >= 5000 - 2048, "size %llu",
	          (unsigned long long)stor_log_size(lg));
	cr_expect(stor_log_start_offset(lg) > 0);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(t_verify_log(lg, stor_log_start_offset(lg)),
	             stor_log_end_offset(lg) - stor_log_start_offset(lg));
	cr_assert_eq(t_close(&t, lg), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/ret-0/00000000000000000000.log", t.dir);
	cr_expect_eq(t_file_size(p), -1, "unlinked");
}

Test(stor_retention, by_time_uses_the_largest_timestamp)
{
	t.cfg.retention_ms = 1000;
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 30, 3, 60);  /* timestamps around 1000000 + offset */
	size_t before = stor_log_segment_count(lg);
	cr_expect_eq(stor_log_tick(lg, 1000000 + 500), 0, "nothing is old enough yet");
	int n = stor_log_tick(lg, 1000000 + 60);
	cr_expect_eq(n, 0);
	n = stor_log_tick(lg, 1000000 + 1050);
	cr_expect(n > 0 && (size_t)n < before, "deleted %d of %zu", n, before);
	n = stor_log_tick(lg, 5000000);
	cr_expect(n > 0, "everything expired: the active segment is rolled and deleted too");
	cr_expect_eq(stor_log_start_offset(lg), stor_log_end_offset(lg));
	t_fill(&t, lg, 1, 3, 60);
	cr_expect_eq(stor_log_end_offset(lg), 93);
	t_close(&t, lg);
}

Test(stor_retention, delete_records_and_out_of_range)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 30, 3, 60);
	int64_t lw;
	cr_expect_eq(stor_log_delete_records(lg, 91, &lw), -ERANGE);
	cr_assert_eq(stor_log_delete_records(lg, 45, &lw), 0);
	cr_expect_eq(lw, 45);
	cr_assert_eq(stor_log_delete_records(lg, 10, &lw), 0);
	cr_expect_eq(lw, 45, "the log start never goes back");
	cr_assert_eq(stor_log_delete_records(lg, -1, &lw), 0);
	cr_expect_eq(lw, 90, "-1 means the high watermark");
	t_close(&t, lg);
}

Test(stor_retention, truncate_cuts_whole_batches)
{
	struct stor_log *lg = open_log();
	cr_assert_eq(stor_log_set_leader_epoch(lg, 1), 0);
	t_fill(&t, lg, 20, 3, 60);
	cr_assert_eq(stor_log_set_leader_epoch(lg, 2), 0);  /* epoch 2 starts at 60 */
	t_fill(&t, lg, 10, 3, 60);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_truncate(lg, 50), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/ret-0/leader-epoch-checkpoint", t.dir);
	FILE *f = fopen(p, "r");
	char buf[64] = {0};
	cr_assert_not_null(f);
	cr_expect(fread(buf, 1, sizeof buf - 1, f) > 0);
	fclose(f);
	cr_expect_str_eq(buf, "0\n1\n1 0\n", "epoch 2 started past the truncation point");
	cr_expect_eq(stor_log_end_offset(lg), 48, "the batch 48..50 holding offset 50 goes");
	cr_expect_eq(t_verify_log(lg, 0), 48);
	t_fill(&t, lg, 1, 3, 60);
	cr_expect_eq(stor_log_end_offset(lg), 51);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = open_log();
	cr_expect_eq(stor_log_end_offset(lg), 51);
	cr_expect_eq(t_verify_log(lg, 0), 51);
	t_close(&t, lg);
}

Test(stor_retention, flush_messages_flushes_in_the_background)
{
	t.cfg.flush_messages = 6;
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 2, 3, 60);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(stor_log_durable_offset(lg), 6);
	t_fill(&t, lg, 1, 3, 60);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(stor_log_durable_offset(lg), 6, "3 messages are below flush.messages");
	t_close(&t, lg);
}

Test(stor_retention, flush_ms_flushes_on_tick)
{
	t.cfg.flush_ms = 10;
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 2, 3, 60);
	t_run_idle(&t.ring, lg);
	stor_log_tick(lg, INT64_MAX / 2);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(stor_log_durable_offset(lg), 6);
	t_close(&t, lg);
}

Test(stor_retention, recovery_point_moves_past_flushed_segments)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 40, 3, 60);
	t_run_idle(&t.ring, lg);
	cr_expect(stor_log_segment_count(lg) > 3);
	/* Every roll asks for a background flush; once it ran, only the active segment is left
	 * for recovery to scan. */
	int64_t rp = stor_log_recovery_point(lg);
	cr_expect(rp > 0, "recovery point %lld", (long long)rp);
	t_close(&t, lg);
}

/* One CQE at a time, so that the test can stop between a round's issue and its completion. */
static void step(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	stor_ring_flush(ring);
	io_uring_submit_and_wait(ring, 1);
	if (io_uring_peek_cqe(ring, &cqe)) return;
	rt_ioop_complete(ring, cqe);
}

Test(stor_retention, retired_segment_stays_open_for_the_round_in_flight)
{
	/* A group-commit round names segment descriptors in SQEs that may not even be submitted
	 * yet: a segment that retention removes meanwhile must not be closed (its descriptor number
	 * could be reused) before that round is done, while rounds go on in flight. */
	t.cfg.retention_bytes = 5000;
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 3, 60);
	t_run_idle(&t.ring, lg);
	size_t len;
	uint8_t *b = t_batch(1, 1700000000000LL, 100, &len);
	struct t_app ta;
	cr_assert_eq(t_append_submit(lg, &ta, b, len, STOR_APPEND_DURABLE), 0);
	/* The pass's end issues the write and, when linked, the round (coalesce.c): seen before a
	 * dispatch could take both completions at once and leave nothing in flight to wait for. */
	stor_ring_flush(&t.ring);
	while (!lg->round_n) step(&t.ring);
	cr_assert(!ta.done, "the round is in flight");
	int n = stor_log_tick(lg, 0);
	cr_assert(n > 0);
	int held = 0;
	for (struct stor_segment *s = lg->grave; s; s = s->grave_next) {
		cr_expect_neq(fcntl(s->fd, F_GETFD), -1, "segment %lld closed under its round", (long long)s->base);
		held++;
	}
	cr_expect_eq(held, n);
	t_run_until(&t.ring, &ta.done);
	cr_expect_eq(ta.err, 0);
	t_run_idle(&t.ring, lg);
	cr_expect_null(lg->grave, "reaped once the round was done");
	free(b);
	cr_assert_eq(t_close(&t, lg), 0);
}
