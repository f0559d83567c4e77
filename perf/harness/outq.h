/*
 * perf/harness/outq.h: a connection's output queue: the requests written to its socket in order,
 * without copying the record batches they carry.
 *
 * A request is encoded into a chain (base/chain.h): its fixed fields are copied into the queue's
 * own buffer, and its record sets, which the chain holds as borrowed memory, are queued by
 * pointer when the caller keeps them alive until they are written, so a Produce of 1 MiB costs
 * the socket's copy only (the copy into one flat buffer was a fifth of the harness's CPU).
 *
 * Invariants: pieces go out in the order they were added; a buffer piece is an offset range of
 * buf (which may move as it grows); buf and the piece list are emptied once all is written.
 */
#ifndef PERF_OUTQ_H
#define PERF_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/chain.h"

struct perf_opiece {
	const uint8_t *ptr;          /* borrowed memory; NULL: [off, off + len) of the queue's buf */
	size_t off, len;
};

struct perf_outq {
	struct rt_buf buf;
	struct perf_opiece *p;       /* owned */
	int n, cap, head;            /* pieces [head, n) are not fully written */
	size_t head_off;             /* bytes of p[head] already written */
	size_t pending;              /* bytes queued and not yet written */
};

void perf_outq_init(struct perf_outq *q);
void perf_outq_fini(struct perf_outq *q);

/* Queues a finished chain (rt_chain_finish done) after what is queued.  With borrow, its memory
 * segments are queued by pointer and must stay valid until written (perf_outq_pending reaches
 * 0); without, or when smaller than 4 KiB (an iovec costs more than the copy), copied.  The chain
 * may be reset or freed afterwards.  0, -ENOMEM, or -EINVAL for a file segment. */
int perf_outq_add_chain(struct perf_outq *q, const struct rt_chain *c, bool borrow);

/* Writes what fd takes now (writev of up to 64 pieces at a time, until all is written or the
 * socket would block).  0, or -errno of the write (-EPIPE when it wrote nothing). */
int perf_outq_write(struct perf_outq *q, int fd);

static inline size_t perf_outq_pending(const struct perf_outq *q) { return q->pending; }

#endif
