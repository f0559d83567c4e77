/*
 * dataplane/net_dpdk/tcp_in.c: what TCP does with an arriving segment (RFC 9293 section 3.10.7,
 * with RFC 5961's challenge ACKs for resets and SYNs inside the window): header and checksum
 * checks, options, the listener (a bounded backlog of half-open connections), SYN_SENT, then
 * for synchronized states PAWS (RFC 7323), the sequence check, RST, SYN, ACK (RTT samples, the
 * peer's SACK blocks into the scoreboard of tcp_sack.c, congestion control of RFC 5681 with
 * RFC 6675 recovery when the peer offered SACK and NewReno (RFC 6582) when it did not, the peer's
 * window), data into the receive ring (out-of-order ranges kept, duplicates trimmed, and
 * reported in SACK blocks when the peer offered SACK), FIN.
 *
 * A segment never makes the stack allocate beyond one connection per SYN within the backlog,
 * and never writes outside the receive ring: data beyond the window is cut.
 */
#include <errno.h>
#include <string.h>

#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

/* RFC 7323 5.5: a TS.Recent not refreshed for 24 days may be from before the peer's clock
 * wrapped, so PAWS does not trust it. */
#define PAWS_IDLE_MS (24ull * 24 * 3600 * 1000)

struct seg {
	uint32_t seq, ack;
	uint32_t win;     /* as sent (unscaled) */
	uint8_t flags;
	const uint8_t *data;
	uint32_t len;
	bool has_mss, has_ws, has_ts, has_sackok;
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	int nsack;        /* SACK blocks (RFC 2018): [start, end) */
	uint32_t sack[4][2];
};

static bool parse_opts(const uint8_t *o, size_t n, struct seg *s)
{
	while (n) {
		uint8_t kind = o[0];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			n--;
			continue;
		}
		if (n < 2 || o[1] < 2 || o[1] > n)
			return false;
		uint8_t l = o[1];
		switch (kind) {
		case 2:
			if (l != 4) return false;
			s->has_mss = true;
			s->mss = rt_be16_get(o + 2);
			break;
		case 3:
			if (l != 3) return false;
			s->has_ws = true;
			s->ws = o[2] > 14 ? 14 : o[2];
			break;
		case 8:
			if (l != 10) return false;
			s->has_ts = true;
			s->tsval = rt_be32_get(o + 2);
			s->tsecr = rt_be32_get(o + 6);
			break;
		case 4:
			if (l != 2) return false;
			s->has_sackok = true;
			break;
		case 5: /* SACK blocks; a length that is not 2 + 8n makes them unusable, not the segment */
			if ((l - 2) % 8 == 0 && l > 2) {
				s->nsack = (l - 2) / 8 > 4 ? 4 : (l - 2) / 8;
				for (int i = 0; i < s->nsack; i++) {
					s->sack[i][0] = rt_be32_get(o + 2 + 8 * i);
					s->sack[i][1] = rt_be32_get(o + 6 + 8 * i);
				}
			}
			break;
		default: /* the rest: skipped */
			break;
		}
		o += l;
		n -= l;
	}
	return true;
}

static uint32_t initial_cwnd(uint32_t mss)
{
	uint32_t a = 10 * mss, b = 2 * mss > 14600 ? 2 * mss : 14600;
	return a < b ? a : b;
}

/* Options of the peer's SYN decide what both sides use. */
static void take_syn_options(struct dp_tcp_conn *c, const struct seg *s)
{
	struct dp_stack *st = c->st;
	c->peer_mss = s->has_mss ? s->mss : 536;
	if (c->peer_mss < 64)
		c->peer_mss = 64;
	if (s->has_ws) {
		c->ws_ok = true;
		c->snd_wscale = s->ws;
	} else {
		c->ws_ok = false;
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
		if (c->rcap > 65535)
			c->rcap = 65535; /* without scaling no more can be offered */
	}
	c->sack_ok = s->has_sackok;
	if (s->has_ts) {
		c->ts_ok = true;
		c->ts_recent = s->tsval;
		c->ts_recent_at = st->now;
	} else {
		c->ts_ok = false;
	}
	uint32_t mine = st->cfg.mtu - DP_IP_HLEN - DP_TCP_HLEN;
	uint32_t mss = c->peer_mss < mine ? c->peer_mss : mine;
	if (c->ts_ok)
		mss -= 12;
	c->snd_mss = (uint16_t)mss;
}

