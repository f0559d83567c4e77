/*
 * tests/unit/net/test_rx_lend.c: the lent-piece queue of the DPDK backend (dataplane/net_dpdk/
 * rx_lend.c): every frame reference taken is released exactly once (delivered, copied out or
 * dropped), bytes come out in stream order across pieces, and the per-connection and per-shard
 * bounds decline lends instead of holding more frames.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/uio.h>

#include "dataplane/net_dpdk/rx_lend.h"

/* A fake driver: one reference count per frame token (an index). */
static int refs[128];
static void hold(void *ref) { refs[(uintptr_t)ref]++; }
static void release(void *ref) { cr_assert_gt(refs[(uintptr_t)ref], 0, "released more than held"); refs[(uintptr_t)ref]--; }
#define REF(i) ((void *)(uintptr_t)(i))

static struct dp_lend_pool pool;
static void init(void)
{
	memset(refs, 0, sizeof refs);
	pool = (struct dp_lend_pool){.hold = hold, .release = release, .max = 1024};
}
TestSuite(dp_lend, .init = init);

Test(dp_lend, pieces_hold_their_frames_until_popped)
{
	struct dp_lend_q q = {0};
	uint8_t a[10] = "0123456789", b[5] = "abcde";
	cr_assert(dp_lend_take(&pool, &q, a, 10, REF(1)));
	cr_assert(dp_lend_take(&pool, &q, b, 5, REF(2)));
	cr_assert_eq(refs[1], 1);
	cr_assert_eq(refs[2], 1);
	cr_assert_eq(pool.held, 2);
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	cr_assert(dp_lend_head(&q, &p, &n, &ref, &whole));
	cr_assert(p == a && n == 10 && ref == REF(1) && whole);
	/* a request made from the piece takes its own reference; the queue's goes at pop */
	hold(ref);
	dp_lend_pop(&pool, &q);
	cr_assert_eq(refs[1], 1, "the request's reference keeps the frame");
	cr_assert_eq(pool.held, 1);
	cr_assert(dp_lend_head(&q, &p, &n, &ref, &whole));
	cr_assert(p == b && ref == REF(2));
	dp_lend_pop(&pool, &q);
	cr_assert(dp_lend_empty(&q));
	cr_assert_eq(refs[2], 0);
	cr_assert(!dp_lend_head(&q, &p, &n, &ref, &whole));
	dp_lend_pop(&pool, &q); /* empty: nothing */
	cr_assert_eq(pool.held, 0);
	cr_assert_eq(pool.st.lent, 2);
}

Test(dp_lend, copy_out_crosses_pieces_in_order_and_releases_the_emptied_ones)
{
	struct dp_lend_q q = {0};
	uint8_t a[10] = "0123456789", b[5] = "abcde", c[3] = "xyz";
	dp_lend_take(&pool, &q, a, 10, REF(1));
	dp_lend_take(&pool, &q, b, 5, REF(2));
	dp_lend_take(&pool, &q, c, 3, REF(3));
	uint8_t out[32];
	cr_assert_eq(dp_lend_copy(&pool, &q, out, 12), 12);
	cr_assert_arr_eq(out, "0123456789ab", 12);
	cr_assert_eq(refs[1], 0);
	cr_assert_eq(refs[2], 1, "partly copied: still held");
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	cr_assert(dp_lend_head(&q, &p, &n, &ref, &whole));
	cr_assert(!whole, "the rest of a piece is not a whole piece any more");
	cr_assert_eq(n, 3);
	cr_assert_arr_eq(p, "cde", 3);
	cr_assert_eq(dp_lend_copy(&pool, &q, out, sizeof out), 6);
	cr_assert_arr_eq(out, "cdexyz", 6);
	cr_assert(dp_lend_empty(&q));
	cr_assert_eq(refs[2] + refs[3] + pool.held, 0);
	cr_assert_eq(pool.st.copied, 18);
	cr_assert_eq(dp_lend_copy(&pool, &q, out, sizeof out), 0);
}

