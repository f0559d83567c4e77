/*
 * dataplane/meta.c: the topic registry (see meta.h): snapshots, Kafka's topic rules, and the
 * registry file.
 *
 * The file `<log.dirs>/ringtail-topics` is text, one record per line:
 *     version 1
 *     cluster <cluster id>
 *     topic <name> <topic id, 32 hex digits> <partition count>
 *     owners <shard of partition 0> <shard of partition 1> ...
 *     config <key>=<value>                  (belongs to the topic line above)
 * It is rewritten whole on every change (rt_file_replace: <file>.tmp, fsync, rename, fsync of the
 * directory).
 */
#include "meta.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/file_replace.h"
#include "base/log.h"
#include "broker_configs.h"
#include "config.h"
#include "kp_errors.h"
#include "owners.h"

#define META_FILE "ringtail-topics"

/* Kafka's Topic.isInternal: the control process's topics, not every name that starts with "__". */
static bool internal_name(const char *name)
{
	return !strcmp(name, "__consumer_offsets") || !strcmp(name, "__transaction_state");
}

static int cmp_topic(const void *a, const void *b)
{
	const struct dp_topic *x = *(const struct dp_topic *const *)a, *y = *(const struct dp_topic *const *)b;
	return strcmp(x->name, y->name);
}

const struct dp_topic *dp_snap_find(const struct dp_snap *s, const char *name, size_t len)
{
	int lo = 0, hi = s->n - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const char *n = s->t[mid]->name;
		int c = strncmp(n, name, len);
		if (c == 0 && n[len])
			c = 1;
		if (c == 0)
			return s->t[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const struct dp_topic *dp_snap_find_id(const struct dp_snap *s, const uint8_t id[16])
{
	for (int i = 0; i < s->n; i++)
		if (!memcmp(s->t[i]->id, id, 16))
			return s->t[i];
	return NULL;
}

int16_t dp_topic_name_check(const char *name, size_t len, const char **msg)
{
	if (len == 0) {
		*msg = "Topic name is illegal, it can't be empty";
		return KP_ERR_INVALID_TOPIC_EXCEPTION;
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		*msg = "Topic name cannot be \".\" or \"..\"";
		return KP_ERR_INVALID_TOPIC_EXCEPTION;
	}
	if (len > DP_TOPIC_NAME_MAX) {
		*msg = "Topic name is illegal, it can't be longer than 249 characters";
		return KP_ERR_INVALID_TOPIC_EXCEPTION;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-') || ch >= 128) {
			*msg = "Topic name contains a character other than ASCII alphanumerics, '.', '_' and '-'";
			return KP_ERR_INVALID_TOPIC_EXCEPTION;
		}
	}
	return 0;
}

/* Kafka refuses topics whose names differ only in '.' versus '_' (they collide in metric names). */
static bool collides(const struct dp_snap *s, const char *name, size_t len)
{
	for (int i = 0; i < s->n; i++) {
		const char *n = s->t[i]->name;
		if (strlen(n) != len)
			continue;
		size_t k = 0;
		for (; k < len; k++) {
			char a = n[k] == '.' ? '_' : n[k], b = name[k] == '.' ? '_' : name[k];
			if (a != b)
				break;
		}
		if (k == len)
			return true;
	}
	return false;
}

/* Topic-level keys that Kafka knows and storage does not interpret. */
static const char *const passive_keys[] = {
	"compression.type", "min.insync.replicas", "unclean.leader.election.enable",
	"message.downconversion.enable", "preallocate", "message.timestamp.difference.max.ms", "message.timestamp.before.max.ms",
	"message.timestamp.after.max.ms", "follower.replication.throttled.replicas",
	"leader.replication.throttled.replicas", "local.retention.ms", "local.retention.bytes",
	"remote.storage.enable", "message.format.version",
};

/* The topic configs Kafka declares LIST (APPEND and SUBTRACT apply): their default as text, or
 * NULL for any other key. */
static const char *topic_list_default(const char *key)
{
	if (!strcmp(key, "cleanup.policy"))
		return "delete";
	if (!strcmp(key, "follower.replication.throttled.replicas") || !strcmp(key, "leader.replication.throttled.replicas"))
		return "";
	return NULL;
}

int16_t dp_topic_config_check(const char *key, const char *value, const char **msg)
{
	struct stor_config tmp;
	stor_config_default(&tmp);
	if (!strcmp(key, "max.message.bytes")) {
		char *end;
		long long v = strtoll(value, &end, 10);
		if (end == value || *end || v < 0 || v > INT32_MAX) {
			*msg = "max.message.bytes: an integer from 0 to 2147483647";
			return KP_ERR_INVALID_CONFIG;
		}
		return 0;
	}
	if (!strcmp(key, "compression.type")) {
		static const char *ok[] = { "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer" };
		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			if (!strcmp(value, ok[i]))
				return 0;
		*msg = "compression.type: one of uncompressed, zstd, lz4, snappy, gzip, producer";
		return KP_ERR_INVALID_CONFIG;
	}
	const char *why = NULL;
	int rc = stor_config_set(&tmp, key, value, &why);
	if (rc == 0)
		return 0;
	if (rc == -EINVAL) {
		*msg = why ? why : "invalid value";
		return KP_ERR_INVALID_CONFIG;
	}
	for (size_t i = 0; i < sizeof(passive_keys) / sizeof(passive_keys[0]); i++)
		if (!strcmp(key, passive_keys[i]))
			return 0;
	*msg = "Unknown topic config name";
	return KP_ERR_INVALID_CONFIG;
}

/* Effective settings of a topic: broker log.* defaults c (static and dynamic layers: a
 * dp_bcfg's eff), then the topic's overrides. */
static void topic_effective(const struct dp_config *c, struct dp_topic *t)
{
	stor_config_default(&t->scfg);
	t->scfg.segment_bytes = c->log_segment_bytes;
	t->scfg.segment_ms = c->log_roll_ms;
	t->scfg.retention_ms = c->log_retention_ms;
	t->scfg.retention_bytes = c->log_retention_bytes;
	t->scfg.flush_messages = c->log_flush_interval_messages;
	t->scfg.flush_ms = c->log_flush_interval_ms;
	stor_config_set(&t->scfg, "cleanup.policy", c->log_cleanup_policy, NULL);
	t->scfg.delete_retention_ms = c->log_cleaner_delete_retention_ms;
	t->scfg.min_cleanable_ratio = c->log_cleaner_min_cleanable_ratio;
	t->scfg.min_compaction_lag_ms = c->log_cleaner_min_compaction_lag_ms;
	t->scfg.max_compaction_lag_ms = c->log_cleaner_max_compaction_lag_ms;
	t->max_message_bytes = c->message_max_bytes;
	for (int i = 0; i < t->nconf; i++) {
		if (!strcmp(t->conf[i].key, "max.message.bytes"))
			t->max_message_bytes = (int32_t)strtol(t->conf[i].value, NULL, 10);
		else
			stor_config_set(&t->scfg, t->conf[i].key, t->conf[i].value, NULL);
	}
}

static void topic_free(struct dp_topic *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nconf; i++) {
		free(t->conf[i].key);
		free(t->conf[i].value);
	}
	free(t->conf);
	free(t->owner);
	free(t->owner_list);
	free(t);
}

