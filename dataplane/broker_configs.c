/*
 * dataplane/broker_configs.c: the dynamic broker config layers (see broker_configs.h): which
 * keys may change, Kafka's validation and messages, the effective config, and the file.
 */
#include "broker_configs.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/file_replace.h"
#include "base/log.h"
#include "configs.h"
#include "kp_errors.h"

/* The dynamic keys and the field of struct dp_config each one sets.  Kafka's DynamicLogConfig
 * makes every broker synonym of a topic config dynamic; these are the ones Ringtail has.  Then
 * the keys of Kafka's other reconfigurables that Ringtail honours: LogCleaner's backoff, dedupe
 * buffer and I/O rate (storage/cleaner.c applies them on each shard), and
 * DynamicProducerStateManagerConfig's producer.id.expiration.ms (every partition's producer
 * state).  Their type and bounds are the static definition's (config.c), so both paths accept
 * the same values; the dedupe buffer also gets Kafka's per-thread rule (check_value). */
enum kind { K_I32, K_I64, K_DBL, K_STR, K_IORATE };
static const struct dkey {
	const char *name;
	size_t off;
	enum kind kind;
} dkeys[] = {
	{ "message.max.bytes", offsetof(struct dp_config, message_max_bytes), K_I32 },
	{ "log.segment.bytes", offsetof(struct dp_config, log_segment_bytes), K_I64 },
	{ "log.roll.ms", offsetof(struct dp_config, log_roll_ms), K_I64 },
	{ "log.retention.ms", offsetof(struct dp_config, log_retention_ms), K_I64 },
	{ "log.retention.bytes", offsetof(struct dp_config, log_retention_bytes), K_I64 },
	{ "log.flush.interval.messages", offsetof(struct dp_config, log_flush_interval_messages), K_I64 },
	{ "log.flush.interval.ms", offsetof(struct dp_config, log_flush_interval_ms), K_I64 },
	{ "log.cleanup.policy", offsetof(struct dp_config, log_cleanup_policy), K_STR },
	{ "log.cleaner.delete.retention.ms", offsetof(struct dp_config, log_cleaner_delete_retention_ms), K_I64 },
	{ "log.cleaner.min.compaction.lag.ms", offsetof(struct dp_config, log_cleaner_min_compaction_lag_ms), K_I64 },
	{ "log.cleaner.max.compaction.lag.ms", offsetof(struct dp_config, log_cleaner_max_compaction_lag_ms), K_I64 },
	{ "log.cleaner.min.cleanable.ratio", offsetof(struct dp_config, log_cleaner_min_cleanable_ratio), K_DBL },
	{ "log.cleaner.backoff.ms", offsetof(struct dp_config, cleaner.backoff_ms), K_I64 },
	{ "log.cleaner.dedupe.buffer.size", offsetof(struct dp_config, cleaner.dedupe_buffer_size), K_I64 },
	{ "log.cleaner.io.max.bytes.per.second", offsetof(struct dp_config, log_cleaner_io_max_bytes_per_second),
	  K_IORATE },
	{ "producer.id.expiration.ms", offsetof(struct dp_config, producer_id_expiration_ms), K_I64 },
};
#define NDKEYS (sizeof(dkeys) / sizeof(dkeys[0]))

static const struct dkey *dkey(const char *name)
{
	for (size_t i = 0; i < NDKEYS; i++)
		if (!strcmp(dkeys[i].name, name))
			return &dkeys[i];
	return NULL;
}

bool dp_bcfg_dynamic(const char *key)
{
	return dkey(key) != NULL;
}

/* Kafka's LIST keys among Ringtail's (log.cleanup.policy is a STRING in the properties table,
 * where one value is read; Kafka declares it a list). */
static bool is_list(const char *key)
{
	const struct rt_cfg_def *d = dp_config_def(key);
	return !strcmp(key, "log.cleanup.policy") || (d && d->type == RT_CFG_LIST);
}

