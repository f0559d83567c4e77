/*
 * storage/read.c: mapping offsets to file ranges, pins, and fetch wake-ups.
 *
 * A read never looks past a segment's visible size (bytes whose appends resolved), so it never
 * returns a batch whose write failed or is still in flight.  Batch boundaries come from the
 * offset index (binary search) and a short forward walk over batch headers, read a window of
 * STOR_READ_WINDOW bytes at a time: through the owner's io_uring for the fetch path
 * (stor_log_read_start, so a page-cache miss never blocks the shard), with pread for start-up.
 * The headers of the last STOR_RECENT batches appended to the active segment are kept in
 * memory (stor_recent_note), and a walk starts at the newest of them that it may: a consumer
 * at the tail is answered with no header read at all, not one io_uring round trip per fetch.
 * A read that asks for a copy (ringtail.fetch.zero.copy=false) then reads the range's bytes
 * into memory through the same ring; the range's pin keeps its descriptor open meanwhile.  The
 * copies of one fetch take their bytes from a budget the reads share (copy_budget), so a fetch
 * naming many partitions with huge limits allocates at most that; a range past it is served
 * from the file.
 *
 * A read the disk fails (or that finds the file shorter than its visible size) takes the
 * partition offline, as an IOException on a read takes Kafka's log directory offline: a header
 * read through the ring or with pread, or a copy's read of the records.  The fetch gets
 * KAFKA_STORAGE_ERROR, and so does every produce and fetch after it until the log is reopened
 * and recovered.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/arena.h"
#include "proto/batch.h"
#include "storage/fault.h"
#include "storage/internal.h"

/*
 * One walk serves both drivers.  Its steps stop whenever the batch header they need is not in
 * the read's window (-EAGAIN): stor_log_read fills the window with pread and goes on,
 * stor_log_read_start queues an io_uring read and goes on from the completion.  A walk takes
 * the segment's visible size and end offset once, when it enters the segment, so that appends
 * completing between two of its reads do not move its limits (bytes below a visible size never
 * change while a read of the log is in flight: truncation requires an idle log).
 */
enum {
	R_START,  /* find the segment that holds the offset */
	R_FIND,   /* walk from the offset index's entry to the batch that holds the offset */
	R_MAX,    /* walk to the batch that holds max_offset (the range ends before it) */
	R_WANT,   /* walk to the last whole batch within max_bytes */
	R_NEXT,   /* the header after the range: its base is next_offset */
};

/* The i-th newest recent header (0: the newest). */
static const struct stor_recent *recent(const struct stor_log *log, unsigned i)
{
	return &log->rh[(log->rh_head + STOR_RECENT - 1 - i) % STOR_RECENT];
}

/* The recent header at pos of r's segment, whole below limit, or NULL. */
static const struct stor_bhdr *recent_at(const struct stor_read_op *r, uint64_t pos, uint64_t limit)
{
	const struct stor_log *log = r->log;
	if (r->seg != log->rh_seg) return NULL;
	for (unsigned i = 0; i < log->rh_n; i++) {
		const struct stor_recent *e = recent(log, i);
		if (e->pos == pos) return pos + e->h.size <= limit ? &e->h : NULL;
		if (e->pos < pos) break;
	}
	return NULL;
}

/* Where a walk that starts at batch boundary `from` may start instead: the newest recent batch
 * of r's segment that is visible, at or after from, and at or before the batch holding `offset`
 * (by_pos false) or starting at or before position `pos` (by_pos true). */
static uint64_t recent_from(const struct stor_read_op *r, bool by_pos, int64_t offset, uint64_t pos,
                            uint64_t from)
{
	const struct stor_log *log = r->log;
	if (r->seg != log->rh_seg) return from;
	for (unsigned i = 0; i < log->rh_n; i++) {
		const struct stor_recent *e = recent(log, i);
		if (e->pos < from) break;
		if ((by_pos ? e->pos <= pos : e->h.base <= offset) && e->pos + e->h.size <= r->limit) return e->pos;
	}
	return from;
}

