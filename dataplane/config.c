/*
 * dataplane/config.c: parsing and validating the broker's settings.
 *
 * Kafka's key names and defaults; `ringtail.*` keys for what Kafka has no word for.  Values are
 * checked as they are set so that the message can name the key and the value.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void dp_config_defaults(struct dp_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 9092;
	snprintf(c->log_dirs, sizeof(c->log_dirs), "./ringtail-data");
	c->node_id = 0;
	c->num_partitions = 1;
	c->default_replication_factor = 1;
	c->auto_create_topics = true;
	c->message_max_bytes = 1048588;
	c->socket_request_max_bytes = 104857600;
	c->log_segment_bytes = 1073741824;
	c->log_roll_ms = 168LL * 3600 * 1000;
	c->log_retention_ms = 168LL * 3600 * 1000;
	c->log_retention_bytes = -1;
	c->log_flush_interval_messages = INT64_MAX;
	c->log_flush_interval_ms = INT64_MAX;
	c->connections_max_idle_ms = 600000;
	c->control_core = -1;
	snprintf(c->net_backend, sizeof(c->net_backend), "uring");
}

static int fail(char *err, size_t errlen, const char *key, const char *value, const char *allowed)
{
	if (err)
		snprintf(err, errlen, "invalid value '%s' for '%s': %s", value, key, allowed);
	return -EINVAL;
}

static bool parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true")) { *out = true; return true; }
	if (!strcasecmp(v, "false")) { *out = false; return true; }
	return false;
}

/* "PLAINTEXT://host:port[,...]": the first listener; an empty host means every interface. */
static bool parse_listener(const char *v, char *host, size_t hostlen, uint16_t *port)
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
	if (hn >= hostlen)
		return false;
	char portbuf[16];
	size_t pn = n - hn - 1;
	if (pn == 0 || pn >= sizeof(portbuf))
		return false;
	memcpy(portbuf, colon + 1, pn);
	portbuf[pn] = 0;
	int64_t pv;
	if (!parse_i64(portbuf, 0, 65535, &pv))
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

/* "0,2,4-7" into cores[]. */
static bool parse_cores(const char *v, int *cores, int *n)
{
	int k = 0;
	const char *p = v;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10);
		if (end == p || a < 0 || a > 4095)
			return false;
		long b = a;
		p = end;
		if (*p == '-') {
			p++;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b > 4095)
				return false;
			p = end;
		}
		for (long i = a; i <= b; i++) {
			if (k >= DP_MAX_SHARDS)
				return false;
			cores[k++] = (int)i;
		}
		if (*p == ',')
			p++;
		else if (*p)
			return false;
	}
	if (k == 0)
		return false;
	*n = k;
	return true;
}

