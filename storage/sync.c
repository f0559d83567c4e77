/*
 * storage/sync.c: durability by group commit.
 *
 * A round is one fdatasync of every file with writes since the previous round (the segments
 * with completed writes, the indexes of sealed segments, the .txnindex files written since:
 * their entries are written before their markers; and the partition directory after a segment
 * was created).  When all of them succeed, every offset below the LEO at the round's issue time
 * is durable.
 *
 * Kafka-style group commit: one round is in flight per log for concurrent producers (a lone
 * producer may have two, see "Rounds in flight" below).  A round is wanted when some waiter
 * is covered by the LEO but not yet durable (or a background flush is wanted); while a round is
 * in flight the next one waits for it, and then covers every write that completed meanwhile.
 * A wanted round also waits for the appends whose writes were issued before it was wanted (the
 * writes of concurrent producers that io_uring's workers run one after another per file), so
 * that one fdatasync covers them too instead of each write completion starting a round of its
 * own; that wait is bounded by those writes (later appends do not extend it), and appends held
 * for a preallocation chunk or a roll are not waited for.  A lone producer's durable append
 * (nothing else unresolved, a round slot free, and the last round acknowledged at most one
 * append) carries its round's first fdatasync linked to its write instead (stor_sync_link).
 * So do the appends accepted in one pass of the owner's loop, which share one write
 * (coalesce.c): when they are all the log has unresolved, the fdatasync chained to their writev
 * covers them all (its range ends at the last one's end, its round targets the last one's last
 * offset), so concurrent producers answered by one round share the next without a trip through
 * the shard.
 *
 * Overlapping rounds (up to four per log, 2026-11-24, issue 4) made every write completion a
 * round of its own: 8 durable writers on one partition got 1.5 appends per fdatasync, and the
 * concurrent fdatasyncs of one file wait for each other's page writeback in the kernel anyway.
 *
 * Rounds in flight.  A lone producer's append (acks=-1 at a modest rate: a round seldom finds
 * more than one append to cover) that arrives while a round is in flight would wait for the rest
 * of that round and then a whole round of its own: up to two fdatasyncs where one suffices.  So
 * a second round may go while one is in flight, but only while the log's rounds acknowledge
 * about one append each (a moving average of at most STOR_SYNC_GROUP_ACKS16 / 16): concurrent producers,
 * whose appends come together after each round, keep one round in flight and share it (with two,
 * a burst split once, 1 + 7, would stay split).  Its ranged fdatasync (below) starts where the
 * round in flight's stopped, so neither waits for the other's pages, and it is settled after
 * that one (in issue order).  RINGTAIL_SYNC_ROUNDS=1 in the environment keeps one round in
 * flight always (an A/B on one binary).
 *
 * A failed fdatasync is never retried as if the data were safe (the kernel may have dropped the
 * dirty pages and cleared the error): the partition goes offline, every waiter fails with -EROFS,
 * and nothing after that is acknowledged until the log is reopened and recovered.
 *
 * Side syncs.  Preallocation (prealloc.c) fdatasyncs a segment's .log too: each zero chunk, and
 * the trim that cuts a rolled segment back.  Those go through the same open file as the rounds,
 * and Linux reports a writeback error to one fdatasync per open file description: the side sync
 * may take the report of append pages lost that a round in flight beside it should have seen,
 * and that round then succeeds.  So a completed round is settled (durable offset, waiters) only
 * when no side sync is in flight (stor_sync_settle, called again as each one completes, after a
 * failed one has taken the partition offline): a round waits at most for the one zero chunk of
 * its log in flight when it completed.  Ranging a round's fdatasync (below) does not change
 * this: the kernel keeps the report per open file, not per range.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/lat_trace.h"
#include "storage/fault.h"
#include "storage/internal.h"

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
		    s->idx_inflight || s->txn_dirty || s->file_end > s->size) {
			rp = s->base;
			break;
		}
	}
	if (rp > log->recovery_point) {
		log->recovery_point = rp;
		stor_log_publish(log);
	}
}

/* Returns how many durable appends it acknowledged. */
static unsigned complete_waiters(struct stor_log *log)
{
	struct stor_append *a;
	unsigned n = 0;
	while ((a = log->dq_head) && a->last_offset < log->durable) {
		log->dq_head = a->next;
		if (!log->dq_head) log->dq_tail = NULL;
		a->next = NULL;
		a->done(a, 0);
		n++;
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
	return n;
}

/* Rounds of the logs this thread runs whose fdatasyncs are not all back (a log is only ever
 * driven by one thread): stor_sync_rounds_in_flight. */
static _Thread_local unsigned rounds_in_flight;

unsigned stor_sync_rounds_in_flight(void) { return rounds_in_flight; }

unsigned stor_io_in_flight(void) { return rounds_in_flight + stor_append_writes_in_flight(); }

/* Every fdatasync of round r has completed. */
static void round_finish(struct stor_round *r)
{
	struct stor_log *log = r->log;
	assert(rounds_in_flight > 0);
	rounds_in_flight--;
	rt_lt_record(r->lt_pa != log->lt_pa_issued ? RT_LT_SYNC_ROUND_PA : RT_LT_SYNC_ROUND, r->lt_issued, rt_lt_now());
	stor_fault_trace(r->err ? STOR_TRACE_SYNC_FAILED : STOR_TRACE_SYNC_DONE, -1, r->id, 0);
	stor_sync_settle(log);
}

void stor_sync_settle(struct stor_log *log)
{
	/* A zero chunk's or a trim's fdatasync in flight shares the segment's open file with the
	 * rounds (see "Side syncs" above): a round that completed beside it is trusted only once it
	 * is back, and when it failed the partition is offline by then. */
	if (log->pa.left || log->trims) return;
	/* Rounds finish in issue order: a later round's fdatasyncs skip the files an earlier one
	 * took, so its target is durable only once the earlier ones are too. */
	bool advanced = false;
	while (log->round_n) {
		struct stor_round *o = &log->rounds[log->round_first];
		if (o->left) break;
		log->round_first = (log->round_first + 1) % STOR_SYNC_ROUNDS;
		log->round_n--;
		log->round_done = o->seq;
		if (o->err) stor_log_go_offline(log, "fdatasync", o->err);
		if (log->offline) continue;
		/* A linked round's target is past the LEO until its append resolves, which its
		 * write's completion (reaped before the fdatasync's) does first; never beyond. */
		int64_t t = o->target < log->leo ? o->target : log->leo;
		if (!o->cancelled && t > log->durable) log->durable = t;
		advanced = true;
	}
	if (!advanced || log->offline) return;
	log->last_flush_ms = stor_now_ms();
	update_recovery_point(log);
	log->round_acks = complete_waiters(log);
	log->acks_avg16 = (log->acks_avg16 * 3 + log->round_acks * 16) / 4;
	stor_reap(log);
	stor_sync_kick(log);
}

static void round_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_round *r = rt_container_of(op, struct stor_round, op);
	r->log->inflight--;
	if (res < 0 && !r->err) r->err = res;
	if (--r->left) return;
	round_finish(r);
}

