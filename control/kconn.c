/*
 * control/kconn.c: the client connection of kconn.h.
 *
 * Invariants: `in` holds at most max_in bytes and starts at a frame's size field; `out` holds
 * whole request frames and out_off bytes of it are sent; the in-flight list is in send order,
 * so the next answer is always the head's.  Closing empties both buffers and the list, so a
 * new connection never sees an old one's bytes or requests.
 */
#include "control/kconn.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/chain.h"
#include "base/log.h"
#include "kp_msgs.h"

struct ctl_kconn_req {
	struct ctl_kconn_req *next;
	int32_t corr;
	int16_t key, version;
	void *arg;
};

void ctl_kconn_init(struct ctl_kconn *k, const char *who, const char *host, int port, size_t max_in,
                    size_t arena_max, ctl_kconn_answer_fn answer, void *ctx)
{
	assert(max_in > 4);   /* a frame's size field and something */
	memset(k, 0, sizeof(*k));
	k->who = who;
	snprintf(k->host, sizeof(k->host), "%s", host);
	k->port = port;
	k->fd = -1;
	k->arena_max = arena_max;
	k->answer = answer;
	k->ctx = ctx;
	rt_buf_init(&k->out, 0);
	rt_buf_init(&k->in, max_in);
}

void ctl_kconn_fini(struct ctl_kconn *k)
{
	ctl_kconn_close(k, NULL, NULL, NULL);
	rt_buf_fini(&k->out);
	rt_buf_fini(&k->in);
}

int ctl_kconn_connect(struct ctl_kconn *k)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", k->port);
	if (getaddrinfo(k->host, port, &hints, &res) || !res)
		return -EHOSTUNREACH;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = -errno;
		freeaddrinfo(res);
		return err;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, res->ai_addr, res->ai_addrlen);
	int err = rc ? errno : 0;
	freeaddrinfo(res);
	if (rc && err != EINPROGRESS) {
		close(fd);
		return -err;
	}
	k->fd = fd;
	k->connecting = rc != 0;
	return 0;
}

bool ctl_kconn_connecting(const struct ctl_kconn *k)
{
	return k->connecting;
}

int ctl_kconn_connect_done(struct ctl_kconn *k)
{
	int err = 0;
	socklen_t l = sizeof(err);
	if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &l))
		return -errno;
	if (err)
		return -err;
	k->connecting = false;
	return 0;
}

void ctl_kconn_close(struct ctl_kconn *k, const char *why, ctl_kconn_lost_fn lost, void *ctx)
{
	if (k->fd >= 0) {
		if (why)
			RT_WARN("%s: connection to %s:%d lost: %s", k->who, k->host, k->port, why);
		close(k->fd);
	}
	k->fd = -1;
	k->connecting = false;
	rt_buf_reset(&k->out);
	k->out_off = 0;
	rt_buf_reset(&k->in);
	/* Detached first: lost() may queue new work with the owner. */
	struct ctl_kconn_req *r = k->fl_head;
	k->fl_head = k->fl_tail = NULL;
	while (r) {
		struct ctl_kconn_req *n = r->next;
		if (lost)
			lost(ctx, r->arg);
		free(r);
		r = n;
	}
}

int ctl_kconn_send(struct ctl_kconn *k, int16_t key, int16_t version, const void *body, void *arg)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_frame f = kp_frame_begin(&c);
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = key;
	h.request_api_version = version;
	h.correlation_id = ++k->corr;
	h.client_id = (struct kp_str){ "ringtail-control", 16 };
	kp_req_hdr_encode(&c, &h);
	kp_api_lookup(key)->req_encode(&c, version, body);
	kp_frame_end(&c, f);
	int rc = rt_chain_finish(&c);
	size_t n = rt_chain_len(&c);
	uint8_t *p = rc ? NULL : rt_buf_extend(&k->out, n);
	if (!p || rt_chain_flatten(&c, p)) {
		rt_chain_fini(&c);
		if (p)
			k->out.len -= n;
		return -ENOMEM;
	}
	rt_chain_fini(&c);
	struct ctl_kconn_req *r = calloc(1, sizeof(*r));
	if (!r)
		abort(); /* the control process cannot run without memory; it is restarted */
	*r = (struct ctl_kconn_req){ .corr = h.correlation_id, .key = key, .version = version, .arg = arg };
	if (k->fl_tail)
		k->fl_tail->next = r;
	else
		k->fl_head = r;
	k->fl_tail = r;
	return 0;
}

