/* Unit tests for dataplane/broker_configs.c (and the registry and DescribeConfigs code that use
 * it): Kafka's precedence (topic override > this broker's > cluster default > static > built-in),
 * Kafka's validation and messages, the resource names, the file across a reopen, and the sources
 * and synonyms DescribeConfigs shows. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/broker.h"
#include "dataplane/broker_configs.h"
#include "dataplane/config.h"
#include "dataplane/configs.h"
#include "dataplane/meta.h"
#include "kp_errors.h"

static struct dp_config cfg;
static char dir[64];

static void load(const char *extra)
{
	char err[256], ov[128];
	snprintf(ov, sizeof(ov), "log.dirs=%s", dir);
	const char *o[] = { ov, "log.segment.bytes=2000000", extra };
	cr_assert_eq(dp_config_load(&cfg, NULL, o, extra ? 3 : 2, NULL, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dp_bcfg_testXXXXXX");
	cr_assert(mkdtemp(dir));
	load(NULL);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	dp_config_fini(&cfg);
}

TestSuite(dp_bcfg, .init = setup, .fini = teardown);

/* One SET (op 0) or DELETE (op 1) at a level; returns the error, *d replaced on success. */
static int16_t alter1(struct dp_bcfg **d, int level, const char *key, const char *value, int8_t op, char *msg)
{
	struct dp_kv kv = { (char *)key, (char *)value };
	struct dp_bcfg *nd = NULL;
	int16_t e = dp_bcfg_alter(&cfg, *d, level, &kv, &op, 1, true, false, &nd, msg, 512);
	if (!e) {
		dp_bcfg_destroy(*d);
		*d = nd;
	}
	return e;
}

Test(dp_bcfg, precedence_node_over_default_over_static)
{
	char msg[512];
	struct dp_bcfg *d = dp_bcfg_create(&cfg);
	cr_assert_eq(d->eff.log_segment_bytes, 2000000, "static");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.segment.bytes", "4096", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.log_segment_bytes, 4096, "the cluster default over the static file");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", " 8192 ", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.log_segment_bytes, 8192, "this broker's over the cluster default (value trimmed)");
	cr_assert_str_eq(dp_bcfg_get(d, DP_BCFG_NODE, "log.segment.bytes"), "8192");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", NULL, 1, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.log_segment_bytes, 4096);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.segment.bytes", NULL, 1, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.log_segment_bytes, 2000000, "DELETE of both brings back the static value");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.retention.ms", "-1", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.log_retention_ms, -1, "-1: forever");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.min.cleanable.ratio", "0.25", 0, msg), 0, "%s", msg);
	cr_assert_float_eq(d->eff.log_cleaner_min_cleanable_ratio, 0.25, 1e-9);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "message.max.bytes", "5000", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.message_max_bytes, 5000);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "my.custom.key", "anything", 0, msg), 0,
	             "a key Ringtail does not know is kept, as Kafka keeps custom configs: %s", msg);
	dp_bcfg_destroy(d);
}

Test(dp_bcfg, kafka_errors)
{
	char msg[512];
	struct dp_bcfg *d = dp_bcfg_create(&cfg);
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "auto.create.topics.enable", "false", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Cannot update these configs dynamically: Set(auto.create.topics.enable)");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.retention.hours", "1", 0, msg), KP_ERR_INVALID_REQUEST,
	             "only log.retention.ms is dynamic in Kafka");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", "abc", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value abc for configuration log.segment.bytes: Not a number of type INT");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", "3000000000", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 3000000000 for configuration log.segment.bytes: Not a number of type INT");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", "13", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 13 for configuration log.segment.bytes: Value must be at least 14");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.retention.bytes", "1x", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 1x for configuration log.retention.bytes: Not a number of type LONG");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.min.cleanable.ratio", "1.5", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 1.5 for configuration log.cleaner.min.cleanable.ratio: Value must be no more "
	                      "than 1.0");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleanup.policy", "shred", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value shred for configuration log.cleanup.policy: String must be one of: compact, "
	                      "delete");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", NULL, 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Null value not supported for : log.segment.bytes");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", "1", 2, msg), KP_ERR_INVALID_CONFIG);
	cr_assert_str_eq(msg, "Config value append is not allowed for config key: log.segment.bytes");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.segment.bytes", "1", 9, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "bad=key", "1", 0, msg), KP_ERR_INVALID_REQUEST,
	             "a name the file could not hold");
	struct dp_kv two[] = { { "log.roll.ms", "1000" }, { "log.roll.ms", "2000" } };
	struct dp_bcfg *nd = NULL;
	cr_assert_eq(dp_bcfg_alter(&cfg, d, DP_BCFG_NODE, two, NULL, 2, false, false, &nd, msg, sizeof(msg)),
	             KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Error due to duplicate config keys");
	cr_assert_eq(d->n[DP_BCFG_NODE] + d->n[DP_BCFG_DEFAULT], 0, "no failed request changed anything");
	struct dp_kv one[] = { { "log.roll.ms", "1000" } };
	cr_assert_eq(dp_bcfg_alter(&cfg, d, DP_BCFG_NODE, one, NULL, 1, false, true, &nd, msg, sizeof(msg)), 0);
	cr_assert_null(nd, "validate_only builds nothing");
	dp_bcfg_destroy(d);
}

