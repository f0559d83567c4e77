/*
 * tests/unit/net/test_tcp.c: the TCP state machine of dataplane/net_dpdk against scripted
 * segments from a fake peer on a fake clock: handshake and options, data both ways, delayed
 * ACKs, out-of-order and duplicate segments, RFC 6298 retransmission with backoff, fast
 * retransmit, zero window and probes, PAWS, SACK blocks, FIN and RST in every state,
 * TIME_WAIT, keepalive, the timer wheel, SYN floods over the backlog and malformed segments;
 * RTT estimation (RFC 6298 2.2-2.4, Karn), slow start and congestion avoidance, checksum
 * offload asked of a device that has it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PORT 9092
#define PPORT 40000

/* The fake peer's side of one connection. */
struct peer {
	struct h_bench *b;
	uint32_t seq, ack;
	uint16_t sport;
	bool ts;
	uint16_t win;
};

static struct h_bench B;
static struct peer P;
static struct dp_tcp_conn *C;

static void setup_cfg(const struct dp_stack_cfg *over, bool options)
{
	h_bench_init(&B, over);
	h_learn_peer(&B);
	cr_assert_not_null(dp_tcp_listen(B.st, PORT, 16));
	P = (struct peer){.b = &B, .sport = PPORT, .ts = options, .win = options ? 512 : 65535};
	C = h_handshake(&B, PORT, PPORT, &P.seq, &P.ack, options);
	cr_assert_not_null(C);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
}

static void setup(void) { setup_cfg(NULL, true); }
static void teardown(void) { h_bench_fini(&B); }

/* Sends a segment from the peer; data advances the peer's sequence. */
static void psend(uint8_t flags, const void *data, size_t len)
{
	struct h_tcp t = H_TCP_INIT(.sport = P.sport, .dport = PORT, .seq = P.seq, .ack = P.ack,
	                            .flags = flags, .win = P.win, .data = data, .len = len);
	if (P.ts) {
		t.ts = true;
		t.tsval = (uint32_t)B.now;
		t.tsecr = 1;
	}
	h_send_tcp(&B, &t);
	P.seq += (uint32_t)len + !!(flags & H_SYN) + !!(flags & H_FIN);
}

/* Sends a segment at an explicit sequence number without moving the peer's. */
static void psend_at(uint32_t seq, uint8_t flags, const void *data, size_t len)
{
	uint32_t keep = P.seq;
	P.seq = seq;
	psend(flags, data, len);
	P.seq = keep;
}

static size_t drain(void *dst, size_t n) { return dp_tcp_recv(C, dst, n); }

TestSuite(dp_tcp, .init = setup, .fini = teardown);

Test(dp_tcp, handshake_negotiates_mss_window_scale_and_timestamps)
{
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert(in.ts_ok);
	cr_assert_eq(in.snd_wscale, 7);
	cr_assert_eq(in.rcv_wscale, 3); /* 256 KiB ring */
	cr_assert_eq(in.snd_mss, 1460 - 12);
	cr_assert_eq(in.snd_wnd, 512u << 7);
	cr_assert_eq(in.rto_ms, 200, "rto %u", in.rto_ms); /* a 0 ms sample, clamped to rto_min */
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_established, 1);
}

Test(dp_tcp, syn_ack_carries_our_options)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 40001, .dport = PORT, .seq = 77, .flags = H_SYN,
	                              .mss = 1400, .ws = 2, .ts = true, .tsval = 99);
	h_send_tcp(&B, &syn);
	struct h_tcp sa = h_last_tcp(&B);
	cr_assert_eq(sa.flags, H_SYN | H_ACK);
	cr_assert_eq(sa.ack, 78);
	cr_assert_eq(sa.mss, 1460);
	cr_assert_eq(sa.ws, 3);
	cr_assert(sa.ts);
	cr_assert_eq(sa.tsecr, 99);
}

Test(dp_tcp, syn_without_options_gets_none)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 40001, .dport = PORT, .seq = 77, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	struct h_tcp sa = h_last_tcp(&B);
	cr_assert_eq(sa.ws, -1);
	cr_assert(!sa.ts);
	cr_assert_eq(sa.mss, 1460); /* MSS is always offered */
	cr_assert_eq(sa.win, 65535);
}

Test(dp_tcp, syn_to_closed_port_gets_rst_ack)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 40001, .dport = 1234, .seq = 500, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	struct h_tcp r = h_last_tcp(&B);
	cr_assert_eq(r.flags, H_RST | H_ACK);
	cr_assert_eq(r.seq, 0);
	cr_assert_eq(r.ack, 501);
}

Test(dp_tcp, ack_to_closed_port_gets_rst_at_its_ack)
{
	h_clear(&B);
	struct h_tcp a = H_TCP_INIT(.sport = 40001, .dport = PORT, .seq = 500, .ack = 4242, .flags = H_ACK);
	h_send_tcp(&B, &a);
	struct h_tcp r = h_last_tcp(&B);
	cr_assert_eq(r.flags, H_RST);
	cr_assert_eq(r.seq, 4242);
	h_clear(&B);
	struct h_tcp rst = H_TCP_INIT(.sport = 40001, .dport = 1234, .seq = 1, .flags = H_RST);
	h_send_tcp(&B, &rst);
	cr_assert_eq(B.nout, 0, "a RST is never answered");
}

Test(dp_tcp, data_in_is_delivered_and_acked_every_second_segment)
{
	uint8_t d[3000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)i;
	psend(H_ACK | H_PSH, d, 1000);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 0, "first segment: ACK delayed");
	psend(H_ACK | H_PSH, d + 1000, 1000);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.ack, P.seq, "second segment: ACK at once");
	h_clear(&B);
	psend(H_ACK | H_PSH, d + 2000, 1000);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 39);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq, "the delayed ACK goes out after 40 ms");
	uint8_t got[4000];
	cr_assert_eq(drain(got, sizeof got), 3000);
	cr_assert_arr_eq(got, d, 3000);
	cr_assert(B.nreadable >= 3);
}

Test(dp_tcp, data_out_is_cut_at_mss_and_completes_on_ack)
{
	static uint8_t d[5000];
	memset(d, 0xab, sizeof d);
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, (void *)0x11), 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 4);
	struct h_tcp s0;
	cr_assert(h_parse_tcp(&B, 0, &s0));
	cr_assert_eq(s0.seq, P.ack);
	cr_assert_eq(s0.len, 1448);
	struct h_tcp last = h_last_tcp(&B);
	cr_assert_eq(last.len, 5000 - 3 * 1448);
	cr_assert(last.flags & H_PSH);
	cr_assert(last.ts);
	P.ack += 4000;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.nsent, 0, "a partial ACK does not complete the request");
	P.ack += 1000;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.nsent, 1);
	cr_assert_eq(B.last_sent_err, 0);
	cr_assert_eq(B.last_sent_cookie, (void *)0x11);
}

Test(dp_tcp, peer_window_limits_what_is_in_flight)
{
	P.win = 16; /* 16 << 7 = 2048 bytes */
	psend(H_ACK, NULL, 0);
	h_clear(&B);
	static uint8_t d[8000];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	size_t bytes = 0;
	struct h_tcp t;
	for (size_t i = 0; i < B.nout; i++)
		if (h_parse_tcp(&B, i, &t))
			bytes += t.len;
	/* one full segment; the 600 bytes left of the window wait (sender-side SWS avoidance) */
	cr_assert_eq(bytes, 1448, "sent %zu", bytes);
	h_clear(&B);
	P.ack += 1448;
	psend(H_ACK, NULL, 0);
	bytes = 0;
	for (size_t i = 0; i < B.nout; i++)
		if (h_parse_tcp(&B, i, &t))
			bytes += t.len;
	cr_assert_eq(bytes, 1448, "sent %zu", bytes);
	P.win = 0;
	P.ack += 1448;
	psend(H_ACK, NULL, 0);
	h_clear(&B);
	h_tick(&B, 40);
	cr_assert_eq(h_count_tcp(&B, H_PSH), 0, "nothing beyond a closed window");
}

