/*
 * storage/append.c: assigning offsets, stamping batches, writing them with io_uring, rolling
 * segments, and resolving completions in offset order.
 *
 * An append is accepted whole or not at all.  Its bytes are written straight from the caller's
 * buffer at a position reserved at submission, so writes to one segment may complete in any
 * order; stor_append_resolve walks the queue in offset order and only then makes an append
 * visible (LEO, index entries, watches).  The appends accepted in one pass of the owner's loop
 * share one writev, issued at the pass's end (coalesce.c, stor_ring_flush).  When a write fails
 * (ENOSPC, EIO, a short write that cannot be completed) that append and every append queued
 * behind it fail, new appends are refused until the queue drains, and then the tail is cut back
 * to where the failed append began, so the file never holds a hole or bytes whose append was
 * reported failed.  Appends work again from there once the disk does.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/lat_trace.h"
#include "proto/batch.h"
#include "storage/fault.h"
#include "storage/internal.h"

enum { A_INFLIGHT = 1, A_WRITTEN = 2, A_FAILED = 3 };

static void write_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* Writes issued by this thread's logs and not back (a log is only ever driven by one thread). */
static _Thread_local unsigned writes_in_flight;

unsigned stor_append_writes_in_flight(void) { return writes_in_flight; }

void stor_append_write_back(void)
{
	assert(writes_in_flight > 0);
	writes_in_flight--;
}

void stor_append_write_start(struct stor_log *log, struct stor_segment *s)
{
	s->inflight++;
	log->inflight++;
	writes_in_flight++;
}

/* Queues a's write from a->written (f < 0: a NOP that completes with that injected fault
 * instead; STOR_FAULT_SHORT: a part of it) and, with `link`, the fdatasync chained to it
 * (stor_sync_link; the caller asked stor_sync_can_link).  counted: stor_append_write_start was
 * called for it already.  0, or -EBUSY when the ring has no SQE (nothing queued or counted). */
static int write_sqe(struct stor_log *log, struct stor_append *a, int32_t f, bool link, bool counted)
{
	struct io_uring_sqe *sqe = stor_get_sqe(log);
	if (!sqe) return -EBUSY;
	size_t len = a->len - a->written;
	if (f < 0) {
		io_uring_prep_nop(sqe);
		a->fault = f;
	} else if (a->iov) {
		/* Steps the entries past what earlier writes of this append took. */
		for (size_t adv = a->written - a->iov_written; adv;) {
			struct iovec *v = &a->iov[a->iov_at];
			size_t k = adv < v->iov_len ? adv : v->iov_len;
			v->iov_base = (uint8_t *)v->iov_base + k;
			v->iov_len -= k;
			adv -= k;
			if (!v->iov_len) a->iov_at++;
		}
		a->iov_written = a->written;
		unsigned cnt = (unsigned)(a->iovcnt - a->iov_at);
		if (f == STOR_FAULT_SHORT && cnt > 1) cnt /= 2;  /* short: some entries only */
		io_uring_prep_writev(sqe, a->seg->fd, a->iov + a->iov_at, cnt, a->pos + a->written);
	} else {
		if (f == STOR_FAULT_SHORT) len = (len + 1) / 2;
		io_uring_prep_write(sqe, a->seg->fd, a->data + a->written, (unsigned)len, a->pos + a->written);
	}
	io_uring_sqe_set_data(sqe, &a->op);
	if (!counted) stor_append_write_start(log, a->seg);
	log->write_sqes++;
	if (link) {
		sqe->flags |= IOSQE_IO_LINK;
		stor_sync_link(log, a);
	}
	return 0;
}

/* first: the append's first write, from stor_log_append: it joins the log's pass, written with
 * the others of the pass at its end (coalesce.c).  One that does not, and every later write (the
 * rest after a short one, one held for a zero chunk or a roll), is queued now: a durable first
 * write with its own fdatasync when sync.c allows (stor_sync_can_link; nothing else of the log
 * unresolved): chained to the write, it starts in the io_uring worker that did the write, where
 * a plain round would start only once the shard had reaped the write's completion and queued it
 * (a wake-up of the shard and another of a worker). */
static int submit_write(struct stor_log *log, struct stor_append *a, bool first)
{
	int32_t f = stor_fault_check(STOR_FAULT_LOG_WRITE);
	if (first && !f && stor_wc_collect(log, a)) return 0;
	bool link = first && !f && (a->flags & STOR_APPEND_DURABLE) && stor_sync_can_link(log, NULL, 1);
	return write_sqe(log, a, f, link, false);
}