Test(dp_lend, a_full_queue_or_the_shard_bound_declines)
{
	struct dp_lend_q q = {0}, q2 = {0};
	uint8_t x[1];
	for (int i = 0; i < DP_LEND_PER_CONN; i++)
		cr_assert(dp_lend_take(&pool, &q, x, 1, REF(i)));
	cr_assert(!dp_lend_take(&pool, &q, x, 1, REF(100)));
	cr_assert_eq(refs[100], 0, "a declined frame is not held");
	cr_assert_eq(pool.st.declined, 1);
	pool.max = DP_LEND_PER_CONN + 1;
	cr_assert(dp_lend_take(&pool, &q2, x, 1, REF(101)));
	cr_assert(!dp_lend_take(&pool, &q2, x, 1, REF(102)), "the shard holds its bound");
	cr_assert(!dp_lend_take(&pool, &q2, x, 0, REF(103)), "nothing to lend");
	cr_assert_eq(pool.st.declined, 3);
	/* the ring wraps: pop some, take more, order kept */
	dp_lend_pop(&pool, &q);
	dp_lend_pop(&pool, &q);
	cr_assert(dp_lend_take(&pool, &q, x, 1, REF(104)));
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	dp_lend_head(&q, &p, &n, &ref, &whole);
	cr_assert_eq(ref, REF(2));
	dp_lend_drop(&pool, &q);
	dp_lend_drop(&pool, &q2);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(refs[i], 0, "frame %d still held after drop", i);
	cr_assert_eq(pool.held, 0);
}

/* A frame over several pieces, starting inside the head piece (what a copy left of it): the
 * pieces that hold exactly its bytes, then consumed without a copy, the last piece's rest kept. */
Test(dp_lend, a_frame_over_pieces_is_handed_out_and_consumed_in_place)
{
	struct dp_lend_q q = {0};
	uint8_t a[10] = "0123456789", b[5] = "abcde", c[6] = "uvwxyz";
	cr_assert(dp_lend_take(&pool, &q, a, 10, REF(1)));
	cr_assert(dp_lend_take(&pool, &q, b, 5, REF(2)));
	cr_assert(dp_lend_take(&pool, &q, c, 6, REF(3)));
	uint8_t out[4];
	cr_assert_eq(dp_lend_copy(&pool, &q, out, 4), 4);
	cr_assert_eq(dp_lend_bytes(&q), 17);
	struct iovec v[4];
	void *r[4];
	cr_assert_eq(dp_lend_iov(&q, 18, v, r, 4), -1, "more than there is");
	cr_assert_eq(dp_lend_iov(&q, 13, v, r, 2), -1, "more pieces than room");
	cr_assert_eq(dp_lend_iov(&q, 13, v, r, 4), 3);
	cr_assert(v[0].iov_base == a + 4 && v[0].iov_len == 6 && r[0] == REF(1));
	cr_assert(v[1].iov_base == b && v[1].iov_len == 5 && r[1] == REF(2));
	cr_assert(v[2].iov_base == c && v[2].iov_len == 2 && r[2] == REF(3));
	cr_assert_eq(refs[1] + refs[2] + refs[3], 3, "handing out takes no reference");
	dp_lend_consume(&pool, &q, 13);
	cr_assert_eq(refs[1] + refs[2], 0, "the emptied pieces' frames released");
	cr_assert_eq(refs[3], 1);
	cr_assert_eq(dp_lend_bytes(&q), 4);
	cr_assert_eq(pool.st.copied, 4, "consumed bytes are not counted as copied");
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	cr_assert(dp_lend_head(&q, &p, &n, &ref, &whole));
	cr_assert(p == c + 2 && n == 4 && !whole);
	dp_lend_consume(&pool, &q, 100);
	cr_assert(dp_lend_empty(&q));
	cr_assert_eq(refs[3], 0);
	cr_assert_eq(pool.held, 0);
}
