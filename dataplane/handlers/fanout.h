/*
 * dataplane/handlers/fanout.h: run one job per partition on its owner shard and continue on the
 * connection's shard when all are back.  For the per-partition APIs whose work is short
 * (DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs); Produce and Fetch keep their own,
 * richer state machines.
 *
 * A fan starts with one count of its own (dp_fan_begin), each posted job adds one, and
 * dp_fan_end drops the fan's own count, so `done` runs exactly once, after the last job is back,
 * even when jobs come back before every job was posted.  Jobs and fan live in the request arena.
 */
#ifndef DP_FANOUT_H
#define DP_FANOUT_H

#include "handlers.h"

struct dp_fan;
struct dp_fan_job {
	struct dp_fan *fan;
	void (*run)(struct dp_shard *owner, struct dp_fan_job *j);  /* on the owner shard */
};

struct dp_fan {
	struct dp_req *req;
	int pending;
	void (*done)(struct dp_fan *f);                             /* on the connection's shard */
};

void dp_fan_begin(struct dp_fan *f, struct dp_req *req, void (*done)(struct dp_fan *f));
/* Allocates a handler's context of `size` bytes, whose first member is its struct dp_fan, from
 * the request arena and begins the fan on it.  Returns it (owned by the arena), or NULL when the
 * arena is spent: the request is then finished with its connection closed, as a request that
 * cannot be answered must be. */
void *dp_fan_start(struct dp_req *req, size_t size, void (*done)(struct dp_fan *f));
/* Allocates a job of `size` bytes, whose first member is its struct dp_fan_job, for partition p
 * of t (t may be NULL: a topic not in the metadata) from the request arena, with `run` set.
 * Returns it, or NULL with *err = UNKNOWN_TOPIC_OR_PARTITION (no such topic or partition) or
 * UNKNOWN_SERVER_ERROR (arena spent).  The caller fills its fields and posts it with
 * dp_fan_post(f, job, t->owner[p]). */
void *dp_fan_job_new(struct dp_fan *f, const struct dp_topic *t, int32_t p, size_t size,
		     void (*run)(struct dp_shard *owner, struct dp_fan_job *j), int16_t *err);
/* Posts j (j->run set by the caller) to shard `owner`. */
void dp_fan_post(struct dp_fan *f, struct dp_fan_job *j, int owner);
/* Counts work that comes back by a way of its own (a job that finishes later on its owner and
 * then has the connection's shard call dp_fan_end): `done` waits for it too. */
void dp_fan_hold(struct dp_fan *f);
void dp_fan_end(struct dp_fan *f);

#endif
