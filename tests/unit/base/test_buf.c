/* Unit tests for base/buf.c and the writers of buf.h: big-endian and varint output, limits. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

Test(rt_buf, writes_big_endian_and_varints)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	rt_buf_put_u8(&b, 0x01);
	rt_buf_put_i8(&b, -1);
	rt_buf_put_i16(&b, -2);
	rt_buf_put_u16(&b, 0x0304);
	rt_buf_put_i32(&b, 0x05060708);
	rt_buf_put_u32(&b, 0xdeadbeef);
	rt_buf_put_i64(&b, -3);
	rt_buf_put_f64(&b, 1.0);
	rt_buf_put_uvarint(&b, 300);
	rt_buf_put_varint(&b, -1);
	rt_buf_put_varlong(&b, 150);
	static const uint8_t want[] = {
		0x01, 0xff, 0xff, 0xfe, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xde, 0xad, 0xbe, 0xef,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd,
		0x3f, 0xf0, 0, 0, 0, 0, 0, 0,   /* 1.0 as IEEE 754, big-endian */
		0xac, 0x02,                     /* 300 */
		0x01,                           /* zigzag(-1) */
		0xac, 0x02,                     /* zigzag(150) = 300 */
	};
	cr_assert_eq(b.len, sizeof(want));
	cr_expect_eq(memcmp(b.data, want, sizeof(want)), 0);
	cr_expect_eq(b.err, 0);

	/* Read back with the cursor of bytes.h. */
	struct rt_rd r;
	rt_rd_init(&r, b.data, b.len);
	cr_expect_eq(rt_rd_u8(&r), 1);
	cr_expect_eq(rt_rd_i8(&r), -1);
	cr_expect_eq(rt_rd_i16(&r), -2);
	cr_expect_eq(rt_rd_u16(&r), 0x0304);
	cr_expect_eq(rt_rd_i32(&r), 0x05060708);
	cr_expect_eq(rt_rd_u32(&r), 0xdeadbeef);
	cr_expect_eq(rt_rd_i64(&r), -3);
	cr_expect_eq(rt_rd_f64(&r), 1.0);
	cr_expect_eq(rt_rd_uvarint(&r), 300u);
	cr_expect_eq(rt_rd_varint(&r), -1);
	cr_expect_eq(rt_rd_varlong(&r), 150);
	cr_expect_eq(r.err, 0);
	cr_expect_eq(rt_rd_left(&r), 0u);
	rt_buf_fini(&b);
	cr_expect_null(b.data);
}

Test(rt_buf, grows_across_many_writes)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	for (uint32_t i = 0; i < 100000; i++)
		rt_buf_put_u32(&b, i);
	cr_assert_eq(b.err, 0);
	cr_assert_eq(b.len, 400000u);
	cr_expect_geq(b.cap, b.len);
	for (uint32_t i = 0; i < 100000; i += 997)
		cr_assert_eq(rt_be32_get(b.data + 4 * i), i);
	rt_buf_fini(&b);
}

Test(rt_buf, max_is_a_sticky_e2big)
{
	struct rt_buf b;
	rt_buf_init(&b, 10);
	rt_buf_put(&b, "12345678", 8);
	cr_expect_eq(b.err, 0);
	cr_expect_leq(b.cap, 10u);
	rt_buf_put(&b, "abc", 3);
	cr_expect_eq(b.err, -E2BIG);
	cr_expect_eq(b.len, 8u, "a refused write adds nothing");
	rt_buf_put_u8(&b, 1); /* would fit, but the error is sticky */
	cr_expect_eq(b.len, 8u);
	cr_expect_eq(rt_buf_reserve(&b, 1), -E2BIG);
	cr_expect_null(rt_buf_extend(&b, 1));
	rt_buf_reset(&b);
	cr_expect_eq(b.err, 0);
	cr_expect_eq(b.len, 0u);
	rt_buf_put(&b, "0123456789", 10);
	cr_expect_eq(b.err, 0, "exactly max fits");
	cr_expect_eq(b.len, 10u);
	rt_buf_fini(&b);

	rt_buf_init(&b, 0);
	cr_expect_eq(rt_buf_reserve(&b, SIZE_MAX - 4), -E2BIG, "a huge reservation is refused, not attempted");
	rt_buf_fini(&b);
}

Test(rt_buf, extend_zeroes_and_steal_hands_over)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	uint8_t *z = rt_buf_extend(&b, 0);
	cr_expect_not_null(z, "extending an empty buffer by 0 is not a failure");
	rt_buf_put(&b, "xy", 2);
	uint8_t *p = rt_buf_extend(&b, 5);
	cr_assert_not_null(p);
	for (int i = 0; i < 5; i++)
		cr_expect_eq(p[i], 0);
	/* Stamp a length in place, as encoders do for size prefixes. */
	rt_be32_put(p, 0x01020304);
	cr_expect_eq(b.len, 7u);
	size_t len = 0;
	uint8_t *d = rt_buf_steal(&b, &len);
	cr_expect_eq(len, 7u);
	cr_expect_eq(memcmp(d, "xy\x01\x02\x03\x04\x00", 7), 0);
	cr_expect_null(b.data);
	cr_expect_eq(b.len, 0u);
	free(d);
	rt_buf_put(&b, "again", 5);
	cr_expect_eq(b.len, 5u, "usable after steal");
	rt_buf_fini(&b);
}
