/*
 * tests/unit/net/test_tcp_pair.c: two stacks wired back to back (1 ms each way) moving data
 * both ways through the socket-like API, clean and with loss, reordering and duplication
 * injected; the bytes must arrive identical and in order.  Also an active open to a closed
 * port, and a chain with a FILE segment sent from mapped memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define PORT 9092

static struct h_pair P;

static void setup(void) { h_pair_init(&P, NULL); }
static void teardown(void) { h_pair_fini(&P); }

TestSuite(dp_tcp_pair, .init = setup, .fini = teardown);

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Opens b -> a:PORT and returns both ends (server on a, client on b). */
static void open_pair(struct dp_tcp_conn **srv, struct dp_tcp_conn **cli)
{
	cr_assert_not_null(dp_tcp_listen(P.a.st, PORT, 8));
	*cli = dp_tcp_connect(P.b.st, H_IP_US, PORT);
	cr_assert_not_null(*cli);
	for (int i = 0; i < 20000 && (P.a.naccepted == 0 || P.b.nconnected == 0); i++)
		h_pair_run(&P, 1);
	cr_assert_eq(P.b.nconnected, 1);
	cr_assert_eq(P.b.last_connected_err, 0);
	cr_assert_eq(P.a.naccepted, 1);
	*srv = P.a.accepted[0];
	cr_assert_eq(dp_tcp_state(*srv), DP_TCP_ESTABLISHED);
	cr_assert_eq(dp_tcp_state(*cli), DP_TCP_ESTABLISHED);
}

/* Sends n bytes each way in 64 KiB requests and checks what arrives. */
static void transfer(size_t n, unsigned max_ms)
{
	struct dp_tcp_conn *srv, *cli;
	open_pair(&srv, &cli);
	uint8_t *up = malloc(n), *down = malloc(n), *got_up = malloc(n), *got_down = malloc(n);
	cr_assert(up && down && got_up && got_down);
	fill(up, n, 1);
	fill(down, n, 2);
	size_t chunk = 65536, queued_up = 0, queued_down = 0, rx_up = 0, rx_down = 0;
	int sent_a0 = P.a.nsent, sent_b0 = P.b.nsent;
	unsigned ms = 0;
	while ((rx_up < n || rx_down < n) && ms < max_ms) {
		/* keep two requests in flight per direction */
		while (queued_up < n && (size_t)(P.b.nsent - sent_b0) + 2 > queued_up / chunk) {
			size_t k = n - queued_up < chunk ? n - queued_up : chunk;
			struct iovec iov = {up + queued_up, k};
			cr_assert_eq(dp_tcp_send(cli, &iov, 1, NULL), 0);
			queued_up += k;
		}
		while (queued_down < n && (size_t)(P.a.nsent - sent_a0) + 2 > queued_down / chunk) {
			size_t k = n - queued_down < chunk ? n - queued_down : chunk;
			struct iovec iov = {down + queued_down, k};
			cr_assert_eq(dp_tcp_send(srv, &iov, 1, NULL), 0);
			queued_down += k;
		}
		h_pair_run(&P, 1);
		ms++;
		rx_up += dp_tcp_recv(srv, got_up + rx_up, n - rx_up);
		rx_down += dp_tcp_recv(cli, got_down + rx_down, n - rx_down);
	}
	cr_assert_eq(rx_up, n, "client->server got %zu of %zu in %u ms", rx_up, n, ms);
	cr_assert_eq(rx_down, n, "server->client got %zu of %zu in %u ms", rx_down, n, ms);
	cr_assert(memcmp(up, got_up, n) == 0, "client->server bytes differ");
	cr_assert(memcmp(down, got_down, n) == 0, "server->client bytes differ");
	/* orderly close from both ends */
	dp_tcp_close(cli);
	dp_tcp_close(srv);
	h_pair_run(&P, 3000);
	cr_assert_eq(P.a.nsent - sent_a0, (int)((n + chunk - 1) / chunk));
	cr_assert_eq(P.b.nsent - sent_b0, (int)((n + chunk - 1) / chunk));
	cr_assert_eq(P.a.last_sent_err, 0);
	free(up);
	free(down);
	free(got_up);
	free(got_down);
}

