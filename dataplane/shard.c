/*
 * dataplane/shard.c: the shard thread: pinning, the io_uring completion loop, cross-shard
 * delivery and wake-ups, timers.
 *
 * Invariants: only the shard's own thread touches its ring, timers, connections and pending
 * list; other threads only push into in[] rings (one writer each) and flip `sleeping`.
 */
#include "shard.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "hw/pin.h"
#include "storage/fault.h"
#include "storage/storage.h"
#include "broker.h"
#include "conn.h"
#include "fetch_session.h"
#include "net.h"
#include "parts.h"

#define DP_RING_ENTRIES 1024
#define DP_XRING_CAP 4096
#define DP_MAX_WAIT_MS 100

static __thread struct dp_shard *self;

struct dp_shard *dp_shard_self(void) { return self; }

uint64_t dp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t dp_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct dp_shard *dp_shard_create(struct dp_broker *b, int id, int cpu)
{
	struct dp_shard *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->poll_ns = (uint64_t)b->cfg.shard_poll_us * 1000;
	s->cpu = cpu;
	s->b = b;
	s->in = calloc((size_t)b->nshards, sizeof(*s->in));
	if (!s->in)
		goto fail;
	for (int i = 0; i < b->nshards; i++)
		if (!(s->in[i] = dp_xring_create(DP_XRING_CAP)))
			goto fail;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* TASKRUN_FLAG: with COOP_TASKRUN, completions that need this thread's task work (socket
	 * receives) wait until it enters the kernel; the flag lets the poll before sleeping see them. */
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	int rc = io_uring_queue_init_params(DP_RING_ENTRIES, &s->ring, &p);
	if (rc < 0) {
		/* Older kernels lack the flags; they are optimisations only. */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(DP_RING_ENTRIES, &s->ring, &p);
	}
	if (rc < 0) {
		errno = -rc;
		goto fail;
	}
	/* Bounded: validation of one batch never needs more than its decompressed size. */
	rt_arena_init(&s->scratch, 1 << 20, 0);
	s->parts = dp_parts_create(s);
	if (!s->parts)
		goto fail_ring;
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = rt_clock_ns() ^ (uint64_t)id << 56;
	s->fsess = dp_fs_cache_create(id, b->nshards, b->cfg.fetch_session_slots, DP_FS_EVICTION_MS, seed);
	if (!s->fsess) {
		dp_parts_destroy(s->parts);
		goto fail_ring;
	}
	return s;
fail_ring:
	io_uring_queue_exit(&s->ring);
fail:
	if (s->in)
		for (int i = 0; i < b->nshards; i++)
			dp_xring_destroy(s->in[i]);
	free(s->in);
	free(s);
	return NULL;
}

void dp_shard_destroy(struct dp_shard *s)
{
	if (!s)
		return;
	dp_parts_destroy(s->parts);
	dp_fs_cache_destroy(s->fsess);
	dp_frame_cache_fini(s);
	rt_arena_fini(&s->scratch);
	io_uring_queue_exit(&s->ring);
	for (int i = 0; i < s->b->nshards; i++)
		dp_xring_destroy(s->in[i]);
	free(s->in);
	while (s->pend_head) {
		struct dp_xpend *p = s->pend_head;
		s->pend_head = p->next;
		free(p);
	}
	free(s);
}

