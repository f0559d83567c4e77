/*
 * dataplane/config.c: the broker's keys (a base/config table) and their translation into
 * struct dp_config, with the affinity plan for the shard cores.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/log.h"
#include "control/config.h"
#include "dataplane/net_dpdk/dpdk_config.h"

static const char *const backends[] = { "uring", "dpdk", NULL };

static const struct rt_cfg_def defs[] = {
	{ "listeners", RT_CFG_STRING, "PLAINTEXT://127.0.0.1:9092", .flags = RT_CFG_NONEMPTY,
	  .doc = "where clients connect: PLAINTEXT://host:port" },
	{ "advertised.listeners", RT_CFG_STRING, NULL, .doc = "what Metadata tells clients; default: listeners" },
	{ "log.dirs", RT_CFG_STRING, "./ringtail-data", .flags = RT_CFG_NONEMPTY, .doc = "the data directory" },
	{ "log.dir", RT_CFG_STRING, NULL, .doc = "used when log.dirs is not given" },
	{ "node.id", RT_CFG_INT, "0", .min = 0, .max = 2147483647, .doc = "this broker's id" },
	{ "broker.id", RT_CFG_INT, NULL, .min = 0, .max = 2147483647, .doc = "the older name of node.id" },
	{ "num.partitions", RT_CFG_INT, "1", .min = 1, .max = 100000, .doc = "partitions of an auto-created topic" },
	{ "default.replication.factor", RT_CFG_INT, "1", .min = 1, .max = 1,
	  .doc = "replication needs a cluster (not yet): 1" },
	{ "auto.create.topics.enable", RT_CFG_BOOL, "true", .doc = "Metadata creates unknown topics" },
	{ "message.max.bytes", RT_CFG_INT, "1048588", .min = 0, .max = 2147483647, .doc = "largest record batch" },
	{ "fetch.max.bytes", RT_CFG_INT, "57671680", .min = 1024, .max = 2147483647,
	  .doc = "most bytes a consumer's fetch is answered with (and, copying, allocates)" },
	{ "replica.fetch.response.max.bytes", RT_CFG_INT, "10485760", .min = 0, .max = 2147483647,
	  .doc = "the same for a follower's fetch (replica id >= 0)" },
	{ "socket.request.max.bytes", RT_CFG_INT, "104857600", .min = 1, .max = 2147483647, .doc = "largest request" },
	{ "log.segment.bytes", RT_CFG_INT, "1073741824", .min = 14, .max = 2147483647, .doc = "segment size" },
	{ "log.roll.ms", RT_CFG_LONG, NULL, .min = 1, .max = INT64_MAX, .doc = "segment age before a roll" },
	{ "log.roll.hours", RT_CFG_INT, "168", .min = 1, .max = 2147483647, .doc = "log.roll.ms in hours" },
	{ "log.retention.ms", RT_CFG_LONG, NULL, .min = -1, .max = INT64_MAX, .doc = "-1 keeps forever" },
	{ "log.retention.minutes", RT_CFG_INT, NULL, .min = -1, .max = 2147483647, .doc = "log.retention.ms in minutes" },
	{ "log.retention.hours", RT_CFG_INT, "168", .min = -1, .max = 2147483647, .doc = "log.retention.ms in hours" },
	{ "log.retention.bytes", RT_CFG_LONG, "-1", .min = -1, .max = INT64_MAX, .doc = "-1: no size limit" },
	{ "log.flush.interval.messages", RT_CFG_LONG, "9223372036854775807", .min = 1, .max = INT64_MAX,
	  .doc = "background fdatasync after this many records" },
	{ "log.flush.interval.ms", RT_CFG_LONG, NULL, .min = 0, .max = INT64_MAX,
	  .doc = "background fdatasync after this long" },
	{ "log.cleanup.policy", RT_CFG_STRING, "delete", .flags = RT_CFG_NONEMPTY,
	  .doc = "default cleanup.policy of topics: delete and/or compact" },
	{ "log.cleaner.enable", RT_CFG_BOOL, "true", .doc = "run the log cleaner (compaction)" },
	{ "log.cleaner.threads", RT_CFG_INT, "1", .min = 1, .max = 2147483647,
	  .doc = "accepted for compatibility, without effect: Ringtail runs one cleaner thread per shard, since only "
	         "a log's owner shard may start and install its cleaning (so the count is the number of shards, "
	         "fixed at start, and this key cannot change dynamically); it still bounds "
	         "log.cleaner.dedupe.buffer.size as in Kafka (more than 1 MiB per thread)" },
	{ "log.cleaner.backoff.ms", RT_CFG_LONG, "15000", .min = 0, .max = INT64_MAX,
	  .doc = "how long the cleaner waits when no log needs cleaning" },
	{ "log.cleaner.dedupe.buffer.size", RT_CFG_LONG, "134217728", .min = 1048576, .max = INT64_MAX,
	  .doc = "bytes of the key map of one cleaning (per shard)" },
	{ "log.cleaner.io.max.bytes.per.second", RT_CFG_DOUBLE, "1.7976931348623157E308", .dmin = 0, .dmax = 1.7976931348623157E308,
	  .doc = "read+write rate limit of each cleaner thread" },
	{ "log.cleaner.min.cleanable.ratio", RT_CFG_DOUBLE, "0.5", .dmin = 0, .dmax = 1,
	  .doc = "default min.cleanable.dirty.ratio of topics" },
	{ "log.cleaner.min.compaction.lag.ms", RT_CFG_LONG, "0", .min = 0, .max = INT64_MAX,
	  .doc = "default min.compaction.lag.ms of topics" },
	{ "log.cleaner.max.compaction.lag.ms", RT_CFG_LONG, "9223372036854775807", .min = 1, .max = INT64_MAX,
	  .doc = "default max.compaction.lag.ms of topics" },
	{ "log.cleaner.delete.retention.ms", RT_CFG_LONG, "86400000", .min = 0, .max = INT64_MAX,
	  .doc = "default delete.retention.ms of topics" },
	{ "connections.max.idle.ms", RT_CFG_LONG, "600000", .min = -1, .max = INT64_MAX,
	  .doc = "idle connections are closed after this long; -1 never" },
	{ "producer.id.expiration.ms", RT_CFG_INT, "86400000", .min = 1, .max = INT32_MAX,
	  .doc = "idle producer ids (no open transaction) are forgotten by a partition after this long" },
	{ "producer.id.expiration.check.interval.ms", RT_CFG_INT, "600000", .min = 1, .max = INT32_MAX,
	  .doc = "how often partitions look for expired producer ids" },
	{ "max.incremental.fetch.session.cache.slots", RT_CFG_INT, "1000", .min = 0, .max = INT32_MAX,
	  .doc = "incremental fetch sessions kept (KIP-227), divided between the shards" },
	{ "cluster.id", RT_CFG_STRING, NULL, .doc = "fixed cluster id; default: generated once and kept" },
	{ HW_KEY_CORES, RT_CFG_STRING, NULL, .doc = "shard cores (CPU list)" },
	{ HW_KEY_SHARDS, RT_CFG_STRING, NULL, .doc = "number of shards" },
	{ HW_KEY_CONTROL_CORE, RT_CFG_STRING, "auto", .doc = "core of ringtail-control" },
	{ HW_KEY_ALLOW_SMT, RT_CFG_BOOL, "false", .doc = "two shards may share a physical core" },
	{ HW_KEY_BACKEND, RT_CFG_ENUM, "uring", .allowed = backends, .doc = "network backend" },
	{ HW_KEY_INTERFACE, RT_CFG_STRING, NULL, .doc = "the NIC whose queues are planned" },
	{ HW_KEY_QUEUES, RT_CFG_STRING, NULL, .doc = "NIC queue per shard (with dpdk: 0..shards-1 in order)" },
	{ HW_KEY_IRQ_CORES, RT_CFG_STRING, NULL, .doc = "cores for the NIC's IRQs" },
	{ "ringtail.fetch.zero.copy", RT_CFG_BOOL, "true",
	  .doc = "fetch moves record data file -> socket with splice; false copies it (for measurements)" },
	{ "ringtail.net.send.zc.min.bytes", RT_CFG_LONG, "0", .min = 0, .max = INT64_MAX,
	  .doc = "responses sent from memory with at least this many bytes use zero-copy sends (IORING_OP_SENDMSG_ZC); 0 never" },
	{ "ringtail.advertise.shards", RT_CFG_BOOL, "false",
	  .doc = "each shard listens on port+1+shard and is advertised as its own node" },
	{ "ringtail.shard.poll.us", RT_CFG_INT, "500", .min = 0, .max = 1000000,
	  .doc = "a shard keeps polling for work (yielding its core between looks) this long after its last "
	         "work, and while it owes answers, before it sleeps (not while its own writes or fdatasyncs "
	         "are in flight): a sleeping shard's wake-up costs tens of microseconds (a halted CPU in a VM); "
	         "0 sleeps at once" },
};

int64_t dp_config_cleaner_io_rate(double bytes_per_second)
{
	if (bytes_per_second >= 9.2e18)
		return 0;
	return bytes_per_second < 1 ? 1 : (int64_t)bytes_per_second;
}

static bool given(const struct rt_cfg *c, const char *key)
{
	int i = rt_cfg_index(c, key);
	const struct rt_cfg_value *v = rt_cfg_value_at(c, i);
	return v->set && v->origin != RT_CFG_FROM_DEFAULT;
}

const char *const dp_config_source_keys[] = {
	"node.id", "broker.id", "listeners", "advertised.listeners", "log.dirs", "log.dir", "num.partitions",
	"default.replication.factor", "auto.create.topics.enable", "message.max.bytes", "fetch.max.bytes",
	"replica.fetch.response.max.bytes", "socket.request.max.bytes", "log.segment.bytes", "log.roll.ms",
	"log.roll.hours", "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
	"log.flush.interval.messages", "log.flush.interval.ms", "log.cleanup.policy", "log.cleaner.enable",
	"log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size", "log.cleaner.min.cleanable.ratio",
	"log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "log.cleaner.delete.retention.ms",
	"connections.max.idle.ms", "max.incremental.fetch.session.cache.slots", HW_KEY_BACKEND,
	"ringtail.advertise.shards", "ringtail.shard.poll.us", "log.cleaner.io.max.bytes.per.second",
	"producer.id.expiration.ms", NULL,
};

bool dp_config_given(const struct dp_config *c, const char *key)
{
	for (int i = 0; dp_config_source_keys[i]; i++)
		if (!strcmp(dp_config_source_keys[i], key))
			return (c->given >> i) & 1;
	return false;
}

const char *dp_config_given_text(const struct dp_config *c, const char *key)
{
	for (int i = 0; dp_config_source_keys[i]; i++)
		if (!strcmp(dp_config_source_keys[i], key))
			return (c->given >> i) & 1 ? c->given_text[i] : NULL;
	return NULL;
}

static const char *text(const struct rt_cfg *c, const char *key)
{
	const struct rt_cfg_value *v = rt_cfg_value_at(c, rt_cfg_index(c, key));
	return v->set ? v->text : NULL;
}

bool dp_config_parse_listener(const char *v, char *host, size_t hostlen, uint16_t *port)
{
	const char *p = strstr(v, "://");
	p = p ? p + 3 : v;
	const char *comma = strchr(p, ',');
	size_t n = comma ? (size_t)(comma - p) : strlen(p);
	const char *colon = NULL;
	for (size_t i = 0; i < n; i++)
		if (p[i] == ':')
			colon = p + i;
	if (!colon)
		return false;
	size_t hn = (size_t)(colon - p);
	size_t pn = n - hn - 1;
	char portbuf[8];
	if (hn >= hostlen || pn == 0 || pn >= sizeof(portbuf))
		return false;
	memcpy(portbuf, colon + 1, pn);
	portbuf[pn] = 0;
	char *end;
	long pv = strtol(portbuf, &end, 10);
	if (*end || pv < 0 || pv > 65535)
		return false;
	memcpy(host, p, hn);
	host[hn] = 0;
	if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
		memmove(host, host + 1, hn - 2);
		host[hn - 2] = 0;
	}
	*port = (uint16_t)pv;
	return true;
}

/* The broker serves one PLAINTEXT listener.  Kafka listens on every listener named and speaks
 * TLS or SASL on SSL, SASL_PLAINTEXT and SASL_SSL ones: served as one plaintext port (the first
 * entry, the rest ignored), such a configuration would leave clients of the others unanswered or
 * send a TLS client plaintext, so it stops the start instead.  Kafka upper-cases the listener
 * name.  0, or -EINVAL with the message in err. */
