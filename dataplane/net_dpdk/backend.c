/*
 * dataplane/net_dpdk/backend.c: the broker's `dpdk` network backend (dataplane/net.h) over
 * the stack (stack.h) and the port driver (port.h).  Each shard owns one queue pair of the
 * port and one stack instance, and busy-polls them from its loop (the `poll` hook), except
 * that while storage I/O the shard started is in flight and its queue gives nothing it naps
 * for at most DPDK_NAP_US (see poll_op).
 *
 * Completions reach the connection layer the way io_uring completions do: never from inside a
 * call the connection layer made, but from the shard's poll.  The stack's callbacks only queue
 * events; poll delivers them after the stack's work.  A dp_conn's backend state (struct dconn)
 * outlives the TCP connection: when the stack lets go of it (a reset, our close) `tc` is NULL.
 *
 * Shard-aware mode (ringtail.advertise.shards): shard i's own port is steered to queue i with an
 * rte_flow rule where the device takes one, and then only shard i listens there.  Where it does
 * not (af_packet, and tap without the kernel's TC flower), every shard listens on every shard
 * port: a flow lands on the shard the device's hash picks and its requests hop to the owners,
 * as on the shared port, instead of being dropped by a shard that has no listener.
 *
 * Sends: the connection layer has one response in flight per connection and sends the next
 * when dp_conn_sent comes.  A chain that borrows record memory (FILE segments, or large) stays
 * borrowed until the peer acknowledged it, so its dp_conn_sent waits for that ACK; a small one
 * (a Produce answer, metadata) is copied into a buffer the stack owns and reported sent at the
 * next poll, as a kernel socket reports it once in its buffer -- otherwise each pipelined answer
 * would wait for the peer's (often delayed) ACK of the one before.  The copies a connection may
 * have unacknowledged are bounded (COPY_QUEUE_MAX), beyond it sends wait for ACKs again.  The
 * copies' buffers come from the shard's pool (copy_pool.h), not from malloc per answer.
 *
 * Receives: a segment the stack lends (cb_lend: in order, nothing before it waiting) stays in
 * its mbuf; when it holds whole request frames they become requests there, each holding the
 * mbuf until released (no copy: storage writes the batch from the mbuf), else the connection
 * layer copies it.  Lent pieces always go before the ring's bytes.  Otherwise receives hand the
 * connection layer the in-order bytes as they lie in the stack's ring
 * (borrowed for the call) and consume them afterwards.  The rest of a large frame (recv_into)
 * is lent to the stack, which copies in-order segments from the mbuf straight into it
 * (dp_tcp_recv_direct): one copy between the wire and the request buffer instead of two.  Sends give the chain to the stack,
 * which keeps it borrowed until the peer acknowledged it; dp_conn_sent comes then.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/bytes.h"
#include "base/log.h"
#include "dataplane/broker.h"
#include "dataplane/conn.h"
#include "dataplane/net.h"
#include "dataplane/net_dpdk/backend.h"
#include "dataplane/net_dpdk/copy_pool.h"
#include "dataplane/net_dpdk/port.h"
#include "dataplane/net_dpdk/rx_lend.h"
#include "dataplane/net_dpdk/stack.h"
#include "dataplane/net_dpdk/steer.h"
#include "dataplane/shard.h"
#include "kp_msgs.h"
#include "storage/storage.h"

enum ev_kind { EV_SENT, EV_READABLE, EV_FAILED, EV_SHUTDOWN };

#define COPY_QUEUE_MAX (256u << 10)  /* bytes unacknowledged or unsent before copies stop */
#define COPY_CACHE (4u << 20)        /* bytes of copy buffers a shard keeps for reuse */
#define LEND_MAX 1024                /* frames a shard's connections hold before delivery */
#define DPDK_NAP_US 50                /* the longest a shard sleeps on its storage I/O with its queue
                                      * unwatched (frames wait in the device's ring meanwhile) */
#define CHAIN_MIN (4u << 10)         /* frames over several segments taken in place from this size */

/* A send's cookie for the stack: the connection's own (borrowed chain), or a copy it owns. */
struct dsend {
	struct dconn *d;
	bool copied;
};

struct dcopy {
	struct dsend h;  /* copied = true; back to the pool with the stack's `sent` callback */
	uint8_t data[];
};

struct dconn {
	struct dp_conn *c;
	struct dp_tcp_conn *tc;       /* NULL once the stack has it alone */
	struct dsend zc;              /* the cookie of a borrowed-chain send */
	bool recv_armed, send_pending, readable_queued;
	int err;                      /* the connection died: -ECONNRESET, -ETIMEDOUT */
	/* recv_into: the rest of a large frame (borrowed from the connection layer); the stack
	 * places in-order segments there directly (dp_tcp_recv_direct) */
	uint8_t *into;
	size_t into_len, into_have;   /* into_have: bytes already there (copied from the ring) */
	struct dp_lend_q lq;          /* bytes the stack lent in their frames, before the ring's */
};

struct ev {
	struct dconn *d;
	uint8_t kind;
	int err;
};

struct dshard {
	struct dp_shard *s;
	struct dp_port_queue *q;
	struct dp_stack *st;
	struct dp_tcp_listener **lis;   /* the shared port, then the shard-aware ports served */
	int nlis;
	struct dp_tcp_conn *accepting;  /* handed to the next recv() of a new dp_conn */
	struct ev *evs;
	size_t nev, evcap;
	struct dp_cpool *copies;        /* buffers of copied answers (struct dcopy) */
	struct dp_lend_pool lend;       /* received frames lent to connections (rx_lend.h) */
};

static struct dp_port *port;
static struct dp_dpdk_cfg dcfg;
static bool steered;  /* shard i's own port reaches queue i only (rte_flow, or one queue) */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct dshard *DS(struct dp_shard *s) { return s->dpdk; }

static void push(struct dshard *ds, struct dconn *d, enum ev_kind k, int err)
{
	if (ds->nev == ds->evcap) {
		size_t cap = ds->evcap ? ds->evcap * 2 : 64;
		struct ev *n = realloc(ds->evs, cap * sizeof *n);
		if (!n)
			abort(); /* an event lost would leak a connection forever */
		ds->evs = n;
		ds->evcap = cap;
	}
	ds->evs[ds->nev++] = (struct ev){d, (uint8_t)k, err};
}

/* ---- stack callbacks (queue only) ---- */

static void cb_acceptable(void *ctx, struct dp_tcp_listener *l)
{
	struct dshard *ds = ctx;
	struct dp_tcp_conn *tc;
	while ((tc = dp_tcp_accept(l)) != NULL) {
		ds->accepting = tc;
		dp_conn_accepted(ds->s, &dp_net_dpdk, -1);
		if (ds->accepting) { /* refused (draining) or no memory */
			ds->accepting = NULL;
			dp_tcp_abort(tc);
		}
	}
}

static void cb_readable(void *ctx, struct dp_tcp_conn *tc)
{
	struct dconn *d = dp_tcp_user(tc);
	if (d && !d->readable_queued) {
		d->readable_queued = true;
		push(ctx, d, EV_READABLE, 0);
	}
}

/* In-order bytes in a received frame: kept there (the frame held) unless the connection is
 * receiving into a frame buffer already (recv_into: the stack's direct receive copies once
 * anyway), or the queue's mbufs run low. */
static bool cb_lend(void *ctx, struct dp_tcp_conn *tc, uint8_t *p, size_t n, void *ref)
{
	struct dshard *ds = ctx;
	struct dconn *d = dp_tcp_user(tc);
	if (!d || !d->c || d->into)
		return false;
	if (!dp_port_frame_can_lend(ref)) {
		ds->lend.st.declined++;
		return false;
	}
	return dp_lend_take(&ds->lend, &d->lq, p, n, ref);
}

static void cb_sent(void *ctx, struct dp_tcp_conn *tc, void *cookie, int err)
{
	(void)tc;
	struct dsend *h = cookie;
	if (h->copied) { /* reported sent already; a connection that died says so on its own */
		dp_cpool_put(((struct dshard *)ctx)->copies, h);
		return;
	}
	push(ctx, h->d, EV_SENT, err);
}

static void cb_closed(void *ctx, struct dp_tcp_conn *tc, int err)
{
	struct dconn *d = dp_tcp_user(tc);
	if (d && d->into)
		d->into_have += dp_tcp_recv_direct_end(tc);
	dp_tcp_close(tc);
	if (!d)
		return;
	d->tc = NULL;
	d->err = err ? err : -ECONNRESET;
	push(ctx, d, EV_FAILED, d->err);
}

/* ---- the ops ---- */

static int steer_rule(void *dev, uint16_t tcp_port, uint16_t q, char *why, size_t whylen)
{
	return dp_port_steer_tcp(dev, dcfg.ip, tcp_port, q, why, whylen);
}

static void steer_undo(void *dev) { dp_port_unsteer(dev); }

int dp_net_dpdk_setup(struct dp_broker *b, const struct dp_dpdk_cfg *dc, char *err, size_t errlen)
{
	dcfg = *dc;
	port = dp_port_open(dc, (uint16_t)b->nshards, err, errlen);
	if (!port)
		return -ENODEV;
	RT_INFO("dpdk: %s", dp_port_describe(port));
	if (!b->cfg.advertise_shards)
		return 0;
	char why[256] = "";
	steered = dp_steer_shards(b->nshards, dp_port_nqueues(port), b->cfg.listen_port, steer_rule, steer_undo,
	                          port, why, sizeof why);
	if (steered)
		RT_INFO("dpdk: shard-aware ports %u..%u steered to their shards' queues", b->cfg.listen_port + 1,
		        b->cfg.listen_port + b->nshards);
	else
		RT_INFO("dpdk: no rte_flow steering on this device (%s): every shard listens on every shard-aware "
		        "port and flows spread over the queues like the others", why);
	return 0;
}

static int shard_init(struct dp_shard *s)
{
	struct dshard *ds = calloc(1, sizeof *ds);
	if (!ds)
		return -ENOMEM;
	ds->s = s;
	ds->q = dp_port_queue(port, (uint16_t)s->id);
	struct dp_stack_cfg sc = {.ip = dcfg.ip, .netmask = dcfg.netmask, .gateway = dcfg.gateway,
	                          .mtu = dcfg.mtu, .rcvbuf = dcfg.rcvbuf,
	                          .quiet_unknown = dp_port_nqueues(port) > 1};
	dp_port_mac(port, sc.mac);
	struct dp_pktio io = {0};
	dp_port_queue_pktio(ds->q, &io);
	struct dp_tcp_cb cb = {.ctx = ds, .acceptable = cb_acceptable, .readable = cb_readable,
	                       .lend = cb_lend, .sent = cb_sent, .closed = cb_closed};
	ds->lend = (struct dp_lend_pool){.hold = dp_port_frame_hold, .release = dp_port_frame_release,
	                                 .max = LEND_MAX};
	ds->copies = dp_cpool_create(COPY_CACHE);
	ds->st = ds->copies ? dp_stack_create(&sc, &io, &cb) : NULL;
	if (!ds->st) {
		dp_cpool_destroy(ds->copies);
		free(ds);
		return -ENOMEM;
	}
	dp_stack_tick(ds->st, now_ms());
	s->dpdk = ds;
	return 0;
}

static int listen_clients(struct dp_shard *s)
{
	struct dshard *ds = DS(s);
	const struct dp_config *cfg = &s->b->cfg;
	int n = s->b->nshards;
	ds->lis = calloc((size_t)n + 1, sizeof *ds->lis);
	if (!ds->lis)
		return -ENOMEM;
	uint16_t ports[n + 1];
	int np = dp_steer_ports(s->id, n, cfg->listen_port, cfg->advertise_shards, steered, ports);
	for (int i = 0; i < np; i++) {
		ds->lis[ds->nlis] = dp_tcp_listen(ds->st, ports[i], 1024);
		if (!ds->lis[ds->nlis])
			return errno ? -errno : -EADDRINUSE;
		ds->nlis++;
	}
	s->accepting = true;
	return 0;
}

static void stop_accept(struct dp_shard *s)
{
	struct dshard *ds = DS(s);
	for (int i = 0; ds && i < ds->nlis; i++)
		dp_tcp_unlisten(ds->lis[i]);
	if (ds)
		ds->nlis = 0;
}

/* One line per shard at exit: what the queue moved and what TCP had to repair, so that a run
 * (and the tests) can tell how record bytes left (in place or copied) and what the wire did. */
static void log_stats(const struct dshard *ds)
{
	struct dp_port_stats ps;
	dp_port_queue_stats(ds->q, &ps);
	const struct dp_stack_stats *t = dp_stack_stats(ds->st);
	RT_INFO("dpdk: shard %d stats: rx_frames=%lu tx_frames=%lu tx_dropped=%lu zerocopy_segs=%lu "
	        "zerocopy_bytes=%lu copied_bytes=%lu conns=%lu retransmits=%lu fast_retransmits=%lu "
	        "rto_expiries=%lu ooo_segments=%lu dup_segments=%lu out_of_window=%lu ip_bad_csum=%lu "
	        "tcp_bad_csum=%lu tcp_bad_header=%lu tcp_bad_options=%lu frags_dropped=%lu "
	        "challenge_acks=%lu rst_out=%lu rx_direct_bytes=%lu rx_ring_bytes=%lu sacked_bytes=%lu "
	        "sack_recoveries=%lu tlp_probes=%lu tlp_recoveries=%lu copy_gets=%lu copy_mallocs=%lu "
	        "rx_lent_bytes=%lu rx_zc_frames=%lu rx_zc_bytes=%lu rx_lent_copied_bytes=%lu rx_lend_declined=%lu "
	        "rx_chain_frames=%lu rx_chain_bytes=%lu rx_pieces_batches=%lu rx_pieces_bytes=%lu rx_pieces_filled=%lu "
	        "dma_maps=%lu dma_map_failed=%lu rx_dispatched=%lu rx_dispatch_dropped=%lu rx_from_others=%lu",
	        ds->s->id,
	        (unsigned long)ps.rx_frames, (unsigned long)ps.tx_frames, (unsigned long)ps.tx_dropped,
	        (unsigned long)ps.tx_zerocopy_segs, (unsigned long)ps.tx_zerocopy_bytes,
	        (unsigned long)ps.tx_copied_bytes, (unsigned long)t->tcp_conns_established,
	        (unsigned long)t->tcp_retransmits, (unsigned long)t->tcp_fast_retransmits,
	        (unsigned long)t->tcp_rto_expiries, (unsigned long)t->tcp_ooo_segments,
	        (unsigned long)t->tcp_dup_segments, (unsigned long)t->tcp_out_of_window,
	        (unsigned long)t->ip_bad_csum, (unsigned long)t->tcp_bad_csum,
	        (unsigned long)t->tcp_bad_header, (unsigned long)t->tcp_bad_options,
	        (unsigned long)t->ip_frags_dropped, (unsigned long)t->tcp_challenge_acks,
	        (unsigned long)t->tcp_rst_out, (unsigned long)t->tcp_rx_direct_bytes,
	        (unsigned long)t->tcp_rx_ring_bytes, (unsigned long)t->tcp_sacked_bytes,
	        (unsigned long)t->tcp_sack_recoveries, (unsigned long)t->tcp_tlp_probes,
	        (unsigned long)t->tcp_tlp_recoveries, (unsigned long)dp_cpool_stats(ds->copies)->gets,
	        (unsigned long)dp_cpool_stats(ds->copies)->mallocs, (unsigned long)t->tcp_rx_lent_bytes,
	        (unsigned long)ds->lend.st.zc_frames, (unsigned long)ds->lend.st.zc_bytes,
	        (unsigned long)ds->lend.st.copied, (unsigned long)ds->lend.st.declined,
	        (unsigned long)ds->lend.st.chain_frames, (unsigned long)ds->lend.st.chain_bytes,
	        (unsigned long)ds->s->pieces_batches, (unsigned long)ds->s->pieces_bytes,
	        (unsigned long)ds->s->pieces_filled,
	        (unsigned long)ps.dma_maps, (unsigned long)ps.dma_map_failed,
	        (unsigned long)ps.rx_dispatched, (unsigned long)ps.rx_dispatch_dropped, (unsigned long)ps.rx_from_others);
}

static void shard_fini(struct dp_shard *s)
{
	struct dshard *ds = DS(s);
	if (!ds)
		return;
	log_stats(ds);
	dp_stack_destroy(ds->st);
	dp_cpool_destroy(ds->copies);
	free(ds->evs);
	free(ds->lis);
	free(ds);
	s->dpdk = NULL;
}

static int recv_op(struct dp_conn *c)
{
	struct dshard *ds = DS(c->s);
	struct dconn *d = c->net;
	if (!d) { /* the first receive of a connection dp_conn_accepted just made */
		if (!ds->accepting)
			return -ENOTCONN;
		d = calloc(1, sizeof *d);
		if (!d)
			return -ENOMEM;
		d->c = c;
		d->zc = (struct dsend){.d = d, .copied = false};
		d->tc = ds->accepting;
		ds->accepting = NULL;
		c->net = d;
		dp_tcp_set_user(d->tc, d);
		struct dp_tcp_info in;
		dp_tcp_get_info(d->tc, &in);
		struct in_addr a = {.s_addr = htonl(in.remote_ip)};
		char host[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a, host, sizeof host);
		snprintf(c->peer, sizeof c->peer, "%s:%u", host, in.remote_port);
	}
	d->recv_armed = true;
	if (!d->readable_queued) { /* bytes may be waiting already: look at the next poll */
		d->readable_queued = true;
		push(ds, d, EV_READABLE, 0);
	}
	return 0;
}

/* The rest of a large frame.  Nothing is read here: the connection layer may arm this from
 * inside dp_conn_received, before the bytes it was given are consumed from the ring; the next
 * poll copies what the ring holds and then lends p to the stack (deliver_into). */
static int recv_into_op(struct dp_conn *c, uint8_t *p, size_t len)
{
	struct dshard *ds = DS(c->s);
	struct dconn *d = c->net;
	if (!d)
		return -ENOTCONN; /* recv comes first: it makes d */
	d->into = p;
	d->into_len = len;
	d->into_have = 0;
	d->recv_armed = true;
	if (!d->readable_queued) {
		d->readable_queued = true;
		push(ds, d, EV_READABLE, 0);
	}
	return 0;
}

/* A small chain without file data, copied; false when it does not qualify. */
static bool send_copy(struct dshard *ds, struct dconn *d, const struct rt_chain *ch, int *rc)
{
	size_t len = rt_chain_len(ch);
	if (len + sizeof(struct dcopy) > DP_CPOOL_MAX) /* about 16 KiB: larger ones are borrowed */
		return false;
	for (size_t i = 0; i < ch->nsegs; i++)
		if (ch->segs[i].kind == RT_SEG_FILE)
			return false;
	struct dp_tcp_info in;
	dp_tcp_get_info(d->tc, &in);
	if (in.unacked_bytes + in.unsent_bytes + len > COPY_QUEUE_MAX)
		return false;
	struct dcopy *k = dp_cpool_get(ds->copies, sizeof *k + len);
	if (!k)
		return false;
	k->h = (struct dsend){.d = d, .copied = true};
	if (rt_chain_flatten(ch, k->data)) { /* a failed write: the stack's send reports it */
		dp_cpool_put(ds->copies, k);
		return false;
	}
	struct iovec v = {.iov_base = k->data, .iov_len = len};
	*rc = dp_tcp_send(d->tc, &v, 1, &k->h);
	if (*rc) {
		dp_cpool_put(ds->copies, k);
		return true;
	}
	push(ds, d, EV_SENT, 0); /* at the next poll, never from inside this call */
	return true;
}

static int send_op(struct dp_conn *c, struct rt_chain *ch)
{
	struct dconn *d = c->net;
	if (!d || !d->tc)
		return d && d->err ? d->err : -ENOTCONN;
	int rc;
	if (send_copy(DS(c->s), d, ch, &rc))
		return rc;
	rc = dp_tcp_send_chain(d->tc, ch, &d->zc);
	if (rc == 0)
		d->send_pending = true;
	return rc;
}

/* The connection layer may call this from inside dp_conn_received, while it still reads the
 * borrowed bytes: the TCP connection is let go at the next poll, not now. */
static void shutdown_op(struct dp_conn *c)
{
	struct dconn *d = c->net;
	if (d)
		push(DS(c->s), d, EV_SHUTDOWN, 0);
}

static void do_shutdown(struct dshard *ds, struct dconn *d)
{
	if (d->tc) {
		struct dp_tcp_conn *tc = d->tc;
		if (d->into)
			d->into_have += dp_tcp_recv_direct_end(tc);
		d->tc = NULL;
		dp_tcp_set_user(tc, NULL);
		if (d->send_pending)
			dp_tcp_abort(tc);   /* fails the send: its event comes through cb_sent */
		else
			dp_tcp_close(tc);   /* graceful: FIN after anything still queued */
	}
	if (!d->c)
		return; /* already closed: its tombstone follows */
	if (!d->err)
		d->err = -ECONNABORTED;
	if (d->recv_armed && !d->readable_queued) {
		d->readable_queued = true;
		push(ds, d, EV_READABLE, 0);
	}
}

static void close_op(struct dp_conn *c)
{
	struct dconn *d = c->net;
	if (!d)
		return;
	if (d->tc) {
		if (d->into)
			dp_tcp_recv_direct_end(d->tc); /* the frame is the connection layer's again */
		dp_tcp_set_user(d->tc, NULL);
		dp_tcp_close(d->tc);
	}
	d->into = NULL;
	struct dshard *ds = DS(c->s);
	dp_lend_drop(&ds->lend, &d->lq);
	/* events for d may still sit in the queue: mark it dead, the queue frees it */
	d->c = NULL;
	d->tc = NULL;
	d->recv_armed = false;
	c->net = NULL;
	push(ds, d, EV_FAILED, 0); /* a tombstone: frees d when reached */
}

/* A recv_into completes with what reached the frame: the ring's bytes first, else what the stack
 * placed directly.  With nothing yet, the ring is empty: p is lent to the stack and the receive
 * stays armed.  Bytes that arrive after the direct ones wait in the ring for the next receive. */
static void deliver_into(struct dshard *ds, struct dconn *d)
{
	struct dp_conn *c = d->c;
	size_t got = d->into_have;
	if (got == 0 && !dp_lend_empty(&d->lq)) /* lent bytes come before the ring's */
		got = dp_lend_copy(&ds->lend, &d->lq, d->into, d->into_len);
	if (d->tc) {
		got += dp_tcp_recv_direct_end(d->tc);
		if (got == 0)
			got = dp_tcp_recv(d->tc, d->into, d->into_len);
		if (got == 0 && !dp_tcp_eof(d->tc)) {
			dp_tcp_recv_direct(d->tc, d->into, d->into_len);
			return;
		}
	}
	d->into = NULL;
	d->recv_armed = false;
	if (got)
		dp_conn_received_into(c, (int32_t)got);
	else if (!d->tc && d->err && d->err != -ECONNABORTED)
		dp_conn_recv_failed(c, d->err);
	else
		dp_conn_received_into(c, 0); /* the peer's FIN, or our shutdown */
}

/* The head of the lent queue starts a Produce frame that lies over several pieces: true when
 * it became a request in place (dp_conn_received_chain: its record batch goes from the pieces to
 * storage), or when its pieces wait for the rest of it, which is only while the rest can still
 * come lent (nothing went to the ring, the queue has room for the frame); false when it takes
 * the copying way instead. */
static bool deliver_chain(struct dshard *ds, struct dconn *d)
{
	struct dp_conn *c = d->c;
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	dp_lend_head(&d->lq, &p, &n, &ref, &whole);
	if (c->frame || c->lenhave || n < 6 || (int16_t)rt_be16_get(p + 4) != KP_API_PRODUCE)
		return false;
	size_t total = 4 + (size_t)rt_be32_get(p);
	if (total <= n || total < CHAIN_MIN || total > dcfg.rx_zc_max || !d->tc)
		return false;
	/* Shorter frames are copied: the connection layer copies a frame's first 512 and last 64
	 * bytes whatever, and a copy of a few KiB costs less than holding the mbufs.  A frame that
	 * would need more pieces than the queue holds (at one segment a piece) is copied too. */
	struct dp_tcp_info in;
	dp_tcp_get_info(d->tc, &in);
	size_t mss = in.snd_mss ? in.snd_mss : 536;
	if (1 + (total - n + mss - 1) / mss > DP_LEND_PER_CONN)
		return false;
	if (dp_lend_bytes(&d->lq) < total) {
		const uint8_t *p1, *p2;
		size_t n1, n2;
		if (dp_tcp_eof(d->tc) || dp_tcp_recv_peek(d->tc, &p1, &n1, &p2, &n2) ||
		    d->lq.cnt == DP_LEND_PER_CONN)
			return false;
		return true; /* the receive stays armed: the stack's next lend comes back here */
	}
	struct iovec v[DP_LEND_PER_CONN];
	void *refs[DP_LEND_PER_CONN];
	int k = dp_lend_iov(&d->lq, total, v, refs, DP_LEND_PER_CONN);
	if (k < 2)
		return false;
	d->recv_armed = false;
	if (!dp_conn_received_chain(c, v, refs, k, dp_port_frame_hold, dp_port_frame_release)) {
		d->recv_armed = true;
		return false;
	}
	ds->lend.st.chain_frames++;
	ds->lend.st.chain_bytes += total;
	dp_lend_consume(&ds->lend, &d->lq, total); /* a no-op when closing dropped the queue meanwhile */
	return true;
}

/* The head of the lent queue: whole request frames become requests in place (the frame held
 * by each); anything else (a frame's start or end, several frames split across segments) is
 * copied by the connection layer like ring bytes, and the frame goes back at once. */
static void deliver_lent(struct dshard *ds, struct dconn *d)
{
	uint8_t *p;
	size_t n;
	void *ref;
	bool whole;
	if (deliver_chain(ds, d))
		return;
	dp_lend_head(&d->lq, &p, &n, &ref, &whole);
	d->recv_armed = false;
	uint64_t frames = 0; /* counted first: a request may be done and p gone after the call */
	for (size_t off = 0; off + 4 <= n; off += 4 + (size_t)rt_be32_get(p + off))
		frames++;
	if (whole && dp_conn_received_lent(d->c, p, n, dp_port_frame_hold, dp_port_frame_release, ref)) {
		ds->lend.st.zc_frames += frames;
		ds->lend.st.zc_bytes += n;
	} else {
		ds->lend.st.copied += n;
		dp_conn_received(d->c, p, n);
	}
	dp_lend_pop(&ds->lend, &d->lq); /* a no-op when closing dropped the queue meanwhile */
}

static void deliver_readable(struct dshard *ds, struct dconn *d)
{
	d->readable_queued = false;
	struct dp_conn *c = d->c;
	if (!c || !d->recv_armed)
		return;
	if (d->into) {
		deliver_into(ds, d);
		return;
	}
	if (!d->tc) {
		d->recv_armed = false;
		if (d->err == -ECONNABORTED || d->err == 0)
			dp_conn_received(c, NULL, 0);
		else
			dp_conn_recv_failed(c, d->err);
		return;
	}
	if (!dp_lend_empty(&d->lq)) {
		deliver_lent(ds, d);
		return;
	}
	const uint8_t *p1, *p2;
	size_t n1, n2;
	if (dp_tcp_recv_peek(d->tc, &p1, &n1, &p2, &n2)) {
		d->recv_armed = false;
		struct dp_tcp_conn *tc = d->tc;
		dp_conn_received(c, p1, n1);
		dp_tcp_recv_consume(tc, n1); /* shutdown waits for the next poll: tc is still ours */
		return;
	}
	if (dp_tcp_eof(d->tc)) {
		d->recv_armed = false;
		dp_conn_received(c, NULL, 0);
	}
}

static bool poll_op(struct dp_shard *s)
{
	struct dshard *ds = DS(s);
	bool work = dp_port_queue_poll(ds->q, ds->st, now_ms()) > 0 || ds->nev > 0;
	/* events queued while delivering are handled in the same round */
	for (size_t i = 0; i < ds->nev; i++) {
		struct ev e = ds->evs[i];
		struct dconn *d = e.d;
		switch (e.kind) {
		case EV_SENT:
			d->send_pending = false;
			if (d->c)
				dp_conn_sent(d->c, e.err);
			break;
		case EV_READABLE:
			deliver_readable(ds, d);
			break;
		case EV_SHUTDOWN:
			do_shutdown(ds, d);
			break;
		case EV_FAILED:
			if (!d->c && !d->tc && e.err == 0) { /* tombstone from close_op */
				/* later events cannot exist: close comes after every completion */
				free(d);
				break;
			}
			if (d->c && d->recv_armed) {
				d->recv_armed = false;
				d->into = NULL;
				dp_conn_recv_failed(d->c, e.err);
			}
			break;
		}
	}
	ds->nev = 0;
	/* A DPDK shard polls its queue without sleeping, except while storage I/O it started is in
	 * flight and the queue gave nothing: then it naps (poll_nap_us), so that the io-wq worker
	 * doing that I/O can have this core on a machine with few (a shard that never yields left
	 * it the scheduler's leftovers), and the I/O's completion wakes it at once. */
	return work || !stor_io_in_flight();
}

const struct dp_net_ops dp_net_dpdk = {
	.name = "dpdk",
	.shard_init = shard_init,
	.listen_clients = listen_clients,
	.stop_accept = stop_accept,
	.shard_fini = shard_fini,
	.recv = recv_op,
	.recv_into = recv_into_op,
	.send = send_op,
	.shutdown = shutdown_op,
	.close = close_op,
	.poll = poll_op,
	.poll_nap_us = DPDK_NAP_US,
};
