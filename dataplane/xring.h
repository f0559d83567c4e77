/*
 * dataplane/xring.h: the lock-free single-producer single-consumer ring that carries work from
 * one shard to another.  There is one ring per ordered pair of shards, so each ring has exactly
 * one writer thread and one reader thread and needs no lock.
 *
 * Memory ordering: the producer writes the slot, then publishes it with a release store of
 * `tail`; the consumer reads `tail` with acquire before reading the slot, and hands the slot back
 * with a release store of `head`, which the producer reads with acquire before reusing it.
 * head and tail sit on their own cache lines so the two threads do not share a line on every
 * message.
 */
#ifndef DP_XRING_H
#define DP_XRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct dp_shard;

/* A unit of cross-shard work: fn runs on the receiving shard and takes ownership of arg. */
struct dp_xmsg {
	void (*fn)(struct dp_shard *on, void *arg);
	void *arg;
};

struct dp_xring {
	_Alignas(64) _Atomic uint32_t head;   /* next slot the consumer reads */
	_Alignas(64) _Atomic uint32_t tail;   /* next slot the producer writes */
	_Alignas(64) uint32_t mask;
	struct dp_xmsg *slots;                /* owned; mask + 1 entries */
};

/* Constructor: cap is rounded up to a power of two.  Returns an owned ring or NULL. */
static inline struct dp_xring *dp_xring_create(uint32_t cap)
{
	uint32_t n = 1;
	while (n < cap)
		n <<= 1;
	struct dp_xring *r = aligned_alloc(64, sizeof(*r));
	if (!r)
		return NULL;
	r->slots = calloc(n, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = n - 1;
	return r;
}

static inline void dp_xring_destroy(struct dp_xring *r)
{
	if (r) {
		free(r->slots);
		free(r);
	}
}

/* Producer side.  False when the ring is full (the caller keeps the message and retries). */
static inline bool dp_xring_push(struct dp_xring *r, struct dp_xmsg m)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	if (t - h > r->mask)
		return false;
	r->slots[t & r->mask] = m;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

/* Consumer side.  False when empty. */
static inline bool dp_xring_pop(struct dp_xring *r, struct dp_xmsg *m)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (h == t)
		return false;
	*m = r->slots[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

/* Consumer side: true when something is waiting. */
static inline bool dp_xring_pending(struct dp_xring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) !=
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