static int listener_served(const char *key, const char *v, char *err, size_t errlen)
{
	if (strchr(v, ',')) {
		snprintf(err, errlen, "%s=%s: one listener is served (several listeners are not supported yet)", key, v);
		return -EINVAL;
	}
	const char *p = strstr(v, "://");
	if (p && !(p - v == 9 && !strncasecmp(v, "PLAINTEXT", 9))) {
		snprintf(err, errlen, "%s=%s: only a PLAINTEXT listener is served (SSL and SASL are not supported)", key, v);
		return -EINVAL;
	}
	return 0;
}

static int translate(struct dp_config *c, const struct rt_cfg *rc, char *err, size_t errlen)
{
	const char *l = rt_cfg_str(rc, "listeners");
	if (listener_served("listeners", l, err, errlen))
		return -EINVAL;
	if (!dp_config_parse_listener(l, c->listen_host, sizeof(c->listen_host), &c->listen_port)) {
		snprintf(err, errlen, "listeners=%s: expected a listener such as PLAINTEXT://127.0.0.1:9092", l);
		return -EINVAL;
	}
	const char *al = text(rc, "advertised.listeners");
	if (al && *al) {
		if (listener_served("advertised.listeners", al, err, errlen))
			return -EINVAL;
		if (!dp_config_parse_listener(al, c->adv_host, sizeof(c->adv_host), &c->adv_port) || !c->adv_host[0]) {
			snprintf(err, errlen, "advertised.listeners=%s: expected a listener with a host, such as PLAINTEXT://broker1:9092",
			         al);
			return -EINVAL;
		}
	} else {
		snprintf(c->adv_host, sizeof(c->adv_host), "%s",
		         c->listen_host[0] && strcmp(c->listen_host, "0.0.0.0") && strcmp(c->listen_host, "::")
		                 ? c->listen_host
		                 : "localhost");
		c->adv_port = c->listen_port;
	}
	const char *dirs = rt_cfg_str(rc, "log.dirs");
	if (!given(rc, "log.dirs") && text(rc, "log.dir"))
		dirs = text(rc, "log.dir");
	if (strchr(dirs, ',') || strlen(dirs) >= sizeof(c->log_dirs)) {
		snprintf(err, errlen, "log.dirs=%s: expected one directory (several log dirs are not supported yet)", dirs);
		return -EINVAL;
	}
	snprintf(c->log_dirs, sizeof(c->log_dirs), "%s", dirs);
	c->node_id = (int32_t)rt_cfg_int(rc, given(rc, "broker.id") && !given(rc, "node.id") ? "broker.id" : "node.id");
	c->num_partitions = (int32_t)rt_cfg_int(rc, "num.partitions");
	c->default_replication_factor = (int16_t)rt_cfg_int(rc, "default.replication.factor");
	c->auto_create_topics = rt_cfg_bool(rc, "auto.create.topics.enable");
	c->message_max_bytes = (int32_t)rt_cfg_int(rc, "message.max.bytes");
	c->socket_request_max_bytes = rt_cfg_int(rc, "socket.request.max.bytes");
	c->fetch_max_bytes = (int32_t)rt_cfg_int(rc, "fetch.max.bytes");
	c->replica_fetch_response_max_bytes = (int32_t)rt_cfg_int(rc, "replica.fetch.response.max.bytes");
	c->log_segment_bytes = rt_cfg_int(rc, "log.segment.bytes");
	/* Kafka's precedence: ms, then minutes, then hours. */
	c->log_roll_ms = given(rc, "log.roll.ms") ? rt_cfg_int(rc, "log.roll.ms") : rt_cfg_int(rc, "log.roll.hours") * 3600000;
	if (given(rc, "log.retention.ms"))
		c->log_retention_ms = rt_cfg_int(rc, "log.retention.ms");
	else if (given(rc, "log.retention.minutes"))
		c->log_retention_ms = rt_cfg_int(rc, "log.retention.minutes") * 60000;
	else
		c->log_retention_ms = rt_cfg_int(rc, "log.retention.hours") * 3600000;
	if (c->log_retention_ms < 0)
		c->log_retention_ms = -1;
	c->log_retention_bytes = rt_cfg_int(rc, "log.retention.bytes");
	c->log_flush_interval_messages = rt_cfg_int(rc, "log.flush.interval.messages");
	c->log_flush_interval_ms = given(rc, "log.flush.interval.ms") ? rt_cfg_int(rc, "log.flush.interval.ms") : INT64_MAX;
	c->connections_max_idle_ms = rt_cfg_int(rc, "connections.max.idle.ms");
	c->producer_id_expiration_ms = rt_cfg_int(rc, "producer.id.expiration.ms");
	c->producer_id_expiration_check_ms = rt_cfg_int(rc, "producer.id.expiration.check.interval.ms");
	c->fetch_session_slots = (int32_t)rt_cfg_int(rc, "max.incremental.fetch.session.cache.slots");
	stor_cleaner_config_default(&c->cleaner);
	c->cleaner.enable = rt_cfg_bool(rc, "log.cleaner.enable");
	c->cleaner.backoff_ms = rt_cfg_int(rc, "log.cleaner.backoff.ms");
	c->cleaner.dedupe_buffer_size = rt_cfg_int(rc, "log.cleaner.dedupe.buffer.size");
	double iorate = rt_cfg_double(rc, "log.cleaner.io.max.bytes.per.second");
	c->cleaner.io_max_bytes_per_second = dp_config_cleaner_io_rate(iorate);
	c->log_cleaner_io_max_bytes_per_second = iorate;
	c->log_cleaner_threads = (int32_t)rt_cfg_int(rc, "log.cleaner.threads");
	c->log_cleaner_min_cleanable_ratio = rt_cfg_double(rc, "log.cleaner.min.cleanable.ratio");
	c->log_cleaner_min_compaction_lag_ms = rt_cfg_int(rc, "log.cleaner.min.compaction.lag.ms");
	c->log_cleaner_max_compaction_lag_ms = rt_cfg_int(rc, "log.cleaner.max.compaction.lag.ms");
	c->log_cleaner_delete_retention_ms = rt_cfg_int(rc, "log.cleaner.delete.retention.ms");
	snprintf(c->log_cleanup_policy, sizeof(c->log_cleanup_policy), "%s", rt_cfg_str(rc, "log.cleanup.policy"));
	{
		struct stor_config tmp;
		const char *why = NULL;
		stor_config_default(&tmp);
		if (stor_config_set(&tmp, "cleanup.policy", c->log_cleanup_policy, &why)) {
			snprintf(err, errlen, "log.cleanup.policy=%s: %s", c->log_cleanup_policy,
			         "a list of delete and/or compact");
			return -EINVAL;
		}
	}
	c->advertise_shards = rt_cfg_bool(rc, "ringtail.advertise.shards");
	for (int i = 0; dp_config_source_keys[i]; i++) {
		assert(i < 64);
		if (given(rc, dp_config_source_keys[i])) {
			c->given |= (uint64_t)1 << i;
			snprintf(c->given_text[i], sizeof(c->given_text[i]), "%s", text(rc, dp_config_source_keys[i]));
		}
	}
	c->fetch_zero_copy = rt_cfg_bool(rc, "ringtail.fetch.zero.copy");
	c->send_zc_min_bytes = rt_cfg_int(rc, "ringtail.net.send.zc.min.bytes");
	c->shard_poll_us = rt_cfg_int(rc, "ringtail.shard.poll.us");
	const char *cid = text(rc, "cluster.id");
	if (cid) {
		if (!*cid || strlen(cid) >= sizeof(c->cluster_id)) {
			snprintf(err, errlen, "cluster.id=%s: expected a non-empty id of at most %zu characters", cid,
			         sizeof(c->cluster_id) - 1);
			return -EINVAL;
		}
		snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", cid);
	}
	snprintf(c->net_backend, sizeof(c->net_backend), "%s", rt_cfg_str(rc, HW_KEY_BACKEND));
#ifdef RT_HAVE_DPDK
	if (!strcmp(c->net_backend, "dpdk"))
		return dp_dpdk_cfg_read(rc, &c->dpdk, err, errlen);
#endif
	if (strcmp(c->net_backend, "uring")) {
		snprintf(err, errlen, "%s=%s: this build has only the uring backend (DPDK is not built)", HW_KEY_BACKEND,
		         c->net_backend);
		return -EINVAL;
	}
	return 0;
}

