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

static int count_arp_requests(uint32_t tpa)
{
	int n = 0;
	for (size_t i = 0; i < B.nout; i++)
		n += is_arp(i, 1, tpa);
	return n;
}

#define H_IP_OTHER 0x0a000007u /* 10.0.0.7, on-link, never heard from */

Test(dp_arp, resolves_a_next_hop_and_sends_the_held_frame)
{
	cr_assert_not_null(dp_tcp_connect(B.st, H_IP_OTHER, 80));
	cr_assert_eq(B.nout, 1);
	cr_assert(is_arp(0, 1, H_IP_OTHER), "the SYN waits for ARP");
	cr_assert(memcmp(B.out[0].b, bc, 6) == 0);
	h_clear(&B);
	static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 0x07};
	uint8_t f[64];
	size_t n = h_build_arp(f, 2, other, H_IP_OTHER, H_MAC_US, H_IP_US, H_MAC_US);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(B.nout, 1);
	struct h_tcp syn;
	cr_assert(h_parse_tcp(&B, 0, &syn), "the held SYN goes out, checksums intact");
	cr_assert_eq(syn.flags, H_SYN);
	cr_assert_eq(syn.dst, H_IP_OTHER);
	cr_assert(memcmp(B.out[0].b, other, 6) == 0);
	cr_assert_eq(dp_stack_stats(B.st)->arp_resolved, 1);
}

Test(dp_arp, retries_each_second_then_gives_up)
{
	cr_assert_not_null(dp_tcp_connect(B.st, H_IP_OTHER, 80));
	h_tick(&B, 999);
	cr_assert_eq(count_arp_requests(H_IP_OTHER), 1);
	h_tick(&B, 1);
	cr_assert_eq(count_arp_requests(H_IP_OTHER), 2);
	h_tick(&B, 1000);
	cr_assert_eq(count_arp_requests(H_IP_OTHER), 3);
	h_tick(&B, 999);
	cr_assert_eq(count_arp_requests(H_IP_OTHER), 3, "three tries");
	cr_assert_geq(dp_stack_stats(B.st)->arp_dropped, 1, "the SYN's retransmission replaced the held SYN");
	h_tick(&B, 1);
	/* the entry was given up, and the SYN's next retransmission starts a new resolution */
	cr_assert_eq(count_arp_requests(H_IP_OTHER), 4);
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
	cr_assert_not_null(dp_tcp_connect(B.st, H_IP_PEER, 80));
	cr_assert(is_arp(B.nout - 1, 1, H_IP_PEER));
}

Test(dp_arp, off_link_destinations_go_through_the_gateway)
{
	cr_assert_not_null(dp_tcp_connect(B.st, 0xc0a80105u, 80));
	cr_assert(is_arp(B.nout - 1, 1, 0x0a0000feu), "asks for the gateway, not the remote host");
}

Test(dp_arp, ipv4_senders_are_gleaned_for_shards_that_saw_no_arp)
{
	/* with RSS, the ARP exchange may have gone to another shard's queue */
	dp_tcp_listen(B.st, 80, 4);
	struct h_tcp syn = H_TCP_INIT(.sport = 1111, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert_eq(B.nout, 1);
	struct h_tcp sa;
	cr_assert(h_parse_tcp(&B, 0, &sa), "the SYN-ACK goes out at once");
	cr_assert(memcmp(B.out[0].b, H_MAC_PEER, 6) == 0);
	/* an off-link sender teaches the gateway's address */
	h_clear(&B);
	struct h_tcp far = H_TCP_INIT(.src = 0xc0a80105u, .sport = 2222, .dport = 80, .seq = 1, .flags = H_SYN);
	h_send_tcp(&B, &far);
	cr_assert_eq(B.nout, 1);
	cr_assert(h_parse_tcp(&B, 0, &sa));
	cr_assert_eq(sa.dst, 0xc0a80105u);
	uint8_t mac[6];
	cr_assert(dp_arp_lookup(B.st, 0x0a0000feu, mac));
	/* a frame with a bad checksum teaches nothing */
	uint8_t f[128];
	uint8_t pl[20] = {0};
	size_t n = h_build_ip(f, 0x0a000009u, H_IP_US, 6, pl, sizeof pl, 0x4000, true);
	dp_stack_input(B.st, f, n);
	cr_assert(!dp_arp_lookup(B.st, 0x0a000009u, mac));
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
