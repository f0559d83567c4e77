/*
 * dataplane/net_dpdk/icmp.c: ICMP echo (RFC 792): a request with a valid checksum is answered
 * with the same identifier, sequence and data.  Every other ICMP message is counted and dropped
 * (path-MTU and unreachable messages are not acted on yet).
 */
#include <string.h>

#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

void dp_icmp_input(struct dp_stack *st, uint32_t src, const uint8_t *p, size_t len)
{
	if (len < 8 || p[0] != 8 || p[1] != 0 || dp_csum_fold(dp_csum_add(0, p, len)) != 0) {
		st->stats.icmp_dropped++;
		return;
	}
	if (len > (size_t)st->cfg.mtu - DP_IP_HLEN) {
		st->stats.icmp_dropped++;
		return;
	}
	uint8_t hdr[DP_ETH_HLEN + DP_IP_HLEN + 8];
	uint8_t *ic = hdr + DP_ETH_HLEN + DP_IP_HLEN;
	memcpy(ic, p, 8);
	ic[0] = 0; /* echo reply */
	rt_be16_put(ic + 2, 0);
	struct iovec iov = {.iov_base = (void *)(p + 8), .iov_len = len - 8};
	uint32_t s = dp_csum_add(0, ic, 8);
	s = dp_csum_add_iov(s, &iov, 1);
	dp_csum_put(ic + 2, dp_csum_fold(s));
	struct dp_pkt_tx pkt = {.hdr = hdr, .hdr_len = sizeof hdr, .iov = &iov, .iovcnt = 1,
	                        .payload_len = len - 8, .l4_len = 8};
	if (dp_ip_output(st, src, DP_IPPROTO_ICMP, &pkt) == 0)
		st->stats.icmp_echo_replied++;
}
