/*
 * dataplane/net_dpdk/tcp_timer.c: TCP's clocks: the retransmission timer of RFC 6298 (SRTT and
 * RTTVAR in fixed point, RTO = SRTT + max(G, 4*RTTVAR) clamped to [rto_min, rto_max], doubled
 * on each expiry, the loss window of RFC 5681 after it), delayed ACKs, the persist timer that
 * probes a zero window, keepalive, TIME_WAIT and the orphaned FIN_WAIT_2 limit.
 *
 * Timers are absolute milliseconds in each connection (0 = stopped), checked by a scan of the
 * shard's connections on every tick: O(connections) per tick, which a timer wheel would replace
 * for hundreds of thousands of connections.  Window probes and keepalives carry sequence
 * number SND.UNA-1 and no data (as Linux does): the peer answers with an ACK showing its
 * window, and no byte is ever sent beyond the window.
 */
#include <errno.h>

#include "dataplane/net_dpdk/stack_int.h"

void dp_tcp_arm_rto(struct dp_tcp_conn *c)
{
	c->t_rto = c->st->now + c->rto;
}

void dp_tcp_rtt_sample(struct dp_tcp_conn *c, uint32_t r)
{
	const struct dp_stack_cfg *cfg = &c->st->cfg;
	if (r > 600000)
		return; /* an absurd sample (a timestamp echo from another life) */
	if (c->srtt8 == 0) {
		c->srtt8 = (r << 3) ? (r << 3) : 1;
		c->rttvar4 = r << 1;
	} else {
		int64_t delta = (int64_t)r - (c->srtt8 >> 3);
		int64_t ad = delta < 0 ? -delta : delta;
		c->rttvar4 = (uint32_t)((int64_t)c->rttvar4 + ad - (c->rttvar4 >> 2));
		int64_t s = (int64_t)c->srtt8 + delta;
		c->srtt8 = s > 0 ? (uint32_t)s : 1;
	}
	uint32_t var = c->rttvar4 > 1 ? c->rttvar4 : 1; /* 4*RTTVAR, at least G = 1 ms */
	uint32_t rto = (c->srtt8 >> 3) + var;
	if (rto < cfg->rto_min_ms)
		rto = cfg->rto_min_ms;
	if (rto > cfg->rto_max_ms)
		rto = cfg->rto_max_ms;
	c->rto = rto;
	c->backoff = 0;
}

static void send_probe(struct dp_tcp_conn *c)
{
	dp_tcp_send_segment(c, c->snd_una - 1, TH_ACK, 0);
}

static void rto_expired(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	c->t_rto = 0;
	st->stats.tcp_rto_expiries++;
	bool opening = c->state == DP_TCP_SYN_SENT || c->state == DP_TCP_SYN_RCVD;
	uint32_t limit = opening ? 6 : st->cfg.max_retries;
	if (++c->retries > limit) {
		if (c->state != DP_TCP_SYN_SENT)
			dp_tcp_send_segment(c, c->snd_nxt, TH_RST | TH_ACK, 0);
		dp_tcp_conn_done(c, -ETIMEDOUT);
		return;
	}
	c->backoff++;
	c->rto = c->rto * 2 > st->cfg.rto_max_ms ? st->cfg.rto_max_ms : c->rto * 2;
	c->rtt_timing = false;
	st->stats.tcp_retransmits++;
	if (c->state == DP_TCP_SYN_SENT) {
		dp_tcp_send_segment(c, c->iss, TH_SYN, 0);
	} else if (c->state == DP_TCP_SYN_RCVD) {
		dp_tcp_send_segment(c, c->iss, TH_SYN | TH_ACK, 0);
	} else {
		uint32_t flight = c->snd_max - c->snd_una;
		if (c->backoff == 1) {
			uint32_t half = flight / 2;
			c->ssthresh = half > 2u * c->snd_mss ? half : 2u * c->snd_mss;
		}
		c->cwnd = c->snd_mss;
		c->in_recovery = false;
		c->dupacks = 0;
		c->bytes_acked = 0;
		c->recover = c->snd_max;
		c->snd_nxt = c->snd_una; /* go back N: resend from the first unacknowledged byte */
		st->stats.tcp_retransmits--; /* dp_tcp_output counts what it resends */
		dp_tcp_output(c);
	}
	if (c->snd_max != c->snd_una || opening)
		dp_tcp_arm_rto(c);
}

static void persist_expired(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	c->t_persist = 0;
	if (c->snd_wnd != 0 || c->sq_bytes == 0) {
		dp_tcp_output(c);
		return;
	}
	st->stats.tcp_persist_probes++;
	send_probe(c);
	if (c->persist_backoff < 16)
		c->persist_backoff++;
	uint64_t iv = (uint64_t)c->rto << c->persist_backoff;
	if (iv > st->cfg.rto_max_ms)
		iv = st->cfg.rto_max_ms;
	c->t_persist = st->now + iv;
}

static void keep_expired(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	c->t_keep = 0;
	if (c->state != DP_TCP_ESTABLISHED && c->state != DP_TCP_CLOSE_WAIT)
		return;
	if (c->keep_probes >= st->cfg.keepalive_probes) {
		dp_tcp_send_segment(c, c->snd_nxt, TH_RST | TH_ACK, 0);
		dp_tcp_conn_done(c, -ETIMEDOUT);
		return;
	}
	c->keep_probes++;
	st->stats.tcp_keepalive_probes++;
	send_probe(c);
	c->t_keep = st->now + st->cfg.keepalive_intvl_ms;
}

static bool due(uint64_t t, uint64_t now) { return t && t <= now; }

void dp_tcp_timers(struct dp_stack *st)
{
	uint64_t now = st->now;
	for (struct dp_tcp_conn *c = st->conns, *next; c; c = next) {
		/* Hold the next one too: a callback may close (and free) any connection. */
		next = c->lnext;
		if (!(due(c->t_2msl, now) || due(c->t_delack, now) || due(c->t_rto, now) ||
		      due(c->t_persist, now) || due(c->t_keep, now)))
			continue;
		dp_tcp_hold(c);
		if (next)
			dp_tcp_hold(next);
		if (due(c->t_2msl, now))
			dp_tcp_conn_done(c, 0);
		if (c->state != DP_TCP_CLOSED && due(c->t_delack, now))
			dp_tcp_send_ack(c);
		if (c->state != DP_TCP_CLOSED && due(c->t_rto, now))
			rto_expired(c);
		if (c->state != DP_TCP_CLOSED && due(c->t_persist, now))
			persist_expired(c);
		if (c->state != DP_TCP_CLOSED && due(c->t_keep, now))
			keep_expired(c);
		dp_tcp_release(c);
		if (next && !dp_tcp_release(next)) {
			/* next was freed meanwhile: the list changed, start over (rare) */
			next = st->conns;
		}
	}
}