void stor_recent_reset(struct stor_log *log)
{
	log->rh_seg = NULL;
	log->rh_n = 0;
}

void stor_recent_note(struct stor_log *log, struct stor_segment *s, uint64_t pos, const uint8_t *b,
                      size_t len)
{
	if (!log->rh && !(log->rh = malloc(STOR_RECENT * sizeof *log->rh))) return;
	if (log->rh_seg != s) {
		log->rh_seg = s;
		log->rh_n = 0;
	}
	for (size_t p = 0; p < len;) {
		struct stor_recent *e = &log->rh[log->rh_head];
		if (stor_bhdr_parse(b + p, len - p, pos + p, pos + len, &e->h)) {
			stor_recent_reset(log);  /* not whole batches: stor_log_append checked they are */
			return;
		}
		e->pos = pos + p;
		log->rh_head = (log->rh_head + 1) % STOR_RECENT;
		if (log->rh_n < STOR_RECENT) log->rh_n++;
		p += e->h.size;
	}
}

static void enter(struct stor_read_op *r, struct stor_segment *s)
{
	r->seg = s;
	r->limit = s->visible;
	r->end_off = s->end_offset;
	r->wlen = 0;
	r->cur = recent_from(r, false, r->offset, 0, stor_segment_lookup(s, r->offset));
	r->step = R_FIND;
}

/* The batch header at pos: from the recent appends, else from the window.  0, -ENODATA at or
 * past limit, -EBADMSG, or -EAGAIN when the window does not hold it (read r->cur first). */
static int hdr_at(const struct stor_read_op *r, uint64_t pos, uint64_t limit, struct stor_bhdr *h)
{
	if (pos + KP_BATCH_LOG_OVERHEAD > limit) return -ENODATA;
	const struct stor_bhdr *known = recent_at(r, pos, limit);
	if (known) {
		*h = *known;
		return 0;
	}
	uint64_t need = limit - pos < KP_BATCH_HEADER_SIZE ? limit - pos : KP_BATCH_HEADER_SIZE;
	if (!r->wlen || pos < r->wpos || pos + need > r->wpos + r->wlen) {
		/* A window that starts here and still lacks the header: the file is shorter than the
		 * size the log believes visible. */
		if (r->wlen && pos == r->wpos) return -EIO;
		return -EAGAIN;
	}
	return stor_bhdr_parse(r->win + (pos - r->wpos), (size_t)need, pos, limit, h);
}

static void want_init(struct stor_read_op *r)
{
	r->want = r->end_lim - r->start > r->max_bytes ? r->start + r->max_bytes : r->end_lim;
	/* Jump through the index near `want`, then walk. */
	uint64_t p = stor_segment_lookup_pos(r->seg, r->want);
	r->cur = recent_from(r, true, 0, r->want, p < r->start ? r->start : p);
	r->step = R_WANT;
}

/* The segment after s in the log (s may have left it: compaction, retention), or NULL. */
static struct stor_segment *seg_after(const struct stor_log *log, const struct stor_segment *s)
{
	for (size_t i = 0; i < log->nseg; i++)
		if (log->segs[i]->base > s->base) return log->segs[i];
	return NULL;
}

/* Runs the walk as far as the window allows.  0: finished (r->rd set, its segment pinned when
 * len > 0); -EAGAIN: the header at r->cur of r->seg must be read first; or -errno. */
