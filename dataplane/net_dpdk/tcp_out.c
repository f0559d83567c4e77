/*
 * dataplane/net_dpdk/tcp_out.c: what TCP sends: segments with their options (MSS, window scale,
 * timestamps and SACK-permitted on SYNs; timestamps after, and SACK blocks on pure ACKs while
 * out-of-order data waits), the receive window we advertise, the send loop that
 * honours the peer's window and the congestion window (in SACK loss recovery: lost holes
 * first, then new data, while RFC 6675's pipe is below cwnd), and resets for segments nobody
 * owns.
 *
 * Payload is never copied: a segment's data is a list of pieces of the send queue handed to the
 * driver as iovecs.  Checksums are computed here unless the device offloads them, in which case
 * the TCP checksum field carries the pseudo-header sum the device completes.
 */
#include <string.h>

#include "base/bytes.h"
#include "dataplane/net_dpdk/stack_int.h"

#define OPT_MSS 2
#define OPT_WS 3
#define OPT_SACKOK 4
#define OPT_SACK 5
#define OPT_TS 8

uint32_t dp_tcp_rcv_window(const struct dp_tcp_conn *c)
{
	return c->rcap - c->rlen;
}

static int xmit(struct dp_stack *st, uint32_t laddr, uint32_t raddr, uint16_t lport, uint16_t rport,
                uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, const uint8_t *opts,
                size_t optlen, const struct iovec *iov, void *const *pins, int iovcnt, size_t paylen)
{
	uint8_t hdr[DP_HDR_MAX];
	uint8_t *th = hdr + DP_ETH_HLEN + DP_IP_HLEN;
	size_t thl = DP_TCP_HLEN + optlen;
	rt_be16_put(th, lport);
	rt_be16_put(th + 2, rport);
	rt_be32_put(th + 4, seq);
	rt_be32_put(th + 8, (flags & TH_ACK) ? ack : 0);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = flags;
	rt_be16_put(th + 14, win);
	rt_be16_put(th + 16, 0);
	rt_be16_put(th + 18, 0);
	if (optlen) /* a reset carries none: opts may be NULL, which memcpy may not take even for 0 */
		memcpy(th + DP_TCP_HLEN, opts, optlen);
	struct dp_pkt_tx p = {.hdr = hdr, .hdr_len = (uint16_t)(DP_ETH_HLEN + DP_IP_HLEN + thl),
	                      .l4_len = (uint8_t)thl, .iov = iov, .iovcnt = iovcnt, .payload_len = paylen,
	                      .iov_pin = (st->io.offload & DP_OFF_TX_PINS) ? pins : NULL};
	uint32_t sum = dp_csum_pseudo(laddr, raddr, DP_IPPROTO_TCP, (uint16_t)(thl + paylen));
	if (st->io.offload & DP_OFF_TX_TCP_CSUM) {
		p.flags |= DP_OFF_TX_TCP_CSUM;
		uint16_t ps = (uint16_t)~dp_csum_fold(sum); /* folded, not inverted */
		dp_csum_put(th + 16, ps);
	} else {
		sum = dp_csum_add(sum, th, thl);
		sum = dp_csum_add_iov(sum, iov, iovcnt);
		dp_csum_put(th + 16, dp_csum_fold(sum));
	}
	return dp_ip_output(st, raddr, DP_IPPROTO_TCP, &p);
}

static size_t put_ts(const struct dp_tcp_conn *c, uint8_t *o)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = OPT_TS;
	o[3] = 10;
	rt_be32_put(o + 4, (uint32_t)c->st->now + c->ts_offset);
	rt_be32_put(o + 8, c->ts_recent);
	return 12;
}

/* SACK blocks (RFC 2018) for the out-of-order ranges, in the room left in the options: a
 * duplicate's D-SACK block first (RFC 2883), then the range holding the newest segment, as the
 * RFC asks, then the others from the lowest.  Only on segments without data, whose size the MSS
 * does not have to account for. */
