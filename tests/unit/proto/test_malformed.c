/*
 * tests/unit/proto/test_malformed.c: hostile and truncated frames fail cleanly.
 *
 * Every strict prefix of a valid encoding is -EBADMSG (the wire format is prefix-free for a
 * given version); negative and huge lengths and counts, nulls where a version forbids them and
 * overlong varints are -EBADMSG; an arena limit is -E2BIG; and the arena never holds more than
 * ARENA_FACTOR times the bytes of the frame (plus a constant), whatever the frame claims.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"
#include "kp_testvals.h"

/* Arena bytes per frame byte at worst: the largest struct divided by its smallest wire size. */
#define ARENA_FACTOR 64
#define ARENA_SLACK 4096

static uint8_t *encode_filled(const struct kp_api_info *api, bool req, int16_t v, struct rt_arena *a, size_t *n)
{
	const struct kp_api_testvals *tv = kp_api_testvals(api->key);
	void *m = rt_arena_alloc(a, req ? api->req_size : api->resp_size);
	struct kp_fill f = { .a = a, .counter = 7 };
	(req ? tv->req_fill : tv->resp_fill)(&f, v, m);
	struct rt_chain c;
	rt_chain_init(&c, 0);
	(req ? api->req_encode : api->resp_encode)(&c, v, m);
	cr_assert_eq(rt_chain_finish(&c), 0);
	*n = rt_chain_len(&c);
	uint8_t *b = malloc(*n);
	cr_assert_eq(rt_chain_flatten(&c, b), 0);
	rt_chain_fini(&c);
	return b;
}

/* Decodes n bytes of p (copied to an exact-size heap block so ASan sees any over-read). */
static int decode_exact(kp_decode_fn dec, int16_t v, const uint8_t *p, size_t n, size_t limit, size_t *used)
{
	uint8_t *copy = malloc(n ? n : 1);
	memcpy(copy, p, n);
	struct rt_arena a;
	rt_arena_init(&a, 0, limit);
	void *m = malloc(4096 * 4);
	struct rt_rd r;
	rt_rd_init(&r, copy, n);
	int rc = dec(&r, v, &a, m);
	*used = a.used;
	rt_arena_fini(&a);
	free(m);
	free(copy);
	return rc;
}

static void truncations(const struct kp_api_info *api, bool req, int16_t v)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t n;
	uint8_t *b = encode_filled(api, req, v, &a, &n);
	kp_decode_fn dec = req ? api->req_decode : api->resp_decode;
	size_t used;
	cr_assert_eq(decode_exact(dec, v, b, n, 0, &used), 0, "%s v%d: full frame", api->name, v);
	for (size_t cut = 0; cut < n; cut++) {
		int rc = decode_exact(dec, v, b, cut, 0, &used);
		cr_assert_eq(rc, -EBADMSG, "%s %s v%d cut at %zu of %zu: rc %d", api->name,
		             req ? "request" : "response", v, cut, n, rc);
		cr_assert_leq(used, ARENA_FACTOR * cut + ARENA_SLACK, "%s v%d cut %zu: arena %zu", api->name, v, cut, used);
	}
	free(b);
	rt_arena_fini(&a);
}

Test(kp_malformed, every_truncation_of_every_message_fails)
{
	for (size_t i = 0; i < kp_api_count; i++) {
		const struct kp_api_info *api = &kp_api_info[i];
		truncations(api, true, api->min_version);
		truncations(api, true, api->max_version);
		truncations(api, false, api->min_version);
		truncations(api, false, api->max_version);
	}
}

/* Produce v3 request, built by hand:
 * transactional_id (int16 len) acks timeout [topics: name [partitions: index records]] */