static struct dp_topic *topic_clone(const struct dp_topic *o)
{
	struct dp_topic *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = *o;
	t->retired_next = NULL;
	t->owner_list = NULL;  /* publish() writes the clone's own */
	t->owner = malloc(sizeof(*t->owner) * (size_t)(o->nparts ? o->nparts : 1));
	t->conf = calloc((size_t)o->nconf + 1, sizeof(*t->conf));
	if (!t->owner || !t->conf) {
		free(t->owner);
		free(t->conf);
		free(t);
		return NULL;
	}
	memcpy(t->owner, o->owner, sizeof(*t->owner) * (size_t)o->nparts);
	for (int i = 0; i < o->nconf; i++) {
		t->conf[i].key = strdup(o->conf[i].key);
		t->conf[i].value = strdup(o->conf[i].value);
	}
	return t;
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct dp_kv *)a)->key, ((const struct dp_kv *)b)->key);
}

/* t's override of key (borrowed), or NULL. */
static const char *topic_conf_get(const struct dp_topic *t, const char *key)
{
	for (int i = 0; i < t->nconf; i++)
		if (!strcmp(t->conf[i].key, key))
			return t->conf[i].value;
	return NULL;
}

/* Sets or removes (value NULL) one override of t (a private copy being built). */
static int topic_conf_put(struct dp_topic *t, const char *key, const char *value)
{
	for (int i = 0; i < t->nconf; i++) {
		if (strcmp(t->conf[i].key, key))
			continue;
		if (value) {
			char *v = strdup(value);
			if (!v)
				return -ENOMEM;
			free(t->conf[i].value);
			t->conf[i].value = v;
		} else {
			free(t->conf[i].key);
			free(t->conf[i].value);
			t->conf[i] = t->conf[--t->nconf];
			qsort(t->conf, (size_t)t->nconf, sizeof(*t->conf), cmp_kv);
		}
		return 0;
	}
	if (!value)
		return 0;
	struct dp_kv *nc = realloc(t->conf, sizeof(*nc) * (size_t)(t->nconf + 1));
	if (!nc)
		return -ENOMEM;
	t->conf = nc;
	t->conf[t->nconf].key = strdup(key);
	t->conf[t->nconf].value = strdup(value);
	t->nconf++;
	qsort(t->conf, (size_t)t->nconf, sizeof(*t->conf), cmp_kv);
	return 0;
}

