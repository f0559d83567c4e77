/*
 * control/store.h: the control process's own Kafka client to the dataplane's listener, for the
 * compacted topic `__consumer_offsets`: it creates the topic when missing, reads it from the
 * beginning at start (feeding every record to the coordinator), then writes the coordinator's
 * appends as Produce requests with acks=-1, answering each append once the broker has.
 *
 * Why a client connection and not the Unix link: the internal topic is then served by exactly
 * the dataplane's Produce and Fetch paths (validation, group commit, fdatasync, replication
 * later), with no second entry into the data path to keep in step; and the link stays a
 * one-way request/answer channel that a shard can drive without a reverse request path.
 *
 * Non-blocking, driven by the owner's poll loop (ctl_store_fd / ctl_store_events / ctl_store_io
 * / ctl_store_tick).  A lost connection fails every append in flight with
 * COORDINATOR_NOT_AVAILABLE (the clients retry their commits) and reconnects.
 */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/coord.h"

struct ctl_store;

/* Returns an owned store that will connect to host:port, or NULL.  partitions: the partition
 * count to create the topic with (offsets.topic.num.partitions). */
struct ctl_store *ctl_store_create(const char *host, int port, const char *topic, int32_t partitions,
                                   struct ctl_coord *coord);
/* The same for any compacted internal topic (`__transaction_state`, issue 7): `sink` (copied)
 * gets the records read at start (value NULL for a tombstone), the end of loading, the topic's
 * partition count (set_partitions may be NULL) and each append's outcome. */
struct ctl_store_sink {
	void *ctx;
	void (*load_record)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *value, int32_t vlen);
	void (*load_done)(void *ctx);
	void (*set_partitions)(void *ctx, int32_t n);
	void (*append_done)(void *ctx, struct ctl_append *a, int16_t err);
	/* Optional (NULL: not told): the batch the next records come from (producer_id -1 unless
	 * it is transactional), and the transaction markers (control batches) met while loading. */
	void (*load_batch)(void *ctx, int64_t base_offset, int64_t producer_id);
	void (*load_marker)(void *ctx, int32_t partition, int64_t producer_id, bool commit);
};
struct ctl_store *ctl_store_create_sink(const char *host, int port, const char *topic,
                                        int32_t partitions, const struct ctl_store_sink *sink);
void ctl_store_destroy(struct ctl_store *s);

/* A missing topic is not created at start (there is nothing to load) but on the first append,
 * as Kafka creates `__consumer_offsets` when a group first needs it.  Call before the first
 * ctl_store_tick. */
void ctl_store_create_lazily(struct ctl_store *s);

/* The coordinator is told once its state is loaded (ctl_coord_load_done). */
bool ctl_store_loaded(const struct ctl_store *s);
/* True when the store loaded and found no topic (ctl_store_create_lazily: the first write creates it). */
bool ctl_store_missing(const struct ctl_store *s);

/* Takes a (see struct ctl_coord_ops.append).  A transactional append (a->transactional) goes
 * out as a transactional batch of its producer, never merged with other producers' records;
 * the store numbers its sequences per producer and partition, continuing from what it loaded
 * (the dataplane checks them as for any idempotent producer).  On success a->log_offset is
 * the base offset the batch got. */
void ctl_store_append(struct ctl_store *s, struct ctl_append *a);

/* Poll integration: the socket (-1 while none), the events to wait for, the events seen. */
int ctl_store_fd(const struct ctl_store *s);
short ctl_store_events(const struct ctl_store *s);
void ctl_store_io(struct ctl_store *s, short revents);
/* Reconnects and retries; returns the next time (ms, monotonic) it wants to be called. */
int64_t ctl_store_tick(struct ctl_store *s, int64_t now_ms);

/* Counters for logs and measurements. */
struct ctl_store_stats {
	int64_t loaded_records;
	int64_t load_ms;
	int64_t appends;
	int64_t produce_requests;     /* appends travel together: appends / produce_requests */
	int64_t append_errors;
};
void ctl_store_stats(const struct ctl_store *s, struct ctl_store_stats *out);

#endif
