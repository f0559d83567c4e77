/*
 * dataplane/meta.h: the topic registry: names, topic ids, partition counts, partition -> owner
 * shard, and per-topic config overrides; persisted in the data directory.  Each snapshot also
 * carries the dynamic broker configs (broker_configs.h) its topics' effective configs follow, so
 * that a change of a broker default publishes every topic anew in one snapshot.
 *
 * Readers (every request) take the current snapshot with one atomic load and never lock: a
 * snapshot and the topics in it are immutable once published.  Writers (CreateTopics,
 * DeleteTopics, CreatePartitions, config changes, auto-creation) are rare and serialized by a
 * mutex; each builds a new snapshot, writes it to disk (tmp file, fsync, rename, directory
 * fsync) and only then publishes it, so a topic a client has seen survives a crash.  Replaced
 * snapshots and topics are kept until exit because a request on another shard may still hold
 * them; their number is bounded by the number of admin operations.
 */
#ifndef DP_META_H
#define DP_META_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define DP_TOPIC_NAME_MAX 249

struct dp_config;
struct dp_bcfg;

struct dp_kv {
	char *key;
	char *value;
};

struct dp_topic {
	char name[DP_TOPIC_NAME_MAX + 1];
	uint8_t id[16];
	int32_t nparts;
	int16_t *owner;                /* owner shard of each partition */
	char *owner_list;              /* owner[] as ringtail.partition.shards shows it (owners.h) */
	int nconf;
	struct dp_kv *conf;            /* explicit overrides, sorted by key */
	struct stor_config scfg;       /* broker defaults + overrides */
	int32_t max_message_bytes;     /* max.message.bytes (or message.max.bytes) */
	bool internal;                 /* __consumer_offsets, __transaction_state */
	struct dp_topic *retired_next;
};

struct dp_snap {
	uint64_t version;
	const struct dp_bcfg *dyn;     /* the dynamic broker configs (broker_configs.h) its topics follow */
	int n;
	const struct dp_topic **t;     /* sorted by name */
	struct dp_snap *retired_next;
};

struct dp_meta {
	_Atomic(struct dp_snap *) cur;
	pthread_mutex_t lock;          /* writers only */
	struct dp_snap *retired;
	struct dp_topic *retired_topics;
	struct dp_bcfg *retired_dyn;
	const struct dp_config *cfg;   /* borrowed */
	int nshards;
	char path[4200];
	char cluster_id[64];
};

/* Loads (or starts) the registry from the data directory; owners >= nshards are re-spread.
 * Blocking.  Returns an owned registry or NULL with a message in err. */
struct dp_meta *dp_meta_open(const struct dp_config *cfg, int nshards, char *err, size_t errlen);
/* Reads the registry without writing anything: for the operator's `ringtail --show-partitions`,
 * also beside a running broker (the file is replaced by rename, so a read sees one whole
 * version).  Owners >= nshards come back re-spread as the next start would do it.  Only
 * dp_meta_snap and dp_meta_close may be used on it.  Returns an owned registry or NULL with a
 * message in err. */
struct dp_meta *dp_meta_read(const struct dp_config *cfg, int nshards, char *err, size_t errlen);
void dp_meta_close(struct dp_meta *m);

/* The current snapshot (borrowed; valid for the process lifetime). */
static inline const struct dp_snap *dp_meta_snap(struct dp_meta *m)
{
	return atomic_load_explicit(&m->cur, memory_order_acquire);
}

const struct dp_topic *dp_snap_find(const struct dp_snap *s, const char *name, size_t len);
const struct dp_topic *dp_snap_find_id(const struct dp_snap *s, const uint8_t id[16]);

/* Kafka's topic name rules.  Returns 0 or KP_ERR_INVALID_TOPIC_EXCEPTION with *msg set. */
int16_t dp_topic_name_check(const char *name, size_t len, const char **msg);

/* Creates a topic.  nparts -1 / rf -1 take the broker defaults.  Configs are validated (the
 * owners key is not one of them: the caller parses it into owners).  owners (borrowed, NULL
 * when none was given) holds the owner shard of each of the nparts partitions, -1 where the
 * registry spreads evenly; each shard below the shard count.  Returns a Kafka error code (0 on
 * success) with *msg set for errors (Kafka's words; for a factor above 1 without the factor,
 * which CreateTopics puts in); *out (when given) gets the topic (or, with validate_only, NULL). */
int16_t dp_meta_create(struct dp_meta *m, const char *name, size_t len, int32_t nparts, int16_t rf,
                       const struct dp_kv *conf, int nconf, const int16_t *owners, bool validate_only,
                       const char **msg, const struct dp_topic **out);

/* Deletes a topic; *out gets the removed topic (so that owners can delete its partitions).
 * Returns a Kafka error code. */
int16_t dp_meta_delete(struct dp_meta *m, const struct dp_topic *t);

/* Grows a topic to `total` partitions.  owners (borrowed, or NULL) holds nowners owner shards
 * of the new partitions in order, -1 where the registry spreads evenly; their count must be
 * the number of new partitions (INVALID_REPLICA_ASSIGNMENT).  Returns a Kafka error code with
 * *msg set. */
int16_t dp_meta_add_partitions(struct dp_meta *m, const char *name, size_t len, int32_t total,
                               const int16_t *owners, int32_t nowners, bool validate_only, const char **msg);

/* Takes topic t (the registry's current one, else UNKNOWN_TOPIC_OR_PARTITION) back to its first
 * nparts partitions: the undoing of a growth whose new partitions could not be opened.
 * Returns a Kafka error code. */
int16_t dp_meta_shrink_partitions(struct dp_meta *m, const struct dp_topic *t, int32_t nparts);

/* Replaces (set, incremental=false) or edits (incremental: ops 0 SET, 1 DELETE, 2 APPEND and
 * 3 SUBTRACT for Kafka's LIST keys) topic configs.  The owners key is read-only: setting it to
 * the value DescribeConfigs shows is accepted (tools that replace a topic's configs send back
 * what they read), changing or deleting it is Kafka's INVALID_REQUEST for a config that cannot
 * change dynamically.  Returns a Kafka error code with *msg set (static, or this thread's until
 * its next call: copy it); validate_only checks without changing. */
int16_t dp_meta_alter_configs(struct dp_meta *m, const char *name, size_t len, const struct dp_kv *kv,
                              const int8_t *ops, int n, bool incremental, bool validate_only,
                              const char **msg);

/* Alters the dynamic broker configs of `level` (broker_configs.h: dp_bcfg_alter's arguments and
 * checks): the new set is written to its file, and a snapshot is published whose every topic
 * follows it (the open logs still need dp_parts_reconfigure_all on each shard).  Blocking.
 * Returns a Kafka error code with the message in msg. */
int16_t dp_meta_alter_broker(struct dp_meta *m, int level, const struct dp_kv *kv, const int8_t *ops, int n,
                             bool incremental, bool validate_only, char *msg, size_t msglen);

/* Validates one topic config key/value.  Returns 0 or a Kafka error with *msg. */
int16_t dp_topic_config_check(const char *key, const char *value, const char **msg);

#endif
