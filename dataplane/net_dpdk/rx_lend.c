/*
 * dataplane/net_dpdk/rx_lend.c: the lent-piece queue of rx_lend.h.  A ring of DP_LEND_PER_CONN
 * pieces per connection; the shard-wide count of held frames is the pool's.
 */
#include <string.h>
#include <sys/uio.h>

#include "dataplane/net_dpdk/rx_lend.h"

bool dp_lend_take(struct dp_lend_pool *pool, struct dp_lend_q *q, uint8_t *p, size_t n, void *ref)
{
	if (q->cnt == DP_LEND_PER_CONN || pool->held >= pool->max || n == 0 || n > UINT32_MAX) {
		pool->st.declined++;
		return false;
	}
	pool->hold(ref);
	pool->held++;
	q->v[(q->head + q->cnt) % DP_LEND_PER_CONN] = (struct dp_lend_piece){p, (uint32_t)n, ref};
	q->cnt++;
	pool->st.lent++;
	return true;
}

bool dp_lend_head(const struct dp_lend_q *q, uint8_t **p, size_t *n, void **ref, bool *whole)
{
	if (!q->cnt)
		return false;
	const struct dp_lend_piece *h = &q->v[q->head];
	*p = h->p + q->off;
	*n = h->n - q->off;
	*ref = h->ref;
	*whole = q->off == 0;
	return true;
}

void dp_lend_pop(struct dp_lend_pool *pool, struct dp_lend_q *q)
{
	if (!q->cnt)
		return;
	void *ref = q->v[q->head].ref;
	q->head = (uint8_t)((q->head + 1) % DP_LEND_PER_CONN);
	q->cnt--;
	q->off = 0;
	pool->held--;
	pool->release(ref);
}

size_t dp_lend_copy(struct dp_lend_pool *pool, struct dp_lend_q *q, uint8_t *dst, size_t n)
{
	size_t got = 0;
	while (got < n && q->cnt) {
		const struct dp_lend_piece *h = &q->v[q->head];
		size_t k = h->n - q->off;
		if (k > n - got)
			k = n - got;
		memcpy(dst + got, h->p + q->off, k);
		got += k;
		q->off += (uint32_t)k;
		if (q->off == h->n)
			dp_lend_pop(pool, q);
	}
	pool->st.copied += got;
	return got;
}

void dp_lend_drop(struct dp_lend_pool *pool, struct dp_lend_q *q)
{
	while (q->cnt)
		dp_lend_pop(pool, q);
}

size_t dp_lend_bytes(const struct dp_lend_q *q)
{
	size_t n = 0;
	for (int i = 0; i < q->cnt; i++)
		n += q->v[(q->head + i) % DP_LEND_PER_CONN].n;
	return n - (q->cnt ? q->off : 0);
}

int dp_lend_iov(const struct dp_lend_q *q, size_t n, struct iovec *v, void **refs, int max)
{
	int k = 0;
	for (int i = 0; i < q->cnt && n; i++) {
		const struct dp_lend_piece *h = &q->v[(q->head + i) % DP_LEND_PER_CONN];
		size_t skip = i == 0 ? q->off : 0, m = h->n - skip;
		if (m > n)
			m = n;
		if (k == max)
			return -1;
		v[k] = (struct iovec){h->p + skip, m};
		refs[k++] = h->ref;
		n -= m;
	}
	return n ? -1 : k;
}

void dp_lend_consume(struct dp_lend_pool *pool, struct dp_lend_q *q, size_t n)
{
	while (n && q->cnt) {
		const struct dp_lend_piece *h = &q->v[q->head];
		size_t k = h->n - q->off;
		if (k > n)
			k = n;
		q->off += (uint32_t)k;
		n -= k;
		if (q->off == h->n)
			dp_lend_pop(pool, q);
	}
}