Test(dp_tcp, out_of_order_segments_are_kept_and_joined)
{
	uint8_t d[3000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 7);
	uint32_t base = P.seq;
	psend_at(base + 2000, H_ACK, d + 2000, 1000);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base, "an out-of-order segment is answered with a duplicate ACK at once");
	psend_at(base + 1000, H_ACK, d + 1000, 1000);
	cr_assert_eq(h_last_tcp(&B).ack, base);
	uint8_t got[3000];
	cr_assert_eq(drain(got, sizeof got), 0, "nothing readable before the hole is filled");
	psend_at(base, H_ACK, d, 1000);
	cr_assert_eq(h_last_tcp(&B).ack, base + 3000);
	cr_assert_eq(drain(got, sizeof got), 3000);
	cr_assert_arr_eq(got, d, 3000);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_ooo_segments, 2);
}

Test(dp_tcp, duplicate_and_overlapping_segments_are_not_delivered_twice)
{
	uint8_t d[2000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i ^ 0x5a);
	uint32_t base = P.seq;
	psend_at(base, H_ACK, d, 1000);
	psend_at(base, H_ACK, d, 1000);              /* exact duplicate */
	psend_at(base + 500, H_ACK, d + 500, 1500);  /* overlaps the first half */
	uint8_t got[4000];
	cr_assert_eq(drain(got, sizeof got), 2000);
	cr_assert_arr_eq(got, d, 2000);
	h_tick(&B, 40);
	cr_assert_eq(h_last_tcp(&B).ack, base + 2000);
	cr_assert(dp_stack_stats(B.st)->tcp_dup_segments >= 1);
}

Test(dp_tcp, retransmission_timer_backs_off_per_rfc6298)
{
	static uint8_t d[100];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1);
	h_clear(&B);
	h_tick(&B, 199);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "first retransmission at RTO = 200 ms");
	cr_assert_eq(h_last_tcp(&B).seq, P.ack);
	cr_assert_eq(h_last_tcp(&B).len, 100);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.rto_ms, 400);
	cr_assert_eq(in.backoff, 1);
	cr_assert_eq(in.cwnd, in.snd_mss, "loss window after a timeout");
	h_clear(&B);
	h_tick(&B, 399);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "second retransmission 400 ms later");
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.rto_ms, 800);
	P.ack += 100;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.nsent, 1);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.backoff, 0, "a new RTT sample ends the backoff");
	cr_assert_geq(dp_stack_stats(B.st)->tcp_rto_expiries, 2);
}

Test(dp_tcp, gives_up_after_max_retries_with_a_reset)
{
	teardown();
	struct dp_stack_cfg cfg = {.max_retries = 3};
	setup_cfg(&cfg, true);
	static uint8_t d[10];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, (void *)7), 0);
	for (int i = 0; i < 100 && B.nclosed == 0; i++)
		h_tick(&B, 500);
	cr_assert_eq(B.nclosed, 1);
	cr_assert_eq(B.last_closed_err, -ETIMEDOUT);
	cr_assert_eq(B.last_sent_err, -ETIMEDOUT, "the pending send is failed");
	cr_assert_eq(h_last_tcp(&B).flags & H_RST, H_RST);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSED);
	dp_tcp_close(C);
}

Test(dp_tcp, three_duplicate_acks_trigger_fast_retransmit)
{
	static uint8_t d[1448 * 8];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 8);
	h_clear(&B);
	uint32_t una = P.ack;
	psend(H_ACK, NULL, 0);
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.nout, 0);
	psend(H_ACK, NULL, 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "the third duplicate ACK retransmits");
	struct h_tcp r = h_last_tcp(&B);
	cr_assert_eq(r.seq, una);
	cr_assert_eq(r.len, 1448);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert(in.in_recovery);
	cr_assert_eq(in.ssthresh, 4 * 1448);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_fast_retransmits, 1);
	/* a partial ACK retransmits the next hole (NewReno) */
	h_clear(&B);
	P.ack += 1448;
	psend(H_ACK, NULL, 0);
	r = h_last_tcp(&B);
	cr_assert_eq(r.seq, una + 1448);
	/* the full ACK ends recovery */
	P.ack = una + sizeof d;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert(!in.in_recovery);
	cr_assert_eq(in.cwnd, in.ssthresh);
	cr_assert_eq(B.nsent, 1);
}

Test(dp_tcp, zero_window_is_probed_then_reopened)
{
	P.win = 0;
	psend(H_ACK, NULL, 0);
	h_clear(&B);
	static uint8_t d[3000];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	cr_assert_eq(B.nout, 0, "nothing goes into a zero window");
	h_tick(&B, 200);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "a window probe after RTO");
	struct h_tcp pr = h_last_tcp(&B);
	cr_assert_eq(pr.len, 0);
	cr_assert_eq(pr.seq, P.ack - 1);
	h_clear(&B);
	h_tick(&B, 399);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "probes back off");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_persist_probes, 2);
	h_clear(&B);
	P.win = 512;
	psend(H_ACK, NULL, 0); /* window update */
	cr_assert_eq(h_count_tcp(&B, H_ACK), 3, "data flows once the window opens");
}

Test(dp_tcp, our_window_closes_when_the_ring_is_full_and_reopens)
{
	teardown();
	struct dp_stack_cfg cfg = {.rcvbuf = 8192};
	setup_cfg(&cfg, false);
	static uint8_t d[1000];
	for (int i = 0; i < 9; i++)
		psend(H_ACK, d, 1000);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.win, 0, "window %u", a.win);
	cr_assert_eq(a.ack, P.seq - 1000 + 192, "the part beyond the window is cut");
	h_clear(&B);
	psend_at(a.ack, H_ACK, d, 100);
	cr_assert_eq(h_last_tcp(&B).ack, a.ack, "a zero window takes nothing");
	h_clear(&B);
	uint8_t got[8192];
	cr_assert_eq(drain(got, sizeof got), 8192);
	cr_assert_eq(h_last_tcp(&B).win, 8192, "a window update once the ring empties");
}

Test(dp_tcp, segment_outside_the_window_gets_an_ack_and_no_data)
{
	h_clear(&B);
	uint8_t d[10] = {1};
	psend_at(P.seq + 10000000, H_ACK, d, 10);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq);
	uint8_t got[10];
	cr_assert_eq(drain(got, sizeof got), 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_out_of_window, 1);
}

/* A segment from the peer at its current sequence number with an explicit timestamp. */
static void psend_ts(uint8_t flags, uint32_t tsval, const void *data, size_t len)
{
	struct h_tcp t = H_TCP_INIT(.sport = P.sport, .dport = PORT, .seq = P.seq, .ack = P.ack,
	                            .flags = flags, .win = P.win, .data = data, .len = len,
	                            .ts = true, .tsval = tsval, .tsecr = 1);
	h_send_tcp(&B, &t);
}