/* Every key the broker's properties file may hold: the broker's, the dpdk backend's
 * (dataplane/net_dpdk/dpdk_config.h) and those of ringtail-control (control/config.h), which reads
 * the same file.  Returns a static table built on first use; *n receives its length. */
static const struct rt_cfg_def *all_defs(size_t *n)
{
	static struct rt_cfg_def all[sizeof(defs) / sizeof(defs[0]) + 64];
	static size_t nall;
	if (!nall) {
		memcpy(all, defs, sizeof(defs));
		nall = sizeof(defs) / sizeof(defs[0]);
		assert(nall + dp_dpdk_cfg_ndefs + ctl_cfg_ndefs <= sizeof(all) / sizeof(all[0]));
		for (size_t i = 0; i < dp_dpdk_cfg_ndefs; i++)
			all[nall++] = dp_dpdk_cfg_defs[i];
		for (size_t i = 0; i < ctl_cfg_ndefs; i++)
			all[nall++] = ctl_cfg_defs[i];
	}
	*n = nall;
	return all;
}

const struct rt_cfg_def *dp_config_def(const char *key)
{
	size_t n;
	const struct rt_cfg_def *all = all_defs(&n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].name, key))
			return &all[i];
	return NULL;
}

void dp_config_help(FILE *out)
{
	size_t n;
	const struct rt_cfg_def *all = all_defs(&n);
	rt_cfg_help(all, n, out);
}