/* The fdatasync linked to an append's write. */
static void link_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_round *r = rt_container_of(op, struct stor_round, lop);
	r->log->inflight--;
	if (res == -ECANCELED) {
		/* The write was short or failed, so the fdatasync never ran: the round covers
		 * nothing of that segment, whose earlier writes it had taken over. */
		r->cancelled = true;
		r->lseg->dirty = true;
		if (r->llo < r->lseg->sync_lo) r->lseg->sync_lo = r->llo;
	} else if (res < 0 && !r->err) {
		r->err = res;
	}
	if (--r->left) return;
	round_finish(r);
}

/* Numbers rounds for the fault layer's trace (per thread, as the trace is). */
static _Thread_local uint64_t round_ids;

/* RINGTAIL_NO_LINKED_SYNC=1 in the environment: plain rounds only; RINGTAIL_NO_RANGED_SYNC=1:
 * every fdatasync over the whole file; RINGTAIL_SYNC_ROUNDS=1: one round in flight always
 * (A/Bs on one binary). */
static bool link_off, range_off, one_round;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static void env_probe(void)
{
	link_off = getenv("RINGTAIL_NO_LINKED_SYNC") != NULL;
	range_off = getenv("RINGTAIL_NO_RANGED_SYNC") != NULL;
	const char *r = getenv("RINGTAIL_SYNC_ROUNDS");
	one_round = r && atoi(r) == 1;
}

/* How many rounds may be in flight on the log now. */
static unsigned rounds_allowed(const struct stor_log *log)
{
	pthread_once(&env_once, env_probe);
	return one_round || log->acks_avg16 > STOR_SYNC_GROUP_ACKS16 ? 1 : STOR_SYNC_ROUNDS;
}

/* The fdatasync of segment s's data up to hi, from its sync_lo: ranged, so that it neither
 * writes nor waits for pages past the appends (prealloc.c's zero chunk, whose own fdatasync
 * writes up to 1 MiB ahead at the same time), nor for pages an earlier round took.  The
 * metadata part of an fdatasync is never ranged (ext4 commits the inode's journal transaction
 * whatever the range).  The whole file when the range is empty or odd (after a truncation). */
