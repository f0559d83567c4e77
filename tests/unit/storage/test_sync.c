/* Unit tests for storage/sync.c: group commit.  A round covers every write issued before it
 * was wanted; concurrent producers' writes that complete while a round is in flight share the
 * next one (one round in flight); a lone producer's append that comes during a round gets a
 * round of its own at once (a second in flight). */
#include <criterion/criterion.h>
#include <liburing.h>
#include <stdlib.h>

#include "storage/internal.h"
#include "util.h"

static struct tctx t;

static void setup(void) { t_setup(&t, NULL); }
static void teardown(void) { t_teardown(&t); }

TestSuite(stor_sync, .init = setup, .fini = teardown);

/* One dispatch step that also checks that, once the log's rounds acknowledge several appends
 * each (concurrent producers), no second round is ever issued beside the first. */
static void step(struct stor_log *lg)
{
	t_run_once(&t.ring);
	cr_assert_leq(lg->round_n, STOR_SYNC_ROUNDS);
	if (lg->acks_avg16 > STOR_SYNC_GROUP_ACKS16)
		cr_assert_leq(lg->round_n, 1, "two fdatasync rounds in flight on a log of concurrent producers");
}

/* The completions of round r (its fdatasyncs, plain or linked) kept back, as if the kernel
 * were slow to return them. */
struct held {
	struct stor_round *r;
	int n;
	struct rt_ioop *op[8];
	int32_t res[8];
};

/* Dispatches completions until *until, or until nothing but the held ones is in flight, keeping
 * back every completion of h->r. */
