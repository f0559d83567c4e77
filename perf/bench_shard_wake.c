/*
 * perf/bench_shard_wake.c: what one cross-shard hop of the Produce path costs on this machine
 * (issue 4), measured as the shards make it: two threads, each with its own io_uring, pinned
 * like two shards; thread A sends a msg_ring to B's ring and waits for B's msg_ring back, paced
 * at one exchange per 100 us (the 10,000 records/s of the latency run), so both sleep between
 * exchanges.  Three cases, each printed as "<name> p50_us=... p99_us=... n=...":
 *   cross_cpu_sleeping: A and B on two CPUs, both sleep in io_uring_enter (a hop to a shard
 *     that sleeps, as a partition's owner between appends);
 *   same_cpu_sleeping:  both on one CPU (the hop without a CPU wake-up, for comparison);
 *   cross_cpu_a_polls:  as the first, but A polls its CQ (yielding) for up to 50 us before it
 *     sleeps, as a shard with requests in flight does (dataplane/shard.c): B's answer needs
 *     no wake-up of A's CPU.
 * In a VM whose idle vCPUs halt (no guest halt polling), a wake-up of a sleeping CPU goes
 * through the host; that and not io_uring is what the first case shows against the second.
 *
 *   bench_shard_wake [CPU_A CPU_B] [ROUNDS]
 */
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "base/clock.h"
#include "base/hist.h"
#include "perf/bench_util.h"

struct side {
	struct io_uring ring;
	int cpu;
	uint64_t poll_ns;
};

static struct side a, b;
static atomic_int stop;

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

/* Waits for one CQE: polls (yielding) for up to poll_ns first, then sleeps. */
static void wait_one(struct side *x)
{
	struct io_uring_cqe *cqe;
	uint64_t until = rt_clock_ns() + x->poll_ns;
	while (x->poll_ns && rt_clock_ns() < until) {
		if (io_uring_peek_cqe(&x->ring, &cqe) == 0) {
			io_uring_cqe_seen(&x->ring, cqe);
			return;
		}
		sched_yield();
	}
	if (io_uring_wait_cqe(&x->ring, &cqe) == 0)
		io_uring_cqe_seen(&x->ring, cqe);
}

static void send_to(struct side *from, struct side *to)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&from->ring);
	io_uring_prep_msg_ring(sqe, to->ring.ring_fd, 0, 1, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_submit(&from->ring);
}

static void *b_main(void *arg)
{
	(void)arg;
	pin(b.cpu);
	for (;;) {
		wait_one(&b);
		if (atomic_load(&stop))
			break;
		send_to(&b, &a);
	}
	return NULL;
}

static int run(const char *name, int cpu_a, int cpu_b, uint64_t a_poll_ns, int rounds)
{
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (io_uring_queue_init(64, &a.ring, 0) || io_uring_queue_init(64, &b.ring, 0)) {
		fprintf(stderr, "io_uring_queue_init failed\n");
		return 1;
	}
	a.cpu = cpu_a;
	b.cpu = cpu_b;
	a.poll_ns = a_poll_ns;
	atomic_store(&stop, 0);
	pthread_t t;
	pthread_create(&t, NULL, b_main, NULL);
	pin(cpu_a);
	struct rt_hist *h = rt_hist_create(10000000000ull, 3);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < rounds; i++) {
		perf_pace(&next, 100000);
		uint64_t t0 = rt_clock_ns();
		send_to(&a, &b);
		wait_one(&a);
		if (i >= rounds / 10)
			rt_hist_record(h, rt_clock_ns() - t0);
	}
	atomic_store(&stop, 1);
	send_to(&a, &b);
	pthread_join(t, NULL);
	perf_hist_line(name, h);
	rt_hist_destroy(h);
	io_uring_queue_exit(&a.ring);
	io_uring_queue_exit(&b.ring);
	return 0;
}

int main(int argc, char **argv)
{
	int cpu_a = argc > 2 ? atoi(argv[1]) : 0;
	int cpu_b = argc > 2 ? atoi(argv[2]) : 1;
	int rounds = argc > 3 ? atoi(argv[3]) : 20000;
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	return run("cross_cpu_sleeping", cpu_a, cpu_b, 0, rounds) || run("same_cpu_sleeping", cpu_a, cpu_a, 0, rounds) ||
	       run("cross_cpu_a_polls", cpu_a, cpu_b, 50000, rounds);
}
