/*
 * dataplane/net_dpdk/tcp_conn.c: TCP connections as objects: the connection table, listeners
 * and their bounded backlogs, the socket-like API (listen, accept, connect, send, receive,
 * close), the send queue of borrowed memory and the receive ring.
 *
 * Lifetime: a connection belongs to the application from accept/connect until dp_tcp_close or
 * dp_tcp_abort, then to the stack, which frees it when the protocol is done with it (LAST_ACK
 * acknowledged, TIME_WAIT over, a reset, a time-out).  A connection that dies while the
 * application holds it stays allocated in CLOSED until the application lets go.  Every send
 * request gets exactly one `sent` callback, whatever happens.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataplane/net_dpdk/stack_int.h"

static const char *const state_names[] = {
	"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
	"CLOSING", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK",
};

const char *dp_tcp_state_name(enum dp_tcp_state s)
{
	return (unsigned)s < sizeof state_names / sizeof *state_names ? state_names[s] : "?";
}

static uint32_t hash4(uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	return dp_flow_hash(raddr, rport, laddr, lport) & (DP_TCP_HASH - 1);
}

struct dp_tcp_conn *dp_tcp_lookup(struct dp_stack *st, uint32_t laddr, uint16_t lport,
                                  uint32_t raddr, uint16_t rport)
{
	for (struct dp_tcp_conn *c = st->hash[hash4(laddr, lport, raddr, rport)]; c; c = c->hnext)
		if (c->rport == rport && c->lport == lport && c->raddr == raddr && c->laddr == laddr)
			return c;
	return NULL;
}

struct dp_tcp_listener *dp_tcp_find_listener(struct dp_stack *st, uint16_t port)
{
	for (struct dp_tcp_listener *l = st->listeners; l; l = l->next)
		if (l->port == port)
			return l;
	return NULL;
}

/* splitmix64 over the secret and the 4-tuple, plus a 4-microsecond clock (RFC 6528's shape). */
uint32_t dp_tcp_isn(struct dp_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint64_t z = st->cfg.isn_secret ^ ((uint64_t)laddr << 32 | raddr) ^ ((uint64_t)lport << 16 | rport) << 7;
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (uint32_t)z + (uint32_t)(st->now * 250);
}

struct dp_tcp_conn *dp_tcp_conn_new(struct dp_stack *st, uint32_t laddr, uint16_t lport,
                                    uint32_t raddr, uint16_t rport)
{
	if (st->nconns >= st->cfg.max_conns)
		return NULL;
	struct dp_tcp_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->st = st;
	c->laddr = laddr;
	c->lport = lport;
	c->raddr = raddr;
	c->rport = rport;
	c->rto = st->cfg.rto_init_ms;
	c->cwnd = 0;
	c->ssthresh = UINT32_MAX;
	c->rcap = st->cfg.rcvbuf;
	c->peer_mss = 536;
	c->ts_offset = (uint32_t)(st->cfg.isn_secret >> 32) ^ rport;
	uint8_t ws = 0;
	while (ws < 14 && (c->rcap >> ws) > 65535)
		ws++;
	c->rcv_wscale = ws;
	uint32_t h = hash4(laddr, lport, raddr, rport);
	c->hnext = st->hash[h];
	st->hash[h] = c;
	c->lnext = st->conns;
	if (st->conns)
		st->conns->lprev = c;
	st->conns = c;
	st->nconns++;
	return c;
}

bool dp_tcp_rbuf_alloc(struct dp_tcp_conn *c)
{
	if (!c->rbuf)
		c->rbuf = malloc(c->rcap);
	return c->rbuf != NULL;
}