static int advance(struct stor_read_op *r)
{
	struct stor_log *log = r->log;
	for (;;) {
		struct stor_bhdr h;
		int rc;
		switch (r->step) {
		case R_START: {
			if (r->offset < log->log_start || r->offset > log->leo) return -ERANGE;
			if (r->max_offset > log->leo) r->max_offset = log->leo;
			if (r->offset >= r->max_offset || !log->nseg) return 0;
			ssize_t i = stor_log_find_segment(log, r->offset);
			enter(r, log->segs[i < 0 ? 0 : i]);
			break;
		}
		case R_FIND:
			rc = hdr_at(r, r->cur, r->limit, &h);
			if (rc == -ENODATA) {
				/* Nothing at or past the offset here (a compacted gap): the next segment. */
				struct stor_segment *n = seg_after(log, r->seg);
				if (!n) return 0;
				enter(r, n);
				break;
			}
			if (rc) return rc;
			if (h.last < r->offset) {
				r->cur += h.size;
				break;
			}
			if (h.base >= r->max_offset) return 0;
			r->start = r->cur;
			r->first_base = h.base;
			r->first_size = h.size;
			r->end_lim = r->limit;
			if (r->max_offset < r->end_off) {
				/* The range ends before the batch that holds max_offset (HW or LSO). */
				uint64_t from = stor_segment_lookup(r->seg, r->max_offset);
				r->cur = recent_from(r, false, r->max_offset, 0, from < r->start ? r->start : from);
				r->step = R_MAX;
			} else {
				want_init(r);
			}
			break;
		case R_MAX:
			rc = hdr_at(r, r->cur, r->limit, &h);
			if (rc && rc != -ENODATA) return rc;
			if (!rc && h.last < r->max_offset) {
				r->cur += h.size;
				break;
			}
			if (!rc) r->end_lim = r->cur;
			want_init(r);
			break;
		case R_WANT:
			rc = hdr_at(r, r->cur, r->end_lim, &h);
			if (rc && rc != -ENODATA) return rc;
			if (!rc && r->cur + h.size <= r->want) {
				r->cur += h.size;
				break;
			}
			/* r->cur ends the range */
			if (r->cur == r->start) {
				if (!r->min_one || r->start + r->first_size > r->end_lim) return 0;
				r->cur = r->start + r->first_size;
			}
			r->step = R_NEXT;
			break;
		case R_NEXT: {
			rc = -ENODATA;
			if (r->cur < r->limit) rc = hdr_at(r, r->cur, r->limit, &h);
			if (rc == -EAGAIN) return rc;
			struct stor_segment *s = r->seg;
			r->rd.fd = s->fd;
			r->rd.pos = r->start;
			r->rd.len = (uint32_t)(r->cur - r->start);
			r->rd.first_offset = r->first_base;
			r->rd.next_offset = rc ? r->end_off : h.base;
			r->rd.seg = s;
			s->refs++;
			return 0;
		}
		}
	}
}

static void op_init(struct stor_log *log, struct stor_read_op *r)
{
	r->rd = (struct stor_read){.fd = -1, .first_offset = r->offset, .next_offset = r->offset};
	r->data = NULL;
	r->copied = 0;
	r->log = log;
	r->seg = NULL;
	r->win = NULL;
	r->wlen = 0;
	r->fault = 0;
	r->step = R_START;
}

/* The window's bytes start at r->cur; at most STOR_READ_WINDOW, never past the visible size. */
static uint32_t window_len(const struct stor_read_op *r)
{
	uint64_t n = r->limit - r->cur;
	return n > STOR_READ_WINDOW ? STOR_READ_WINDOW : (uint32_t)n;
}

/* The window for the read at r->cur: the caller's (stor_log_read: on its stack), else the log's
 * spare one (a fetch path read does not malloc in the steady state), else a new one. */
static int window_alloc(struct stor_read_op *r)
{
	if (!r->win) {
		r->win = r->log->read_win;
		r->log->read_win = NULL;
	}
	if (!r->win && !(r->win = malloc(STOR_READ_WINDOW))) return -ENOMEM;
	r->wpos = r->cur;
	r->wlen = 0;
	return 0;
}

/* An asynchronous read is over: its window goes back to the log for the next one. */
static void window_put(struct stor_read_op *r)
{
	if (!r->win) return;
	if (!r->log->read_win) r->log->read_win = r->win;
	else free(r->win);
	r->win = NULL;
}

/* A read the disk failed: the partition goes offline, saying what and where. */
static void read_failed(struct stor_log *log, const char *what, uint64_t pos, const struct stor_segment *seg,
                        int err)
{
	char where[160];
	snprintf(where, sizeof where, "%s at position %" PRIu64 " of segment %020" PRId64, what, pos, seg->base);
	stor_log_go_offline(log, where, err);
}

