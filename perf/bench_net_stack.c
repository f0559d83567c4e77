/*
 * perf/bench_net_stack.c: the DPDK backend's TCP/IP stack (dataplane/net_dpdk) measured in a
 * back-to-back pair on one thread: two stack instances, a "wire" that copies each frame once
 * (as a NIC's DMA would), software checksums both ways.  Reports bulk throughput of one
 * connection and the round trip of 100-byte request/response exchanges, next to memcpy of the
 * same bytes measured in the same run.  The stack's cost per byte is the figure of interest:
 * everything here is CPU (checksums, one frame copy, the receive-ring copy).  Then the cost of
 * the stack's tick in a polling round where no millisecond passed, beside a clock read.
 *
 * Usage: bench_net_stack [MiB per repetition] [repetitions]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/net_dpdk/stack.h"

#define QMAX 8192

struct wire {
	uint8_t (*f)[1600];
	uint16_t *len;
	size_t n;
};

static struct wire w[2];  /* w[0]: frames a sent, w[1]: frames b sent */
static struct dp_tcp_conn *srv, *cli;
static uint64_t sent_done;

static int tx(void *ctx, const struct dp_pkt_tx *p)
{
	struct wire *q = ctx;
	if (q->n == QMAX)
		return -105;
	uint8_t *d = q->f[q->n];
	memcpy(d, p->hdr, p->hdr_len);
	size_t off = p->hdr_len;
	for (int i = 0; i < p->iovcnt; i++) {
		memcpy(d + off, p->iov[i].iov_base, p->iov[i].iov_len);
		off += p->iov[i].iov_len;
	}
	q->len[q->n++] = (uint16_t)off;
	return 0;
}

static void acceptable(void *ctx, struct dp_tcp_listener *l) { (void)ctx; srv = dp_tcp_accept(l); }
static void sent(void *ctx, struct dp_tcp_conn *c, void *cookie, int err) { (void)ctx; (void)c; (void)cookie; (void)err; sent_done++; }

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct dp_stack *A, *B;
static uint64_t clock_ms = 1000;

/* Delivers what each side sent.  Input may make the receiver send: the sender's queue is
 * swapped for a spare one first, so delivered frames are not copied again. */
