/* Unit tests for perf/harness/outq.c: requests reach the socket whole and in order, record sets
 * are sent from their own memory when borrowed, and partial writes resume where they stopped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "perf/harness/outq.h"

/* A chain of: head bytes, then len bytes of borrowed memory at mem, then tail bytes. */
static void make_chain(struct rt_chain *c, const char *head, const uint8_t *mem, size_t len, const char *tail)
{
	rt_chain_init(c, 0);
	rt_buf_put(rt_chain_buf(c), head, strlen(head));
	cr_assert_eq(rt_chain_add_mem(c, mem, len), 0);
	rt_buf_put(rt_chain_buf(c), tail, strlen(tail));
	cr_assert_eq(rt_chain_finish(c), 0);
}

static size_t read_all(int fd, uint8_t *dst, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t r = read(fd, dst + got, want - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

Test(perf_outq, borrowed_record_sets_are_sent_from_their_memory_in_order)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	uint8_t *big = malloc(10000), *small = malloc(100);
	memset(big, 'B', 10000);
	memset(small, 's', 100);
	struct perf_outq q;
	perf_outq_init(&q);
	struct rt_chain a, b;
	make_chain(&a, "req1:", big, 10000, ":end1");
	make_chain(&b, "req2:", small, 100, ":end2");
	cr_assert_eq(perf_outq_add_chain(&q, &a, true), 0);
	cr_assert_eq(perf_outq_add_chain(&q, &b, true), 0);
	rt_chain_fini(&a);
	rt_chain_fini(&b);
	size_t total = 5 + 10000 + 5 + 5 + 100 + 5;
	cr_assert_eq(perf_outq_pending(&q), total);
	/* Borrowed: what the memory holds when written goes out.  The 100-byte set was copied
	 * (below the size an iovec is worth), so changing it now does not show. */
	memset(big, 'C', 10000);
	memset(small, 'x', 100);
	cr_assert_eq(q.n, 3, "head, borrowed set, then one copied piece for the rest");
	cr_assert_eq(perf_outq_write(&q, sv[0]), 0);
	cr_assert_eq(perf_outq_pending(&q), 0);
	uint8_t *got = malloc(total);
	cr_assert_eq(read_all(sv[1], got, total), total);
	cr_expect_eq(memcmp(got, "req1:", 5), 0);
	for (size_t i = 0; i < 10000; i++)
		cr_assert_eq(got[5 + i], 'C', "byte %zu of the borrowed set", i);
	cr_expect_eq(memcmp(got + 10005, ":end1req2:", 10), 0);
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(got[10015 + i], 's', "byte %zu of the copied set", i);
	cr_expect_eq(memcmp(got + 10115, ":end2", 5), 0);
	cr_expect_eq(q.n, 0, "emptied once everything is written");
	perf_outq_fini(&q);
	free(got);
	free(big);
	free(small);
	close(sv[0]);
	close(sv[1]);
}

Test(perf_outq, without_borrow_everything_is_copied)
{
	uint8_t *big = malloc(8192);
	memset(big, 'B', 8192);
	struct perf_outq q;
	perf_outq_init(&q);
	struct rt_chain a;
	make_chain(&a, "h", big, 8192, "t");
	cr_assert_eq(perf_outq_add_chain(&q, &a, false), 0);
	rt_chain_fini(&a);
	cr_expect_eq(q.n, 1);
	cr_expect_eq(q.buf.len, 8194);
	free(big);   /* the queue no longer needs it */
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(perf_outq_write(&q, sv[0]), 0);
	uint8_t got[8194];
	cr_assert_eq(read_all(sv[1], got, sizeof(got)), sizeof(got));
	cr_expect_eq(got[0], 'h');
	cr_expect_eq(got[1], 'B');
	cr_expect_eq(got[8192], 'B');
	cr_expect_eq(got[8193], 't');
	perf_outq_fini(&q);
	close(sv[0]);
	close(sv[1]);
}

Test(perf_outq, a_full_socket_leaves_the_rest_queued_and_it_resumes_mid_piece)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int sz = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	size_t len = 1 << 20;
	uint8_t *big = malloc(len);
	for (size_t i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	struct perf_outq q;
	perf_outq_init(&q);
	struct rt_chain a;
	make_chain(&a, "HEAD", big, len, "TAIL");
	cr_assert_eq(perf_outq_add_chain(&q, &a, true), 0);
	rt_chain_fini(&a);
	cr_assert_eq(perf_outq_write(&q, sv[0]), 0, "EAGAIN is not an error");
	size_t left = perf_outq_pending(&q);
	cr_assert_gt(left, 0, "a 4 KiB socket buffer cannot take 1 MiB at once");
	uint8_t *got = malloc(len + 8);
	size_t n = 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	for (int rounds = 0; n < len + 8 && rounds < 100000; rounds++) {
		ssize_t r = read(sv[1], got + n, len + 8 - n);
		if (r > 0)
			n += (size_t)r;
		cr_assert_eq(perf_outq_write(&q, sv[0]), 0);
	}
	cr_assert_eq(n, len + 8);
	cr_expect_eq(perf_outq_pending(&q), 0);
	cr_expect_eq(memcmp(got, "HEAD", 4), 0);
	cr_expect_eq(memcmp(got + 4, big, len), 0, "the borrowed MiB arrives whole and in order");
	cr_expect_eq(memcmp(got + 4 + len, "TAIL", 4), 0);
	perf_outq_fini(&q);
	free(got);
	free(big);
	close(sv[0]);
	close(sv[1]);
}

Test(perf_outq, a_closed_peer_is_an_error)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	signal(SIGPIPE, SIG_IGN);
	struct perf_outq q;
	perf_outq_init(&q);
	struct rt_chain a;
	uint8_t mem[16] = {0};
	make_chain(&a, "x", mem, sizeof(mem), "y");
	cr_assert_eq(perf_outq_add_chain(&q, &a, true), 0);
	rt_chain_fini(&a);
	cr_expect_eq(perf_outq_write(&q, sv[0]), -EPIPE);
	perf_outq_fini(&q);
	close(sv[0]);
}
