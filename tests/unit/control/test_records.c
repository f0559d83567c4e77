/*
 * The `__consumer_offsets` formats against bytes written out by hand from the field lists of
 * Kafka's OffsetCommitKey/Value and GroupMetadataKey/Value schemas, and the partition hash
 * against values of Java's String.hashCode.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "control/records.h"

#define S(x) ((struct ctl_slice){ x, (int32_t)sizeof(x) - 1 })

static bool slice_is(struct ctl_slice s, const char *z)
{
	return s.len == (int32_t)strlen(z) && !memcmp(s.p, z, (size_t)s.len);
}

Test(ctl_records, partition_matches_java_string_hashcode)
{
	/* "hello".hashCode() == 99162322 */
	cr_assert_eq(ctl_offsets_partition("hello", 5, 50), 99162322 % 50);
	cr_assert_eq(ctl_offsets_partition("hello", 5, 1000), 99162322 % 1000);
	/* "polygenelubricants".hashCode() == Integer.MIN_VALUE; Kafka's abs maps it to 0 */
	cr_assert_eq(ctl_offsets_partition("polygenelubricants", 18, 50), 0);
	/* "Aa" and "BB" collide in Java (2112) */
	cr_assert_eq(ctl_offsets_partition("Aa", 2, 50), 2112 % 50);
	cr_assert_eq(ctl_offsets_partition("BB", 2, 50), 2112 % 50);
	/* a negative hash: "consumers" = -421004483 -> abs 421004483 */
	cr_assert_eq(ctl_offsets_partition("consumers", 9, 50), 421004483 % 50);
	/* non-ASCII: "é" is one UTF-16 unit 0xe9 = 233 */
	cr_assert_eq(ctl_offsets_partition("\xc3\xa9", 2, 50), 233 % 50);
	/* a supplementary character counts as two UTF-16 units (surrogates d83d de00) */
	cr_assert_eq(ctl_offsets_partition("\xf0\x9f\x98\x80", 4, 1 << 30), (31 * 0xd83d + 0xde00) % (1 << 30));
	cr_assert_eq(ctl_offsets_partition("", 0, 50), 0);
}

Test(ctl_records, offset_key_bytes)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	ctl_rec_offset_key_put(&b, S("g1"), S("tp"), 7);
	const uint8_t want[] = { 0, 1, 0, 2, 'g', '1', 0, 2, 't', 'p', 0, 0, 0, 7 };
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	struct ctl_rec_key k;
	cr_assert_eq(ctl_rec_key_get(b.data, b.len, &k), 0);
	cr_assert_eq(k.kind, CTL_REC_OFFSET);
	cr_assert(slice_is(k.group, "g1") && slice_is(k.topic, "tp") && k.partition == 7);
	/* version 0 keys read the same way */
	uint8_t v0[sizeof(want)];
	memcpy(v0, want, sizeof(want));
	v0[1] = 0;
	cr_assert_eq(ctl_rec_key_get(v0, sizeof(v0), &k), 0);
	cr_assert_eq(k.kind, CTL_REC_OFFSET);
	/* truncated anywhere: -EBADMSG */
	for (size_t n = 0; n < sizeof(want); n++)
		cr_assert_eq(ctl_rec_key_get(want, n, &k), -EBADMSG, "length %zu", n);
	rt_buf_fini(&b);
}

Test(ctl_records, group_key_bytes_and_unknown_version)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	ctl_rec_group_key_put(&b, S("grp"));
	const uint8_t want[] = { 0, 2, 0, 3, 'g', 'r', 'p' };
	cr_assert_arr_eq(b.data, want, sizeof(want));
	struct ctl_rec_key k;
	cr_assert_eq(ctl_rec_key_get(b.data, b.len, &k), 0);
	cr_assert_eq(k.kind, CTL_REC_GROUP);
	cr_assert(slice_is(k.group, "grp"));
	const uint8_t txn[] = { 0, 3, 0, 1, 'x' };
	cr_assert_eq(ctl_rec_key_get(txn, sizeof(txn), &k), -ENOTSUP);
	rt_buf_fini(&b);
}

Test(ctl_records, offset_value_v3_bytes_and_round_trip)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	struct ctl_offset_value v = { .offset = 0x0102030405060708LL, .leader_epoch = 5, .metadata = S("md"),
	                              .commit_ts = 1000, .expire_ts = -1 };
	ctl_rec_offset_value_put(&b, &v);
	const uint8_t want[] = { 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 5, 0, 2, 'm', 'd',
	                         0, 0, 0, 0, 0, 0, 0x03, 0xe8 };
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	struct ctl_offset_value r;
	cr_assert_eq(ctl_rec_offset_value_get(b.data, b.len, &r), 0);
	cr_assert_eq(r.offset, v.offset);
	cr_assert_eq(r.leader_epoch, 5);
	cr_assert(slice_is(r.metadata, "md"));
	cr_assert_eq(r.commit_ts, 1000);
	cr_assert_eq(r.expire_ts, -1);
	rt_buf_fini(&b);
}

