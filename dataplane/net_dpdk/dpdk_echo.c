/*
 * dataplane/net_dpdk/dpdk_echo.c: ringtail-dpdk-echo, a test and measurement program for the
 * DPDK path without the broker: one shard polls one queue of a DPDK port and runs the stack,
 * listening on a TCP port; every byte a client sends comes back (or, with mode=discard, is
 * consumed).  The interop tests drive it from the kernel's own TCP in another namespace.
 *
 *   ringtail-dpdk-echo ringtail.dpdk.port=net_af_packet0,iface=veth0 ringtail.dpdk.ip=10.0.0.1 \
 *       [listen.port=7] [mode=echo|discard] [test.drop.pct=N] [test.reorder.pct=N] [ringtail.dpdk.* ...]
 *
 * test.drop.pct drops that share of frames each way and test.reorder.pct holds that share of
 * sent frames back behind the next one: loss and reordering injected on the DPDK side, for
 * hosts whose kernel has no netem.
 *
 * It prints "ready: <port description>" once it serves, and its counters on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "dataplane/net_dpdk/dpdk_config.h"
#include "dataplane/net_dpdk/port.h"

#define ECHO_CHUNK 65536
#define ECHO_MAX_PENDING (1 << 20)

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

struct conn_state {
	size_t pending;  /* bytes sent and not yet acknowledged */
	bool closed;
};

static bool discard_mode;
static struct dp_tcp_listener *listener;

static void pump(struct dp_tcp_conn *c)
{
	struct conn_state *cs = dp_tcp_user(c);
	if (!cs || cs->closed)
		return;
	for (;;) {
		if (discard_mode) {
			const uint8_t *p1, *p2;
			size_t n1, n2;
			size_t n = dp_tcp_recv_peek(c, &p1, &n1, &p2, &n2);
			if (!n)
				break;
			dp_tcp_recv_consume(c, n);
			continue;
		}
		if (cs->pending >= ECHO_MAX_PENDING)
			return; /* back-pressure: read again once sends complete */
		uint8_t *buf = malloc(ECHO_CHUNK);
		if (!buf)
			return;
		size_t n = dp_tcp_recv(c, buf, ECHO_CHUNK);
		if (!n) {
			free(buf);
			break;
		}
		struct iovec iov = {buf, n};
		if (dp_tcp_send(c, &iov, 1, buf) != 0) {
			free(buf);
			break;
		}
		cs->pending += n;
	}
	if (dp_tcp_eof(c)) {
		cs->closed = true;
		dp_tcp_close(c);
	}
}

static void cb_acceptable(void *ctx, struct dp_tcp_listener *l)
{
	(void)ctx;
	struct dp_tcp_conn *c;
	while ((c = dp_tcp_accept(l)) != NULL) {
		struct conn_state *cs = calloc(1, sizeof *cs);
		if (!cs) {
			dp_tcp_abort(c);
			continue;
		}
		dp_tcp_set_user(c, cs);
		pump(c);
	}
}

static void cb_readable(void *ctx, struct dp_tcp_conn *c) { (void)ctx; pump(c); }

static void cb_sent(void *ctx, struct dp_tcp_conn *c, void *cookie, int err)
{
	(void)ctx;
	(void)err;
	free(cookie);
	if (!c) /* finished after its connection was freed (the device held the memory) */
		return;
	struct conn_state *cs = dp_tcp_user(c);
	if (!cs)
		return;
	/* sizes are not kept per request: a request is at most ECHO_CHUNK */
	cs->pending = cs->pending > ECHO_CHUNK ? cs->pending - ECHO_CHUNK : 0;
	if (cs->closed) {
		return;
	}
	pump(c);
}

static void cb_closed(void *ctx, struct dp_tcp_conn *c, int err)
{
	(void)ctx;
	(void)err;
	struct conn_state *cs = dp_tcp_user(c);
	if (cs)
		cs->closed = true;
	dp_tcp_close(c);
}

/* The fault layer between the stack and the queue. */
static struct dp_pktio port_io;
static unsigned tx_drop_pct, tx_reorder_pct;
static uint64_t fault_rng = 0x9e3779b97f4a7c15ull;
static uint8_t held[2048];
static size_t held_len;
static uint64_t faults_dropped, faults_reordered;

static unsigned roll(void)
{
	fault_rng ^= fault_rng << 13;
	fault_rng ^= fault_rng >> 7;
	fault_rng ^= fault_rng << 17;
	return (unsigned)(fault_rng % 100);
}

static int release_held(void)
{
	if (!held_len)
		return 0;
	struct dp_pkt_tx p = {.hdr = held, .hdr_len = (uint16_t)held_len, .l2_len = 14};
	held_len = 0;
	return port_io.tx(port_io.ctx, &p);
}

