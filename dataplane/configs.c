/*
 * dataplane/configs.c: config listings for DescribeConfigs (see configs.h).
 */
#include "configs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "meta.h"

static const char *override(const struct dp_topic *t, const char *key)
{
	for (int i = 0; i < t->nconf; i++)
		if (!strcmp(t->conf[i].key, key))
			return t->conf[i].value;
	return NULL;
}

static void add(struct dp_cfgval *out, int *n, const char *name, int8_t type, int8_t src, bool ro, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
static void add(struct dp_cfgval *out, int *n, const char *name, int8_t type, int8_t src, bool ro, const char *fmt, ...)
{
	if (*n >= DP_CFG_MAX)
		return;
	struct dp_cfgval *v = &out[(*n)++];
	v->name = name;
	v->type = type;
	v->source = src;
	v->read_only = ro;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->value, sizeof(v->value), fmt, ap);
	va_end(ap);
}

int dp_configs_topic(const struct dp_broker *b, const struct dp_topic *t, struct dp_cfgval *out)
{
	(void)b;
	int n = 0;
	const struct stor_config *c = &t->scfg;
#define SRC(key) (override(t, key) ? DP_SRC_TOPIC : DP_SRC_DEFAULT)
#define LONGKEY(key, field) add(out, &n, key, DP_TYPE_LONG, SRC(key), false, "%" PRId64, (int64_t)c->field)
	add(out, &n, "cleanup.policy", DP_TYPE_LIST, SRC("cleanup.policy"), false, "%s",
	    c->cleanup_policy == (STOR_CLEANUP_DELETE | STOR_CLEANUP_COMPACT) ? "compact,delete"
	    : c->cleanup_policy == STOR_CLEANUP_COMPACT                     ? "compact"
	                                                                    : "delete");
	const char *ct = override(t, "compression.type");
	add(out, &n, "compression.type", DP_TYPE_STRING, SRC("compression.type"), false, "%s", ct ? ct : "producer");
	LONGKEY("delete.retention.ms", delete_retention_ms);
	LONGKEY("file.delete.delay.ms", file_delete_delay_ms);
	LONGKEY("flush.messages", flush_messages);
	LONGKEY("flush.ms", flush_ms);
	add(out, &n, "index.interval.bytes", DP_TYPE_INT, SRC("index.interval.bytes"), false, "%" PRId64, c->index_interval_bytes);
	add(out, &n, "max.message.bytes", DP_TYPE_INT, SRC("max.message.bytes"), false, "%d", t->max_message_bytes);
	add(out, &n, "message.timestamp.type", DP_TYPE_STRING, SRC("message.timestamp.type"), false, "%s",
	    c->timestamp_type == STOR_TS_LOG_APPEND_TIME ? "LogAppendTime" : "CreateTime");
	LONGKEY("max.compaction.lag.ms", max_compaction_lag_ms);
	add(out, &n, "min.cleanable.dirty.ratio", DP_TYPE_DOUBLE, SRC("min.cleanable.dirty.ratio"), false, "%g",
	    c->min_cleanable_ratio);
	LONGKEY("min.compaction.lag.ms", min_compaction_lag_ms);
	const char *mir = override(t, "min.insync.replicas");
	add(out, &n, "min.insync.replicas", DP_TYPE_INT, SRC("min.insync.replicas"), false, "%s", mir ? mir : "1");
	LONGKEY("retention.bytes", retention_bytes);
	LONGKEY("retention.ms", retention_ms);
	add(out, &n, "segment.bytes", DP_TYPE_INT, SRC("segment.bytes"), false, "%" PRId64, c->segment_bytes);
	add(out, &n, "segment.index.bytes", DP_TYPE_INT, SRC("segment.index.bytes"), false, "%" PRId64, c->segment_index_bytes);
	LONGKEY("segment.ms", segment_ms);
	const char *ule = override(t, "unclean.leader.election.enable");
	add(out, &n, "unclean.leader.election.enable", DP_TYPE_BOOLEAN, SRC("unclean.leader.election.enable"), false, "%s",
	    ule ? ule : "false");
#undef LONGKEY
#undef SRC
	return n;
}