int dp_config_set(struct dp_config *c, const char *key, const char *v, char *err, size_t errlen, bool *known)
{
	int64_t x;
	bool b;
	if (known)
		*known = true;
#define INT_KEY(name, lo, hi, field, allowed)                                        \
	if (!strcmp(key, name)) {                                                    \
		if (!parse_i64(v, lo, hi, &x)) return fail(err, errlen, key, v, allowed); \
		c->field = (__typeof__(c->field))x;                                  \
		return 0;                                                            \
	}
	if (!strcmp(key, "listeners")) {
		if (!parse_listener(v, c->listen_host, sizeof(c->listen_host), &c->listen_port))
			return fail(err, errlen, key, v, "a listener such as PLAINTEXT://127.0.0.1:9092");
		return 0;
	}
	if (!strcmp(key, "advertised.listeners")) {
		if (!parse_listener(v, c->adv_host, sizeof(c->adv_host), &c->adv_port))
			return fail(err, errlen, key, v, "a listener such as PLAINTEXT://broker1:9092");
		return 0;
	}
	if (!strcmp(key, "log.dirs") || !strcmp(key, "log.dir")) {
		if (!*v || strlen(v) >= sizeof(c->log_dirs) || strchr(v, ','))
			return fail(err, errlen, key, v, "one directory path (several log dirs are not supported yet)");
		snprintf(c->log_dirs, sizeof(c->log_dirs), "%s", v);
		return 0;
	}
	INT_KEY("node.id", 0, INT32_MAX, node_id, "an integer from 0 to 2147483647")
	INT_KEY("broker.id", 0, INT32_MAX, node_id, "an integer from 0 to 2147483647")
	INT_KEY("num.partitions", 1, 100000, num_partitions, "an integer from 1 to 100000")
	INT_KEY("default.replication.factor", 1, 1, default_replication_factor,
	        "1 (replication needs a cluster, which is not supported yet)")
	INT_KEY("message.max.bytes", 0, INT32_MAX, message_max_bytes, "an integer from 0 to 2147483647")
	INT_KEY("socket.request.max.bytes", 1, INT32_MAX, socket_request_max_bytes, "an integer from 1 to 2147483647")
	INT_KEY("log.segment.bytes", 14, INT32_MAX, log_segment_bytes, "an integer from 14 to 2147483647")
	INT_KEY("log.roll.ms", 1, INT64_MAX, log_roll_ms, "a positive number of milliseconds")
	INT_KEY("log.retention.ms", -1, INT64_MAX, log_retention_ms, "-1 (forever) or a number of milliseconds")
	INT_KEY("log.retention.bytes", -1, INT64_MAX, log_retention_bytes, "-1 (unbounded) or a number of bytes")
	INT_KEY("log.flush.interval.messages", 1, INT64_MAX, log_flush_interval_messages, "a positive integer")
	INT_KEY("log.flush.interval.ms", 0, INT64_MAX, log_flush_interval_ms, "a number of milliseconds")
	INT_KEY("connections.max.idle.ms", -1, INT64_MAX, connections_max_idle_ms, "-1 or a number of milliseconds")
	INT_KEY("ringtail.control.core", -1, 4095, control_core, "-1 or a CPU number")
	if (!strcmp(key, "log.roll.hours")) {
		if (!parse_i64(v, 1, INT32_MAX, &x)) return fail(err, errlen, key, v, "a positive number of hours");
		c->log_roll_ms = x * 3600 * 1000;
		return 0;
	}
	if (!strcmp(key, "log.retention.hours") || !strcmp(key, "log.retention.minutes")) {
		if (!parse_i64(v, -1, INT32_MAX, &x)) return fail(err, errlen, key, v, "-1 (forever) or a positive number");
		c->log_retention_ms = x < 0 ? -1 : x * (key[14] == 'h' ? 3600000 : 60000);
		return 0;
	}
	if (!strcmp(key, "auto.create.topics.enable")) {
		if (!parse_bool(v, &b)) return fail(err, errlen, key, v, "true or false");
		c->auto_create_topics = b;
		return 0;
	}
	if (!strcmp(key, "ringtail.advertise.shards")) {
		if (!parse_bool(v, &b)) return fail(err, errlen, key, v, "true or false");
		c->advertise_shards = b;
		return 0;
	}
	if (!strcmp(key, "ringtail.cores")) {
		if (!parse_cores(v, c->cores, &c->ncores))
			return fail(err, errlen, key, v, "a list of CPU numbers and ranges such as 0,2,4-7");
		return 0;
	}
	if (!strcmp(key, "ringtail.net.backend")) {
		if (strcmp(v, "uring"))
			return fail(err, errlen, key, v, "uring (the dpdk backend is not built)");
		snprintf(c->net_backend, sizeof(c->net_backend), "%s", v);
		return 0;
	}
	if (!strcmp(key, "cluster.id") || !strcmp(key, "ringtail.cluster.id")) {
		if (!*v || strlen(v) >= sizeof(c->cluster_id))
			return fail(err, errlen, key, v, "a non-empty id of at most 31 characters");
		snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", v);
		return 0;
	}
#undef INT_KEY
	if (known)
		*known = false;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int dp_config_load(struct dp_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char line[8192];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#' || *s == '!')
			continue;
		char *eq = strpbrk(s, "=:");
		if (!eq) {
			snprintf(err, errlen, "%s:%d: '%s' is not key=value", path, lineno, s);
			rc = -EINVAL;
			break;
		}
		*eq = 0;
		char *k = trim(s), *v = trim(eq + 1);
		char msg[1024];
		if (dp_config_set(c, k, v, msg, sizeof(msg), NULL)) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			rc = -EINVAL;
			break;
		}
	}
	fclose(f);
	return rc;
}

int dp_config_finish(struct dp_config *c, char *err, size_t errlen)
{
	if (!c->adv_host[0]) {
		snprintf(c->adv_host, sizeof(c->adv_host), "%s",
		         c->listen_host[0] && strcmp(c->listen_host, "0.0.0.0") ? c->listen_host : "localhost");
		c->adv_port = c->listen_port;
	}
	if (c->ncores == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1) n = 1;
		if (n > DP_MAX_SHARDS) n = DP_MAX_SHARDS;
		c->ncores = (int)n;
		for (int i = 0; i < n; i++)
			c->cores[i] = i;
	}
	long online = sysconf(_SC_NPROCESSORS_CONF);
	for (int i = 0; i < c->ncores; i++) {
		if (online > 0 && c->cores[i] >= online) {
			char v[16];
			snprintf(v, sizeof(v), "%d", c->cores[i]);
			return fail(err, errlen, "ringtail.cores", v, "CPU numbers of this machine");
		}
	}
	if (c->advertise_shards && (int)c->listen_port + c->ncores > 65535)
		return fail(err, errlen, "listeners", "port", "room for one port per shard after the listener port");
	return 0;
}