void *ctl_kconn_oldest(const struct ctl_kconn *k)
{
	return k->fl_head ? k->fl_head->arg : NULL;
}

int ctl_kconn_fd(const struct ctl_kconn *k)
{
	return k->fd;
}

bool ctl_kconn_pending(const struct ctl_kconn *k)
{
	return k->out.len > k->out_off;
}

short ctl_kconn_events(const struct ctl_kconn *k)
{
	if (k->fd < 0)
		return 0;
	if (k->connecting)
		return POLLOUT;
	return (short)(POLLIN | (ctl_kconn_pending(k) ? POLLOUT : 0));
}

/* One whole answer frame (size field stripped): the oldest request's. */
static int on_frame(struct ctl_kconn *k, const uint8_t *p, size_t n)
{
	struct ctl_kconn_req *r = k->fl_head;
	if (!r) {
		snprintf(k->why, sizeof(k->why), "a response nobody asked for");
		return -EPROTO;
	}
	struct rt_arena a;
	rt_arena_init(&a, 0, k->arena_max);
	struct rt_rd rd;
	rt_rd_init(&rd, p, n);
	struct kp_resp_hdr h;
	if (kp_resp_hdr_decode(&rd, r->key, r->version, &a, &h) || h.correlation_id != r->corr) {
		rt_arena_fini(&a);
		snprintf(k->why, sizeof(k->why), "response out of order");
		return -EPROTO;
	}
	k->fl_head = r->next;
	if (!k->fl_head)
		k->fl_tail = NULL;
	int rc = k->answer(k->ctx, r->arg, r->key, r->version, &rd, &a);
	rt_arena_fini(&a);
	if (rc) {
		/* Unanswered after all: the oldest again, for the owner's close to hand back. */
		assert(k->fd >= 0);
		r->next = k->fl_head;
		k->fl_head = r;
		if (!k->fl_tail)
			k->fl_tail = r;
		snprintf(k->why, sizeof(k->why), "malformed %s response", kp_api_lookup(r->key)->name);
		return -EPROTO;
	}
	free(r);
	return 0;
}

int ctl_kconn_read(struct ctl_kconn *k, const char **why)
{
	*why = k->why;
	for (;;) {
		/* Up to 64 KiB at a time, but never past max_in: a frame that fits max_in is
		 * read whole even when it began within 64 KiB of the limit (frames are checked
		 * against max_in below, and a whole one is consumed, so len < max here). */
		size_t want = k->in.max - k->in.len < 65536 ? k->in.max - k->in.len : 65536;
		assert(want > 0);
		if (rt_buf_reserve(&k->in, want)) {
			snprintf(k->why, sizeof(k->why), "out of memory for a %zu-byte response", k->in.len + want);
			return -ENOMEM;
		}
		ssize_t got = recv(k->fd, k->in.data + k->in.len, k->in.cap - k->in.len, 0);
		if (got == 0) {
			snprintf(k->why, sizeof(k->why), "closed by the broker");
			return -ECONNRESET;
		}
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			int err = errno;
			snprintf(k->why, sizeof(k->why), "%s", strerror(err));
			return -err;
		}
		k->in.len += (size_t)got;
		size_t off = 0;
		while (k->in.len - off >= 4) {
			uint32_t fl = rt_be32_get(k->in.data + off);
			if (fl > k->in.max - 4) {
				snprintf(k->why, sizeof(k->why), "bad frame length");
				return -EPROTO;
			}
			if (k->in.len - off - 4 < fl)
				break;
			int rc = on_frame(k, k->in.data + off + 4, fl);
			if (rc)
				return rc;
			if (k->fd < 0)
				return 0;   /* the owner closed it while handling the answer */
			off += 4 + fl;
		}
		if (off) {
			memmove(k->in.data, k->in.data + off, k->in.len - off);
			k->in.len -= off;
		}
	}
}

int ctl_kconn_write(struct ctl_kconn *k)
{
	while (k->out.len > k->out_off) {
		ssize_t n = send(k->fd, k->out.data + k->out_off, k->out.len - k->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		k->out_off += (size_t)n;
	}
	rt_buf_reset(&k->out);
	k->out_off = 0;
	return 0;
}