static void fail_append(struct stor_log *log, struct stor_append *a, int err);

int stor_append_issue(struct stor_log *log, struct stor_append *a, bool link, bool counted)
{
	int rc = write_sqe(log, a, 0, link, counted);
	if (rc) {
		if (counted) {
			a->seg->inflight--;
			log->inflight--;
			stor_append_write_back();
		}
		fail_append(log, a, rc);
	}
	return rc;
}

static void fail_append(struct stor_log *log, struct stor_append *a, int err)
{
	a->err = err;
	a->state = A_FAILED;
	if (!log->fail_err) {
		log->fail_err = err;
		stor_logf("%s: write of offsets %" PRId64 "..%" PRId64 " (%zu bytes at position %" PRIu64
		          " of segment %020" PRId64 ") failed: %s; refusing appends until the tail is cut back",
		          log->name, a->base_offset, a->last_offset, a->len, a->pos, a->seg->base, strerror(-err));
	}
}

bool stor_append_wrote(struct stor_log *log, struct stor_append *a, int32_t res)
{
	if (a->fault) {
		res = a->fault;
		a->fault = 0;
	}
	if (res < 0) {
		a->link_seq = 0;
		fail_append(log, a, res);
	} else if (res == 0) {
		a->link_seq = 0;
		fail_append(log, a, -EIO);  /* no progress on a regular file: give up, do not spin */
	} else {
		stor_fault_trace(STOR_TRACE_WRITE_DONE, a->seg->fd, a->pos + a->written, (uint64_t)res);
		a->written += (size_t)res;
		if (a->written < a->len) {
			/* A short write: the kernel took part; ask for the rest (it reports the cause).
			 * A linked fdatasync is cancelled by it: the rest waits for a plain round. */
			stor_append_retry(log, a);
		} else {
			a->state = A_WRITTEN;
			a->lt_written = rt_lt_now();
			return true;
		}
	}
	return false;
}

void stor_append_retry(struct stor_log *log, struct stor_append *a)
{
	a->link_seq = 0;
	int rc = log->fail_err ? log->fail_err : submit_write(log, a, false);
	if (rc) fail_append(log, a, rc);
}

static void write_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_append *a = rt_container_of(op, struct stor_append, op);
	struct stor_log *log = a->seg->log;
	a->seg->inflight--;
	log->inflight--;
	stor_append_write_back();
	if (stor_append_wrote(log, a, res) && a->link_seq) stor_sync_link_written(log, a);
	stor_append_resolve(log);
}

/* Seals segments that stopped being active once all their appends are resolved: the final time
 * index entry, the rest of the index writes, and a background flush that lets the recovery point
 * pass. */
static void seal_rolled(struct stor_log *log)
{
	for (size_t i = 0; i + 1 < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->sealed || s->visible != s->size) continue;
		stor_segment_seal_timeindex(s);
		s->sealed = true;  /* first: the write then also opens what the round will sync */
		stor_segment_write_index_async(s);
		log->flush_wanted = true;
		stor_pa_trim(log, s);
	}
}

/* The tail's files are cut (truncate.c): appends resume. */
static void repaired(struct stor_log *log, void *arg, int rc)
{
	if (rc) {
		stor_log_go_offline(log, "cutting back the tail after a failed write", rc);
		return;
	}
	int err = (int)(intptr_t)arg;
	log->fail_err = 0;
	stor_logf("%s: tail cut back to offset %" PRId64 " after a failed write (%s); appends resume",
	          log->name, log->fail_offset, strerror(-err));
	stor_sync_kick(log);
}

/* Every append behind the failed one is resolved: the tail they were written to is cut back.
 * fail_err keeps rejecting appends until its files are cut (on the file worker). */
static void repair(struct stor_log *log)
{
	size_t i = 0;
	while (i < log->nseg && log->segs[i] != log->fail_seg) i++;
	log->failing = false;
	log->fail_seg = NULL;
	if (i == log->nseg) {
		stor_log_go_offline(log, "cutting back the tail after a failed write", -ENOENT);
		return;
	}
	stor_truncate_at(log, i, log->fail_pos, log->fail_offset, false, repaired,
	                 (void *)(intptr_t)log->fail_err);
}

