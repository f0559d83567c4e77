/*
 * dataplane/net_uring.c: the `uring` network backend: kernel TCP sockets driven by the shard's
 * io_uring.
 *
 * - One SO_REUSEPORT listener per shard (plus, in shard-aware mode, one on the shard's own
 *   port), multishot accept; and on one shard the broker's internal loopback listener (net.h),
 *   also when the dpdk backend serves the clients.
 * - Receives select a buffer from the shard's provided-buffer ring; the bytes are handed to the
 *   connection layer and the buffer goes straight back to the ring.  The rest of a large frame
 *   (a Produce of big batches) is received straight into the request's frame instead.
 * - Sends walk the output chain: runs of memory segments go out with one sendmsg; a file range
 *   goes file -> pipe -> socket with two splices, so record data never enters user space.  Each
 *   connection gets its own pipe on its first file range, because a pipe shared by connections
 *   with concurrent splices would mix their bytes.
 * Accepted sockets stay blocking: io_uring polls them itself, and a splice into a socket whose
 * buffer is full then waits in the kernel instead of failing with EAGAIN.
 * - Zero-copy sends (IORING_OP_SENDMSG_ZC) for runs of memory segments of at least
 *   ringtail.net.send.zc.min.bytes (0, the default, never): the kernel then sends from the
 *   chain's pages and says with a second, notification CQE when it has let go of them, so the
 *   send is reported done to the connection (which frees the chain) only after the last
 *   notification.  Off by default: on loopback it did not pay (perf/send_zc.sh; figures in
 *   the issue notes).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "conn.h"
#include "base/log.h"
#include "net.h"
#include "shard.h"

/* Kernel 6.2 values that Debian 12's liburing 2.3 headers do not carry yet. */
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define NBUFS 128
#define BUFSZ (64u << 10)
#define BGID 1
#define MAX_IOV 64
#define MAX_LISTENERS 3   /* listeners=, the shard-aware port, the internal one */
/* Back-off of a listener whose accept failed for want of descriptors or memory: the connection
 * stays in the backlog, so accepting again at once fails again at once (a core spinning and a
 * log line per failure: half a million in 10 s were seen).  Doubles up to the maximum, and ends
 * with the next accept that succeeds. */
#define ACCEPT_BACKOFF_MIN_MS 100
#define ACCEPT_BACKOFF_MAX_MS 1000

struct listener {
	struct dp_shard *s;
	int fd;
	struct rt_ioop op;
	bool armed;
	bool shared;                   /* the port every shard listens on (see balance()) */
	bool internal;                 /* the internal listener: its connections may write internal topics */
	struct dp_timer backoff;       /* armed while accepting is paused */
	uint32_t backoff_ms;           /* the current pause; 0 outside a back-off episode */
	uint32_t backoff_fails;        /* accepts that failed in this episode */
};

struct dp_net_shard {
	struct listener ls[MAX_LISTENERS];
	int nls;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	uint64_t zc_notifs, zc_copied;  /* zero-copy sends completed, and those the kernel copied */
};

enum { SEND_MEM, SEND_FILE_IN, SEND_FILE_OUT };

struct uconn {
	struct dp_conn *c;
	struct rt_ioop recv_op, recv_into_op, send_op;
	struct rt_chain *ch;
	size_t seg, segoff;
	int state;
	struct msghdr msg;
	struct iovec iov[MAX_IOV];
	int pipe[2];
	size_t pipe_cap, pipe_fill;
	int zc_notifs;                 /* zero-copy notifications still due for the chain */
	bool zc_done;                  /* the send is over; waiting for those notifications */
	int zc_err;                    /* its outcome, reported with the last notification */
};

static void accept_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

static int arm_accept(struct listener *l)
{
	struct io_uring_sqe *sqe = dp_shard_sqe(l->s);
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &l->op);
	l->armed = true;
	return 0;
}

/* On the chosen shard: a connection another shard accepted for it. */
static void adopt(struct dp_shard *s, void *arg)
{
	atomic_fetch_sub_explicit(&s->nconns, 1, memory_order_relaxed);  /* counted by the sender */
	dp_conn_accepted(s, &dp_net_uring, (int)(intptr_t)arg);
}

