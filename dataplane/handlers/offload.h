/*
 * dataplane/handlers/offload.h: running the file-bound part of an admin request (the topic
 * registry's write: tmp file, fsync, rename, directory fsync) on the connection shard's file
 * worker (storage/bg.h) and answering back on the shard, so that CreateTopics, CreatePartitions
 * and DeleteTopics never block a shard (issue 3).
 *
 * `run` executes on the worker thread: it may use the request (its decoded message and arena:
 * nothing else touches an unanswered request meanwhile) and the registry (meta.c, thread-safe),
 * never shard state (no dp_shard_post, no partitions, no response).  Back on the connection's
 * shard, `back` (when set) runs and may post jobs to other shards on `fan` (fanout.h), the owner
 * shards open the partitions of `open` (CreateTopics and CreatePartitions answer with their
 * partitions ready, as Kafka's do once leaders are elected), and the request is answered with
 * `resp` once every one of those jobs and opens is back: what the answer says is then in effect
 * on every shard.  Requests of one shard run in order on its worker.  Without a worker (it could
 * not be started) `run` runs inline, blocking as before.
 */
#ifndef DP_OFFLOAD_H
#define DP_OFFLOAD_H

#include "fanout.h"
#include "handlers.h"
#include "storage/bg.h"

struct dp_off {
	struct stor_bg_job job;          /* private */
	struct dp_req *req;
	void *msg;                       /* the decoded request */
	void *resp;                      /* the response (zeroed, in the request's arena): run fills it */
	const struct dp_topic **open;    /* set by run, or NULL: open[0..nopen) (NULL entries skipped)
	                                  * are topics whose new partitions are opened before the answer */
	int32_t nopen;
	void (*run)(struct dp_off *o);   /* on the worker thread */
	void (*back)(struct dp_off *o);  /* on the connection's shard before the answer, or NULL */
	/* Set by run, or NULL: on the connection's shard, once the opening of open[] is over, called
	 * for each topic open[i] some of whose partitions could not be opened (err: the first -errno,
	 * e.g. -EMFILE); it puts the topic's error in resp.  The topic then leaves the registry (on
	 * the worker), or goes back to its open_first[i] partitions when that is above 0 (a growth),
	 * and every shard drops what was opened of it, before the answer: a topic is answered
	 * created or grown only with all its partitions open.  Without it the partitions that did
	 * not open are left to open on first use. */
	void (*open_failed)(struct dp_off *o, int32_t i, int err);
	int32_t *open_first;             /* set by run, or NULL (every partition new): per open[]
	                                  * entry, its partition count before the request */
	void *ctx;                       /* the handler's own, from run to back (NULL at first) */
	struct dp_fan fan;               /* back's jobs (dp_fan_post): the answer waits for them */
	int *open_err;                   /* private: per open[] entry, the first failure */
};

/* On the connection's shard: runs run(o) on the file worker for request req (msg borrowed, as
 * the handler's), then back(o), the opening of o->open and the answer o->resp (resp_size bytes)
 * as described above.  Takes req until it is finished; out of memory closes the connection. */
void dp_off_answer(struct dp_req *req, void *msg, size_t resp_size, void (*run)(struct dp_off *o),
                   void (*back)(struct dp_off *o));

/* For open_failed: the Kafka error for partitions that could not be opened (err: -errno), and
 * in *msg a message in the request's arena naming the cause and then `outcome` (borrowed). */
int16_t dp_off_open_error(struct dp_off *o, int err, const char *outcome, struct kp_str *msg);

#endif
