/*
 * dataplane/handlers/offload.h: running the file-bound part of an admin request (the topic
 * registry's write: tmp file, fsync, rename, directory fsync) on the connection shard's file
 * worker (storage/bg.h) and answering back on the shard, so that CreateTopics, CreatePartitions
 * and DeleteTopics never block a shard (issue 3).
 *
 * `run` executes on the worker thread: it may use the request (its decoded message and arena:
 * nothing else touches an unanswered request meanwhile) and the registry (meta.c, thread-safe),
 * never shard state (no dp_shard_post, no partitions, no response).  `back` then runs on the
 * connection's shard and answers.  Requests of one shard run in order on its worker.  Without a
 * worker (it could not be started) `run` runs inline, blocking as before.
 */
#ifndef DP_OFFLOAD_H
#define DP_OFFLOAD_H

#include "handlers.h"
#include "storage/bg.h"

struct dp_off {
	struct stor_bg_job job;          /* private */
	struct dp_req *req;
	void *ctx;
	void (*run)(struct dp_off *o);   /* on the worker thread */
	void (*back)(struct dp_off *o);  /* on the connection's shard */
};

/* Starts o (allocated by the caller in the request's arena, with run, back and ctx set). */
void dp_off_start(struct dp_off *o, struct dp_req *req);

/* On the connection's shard: has every owner shard open the new partitions of the n topics
 * (NULL entries skipped) on its file worker (dp_parts_preopen), then calls then(req, ctx) on
 * the connection's shard, so that CreateTopics and CreatePartitions answer with their
 * partitions ready, as Kafka's do once leaders are elected. */
void dp_off_preopen(struct dp_req *req, const struct dp_topic *const *topics, int n,
                    void (*then)(struct dp_req *req, void *ctx), void *ctx);

#endif