/* The shard that should serve a connection accepted on the shared port: the one with the fewest
 * open connections, this one on a tie.  The kernel spreads SO_REUSEPORT connections by a hash of
 * their addresses, so a few connections often land on one shard while the other idles (in the
 * default-mode produce benchmark both producer connections were on one shard in about half the
 * runs, and that shard did all the receiving and validating).  A shard's own port (shard-aware
 * mode) is never balanced: the client chose that shard. */
static int balance(struct dp_shard *s)
{
	int best = s->id, least = atomic_load_explicit(&s->nconns, memory_order_relaxed);
	for (int i = 0; i < s->b->nshards; i++) {
		int n = atomic_load_explicit(&s->b->shards[i]->nconns, memory_order_relaxed);
		if (n < least) {
			least = n;
			best = i;
		}
	}
	return best;
}

/* Errors that say the process or the kernel is out of something that closing connections gives
 * back; any other accept error keeps the immediate re-arm. */
static bool accept_should_back_off(int32_t res)
{
	return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

static void backoff_done(struct dp_shard *s, struct dp_timer *t)
{
	struct listener *l = rt_container_of(t, struct listener, backoff);
	if (s->accepting && l->fd >= 0 && !l->armed)
		arm_accept(l);
}

/* Pauses accepting on l after a failed accept (res); one warning per episode. */
static void accept_back_off(struct listener *l, int32_t res)
{
	l->backoff_fails++;
	if (!l->backoff_ms) {
		struct rlimit rl = { 0 };
		getrlimit(RLIMIT_NOFILE, &rl);
		RT_WARN("shard %d: accept failed: %s (RLIMIT_NOFILE is %llu; the shard has %d connections); "
		        "pausing accepts on this listener for %d ms, doubling up to %d ms until one succeeds",
		        l->s->id, strerror(-res), (unsigned long long)rl.rlim_cur,
		        atomic_load_explicit(&l->s->nconns, memory_order_relaxed),
		        ACCEPT_BACKOFF_MIN_MS, ACCEPT_BACKOFF_MAX_MS);
		l->backoff_ms = ACCEPT_BACKOFF_MIN_MS;
	} else if (l->backoff_ms < ACCEPT_BACKOFF_MAX_MS) {
		l->backoff_ms *= 2;
		if (l->backoff_ms > ACCEPT_BACKOFF_MAX_MS)
			l->backoff_ms = ACCEPT_BACKOFF_MAX_MS;
	}
	dp_timer_arm(l->s, &l->backoff, l->backoff_ms);
}

static void accept_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	struct listener *l = rt_container_of(op, struct listener, op);
	if (res >= 0 && l->backoff_ms) {
		RT_INFO("shard %d: accepting again after %u failed accepts", l->s->id, l->backoff_fails);
		l->backoff_ms = 0;
		l->backoff_fails = 0;
	}
	int to = res >= 0 && l->shared && l->s->b->nshards > 1 ? balance(l->s) : l->s->id;
	if (res >= 0 && to != l->s->id) {
		/* Counted now, so that connections accepted meanwhile do not all pick the same shard. */
		atomic_fetch_add_explicit(&l->s->b->shards[to]->nconns, 1, memory_order_relaxed);
		dp_shard_post(l->s, to, adopt, (void *)(intptr_t)res);
	} else if (res >= 0) {
		struct dp_conn *c = dp_conn_accepted(l->s, &dp_net_uring, res);
		if (c && l->internal) {
			/* ringtail-control's links are not clients: left out of the count balance()
			 * spreads clients by, or the shard that holds them gets no client while the
			 * other gets every one (both producer connections of the produce benchmark
			 * went to shard 1 in 2 of 3 runs); maybe_free (conn.c) leaves them out too. */
			c->internal = true;
			atomic_fetch_sub_explicit(&l->s->nconns, 1, memory_order_relaxed);
		}
	}
	else if (accept_should_back_off(res) && l->s->accepting) {
		accept_back_off(l, res);
		if (flags & IORING_CQE_F_MORE) {
			/* Still armed: stop it now; backoff_done arms it again after its final CQE. */
			struct io_uring_sqe *sqe = dp_shard_sqe(l->s);
			io_uring_prep_cancel(sqe, &l->op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	} else if (res != -ECANCELED && res != -EINVAL)
		RT_WARN("shard %d: accept failed: %s", l->s->id, strerror(-res));
	if (!(flags & IORING_CQE_F_MORE)) {
		l->armed = false;
		if (l->s->accepting) {
			if (!l->backoff.armed)   /* else backoff_done arms it */
				arm_accept(l);
		} else if (l->fd >= 0) {
			close(l->fd);
			l->fd = -1;
		}
	}
}

/* A listening socket on host:port, with SO_REUSEPORT when `reuseport` (one per shard).
 * Returns the fd or -errno. */
static int open_listener(const char *host, uint16_t port, bool reuseport)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
	if (rc)
		return -EADDRNOTAVAIL;
	int fd = -1, err = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (reuseport)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		err = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : err;
}

static int shard_init(struct dp_shard *s)
{
	struct dp_net_shard *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	s->net = ns;
	ns->br_bytes = NBUFS * sizeof(struct io_uring_buf);
	ns->br = mmap(NULL, ns->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (ns->br == MAP_FAILED)
		return -errno;
	ns->bufs = malloc((size_t)NBUFS * BUFSZ);
	if (!ns->bufs)
		return -ENOMEM;
	struct io_uring_buf_reg reg = { 0 };
	reg.ring_addr = (unsigned long)ns->br;
	reg.ring_entries = NBUFS;
	reg.bgid = BGID;
	int rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(ns->br);
	int mask = io_uring_buf_ring_mask(NBUFS);
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(ns->br, ns->bufs + (size_t)i * BUFSZ, BUFSZ, (unsigned short)i, mask, i);
	io_uring_buf_ring_advance(ns->br, NBUFS);
	return 0;
}

/* How long a start waits for a port that is in use before it gives up (see open_exclusive). */
#define EXCLUSIVE_WAIT_MS 2000

/* A listener without SO_REUSEPORT, tried again for a while on EADDRINUSE.  A broker that was
 * SIGKILLed keeps its listening sockets until the kernel has torn down its io_uring, and that
 * waits for the requests in flight (an fdatasync under I/O load: up to 77 ms measured here),
 * so a supervisor that restarts it at once found its own previous socket and gave up.  A port
 * that another process really serves still stops the start, EXCLUSIVE_WAIT_MS later.
 * Start-up only (it sleeps).  Returns the fd or -errno. */
static int open_exclusive(const char *host, uint16_t port)
{
	for (int waited = 0;; waited += 50) {
		int fd = open_listener(host, port, false);
		if (fd != -EADDRINUSE || waited >= EXCLUSIVE_WAIT_MS)
			return fd;
		if (!waited)
			RT_INFO("%s:%u is in use; waiting up to %d ms in case it is a previous run's socket that "
			        "the kernel is still releasing", host, port, EXCLUSIVE_WAIT_MS);
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int add_listener(struct dp_shard *s, int fd, bool shared, bool internal)
{
	struct dp_net_shard *ns = s->net;
	assert(ns->nls < MAX_LISTENERS);
	struct listener *l = &ns->ls[ns->nls++];
	l->s = s;
	l->fd = fd;
	l->shared = shared;
	l->internal = internal;
	l->op.cb = accept_cb;
	l->backoff.fn = backoff_done;
	s->accepting = true;
	return arm_accept(l);
}

static int listen_clients(struct dp_shard *s)
{
	const struct dp_config *cfg = &s->b->cfg;
	uint16_t ports[MAX_LISTENERS];
	int np = 0;
	ports[np++] = cfg->listen_port;
	if (cfg->advertise_shards)
		ports[np++] = (uint16_t)(cfg->listen_port + 1 + s->id);
	for (int i = 0; i < np; i++) {
		/* SO_REUSEPORT lets any process of the same user join a port that is already listening,
		 * so a second broker would silently take half of our connections.  A listener without
		 * it cannot bind while anyone listens there: open one first, as Kafka would, and close
		 * it before the shards' reuseport listeners take the port (shard 0 opens the shared
		 * port, each shard its own). */
		int fd = (i > 0 || s->id == 0) ? open_exclusive(cfg->listen_host, ports[i]) : 0;
		if (fd > 0) {
			close(fd);
			fd = 0;
		}
		if (fd == 0)
			fd = open_listener(cfg->listen_host, ports[i], true);
		if (fd < 0) {
			RT_ERROR("cannot listen on %s:%u: %s", cfg->listen_host, ports[i], strerror(-fd));
			return fd;
		}
		add_listener(s, fd, i == 0, false);
	}
	return 0;
}

int dp_net_uring_listen_internal(struct dp_shard *s, uint16_t *port)
{
	/* Port 0: the kernel picks a free one, so the internal listener never collides with
	 * another broker or a test's ports.  No SO_REUSEPORT: nobody else may join it. */
	int fd = open_listener("127.0.0.1", 0, false);
	if (fd < 0)
		return fd;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) || sa.sin_family != AF_INET) {
		int err = errno ? -errno : -EAFNOSUPPORT;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return add_listener(s, fd, false, true);
}

static void stop_accept(struct dp_shard *s)
{
	struct dp_net_shard *ns = s->net;
	if (!ns)
		return;
	for (int i = 0; i < ns->nls; i++) {
		struct listener *l = &ns->ls[i];
		dp_timer_cancel(s, &l->backoff);
		if (l->armed) {
			struct io_uring_sqe *sqe = dp_shard_sqe(s);
			io_uring_prep_cancel(sqe, &l->op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		} else if (l->fd >= 0) {
			close(l->fd);
			l->fd = -1;
		}
	}
}

static void shard_fini(struct dp_shard *s)
{
	struct dp_net_shard *ns = s->net;
	if (!ns)
		return;
	if (ns->zc_notifs)
		RT_INFO("shard %d: %llu zero-copy sends, %llu of them copied by the kernel anyway", s->id,
		        (unsigned long long)ns->zc_notifs, (unsigned long long)ns->zc_copied);
	for (int i = 0; i < ns->nls; i++)
		if (ns->ls[i].fd >= 0)
			close(ns->ls[i].fd);
	if (ns->br && ns->br != MAP_FAILED)
		munmap(ns->br, ns->br_bytes);
	free(ns->bufs);
	free(ns);
	s->net = NULL;
}

static void recv_cb(struct rt_ioop *op, int32_t res, uint32_t flags);
static void recv_into_cb(struct rt_ioop *op, int32_t res, uint32_t flags);
static void send_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

static struct uconn *get_uc(struct dp_conn *c)
{
	if (c->net)
		return c->net;
	struct uconn *uc = calloc(1, sizeof(*uc));
	if (!uc)
		return NULL;
	uc->c = c;
	uc->recv_op.cb = recv_cb;
	uc->recv_into_op.cb = recv_into_cb;
	uc->send_op.cb = send_cb;
	uc->pipe[0] = uc->pipe[1] = -1;
	c->net = uc;
	return uc;
}

static int do_recv(struct dp_conn *c)
{
	struct uconn *uc = get_uc(c);
	if (!uc)
		return -ENOMEM;
	struct io_uring_sqe *sqe = dp_shard_sqe(c->s);
	io_uring_prep_recv(sqe, c->fd, NULL, BUFSZ, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data(sqe, &uc->recv_op);
	return 0;
}

static int do_recv_into(struct dp_conn *c, uint8_t *p, size_t len)
{
	struct uconn *uc = get_uc(c);
	if (!uc)
		return -ENOMEM;
	struct io_uring_sqe *sqe = dp_shard_sqe(c->s);
	io_uring_prep_recv(sqe, c->fd, p, len > (1u << 30) ? (1u << 30) : len, 0);
	io_uring_sqe_set_data(sqe, &uc->recv_into_op);
	return 0;
}

static void recv_into_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct uconn *uc = rt_container_of(op, struct uconn, recv_into_op);
	dp_conn_received_into(uc->c, res);
}

static void recv_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	struct uconn *uc = rt_container_of(op, struct uconn, recv_op);
	struct dp_conn *c = uc->c;
	struct dp_shard *s = c->s;
	struct dp_net_shard *ns = s->net;
	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = ns->bufs + (size_t)bid * BUFSZ;
		if (res > 0)
			dp_conn_received(c, buf, (size_t)res);
		else if (res == 0)
			dp_conn_received(c, buf, 0);
		else
			dp_conn_recv_failed(c, res);
		/* c may be gone now; the buffer belongs to the shard and goes back to the ring. */
		io_uring_buf_ring_add(ns->br, buf, BUFSZ, (unsigned short)bid, io_uring_buf_ring_mask(NBUFS), 0);
		io_uring_buf_ring_advance(ns->br, 1);
		return;
	}
	if (res >= 0)
		dp_conn_received(c, NULL, 0);
	else
		dp_conn_recv_failed(c, res);
}

static void send_step(struct uconn *uc);

static void send_done(struct uconn *uc, int err)
{
	if (uc->zc_notifs) {
		/* the kernel may still read the chain's pages */
		uc->zc_done = true;
		uc->zc_err = err;
		return;
	}
	uc->ch = NULL;
	dp_conn_sent(uc->c, err);
}

static void submit_splice(struct uconn *uc, int in, int64_t off, int out, size_t n)
{
	struct io_uring_sqe *sqe = dp_shard_sqe(uc->c->s);
	io_uring_prep_splice(sqe, in, off, out, -1, (unsigned)n, SPLICE_F_MOVE);
	io_uring_sqe_set_data(sqe, &uc->send_op);
}

static void send_step(struct uconn *uc)
{
	struct rt_chain *ch = uc->ch;
	while (uc->seg < ch->nsegs && uc->segoff == ch->segs[uc->seg].len) {
		uc->seg++;
		uc->segoff = 0;
	}
	if (uc->seg == ch->nsegs) {
		send_done(uc, 0);
		return;
	}
	struct rt_seg *sg = &ch->segs[uc->seg];
	if (sg->kind == RT_SEG_FILE) {
		if (uc->pipe[0] < 0) {
			if (pipe2(uc->pipe, O_CLOEXEC)) {
				send_done(uc, -errno);
				return;
			}
			fcntl(uc->pipe[1], F_SETPIPE_SZ, 1 << 20);
			int sz = fcntl(uc->pipe[1], F_GETPIPE_SZ);
			uc->pipe_cap = sz > 0 ? (size_t)sz : 65536;
		}
		size_t n = sg->len - uc->segoff;
		if (n > uc->pipe_cap)
			n = uc->pipe_cap;
		uc->state = SEND_FILE_IN;
		submit_splice(uc, sg->fd, (int64_t)(sg->off + uc->segoff), uc->pipe[1], n);
		return;
	}
	int niov = 0;
	for (size_t i = uc->seg; i < ch->nsegs && niov < MAX_IOV; i++) {
		struct rt_seg *g = &ch->segs[i];
		if (g->kind == RT_SEG_FILE)
			break;
		size_t skip = i == uc->seg ? uc->segoff : 0;
		if (g->len == skip)
			continue;
		uc->iov[niov].iov_base = (void *)((const uint8_t *)rt_chain_seg_ptr(ch, g) + skip);
		uc->iov[niov].iov_len = g->len - skip;
		niov++;
	}
	memset(&uc->msg, 0, sizeof(uc->msg));
	uc->msg.msg_iov = uc->iov;
	uc->msg.msg_iovlen = (size_t)niov;
	uc->state = SEND_MEM;
	size_t bytes = 0;
	for (int i = 0; i < niov; i++)
		bytes += uc->iov[i].iov_len;
	int64_t zc_min = uc->c->s->b->cfg.send_zc_min_bytes;
	struct io_uring_sqe *sqe = dp_shard_sqe(uc->c->s);
	if (zc_min > 0 && bytes >= (uint64_t)zc_min) {
		io_uring_prep_sendmsg_zc(sqe, uc->c->fd, &uc->msg, MSG_NOSIGNAL);
		sqe->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
	} else
		io_uring_prep_sendmsg(sqe, uc->c->fd, &uc->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, &uc->send_op);
}

static void send_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	struct uconn *uc = rt_container_of(op, struct uconn, send_op);
	struct rt_chain *ch = uc->ch;
	if (flags & IORING_CQE_F_NOTIF) {
		struct dp_net_shard *ns = uc->c->s->net;
		if (ns) {
			ns->zc_notifs++;
			ns->zc_copied += ((uint32_t)res & IORING_NOTIF_USAGE_ZC_COPIED) != 0;
		}
		if (--uc->zc_notifs == 0 && uc->zc_done) {
			uc->zc_done = false;
			send_done(uc, uc->zc_err);
		}
		return;
	}
	if (flags & IORING_CQE_F_MORE)
		uc->zc_notifs++;       /* a zero-copy send: its notification follows */
	if (res == -EAGAIN || res == -EINTR) {
		if (uc->state == SEND_FILE_OUT)
			submit_splice(uc, uc->pipe[0], -1, uc->c->fd, uc->pipe_fill);
		else
			send_step(uc);
		return;
	}
	if (res < 0) {
		send_done(uc, res);
		return;
	}
	if (uc->c->closing) {
		send_done(uc, -ECONNABORTED);
		return;
	}
	switch (uc->state) {
	case SEND_MEM: {
		size_t left = (size_t)res;
		if (left == 0) {
			send_done(uc, -EPIPE);
			return;
		}
		while (left && uc->seg < ch->nsegs) {
			struct rt_seg *g = &ch->segs[uc->seg];
			size_t room = g->len - uc->segoff;
			if (left < room) {
				uc->segoff += left;
				left = 0;
			} else {
				left -= room;
				uc->seg++;
				uc->segoff = 0;
			}
		}
		send_step(uc);
		return;
	}
	case SEND_FILE_IN:
		if (res == 0) {
			/* The file is shorter than the range the response promised. */
			send_done(uc, -EIO);
			return;
		}
		uc->pipe_fill = (size_t)res;
		uc->state = SEND_FILE_OUT;
		submit_splice(uc, uc->pipe[0], -1, uc->c->fd, uc->pipe_fill);
		return;
	case SEND_FILE_OUT:
		if (res == 0) {
			send_done(uc, -EPIPE);
			return;
		}
		uc->pipe_fill -= (size_t)res;
		uc->segoff += (size_t)res;
		if (uc->pipe_fill) {
			submit_splice(uc, uc->pipe[0], -1, uc->c->fd, uc->pipe_fill);
			return;
		}
		send_step(uc);
		return;
	}
}

static int do_send(struct dp_conn *c, struct rt_chain *ch)
{
	struct uconn *uc = get_uc(c);
	if (!uc)
		return -ENOMEM;
	uc->ch = ch;
	uc->seg = 0;
	uc->segoff = 0;
	uc->pipe_fill = 0;
	send_step(uc);
	return 0;
}

static void do_shutdown(struct dp_conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
}

static void do_close(struct dp_conn *c)
{
	struct uconn *uc = c->net;
	if (uc) {
		if (uc->pipe[0] >= 0) {
			close(uc->pipe[0]);
			close(uc->pipe[1]);
		}
		free(uc);
		c->net = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

const struct dp_net_ops dp_net_uring = {
	.name = "uring",
	.shard_init = shard_init,
	.listen_clients = listen_clients,
	.stop_accept = stop_accept,
	.shard_fini = shard_fini,
	.recv = do_recv,
	.recv_into = do_recv_into,
	.send = do_send,
	.shutdown = do_shutdown,
	.close = do_close,
};
