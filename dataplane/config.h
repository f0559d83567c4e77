/*
 * dataplane/config.h: the broker's settings as the dataplane uses them.
 *
 * A plain struct with Kafka's defaults, filled from a properties file and command-line
 * overrides (key=value).  Every value is validated when it is set; an invalid one is reported
 * with the key, the value and what is allowed, and start-up stops.
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	int64_t log_segment_bytes;
	int64_t log_roll_ms;
	int64_t log_retention_ms;      /* -1 = forever */
	int64_t log_retention_bytes;   /* -1 = unbounded */
	int64_t log_flush_interval_messages;
	int64_t log_flush_interval_ms;
	int64_t connections_max_idle_ms;
	int ncores;                    /* 0 = one shard per online core */
	int cores[DP_MAX_SHARDS];
	int control_core;              /* -1 = not pinned */
	char net_backend[16];
	bool advertise_shards;
	char cluster_id[32];
};

/* Fills c with the embedded defaults (127.0.0.1:9092, ./ringtail-data, every online core). */
void dp_config_defaults(struct dp_config *c);

/* Sets one key.  Returns 0, or -EINVAL with a message naming key, value and what is allowed
 * written to err (errlen bytes).  Unknown keys are accepted and ignored, as Kafka warns and
 * ignores them; *known is set to false for them when known is given. */
int dp_config_set(struct dp_config *c, const char *key, const char *value, char *err, size_t errlen,
                  bool *known);

/* Reads a properties file.  Returns 0 or -errno; err names file:line, key and value. */
int dp_config_load(struct dp_config *c, const char *path, char *err, size_t errlen);

/* Settles derived values (advertised address, core list).  0 or -EINVAL with err filled. */
int dp_config_finish(struct dp_config *c, char *err, size_t errlen);

#endif
