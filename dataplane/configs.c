/*
 * dataplane/configs.c: config listings for DescribeConfigs (see configs.h).
 */
#include "configs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "broker.h"
#include "broker_configs.h"
#include "meta.h"
#include "owners.h"

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
	vsnprintf(v->buf, sizeof(v->buf), fmt, ap);
	va_end(ap);
	v->value = v->buf;
}

/* LIST value v as Kafka's ConfigDef parses and prints it: the items without the blanks around
 * them, joined by commas, in their order, into out (cap bytes, truncated). */
static void list_text(const char *v, char *out, size_t cap)
{
	size_t o = 0;
	while (*v == ' ')
		v++;
	for (; *v && o + 1 < cap; v++) {
		if (*v == ' ' && (o == 0 || out[o - 1] == ',' || v[strspn(v, " ")] == ',' || !v[strspn(v, " ")]))
			continue;
		out[o++] = *v;
	}
	out[o] = 0;
}

/* Java's Double.toString, as Kafka prints a DOUBLE config: the shortest digits that read back
 * to v, at least one after the point ("0.5", "1.0"), and the E form outside [1e-3, 1e7)
 * ("1.7976931348623157E308", the default I/O rate of the cleaner). */
static void jdouble(double v, char *out, size_t cap)
{
	char e[40];
	if (v == 0 || v != v) {
		snprintf(out, cap, v == 0 ? "0.0" : "NaN");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e: [-]d[.ddd]e[+-]x */
	const char *p = e;
	char sign[2] = "";
	if (*p == '-') {
		sign[0] = '-';
		p++;
	}
	char dig[24];
	size_t nd = 0;
	for (; *p && *p != 'e' && nd + 1 < sizeof(dig); p++)
		if (*p != '.')
			dig[nd++] = *p;
	dig[nd] = 0;
	int x = atoi(p + 1);
	if (x < -3 || x >= 7) {
		snprintf(out, cap, "%s%c.%sE%d", sign, dig[0], nd > 1 ? dig + 1 : "0", x);
		return;
	}
	char buf[48];
	size_t o = 0;
	if (x < 0) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "0.");
		for (int i = -1; i > x; i--)
			buf[o++] = '0';
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", dig);
	} else {
		for (int i = 0; i <= x; i++)
			buf[o++] = (size_t)i < nd ? dig[i] : '0';
		buf[o++] = '.';
		if ((size_t)x + 1 < nd)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", dig + x + 1);
		else
			buf[o++] = '0';
	}
	buf[o] = 0;
	snprintf(out, cap, "%s%s", sign, buf);
}

/* Kafka's LogConfig.TopicConfigSynonyms: the broker key that is a topic key's default. */
static const char *const topic_syn[][2] = {
	{ "cleanup.policy", "log.cleanup.policy" },
	{ "compression.type", "compression.type" },
	{ "delete.retention.ms", "log.cleaner.delete.retention.ms" },
	{ "file.delete.delay.ms", "log.segment.delete.delay.ms" },
	{ "flush.messages", "log.flush.interval.messages" },
	{ "flush.ms", "log.flush.interval.ms" },
	{ "index.interval.bytes", "log.index.interval.bytes" },
	{ "max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms" },
	{ "max.message.bytes", "message.max.bytes" },
	{ "message.timestamp.type", "log.message.timestamp.type" },
	{ "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio" },
	{ "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms" },
	{ "min.insync.replicas", "min.insync.replicas" },
	{ "retention.bytes", "log.retention.bytes" },
	{ "retention.ms", "log.retention.ms" },
	{ "segment.bytes", "log.segment.bytes" },
	{ "segment.index.bytes", "log.index.size.max.bytes" },
	{ "segment.ms", "log.roll.ms" },
	{ "unclean.leader.election.enable", "unclean.leader.election.enable" },
};

static const char *broker_key_of(const char *topic_key)
{
	for (size_t i = 0; i < sizeof(topic_syn) / sizeof(topic_syn[0]); i++)
		if (!strcmp(topic_syn[i][0], topic_key))
			return topic_syn[i][1];
	return NULL;
}

/* Kafka's DynamicBrokerConfig.brokerConfigSynonyms: the keys that set the same value, the most
 * precise first.  Returns the count (names[] holds 3). */