int8_t dp_bcfg_type(const char *key)
{
	const struct rt_cfg_def *d = dp_config_def(key);
	if (!d)
		return 0;
	if (is_list(key))
		return DP_TYPE_LIST;
	switch (d->type) {
	case RT_CFG_INT: return DP_TYPE_INT;
	case RT_CFG_LONG:
	case RT_CFG_SIZE: return DP_TYPE_LONG;
	case RT_CFG_DOUBLE: return DP_TYPE_DOUBLE;
	case RT_CFG_BOOL: return DP_TYPE_BOOLEAN;
	default: return DP_TYPE_STRING;
	}
}

/* --- key/value lists -------------------------------------------------------------------------- */

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct dp_kv *)a)->key, ((const struct dp_kv *)b)->key);
}

static void kv_free(struct dp_kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* Sets (value) or removes (NULL) key in the sorted list *kv of *n.  0 or -ENOMEM. */
static int kv_put(struct dp_kv **kv, int *n, const char *key, const char *value)
{
	for (int i = 0; i < *n; i++) {
		if (strcmp((*kv)[i].key, key))
			continue;
		if (!value) {
			free((*kv)[i].key);
			free((*kv)[i].value);
			memmove(&(*kv)[i], &(*kv)[i + 1], sizeof(**kv) * (size_t)(*n - i - 1));
			(*n)--;
			return 0;
		}
		char *v = strdup(value);
		if (!v)
			return -ENOMEM;
		free((*kv)[i].value);
		(*kv)[i].value = v;
		return 0;
	}
	if (!value)
		return 0;
	struct dp_kv *nk = realloc(*kv, sizeof(*nk) * (size_t)(*n + 1));
	if (!nk)
		return -ENOMEM;
	*kv = nk;
	char *k = strdup(key), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	nk[*n] = (struct dp_kv){ k, v };
	(*n)++;
	qsort(nk, (size_t)*n, sizeof(*nk), cmp_kv);
	return 0;
}

const char *dp_bcfg_get(const struct dp_bcfg *d, int level, const char *key)
{
	for (int i = 0; i < d->n[level]; i++)
		if (!strcmp(d->kv[level][i].key, key))
			return d->kv[level][i].value;
	return NULL;
}

struct dp_bcfg *dp_bcfg_create(const struct dp_config *c)
{
	struct dp_bcfg *d = calloc(1, sizeof(*d));
	if (d)
		d->eff = *c;
	return d;
}

void dp_bcfg_destroy(struct dp_bcfg *d)
{
	if (!d)
		return;
	for (int l = 0; l < DP_BCFG_LEVELS; l++)
		kv_free(d->kv[l], d->n[l]);
	free(d);
}

static struct dp_bcfg *copy(const struct dp_bcfg *o)
{
	struct dp_bcfg *d = dp_bcfg_create(&o->eff);
	for (int l = 0; d && l < DP_BCFG_LEVELS; l++)
		for (int i = 0; i < o->n[l]; i++)
			if (kv_put(&d->kv[l], &d->n[l], o->kv[l][i].key, o->kv[l][i].value)) {
				dp_bcfg_destroy(d);
				return NULL;
			}
	return d;
}

/* --- values ----------------------------------------------------------------------------------- */

/* value without surrounding blanks (Kafka's ConfigDef trims) into buf.  False when too long. */
static bool trimmed(const char *value, char *buf, size_t size)
{
	while (isspace((unsigned char)*value))
		value++;
	size_t n = strlen(value);
	while (n && isspace((unsigned char)value[n - 1]))
		n--;
	if (n >= size)
		return false;
	memcpy(buf, value, n);
	buf[n] = 0;
	return true;
}

/* Java's Double.toString for the bounds that occur (0.0, 1.0, 0.5). */
static void jdouble(double v, char *buf, size_t size)
{
	if (v == (double)(int64_t)v)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%g", v);
}

/* Checks one value of a dynamic key as Kafka's ConfigDef.parse would, with its messages, and
 * the dedupe buffer as KafkaConfig's validateValues does (its message has no "Invalid value"
 * prefix: Kafka's broker passes the IllegalArgumentException's text on).  c: the static config
 * (log.cleaner.threads, which is not dynamic).  Returns 0 or INVALID_REQUEST (the code Kafka's
 * broker answers, KAFKA-13609) with msg. */
static int16_t check_value(const struct dp_config *c, const char *key, const char *value, char *msg, size_t msglen)
{
	const struct rt_cfg_def *d = dp_config_def(key);
	char v[128];
	const char *why = NULL;
	char bound[64];
	if (!d || !trimmed(value, v, sizeof(v))) {
		why = "Value too long";
		goto bad;
	}
	if (!strcmp(key, "log.cleanup.policy")) {
		struct stor_config tmp;
		stor_config_default(&tmp);
		if (strlen(v) >= sizeof(((struct dp_config *)0)->log_cleanup_policy) ||
		    stor_config_set(&tmp, "cleanup.policy", v, NULL) != 0) {
			why = "String must be one of: compact, delete";
			goto bad;
		}
		return 0;
	}
	char *end;
	errno = 0;
	if (d->type == RT_CFG_DOUBLE) {
		double x = strtod(v, &end);
		if (!*v || *end || errno || x != x) {
			why = "Not a number of type DOUBLE";
			goto bad;
		}
		if ((d->dmin || d->dmax) && x < d->dmin) {
			jdouble(d->dmin, bound, sizeof(bound));
			snprintf(msg, msglen, "Invalid value %s for configuration %s: Value must be at least %s", v, key, bound);
			return KP_ERR_INVALID_REQUEST;
		}
		if ((d->dmin || d->dmax) && x > d->dmax) {
			jdouble(d->dmax, bound, sizeof(bound));
			snprintf(msg, msglen, "Invalid value %s for configuration %s: Value must be no more than %s", v, key,
			         bound);
			return KP_ERR_INVALID_REQUEST;
		}
		return 0;
	}
	bool i32 = d->type == RT_CFG_INT;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || errno || (i32 && (x < INT32_MIN || x > INT32_MAX))) {
		why = i32 ? "Not a number of type INT" : "Not a number of type LONG";
		goto bad;
	}
	/* Kafka declares no bound on the dedupe buffer; its only rule is this one. */
	if (!strcmp(key, "log.cleaner.dedupe.buffer.size") && x / (c->log_cleaner_threads > 0 ? c->log_cleaner_threads : 1) <=
	                                                          1024 * 1024) {
		snprintf(msg, msglen, "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.");
		return KP_ERR_INVALID_REQUEST;
	}
	if ((d->min || d->max) && x < d->min) {
		snprintf(msg, msglen, "Invalid value %s for configuration %s: Value must be at least %lld", v, key,
		         (long long)d->min);
		return KP_ERR_INVALID_REQUEST;
	}
	if ((d->min || d->max) && x > d->max) {
		snprintf(msg, msglen, "Invalid value %s for configuration %s: Value must be no more than %lld", v, key,
		         (long long)d->max);
		return KP_ERR_INVALID_REQUEST;
	}
	return 0;
bad:
	snprintf(msg, msglen, "Invalid value %s for configuration %s: %s", value, key, why);
	return KP_ERR_INVALID_REQUEST;
}

