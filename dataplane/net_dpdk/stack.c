/*
 * dataplane/net_dpdk/stack.c: an instance's life (create, destroy), the Ethernet layer (what is
 * ours, what goes to ARP or IPv4), the clock and the frame hand-off to the driver.
 *
 * Invariant: every frame that leaves goes through dp_eth_tx, which counts it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define DEF(f, v) do { if (!st->cfg.f) st->cfg.f = (v); } while (0)

struct dp_stack *dp_stack_create(const struct dp_stack_cfg *cfg, const struct dp_pktio *io,
                                 const struct dp_tcp_cb *cb)
{
	if (!cfg || !io || !io->tx)
		return NULL;
	struct dp_stack *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->cfg = *cfg;
	st->io = *io;
	if (cb)
		st->cb = *cb;
	DEF(mtu, 1500);
	DEF(rcvbuf, 256 * 1024);
	DEF(max_conns, 65536);
	DEF(rto_init_ms, 1000);
	DEF(rto_min_ms, 200);
	DEF(rto_max_ms, 60000);
	DEF(delack_ms, 40);
	DEF(time_wait_ms, 60000);
	DEF(fin_wait2_ms, 60000);
	DEF(keepalive_intvl_ms, 75000);
	DEF(keepalive_probes, 9);
	DEF(max_retries, 15);
	DEF(arp_ttl_ms, 60000);
	if (st->cfg.mtu < 576)
		st->cfg.mtu = 576;
	if (st->cfg.rcvbuf < 4096)
		st->cfg.rcvbuf = 4096;
	if (st->cfg.rcvbuf > (1u << 30))
		st->cfg.rcvbuf = 1u << 30;
	if (!st->cfg.isn_secret && getrandom(&st->cfg.isn_secret, sizeof st->cfg.isn_secret, 0) != 8)
		st->cfg.isn_secret = 0x5bd1e9955bd1e995ull;
	st->next_eph = 49152;
	st->ip_id = (uint16_t)st->cfg.isn_secret;
	return st;
}

void dp_stack_destroy(struct dp_stack *st)
{
	if (!st)
		return;
	while (st->conns) {
		struct dp_tcp_conn *c = st->conns;
		c->app_closed = true;
		c->dead_reported = true; /* no callbacks at shutdown */
		st->cb.sent = NULL;
		dp_tcp_conn_done(c, -ECONNABORTED);
	}
	while (st->listeners) {
		struct dp_tcp_listener *l = st->listeners;
		st->listeners = l->next;
		free(l);
	}
	dp_arp_fini(st);
	free(st);
}

const struct dp_stack_stats *dp_stack_stats(const struct dp_stack *st) { return &st->stats; }

void dp_stack_input(struct dp_stack *st, const void *frame, size_t len)
{
	dp_stack_input_flags(st, frame, len, 0);
}

void dp_stack_input_lend(struct dp_stack *st, void *frame, size_t len, unsigned flags, void *ref)
{
	st->rx_ref = ref;
	dp_stack_input_flags(st, frame, len, flags);
	st->rx_ref = NULL;
}

void dp_stack_input_flags(struct dp_stack *st, const void *frame, size_t len, unsigned flags)
{
	const uint8_t *f = frame;
	st->stats.rx_frames++;
	st->rx_flags = flags;
	if (len < DP_ETH_HLEN) {
		st->stats.eth_dropped++;
		return;
	}
	if (memcmp(f, st->cfg.mac, 6) != 0 && memcmp(f, bcast, 6) != 0) {
		st->stats.eth_dropped++;
		return;
	}
	switch (rt_be16_get(f + 12)) {
	case DP_ETH_P_ARP:
		dp_arp_input(st, f, len);
		break;
	case DP_ETH_P_IP:
		if (f[0] & 1) { /* IPv4 to a broadcast or multicast address is not for us */
			st->stats.eth_dropped++;
			break;
		}
		st->rx_src_mac = f + 6;
		dp_ip_input(st, f + DP_ETH_HLEN, len - DP_ETH_HLEN);
		break;
	default:
		st->stats.eth_dropped++; /* VLAN tags, IPv6, LLDP, ... */
	}
}

void dp_stack_tick(struct dp_stack *st, uint64_t now_ms)
{
	/* A polling shard ticks every round, millions of times a second; the timers are in whole
	 * milliseconds, so the ARP cache's scan (DP_ARP_SLOTS entries, ~40 ns) runs only when the
	 * millisecond moved (dp_tcp_timers checks that itself): every deadline is set in the future,
	 * so none is due within the millisecond it was set in. */
	if (now_ms <= st->now && st->ticked)
		return;
	if (now_ms > st->now)
		st->now = now_ms;
	st->ticked = true;
	dp_arp_timers(st);
	dp_tcp_timers(st);
}

static uint64_t min_t(uint64_t a, uint64_t t) { return t && t < a ? t : a; }

uint64_t dp_stack_next_timer(const struct dp_stack *st)
{
	uint64_t t = UINT64_MAX;
	for (int i = 0; i < DP_ARP_SLOTS; i++)
		if (st->arp[i].ip && !st->arp[i].resolved)
			t = min_t(t, st->arp[i].expires);
	for (const struct dp_tcp_conn *c = st->conns; c; c = c->lnext) {
		t = min_t(t, c->t_rto);
		t = min_t(t, c->t_delack);
		t = min_t(t, c->t_persist);
		t = min_t(t, c->t_keep);
		t = min_t(t, c->t_2msl);
		t = min_t(t, c->t_tlp);
	}
	return t;
}

int dp_eth_tx(struct dp_stack *st, struct dp_pkt_tx *p)
{
	int rc = st->io.tx(st->io.ctx, p);
	if (rc == 0)
		st->stats.tx_frames++;
	else
		st->stats.tx_nobufs++;
	return rc;
}