static int broker_synonyms(const char *key, const char **names)
{
	if (!strcmp(key, "log.roll.ms") || !strcmp(key, "log.roll.hours")) {
		names[0] = "log.roll.ms";
		names[1] = "log.roll.hours";
		return 2;
	}
	if (!strcmp(key, "log.flush.interval.ms")) {
		names[0] = key;
		names[1] = "log.flush.scheduler.interval.ms";
		return 2;
	}
	if (!strncmp(key, "log.retention.", 14) &&
	    (!strcmp(key + 14, "ms") || !strcmp(key + 14, "minutes") || !strcmp(key + 14, "hours"))) {
		names[0] = "log.retention.ms";
		names[1] = "log.retention.minutes";
		names[2] = "log.retention.hours";
		return 3;
	}
	names[0] = key;
	return 1;
}

/* Kafka's ConfigHelper.configSynonyms for broker key `key` into out[n..]; returns the new count. */
static int broker_syn_list(const struct dp_broker *b, const struct dp_snap *snap, const char *key, bool per_broker,
                           struct dp_cfgsyn *out, int n)
{
	const char *names[3];
	int nn = broker_synonyms(key, names);
	int first = n;
	for (int level = 0; level < 4; level++) {
		if (level == 0 && !per_broker)
			continue;
		for (int i = 0; i < nn && n < DP_SYN_MAX; i++) {
			const char *v = NULL;
			int8_t src = 0;
			if (level == 0) {
				v = dp_bcfg_get(snap->dyn, DP_BCFG_NODE, names[i]);
				src = DP_SRC_DYNAMIC_BROKER;
			} else if (level == 1) {
				v = dp_bcfg_get(snap->dyn, DP_BCFG_DEFAULT, names[i]);
				src = DP_SRC_DYNAMIC_DEFAULT;
			} else if (level == 2) {
				v = dp_config_given_text(&b->cfg, names[i]);
				src = DP_SRC_STATIC_BROKER;
			} else {
				const struct rt_cfg_def *d = dp_config_def(names[i]);
				v = d ? d->def : NULL;
				src = DP_SRC_DEFAULT;
			}
			if (v)
				out[n++] = (struct dp_cfgsyn){ names[i], v, src };
		}
	}
	/* Kafka drops what comes before the key itself (log.retention.hours' default when
	 * describing log.retention.ms). */
	int k = first;
	while (k < n && strcmp(out[k].name, key))
		k++;
	memmove(&out[first], &out[k], sizeof(*out) * (size_t)(n - k));
	return first + (n - k);
}

int dp_configs_synonyms(const struct dp_broker *b, const struct dp_snap *snap, const struct dp_topic *t,
                        bool per_broker, const char *name, struct dp_cfgsyn *out)
{
	int n = 0;
	if (!t)
		return broker_syn_list(b, snap, name, per_broker, out, 0);
	const char *ov = override(t, name);
	if (ov)
		out[n++] = (struct dp_cfgsyn){ name, ov, DP_SRC_TOPIC };
	const char *bk = broker_key_of(name);
	return bk ? broker_syn_list(b, snap, bk, true, out, n) : n;
}

/* A topic key's source: its first synonym's. */
static int8_t topic_src(const struct dp_broker *b, const struct dp_snap *snap, const struct dp_topic *t,
                        const char *key)
{
	struct dp_cfgsyn syn[DP_SYN_MAX];
	return dp_configs_synonyms(b, snap, t, true, key, syn) ? syn[0].source : DP_SRC_DEFAULT;
}

/* A broker key's source: its first synonym's; else STATIC_BROKER_CONFIG when Ringtail's own
 * alternative name for it (broker.id for node.id, log.dir for log.dirs) was given. */
static int8_t broker_src(const struct dp_broker *b, const struct dp_snap *snap, bool per_broker, const char *key,
                         const char *alt)
{
	struct dp_cfgsyn syn[DP_SYN_MAX];
	if (broker_syn_list(b, snap, key, per_broker, syn, 0))
		return syn[0].source;
	return alt && dp_config_given(&b->cfg, alt) ? DP_SRC_STATIC_BROKER : DP_SRC_DEFAULT;
}