int dp_config_load(struct dp_config *c, const char *path, const char *const *overrides, size_t n,
                   const char *sysfs_root, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	size_t nall;
	const struct rt_cfg_def *all = all_defs(&nall);
	struct rt_cfg *rc = rt_cfg_create(all, nall, err, errlen);
	if (!rc)
		return -EINVAL;
	int r = rt_cfg_load(rc, path, overrides, n, err, errlen);
	if (!r)
		r = translate(c, rc, err, errlen);
	if (r) {
		rt_cfg_destroy(rc);
		return r;
	}
	struct hw_topology *t = hw_topology_load(sysfs_root, NULL, err, errlen);
	if (!t) {
		rt_cfg_destroy(rc);
		return -ENODEV;
	}
	struct hw_plan_config pc = {
		.cores = text(rc, HW_KEY_CORES),
		.shards = text(rc, HW_KEY_SHARDS),
		.control_core = text(rc, HW_KEY_CONTROL_CORE),
		.allow_smt = text(rc, HW_KEY_ALLOW_SMT),
		.backend = text(rc, HW_KEY_BACKEND),
		.interface = text(rc, HW_KEY_INTERFACE),
		.queues = text(rc, HW_KEY_QUEUES),
		.irq_cores = text(rc, HW_KEY_IRQ_CORES),
	};
	r = hw_plan_build(t, &pc, &c->plan, err, errlen);
	hw_topology_destroy(t);
	rt_cfg_destroy(rc);
	if (r)
		return r;
	if (c->plan.nshards > DP_MAX_SHARDS) {
		snprintf(err, errlen, "%s: %d shards planned, at most %d are supported", HW_KEY_CORES, c->plan.nshards,
		         DP_MAX_SHARDS);
		hw_plan_fini(&c->plan);
		return -EINVAL;
	}
	c->ncores = c->plan.nshards;
	for (int i = 0; i < c->ncores; i++)
		c->cores[i] = c->plan.shards[i].cpu;
	c->control_core = c->plan.control_cpu;
	if (c->advertise_shards && (int)c->listen_port + c->ncores > 65535) {
		snprintf(err, errlen, "ringtail.advertise.shards=true: listeners port %u leaves no room for %d shard ports",
		         c->listen_port, c->ncores);
		hw_plan_fini(&c->plan);
		return -EINVAL;
	}
	return 0;
}

void dp_config_fini(struct dp_config *c)
{
	hw_plan_fini(&c->plan);
}
