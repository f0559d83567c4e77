/*
 * storage/read_time.c: ListOffsets by timestamp, the first offset whose record timestamp is at
 * or after a given one (Kafka's fetchOffsetByTimestamp).
 *
 * The search visits the segments whose largest timestamp reaches ts, in offset order.  In each
 * it starts at the batch the time index names (the index entry holds a batch's last offset, so
 * the offset index is asked for the entry before it), walks batch headers forward and, in the
 * first batch whose max timestamp reaches ts, decodes the records to find the first one that
 * does (a LogAppendTime batch: all its records carry the max timestamp, so its base offset).
 * A batch that holds no such record after all (timestamps are not ordered within a segment)
 * sends the walk on.
 *
 * One search serves two drivers, as read.c's walk does: its step stops with -EAGAIN whenever
 * the bytes it needs are not in its buffer.  stor_log_offset_for_time fills the buffer with
 * pread (start-up, tests); stor_log_offset_for_time_start queues an io_uring read on the owner's
 * ring and goes on from the completion, so a page-cache miss never blocks the shard.
 * Invariants: the search takes a segment's visible size once, when it enters it, and never
 * looks past it; the segment whose read is in flight is pinned (refs) so retention cannot
 * close its descriptor under the read; the next segment is found by base offset, so segments
 * leaving the log meanwhile (retention, compaction) are simply not visited.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "proto/batch.h"
#include "storage/internal.h"

/* The least a read asks for: a batch header is 61 bytes, but the next headers usually follow. */
#define T_WINDOW 4096u

/* True when the buffer holds file bytes [pos, pos + n). */
static bool have(const struct stor_time_op *t, uint64_t pos, uint64_t n)
{
	return t->blen && pos >= t->bpos && pos + n <= t->bpos + t->blen;
}

static int need(struct stor_time_op *t, uint64_t pos, uint64_t n)
{
	t->rpos = pos;
	t->rlen = n;
	return -EAGAIN;
}

/* The first record with timestamp >= ts in the whole batch b. */
static int search_batch(const uint8_t *b, uint64_t size, int64_t ts, int64_t *offset, int64_t *found)
{
	struct rt_arena arena;
	rt_arena_init(&arena, 0, 0);
	struct kp_batch_iter it;
	int rc = kp_batch_iter_init(&it, b, size, &arena, 0);
	if (!rc) {
		rc = -ENOENT;
		if (it.hdr.attributes & KP_ATTR_LOG_APPEND_TIME) {
			if (it.hdr.max_timestamp >= ts) {
				*offset = it.hdr.base_offset;
				*found = it.hdr.max_timestamp;
				rc = 0;
			}
		} else {
			struct kp_record rec;
			int n;
			while ((n = kp_batch_iter_next(&it, &rec)) == 1) {
				int64_t tr = it.hdr.base_timestamp + rec.timestamp_delta;
				if (tr >= ts) {
					*offset = it.hdr.base_offset + rec.offset_delta;
					*found = tr;
					rc = 0;
					break;
				}
			}
			if (n < 0) rc = n;
		}
	}
	rt_arena_fini(&arena);
	return rc;
}

/* The next segment to search: the first after base `after` whose timestamps reach ts. */
static struct stor_segment *next_segment(const struct stor_log *log, int64_t after, int64_t ts)
{
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->base > after && s->max_ts >= ts && s->visible) return s;
	}
	return NULL;
}

/* Runs the search as far as the buffer allows.  0 (t->offset, t->timestamp set), -ENOENT,
 * -EAGAIN (read [rpos, rpos + rlen) of t->seg first), or -errno. */
static int search(struct stor_time_op *t)
{
	struct stor_log *log = t->log;
	for (;;) {
		if (!t->seg) {
			struct stor_segment *s = next_segment(log, t->after, t->ts);
			if (!s) return -ENOENT;
			t->seg = s;
			t->after = s->base;
			t->limit = s->visible;
			t->blen = 0;
			int64_t from = stor_segment_lookup_time(s, t->ts);
			/* The time index entry names the batch's last offset; the batch may start earlier. */
			t->pos = stor_segment_lookup(s, from > s->base ? from - 1 : from);
		}
		uint64_t pos = t->pos;
		if (pos + KP_BATCH_LOG_OVERHEAD > t->limit) {
			t->seg = NULL;
			continue;
		}
		uint64_t hn = t->limit - pos < KP_BATCH_HEADER_SIZE ? t->limit - pos : KP_BATCH_HEADER_SIZE;
		if (!have(t, pos, hn)) return need(t, pos, hn);
		struct stor_bhdr h;
		int rc = stor_bhdr_parse(t->buf + (pos - t->bpos), (size_t)hn, pos, t->limit, &h);
		if (rc) return rc;
		if (h.max_ts >= t->ts && h.last >= log->log_start) {
			if (!have(t, pos, h.size)) return need(t, pos, h.size);
			rc = search_batch(t->buf + (pos - t->bpos), h.size, t->ts, &t->offset, &t->timestamp);
			if (!rc) {
				if (t->offset < log->log_start) t->offset = log->log_start;
				return 0;
			}
			if (rc != -ENOENT) return rc;
		}
		t->pos = pos + h.size;
	}
}