void stor_append_resolve(struct stor_log *log)
{
	struct stor_append *a;
	bool advanced = false;
	while ((a = log->wq_head) && a->state != A_INFLIGHT) {
		log->wq_head = a->next;
		if (!log->wq_head) log->wq_tail = NULL;
		a->next = NULL;
		if (a->state == A_FAILED || log->failing || log->offline) {
			if (!log->failing && !log->offline) {
				log->failing = true;
				log->fail_seg = a->seg;
				log->fail_pos = a->pos;
				log->fail_offset = a->base_offset;
			}
			int err = log->offline ? -EROFS : a->err ? a->err : log->fail_err;
			a->done(a, err);
			continue;
		}
		struct stor_segment *s = a->seg;
		stor_segment_note_append(s, a->pos, a->len, a->last_offset, a->max_ts, a->max_ts_off,
		                         log->cfg.index_interval_bytes);
		/* Not dirty when its own linked fdatasync, still in flight, covers it. */
		if (!a->link_seq || a->link_seq <= log->round_done) s->dirty = true;
		log->leo = a->last_offset + 1;
		if (a->max_ts > log->max_ts) {
			log->max_ts = a->max_ts;
			log->max_ts_off = a->max_ts_off;
		}
		log->unflushed += a->messages;
		advanced = true;
		if (a->flags & STOR_APPEND_DURABLE) {
			if (log->dq_tail) log->dq_tail->next = a;
			else log->dq_head = a;
			log->dq_tail = a;
		} else {
			a->done(a, 0);
		}
	}
	if (advanced) {
		/* The active segment's index files grow as its entries do, a page of entries per
		 * write: an 8- or 12-byte write per round was an io_uring worker punt of its own (a
		 * third of all punts at 10,000 small appends a second), and nothing reads the files
		 * before the segment seals (reads use memory; an unclean stop rebuilds the last
		 * segment; a clean close writes them whole). */
		struct stor_segment *act = stor_log_active(log);
		if (act && ((act->on - act->on_disk) * 8 >= STOR_INDEX_PAGE ||
		            (act->tn - act->tn_disk) * 12 >= STOR_INDEX_PAGE))
			stor_segment_write_index_async(act);
		seal_rolled(log);
		if (log->unflushed >= log->cfg.flush_messages) log->flush_wanted = true;
		stor_watch_fire(log);
	}
	if (log->failing && !log->wq_head) repair(log);
	stor_sync_kick(log);
}

/* The new active segment at `base`: the spare files (spare.c) when they are ready, so no
 * blocking open on the shard; created here otherwise.  NULL with *err. */
static struct stor_segment *new_segment(struct stor_log *log, int64_t base, int *err)
{
	*err = 0;
	struct stor_segment *s = stor_spare_take(log, base, err);
	bool spare = s != NULL;
	if (!s && !*err) s = stor_segment_create(log, base, err);
	if (!s) {
		stor_logf("%s: cannot create segment %020" PRId64 ": %s", log->name, base, strerror(-*err));
		return NULL;
	}
	if ((*err = stor_log_push_segment(log, s))) {
		stor_segment_unlink(s);
		stor_segment_free(s);
		return NULL;
	}
	stor_recent_reset(log);
	if (!spare && stor_log_dirfd(log) >= 0)
		log->dir_dirty = true;  /* with a spare: once its renames land */
	else if (!spare)
		stor_log_go_offline(log, "opening the partition directory for its sync", -EIO);
	seal_rolled(log);
	return s;
}

int stor_log_roll(struct stor_log *log)
{
	if (log->roll_wait) return -EBUSY;  /* a roll is under way */
	int err;
	struct stor_segment *s = new_segment(log, log->next_offset, &err);
	if (!s) return err;
	if (log->roll_hook) log->roll_hook(log->roll_arg, log, s->base, false);
	stor_sync_kick(log);
	return 0;
}

