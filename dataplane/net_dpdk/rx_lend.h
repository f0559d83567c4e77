/*
 * dataplane/net_dpdk/rx_lend.h: received bytes that a connection keeps in the frames they
 * arrived in (prefix dp_lend_), between the stack's lend callback (dp_tcp_cb.lend) and their
 * delivery to the connection layer.  A piece is a span of one frame plus the driver's token for
 * that frame (an mbuf); the queue holds one reference on each frame until the piece is
 * delivered or copied out.  No DPDK types: the driver's hold and release are function pointers.
 *
 * Invariants: a queue's pieces are consecutive stream bytes in order, and come before anything
 * in the connection's ring (the stack lends only when its ring is empty, and the backend drains
 * the queue before reading the ring).  The frames held by every queue of a shard are bounded
 * (max), so lent frames cannot starve the receive queue of mbufs; past the bound, or with a
 * full queue, a lend is declined and the stack copies into the ring as before.
 */
#ifndef DP_NET_DPDK_RX_LEND_H
#define DP_NET_DPDK_RX_LEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pieces a connection's queue holds: a request frame that arrives over several segments waits
 * here until whole when it fits (about 64 KiB at a 1,500-byte MTU), to become a request in
 * place (dp_conn_received_chain); a larger one is copied. */
#define DP_LEND_PER_CONN 48

struct dp_lend_stats {
	uint64_t lent;       /* pieces taken from the stack without a copy */
	uint64_t declined;   /* lends refused (queue full or shard bound reached): copied to the ring */
	uint64_t zc_frames;  /* request frames handed to the connection layer in place */
	uint64_t zc_bytes;   /* their bytes (length prefixes included) */
	uint64_t copied;     /* lent bytes copied after all: partial frames, into a frame in progress */
	uint64_t chain_frames;  /* frames over several pieces handed to the connection layer in place */
	uint64_t chain_bytes;   /* their bytes */
};

struct dp_lend_pool {
	void (*hold)(void *ref);     /* one more reference on the frame */
	void (*release)(void *ref);  /* one less */
	uint32_t max;                /* frames held at most by the shard's queues */
	uint32_t held;
	struct dp_lend_stats st;
};

struct dp_lend_piece {
	uint8_t *p;
	uint32_t n;
	void *ref;
};

struct dp_lend_q {
	struct dp_lend_piece v[DP_LEND_PER_CONN];
	uint8_t head, cnt;
	uint32_t off;   /* bytes of the head piece already copied out */
};

/* Takes n bytes at p in the frame ref (borrowed; held with pool->hold when taken).  True when
 * taken, false when the queue is full or the pool is at its bound (counted as declined). */
bool dp_lend_take(struct dp_lend_pool *pool, struct dp_lend_q *q, uint8_t *p, size_t n, void *ref);

static inline bool dp_lend_empty(const struct dp_lend_q *q) { return q->cnt == 0; }

/* The head piece's bytes not yet copied out (borrowed from the queue); *whole is true when none
 * were.  False when the queue is empty. */
bool dp_lend_head(const struct dp_lend_q *q, uint8_t **p, size_t *n, void **ref, bool *whole);

/* Drops the head piece: its frame reference is released. */
void dp_lend_pop(struct dp_lend_pool *pool, struct dp_lend_q *q);

/* Copies up to n bytes from the front of the queue into dst, releasing every piece emptied.
 * Returns the count (counted as copied). */
size_t dp_lend_copy(struct dp_lend_pool *pool, struct dp_lend_q *q, uint8_t *dst, size_t n);

/* Bytes the queue holds (the head piece's not yet copied out included). */
size_t dp_lend_bytes(const struct dp_lend_q *q);

/* The first n bytes of the queue as pieces (v[i] in the frame refs[i], borrowed from the queue),
 * at most max.  Returns the count, or -1 when the queue holds fewer bytes or more pieces are
 * needed. */
struct iovec;
int dp_lend_iov(const struct dp_lend_q *q, size_t n, struct iovec *v, void **refs, int max);

/* Drops the first n bytes (or all there are) without copying them: the frames of the pieces
 * emptied are released. */
void dp_lend_consume(struct dp_lend_pool *pool, struct dp_lend_q *q, size_t n);

/* Releases every piece (the connection went). */
void dp_lend_drop(struct dp_lend_pool *pool, struct dp_lend_q *q);

#endif