Test(dp_bcfg, append_and_subtract_on_the_list_key)
{
	char msg[512];
	struct dp_bcfg *d = dp_bcfg_create(&cfg);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleanup.policy", "compact", 2, msg), 0, "%s", msg);
	cr_assert_str_eq(dp_bcfg_get(d, DP_BCFG_DEFAULT, "log.cleanup.policy"), "delete,compact",
	                 "APPEND starts from the built-in default, as Kafka's prepareIncrementalConfigs");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleanup.policy", "compact", 2, msg), 0, "%s", msg);
	cr_assert_str_eq(dp_bcfg_get(d, DP_BCFG_DEFAULT, "log.cleanup.policy"), "delete,compact", "no duplicates");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleanup.policy", "delete", 3, msg), 0, "%s", msg);
	cr_assert_str_eq(dp_bcfg_get(d, DP_BCFG_DEFAULT, "log.cleanup.policy"), "compact");
	cr_assert_str_eq(d->eff.log_cleanup_policy, "compact");
	dp_bcfg_destroy(d);
}

Test(dp_bcfg, resource_names)
{
	char msg[256];
	int level = -1;
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "", false, &level, msg, sizeof(msg)), 0);
	cr_assert_eq(level, DP_BCFG_DEFAULT);
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "0", false, &level, msg, sizeof(msg)), 0);
	cr_assert_eq(level, DP_BCFG_NODE);
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "7", false, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Unexpected broker id, expected 0, but received 7");
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "7", true, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Unexpected broker id, expected 0 or empty string, but received 7");
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "x", false, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Node id must be an integer, but it is: x");
	/* Shard-aware mode advertises shard s as node.id * 1000 + s + 1 (metadata.c). */
	cfg.node_id = 3;
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "3001", false, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST,
	             "without shard-aware mode the shards have no node ids");
	cfg.advertise_shards = true;
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "3002", false, &level, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(level, DP_BCFG_NODE, "a shard's node id is this broker");
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "3003", false, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST);
	cr_assert_eq(dp_bcfg_resource(&cfg, 2, "3000", false, &level, msg, sizeof(msg)), KP_ERR_INVALID_REQUEST);
}