/* Sets owner[from .. to-1] of t: owners[p - from] where the caller named a shard (>= 0),
 * else the shard that owns the fewest partitions, counting every partition of snapshot s and
 * the named ones of t first, so that the spread goes around them. */
static void assign_owners(const struct dp_meta *m, const struct dp_snap *s, struct dp_topic *t, int32_t from,
                          int32_t to, const int16_t *owners)
{
	int counts[DP_MAX_SHARDS] = { 0 };
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->t[i]->name, t->name))
			for (int p = 0; p < s->t[i]->nparts; p++)
				counts[s->t[i]->owner[p]]++;
	for (int32_t p = 0; p < from; p++)
		counts[t->owner[p]]++;
	for (int32_t p = from; p < to; p++) {
		assert(!owners || owners[p - from] < m->nshards);
		t->owner[p] = owners ? owners[p - from] : -1;
		if (t->owner[p] >= 0)
			counts[t->owner[p]]++;
	}
	for (int32_t p = from; p < to; p++) {
		if (t->owner[p] >= 0)
			continue;
		int best = 0;
		for (int i = 1; i < m->nshards; i++)
			if (counts[i] < counts[best])
				best = i;
		t->owner[p] = (int16_t)best;
		counts[best]++;
	}
}

/* t->owner_list from t->owner (t a private copy being built).  Returns 0 or -ENOMEM. */
static int topic_owner_list(struct dp_topic *t)
{
	size_t n = dp_owners_format(t->owner, t->nparts, NULL, 0);
	char *l = malloc(n + 1);
	if (!l)
		return -ENOMEM;
	dp_owners_format(t->owner, t->nparts, l, n + 1);
	free(t->owner_list);
	t->owner_list = l;
	return 0;
}

struct persist_arg {
	const struct dp_meta *m;
	const struct dp_snap *s;
};

static void persist_print(FILE *f, const void *arg)
{
	const struct dp_meta *m = ((const struct persist_arg *)arg)->m;
	const struct dp_snap *s = ((const struct persist_arg *)arg)->s;
	fprintf(f, "version 1\ncluster %s\n", m->cluster_id);
	for (int i = 0; i < s->n; i++) {
		const struct dp_topic *t = s->t[i];
		fprintf(f, "topic %s ", t->name);
		for (int k = 0; k < 16; k++)
			fprintf(f, "%02x", t->id[k]);
		fprintf(f, " %d\nowners", t->nparts);
		for (int p = 0; p < t->nparts; p++)
			fprintf(f, " %d", t->owner[p]);
		fprintf(f, "\n");
		for (int k = 0; k < t->nconf; k++)
			fprintf(f, "config %s=%s\n", t->conf[k].key, t->conf[k].value);
	}
}

/* Writes the registry file from snapshot `s`.  Returns 0 or -errno. */
static int persist(struct dp_meta *m, const struct dp_snap *s)
{
	struct persist_arg a = { m, s };
	return rt_file_replace_print(m->cfg->log_dirs, META_FILE, persist_print, &a);
}

/* Publishes a new snapshot made of `s`'s topics minus `drop` plus `add` (either may be NULL),
 * after writing it to disk.  Called with the lock held.  Returns 0 or -errno. */