/* Makes room for the read search() asked for and says where it goes: the buffer keeps what it
 * holds when that starts at rpos (a short read is continued), else starts over at rpos.
 * *len gets the bytes to read at file position *at into t->buf + t->blen. */
static int prepare_read(struct stor_time_op *t, uint64_t *at, uint32_t *len)
{
	if (t->bpos != t->rpos) t->blen = 0;
	t->bpos = t->rpos;
	uint64_t want = t->rlen > T_WINDOW ? t->rlen : T_WINDOW;
	if (want > t->limit - t->rpos) want = t->limit - t->rpos;
	if (want > UINT32_MAX) return -EFBIG;
	if (want > t->cap) {
		uint8_t *nb = realloc(t->buf, want);
		if (!nb) return -ENOMEM;
		t->buf = nb;
		t->cap = want;
	}
	*at = t->bpos + t->blen;
	*len = (uint32_t)(want - t->blen);
	return 0;
}

static void op_init(struct stor_log *log, struct stor_time_op *t)
{
	t->log = log;
	t->seg = NULL;
	t->after = INT64_MIN;
	t->buf = NULL;
	t->cap = 0;
	t->blen = 0;
	t->bpos = 0;
	t->offset = -1;
	t->timestamp = -1;
}

int stor_log_offset_for_time(struct stor_log *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
	struct stor_time_op t = {.ts = ts};
	op_init(log, &t);
	int rc;
	while ((rc = search(&t)) == -EAGAIN) {
		uint64_t at;
		uint32_t len;
		if ((rc = prepare_read(&t, &at, &len))) break;
		ssize_t n;
		do n = pread(t.seg->fd, t.buf + t.blen, len, (off_t)at);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;  /* shorter than its visible size: not a log we wrote */
			break;
		}
		t.blen += (uint32_t)n;
	}
	free(t.buf);
	if (!rc) {
		*offset = t.offset;
		*timestamp = t.timestamp;
	}
	return rc;
}

/* --- the asynchronous driver ---------------------------------------------------------------- */

static void time_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

/* Queues the read search() asked for, pinning t->seg until its completion. */
static int submit(struct stor_time_op *t)
{
	uint64_t at;
	uint32_t len;
	int rc = prepare_read(t, &at, &len);
	if (rc) return rc;
	struct io_uring_sqe *sqe = stor_get_sqe(t->log);
	if (!sqe) return -EBUSY;
	io_uring_prep_read(sqe, t->seg->fd, t->buf + t->blen, len, at);
	t->op.cb = time_cb;
	io_uring_sqe_set_data(sqe, &t->op);
	t->seg->refs++;
	t->log->inflight++;
	return 0;
}

static void unpin(struct stor_log *log, struct stor_segment *s)
{
	s->refs--;
	if (s->deleted && !s->refs) stor_reap(log);
}

static void time_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_time_op *t = rt_container_of(op, struct stor_time_op, op);
	struct stor_log *log = t->log;
	struct stor_segment *was = t->seg;
	log->inflight--;
	int rc = res < 0 ? res : res == 0 ? -EIO : 0;
	if (!rc) {
		t->blen += (uint32_t)res;
		rc = search(t);
		if (rc == -EAGAIN && !(rc = submit(t))) {
			unpin(log, was);  /* the new read pinned its own segment (maybe `was`) */
			return;
		}
	}
	unpin(log, was);
	free(t->buf);
	t->buf = NULL;
	t->done(t, rc);
}

int stor_log_offset_for_time_start(struct stor_log *log, struct stor_time_op *t)
{
	op_init(log, t);
	int rc = search(t);
	if (rc == -EAGAIN && !(rc = submit(t))) return -EINPROGRESS;
	free(t->buf);
	t->buf = NULL;
	return rc;
}
