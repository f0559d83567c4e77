/*
 * dataplane/net_dpdk/copy_pool.h: a per-shard pool of buffers for the small answers the DPDK
 * backend copies (prefix dp_cpool_).  An answer below 16 KiB (a Produce answer, metadata) is
 * flattened into a buffer the stack holds until the peer's ACK; taking and giving back those
 * buffers from free lists, by power-of-two size class, spares a malloc and a free per answer.
 *
 * Invariants: one thread (the shard's) uses a pool, no locks.  The free lists together hold at
 * most the byte budget given at creation; a buffer given back beyond it is freed.  A buffer
 * remembers its class in a header before the bytes handed out.
 */
#ifndef DP_NET_DPDK_COPY_POOL_H
#define DP_NET_DPDK_COPY_POOL_H

#include <stddef.h>
#include <stdint.h>

#define DP_CPOOL_MIN 256u          /* the smallest class */
#define DP_CPOOL_MAX (16u << 10)   /* the largest buffer the pool gives */

struct dp_cpool;

struct dp_cpool_stats {
	uint64_t gets, reused, mallocs, frees;  /* frees: given back beyond the budget */
	uint64_t cached_bytes;                  /* in the free lists now */
};

/* A pool keeping at most max_cached bytes on its free lists.  Returns an owned pool or NULL. */
struct dp_cpool *dp_cpool_create(size_t max_cached);
/* Frees the cached buffers and the pool.  Buffers still out must not be given back after. */
void dp_cpool_destroy(struct dp_cpool *p);
/* A buffer of at least len bytes (owned by the caller until dp_cpool_put), or NULL when len is
 * over DP_CPOOL_MAX or memory ran out. */
void *dp_cpool_get(struct dp_cpool *p, size_t len);
/* Takes back a buffer dp_cpool_get returned (NULL: nothing). */
void dp_cpool_put(struct dp_cpool *p, void *buf);
const struct dp_cpool_stats *dp_cpool_stats(const struct dp_cpool *p);

#endif