static void pump(void)
{
	static uint8_t (*spare_f)[1600];
	static uint16_t *spare_len;
	if (!spare_f) {
		spare_f = malloc(sizeof(*spare_f) * QMAX);
		spare_len = malloc(sizeof(*spare_len) * QMAX);
	}
	for (int side = 0; side < 2; side++) {
		struct wire *q = &w[side];
		size_t n = q->n;
		uint8_t (*f)[1600] = q->f;
		uint16_t *len = q->len;
		q->f = spare_f;
		q->len = spare_len;
		q->n = 0;
		for (size_t i = 0; i < n; i++)
			dp_stack_input(side ? A : B, f[i], len[i]);
		spare_f = f;
		spare_len = len;
	}
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 256;
	int reps = argc > 2 ? atoi(argv[2]) : 3;
	for (int i = 0; i < 2; i++) {
		w[i].f = malloc(sizeof(*w[i].f) * QMAX);
		w[i].len = malloc(sizeof(*w[i].len) * QMAX);
	}
	struct dp_stack_cfg ca = {.mac = {2, 0, 0, 0, 0, 1}, .ip = 0x0a000001, .netmask = 0xffffff00, .rcvbuf = 4 << 20, .isn_secret = 1};
	struct dp_stack_cfg cb = {.mac = {2, 0, 0, 0, 0, 2}, .ip = 0x0a000002, .netmask = 0xffffff00, .rcvbuf = 4 << 20, .isn_secret = 2};
	struct dp_pktio ia = {.ctx = &w[0], .tx = tx}, ib = {.ctx = &w[1], .tx = tx};
	struct dp_tcp_cb cbs = {.acceptable = acceptable, .sent = sent};
	A = dp_stack_create(&ca, &ia, &cbs);
	B = dp_stack_create(&cb, &ib, &cbs);
	dp_stack_tick(A, clock_ms);
	dp_stack_tick(B, clock_ms);
	dp_tcp_listen(A, 9092, 16);
	cli = dp_tcp_connect(B, 0x0a000001, 9092);
	for (int i = 0; i < 20 && !srv; i++)
		pump();
	if (!srv || dp_tcp_state(cli) != DP_TCP_ESTABLISHED) {
		fprintf(stderr, "bench_net_stack: no connection\n");
		return 1;
	}
	size_t chunk = 1 << 20;
	uint8_t *src = malloc(chunk), *dst = malloc(chunk);
	for (size_t i = 0; i < chunk; i++)
		src[i] = (uint8_t)(i * 31);
	printf("{\"bench\": \"net_stack\", \"mib\": %zu, \"runs\": [", mib);
	double best_stack = 0, best_mem = 0;
	for (int r = 0; r < reps; r++) {
		/* bulk: cli -> srv, mib MiB in 1 MiB send requests, two in flight */
		size_t total = mib * chunk, queued = 0, got = 0;
		sent_done = 0;
		uint64_t t0 = now_ns();
		while (got < total) {
			while (queued < total && queued - (size_t)sent_done * chunk < 2 * chunk) {
				struct iovec iov = {src, chunk};
				dp_tcp_send(cli, &iov, 1, NULL);
				queued += chunk;
			}
			pump();
			const uint8_t *p1, *p2;
			size_t n1, n2, n = dp_tcp_recv_peek(srv, &p1, &n1, &p2, &n2);
			if (n) {
				memcpy(dst, p1, n1 < chunk ? n1 : chunk); /* the application reads the bytes */
				dp_tcp_recv_consume(srv, n);
				got += n;
			}
			if (w[0].n == 0 && w[1].n == 0 && !n) {
				clock_ms += 1;
				dp_stack_tick(A, clock_ms);
				dp_stack_tick(B, clock_ms);
			}
		}
		double secs = (now_ns() - t0) / 1e9;
		double stack_mbs = total / secs / 1e6;
		t0 = now_ns();
		for (size_t i = 0; i < mib; i++)
			memcpy(dst, src, chunk);
		double msecs = (now_ns() - t0) / 1e9;
		double mem_mbs = total / msecs / 1e6;
		/* latency: 100-byte request, 100-byte response, one at a time */
		int rounds = 20000;
		uint8_t msg[100] = {1};
		uint64_t l0 = now_ns();
		for (int k = 0; k < rounds; k++) {
			struct iovec iov = {msg, sizeof msg};
			dp_tcp_send(cli, &iov, 1, NULL);
			size_t have = 0;
			while (have < sizeof msg) {
				pump();
				have += dp_tcp_recv(srv, dst, sizeof msg - have);
			}
			dp_tcp_send(srv, &iov, 1, NULL);
			have = 0;
			while (have < sizeof msg) {
				pump();
				have += dp_tcp_recv(cli, dst, sizeof msg - have);
			}
		}
		double rtt_us = (now_ns() - l0) / 1e3 / rounds;
		printf("%s{\"stack_MBps\": %.0f, \"memcpy_MBps\": %.0f, \"ratio\": %.4f, \"rtt_us\": %.2f}",
		       r ? ", " : "", stack_mbs, mem_mbs, stack_mbs / mem_mbs, rtt_us);
		if (stack_mbs > best_stack) {
			best_stack = stack_mbs;
			best_mem = mem_mbs;
		}
	}
	/* what a polling shard pays for its per-round tick when no millisecond passed, beside a
	 * clock_gettime (the round reads the clock anyway) */
	uint64_t k0 = now_ns();
	for (int i = 0; i < 10000000; i++)
		dp_stack_tick(A, clock_ms);
	double tick_ns = (now_ns() - k0) / 1e7;
	k0 = now_ns();
	for (int i = 0; i < 10000000; i++)
		(void)now_ns();
	double clock_ns = (now_ns() - k0) / 1e7;
	const struct dp_stack_stats *s = dp_stack_stats(A);
	printf("], \"best_stack_MBps\": %.0f, \"memcpy_MBps_same_run\": %.0f, \"frames_in\": %lu, "
	       "\"idle_tick_ns\": %.1f, \"clock_gettime_ns\": %.1f}\n",
	       best_stack, best_mem, (unsigned long)s->rx_frames, tick_ns, clock_ns);
	dp_stack_destroy(A);
	dp_stack_destroy(B);
	return 0;
}
