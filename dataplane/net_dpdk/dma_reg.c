/*
 * dataplane/net_dpdk/dma_reg.c: the registered-range table of dma_reg.h: a sorted array (a
 * queue has as many ranges as segment mappings in flight: tens to hundreds).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/net_dpdk/dma_reg.h"

/* The first range whose end is above a (where a would be, or lies). */
static uint32_t find(const struct dp_dma_reg *g, uintptr_t a)
{
	uint32_t lo = 0, hi = g->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g->r[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int dp_dma_reg_add(struct dp_dma_reg *g, const void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr, e = s + len;
	if (!len || e < s)
		return -EINVAL;
	uint32_t i = find(g, s);
	if (i < g->n && g->r[i].start < e)
		return -EINVAL;
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 64;
		struct dp_dma_range *r = realloc(g->r, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		g->r = r;
		g->cap = cap;
	}
	memmove(&g->r[i + 1], &g->r[i], (g->n - i) * sizeof g->r[0]);
	g->r[i] = (struct dp_dma_range){s, e};
	g->n++;
	g->bytes += len;
	g->adds++;
	return 0;
}

int dp_dma_reg_del(struct dp_dma_reg *g, const void *addr, size_t len)
{
	uintptr_t s = (uintptr_t)addr;
	uint32_t i = find(g, s);
	if (i == g->n || g->r[i].start != s || g->r[i].end != s + len)
		return -ENOENT;
	memmove(&g->r[i], &g->r[i + 1], (g->n - i - 1) * sizeof g->r[0]);
	g->n--;
	g->bytes -= len;
	g->dels++;
	return 0;
}

bool dp_dma_reg_covers(const struct dp_dma_reg *g, const void *p, size_t n)
{
	uintptr_t s = (uintptr_t)p;
	uint32_t i = find(g, s);
	return i < g->n && g->r[i].start <= s && s + n <= g->r[i].end;
}

void dp_dma_reg_fini(struct dp_dma_reg *g)
{
	free(g->r);
	*g = (struct dp_dma_reg){0};
}
