/* Unit tests for dataplane/owners.c: the ringtail.partition.shards list, parsed with messages
 * that name the value and what is allowed, and formatted as DescribeConfigs shows it. */
#include <criterion/criterion.h>
#include <string.h>

#include "dataplane/owners.h"
#include "kp_errors.h"

Test(dp_owners, parses_one_shard_per_partition)
{
	int16_t own[4] = { -1, -1, -1, -1 };
	char msg[200];
	cr_assert_eq(dp_owners_parse("1,0, 1 ,0", 4, 2, own, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert(own[0] == 1 && own[1] == 0 && own[2] == 1 && own[3] == 0);
	cr_assert_eq(dp_owners_parse("3", 1, 4, own, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(own[0], 3);
}

Test(dp_owners, refuses_a_shard_that_does_not_exist)
{
	int16_t own[2];
	char msg[200];
	cr_assert_eq(dp_owners_parse("0,2", 2, 2, own, msg, sizeof(msg)), KP_ERR_INVALID_CONFIG);
	cr_assert_str_eq(msg, "ringtail.partition.shards=0,2: shard 2 does not exist (allowed: shards 0 to 1)");
	cr_assert_eq(dp_owners_parse("0,99999999999999999999", 2, 2, own, msg, sizeof(msg)), KP_ERR_INVALID_CONFIG);
	cr_assert(strstr(msg, "does not exist"), "%s", msg);
}

Test(dp_owners, refuses_the_wrong_count)
{
	int16_t own[3];
	char msg[200];
	cr_assert_eq(dp_owners_parse("0,1", 3, 2, own, msg, sizeof(msg)), KP_ERR_INVALID_CONFIG);
	cr_assert_str_eq(msg, "ringtail.partition.shards=0,1: 2 shards listed for 3 partitions (allowed: one shard "
	                      "from 0 to 1 per partition)");
	cr_assert_eq(dp_owners_parse("0,1,0,1", 3, 2, own, msg, sizeof(msg)), KP_ERR_INVALID_CONFIG,
	             "more shards than partitions: nothing is written past owner[2]");
}

Test(dp_owners, refuses_what_is_not_a_list)
{
	int16_t own[2];
	char msg[200];
	const char *bad[] = { "", "0,", ",0", "0;1", "-1,0", "a,b", "0,,1", "0 1", "+1,0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(dp_owners_parse(bad[i], 2, 2, own, msg, sizeof(msg)), KP_ERR_INVALID_CONFIG, "%s", bad[i]);
		cr_assert(strstr(msg, "not a list of shard numbers"), "%s: %s", bad[i], msg);
	}
	char big[400];
	memset(big, '7', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[5] = 'x';
	cr_assert_eq(dp_owners_parse(big, 2, 2, own, msg, 120), KP_ERR_INVALID_CONFIG);
	cr_assert(strlen(msg) < 120 && strstr(msg, "..."), "a long value is cut in the message: %s", msg);
}

Test(dp_owners, formats_as_it_parses)
{
	int16_t own[] = { 0, 1, 12, 1 };
	char buf[32];
	cr_assert_eq(dp_owners_format(own, 4, buf, sizeof(buf)), 8);
	cr_assert_str_eq(buf, "0,1,12,1");
	cr_assert_eq(dp_owners_format(own, 4, buf, 5), 8, "the length of the whole list");
	cr_assert_str_eq(buf, "0,1");
	cr_assert_eq(dp_owners_format(own, 0, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	int16_t back[4];
	char msg[200];
	dp_owners_format(own, 4, buf, sizeof(buf));
	cr_assert_eq(dp_owners_parse(buf, 4, 13, back, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_arr_eq(back, own, sizeof(own));
}

/* A request's assignments as the test writes them: partition index and up to 3 replica ids. */
struct asg {
	int32_t partition;
	int32_t n;
	int32_t ids[3];
};

static void asg_at(const void *list, int32_t k, int32_t *partition, const int32_t **ids, int32_t *nids)
{
	const struct asg *a = &((const struct asg *)list)[k];
	*partition = a->partition;
	*ids = a->ids;
	*nids = a->n;
}

/* Node 5 with 3 shards: shard s is node 5001 + s in shard-aware mode. */
static const struct dp_owners_nodes aware = { .node_id = 5, .nshards = 3, .shard_nodes = true };
static const struct dp_owners_nodes plain = { .node_id = 5, .nshards = 3, .shard_nodes = false };

Test(dp_owners, node_ids_name_the_broker_or_a_shard)
{
	cr_assert_eq(dp_owners_node_shard(&aware, 5), -1);
	cr_assert_eq(dp_owners_node_shard(&aware, 5001), 0);
	cr_assert_eq(dp_owners_node_shard(&aware, 5003), 2);
	cr_assert_eq(dp_owners_node_shard(&aware, 5004), -2, "no shard 3");
	cr_assert_eq(dp_owners_node_shard(&aware, 5000), -2);
	cr_assert_eq(dp_owners_node_shard(&aware, 4), -2);
	cr_assert_eq(dp_owners_node_shard(&aware, INT32_MIN), -2);
	cr_assert_eq(dp_owners_node_shard(&plain, 5), -1);
	cr_assert_eq(dp_owners_node_shard(&plain, 5001), -2, "shards are nodes only in shard-aware mode");
	struct dp_owners_nodes big = { .node_id = INT32_MAX, .nshards = 3, .shard_nodes = true };
	cr_assert_eq(dp_owners_node_shard(&big, INT32_MAX - 1), -2, "no overflow in node_id * 1000");
}

Test(dp_owners, assignments_give_each_partition_its_shard)
{
	/* Out of order, as CreateTopics may name them; the broker's own id leaves the pick to the
	 * registry (-1). */
	struct asg l[] = { { 2, 1, { 5003 } }, { 0, 1, { 5 } }, { 1, 1, { 5001 } }, { 3, 1, { 5002 } } };
	int16_t own[4];
	char msg[200] = "";
	cr_assert_eq(dp_owners_assign(&aware, l, 4, asg_at, false, own, msg, sizeof(msg)), 0, "%s", msg);
	int16_t want[] = { -1, 0, 2, 1 };
	cr_assert_arr_eq(own, want, sizeof(want));
	cr_assert_eq(dp_owners_assign(&aware, l, 0, asg_at, false, own, msg, sizeof(msg)), 0, "none is fine");
}

/* The first assignment error of list l (n entries) must be `want`, in those words. */
static void refused(const struct dp_owners_nodes *nodes, const struct asg *l, int32_t n, bool growing, const char *want)
{
	int16_t own[8];
	char msg[200] = "";
	cr_assert_eq(dp_owners_assign(nodes, l, n, asg_at, growing, own, msg, sizeof(msg)),
	             KP_ERR_INVALID_REPLICA_ASSIGNMENT, "%s", want);
	cr_assert_str_eq(msg, want);
}

Test(dp_owners, assignments_refused_in_kafkas_words)
{
	refused(&aware, (struct asg[]){ { 0, 1, { 5 } }, { 2, 1, { 5 } } }, 2, false,
	        "partitions should be a consecutive 0-based integer sequence");
	refused(&aware, (struct asg[]){ { -1, 1, { 5 } } }, 1, false,
	        "partitions should be a consecutive 0-based integer sequence");
	refused(&aware, (struct asg[]){ { 1, 1, { 5 } }, { 1, 1, { 5001 } } }, 2, false,
	        "Found multiple manual partition assignments for partition 1");
	refused(&aware, (struct asg[]){ { 0, 1, { 5 } }, { 1, 0, { 0 } } }, 2, false,
	        "The manual partition assignment includes an empty replica list.");
	refused(&plain, (struct asg[]){ { 0, 1, { 5001 } } }, 1, false,
	        "The manual partition assignment includes broker 5001, but no such broker is registered.");
	/* An unknown id is named before the second replica is refused. */
	refused(&aware, (struct asg[]){ { 0, 2, { 5, 7 } } }, 1, false,
	        "The manual partition assignment includes broker 7, but no such broker is registered.");
	refused(&aware, (struct asg[]){ { 0, 2, { 5001, 5002 } } }, 1, false,
	        "The manual partition assignment includes a partition with 2 replicas, but a single broker keeps "
	        "one replica per partition");
	refused(&aware, (struct asg[]){ { 0, 3, { 5, 5001, 5002 } } }, 1, true,
	        "The manual partition assignment includes a partition with 3 replica(s), but this is not consistent "
	        "with previous partitions, which have 1 replica(s).");
}