Test(dp_tcp, paws_drops_a_segment_with_an_older_timestamp_and_acks)
{
	h_tick(&B, 1000);
	uint8_t d[100] = {7}, got[200];
	psend_ts(H_ACK | H_PSH, 5000, d, 50);   /* TS.Recent = 5000 */
	P.seq += 50;
	cr_assert_eq(drain(got, sizeof got), 50);
	h_clear(&B);
	psend_ts(H_ACK | H_PSH, 4999, d, 50);   /* in the window, but older */
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 1);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.flags & H_ACK, H_ACK);
	cr_assert_eq(a.ack, P.seq, "the ACK does not move");
	cr_assert_eq(a.tsecr, 5000, "and echoes TS.Recent");
	cr_assert_eq(drain(got, sizeof got), 0, "the data is not delivered");
	/* wrap-around: 0x00000010 is newer than 0xfffffff0 */
	psend_ts(H_ACK | H_PSH, 0xfffffff0u, d, 50);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 2, "0xfffffff0 is older than 5000");
	psend_ts(H_ACK | H_PSH, 5001, d, 50);
	P.seq += 50;
	cr_assert_eq(drain(got, sizeof got), 50, "the same data with a fresh timestamp is taken");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 2);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
}

Test(dp_tcp, paws_compares_timestamps_modulo_2_32)
{
	uint8_t d[10] = {1}, got[20];
	/* the peer's clock runs on in steps below 2^31 up to the wrap and past it */
	psend_ts(H_ACK | H_PSH, 0x80000000u, d, 10);
	P.seq += 10;
	cr_assert_eq(drain(got, sizeof got), 10);
	psend_ts(H_ACK | H_PSH, 0xfffffff0u, d, 10);
	P.seq += 10;
	cr_assert_eq(drain(got, sizeof got), 10);
	psend_ts(H_ACK | H_PSH, 0x10, d, 10);   /* wrapped: newer */
	P.seq += 10;
	cr_assert_eq(drain(got, sizeof got), 10);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 0);
}

Test(dp_tcp, paws_lets_a_reset_with_an_old_timestamp_through)
{
	uint8_t d[10] = {1};
	psend_ts(H_ACK | H_PSH, 9000, d, 10);
	P.seq += 10;
	psend_ts(H_RST, 10, NULL, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_rst_in, 1);
}

Test(dp_tcp, paws_forgets_ts_recent_after_24_days_idle)
{
	uint8_t d[10] = {1}, got[20];
	psend_ts(H_ACK | H_PSH, 9000, d, 10);
	P.seq += 10;
	cr_assert_eq(drain(got, sizeof got), 10);
	h_tick(&B, 24ull * 24 * 3600 * 1000 + 1);
	psend_ts(H_ACK | H_PSH, 10, d, 10);
	P.seq += 10;
	cr_assert_eq(drain(got, sizeof got), 10, "an old TS.Recent is void: the segment is taken");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 0);
	psend_ts(H_ACK | H_PSH, 9, d, 10);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_paws_rejected, 1, "and its timestamp is TS.Recent now");
}

/* Replaces the fixture's connection by one whose SYN offered SACK (and timestamps). */
static void sack_conn(bool ts)
{
	uint32_t isn = 7000000;
	uint16_t sport = PPORT + 9;
	struct h_tcp syn = H_TCP_INIT(.sport = sport, .dport = PORT, .seq = isn, .flags = H_SYN, .mss = 1460,
	                              .ws = 7, .ts = ts, .tsval = (uint32_t)B.now, .sackok = true);
	h_clear(&B);
	h_send_tcp(&B, &syn);
	struct h_tcp sa = h_last_tcp(&B);
	cr_assert_eq(sa.flags, H_SYN | H_ACK);
	cr_assert(sa.sackok, "SACK-permitted answered");
	struct h_tcp ack = H_TCP_INIT(.sport = sport, .dport = PORT, .seq = isn + 1, .ack = sa.seq + 1,
	                              .flags = H_ACK, .win = 512, .ts = ts, .tsval = (uint32_t)B.now,
	                              .tsecr = sa.tsval);
	h_send_tcp(&B, &ack);
	C = B.accepted[B.naccepted - 1];
	P = (struct peer){.b = &B, .sport = sport, .seq = isn + 1, .ack = sa.seq + 1, .ts = ts, .win = 512};
	h_clear(&B);
}

Test(dp_tcp, sack_permitted_only_when_the_peer_offers_it)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 40001, .dport = PORT, .seq = 77, .flags = H_SYN, .mss = 1400);
	h_send_tcp(&B, &syn);
	cr_assert(!h_last_tcp(&B).sackok);
	sack_conn(true);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
}

Test(dp_tcp, no_sack_blocks_when_sack_was_not_negotiated)
{
	uint8_t d[100] = {3};
	h_clear(&B);
	psend_at(P.seq + 1000, H_ACK, d, 100);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.ack, P.seq);
	cr_assert_eq(a.nsack, 0);
}

Test(dp_tcp, sack_blocks_report_out_of_order_ranges_newest_first)
{
	sack_conn(true);
	uint32_t base = P.seq;
	uint8_t d[1000], got[2000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 7);
	psend_at(base + 1000, H_ACK | H_PSH, d, 100);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base);
	cr_assert_eq(a.nsack, 1);
	cr_assert_eq(a.sack[0][0], base + 1000);
	cr_assert_eq(a.sack[0][1], base + 1100);
	psend_at(base + 3000, H_ACK | H_PSH, d, 100);
	a = h_last_tcp(&B);
	cr_assert_eq(a.nsack, 2);
	cr_assert_eq(a.sack[0][0], base + 3000, "the newest range first");
	cr_assert_eq(a.sack[1][0], base + 1000);
	psend_at(base + 1100, H_ACK | H_PSH, d, 100);
	a = h_last_tcp(&B);
	cr_assert_eq(a.nsack, 2);
	cr_assert_eq(a.sack[0][0], base + 1000, "the range just extended comes first");
	cr_assert_eq(a.sack[0][1], base + 1200);
	cr_assert_eq(a.sack[1][0], base + 3000);
	cr_assert_eq(a.sack[1][1], base + 3100);
	psend_at(base, H_ACK | H_PSH, d, 1000);   /* fills the first hole */
	a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 1200);
	cr_assert_eq(a.nsack, 1);
	cr_assert_eq(a.sack[0][0], base + 3000);
	cr_assert_eq(drain(got, sizeof got), 1200);
	psend_at(base + 1200, H_ACK | H_PSH, d, 1000);
	psend_at(base + 2200, H_ACK | H_PSH, d, 800);
	a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 3100);
	cr_assert_eq(a.nsack, 0, "no hole left, no SACK");
}

/* RFC 2883: a segment that arrives twice is reported in the first SACK block of the ACK it
 * triggers (a D-SACK), once; without it a Linux sender cannot tell its fast retransmits on
 * reordering were needless, keeps its cwnd cut and keeps retransmitting. */