static void reset_reply(struct dp_stack *st, uint32_t src, uint32_t dst, uint16_t sport,
                        uint16_t dport, const struct seg *s)
{
	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK) {
		dp_tcp_send_rst_reply(st, src, dst, sport, dport, s->ack, 0, TH_RST);
	} else {
		uint32_t seglen = s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
		dp_tcp_send_rst_reply(st, src, dst, sport, dport, 0, s->seq + seglen, TH_RST | TH_ACK);
	}
}

static void listen_input(struct dp_stack *st, struct dp_tcp_listener *l, uint32_t src, uint32_t dst,
                         uint16_t sport, uint16_t dport, const struct seg *s)
{
	if (s->flags & TH_RST)
		return;
	if (s->flags & TH_ACK) {
		reset_reply(st, src, dst, sport, dport, s);
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	if (l->pending >= l->backlog) {
		st->stats.tcp_syn_backlog_drops++; /* the client retries its SYN */
		return;
	}
	struct dp_tcp_conn *c = dp_tcp_conn_new(st, dst, dport, src, sport);
	if (!c) {
		st->stats.tcp_syn_backlog_drops++;
		return;
	}
	c->lis = l;
	c->passive = true;
	l->pending++;
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	take_syn_options(c, s);
	c->snd_wnd = s->win; /* a SYN's window is never scaled */
	c->snd_wl1 = s->seq;
	c->iss = dp_tcp_isn(st, dst, dport, src, sport);
	c->snd_una = c->iss;
	c->snd_wl2 = c->iss;
	c->recover = c->iss;
	dp_tcp_set_state(c, DP_TCP_SYN_RCVD);
	dp_tcp_send_segment(c, c->iss, TH_SYN | TH_ACK, 0);
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->rtt_timing = true;
	c->rtt_seq = c->iss;
	c->rtt_start = st->now;
	dp_tcp_arm_rto(c);
}

static void rtt_from_ack(struct dp_tcp_conn *c, const struct seg *s)
{
	struct dp_stack *st = c->st;
	if (c->ts_ok && s->has_ts && s->tsecr) {
		uint32_t r = (uint32_t)st->now + c->ts_offset - s->tsecr;
		dp_tcp_rtt_sample(c, r);
		c->rtt_timing = false;
	} else if (c->rtt_timing && SEQ_GT(s->ack, c->rtt_seq)) {
		dp_tcp_rtt_sample(c, (uint32_t)(st->now - c->rtt_start));
		c->rtt_timing = false;
	}
}

static void keepalive_touch(struct dp_tcp_conn *c)
{
	c->keep_probes = 0;
	if (c->st->cfg.keepalive_idle_ms &&
	    (c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_CLOSE_WAIT))
		dp_tcp_timer_set(c, &c->t_keep, c->st->now + c->st->cfg.keepalive_idle_ms);
}

/* Both sides synchronized: from SYN_SENT (active) or SYN_RCVD. */
static bool become_established(struct dp_tcp_conn *c, const struct seg *s)
{
	if (!dp_tcp_rbuf_alloc(c)) {
		dp_tcp_send_segment(c, s->ack, TH_RST, 0);
		dp_tcp_conn_done(c, -ENOMEM);
		return false;
	}
	c->snd_una = s->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->snd_wnd = s->win << (s->flags & TH_SYN ? 0 : c->snd_wscale);
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	rtt_from_ack(c, s);
	c->t_rto = 0;
	c->retries = 0;
	c->cwnd = initial_cwnd(c->snd_mss);
	c->recover = c->snd_una;
	dp_tcp_set_state(c, DP_TCP_ESTABLISHED);
	keepalive_touch(c);
	return true;
}

static void syn_sent_input(struct dp_tcp_conn *c, const struct seg *s)
{
	struct dp_stack *st = c->st;
	bool ack_ok = false;
	if (s->flags & TH_ACK) {
		if (SEQ_LEQ(s->ack, c->iss) || SEQ_GT(s->ack, c->snd_max)) {
			if (!(s->flags & TH_RST))
				dp_tcp_send_rst_reply(st, c->raddr, c->laddr, c->rport, c->lport, s->ack, 0, TH_RST);
			return;
		}
		ack_ok = true;
	}
	if (s->flags & TH_RST) {
		if (ack_ok) {
			st->stats.tcp_rst_in++;
			dp_tcp_conn_done(c, -ECONNREFUSED);
		}
		return;
	}
	if (!(s->flags & TH_SYN))
		return;
	c->irs = s->seq;
	c->rcv_nxt = s->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	take_syn_options(c, s);
	if (ack_ok) {
		if (!become_established(c, s))
			return;
		dp_tcp_send_ack(c);
		if (st->cb.connected)
			st->cb.connected(st->cb.ctx, c, 0);
		if (c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_FIN_WAIT_1)
			dp_tcp_output(c);
	} else { /* simultaneous open */
		dp_tcp_set_state(c, DP_TCP_SYN_RCVD);
		c->snd_wnd = s->win;
		dp_tcp_send_segment(c, c->iss, TH_SYN | TH_ACK, 0);
	}
}

/* Keeps [start, end) in the sorted, disjoint list of out-of-order ranges.  False when full. */
static bool ooo_add(struct dp_tcp_conn *c, uint32_t start, uint32_t end)
{
	uint8_t i = 0;
	while (i < c->nooo && SEQ_LT(c->ooo[i].end, start))
		i++;
	/* merge every range that touches [start, end) */
	uint8_t j = i;
	while (j < c->nooo && SEQ_LEQ(c->ooo[j].start, end)) {
		if (SEQ_LT(c->ooo[j].start, start))
			start = c->ooo[j].start;
		if (SEQ_GT(c->ooo[j].end, end))
			end = c->ooo[j].end;
		j++;
	}
	if (j == i) { /* a new range at i */
		if (c->nooo == DP_TCP_OOO_MAX)
			return false;
		memmove(&c->ooo[i + 1], &c->ooo[i], (c->nooo - i) * sizeof c->ooo[0]);
		c->nooo++;
	} else if (j > i + 1) {
		memmove(&c->ooo[i + 1], &c->ooo[j], (c->nooo - j) * sizeof c->ooo[0]);
		c->nooo -= (uint8_t)(j - i - 1);
	}
	c->ooo[i].start = start;
	c->ooo[i].end = end;
	return true;
}

/* Remembers [start, end), data that arrived twice, for the next ACK's D-SACK block. */
static void note_dsack(struct dp_tcp_conn *c, uint32_t start, uint32_t end)
{
	if (!c->sack_ok || start == end)
		return;
	c->dsack = true;
	c->dsack_start = start;
	c->dsack_end = end;
}

/* True when [start, end) lies inside one out-of-order range already held. */
static bool ooo_holds(const struct dp_tcp_conn *c, uint32_t start, uint32_t end)
{
	for (uint8_t i = 0; i < c->nooo; i++)
		if (SEQ_GEQ(start, c->ooo[i].start) && SEQ_LEQ(end, c->ooo[i].end))
			return true;
	return false;
}

static void ring_write(struct dp_tcp_conn *c, uint32_t at, const uint8_t *p, uint32_t n)
{
	uint32_t pos = (c->rhead + at) % c->rcap;
	uint32_t first = c->rcap - pos < n ? c->rcap - pos : n;
	memcpy(c->rbuf + pos, p, first);
	if (n > first)
		memcpy(c->rbuf, p + first, n - first);
}

/* Data of a segment already trimmed to start at or after RCV.NXT and to fit the window.
 * Returns true when in-order bytes were added. */
static bool data_input(struct dp_tcp_conn *c, uint32_t seq, const uint8_t *p, uint32_t n, bool *ack_now)
{
	struct dp_stack *st = c->st;
	uint32_t at = c->rlen + (seq - c->rcv_nxt);
	if (seq != c->rcv_nxt) {
		st->stats.tcp_ooo_segments++;
		*ack_now = true; /* a duplicate ACK tells the sender about the hole */
		if (ooo_holds(c, seq, seq + n)) {
			st->stats.tcp_dup_segments++;
			note_dsack(c, seq, seq + n);
			c->sack_recent = seq; /* the block holding it follows the D-SACK block */
			return false;
		}
		if (ooo_add(c, seq, seq + n)) {
			ring_write(c, at, p, n);
			st->stats.tcp_rx_ring_bytes += n;
			c->sack_recent = seq;
		}
		return false;
	}
	if (st->rx_ref && st->cb.lend && !c->dtgt && c->rlen == 0 && c->nooo == 0 && !c->lis && !c->in_aq &&
	    st->cb.lend(st->cb.ctx, c, (uint8_t *)p, n, st->rx_ref)) {
		st->stats.tcp_rx_lent_bytes += n; /* no copy: the application holds the frame */
	} else if (c->dtgt && c->rlen == 0 && c->nooo == 0 && n <= c->dlen - c->dgot) {
		memcpy(c->dtgt + c->dgot, p, n); /* the ring is skipped: one copy less */
		c->dgot += n;
		st->stats.tcp_rx_direct_bytes += n;
	} else {
		ring_write(c, at, p, n);
		c->rlen += n;
		st->stats.tcp_rx_ring_bytes += n;
	}
	c->rcv_nxt += n;
	bool filled = false;
	while (c->nooo && SEQ_LEQ(c->ooo[0].start, c->rcv_nxt)) {
		if (SEQ_GT(c->ooo[0].end, c->rcv_nxt)) {
			c->rlen += c->ooo[0].end - c->rcv_nxt;
			c->rcv_nxt = c->ooo[0].end;
		}
		memmove(&c->ooo[0], &c->ooo[1], (c->nooo - 1) * sizeof c->ooo[0]);
		c->nooo--;
		filled = true;
	}
	if (filled || c->nooo)
		*ack_now = true; /* RFC 5681 4.2: ACK at once while a hole is being filled */
	else if (++c->delack_segs >= 2)
		*ack_now = true;
	else if (!c->t_delack)
		dp_tcp_timer_set(c, &c->t_delack, st->now + st->cfg.delack_ms);
	return true;
}

static void new_ack(struct dp_tcp_conn *c, const struct seg *s)
{
	uint32_t acked = s->ack - c->snd_una;
	uint64_t data_acked = acked < c->sq_bytes ? acked : c->sq_bytes;
	rtt_from_ack(c, s);
	c->snd_una = s->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	c->retries = 0;
	uint32_t mss = c->snd_mss;
	if (c->sack_ok)
		dp_sack_trim(c);
	if (c->in_recovery) {
		if (SEQ_GEQ(s->ack, c->recover)) {
			c->in_recovery = false;
			c->cwnd = c->ssthresh; /* RFC 6582: deflate on the full acknowledgment */
			c->dupacks = 0;
		} else if (c->sack_ok) {
			/* RFC 6675: cwnd stays at ssthresh; the next hole goes out from dp_tcp_output */
			dp_sack_partial_ack(c);
			dp_tcp_arm_rto(c);
		} else {
			/* partial acknowledgment: the next hole is lost too */
			dp_tcp_sq_ack(c, data_acked);
			data_acked = 0;
			if (c->state == DP_TCP_CLOSED)
				return;
			dp_tcp_retransmit_first(c);
			c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
			if (acked >= mss)
				c->cwnd += mss;
			if (c->cwnd < mss)
				c->cwnd = mss;
			dp_tcp_arm_rto(c);
		}
	} else {
		c->dupacks = 0;
		if (c->cwnd < c->ssthresh) {
			/* slow start, RFC 3465 with L = 2 SMSS: the peer ACKs every second segment */
			c->cwnd += acked < 2u * mss ? acked : 2u * mss;
		} else {
			c->bytes_acked += acked;
			if (c->bytes_acked >= c->cwnd) {
				c->bytes_acked -= c->cwnd;
				c->cwnd += mss;
			}
		}
		if (c->cwnd > (1u << 30))
			c->cwnd = 1u << 30;
	}
	if (c->loss_state && SEQ_GEQ(c->snd_una, c->recover))
		c->loss_state = false; /* every byte outstanding at the RTO is acknowledged */
	if (c->tlp_out)
		dp_tcp_tlp_acked(c);
	if (c->snd_una == c->snd_max) {
		c->t_rto = 0;
		c->t_tlp = 0;
	} else if (!c->in_recovery) {
		dp_tcp_arm_rto(c);
		dp_tcp_tlp_arm(c);
	}
	if (data_acked)
		dp_tcp_sq_ack(c, data_acked);
}

static void dup_ack(struct dp_tcp_conn *c, const struct seg *s)
{
	struct dp_stack *st = c->st;
	c->dupacks++;
	if (c->dupacks == 3 && !c->in_recovery && SEQ_GEQ(s->ack, c->recover)) {
		uint32_t flight = c->snd_max - c->snd_una;
		uint32_t half = flight / 2;
		c->ssthresh = half > 2u * c->snd_mss ? half : 2u * c->snd_mss;
		c->recover = c->snd_max;
		st->stats.tcp_fast_retransmits++;
		dp_tcp_retransmit_first(c);
		c->cwnd = c->ssthresh + 3u * c->snd_mss;
		c->in_recovery = true;
		dp_tcp_arm_rto(c);
	} else if (c->dupacks > 3 && c->in_recovery) {
		c->cwnd += c->snd_mss; /* each further duplicate: a segment has left the network */
		dp_tcp_output(c);
	}
}

static bool fin_acked(const struct dp_tcp_conn *c)
{
	return c->fin_sent && SEQ_GT(c->snd_una, c->fin_seq);
}

static void sync_input(struct dp_tcp_conn *c, const struct seg *s)
{
	struct dp_stack *st = c->st;
	uint32_t seglen = s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
	/* A retransmitted SYN in SYN_RCVD: our SYN-ACK was lost. */
	if (c->state == DP_TCP_SYN_RCVD && (s->flags & TH_SYN) && !(s->flags & (TH_ACK | TH_RST)) &&
	    s->seq == c->irs) {
		dp_tcp_send_segment(c, c->iss, TH_SYN | TH_ACK, 0);
		return;
	}
	/* PAWS (RFC 7323 5.3 R1), before the sequence check: a timestamp older than TS.Recent marks
	 * an old duplicate, possibly from a wrapped sequence space, that the window check would let
	 * in.  It gets an ACK and is dropped.  RSTs are exempt (5.2: they are acceptable whatever
	 * their timestamp); a TS.Recent idle for 24 days is void and replaced. */
	if (c->ts_ok && s->has_ts && !(s->flags & TH_RST) && (int32_t)(s->tsval - c->ts_recent) < 0) {
		if (st->now - c->ts_recent_at <= PAWS_IDLE_MS) {
			st->stats.tcp_paws_rejected++;
			dp_tcp_send_ack(c);
			return;
		}
		c->ts_recent = s->tsval;
		c->ts_recent_at = st->now;
	}
	/* 1. sequence number acceptable? */
	uint32_t wnd = c->rcap - c->rlen;
	bool ok;
	if (seglen == 0)
		ok = wnd == 0 ? s->seq == c->rcv_nxt
		              : SEQ_GEQ(s->seq, c->rcv_nxt) && SEQ_LT(s->seq, c->rcv_nxt + wnd);
	else
		ok = wnd != 0 && ((SEQ_GEQ(s->seq, c->rcv_nxt) && SEQ_LT(s->seq, c->rcv_nxt + wnd)) ||
		                  (SEQ_GEQ(s->seq + seglen - 1, c->rcv_nxt) &&
		                   SEQ_LT(s->seq + seglen - 1, c->rcv_nxt + wnd)));
	/* A zero window still takes ACKs, RSTs and window updates at RCV.NXT. */
	if (!ok && wnd == 0 && s->seq == c->rcv_nxt)
		ok = true;
	if (!ok) {
		st->stats.tcp_out_of_window++;
		if (seglen && SEQ_LT(s->seq + seglen, c->rcv_nxt + 1)) {
			st->stats.tcp_dup_segments++;
			note_dsack(c, s->seq, s->seq + s->len);
		}
		if (!(s->flags & TH_RST))
			dp_tcp_send_ack(c);
		if (c->state == DP_TCP_TIME_WAIT && (s->flags & TH_FIN))
			dp_tcp_timer_set(c, &c->t_2msl, st->now + st->cfg.time_wait_ms);
		return;
	}
	/* 2. RST: only an exact hit resets; others in the window get a challenge ACK. */
	if (s->flags & TH_RST) {
		if (s->seq != c->rcv_nxt) {
			st->stats.tcp_challenge_acks++;
			dp_tcp_send_ack(c);
			return;
		}
		st->stats.tcp_rst_in++;
		dp_tcp_conn_done(c, -ECONNRESET);
		return;
	}
	/* 3. SYN in a synchronized state: challenge ACK (RFC 5961 4.2). */
	if (s->flags & TH_SYN) {
		st->stats.tcp_challenge_acks++;
		dp_tcp_send_ack(c);
		return;
	}
	if (!(s->flags & TH_ACK))
		return;
	if (c->ts_ok && s->has_ts && SEQ_LEQ(s->seq, c->rcv_nxt) && (int32_t)(s->tsval - c->ts_recent) >= 0) {
		c->ts_recent = s->tsval;
		c->ts_recent_at = st->now;
	}
	keepalive_touch(c);

	/* 4. ACK */
	if (c->state == DP_TCP_SYN_RCVD) {
		if (SEQ_LEQ(s->ack, c->snd_una) || SEQ_GT(s->ack, c->snd_max)) {
			dp_tcp_send_rst_reply(st, c->raddr, c->laddr, c->rport, c->lport, s->ack, 0, TH_RST);
			return;
		}
		if (!become_established(c, s))
			return;
		if (c->passive) {
			dp_tcp_conn_established(c);
		} else {
			st->stats.tcp_conns_established++;
			if (st->cb.connected)
				st->cb.connected(st->cb.ctx, c, 0);
		}
		if (c->state == DP_TCP_CLOSED)
			return;
	} else {
		if (SEQ_GT(s->ack, c->snd_max)) {
			dp_tcp_send_ack(c); /* acknowledges what we never sent */
			return;
		}
		uint32_t win = s->win << c->snd_wscale;
		uint32_t newly = c->sack_ok && s->nsack ? dp_sack_update(c, s->sack, s->nsack, s->ack) : 0;
		uint32_t delivered = newly + (SEQ_GT(s->ack, c->snd_una) ? s->ack - c->snd_una : 0);
		if (SEQ_GT(s->ack, c->snd_una)) {
			new_ack(c, s);
			if (c->state == DP_TCP_CLOSED)
				return;
		} else if (c->sack_ok) {
			/* RFC 6675: an ACK that SACKs new data is a duplicate, whatever its window or
			 * payload (a peer whose window grows would otherwise never make three) */
			if (s->ack == c->snd_una && c->snd_max != c->snd_una && newly)
				c->dupacks++;
		} else if (s->ack == c->snd_una && s->len == 0 && !(s->flags & TH_FIN) &&
		           c->snd_max != c->snd_una && win == c->snd_wnd) {
			dup_ack(c, s);
			if (c->state == DP_TCP_CLOSED)
				return;
		}
		/* the peer's window: taken from the newest segment only (RFC 9293 SND.WL1/WL2) */
		if (SEQ_LT(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && SEQ_LEQ(c->snd_wl2, s->ack))) {
			if (c->snd_wnd == 0 && win)
				c->persist_backoff = 0;
			c->snd_wnd = win;
			c->snd_wl1 = s->seq;
			c->snd_wl2 = s->ack;
			if (win)
				c->t_persist = 0;
		}
		if (c->sack_ok) {
			dp_sack_check(c, delivered);
			if (c->state == DP_TCP_CLOSED)
				return;
		}
		bool our_fin_acked = fin_acked(c);
		if (our_fin_acked) {
			switch (c->state) {
			case DP_TCP_FIN_WAIT_1:
				dp_tcp_set_state(c, DP_TCP_FIN_WAIT_2);
				c->t_rto = 0;
				dp_tcp_timer_set(c, &c->t_2msl, st->now + st->cfg.fin_wait2_ms); /* orphaned: bounded */
				break;
			case DP_TCP_CLOSING:
				dp_tcp_enter_time_wait(c);
				break;
			case DP_TCP_LAST_ACK:
				dp_tcp_conn_done(c, 0);
				return;
			default:
				break;
			}
		}
		if (c->state == DP_TCP_TIME_WAIT) {
			if (s->flags & TH_FIN) {
				dp_tcp_send_ack(c);
				dp_tcp_timer_set(c, &c->t_2msl, st->now + st->cfg.time_wait_ms);
			}
			return;
		}
	}

	/* 5. data and 6. FIN */
	bool ack_now = false, readable = false;
	uint32_t seq = s->seq, n = s->len;
	const uint8_t *p = s->data;
	uint32_t fin_seq = s->seq + s->len;
	bool fin = (s->flags & TH_FIN) != 0;
	bool takes_data = c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_FIN_WAIT_1 ||
	                  c->state == DP_TCP_FIN_WAIT_2;
	if (n && takes_data) {
		if (SEQ_LT(seq, c->rcv_nxt)) { /* the front was seen before */
			uint32_t skip = c->rcv_nxt - seq;
			if (skip >= n) {
				st->stats.tcp_dup_segments++;
				note_dsack(c, seq, seq + n);
				n = 0;
				ack_now = true;
			} else {
				note_dsack(c, seq, c->rcv_nxt);
				ack_now = true; /* RFC 2883: the duplicate front is reported at once */
				p += skip;
				n -= skip;
				seq = c->rcv_nxt;
			}
		}
		uint32_t room = c->rcap - c->rlen;
		uint32_t off = seq - c->rcv_nxt;
		if (n && off + n > room) { /* cut what lies beyond the window */
			n = off < room ? room - off : 0;
			fin = false;
			ack_now = true;
		}
		if (n)
			readable = data_input(c, seq, p, n, &ack_now);
	}
	if (fin && takes_data && fin_seq == c->rcv_nxt) {
		c->rcv_nxt++;
		c->fin_rcvd = true;
		readable = true;
		ack_now = true;
		switch (c->state) {
		case DP_TCP_ESTABLISHED:
			dp_tcp_set_state(c, DP_TCP_CLOSE_WAIT);
			break;
		case DP_TCP_FIN_WAIT_1:
			dp_tcp_set_state(c, DP_TCP_CLOSING);
			break;
		case DP_TCP_FIN_WAIT_2:
			dp_tcp_enter_time_wait(c);
			break;
		default:
			break;
		}
	} else if (fin && takes_data) {
		ack_now = true; /* a FIN past a hole: ACK what we have; the peer sends it again */
	}
	if (ack_now)
		dp_tcp_send_ack(c);
	dp_tcp_output(c);
	if (readable && st->cb.readable && !c->in_aq && !c->lis)
		st->cb.readable(st->cb.ctx, c);
}

void dp_tcp_input(struct dp_stack *st, uint32_t src, uint32_t dst, const uint8_t *t, size_t len)
{
	if (len < DP_TCP_HLEN) {
		st->stats.tcp_bad_header++;
		return;
	}
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < DP_TCP_HLEN || doff > len) {
		st->stats.tcp_bad_header++;
		return;
	}
	if (!(st->rx_flags & DP_OFF_RX_CSUM_OK) &&
	    dp_csum_fold(dp_csum_add(dp_csum_pseudo(src, dst, DP_IPPROTO_TCP, (uint16_t)len), t, len)) != 0) {
		st->stats.tcp_bad_csum++;
		return;
	}
	struct seg s = {0};
	uint16_t sport = rt_be16_get(t), dport = rt_be16_get(t + 2);
	s.seq = rt_be32_get(t + 4);
	s.ack = rt_be32_get(t + 8);
	s.flags = t[13] & 0x3f;
	s.win = rt_be16_get(t + 14);
	s.data = t + doff;
	s.len = (uint32_t)(len - doff);
	if (!parse_opts(t + DP_TCP_HLEN, doff - DP_TCP_HLEN, &s)) {
		st->stats.tcp_bad_options++;
		return;
	}
	if (sport == 0 || dport == 0 ||
	    ((s.flags & TH_SYN) && (s.flags & (TH_FIN | TH_RST)))) {
		st->stats.tcp_bad_header++;
		return;
	}
	struct dp_tcp_conn *c = dp_tcp_lookup(st, dst, dport, src, sport);
	if (!c) {
		struct dp_tcp_listener *l = dp_tcp_find_listener(st, dport);
		if (l && (s.flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN)
			listen_input(st, l, src, dst, sport, dport, &s);
		else if (st->cfg.quiet_unknown && !(s.flags & TH_SYN))
			st->stats.tcp_unknown_dropped++;
		else if (l)
			listen_input(st, l, src, dst, sport, dport, &s);
		else
			reset_reply(st, src, dst, sport, dport, &s);
		return;
	}
	dp_tcp_hold(c);
	if (c->state == DP_TCP_SYN_SENT)
		syn_sent_input(c, &s);
	else if (c->state != DP_TCP_CLOSED)
		sync_input(c, &s);
	else /* dead, waiting for the application to close it */
		reset_reply(st, src, dst, sport, dport, &s);
	dp_tcp_release(c);
}
