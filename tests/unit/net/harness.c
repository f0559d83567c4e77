/*
 * tests/unit/net/harness.c: see harness.h.  Frames are checked with the stack's own helpers
 * nowhere: checksums here are computed independently (a plain RFC 1071 loop), so a wrong
 * checksum in the stack shows up as a frame h_parse_tcp refuses.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "harness.h"

const uint8_t H_MAC_US[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t H_MAC_PEER[6] = {0x02, 0, 0, 0, 0, 0x02};

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t pseudo(uint32_t src, uint32_t dst, uint8_t proto, size_t len)
{
	uint8_t ph[12];
	rt_be32_put(ph, src);
	rt_be32_put(ph + 4, dst);
	ph[8] = 0;
	ph[9] = proto;
	rt_be16_put(ph + 10, (uint16_t)len);
	return sum16(0, ph, 12);
}

unsigned h_io_offload;

static int cap_tx(void *ctx, const struct dp_pkt_tx *p)
{
	struct h_bench *b = ctx;
	if (b->tx_fail > 0) {
		b->tx_fail--;
		return -ENOBUFS;
	}
	assert(b->nout < H_FRAMES);
	struct h_frame *f = &b->out[b->nout++];
	assert(p->hdr_len + p->payload_len <= H_FRAME_MAX);
	memcpy(f->b, p->hdr, p->hdr_len);
	size_t off = p->hdr_len;
	for (int i = 0; i < p->iovcnt; i++) {
		memcpy(f->b + off, p->iov[i].iov_base, p->iov[i].iov_len);
		off += p->iov[i].iov_len;
	}
	assert(off == p->hdr_len + p->payload_len);
	f->len = off;
	/* The offloads a device does (DPDK's contract): with DP_OFF_TX_IP_CSUM the IPv4 checksum
	 * field is 0 and the device fills it; with DP_OFF_TX_TCP_CSUM the TCP checksum field holds
	 * the pseudo-header sum, not inverted, and the device sums the segment over it.  A frame
	 * asking for either when the bench's device does not offer it, or not set up as the device
	 * needs, is counted in tx_bad_offload (its checksums are left as they are). */
	if (p->flags & (DP_OFF_TX_IP_CSUM | DP_OFF_TX_TCP_CSUM)) {
		uint8_t *ip = f->b + 14;
		size_t tot = rt_be16_get(ip + 2);
		bool ok = !(p->flags & ~b->io_offload) && p->l2_len == 14 && p->l3_len == 20 && tot + 14 == off;
		if (ok && (p->flags & DP_OFF_TX_TCP_CSUM)) {
			uint8_t *seg = ip + 20;
			uint16_t want = (uint16_t)~fold(pseudo(rt_be32_get(ip + 12), rt_be32_get(ip + 16), 6, tot - 20));
			ok = ip[9] == 6 && p->l4_len == (seg[12] >> 4) * 4 && rt_be16_get(seg + 16) == want;
			if (ok)
				rt_be16_put(seg + 16, fold(sum16(0, seg, tot - 20)));
		}
		if (ok && (p->flags & DP_OFF_TX_IP_CSUM)) {
			ok = rt_be16_get(ip + 10) == 0;
			if (ok)
				rt_be16_put(ip + 10, fold(sum16(0, ip, 20)));
		}
		b->tx_ip_offloaded += !!(p->flags & DP_OFF_TX_IP_CSUM);
		b->tx_tcp_offloaded += !!(p->flags & DP_OFF_TX_TCP_CSUM);
		b->tx_bad_offload += !ok;
	}
	if (p->iov_pin)
		for (int i = 0; i < p->iovcnt; i++)
			if (p->iov_pin[i] && b->npins < H_FRAMES) {
				dp_tcp_pin(p->iov_pin[i]);
				b->pins[b->npins++] = p->iov_pin[i];
			}
	return 0;
}