/* d->eff: the static config c with the dynamic values on top, this broker's over the cluster
 * default's.  The values were checked when they entered the set. */
static void apply(struct dp_bcfg *d, const struct dp_config *c)
{
	d->eff = *c;
	for (size_t i = 0; i < NDKEYS; i++) {
		const char *v = dp_bcfg_get(d, DP_BCFG_NODE, dkeys[i].name);
		if (!v)
			v = dp_bcfg_get(d, DP_BCFG_DEFAULT, dkeys[i].name);
		if (!v)
			continue;
		char t[128];
		if (!trimmed(v, t, sizeof(t)))
			continue;
		char *f = (char *)&d->eff + dkeys[i].off;
		switch (dkeys[i].kind) {
		case K_I32: *(int32_t *)(void *)f = (int32_t)strtol(t, NULL, 10); break;
		case K_I64: *(int64_t *)(void *)f = strtoll(t, NULL, 10); break;
		case K_DBL: *(double *)(void *)f = strtod(t, NULL); break;
		case K_STR:
			if (strlen(t) < sizeof(d->eff.log_cleanup_policy))
				memcpy(f, t, strlen(t) + 1);
			break;
		case K_IORATE: {
			double r = strtod(t, NULL);
			*(double *)(void *)f = r;
			d->eff.cleaner.io_max_bytes_per_second = dp_config_cleaner_io_rate(r);
			break;
		}
		}
	}
	/* As config.c: a negative retention means "forever". */
	if (d->eff.log_retention_ms < 0)
		d->eff.log_retention_ms = -1;
}

