/*
 * storage/coalesce.c: appends queued for one segment before the ring is submitted share one
 * write.
 *
 * Why.  io_uring runs the buffered writes of one file one after another on one io-wq worker (it
 * hashes them by inode; ext4 would serialise them on the inode lock anyway), each a work item of
 * its own, and a group-commit round that covers several of them starts only once the shard has
 * reaped the last one.  Concurrent acks=-1 producers answered by one round come back together,
 * and the owner accepts their appends in one pass of its loop: with 8 such writers on one
 * partition a round was 8 work items, then a trip through the shard, then the fdatasync.  Their
 * positions are contiguous (reserved in order), so while the first one's SQE is still in the SQ
 * the others join it: one writev of all their pieces, and when the group holds every unresolved
 * append of the log and sync.c allows, one fdatasync linked to it whose range and round target
 * grow with the group (sync.c's lone-producer link, extended).  That is fio's write + fdatasync
 * of the same bytes; the appends that come in later passes are not waited for.
 *
 * Changing an SQE in place is safe until io_uring_submit hands it to the kernel.  liburing's
 * sq.sqe_head is the first SQE not yet flushed to the kernel's tail (each submit moves it to
 * sqe_tail), so an SQE taken at slot n is still ours while n - sqe_head < sqe_tail - sqe_head.
 * Without SQPOLL (no ring here has it) the kernel reads SQEs only inside io_uring_enter, on the
 * owner's thread.  The iovec array lives with the group until the write completes.
 *
 * Completion.  The writev's result is shared out in offset order.  The members it covers whole
 * are written; after a short write the member it stopped in asks for its rest, and each member
 * behind it for all of its bytes, as writes of their own (append.c's short-write path: the kernel
 * reports the cause); the linked fdatasync, cancelled by the short write, covers nothing (sync.c).
 * A failed writev (or one that wrote nothing) fails every member with its error, as the appends
 * behind a failed write fail anyway.  The fault layer's points stay per append: an append that
 * gets an injected fault has a write of its own and is never joined.
 */
#include <errno.h>
#include <liburing.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/lat_trace.h"
#include "storage/fault.h"
#include "storage/internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
/* A shared write stays well inside what one writev may return (an int32 CQE result). */
#define WC_MAX_BYTES ((size_t)1 << 30)

static void group_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* Whether the open write's SQE is still unsubmitted (see the top of the file). */
static bool open_pending(const struct stor_log *log)
{
	const struct io_uring_sq *sq = &log->ring->sq;
	return log->wopen.sqe && sq->sqe_tail - log->wopen.slot <= sq->sqe_tail - sq->sqe_head &&
	       sq->sqe_tail != log->wopen.slot;
}

static int pieces(const struct stor_append *a)
{
	return a->iov ? a->iovcnt - a->iov_at : 1;
}

/* Appends a's pieces to g's entries (room checked by the caller). */
static void add_pieces(struct stor_wgroup *g, struct stor_append *a)
{
	if (a->iov) {
		for (int i = a->iov_at; i < a->iovcnt; i++) g->iov[g->iovcnt++] = a->iov[i];
	} else {
		g->iov[g->iovcnt++] = (struct iovec){.iov_base = a->data, .iov_len = a->len};
	}
	g->n++;
	g->len += a->len;
}

/* Room for `need` entries; the array may move (the SQE's address is set after). */
static bool reserve(struct stor_wgroup *g, int need)
{
	if (g->iovcnt + need <= g->iovcap) return true;
	int cap = g->iovcap ? g->iovcap : 16;
	while (cap < g->iovcnt + need) cap *= 2;
	if (cap > IOV_MAX) cap = IOV_MAX;
	if (cap < g->iovcnt + need) return false;
	struct iovec *v = realloc(g->iov, (size_t)cap * sizeof *v);
	if (!v) return false;
	g->iov = v;
	g->iovcap = cap;
	return true;
}

static struct stor_wgroup *group_get(struct stor_log *log)
{
	struct stor_wgroup *g = log->wg_free;
	if (g) log->wg_free = g->next;
	else if (!(g = calloc(1, sizeof *g))) return NULL;
	g->next = NULL;
	g->log = log;
	g->op.cb = group_cb;
	g->first = NULL;
	g->n = 0;
	g->len = 0;
	g->iovcnt = 0;
	return g;
}

static void group_put(struct stor_log *log, struct stor_wgroup *g)
{
	g->next = log->wg_free;
	log->wg_free = g;
}

/* RINGTAIL_NO_COALESCE=1 in the environment: every append writes by itself (an A/B on one
 * binary). */
static bool coalesce_off;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static void env_probe(void)
{
	coalesce_off = getenv("RINGTAIL_NO_COALESCE") != NULL;
}

