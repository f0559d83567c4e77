/*
 * dataplane/net_dpdk/dma_reg.h: the memory ranges a port queue registered for its device's DMA
 * (prefix dp_dma_reg_).  A device that DMAs may read a payload piece in place only when the
 * piece lies inside memory registered and DMA-mapped for it (rte_extmem_register and
 * rte_dev_dma_map, done by port.c when the stack maps a segment range for sending); the queue
 * keeps the ranges here to answer that per piece and to unregister them when the stack unmaps.
 * One queue's thread only; no DPDK types, so the bookkeeping is unit-tested.
 *
 * Invariants: ranges are disjoint and sorted by start; lookups are a binary search.
 */
#ifndef DP_NET_DPDK_DMA_REG_H
#define DP_NET_DPDK_DMA_REG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_dma_range {
	uintptr_t start, end;
};

struct dp_dma_reg {
	struct dp_dma_range *r;   /* owned */
	uint32_t n, cap;
	uint64_t bytes;           /* registered now */
	uint64_t adds, dels;      /* registrations made and removed, for the stats line */
};

/* Records [addr, addr+len).  0, -EINVAL (empty or overlapping a recorded range: the caller
 * would unregister memory still in use) or -ENOMEM. */
int dp_dma_reg_add(struct dp_dma_reg *g, const void *addr, size_t len);
/* Forgets exactly the range recorded with these arguments.  0 or -ENOENT. */
int dp_dma_reg_del(struct dp_dma_reg *g, const void *addr, size_t len);
/* True when [p, p+n) lies inside one recorded range. */
bool dp_dma_reg_covers(const struct dp_dma_reg *g, const void *p, size_t n);
void dp_dma_reg_fini(struct dp_dma_reg *g);

#endif