Test(dp_bcfg, registry_follows_and_persists)
{
	char err[512], msg[512];
	struct dp_meta *m = dp_meta_open(&cfg, 2, err, sizeof(err));
	cr_assert(m, "%s", err);
	const char *why = NULL;
	struct dp_kv own[] = { { "segment.bytes", "1048576" } };
	cr_assert_eq(dp_meta_create(m, "plain", 5, 2, -1, NULL, 0, NULL, false, &why, NULL), 0);
	cr_assert_eq(dp_meta_create(m, "own", 3, 2, -1, own, 1, NULL, false, &why, NULL), 0);
	struct dp_kv kv[] = { { "log.segment.bytes", "4096" }, { "message.max.bytes", "777" } };
	int8_t ops[] = { 0, 0 };
	cr_assert_eq(dp_meta_alter_broker(m, DP_BCFG_DEFAULT, kv, ops, 2, true, false, msg, sizeof(msg)), 0, "%s", msg);
	const struct dp_snap *s = dp_meta_snap(m);
	cr_assert_eq(dp_snap_find(s, "plain", 5)->scfg.segment_bytes, 4096, "a topic without an override follows");
	cr_assert_eq(dp_snap_find(s, "plain", 5)->max_message_bytes, 777);
	cr_assert_eq(dp_snap_find(s, "own", 3)->scfg.segment_bytes, 1048576, "a topic override wins");
	cr_assert_eq(dp_meta_create(m, "later", 5, 1, -1, NULL, 0, NULL, false, &why, NULL), 0);
	cr_assert_eq(dp_snap_find(dp_meta_snap(m), "later", 5)->scfg.segment_bytes, 4096, "so does a new topic");
	struct dp_kv node[] = { { "log.segment.bytes", "8192" } };
	cr_assert_eq(dp_meta_alter_broker(m, DP_BCFG_NODE, node, NULL, 1, false, false, msg, sizeof(msg)), 0, "%s", msg);
	dp_meta_close(m);

	m = dp_meta_open(&cfg, 2, err, sizeof(err));
	cr_assert(m, "%s", err);
	s = dp_meta_snap(m);
	cr_assert_eq(dp_snap_find(s, "plain", 5)->scfg.segment_bytes, 8192, "both levels survive a reopen");
	cr_assert_eq(dp_snap_find(s, "plain", 5)->max_message_bytes, 777);
	cr_assert_str_eq(dp_bcfg_get(s->dyn, DP_BCFG_DEFAULT, "log.segment.bytes"), "4096");

	/* DescribeConfigs: sources and Kafka's synonym order. */
	struct dp_broker b = { .cfg = cfg, .meta = m, .nshards = 2 };
	struct dp_cfgsyn syn[DP_SYN_MAX];
	int n = dp_configs_synonyms(&b, s, NULL, true, "log.segment.bytes", syn);
	cr_assert_eq(n, 4);
	cr_assert(syn[0].source == DP_SRC_DYNAMIC_BROKER && !strcmp(syn[0].value, "8192"));
	cr_assert(syn[1].source == DP_SRC_DYNAMIC_DEFAULT && !strcmp(syn[1].value, "4096"));
	cr_assert(syn[2].source == DP_SRC_STATIC_BROKER && !strcmp(syn[2].value, "2000000"));
	cr_assert(syn[3].source == DP_SRC_DEFAULT && !strcmp(syn[3].value, "1073741824"));
	n = dp_configs_synonyms(&b, s, NULL, false, "log.segment.bytes", syn);
	cr_assert(n == 3 && syn[0].source == DP_SRC_DYNAMIC_DEFAULT, "the cluster-default listing leaves this broker out");
	const struct dp_topic *own_t = dp_snap_find(s, "own", 3);
	n = dp_configs_synonyms(&b, s, own_t, true, "segment.bytes", syn);
	cr_assert(n == 5 && syn[0].source == DP_SRC_TOPIC && !strcmp(syn[1].name, "log.segment.bytes"));
	struct dp_cfgval vals[DP_CFG_MAX];
	n = dp_configs_broker_default(&b, s, vals);
	cr_assert_eq(n, 2, "the cluster-default listing has the keys set there only");
	n = dp_configs_broker(&b, s, vals);
	bool seen = false;
	for (int i = 0; i < n; i++)
		if (!strcmp(vals[i].name, "log.segment.bytes")) {
			seen = true;
			cr_assert_str_eq(vals[i].value, "8192");
			cr_assert_eq(vals[i].source, DP_SRC_DYNAMIC_BROKER);
			cr_assert_not(vals[i].read_only);
		} else if (!strcmp(vals[i].name, "auto.create.topics.enable")) {
			cr_assert(vals[i].read_only);
		}
	cr_assert(seen);
	dp_meta_close(m);
}

/* The cleaner's and the producer state's keys (Kafka's LogCleaner.ReconfigurableConfigs and
 * DynamicProducerStateManagerConfig that Ringtail honours): dynamic, with Kafka's rules. */
