/* base/chain.c: output chain of buffer, memory and file segments (see chain.h). */
#include "chain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rt_chain_init(struct rt_chain *c, size_t max_buf)
{
	memset(c, 0, sizeof(*c));
	rt_buf_init(&c->buf, max_buf);
}

void rt_chain_fini(struct rt_chain *c)
{
	rt_buf_fini(&c->buf);
	free(c->segs);
	memset(c, 0, sizeof(*c));
}

void rt_chain_reset(struct rt_chain *c)
{
	rt_buf_reset(&c->buf);
	c->nsegs = 0;
	c->buf_mark = 0;
	c->total = 0;
	c->err = 0;
}

static struct rt_seg *push(struct rt_chain *c)
{
	if (c->err) return NULL;
	if (c->nsegs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct rt_seg *s = realloc(c->segs, cap * sizeof(*s));
		if (!s) { c->err = -ENOMEM; return NULL; }
		c->segs = s;
		c->cap = cap;
	}
	struct rt_seg *s = &c->segs[c->nsegs++];
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	return s;
}

/* Turns buffer bytes written since the last segment into a BUF segment. */
static int close_buf(struct rt_chain *c)
{
	if (c->buf.err) c->err = c->err ? c->err : c->buf.err;
	if (c->err) return c->err;
	size_t n = c->buf.len - c->buf_mark;
	if (!n) return 0;
	struct rt_seg *s = push(c);
	if (!s) return c->err;
	s->kind = RT_SEG_BUF;
	s->off = c->buf_mark;
	s->len = n;
	c->buf_mark = c->buf.len;
	c->total += n;
	return 0;
}

int rt_chain_add_mem(struct rt_chain *c, const void *p, size_t len)
{
	if (close_buf(c)) return c->err;
	if (!len) return 0;
	struct rt_seg *s = push(c);
	if (!s) return c->err;
	s->kind = RT_SEG_MEM;
	s->ptr = p;
	s->len = len;
	c->total += len;
	return 0;
}

int rt_chain_add_file(struct rt_chain *c, int fd, uint64_t off, size_t len)
{
	if (close_buf(c)) return c->err;
	if (!len) return 0;
	struct rt_seg *s = push(c);
	if (!s) return c->err;
	s->kind = RT_SEG_FILE;
	s->fd = fd;
	s->off = off;
	s->len = len;
	c->total += len;
	return 0;
}

int rt_chain_finish(struct rt_chain *c) { return close_buf(c); }

int rt_chain_flatten(const struct rt_chain *c, uint8_t *dst)
{
	if (c->err) return c->err;
	/* A failed buffer write not yet seen by close_buf: the bytes would be silently missing. */
	if (c->buf.err) return c->buf.err;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct rt_seg *s = &c->segs[i];
		if (s->kind == RT_SEG_FILE) {
			size_t done = 0;
			while (done < s->len) {
				ssize_t n = pread(s->fd, dst + done, s->len - done, (off_t)(s->off + done));
				if (n < 0 && errno == EINTR) continue;
				if (n <= 0) return n < 0 ? -errno : -EIO;
				done += (size_t)n;
			}
		} else {
			memcpy(dst, rt_chain_seg_ptr(c, s), s->len);
		}
		dst += s->len;
	}
	/* Buffer bytes not yet closed into a segment come last. */
	if (c->buf.len > c->buf_mark) /* buf.data is NULL when nothing was written */
		memcpy(dst, c->buf.data + c->buf_mark, c->buf.len - c->buf_mark);
	return 0;
}