/* --- requests --------------------------------------------------------------------------------- */

int16_t dp_bcfg_resource(const struct dp_config *c, int nshards, const char *name, bool describe, int *level,
                         char *msg, size_t msglen)
{
	if (!*name) {
		*level = DP_BCFG_DEFAULT;
		return 0;
	}
	char *end;
	errno = 0;
	long long id = strtoll(name, &end, 10);
	if (*end || errno || isspace((unsigned char)*name) || id < INT32_MIN || id > INT32_MAX) {
		snprintf(msg, msglen, "%s id must be an integer, but it is: %s", describe ? "Broker" : "Node", name);
		return KP_ERR_INVALID_REQUEST;
	}
	/* The shards' node ids (metadata.c) are this process too: the same level. */
	long long base = (long long)c->node_id * 1000;
	if (id == c->node_id || (c->advertise_shards && id > base && id <= base + nshards)) {
		*level = DP_BCFG_NODE;
		return 0;
	}
	snprintf(msg, msglen, "Unexpected broker id, expected %d%s, but received %s", c->node_id,
	         describe ? " or empty string" : "", name);
	return KP_ERR_INVALID_REQUEST;
}

int dp_cfg_list_edit(const char *old, const char *value, bool subtract, char *out, size_t size)
{
	char items[1024], tmp[1024];
	size_t len = 0;
	if (strlen(old) >= sizeof(items) || strlen(value) >= sizeof(tmp) || !size)
		return -E2BIG;
	out[0] = 0;
	snprintf(items, sizeof(items), "%s", old);
	for (char *sv, *it = strtok_r(items, ",", &sv); it; it = strtok_r(NULL, ",", &sv)) {
		bool drop = false;
		if (subtract) {
			char *sv2;
			snprintf(tmp, sizeof(tmp), "%s", value);
			for (char *x = strtok_r(tmp, ",", &sv2); x; x = strtok_r(NULL, ",", &sv2))
				drop |= !strcmp(x, it);
		}
		if (!drop)
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", it);
		if (len >= size)
			return -E2BIG;
	}
	if (subtract)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s", value);
	for (char *sv, *x = strtok_r(tmp, ",", &sv); x; x = strtok_r(NULL, ",", &sv)) {
		bool have = false;
		char seen[1024], *sv2;
		snprintf(seen, sizeof(seen), "%s", out);
		for (char *y = strtok_r(seen, ",", &sv2); y && !have; y = strtok_r(NULL, ",", &sv2))
			have = !strcmp(x, y);
		if (have)
			continue;
		len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", x);
		if (len >= size)
			return -E2BIG;
	}
	return 0;
}

/* Kafka's ConfigAdminManager.prepareIncrementalConfigs for APPEND (subtract false) and SUBTRACT
 * on a list key: the old list is the level's value, else the key's built-in default. */
static int list_op(struct dp_bcfg *d, int level, const char *key, const char *value, bool subtract)
{
	const char *old = dp_bcfg_get(d, level, key);
	if (!old) {
		const struct rt_cfg_def *def = dp_config_def(key);
		old = def && def->def ? def->def : "";
	}
	char out[1024];
	int rc = dp_cfg_list_edit(old, value, subtract, out, sizeof(out));
	return rc ? rc : kv_put(&d->kv[level], &d->n[level], key, out);
}