Test(dp_bcfg, cleaner_and_producer_keys_with_kafkas_rules)
{
	char msg[512];
	struct dp_bcfg *d = dp_bcfg_create(&cfg);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.backoff.ms", "100", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.cleaner.backoff_ms, 100);
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.dedupe.buffer.size", "1048577", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.cleaner.dedupe_buffer_size, 1048577);
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.dedupe.buffer.size", "1048576", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.dedupe.buffer.size", "-5", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.dedupe.buffer.size", "1M", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 1M for configuration log.cleaner.dedupe.buffer.size: Not a number of type LONG");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.io.max.bytes.per.second", "1000", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.cleaner.io_max_bytes_per_second, 1000);
	cr_assert_float_eq(d->eff.log_cleaner_io_max_bytes_per_second, 1000.0, 1e-9);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.io.max.bytes.per.second", "0.25", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.cleaner.io_max_bytes_per_second, 1, "below a byte a second: the slowest there is");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.io.max.bytes.per.second", "fast", 0, msg),
	             KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value fast for configuration log.cleaner.io.max.bytes.per.second: Not a number of "
	                      "type DOUBLE");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.io.max.bytes.per.second", NULL, 1, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.cleaner.io_max_bytes_per_second, 0, "DELETE: unlimited again (Double.MAX_VALUE)");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "producer.id.expiration.ms", "5000", 0, msg), 0, "%s", msg);
	cr_assert_eq(d->eff.producer_id_expiration_ms, 5000);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "producer.id.expiration.ms", "0", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 0 for configuration producer.id.expiration.ms: Value must be at least 1");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "producer.id.expiration.ms", "3000000000", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Invalid value 3000000000 for configuration producer.id.expiration.ms: Not a number of type "
	                      "INT");
	/* One cleaner per shard (storage/cleaner.c): the count cannot change, as a static key. */
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.threads", "2", 0, msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Cannot update these configs dynamically: Set(log.cleaner.threads)");
	cr_assert_eq(alter1(&d, DP_BCFG_NODE, "log.cleaner.enable", "false", 0, msg), KP_ERR_INVALID_REQUEST);
	dp_bcfg_destroy(d);

	/* Kafka's rule counts log.cleaner.threads as given (statically). */
	dp_config_fini(&cfg);
	load("log.cleaner.threads=4");
	d = dp_bcfg_create(&cfg);
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.dedupe.buffer.size", "4194304", 0, msg),
	             KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.");
	cr_assert_eq(alter1(&d, DP_BCFG_DEFAULT, "log.cleaner.dedupe.buffer.size", "4194308", 0, msg), 0, "%s", msg);
	dp_bcfg_destroy(d);
}

/* DescribeConfigs of the broker shows the four keys writable, with Kafka's values and sources. */
Test(dp_bcfg, cleaner_and_producer_keys_described)
{
	char err[512], msg[512];
	struct dp_meta *m = dp_meta_open(&cfg, 1, err, sizeof(err));
	cr_assert(m, "%s", err);
	struct dp_broker b = { .cfg = cfg, .meta = m, .nshards = 1 };
	struct dp_cfgval vals[DP_CFG_MAX];
	int n = dp_configs_broker(&b, dp_meta_snap(m), vals);
	const char *want[][2] = {
		{ "log.cleaner.backoff.ms", "15000" },
		{ "log.cleaner.dedupe.buffer.size", "134217728" },
		{ "log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308" },
		{ "producer.id.expiration.ms", "86400000" },
		{ "log.cleaner.min.cleanable.ratio", "0.5" },
	};
	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		int i = 0;
		while (i < n && strcmp(vals[i].name, want[w][0]))
			i++;
		cr_assert_lt(i, n, "%s listed", want[w][0]);
		cr_assert_str_eq(vals[i].value, want[w][1], "%s", want[w][0]);
		cr_assert_eq(vals[i].source, DP_SRC_DEFAULT, "%s", want[w][0]);
		cr_assert_not(vals[i].read_only, "%s can change dynamically", want[w][0]);
	}
	struct dp_kv kv[] = { { "log.cleaner.io.max.bytes.per.second", "1000" }, { "producer.id.expiration.ms", "2000" } };
	int8_t ops[] = { 0, 0 };
	cr_assert_eq(dp_meta_alter_broker(m, DP_BCFG_DEFAULT, kv, ops, 2, true, false, msg, sizeof(msg)), 0, "%s", msg);
	struct dp_kv node[] = { { "log.cleaner.backoff.ms", "250" } };
	cr_assert_eq(dp_meta_alter_broker(m, DP_BCFG_NODE, node, ops, 1, true, false, msg, sizeof(msg)), 0, "%s", msg);
	n = dp_configs_broker(&b, dp_meta_snap(m), vals);
	int seen = 0;
	for (int i = 0; i < n; i++) {
		if (!strcmp(vals[i].name, "log.cleaner.io.max.bytes.per.second")) {
			cr_assert_str_eq(vals[i].value, "1000.0", "Java's Double.toString");
			cr_assert_eq(vals[i].source, DP_SRC_DYNAMIC_DEFAULT);
			seen++;
		} else if (!strcmp(vals[i].name, "producer.id.expiration.ms")) {
			cr_assert_str_eq(vals[i].value, "2000");
			cr_assert_eq(vals[i].source, DP_SRC_DYNAMIC_DEFAULT);
			seen++;
		} else if (!strcmp(vals[i].name, "log.cleaner.backoff.ms")) {
			cr_assert_str_eq(vals[i].value, "250");
			cr_assert_eq(vals[i].source, DP_SRC_DYNAMIC_BROKER);
			seen++;
		} else if (!strcmp(vals[i].name, "log.cleaner.enable")) {
			cr_assert(vals[i].read_only, "log.cleaner.enable is static in Kafka");
		}
	}
	cr_assert_eq(seen, 3);
	dp_meta_close(m);
	/* After a reopen the shards start from the persisted values (dataplane/parts.c reads them). */
	m = dp_meta_open(&cfg, 1, err, sizeof(err));
	cr_assert(m, "%s", err);
	const struct dp_config *e = &dp_meta_snap(m)->dyn->eff;
	cr_assert(e->cleaner.backoff_ms == 250 && e->cleaner.io_max_bytes_per_second == 1000 &&
	          e->producer_id_expiration_ms == 2000);
	dp_meta_close(m);
}

