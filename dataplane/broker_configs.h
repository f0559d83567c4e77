/*
 * dataplane/broker_configs.h: dynamic broker configs, Kafka's KIP-226 layers above the static
 * properties file: a cluster-wide default (resource name "", source
 * DYNAMIC_DEFAULT_BROKER_CONFIG) and this broker's own (resource name = its node id, source
 * DYNAMIC_BROKER_CONFIG).  A value is the first of: per-broker, cluster default, static file,
 * built-in default; a topic's own override comes before all of them (meta.c).
 *
 * Only the keys Kafka lets change dynamically and Ringtail honours at once may be set: the
 * broker defaults of topic configs (Kafka's DynamicLogConfig: message.max.bytes, log.segment.bytes,
 * log.roll.ms, log.retention.ms/.bytes, log.flush.interval.*, log.cleanup.policy, the
 * log.cleaner.* topic defaults), the cleaners' log.cleaner.backoff.ms / .dedupe.buffer.size /
 * .io.max.bytes.per.second (Kafka's LogCleaner) and producer.id.expiration.ms (Kafka's
 * DynamicProducerStateManagerConfig); every shard applies the last two groups to its cleaner
 * and its partitions' producer state (dataplane/parts.c).  Any other key Ringtail knows gets
 * Kafka's "Cannot update these configs dynamically"; that includes log.cleaner.threads, dynamic
 * in Kafka, which Ringtail cannot honour: one cleaner per shard (storage/cleaner.c says why).  A
 * key Ringtail does not know is kept without effect, as Kafka keeps custom broker configs.
 *
 * A set is immutable once built; the topic registry publishes it with its snapshots (meta.h),
 * so readers on any shard see it without locks.  It is persisted in
 * `<log.dirs>/ringtail-broker-configs` (text; tmp file, fsync, rename, directory fsync):
 *     version 1
 *     default <key>=<value>
 *     broker <node id> <key>=<value>
 */
#ifndef DP_BROKER_CONFIGS_H
#define DP_BROKER_CONFIGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "meta.h"

#define DP_BCFG_FILE "ringtail-broker-configs"
#define DP_BCFG_MAX_KEYS 64    /* per level: bounds what a client can make the broker store */

enum { DP_BCFG_DEFAULT = 0, DP_BCFG_NODE = 1, DP_BCFG_LEVELS = 2 };

struct dp_bcfg {
	int n[DP_BCFG_LEVELS];
	struct dp_kv *kv[DP_BCFG_LEVELS];  /* owned, sorted by key */
	struct dp_config eff;              /* the static config with both levels applied; a shallow
	                                    * copy (eff.plan is borrowed: never dp_config_fini it) */
	struct dp_bcfg *retired_next;      /* the registry keeps replaced sets until exit */
};

/* A set with no dynamic config on top of static config c (borrowed).  Returns an owned set
 * (dp_bcfg_destroy) or NULL when out of memory. */
struct dp_bcfg *dp_bcfg_create(const struct dp_config *c);
void dp_bcfg_destroy(struct dp_bcfg *d);

/* The value of key at a level, or NULL.  Borrowed from d (which lives until exit once published). */
const char *dp_bcfg_get(const struct dp_bcfg *d, int level, const char *key);

/* True when key may be set dynamically here (see above). */
bool dp_bcfg_dynamic(const char *key);

/* Kafka's ConfigType of a key (DP_TYPE_*, configs.h), for DescribeConfigs; 0 (UNKNOWN) for a key
 * Ringtail does not know. */
int8_t dp_bcfg_type(const char *key);

/* Which level a BROKER resource name addresses: "" the cluster default; one of this broker's
 * node ids its own level.  In shard-aware mode every shard is advertised as a node id of its own
 * (node.id * 1000 + shard + 1) but they are one process with one configuration, so each of those
 * ids addresses the same, this broker's, level.  Returns 0 with *level, or INVALID_REQUEST with
 * Kafka's message in msg ("Unexpected broker id, expected 0, but received 5"); `describe`
 * words it as Kafka's DescribeConfigs does ("... expected 0 or empty string, ..."). */
int16_t dp_bcfg_resource(const struct dp_config *c, int nshards, const char *name, bool describe, int *level,
                         char *msg, size_t msglen);

/*
 * Builds the set that an AlterConfigs (incremental false: the level's configs become kv[0..n))
 * or IncrementalAlterConfigs (ops[i]: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT) on `level` would
 * leave, validated as Kafka's ConfigAdminManager and DynamicBrokerConfig validate: duplicate
 * keys and null values are INVALID_REQUEST, APPEND/SUBTRACT of a key that is not a list is
 * INVALID_CONFIG, a key that cannot change dynamically or a bad value is INVALID_REQUEST
 * ("Invalid value x for configuration k: ...": KAFKA-13609 keeps that code).  kv, ops and cur
 * are borrowed.  Returns 0 with an owned *out (NULL when validate_only), or the Kafka error with
 * its message in msg.
 */
int16_t dp_bcfg_alter(const struct dp_config *c, const struct dp_bcfg *cur, int level, const struct dp_kv *kv,
                      const int8_t *ops, int n, bool incremental, bool validate_only, struct dp_bcfg **out,
                      char *msg, size_t msglen);

/* Kafka's APPEND (subtract false) or SUBTRACT of the comma-separated items of value to or from
 * the list old (both borrowed): empty items dropped, an item appended only when absent.  The
 * result goes to out[size].  Returns 0 or -E2BIG (a list too long for out or the work buffers). */
int dp_cfg_list_edit(const char *old, const char *value, bool subtract, char *out, size_t size);

/* Reads the persisted set (an empty one when there is no file).  An unreadable line, a key that
 * cannot change dynamically or a bad value stops the start: -EINVAL with a message naming the
 * file, line, key and value.  Blocking.  Returns 0 with an owned *out, or -errno. */
int dp_bcfg_load(const struct dp_config *c, struct dp_bcfg **out, char *err, size_t errlen);

/* Writes d atomically (tmp, fsync, rename, directory fsync).  Blocking.  Returns 0 or -errno. */
int dp_bcfg_save(const struct dp_config *c, const struct dp_bcfg *d);

#endif
