/* Unit tests for base/bytes.h: big-endian access, varints and the sticky read error. */
#include <criterion/criterion.h>

#include "base/bytes.h"

Test(rt_bytes, big_endian_round_trip)
{
	uint8_t b[8];
	rt_be16_put(b, 0x1234);
	cr_expect_eq(b[0], 0x12);
	cr_expect_eq(rt_be16_get(b), 0x1234);
	rt_be32_put(b, 0xdeadbeef);
	cr_expect_eq(b[0], 0xde);
	cr_expect_eq(rt_be32_get(b), 0xdeadbeef);
	rt_be64_put(b, 0x0102030405060708ull);
	cr_expect_eq(b[7], 0x08);
	cr_expect_eq(rt_be64_get(b), 0x0102030405060708ull);
}

Test(rt_bytes, zigzag_matches_kafka)
{
	/* Values from Kafka's ByteUtils tests: 0->0, -1->1, 1->2, -2->3, MIN/MAX at the ends. */
	cr_expect_eq(rt_zigzag32(0), 0u);
	cr_expect_eq(rt_zigzag32(-1), 1u);
	cr_expect_eq(rt_zigzag32(1), 2u);
	cr_expect_eq(rt_zigzag32(-2), 3u);
	cr_expect_eq(rt_zigzag32(INT32_MAX), 0xfffffffeu);
	cr_expect_eq(rt_zigzag32(INT32_MIN), 0xffffffffu);
	cr_expect_eq(rt_unzigzag32(0xffffffffu), INT32_MIN);
	cr_expect_eq(rt_unzigzag64(rt_zigzag64(INT64_MIN)), INT64_MIN);
	cr_expect_eq(rt_unzigzag64(rt_zigzag64(INT64_MAX)), INT64_MAX);
}

Test(rt_bytes, varint_round_trip_and_sizes)
{
	int64_t vals[] = {0, 1, -1, 63, -64, 64, 300, -300, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t b[10];
		size_t n = rt_uvarint_put(b, rt_zigzag64(vals[i]));
		cr_expect_eq(n, rt_uvarint_size(rt_zigzag64(vals[i])));
		struct rt_rd r;
		rt_rd_init(&r, b, n);
		cr_expect_eq(rt_rd_varlong(&r), vals[i]);
		cr_expect_eq(r.err, 0);
		cr_expect_eq(rt_rd_left(&r), 0u);
	}
}

Test(rt_bytes, overlong_varint_is_an_error)
{
	uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	struct rt_rd r;
	rt_rd_init(&r, six, sizeof(six));
	cr_expect_eq(rt_rd_varint(&r), 0);
	cr_expect_eq(r.err, -EBADMSG);

	/* Five bytes, but the value needs more than 32 bits. */
	uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x7f};
	rt_rd_init(&r, big, sizeof(big));
	(void)rt_rd_uvarint(&r);
	cr_expect_eq(r.err, -EBADMSG);

	uint8_t eleven[11];
	memset(eleven, 0x80, sizeof(eleven));
	rt_rd_init(&r, eleven, sizeof(eleven));
	(void)rt_rd_varlong(&r);
	cr_expect_eq(r.err, -EBADMSG);
}

Test(rt_bytes, truncation_is_sticky)
{
	uint8_t b[] = {0, 0, 0, 7, 0xaa};
	struct rt_rd r;
	rt_rd_init(&r, b, sizeof(b));
	cr_expect_eq(rt_rd_i32(&r), 7);
	cr_expect_eq(rt_rd_i16(&r), 0); /* one byte left: fails */
	cr_expect_eq(r.err, -EBADMSG);
	cr_expect_eq(rt_rd_u8(&r), 0);  /* the byte is there, but the error is sticky */
	cr_expect_eq(rt_rd_left(&r), 1u);
	cr_expect_null(rt_rd_bytes(&r, 1));
}

