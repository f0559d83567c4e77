/*
 * tests/unit/net/test_copy_pool.c: the per-shard pool of copy buffers (dataplane/net_dpdk/
 * copy_pool.c): a buffer given back is handed out again for the same size class instead of a
 * new malloc, classes do not mix, the cache budget frees what is over it, and a size over the
 * largest class is refused.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "dataplane/net_dpdk/copy_pool.h"

Test(dp_copy_pool, a_buffer_given_back_is_reused_without_malloc)
{
	struct dp_cpool *p = dp_cpool_create(1 << 20);
	cr_assert_not_null(p);
	uint8_t *a = dp_cpool_get(p, 100);
	cr_assert_not_null(a);
	memset(a, 0x5a, DP_CPOOL_MIN); /* the whole class is usable */
	cr_assert_eq((uintptr_t)a % 16, 0, "aligned as malloc's memory");
	dp_cpool_put(p, a);
	for (int i = 0; i < 1000; i++) {
		uint8_t *b = dp_cpool_get(p, 1 + (size_t)i % DP_CPOOL_MIN);
		cr_assert_eq(b, a, "the same buffer again");
		dp_cpool_put(p, b);
	}
	const struct dp_cpool_stats *st = dp_cpool_stats(p);
	cr_assert_eq(st->mallocs, 1);
	cr_assert_eq(st->reused, 1000);
	cr_assert_eq(st->gets, 1001);
	dp_cpool_destroy(p);
}

Test(dp_copy_pool, size_classes_do_not_mix)
{
	struct dp_cpool *p = dp_cpool_create(1 << 20);
	uint8_t *small = dp_cpool_get(p, 200), *big = dp_cpool_get(p, 5000);
	cr_assert(small && big);
	memset(big, 1, 8192);
	dp_cpool_put(p, small);
	uint8_t *c = dp_cpool_get(p, 5000);
	cr_assert_neq(c, small, "a 256-byte buffer never serves 5000 bytes");
	memset(c, 2, 5000);
	dp_cpool_put(p, big);
	dp_cpool_put(p, c);
	cr_assert_eq(dp_cpool_stats(p)->cached_bytes, 256 + 2 * 8192);
	uint8_t *top = dp_cpool_get(p, DP_CPOOL_MAX);
	cr_assert_not_null(top);
	memset(top, 3, DP_CPOOL_MAX);
	dp_cpool_put(p, top);
	cr_assert_null(dp_cpool_get(p, DP_CPOOL_MAX + 1), "over the largest class: refused");
	dp_cpool_destroy(p);
}

Test(dp_copy_pool, the_cache_budget_frees_what_is_over_it)
{
	struct dp_cpool *p = dp_cpool_create(3 * 1024);
	void *b[8];
	for (int i = 0; i < 8; i++)
		b[i] = dp_cpool_get(p, 1024);
	for (int i = 0; i < 8; i++)
		dp_cpool_put(p, b[i]);
	const struct dp_cpool_stats *st = dp_cpool_stats(p);
	cr_assert_eq(st->cached_bytes, 3 * 1024);
	cr_assert_eq(st->frees, 5);
	dp_cpool_put(p, NULL);
	dp_cpool_destroy(p);
}
