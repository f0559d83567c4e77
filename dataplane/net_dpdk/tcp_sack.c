/*
 * dataplane/net_dpdk/tcp_sack.c: the sender's side of SACK (RFC 2018, RFC 6675) and the tail
 * loss probe (RFC 8985 section 7), for connections whose peer offered SACK.
 *
 * The scoreboard (c->sb) holds the ranges the peer reported holding above SND.UNA.  An unSACKed
 * byte is lost when more than (DupThresh - 1) * SMSS bytes or DupThresh ranges are SACKed above
 * it (RFC 6675 IsLost), when it lies below lost_hint (the first hole at a partial ACK, every
 * byte outstanding at an RTO), or, for a flight of fewer than four segments with nothing new to
 * send, when the highest byte sent is SACKed (early retransmit, RFC 5827: so few segments cannot
 * make three duplicate ACKs).  Loss recovery sends while pipe < cwnd: lost holes first, from
 * high_rxt up, then new data; cwnd is set at each ACK by proportional rate reduction (RFC 6937),
 * so the flight shrinks to ssthresh in step with what the peer reports delivered.  A tail loss (no ACK at all comes back) is probed after about two
 * round trips instead of waiting for the RTO: the probe's ACK carries the SACK blocks that start
 * the recovery above, and when they show the probe itself arrived, every unSACKed byte sent
 * before it is taken as lost (RACK's reasoning, for the probe only: a segment sent later got
 * there, so without reordering the earlier ones will not).
 *
 * Invariants: sb[] is sorted, disjoint and non-touching, every range within (SND.UNA, SND.MAX];
 * a block that does not fit in DP_TCP_SB_MAX ranges is dropped (those bytes are then merely
 * retransmitted when they need not be).  Nothing here allocates.
 */
#include "dataplane/net_dpdk/stack_int.h"

#define DUPTHRESH 3
/* A lone segment's ACK may be delayed by the peer (Linux: 40 ms at least); its probe waits that
 * much longer than the two round trips of RFC 8985 (which allows 200 ms, but a spurious probe
 * costs one segment while a late one costs the client a stalled request). */
#define TLP_DELACK_MS 50

static uint32_t data_end(const struct dp_tcp_conn *c)
{
	return c->snd_una + (uint32_t)c->sq_bytes;
}

static uint32_t sb_len(const struct dp_tcp_conn *c, int i)
{
	return c->sb[i].end - c->sb[i].start;
}

/* Adds [s, e), merging the ranges it touches; dropped when it needs a range and none is left. */
static void sb_add(struct dp_tcp_conn *c, uint32_t s, uint32_t e)
{
	int i = 0;
	while (i < c->nsb && SEQ_LT(c->sb[i].end, s))
		i++;
	int j = i;
	while (j < c->nsb && SEQ_LEQ(c->sb[j].start, e)) {
		if (SEQ_LT(c->sb[j].start, s))
			s = c->sb[j].start;
		if (SEQ_GT(c->sb[j].end, e))
			e = c->sb[j].end;
		j++;
	}
	if (j == i) {
		if (c->nsb == DP_TCP_SB_MAX)
			return;
		memmove(&c->sb[i + 1], &c->sb[i], (size_t)(c->nsb - i) * sizeof c->sb[0]);
		c->nsb++;
	} else if (j > i + 1) {
		memmove(&c->sb[i + 1], &c->sb[j], (size_t)(c->nsb - j) * sizeof c->sb[0]);
		c->nsb = (uint8_t)(c->nsb - (j - i - 1));
	}
	c->sb[i].start = s;
	c->sb[i].end = e;
}

uint32_t dp_sack_update(struct dp_tcp_conn *c, const uint32_t (*blk)[2], int n, uint32_t ack)
{
	uint32_t una = SEQ_GT(ack, c->snd_una) ? ack : c->snd_una;
	uint32_t before = 0, after = 0;
	for (int k = 0; k < c->nsb; k++) {
		uint32_t a = SEQ_GT(c->sb[k].start, una) ? c->sb[k].start : una;
		if (SEQ_LT(a, c->sb[k].end))
			before += c->sb[k].end - a;
	}
	for (int i = 0; i < n; i++) {
		uint32_t s = blk[i][0], e = blk[i][1];
		if (!SEQ_LT(s, e))
			continue;
		if (SEQ_LEQ(e, ack)) { /* D-SACK: a duplicate arrived */
			if (i == 0 && c->tlp_out && c->tlp_rxt && SEQ_GT(e, c->tlp_seq))
				c->tlp_dsack = true;
			continue;
		}
		if (SEQ_GT(e, c->snd_max) || SEQ_LEQ(e, una))
			continue; /* reports what we never sent, or nothing above SND.UNA */
		if (SEQ_LT(s, una))
			s = una;
		sb_add(c, s, e);
	}
	/* bytes below the new SND.UNA leave with dp_sack_trim; count only those above it */
	for (int k = 0; k < c->nsb; k++) {
		uint32_t a = SEQ_GT(c->sb[k].start, una) ? c->sb[k].start : una;
		if (SEQ_LT(a, c->sb[k].end))
			after += c->sb[k].end - a;
	}
	uint32_t newly = after > before ? after - before : 0;
	c->st->stats.tcp_sacked_bytes += newly;
	return newly;
}