Test(rt_bytes, fixed_width_reads)
{
	uint8_t b[] = {0x80, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		       0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, 0xaa, 0xbb};
	struct rt_rd r;
	rt_rd_init(&r, b, sizeof(b));
	cr_expect_eq(rt_rd_i8(&r), -128);
	cr_expect_eq(rt_rd_i16(&r), -2);
	cr_expect_eq(rt_rd_u64(&r), 0x0102030405060708ull);
	cr_expect_eq(rt_rd_f64(&r), -3.141592653589793);
	cr_expect_eq(rt_rd_left(&r), 2u);
	const uint8_t *p = rt_rd_bytes(&r, 2);
	cr_expect_eq(p, b + 19, "bytes are borrowed, not copied");
	cr_expect_eq(rt_rd_left(&r), 0u);
	cr_expect_eq(r.err, 0);
	cr_expect_not_null(rt_rd_bytes(&r, 0), "zero bytes at the end is fine");
	cr_expect_eq(rt_rd_i64(&r), 0);
	cr_expect_eq(r.err, -EBADMSG);
}

Test(rt_bytes, skip_and_first_error_wins)
{
	uint8_t b[6] = {1, 2, 3, 4, 5, 6};
	struct rt_rd r;
	rt_rd_init(&r, b, sizeof(b));
	rt_rd_skip(&r, 4);
	cr_expect_eq(rt_rd_u8(&r), 5);
	rt_rd_fail(&r, -E2BIG);
	rt_rd_fail(&r, -EBADMSG);
	cr_expect_eq(r.err, -E2BIG, "a later failure keeps the first cause");
	cr_expect_eq(rt_rd_u8(&r), 0);
	rt_rd_init(&r, b, sizeof(b));
	rt_rd_skip(&r, 7);
	cr_expect_eq(r.err, -EBADMSG);
	cr_expect_eq(rt_rd_left(&r), 6u, "a failed skip does not move");
}

Test(rt_bytes, varint_limits)
{
	uint8_t b[10];
	struct rt_rd r;
	/* UINT32_MAX takes five bytes and reads back as an unsigned varint. */
	size_t n = rt_uvarint_put(b, UINT32_MAX);
	cr_expect_eq(n, 5u);
	cr_expect_eq(memcmp(b, "\xff\xff\xff\xff\x0f", 5), 0);
	rt_rd_init(&r, b, n);
	cr_expect_eq(rt_rd_uvarint(&r), UINT32_MAX);
	cr_expect_eq(r.err, 0);
	/* UINT64_MAX takes ten. */
	n = rt_uvarint_put(b, UINT64_MAX);
	cr_expect_eq(n, 10u);
	cr_expect_eq(rt_uvarint_size(UINT64_MAX), 10u);
	cr_expect_eq(b[9], 0x01);
	rt_rd_init(&r, b, n);
	cr_expect_eq(rt_rd_uvar_n(&r, 10), UINT64_MAX);
	cr_expect_eq(r.err, 0);
	/* Varint -1 and INT32_MIN from Kafka's zigzag. */
	rt_rd_init(&r, "\x01\xff\xff\xff\xff\x0f", 6);
	cr_expect_eq(rt_rd_varint(&r), -1);
	cr_expect_eq(rt_rd_varint(&r), INT32_MIN);
	cr_expect_eq(r.err, 0);
	/* Every truncation of a multi-byte varint fails without reading past the end. */
	n = rt_uvarint_put(b, 1ull << 60);
	for (size_t k = 0; k < n; k++) {
		rt_rd_init(&r, b, k);
		(void)rt_rd_varlong(&r);
		cr_expect_eq(r.err, -EBADMSG, "prefix %zu", k);
	}
	cr_expect_eq(rt_uvarint_size(0), 1u);
	cr_expect_eq(rt_uvarint_size(127), 1u);
	cr_expect_eq(rt_uvarint_size(128), 2u);
	cr_expect_eq(rt_zigzag64(-1), 1u);
	cr_expect_eq(rt_zigzag64(INT64_MIN), UINT64_MAX);
	cr_expect_eq(rt_unzigzag32(4), 2);
}
