/* Unit tests for storage/sync.c: group commit.  One fdatasync round is in flight per log; a
 * round covers every write issued before it was wanted, and the writes that complete while a
 * round is in flight share the next one. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "storage/internal.h"
#include "util.h"

static struct tctx t;

static void setup(void) { t_setup(&t, NULL); }
static void teardown(void) { t_teardown(&t); }

TestSuite(stor_sync, .init = setup, .fini = teardown);

/* One dispatch step that also checks that no second round was ever issued beside the first. */
static void step(struct stor_log *lg)
{
	t_run_once(&t.ring);
	cr_assert_leq(lg->round_n, 1, "two fdatasync rounds in flight on one log");
}

/* Eight producers' durable appends, their writes all issued before any completes. */
static uint64_t burst(struct stor_log *lg, int64_t first_offset)
{
	enum { N = 8 };
	struct t_app ta[N];
	uint8_t *b[N];
	uint64_t seq0 = lg->round_seq;
	t_submit_batches(lg, ta, b, N, 4, 1700000000000LL, 16384, STOR_APPEND_DURABLE);
	for (int i = 0; i < N; i++)
		while (!ta[i].done) step(lg);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(ta[i].err, 0, "append %d", i);
		cr_expect_eq(ta[i].a.base_offset, first_offset + 4 * i);
		free(b[i]);
	}
	cr_expect_eq(stor_log_durable_offset(lg), first_offset + 4 * N);
	return lg->round_seq - seq0;
}

Test(stor_sync, one_round_covers_every_write_issued_before_it)
{
	struct stor_log *lg = t_open(&t, "gc8");
	/* On an idle log the first append looks like a lone producer's and carries its own linked
	 * fdatasync; the first completion of the other seven wants a round, which waits for the
	 * other six writes and covers them all. */
	uint64_t r1 = burst(lg, 0);
	cr_expect(r1 >= 1 && r1 <= 2, "the first 8 concurrent durable appends took %llu rounds",
	          (unsigned long long)r1);
	/* The last round acknowledged several appends: no linking now, one round for all eight. */
	uint64_t r2 = burst(lg, 32);
	cr_expect_eq(r2, 1, "the next 8 concurrent durable appends took %llu rounds", (unsigned long long)r2);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}

Test(stor_sync, writes_completing_during_a_round_share_the_next)
{
	struct stor_log *lg = t_open(&t, "gcr");
	size_t len;
	uint8_t *a = t_batch(1, 1700000000000LL, 100, &len);
	struct t_app first;
	uint64_t seq0 = lg->round_seq;
	cr_assert_eq(t_append_submit(lg, &first, a, len, STOR_APPEND_DURABLE), 0);
	while (!lg->round_n) step(lg);
	cr_assert(!first.done, "the first append waits for its round");
	cr_assert_eq(lg->round_seq - seq0, 1);

	/* Four more arrive while that fdatasync is in flight: whether their writes complete before
	 * or after it, they do not start rounds beside it; the next round covers all four. */
	enum { N = 4 };
	struct t_app ta[N];
	uint8_t *b[N];
	t_submit_batches(lg, ta, b, N, 2, 1700000000001LL, 100, STOR_APPEND_DURABLE);
	while (!first.done) step(lg);
	cr_expect_eq(first.err, 0);
	for (int i = 0; i < N; i++)
		while (!ta[i].done) step(lg);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(ta[i].err, 0, "append %d", i);
		free(b[i]);
	}
	cr_expect_eq(lg->round_seq - seq0, 2, "1 + %d durable appends took %llu rounds", N,
	             (unsigned long long)(lg->round_seq - seq0));
	cr_expect_eq(stor_log_durable_offset(lg), 1 + 2 * N);
	free(a);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}

Test(stor_sync, every_waiter_is_acknowledged_once_across_many_rounds)
{
	/* Producers that append again as soon as they are acknowledged (as the bench's writers do):
	 * rounds follow each other, and every append is acknowledged once, in offset order per
	 * producer, with the durable offset past it. */
	struct stor_log *lg = t_open(&t, "gcm");
	enum { W = 6, PER = 20 };
	struct t_app ta[W];
	uint8_t *b[W];
	int left[W];
	int64_t last_base[W];
	size_t len = 0;
	for (int i = 0; i < W; i++) {
		b[i] = t_batch(1, 1700000000000LL + i, 2000, &len);
		left[i] = PER;
		last_base[i] = -1;
		cr_assert_eq(t_append_submit(lg, &ta[i], b[i], len, STOR_APPEND_DURABLE), 0);
	}
	uint64_t seq0 = lg->round_seq;
	int busy = W;
	while (busy) {
		step(lg);
		for (int i = 0; i < W; i++) {
			if (!left[i] || !ta[i].done) continue;
			cr_assert_eq(ta[i].err, 0);
			cr_assert_gt(ta[i].a.base_offset, last_base[i]);
			cr_assert_gt(stor_log_durable_offset(lg), ta[i].a.last_offset);
			last_base[i] = ta[i].a.base_offset;
			if (--left[i]) {
				/* The bytes were stamped in place: a fresh copy for the next append. */
				free(b[i]);
				b[i] = t_batch(1, 1700000000000LL + i, 2000, &len);
				cr_assert_eq(t_append_submit(lg, &ta[i], b[i], len, STOR_APPEND_DURABLE), 0);
			} else {
				busy--;
			}
		}
	}
	uint64_t rounds = lg->round_seq - seq0;
	cr_expect(rounds >= PER && rounds <= 2 * PER, "%d appends took %llu rounds", W * PER,
	          (unsigned long long)rounds);
	cr_expect_eq(stor_log_durable_offset(lg), W * PER);
	for (int i = 0; i < W; i++) free(b[i]);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}