void h_unpin_all(struct h_bench *b)
{
	while (b->npins)
		dp_tcp_unpin(b->pins[--b->npins]);
}

static void cb_acceptable(void *ctx, struct dp_tcp_listener *l)
{
	struct h_bench *b = ctx;
	struct dp_tcp_conn *c;
	while ((c = dp_tcp_accept(l)) != NULL) {
		assert(b->naccepted < 64);
		b->accepted[b->naccepted++] = c;
	}
}
static void cb_connected(void *ctx, struct dp_tcp_conn *c, int err)
{
	struct h_bench *b = ctx;
	(void)c;
	b->nconnected++;
	b->last_connected_err = err;
}
static void cb_readable(void *ctx, struct dp_tcp_conn *c)
{
	struct h_bench *b = ctx;
	(void)c;
	b->nreadable++;
}
bool h_io_dma;

static int fake_dma_map(void *ctx, void *addr, size_t len)
{
	struct h_bench *b = ctx;
	b->ndma_map++;
	if (b->dma_refuse)
		return b->dma_refuse;
	b->dma_addr = addr;
	b->dma_len = len;
	b->dma_registered += len;
	return 0;
}

static void fake_dma_unmap(void *ctx, void *addr, size_t len)
{
	struct h_bench *b = ctx;
	assert(b->dma_registered >= len);
	assert(addr == b->dma_addr && len == b->dma_len);
	b->ndma_unmap++;
	b->dma_registered -= len;
}

static bool cb_lend(void *ctx, struct dp_tcp_conn *c, uint8_t *p, size_t n, void *ref)
{
	struct h_bench *b = ctx;
	(void)c;
	b->nlend_asked++;
	if (!b->lend_take || b->lent_len + n > sizeof b->lent)
		return false;
	memcpy(b->lent + b->lent_len, p, n);
	b->lent_len += n;
	b->last_lend_ref = ref;
	return true;
}
static void cb_sent(void *ctx, struct dp_tcp_conn *c, void *cookie, int err)
{
	struct h_bench *b = ctx;
	(void)c;
	b->nsent++;
	b->last_sent_err = err;
	b->last_sent_cookie = cookie;
}
static void cb_closed(void *ctx, struct dp_tcp_conn *c, int err)
{
	struct h_bench *b = ctx;
	(void)c;
	b->nclosed++;
	b->last_closed_err = err;
}

void h_bench_init(struct h_bench *b, const struct dp_stack_cfg *over)
{
	memset(b, 0, sizeof *b);
	b->out = calloc(H_FRAMES, sizeof *b->out);
	assert(b->out);
	struct dp_stack_cfg cfg = {0};
	if (over)
		cfg = *over;
	if (!cfg.ip) {
		cfg.ip = H_IP_US;
		memcpy(cfg.mac, H_MAC_US, 6);
	}
	if (!cfg.netmask)
		cfg.netmask = 0xffffff00u;
	if (!cfg.gateway)
		cfg.gateway = (cfg.ip & 0xffffff00u) | 254;
	cfg.isn_secret = 42;
	b->io_offload = h_io_offload;
	struct dp_pktio io = {.ctx = b, .tx = cap_tx, .offload = h_io_offload};
	if (h_io_dma) {
		io.dma_map = fake_dma_map;
		io.dma_unmap = fake_dma_unmap;
	}
	struct dp_tcp_cb cb = {.ctx = b, .acceptable = cb_acceptable, .connected = cb_connected,
	                       .readable = cb_readable, .lend = cb_lend, .sent = cb_sent,
	                       .closed = cb_closed};
	b->now = 1000;
	b->st = dp_stack_create(&cfg, &io, &cb);
	assert(b->st);
	dp_stack_tick(b->st, b->now);
}

void h_bench_fini(struct h_bench *b)
{
	dp_stack_destroy(b->st);
	free(b->out);
}

void h_tick(struct h_bench *b, uint64_t ms)
{
	b->now += ms;
	dp_stack_tick(b->st, b->now);
}

