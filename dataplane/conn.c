/*
 * dataplane/conn.c: connections: frame reassembly, the per-connection request queue, in-order
 * responses, back-pressure and idle timeout.  Everything here runs on the connection's shard.
 *
 * Invariants: a connection has at most one receive and one send in flight; requests leave the
 * queue only from its head (in order) except when the connection is closing, where each is
 * released as soon as nothing refers to it any more.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "broker.h"
#include "base/lat_trace.h"
#include "base/log.h"
#include "net.h"
#include "produce_scan.h"
#include "proto/batch.h"
#include "router.h"
#include "shard.h"

/* Bounds per request: the arena (decoded arrays) and the response's own buffer. */
#define DP_REQ_ARENA_MIN (1u << 20)
#define DP_RESP_BUF_MAX (256u << 20)
/* Request frames a shard holds at once before its connections stop reading new ones (Kafka's
 * queued.max.request.bytes): a frame in progress always completes, so one frame per connection
 * can go past it. */
#define DP_SHARD_FRAME_BUDGET (512u << 20)
/* Record sets of a frame received in pieces that may stay in its buffers (more: copied). */
#define DP_CHAIN_SETS 64
/* A frame with at least this much still to come is received into place. */
#define DP_RECV_DIRECT_MIN (32u << 10)

static void maybe_free(struct dp_conn *c);
static void take_bytes(struct dp_conn *c, const uint8_t *p, size_t n);

/* The size class of a frame of len bytes, or -1 when frames that size are not cached. */
static int frame_class(size_t len)
{
	if (len < (64u << 10))
		return -1;
	for (int k = 0; k < DP_FRAME_CLASSES; k++)
		if (len <= ((size_t)64 << 10) << k)
			return k;
	return -1;
}

/* A frame buffer of at least len bytes from the shard's cache or malloc; NULL when out of
 * memory.  Returns owned memory, released with frame_free(s, p, len). */
static uint8_t *frame_alloc(struct dp_shard *s, size_t len)
{
	int k = frame_class(len);
	if (k < 0)
		return malloc(len);
	void *p = s->frame_cache[k];
	if (p) {
		s->frame_cache[k] = *(void **)p;
		s->frame_cached -= ((size_t)64 << 10) << k;
		return p;
	}
	return malloc(((size_t)64 << 10) << k);
}

/* Takes p (from frame_alloc with the same len) back. */
static void frame_free(struct dp_shard *s, uint8_t *p, size_t len)
{
	int k = frame_class(len);
	size_t sz = ((size_t)64 << 10) << (k < 0 ? 0 : k);
	if (!p || k < 0 || s->frame_cached + sz > DP_FRAME_CACHE_MAX) {
		free(p);
		return;
	}
	*(void **)p = s->frame_cache[k];
	s->frame_cache[k] = p;
	s->frame_cached += sz;
}

void dp_frame_cache_fini(struct dp_shard *s)
{
	for (int k = 0; k < DP_FRAME_CLASSES; k++)
		while (s->frame_cache[k]) {
			void *p = s->frame_cache[k];
			s->frame_cache[k] = *(void **)p;
			free(p);
		}
	s->frame_cached = 0;
}

struct dp_conn *dp_conn_accepted(struct dp_shard *s, const struct dp_net_ops *backend, int fd)
{
	if (atomic_load(&s->b->phase) != DP_RUNNING) {
		close(fd);
		return NULL;
	}
	struct dp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return NULL;
	}
	c->s = s;
	c->fd = fd;
	c->backend = backend;
	atomic_fetch_add_explicit(&s->nconns, 1, memory_order_relaxed);
	c->last_active_ns = s->now_ns;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
		char host[INET6_ADDRSTRLEN] = "?";
		int port = 0;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
		snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	RT_DEBUG("shard %d: connection from %s", s->id, c->peer);
	if (backend->recv(c)) {
		dp_conn_close(c, "cannot receive");
		maybe_free(c);
		return NULL;
	}
	c->recv_armed = true;
	c->ops++;
	return c;
}

