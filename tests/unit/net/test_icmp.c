/*
 * tests/unit/net/test_icmp.c: ICMP echo of dataplane/net_dpdk: the reply mirrors identifier,
 * sequence and data with a valid checksum (odd lengths too); bad checksums, truncated messages
 * and other ICMP types get nothing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bytes.h"
#include "harness.h"

static struct h_bench B;
static void setup(void) { h_bench_init(&B, NULL); h_learn_peer(&B); }
static void teardown(void) { h_bench_fini(&B); }
TestSuite(dp_icmp, .init = setup, .fini = teardown);

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1) s += (uint32_t)p[n - 1] << 8;
	while (s >> 16) s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static size_t echo_req(uint8_t *m, size_t datalen, uint8_t type)
{
	m[0] = type; m[1] = 0; m[2] = m[3] = 0;
	rt_be16_put(m + 4, 0x1234);
	rt_be16_put(m + 6, 7);
	for (size_t i = 0; i < datalen; i++)
		m[8 + i] = (uint8_t)(i * 3 + 1);
	rt_be16_put(m + 2, csum(m, 8 + datalen));
	return 8 + datalen;
}

static void check_reply(size_t datalen)
{
	uint8_t m[1500], f[1600];
	size_t n = echo_req(m, datalen, 8);
	h_clear(&B);
	size_t fl = h_build_ip(f, H_IP_PEER, H_IP_US, 1, m, n, 0, false);
	dp_stack_input(B.st, f, fl);
	cr_assert_eq(B.nout, 1);
	const uint8_t *o = B.out[0].b;
	cr_assert_eq(B.out[0].len, 34 + n);
	cr_assert(memcmp(o, H_MAC_PEER, 6) == 0);
	cr_assert_eq(csum(o + 14, 20), 0, "IPv4 header checksum");
	cr_assert_eq(rt_be32_get(o + 26), H_IP_US);
	cr_assert_eq(rt_be32_get(o + 30), H_IP_PEER);
	const uint8_t *r = o + 34;
	cr_assert_eq(r[0], 0, "echo reply");
	cr_assert_eq(csum(r, n), 0, "ICMP checksum over %zu bytes", n);
	cr_assert(memcmp(r + 4, m + 4, n - 4) == 0, "identifier, sequence and data mirrored");
}

Test(dp_icmp, echo_request_is_answered)
{
	check_reply(56);
	check_reply(1);
	check_reply(1472 - 8 + 8 - 8); /* the largest that fits the MTU */
	cr_assert_eq(dp_stack_stats(B.st)->icmp_echo_replied, 3);
}

Test(dp_icmp, bad_echo_and_other_types_get_nothing)
{
	uint8_t m[64], f[128];
	size_t n = echo_req(m, 20, 8);
	m[10] ^= 1; /* checksum no longer matches */
	size_t fl = h_build_ip(f, H_IP_PEER, H_IP_US, 1, m, n, 0, false);
	dp_stack_input(B.st, f, fl);
	n = echo_req(m, 20, 0); /* an echo reply is not answered */
	fl = h_build_ip(f, H_IP_PEER, H_IP_US, 1, m, n, 0, false);
	dp_stack_input(B.st, f, fl);
	fl = h_build_ip(f, H_IP_PEER, H_IP_US, 1, m, 4, 0, false); /* truncated */
	dp_stack_input(B.st, f, fl);
	cr_assert_eq(B.nout, 0);
	cr_assert_eq(dp_stack_stats(B.st)->icmp_dropped, 3);
}
