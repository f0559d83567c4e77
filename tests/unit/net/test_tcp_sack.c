/*
 * tests/unit/net/test_tcp_sack.c: the sender's side of SACK in dataplane/net_dpdk (tcp_sack.c)
 * against a scripted peer that offered SACK: the peer's blocks start RFC 6675 recovery (also
 * when its window changes from ACK to ACK), only the holes are resent, a small flight recovers
 * without three duplicate ACKs, an RTO resends the unSACKed bytes only, a tail loss is probed
 * before the RTO (and a probe that arrived marks what was sent before it lost), and blocks that
 * make no sense are ignored.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

#define PORT 9092
#define SPORT 40100
#define MSS 1448  /* 1460 offered, less 12 for timestamps */

static struct h_bench B;
static struct dp_tcp_conn *C;
static uint32_t pseq, una0;  /* the peer's next sequence number; our first data byte */
static uint16_t pwin = 512;  /* << 7: 64 KiB */

/* A connection whose SYN offered SACK, timestamps and window scaling. */
static void setup(void)
{
	h_bench_init(&B, NULL);
	h_learn_peer(&B);
	cr_assert_not_null(dp_tcp_listen(B.st, PORT, 16));
	uint32_t isn = 5000000;
	struct h_tcp syn = H_TCP_INIT(.sport = SPORT, .dport = PORT, .seq = isn, .flags = H_SYN, .mss = 1460,
	                              .ws = 7, .ts = true, .tsval = 1, .sackok = true);
	h_send_tcp(&B, &syn);
	struct h_tcp sa = h_last_tcp(&B);
	cr_assert(sa.sackok);
	h_tick(&B, 10); /* a 10 ms round trip: the probe timer has an SRTT to work from */
	struct h_tcp ack = H_TCP_INIT(.sport = SPORT, .dport = PORT, .seq = isn + 1, .ack = sa.seq + 1,
	                              .flags = H_ACK, .win = pwin, .ts = true, .tsval = 2, .tsecr = sa.tsval);
	h_send_tcp(&B, &ack);
	cr_assert_eq(B.naccepted, 1);
	C = B.accepted[0];
	pseq = isn + 1;
	una0 = sa.seq + 1;
	h_clear(&B);
}

static void teardown(void) { h_bench_fini(&B); }

TestSuite(dp_tcp_sack, .init = setup, .fini = teardown);

/* An ACK from the peer at segment ack_seg (MSS-sized segments counted from una0) with SACK
 * blocks [from, to) in segments; nblk pairs in blk.  Without a timestamp, so that it gives no
 * RTT sample and SRTT stays at the handshake's 10 ms. */
static void pack(uint32_t ack_seg, uint16_t win, int nblk, const int (*blk)[2])
{
	struct h_tcp t = H_TCP_INIT(.sport = SPORT, .dport = PORT, .seq = pseq, .ack = una0 + ack_seg * MSS,
	                            .flags = H_ACK, .win = win, .nsack = nblk);
	for (int i = 0; i < nblk; i++) {
		t.sack[i][0] = una0 + (uint32_t)blk[i][0] * MSS;
		t.sack[i][1] = una0 + (uint32_t)blk[i][1] * MSS;
	}
	h_send_tcp(&B, &t);
}

static uint8_t D[64 * MSS];

static uint64_t unacked(void)
{
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	return in.unacked_bytes;
}

static void send_segs(int n)
{
	struct iovec iov = {D, (size_t)n * MSS};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, (void *)0x5), 0);
}

/* Which segments (by index from una0) the stack sent since the last h_clear, in order. */
static int sent_segs(int *idx, int max)
{
	int n = 0;
	struct h_tcp t;
	for (size_t i = 0; i < B.nout && n < max; i++)
		if (h_parse_tcp(&B, i, &t) && t.len)
			idx[n++] = (int)((t.seq - una0) / MSS);
	return n;
}

