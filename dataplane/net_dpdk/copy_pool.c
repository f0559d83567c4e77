/*
 * dataplane/net_dpdk/copy_pool.c: the per-shard buffer pool for copied answers (copy_pool.h).
 * Classes are powers of two from DP_CPOOL_MIN to DP_CPOOL_MAX; each has a singly linked free
 * list threaded through the buffers themselves.
 */
#include <stdlib.h>

#include "dataplane/net_dpdk/copy_pool.h"

#define NCLASS 7  /* 256 B .. 16 KiB */

/* Before the bytes handed out; 16 bytes keep them aligned as malloc's are. */
struct hdr {
	struct hdr *next;  /* on a free list */
	uint64_t cls;      /* its class */
};

struct dp_cpool {
	struct hdr *free[NCLASS];
	size_t max_cached;
	struct dp_cpool_stats st;
};

_Static_assert(sizeof(struct hdr) == 16, "the header keeps 16-byte alignment");

static size_t class_size(unsigned k) { return (size_t)DP_CPOOL_MIN << k; }

struct dp_cpool *dp_cpool_create(size_t max_cached)
{
	struct dp_cpool *p = calloc(1, sizeof *p);
	if (p)
		p->max_cached = max_cached;
	return p;
}

void dp_cpool_destroy(struct dp_cpool *p)
{
	if (!p)
		return;
	for (unsigned k = 0; k < NCLASS; k++)
		while (p->free[k]) {
			struct hdr *h = p->free[k];
			p->free[k] = h->next;
			free(h);
		}
	free(p);
}

void *dp_cpool_get(struct dp_cpool *p, size_t len)
{
	if (len > DP_CPOOL_MAX)
		return NULL;
	unsigned k = 0;
	while (class_size(k) < len)
		k++;
	p->st.gets++;
	struct hdr *h = p->free[k];
	if (h) {
		p->free[k] = h->next;
		p->st.cached_bytes -= class_size(k);
		p->st.reused++;
	} else {
		h = malloc(sizeof *h + class_size(k));
		if (!h)
			return NULL;
		p->st.mallocs++;
	}
	h->cls = k;
	return h + 1;
}

void dp_cpool_put(struct dp_cpool *p, void *buf)
{
	if (!buf)
		return;
	struct hdr *h = (struct hdr *)buf - 1;
	unsigned k = (unsigned)h->cls;
	if (p->st.cached_bytes + class_size(k) > p->max_cached) {
		p->st.frees++;
		free(h);
		return;
	}
	h->next = p->free[k];
	p->free[k] = h;
	p->st.cached_bytes += class_size(k);
}

const struct dp_cpool_stats *dp_cpool_stats(const struct dp_cpool *p) { return &p->st; }