int16_t dp_bcfg_alter(const struct dp_config *c, const struct dp_bcfg *cur, int level, const struct dp_kv *kv,
                      const int8_t *ops, int n, bool incremental, bool validate_only, struct dp_bcfg **out,
                      char *msg, size_t msglen)
{
	*out = NULL;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (!strcmp(kv[i].key, kv[j].key)) {
				snprintf(msg, msglen, "Error due to duplicate config keys");
				return KP_ERR_INVALID_REQUEST;
			}
	size_t len = 0;
	for (int i = 0; i < n; i++)
		if (!kv[i].value && (!incremental || ops[i] != 1))
			len += (size_t)snprintf(msg + len, len < msglen ? msglen - len : 0, "%s%s",
			                        len ? ", " : "Null value not supported for : ", kv[i].key);
	if (len)
		return KP_ERR_INVALID_REQUEST;
	struct dp_bcfg *d = copy(cur);
	if (!d)
		goto nomem;
	if (!incremental) {
		kv_free(d->kv[level], d->n[level]);
		d->kv[level] = NULL;
		d->n[level] = 0;
	}
	int16_t e = 0;
	for (int i = 0; i < n && !e; i++) {
		int op = incremental ? ops[i] : 0;
		int rc = 0;
		if (op == 0 || op == 1) {
			char t[128];
			rc = kv_put(&d->kv[level], &d->n[level], kv[i].key,
			            op == 1 ? NULL : trimmed(kv[i].value, t, sizeof(t)) ? t : kv[i].value);
		} else if (op == 2 || op == 3) {
			if (!is_list(kv[i].key)) {
				snprintf(msg, msglen, "Config value %s is not allowed for config key: %s",
				         op == 2 ? "append" : "subtract", kv[i].key);
				e = KP_ERR_INVALID_CONFIG;
			} else {
				rc = list_op(d, level, kv[i].key, kv[i].value, op == 3);
			}
		} else {
			snprintf(msg, msglen, "Unknown operations type %d", op);
			e = KP_ERR_INVALID_REQUEST;
		}
		if (rc == -E2BIG) {
			snprintf(msg, msglen, "Invalid value %s for configuration %s: the list is too long", kv[i].value,
			         kv[i].key);
			e = KP_ERR_INVALID_REQUEST;
		} else if (rc) {
			dp_bcfg_destroy(d);
			goto nomem;
		}
	}
	/* The file holds one key=value a line: a key with '=' or a line break, or a value with a line
	 * break, could not be read back; and what a client makes the broker keep is bounded. */
	for (int i = 0; !e && i < d->n[level]; i++) {
		const struct dp_kv *x = &d->kv[level][i];
		if (strlen(x->key) > 255 || strlen(x->value) > 4095) {
			snprintf(msg, msglen, "Invalid config %.64s...: names may hold at most 255 characters, values 4095",
			         x->key);
			e = KP_ERR_INVALID_REQUEST;
		} else if (!*x->key || strpbrk(x->key, "=\r\n") || strpbrk(x->value, "\r\n")) {
			snprintf(msg, msglen, "Invalid config %s: names may not be empty or hold '=' or line breaks, values "
			         "may not hold line breaks", x->key);
			e = KP_ERR_INVALID_REQUEST;
		}
	}
	/* Kafka's DynamicBrokerConfig.validateConfigs over the level's whole new set: first the keys
	 * that cannot change dynamically (all named), then each value. */
	len = 0;
	for (int i = 0; !e && i < d->n[level]; i++) {
		const char *k = d->kv[level][i].key;
		if (dp_config_def(k) && !dp_bcfg_dynamic(k))
			len += (size_t)snprintf(msg + len, len < msglen ? msglen - len : 0, "%s%s",
			                        len ? ", " : "Cannot update these configs dynamically: Set(", k);
	}
	if (!e && len) {
		if (len + 1 < msglen)
			strcat(msg, ")");
		e = KP_ERR_INVALID_REQUEST;
	}
	for (int i = 0; !e && i < d->n[level]; i++)
		if (dp_bcfg_dynamic(d->kv[level][i].key))
			e = check_value(c, d->kv[level][i].key, d->kv[level][i].value, msg, msglen);
	if (!e && d->n[level] > DP_BCFG_MAX_KEYS) {
		snprintf(msg, msglen, "Too many dynamic broker configs: at most %d per resource", DP_BCFG_MAX_KEYS);
		e = KP_ERR_INVALID_REQUEST;
	}
	if (e || validate_only) {
		dp_bcfg_destroy(d);
		return e;
	}
	apply(d, c);
	*out = d;
	return 0;
nomem:
	snprintf(msg, msglen, "Out of memory");
	return KP_ERR_UNKNOWN_SERVER_ERROR;
}