static void conn_unlink(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	struct dp_tcp_conn **pp = &st->hash[hash4(c->laddr, c->lport, c->raddr, c->rport)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		st->conns = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
	dp_tcp_wheel_remove(c);
	if (c->lis) {
		struct dp_tcp_listener *l = c->lis;
		l->pending--;
		if (c->in_aq) {
			struct dp_tcp_conn **q = &l->aq_head;
			struct dp_tcp_conn *prev = NULL;
			while (*q != c) {
				prev = *q;
				q = &(*q)->aq_next;
			}
			*q = c->aq_next;
			if (l->aq_tail == c)
				l->aq_tail = prev;
			c->in_aq = false;
		}
		c->lis = NULL;
	}
	st->nconns--;
	st->stats.tcp_conns_freed++;
}

static void conn_free(struct dp_tcp_conn *c)
{
	if (c->zombie)
		return;
	conn_unlink(c);
	c->zombie = true;
	if (c->busy)
		return;
	free(c->rbuf);
	free(c);
}

bool dp_tcp_release(struct dp_tcp_conn *c)
{
	assert(c->busy > 0);
	if (--c->busy == 0 && c->zombie) {
		free(c->rbuf);
		free(c);
		return false;
	}
	return !c->zombie;
}

static void sreq_free(struct dp_tcp_sreq *r)
{
	for (uint32_t i = 0; i < r->nmaps; i++) {
		if (r->maps[i].dma)
			r->st->io.dma_unmap(r->st->io.ctx, r->maps[i].addr, r->maps[i].len);
		munmap(r->maps[i].addr, r->maps[i].len);
	}
	free(r);
}

/* A request is done on the wire: tell the application now, or when the device lets go. */
static void sreq_finish(struct dp_tcp_conn *c, struct dp_tcp_sreq *r, int err)
{
	struct dp_stack *st = r->st;
	if (r->pins) {
		r->finished = true;
		r->err = err;
		return;
	}
	void *cookie = r->cookie;
	sreq_free(r);
	if (st->cb.sent)
		st->cb.sent(st->cb.ctx, c, cookie, err);
}

void dp_tcp_pin(void *token)
{
	((struct dp_tcp_sreq *)token)->pins++;
}

void dp_tcp_unpin(void *token)
{
	struct dp_tcp_sreq *r = token;
	assert(r->pins > 0);
	if (--r->pins == 0 && r->finished)
		sreq_finish(NULL, r, r->err);
}

static void fail_sends(struct dp_tcp_conn *c, int err)
{
	while (c->sq_head) {
		struct dp_tcp_sreq *r = c->sq_head;
		c->sq_head = r->next;
		sreq_finish(c, r, err);
	}
	c->sq_tail = NULL;
	c->sq_bytes = 0;
	c->sq_head_off = 0;
}

void dp_tcp_set_state(struct dp_tcp_conn *c, enum dp_tcp_state s)
{
	c->state = (uint8_t)s;
}

void dp_tcp_conn_done(struct dp_tcp_conn *c, int err)
{
	struct dp_stack *st = c->st;
	c->t_rto = c->t_delack = c->t_persist = c->t_keep = c->t_2msl = c->t_tlp = 0;
	bool was_syn_sent = c->state == DP_TCP_SYN_SENT;
	dp_tcp_set_state(c, DP_TCP_CLOSED);
	if (c->err == 0)
		c->err = err;
	fail_sends(c, err ? err : -ECONNABORTED);
	/* A half-open passive connection is the stack's alone: nobody was told of it. */
	if (c->lis && !c->in_aq && c->passive) {
		conn_free(c);
		return;
	}
	if (c->app_closed) {
		conn_free(c);
		return;
	}
	if (c->in_aq) { /* not accepted yet: the application never sees it */
		conn_free(c);
		return;
	}
	if (!c->dead_reported) {
		c->dead_reported = true;
		if (was_syn_sent && st->cb.connected)
			st->cb.connected(st->cb.ctx, c, err ? err : -ECONNREFUSED);
		else if (st->cb.closed)
			st->cb.closed(st->cb.ctx, c, err);
	}
}

void dp_tcp_conn_established(struct dp_tcp_conn *c)
{
	struct dp_stack *st = c->st;
	st->stats.tcp_conns_established++;
	struct dp_tcp_listener *l = c->lis;
	if (!l)
		return;
	c->in_aq = true;
	c->aq_next = NULL;
	if (l->aq_tail)
		l->aq_tail->aq_next = c;
	else
		l->aq_head = c;
	l->aq_tail = c;
	if (st->cb.acceptable)
		st->cb.acceptable(st->cb.ctx, l);
}

void dp_tcp_enter_time_wait(struct dp_tcp_conn *c)
{
	dp_tcp_set_state(c, DP_TCP_TIME_WAIT);
	c->t_rto = c->t_persist = c->t_keep = c->t_delack = c->t_tlp = 0;
	dp_tcp_timer_set(c, &c->t_2msl, c->st->now + c->st->cfg.time_wait_ms);
	fail_sends(c, -ECONNABORTED); /* nothing is left: every byte before our FIN was acked */
}

/* ---- send queue ---- */

void dp_tcp_sq_ack(struct dp_tcp_conn *c, uint64_t n)
{
	struct dp_tcp_sreq *done = NULL, **tail = &done;
	if (n > c->sq_bytes)
		n = c->sq_bytes;
	c->sq_bytes -= n;
	/* Bookkeeping first, callbacks after: a callback may send or close, and must find the
	 * queue consistent with SND.UNA. */
	while (c->sq_head) {
		struct dp_tcp_sreq *r = c->sq_head;
		uint64_t left = r->len - c->sq_head_off;
		if (n < left || (left == 0 && r->len != 0)) {
			c->sq_head_off += n;
			break;
		}
		n -= left;
		c->sq_head = r->next;
		c->sq_head_off = 0;
		r->next = NULL;
		*tail = r;
		tail = &r->next;
	}
	if (!c->sq_head)
		c->sq_tail = NULL;
	while (done) {
		struct dp_tcp_sreq *r = done;
		done = r->next;
		sreq_finish(c, r, 0);
	}
}

int dp_tcp_sq_gather(struct dp_tcp_conn *c, uint64_t off, uint64_t *len, struct iovec *iov,
                     void **pins)
{
	uint64_t want = *len, got = 0;
	int n = 0;
	off += c->sq_head_off;
	for (struct dp_tcp_sreq *r = c->sq_head; r && got < want; r = r->next) {
		if (off >= r->len) {
			off -= r->len;
			continue;
		}
		for (uint32_t i = 0; i < r->npieces && got < want; i++) {
			const struct dp_tcp_piece *pc = &r->pieces[i];
			if (off >= pc->len) {
				off -= pc->len;
				continue;
			}
			if (n == DP_TCP_IOV_MAX)
				goto out;
			uint64_t take = pc->len - off;
			if (take > want - got)
				take = want - got;
			iov[n].iov_base = (void *)(pc->p + off);
			iov[n].iov_len = take;
			pins[n] = r;
			n++;
			got += take;
			off = 0;
		}
		off = 0;
	}
out:
	*len = got;
	return n;
}

static bool can_send(const struct dp_tcp_conn *c)
{
	return !c->app_closed && !c->fin_queued &&
	       (c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_CLOSE_WAIT ||
	        c->state == DP_TCP_SYN_SENT || c->state == DP_TCP_SYN_RCVD);
}

static struct dp_tcp_sreq *sreq_new(uint32_t npieces, uint32_t nmaps)
{
	struct dp_tcp_sreq *r = calloc(1, sizeof *r + npieces * sizeof(struct dp_tcp_piece) +
	                                      nmaps * sizeof(struct dp_tcp_map));
	if (r)
		r->maps = (struct dp_tcp_map *)(r->pieces + npieces);
	return r;
}

static void sq_append(struct dp_tcp_conn *c, struct dp_tcp_sreq *r)
{
	r->st = c->st;
	if (c->sq_tail)
		c->sq_tail->next = r;
	else
		c->sq_head = r;
	c->sq_tail = r;
	c->sq_bytes += r->len;
	if (c->state >= DP_TCP_ESTABLISHED)
		dp_tcp_output(c);
}

int dp_tcp_send(struct dp_tcp_conn *c, const struct iovec *iov, int iovcnt, void *cookie)
{
	if (!can_send(c))
		return -ENOTCONN;
	if (iovcnt < 0)
		return -EINVAL;
	struct dp_tcp_sreq *r = sreq_new((uint32_t)iovcnt, 0);
	if (!r)
		return -ENOMEM;
	r->cookie = cookie;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		r->pieces[r->npieces].p = iov[i].iov_base;
		r->pieces[r->npieces].len = iov[i].iov_len;
		r->npieces++;
		r->len += iov[i].iov_len;
	}
	sq_append(c, r);
	return 0;
}

