/*
 * base/chain.h: an output chain: what a response is made of before it is sent.
 *
 * Encoders write fixed fields into the chain's own growable buffer and add borrowed memory
 * (record data still in a receive buffer) or file ranges (record data in a segment file) as
 * segments of their own, so record bytes are never copied on the way out.  The network layer
 * walks the segments in order: BUF and MEM become iovecs, FILE becomes splice/sendfile.
 *
 * Ownership: the chain owns its buffer and segment array.  MEM pointers and FILE descriptors are
 * borrowed: whoever added them keeps them alive (pins the segment file) until the send is done.
 */
#ifndef RT_CHAIN_H
#define RT_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buf.h"

enum rt_seg_kind {
	RT_SEG_BUF = 0,  /* [off, off+len) of the chain's own buffer */
	RT_SEG_MEM = 1,  /* borrowed memory at ptr */
	RT_SEG_FILE = 2, /* len bytes of file descriptor fd from offset off */
};

struct rt_seg {
	uint8_t kind;
	int fd;
	uint64_t off;
	size_t len;
	const void *ptr;
};

struct rt_chain {
	struct rt_buf buf;      /* fixed fields; segments of kind BUF point into it by offset */
	struct rt_seg *segs;    /* owned */
	size_t nsegs, cap;
	size_t buf_mark;        /* start of the buffer bytes not yet covered by a BUF segment */
	size_t total;           /* bytes in all closed segments */
	int err;                /* sticky: 0, -ENOMEM or -E2BIG */
};

/* Embedded lifetime; max_buf bounds the chain's own buffer (0 = unbounded). */
void rt_chain_init(struct rt_chain *c, size_t max_buf);
void rt_chain_fini(struct rt_chain *c);
/* Empties the chain for reuse, keeping its memory. */
void rt_chain_reset(struct rt_chain *c);

/* The buffer that fixed fields are written to. */
static inline struct rt_buf *rt_chain_buf(struct rt_chain *c) { return &c->buf; }

/* Adds a borrowed memory range after what is written so far.  Returns 0 or -errno (sticky). */
int rt_chain_add_mem(struct rt_chain *c, const void *p, size_t len);

/* Adds a borrowed file range after what is written so far.  Returns 0 or -errno (sticky). */
int rt_chain_add_file(struct rt_chain *c, int fd, uint64_t off, size_t len);

/* Closes the trailing buffer bytes into a segment.  Call once, before sending. 0 or -errno. */
int rt_chain_finish(struct rt_chain *c);

/* Bytes in the chain so far, including buffer bytes not yet closed into a segment. */
static inline size_t rt_chain_len(const struct rt_chain *c) { return c->total + (c->buf.len - c->buf_mark); }

/* The memory a BUF or MEM segment covers (valid until the chain's next write). */
static inline const void *rt_chain_seg_ptr(const struct rt_chain *c, const struct rt_seg *s)
{
	return s->kind == RT_SEG_BUF ? (const void *)(c->buf.data + s->off) : s->ptr;
}

/* Copies the whole chain into dst (reading FILE segments with pread: blocking, so only for
 * chains without them on a shard, as net_dpdk's small-answer copy); also for tests and tools.
 * dst must hold rt_chain_len bytes.  Returns 0 or -errno (the chain's own write error). */
int rt_chain_flatten(const struct rt_chain *c, uint8_t *dst);

#endif