/* Kafka's broker keys with a null default read null unless the key itself is given: the
 * effective value of log.roll.ms comes from log.roll.hours then, which is described on its own. */
Test(dp_bcfg, null_defaults_as_kafka)
{
	dp_config_fini(&cfg);
	load("log.retention.hours=5");
	char err[512], msg[512];
	struct dp_meta *m = dp_meta_open(&cfg, 1, err, sizeof(err));
	cr_assert(m, "%s", err);
	struct dp_broker b = { .cfg = cfg, .meta = m, .nshards = 1 };
	struct dp_cfgval vals[DP_CFG_MAX];
	const char *nulls[] = { "log.roll.ms", "log.retention.ms", "log.flush.interval.ms", "advertised.listeners" };
	int n = dp_configs_broker(&b, dp_meta_snap(m), vals);
	for (size_t k = 0; k < sizeof(nulls) / sizeof(nulls[0]); k++) {
		int i = 0;
		while (i < n && strcmp(vals[i].name, nulls[k]))
			i++;
		cr_assert_lt(i, n, "%s listed", nulls[k]);
		cr_assert_null(vals[i].value, "%s: null, as Kafka's default", nulls[k]);
		cr_assert_eq(vals[i].source, DP_SRC_DEFAULT, "%s", nulls[k]);
	}
	struct dp_kv kv[] = { { "log.roll.ms", "3600000" } };
	cr_assert_eq(dp_meta_alter_broker(m, DP_BCFG_DEFAULT, kv, NULL, 1, false, false, msg, sizeof(msg)), 0, "%s", msg);
	n = dp_configs_broker(&b, dp_meta_snap(m), vals);
	for (int i = 0; i < n; i++)
		if (!strcmp(vals[i].name, "log.roll.ms"))
			cr_assert(vals[i].value && !strcmp(vals[i].value, "3600000") && vals[i].source == DP_SRC_DYNAMIC_DEFAULT);
		else if (!strcmp(vals[i].name, "log.segment.bytes"))
			cr_assert_str_eq(vals[i].value, "2000000", "a key with a default keeps its value");
	dp_meta_close(m);
}