Test(ctl_records, offset_value_v1_keeps_expire_timestamp)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	struct ctl_offset_value v = { .offset = 9, .leader_epoch = 3, .metadata = S(""), .commit_ts = 10, .expire_ts = 20 };
	ctl_rec_offset_value_put(&b, &v);
	const uint8_t want[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
	                         0, 0, 0, 0, 0, 0, 0, 20 };
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	struct ctl_offset_value r;
	cr_assert_eq(ctl_rec_offset_value_get(b.data, b.len, &r), 0);
	cr_assert_eq(r.expire_ts, 20);
	cr_assert_eq(r.leader_epoch, -1, "v1 has no leader epoch");
	rt_buf_fini(&b);
}

Test(ctl_records, offset_value_v0_and_flexible_v4)
{
	const uint8_t v0[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 7 };
	struct ctl_offset_value r;
	cr_assert_eq(ctl_rec_offset_value_get(v0, sizeof(v0), &r), 0);
	cr_assert_eq(r.offset, 42);
	cr_assert(slice_is(r.metadata, "x"));
	cr_assert_eq(r.commit_ts, 7);
	/* v4: compact string (length+1 as a varint) and an empty tagged-field section; one tag skipped */
	const uint8_t v4[] = { 0, 4, 0, 0, 0, 0, 0, 0, 0, 43, 0, 0, 0, 2, 3, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 8,
	                       1, 5, 2, 0xaa, 0xbb };
	cr_assert_eq(ctl_rec_offset_value_get(v4, sizeof(v4), &r), 0);
	cr_assert_eq(r.offset, 43);
	cr_assert_eq(r.leader_epoch, 2);
	cr_assert(slice_is(r.metadata, "ab"));
	cr_assert_eq(r.commit_ts, 8);
	const uint8_t v9[] = { 0, 9, 0 };
	cr_assert_eq(ctl_rec_offset_value_get(v9, sizeof(v9), &r), -ENOTSUP);
}

Test(ctl_records, group_value_v3_bytes_and_round_trip)
{
	struct ctl_member_rec m = {
		.member_id = S("m"), .instance_id = S("i"), .client_id = S("c"), .client_host = S("/h"),
		.rebalance_timeout = 300, .session_timeout = 100, .subscription = S("SU"), .assignment = S("A"),
	};
	struct ctl_group_value v = {
		.protocol_type = S("consumer"), .generation = 4, .protocol = S("range"), .leader = S("m"),
		.current_state_ts = 77, .members = &m, .n_members = 1,
	};
	struct rt_buf b;
	rt_buf_init(&b, 0);
	ctl_rec_group_value_put(&b, &v);
	const uint8_t want[] = {
		0, 3,
		0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
		0, 0, 0, 4,
		0, 5, 'r', 'a', 'n', 'g', 'e',
		0, 1, 'm',
		0, 0, 0, 0, 0, 0, 0, 77,
		0, 0, 0, 1,
		0, 1, 'm', 0, 1, 'i', 0, 1, 'c', 0, 2, '/', 'h',
		0, 0, 1, 0x2c, 0, 0, 0, 100,
		0, 0, 0, 2, 'S', 'U', 0, 0, 0, 1, 'A',
	};
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	struct rt_arena a;
	rt_arena_init(&a, 0, 1 << 20);
	struct ctl_group_value r;
	cr_assert_eq(ctl_rec_group_value_get(b.data, b.len, &a, &r), 0);
	cr_assert(slice_is(r.protocol_type, "consumer") && r.generation == 4 && slice_is(r.protocol, "range"));
	cr_assert(slice_is(r.leader, "m") && r.current_state_ts == 77 && r.n_members == 1);
	cr_assert(slice_is(r.members[0].instance_id, "i") && slice_is(r.members[0].client_host, "/h"));
	cr_assert(r.members[0].rebalance_timeout == 300 && r.members[0].session_timeout == 100);
	cr_assert(slice_is(r.members[0].subscription, "SU") && slice_is(r.members[0].assignment, "A"));
	/* every truncation fails cleanly */
	for (size_t n = 0; n < sizeof(want); n++)
		cr_assert_neq(ctl_rec_group_value_get(want, n, &a, &r), 0, "length %zu", n);
	rt_arena_fini(&a);
	rt_buf_fini(&b);
}

Test(ctl_records, group_value_v0_empty_group_and_null_fields)
{
	/* v0: no state timestamp, no instance id, no rebalance timeout; null protocol and leader */
	const uint8_t v0[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
	struct rt_arena a;
	rt_arena_init(&a, 0, 1 << 20);
	struct ctl_group_value r;
	cr_assert_eq(ctl_rec_group_value_get(v0, sizeof(v0), &a, &r), 0);
	cr_assert_eq(r.protocol_type.len, 0);
	cr_assert_eq(r.generation, 1);
	cr_assert_eq(r.protocol.len, -1);
	cr_assert_eq(r.leader.len, -1);
	cr_assert_eq(r.current_state_ts, -1);
	cr_assert_eq(r.n_members, 0);
	/* a member count the bytes cannot hold is corrupt, not an allocation */
	const uint8_t huge[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff };
	cr_assert_eq(ctl_rec_group_value_get(huge, sizeof(huge), &a, &r), -EBADMSG);
	rt_arena_fini(&a);
}
