/*
 * dataplane/net_dpdk/ipv4.c: IPv4 in and out (RFC 791): header checks, the header checksum,
 * the choice of next hop (on-link or the gateway), and dispatch to ICMP and TCP.
 *
 * Fragments are dropped and counted: Ringtail's peers speak TCP with path-MTU-sized segments,
 * and reassembly would be buffer memory any sender could claim.  Options are skipped over.
 * Outgoing packets carry DF, TTL 64 and no options.
 */
#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

void dp_ip_input(struct dp_stack *st, const uint8_t *p, size_t len)
{
	if (len < DP_IP_HLEN || (p[0] >> 4) != 4) {
		st->stats.ip_bad_header++;
		return;
	}
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;
	size_t tot = rt_be16_get(p + 2);
	if (ihl < DP_IP_HLEN || ihl > len || tot < ihl || tot > len) {
		st->stats.ip_bad_header++;
		return;
	}
	if (!(st->rx_flags & DP_OFF_RX_CSUM_OK) && dp_csum_fold(dp_csum_add(0, p, ihl)) != 0) {
		st->stats.ip_bad_csum++;
		return;
	}
	uint32_t src = rt_be32_get(p + 12), dst = rt_be32_get(p + 16);
	if (dst != st->cfg.ip) {
		st->stats.ip_not_for_us++;
		return;
	}
	if (rt_be16_get(p + 6) & 0x3fff) { /* MF set or a non-zero offset */
		st->stats.ip_frags_dropped++;
		return;
	}
	/* A source that is a broadcast, multicast or our own address gets no answer. */
	if (src == 0 || src == 0xffffffffu || (src >> 28) == 0xe || src == st->cfg.ip) {
		st->stats.ip_bad_header++;
		return;
	}
	/* only after the checksum: a broken frame teaches nothing */
	if (st->rx_src_mac)
		dp_arp_glean(st, src, st->rx_src_mac);
	switch (p[9]) {
	case DP_IPPROTO_TCP:
		dp_tcp_input(st, src, dst, p + ihl, tot - ihl);
		break;
	case DP_IPPROTO_ICMP:
		dp_icmp_input(st, src, p + ihl, tot - ihl);
		break;
	default:
		st->stats.ip_bad_header++;
	}
}

int dp_ip_output(struct dp_stack *st, uint32_t dst, uint8_t proto, struct dp_pkt_tx *p)
{
	uint8_t *hdr = (uint8_t *)p->hdr; /* the caller's own scratch header */
	uint32_t nexthop = dst;
	if ((dst & st->cfg.netmask) != (st->cfg.ip & st->cfg.netmask)) {
		if (!st->cfg.gateway) {
			st->stats.ip_no_route++;
			return -EHOSTUNREACH;
		}
		nexthop = st->cfg.gateway;
	}
	rt_be16_put(hdr + 12, DP_ETH_P_IP);
	uint8_t *ip = hdr + DP_ETH_HLEN;
	ip[0] = 0x45;
	ip[1] = 0;
	rt_be16_put(ip + 2, (uint16_t)(DP_IP_HLEN + p->l4_len + p->payload_len));
	rt_be16_put(ip + 4, st->ip_id++);
	rt_be16_put(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	rt_be16_put(ip + 10, 0);
	rt_be32_put(ip + 12, st->cfg.ip);
	rt_be32_put(ip + 16, dst);
	p->l2_len = DP_ETH_HLEN;
	p->l3_len = DP_IP_HLEN;
	if (st->io.offload & DP_OFF_TX_IP_CSUM)
		p->flags |= DP_OFF_TX_IP_CSUM;
	else
		dp_csum_put(ip + 10, dp_csum_fold(dp_csum_add(0, ip, DP_IP_HLEN)));
	return dp_arp_output(st, nexthop, hdr, p);
}