Test(dp_tcp_pair, megabytes_both_ways_on_a_clean_wire)
{
	transfer(4u << 20, 20000);
	cr_assert_eq(dp_stack_stats(P.a.st)->tcp_retransmits, 0);
	cr_assert_eq(P.dropped, 0);
}

Test(dp_tcp_pair, loss_reordering_and_duplicates_still_deliver_every_byte_in_order)
{
	P.loss_pct = 2;
	P.reorder_pct = 5;
	P.dup_pct = 1;
	transfer(1u << 20, 120000);
	const struct dp_stack_stats *a = dp_stack_stats(P.a.st), *b = dp_stack_stats(P.b.st);
	cr_assert_gt(P.dropped, 0);
	cr_assert_gt(P.reordered, 0);
	cr_assert_gt(a->tcp_retransmits + b->tcp_retransmits, 0);
	cr_assert_gt(a->tcp_fast_retransmits + b->tcp_fast_retransmits, 0, "losses in a full window end in fast retransmits");
	cr_assert_gt(a->tcp_ooo_segments + b->tcp_ooo_segments, 0);
	/* both stacks offered SACK: the senders recover from the peers' blocks */
	cr_assert_gt(a->tcp_sacked_bytes + b->tcp_sacked_bytes, 0);
	cr_assert_gt(a->tcp_sack_recoveries + b->tcp_sack_recoveries, 0);
}

Test(dp_tcp_pair, heavy_loss_recovers_through_timeouts)
{
	P.loss_pct = 15;
	transfer(256u << 10, 300000);
	const struct dp_stack_stats *a = dp_stack_stats(P.a.st), *b = dp_stack_stats(P.b.st);
	cr_assert_gt(a->tcp_rto_expiries + b->tcp_rto_expiries, 0);
}

Test(dp_tcp_pair, connect_to_a_closed_port_is_refused)
{
	struct dp_tcp_conn *c = dp_tcp_connect(P.b.st, H_IP_US, 4444);
	cr_assert_not_null(c);
	h_pair_run(&P, 10);
	cr_assert_eq(P.b.nconnected, 1);
	cr_assert_eq(P.b.last_connected_err, -ECONNREFUSED);
	cr_assert_eq(dp_tcp_state(c), DP_TCP_CLOSED);
	dp_tcp_close(c);
}

Test(dp_tcp_pair, chain_with_a_file_segment_is_sent_from_mapped_memory)
{
	struct dp_tcp_conn *srv, *cli;
	open_pair(&srv, &cli);
	char path[] = "/tmp/dp_net_chainXXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	size_t fl = 300000;
	uint8_t *file = malloc(fl);
	fill(file, fl, 3);
	cr_assert_eq(write(fd, file, fl), (ssize_t)fl);
	struct rt_chain ch;
	rt_chain_init(&ch, 0);
	rt_buf_put(rt_chain_buf(&ch), "HEAD", 4);
	cr_assert_eq(rt_chain_add_file(&ch, fd, 5000, 200000), 0); /* an offset off the page grid */
	rt_buf_put(rt_chain_buf(&ch), "TAIL", 4);
	cr_assert_eq(rt_chain_finish(&ch), 0);
	size_t n = rt_chain_len(&ch);
	cr_assert_eq(dp_tcp_send_chain(srv, &ch, (void *)0x77), 0);
	uint8_t *got = malloc(n);
	size_t rx = 0;
	for (int i = 0; i < 10000 && rx < n; i++) {
		h_pair_run(&P, 1);
		rx += dp_tcp_recv(cli, got + rx, n - rx);
	}
	cr_assert_eq(rx, n);
	cr_assert(memcmp(got, "HEAD", 4) == 0);
	cr_assert(memcmp(got + 4, file + 5000, 200000) == 0);
	cr_assert(memcmp(got + 4 + 200000, "TAIL", 4) == 0);
	h_pair_run(&P, 10);
	cr_assert_eq(P.a.last_sent_cookie, (void *)0x77);
	cr_assert_eq(P.a.last_sent_err, 0);
	rt_chain_fini(&ch);
	close(fd);
	free(file);
	free(got);
}
