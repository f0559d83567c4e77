/*
 * tests/unit/proto/test_schema.c: what the schema says Ringtail serves (the KIP-896 floor of
 * Kafka 4.0, the reference files' highest versions, flexible versions), and that the
 * generator refuses a broken schema with file:line and the reason.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kp_msgs.h"

#define REPO RT_TEST_DATA "/../../../.."

struct want { int16_t key; int16_t min, max, adv, flex; };

/* Kafka 4.0 floors (KIP-896, with Metadata v0, FindCoordinator v0 and JoinGroup v0 kept as Kafka
 * 4.0.x keeps them), highest versions of the reference definitions. */
static const struct want wants[] = {
	{ KP_API_PRODUCE, 3, 11, 0, 9 },
	{ KP_API_FETCH, 4, 17, 4, 12 },
	{ KP_API_LIST_OFFSETS, 1, 10, 1, 6 },
	{ KP_API_METADATA, 0, 12, 0, 9 },
	{ KP_API_OFFSET_COMMIT, 2, 9, 2, 8 },
	{ KP_API_OFFSET_FETCH, 1, 9, 1, 6 },
	{ KP_API_FIND_COORDINATOR, 0, 6, 0, 3 },
	{ KP_API_JOIN_GROUP, 0, 9, 0, 6 },
	{ KP_API_HEARTBEAT, 0, 4, 0, 4 },
	{ KP_API_LEAVE_GROUP, 0, 5, 0, 4 },
	{ KP_API_SYNC_GROUP, 0, 5, 0, 4 },
	{ KP_API_DESCRIBE_GROUPS, 0, 5, 0, 5 },
	{ KP_API_LIST_GROUPS, 0, 5, 0, 3 },
	{ KP_API_SASL_HANDSHAKE, 1, 1, 1, -1 },
	{ KP_API_API_VERSIONS, 0, 4, 0, 3 },
	{ KP_API_CREATE_TOPICS, 2, 7, 2, 5 },
	{ KP_API_DELETE_TOPICS, 1, 6, 1, 4 },
	{ KP_API_DELETE_RECORDS, 0, 2, 0, 2 },
	{ KP_API_INIT_PRODUCER_ID, 0, 5, 0, 2 },
	{ KP_API_OFFSET_FOR_LEADER_EPOCH, 2, 4, 2, 4 },
	{ KP_API_ADD_PARTITIONS_TO_TXN, 0, 5, 0, 3 },
	{ KP_API_END_TXN, 0, 5, 0, 3 },
	{ KP_API_WRITE_TXN_MARKERS, 1, 1, 1, 1 },
	{ KP_API_TXN_OFFSET_COMMIT, 0, 4, 0, 3 },
	{ KP_API_DESCRIBE_ACLS, 1, 3, 1, 2 },
	{ KP_API_DESCRIBE_CONFIGS, 1, 4, 1, 4 },
	{ KP_API_DESCRIBE_LOG_DIRS, 1, 4, 1, 2 },
	{ KP_API_CREATE_PARTITIONS, 0, 3, 0, 2 },
	{ KP_API_DELETE_GROUPS, 1, 2, 1, 2 },
	{ KP_API_OFFSET_DELETE, 0, 0, 0, -1 },
	{ KP_API_DESCRIBE_CLUSTER, 0, 1, 0, 0 },
	{ KP_API_DESCRIBE_PRODUCERS, 0, 0, 0, 0 },
	{ KP_API_DESCRIBE_TRANSACTIONS, 0, 0, 0, 0 },
	{ KP_API_LIST_TRANSACTIONS, 0, 1, 0, 0 },
	{ KP_API_CONSUMER_GROUP_HEARTBEAT, 0, 1, 0, 0 },
	{ KP_API_CONSUMER_GROUP_DESCRIBE, 0, 0, 0, 0 },
	{ KP_API_DESCRIBE_TOPIC_PARTITIONS, 0, 0, 0, 0 },
};