static void unpin(struct stor_log *log, struct stor_segment *s)
{
	s->refs--;
	if (s->deleted && !s->refs) stor_reap(log);
}

int stor_log_read(struct stor_log *log, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                  bool min_one, struct stor_read *out)
{
	struct stor_read_op r = {.offset = offset, .max_bytes = max_bytes, .max_offset = max_offset,
	                         .min_one = min_one};
	op_init(log, &r);
	uint8_t win[STOR_READ_WINDOW];
	r.win = win;
	int rc;
	if (log->offline) {
		*out = r.rd;
		return -EROFS;
	}
	while ((rc = advance(&r)) == -EAGAIN) {
		if ((rc = window_alloc(&r))) break;
		uint32_t want = window_len(&r);
		ssize_t n;
		int32_t f = stor_fault_check(STOR_FAULT_READ_PREAD);
		if (f < 0) {
			n = -1;
			errno = -f;
		} else {
			do n = pread(r.seg->fd, r.win, want, (off_t)r.wpos);
			while (n < 0 && errno == EINTR);
		}
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;  /* 0: shorter than its visible size */
			read_failed(log, "reading batch headers", r.wpos, r.seg, rc);
			break;
		}
		r.wlen = (uint32_t)n;
	}
	*out = r.rd;
	return rc;
}

/* --- the asynchronous driver ---------------------------------------------------------------- */

static void read_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* Queues the read of the window at r->cur, pinning r->seg until its completion. */
static int submit(struct stor_read_op *r)
{
	int rc = window_alloc(r);
	if (rc) return rc;
	struct io_uring_sqe *sqe = stor_get_sqe(r->log);
	if (!sqe) return -EBUSY;
	int32_t f = stor_fault_check(STOR_FAULT_READ_HDR);
	if (f < 0) {
		io_uring_prep_nop(sqe);
		r->fault = f;
	} else {
		io_uring_prep_read(sqe, r->seg->fd, r->win, window_len(r), r->wpos);
	}
	r->op.cb = read_cb;
	io_uring_sqe_set_data(sqe, &r->op);
	r->seg->refs++;
	r->log->inflight++;
	return 0;
}

static void copy_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* Queues the read of the range's bytes not copied yet.  0 or -errno. */
static int submit_copy(struct stor_read_op *r)
{
	struct io_uring_sqe *sqe = stor_get_sqe(r->log);
	if (!sqe) return -EBUSY;
	int32_t f = stor_fault_check(STOR_FAULT_READ_COPY);
	if (f < 0) {
		io_uring_prep_nop(sqe);
		r->fault = f;
	} else {
		io_uring_prep_read(sqe, r->rd.fd, r->data + r->copied, r->rd.len - r->copied, r->rd.pos + r->copied);
	}
	r->op.cb = copy_cb;
	io_uring_sqe_set_data(sqe, &r->op);
	r->log->inflight++;
	return 0;
}

/* Takes n bytes from a copy budget shared by the reads of one fetch across shards.  False (and
 * nothing taken) when fewer are left. */