static int publish(struct dp_meta *m, const struct dp_topic *drop, struct dp_topic *add)
{
	struct dp_snap *old = atomic_load(&m->cur);
	if (add && topic_owner_list(add))
		return -ENOMEM;
	struct dp_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->t = calloc((size_t)old->n + 1, sizeof(*s->t));
	if (!s->t) {
		free(s);
		return -ENOMEM;
	}
	for (int i = 0; i < old->n; i++)
		if (old->t[i] != drop)
			s->t[s->n++] = old->t[i];
	if (add)
		s->t[s->n++] = add;
	qsort(s->t, (size_t)s->n, sizeof(*s->t), cmp_topic);
	s->version = old->version + 1;
	s->dyn = old->dyn;
	int rc = persist(m, s);
	if (rc) {
		free(s->t);
		free(s);
		return rc;
	}
	atomic_store_explicit(&m->cur, s, memory_order_release);
	old->retired_next = m->retired;
	m->retired = old;
	if (drop) {
		struct dp_topic *d = (struct dp_topic *)drop;
		d->retired_next = m->retired_topics;
		m->retired_topics = d;
	}
	return 0;
}

static void random_id(uint8_t *id)
{
	do {
		if (getrandom(id, 16, 0) != 16) {
			for (int i = 0; i < 16; i++)
				id[i] = (uint8_t)rand();
		}
	} while (!memcmp(id, (uint8_t[16]){ 0 }, 16));
}

int16_t dp_meta_create(struct dp_meta *m, const char *name, size_t len, int32_t nparts, int16_t rf,
                       const struct dp_kv *conf, int nconf, const int16_t *owners, bool validate_only,
                       const char **msg, const struct dp_topic **out)
{
	if (out)
		*out = NULL;
	int16_t e = dp_topic_name_check(name, len, msg);
	if (e)
		return e;
	/* Kafka's checks and words, in its order (ReplicationControlManager.createTopic) */
	if (rf < -1 || rf == 0) {
		*msg = "Replication factor must be larger than 0, or -1 to use the default value.";
		return KP_ERR_INVALID_REPLICATION_FACTOR;
	}
	if (nparts < -1 || nparts == 0) {
		*msg = "Number of partitions was set to an invalid non-positive value.";
		return KP_ERR_INVALID_PARTITIONS;
	}
	if (nparts == -1)
		nparts = m->cfg->num_partitions;
	if (rf == -1)
		rf = m->cfg->default_replication_factor;
	if (nparts > 100000) {
		*msg = "Number of partitions is above 100000, the most a topic may have here.";
		return KP_ERR_INVALID_PARTITIONS;
	}
	if (rf > 1) {
		*msg = "The target replication factor cannot be reached because only 1 broker(s) are registered.";
		return KP_ERR_INVALID_REPLICATION_FACTOR;
	}
	for (int i = 0; i < nconf; i++) {
		if (!conf[i].value) {
			*msg = "Null value not supported for topic configs";
			return KP_ERR_INVALID_CONFIG;
		}
		e = dp_topic_config_check(conf[i].key, conf[i].value, msg);
		if (e)
			return e;
	}
	pthread_mutex_lock(&m->lock);
	struct dp_snap *s = atomic_load(&m->cur);
	if (dp_snap_find(s, name, len)) {
		pthread_mutex_unlock(&m->lock);
		*msg = "Topic already exists";
		return KP_ERR_TOPIC_ALREADY_EXISTS;
	}
	if (collides(s, name, len)) {
		pthread_mutex_unlock(&m->lock);
		*msg = "Topic collides with an existing topic ('.' and '_' are the same in metric names)";
		return KP_ERR_INVALID_TOPIC_EXCEPTION;
	}
	if (validate_only) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	struct dp_topic *t = calloc(1, sizeof(*t));
	if (!t || !(t->owner = calloc((size_t)nparts, sizeof(*t->owner))))
		goto nomem;
	memcpy(t->name, name, len);
	t->name[len] = 0;
	random_id(t->id);
	t->internal = internal_name(t->name);
	for (int i = 0; i < nconf; i++)
		if (topic_conf_put(t, conf[i].key, conf[i].value))
			goto nomem;
	assign_owners(m, s, t, 0, nparts, owners);
	t->nparts = nparts;
	topic_effective(&atomic_load(&m->cur)->dyn->eff, t);
	int rc = publish(m, NULL, t);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		topic_free(t);
		RT_ERROR("cannot write the topic registry %s: %s", m->path, strerror(-rc));
		*msg = "Cannot write the topic registry";
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	RT_INFO("created topic %s with %d partitions", t->name, nparts);
	if (out)
		*out = t;
	return 0;
nomem:
	pthread_mutex_unlock(&m->lock);
	topic_free(t);
	*msg = "Out of memory";
	return KP_ERR_UNKNOWN_SERVER_ERROR;
}