Test(kp_schema, served_versions_follow_kafka_4)
{
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		const struct want *w = &wants[i];
		const struct kp_api_info *a = kp_api_lookup(w->key);
		cr_assert_not_null(a, "key %d", w->key);
		cr_assert_eq(a->min_version, w->min, "%s min %d", a->name, a->min_version);
		cr_assert_eq(a->max_version, w->max, "%s max %d", a->name, a->max_version);
		cr_assert_eq(a->advertised_min, w->adv, "%s advertised %d", a->name, a->advertised_min);
		cr_assert_eq(a->flexible_version, w->flex, "%s flexible %d", a->name, a->flexible_version);
	}
}

Test(kp_schema, every_broker_api_and_no_share_or_controller_api)
{
	/* The reference files listing the broker listener, minus share-group APIs. */
	static const int16_t broker[] = { 0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
	                                  22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
	                                  39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 55, 57, 60, 61,
	                                  64, 65, 66, 68, 69, 71, 72, 74, 75, 80, 81 };
	static const int16_t not_served[] = { 4, 5, 6, 7, 52, 53, 54, 56, 58, 59, 62, 63, 67, 70, 73, 76, 77,
	                                      78, 79, 82, 83, 84, 85, 86, 87 };
	for (size_t i = 0; i < sizeof(broker) / sizeof(broker[0]); i++)
		cr_assert_not_null(kp_api_lookup(broker[i]), "key %d", broker[i]);
	for (size_t i = 0; i < sizeof(not_served) / sizeof(not_served[0]); i++)
		cr_assert_null(kp_api_lookup(not_served[i]), "key %d", not_served[i]);
	cr_assert_eq(kp_api_count, sizeof(broker) / sizeof(broker[0]));
}

/* Runs the generator on a schema dir made of the real headers/errors plus `api`; returns its
 * exit status and what it printed. */
static int run_gen(const char *api, char *msg, size_t msgsz)
{
	char dir[] = "/tmp/kp_schema_XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cp %s/proto/gen/schema/headers.kps %s/proto/gen/schema/errors.kps %s/", REPO, REPO, dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/bad.kps", dir);
	FILE *f = fopen(cmd, "w");
	fputs(api, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s/proto/gen/kpgen.py %s %s/out 2>%s/err", REPO, dir, dir, dir);
	int st = system(cmd);
	snprintf(cmd, sizeof(cmd), "%s/err", dir);
	f = fopen(cmd, "r");
	size_t n = fread(msg, 1, msgsz - 1, f);
	msg[n] = 0;
	fclose(f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(kp_schema, generator_accepts_a_good_schema_and_names_errors)
{
	char msg[1024];
	const char *good = "api Tiny key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v0+\n"
	                   "response\n  field B string v1+ null=1+ tag=0 tagged=1+\n";
	cr_assert_eq(run_gen(good, msg, sizeof(msg)), 0, "%s", msg);

	struct { const char *text; const char *says; } bad[] = {
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int33 v0+\nresponse\n  field B int8 v0+\n", "bad.kps:3: type int33" },
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v3-1\nresponse\n  field B int8 v0+\n", "bad.kps:3: empty version range" },
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v0+ tag=1 tagged=0+\nresponse\n  field B int8 v0+\n", "reach non-flexible" },
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v0+ null=0+\nresponse\n  field B int8 v0+\n", "cannot be nullable" },
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v0+\n", "needs a request and a response" },
		{ "api T key=900 serve=0-1 flexible=1+\nrequest\n  field A int32 v0+\n  field A int8 v0+\nresponse\n  field B int8 v0+\n", "given twice" },
		{ "api T key=900 serve=0-1 flexible=1+ colour=red\nrequest\n  field A int32 v0+\nresponse\n  field B int8 v0+\n", "unknown key 'colour'" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(run_gen(bad[i].text, msg, sizeof(msg)), 1, "case %zu accepted", i);
		cr_assert_not_null(strstr(msg, bad[i].says), "case %zu: %s", i, msg);
	}
}