struct io_uring_sqe *dp_shard_sqe(struct dp_shard *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	while (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

static void wake(struct dp_shard *from, struct dp_shard *to)
{
	if (!atomic_exchange(&to->sleeping, 0))
		return;
	/* The target's CQE carries user_data 0 (ignored); our own completion is skipped. */
	struct io_uring_sqe *sqe = dp_shard_sqe(from);
	io_uring_prep_msg_ring(sqe, to->ring.ring_fd, 0, 0, 0);
	io_uring_sqe_set_data(sqe, NULL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	from->wakes++;
}

static bool push_now(struct dp_shard *from, int dst, struct dp_xmsg m)
{
	struct dp_shard *to = from->b->shards[dst];
	if (!dp_xring_push(to->in[from->id], m))
		return false;
	if (to != from) {
		atomic_thread_fence(memory_order_seq_cst);
		wake(from, to);
	}
	return true;
}

void dp_shard_post(struct dp_shard *from, int dst, void (*fn)(struct dp_shard *, void *), void *arg)
{
	struct dp_xmsg m = { fn, arg };
	/* Order per destination: nothing may overtake what is already waiting locally. */
	bool queued = false;
	for (struct dp_xpend *p = from->pend_head; p; p = p->next)
		if (p->dst == dst) {
			queued = true;
			break;
		}
	if (!queued && push_now(from, dst, m))
		return;
	struct dp_xpend *p = malloc(sizeof(*p));
	if (!p) {
		/* Out of memory on the data path: wait for the ring to drain rather than lose work. */
		while (!push_now(from, dst, m))
			sched_yield();
		return;
	}
	p->next = NULL;
	p->dst = dst;
	p->m = m;
	if (from->pend_tail)
		from->pend_tail->next = p;
	else
		from->pend_head = p;
	from->pend_tail = p;
}

static void flush_pending(struct dp_shard *s)
{
	struct dp_xpend **pp = &s->pend_head, *last = NULL;
	uint64_t blocked[(DP_MAX_SHARDS + 63) / 64] = { 0 };
	while (*pp) {
		struct dp_xpend *p = *pp;
		if (!(blocked[p->dst / 64] & (1ull << (p->dst % 64))) && push_now(s, p->dst, p->m)) {
			*pp = p->next;
			free(p);
			continue;
		}
		blocked[p->dst / 64] |= 1ull << (p->dst % 64);
		last = p;
		pp = &p->next;
	}
	s->pend_tail = last;
}

static bool drain_inbound(struct dp_shard *s)
{
	bool any = false;
	for (int i = 0; i < s->b->nshards; i++) {
		struct dp_xmsg m;
		/* Bounded per ring so one busy peer cannot starve the io_uring. */
		for (int k = 0; k < 256 && dp_xring_pop(s->in[i], &m); k++) {
			m.fn(s, m.arg);
			any = true;
		}
	}
	return any;
}

static bool inbound_pending(struct dp_shard *s)
{
	for (int i = 0; i < s->b->nshards; i++)
		if (dp_xring_pending(s->in[i]))
			return true;
	return false;
}

void dp_timer_cancel(struct dp_shard *s, struct dp_timer *t)
{
	if (!t->armed)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		s->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->armed = false;
}

void dp_timer_arm(struct dp_shard *s, struct dp_timer *t, uint64_t ms)
{
	dp_timer_cancel(s, t);
	t->due_ns = dp_now_ns() + ms * 1000000ull;
	struct dp_timer *prev = NULL, *cur = s->timers;
	while (cur && cur->due_ns <= t->due_ns) {
		prev = cur;
		cur = cur->next;
	}
	t->prev = prev;
	t->next = cur;
	if (prev)
		prev->next = t;
	else
		s->timers = t;
	if (cur)
		cur->prev = t;
	t->armed = true;
}

/* Draining: every timer that ends a client's wait runs at once (dp_timer.ends_wait). */
static void end_waits(struct dp_shard *s)
{
	for (struct dp_timer *t = s->timers, *next; t; t = next) {
		next = t->next;       /* t moves to the front; the rest keep their order */
		if (t->ends_wait)
			dp_timer_arm(s, t, 0);
	}
}

static void run_timers(struct dp_shard *s)
{
	while (s->timers && s->timers->due_ns <= s->now_ns) {
		struct dp_timer *t = s->timers;
		dp_timer_cancel(s, t);
		t->fn(s, t);
	}
}

static bool reap(struct dp_shard *s);

static void idle_tick(struct dp_shard *s, struct dp_timer *t)
{
	dp_conn_sweep_idle(s);
	dp_parts_tick(s);
	dp_timer_arm(s, t, 1000);
}

/* After the loop: let every connection and every log's I/O finish, then flush and close the
 * logs.  Bounded, so a stuck peer cannot hold the exit forever. */
static void final_drain(struct dp_shard *s)
{
	dp_conn_close_all(s);
	dp_parts_stop_background(s);
	uint64_t until = dp_now_ns() + 10000000000ull;
	while ((s->conns || !dp_parts_idle(s)) && dp_now_ns() < until) {
		struct __kernel_timespec ts = { 0, 10000000 };
		struct io_uring_cqe *cqe;
		stor_ring_flush(&s->ring);
		io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
		s->now_ns = dp_now_ns();
		reap(s);
		drain_inbound(s);
	}
	int rc = dp_parts_close_all(s);
	if (rc)
		RT_ERROR("shard %d: closing partitions: %s", s->id, strerror(-rc));
}

/* Hands every completion to its rt_ioop.  Returns whether any had one (work was done). */
static bool reap(struct dp_shard *s)
{
	bool any = false;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&s->ring, head, cqe) {
		struct rt_ioop *op = io_uring_cqe_get_data(cqe);
		int32_t res = cqe->res;
		uint32_t flags = cqe->flags;
		n++;
		if (op) {
			/* Advance before the callback: callbacks may submit and reap recursively. */
			io_uring_cq_advance(&s->ring, n);
			n = 0;
			any = true;
			op->cb(op, res, flags);
		}
	}
	if (n)
		io_uring_cq_advance(&s->ring, n);
	return any;
}

/* Something for the loop: an inbound message, a completion, or task work (a socket receive)
 * that the kernel runs when this thread next enters it. */
static bool work_waiting(struct dp_shard *s)
{
	return inbound_pending(s) || io_uring_cq_ready(&s->ring) ||
	       (IO_URING_READ_ONCE(*s->ring.sq.kflags) & IORING_SQ_TASKRUN);
}

/* Polls for work until `until` (CLOCK_MONOTONIC ns) and returns; the caller then sleeps as
 * usual, which finds whatever came (the rings re-checked, the CQ and task work by the wait).
 * The loop polls for poll_ns (ringtail.shard.poll.us) after the shard's last work (a message
 * from another shard, a completion) and from each turn that finds requests in flight: under a
 * steady load the next job, receive or answer then lands in memory the shard watches, where a
 * sleeping shard costs its sender a msg_ring and itself a wake-up of its CPU (in a VM, a halted
 * vCPU woken through the host: 20-40 us at the median, milliseconds at the p99 on the
 * development VM; issue 4).  An idle shard (no work for poll_ns) sleeps as before, and so does
 * a shard whose appends' writes or group-commit rounds are in flight (stor_io_in_flight): the
 * io_uring workers that run them inherit the shard's CPU, and a thread that polls, yielding or
 * not, still takes its fair share of that CPU from them (EEVDF keeps a yielding thread
 * eligible): on the development VM the fdatasyncs of acks=-1 took 3-4 times as long while the
 * shards polled beside them (sync round p50 1.3-1.5 ms against 0.33-0.37).  The write's
 * completion then wakes the shard on a CPU that is running its worker, not a halted one.
 * What the loop queued is submitted first: the writes and wake-ups the answers depend on.
 * Each look yields the CPU, so the shard's own io-wq workers (which inherit its single CPU)
 * and any other runnable thread go first; on a busy CPU the yield returns late and the poll
 * ends by the clock. */
static void poll_before_sleep(struct dp_shard *s, uint64_t until)
{
	io_uring_submit(&s->ring);
	atomic_store_explicit(&s->polling, 1, memory_order_relaxed);
	while (!work_waiting(s) && dp_now_ns() < until)
		sched_yield();
	atomic_store_explicit(&s->polling, 0, memory_order_relaxed);
}

/* RINGTAIL_FAULT, parsed by dp_shard_fault_env before any shard thread exists and only read
 * after (pthread_create orders the two). */
static struct {
	bool on;
	int point;
	uint32_t skip, count;
	int32_t res;
} fault_env;

/* One decimal field of RINGTAIL_FAULT ending at `end` (':' or the string's end), in [lo, hi]:
 * digits only, with a leading '-' where lo < 0.  0 or -EINVAL. */
static int fault_field(const char **p, char end, long long lo, long long hi, long long *out)
{
	const char *q = *p;
	bool neg = *q == '-' && lo < 0;
	if (neg)
		q++;
	if (*q < '0' || *q > '9')
		return -EINVAL;
	long long v = 0;
	for (; *q >= '0' && *q <= '9'; q++) {
		v = v * 10 + (*q - '0');
		if (v > 0xffffffffll)
			return -EINVAL;
	}
	if (*q != end)
		return -EINVAL;
	v = neg ? -v : v;
	if (v < lo || v > hi)
		return -EINVAL;
	*out = v;
	*p = end ? q + 1 : q;
	return 0;
}

int dp_shard_fault_env(char *err, size_t errlen)
{
	const char *v = getenv("RINGTAIL_FAULT");
	if (!v)
		return 0;
	const char *p = v;
	long long point, skip, res, count;
	if (fault_field(&p, ':', 0, STOR_FAULT_NPOINTS - 1, &point) || fault_field(&p, ':', 0, UINT32_MAX, &skip) ||
	    fault_field(&p, ':', -4095, STOR_FAULT_SHORT, &res) || fault_field(&p, '\0', 1, UINT32_MAX, &count) ||
	    res == 0 || (res == STOR_FAULT_SHORT && point != STOR_FAULT_LOG_WRITE && point != STOR_FAULT_PA_ZERO)) {
		snprintf(err, errlen,
		         "RINGTAIL_FAULT='%s': expected POINT:SKIP:RES:COUNT (a test hook: POINT 0-%d of storage/fault.h, "
		         "SKIP and COUNT whole numbers, COUNT at least 1, RES a -errno such as -5 for EIO, or 1 for a "
		         "short write at points 0 and 6)",
		         v, STOR_FAULT_NPOINTS - 1);
		return -EINVAL;
	}
	fault_env.on = true;
	fault_env.point = (int)point;
	fault_env.skip = (uint32_t)skip;
	fault_env.res = (int32_t)res;
	fault_env.count = (uint32_t)count;
	RT_WARN("RINGTAIL_FAULT=%s: test hook: every shard fails storage fault point %d (not for production)", v,
	        fault_env.point);
	return 0;
}

static void *shard_main(void *arg)
{
	struct dp_shard *s = arg;
	self = s;
	if (s->cpu >= 0) {
		int rc = hw_pin_self(s->cpu);
		if (rc)
			RT_WARN("shard %d: cannot pin to cpu %d: %s", s->id, s->cpu, strerror(-rc));
	}
	char name[16];
	snprintf(name, sizeof(name), "rt-shard-%d", s->id);
	pthread_setname_np(pthread_self(), name);

	char tag[32];
	snprintf(tag, sizeof(tag), "shard %d", s->id);
	rt_log_set_tag(tag);
	if (dp_parts_open_owned(s))
		RT_ERROR("shard %d: some partitions could not be opened", s->id);
	/* After the opening: the hook is for the running broker's operations, not recovery's. */
	if (fault_env.on)
		stor_fault_arm((enum stor_fault_point)fault_env.point, fault_env.skip, fault_env.res, fault_env.count);
	atomic_fetch_add(&s->b->shards_ready, 1);
	s->now_ns = dp_now_ns();
	s->idle_timer.fn = idle_tick;
	dp_timer_arm(s, &s->idle_timer, 1000);
	bool drained_reported = false;

	for (;;) {
		s->now_ns = dp_now_ns();
		int phase = atomic_load(&s->b->phase);
		if (phase >= DP_DRAINING && !s->draining) {
			/* Every shard ends its clients' waits, also one that listens on nothing. */
			s->draining = true;
			if (s->accepting) {
				s->b->net->stop_accept(s);
				if (s->b->net != &dp_net_uring)
					dp_net_uring.stop_accept(s); /* the internal listener */
				s->accepting = false;
			}
			end_waits(s);
		}
		if (phase == DP_DRAINING && !drained_reported && s->inflight == 0 && !s->pend_head) {
			drained_reported = true;
			atomic_fetch_add(&s->b->shards_drained, 1);
		}
		if (phase == DP_STOPPING && !s->pend_head && !inbound_pending(s))
			break;
		flush_pending(s);
		bool busy = drain_inbound(s);
		if (busy)
			s->last_work_ns = s->now_ns;
		run_timers(s);
		dp_conn_retry_starved(s);
		if (s->b->net->poll && s->b->net->poll(s))
			busy = true;
		/* The pass's appends, written together (storage/coalesce.c); before the poll
		 * decision below, which counts their writes as I/O in flight. */
		stor_ring_flush(&s->ring);

		struct __kernel_timespec ts = { 0, 0 };
		unsigned want = 1;
		if (busy || s->pend_head) {
			want = 0;
		} else {
			uint64_t wait_ns = DP_MAX_WAIT_MS * 1000000ull;
			if (s->timers) {
				uint64_t now = dp_now_ns();
				wait_ns = s->timers->due_ns > now ? s->timers->due_ns - now : 0;
				if (wait_ns > DP_MAX_WAIT_MS * 1000000ull)
					wait_ns = DP_MAX_WAIT_MS * 1000000ull;
			}
			if (s->b->net->poll_nap_us && wait_ns > s->b->net->poll_nap_us * 1000ull)
				wait_ns = s->b->net->poll_nap_us * 1000ull; /* a polled device cannot wake us */
			/* Poll until poll_ns after the last work, or poll_ns from now while answers
			 * are owed, unless a flush is in flight (see poll_before_sleep); never past
			 * the next timer. */
			uint64_t now = dp_now_ns(), until = 0;
			bool poll = s->poll_ns && !stor_io_in_flight();
			if (poll && s->last_work_ns)
				until = s->last_work_ns + s->poll_ns;
			if (poll && s->inflight > 0 && now + s->poll_ns > until)
				until = now + s->poll_ns;
			if (until > now + wait_ns)
				until = now + wait_ns;
			if (until > now) {
				poll_before_sleep(s, until);
				uint64_t spent = dp_now_ns() - now;
				wait_ns = wait_ns > spent ? wait_ns - spent : 0;
			}
			ts.tv_sec = (long long)(wait_ns / 1000000000ull);
			ts.tv_nsec = (long long)(wait_ns % 1000000000ull);
			atomic_store(&s->sleeping, 1);
			atomic_thread_fence(memory_order_seq_cst);
			if (inbound_pending(s)) {
				atomic_store(&s->sleeping, 0);
				want = 0;
			}
		}
		struct io_uring_cqe *cqe;
		if (want)
			io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
		else
			io_uring_submit(&s->ring);
		atomic_store(&s->sleeping, 0);
		s->now_ns = dp_now_ns();
		if (reap(s))
			s->last_work_ns = s->now_ns;
	}
	final_drain(s);
	s->stopped = true;
	return NULL;
}

int dp_shard_start(struct dp_shard *s)
{
	int rc = pthread_create(&s->thread, NULL, shard_main, s);
	return -rc;
}

void dp_shard_join(struct dp_shard *s)
{
	pthread_join(s->thread, NULL);
}