int16_t dp_meta_delete(struct dp_meta *m, const struct dp_topic *t)
{
	pthread_mutex_lock(&m->lock);
	struct dp_snap *s = atomic_load(&m->cur);
	if (dp_snap_find(s, t->name, strlen(t->name)) != t) {
		pthread_mutex_unlock(&m->lock);
		return KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	}
	int rc = publish(m, t, NULL);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		RT_ERROR("cannot write the topic registry %s: %s", m->path, strerror(-rc));
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	RT_INFO("deleted topic %s", t->name);
	return 0;
}

int16_t dp_meta_add_partitions(struct dp_meta *m, const char *name, size_t len, int32_t total,
                               const int16_t *owners, int32_t nowners, bool validate_only, const char **msg)
{
	pthread_mutex_lock(&m->lock);
	struct dp_snap *s = atomic_load(&m->cur);
	const struct dp_topic *o = dp_snap_find(s, name, len);
	int16_t e = 0;
	if (!o) {
		*msg = "Topic does not exist";
		e = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	} else if (total < o->nparts) {
		*msg = "Topic currently has more partitions than requested; partitions can only be added";
		e = KP_ERR_INVALID_PARTITIONS;
	} else if (total == o->nparts) {
		*msg = "Topic already has the requested number of partitions";
		e = KP_ERR_INVALID_PARTITIONS;
	} else if (total > 100000) {
		*msg = "Too many partitions";
		e = KP_ERR_INVALID_PARTITIONS;
	} else if (owners && nowners != total - o->nparts) {
		/* The caller checked against the count it saw; another request grew the topic since. */
		*msg = "The number of assignments is not the number of partitions being added";
		e = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
	}
	if (e || validate_only) {
		pthread_mutex_unlock(&m->lock);
		return e;
	}
	struct dp_topic *t = topic_clone(o);
	int16_t *own = t ? realloc(t->owner, sizeof(*own) * (size_t)total) : NULL;
	if (!own) {
		pthread_mutex_unlock(&m->lock);
		topic_free(t);
		*msg = "Out of memory";
		return KP_ERR_UNKNOWN_SERVER_ERROR;
	}
	t->owner = own;
	int32_t had = t->nparts;
	assign_owners(m, s, t, had, total, owners);
	t->nparts = total;
	int rc = publish(m, o, t);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		topic_free(t);
		*msg = "Cannot write the topic registry";
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	return 0;
}

int16_t dp_meta_shrink_partitions(struct dp_meta *m, const struct dp_topic *t, int32_t nparts)
{
	pthread_mutex_lock(&m->lock);
	struct dp_snap *s = atomic_load(&m->cur);
	if (dp_snap_find(s, t->name, strlen(t->name)) != t || nparts < 1 || nparts > t->nparts) {
		pthread_mutex_unlock(&m->lock);
		return KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	}
	struct dp_topic *n = topic_clone(t);
	if (!n) {
		pthread_mutex_unlock(&m->lock);
		return KP_ERR_UNKNOWN_SERVER_ERROR;
	}
	n->nparts = nparts;
	int rc = publish(m, t, n);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		topic_free(n);
		RT_ERROR("cannot write the topic registry %s: %s", m->path, strerror(-rc));
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	RT_INFO("topic %s back to %d partitions", t->name, nparts);
	return 0;
}

