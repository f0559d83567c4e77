/*
 * dataplane/net_dpdk/arp.c: ARP for IPv4 over Ethernet (RFC 826): answers requests for our
 * address, resolves next hops with a timed cache, and holds the latest frame per unresolved
 * next hop until the answer comes (older ones are dropped; TCP retransmits them).
 *
 * The cache is a small array searched linearly (DP_ARP_SLOTS): a shard talks to its gateway
 * and a few on-link peers, not to thousands of neighbours.  A resolved entry is trusted for
 * arp_ttl_ms, then resolved again on next use; a request is retried each second, three times.
 */
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

#define ARP_LEN 28
#define ARP_RETRY_MS 1000
#define ARP_TRIES 3

static struct dp_arp_entry *find(struct dp_stack *st, uint32_t ip)
{
	for (int i = 0; i < DP_ARP_SLOTS; i++)
		if (st->arp[i].ip == ip)
			return &st->arp[i];
	return NULL;
}

static void drop_held(struct dp_arp_entry *e)
{
	free(e->held);
	e->held = NULL;
	e->held_len = 0;
}

/* A slot for ip: a free one, else the least recently used (its held frame is dropped). */
static struct dp_arp_entry *slot(struct dp_stack *st, uint32_t ip)
{
	struct dp_arp_entry *best = NULL;
	for (int i = 0; i < DP_ARP_SLOTS; i++) {
		struct dp_arp_entry *e = &st->arp[i];
		if (!e->ip) { best = e; break; }
		if (!best || e->used < best->used)
			best = e;
	}
	if (best->held)
		st->stats.arp_dropped++;
	drop_held(best);
	memset(best, 0, sizeof *best);
	best->ip = ip;
	best->used = st->now;
	return best;
}