Test(dp_tcp, duplicate_segments_are_reported_once_as_dsack)
{
	sack_conn(true);
	uint32_t base = P.seq;
	uint8_t d[1000] = {5}, got[4000];
	psend_at(base, H_ACK | H_PSH, d, 1000);
	psend_at(base, H_ACK | H_PSH, d, 1000); /* wholly below RCV.NXT */
	struct h_tcp a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 1000);
	cr_assert_eq(a.nsack, 1);
	cr_assert_eq(a.sack[0][0], base, "the duplicate, below the ACK");
	cr_assert_eq(a.sack[0][1], base + 1000);
	psend_at(base + 2000, H_ACK | H_PSH, d, 500); /* a hole at base + 1000 */
	a = h_last_tcp(&B);
	cr_assert_eq(a.nsack, 1, "the D-SACK is reported once");
	cr_assert_eq(a.sack[0][0], base + 2000);
	psend_at(base + 2000, H_ACK | H_PSH, d, 500); /* again, inside the held range */
	a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 1000);
	cr_assert_eq(a.nsack, 2);
	cr_assert_eq(a.sack[0][0], base + 2000, "D-SACK of the duplicate first");
	cr_assert_eq(a.sack[0][1], base + 2500);
	cr_assert_eq(a.sack[1][0], base + 2000, "then the range holding it");
	cr_assert_eq(a.sack[1][1], base + 2500);
	psend_at(base + 500, H_ACK | H_PSH, d, 1000); /* half old, half fills part of the hole */
	a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 1500);
	cr_assert_eq(a.nsack, 2);
	cr_assert_eq(a.sack[0][0], base + 500, "only the part seen before");
	cr_assert_eq(a.sack[0][1], base + 1000);
	cr_assert_eq(a.sack[1][0], base + 2000);
	cr_assert_eq(drain(got, sizeof got), 1500, "nothing delivered twice");
	psend_at(base + 1500, H_ACK | H_PSH, d, 500);
	a = h_last_tcp(&B);
	cr_assert_eq(a.ack, base + 2500);
	cr_assert_eq(a.nsack, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_dup_segments, 2);
}

Test(dp_tcp, sack_blocks_fit_the_option_space)
{
	sack_conn(true);
	uint8_t d[10] = {1};
	for (uint32_t i = 1; i <= 5; i++)
		psend_at(P.seq + 100 * i, H_ACK, d, 10);
	struct h_tcp a = h_last_tcp(&B);
	cr_assert(a.ts);
	cr_assert_eq(a.nsack, 3, "with timestamps 3 blocks fit in 40 bytes of options");
	cr_assert_eq(a.sack[0][0], P.seq + 500);
	h_bench_fini(&B);
	setup_cfg(NULL, false);
	sack_conn(false);
	for (uint32_t i = 1; i <= 5; i++)
		psend_at(P.seq + 100 * i, H_ACK, d, 10);
	a = h_last_tcp(&B);
	cr_assert(!a.ts);
	cr_assert_eq(a.nsack, 4, "without timestamps 4 fit");
}

Test(dp_tcp, timer_wheel_visits_only_connections_with_something_due)
{
	for (uint16_t i = 0; i < 50; i++) {
		uint32_t ps, os;
		cr_assert_not_null(h_handshake(&B, PORT, (uint16_t)(41000 + i), &ps, &os, true));
	}
	h_tick(&B, 5000); /* the SYN-ACK retransmission timers, stopped by the ACKs, pass by once */
	uint64_t v0 = dp_stack_stats(B.st)->tcp_timer_visits;
	for (int i = 0; i < 200; i++)
		h_tick(&B, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_timer_visits, v0, "51 idle connections, 200 ticks, no visit");
	uint8_t d[100] = {5};
	h_clear(&B);
	psend(H_ACK | H_PSH, d, 100);   /* one segment: its ACK is delayed */
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 40);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq, "the delayed ACK went out");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_timer_visits, v0 + 1, "and only its connection was looked at");
}

Test(dp_tcp, timer_wheel_keeps_a_timer_due_several_laps_ahead)
{
	struct dp_stack_cfg over = {.keepalive_idle_ms = 5000, .keepalive_intvl_ms = 1000, .keepalive_probes = 1};
	h_bench_fini(&B);
	setup_cfg(&over, true);
	psend(H_ACK, NULL, 0);         /* activity: keepalive armed 5000 ms (about 5 laps) ahead */
	h_clear(&B);
	h_tick(&B, 4999);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 0, "nothing before the idle time");
	h_tick(&B, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_keepalive_probes, 1, "the probe at exactly 5000 ms");
}

Test(dp_tcp, ack_for_unsent_data_is_answered_and_ignored)
{
	h_clear(&B);
	P.ack += 5000;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
}

Test(dp_tcp, passive_close_close_wait_then_last_ack)
{
	psend(H_ACK | H_FIN, "bye", 3);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSE_WAIT);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq, "the FIN is acknowledged at once");
	cr_assert(!dp_tcp_eof(C), "eof only after the data is read");
	char got[8];
	cr_assert_eq(drain(got, sizeof got), 3);
	cr_assert(dp_tcp_eof(C));
	h_clear(&B);
	static uint8_t d[10];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0, "CLOSE_WAIT can still send");
	dp_tcp_close(C);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_LAST_ACK);
	struct h_tcp f = h_last_tcp(&B);
	cr_assert(f.flags & H_FIN);
	cr_assert_eq(f.seq, P.ack + 10);
	uint64_t freed = dp_stack_stats(B.st)->tcp_conns_freed;
	P.ack += 11;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 1);
	cr_assert_eq(B.nsent, 1);
}

Test(dp_tcp, active_close_fin_wait_then_time_wait_expires)
{
	dp_tcp_close(C);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_FIN_WAIT_1);
	struct h_tcp f = h_last_tcp(&B);
	cr_assert_eq(f.flags, H_FIN | H_ACK);
	P.ack += 1;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_FIN_WAIT_2);
	uint8_t d[5] = {1, 2, 3, 4, 5};
	psend(H_ACK, d, 5); /* FIN_WAIT_2 still receives */
	psend(H_ACK | H_FIN, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_TIME_WAIT);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq);
	/* a retransmitted FIN is acknowledged again and restarts the 2MSL wait */
	h_tick(&B, 30000);
	h_clear(&B);
	psend_at(P.seq - 1, H_ACK | H_FIN, NULL, 0);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq);
	uint64_t freed = dp_stack_stats(B.st)->tcp_conns_freed;
	h_tick(&B, 59999);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed);
	h_tick(&B, 1);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 1, "TIME_WAIT ends after 2MSL");
}

Test(dp_tcp, simultaneous_close_goes_through_closing)
{
	dp_tcp_close(C);
	psend(H_ACK | H_FIN, NULL, 0); /* the peer's FIN crosses ours: it does not ack our FIN */
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSING);
	P.ack += 1;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_TIME_WAIT);
}

Test(dp_tcp, fin_wait_1_retransmits_its_fin)
{
	dp_tcp_close(C);
	h_clear(&B);
	h_tick(&B, 200);
	struct h_tcp f = h_last_tcp(&B);
	cr_assert_eq(f.flags & H_FIN, H_FIN);
	cr_assert_eq(f.seq, P.ack);
}

static void rst_now(void)
{
	psend(H_RST, NULL, 0);
}

Test(dp_tcp, rst_in_established_reports_a_reset)
{
	static uint8_t d[10];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	rst_now();
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSED);
	cr_assert_eq(B.last_closed_err, -ECONNRESET);
	cr_assert_eq(B.last_sent_err, -ECONNRESET);
	h_clear(&B);
	psend(H_ACK, d, 10);
	cr_assert_eq(h_last_tcp(&B).flags & H_RST, H_RST, "a dead connection answers with RST");
	dp_tcp_close(C);
}

Test(dp_tcp, rst_out_of_place_gets_a_challenge_ack)
{
	h_clear(&B);
	psend_at(P.seq + 100, H_RST, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
	cr_assert_eq(h_last_tcp(&B).ack, P.seq);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_challenge_acks, 1);
	h_clear(&B);
	psend_at(P.seq - 100, H_RST, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED, "a RST behind the window is ignored");
}