int dp_tcp_send_chain(struct dp_tcp_conn *c, const struct rt_chain *ch, void *cookie)
{
	if (!can_send(c))
		return -ENOTCONN;
	if (ch->err)
		return ch->err;
	uint32_t nfile = 0;
	for (size_t i = 0; i < ch->nsegs; i++)
		nfile += ch->segs[i].kind == RT_SEG_FILE;
	struct dp_tcp_sreq *r = sreq_new((uint32_t)ch->nsegs, nfile);
	if (!r)
		return -ENOMEM;
	r->cookie = cookie;
	r->st = c->st;
	const struct dp_pktio *io = &c->st->io;
	long pg = sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < ch->nsegs; i++) {
		const struct rt_seg *s = &ch->segs[i];
		if (!s->len)
			continue;
		const uint8_t *p;
		if (s->kind == RT_SEG_FILE) {
			uint64_t base = s->off & ~(uint64_t)(pg - 1);
			size_t mlen = (size_t)(s->off - base) + s->len;
			void *m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, s->fd, (off_t)base);
			if (m == MAP_FAILED) {
				int e = -errno;
				sreq_free(r);
				return e;
			}
			r->maps[r->nmaps].addr = m;
			r->maps[r->nmaps].len = mlen;
			r->maps[r->nmaps].dma = io->dma_map && io->dma_unmap && io->dma_map(io->ctx, m, mlen) == 0;
			r->nmaps++;
			p = (const uint8_t *)m + (s->off - base);
		} else {
			p = rt_chain_seg_ptr(ch, s);
		}
		r->pieces[r->npieces].p = p;
		r->pieces[r->npieces].len = s->len;
		r->npieces++;
		r->len += s->len;
	}
	sq_append(c, r);
	return 0;
}

