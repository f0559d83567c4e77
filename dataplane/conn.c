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
#include <unistd.h>

#include "broker.h"
#include "base/lat_trace.h"
#include "base/log.h"
#include "net.h"
#include "router.h"
#include "shard.h"

/* Bounds per request: the arena (decoded arrays) and the response's own buffer. */
#define DP_REQ_ARENA_MIN (1u << 20)
#define DP_RESP_BUF_MAX (256u << 20)
/* Request frames a shard holds at once before its connections stop reading new ones (Kafka's
 * queued.max.request.bytes): a frame in progress always completes, so one frame per connection
 * can go past it. */
#define DP_SHARD_FRAME_BUDGET (512u << 20)
/* A frame with at least this much still to come is received into place. */
#define DP_RECV_DIRECT_MIN (32u << 10)

static void maybe_free(struct dp_conn *c);

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

void dp_conn_accepted(struct dp_shard *s, const struct dp_net_ops *backend, int fd)
{
	if (atomic_load(&s->b->phase) != DP_RUNNING) {
		close(fd);
		return;
	}
	struct dp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
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
		return;
	}
	c->recv_armed = true;
	c->ops++;
}

static void arm_recv(struct dp_conn *c)
{
	if (c->closing || c->recv_armed || c->nreq >= DP_CONN_PIPELINE)
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
 * called for it here, and release(ref) when the request goes) and dispatches it. */
static void new_request_lent(struct dp_conn *c, uint8_t *frame, size_t len, void (*hold)(void *),
                             void (*release)(void *), void *ref)
{
	struct dp_req *req = calloc(1, sizeof(*req));
	if (!req) {
		c->s->frame_bytes -= len;
		if (!release)
			frame_free(c->s, frame, len);
		dp_conn_close(c, "out of memory");
		return;
	}
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
	new_request_lent(c, frame, len, NULL, NULL, NULL);
}

bool dp_conn_received_lent(struct dp_conn *c, uint8_t *p, size_t n, void (*hold)(void *ref),
                           void (*release)(void *ref), void *ref)
{
	if (c->closing || n == 0 || c->frame || c->lenhave)
		return false;
	/* Whole frames only, each within the limits dp_conn_received applies (a bad one takes the
	 * ordinary path, which closes the connection and says why). */
	int64_t max = c->s->b->cfg.socket_request_max_bytes;
	for (size_t off = 0; off < n;) {
		if (n - off < 4)
			return false;
		int32_t len = (int32_t)rt_be32_get(p + off);
		if (len < 8 || len > max || (size_t)len > n - off - 4)
			return false;
		off += 4 + (size_t)len;
	}
	c->recv_armed = false;
	c->last_active_ns = c->s->now_ns;
	for (size_t off = 0; off < n && !c->closing;) {
		size_t len = rt_be32_get(p + off);
		c->s->frame_bytes += len;
		new_request_lent(c, p + off + 4, len, hold, release, ref);
		off += 4 + len;
	}
	c->ops--;
	arm_recv(c);
	maybe_free(c);
	return true;
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
	int64_t max = c->s->b->cfg.socket_request_max_bytes;
	while (n && !c->closing) {
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
	c->ops--;
	arm_recv(c);
	maybe_free(c);
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
	free(c);
}

void dp_conn_sweep_idle(struct dp_shard *s)
{
	int64_t idle = s->b->cfg.connections_max_idle_ms;
	bool draining = atomic_load(&s->b->phase) != DP_RUNNING;
	for (struct dp_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->closing || c->nreq)
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
