/* base/buf.c: growable byte buffer (see buf.h for the error and ownership rules). */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>

void rt_buf_init(struct rt_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void rt_buf_fini(struct rt_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int rt_buf_reserve(struct rt_buf *b, size_t n)
{
	if (b->err) return b->err;
	if (b->cap - b->len >= n) return 0;
	if (n > SIZE_MAX / 2 - b->len || (b->max && b->len + n > b->max)) return b->err = -E2BIG;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n) cap *= 2;
	if (b->max && cap > b->max) cap = b->max;
	uint8_t *d = realloc(b->data, cap);
	if (!d) return b->err = -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

uint8_t *rt_buf_extend(struct rt_buf *b, size_t n)
{
	/* At least one byte, so that extending by 0 still returns a real pointer, not NULL + 0. */
	if (rt_buf_reserve(b, n ? n : 1)) return NULL;
	uint8_t *p = b->data + b->len;
	memset(p, 0, n);
	b->len += n;
	return p;
}

uint8_t *rt_buf_steal(struct rt_buf *b, size_t *len)
{
	uint8_t *d = b->data;
	if (len) *len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}
