/*
 * tests/unit/net/test_arp.c: ARP of dataplane/net_dpdk: answers for our address only, learns
 * the asker, resolves a next hop while holding the frame, retries and gives up, expires the
 * cache, routes off-link traffic through the gateway, and drops malformed ARP.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bytes.h"
#include "harness.h"

static struct h_bench B;
static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero[6];

static void setup(void) { h_bench_init(&B, NULL); }
static void teardown(void) { h_bench_fini(&B); }
TestSuite(dp_arp, .init = setup, .fini = teardown);

static bool is_arp(size_t i, uint16_t op, uint32_t tpa)
{
	const uint8_t *f = B.out[i].b;
	return B.out[i].len == 42 && rt_be16_get(f + 12) == 0x0806 && rt_be16_get(f + 20) == op &&
	       rt_be32_get(f + 38) == tpa && memcmp(f + 6, H_MAC_US, 6) == 0 &&
	       memcmp(f + 22, H_MAC_US, 6) == 0 && rt_be32_get(f + 28) == H_IP_US;
}

Test(dp_arp, answers_a_request_for_our_address_and_learns_the_asker)
{
	uint8_t f[64];
	size_t n = h_build_arp(f, 1, H_MAC_PEER, H_IP_PEER, zero, H_IP_US, bc);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 1);
	cr_assert(is_arp(0, 2, H_IP_PEER));
	cr_assert(memcmp(B.out[0].b, H_MAC_PEER, 6) == 0, "the reply goes to the asker");
	cr_assert(memcmp(B.out[0].b + 32, H_MAC_PEER, 6) == 0);
	uint8_t mac[6];
	cr_assert(dp_arp_lookup(B.st, H_IP_PEER, mac));
	cr_assert(memcmp(mac, H_MAC_PEER, 6) == 0);
}

Test(dp_arp, ignores_requests_for_other_addresses)
{
	uint8_t f[64];
	size_t n = h_build_arp(f, 1, H_MAC_PEER, H_IP_PEER, zero, H_IP_US + 5, bc);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 0);
	uint8_t mac[6];
	cr_assert(!dp_arp_lookup(B.st, H_IP_PEER, mac), "a stranger's chatter is not cached");
}

Test(dp_arp, resolves_a_next_hop_and_sends_the_held_frame)
{
	dp_tcp_listen(B.st, 80, 4);
	struct h_tcp syn = H_TCP_INIT(.sport = 1111, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert_eq(B.nout, 1);
	cr_assert(is_arp(0, 1, H_IP_PEER), "the SYN-ACK waits for ARP");
	cr_assert(memcmp(B.out[0].b, bc, 6) == 0);
	h_clear(&B);
	uint8_t f[64];
	size_t n = h_build_arp(f, 2, H_MAC_PEER, H_IP_PEER, H_MAC_US, H_IP_US, H_MAC_US);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 1);
	struct h_tcp sa;
	cr_assert(h_parse_tcp(&B, 0, &sa), "the held SYN-ACK goes out, checksums intact");
	cr_assert_eq(sa.flags, H_SYN | H_ACK);
	cr_assert(memcmp(B.out[0].b, H_MAC_PEER, 6) == 0);
	cr_assert_eq(dp_stack_stats(B.st)->arp_resolved, 1);
}

Test(dp_arp, retries_each_second_then_gives_up)
{
	dp_tcp_listen(B.st, 80, 4);
	struct h_tcp syn = H_TCP_INIT(.sport = 1111, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	h_tick(&B, 999);
	cr_assert_eq(B.nout, 1);
	h_tick(&B, 1);
	cr_assert_eq(B.nout, 2);
	cr_assert(is_arp(1, 1, H_IP_PEER));
	h_tick(&B, 1000);
	cr_assert_eq(B.nout, 3);
	h_tick(&B, 1000);
	cr_assert_eq(B.nout, 4, "the SYN-ACK's own retransmission asks again");
	cr_assert_geq(dp_stack_stats(B.st)->arp_dropped, 1);
}

Test(dp_arp, cache_entries_expire)
{
	h_learn_peer(&B);
	uint8_t mac[6];
	cr_assert(dp_arp_lookup(B.st, H_IP_PEER, mac));
	h_tick(&B, 59999);
	cr_assert(dp_arp_lookup(B.st, H_IP_PEER, mac));
	h_tick(&B, 1);
	cr_assert(!dp_arp_lookup(B.st, H_IP_PEER, mac));
	/* traffic to an expired entry asks again */
	dp_tcp_listen(B.st, 80, 4);
	struct h_tcp syn = H_TCP_INIT(.sport = 1111, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert(is_arp(B.nout - 1, 1, H_IP_PEER));
}

Test(dp_arp, off_link_destinations_go_through_the_gateway)
{
	dp_tcp_listen(B.st, 80, 4);
	struct h_tcp syn = H_TCP_INIT(.src = 0xc0a80105u, .sport = 1111, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert(is_arp(B.nout - 1, 1, 0x0a0000feu), "asks for the gateway, not the remote host");
}

Test(dp_arp, malformed_arp_is_dropped)
{
	uint8_t f[64];
	size_t n = h_build_arp(f, 1, H_MAC_PEER, H_IP_PEER, zero, H_IP_US, bc);
	dp_stack_input(B.st, f, 30);          /* truncated */
	f[18] = 8;                            /* hardware address length 8 */
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 0);
	cr_assert_eq(dp_stack_stats(B.st)->eth_dropped, 2);
}