Test(dp_tcp_sack, blocks_start_recovery_and_only_the_holes_are_resent)
{
	send_segs(10);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 10);
	h_clear(&B);
	/* segments 0 and 4 lost: the peer holds 1-3 and 5-9 */
	const int b1[][2] = {{1, 2}};
	pack(0, pwin, 1, b1);
	cr_assert_eq(B.nout, 0, "one block of one segment proves nothing yet");
	const int b2[][2] = {{1, 4}};
	pack(0, pwin, 1, b2);
	int idx[16];
	int n = sent_segs(idx, 16);
	cr_assert_eq(n, 1, "three segments SACKed above the first hole: it is lost (sent %d)", n);
	cr_assert_eq(idx[0], 0);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert(in.in_recovery);
	cr_assert_eq(in.ssthresh, 5 * MSS, "half the flight");
	h_clear(&B);
	const int b3[][2] = {{5, 10}, {1, 4}};
	pack(0, pwin, 2, b3);
	n = sent_segs(idx, 16);
	cr_assert_eq(n, 1, "the second hole goes out as pipe allows (sent %d)", n);
	cr_assert_eq(idx[0], 4, "segment 4, not %d", idx[0]);
	h_clear(&B);
	/* the first retransmission arrives: a partial ACK, nothing else to resend */
	const int b4[][2] = {{5, 10}};
	pack(4, pwin, 1, b4);
	cr_assert_eq(sent_segs(idx, 16), 0, "no SACKed segment is sent again");
	pack(10, pwin, 0, NULL);
	dp_tcp_get_info(C, &in);
	cr_assert(!in.in_recovery);
	cr_assert_eq(in.cwnd, 5 * MSS);
	cr_assert_eq(B.nsent, 1);
	const struct dp_stack_stats *st = dp_stack_stats(B.st);
	cr_assert_eq(st->tcp_sack_recoveries, 1);
	cr_assert_eq(st->tcp_retransmits, 2);
	cr_assert_eq(st->tcp_sacked_bytes, 8u * MSS);
	cr_assert_eq(st->tcp_rto_expiries, 0);
}

Test(dp_tcp_sack, acks_that_sack_new_data_count_as_duplicates_though_the_window_grows)
{
	send_segs(10);
	h_clear(&B);
	/* Linux grows its window from ACK to ACK; RFC 5681 would not count these as duplicates */
	for (int i = 0; i < 2; i++) {
		const int b[][2] = {{2, 3 + i}};
		pack(0, (uint16_t)(pwin + 8 * (i + 1)), 1, b);
		cr_assert_eq(B.nout, 0);
	}
	const int b[][2] = {{2, 5}};
	pack(0, (uint16_t)(pwin + 24), 1, b);
	int idx[4];
	cr_assert_eq(sent_segs(idx, 4), 1);
	cr_assert_eq(idx[0], 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_fast_retransmits, 1);
}

Test(dp_tcp_sack, a_small_flight_recovers_without_three_duplicates)
{
	send_segs(2);
	h_clear(&B);
	/* segment 0 lost, 1 arrived: one duplicate ACK is all a two-segment flight can make */
	const int b[][2] = {{1, 2}};
	pack(0, pwin, 1, b);
	int idx[4];
	cr_assert_eq(sent_segs(idx, 4), 1, "early retransmit (RFC 5827)");
	cr_assert_eq(idx[0], 0);
	pack(2, pwin, 0, NULL);
	cr_assert_eq(B.nsent, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 0);
}

Test(dp_tcp_sack, the_rto_resends_unsacked_bytes_only)
{
	send_segs(8);
	h_clear(&B);
	/* 6 and 7 arrived; 0-5 are lost (one block of two segments starts nothing) */
	const int b[][2] = {{6, 8}};
	pack(0, pwin, 1, b);
	cr_assert_eq(B.nout, 0);
	int idx[64], n = 0;
	for (int i = 0; i < 1000 && dp_stack_stats(B.st)->tcp_tlp_probes == 0; i++)
		h_tick(&B, 1);
	cr_assert_eq(sent_segs(idx, 64), 1);
	cr_assert_eq(idx[0], 5, "the probe: the highest segment not SACKed");
	h_clear(&B);
	for (int i = 0; i < 1000 && dp_stack_stats(B.st)->tcp_rto_expiries == 0; i++)
		h_tick(&B, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 1);
	/* the peer acknowledges each retransmission as it comes; slow start from one segment */
	for (int round = 0; round < 10 && unacked(); round++) {
		int got = sent_segs(idx + n, 64 - n);
		int hi = -1;
		for (int i = n; i < n + got; i++)
			hi = idx[i] > hi ? idx[i] : hi;
		n += got;
		h_clear(&B);
		if (hi >= 0)
			pack((uint32_t)(hi + 1 < 6 ? hi + 1 : 8), pwin, hi + 1 < 6 ? 1 : 0, b);
	}
	cr_assert_eq(B.nsent, 1, "every byte acknowledged");
	for (int i = 0; i < n; i++)
		cr_assert_lt(idx[i], 6, "segment %d was SACKed and sent again", idx[i]);
	cr_assert_eq(n, 6, "0-5 once each (sent %d)", n);
}