Test(dp_tcp, syn_on_established_gets_a_challenge_ack)
{
	h_clear(&B);
	psend_at(P.seq, H_SYN, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
	cr_assert_eq(h_last_tcp(&B).flags, H_ACK);
}

Test(dp_tcp, rst_in_close_wait_fin_wait_and_closing_states)
{
	/* CLOSE_WAIT */
	psend(H_ACK | H_FIN, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSE_WAIT);
	rst_now();
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSED);
	cr_assert_eq(B.last_closed_err, -ECONNRESET);
	dp_tcp_close(C);
	uint64_t freed = dp_stack_stats(B.st)->tcp_conns_freed;
	/* FIN_WAIT_1 */
	uint32_t ps, os;
	C = h_handshake(&B, PORT, PPORT + 1, &ps, &os, true);
	P = (struct peer){.b = &B, .sport = PPORT + 1, .seq = ps, .ack = os, .ts = true, .win = 512};
	dp_tcp_close(C);
	rst_now();
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 1, "FIN_WAIT_1 + RST: freed");
	/* FIN_WAIT_2 */
	C = h_handshake(&B, PORT, PPORT + 2, &ps, &os, true);
	P = (struct peer){.b = &B, .sport = PPORT + 2, .seq = ps, .ack = os, .ts = true, .win = 512};
	dp_tcp_close(C);
	P.ack++;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_FIN_WAIT_2);
	rst_now();
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 2, "FIN_WAIT_2 + RST: freed");
	/* CLOSING */
	C = h_handshake(&B, PORT, PPORT + 3, &ps, &os, true);
	P = (struct peer){.b = &B, .sport = PPORT + 3, .seq = ps, .ack = os, .ts = true, .win = 512};
	dp_tcp_close(C);
	psend(H_ACK | H_FIN, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_CLOSING);
	rst_now();
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 3, "CLOSING + RST: freed");
	/* LAST_ACK */
	C = h_handshake(&B, PORT, PPORT + 4, &ps, &os, true);
	P = (struct peer){.b = &B, .sport = PPORT + 4, .seq = ps, .ack = os, .ts = true, .win = 512};
	psend(H_ACK | H_FIN, NULL, 0);
	dp_tcp_close(C);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_LAST_ACK);
	rst_now();
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 4, "LAST_ACK + RST: freed");
	/* TIME_WAIT */
	C = h_handshake(&B, PORT, PPORT + 5, &ps, &os, true);
	P = (struct peer){.b = &B, .sport = PPORT + 5, .seq = ps, .ack = os, .ts = true, .win = 512};
	dp_tcp_close(C);
	P.ack++;
	psend(H_ACK | H_FIN, NULL, 0);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_TIME_WAIT);
	rst_now();
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 5, "TIME_WAIT + RST: freed");
	C = NULL;
}

Test(dp_tcp, rst_in_syn_rcvd_frees_the_half_open_connection)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 41000, .dport = PORT, .seq = 9000, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	uint64_t freed = dp_stack_stats(B.st)->tcp_conns_freed;
	struct h_tcp rst = H_TCP_INIT(.sport = 41000, .dport = PORT, .seq = 9001, .flags = H_RST);
	h_send_tcp(&B, &rst);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 1);
	cr_assert_eq(B.naccepted, 1, "only the setup's connection was ever accepted");
}

Test(dp_tcp, syn_rcvd_retransmits_syn_ack_then_gives_up)
{
	h_clear(&B);
	struct h_tcp syn = H_TCP_INIT(.sport = 41000, .dport = PORT, .seq = 9000, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert_eq(h_count_tcp(&B, H_SYN | H_ACK), 1);
	h_send_tcp(&B, &syn); /* the peer's retransmitted SYN: our SYN-ACK again */
	cr_assert_eq(h_count_tcp(&B, H_SYN | H_ACK), 2);
	uint64_t freed = dp_stack_stats(B.st)->tcp_conns_freed;
	h_tick(&B, 1000);
	cr_assert_eq(h_count_tcp(&B, H_SYN | H_ACK), 3, "retransmitted after the initial RTO (1 s)");
	for (int i = 0; i < 200; i++)
		h_tick(&B, 1000);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_conns_freed, freed + 1, "abandoned after its retries");
}

Test(dp_tcp, syn_flood_over_the_backlog_is_dropped_and_the_listener_keeps_serving)
{
	teardown();
	h_bench_init(&B, NULL);
	h_learn_peer(&B);
	cr_assert_not_null(dp_tcp_listen(B.st, PORT, 4));
	for (int i = 0; i < 100; i++) {
		struct h_tcp syn = H_TCP_INIT(.sport = (uint16_t)(20000 + i), .dport = PORT,
		                              .seq = (uint32_t)i * 1000, .flags = H_SYN);
		h_send_tcp(&B, &syn);
	}
	cr_assert_eq(h_count_tcp(&B, H_SYN | H_ACK), 4);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_syn_backlog_drops, 96);
	/* half-open connections time out, then a real client gets in */
	for (int i = 0; i < 200; i++)
		h_tick(&B, 1000);
	h_learn_peer(&B); /* the ARP entry expired meanwhile */
	uint32_t ps, os;
	C = h_handshake(&B, PORT, 30000, &ps, &os, false);
	cr_assert_not_null(C);
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED);
}

Test(dp_tcp, malformed_segments_are_dropped_and_the_connection_lives_on)
{
	uint8_t f[256];
	h_clear(&B);
	const struct dp_stack_stats *s = dp_stack_stats(B.st);
	/* bad checksum */
	struct h_tcp t = H_TCP_INIT(.sport = PPORT, .dport = PORT, .seq = P.seq, .ack = P.ack,
	                            .flags = H_ACK | H_RST, .bad_csum = true);
	h_send_tcp(&B, &t);
	cr_assert_eq(s->tcp_bad_csum, 1);
	/* data offset below 5 words, and beyond the segment */
	struct h_tcp ok = H_TCP_INIT(.sport = PPORT, .dport = PORT, .seq = P.seq, .ack = P.ack, .flags = H_RST);
	size_t n = h_build_tcp(f, &ok);
	f[34 + 12] = 0x40;
	dp_stack_input(B.st, f, n);
	f[34 + 12] = 0xf0;
	dp_stack_input(B.st, f, n);
	cr_assert_eq(s->tcp_bad_header, 2);
	/* an option whose length runs past the header, and a zero option length */
	struct h_tcp o = H_TCP_INIT(.sport = PPORT, .dport = PORT, .seq = P.seq, .ack = P.ack,
	                            .flags = H_RST, .mss = 1000);
	n = h_build_tcp(f, &o);
	f[34 + 21] = 9;   /* MSS option claims 9 bytes in a 4-byte option area */
	/* fix the checksum after the edit: rebuild through a raw payload */
	uint8_t seg[64];
	memcpy(seg, f + 34, n - 34);
	seg[16] = seg[17] = 0;
	{
		uint32_t sum = 0;
		uint8_t ph[12] = {10, 0, 0, 2, 10, 0, 0, 1, 0, 6, 0, (uint8_t)(n - 34)};
		for (int i = 0; i < 12; i += 2) sum += (uint32_t)ph[i] << 8 | ph[i + 1];
		for (size_t i = 0; i + 1 < n - 34; i += 2) sum += (uint32_t)seg[i] << 8 | seg[i + 1];
		while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
		sum = ~sum & 0xffff;
		seg[16] = (uint8_t)(sum >> 8);
		seg[17] = (uint8_t)sum;
	}
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 6, seg, n - 34, 0x4000, false);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(s->tcp_bad_options, 1);
	/* a segment shorter than a TCP header */
	n = h_build_ip(f, H_IP_PEER, H_IP_US, 6, seg, 12, 0x4000, false);
	dp_stack_input(B.st, f, n);
	cr_assert_eq(s->tcp_bad_header, 3);
	/* SYN+RST together */
	struct h_tcp sr = H_TCP_INIT(.sport = PPORT, .dport = PORT, .seq = P.seq, .flags = H_SYN | H_RST);
	h_send_tcp(&B, &sr);
	cr_assert_eq(s->tcp_bad_header, 4);
	cr_assert_eq(B.nout, 0, "nothing answers a malformed segment");
	cr_assert_eq(dp_tcp_state(C), DP_TCP_ESTABLISHED, "none of them reset the connection");
	uint8_t d[4] = {9, 8, 7, 6}, got[4];
	psend(H_ACK, d, 4);
	cr_assert_eq(drain(got, 4), 4);
	cr_assert_arr_eq(got, d, 4);
}

