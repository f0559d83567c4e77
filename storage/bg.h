/*
 * storage/bg.h: a shard's background file worker (prefix stor_bg_): one thread per shard that
 * runs the rare file work a shard must not block on in the steady state: producer snapshots
 * written at a segment roll, deleting a partition's directory (DeleteTopics).  The log cleaner
 * (cleaner.c) runs its cleanings on a worker of its own (stor_bg_create_named).
 *
 * Jobs run one at a time, in submission order (FIFO), so a later job of one shard never overtakes
 * an earlier one: a partition's snapshot is written before that partition's deletion runs.  A
 * finished job comes back as a CQE on the shard's own ring (IORING_OP_MSG_RING from the thread's
 * small ring), so its completion runs in the shard's normal completion loop.  Work whose order against appends matters (anything written into
 * a live segment) does not go here: that stays on the shard's ring (storage.h).
 * The completion is `j->done(j, j->res)`, on the owner shard.
 */
#ifndef STOR_BG_H
#define STOR_BG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/ioop.h"

struct io_uring;
struct stor_bg;

/* Embedded in the caller's job (rt_container_of in run and done). */
struct stor_bg_job {
	int32_t res;                            /* set by run: 0 or -errno, passed to done */
	/* private */
	void (*run)(struct stor_bg_job *j);
	void (*done)(struct stor_bg_job *j, int32_t res);
	struct rt_ioop op;
	struct stor_bg *bg;
	struct stor_bg_job *next;
};

/* Starts the worker of the shard whose ring is `ring` (borrowed; must outlive the worker).
 * Returns an owned worker or NULL with *err (-errno). */
struct stor_bg *stor_bg_create(struct io_uring *ring, int *err);
/* The same with the thread named `name` (at most 15 characters kept) and, with `idle`, at
 * SCHED_IDLE priority (best effort): for CPU-heavy work that must only use what shards leave. */
struct stor_bg *stor_bg_create_named(struct io_uring *ring, const char *name, bool idle, int *err);

/* Queues j (borrowed until its completion has run; the caller owns it then): run(j), the blocking
 * work, on the worker thread, then done(j, j->res), the completion, on the owner shard.  Called
 * on the owner shard only.  Never blocks on I/O (a mutex shared with the worker only). */
void stor_bg_submit(struct stor_bg *bg, struct stor_bg_job *j, void (*run)(struct stor_bg_job *j),
                    void (*done)(struct stor_bg_job *j, int32_t res));

/* Jobs submitted whose completion has not run yet (owner shard). */
int stor_bg_pending(const struct stor_bg *bg);

/* Stops the worker once its queue is empty and frees it.  Call it after the shard has seen every
 * completion (stor_bg_pending() == 0); a completion not seen by then never runs.  NULL: no-op. */
void stor_bg_destroy(struct stor_bg *bg);

#endif
