/* Unit tests for base/arena.c: alignment, zeroing, the byte limit, reset and big allocations. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "base/arena.h"

Test(rt_arena, allocations_are_aligned_zeroed_and_distinct)
{
	struct rt_arena a;
	rt_arena_init(&a, 256, 0);
	uint8_t *prev = NULL;
	for (size_t n = 1; n < 200; n += 7) {
		uint8_t *p = rt_arena_alloc(&a, n);
		cr_assert_not_null(p);
		cr_expect_eq((uintptr_t)p % 16, 0u, "size %zu", n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(p[i], 0);
		memset(p, 0xAB, n); /* a later allocation must not overlap this one */
		if (prev)
			cr_expect_eq(prev[0], 0xAB);
		prev = p;
	}
	cr_expect_gt(a.used, 0u);
	rt_arena_fini(&a);
	cr_expect_null(a.head);
}

Test(rt_arena, limit_refuses_and_keeps_going)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 1024);
	cr_expect_not_null(rt_arena_alloc(&a, 1000));
	cr_expect_null(rt_arena_alloc(&a, 100), "over the 1024-byte limit");
	cr_expect_not_null(rt_arena_alloc(&a, 16), "what is left is still usable");
	cr_expect_null(rt_arena_alloc(&a, SIZE_MAX));
	cr_expect_null(rt_arena_alloc(&a, SIZE_MAX - 8), "rounding up must not wrap");
	/* A hostile count: the multiplication overflows, so nothing is allocated. */
	cr_expect_null(rt_arena_calloc(&a, SIZE_MAX / 2, 4));
	cr_expect_null(rt_arena_calloc(&a, 1u << 30, 1 << 20));
	cr_expect_leq(a.used, 1024u);
	rt_arena_reset(&a);
	cr_expect_eq(a.used, 0u);
	cr_expect_not_null(rt_arena_alloc(&a, 1024), "reset gives the whole limit back");
	rt_arena_fini(&a);
}

Test(rt_arena, unbounded_arena_takes_big_allocations)
{
	struct rt_arena a;
	rt_arena_init(&a, 128, 0);
	uint8_t *small = rt_arena_alloc(&a, 16);
	uint8_t *big = rt_arena_alloc(&a, 100000);
	cr_assert_not_null(big);
	memset(big, 1, 100000);
	/* The big one went behind the head: the head's space keeps serving small ones. */
	uint8_t *small2 = rt_arena_alloc(&a, 16);
	cr_expect_eq(small2, small + 16);
	rt_arena_fini(&a);
}

Test(rt_arena, reset_keeps_one_default_chunk)
{
	struct rt_arena a;
	rt_arena_init(&a, 256, 0);
	uint8_t *newest = NULL;
	for (int i = 0; i < 100; i++) {
		uint8_t *q = rt_arena_alloc(&a, 100);
		cr_assert_not_null(q);
		memset(q, 0xEE, 100);
		if (i == 98) /* two 112-byte slots per 256-byte chunk: 98 opens the newest chunk */
			newest = q;
	}
	rt_arena_reset(&a);
	cr_assert_not_null(a.head);
	uint8_t *p = rt_arena_alloc(&a, 64);
	cr_expect_eq(p, newest, "the newest chunk is reused from its start");
	for (int i = 0; i < 64; i++)
		cr_assert_eq(p[i], 0, "reused memory is zeroed again");

	/* A first allocation larger than a chunk must not stay pinned after reset. */
	struct rt_arena b;
	rt_arena_init(&b, 256, 0);
	cr_assert_not_null(rt_arena_alloc(&b, 1 << 20));
	rt_arena_reset(&b);
	cr_expect_null(b.head);
	cr_expect_not_null(rt_arena_alloc(&b, 8));
	rt_arena_fini(&a);
	rt_arena_fini(&b);
}

Test(rt_arena, calloc_and_strndup)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	uint32_t *v = rt_arena_calloc(&a, 100, sizeof(uint32_t));
	cr_assert_not_null(v);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(v[i], 0u);
	char *s = rt_arena_strndup(&a, "topic-name-and-more", 10);
	cr_expect_str_eq(s, "topic-name");
	cr_expect_str_eq(rt_arena_strndup(&a, "", 0), "");
	cr_expect_null(rt_arena_strndup(&a, "x", SIZE_MAX));
	cr_expect_not_null(rt_arena_alloc(&a, 0));
	rt_arena_fini(&a);
}