Test(dp_tcp, keepalive_probes_then_resets_a_silent_peer)
{
	teardown();
	struct dp_stack_cfg cfg = {.keepalive_idle_ms = 10000, .keepalive_intvl_ms = 1000, .keepalive_probes = 3};
	setup_cfg(&cfg, true);
	h_tick(&B, 9999);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	struct h_tcp k = h_last_tcp(&B);
	cr_assert_eq(k.seq, P.ack - 1, "a keepalive probe sits one byte behind");
	psend(H_ACK, NULL, 0); /* the peer answers: the idle clock restarts */
	h_clear(&B);
	h_tick(&B, 9999);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	for (int i = 0; i < 3; i++)
		h_tick(&B, 1000);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_keepalive_probes, 4);
	cr_assert_eq(B.nclosed, 1);
	cr_assert_eq(B.last_closed_err, -ETIMEDOUT);
	cr_assert_eq(h_last_tcp(&B).flags & H_RST, H_RST);
	dp_tcp_close(C);
}

Test(dp_tcp, abort_sends_rst_and_fails_pending_sends)
{
	static uint8_t d[10];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	h_clear(&B);
	dp_tcp_abort(C);
	cr_assert_eq(h_last_tcp(&B).flags & H_RST, H_RST);
	cr_assert_eq(B.last_sent_err, -ECONNABORTED);
	cr_assert_eq(B.nsent, 1);
}

Test(dp_tcp, send_after_close_is_refused)
{
	dp_tcp_close(C);
	static uint8_t d[1];
	struct iovec iov = {d, 1};
	/* the handle is the stack's now; only the return value is checked through a fresh one */
	uint32_t ps, os;
	struct dp_tcp_conn *c2 = h_handshake(&B, PORT, PPORT + 9, &ps, &os, false);
	P = (struct peer){.b = &B, .sport = PPORT + 9, .seq = ps, .ack = os, .win = 65535};
	psend(H_ACK | H_FIN, NULL, 0);
	dp_tcp_close(c2);
	cr_assert_eq(dp_tcp_send(c2, &iov, 1, NULL), -ENOTCONN);
}

Test(dp_tcp, zero_copy_pins_hold_a_request_until_the_device_lets_go)
{
	teardown();
	h_io_offload = DP_OFF_TX_PINS;
	setup_cfg(NULL, true);
	h_io_offload = 0;
	static uint8_t d[3000];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, (void *)0x5), 0);
	cr_assert_eq(B.npins, 3, "one pin per payload piece handed to the device");
	/* a retransmission adds pins on the same request */
	h_tick(&B, 200);
	cr_assert_eq(B.npins, 4);
	P.ack += sizeof d;
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.nsent, 0, "acknowledged, but the device still holds the memory");
	h_unpin_all(&B);
	cr_assert_eq(B.nsent, 1, "the last unpin completes the request");
	cr_assert_eq(B.last_sent_cookie, (void *)0x5);
	cr_assert_eq(B.last_sent_err, 0);
}

Test(dp_tcp, zero_copy_pins_outlive_a_reset_connection)
{
	teardown();
	h_io_offload = DP_OFF_TX_PINS;
	setup_cfg(NULL, true);
	h_io_offload = 0;
	static uint8_t d[100];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, (void *)0x6), 0);
	psend(H_RST, NULL, 0);
	cr_assert_eq(B.nclosed, 1);
	dp_tcp_close(C); /* frees the connection; the request lives on while pinned */
	cr_assert_eq(B.nsent, 0);
	h_unpin_all(&B);
	cr_assert_eq(B.nsent, 1);
	cr_assert_eq(B.last_sent_err, -ECONNRESET);
}

Test(dp_tcp, quiet_unknown_drops_strays_of_other_shards_but_still_refuses_syns)
{
	teardown();
	struct dp_stack_cfg cfg = {.quiet_unknown = true};
	setup_cfg(&cfg, true);
	h_clear(&B);
	/* a segment of a flow another shard owns (its queue overflowed into ours) */
	struct h_tcp a = H_TCP_INIT(.sport = 40111, .dport = PORT, .seq = 500, .ack = 4242, .flags = H_ACK);
	h_send_tcp(&B, &a);
	cr_assert_eq(B.nout, 0, "no reset: the owning shard still serves the flow");
	cr_assert_eq(dp_stack_stats(B.st)->tcp_unknown_dropped, 1);
	struct h_tcp syn = H_TCP_INIT(.sport = 40112, .dport = 1234, .seq = 500, .flags = H_SYN);
	h_send_tcp(&B, &syn);
	cr_assert_eq(h_last_tcp(&B).flags, H_RST | H_ACK, "a SYN to a closed port is still refused");
}

Test(dp_tcp, direct_receive_puts_in_order_segments_in_the_lent_buffer_not_the_ring)
{
	uint8_t d[5000], buf[3000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 13 + 1);
	const struct dp_stack_stats *s = dp_stack_stats(B.st);
	uint32_t base = P.seq;
	dp_tcp_recv_direct(C, buf, sizeof buf);
	psend(H_ACK | H_PSH, d, 1000);
	psend(H_ACK | H_PSH, d + 1000, 1000);
	cr_assert_eq(dp_tcp_recv_direct_got(C), 2000);
	cr_assert_arr_eq(buf, d, 2000);
	cr_assert_eq(s->tcp_rx_direct_bytes, 2000);
	cr_assert_eq(s->tcp_rx_ring_bytes, 0, "the ring was skipped");
	cr_assert_eq(h_last_tcp(&B).ack, base + 2000, "acknowledged as usual");
	cr_assert(B.nreadable >= 2, "the application hears of it as of ring data");
	/* a segment that does not fit whole in what is left goes to the ring */
	psend(H_ACK | H_PSH, d + 2000, 1500);
	cr_assert_eq(dp_tcp_recv_direct_got(C), 2000);
	cr_assert_eq(s->tcp_rx_ring_bytes, 1500);
	/* and while the ring holds bytes nothing goes direct, so order is kept */
	psend(H_ACK | H_PSH, d + 3500, 500);
	cr_assert_eq(dp_tcp_recv_direct_end(C), 2000);
	uint8_t got[2000];
	cr_assert_eq(drain(got, sizeof got), 2000);
	cr_assert_arr_eq(got, d + 2000, 2000);
	/* out of order: kept in the ring even with a buffer lent; the hole filled there too */
	dp_tcp_recv_direct(C, buf, sizeof buf);
	psend_at(P.seq + 500, H_ACK, d + 4500, 500);
	psend_at(P.seq, H_ACK, d + 4000, 500);
	P.seq += 1000;
	cr_assert_eq(dp_tcp_recv_direct_got(C), 0);
	cr_assert_eq(drain(got, sizeof got), 1000);
	cr_assert_arr_eq(got, d + 4000, 1000);
	cr_assert_eq(dp_tcp_recv_direct_end(C), 0);
	cr_assert_eq(s->tcp_rx_direct_bytes, 2000);
}