/* ---- receive ring ---- */

size_t dp_tcp_recv_peek(struct dp_tcp_conn *c, const uint8_t **p1, size_t *n1,
                        const uint8_t **p2, size_t *n2)
{
	*p1 = *p2 = NULL;
	*n1 = *n2 = 0;
	if (!c->rlen)
		return 0;
	size_t first = c->rcap - c->rhead;
	if (first > c->rlen)
		first = c->rlen;
	*p1 = c->rbuf + c->rhead;
	*n1 = first;
	if (first < c->rlen) {
		*p2 = c->rbuf;
		*n2 = c->rlen - first;
	}
	return c->rlen;
}

void dp_tcp_recv_consume(struct dp_tcp_conn *c, size_t n)
{
	if (n > c->rlen)
		n = c->rlen;
	if (!n)
		return;
	uint32_t before = dp_tcp_rcv_window(c);
	c->rhead = (uint32_t)((c->rhead + n) % c->rcap);
	c->rlen -= (uint32_t)n;
	uint32_t after = dp_tcp_rcv_window(c);
	/* Announce a reopened window once it grew by two segments or half the ring (RFC 9293's
	 * receiver-side silly window avoidance), and always when it was closed. */
	uint32_t adv = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if ((c->state == DP_TCP_ESTABLISHED || c->state == DP_TCP_FIN_WAIT_1 || c->state == DP_TCP_FIN_WAIT_2) &&
	    after > before && (adv == 0 || after - adv >= 2u * c->snd_mss || after - adv >= c->rcap / 2))
		dp_tcp_send_ack(c);
}

size_t dp_tcp_recv(struct dp_tcp_conn *c, void *dst, size_t n)
{
	const uint8_t *p1, *p2;
	size_t n1, n2;
	dp_tcp_recv_peek(c, &p1, &n1, &p2, &n2);
	size_t a = n1 < n ? n1 : n;
	if (a)
		memcpy(dst, p1, a);
	size_t b = n2 < n - a ? n2 : n - a;
	if (b)
		memcpy((uint8_t *)dst + a, p2, b);
	dp_tcp_recv_consume(c, a + b);
	return a + b;
}

void dp_tcp_recv_direct(struct dp_tcp_conn *c, uint8_t *p, size_t len)
{
	c->dtgt = p;
	c->dlen = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	c->dgot = 0;
}

size_t dp_tcp_recv_direct_end(struct dp_tcp_conn *c)
{
	size_t got = c->dgot;
	c->dtgt = NULL;
	c->dlen = c->dgot = 0;
	return got;
}

size_t dp_tcp_recv_direct_got(const struct dp_tcp_conn *c) { return c->dgot; }

bool dp_tcp_eof(const struct dp_tcp_conn *c)
{
	return c->fin_rcvd && c->rlen == 0;
}

/* ---- open and close ---- */

struct dp_tcp_listener *dp_tcp_listen(struct dp_stack *st, uint16_t port, uint32_t backlog)
{
	if (dp_tcp_find_listener(st, port)) {
		errno = EADDRINUSE;
		return NULL;
	}
	struct dp_tcp_listener *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->st = st;
	l->port = port;
	l->backlog = backlog ? backlog : 1;
	l->next = st->listeners;
	st->listeners = l;
	return l;
}

struct dp_tcp_conn *dp_tcp_accept(struct dp_tcp_listener *l)
{
	struct dp_tcp_conn *c = l->aq_head;
	if (!c)
		return NULL;
	l->aq_head = c->aq_next;
	if (!l->aq_head)
		l->aq_tail = NULL;
	c->in_aq = false;
	c->lis = NULL;
	l->pending--;
	/* It may have died in the queue (a reset): the application still gets the handle, with
	 * the state saying so, and closes it. */
	return c;
}