void h_clear(struct h_bench *b) { b->nout = 0; }

size_t h_build_arp(uint8_t *f, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                   uint32_t tpa, const uint8_t *eth_dst)
{
	memcpy(f, eth_dst, 6);
	memcpy(f + 6, sha, 6);
	rt_be16_put(f + 12, 0x0806);
	uint8_t *a = f + 14;
	rt_be16_put(a, 1);
	rt_be16_put(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	rt_be16_put(a + 6, op);
	memcpy(a + 8, sha, 6);
	rt_be32_put(a + 14, spa);
	memcpy(a + 18, tha, 6);
	rt_be32_put(a + 24, tpa);
	return 42;
}

void h_learn_peer(struct h_bench *b)
{
	uint8_t f[64];
	static const uint8_t zero[6];
	static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	size_t n = h_build_arp(f, 1, H_MAC_PEER, H_IP_PEER, zero, H_IP_US, bc);
	dp_stack_input(b->st, f, n);
	h_clear(b);
}

size_t h_build_ip(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *pl,
                  size_t n, uint16_t frag, bool bad_csum)
{
	memcpy(f, H_MAC_US, 6);
	memcpy(f + 6, H_MAC_PEER, 6);
	rt_be16_put(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[1] = 0;
	rt_be16_put(ip + 2, (uint16_t)(20 + n));
	rt_be16_put(ip + 4, 7);
	rt_be16_put(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	rt_be16_put(ip + 10, 0);
	rt_be32_put(ip + 12, src);
	rt_be32_put(ip + 16, dst);
	rt_be16_put(ip + 10, (uint16_t)(fold(sum16(0, ip, 20)) ^ (bad_csum ? 0x5a5a : 0)));
	memcpy(ip + 20, pl, n);
	return 34 + n;
}

size_t h_build_tcp(uint8_t *f, const struct h_tcp *t)
{
	uint8_t seg[H_FRAME_MAX];
	size_t ol = 0;
	uint8_t *o = seg + 20;
	if (t->mss >= 0) {
		o[ol++] = 2; o[ol++] = 4;
		rt_be16_put(o + ol, (uint16_t)t->mss);
		ol += 2;
	}
	if (t->ws >= 0) {
		o[ol++] = 1; o[ol++] = 3; o[ol++] = 3; o[ol++] = (uint8_t)t->ws;
	}
	if (t->ts) {
		o[ol++] = 1; o[ol++] = 1; o[ol++] = 8; o[ol++] = 10;
		rt_be32_put(o + ol, t->tsval);
		rt_be32_put(o + ol + 4, t->tsecr);
		ol += 8;
	}
	if (t->sackok) {
		o[ol++] = 1; o[ol++] = 1; o[ol++] = 4; o[ol++] = 2;
	}
	if (t->nsack > 0) { /* SACK blocks, as a peer reports them */
		o[ol++] = 1; o[ol++] = 1; o[ol++] = 5; o[ol++] = (uint8_t)(2 + 8 * t->nsack);
		for (int i = 0; i < t->nsack; i++, ol += 8) {
			rt_be32_put(o + ol, t->sack[i][0]);
			rt_be32_put(o + ol + 4, t->sack[i][1]);
		}
	}
	while (ol % 4)
		o[ol++] = 0;
	size_t hl = 20 + ol;
	rt_be16_put(seg, t->sport);
	rt_be16_put(seg + 2, t->dport);
	rt_be32_put(seg + 4, t->seq);
	rt_be32_put(seg + 8, t->ack);
	seg[12] = (uint8_t)((hl / 4) << 4);
	seg[13] = t->flags;
	rt_be16_put(seg + 14, t->win);
	rt_be16_put(seg + 16, 0);
	rt_be16_put(seg + 18, 0);
	if (t->len)
		memcpy(seg + hl, t->data, t->len);
	size_t n = hl + t->len;
	uint16_t cs = fold(sum16(pseudo(t->src, t->dst, 6, n), seg, n));
	rt_be16_put(seg + 16, (uint16_t)(cs ^ (t->bad_csum ? 0x0101 : 0)));
	return h_build_ip(f, t->src, t->dst, 6, seg, n, 0x4000, false);
}

void h_send_tcp(struct h_bench *b, const struct h_tcp *t)
{
	uint8_t f[H_FRAME_MAX + 64];
	size_t n = h_build_tcp(f, t);
	if (b->lend_ref)
		dp_stack_input_lend(b->st, f, n, 0, b->lend_ref);
	else
		dp_stack_input(b->st, f, n);
}

bool h_parse_tcp(const struct h_bench *b, size_t i, struct h_tcp *t)
{
	const struct h_frame *f = &b->out[i];
	if (f->len < 54 || rt_be16_get(f->b + 12) != 0x0800)
		return false;
	const uint8_t *ip = f->b + 14;
	if (ip[0] != 0x45 || ip[9] != 6 || fold(sum16(0, ip, 20)) != 0)
		return false;
	size_t tot = rt_be16_get(ip + 2);
	if (tot + 14 != f->len)
		return false;
	const uint8_t *s = ip + 20;
	size_t n = tot - 20;
	memset(t, 0, sizeof *t);
	t->src = rt_be32_get(ip + 12);
	t->dst = rt_be32_get(ip + 16);
	if (fold(sum16(pseudo(t->src, t->dst, 6, n), s, n)) != 0)
		return false;
	t->sport = rt_be16_get(s);
	t->dport = rt_be16_get(s + 2);
	t->seq = rt_be32_get(s + 4);
	t->ack = rt_be32_get(s + 8);
	t->flags = s[13];
	t->win = rt_be16_get(s + 14);
	size_t hl = (size_t)(s[12] >> 4) * 4;
	t->mss = t->ws = -1;
	for (size_t k = 20; k < hl;) {
		uint8_t kind = s[k];
		if (kind == 0) break;
		if (kind == 1) { k++; continue; }
		uint8_t l = s[k + 1];
		if (kind == 2) t->mss = rt_be16_get(s + k + 2);
		if (kind == 3) t->ws = s[k + 2];
		if (kind == 8) { t->ts = true; t->tsval = rt_be32_get(s + k + 2); t->tsecr = rt_be32_get(s + k + 6); }
		if (kind == 4) t->sackok = true;
		for (int j = 0; kind == 5 && j < (l - 2) / 8 && j < 4; j++, t->nsack++) {
			t->sack[j][0] = rt_be32_get(s + k + 2 + 8 * j);
			t->sack[j][1] = rt_be32_get(s + k + 6 + 8 * j);
		}
		k += l;
	}
	t->data = s + hl;
	t->len = n - hl;
	return true;
}

struct h_tcp h_last_tcp(const struct h_bench *b)
{
	struct h_tcp t;
	for (size_t i = b->nout; i-- > 0;)
		if (h_parse_tcp(b, i, &t))
			return t;
	assert(!"no TCP segment captured");
	return t;
}

int h_count_tcp(const struct h_bench *b, uint8_t flags)
{
	int n = 0;
	struct h_tcp t;
	for (size_t i = 0; i < b->nout; i++)
		if (h_parse_tcp(b, i, &t) && (t.flags & flags) == flags)
			n++;
	return n;
}

struct dp_tcp_conn *h_handshake(struct h_bench *b, uint16_t port, uint16_t peer_port,
                                uint32_t *peer_seq, uint32_t *our_seq, bool options)
{
	uint32_t isn = 1000000;
	struct h_tcp syn = H_TCP_INIT(.sport = peer_port, .dport = port, .seq = isn, .flags = H_SYN);
	if (options) {
		syn.mss = 1460;
		syn.ws = 7;
		syn.ts = true;
		syn.tsval = (uint32_t)b->now; /* the peer's clock is the bench's */
	}
	h_clear(b);
	int before = b->naccepted;
	h_send_tcp(b, &syn);
	struct h_tcp sa = h_last_tcp(b);
	assert(sa.flags == (H_SYN | H_ACK) && sa.ack == isn + 1);
	struct h_tcp ack = H_TCP_INIT(.sport = peer_port, .dport = port, .seq = isn + 1,
	                              .ack = sa.seq + 1, .flags = H_ACK, .win = 65535);
	if (options) {
		ack.ts = true;
		ack.tsval = (uint32_t)b->now;
		ack.tsecr = sa.tsval;
		ack.win = 512; /* << 7 = 64 KiB */
	}
	h_send_tcp(b, &ack);
	assert(b->naccepted == before + 1);
	*peer_seq = isn + 1;
	*our_seq = sa.seq + 1;
	h_clear(b);
	return b->accepted[b->naccepted - 1];
}

/* ---- pair ---- */

void h_pair_init(struct h_pair *p, const struct dp_stack_cfg *over)
{
	memset(p, 0, sizeof *p);
	struct dp_stack_cfg ca = {0}, cb = {0};
	if (over)
		ca = cb = *over;
	ca.ip = H_IP_US;
	memcpy(ca.mac, H_MAC_US, 6);
	cb.ip = H_IP_PEER;
	memcpy(cb.mac, H_MAC_PEER, 6);
	h_bench_init(&p->a, &ca);
	h_bench_init(&p->b, &cb);
	p->rng = 0x9e3779b97f4a7c15ull;
	p->tmp = malloc(H_FRAMES * sizeof *p->tmp);
	assert(p->tmp);
}

void h_pair_fini(struct h_pair *p)
{
	h_bench_fini(&p->a);
	h_bench_fini(&p->b);
	free(p->tmp);
}

static unsigned rnd100(struct h_pair *p)
{
	p->rng ^= p->rng << 13;
	p->rng ^= p->rng >> 7;
	p->rng ^= p->rng << 17;
	return (unsigned)(p->rng % 100);
}

/* Moves src's captured frames into dst, applying faults.  Frames are copied out first: input
 * may make dst send, and src's capture buffer is refilled by later sends. */
static void carry(struct h_pair *p, struct h_bench *src, struct h_bench *dst, struct h_frame *tmp)
{
	size_t n = src->nout;
	memcpy(tmp, src->out, n * sizeof *tmp);
	src->nout = 0;
	size_t held = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (p->loss_pct && rnd100(p) < p->loss_pct) {
			p->dropped++;
			continue;
		}
		if (held == SIZE_MAX && p->reorder_pct && i + 1 < n && rnd100(p) < p->reorder_pct) {
			held = i; /* goes after the next frame */
			p->reordered++;
			continue;
		}
		dp_stack_input(dst->st, tmp[i].b, tmp[i].len);
		p->delivered++;
		if (p->dup_pct && rnd100(p) < p->dup_pct)
			dp_stack_input(dst->st, tmp[i].b, tmp[i].len);
		if (held != SIZE_MAX) {
			dp_stack_input(dst->st, tmp[held].b, tmp[held].len);
			p->delivered++;
			held = SIZE_MAX;
		}
	}
	if (held != SIZE_MAX) {
		dp_stack_input(dst->st, tmp[held].b, tmp[held].len);
		p->delivered++;
	}
}

void h_pair_run(struct h_pair *p, unsigned ms)
{
	struct h_frame *tmp = p->tmp;
	for (unsigned i = 0; i < ms; i++) {
		{ /* one hop per millisecond each way: a 2 ms round trip */
			carry(p, &p->a, &p->b, tmp);
			carry(p, &p->b, &p->a, tmp);
		}
		h_tick(&p->a, 1);
		h_tick(&p->b, 1);
	}
}