static bool budget_take(int64_t *budget, uint32_t n)
{
	int64_t left = __atomic_load_n(budget, __ATOMIC_RELAXED);
	do {
		if (left < (int64_t)n) return false;
	} while (!__atomic_compare_exchange_n(budget, &left, left - n, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

/* The walk is over: with r->copy and a range, its copy starts.  True when it is queued.  When
 * the copy cannot be had (over the fetch's budget, out of memory, the ring full) the file range
 * serves. */
static bool copy_start(struct stor_read_op *r)
{
	if (!r->copy || !r->rd.len) return false;
	if (r->copy_budget && !budget_take(r->copy_budget, r->rd.len)) return false;
	if ((r->data = malloc(r->rd.len))) {
		r->copied = 0;
		if (!submit_copy(r)) return true;
		free(r->data);
		r->data = NULL;
	}
	if (r->copy_budget) __atomic_add_fetch(r->copy_budget, (int64_t)r->rd.len, __ATOMIC_RELAXED);
	return false;
}

static void copy_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_read_op *r = rt_container_of(op, struct stor_read_op, op);
	struct stor_log *log = r->log;
	log->inflight--;
	if (r->fault) {
		res = r->fault;
		r->fault = 0;
	}
	int rc = res < 0 ? res : res == 0 ? -EIO : 0;  /* 0: shorter than its visible size */
	if (rc) read_failed(log, "reading records for a copy", r->rd.pos + r->copied, r->rd.seg, rc);
	if (!rc) {
		r->copied += (uint32_t)res;
		if (r->copied < r->rd.len && !(rc = submit_copy(r))) return;
	}
	if (rc) {
		free(r->data);
		r->data = NULL;
		stor_read_release(log, &r->rd);
		r->rd = (struct stor_read){.fd = -1, .first_offset = r->offset, .next_offset = r->offset};
	}
	r->done(r, rc);
}

static void read_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_read_op *r = rt_container_of(op, struct stor_read_op, op);
	struct stor_log *log = r->log;
	struct stor_segment *was = r->seg;
	log->inflight--;
	if (r->fault) {
		res = r->fault;
		r->fault = 0;
	}
	int rc = res < 0 ? res : res == 0 ? -EIO : 0;
	if (rc) read_failed(log, "reading batch headers", r->wpos, was, rc);
	if (!rc) {
		r->wlen = (uint32_t)res;
		rc = advance(r);
		if (rc == -EAGAIN && !(rc = submit(r))) {
			/* still walking; the new read pinned its segment (maybe `was`) */
			unpin(log, was);
			return;
		}
	}
	unpin(log, was);
	window_put(r);
	if (!rc && copy_start(r)) return;
	if (rc) r->rd = (struct stor_read){.fd = -1, .first_offset = r->offset, .next_offset = r->offset};
	r->done(r, rc);
}

int stor_log_read_start(struct stor_log *log, struct stor_read_op *r)
{
	op_init(log, r);
	if (log->offline) return -EROFS;
	int rc = advance(r);
	if (rc == -EAGAIN && !(rc = submit(r))) return -EINPROGRESS;
	window_put(r);
	if (!rc && copy_start(r)) return -EINPROGRESS;
	return rc;
}

void stor_read_release(struct stor_log *log, struct stor_read *r)
{
	if (!r->seg) return;
	unpin(log, r->seg);
	r->seg = NULL;
}

int stor_log_max_timestamp(const struct stor_log *log, int64_t *offset, int64_t *timestamp)
{
	if (log->leo == log->log_start || log->max_ts < 0) return -ENOENT;
	*offset = log->max_ts_off;
	*timestamp = log->max_ts;
	return 0;
}

/* --- watches -------------------------------------------------------------------------------- */

static void unlink_watch(struct stor_log *log, struct stor_watch *w)
{
	if (w->prev) w->prev->next = w->next;
	else log->watches = w->next;
	if (w->next) w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->armed = false;
}

void stor_log_watch(struct stor_log *log, struct stor_watch *w)
{
	if (log->leo > w->offset) {
		w->armed = false;
		w->fire(w, log->leo);
		return;
	}
	w->prev = NULL;
	w->next = log->watches;
	if (log->watches) log->watches->prev = w;
	log->watches = w;
	w->armed = true;
}

void stor_log_unwatch(struct stor_log *log, struct stor_watch *w)
{
	if (w->armed) unlink_watch(log, w);
}

void stor_watch_fire(struct stor_log *log)
{
	/* Detach the due watches first: a callback may re-arm or cancel others. */
	struct stor_watch *due = NULL, *w = log->watches, *n;
	for (; w; w = n) {
		n = w->next;
		if (log->leo > w->offset) {
			unlink_watch(log, w);
			w->next = due;
			due = w;
		}
	}
	for (w = due; w; w = n) {
		n = w->next;
		w->next = NULL;
		w->fire(w, log->leo);
	}
}
