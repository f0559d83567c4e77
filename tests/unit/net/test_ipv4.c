/*
 * tests/unit/net/test_ipv4.c: IPv4 input of dataplane/net_dpdk: bad versions, header lengths,
 * total lengths and checksums, fragments, other destinations and Ethernet frames not for us are
 * dropped and counted, and the stack answers a ping afterwards.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bytes.h"
#include "harness.h"

static struct h_bench B;
static void setup(void) { h_bench_init(&B, NULL); h_learn_peer(&B); }
static void teardown(void) { h_bench_fini(&B); }
TestSuite(dp_ip, .init = setup, .fini = teardown);

static const uint8_t echo[12] = {8, 0, 0xf7, 0xf5, 0, 1, 0, 2, 'p', 'i', 'n', 'g'};

static void still_answers_ping(void)
{
	uint8_t f[128], e[12];
	memcpy(e, echo, sizeof e);
	/* checksum of the echo request computed here */
	uint32_t s = 0;
	e[2] = e[3] = 0;
	for (int i = 0; i < 12; i += 2) s += (uint32_t)e[i] << 8 | e[i + 1];
	while (s >> 16) s = (s & 0xffff) + (s >> 16);
	s = ~s & 0xffff;
	e[2] = (uint8_t)(s >> 8);
	e[3] = (uint8_t)s;
	h_clear(&B);
	size_t n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, e, sizeof e, 0, false);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 1, "the stack keeps serving");
}

Test(dp_ip, bad_headers_are_dropped)
{
	uint8_t f[128];
	const struct dp_stack_stats *s = dp_stack_stats(B.st);
	size_t n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0, false);
	uint8_t g[128];
	memcpy(g, f, n); g[14] = 0x65;                         /* version 6 */
	dp_stack_input(B.st, g, n);
	memcpy(g, f, n); g[14] = 0x44;                         /* IHL 4 */
	dp_stack_input(B.st, g, n);
	memcpy(g, f, n); g[14] = 0x4f;                         /* IHL beyond the packet */
	dp_stack_input(B.st, g, n);
	memcpy(g, f, n); rt_be16_put(g + 16, 1000);            /* total length beyond the frame */
	dp_stack_input(B.st, g, n);
	memcpy(g, f, n); rt_be16_put(g + 16, 10);              /* total length below the header */
	dp_stack_input(B.st, g, n);
	dp_stack_input(B.st, f, 14 + 10);                      /* truncated header */
	cr_assert_eq(s->ip_bad_header, 6);
	cr_assert_eq(s->ip_bad_csum, 0, "header checks come before the checksum");
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0, true);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(s->ip_bad_csum, 1);
	cr_assert_eq(B.nout, 0);
	still_answers_ping();
}

Test(dp_ip, fragments_are_dropped)
{
	uint8_t f[128];
	size_t n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0x2000, false);  /* MF */
	dp_stack_input(B.st, f, n);
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0x0010, false);  /* offset 128 */
	dp_stack_input(B.st, f, n);
	cr_assert_eq(dp_stack_stats(B.st)->ip_frags_dropped, 2);
	cr_assert_eq(B.nout, 0);
	still_answers_ping();
}

Test(dp_ip, other_destinations_and_frames_are_ignored)
{
	uint8_t f[128];
	size_t n = h_build_ip(f, H_IP_PEER, H_IP_US + 1, 1, echo, sizeof echo, 0, false);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(dp_stack_stats(B.st)->ip_not_for_us, 1);
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0, false);
	f[0] = 0x02; f[5] = 0x77;                              /* another station's MAC */
	dp_stack_input(B.st, f, n);
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 1, echo, sizeof echo, 0, false);
	rt_be16_put(f + 12, 0x86dd);
	dp_stack_input(B.st, f, n);
	dp_stack_input(B.st, f, 10);                           /* runt */
	cr_assert_eq(dp_stack_stats(B.st)->eth_dropped, 3);
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 17, echo, sizeof echo, 0, false);  /* UDP */
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 0);
	still_answers_ping();
}

Test(dp_ip, trailing_ethernet_padding_is_ignored)
{
	struct h_tcp syn = H_TCP_INIT(.sport = 1, .dport = 2, .seq = 1, .flags = H_SYN);
	uint8_t f[128];
	size_t n = h_build_tcp(f, &syn);
	memset(f + n, 0xee, 20);
	dp_stack_input(B.st, f, n + 20);
	struct h_tcp r = h_last_tcp(&B);
	cr_assert_eq(r.flags, H_RST | H_ACK, "the padding is not taken as TCP bytes");
	cr_assert_eq(r.ack, 2);
}
