/*
 * tests/unit/net/test_dma_reg.c: the DMA registration bookkeeping of a DPDK port queue
 * (dataplane/net_dpdk/dma_reg.c): which pieces lie in registered memory (only those may be
 * read in place by a DMA device), ranges removed exactly as registered, overlaps refused.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "dataplane/net_dpdk/dma_reg.h"

static uint8_t mem[1 << 16];
#define AT(o) ((void *)(mem + (o)))

Test(dp_dma_reg, a_piece_goes_in_place_only_inside_one_registered_range)
{
	struct dp_dma_reg g = {0};
	cr_assert_eq(dp_dma_reg_add(&g, AT(8192), 4096), 0);
	cr_assert_eq(dp_dma_reg_add(&g, AT(0), 4096), 0, "before: kept sorted");
	cr_assert_eq(dp_dma_reg_add(&g, AT(4096), 4096), 0, "adjacent is not overlapping");
	cr_assert(dp_dma_reg_covers(&g, AT(8192), 4096));
	cr_assert(dp_dma_reg_covers(&g, AT(100), 1000));
	cr_assert(dp_dma_reg_covers(&g, AT(5000), 3192));
	cr_assert(!dp_dma_reg_covers(&g, AT(5000), 3193), "runs into the next range: two registrations");
	cr_assert(!dp_dma_reg_covers(&g, AT(12288), 1), "past the last");
	cr_assert(!dp_dma_reg_covers(&g, AT(20000), 10));
	cr_assert_eq(g.bytes, 3 * 4096);
	cr_assert_eq(g.n, 3);
	dp_dma_reg_fini(&g);
	cr_assert_eq(g.n, 0);
}

Test(dp_dma_reg, removal_is_exact_and_overlaps_are_refused)
{
	struct dp_dma_reg g = {0};
	cr_assert_eq(dp_dma_reg_add(&g, AT(4096), 8192), 0);
	cr_assert_eq(dp_dma_reg_add(&g, AT(8192), 4096), -EINVAL, "inside a registered range");
	cr_assert_eq(dp_dma_reg_add(&g, AT(0), 4097), -EINVAL, "overlaps its start");
	cr_assert_eq(dp_dma_reg_add(&g, AT(0), 0), -EINVAL, "empty");
	cr_assert_eq(dp_dma_reg_del(&g, AT(4096), 4096), -ENOENT, "not as registered");
	cr_assert_eq(dp_dma_reg_del(&g, AT(0), 4096), -ENOENT);
	cr_assert(dp_dma_reg_covers(&g, AT(4096), 8192));
	cr_assert_eq(dp_dma_reg_del(&g, AT(4096), 8192), 0);
	cr_assert(!dp_dma_reg_covers(&g, AT(4096), 1), "unregistered memory is copied again");
	cr_assert_eq(g.bytes, 0);
	cr_assert_eq(g.adds, 1);
	cr_assert_eq(g.dels, 1);
	/* many ranges: the table grows and stays searchable */
	for (int i = 0; i < 200; i++)
		cr_assert_eq(dp_dma_reg_add(&g, AT((199 - i) * 256), 256), 0);
	for (int i = 0; i < 200; i++)
		cr_assert(dp_dma_reg_covers(&g, AT(i * 256 + 10), 200), "range %d", i);
	for (int i = 0; i < 200; i += 2)
		cr_assert_eq(dp_dma_reg_del(&g, AT(i * 256), 256), 0);
	cr_assert(!dp_dma_reg_covers(&g, AT(0), 1));
	cr_assert(dp_dma_reg_covers(&g, AT(256), 256));
	cr_assert_eq(g.n, 100);
	dp_dma_reg_fini(&g);
}