Test(dp_tcp, lending_takes_in_order_bytes_in_their_frame_and_keeps_the_stream_in_order)
{
	uint8_t d[4000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 7 + 3);
	const struct dp_stack_stats *s = dp_stack_stats(B.st);
	uint32_t base = P.seq;
	/* a frame without a driver token is never offered */
	psend(H_ACK | H_PSH, d, 100);
	cr_assert_eq(B.nlend_asked, 0);
	uint8_t got[4000];
	cr_assert_eq(drain(got, sizeof got), 100);
	/* lendable and taken: not in the ring, acknowledged, the application told */
	B.lend_ref = (void *)0x51;
	B.lend_take = true;
	int readable = B.nreadable;
	psend(H_ACK | H_PSH, d + 100, 1000);
	psend(H_ACK | H_PSH, d + 1100, 900);
	cr_assert_eq(B.lent_len, 1900);
	cr_assert_arr_eq(B.lent, d + 100, 1900);
	cr_assert_eq(B.last_lend_ref, (void *)0x51, "the frame's token reaches the application");
	cr_assert_eq(s->tcp_rx_lent_bytes, 1900);
	cr_assert_eq(s->tcp_rx_ring_bytes, 100, "only the unlendable frame went through the ring");
	cr_assert_eq(drain(got, sizeof got), 0, "lent bytes are delivered, not in the ring");
	h_tick(&B, 100); /* the delayed ACK */
	cr_assert_eq(h_last_tcp(&B).ack, base + 2000, "acknowledged as usual");
	cr_assert(B.nreadable >= readable + 2);
	/* declined: copied into the ring as before */
	B.lend_take = false;
	psend(H_ACK | H_PSH, d + 2000, 500);
	cr_assert_eq(s->tcp_rx_ring_bytes, 600);
	/* while the ring holds bytes nothing is lent, even when the application would take it */
	B.lend_take = true;
	int asked = B.nlend_asked;
	psend(H_ACK | H_PSH, d + 2500, 500);
	cr_assert_eq(B.nlend_asked, asked, "not offered: it would overtake the ring's bytes");
	cr_assert_eq(drain(got, sizeof got), 1000);
	cr_assert_arr_eq(got, d + 2000, 1000);
	/* out of order: to the ring; the segment that fills the hole is not lent either (the ring
	 * holds what follows it) */
	psend_at(P.seq + 500, H_ACK, d + 3500, 500);
	psend_at(P.seq, H_ACK, d + 3000, 500);
	P.seq += 1000;
	cr_assert_eq(B.nlend_asked, asked);
	cr_assert_eq(drain(got, sizeof got), 1000);
	cr_assert_arr_eq(got, d + 3000, 1000);
	cr_assert_eq(s->tcp_rx_lent_bytes, 1900);
	/* a direct receive buffer wins: the bytes go there (one copy), never lent */
	uint8_t buf[1000];
	dp_tcp_recv_direct(C, buf, sizeof buf);
	psend(H_ACK | H_PSH, d, 300);
	cr_assert_eq(dp_tcp_recv_direct_end(C), 300);
	cr_assert_eq(B.nlend_asked, asked);
	/* a duplicate of lent bytes is not lent again */
	psend_at(base + 100, H_ACK | H_PSH, d + 100, 1000);
	cr_assert_eq(B.nlend_asked, asked);
	cr_assert_eq(s->tcp_rx_lent_bytes, 1900);
}

/* A chain with file data sent to the peer and acknowledged; returns the bytes sent. */
static size_t send_file_chain(const uint8_t *data, size_t len, size_t off)
{
	char path[] = "/tmp/rt_test_tcp_dmaXXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(pwrite(fd, data, len, 0), (ssize_t)len);
	struct rt_chain ch;
	rt_chain_init(&ch, 1 << 16);
	rt_buf_put(rt_chain_buf(&ch), "hdr!", 4);
	cr_assert_eq(rt_chain_add_file(&ch, fd, off, len - off), 0);
	cr_assert_eq(rt_chain_finish(&ch), 0);
	size_t n = rt_chain_len(&ch);
	cr_assert_eq(dp_tcp_send_chain(C, &ch, (void *)0x7), 0);
	close(fd); /* the mapping keeps the pages */
	size_t seen = 0;
	for (size_t i = 0; i < B.nout; i++) {
		struct h_tcp t;
		if (h_parse_tcp(&B, i, &t) && t.len) {
			if (seen == 0)
				cr_assert_arr_eq(t.data, "hdr!", 4);
			seen += t.len;
		}
	}
	cr_assert_eq(seen, n, "every byte went out");
	P.ack += (uint32_t)n;
	psend(H_ACK, NULL, 0);
	rt_chain_fini(&ch);
	return n;
}

Test(dp_tcp, mapped_segment_ranges_are_offered_for_dma_registration_and_released_after_use)
{
	teardown();
	h_io_dma = true;
	struct dp_stack_cfg big = {.rcvbuf = 1 << 20};
	setup_cfg(&big, false);
	h_io_dma = false;
	P.win = 65535;
	static uint8_t d[4000]; /* within the initial window (MSS 536 without options) */
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 5 + 2);
	h_clear(&B);
	send_file_chain(d, sizeof d, 100);
	cr_assert_eq(B.ndma_map, 1, "the mapping was offered once");
	cr_assert_eq((uintptr_t)B.dma_addr % 4096, 0, "page-aligned");
	cr_assert_geq(B.dma_len, sizeof d, "covers the mapped range (from the page start)");
	cr_assert_eq(B.nsent, 1);
	cr_assert_eq(B.ndma_unmap, 1, "unregistered when the request is done, before munmap");
	cr_assert_eq(B.dma_registered, 0);
	/* refused (a PA-mode EAL, an IOMMU that says no): still sent, never unregistered */
	B.dma_refuse = -ENOTSUP;
	h_clear(&B);
	send_file_chain(d, sizeof d, 0);
	cr_assert_eq(B.ndma_map, 2);
	cr_assert_eq(B.nsent, 2);
	cr_assert_eq(B.ndma_unmap, 1, "nothing to unregister");
}

/* A passive open without options (no timestamps: RTT comes from timing one segment, RFC 6298's
 * way) whose SYN-ACK is acknowledged `rtt` ms after it went out. */
static void open_timed(uint32_t rtt)
{
	teardown();
	h_bench_init(&B, NULL);
	h_learn_peer(&B);
	cr_assert_not_null(dp_tcp_listen(B.st, PORT, 16));
	struct h_tcp syn = H_TCP_INIT(.sport = PPORT, .dport = PORT, .seq = 500, .flags = H_SYN);
	h_clear(&B);
	h_send_tcp(&B, &syn);
	struct h_tcp sa = h_last_tcp(&B);
	cr_assert_eq(sa.flags, H_SYN | H_ACK);
	h_tick(&B, rtt);
	P = (struct peer){.b = &B, .sport = PPORT, .seq = 501, .ack = sa.seq + 1, .win = 65535};
	psend(H_ACK, NULL, 0);
	cr_assert_eq(B.naccepted, 1);
	C = B.accepted[0];
	h_clear(&B);
}

/* Sends n bytes and has the peer acknowledge them `rtt` ms later. */
static void timed_exchange(uint32_t n, uint32_t rtt)
{
	static uint8_t d[2000];
	struct iovec iov = {d, n};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	h_tick(&B, rtt);
	P.ack += n;
	psend(H_ACK, NULL, 0);
}

