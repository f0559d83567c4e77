/*
 * storage/bg.c: the shard's background file worker (see bg.h).
 *
 * Why a thread and not an io_uring chain.  A producer snapshot is open, write, fsync, rename,
 * directory fsync, then a directory listing to prune old snapshots; deleting a partition is a
 * rename, a directory fsync and a walk that unlinks every file.  Each step depends on the one
 * before, and listing a directory has no io_uring opcode at all.  These run a few times per
 * segment roll or admin request, never per record, so a thread that does them with plain system
 * calls keeps the code short while the shard's thread never waits on them.
 *
 * Invariants: jobs run in submission order, one at a time; `pending` (owner shard only) counts
 * jobs whose completion has not run, so the shard can wait for them before it exits.
 */
#include "storage/bg.h"

#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


struct stor_bg {
	struct io_uring *ring;          /* the shard's (borrowed) */
	struct io_uring tring;          /* the thread's own, for MSG_RING */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stor_bg_job *head, *tail; /* queued, not yet taken (mu) */
	bool stop;                      /* (mu) */
	int pending;                    /* owner shard only */
	char name[16];                  /* the thread's */
	bool idle;                      /* runs at SCHED_IDLE */
};

/* On the shard: the job is back (the MSG_RING CQE). */
static void job_back(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_bg_job *j = rt_container_of(op, struct stor_bg_job, op);
	assert(j->bg->pending > 0);
	j->bg->pending--;
	j->done(j, res);
}

/* On the thread: posts j back to the shard's ring.  The kernel copies the CQE; the SQE on our
 * ring completes once it is posted. */
static void post_back(struct stor_bg *bg, struct stor_bg_job *j)
{
	for (;;) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&bg->tring);
		if (sqe) {
			io_uring_prep_msg_ring(sqe, bg->ring->ring_fd, (unsigned)j->res, (uint64_t)(uintptr_t)&j->op, 0);
			io_uring_sqe_set_data(sqe, NULL);
			io_uring_submit(&bg->tring);
			struct io_uring_cqe *cqe;
			if (!io_uring_wait_cqe(&bg->tring, &cqe)) {
				int res = cqe->res;
				io_uring_cqe_seen(&bg->tring, cqe);
				if (res >= 0) return;
				/* -EOVERFLOW/-EAGAIN: the shard's CQ is full; it drains soon. */
			}
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

static void *thread_main(void *arg)
{
	struct stor_bg *bg = arg;
	pthread_setname_np(pthread_self(), bg->name);
	if (bg->idle) {
		/* Only the time the shards leave idle (cleaner.c says why).  Best effort. */
		struct sched_param sp = {0};
		pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	}
	for (;;) {
		pthread_mutex_lock(&bg->mu);
		while (!bg->head && !bg->stop) pthread_cond_wait(&bg->cv, &bg->mu);
		struct stor_bg_job *j = bg->head;
		if (j) {
			bg->head = j->next;
			if (!bg->head) bg->tail = NULL;
		}
		pthread_mutex_unlock(&bg->mu);
		if (!j) return NULL;
		j->next = NULL;
		j->res = 0;
		j->run(j);
		post_back(bg, j);
	}
}

struct stor_bg *stor_bg_create(struct io_uring *ring, int *err)
{
	return stor_bg_create_named(ring, "rt-filework", false, err);
}

struct stor_bg *stor_bg_create_named(struct io_uring *ring, const char *name, bool idle, int *err)
{
	struct stor_bg *bg = calloc(1, sizeof *bg);
	if (!bg) {
		*err = -ENOMEM;
		return NULL;
	}
	bg->ring = ring;
	snprintf(bg->name, sizeof bg->name, "%s", name);
	bg->idle = idle;
	int rc = io_uring_queue_init(4, &bg->tring, 0);
	if (rc) {
		free(bg);
		*err = rc;
		return NULL;
	}
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	if ((rc = pthread_create(&bg->thread, NULL, thread_main, bg))) {
		io_uring_queue_exit(&bg->tring);
		pthread_mutex_destroy(&bg->mu);
		pthread_cond_destroy(&bg->cv);
		free(bg);
		*err = -rc;
		return NULL;
	}
	return bg;
}

void stor_bg_submit(struct stor_bg *bg, struct stor_bg_job *j, void (*run)(struct stor_bg_job *j),
                    void (*done)(struct stor_bg_job *j, int32_t res))
{
	assert(run && done);
	j->run = run;
	j->done = done;
	j->op.cb = job_back;
	j->bg = bg;
	j->next = NULL;
	bg->pending++;
	pthread_mutex_lock(&bg->mu);
	if (bg->tail) bg->tail->next = j;
	else bg->head = j;
	bg->tail = j;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
}

int stor_bg_pending(const struct stor_bg *bg)
{
	return bg->pending;
}

void stor_bg_destroy(struct stor_bg *bg)
{
	if (!bg) return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	pthread_join(bg->thread, NULL);
	io_uring_queue_exit(&bg->tring);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	free(bg);
}