int16_t dp_meta_alter_configs(struct dp_meta *m, const char *name, size_t len, const struct dp_kv *kv,
                              const int8_t *ops, int n, bool incremental, bool validate_only,
                              const char **msg)
{
	for (int i = 0; i < n; i++) {
		int8_t op = incremental ? ops[i] : 0;
		if (!strcmp(kv[i].key, DP_OWNERS_KEY))
			continue;  /* read-only: checked against the topic below */
		if (op == 0) {
			if (!kv[i].value) {
				*msg = "Null value not supported for topic configs";
				return KP_ERR_INVALID_CONFIG;
			}
			int16_t e = dp_topic_config_check(kv[i].key, kv[i].value, msg);
			if (e)
				return e;
		} else if (op == 2 || op == 3) {
			if (!topic_list_default(kv[i].key)) {
				/* Kafka's controller (ConfigurationControlManager) words it so. */
				static __thread char why[320];
				snprintf(why, sizeof(why), "Can't %s to key %.200s because its type is not LIST.",
				         op == 2 ? "APPEND" : "SUBTRACT", kv[i].key);
				*msg = why;
				return KP_ERR_INVALID_CONFIG;
			}
			if (!kv[i].value) {
				*msg = "Null value not supported for topic configs";
				return KP_ERR_INVALID_CONFIG;
			}
		} else if (op != 1) {
			*msg = "Unknown operations type";
			return KP_ERR_INVALID_REQUEST;
		}
	}
	pthread_mutex_lock(&m->lock);
	struct dp_snap *s = atomic_load(&m->cur);
	const struct dp_topic *o = dp_snap_find(s, name, len);
	if (!o) {
		pthread_mutex_unlock(&m->lock);
		*msg = "Topic does not exist";
		return KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	}
	for (int i = 0; i < n; i++) {
		int8_t op = incremental ? ops[i] : 0;
		if (strcmp(kv[i].key, DP_OWNERS_KEY))
			continue;
		if (op != 0 || !kv[i].value || strcmp(kv[i].value, o->owner_list)) {
			pthread_mutex_unlock(&m->lock);
			/* Kafka's DynamicBrokerConfig answer for a key that cannot change at run time. */
			*msg = "Cannot update these configs dynamically: Set(" DP_OWNERS_KEY ")";
			return KP_ERR_INVALID_REQUEST;
		}
	}
	if (validate_only) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	struct dp_topic *t = topic_clone(o);
	if (!t)
		goto nomem;
	if (!incremental) {
		while (t->nconf)
			topic_conf_put(t, t->conf[0].key, NULL);
	}
	for (int i = 0; i < n; i++) {
		int8_t op = incremental ? ops[i] : 0;
		if (!strcmp(kv[i].key, DP_OWNERS_KEY))
			continue;   /* checked above: the value it has */
		const char *v = op == 1 ? NULL : kv[i].value;
		char list[1024];
		if (op == 2 || op == 3) {
			/* The override, else the topic config's own default (not the broker's), as
			 * Kafka's getParts; the edited list is checked like a SET. */
			const char *old = topic_conf_get(t, kv[i].key);
			int16_t e = 0;
			if (dp_cfg_list_edit(old ? old : topic_list_default(kv[i].key), kv[i].value, op == 3, list,
			                     sizeof(list))) {
				*msg = "The list is too long";
				e = KP_ERR_INVALID_CONFIG;
			} else {
				e = dp_topic_config_check(kv[i].key, list, msg);
			}
			if (e) {
				pthread_mutex_unlock(&m->lock);
				topic_free(t);
				return e;
			}
			v = list;
		}
		if (topic_conf_put(t, kv[i].key, v))
			goto nomem;
	}
	topic_effective(&atomic_load(&m->cur)->dyn->eff, t);
	int rc = publish(m, o, t);
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		topic_free(t);
		*msg = "Cannot write the topic registry";
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	return 0;
nomem:
	pthread_mutex_unlock(&m->lock);
	topic_free(t);
	*msg = "Out of memory";
	return KP_ERR_UNKNOWN_SERVER_ERROR;
}

