/*
 * perf/harness/outq.c: a connection's ordered output without copies of record batches (see
 * outq.h).
 */
#include "perf/harness/outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define BORROW_MIN 4096
#define IOV_BATCH 64

void perf_outq_init(struct perf_outq *q)
{
	memset(q, 0, sizeof(*q));
	rt_buf_init(&q->buf, 0);
}

void perf_outq_fini(struct perf_outq *q)
{
	rt_buf_fini(&q->buf);
	free(q->p);
	memset(q, 0, sizeof(*q));
}

static int add_piece(struct perf_outq *q, const uint8_t *ptr, size_t off, size_t len)
{
	if (q->n == q->cap) {
		int cap = q->cap ? q->cap * 2 : 16;
		struct perf_opiece *np = realloc(q->p, sizeof(*np) * (size_t)cap);
		if (!np)
			return -ENOMEM;
		q->p = np;
		q->cap = cap;
	}
	q->p[q->n++] = (struct perf_opiece){ptr, off, len};
	return 0;
}

/* Copies len bytes into buf, growing the last piece when it is the buffer's tail. */
static int add_copy(struct perf_outq *q, const void *src, size_t len)
{
	size_t at = q->buf.len;
	rt_buf_put(&q->buf, src, len);
	if (q->buf.err)
		return q->buf.err;
	struct perf_opiece *last = q->n > q->head ? &q->p[q->n - 1] : NULL;
	if (last && !last->ptr && last->off + last->len == at) {
		last->len += len;
		return 0;
	}
	return add_piece(q, NULL, at, len);
}

int perf_outq_add_chain(struct perf_outq *q, const struct rt_chain *c, bool borrow)
{
	if (c->err)
		return c->err;
	int rc = 0;
	for (size_t i = 0; i < c->nsegs && !rc; i++) {
		const struct rt_seg *s = &c->segs[i];
		if (s->kind == RT_SEG_FILE)
			return -EINVAL;
		if (!s->len)
			continue;
		const uint8_t *p = rt_chain_seg_ptr(c, s);
		if (s->kind == RT_SEG_MEM && borrow && s->len >= BORROW_MIN)
			rc = add_piece(q, p, 0, s->len);
		else
			rc = add_copy(q, p, s->len);
		if (!rc)
			q->pending += s->len;
	}
	return rc;
}

int perf_outq_write(struct perf_outq *q, int fd)
{
	while (q->head < q->n) {
		struct iovec iov[IOV_BATCH];
		int k = 0;
		for (int i = q->head; i < q->n && k < IOV_BATCH; i++, k++) {
			const struct perf_opiece *p = &q->p[i];
			size_t skip = i == q->head ? q->head_off : 0;
			const uint8_t *base = p->ptr ? p->ptr : q->buf.data + p->off;
			iov[k] = (struct iovec){(void *)(base + skip), p->len - skip};
		}
		ssize_t w = writev(fd, iov, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		q->pending -= (size_t)w;
		size_t left = (size_t)w;
		while (left) {
			size_t rest = q->p[q->head].len - q->head_off;
			if (left < rest) {
				q->head_off += left;
				break;
			}
			left -= rest;
			q->head++;
			q->head_off = 0;
		}
	}
	if (q->head == q->n) {
		rt_buf_reset(&q->buf);
		q->n = q->head = 0;
		q->head_off = 0;
	}
	return 0;
}
