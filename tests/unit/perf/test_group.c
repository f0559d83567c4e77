#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "perf/harness/group.h"

/* Version 0 subscription for topic "t1": version, one topic, null user data. */
static const uint8_t sub_v0_t1[] = {0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0xff, 0xff, 0xff, 0xff};

Test(perf_group, subscription_encodes_kafka_v0_bytes)
{
	struct rt_buf b;
	rt_buf_init(&b, 1 << 20);
	perf_group_subscription_encode(&b, "t1");
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.len, sizeof(sub_v0_t1));
	cr_assert_arr_eq(b.data, sub_v0_t1, sizeof(sub_v0_t1));
	rt_buf_fini(&b);
}

Test(perf_group, subscription_v1_with_owned_partitions_is_read)
{
	/* v1 as the Java client sends it: topics [a, t1], user data 2 bytes, owned partitions. */
	const uint8_t v1[] = {0, 1, 0, 0, 0, 2, 0, 1, 'a', 0, 2, 't', '1', 0, 0, 0, 2, 9, 9,
	                      0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 1, 0, 0, 0, 3};
	bool has = false;
	cr_assert_eq(perf_group_subscription_has(v1, sizeof(v1), "t1", &has), 0);
	cr_assert(has);
	cr_assert_eq(perf_group_subscription_has(v1, sizeof(v1), "t2", &has), 0);
	cr_assert(!has);
	cr_assert_eq(perf_group_subscription_has(v1, sizeof(v1), "t", &has), 0);
	cr_assert(!has, "a prefix of a topic name is not that topic");
}

Test(perf_group, subscription_malformed_is_ebadmsg)
{
	bool has;
	for (size_t n = 0; n < sizeof(sub_v0_t1); n++)
		cr_assert_eq(perf_group_subscription_has(sub_v0_t1, n, "t1", &has), -EBADMSG, "cut at %zu", n);
	const uint8_t huge_count[] = {0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 2, 't', '1'};
	cr_assert_eq(perf_group_subscription_has(huge_count, sizeof(huge_count), "t1", &has), -EBADMSG);
	const uint8_t neg_str[] = {0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(perf_group_subscription_has(neg_str, sizeof(neg_str), "t1", &has), -EBADMSG);
	const uint8_t bad_version[] = {0, 9, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(perf_group_subscription_has(bad_version, sizeof(bad_version), "t1", &has), -EBADMSG);
}

Test(perf_group, assignment_round_trips_and_matches_kafka_bytes)
{
	const int32_t parts[] = {3, 4};
	const uint8_t want[] = {0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
	                        0xff, 0xff, 0xff, 0xff};
	struct rt_buf b;
	rt_buf_init(&b, 1 << 20);
	perf_group_assignment_encode(&b, "t1", parts, 2);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	int32_t got[8];
	int n = -1;
	cr_assert_eq(perf_group_assignment_decode(b.data, b.len, "t1", got, 8, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(got[0], 3);
	cr_assert_eq(got[1], 4);
	cr_assert_eq(perf_group_assignment_decode(b.data, b.len, "t2", got, 8, &n), 0);
	cr_assert_eq(n, 0, "partitions of another topic are not ours");
	cr_assert_eq(perf_group_assignment_decode(b.data, b.len, "t1", got, 1, &n), -E2BIG);
	rt_buf_reset(&b);
	perf_group_assignment_encode(&b, "t1", NULL, 0);
	cr_assert_eq(perf_group_assignment_decode(b.data, b.len, "t1", got, 8, &n), 0);
	cr_assert_eq(n, 0);
	rt_buf_fini(&b);
}

Test(perf_group, assignment_empty_frame_and_malformed)
{
	int32_t got[4];
	int n = 7;
	cr_assert_eq(perf_group_assignment_decode(NULL, 0, "t1", got, 4, &n), 0);
	cr_assert_eq(n, 0);
	const uint8_t a[] = {0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff};
	for (size_t k = 1; k < sizeof(a); k++)
		cr_assert_eq(perf_group_assignment_decode(a, k, "t1", got, 4, &n), -EBADMSG, "cut at %zu", k);
	const uint8_t neg[] = {0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff,
	                       0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(perf_group_assignment_decode(neg, sizeof(neg), "t1", got, 4, &n), -EBADMSG);
	const uint8_t huge[] = {0, 0, 0, 0, 0, 1, 0, 2, 't', '1', 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	cr_assert_eq(perf_group_assignment_decode(huge, sizeof(huge), "t1", got, 4, &n), -EBADMSG);
}

/* Kafka's RangeAssignor documentation example: 3 partitions over 2 members -> 2 and 1. */
Test(perf_group, range_matches_kafka_example)
{
	int32_t f, c;
	perf_group_range(3, 2, 0, &f, &c);
	cr_assert(f == 0 && c == 2);
	perf_group_range(3, 2, 1, &f, &c);
	cr_assert(f == 2 && c == 1);
	perf_group_range(2, 3, 2, &f, &c);
	cr_assert_eq(c, 0, "more members than partitions leaves the last ones empty");
}

Test(perf_group, range_covers_every_partition_once)
{
	for (int32_t p = 0; p <= 40; p++)
		for (int m = 1; m <= 9; m++) {
			int seen[41] = {0};
			int32_t next = 0;
			for (int i = 0; i < m; i++) {
				int32_t f, c;
				perf_group_range(p, m, i, &f, &c);
				cr_assert_eq(f, next, "p=%d m=%d i=%d contiguous", p, m, i);
				cr_assert(c == p / m || c == p / m + 1);
				for (int32_t k = f; k < f + c; k++) seen[k]++;
				next = f + c;
			}
			cr_assert_eq(next, p);
			for (int32_t k = 0; k < p; k++) cr_assert_eq(seen[k], 1);
		}
}

Test(perf_group, members_sort_bytewise)
{
	const char *ids[] = {"rp-2-b", "rp-10-a", "rp-1-c"};
	perf_group_sort_members(ids, 3);
	cr_assert_str_eq(ids[0], "rp-1-c");
	cr_assert_str_eq(ids[1], "rp-10-a");
	cr_assert_str_eq(ids[2], "rp-2-b");
}