static void arm_recv(struct dp_conn *c)
{
	if (c->stash_len && !c->closing && c->nreq < DP_CONN_PIPELINE &&
	    atomic_load(&c->s->b->phase) == DP_RUNNING) {
		/* Frames that came in one receive with more than the pipeline allows go first; what
		 * is still over the limit goes back to the stash (draining, they are not taken).  The
		 * count on c->ops keeps c while a handler that answers at once closes it; the caller
		 * frees it (maybe_free). */
		uint8_t *p = c->stash;
		size_t n = c->stash_len;
		c->stash = NULL;
		c->stash_len = 0;
		c->ops++;
		take_bytes(c, p, n);
		c->ops--;
		free(p);
	}
	if (c->closing || c->recv_armed || c->nreq >= DP_CONN_PIPELINE || c->stash_len)
		return;
	if (atomic_load(&c->s->b->phase) != DP_RUNNING && c->nreq == 0) {
		/* Draining: nothing in flight here, so the connection can go. */
		dp_conn_close(c, "shutting down");
		return;
	}
	if (atomic_load(&c->s->b->phase) != DP_RUNNING)
		return;
	if (!c->frame && c->s->frame_bytes > DP_SHARD_FRAME_BUDGET) {
		/* Back-pressure: new frames wait until requests in flight release memory. */
		if (!c->recv_starved) {
			c->recv_starved = true;
			c->s->nstarved++;
		}
		return;
	}
	const struct dp_net_ops *net = c->backend;
	/* The rest of a large frame goes straight into the frame: no copy out of the shard's
	 * buffers and one receive for many of them. */
	if (c->frame && net->recv_into && c->frame_len - c->frame_have >= DP_RECV_DIRECT_MIN) {
		if (net->recv_into(c, c->frame + c->frame_have, c->frame_len - c->frame_have)) {
			dp_conn_close(c, "cannot receive");
			return;
		}
		c->recv_armed = true;
		c->ops++;
		return;
	}
	if (net->recv(c)) {
		dp_conn_close(c, "cannot receive");
		return;
	}
	c->recv_armed = true;
	c->ops++;
}

/* Gives back the buffers a request received in pieces holds. */
static void lent_free(struct dp_req_lent *lt)
{
	if (!lt)
		return;
	for (int i = 0; i < lt->nref; i++)
		lt->release(lt->ref[i]);
	free(lt);
}

static void req_release(struct dp_req *req)
{
	struct dp_conn *c = req->conn;
	if (req->holds) {
		req->release_due = true;
		return;
	}
	while (req->releases) {
		struct dp_release *r = req->releases;
		req->releases = r->next;
		r->fn(r->arg);
	}
	rt_chain_fini(&req->resp);
	rt_arena_fini(&req->arena);
	c->s->frame_bytes -= req->len;
	if (req->frame_release)
		req->frame_release(req->frame_ref);
	else
		frame_free(c->s, req->frame, req->len);
	lent_free(req->lent);
	free(req);
	c->nreq--;
	c->s->inflight--;
}

static void unlink_req(struct dp_conn *c, struct dp_req *req)
{
	struct dp_req **pp = &c->q_head, *prev = NULL;
	while (*pp && *pp != req) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = req->next;
	if (c->q_tail == req)
		c->q_tail = prev;
}

void dp_req_hold(struct dp_req *req)
{
	req->holds++;
}

void dp_req_unhold(struct dp_req *req)
{
	assert(req->holds > 0);
	if (--req->holds || !req->release_due)
		return;
	struct dp_conn *c = req->conn;
	req_release(req);
	/* The pipeline has room again: the stash or a new receive. */
	arm_recv(c);
	maybe_free(c);
}