Test(dp_tcp_sack, a_tail_loss_is_probed_before_the_rto)
{
	send_segs(4);
	pack(1, pwin, 0, NULL); /* then the tail (1-3) draws no ACK: segment 3 was lost */
	h_clear(&B);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	uint32_t cwnd = in.cwnd;
	h_tick(&B, 2 * in.srtt_ms + 2);
	int idx[4];
	cr_assert_eq(sent_segs(idx, 4), 1, "a probe after two round trips (srtt %u ms)", in.srtt_ms);
	cr_assert_eq(idx[0], 3, "the last segment again");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_tlp_probes, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 0);
	pack(4, pwin, 0, NULL);
	cr_assert_eq(B.nsent, 1);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_tlp_recoveries, 1);
	cr_assert_lt(in.cwnd, cwnd, "the loss the probe repaired halves cwnd");
	h_clear(&B);
	h_tick(&B, 1000);
	cr_assert_eq(B.nout, 0, "nothing outstanding, no timer");
}

Test(dp_tcp_sack, a_probe_the_peer_reports_as_duplicate_keeps_cwnd)
{
	send_segs(4);
	pack(1, pwin, 0, NULL);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	uint32_t cwnd = in.cwnd;
	h_tick(&B, 2 * in.srtt_ms + 2);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_tlp_probes, 1);
	/* every segment had arrived, the ACK was late: the peer's ACK carries a D-SACK of the probe */
	const int dsack[][2] = {{3, 4}};
	pack(4, pwin, 1, dsack);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_tlp_recoveries, 0);
	cr_assert_geq(in.cwnd, cwnd, "not reduced");
}

Test(dp_tcp_sack, blocks_beyond_what_was_sent_or_with_bad_lengths_are_ignored)
{
	send_segs(6);
	h_clear(&B);
	const int b[][2] = {{2, 40}};  /* ends past SND.MAX */
	pack(0, pwin, 1, b);
	pack(0, pwin, 1, b);
	pack(0, pwin, 1, b);
	cr_assert_eq(B.nout, 0, "no recovery from blocks that cannot be true");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_sacked_bytes, 0);
	/* a SACK option of length 6 (not 2 + 8n) followed by NOPs: unusable, while the segment
	 * (an ACK of everything) still counts.  Patched in place, so the device is said to have
	 * checked the sums. */
	uint8_t f[H_FRAME_MAX];
	struct h_tcp t = H_TCP_INIT(.sport = SPORT, .dport = PORT, .seq = pseq, .ack = una0 + 6 * MSS,
	                            .flags = H_ACK, .win = pwin, .nsack = 1);
	t.sack[0][0] = una0 + 2 * MSS;
	t.sack[0][1] = una0 + 3 * MSS;
	size_t len = h_build_tcp(f, &t);
	uint8_t *o = f + 14 + 20 + 20;  /* NOP NOP 5 10 start end */
	cr_assert_eq(o[2], 5);
	o[3] = 6;
	memset(o + 8, 1, 4);
	dp_stack_input_flags(B.st, f, len, DP_OFF_RX_CSUM_OK);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_bad_options, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_sacked_bytes, 0);
	cr_assert_eq(B.nsent, 1, "the ACK was taken");
}

Test(dp_tcp_sack, a_probe_that_arrived_marks_the_segments_before_it_lost)
{
	send_segs(6);
	h_clear(&B);
	h_tick(&B, 22); /* 2 * SRTT + 2 with nothing back: the probe */
	int idx[8];
	cr_assert_eq(sent_segs(idx, 8), 1);
	cr_assert_eq(idx[0], 5);
	h_clear(&B);
	/* only segment 0 and the probe got through: one segment SACKed above four holes, which
	 * IsLost alone would not call lost before the RTO */
	const int b[][2] = {{5, 6}};
	pack(1, pwin, 1, b);
	int n = sent_segs(idx, 8);
	cr_assert_geq(n, 1, "the holes before the probe are resent at once");
	cr_assert_eq(idx[0], 1);
	for (int i = 0; i < n; i++)
		cr_assert_lt(idx[i], 5, "segment %d", idx[i]);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_sack_recoveries, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 0);
}

