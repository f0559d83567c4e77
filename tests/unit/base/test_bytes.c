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