static size_t put_sack(const struct dp_tcp_conn *c, uint8_t *o, size_t room)
{
	if (room < 12 || (!c->nooo && !c->dsack))
		return 0;
	size_t max = (room - 4) / 8, n = 0;
	uint8_t *b = o + 4;
	if (c->dsack) {
		rt_be32_put(b, c->dsack_start);
		rt_be32_put(b + 4, c->dsack_end);
		n++;
	}
	int first = -1;
	for (int i = 0; i < c->nooo; i++)
		if (SEQ_GEQ(c->sack_recent, c->ooo[i].start) && SEQ_LT(c->sack_recent, c->ooo[i].end))
			first = i;
	o[0] = 1;
	o[1] = 1;
	o[2] = OPT_SACK;
	if (first >= 0 && n < max) {
		rt_be32_put(b + 8 * n, c->ooo[first].start);
		rt_be32_put(b + 8 * n + 4, c->ooo[first].end);
		n++;
	}
	for (int i = 0; i < c->nooo && n < max; i++) {
		if (i == first)
			continue;
		rt_be32_put(b + 8 * n, c->ooo[i].start);
		rt_be32_put(b + 8 * n + 4, c->ooo[i].end);
		n++;
	}
	o[3] = (uint8_t)(2 + 8 * n);
	return 4 + 8 * n;
}

int dp_tcp_send_segment(struct dp_tcp_conn *c, uint32_t seq, uint8_t flags, uint64_t data_len)
{
	struct dp_stack *st = c->st;
	uint8_t opts[40];
	size_t ol = 0;
	if (flags & TH_SYN) {
		uint16_t mss = (uint16_t)(st->cfg.mtu - DP_IP_HLEN - DP_TCP_HLEN);
		opts[ol++] = OPT_MSS;
		opts[ol++] = 4;
		rt_be16_put(opts + ol, mss);
		ol += 2;
		bool active = c->state == DP_TCP_SYN_SENT;
		if (active || c->ws_ok) {
			opts[ol++] = 1;
			opts[ol++] = OPT_WS;
			opts[ol++] = 3;
			opts[ol++] = c->rcv_wscale;
		}
		if (active || c->ts_ok)
			ol += put_ts(c, opts + ol);
		if (active || c->sack_ok) {
			opts[ol++] = 1;
			opts[ol++] = 1;
			opts[ol++] = OPT_SACKOK;
			opts[ol++] = 2;
		}
	} else if (!(flags & TH_RST)) {
		if (c->ts_ok)
			ol += put_ts(c, opts + ol);
		if (c->sack_ok && data_len == 0 && (flags & TH_ACK)) {
			ol += put_sack(c, opts + ol, sizeof opts - ol);
			c->dsack = false; /* reported once, as RFC 2883 asks */
		}
	}
	uint32_t wnd = dp_tcp_rcv_window(c);
	uint16_t win;
	if (flags & TH_SYN) {
		win = wnd > 65535 ? 65535 : (uint16_t)wnd;
	} else {
		uint32_t w = wnd >> (c->ws_ok ? c->rcv_wscale : 0);
		win = w > 65535 ? 65535 : (uint16_t)w;
		wnd = (uint32_t)win << (c->ws_ok ? c->rcv_wscale : 0);
	}
	struct iovec iov[DP_TCP_IOV_MAX];
	void *pins[DP_TCP_IOV_MAX];
	int iovcnt = 0;
	if (data_len) {
		uint64_t off = (uint32_t)(seq - c->snd_una);
		iovcnt = dp_tcp_sq_gather(c, off, &data_len, iov, pins);
	}
	if (flags & TH_ACK) {
		c->t_delack = 0;
		c->delack_segs = 0;
		if (SEQ_GT(c->rcv_nxt + wnd, c->rcv_adv) || !(flags & TH_SYN))
			c->rcv_adv = c->rcv_nxt + wnd;
	}
	if (flags & TH_RST)
		st->stats.tcp_rst_out++;
	return xmit(st, c->laddr, c->raddr, c->lport, c->rport, seq, c->rcv_nxt, flags, win, opts, ol,
	            iov, pins, iovcnt, (size_t)data_len);
}

void dp_tcp_send_ack(struct dp_tcp_conn *c)
{
	dp_tcp_send_segment(c, c->snd_nxt, TH_ACK, 0);
}

void dp_tcp_send_rst_reply(struct dp_stack *st, uint32_t src, uint32_t dst, uint16_t sport,
                           uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	st->stats.tcp_rst_out++;
	xmit(st, dst, src, dport, sport, seq, ack, flags, 0, NULL, 0, NULL, NULL, 0, 0);
}

static uint32_t data_end(const struct dp_tcp_conn *c)
{
	return c->snd_una + (uint32_t)c->sq_bytes;
}