int16_t dp_meta_alter_broker(struct dp_meta *m, int level, const struct dp_kv *kv, const int8_t *ops, int n,
                             bool incremental, bool validate_only, char *msg, size_t msglen)
{
	pthread_mutex_lock(&m->lock);
	struct dp_snap *old = atomic_load(&m->cur);
	struct dp_bcfg *d = NULL;
	int16_t e = dp_bcfg_alter(m->cfg, old->dyn, level, kv, ops, n, incremental, validate_only, &d, msg, msglen);
	if (e || validate_only) {
		pthread_mutex_unlock(&m->lock);
		return e;
	}
	/* Every topic again with the new defaults under it: all allocated before the file is
	 * written, so that what the file says is what gets published. */
	struct dp_snap *s = calloc(1, sizeof(*s));
	struct dp_topic **t = calloc((size_t)old->n + 1, sizeof(*t));
	int k = 0;
	if (s && t)
		for (; k < old->n; k++) {
			if (!(t[k] = topic_clone(old->t[k])))
				break;
			topic_effective(&d->eff, t[k]);
			if (topic_owner_list(t[k])) {
				topic_free(t[k]);
				break;
			}
		}
	int rc = s && t && k == old->n ? dp_bcfg_save(m->cfg, d) : -ENOMEM;
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		for (int i = 0; i < k; i++)
			topic_free(t[i]);
		free(t);
		free(s);
		dp_bcfg_destroy(d);
		if (rc == -ENOMEM) {
			snprintf(msg, msglen, "Out of memory");
			return KP_ERR_UNKNOWN_SERVER_ERROR;
		}
		RT_ERROR("cannot write the dynamic broker configs in %s: %s", m->cfg->log_dirs, strerror(-rc));
		snprintf(msg, msglen, "Cannot write the dynamic broker configs: %s", strerror(-rc));
		return KP_ERR_KAFKA_STORAGE_ERROR;
	}
	/* The topic registry's file is not rewritten: no topic, owner or override changed. */
	s->t = (const struct dp_topic **)t;
	s->n = old->n;
	s->version = old->version + 1;
	s->dyn = d;
	atomic_store_explicit(&m->cur, s, memory_order_release);
	old->retired_next = m->retired;
	m->retired = old;
	for (int i = 0; i < old->n; i++) {
		struct dp_topic *r = (struct dp_topic *)old->t[i];
		r->retired_next = m->retired_topics;
		m->retired_topics = r;
	}
	struct dp_bcfg *od = (struct dp_bcfg *)old->dyn;
	od->retired_next = m->retired_dyn;
	m->retired_dyn = od;
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < d->n[level]; i++)
		RT_INFO("dynamic broker config (%s): %s=%s", level == DP_BCFG_DEFAULT ? "cluster default" : "this broker",
		        d->kv[level][i].key, d->kv[level][i].value);
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Reads the registry file into a first snapshot.  Returns 0, or -errno / -EBADMSG with err. */
static int load(struct dp_meta *m, struct dp_snap *s, char *err, size_t errlen)
{
	FILE *f = fopen(m->path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", m->path, strerror(e));
		return -e;
	}
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0, cap_t = 0;
	struct dp_topic *t = NULL;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "version ", 8) || !*line)
			continue;
		if (!strncmp(line, "cluster ", 8)) {
			snprintf(m->cluster_id, sizeof(m->cluster_id), "%s", line + 8);
			continue;
		}
		if (!strncmp(line, "topic ", 6)) {
			char name[256], id[64];
			int np;
			if (sscanf(line + 6, "%255s %63s %d", name, id, &np) != 3 || strlen(id) != 32 || np <= 0 ||
			    strlen(name) > DP_TOPIC_NAME_MAX) {
				rc = -EBADMSG;
				break;
			}
			t = calloc(1, sizeof(*t));
			if (!t || !(t->owner = calloc((size_t)np, sizeof(*t->owner)))) {
				free(t);
				rc = -ENOMEM;
				break;
			}
			memcpy(t->name, name, strlen(name) + 1);
			for (int k = 0; k < 16; k++) {
				int hi = hexval(id[2 * k]), lo = hexval(id[2 * k + 1]);
				if (hi < 0 || lo < 0)
					rc = -EBADMSG;
				t->id[k] = (uint8_t)(hi << 4 | lo);
			}
			t->nparts = np;
			t->internal = internal_name(name);
			if (s->n == cap_t) {
				cap_t = cap_t ? cap_t * 2 : 64;
				const struct dp_topic **nt = realloc(s->t, sizeof(*nt) * (size_t)cap_t);
				if (!nt) {
					topic_free(t);
					rc = -ENOMEM;
					break;
				}
				s->t = nt;
			}
			s->t[s->n++] = t;
			if (rc)
				break;
			continue;
		}
		if (!strncmp(line, "owners", 6) && t) {
			char *p = line + 6;
			int moved = 0;
			for (int i = 0; i < t->nparts; i++) {
				char *end;
				long v = strtol(p, &end, 10);
				if (end == p) {
					rc = -EBADMSG;
					break;
				}
				p = end;
				/* The shard count may have changed since: spread what no longer fits. */
				t->owner[i] = (int16_t)(v < m->nshards && v >= 0 ? v : i % m->nshards);
				moved += t->owner[i] != v;
			}
			if (rc)
				break;
			if (moved)
				RT_WARN("topic %s: %d of its %d partitions were owned by shards that no longer exist "
				        "(%d shards now); each now belongs to shard (partition number mod %d), as the "
				        "start-up log lists", t->name, moved, t->nparts, m->nshards, m->nshards);
			continue;
		}
		if (!strncmp(line, "config ", 7) && t) {
			char *eq = strchr(line + 7, '=');
			if (!eq) {
				rc = -EBADMSG;
				break;
			}
			*eq = 0;
			if (topic_conf_put(t, line + 7, eq + 1)) {
				rc = -ENOMEM;
				break;
			}
			continue;
		}
		rc = -EBADMSG;
		break;
	}
	free(line);
	fclose(f);
	if (rc) {
		snprintf(err, errlen, "%s:%d: unreadable topic registry line", m->path, lineno);
		return rc;
	}
	for (int i = 0; i < s->n; i++) {
		topic_effective(&s->dyn->eff, (struct dp_topic *)s->t[i]);
		if (topic_owner_list((struct dp_topic *)s->t[i])) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (s->n)  /* s->t is NULL for a registry of no topics, which qsort may not be given */
		qsort(s->t, (size_t)s->n, sizeof(*s->t), cmp_topic);
	return 0;
}