int dp_req_on_release(struct dp_req *req, void (*fn)(void *), void *arg)
{
	struct dp_release *r = rt_arena_alloc(&req->arena, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->arg = arg;
	r->next = req->releases;
	req->releases = r;
	return 0;
}

/* Makes the request of a whole frame (owned, or lent when release is set: then hold(ref) is
 * called for it here, and release(ref) when the request goes; with lent, owned with holes whose
 * buffers lent holds) and dispatches it. */
static void new_request_lent(struct dp_conn *c, uint8_t *frame, size_t len, void (*hold)(void *),
                             void (*release)(void *), void *ref, struct dp_req_lent *lent)
{
	struct dp_req *req = calloc(1, sizeof(*req));
	if (!req) {
		c->s->frame_bytes -= len;
		if (!release)
			frame_free(c->s, frame, len);
		lent_free(lent);
		dp_conn_close(c, "out of memory");
		return;
	}
	req->lent = lent;
	if (release) {
		hold(ref);
		req->frame_release = release;
		req->frame_ref = ref;
	}
	req->conn = c;
	RT_LT_STAMP(req->lt_recv);
	req->s = c->s;
	req->frame = frame;
	req->len = len;
	rt_arena_init(&req->arena, 0, DP_REQ_ARENA_MIN + len * 4);
	rt_chain_init(&req->resp, DP_RESP_BUF_MAX);
	if (c->q_tail)
		c->q_tail->next = req;
	else
		c->q_head = req;
	c->q_tail = req;
	c->nreq++;
	c->s->inflight++;
	dp_router_dispatch(req);
}

static void new_request(struct dp_conn *c, uint8_t *frame, size_t len)
{
	new_request_lent(c, frame, len, NULL, NULL, NULL, NULL);
}

bool dp_conn_received_lent(struct dp_conn *c, uint8_t *p, size_t n, void (*hold)(void *ref),
                           void (*release)(void *ref), void *ref)
{
	if (c->closing || n == 0 || c->frame || c->lenhave || c->stash_len)
		return false;
	/* Whole frames only, each within the limits dp_conn_received applies (a bad one takes the
	 * ordinary path, which closes the connection and says why), and no more than the pipeline
	 * takes now (the ordinary path keeps the rest for later). */
	int64_t max = c->s->b->cfg.socket_request_max_bytes;
	int frames = 0;
	for (size_t off = 0; off < n; frames++) {
		if (n - off < 4)
			return false;
		int32_t len = (int32_t)rt_be32_get(p + off);
		if (len < 8 || len > max || (size_t)len > n - off - 4)
			return false;
		off += 4 + (size_t)len;
	}
	if (c->nreq + frames > DP_CONN_PIPELINE)
		return false;
	c->recv_armed = false;
	c->last_active_ns = c->s->now_ns;
	for (size_t off = 0; off < n && !c->closing;) {
		size_t len = rt_be32_get(p + off);
		c->s->frame_bytes += len;
		new_request_lent(c, p + off + 4, len, hold, release, ref, NULL);
		off += 4 + len;
	}
	c->ops--;
	arm_recv(c);
	maybe_free(c);
	return true;
}

/* Copies n bytes from `from` bytes into the pieces v[0..cnt) (present) to dst. */
static void gather(const struct iovec *v, int cnt, size_t from, uint8_t *dst, size_t n)
{
	for (int i = 0; i < cnt && n; i++) {
		size_t l = v[i].iov_len;
		if (from >= l) {
			from -= l;
			continue;
		}
		size_t k = l - from < n ? l - from : n;
		memcpy(dst, (const uint8_t *)v[i].iov_base + from, k);
		dst += k;
		n -= k;
		from = 0;
	}
}

bool dp_conn_received_chain(struct dp_conn *c, const struct iovec *v, void *const *refs, int cnt,
                            void (*hold)(void *ref), void (*release)(void *ref))
{
	if (c->closing || c->frame || c->lenhave || c->stash_len || cnt < 2)
		return false;
	size_t tot = 0;
	for (int i = 0; i < cnt; i++)
		tot += v[i].iov_len;
	uint8_t hd[4];
	if (tot < sizeof hd)
		return false;
	gather(v, cnt, 0, hd, sizeof hd);
	int32_t len = (int32_t)rt_be32_get(hd);
	if (len < 8 || len > c->s->b->cfg.socket_request_max_bytes || (size_t)len + 4 != tot)
		return false;
	/* The holes: each record set but its batch header (stamped in the frame, and read by the
	 * handler before validation), where it lies in the pieces. */
	struct dp_span sp[DP_CHAIN_SETS];
	int ns = dp_produce_scan(v, cnt, 4, (size_t)len, sp, DP_CHAIN_SETS);
	if (ns <= 0)
		return false;
	size_t n = (size_t)len;
	uint8_t *frame = frame_alloc(c->s, n);
	int maxh = cnt + ns;
	struct dp_req_lent *lt =
	    frame ? malloc(sizeof *lt + (size_t)maxh * sizeof lt->holes[0] + (size_t)cnt * sizeof(void *)) : NULL;
	if (!lt) {
		frame_free(c->s, frame, n);
		return false;
	}
	lt->release = release;
	lt->ref = (void **)(lt->holes + maxh);
	lt->nref = lt->nholes = 0;
	size_t at = 0; /* stream offset of v[i] (the length prefix is bytes 0..3) */
	int si = 0;
	for (int i = 0; i < cnt; at += v[i].iov_len, i++) {
		if (at + v[i].iov_len <= 4)
			continue;
		size_t x = (at < 4 ? 4 : at) - 4, b = at + v[i].iov_len - 4; /* the piece in the frame */
		const uint8_t *base = (const uint8_t *)v[i].iov_base;
		bool held = false;
		while (x < b) {
			while (si < ns && (size_t)sp[si].off + sp[si].len <= x)
				si++;
			size_t hhi = si < ns ? (size_t)sp[si].off + sp[si].len : b;
			size_t hlo = si < ns ? (size_t)sp[si].off + KP_BATCH_HEADER_SIZE : b;
			if (hlo > hhi)
				hlo = hhi;
			size_t e;
			if (x < hlo) {
				e = b < hlo ? b : hlo;
				memcpy(frame + x, base + (x + 4 - at), e - x);
			} else {
				e = b < hhi ? b : hhi;
				lt->holes[lt->nholes++] =
				    (struct dp_req_hole){(uint32_t)x, (uint32_t)(e - x), (uint8_t *)base + (x + 4 - at)};
				if (!held) {
					hold(refs[i]);
					lt->ref[lt->nref++] = refs[i];
					held = true;
				}
			}
			x = e;
		}
	}
	if (!lt->nholes) {
		free(lt);
		lt = NULL;
	}
	c->recv_armed = false;
	c->last_active_ns = c->s->now_ns;
	c->s->frame_bytes += n;
	new_request_lent(c, frame, n, NULL, NULL, NULL, lt);
	c->ops--;
	arm_recv(c);
	maybe_free(c);
	return true;
}

void dp_req_fill(struct dp_req *req)
{
	struct dp_req_lent *lt = req->lent;
	if (!lt)
		return;
	for (int i = 0; i < lt->nholes; i++)
		memcpy(req->frame + lt->holes[i].off, lt->holes[i].p, lt->holes[i].len);
	lt->nholes = 0;
}

bool dp_req_in_holes(const struct dp_req *req, const uint8_t *p, size_t n)
{
	const struct dp_req_lent *lt = req->lent;
	size_t off = (size_t)(p - req->frame);
	for (int i = 0; lt && i < lt->nholes; i++)
		if (lt->holes[i].off < off + n && off < (size_t)lt->holes[i].off + lt->holes[i].len)
			return true;
	return false;
}

int dp_req_iov(const struct dp_req *req, const uint8_t *p, size_t n, struct iovec *v, int max)
{
	const struct dp_req_lent *lt = req->lent;
	size_t pos = (size_t)(p - req->frame), end = pos + n;
	int k = 0;
#define EMIT(ptr, len) do { if (k == max) return -1; v[k++] = (struct iovec){(void *)(ptr), (len)}; } while (0)
	for (int i = 0; lt && i < lt->nholes && pos < end; i++) {
		const struct dp_req_hole *h = &lt->holes[i];
		size_t he = (size_t)h->off + h->len;
		if (he <= pos)
			continue;
		if (h->off >= end)
			break;
		if (h->off > pos) {
			EMIT(req->frame + pos, h->off - pos);
			pos = h->off;
		}
		size_t to = he < end ? he : end;
		EMIT(h->p + (pos - h->off), to - pos);
		pos = to;
	}
	if (pos < end)
		EMIT(req->frame + pos, end - pos);
#undef EMIT
	return k;
}

void dp_conn_received(struct dp_conn *c, const uint8_t *p, size_t n)
{
	/* The receive's count on c->ops is dropped only at the end: handlers that answer at once
	 * may close the connection, and c must outlive this function. */
	c->recv_armed = false;
	if (c->closing) {
		c->ops--;
		maybe_free(c);
		return;
	}
	if (n == 0) {
		dp_conn_close(c, "closed by peer");
		c->ops--;
		maybe_free(c);
		return;
	}
	c->last_active_ns = c->s->now_ns;
	take_bytes(c, p, n);
	c->ops--;
	arm_recv(c);
	maybe_free(c);
}

/* Keeps n bytes (appended to the stash) for when the pipeline has room; closes c when out of
 * memory. */
static void stash_bytes(struct dp_conn *c, const uint8_t *p, size_t n)
{
	uint8_t *m = realloc(c->stash, c->stash_len + n);
	if (!m) {
		dp_conn_close(c, "out of memory");
		return;
	}
	memcpy(m + c->stash_len, p, n);
	c->stash = m;
	c->stash_len += n;
}

/* Reassembles frames from received bytes and makes each whole one a request, in order.  At a
 * frame boundary with DP_CONN_PIPELINE requests queued (several small requests in one
 * receive: without this a client pipelining hundreds of fetches in one write would have all
 * their answers built at once) the rest waits in the stash, as do bytes that arrive while the
 * stash holds some (they come after them). */
static void take_bytes(struct dp_conn *c, const uint8_t *p, size_t n)
{
	int64_t max = c->s->b->cfg.socket_request_max_bytes;
	if (c->stash_len) {
		stash_bytes(c, p, n);
		return;
	}
	while (n && !c->closing) {
		if (!c->frame && !c->lenhave && c->nreq >= DP_CONN_PIPELINE) {
			stash_bytes(c, p, n);
			return;
		}
		if (!c->frame) {
			size_t take = 4 - c->lenhave < n ? 4 - c->lenhave : n;
			memcpy(c->lenbuf + c->lenhave, p, take);
			c->lenhave += take;
			p += take;
			n -= take;
			if (c->lenhave < 4)
				break;
			int32_t len = (int32_t)rt_be32_get(c->lenbuf);
			c->lenhave = 0;
			/* Kafka closes the connection on a negative or over-limit size; a frame too short
			 * to hold a request header cannot be answered either. */
			if (len < 8 || len > max) {
				RT_INFO("shard %d: %s: frame length %d outside 8..%lld; closing", c->s->id, c->peer,
				            len, (long long)max);
				dp_conn_close(c, "bad frame length");
				break;
			}
			c->frame = frame_alloc(c->s, (size_t)len);
			if (!c->frame) {
				dp_conn_close(c, "out of memory");
				break;
			}
			c->s->frame_bytes += (size_t)len;
			c->frame_len = (size_t)len;
			c->frame_have = 0;
			continue;
		}
		size_t take = c->frame_len - c->frame_have < n ? c->frame_len - c->frame_have : n;
		memcpy(c->frame + c->frame_have, p, take);
		c->frame_have += take;
		p += take;
		n -= take;
		if (c->frame_have == c->frame_len) {
			uint8_t *f = c->frame;
			c->frame = NULL;
			new_request(c, f, c->frame_len);
		}
	}
}

void dp_conn_received_into(struct dp_conn *c, int32_t res)
{
	c->recv_armed = false;
	if (c->closing || res <= 0) {
		if (!c->closing)
			dp_conn_close(c, res == 0 ? "closed by peer" : "receive failed");
		c->ops--;
		maybe_free(c);
		return;
	}
	c->last_active_ns = c->s->now_ns;
	assert(c->frame && c->frame_have + (size_t)res <= c->frame_len);
	c->frame_have += (size_t)res;
	if (c->frame_have == c->frame_len) {
		uint8_t *f = c->frame;
		c->frame = NULL;
		new_request(c, f, c->frame_len);
	}
	c->ops--;
	arm_recv(c);
	maybe_free(c);
}

void dp_conn_recv_failed(struct dp_conn *c, int err)
{
	c->ops--;
	c->recv_armed = false;
	if (err == -ENOBUFS && !c->closing) {
		c->recv_starved = true;
		c->s->nstarved++;
		return;
	}
	if (!c->closing && err != -ECONNRESET && err != -ECANCELED)
		RT_DEBUG("shard %d: %s: receive failed: %s", c->s->id, c->peer, strerror(-err));
	dp_conn_close(c, "receive failed");
	maybe_free(c);
}

static void pump(struct dp_conn *c)
{
	while (!c->closing && !c->sending && c->q_head && c->q_head->done) {
		struct dp_req *req = c->q_head;
		if (req->close_after) {
			dp_conn_close(c, "request cannot be answered");
			return;
		}
		if (req->no_response) {
			unlink_req(c, req);
			req_release(req);
			continue;
		}
		struct rt_buf *b = rt_chain_buf(&req->resp);
		if (rt_chain_finish(&req->resp) || b->len < 4) {
			RT_ERROR("shard %d: %s: response to api %d could not be built", c->s->id, c->peer,
			             req->api_key);
			dp_conn_close(c, "response too large");
			return;
		}
		size_t total = rt_chain_len(&req->resp);
		rt_be32_put(b->data, (uint32_t)(total - 4));
		c->sending = req;
		c->ops++;
		RT_LT_STAMP(req->lt_send);
		if (c->backend->send(c, &req->resp)) {
			c->ops--;
			c->sending = NULL;
			dp_conn_close(c, "cannot send");
			return;
		}
	}
	arm_recv(c);
}

void dp_req_finish(struct dp_req *req)
{
	struct dp_conn *c = req->conn;
	req->done = true;
	RT_LT_STAMP(req->lt_decided);
	if (c->closing) {
		if (c->sending != req) {
			unlink_req(c, req);
			req_release(req);
		}
		maybe_free(c);
		return;
	}
	pump(c);
	maybe_free(c);
}

void dp_conn_sent(struct dp_conn *c, int err)
{
	c->ops--;
	struct dp_req *req = c->sending;
	c->sending = NULL;
	if (RT_LT_ENABLED && req && req->lt_back) {
		uint64_t now = rt_lt_now();
		rt_lt_record(RT_LT_BACK_SENT, req->lt_back, now);
		rt_lt_record(RT_LT_TOTAL, req->lt_recv, now);
		const uint64_t t[] = {req->lt_recv, req->lt_back, req->lt_decided, req->lt_send, now};
		rt_lt_row('R', (uintptr_t)c, req->corr_id, -1, t, 5);
	}
	if (req) {
		unlink_req(c, req);
		req_release(req);
	}
	if (err && !c->closing) {
		RT_DEBUG("shard %d: %s: send failed: %s", c->s->id, c->peer, strerror(-err));
		dp_conn_close(c, "send failed");
	}
	if (!c->closing) {
		c->last_active_ns = c->s->now_ns;
		pump(c);
	}
	maybe_free(c);
}

void dp_conn_close(struct dp_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	RT_DEBUG("shard %d: closing %s: %s", c->s->id, c->peer, why);
	c->backend->shutdown(c);
	/* Requests already answered go now; the rest go when their handlers finish. */
	struct dp_req *req = c->q_head;
	while (req) {
		struct dp_req *next = req->next;
		if (req->done && req != c->sending) {
			unlink_req(c, req);
			req_release(req);
		}
		req = next;
	}
}

static void maybe_free(struct dp_conn *c)
{
	if (!c->closing || c->ops || c->nreq)
		return;
	struct dp_shard *s = c->s;
	if (!c->internal)    /* an internal link left the count when it was accepted (net_uring.c) */
		atomic_fetch_sub_explicit(&s->nconns, 1, memory_order_relaxed);
	if (c->recv_starved)
		s->nstarved--;
	c->backend->close(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->frame) {
		s->frame_bytes -= c->frame_len;
		frame_free(s, c->frame, c->frame_len);
	}
	free(c->stash);
	free(c);
}

void dp_conn_sweep_idle(struct dp_shard *s)
{
	int64_t idle = s->b->cfg.connections_max_idle_ms;
	bool draining = atomic_load(&s->b->phase) != DP_RUNNING;
	for (struct dp_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		/* ringtail-control's links to its own topics are the broker's, not a client's: Kafka's
		 * coordinators write those topics in process, with no connection to expire, and closing
		 * them only made the control process reconnect and warn "connection lost" after every
		 * connections.max.idle.ms of quiet. */
		if (c->closing || c->nreq || (c->internal && !draining))
			continue;
		if (draining || (idle >= 0 && s->now_ns - c->last_active_ns > (uint64_t)idle * 1000000ull)) {
			dp_conn_close(c, draining ? "shutting down" : "idle");
			maybe_free(c);
		}
	}
}

void dp_conn_retry_starved(struct dp_shard *s)
{
	if (!s->nstarved)
		return;
	for (struct dp_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->recv_starved) {
			c->recv_starved = false;
			s->nstarved--;
			arm_recv(c);
			maybe_free(c);
		}
	}
}

void dp_conn_close_all(struct dp_shard *s)
{
	for (struct dp_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		dp_conn_close(c, "shutting down");
		maybe_free(c);
	}
}
