/*
 * dataplane/net_dpdk/tcp_timer.c: TCP's clocks: the retransmission timer of RFC 6298 (SRTT and
 * RTTVAR in fixed point, RTO = SRTT + max(G, 4*RTTVAR) clamped to [rto_min, rto_max], doubled
 * on each expiry, the loss window of RFC 5681 after it; with SACK the holes are then resent
 * from the scoreboard instead of going back N), the tail loss probe (tcp_sack.c), delayed ACKs,
 * the persist timer that
 * probes a zero window, keepalive, TIME_WAIT and the orphaned FIN_WAIT_2 limit.
 *
 * Timers are absolute milliseconds in each connection (0 = stopped).  A wheel of 1 ms slots
 * finds the connections with something due: a connection sits in the slot of its earliest
 * timer, so a tick costs the slots passed plus the connections in them, not a scan of every
 * connection; stopping a timer is free and the wheel's visit then finds nothing.  Window probes and keepalives carry sequence
 * number SND.UNA-1 and no data (as Linux does): the peer answers with an ACK showing its
 * window, and no byte is ever sent beyond the window.
 */
#include <errno.h>

#include "dataplane/net_dpdk/stack_int.h"

void dp_tcp_arm_rto(struct dp_tcp_conn *c)
{
	dp_tcp_timer_set(c, &c->t_rto, c->st->now + c->rto);
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
		c->t_tlp = 0;
		c->tlp_out = false;
		st->stats.tcp_retransmits--; /* dp_tcp_output counts what it resends */
		if (c->sack_ok) {
			/* every unSACKed byte outstanding is lost; SACKed ones are not sent again unless
			 * this is a second expiry in a row, which may mean the peer reneged (RFC 2018) */
			if (c->backoff > 1)
				c->nsb = 0;
			c->loss_state = true;
			c->lost_hint = c->snd_max;
			c->high_rxt = c->snd_una;
		} else {
			c->snd_nxt = c->snd_una; /* go back N: resend from the first unacknowledged byte */
		}
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
	dp_tcp_timer_set(c, &c->t_persist, st->now + iv);
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
	dp_tcp_timer_set(c, &c->t_keep, st->now + st->cfg.keepalive_intvl_ms);
}

static bool due(uint64_t t, uint64_t now) { return t && t <= now; }

static void wheel_unlink(struct dp_tcp_conn *c)
{
	if (!c->wpprev)
		return;
	*c->wpprev = c->wnext;
	if (c->wnext)
		c->wnext->wpprev = c->wpprev;
	c->wnext = NULL;
	c->wpprev = NULL;
}

static void wheel_put(struct dp_tcp_conn *c, uint64_t when)
{
	struct dp_stack *st = c->st;
	wheel_unlink(c);
	c->wdue = when;
	/* a time already run goes to the next slot to run */
	uint64_t at = when > st->wheel_now ? when : st->wheel_now + 1;
	struct dp_tcp_conn **head = &st->wheel[at % DP_TCP_WHEEL];
	c->wnext = *head;
	if (*head)
		(*head)->wpprev = &c->wnext;
	c->wpprev = head;
	*head = c;
}

void dp_tcp_wheel_remove(struct dp_tcp_conn *c)
{
	wheel_unlink(c);
	c->wdue = 0;
}

void dp_tcp_timer_set(struct dp_tcp_conn *c, uint64_t *t, uint64_t when)
{
	*t = when;
	if (!c->wdue || when < c->wdue)
		wheel_put(c, when);
}

static uint64_t earliest(const struct dp_tcp_conn *c)
{
	uint64_t e = 0;
	const uint64_t ts[] = { c->t_rto, c->t_delack, c->t_persist, c->t_keep, c->t_2msl, c->t_tlp };
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
		if (ts[i] && (!e || ts[i] < e))
			e = ts[i];
	return e;
}

static void run_due(struct dp_tcp_conn *c, uint64_t now)
{
	if (due(c->t_2msl, now))
		dp_tcp_conn_done(c, 0);
	if (c->state != DP_TCP_CLOSED && due(c->t_delack, now))
		dp_tcp_send_ack(c);
	if (c->state != DP_TCP_CLOSED && due(c->t_rto, now))
		rto_expired(c);
	if (c->state != DP_TCP_CLOSED && due(c->t_tlp, now))
		dp_tcp_tlp_fire(c);
	if (c->state != DP_TCP_CLOSED && due(c->t_persist, now))
		persist_expired(c);
	if (c->state != DP_TCP_CLOSED && due(c->t_keep, now))
		keep_expired(c);
}

/* Runs the slots from the last one run up to now (each slot at most once per call).  A slot's
 * list is taken off the wheel first: callbacks may arm timers (into other slots, or the next
 * one) and free any connection, which then leaves the taken list through its wpprev. */
void dp_tcp_timers(struct dp_stack *st)
{
	uint64_t now = st->now;
	if (now <= st->wheel_now)
		return;
	uint64_t from = now - st->wheel_now > DP_TCP_WHEEL ? now - DP_TCP_WHEEL + 1 : st->wheel_now + 1;
	for (uint64_t t = from; t <= now; t++) {
		st->wheel_now = t;
		struct dp_tcp_conn *list = st->wheel[t % DP_TCP_WHEEL];
		st->wheel[t % DP_TCP_WHEEL] = NULL;
		if (list)
			list->wpprev = &list;
		while (list) {
			struct dp_tcp_conn *c = list;
			wheel_unlink(c);
			st->stats.tcp_timer_visits++;
			if (c->wdue > now) { /* a later lap */
				wheel_put(c, c->wdue);
				continue;
			}
			c->wdue = 0;
			dp_tcp_hold(c);
			run_due(c, now);
			uint64_t next = earliest(c);
			if (dp_tcp_release(c) && next && (!c->wdue || next < c->wdue))
				wheel_put(c, next);
		}
	}
	st->wheel_now = now;
}