void stor_roll_resume(struct stor_log *log)
{
	if (!log->roll_wait) return;
	log->roll_wait = false;
	struct stor_segment *old = stor_log_active(log);
	int err = log->offline ? -EROFS : 0;
	struct stor_segment *s = err ? NULL : new_segment(log, log->roll_base, &err);
	bool failed = false;
	for (struct stor_append *a = log->wq_head; a; a = a->next) {
		if (!a->held || a->seg) continue;
		if (!s) {
			/* As if written at the old segment's end and failed: the repair cuts back to it. */
			a->seg = old;
			a->pos = old->size;
			a->held = false;
			fail_append(log, a, err);
			failed = true;
			continue;
		}
		a->seg = s;
		a->pos = s->size;
		s->size += a->len;
		stor_recent_note(log, s, a->pos, a->data, a->len);
		a->held = stor_pa_place(log, a);
		if (a->held) {
			log->pa_held = true;
			continue;
		}
		int rc = submit_write(log, a, false);
		if (rc) {
			fail_append(log, a, rc);
			failed = true;
		}
	}
	if (failed) stor_append_resolve(log);
	stor_pa_kick(log);
	stor_sync_kick(log);
}

/* The CRC of a batch in pieces (stor_append.iov) after its header piece changed. */
static void crc_update_iov(struct stor_append *a)
{
	uint32_t crc = rt_crc32c(0, a->data + KP_BATCH_CRC_START, a->iov[0].iov_len - KP_BATCH_CRC_START);
	for (int i = 1; i < a->iovcnt; i++) crc = rt_crc32c(crc, a->iov[i].iov_base, a->iov[i].iov_len);
	rt_be32_put(a->data + KP_BATCH_OFF_CRC, crc);
}

/* Kafka's LogSegment.shouldRoll: size, a full index, relative offsets that would overflow, or
 * segment.ms measured from the segment's first batch timestamp to the incoming batch's
 * (from the creation time when the segment has no timestamp yet). */
static bool should_roll(const struct stor_log *log, const struct stor_segment *s, size_t len,
                        int64_t last, int64_t max_ts)
{
	if (s->size == 0) return false;
	if (s->size + len > (uint64_t)log->cfg.segment_bytes) return true;
	if (stor_segment_index_full(s)) return true;
	if (last - s->base > INT32_MAX) return true;
	int64_t waited;
	if (s->visible && s->roll_ts >= 0 && s->roll_is_ts) waited = max_ts - s->roll_ts;
	else waited = stor_now_ms() - s->created_ms;
	/* Kafka's LogConfig.maxSegmentMs: a compacted topic also rolls at max.compaction.lag.ms,
	 * since the active segment is never cleaned. */
	int64_t max_ms = log->cfg.segment_ms;
	if ((log->cfg.cleanup_policy & STOR_CLEANUP_COMPACT) && log->cfg.max_compaction_lag_ms < max_ms)
		max_ms = log->cfg.max_compaction_lag_ms;
	return waited > max_ms;
}

