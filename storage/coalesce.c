/*
 * storage/coalesce.c: the appends a log accepts in one pass of its owner's loop share one write.
 *
 * Why.  io_uring runs the buffered writes of one file one after another on one io-wq worker (it
 * hashes them by inode; ext4 would serialise them on the inode lock anyway), each a work item of
 * its own, and a group-commit round that covers several of them starts only once the shard has
 * reaped the last one.  Concurrent acks=-1 producers answered by one round come back together,
 * and the owner accepts their appends in one pass of its loop: with 8 such writers on one
 * partition a round was 8 work items, then a trip through the shard, then the fdatasync.  Their
 * positions are contiguous (reserved in order), so they are written together: one writev of all
 * their pieces, and when they are every unresolved append of the log and sync.c allows, one
 * fdatasync linked to it (IOSQE_IO_LINK) whose range ends at the last one's end and whose round
 * targets its last offset (sync.c's lone-producer link, for the whole pass).  That is fio's
 * write + fdatasync of the same bytes; the appends that come in later passes are not waited for.
 *
 * How.  An accepted append (placed at its segment's end, not held for a zero chunk or a roll, no
 * fault to inject) is not written at once: it joins the log's pass, the appends accepted since
 * the owner last called stor_ring_flush, when it continues it (right behind the pass's last one
 * in the queue and in the same segment's file, nothing between).  stor_ring_flush, which the
 * owner calls before it submits the ring (the end of each pass of its loop, and any loop that
 * waits for the appends' completions), writes each log's pass: one member with a write of its
 * own (append.c), several with one writev.  An append that does not continue the pass (another
 * segment after a roll, one behind a held or faulted append) gets a write of its own at once, as
 * every append does with RINGTAIL_NO_COALESCE=1.  Every SQE is prepared once, whole, and never
 * changed after: nothing here depends on when the ring is submitted.
 *
 * Durability.  A pass's members count as one write in flight from the first one's acceptance
 * (the segment's and the log's counts, stor_io_in_flight), so the segment's file stays open and
 * the log busy until the write completes, and a round wanted meanwhile waits for them as for
 * any write issued before it (sync.c).  A durable member is acknowledged only by a round that
 * covers it: the linked fdatasync, which starts only once the whole writev is in the page cache
 * (a short or failed write cancels it), or a plain round issued after the write's completion.
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
#include "storage/internal.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif
/* A shared write stays well inside what one writev may return (an int32 CQE result). */
#define WC_MAX_BYTES ((size_t)1 << 30)

static void group_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* The calling thread's logs with a pass to write (a log is only ever driven by one thread). */
static _Thread_local struct stor_log *passes;

/* RINGTAIL_NO_COALESCE=1 in the environment: every append writes by itself, at once (an A/B on
 * one binary; perf/README.md, "Environment knobs"). */
static bool coalesce_off;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static void env_probe(void)
{
	coalesce_off = getenv("RINGTAIL_NO_COALESCE") != NULL;
}

static int pieces(const struct stor_append *a)
{
	return a->iov ? a->iovcnt - a->iov_at : 1;
}

bool stor_wc_collect(struct stor_log *log, struct stor_append *a)
{
	pthread_once(&env_once, env_probe);
	if (coalesce_off) return false;
	struct stor_wpass *p = &log->wpass;
	if (p->first) {
		const struct stor_append *l = p->last;
		/* Right behind the pass's last append in the queue and in the file, nothing between. */
		if (log->wq_tail != l || a->seg != l->seg || a->pos != l->pos + l->len ||
		    p->pieces + pieces(a) > IOV_MAX || p->len + a->len > WC_MAX_BYTES)
			return false;
	} else {
		p->first = a;
		p->n = 0;
		p->pieces = 0;
		p->len = 0;
		p->durable = false;
		p->next = passes;
		passes = log;
		stor_append_write_start(log, a->seg);  /* the pass's one write, in flight from now */
	}
	p->last = a;
	p->n++;
	p->pieces += pieces(a);
	p->len += a->len;
	if (a->flags & STOR_APPEND_DURABLE) p->durable = true;
	return true;
}

static struct stor_wgroup *group_get(struct stor_log *log, int need)
{
	struct stor_wgroup *g = log->wg_free;
	if (g) log->wg_free = g->next;
	else if (!(g = calloc(1, sizeof *g))) return NULL;
	if (g->iovcap < need) {
		struct iovec *v = realloc(g->iov, (size_t)need * sizeof *v);
		if (!v) {
			g->next = log->wg_free;
			log->wg_free = g;
			return NULL;
		}
		g->iov = v;
		g->iovcap = need;
	}
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

/* Appends a's pieces to g's entries (room reserved by group_get). */
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

/* Writes log's pass (see the top of the file).  True when a member failed for want of an SQE
 * (the caller resolves the queue). */
static bool pass_write(struct stor_log *log)
{
	struct stor_wpass *p = &log->wpass;
	struct stor_append *first = p->first, *last = p->last, *m = first;
	unsigned n = p->n;
	p->first = p->last = NULL;
	bool link = p->durable && stor_sync_can_link(log, first, n);
	struct stor_wgroup *g = n > 1 ? group_get(log, p->pieces) : NULL;
	if (!g) {
		/* One member, or no memory for the group's entries: a write each (the pass's count
		 * goes with the first).  Only a lone member's may be linked: an fdatasync chained to
		 * one of several writes could start before the others are in the page cache. */
		bool failed = false;
		for (unsigned i = 0; i < n; i++, m = m->next)
			failed |= stor_append_issue(log, m, link && n == 1, i == 0) != 0;
		return failed;
	}
	/* stor_sync_can_link reserved the pair's two SQEs. */
	struct io_uring_sqe *sqe = stor_get_sqe(log);
	if (!sqe) {
		group_put(log, g);
		for (unsigned i = 0; i < n; i++, m = m->next) stor_append_issue(log, m, false, i == 0);
		return true;
	}
	for (unsigned i = 0; i < n; i++, m = m->next) add_pieces(g, m);
	g->first = first;
	io_uring_prep_writev(sqe, first->seg->fd, g->iov, (unsigned)g->iovcnt, first->pos);
	io_uring_sqe_set_data(sqe, &g->op);
	log->write_sqes++;
	if (link) {
		/* Every unresolved append is in the writev: the fdatasync chained behind it covers
		 * them all (sync.c), and each member's write carries its round. */
		sqe->flags |= IOSQE_IO_LINK;
		stor_sync_link(log, last);
		for (m = first; m != last; m = m->next) m->link_seq = last->link_seq;
	}
	return false;
}

void stor_ring_flush(struct io_uring *ring)
{
	struct stor_log **pp = &passes, *log;
	while ((log = *pp)) {
		if (log->ring != ring) {
			pp = &log->wpass.next;
			continue;
		}
		*pp = log->wpass.next;
		log->wpass.next = NULL;
		/* Resolving a failed member runs callbacks that may append (and list logs) again. */
		if (pass_write(log)) {
			stor_append_resolve(log);
			pp = &passes;
		}
	}
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