int dp_configs_broker(const struct dp_broker *b, struct dp_cfgval *out)
{
	const struct dp_config *c = &b->cfg;
	int n = 0;
	int8_t S = DP_SRC_STATIC_BROKER;
	add(out, &n, "node.id", DP_TYPE_INT, S, true, "%d", c->node_id);
	add(out, &n, "broker.id", DP_TYPE_INT, S, true, "%d", c->node_id);
	add(out, &n, "listeners", DP_TYPE_STRING, S, true, "PLAINTEXT://%s:%u", c->listen_host, c->listen_port);
	add(out, &n, "advertised.listeners", DP_TYPE_STRING, S, true, "PLAINTEXT://%s:%u", c->adv_host, c->adv_port);
	add(out, &n, "log.dirs", DP_TYPE_STRING, S, true, "%s", c->log_dirs);
	add(out, &n, "num.partitions", DP_TYPE_INT, S, true, "%d", c->num_partitions);
	add(out, &n, "default.replication.factor", DP_TYPE_INT, S, true, "%d", c->default_replication_factor);
	add(out, &n, "auto.create.topics.enable", DP_TYPE_BOOLEAN, S, true, "%s", c->auto_create_topics ? "true" : "false");
	add(out, &n, "message.max.bytes", DP_TYPE_INT, S, true, "%d", c->message_max_bytes);
	add(out, &n, "fetch.max.bytes", DP_TYPE_INT, S, true, "%d", c->fetch_max_bytes);
	add(out, &n, "replica.fetch.response.max.bytes", DP_TYPE_INT, S, true, "%d", c->replica_fetch_response_max_bytes);
	add(out, &n, "socket.request.max.bytes", DP_TYPE_INT, S, true, "%" PRId64, c->socket_request_max_bytes);
	add(out, &n, "log.segment.bytes", DP_TYPE_INT, S, true, "%" PRId64, c->log_segment_bytes);
	add(out, &n, "log.roll.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_roll_ms);
	add(out, &n, "log.retention.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_retention_ms);
	add(out, &n, "log.retention.bytes", DP_TYPE_LONG, S, true, "%" PRId64, c->log_retention_bytes);
	add(out, &n, "log.flush.interval.messages", DP_TYPE_LONG, S, true, "%" PRId64, c->log_flush_interval_messages);
	add(out, &n, "log.flush.interval.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_flush_interval_ms);
	add(out, &n, "log.cleanup.policy", DP_TYPE_LIST, S, true, "%s", c->log_cleanup_policy);
	add(out, &n, "log.cleaner.enable", DP_TYPE_BOOLEAN, S, true, "%s", c->cleaner.enable ? "true" : "false");
	add(out, &n, "log.cleaner.backoff.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->cleaner.backoff_ms);
	add(out, &n, "log.cleaner.dedupe.buffer.size", DP_TYPE_LONG, S, true, "%" PRId64, c->cleaner.dedupe_buffer_size);
	add(out, &n, "log.cleaner.min.cleanable.ratio", DP_TYPE_DOUBLE, S, true, "%g", c->log_cleaner_min_cleanable_ratio);
	add(out, &n, "log.cleaner.min.compaction.lag.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_cleaner_min_compaction_lag_ms);
	add(out, &n, "log.cleaner.max.compaction.lag.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_cleaner_max_compaction_lag_ms);
	add(out, &n, "log.cleaner.delete.retention.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->log_cleaner_delete_retention_ms);
	add(out, &n, "connections.max.idle.ms", DP_TYPE_LONG, S, true, "%" PRId64, c->connections_max_idle_ms);
	add(out, &n, "max.incremental.fetch.session.cache.slots", DP_TYPE_INT, S, true, "%d", c->fetch_session_slots);
	add(out, &n, "ringtail.net.backend", DP_TYPE_STRING, S, true, "%s", c->net_backend);
	add(out, &n, "ringtail.advertise.shards", DP_TYPE_BOOLEAN, S, true, "%s", c->advertise_shards ? "true" : "false");
	add(out, &n, "ringtail.shard.poll.us", DP_TYPE_INT, S, true, "%" PRId64, c->shard_poll_us);
	return n;
}