/* Read-only unless one of the key's synonyms may change dynamically (Kafka's rule). */
static bool broker_ro(const char *key)
{
	const char *names[3];
	int nn = broker_synonyms(key, names);
	for (int i = 0; i < nn; i++)
		if (dp_bcfg_dynamic(names[i]))
			return false;
	return true;
}

int dp_configs_topic(const struct dp_broker *b, const struct dp_snap *snap, const struct dp_topic *t,
                     struct dp_cfgval *out)
{
	int n = 0;
	const struct stor_config *c = &t->scfg;
#define SRC(key) topic_src(b, snap, t, key)
#define SRC1(key, syn) topic_src(b, snap, t, key)
#define LONGKEY(key, syn, field) add(out, &n, key, DP_TYPE_LONG, SRC1(key, syn), false, "%" PRId64, (int64_t)c->field)
	/* Kafka shows a LIST as parsed and joined again: the items in the order given (its first
	 * synonym, the value in effect), not the policy flags storage derives from it. */
	struct dp_cfgsyn psyn[DP_SYN_MAX];
	char policy[sizeof(out[0].buf)];
	list_text(dp_configs_synonyms(b, snap, t, true, "cleanup.policy", psyn) ? psyn[0].value : "delete", policy,
	          sizeof(policy));
	add(out, &n, "cleanup.policy", DP_TYPE_LIST, SRC1("cleanup.policy", "log.cleanup.policy"), false, "%s", policy);
	const char *ct = override(t, "compression.type");
	add(out, &n, "compression.type", DP_TYPE_STRING, SRC("compression.type"), false, "%s", ct ? ct : "producer");
	LONGKEY("delete.retention.ms", "log.cleaner.delete.retention.ms", delete_retention_ms);
	LONGKEY("file.delete.delay.ms", NULL, file_delete_delay_ms);
	LONGKEY("flush.messages", "log.flush.interval.messages", flush_messages);
	LONGKEY("flush.ms", "log.flush.interval.ms", flush_ms);
	add(out, &n, "index.interval.bytes", DP_TYPE_INT, SRC("index.interval.bytes"), false, "%" PRId64, c->index_interval_bytes);
	add(out, &n, "max.message.bytes", DP_TYPE_INT, SRC1("max.message.bytes", "message.max.bytes"), false, "%d",
	    t->max_message_bytes);
	add(out, &n, "message.timestamp.type", DP_TYPE_STRING, SRC("message.timestamp.type"), false, "%s",
	    c->timestamp_type == STOR_TS_LOG_APPEND_TIME ? "LogAppendTime" : "CreateTime");
	LONGKEY("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", max_compaction_lag_ms);
	char ratio[64];
	jdouble(c->min_cleanable_ratio, ratio, sizeof(ratio));
	add(out, &n, "min.cleanable.dirty.ratio", DP_TYPE_DOUBLE,
	    SRC1("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"), false, "%s", ratio);
	LONGKEY("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", min_compaction_lag_ms);
	const char *mir = override(t, "min.insync.replicas");
	add(out, &n, "min.insync.replicas", DP_TYPE_INT, SRC("min.insync.replicas"), false, "%s", mir ? mir : "1");
	LONGKEY("retention.bytes", "log.retention.bytes", retention_bytes);
	add(out, &n, "retention.ms", DP_TYPE_LONG,
	    SRC("retention.ms"), false,
	    "%" PRId64, (int64_t)c->retention_ms);
	add(out, &n, "segment.bytes", DP_TYPE_INT, SRC1("segment.bytes", "log.segment.bytes"), false, "%" PRId64,
	    c->segment_bytes);
	add(out, &n, "segment.index.bytes", DP_TYPE_INT, SRC("segment.index.bytes"), false, "%" PRId64, c->segment_index_bytes);
	add(out, &n, "segment.ms", DP_TYPE_LONG, SRC("segment.ms"), false,
	    "%" PRId64, (int64_t)c->segment_ms);
	const char *ule = override(t, "unclean.leader.election.enable");
	add(out, &n, "unclean.leader.election.enable", DP_TYPE_BOOLEAN, SRC("unclean.leader.election.enable"), false, "%s",
	    ule ? ule : "false");
	/* Every topic has its own owners, kept with it in the registry: a topic config, read-only. */
	add(out, &n, DP_OWNERS_KEY, DP_TYPE_LIST, DP_SRC_TOPIC, true, "%s", "");
	if (n && !strcmp(out[n - 1].name, DP_OWNERS_KEY))
		out[n - 1].value = t->owner_list;
#undef LONGKEY
#undef SRC1
#undef SRC
	return n;
}