Test(dp_tcp_sack, a_lone_fin_is_probed_before_the_rto)
{
	send_segs(2);
	pack(2, pwin, 0, NULL); /* the data is acknowledged */
	h_clear(&B);
	dp_tcp_close(C); /* the FIN goes out alone, and is lost */
	struct h_tcp t = h_last_tcp(&B);
	cr_assert(t.flags & H_FIN);
	uint32_t fin_seq = t.seq;
	h_clear(&B);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	h_tick(&B, 2 * in.srtt_ms + 2 + 60); /* two round trips plus the lone segment's delayed-ACK allowance */
	cr_assert_eq(dp_stack_stats(B.st)->tcp_tlp_probes, 1, "the FIN probed (srtt %u ms, rto %u ms)", in.srtt_ms, in.rto_ms);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 0, "before the RTO");
	t = h_last_tcp(&B);
	cr_assert(t.flags & H_FIN, "the probe is the FIN again");
	cr_assert_eq(t.seq, fin_seq);
	cr_assert_eq(t.len, 0);
	struct h_tcp a = H_TCP_INIT(.sport = SPORT, .dport = PORT, .seq = pseq, .ack = fin_seq + 1, .flags = H_ACK,
	                            .win = pwin);
	h_send_tcp(&B, &a);
	h_clear(&B);
	h_tick(&B, 1000);
	cr_assert_eq(B.nout, 0, "acknowledged: nothing is sent again");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rto_expiries, 0);
}

Test(dp_tcp_sack, recovery_sends_in_proportion_to_what_the_peer_reports_delivered)
{
	/* grow cwnd first so that the flight is large: 24 segments acknowledged in pairs */
	send_segs(24);
	for (int k = 2; k <= 24; k += 2)
		pack((uint32_t)k, pwin, 0, NULL);
	cr_assert_eq(unacked(), 0);
	una0 += 24 * MSS;
	send_segs(64); /* more than cwnd: new data waits to go out during the recovery */
	int F = (int)(unacked() / MSS);
	cr_assert_geq(F, 16, "a flight of %d segments", F);
	h_clear(&B);
	/* segment 0 is lost; the peer SACKs 1, 2, ... one per ACK */
	int sent_total = 0, max_per_ack = 0, sent_at_half = -1;
	for (int k = 1; k < F; k++) {
		size_t before = B.nout;
		const int blk[][2] = {{1, k + 1}};
		pack(0, 2 * pwin, 1, blk); /* a window for 90 segments: cwnd alone limits */
		int n = 0;
		struct h_tcp t;
		for (size_t i = before; i < B.nout; i++)
			if (h_parse_tcp(&B, i, &t) && t.len) {
				if (n == 0 && sent_total == 0)
					cr_assert_eq(t.seq, una0, "the hole goes first");
				n++;
			}
		sent_total += n;
		if (n > max_per_ack)
			max_per_ack = n;
		if (k == F / 2)
			sent_at_half = sent_total;
	}
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert(in.in_recovery);
	/* ssthresh is half the flight: PRR sends about one segment for two delivered from the start
	 * (RFC 6675 alone would send only the retransmission until pipe fell to ssthresh, halfway) */
	cr_assert_geq(sent_at_half, F / 4 - 1, "by the half-way ACK %d sent (flight %d)", sent_at_half, F);
	cr_assert_leq(sent_at_half, F / 4 + 2, "by the half-way ACK %d sent (flight %d)", sent_at_half, F);
	cr_assert_leq(max_per_ack, 2, "no burst: at most %d a segment per ACK", max_per_ack);
	cr_assert_geq(sent_total, (F - 1) / 2 - 1, "%d sent for %d delivered", sent_total, F - 1);
	cr_assert_leq(sent_total, (F - 1) / 2 + 2, "%d sent for %d delivered", sent_total, F - 1);
	/* the full acknowledgment ends recovery at ssthresh */
	pack((uint32_t)F, pwin, 0, NULL);
	dp_tcp_get_info(C, &in);
	cr_assert(!in.in_recovery);
	cr_assert_eq(in.cwnd, in.ssthresh);
	cr_assert_eq(in.ssthresh, (uint32_t)F * MSS / 2);
}