void dp_tcp_retransmit_first(struct dp_tcp_conn *c)
{
	uint32_t end = data_end(c);
	c->rtt_timing = false; /* Karn: no sample from a retransmitted range */
	c->st->stats.tcp_retransmits++;
	if (c->snd_una == end) {
		if (c->fin_queued)
			dp_tcp_send_segment(c, c->snd_una, TH_FIN | TH_ACK, 0);
		return;
	}
	uint64_t n = end - c->snd_una;
	if (n > c->snd_mss)
		n = c->snd_mss;
	dp_tcp_send_segment(c, c->snd_una, TH_ACK | TH_PSH, n);
}

void dp_tcp_output(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	switch (c->state) {
	case DP_TCP_ESTABLISHED: case DP_TCP_CLOSE_WAIT: case DP_TCP_FIN_WAIT_1:
	case DP_TCP_LAST_ACK: case DP_TCP_CLOSING:
		break;
	default:
		return;
	}
	bool sack_rec = c->sack_ok && (c->in_recovery || c->loss_state);
	for (;;) {
		uint32_t end = data_end(c);
		/* in SACK recovery what is in the network is the pipe, not SND.NXT - SND.UNA */
		uint32_t flight = sack_rec ? dp_sack_pipe(c) : c->snd_nxt - c->snd_una;
		if (sack_rec) {
			uint32_t seq, len;
			if (flight >= c->cwnd)
				return;
			if (dp_sack_next_rxt(c, &seq, &len)) {
				if (c->cwnd - flight < len && c->cwnd - flight < c->snd_mss)
					return;
				dp_sack_rxt_send(c, seq, len);
				continue;
			}
		}
		if (SEQ_LT(c->snd_nxt, end)) {
			uint64_t unsent = end - c->snd_nxt;
			if (c->snd_wnd == 0) {
				if (!c->t_rto && !c->t_persist && c->snd_max == c->snd_una) {
					c->persist_backoff = 0;
					dp_tcp_timer_set(c, &c->t_persist, st->now + c->rto);
				}
				return;
			}
			uint32_t sent = c->snd_nxt - c->snd_una; /* the peer's window counts every byte */
			uint64_t n = c->cwnd > flight ? c->cwnd - flight : 0;
			if (n > (c->snd_wnd > sent ? c->snd_wnd - sent : 0))
				n = c->snd_wnd > sent ? c->snd_wnd - sent : 0;
			if (n > unsent)
				n = unsent;
			if (n > c->snd_mss)
				n = c->snd_mss;
			if (n == 0) {
				if (!c->t_rto && !c->t_persist && c->snd_max == c->snd_una) {
					c->persist_backoff = 0;
					dp_tcp_timer_set(c, &c->t_persist, st->now + c->rto);
				}
				return;
			}
			/* sender-side silly window avoidance: no small segment while others are in flight
			 * unless it ends the queue or fills half the peer's window */
			if (n < c->snd_mss && n < unsent && flight && n < c->snd_wnd / 2)
				return;
			bool fresh = SEQ_GEQ(c->snd_nxt, c->snd_max);
			uint8_t flags = TH_ACK | (n == unsent ? TH_PSH : 0);
			if (!fresh)
				st->stats.tcp_retransmits++;
			dp_tcp_send_segment(c, c->snd_nxt, flags, n);
			if (sack_rec && c->in_recovery)
				c->prr_out += (uint32_t)n;
			if (fresh && !c->ts_ok && !c->rtt_timing) {
				c->rtt_timing = true;
				c->rtt_seq = c->snd_nxt;
				c->rtt_start = st->now;
			}
			c->snd_nxt += (uint32_t)n;
			if (SEQ_GT(c->snd_nxt, c->snd_max))
				c->snd_max = c->snd_nxt;
			c->t_persist = 0;
			if (!c->t_rto)
				dp_tcp_arm_rto(c);
			if (fresh)
				dp_tcp_tlp_arm(c);
			continue;
		}
		if (c->fin_queued && c->snd_nxt == end) {
			bool fresh = SEQ_GEQ(c->snd_nxt, c->snd_max);
			c->fin_sent = true;
			c->fin_seq = end;
			dp_tcp_send_segment(c, c->snd_nxt, TH_FIN | TH_ACK, 0);
			c->snd_nxt++;
			if (SEQ_GT(c->snd_nxt, c->snd_max))
				c->snd_max = c->snd_nxt;
			c->t_persist = 0;
			if (!c->t_rto)
				dp_tcp_arm_rto(c);
			/* a FIN is a tail too: alone (its data acknowledged) nothing else would probe it,
			 * and a lost one waited for the RTO */
			if (fresh)
				dp_tcp_tlp_arm(c);
		}
		return;
	}
}