static void send_arp(struct dp_stack *st, uint16_t op, const uint8_t *tha, uint32_t tip)
{
	uint8_t f[DP_ETH_HLEN + ARP_LEN];
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	memcpy(f, op == 1 ? bcast : tha, 6);
	memcpy(f + 6, st->cfg.mac, 6);
	rt_be16_put(f + 12, DP_ETH_P_ARP);
	uint8_t *a = f + DP_ETH_HLEN;
	rt_be16_put(a, 1);
	rt_be16_put(a + 2, DP_ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	rt_be16_put(a + 6, op);
	memcpy(a + 8, st->cfg.mac, 6);
	rt_be32_put(a + 14, st->cfg.ip);
	if (op == 1)
		memset(a + 18, 0, 6);
	else
		memcpy(a + 18, tha, 6);
	rt_be32_put(a + 24, tip);
	struct dp_pkt_tx p = {.hdr = f, .hdr_len = sizeof f, .l2_len = DP_ETH_HLEN};
	if (op == 1)
		st->stats.arp_requests_out++;
	else
		st->stats.arp_replies_out++;
	dp_eth_tx(st, &p);
}

static void learned(struct dp_stack *st, struct dp_arp_entry *e, const uint8_t *mac)
{
	memcpy(e->mac, mac, 6);
	if (!e->resolved)
		st->stats.arp_resolved++;
	e->resolved = true;
	e->expires = st->now + st->cfg.arp_ttl_ms;
	if (e->held) {
		memcpy(e->held, mac, 6);
		struct dp_pkt_tx p = {.hdr = e->held, .hdr_len = e->held_len, .l2_len = DP_ETH_HLEN,
		                      .l3_len = DP_IP_HLEN, .l4_len = 0,
		                      .flags = 0};
		/* the held copy carries finished checksums (see dp_arp_output) */
		dp_eth_tx(st, &p);
		drop_held(e);
	}
}

void dp_arp_input(struct dp_stack *st, const uint8_t *f, size_t len)
{
	if (len < DP_ETH_HLEN + ARP_LEN) {
		st->stats.eth_dropped++;
		return;
	}
	const uint8_t *a = f + DP_ETH_HLEN;
	if (rt_be16_get(a) != 1 || rt_be16_get(a + 2) != DP_ETH_P_IP || a[4] != 6 || a[5] != 4) {
		st->stats.eth_dropped++;
		return;
	}
	uint16_t op = rt_be16_get(a + 6);
	const uint8_t *sha = a + 8;
	uint32_t spa = rt_be32_get(a + 14);
	uint32_t tpa = rt_be32_get(a + 24);
	if (spa == 0 || (sha[0] & 1)) /* probes (RFC 5227) and multicast senders teach nothing */
		goto answer;
	struct dp_arp_entry *e = find(st, spa);
	if (e)
		learned(st, e, sha); /* RFC 826's merge: refresh what we already know */
	else if (tpa == st->cfg.ip)
		learned(st, slot(st, spa), sha);
answer:
	if (op == 1 && tpa == st->cfg.ip && st->cfg.ip) {
		st->stats.arp_requests_in++;
		send_arp(st, 2, sha, spa);
	}
}

int dp_arp_output(struct dp_stack *st, uint32_t nexthop, uint8_t *hdr, struct dp_pkt_tx *p)
{
	memcpy(hdr + 6, st->cfg.mac, 6);
	struct dp_arp_entry *e = find(st, nexthop);
	if (e && e->resolved && e->expires > st->now) {
		e->used = st->now;
		memcpy(hdr, e->mac, 6);
		return dp_eth_tx(st, p);
	}
	bool ask = false;
	if (!e) {
		e = slot(st, nexthop);
		ask = true;
	} else if (e->resolved) { /* expired: resolve again, and hold this frame meanwhile */
		e->resolved = false;
		e->tries = 0;
		ask = true;
	}
	/* Hold a flat copy with its checksums finished in software, so that the later send
	 * needs neither the payload's owner nor the device's offload. */
	size_t n = p->hdr_len + p->payload_len;
	uint8_t *h = malloc(n);
	if (h) {
		memcpy(h, hdr, p->hdr_len);
		size_t off = p->hdr_len;
		for (int i = 0; i < p->iovcnt; i++) {
			memcpy(h + off, p->iov[i].iov_base, p->iov[i].iov_len);
			off += p->iov[i].iov_len;
		}
		uint8_t *ip = h + DP_ETH_HLEN;
		if (p->flags & DP_OFF_TX_IP_CSUM) {
			rt_be16_put(ip + 10, 0);
			dp_csum_put(ip + 10, dp_csum_fold(dp_csum_add(0, ip, DP_IP_HLEN)));
		}
		if (p->flags & DP_OFF_TX_TCP_CSUM) {
			uint8_t *l4 = ip + DP_IP_HLEN;
			size_t l4n = n - DP_ETH_HLEN - DP_IP_HLEN;
			rt_be16_put(l4 + 16, 0);
			uint32_t s = dp_csum_pseudo(rt_be32_get(ip + 12), rt_be32_get(ip + 16), ip[9], (uint16_t)l4n);
			dp_csum_put(l4 + 16, dp_csum_fold(dp_csum_add(s, l4, l4n)));
		}
		if (e->held)
			st->stats.arp_dropped++;
		drop_held(e);
		e->held = h;
		e->held_len = (uint16_t)n;
	} else {
		st->stats.arp_dropped++;
	}
	e->used = st->now;
	if (ask) {
		e->tries = 1;
		e->expires = st->now + ARP_RETRY_MS;
		send_arp(st, 1, NULL, nexthop);
	}
	return 0;
}

void dp_arp_timers(struct dp_stack *st)
{
	for (int i = 0; i < DP_ARP_SLOTS; i++) {
		struct dp_arp_entry *e = &st->arp[i];
		if (!e->ip || e->resolved || e->expires > st->now)
			continue;
		if (e->tries >= ARP_TRIES) {
			if (e->held)
				st->stats.arp_dropped++;
			drop_held(e);
			memset(e, 0, sizeof *e);
			continue;
		}
		e->tries++;
		e->expires = st->now + ARP_RETRY_MS;
		send_arp(st, 1, NULL, e->ip);
	}
}

void dp_arp_glean(struct dp_stack *st, uint32_t src_ip, const uint8_t *src_mac)
{
	if (src_mac[0] & 1)
		return;
	uint32_t ip = src_ip;
	if ((src_ip & st->cfg.netmask) != (st->cfg.ip & st->cfg.netmask)) {
		if (!st->cfg.gateway)
			return;
		ip = st->cfg.gateway;
	}
	struct dp_arp_entry *e = find(st, ip);
	if (e && e->resolved && e->expires > st->now && memcmp(e->mac, src_mac, 6) == 0) {
		e->expires = st->now + st->cfg.arp_ttl_ms;
		return;
	}
	learned(st, e ? e : slot(st, ip), src_mac);
}

bool dp_arp_lookup(struct dp_stack *st, uint32_t ip, uint8_t mac[6])
{
	struct dp_arp_entry *e = find(st, ip);
	if (!e || !e->resolved || e->expires <= st->now)
		return false;
	memcpy(mac, e->mac, 6);
	return true;
}

void dp_arp_fini(struct dp_stack *st)
{
	for (int i = 0; i < DP_ARP_SLOTS; i++)
		drop_held(&st->arp[i]);
}