Test(dp_tcp, rtt_samples_set_srtt_rttvar_and_rto_per_rfc6298)
{
	open_timed(200);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	/* 2.2, the first measurement R = 200: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR */
	cr_assert_eq(in.srtt_ms, 200);
	cr_assert_eq(in.rttvar_ms, 100);
	cr_assert_eq(in.rto_ms, 600);
	/* 2.3, R' = 400: RTTVAR = 3/4 100 + 1/4 |200 - 400| = 125, SRTT = 7/8 200 + 1/8 400 = 225,
	 * RTO = 225 + 4 * 125 = 725 */
	timed_exchange(100, 400);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.srtt_ms, 225, "srtt %u", in.srtt_ms);
	cr_assert_eq(in.rttvar_ms, 125, "rttvar %u", in.rttvar_ms);
	cr_assert_eq(in.rto_ms, 725, "rto %u", in.rto_ms);
	/* the timer runs by it: nothing at 724 ms, the retransmission at 725 */
	static uint8_t d[100];
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	h_clear(&B);
	h_tick(&B, 724);
	cr_assert_eq(B.nout, 0);
	h_tick(&B, 1);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 1, "retransmitted at the RTO");
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.rto_ms, 1450, "5.5: backed off");
	/* Karn (section 3): the ACK of a retransmitted segment is no sample; the backed-off RTO
	 * stays until a new one (5.7) */
	h_tick(&B, 20);
	P.ack += 100;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.srtt_ms, 225, "no sample from a retransmission (srtt %u)", in.srtt_ms);
	cr_assert_eq(in.rto_ms, 1450);
	/* a fresh segment's sample of 225: RTTVAR = 3/4 125 = 93.75 (fixed point 93), RTO recomputed */
	timed_exchange(100, 225);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.srtt_ms, 225);
	cr_assert_eq(in.rttvar_ms, 93, "rttvar %u", in.rttvar_ms);
	cr_assert_eq(in.rto_ms, 600, "rto %u", in.rto_ms);
	cr_assert_eq(in.backoff, 0);
	/* 2.4: never below RTO.min (200 ms here, as Linux) however fast the samples */
	for (int i = 0; i < 40; i++)
		timed_exchange(100, 1);
	dp_tcp_get_info(C, &in);
	cr_assert_lt(in.srtt_ms, 10);
	cr_assert_eq(in.rto_ms, 200);
}

/* Segments of the captured frames that carry data. */
static uint32_t data_bytes_out(void)
{
	uint32_t n = 0;
	struct h_tcp t;
	for (size_t i = 0; i < B.nout; i++)
		if (h_parse_tcp(&B, i, &t))
			n += (uint32_t)t.len;
	return n;
}

Test(dp_tcp, cwnd_grows_in_slow_start_then_by_one_segment_a_window)
{
	const uint32_t mss = 1448;
	static uint8_t d[120000];
	struct iovec iov = {d, sizeof d};
	h_clear(&B);
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	struct dp_tcp_info in;
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.cwnd, 10 * mss, "RFC 6928's initial window");
	cr_assert_eq(data_bytes_out(), 10 * mss, "the initial window goes out, no more");
	/* slow start (RFC 5681 with RFC 3465's L = 2 SMSS): +acked per ACK, at most 2 SMSS */
	P.ack += mss;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.cwnd, 11 * mss);
	P.ack += 4 * mss;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.cwnd, 13 * mss, "an ACK of 4 segments opens 2");
	cr_assert_eq(in.unacked_bytes, 13 * mss, "the window is filled");
	/* a loss: three duplicates, ssthresh = flight / 2, the full ACK deflates to it */
	uint32_t una = P.ack;
	for (int i = 0; i < 3; i++)
		psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert(in.in_recovery);
	uint32_t ssthresh = in.ssthresh;
	cr_assert_eq(ssthresh, 13 * mss / 2);
	P.ack = una + 13 * mss;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert(!in.in_recovery);
	cr_assert_eq(in.cwnd, ssthresh);
	/* congestion avoidance: one segment more once a whole cwnd of bytes is acknowledged */
	uint32_t acked = 0;
	while (acked + mss < ssthresh) {
		dp_tcp_get_info(C, &in);
		cr_assert_geq(in.unacked_bytes, mss);
		P.ack += mss;
		acked += mss;
		psend(H_ACK, NULL, 0);
		dp_tcp_get_info(C, &in);
		cr_assert_eq(in.cwnd, ssthresh, "still %u after %u bytes acknowledged", in.cwnd, acked);
	}
	P.ack += mss;
	psend(H_ACK, NULL, 0);
	dp_tcp_get_info(C, &in);
	cr_assert_eq(in.cwnd, ssthresh + mss, "one segment after a window's worth (%u bytes)", acked + mss);
}

Test(dp_tcp, checksums_are_left_to_a_device_that_offers_them_and_computed_otherwise)
{
	/* the default bench's device offers nothing: every frame carries its own sums (h_parse_tcp
	 * checks them) and asks the device for none */
	static uint8_t d[3000];
	for (size_t i = 0; i < sizeof d; i++)
		d[i] = (uint8_t)(i * 7 + 1);
	struct iovec iov = {d, sizeof d};
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 3);
	cr_assert_eq(B.tx_ip_offloaded + B.tx_tcp_offloaded, 0);
	/* a device with IPv4 and TCP checksum offload: each frame asks for both, with the pseudo-
	 * header sum in place (the fake device completes them as DPDK's drivers do, and refuses
	 * frames that break the contract) */
	teardown();
	h_io_offload = DP_OFF_TX_IP_CSUM | DP_OFF_TX_TCP_CSUM;
	setup_cfg(NULL, true);
	h_io_offload = 0;
	int ip0 = B.tx_ip_offloaded, tcp0 = B.tx_tcp_offloaded;
	cr_assert_eq(ip0, 1, "the SYN-ACK asked for the IPv4 sum");
	cr_assert_eq(tcp0, 1, "and the TCP one");
	h_clear(&B);
	cr_assert_eq(dp_tcp_send(C, &iov, 1, NULL), 0);
	cr_assert_eq(h_count_tcp(&B, H_ACK), 3, "completed by the device, the sums are right");
	cr_assert_eq(B.tx_ip_offloaded, ip0 + 3);
	cr_assert_eq(B.tx_tcp_offloaded, tcp0 + 3);
	cr_assert_eq(B.tx_bad_offload, 0);
	/* received: a device that verified the checksums (DP_OFF_RX_CSUM_OK) is believed, the stack
	 * does not sum the frame again; without that flag a bad sum is dropped */
	uint8_t f[2048];
	struct h_tcp t = H_TCP_INIT(.sport = P.sport, .dport = PORT, .seq = P.seq, .ack = P.ack + 3000,
	                            .flags = H_ACK | H_PSH, .win = P.win, .data = d, .len = 100, .bad_csum = true,
	                            .ts = true, .tsval = (uint32_t)B.now, .tsecr = 1);
	size_t n = h_build_tcp(f, &t);
	dp_stack_input_flags(B.st, f, n, 0);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_bad_csum, 1);
	uint8_t got[200];
	cr_assert_eq(drain(got, sizeof got), 0);
	dp_stack_input_flags(B.st, f, n, DP_OFF_RX_CSUM_OK);
	cr_assert_eq(dp_stack_stats(B.st)->tcp_bad_csum, 1, "not summed again");
	cr_assert_eq(drain(got, sizeof got), 100);
	cr_assert_arr_eq(got, d, 100);
}