static void run_holding(struct stor_log *lg, volatile bool *until, struct held *h)
{
	stor_ring_flush(&t.ring);
	io_uring_submit(&t.ring);
	while (!*until && lg->inflight > h->n) {
		stor_ring_flush(&t.ring);
		io_uring_submit_and_wait(&t.ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		struct rt_ioop *ops[64];
		int32_t res[64];
		io_uring_for_each_cqe(&t.ring, head, cqe) {
			if (n == 64) break;
			ops[n] = io_uring_cqe_get_data(cqe);
			res[n] = cqe->res;
			n++;
		}
		io_uring_cq_advance(&t.ring, n);
		for (unsigned i = 0; i < n; i++) {
			if (ops[i] && (ops[i] == &h->r->op || ops[i] == &h->r->lop)) {
				cr_assert_lt(h->n, 8);
				h->op[h->n] = ops[i];
				h->res[h->n++] = res[i];
				continue;
			}
			if (ops[i]) ops[i]->cb(ops[i], res[i], 0);
		}
	}
}

static void release(struct held *h)
{
	for (int i = 0; i < h->n; i++) h->op[i]->cb(h->op[i], h->res[i], 0);
	h->n = 0;
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
	/* Concurrent producers: a burst of eight first, so the log's rounds acknowledge several
	 * appends each. */
	struct stor_log *lg = t_open(&t, "gcr");
	burst(lg, 0);
	cr_assert_gt(lg->acks_avg16, STOR_SYNC_GROUP_ACKS16);
	size_t len;
	uint8_t *a = t_batch(1, 1700000000000LL, 100, &len);
	struct t_app first;
	uint64_t seq0 = lg->round_seq;
	cr_assert_eq(t_append_submit(lg, &first, a, len, STOR_APPEND_DURABLE), 0);
	cr_expect_geq(stor_io_in_flight(), 1, "the first append's write is in flight");
	stor_ring_flush(&t.ring);  /* as below: a linked round is seen before any dispatch */
	while (!lg->round_n) step(lg);
	cr_assert(!first.done, "the first append waits for its round");
	cr_assert_eq(lg->round_seq - seq0, 1);

	/* Four more arrive while that fdatasync is in flight (its completion held back until their
	 * writes are in): they do not start a round beside it; the next round covers all four. */
	enum { N = 4 };
	struct t_app ta[N];
	uint8_t *b[N];
	struct held h = {.r = &lg->rounds[lg->round_first]};
	t_submit_batches(lg, ta, b, N, 2, 1700000000001LL, 100, STOR_APPEND_DURABLE);
	run_holding(lg, &first.done, &h);
	cr_assert(!first.done);
	cr_expect_eq(lg->round_n, 1, "a round was issued beside the one in flight");
	cr_expect_eq(stor_log_end_offset(lg), 33 + 2 * N, "the four writes are resolved");
	release(&h);
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
	cr_expect_eq(stor_log_durable_offset(lg), 33 + 2 * N);
	free(a);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}

Test(stor_sync, a_lone_producers_append_during_a_round_gets_its_own_at_once)
{
	/* One producer at a modest rate: each round acknowledges one append.  An append whose
	 * write completes while the previous append's round is in flight is covered by a round
	 * issued then, not one issued after that round is back. */
	struct stor_log *lg = t_open(&t, "gcl");
	size_t len;
	uint8_t *a = t_batch(1, 1700000000000LL, 100, &len), *b = t_batch(1, 1700000000001LL, 100, &len);
	for (int k = 0; k < 3; k++) {
		uint8_t *c = t_batch(1, 1700000000000LL, 100, &len);
		cr_assert_eq(t_append(&t, lg, c, len, STOR_APPEND_DURABLE, NULL), 0);
		free(c);
	}
	cr_assert_leq(lg->acks_avg16, STOR_SYNC_GROUP_ACKS16);
	struct t_app first, second;
	uint64_t seq0 = lg->round_seq;
	cr_assert_eq(t_append_submit(lg, &first, a, len, STOR_APPEND_DURABLE), 0);
	/* The pass's end issues the write, and with it the round's fdatasync when it is linked
	 * (coalesce.c): see the round in flight before any completion is dispatched.  A step that
	 * flushed and dispatched at once could take both completions in one go (the write and its
	 * linked fdatasync, when the thread was preempted between them: 1 run in about 250 with 4
	 * copies on 2 cores), and the loop then waited for a completion that nothing would bring. */
	stor_ring_flush(&t.ring);
	while (!lg->round_n) step(lg);
	cr_expect_eq(stor_sync_rounds_in_flight(), 1);
	/* The first write's pass has ended and it is in the kernel's hands before the second
	 * comes (one accepted in the same pass would share its write and round, coalesce.c). */
	stor_ring_flush(&t.ring);
	io_uring_submit(&t.ring);
	struct held h = {.r = &lg->rounds[lg->round_first]};
	cr_assert_eq(t_append_submit(lg, &second, b, len, STOR_APPEND_DURABLE), 0);
	run_holding(lg, &first.done, &h);
	cr_assert(!first.done && !second.done);
	cr_expect_eq(stor_log_end_offset(lg), 5, "both writes are resolved");
	cr_expect_eq(lg->round_n, 2, "no round was issued for the second append while the first's was out");
	/* Rounds whose fdatasyncs are not all back (a shard does not poll beside them): the
	 * first's is held, the second's is back although that round is not settled yet. */
	cr_expect_eq(stor_sync_rounds_in_flight(), 1, "%u rounds in flight", stor_sync_rounds_in_flight());
	/* The second round completes first here (the first's is still held): it is settled only
	 * after the first, which covers the offsets below its own. */
	run_holding(lg, &second.done, &h);
	cr_expect(!second.done, "acknowledged before the round covering the offset below it");
	cr_expect_eq(stor_log_durable_offset(lg), 3);
	release(&h);
	t_run_until(&t.ring, &second.done);
	cr_expect(first.done && first.err == 0 && second.err == 0);
	cr_expect_eq(lg->round_seq - seq0, 2);
	cr_expect_eq(stor_log_durable_offset(lg), 5);
	cr_expect_eq(stor_sync_rounds_in_flight(), 0);
	cr_expect_eq(stor_io_in_flight(), 0);
	free(a);
	free(b);
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
	uint64_t seq0 = lg->round_seq;
	for (int i = 0; i < W; i++) {
		b[i] = t_batch(1, 1700000000000LL + i, 2000, &len);
		left[i] = PER;
		last_base[i] = -1;
		cr_assert_eq(t_append_submit(lg, &ta[i], b[i], len, STOR_APPEND_DURABLE), 0);
	}
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
