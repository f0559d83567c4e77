/*
 * base/ioop.h: the completion convention shared by every io_uring user in Ringtail.
 *
 * Each shard has one io_uring; storage, the network backend and timers all submit to it.  The
 * user_data of every SQE is a pointer to a `struct rt_ioop` embedded in the submitter's own
 * object, and the shard's loop hands each CQE back through it:
 *
 *     struct rt_ioop *op = io_uring_cqe_get_data(cqe);
 *     op->cb(op, cqe->res, cqe->flags);
 *
 * so no component needs to know another's types.  A user_data of 0 (NULL) marks SQEs whose
 * completions are ignored (e.g. msg_ring wake-ups).  The object that holds the ioop must stay
 * alive until its completion has been seen (for multishot SQEs: until a CQE without
 * IORING_CQE_F_MORE).
 */
#ifndef RT_IOOP_H
#define RT_IOOP_H

#include <liburing.h>
#include <stdint.h>

struct rt_ioop;

/* res is the CQE's result (>= 0 or -errno); flags are the CQE's flags. */
typedef void (*rt_ioop_fn)(struct rt_ioop *op, int32_t res, uint32_t flags);

struct rt_ioop {
	rt_ioop_fn cb;
};

/* One CQE of ring handed over by that convention, for loops that reap one completion at a
 * time (tools, benchmarks, tests; the shard's loop advances its CQ in batches, shard.c): the
 * CQE is marked seen before the callback, which may then submit and reap again. */
static inline void rt_ioop_complete(struct io_uring *ring, struct io_uring_cqe *cqe)
{
	struct rt_ioop *op = (struct rt_ioop *)io_uring_cqe_get_data(cqe);
	int32_t res = cqe->res;
	uint32_t flags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	if (op)
		op->cb(op, res, flags);
}

#define rt_container_of(ptr, type, member) ((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

#endif