void dp_sack_trim(struct dp_tcp_conn *c)
{
	int k = 0;
	while (k < c->nsb && SEQ_LEQ(c->sb[k].end, c->snd_una))
		k++;
	if (k) {
		memmove(&c->sb[0], &c->sb[k], (size_t)(c->nsb - k) * sizeof c->sb[0]);
		c->nsb = (uint8_t)(c->nsb - k);
	}
	if (c->nsb && SEQ_LT(c->sb[0].start, c->snd_una))
		c->sb[0].start = c->snd_una;
}

/* Nothing new can go out: every queued byte was sent, or the peer's window is full. */
static bool nothing_new(const struct dp_tcp_conn *c)
{
	return SEQ_GEQ(c->snd_max, data_end(c)) || c->snd_wnd <= c->snd_max - c->snd_una;
}

/* Every unSACKed byte below the returned sequence number is lost. */
static uint32_t lost_end(const struct dp_tcp_conn *c)
{
	/* lost_hint and high_rxt mean something only inside a recovery (they start there) */
	bool rec = c->in_recovery || c->loss_state;
	uint32_t le = rec && SEQ_GT(c->lost_hint, c->snd_una) ? c->lost_hint : c->snd_una;
	uint32_t above = 0;
	for (int i = c->nsb - 1; i >= 0; i--) {
		above += sb_len(c, i);
		if (above > (DUPTHRESH - 1) * (uint32_t)c->snd_mss || c->nsb - i >= DUPTHRESH) {
			if (SEQ_GT(c->sb[i].start, le))
				le = c->sb[i].start;
			break;
		}
	}
	if (c->nsb) {
		uint32_t top = c->sb[c->nsb - 1].end, flight = c->snd_max - c->snd_una;
		bool top_sacked = top == c->snd_max || (c->fin_sent && top == c->fin_seq);
		if (top_sacked && flight < 4u * c->snd_mss && nothing_new(c) &&
		    SEQ_GT(c->sb[c->nsb - 1].start, le))
			le = c->sb[c->nsb - 1].start;
	}
	if (SEQ_GT(le, c->snd_max))
		le = c->snd_max;
	return le;
}

/* UnSACKed bytes in [a, b). */
static uint32_t unsacked(const struct dp_tcp_conn *c, uint32_t a, uint32_t b)
{
	if (!SEQ_LT(a, b))
		return 0;
	uint32_t n = b - a;
	for (int k = 0; k < c->nsb; k++) {
		uint32_t s = SEQ_GT(c->sb[k].start, a) ? c->sb[k].start : a;
		uint32_t e = SEQ_LT(c->sb[k].end, b) ? c->sb[k].end : b;
		if (SEQ_LT(s, e))
			n -= e - s;
	}
	return n;
}

uint32_t dp_sack_pipe(const struct dp_tcp_conn *c)
{
	uint32_t from = SEQ_GT(c->high_rxt, c->snd_una) ? c->high_rxt : c->snd_una;
	uint32_t out = unsacked(c, c->snd_una, c->snd_max);
	uint32_t lost = unsacked(c, from, lost_end(c));
	return out > lost ? out - lost : 0;
}

bool dp_sack_next_rxt(const struct dp_tcp_conn *c, uint32_t *seq, uint32_t *len)
{
	uint32_t le = lost_end(c);
	uint32_t s = SEQ_GT(c->high_rxt, c->snd_una) ? c->high_rxt : c->snd_una;
	int k = 0;
	for (; k < c->nsb && SEQ_LEQ(c->sb[k].start, s); k++)
		if (SEQ_GT(c->sb[k].end, s))
			s = c->sb[k].end;
	if (!SEQ_LT(s, le))
		return false;
	uint32_t lim = k < c->nsb ? c->sb[k].start : c->snd_max;
	uint32_t end = data_end(c);
	if (c->fin_sent && s == c->fin_seq) {
		*seq = s;
		*len = 1;
		return true;
	}
	if (SEQ_GT(lim, end))
		lim = end;
	uint32_t n = lim - s;
	*seq = s;
	*len = n < c->snd_mss ? n : c->snd_mss;
	return *len > 0;
}