static void prep_data_sync(struct io_uring_sqe *sqe, struct stor_segment *s, uint64_t hi,
                           uint64_t *rlo, uint64_t *rhi)
{
	pthread_once(&env_once, env_probe);
	uint64_t lo = s->sync_lo & ~(uint64_t)4095;
	io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
	*rlo = *rhi = 0;
	if (!range_off && lo < hi && hi - lo <= UINT32_MAX) {
		sqe->off = lo;
		sqe->len = (uint32_t)(hi - lo);
		*rlo = lo;
		*rhi = hi;
	}
	s->sync_lo = hi;
}

/* seg: the fdatasync is of that segment's data ([sync_lo, visible)), NULL: fd whole. */
static int add_sync(struct stor_log *log, struct stor_round *r, int fd, struct stor_segment *seg,
                    bool injected)
{
	struct io_uring_sqe *sqe = stor_get_sqe(log);
	if (!sqe) return -EBUSY;
	if (!injected) stor_fault_trace(STOR_TRACE_SYNC_ISSUE, fd, r->id, 0);
	if (injected) {
		io_uring_prep_nop(sqe);
	} else if (seg) {
		uint64_t lo, hi;
		prep_data_sync(sqe, seg, seg->visible, &lo, &hi);
		if (hi) stor_fault_trace(STOR_TRACE_SYNC_RANGE, fd, lo, hi);
	} else {
		io_uring_prep_fsync(sqe, fd, fd == log->dfd ? 0 : IORING_FSYNC_DATASYNC);
	}
	io_uring_sqe_set_data(sqe, &r->op);
	r->left++;
	log->inflight++;
	return 0;
}

uint64_t stor_sync_newest_round(const struct stor_log *log)
{
	if (!log->round_n) return 0;
	return log->rounds[(log->round_first + log->round_n - 1) % STOR_SYNC_ROUNDS].seq;
}

/* The offset every round in flight will have made durable (the durable offset when none is). */
static int64_t issued_target(const struct stor_log *log)
{
	if (!log->round_n) return log->durable;
	return log->rounds[(log->round_first + log->round_n - 1) % STOR_SYNC_ROUNDS].target;
}

/* Adds to round r an fdatasync of every file with writes not yet covered by a round, clearing
 * their dirty marks.  0, or -EBUSY when the ring has no SQE left. */
static int add_dirty(struct stor_log *log, struct stor_round *r, bool injected)
{
	int rc = 0;
	for (size_t i = 0; i < log->nseg && !rc; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->dirty) {
			rc = add_sync(log, r, s->fd, s, injected);
			if (!rc) s->dirty = false;
		}
		if (!rc && s->sealed && s->idx_dirty && !s->idx_inflight && !s->idx_bad) {
			rc = add_sync(log, r, s->ifd, NULL, injected);
			if (!rc) rc = add_sync(log, r, s->tfd, NULL, injected);
			if (!rc) s->idx_dirty = false;
			if (!rc) s->aux_round = r->seq;  /* its descriptors stay open until done (fds.c) */
		}
		if (!rc && s->txn_dirty && s->txn) {
			rc = add_sync(log, r, stor_txnidx_fd(s->txn), NULL, injected);
			if (!rc) s->txn_dirty = false;
			if (!rc) s->aux_round = r->seq;
		}
	}
	if (!rc && log->dir_dirty) {
		rc = add_sync(log, r, log->dfd, NULL, injected);
		if (!rc) log->dir_dirty = false;
		if (!rc) log->dir_round = r->seq;
	}
	return rc;
}

/* The next free round slot, numbered and aimed at target. */
static struct stor_round *round_start(struct stor_log *log, int64_t target)
{
	struct stor_round *r = &log->rounds[(log->round_first + log->round_n) % STOR_SYNC_ROUNDS];
	r->op.cb = round_cb;
	r->lop.cb = link_cb;
	r->log = log;
	r->id = ++round_ids;
	r->seq = ++log->round_seq;
	r->target = target;
	r->err = 0;
	r->left = 0;
	r->lseg = NULL;
	r->cancelled = false;
	log->flush_wanted = false;
	log->unflushed = 0;
	return r;
}

/* The seq of the last append whose write is in flight, before any append held for a zero chunk
 * or a roll (those wait on something else); 0 when none is. */
static uint64_t writes_issued(const struct stor_log *log)
{
	uint64_t seq = 0;
	for (const struct stor_append *a = log->wq_head; a && !a->held; a = a->next) seq = a->seq;
	return seq;
}

