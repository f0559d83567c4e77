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