static int fault_tx(void *ctx, const struct dp_pkt_tx *p)
{
	(void)ctx;
	if (tx_drop_pct && roll() < tx_drop_pct) {
		faults_dropped++;
		return 0;
	}
	if (tx_reorder_pct && !held_len && p->hdr_len + p->payload_len <= sizeof held && roll() < tx_reorder_pct) {
		/* held frames go out flat, checksums already in place (offloads are off here) */
		memcpy(held, p->hdr, p->hdr_len);
		size_t off = p->hdr_len;
		for (int i = 0; i < p->iovcnt; i++) {
			memcpy(held + off, p->iov[i].iov_base, p->iov[i].iov_len);
			off += p->iov[i].iov_len;
		}
		held_len = off;
		faults_reordered++;
		return 0;
	}
	int rc = port_io.tx(port_io.ctx, p);
	release_held();
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {"echo", "discard", NULL};
	struct rt_cfg_def defs[32];
	size_t nd = 0;
	for (size_t i = 0; i < dp_dpdk_cfg_ndefs; i++)
		defs[nd++] = dp_dpdk_cfg_defs[i];
	defs[nd++] = (struct rt_cfg_def){"listen.port", RT_CFG_INT, "7", .min = 1, .max = 65535,
	                                 .doc = "TCP port served"};
	defs[nd++] = (struct rt_cfg_def){"mode", RT_CFG_ENUM, "echo", .allowed = modes,
	                                 .doc = "echo: send back what arrives; discard: consume it"};
	defs[nd++] = (struct rt_cfg_def){"test.drop.pct", RT_CFG_INT, "0", .min = 0, .max = 50,
	                                 .doc = "frames dropped each way, in percent"};
	defs[nd++] = (struct rt_cfg_def){"test.reorder.pct", RT_CFG_INT, "0", .min = 0, .max = 50,
	                                 .doc = "sent frames held behind the next one, in percent"};
	char err[512];
	struct rt_cfg *cfg = rt_cfg_create(defs, nd, err, sizeof err);
	if (!cfg || rt_cfg_load(cfg, NULL, (const char *const *)argv + 1, (size_t)argc - 1, err, sizeof err)) {
		fprintf(stderr, "ringtail-dpdk-echo: %s\n", err);
		return 2;
	}
	struct dp_dpdk_cfg dc;
	if (dp_dpdk_cfg_read(cfg, &dc, err, sizeof err)) {
		fprintf(stderr, "ringtail-dpdk-echo: %s\n", err);
		return 2;
	}
	discard_mode = rt_cfg_enum(cfg, "mode") == 1;
	struct dp_port *port = dp_port_open(&dc, 1, err, sizeof err);
	if (!port) {
		fprintf(stderr, "ringtail-dpdk-echo: %s\n", err);
		return 1;
	}
	struct dp_port_queue *q = dp_port_queue(port, 0);
	struct dp_stack_cfg sc = {.ip = dc.ip, .netmask = dc.netmask, .gateway = dc.gateway,
	                          .mtu = dc.mtu, .rcvbuf = dc.rcvbuf};
	dp_port_mac(port, sc.mac);
	struct dp_pktio io = {0};
	dp_port_queue_pktio(q, &io);
	tx_drop_pct = (unsigned)rt_cfg_int(cfg, "test.drop.pct");
	tx_reorder_pct = (unsigned)rt_cfg_int(cfg, "test.reorder.pct");
	if (tx_drop_pct || tx_reorder_pct) {
		port_io = io;
		io.tx = fault_tx;
		io.offload = 0;
		dp_port_queue_set_rx_drop(q, tx_drop_pct);
	}
	struct dp_tcp_cb cb = {.acceptable = cb_acceptable, .readable = cb_readable, .sent = cb_sent,
	                       .closed = cb_closed};
	struct dp_stack *st = dp_stack_create(&sc, &io, &cb);
	if (!st) {
		fprintf(stderr, "ringtail-dpdk-echo: out of memory\n");
		return 1;
	}
	dp_stack_tick(st, now_ms());
	listener = dp_tcp_listen(st, (uint16_t)rt_cfg_int(cfg, "listen.port"), 128);
	if (!listener) {
		fprintf(stderr, "ringtail-dpdk-echo: listen: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready: %s; %s mode on port %ld, mac %02x:%02x:%02x:%02x:%02x:%02x\n", dp_port_describe(port),
	       discard_mode ? "discard" : "echo", (long)rt_cfg_int(cfg, "listen.port"),
	       sc.mac[0], sc.mac[1], sc.mac[2], sc.mac[3], sc.mac[4], sc.mac[5]);
	fflush(stdout);
	while (!stop) {
		dp_port_queue_poll(q, st, now_ms());
		if (held_len && release_held() == 0)
			dp_port_queue_poll(q, st, now_ms()); /* flushes it */
	}
	const struct dp_stack_stats *s = dp_stack_stats(st);
	struct dp_port_stats ps;
	dp_port_queue_stats(q, &ps);
	printf("faults: fault_dropped_out=%lu fault_reordered_out=%lu fault_dropped_in=%lu\n", (unsigned long)faults_dropped,
	       (unsigned long)faults_reordered, (unsigned long)ps.rx_fault_dropped);
	printf("stats: rx_frames=%lu tx_frames=%lu tx_dropped=%lu zerocopy_segs=%lu copied_bytes=%lu "
	       "conns=%lu retransmits=%lu fast_retransmits=%lu rto=%lu ooo=%lu bad_csum=%lu arp_replies=%lu "
	       "icmp_echo=%lu\n",
	       (unsigned long)ps.rx_frames, (unsigned long)ps.tx_frames, (unsigned long)ps.tx_dropped,
	       (unsigned long)ps.tx_zerocopy_segs, (unsigned long)ps.tx_copied_bytes,
	       (unsigned long)s->tcp_conns_established, (unsigned long)s->tcp_retransmits,
	       (unsigned long)s->tcp_fast_retransmits, (unsigned long)s->tcp_rto_expiries,
	       (unsigned long)s->tcp_ooo_segments, (unsigned long)(s->tcp_bad_csum + s->ip_bad_csum),
	       (unsigned long)s->arp_replies_out, (unsigned long)s->icmp_echo_replied);
	fflush(stdout);
	dp_stack_destroy(st);
	dp_port_close(port);
	rt_cfg_destroy(cfg);
	return 0;
}
