/*
 * tests/unit/control/test_kconn.c: ctl_kconn (control/kconn.c) against a real TCP peer on
 * 127.0.0.1 that plays the broker: the size limit on response frames is max_in, exactly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bytes.h"
#include "control/kconn.h"
#include "kp_msgs.h"

struct seen {
	int answers;
	size_t body_len;
};

static int on_answer(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *body, struct rt_arena *a)
{
	(void)arg, (void)key, (void)version, (void)a;
	struct seen *s = ctx;
	s->answers++;
	s->body_len = (size_t)(body->end - body->p);
	return 0;
}

/* A connected kconn and the peer's accepted socket. */
static int setup(struct ctl_kconn *k, size_t max_in, struct seen *seen)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(ls >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	cr_assert(bind(ls, (struct sockaddr *)&sa, sl) == 0 && listen(ls, 1) == 0);
	cr_assert(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
	ctl_kconn_init(k, "test", "127.0.0.1", ntohs(sa.sin_port), max_in, 1 << 20, on_answer, seen);
	cr_assert(ctl_kconn_connect(k) == 0);
	int peer = accept(ls, NULL, NULL);
	cr_assert(peer >= 0);
	close(ls);
	struct pollfd p = { .fd = ctl_kconn_fd(k), .events = POLLOUT };
	cr_assert(poll(&p, 1, 5000) == 1);
	cr_assert(ctl_kconn_connect_done(k) == 0);
	struct kp_api_versions_req m;
	kp_api_versions_req_init(&m);
	cr_assert(ctl_kconn_send(k, KP_API_API_VERSIONS, 0, &m, NULL) == 0);
	cr_assert(ctl_kconn_write(k) == 0);
	return peer;
}

/* The peer answers correlation id 1 with a frame of `frame` bytes (size field included), from
 * a thread: the frame is larger than the socket buffers. */
struct peer_send {
	int fd;
	size_t frame;
};

static void *send_frame(void *arg)
{
	struct peer_send *ps = arg;
	uint8_t *f = calloc(1, ps->frame);
	if (!f)
		abort();
	rt_be32_put(f, (uint32_t)(ps->frame - 4));
	rt_be32_put(f + 4, 1);
	size_t off = 0;
	while (off < ps->frame) {
		ssize_t n = send(ps->fd, f + off, ps->frame - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(f);
	return NULL;
}

/* Reads until the answer came or the read fails; returns the read's result. */
static int read_all(struct ctl_kconn *k, struct seen *s)
{
	for (int i = 0; i < 1000 && !s->answers; i++) {
		struct pollfd p = { .fd = ctl_kconn_fd(k), .events = POLLIN };
		cr_assert(poll(&p, 1, 5000) == 1);
		const char *why;
		int rc = ctl_kconn_read(k, &why);
		if (rc)
			return rc;
	}
	return 0;
}

Test(ctl_kconn, frame_of_exactly_max_in_is_read)
{
	/* 200 KiB, so that the frame's last 64 KiB lie within 64 KiB of the limit */
	size_t max_in = 200u << 10;
	struct ctl_kconn k;
	struct seen s = { 0 };
	int peer = setup(&k, max_in, &s);
	struct peer_send ps = { peer, max_in };
	pthread_t t;
	cr_assert(pthread_create(&t, NULL, send_frame, &ps) == 0);
	int rc = read_all(&k, &s);
	pthread_join(t, NULL);
	cr_assert_eq(rc, 0);
	cr_assert_eq(s.answers, 1);
	cr_assert_eq(s.body_len, max_in - 8);
	close(peer);
	ctl_kconn_fini(&k);
}

Test(ctl_kconn, frame_over_max_in_is_refused)
{
	size_t max_in = 200u << 10;
	struct ctl_kconn k;
	struct seen s = { 0 };
	int peer = setup(&k, max_in, &s);
	uint8_t hdr[4];
	rt_be32_put(hdr, (uint32_t)(max_in - 3));   /* one byte over, size field included */
	cr_assert(send(peer, hdr, 4, 0) == 4);
	cr_assert_eq(read_all(&k, &s), -EPROTO);
	cr_assert_eq(s.answers, 0);
	close(peer);
	ctl_kconn_fini(&k);
}