/* dp_meta_open (write: the loaded registry is written back at once, re-spread owners and a new
 * cluster id included) or dp_meta_read. */
static struct dp_meta *meta_open(const struct dp_config *cfg, int nshards, bool write, char *err, size_t errlen)
{
	struct dp_meta *m = calloc(1, sizeof(*m));
	struct dp_snap *s = calloc(1, sizeof(*s));
	if (!m || !s) {
		free(m);
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = cfg;
	m->nshards = nshards;
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->path, sizeof(m->path), "%s/%s", cfg->log_dirs, META_FILE);
	struct dp_bcfg *dyn = NULL;
	if (dp_bcfg_load(cfg, &dyn, err, errlen) || (s->dyn = dyn, load(m, s, err, errlen))) {
		dp_bcfg_destroy(dyn);
		free(s->t);
		free(s);
		free(m);
		return NULL;
	}
	if (cfg->cluster_id[0])
		snprintf(m->cluster_id, sizeof(m->cluster_id), "%s", cfg->cluster_id);
	if (!m->cluster_id[0]) {
		/* Kafka's cluster ids are 22 characters of base64url of a random UUID. */
		static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		uint8_t id[16];
		random_id(id);
		for (int i = 0; i < 22; i++)
			m->cluster_id[i] = b64[(id[(i * 6) / 8] >> ((i * 6) % 8) | (i * 6 / 8 + 1 < 16 ? id[i * 6 / 8 + 1] << (8 - (i * 6) % 8) : 0)) & 63];
		m->cluster_id[22] = 0;
	}
	s->version = 1;
	int rc = write ? persist(m, s) : 0;
	if (rc) {
		snprintf(err, errlen, "%s: cannot write: %s", m->path, strerror(-rc));
		dp_bcfg_destroy(dyn);
		free(s->t);
		free(s);
		free(m);
		return NULL;
	}
	atomic_init(&m->cur, s);
	return m;
}

struct dp_meta *dp_meta_open(const struct dp_config *cfg, int nshards, char *err, size_t errlen)
{
	return meta_open(cfg, nshards, true, err, errlen);
}

struct dp_meta *dp_meta_read(const struct dp_config *cfg, int nshards, char *err, size_t errlen)
{
	return meta_open(cfg, nshards, false, err, errlen);
}

void dp_meta_close(struct dp_meta *m)
{
	if (!m)
		return;
	struct dp_snap *s = atomic_load(&m->cur);
	dp_bcfg_destroy((struct dp_bcfg *)s->dyn);
	while (m->retired_dyn) {
		struct dp_bcfg *d = m->retired_dyn;
		m->retired_dyn = d->retired_next;
		dp_bcfg_destroy(d);
	}
	for (int i = 0; i < s->n; i++)
		topic_free((struct dp_topic *)s->t[i]);
	free(s->t);
	free(s);
	while (m->retired) {
		struct dp_snap *r = m->retired;
		m->retired = r->retired_next;
		free(r->t);
		free(r);
	}
	while (m->retired_topics) {
		struct dp_topic *t = m->retired_topics;
		m->retired_topics = t->retired_next;
		topic_free(t);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}