/* --- the file --------------------------------------------------------------------------------- */

static void file_path(const struct dp_config *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", c->log_dirs, DP_BCFG_FILE);
}

int dp_bcfg_load(const struct dp_config *c, struct dp_bcfg **out, char *err, size_t errlen)
{
	char path[4200];
	file_path(c, path, sizeof(path));
	struct dp_bcfg *d = dp_bcfg_create(c);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT) {
			*out = d;
			return 0;
		}
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		dp_bcfg_destroy(d);
		return -e;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	while (!rc && getline(&line, &cap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!*line || !strncmp(line, "version ", 8))
			continue;
		int level = -1;
		char *kv = NULL;
		if (!strncmp(line, "default ", 8)) {
			level = DP_BCFG_DEFAULT;
			kv = line + 8;
		} else if (!strncmp(line, "broker ", 7)) {
			char *end;
			long id = strtol(line + 7, &end, 10);
			if (end != line + 7 && *end == ' ') {
				kv = end + 1;
				level = DP_BCFG_NODE;
				if (id != c->node_id) {
					/* Another node id's: kept by nobody (this file is this broker's). */
					RT_WARN("%s:%d: dynamic configs of broker %ld ignored: this broker is node %d", path, lineno,
					        id, c->node_id);
					continue;
				}
			}
		}
		char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv) {
			snprintf(err, errlen, "%s:%d: unreadable dynamic broker config line: %s", path, lineno, line);
			rc = -EINVAL;
			break;
		}
		*eq = 0;
		const char *key = kv, *value = eq + 1;
		char msg[512];
		if (dp_config_def(key) && !dp_bcfg_dynamic(key)) {
			snprintf(err, errlen, "%s:%d: %s=%s: this key cannot change dynamically; set it in the properties file",
			         path, lineno, key, value);
			rc = -EINVAL;
		} else if (dp_bcfg_dynamic(key) && check_value(c, key, value, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%d: %s=%s: %s", path, lineno, key, value, msg);
			rc = -EINVAL;
		} else if (d->n[level] >= DP_BCFG_MAX_KEYS) {
			snprintf(err, errlen, "%s:%d: %s=%s: more than %d dynamic configs", path, lineno, key, value,
			         DP_BCFG_MAX_KEYS);
			rc = -EINVAL;
		} else if (kv_put(&d->kv[level], &d->n[level], key, value)) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
	}
	free(line);
	fclose(f);
	if (rc) {
		dp_bcfg_destroy(d);
		return rc;
	}
	apply(d, c);
	for (int l = 0; l < DP_BCFG_LEVELS; l++)
		for (int i = 0; i < d->n[l]; i++)
			RT_INFO("dynamic broker config (%s): %s=%s", l == DP_BCFG_DEFAULT ? "cluster default" : "this broker",
			        d->kv[l][i].key, d->kv[l][i].value);
	*out = d;
	return 0;
}

struct save_arg {
	const struct dp_config *c;
	const struct dp_bcfg *d;
};

static void save_print(FILE *f, const void *arg)
{
	const struct save_arg *a = arg;
	fprintf(f, "version 1\n");
	for (int i = 0; i < a->d->n[DP_BCFG_DEFAULT]; i++)
		fprintf(f, "default %s=%s\n", a->d->kv[DP_BCFG_DEFAULT][i].key, a->d->kv[DP_BCFG_DEFAULT][i].value);
	for (int i = 0; i < a->d->n[DP_BCFG_NODE]; i++)
		fprintf(f, "broker %d %s=%s\n", a->c->node_id, a->d->kv[DP_BCFG_NODE][i].key,
		        a->d->kv[DP_BCFG_NODE][i].value);
}

int dp_bcfg_save(const struct dp_config *c, const struct dp_bcfg *d)
{
	struct save_arg a = { c, d };
	return rt_file_replace_print(c->log_dirs, DP_BCFG_FILE, save_print, &a);
}
