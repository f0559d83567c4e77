/*
 * dataplane/config.h: the broker's settings as the dataplane uses them.
 *
 * The keys are declared once in config.c as a base/config table (Kafka's names and defaults,
 * `ringtail.*` for the rest), loaded from a properties file and then from command-line
 * overrides; the first invalid value stops the start with a message naming where it came from,
 * the key, the value and what is allowed.  The shard cores come from the affinity plan
 * (hw/plan.h), built from the machine's topology and the `ringtail.*` plan keys.  After loading,
 * the values live in this plain struct, read without lookups on the data path.
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdbool.h>

#include "dataplane/net_dpdk/dpdk_config.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hw/plan.h"
#include "storage/compact.h"

#define DP_MAX_SHARDS 256

struct dp_config {
	char listen_host[256];
	uint16_t listen_port;
	char adv_host[256];            /* advertised.listeners, or the listener when unset */
	uint16_t adv_port;
	char log_dirs[4096];
	int32_t node_id;
	int32_t num_partitions;
	int16_t default_replication_factor;
	bool auto_create_topics;
	int32_t message_max_bytes;
	int64_t socket_request_max_bytes;
	int32_t fetch_max_bytes;       /* a consumer's fetch answers (and copies) at most this */
	int32_t replica_fetch_response_max_bytes;  /* the same for a follower's */
	int64_t log_segment_bytes;
	int64_t log_roll_ms;
	int64_t log_retention_ms;      /* -1 = forever */
	int64_t log_retention_bytes;   /* -1 = unbounded */
	int64_t log_flush_interval_messages;
	int64_t log_flush_interval_ms;
	int64_t connections_max_idle_ms;
	int64_t producer_id_expiration_ms;        /* producer.id.expiration.ms */
	int64_t producer_id_expiration_check_ms;  /* producer.id.expiration.check.interval.ms */
	int32_t fetch_session_slots;   /* max.incremental.fetch.session.cache.slots, all shards */
	struct stor_cleaner_config cleaner;    /* log.cleaner.enable, .backoff.ms, .dedupe.buffer.size, ... */
	double log_cleaner_io_max_bytes_per_second; /* as given (cleaner.io_max_bytes_per_second: 0 for
	                                        * unlimited), for DescribeConfigs */
	int32_t log_cleaner_threads;           /* log.cleaner.threads: only validated (see config.c) */
	char log_cleanup_policy[32];           /* log.cleanup.policy: topics' default cleanup.policy */
	double log_cleaner_min_cleanable_ratio;   /* topics' default min.cleanable.dirty.ratio */
	int64_t log_cleaner_min_compaction_lag_ms; /* topics' default min.compaction.lag.ms */
	int64_t log_cleaner_max_compaction_lag_ms; /* topics' default max.compaction.lag.ms */
	int64_t log_cleaner_delete_retention_ms;   /* topics' default delete.retention.ms */
	int ncores;                    /* shards, one per entry of cores[] */
	int cores[DP_MAX_SHARDS];
	int control_core;
	char net_backend[16];
	struct dp_dpdk_cfg dpdk;       /* ringtail.dpdk.*, read when net_backend is dpdk */
	bool advertise_shards;
	int64_t send_zc_min_bytes;     /* memory sends of at least this use SENDMSG_ZC; 0 never */
	int64_t shard_poll_us;         /* ringtail.shard.poll.us: a shard polls this long before it sleeps */
	bool fetch_zero_copy;          /* false: fetch copies record data through user space (to measure) */
	char cluster_id[64];
	struct hw_plan plan;           /* owned: the affinity plan the cores come from */
	uint64_t given;                /* bit i: dp_config_source_keys[i] was set by the file or an override */
	char given_text[64][128];      /* [i]: the text it was given as (DescribeConfigs' synonyms) */
};

/* log.cleaner.io.max.bytes.per.second (a double, Kafka's type) as the cleaner's whole bytes per
 * second: 0 ("unlimited") from about 9.2e18 up (Kafka's default is Double.MAX_VALUE); a rate
 * below 1 byte/s is 1, the slowest the cleaner can go (Kafka's throttler, given 0, stalls). */
int64_t dp_config_cleaner_io_rate(double bytes_per_second);

/* The broker keys whose origin DescribeConfigs reports (Kafka's STATIC_BROKER_CONFIG when the
 * operator gave them, DEFAULT_CONFIG otherwise), NULL-terminated, at most 64. */
extern const char *const dp_config_source_keys[];

/* True when `key` (one of dp_config_source_keys) was set in the properties file or by a
 * command-line override, false when it has its default (or is not one of those keys). */
bool dp_config_given(const struct dp_config *c, const char *key);

/* The text `key` (one of dp_config_source_keys) was given as at start, or NULL when it was not
 * given.  Borrowed from c. */
const char *dp_config_given_text(const struct dp_config *c, const char *key);

/* The definition of a key the properties file may hold (the broker's, the dpdk backend's or
 * ringtail-control's): its type, bounds and built-in default text.  NULL for a key Ringtail does
 * not know.  Static. */
struct rt_cfg_def;
const struct rt_cfg_def *dp_config_def(const char *key);

/*
 * Loads the configuration: defaults, then the properties file at path (NULL: none), then the
 * "key=value" overrides in order, then the affinity plan from the machine's topology (sysfs_root
 * NULL = "/sys").  Returns 0, or -EINVAL / -errno with one message in err that names the source,
 * the key, the value and what is allowed.  On success c->plan is owned by c (dp_config_fini).
 */
int dp_config_load(struct dp_config *c, const char *path, const char *const *overrides, size_t n,
                   const char *sysfs_root, char *err, size_t errlen);
void dp_config_fini(struct dp_config *c);

/* Writes every key dp_config_load accepts to out: name, default, what it means and what values it
 * expects (rt_cfg_help's format).  For `ringtail --help`. */
void dp_config_help(FILE *out);

/* Parses "PLAINTEXT://host:port" (the first of a list; "[v6]" brackets removed, "" host = every
 * interface).  Returns true on success. */
bool dp_config_parse_listener(const char *v, char *host, size_t hostlen, uint16_t *port);

#endif