bool stor_wc_join(struct stor_log *log, struct stor_append *a)
{
	struct stor_wopen *w = &log->wopen;
	pthread_once(&env_once, env_probe);
	if (coalesce_off || !open_pending(log)) {
		w->sqe = NULL;
		return false;
	}
	struct stor_append *l = w->last;
	/* Behind the open write's last append in the queue and in the file, nothing between. */
	if (log->wq_tail != l || a->seg != l->seg || a->pos != l->pos + l->len || a->written)
		return false;
	struct stor_wgroup *g = w->g;
	bool fresh = !g;
	if (fresh) {
		if (!(g = group_get(log))) return false;
		g->first = l;
	}
	int need = pieces(a) + (fresh ? pieces(l) : 0);
	if ((fresh ? l->len : g->len) + a->len > WC_MAX_BYTES || !reserve(g, need)) {
		if (fresh) group_put(log, g);
		return false;
	}
	if (fresh) add_pieces(g, l);
	add_pieces(g, a);
	/* The SQE becomes the group's writev; its flags (a link to an fdatasync) stay. */
	uint8_t fl = w->sqe->flags;
	io_uring_prep_writev(w->sqe, l->seg->fd, g->iov, (unsigned)g->iovcnt, g->first->pos);
	w->sqe->flags = fl;
	io_uring_sqe_set_data(w->sqe, &g->op);
	w->g = g;
	w->last = a;
	if (!(a->flags & STOR_APPEND_DURABLE)) {
		/* Covered by a linked fdatasync all the same when one is there: it runs after. */
		if (w->fsqe) stor_sync_link_extend(log, w->round, w->fsqe, a);
		return true;
	}
	if (w->fsqe) {
		stor_sync_link_extend(log, w->round, w->fsqe, a);
	} else if (log->wq_head == g->first && log->wopen.slot + 1 == log->ring->sq.sqe_tail &&
	           stor_sync_can_link_group(log)) {
		/* Every unresolved append is in the group and its SQE is the last one: the fdatasync
		 * goes right behind it, chained, and covers them all (sync.c). */
		w->sqe->flags |= IOSQE_IO_LINK;
		w->fsqe = stor_sync_link(log, a);
		w->round = a->link_seq;
		struct stor_append *m = g->first;
		for (unsigned i = 0; i + 1 < g->n; i++, m = m->next) m->link_seq = w->round;
	}
	return true;
}

void stor_wc_opened(struct stor_log *log, struct stor_append *a, struct io_uring_sqe *sqe,
                    unsigned slot, struct io_uring_sqe *fsqe, uint64_t round)
{
	struct stor_wopen *w = &log->wopen;
	w->sqe = sqe;
	w->slot = slot;
	w->last = a;
	w->g = NULL;
	w->fsqe = fsqe;
	w->round = fsqe ? round : 0;
}

void stor_wc_done(struct stor_log *log, const struct stor_append *a)
{
	if (log->wopen.last == a && !log->wopen.g) log->wopen.sqe = NULL;
}

void stor_wc_free(struct stor_log *log)
{
	struct stor_wgroup *g;
	while ((g = log->wg_free)) {
		log->wg_free = g->next;
		free(g->iov);
		free(g);
	}
}

static void group_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_wgroup *g = rt_container_of(op, struct stor_wgroup, op);
	struct stor_log *log = g->log;
	struct stor_append *first = g->first, *a = first, *last = NULL;
	a->seg->inflight--;
	log->inflight--;
	stor_append_write_back();
	if (log->wopen.g == g) log->wopen.sqe = NULL;
	bool whole = res >= 0 && (size_t)res == g->len;
	size_t left = res > 0 ? (size_t)res : 0;
	/* No member leaves the queue before the resolve below, so the walk holds. */
	for (unsigned i = 0; i < g->n; i++, a = a->next) {
		if (res <= 0) {
			stor_append_wrote(log, a, res);
		} else if (!left) {
			stor_append_retry(log, a);  /* the short write stopped before it */
		} else {
			size_t k = left < a->len ? left : a->len;
			left -= k;
			stor_append_wrote(log, a, (int32_t)k);
		}
		last = a;
	}
	group_put(log, g);
	if (whole && last->link_seq) {
		/* One fault-layer SYNC_ISSUE for the fdatasync, after every member's WRITE_DONE. */
		stor_sync_link_written(log, last);
#ifdef RT_LAT_TRACE
		for (a = first; a != last; a = a->next) {
			a->lt_round = last->lt_round;
			rt_lt_record(RT_LT_WRITTEN_ROUND, a->lt_written, a->lt_round);
		}
#endif
	}
	stor_append_resolve(log);
}