void stor_sync_kick(struct stor_log *log)
{
	/* A new segment's files still carry their spare names: nothing in them is findable yet. */
	if (log->offline || stor_spare_busy(log) || log->round_n >= rounds_allowed(log)) return;
	/* Needed when a waiter is covered by the LEO but not by the rounds already in flight. */
	int64_t issued = issued_target(log);
	bool need = (log->flush_wanted && !log->round_n) ||
	            (log->dq_tail && log->dq_tail->last_offset >= issued);
	for (struct stor_sync *s = log->sw_head; s && !need; s = s->next)
		if (s->offset <= log->leo && s->offset > issued) need = true;
	if (!need) return;
	/* Cover the writes issued before the round was wanted: wait until they are resolved (the
	 * queue is resolved in order, so its head says how far).  A new need after that sets a new
	 * bound; appends accepted meanwhile never move the current one. */
	if (!log->sync_hold) log->sync_hold = writes_issued(log);
	if (log->sync_hold && log->wq_head && !log->wq_head->held && log->wq_head->seq <= log->sync_hold)
		return;
	log->sync_hold = 0;

	int32_t f = stor_fault_check(STOR_FAULT_FSYNC);
	struct stor_round *r = round_start(log, log->leo);
	int rc = add_dirty(log, r, f < 0);
	if (f < 0) r->err = f;
	if (rc) {
		/* The ring is unusable: nothing can be made durable; treat as a failed flush. */
		if (!r->err) r->err = rc;
		if (!r->left) {
			stor_log_go_offline(log, "queueing fdatasync", rc);
			return;
		}
	}
	if (!r->left) {
		if (f < 0) {
			stor_log_go_offline(log, "fdatasync", f);
			return;
		}
		/* Nothing was dirty: everything below the LEO is covered by the rounds in flight
		 * (each write that moved the LEO dirtied its segment, or carried a linked round
		 * still in flight), or, with none, already. */
		if (log->round_n) return;
		if (log->leo > log->durable) log->durable = log->leo;
		update_recovery_point(log);
		complete_waiters(log);
		return;
	}
	log->round_n++;
	rounds_in_flight++;
	r->lt_issued = rt_lt_now();
	r->lt_pa = log->lt_pa_issued - (log->pa.left ? 1 : 0);
#ifdef RT_LAT_TRACE
	for (struct stor_append *a = log->dq_head; a; a = a->next)
		if (!a->lt_round) {
			a->lt_round = r->lt_issued;
			rt_lt_record(RT_LT_WRITTEN_ROUND, a->lt_written, a->lt_round);
		}
#endif
}

bool stor_sync_can_link(struct stor_log *log, const struct stor_append *first, unsigned n)
{
	pthread_once(&env_once, env_probe);
	/* A lone append not while the last round acknowledged several appends: concurrent
	 * producers, whose appends come together right after a round; linking the first would
	 * give it a round of its own and leave the rest to the next (the 1 + 7 split of eight
	 * producers).  A pass of several is those appends together. */
	return !link_off && !log->offline && !log->fail_err && log->wq_head == first && !log->roll_wait &&
	       (n > 1 || log->round_acks <= 1) && !stor_spare_busy(log) && log->round_n < rounds_allowed(log) &&
	       !stor_fault_armed() && stor_sq_reserve(log, 2);
}

void stor_sync_link(struct stor_log *log, struct stor_append *a)
{
	/* Counted like every round's fdatasync (no point is armed: stor_sync_can_link). */
	(void)stor_fault_check(STOR_FAULT_FSYNC);
	struct stor_round *r = round_start(log, a->last_offset + 1);
	struct io_uring_sqe *sqe = io_uring_get_sqe(log->ring);
	assert(sqe);  /* stor_sync_can_link reserved it, right behind the write's */
	r->llo = a->seg->sync_lo;
	prep_data_sync(sqe, a->seg, a->pos + a->len, &r->lr_lo, &r->lr_hi);
	io_uring_sqe_set_data(sqe, &r->lop);
	r->lseg = a->seg;
	r->left = 1;
	log->inflight++;
	/* It runs after this write, so it covers every earlier write of the segment too. */
	a->seg->dirty = false;
	int rc = add_dirty(log, r, false);
	if (rc) r->err = rc;  /* the ring is unusable: the round fails, the partition goes offline */
	log->round_n++;
	rounds_in_flight++;
	a->link_seq = r->seq;
	r->lt_issued = rt_lt_now();
	r->lt_pa = log->lt_pa_issued - (log->pa.left ? 1 : 0);
}

void stor_sync_link_written(struct stor_log *log, struct stor_append *a)
{
	for (unsigned i = 0; i < log->round_n; i++) {
		struct stor_round *r = &log->rounds[(log->round_first + i) % STOR_SYNC_ROUNDS];
		if (r->seq != a->link_seq) continue;
		stor_fault_trace(STOR_TRACE_SYNC_ISSUE, r->lseg->fd, r->id, 0);
		if (r->lr_hi) stor_fault_trace(STOR_TRACE_SYNC_RANGE, r->lseg->fd, r->lr_lo, r->lr_hi);
		break;
	}
#ifdef RT_LAT_TRACE
	a->lt_round = rt_lt_now();
	rt_lt_record(RT_LT_WRITTEN_ROUND, a->lt_written ? a->lt_written : a->lt_round, a->lt_round);
#endif
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