int stor_log_append(struct stor_log *log, struct stor_append *a, const struct kp_records_info *info)
{
	if (log->offline) return -EROFS;
	if (log->fail_err) return log->fail_err;
	if (log->holds) return -EAGAIN;
	if (!a->len || !a->done) return -EINVAL;
	if (a->len > (uint64_t)log->cfg.segment_bytes) return -EMSGSIZE;
	if (a->iov) {
		/* One batch whose header lies whole in the first piece. */
		size_t tot = 0;
		for (int i = 0; i < a->iovcnt; i++) tot += a->iov[i].iov_len;
		if (a->iovcnt < 1 || a->iov[0].iov_base != a->data || a->iov[0].iov_len < KP_BATCH_HEADER_SIZE ||
		    tot != a->len || kp_batch_size(a->data, a->iov[0].iov_len) != a->len)
			return -EINVAL;
	}

	/* Frame check first so that a refused append leaves the caller's bytes untouched. */
	int64_t count = 0, in_max_ts = -1;
	for (size_t p = 0; p < a->len;) {
		size_t sz = kp_batch_size(a->data + p, a->len - p);
		struct kp_batch_hdr h;
		if (sz < KP_BATCH_HEADER_SIZE || sz > a->len - p) return -EBADMSG;
		/* with iov only the header is at data: parse reads no further than that */
		if (kp_batch_hdr_parse(a->data + p, sz, &h) || h.last_offset_delta < 0) return -EBADMSG;
		count += (int64_t)h.last_offset_delta + 1;
		if (h.max_timestamp > in_max_ts) in_max_ts = h.max_timestamp;
		p += sz;
	}
	int64_t now = log->cfg.timestamp_type == STOR_TS_LOG_APPEND_TIME ? stor_now_ms() : -1;
	if (now >= 0) in_max_ts = now;

	/* More than a segment's worth waiting for the spares: stop waiting (blocking create). */
	if (log->roll_wait && log->roll_wait_bytes + a->len > (uint64_t)log->cfg.segment_bytes)
		stor_roll_resume(log);
	struct stor_segment *s = stor_log_active(log);
	if (!log->roll_wait && should_roll(log, s, a->len, log->next_offset + count - 1, in_max_ts)) {
		/* Spares not ready yet (the previous roll's renames or the new opens in flight): the
		 * roll waits for them rather than opening files here; the roll hook sees the roll now,
		 * while every offset below it is assigned and none above. */
		if (!stor_spare_ready(log) && !log->spare_failed && !log->offline) stor_spare_prepare(log);
		if (!stor_spare_ready(log) && (log->spare_opening || log->spare_renaming)) {
			log->roll_wait = true;
			log->roll_base = log->next_offset;
			log->roll_wait_bytes = 0;
			if (log->roll_hook) log->roll_hook(log->roll_arg, log, log->roll_base, false);
		} else {
			int rc = stor_log_roll(log);
			if (rc) return rc;
			s = stor_log_active(log);
		}
	}

	int64_t off = log->next_offset;
	a->max_ts = -1;
	a->max_ts_off = off;
	for (size_t p = 0; p < a->len;) {
		uint8_t *b = a->data + p;
		size_t sz = kp_batch_size(b, a->len - p);
		int32_t lod = (int32_t)rt_be32_get(b + KP_BATCH_OFF_LAST_OFFSET_DELTA);
		int64_t bts;
		kp_batch_stamp(b, off, log->epoch);
		if (now >= 0) {
			uint16_t attr = rt_be16_get(b + KP_BATCH_OFF_ATTRIBUTES);
			rt_be16_put(b + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)(attr | KP_ATTR_LOG_APPEND_TIME));
			rt_be64_put(b + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)now);
			if (a->iov) crc_update_iov(a);
			else kp_batch_crc_update(b, sz);
			bts = now;
		} else {
			bts = (int64_t)rt_be64_get(b + KP_BATCH_OFF_MAX_TIMESTAMP);
		}
		int64_t last = off + lod;
		if (bts > a->max_ts) {
			a->max_ts = bts;
			a->max_ts_off = last;
		}
		off = last + 1;
		p += sz;
	}
	a->base_offset = log->next_offset;
	a->last_offset = off - 1;
	a->log_append_time = now;
	a->messages = info && info->records > 0 ? info->records : count;
	a->seg = s;
	a->pos = s->size;
	a->written = 0;
	a->err = 0;
	a->fault = 0;
	a->link_seq = 0;
	a->next = NULL;
	a->op.cb = write_cb;
	a->state = A_INFLIGHT;
	a->seq = ++log->append_seq;
	a->iov_at = 0;
	a->iov_written = 0;
	int rc = 0;
	if (log->roll_wait) {
		/* Waits for its segment (stor_roll_resume places and writes it). */
		a->seg = NULL;
		a->pos = 0;
		a->held = true;
		log->roll_wait_bytes += a->len;
	} else {
		/* Bytes that overlap a zero chunk still in flight wait for it (prealloc.c). */
		a->held = stor_pa_place(log, a);
		rc = a->held ? 0 : submit_write(log, a, true);
		if (rc) return rc;
		if (a->held) log->pa_held = true;
		s->size += a->len;
		stor_recent_note(log, s, a->pos, a->data, a->len);
		/* The next segment's files are made ahead once this one is half way to its roll
		 * (spare.c), so a roll, the first of the log's life too, needs no blocking open. */
		stor_spare_prepare_due(log);
	}
	log->next_offset = off;
	if (log->wq_tail) log->wq_tail->next = a;
	else log->wq_head = a;
	log->wq_tail = a;
	stor_pa_kick(log);
	return 0;
}

void stor_append_release_held(struct stor_log *log)
{
	bool failed = false;
	for (struct stor_append *a = log->wq_head; a; a = a->next) {
		if (!a->held || !a->seg) continue;  /* no segment yet: waits for a roll */
		a->held = false;
		int rc = submit_write(log, a, false);
		if (rc) {
			fail_append(log, a, rc);
			failed = true;
		}
	}
	if (failed) stor_append_resolve(log);
}