static size_t produce_v3(uint8_t *p, int16_t tid_len, int32_t ntopics, int16_t name_len,
                         int32_t nparts, int32_t rec_len)
{
	size_t o = 0;
	rt_be16_put(p + o, (uint16_t)tid_len); o += 2;
	rt_be16_put(p + o, 1); o += 2;                 /* acks */
	rt_be32_put(p + o, 1000); o += 4;              /* timeout */
	rt_be32_put(p + o, (uint32_t)ntopics); o += 4;
	rt_be16_put(p + o, (uint16_t)name_len); o += 2;
	if (name_len > 0 && name_len < 100) { memcpy(p + o, "topicname", (size_t)name_len); o += (size_t)name_len; }
	rt_be32_put(p + o, (uint32_t)nparts); o += 4;
	rt_be32_put(p + o, 0); o += 4;                 /* partition index */
	rt_be32_put(p + o, (uint32_t)rec_len); o += 4;
	if (rec_len > 0 && rec_len < 100) { memset(p + o, 0xab, (size_t)rec_len); o += (size_t)rec_len; }
	return o;
}

static int dec_produce(const uint8_t *p, size_t n, int16_t v, size_t limit, size_t *used)
{
	return decode_exact(kp_api_lookup(KP_API_PRODUCE)->req_decode, v, p, n, limit, used);
}

Test(kp_malformed, produce_v3_hand_built_is_valid)
{
	uint8_t p[256];
	size_t used, n = produce_v3(p, -1, 1, 5, 1, 10);
	cr_assert_eq(dec_produce(p, n, 3, 0, &used), 0);
}