Test(dp_bcfg, retention_hours_is_dropped_before_ms)
{
	/* Kafka's ConfigHelper drops the synonyms listed before the key itself: with only
	 * log.retention.hours given, retention.ms has no synonym and is DEFAULT_CONFIG. */
	dp_config_fini(&cfg);
	load("log.retention.hours=5");
	char err[512];
	struct dp_meta *m = dp_meta_open(&cfg, 1, err, sizeof(err));
	cr_assert(m, "%s", err);
	struct dp_broker b = { .cfg = cfg, .meta = m, .nshards = 1 };
	struct dp_cfgsyn syn[DP_SYN_MAX];
	cr_assert_eq(dp_configs_synonyms(&b, dp_meta_snap(m), NULL, true, "log.retention.ms", syn), 0);
	dp_meta_close(m);
}

Test(dp_bcfg, corrupt_file_stops_the_start)
{
	char path[128], err[512];
	snprintf(path, sizeof(path), "%s/%s", dir, DP_BCFG_FILE);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "version 1\nbroker 9 log.roll.ms=5\ndefault log.segment.bytes=abc\n");
	fclose(f);
	struct dp_bcfg *d = NULL;
	cr_assert_eq(dp_bcfg_load(&cfg, &d, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, DP_BCFG_FILE ":3: log.segment.bytes=abc: Invalid value abc"), "%s", err);
	f = fopen(path, "w");
	fprintf(f, "default auto.create.topics.enable=false\n");
	fclose(f);
	cr_assert_eq(dp_bcfg_load(&cfg, &d, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "auto.create.topics.enable=false: this key cannot change dynamically"), "%s", err);
	f = fopen(path, "w");
	fprintf(f, "what is this\n");
	fclose(f);
	cr_assert_eq(dp_bcfg_load(&cfg, &d, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":1: unreadable"), "%s", err);
	f = fopen(path, "w");
	fprintf(f, "version 1\nbroker 9 log.roll.ms=5\ndefault log.roll.ms=60000\n");
	fclose(f);
	cr_assert_eq(dp_bcfg_load(&cfg, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(d->n[DP_BCFG_NODE], 0, "another node id's configs are not this broker's");
	cr_assert_eq(d->eff.log_roll_ms, 60000);
	dp_bcfg_destroy(d);
}

Test(dp_bcfg, topic_append_and_subtract)
{
	char err[512];
	struct dp_meta *m = dp_meta_open(&cfg, 1, err, sizeof(err));
	cr_assert(m, "%s", err);
	const char *msg = NULL;
	cr_assert_eq(dp_meta_create(m, "lst", 3, 1, -1, NULL, 0, NULL, false, &msg, NULL), 0);
	struct dp_kv kv[] = { { "cleanup.policy", "compact" } };
	int8_t append[] = { 2 }, subtract[] = { 3 };
	cr_assert_eq(dp_meta_alter_configs(m, "lst", 3, kv, append, 1, true, false, &msg), 0, "%s", msg);
	const struct dp_topic *t = dp_snap_find(dp_meta_snap(m), "lst", 3);
	cr_assert_str_eq(t->conf[0].value, "delete,compact", "APPEND starts from the topic config's default");
	cr_assert_eq(t->scfg.cleanup_policy, STOR_CLEANUP_DELETE | STOR_CLEANUP_COMPACT);
	struct dp_kv del[] = { { "cleanup.policy", "delete" } };
	cr_assert_eq(dp_meta_alter_configs(m, "lst", 3, del, subtract, 1, true, false, &msg), 0, "%s", msg);
	t = dp_snap_find(dp_meta_snap(m), "lst", 3);
	cr_assert_str_eq(t->conf[0].value, "compact");
	struct dp_kv ret[] = { { "retention.ms", "5" } };
	cr_assert_eq(dp_meta_alter_configs(m, "lst", 3, ret, append, 1, true, false, &msg), KP_ERR_INVALID_CONFIG);
	cr_assert_str_eq(msg, "Can't APPEND to key retention.ms because its type is not LIST.");
	dp_meta_close(m);
}

Test(dp_bcfg, list_edit)
{
	char out[64];
	cr_assert_eq(dp_cfg_list_edit("a,,b", "b,c,c", false, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a,b,c");
	cr_assert_eq(dp_cfg_list_edit("a,b,c", "a,c", true, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "b");
	cr_assert_eq(dp_cfg_list_edit("", "x", false, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "x");
	cr_assert_eq(dp_cfg_list_edit("abcdefgh", "ijklmnop", false, out, 8), -E2BIG);
}