void dp_sack_rxt_send(struct dp_tcp_conn *c, uint32_t seq, uint32_t len)
{
	uint32_t end = data_end(c);
	c->rtt_timing = false; /* Karn */
	c->st->stats.tcp_retransmits++;
	if (c->fin_sent && seq == c->fin_seq) {
		dp_tcp_send_segment(c, seq, TH_FIN | TH_ACK, 0);
	} else {
		if (len > end - seq)
			len = end - seq;
		dp_tcp_send_segment(c, seq, TH_ACK | (seq + len == end ? TH_PSH : 0), len);
	}
	if (c->in_recovery)
		c->prr_out += len;
	if (SEQ_GT(seq + len, c->high_rxt) || SEQ_LT(c->high_rxt, c->snd_una))
		c->high_rxt = seq + len;
}

void dp_sack_partial_ack(struct dp_tcp_conn *c)
{
	if (!c->nsb)
		return; /* what follows SND.UNA may still be on its way */
	if (SEQ_GT(c->sb[0].start, c->lost_hint))
		c->lost_hint = c->sb[0].start;
}

/* The tail loss probe arrived (a SACK block holds its first byte): every unSACKed byte sent
 * before it is lost, as RACK (RFC 8985) would conclude; 0 when that is not known. */
static uint32_t probe_delivered(const struct dp_tcp_conn *c)
{
	if (!c->tlp_out)
		return 0;
	for (int k = 0; k < c->nsb; k++)
		if (SEQ_LEQ(c->sb[k].start, c->tlp_seq) && SEQ_GT(c->sb[k].end, c->tlp_seq))
			return unsacked(c, c->snd_una, c->tlp_seq) ? c->tlp_seq : 0;
	return 0;
}

/* RFC 6937 with the slow-start reduction bound: while pipe is above ssthresh, sending follows
 * delivery at the ratio ssthresh / flight-at-the-start (about one segment for two delivered,
 * spread over the round trip, instead of none until pipe fell below cwnd and then a burst);
 * below it, pipe grows back to ssthresh no faster than slow start.  The ACK's sending budget
 * becomes cwnd = pipe + sndcnt, which dp_tcp_output spends. */
