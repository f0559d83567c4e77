/*
 * storage/sync.c: durability by group commit.
 *
 * At most one flush round is in flight per log.  A round is issued when some waiter is covered by
 * the LEO (or a background flush is wanted); it fdatasyncs every segment with completed writes
 * since the previous round, the indexes of sealed segments, the .txnindex files written since
 * (their entries are written before their markers), and the partition directory after a
 * segment was created, and when all of them succeed every offset below the LEO at issue time is
 * durable.  Writers that arrive while a round is in flight are served together by the next one,
 * which is what makes one fdatasync cover many appends.
 *
 * A failed fdatasync is never retried as if the data were safe (the kernel may have dropped the
 * dirty pages and cleared the error): the partition goes offline, every waiter fails with -EROFS,
 * and nothing after that is acknowledged until the log is reopened and recovered.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <string.h>

#include "base/clock.h"
#include "storage/fault.h"
#include "storage/internal.h"

/* How long a flush round may wait for writes in flight to join it. */
#define STOR_GROUP_WAIT_NS 500000

void stor_sync_fail_all(struct stor_log *log, int err)
{
	struct stor_append *a;
	while ((a = log->dq_head)) {
		log->dq_head = a->next;
		if (!log->dq_head) log->dq_tail = NULL;
		a->next = NULL;
		a->done(a, err);
	}
	struct stor_sync *s;
	while ((s = log->sw_head)) {
		log->sw_head = s->next;
		s->next = NULL;
		s->done(s, err);
	}
}

static void update_recovery_point(struct stor_log *log)
{
	int64_t rp = log->leo;
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (i + 1 == log->nseg || !s->sealed || s->dirty || s->idx_dirty || s->idx_bad ||
		    s->idx_inflight || s->txn_dirty) {
			rp = s->base;
			break;
		}
	}
	if (rp > log->recovery_point) {
		log->recovery_point = rp;
		stor_log_publish(log);
	}
}

static void complete_waiters(struct stor_log *log)
{
	struct stor_append *a;
	while ((a = log->dq_head) && a->last_offset < log->durable) {
		log->dq_head = a->next;
		if (!log->dq_head) log->dq_tail = NULL;
		a->next = NULL;
		a->done(a, 0);
	}
	struct stor_sync **pp = &log->sw_head, *s;
	while ((s = *pp)) {
		if (s->offset <= log->durable) {
			*pp = s->next;
			s->next = NULL;
			s->done(s, 0);
			pp = &log->sw_head;  /* a callback may have changed the list */
		} else {
			pp = &s->next;
		}
	}
}

static void sync_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_log *log = rt_container_of(op, struct stor_log, sync_op);
	log->inflight--;
	if (res < 0 && !log->sync_err) log->sync_err = res;
	if (--log->sync_left) return;
	log->syncing = false;
	stor_fault_trace(log->sync_err ? STOR_TRACE_SYNC_FAILED : STOR_TRACE_SYNC_DONE, -1, 0, 0);
	if (log->sync_err) {
		stor_log_go_offline(log, "fdatasync", log->sync_err);
		return;
	}
	if (log->sync_target > log->durable) log->durable = log->sync_target;
	log->last_flush_ms = stor_now_ms();
	update_recovery_point(log);
	complete_waiters(log);
	stor_reap(log);
	stor_sync_kick(log);
}

static int add_sync(struct stor_log *log, int fd, bool injected)
{
	struct io_uring_sqe *sqe = stor_get_sqe(log);
	if (!sqe) return -EBUSY;
	if (!injected) stor_fault_trace(STOR_TRACE_SYNC_ISSUE, fd, 0, 0);
	if (injected) io_uring_prep_nop(sqe);
	else io_uring_prep_fsync(sqe, fd, fd == log->dfd ? 0 : IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, &log->sync_op);
	log->sync_left++;
	log->inflight++;
	return 0;
}

void stor_sync_kick(struct stor_log *log)
{
	/* A new segment's files still carry their spare names: nothing in them is findable yet. */
	if (log->syncing || log->offline || stor_spare_busy(log)) return;
	bool need = log->flush_wanted || log->dq_head;
	for (struct stor_sync *s = log->sw_head; s && !need; s = s->next)
		if (s->offset <= log->leo) need = true;
	if (!need) return;
	/* Wait for more: writes still in flight will complete (and kick again) within a page-cache
	 * write, and a round issued now would leave their writers for the next one.  Bounded so a
	 * steady stream of writes cannot starve the waiters. */
	uint64_t now = rt_clock_ns();
	if (!log->wait_since_ns) log->wait_since_ns = now;
	if (log->wq_head && !log->flush_wanted && now - log->wait_since_ns < STOR_GROUP_WAIT_NS) return;
	log->wait_since_ns = 0;

	int32_t f = stor_fault_check(STOR_FAULT_FSYNC);
	log->sync_op.cb = sync_cb;
	log->sync_target = log->leo;
	log->sync_err = 0;
	log->sync_left = 0;
	log->flush_wanted = false;
	log->unflushed = 0;
	int rc = 0;
	for (size_t i = 0; i < log->nseg && !rc; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->dirty) {
			rc = add_sync(log, s->fd, f < 0);
			if (!rc) s->dirty = false;
		}
		if (!rc && s->sealed && s->idx_dirty && !s->idx_inflight && !s->idx_bad) {
			rc = add_sync(log, s->ifd, f < 0);
			if (!rc) rc = add_sync(log, s->tfd, f < 0);
			if (!rc) s->idx_dirty = false;
		}
		if (!rc && s->txn_dirty && s->txn) {
			rc = add_sync(log, stor_txnidx_fd(s->txn), f < 0);
			if (!rc) s->txn_dirty = false;
		}
	}
	if (!rc && log->dir_dirty) {
		rc = add_sync(log, log->dfd, f < 0);
		if (!rc) log->dir_dirty = false;
	}
	if (f < 0) log->sync_err = f;
	if (rc) {
		/* The ring is unusable: nothing can be made durable; treat as a failed flush. */
		if (!log->sync_err) log->sync_err = rc;
		if (!log->sync_left) {
			stor_log_go_offline(log, "queueing fdatasync", rc);
			return;
		}
	}
	if (!log->sync_left) {
		if (f < 0) {
			stor_log_go_offline(log, "fdatasync", f);
			return;
		}
		/* Nothing was dirty: everything below the LEO is already covered. */
		if (log->sync_target > log->durable) log->durable = log->sync_target;
		update_recovery_point(log);
		complete_waiters(log);
		return;
	}
	log->syncing = true;
}

int stor_log_sync(struct stor_log *log, struct stor_sync *s)
{
	if (log->offline) return -EROFS;
	if (!s->done || s->offset > log->next_offset) return -EINVAL;
	if (s->offset <= log->durable) {
		s->done(s, 0);
		return 0;
	}
	s->next = log->sw_head;
	log->sw_head = s;
	stor_sync_kick(log);
	return 0;
}
