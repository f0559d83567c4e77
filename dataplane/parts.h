/*
 * dataplane/parts.h: the partitions a shard owns: each one's storage log, opened on the owner
 * shard (at start-up for every partition the registry assigns to it, or on first use for a
 * partition created since), ticked once a second for retention and background flush, and closed
 * with a final flush at shutdown.
 *
 * Keyed by topic id and partition index, so a topic deleted and re-created under the same name is
 * a different partition.  Only the owner shard's thread touches its table.
 */
#ifndef DP_PARTS_H
#define DP_PARTS_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

struct dp_shard;
struct dp_topic;
struct stor_pstate;
struct stor_bg;

struct dp_part {
	struct dp_part *hnext;
	uint8_t topic_id[16];
	int32_t index;
	char topic[250];
	struct stor_log *log;
	bool deleting;                 /* its topic is gone: delete the log once idle */
	bool opening;                  /* the file worker is opening it (log NULL until done) */
	int pins;                      /* fetch reads not yet released and armed fetch watches */
	struct stor_pstate *pstate;    /* idempotent/transactional producers (storage/producer_state.h) */
	const char *dir_path;          /* the log dir's path (borrowed), for producer snapshots */
	struct stor_bg *bg;            /* the shard's file worker (borrowed), or NULL */
};

struct dp_parts;

struct dp_parts *dp_parts_create(struct dp_shard *s);
void dp_parts_destroy(struct dp_parts *p);

/* The partition `index` of topic t, opening its log when needed.  Must run on the owner shard.
 * Returns the partition or NULL with *kerr set to a Kafka error code. */
struct dp_part *dp_parts_get(struct dp_shard *s, const struct dp_topic *t, int32_t index, int16_t *kerr);

/* Opens every partition the current registry assigns to shard s (start-up recovery).  0 or -errno. */
int dp_parts_open_owned(struct dp_shard *s);

/* Removes every partition of the topic with this id from the shard (deleting its files). */
void dp_parts_drop_topic(struct dp_shard *s, const uint8_t id[16]);
/* Removes the partitions index >= first of the topic with this id from the shard (deleting
 * their files): the undoing of a CreatePartitions whose new partitions could not all be opened. */
void dp_parts_drop_from(struct dp_shard *s, const uint8_t id[16], int32_t first);
/* From shard `from`: has every shard drop the partitions index >= first of the topic with this
 * id (dp_parts_drop_from; first 0: the whole topic): `from` at once, the others through a
 * message.  `id` is copied. */
void dp_parts_drop_everywhere(struct dp_shard *from, const uint8_t id[16], int32_t first);

/* Once a second: retention, background flush, deferred deletions. */
void dp_parts_tick(struct dp_shard *s);

/* Shutdown: asks this shard's cleaner to stop the cleaning it runs (the job still comes back
 * through the ring, so keep driving it until dp_parts_idle). */
void dp_parts_stop_background(struct dp_shard *s);
/* True when no log of the shard has I/O in flight. */
bool dp_parts_idle(struct dp_shard *s);

/* Flushes and closes every log (shutdown).  Returns 0 or the first -errno. */
int dp_parts_close_all(struct dp_shard *s);

/* Opens every partition of topic t that shard s owns and has not open yet on the shard's file
 * worker (directory, partition.metadata, first segment: no file system call on the shard), then
 * calls done(s, arg, err) on s, err 0 or the -errno of the first partition that could not be
 * opened (it is not in the table: the next request tries again).  Meanwhile those partitions
 * answer NOT_LEADER_OR_FOLLOWER.  For CreateTopics and CreatePartitions, which answer once the
 * new partitions are open.  Without a worker done is called at once (err 0) and the partitions
 * open on first use. */
void dp_parts_preopen(struct dp_shard *s, const struct dp_topic *t,
                      void (*done)(struct dp_shard *s, void *arg, int err), void *arg);

/* The shard's file worker (storage/bg.h; borrowed), or NULL when it could not be started. */
struct stor_bg *dp_parts_bg(struct dp_shard *s);

/* Applies a topic's changed configuration to the open logs of this shard. */
void dp_parts_reconfigure(struct dp_shard *s, const struct dp_topic *t);

/* Applies every topic's configuration in snapshot snap (borrowed) to the open logs of this shard:
 * after a change of the dynamic broker configs, which every topic without its own override
 * follows.  Also the dynamic broker configs of the shard's cleaner and of its partitions'
 * producer state (log.cleaner.backoff.ms, .dedupe.buffer.size, .io.max.bytes.per.second,
 * producer.id.expiration.ms).  One pass over the shard's partitions. */
struct dp_snap;
void dp_parts_reconfigure_all(struct dp_shard *s, const struct dp_snap *snap);

#endif
