/* Unit tests for base/crc32c.c: RFC 3720 vectors, both implementations agree, incremental use. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"

/* Checks one vector against the dispatched and the portable implementation. */
static void expect_both(const void *p, size_t n, uint32_t want, const char *what)
{
	cr_expect_eq(rt_crc32c(0, p, n), want, "%s (%s): got %08x want %08x", what,
		     rt_crc32c_impl(), rt_crc32c(0, p, n), want);
	cr_expect_eq(rt_crc32c_sw(0, p, n), want, "%s (sw): got %08x want %08x", what,
		     rt_crc32c_sw(0, p, n), want);
}

Test(rt_crc32c, rfc3720_vectors)
{
	uint8_t b[48];

	memset(b, 0, 32);
	expect_both(b, 32, 0x8A9136AAu, "32 zero bytes");
	memset(b, 0xff, 32);
	expect_both(b, 32, 0x62A8AB43u, "32 0xff bytes");
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	expect_both(b, 32, 0x46DD794Eu, "ascending 0..31");
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	expect_both(b, 32, 0x113FDB5Cu, "descending 31..0");

	/* The iSCSI SCSI Read (10) command PDU of RFC 3720 appendix B.4. */
	static const uint8_t pdu[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	expect_both(pdu, sizeof(pdu), 0xD9963A56u, "iSCSI read PDU");
}

Test(rt_crc32c, check_value_and_empty)
{
	expect_both("123456789", 9, 0xE3069283u, "\"123456789\"");
	expect_both("", 0, 0, "empty");
	/* An empty extension leaves any running value alone. */
	cr_expect_eq(rt_crc32c(0x12345678u, "", 0), 0x12345678u);
	cr_expect_eq(rt_crc32c_sw(0x12345678u, NULL, 0), 0x12345678u);
}

Test(rt_crc32c, implementation_is_named)
{
	const char *name = rt_crc32c_impl();
	cr_assert(strcmp(name, "sse4.2") == 0 || strcmp(name, "sse4.2-1way") == 0 ||
		  strcmp(name, "sw") == 0, "unexpected name %s", name);
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul"))
		cr_expect_str_eq(name, "sse4.2");
	else if (!__builtin_cpu_supports("sse4.2"))
		cr_expect_str_eq(name, "sw");
#endif
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n);
	cr_assert_not_null(b);
	uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

Test(rt_crc32c, hw_and_sw_agree_every_length_and_alignment)
{
	uint8_t *b = random_bytes(4096 + 16, 1);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n + off <= 4096 + 8; n++) {
			if (off && n > 4096)
				break;
			uint32_t hw = rt_crc32c(0, b + off, n), sw = rt_crc32c_sw(0, b + off, n);
			if (hw != sw)
				cr_assert_fail("length %zu offset %zu: %08x != %08x", n, off, hw, sw);
		}
	free(b);
}

/* Large lengths run the long interleaved blocks (3 x 8 KiB) and every mix of tails. */
Test(rt_crc32c, hw_and_sw_agree_on_large_buffers)
{
	size_t max = 3 * 8192 * 4 + 3 * 256 * 3 + 77;
	uint8_t *b = random_bytes(max + 8, 2);
	size_t lens[] = {3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 3 * 8192 + 3 * 256, 65536,
			 65536 + 5, 2 * 3 * 8192 + 3 * 256 - 8, max};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t off = 0; off < 8; off += 3)
			cr_expect_eq(rt_crc32c(7, b + off, lens[i]), rt_crc32c_sw(7, b + off, lens[i]),
				     "length %zu offset %zu", lens[i], off);
	free(b);
}

Test(rt_crc32c, incremental_equals_one_shot)
{
	size_t n = 70000;
	uint8_t *b = random_bytes(n, 3);
	uint32_t whole = rt_crc32c(0, b, n);
	cr_assert_eq(whole, rt_crc32c_sw(0, b, n));
	size_t cuts[] = {0, 1, 7, 8, 255, 768, 4096, 24576, 24577, 65536, n};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t c = cuts[i];
		cr_expect_eq(rt_crc32c(rt_crc32c(0, b, c), b + c, n - c), whole, "cut at %zu", c);
		cr_expect_eq(rt_crc32c_sw(rt_crc32c_sw(0, b, c), b + c, n - c), whole, "sw cut at %zu", c);
	}
	/* Many small irregular pieces. */
	uint32_t crc = 0;
	size_t at = 0, step = 1;
	while (at < n) {
		size_t k = step < n - at ? step : n - at;
		crc = rt_crc32c(crc, b + at, k);
		at += k;
		step = step * 3 % 1021 + 1;
	}
	cr_expect_eq(crc, whole);
	free(b);
}

/* Runs before the library's own (default-priority) constructor has set anything up. */
static uint32_t early_crc, early_sw;
__attribute__((constructor(101))) static void compute_early(void)
{
	early_crc = rt_crc32c(0, "123456789", 9);
	early_sw = rt_crc32c_sw(0, "123456789", 9);
}

Test(rt_crc32c, correct_when_called_from_an_earlier_constructor)
{
	cr_expect_eq(early_crc, 0xE3069283u, "got %08x", early_crc);
	cr_expect_eq(early_sw, 0xE3069283u, "got %08x", early_sw);
}