void dp_tcp_unlisten(struct dp_tcp_listener *l)
{
	struct dp_stack *st = l->st;
	for (struct dp_tcp_conn *c = st->conns, *n; c; c = n) {
		n = c->lnext;
		if (c->lis == l)
			dp_tcp_abort(c);
	}
	struct dp_tcp_listener **pp = &st->listeners;
	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	free(l);
}

struct dp_tcp_conn *dp_tcp_connect(struct dp_stack *st, uint32_t ip, uint16_t port)
{
	uint16_t lport = 0;
	for (int tries = 0; tries < 16384; tries++) {
		uint16_t p = st->next_eph++;
		if (st->next_eph == 0)
			st->next_eph = 49152;
		if (!dp_tcp_lookup(st, st->cfg.ip, p, ip, port) && !dp_tcp_find_listener(st, p)) {
			lport = p;
			break;
		}
	}
	if (!lport) {
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	struct dp_tcp_conn *c = dp_tcp_conn_new(st, st->cfg.ip, lport, ip, port);
	if (!c || !dp_tcp_rbuf_alloc(c)) {
		if (c) {
			c->app_closed = true;
			dp_tcp_conn_done(c, -ENOMEM);
		}
		errno = ENOMEM;
		return NULL;
	}
	c->iss = dp_tcp_isn(st, c->laddr, lport, ip, port);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	dp_tcp_set_state(c, DP_TCP_SYN_SENT);
	dp_tcp_send_segment(c, c->iss, TH_SYN, 0);
	c->snd_nxt = c->snd_max = c->iss + 1;
	dp_tcp_arm_rto(c);
	return c;
}

void dp_tcp_close(struct dp_tcp_conn *c)
{
	if (c->app_closed)
		return;
	c->app_closed = true;
	switch (c->state) {
	case DP_TCP_CLOSED:
	case DP_TCP_SYN_SENT:
		dp_tcp_conn_done(c, 0);
		return;
	case DP_TCP_SYN_RCVD: /* a simultaneous open the application gave up on */
		dp_tcp_send_segment(c, c->snd_nxt, TH_RST | TH_ACK, 0);
		dp_tcp_conn_done(c, 0);
		return;
	case DP_TCP_ESTABLISHED:
		c->fin_queued = true;
		dp_tcp_set_state(c, DP_TCP_FIN_WAIT_1);
		break;
	case DP_TCP_CLOSE_WAIT:
		c->fin_queued = true;
		dp_tcp_set_state(c, DP_TCP_LAST_ACK);
		break;
	default: /* already closing */
		return;
	}
	dp_tcp_output(c);
}

void dp_tcp_abort(struct dp_tcp_conn *c)
{
	c->app_closed = true;
	if (c->state != DP_TCP_CLOSED && c->state != DP_TCP_SYN_SENT && c->state != DP_TCP_TIME_WAIT)
		dp_tcp_send_segment(c, c->snd_nxt, TH_RST | TH_ACK, 0);
	dp_tcp_conn_done(c, -ECONNABORTED);
}

enum dp_tcp_state dp_tcp_state(const struct dp_tcp_conn *c) { return (enum dp_tcp_state)c->state; }
void dp_tcp_set_user(struct dp_tcp_conn *c, void *user) { c->user = user; }
void *dp_tcp_user(const struct dp_tcp_conn *c) { return c->user; }

void dp_tcp_get_info(const struct dp_tcp_conn *c, struct dp_tcp_info *o)
{
	memset(o, 0, sizeof *o);
	o->srtt_ms = c->srtt8 >> 3;
	o->rttvar_ms = c->rttvar4 >> 2;
	o->rto_ms = c->rto;
	o->cwnd = c->cwnd;
	o->ssthresh = c->ssthresh;
	o->snd_wnd = c->snd_wnd;
	o->rcv_wnd = dp_tcp_rcv_window(c);
	o->snd_mss = c->snd_mss;
	o->snd_wscale = c->snd_wscale;
	o->rcv_wscale = c->rcv_wscale;
	o->backoff = c->backoff;
	o->ts_ok = c->ts_ok;
	o->in_recovery = c->in_recovery;
	o->local_ip = c->laddr;
	o->remote_ip = c->raddr;
	o->local_port = c->lport;
	o->remote_port = c->rport;
	uint32_t flight = c->snd_max - c->snd_una;
	o->unacked_bytes = flight < c->sq_bytes ? flight : c->sq_bytes;
	o->unsent_bytes = c->sq_bytes - o->unacked_bytes;
}