static void prr_ack(struct dp_tcp_conn *c, uint32_t delivered)
{
	uint32_t pipe = dp_sack_pipe(c), mss = c->snd_mss;
	c->prr_delivered += delivered;
	int64_t sndcnt;
	if (pipe > c->ssthresh) {
		uint64_t fs = c->recover_fs ? c->recover_fs : 1;
		sndcnt = (int64_t)(((uint64_t)c->prr_delivered * c->ssthresh + fs - 1) / fs) - c->prr_out;
	} else {
		int64_t limit = (int64_t)c->prr_delivered - c->prr_out;
		if (limit < (int64_t)delivered)
			limit = delivered;
		limit += mss;
		sndcnt = (int64_t)(c->ssthresh - pipe) < limit ? (int64_t)(c->ssthresh - pipe) : limit;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	if (c->prr_out == 0 && sndcnt < mss)
		sndcnt = mss; /* the fast retransmit goes whatever */
	c->cwnd = pipe + (uint32_t)sndcnt;
}

void dp_sack_check(struct dp_tcp_conn *c, uint32_t delivered)
{
	if (c->sack_ok && c->in_recovery && !c->loss_state) {
		prr_ack(c, delivered);
		return;
	}
	if (!c->sack_ok || c->in_recovery || c->loss_state || c->snd_una == c->snd_max)
		return;
	if (!SEQ_GEQ(c->snd_una, c->recover))
		return; /* RFC 6582: one reduction per window of data */
	uint32_t probe = probe_delivered(c);
	if (c->dupacks < DUPTHRESH && !probe && !unsacked(c, c->snd_una, lost_end(c)))
		return;
	struct dp_stack *st = c->st;
	uint32_t flight = c->snd_max - c->snd_una, half = flight / 2, mss = c->snd_mss;
	c->ssthresh = half > 2u * mss ? half : 2u * mss;
	c->recover = c->snd_max;
	c->in_recovery = true;
	c->recover_fs = flight;
	c->prr_delivered = c->prr_out = 0;
	c->tlp_out = false;
	c->t_tlp = 0;
	c->high_rxt = c->snd_una;
	/* the first hole is lost whatever the scoreboard says: the duplicate ACKs say so */
	uint32_t first = c->nsb ? c->sb[0].start : c->snd_una + mss;
	if (SEQ_GT(first, c->snd_una + mss))
		first = c->snd_una + mss;
	c->lost_hint = probe && SEQ_GT(probe, first) ? probe : first;
	st->stats.tcp_fast_retransmits++;
	st->stats.tcp_sack_recoveries++;
	prr_ack(c, delivered);
	uint32_t seq, len;
	if (dp_sack_next_rxt(c, &seq, &len)) /* sent whatever pipe says (RFC 6675 step 4.3) */
		dp_sack_rxt_send(c, seq, len);
	dp_tcp_arm_rto(c);
	dp_tcp_output(c);
}

/* ---- tail loss probe ---- */

void dp_tcp_tlp_arm(struct dp_tcp_conn *c)
{
	if (!c->sack_ok || !c->srtt8 || c->in_recovery || c->loss_state || c->tlp_out ||
	    c->snd_una == c->snd_max)
		return;
	uint32_t srtt = c->srtt8 >> 3;
	uint32_t pto = 2 * srtt + 2;
	if (c->snd_max - c->snd_una <= c->snd_mss)
		pto += TLP_DELACK_MS;
	if (pto >= c->rto)
		return; /* the RTO comes first anyway */
	dp_tcp_timer_set(c, &c->t_tlp, c->st->now + pto);
}

void dp_tcp_tlp_fire(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	c->t_tlp = 0;
	switch (c->state) {
	case DP_TCP_ESTABLISHED: case DP_TCP_CLOSE_WAIT: case DP_TCP_FIN_WAIT_1:
	case DP_TCP_LAST_ACK: case DP_TCP_CLOSING:
		break;
	default:
		return;
	}
	if (c->in_recovery || c->loss_state || c->tlp_out || c->snd_una == c->snd_max)
		return;
	uint32_t end = data_end(c), flight = c->snd_max - c->snd_una;
	st->stats.tcp_tlp_probes++;
	c->tlp_out = true;
	c->tlp_dsack = false;
	if (SEQ_LT(c->snd_nxt, end) && c->snd_wnd > flight) {
		/* new data as the probe: it may reveal a loss and costs nothing if none */
		uint32_t n = end - c->snd_nxt, room = c->snd_wnd - flight;
		if (n > room)
			n = room;
		if (n > c->snd_mss)
			n = c->snd_mss;
		c->tlp_rxt = false;
		c->tlp_seq = c->snd_nxt;
		dp_tcp_send_segment(c, c->snd_nxt, TH_ACK | (c->snd_nxt + n == end ? TH_PSH : 0), n);
		c->snd_nxt += n;
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
	} else {
		/* the last segment again, or the last one below SACKed data at the top */
		if (c->nsb && SEQ_LT(c->sb[c->nsb - 1].start, end) && SEQ_GEQ(c->sb[c->nsb - 1].end, end))
			end = c->sb[c->nsb - 1].start;
		uint32_t n = end - c->snd_una < c->snd_mss ? end - c->snd_una : c->snd_mss;
		uint8_t fl = n ? TH_ACK | TH_PSH : TH_ACK; /* n 0: a lone FIN outstanding */
		if (c->fin_sent && c->snd_max == c->fin_seq + 1 && end == data_end(c))
			fl |= TH_FIN;
		c->tlp_rxt = true;
		c->tlp_seq = end - n;
		c->rtt_timing = false;
		st->stats.tcp_retransmits++;
		dp_tcp_send_segment(c, end - n, fl, n);
	}
	c->tlp_high = c->snd_max;
	dp_tcp_arm_rto(c);
}

void dp_tcp_tlp_acked(struct dp_tcp_conn *c)
{
	if (!c->tlp_out || SEQ_LT(c->snd_una, c->tlp_high))
		return;
	c->tlp_out = false;
	if (!c->tlp_rxt || c->tlp_dsack || c->in_recovery || c->loss_state)
		return;
	uint32_t half = c->cwnd / 2, mss = c->snd_mss;
	c->ssthresh = half > 2u * mss ? half : 2u * mss;
	c->cwnd = c->ssthresh;
	c->st->stats.tcp_tlp_recoveries++;
}
