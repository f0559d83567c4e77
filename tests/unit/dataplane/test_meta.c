/* Unit tests for dataplane/meta.c: Kafka's topic name rules, creation with owners spread over
 * the shards, persistence across a reopen, configs, partitions, deletion. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/config.h"
#include "dataplane/meta.h"
#include "kp_errors.h"

static struct dp_config cfg;
static char dir[64];

static void setup(void)
{
	char err[256];
	snprintf(dir, sizeof(dir), "/tmp/dp_meta_testXXXXXX");
	cr_assert(mkdtemp(dir));
	char ov[128];
	snprintf(ov, sizeof(ov), "log.dirs=%s", dir);
	const char *o[] = { ov, "num.partitions=3" };
	cr_assert_eq(dp_config_load(&cfg, NULL, o, 2, NULL, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	dp_config_fini(&cfg);
}

TestSuite(dp_meta, .init = setup, .fini = teardown);

Test(dp_meta, topic_names_follow_kafka)
{
	const char *msg;
	cr_assert_eq(dp_topic_name_check("ok.name_-1", 10, &msg), 0);
	cr_assert_eq(dp_topic_name_check("", 0, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
	cr_assert_eq(dp_topic_name_check(".", 1, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
	cr_assert_eq(dp_topic_name_check("..", 2, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
	cr_assert_eq(dp_topic_name_check("a/b", 3, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
	cr_assert_eq(dp_topic_name_check("caf\xc3\xa9", 5, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
	char longname[251];
	memset(longname, 'a', 250);
	cr_assert_eq(dp_topic_name_check(longname, 249, &msg), 0);
	cr_assert_eq(dp_topic_name_check(longname, 250, &msg), KP_ERR_INVALID_TOPIC_EXCEPTION);
}

Test(dp_meta, create_spreads_owners_and_persists)
{
	char err[256];
	struct dp_meta *m = dp_meta_open(&cfg, 2, err, sizeof(err));
	cr_assert(m, "%s", err);
	const char *msg = NULL;
	const struct dp_topic *t = NULL;
	struct dp_kv kv[] = { { "retention.ms", "1000" } };
	cr_assert_eq(dp_meta_create(m, "orders", 6, 4, -1, kv, 1, NULL, false, &msg, &t), 0, "%s", msg);
	cr_assert(t);
	cr_assert_eq(t->nparts, 4);
	int per[2] = { 0, 0 };
	for (int p = 0; p < 4; p++)
		per[t->owner[p]]++;
	cr_assert(per[0] == 2 && per[1] == 2, "owners spread evenly: %d/%d", per[0], per[1]);
	cr_assert_eq(t->scfg.retention_ms, 1000);
	cr_assert_eq(dp_meta_create(m, "orders", 6, 1, -1, NULL, 0, NULL, false, &msg, NULL), KP_ERR_TOPIC_ALREADY_EXISTS);
	cr_assert_eq(dp_meta_create(m, "ord_rs", 6, 1, -1, NULL, 0, NULL, false, &msg, NULL), 0);
	cr_assert_eq(dp_meta_create(m, "ord.rs", 6, 1, -1, NULL, 0, NULL, false, &msg, NULL), KP_ERR_INVALID_TOPIC_EXCEPTION,
	             "'.' and '_' collide");
	cr_assert_eq(dp_meta_create(m, "rf", 2, 1, 3, NULL, 0, NULL, false, &msg, NULL), KP_ERR_INVALID_REPLICATION_FACTOR);
	cr_assert_eq(dp_meta_create(m, "np", 2, 0, -1, NULL, 0, NULL, false, &msg, NULL), KP_ERR_INVALID_PARTITIONS);
	struct dp_kv bad[] = { { "retention.ms", "soon" } };
	cr_assert_eq(dp_meta_create(m, "bad", 3, 1, -1, bad, 1, NULL, false, &msg, NULL), KP_ERR_INVALID_CONFIG);
	struct dp_kv unknown[] = { { "no.such.key", "1" } };
	cr_assert_eq(dp_meta_create(m, "bad", 3, 1, -1, unknown, 1, NULL, false, &msg, NULL), KP_ERR_INVALID_CONFIG);
	cr_assert_eq(dp_meta_create(m, "vo", 2, 1, -1, NULL, 0, NULL, true, &msg, NULL), 0);
	cr_assert_null(dp_snap_find(dp_meta_snap(m), "vo", 2), "validate_only creates nothing");
	uint8_t id[16];
	memcpy(id, t->id, 16);
	int16_t owners[4];
	memcpy(owners, t->owner, sizeof(owners));
	const char *cluster = strdup(m->cluster_id);
	dp_meta_close(m);

	m = dp_meta_open(&cfg, 2, err, sizeof(err));
	cr_assert(m, "%s", err);
	const struct dp_snap *s = dp_meta_snap(m);
	cr_assert_eq(s->n, 2);
	t = dp_snap_find(s, "orders", 6);
	cr_assert(t);
	cr_assert_eq(memcmp(t->id, id, 16), 0, "the topic id survives");
	cr_assert_eq(memcmp(t->owner, owners, sizeof(owners)), 0, "the owners survive");
	cr_assert_eq(t->scfg.retention_ms, 1000, "the config survives");
	cr_assert_str_eq(m->cluster_id, cluster);
	cr_assert_eq(dp_snap_find_id(s, id), t);
	free((void *)cluster);
	dp_meta_close(m);
}

Test(dp_meta, partitions_configs_and_delete)
{
	char err[256];
	struct dp_meta *m = dp_meta_open(&cfg, 3, err, sizeof(err));
	cr_assert(m, "%s", err);
	const char *msg = NULL;
	const struct dp_topic *t = NULL;
	cr_assert_eq(dp_meta_create(m, "t", 1, -1, -1, NULL, 0, NULL, false, &msg, &t), 0);
	cr_assert_eq(t->nparts, 3, "num.partitions is the default");
	cr_assert_eq(dp_meta_add_partitions(m, "t", 1, 2, NULL, 0, false, &msg), KP_ERR_INVALID_PARTITIONS);
	cr_assert_eq(dp_meta_add_partitions(m, "t", 1, 5, NULL, 0, false, &msg), 0);
	t = dp_snap_find(dp_meta_snap(m), "t", 1);
	cr_assert_eq(t->nparts, 5);
	struct dp_kv kv[] = { { "segment.bytes", "1048576" }, { "retention.bytes", "100" } };
	int8_t ops[] = { 0, 0 };
	cr_assert_eq(dp_meta_alter_configs(m, "t", 1, kv, ops, 2, true, false, &msg), 0, "%s", msg);
	t = dp_snap_find(dp_meta_snap(m), "t", 1);
	cr_assert_eq(t->scfg.segment_bytes, 1048576);
	cr_assert_eq(t->scfg.retention_bytes, 100);
	int8_t del[] = { 1 };
	cr_assert_eq(dp_meta_alter_configs(m, "t", 1, kv, del, 1, true, false, &msg), 0);
	t = dp_snap_find(dp_meta_snap(m), "t", 1);
	cr_assert_eq(t->scfg.segment_bytes, cfg.log_segment_bytes, "deleting an override restores the broker default");
	cr_assert_eq(t->scfg.retention_bytes, 100);
	cr_assert_eq(dp_meta_alter_configs(m, "t", 1, kv, NULL, 0, false, false, &msg), 0);
	t = dp_snap_find(dp_meta_snap(m), "t", 1);
	cr_assert_eq(t->nconf, 0, "AlterConfigs replaces the whole set");
	cr_assert_eq(dp_meta_delete(m, t), 0);
	cr_assert_null(dp_snap_find(dp_meta_snap(m), "t", 1));
	dp_meta_close(m);
	m = dp_meta_open(&cfg, 3, err, sizeof(err));
	cr_assert_eq(dp_meta_snap(m)->n, 0, "the deletion survives a reopen");
	dp_meta_close(m);
}

Test(dp_meta, owners_as_asked_kept_and_read_only)
{
	char err[256];
	struct dp_meta *m = dp_meta_open(&cfg, 3, err, sizeof(err));
	cr_assert(m, "%s", err);
	const char *msg = NULL;
	const struct dp_topic *t = NULL;
	int16_t own[] = { 2, -1, 2, 0 };
	cr_assert_eq(dp_meta_create(m, "o", 1, 4, -1, NULL, 0, own, false, &msg, &t), 0, "%s", msg);
	cr_assert(t->owner[0] == 2 && t->owner[2] == 2 && t->owner[3] == 0, "the shards asked for");
	cr_assert_eq(t->owner[1], 1, "-1: the least loaded shard, counting the named ones (2 on shard 2, 1 on shard 0)");
	cr_assert_str_eq(t->owner_list, "2,1,2,0");
	int16_t more[] = { 0, 1 };
	cr_assert_eq(dp_meta_add_partitions(m, "o", 1, 7, more, 2, false, &msg), KP_ERR_INVALID_REPLICA_ASSIGNMENT);
	cr_assert_eq(dp_meta_add_partitions(m, "o", 1, 6, more, 2, false, &msg), 0, "%s", msg);
	t = dp_snap_find(dp_meta_snap(m), "o", 1);
	cr_assert_str_eq(t->owner_list, "2,1,2,0,0,1");

	struct dp_kv change[] = { { "ringtail.partition.shards", "0,0,0,0,0,0" } };
	int8_t set[] = { 0 }, del[] = { 1 };
	cr_assert_eq(dp_meta_alter_configs(m, "o", 1, change, set, 1, true, false, &msg), KP_ERR_INVALID_REQUEST);
	cr_assert_str_eq(msg, "Cannot update these configs dynamically: Set(ringtail.partition.shards)");
	cr_assert_eq(dp_meta_alter_configs(m, "o", 1, change, NULL, 1, false, true, &msg), KP_ERR_INVALID_REQUEST,
	             "validate_only is refused too");
	struct dp_kv same[] = { { "ringtail.partition.shards", "2,1,2,0,0,1" }, { "retention.ms", "5000" } };
	cr_assert_eq(dp_meta_alter_configs(m, "o", 1, same, del, 1, true, false, &msg), KP_ERR_INVALID_REQUEST,
	             "deleting it is a change");
	cr_assert_eq(dp_meta_alter_configs(m, "o", 1, same, NULL, 2, false, false, &msg), 0,
	             "a tool that sends back what it read is not changing it: %s", msg);
	t = dp_snap_find(dp_meta_snap(m), "o", 1);
	cr_assert_eq(t->nconf, 1, "the owners are not stored as an override");
	cr_assert_str_eq(t->owner_list, "2,1,2,0,0,1");
	dp_meta_close(m);

	m = dp_meta_open(&cfg, 3, err, sizeof(err));
	t = dp_snap_find(dp_meta_snap(m), "o", 1);
	cr_assert_str_eq(t->owner_list, "2,1,2,0,0,1", "the owners survive a reopen");
	dp_meta_close(m);
	m = dp_meta_open(&cfg, 2, err, sizeof(err));
	t = dp_snap_find(dp_meta_snap(m), "o", 1);
	cr_assert_str_eq(t->owner_list, "0,1,0,0,0,1", "shard 2 is gone: partitions 0 and 2 move to (partition mod 2)");
	dp_meta_close(m);
	m = dp_meta_open(&cfg, 3, err, sizeof(err));
	t = dp_snap_find(dp_meta_snap(m), "o", 1);
	cr_assert_str_eq(t->owner_list, "0,1,0,0,0,1", "the move was persisted");
	dp_meta_close(m);
}