/* Kafka's broker keys whose default is null (ServerLogConfigs, SocketServerConfigs): their value
 * is null unless the key itself is set at some level, even when a synonym (log.roll.hours,
 * log.retention.hours) or a fallback (the listener, log.flush.scheduler.interval.ms) decides the
 * value in effect: that one is described under its own name. */
static bool null_unless_given(const struct dp_broker *b, const struct dp_snap *snap, const char *key)
{
	static const char *const keys[] = { "log.roll.ms", "log.retention.ms", "log.flush.interval.ms",
		                            "advertised.listeners" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i], key))
			return !dp_bcfg_get(snap->dyn, DP_BCFG_NODE, key) && !dp_bcfg_get(snap->dyn, DP_BCFG_DEFAULT, key) &&
			       !dp_config_given(&b->cfg, key);
	return false;
}

int dp_configs_broker(const struct dp_broker *b, const struct dp_snap *snap, struct dp_cfgval *out)
{
	const struct dp_config *c = &snap->dyn->eff;
	int n = 0;
#define S(key) broker_src(b, snap, true, key, NULL)
	add(out, &n, "node.id", DP_TYPE_INT, broker_src(b, snap, true, "node.id", "broker.id"), true, "%d", c->node_id);
	add(out, &n, "broker.id", DP_TYPE_INT, broker_src(b, snap, true, "broker.id", "node.id"), true, "%d", c->node_id);
	add(out, &n, "listeners", DP_TYPE_STRING, S("listeners"), true, "PLAINTEXT://%s:%u", c->listen_host, c->listen_port);
	add(out, &n, "advertised.listeners", DP_TYPE_STRING, S("advertised.listeners"), true, "PLAINTEXT://%s:%u",
	    c->adv_host, c->adv_port);
	add(out, &n, "log.dirs", DP_TYPE_STRING, broker_src(b, snap, true, "log.dirs", "log.dir"), true, "%s", c->log_dirs);
	add(out, &n, "num.partitions", DP_TYPE_INT, S("num.partitions"), true, "%d", c->num_partitions);
	add(out, &n, "default.replication.factor", DP_TYPE_INT, S("default.replication.factor"), true, "%d",
	    c->default_replication_factor);
	add(out, &n, "auto.create.topics.enable", DP_TYPE_BOOLEAN, S("auto.create.topics.enable"), true, "%s",
	    c->auto_create_topics ? "true" : "false");
	add(out, &n, "message.max.bytes", DP_TYPE_INT, S("message.max.bytes"), true, "%d", c->message_max_bytes);
	add(out, &n, "fetch.max.bytes", DP_TYPE_INT, S("fetch.max.bytes"), true, "%d", c->fetch_max_bytes);
	add(out, &n, "replica.fetch.response.max.bytes", DP_TYPE_INT, S("replica.fetch.response.max.bytes"), true, "%d",
	    c->replica_fetch_response_max_bytes);
	add(out, &n, "socket.request.max.bytes", DP_TYPE_INT, S("socket.request.max.bytes"), true, "%" PRId64,
	    c->socket_request_max_bytes);
	add(out, &n, "log.segment.bytes", DP_TYPE_INT, S("log.segment.bytes"), true, "%" PRId64, c->log_segment_bytes);
	add(out, &n, "log.roll.ms", DP_TYPE_LONG, S("log.roll.ms"), true, "%" PRId64,
	    c->log_roll_ms);
	add(out, &n, "log.retention.ms", DP_TYPE_LONG,
	    S("log.retention.ms"), true, "%" PRId64,
	    c->log_retention_ms);
	add(out, &n, "log.retention.bytes", DP_TYPE_LONG, S("log.retention.bytes"), true, "%" PRId64, c->log_retention_bytes);
	add(out, &n, "log.flush.interval.messages", DP_TYPE_LONG, S("log.flush.interval.messages"), true, "%" PRId64,
	    c->log_flush_interval_messages);
	add(out, &n, "log.flush.interval.ms", DP_TYPE_LONG, S("log.flush.interval.ms"), true, "%" PRId64,
	    c->log_flush_interval_ms);
	add(out, &n, "log.cleanup.policy", DP_TYPE_LIST, S("log.cleanup.policy"), true, "%s", c->log_cleanup_policy);
	add(out, &n, "log.cleaner.enable", DP_TYPE_BOOLEAN, S("log.cleaner.enable"), true, "%s",
	    c->cleaner.enable ? "true" : "false");
	add(out, &n, "log.cleaner.backoff.ms", DP_TYPE_LONG, S("log.cleaner.backoff.ms"), true, "%" PRId64,
	    c->cleaner.backoff_ms);
	add(out, &n, "log.cleaner.dedupe.buffer.size", DP_TYPE_LONG, S("log.cleaner.dedupe.buffer.size"), true,
	    "%" PRId64, c->cleaner.dedupe_buffer_size);
	char dbl[64];
	jdouble(c->log_cleaner_io_max_bytes_per_second, dbl, sizeof(dbl));
	add(out, &n, "log.cleaner.io.max.bytes.per.second", DP_TYPE_DOUBLE, S("log.cleaner.io.max.bytes.per.second"), true,
	    "%s", dbl);
	jdouble(c->log_cleaner_min_cleanable_ratio, dbl, sizeof(dbl));
	add(out, &n, "log.cleaner.min.cleanable.ratio", DP_TYPE_DOUBLE, S("log.cleaner.min.cleanable.ratio"), true, "%s",
	    dbl);
	add(out, &n, "log.cleaner.min.compaction.lag.ms", DP_TYPE_LONG, S("log.cleaner.min.compaction.lag.ms"), true,
	    "%" PRId64, c->log_cleaner_min_compaction_lag_ms);
	add(out, &n, "log.cleaner.max.compaction.lag.ms", DP_TYPE_LONG, S("log.cleaner.max.compaction.lag.ms"), true,
	    "%" PRId64, c->log_cleaner_max_compaction_lag_ms);
	add(out, &n, "log.cleaner.delete.retention.ms", DP_TYPE_LONG, S("log.cleaner.delete.retention.ms"), true,
	    "%" PRId64, c->log_cleaner_delete_retention_ms);
	add(out, &n, "connections.max.idle.ms", DP_TYPE_LONG, S("connections.max.idle.ms"), true, "%" PRId64,
	    c->connections_max_idle_ms);
	add(out, &n, "producer.id.expiration.ms", DP_TYPE_INT, S("producer.id.expiration.ms"), true, "%" PRId64,
	    c->producer_id_expiration_ms);
	add(out, &n, "max.incremental.fetch.session.cache.slots", DP_TYPE_INT, S("max.incremental.fetch.session.cache.slots"),
	    true, "%d", c->fetch_session_slots);
	add(out, &n, "ringtail.net.backend", DP_TYPE_STRING, S("ringtail.net.backend"), true, "%s", c->net_backend);
	add(out, &n, "ringtail.advertise.shards", DP_TYPE_BOOLEAN, S("ringtail.advertise.shards"), true, "%s",
	    c->advertise_shards ? "true" : "false");
	add(out, &n, "ringtail.shard.poll.us", DP_TYPE_INT, S("ringtail.shard.poll.us"), true, "%" PRId64, c->shard_poll_us);
#undef S
	for (int i = 0; i < n; i++) {
		out[i].read_only = broker_ro(out[i].name);
		if (null_unless_given(b, snap, out[i].name))
			out[i].value = NULL;
	}
	return n;
}

int dp_configs_broker_default(const struct dp_broker *b, const struct dp_snap *snap, struct dp_cfgval *out)
{
	const struct dp_bcfg *d = snap->dyn;
	int n = 0;
	for (int i = 0; i < d->n[DP_BCFG_DEFAULT]; i++) {
		const char *k = d->kv[DP_BCFG_DEFAULT][i].key;
		add(out, &n, k, dp_bcfg_type(k), broker_src(b, snap, false, k, NULL), broker_ro(k), "%s",
		    d->kv[DP_BCFG_DEFAULT][i].value);
	}
	return n;
}