Test(kp_malformed, negative_and_huge_lengths_and_counts)
{
	uint8_t p[256];
	size_t used, n;
	struct { int16_t tid; int32_t nt; int16_t nl; int32_t np; int32_t rl; const char *what; } cases[] = {
		{ -2, 1, 5, 1, 10, "transactional id length -2" },
		{ 0x7fff, 1, 5, 1, 10, "transactional id longer than the frame" },
		{ -1, -1, 5, 1, 10, "topic array null where not nullable" },
		{ -1, -7, 5, 1, 10, "topic count -7" },
		{ -1, 0x7fffffff, 5, 1, 10, "topic count INT32_MAX" },
		{ -1, 1000, 5, 1, 10, "topic count larger than the frame allows" },
		{ -1, 1, -1, 1, 10, "topic name null where not nullable" },
		{ -1, 1, -300, 1, 10, "topic name length -300" },
		{ -1, 1, 5, 0x40000000, 10, "partition count 2^30" },
		{ -1, 1, 5, -3, 10, "partition count -3" },
		{ -1, 1, 5, 1, -2, "records length -2" },
		{ -1, 1, 5, 1, 0x7fffffff, "records length INT32_MAX" },
		{ -1, 1, 5, 1, (int32_t)0x80000000, "records length INT32_MIN" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = produce_v3(p, cases[i].tid, cases[i].nt, cases[i].nl, cases[i].np, cases[i].rl);
		int rc = dec_produce(p, n, 3, 0, &used);
		cr_assert_eq(rc, -EBADMSG, "%s: rc %d", cases[i].what, rc);
		cr_assert_leq(used, ARENA_FACTOR * n + ARENA_SLACK, "%s: arena %zu", cases[i].what, used);
	}
}

/* Produce v9 (flexible): compact lengths are uvarints of n + 1. */
Test(kp_malformed, flexible_lengths_counts_and_overlong_varints)
{
	struct { const uint8_t *b; size_t n; const char *what; } cases[] = {
		/* tid null, acks, timeout, topics count uvarint 0xffffffff (n = 2^32 - 2) */
		{ (const uint8_t[]){ 0x00, 0, 1, 0, 0, 3, 0xe8, 0xff, 0xff, 0xff, 0xff, 0x0f }, 12, "compact count 2^32-2" },
		/* topics count as a 6-byte varint */
		{ (const uint8_t[]){ 0x00, 0, 1, 0, 0, 3, 0xe8, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00 }, 13, "overlong count varint" },
		/* transactional id: compact length as an overlong varint */
		{ (const uint8_t[]){ 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6, "overlong string varint" },
		/* compact string length 2^32-1 (n + 1 overflow) */
		{ (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x0f }, 5, "string length 2^32-2" },
		/* empty topics, then a tag section that claims 2^31 tags */
		{ (const uint8_t[]){ 0x00, 0, 1, 0, 0, 3, 0xe8, 0x01, 0x80, 0x80, 0x80, 0x80, 0x08 }, 13, "tag count 2^31" },
		/* one tag whose size runs past the frame */
		{ (const uint8_t[]){ 0x00, 0, 1, 0, 0, 3, 0xe8, 0x01, 0x01, 0x05, 0x7f, 0x00 }, 12, "tag size past the end" },
		/* topic with records length (compact) 2^31 */
		{ (const uint8_t[]){ 0x00, 0, 1, 0, 0, 3, 0xe8, 0x02, 0x02, 't', 0x02, 0, 0, 0, 0, 0x81, 0x80, 0x80, 0x80, 0x08 }, 20, "records length 2^31" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t used;
		int rc = dec_produce(cases[i].b, cases[i].n, 9, 0, &used);
		cr_assert_eq(rc, -EBADMSG, "%s: rc %d", cases[i].what, rc);
		cr_assert_leq(used, ARENA_SLACK, "%s: arena %zu", cases[i].what, used);
	}
}

Test(kp_malformed, arena_limit_is_e2big)
{
	/* Metadata v12 request with 1000 topics (each needs 16 + 1 + 1 bytes on the wire). */
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct rt_buf *b = rt_chain_buf(&c);
	rt_buf_put_uvarint(b, 1001);
	for (int i = 0; i < 1000; i++) {
		uint8_t id[16] = { 1 };
		rt_buf_put(b, id, 16);
		rt_buf_put_uvarint(b, 2);
		rt_buf_put_u8(b, 'x');
		rt_buf_put_uvarint(b, 0);
	}
	rt_buf_put_u8(b, 0);   /* allow auto topic creation */
	rt_buf_put_u8(b, 0);   /* include topic authorized operations */
	rt_buf_put_uvarint(b, 0);
	size_t used;
	kp_decode_fn dec = kp_api_lookup(KP_API_METADATA)->req_decode;
	cr_assert_eq(decode_exact(dec, 12, b->data, b->len, 0, &used), 0);
	cr_assert_eq(decode_exact(dec, 12, b->data, b->len, 1024, &used), -E2BIG);
	cr_assert_leq(used, 1024);
	rt_chain_fini(&c);
}

Test(kp_malformed, unknown_version_is_enotsup)
{
	size_t used;
	uint8_t p[8] = { 0 };
	cr_assert_eq(dec_produce(p, sizeof(p), 12, 0, &used), -ENOTSUP);
	cr_assert_eq(dec_produce(p, sizeof(p), -1, 0, &used), -ENOTSUP);
}

Test(kp_malformed, nullable_struct_marker_must_be_minus_one_or_one)
{
	/* DescribeTopicPartitions v0 request: topics (compact array), limit, cursor (nullable struct) */
	const uint8_t ok_null[] = { 0x01, 0, 0, 0, 10, 0xff, 0x00 };
	const uint8_t bad[] = { 0x01, 0, 0, 0, 10, 0x05, 0x00 };
	kp_decode_fn dec = kp_api_lookup(KP_API_DESCRIBE_TOPIC_PARTITIONS)->req_decode;
	size_t used;
	cr_assert_eq(decode_exact(dec, 0, ok_null, sizeof(ok_null), 0, &used), 0);
	cr_assert_eq(decode_exact(dec, 0, bad, sizeof(bad), 0, &used), -EBADMSG);
}

/* The arena bound the tests and the fuzz target use holds for every array of every message:
 * sizeof(element) / its fewest wire bytes, plus 16-byte rounding (15 bytes per >= 2 bytes). */
Test(kp_malformed, arena_factor_covers_every_array)
{
	const char *which = NULL;
	double r = kp_arena_ratio(&which);
	cr_assert_gt(r, 1.0);
	cr_assert_leq(r + 7.5, ARENA_FACTOR, "%s: %.1f arena bytes per wire byte", which, r);
}
