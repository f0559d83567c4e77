/*
 * storage/read.c: mapping offsets and timestamps to file ranges, pins, and fetch wake-ups.
 *
 * A read never looks past a segment's visible size (bytes whose appends resolved), so it never
 * returns a batch whose write failed or is still in flight.  Batch boundaries come from the
 * offset index (binary search) and a short forward walk over batch headers (pread of 61 bytes
 * each, from the page cache in the steady state).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/arena.h"
#include "proto/batch.h"
#include "storage/internal.h"

/* First batch in s at or after pos whose last offset is >= target.  0 with *h and *at, or
 * -ENODATA when none is below `limit`, or -errno. */
static int find_batch(const struct stor_segment *s, uint64_t pos, uint64_t limit, int64_t target,
                      struct stor_bhdr *h, uint64_t *at)
{
	for (;;) {
		int rc = stor_segment_read_hdr(s, pos, limit, h);
		if (rc) return rc == -ENODATA ? rc : rc;
		if (h->last >= target) {
			*at = pos;
			return 0;
		}
		pos += h->size;
	}
}

int stor_log_read(struct stor_log *log, int64_t offset, uint32_t max_bytes, int64_t max_offset,
                  bool min_one, struct stor_read *out)
{
	*out = (struct stor_read){.fd = -1, .first_offset = offset, .next_offset = offset};
	if (offset < log->log_start || offset > log->leo) return -ERANGE;
	if (max_offset > log->leo) max_offset = log->leo;
	if (offset >= max_offset) return 0;
	ssize_t i = stor_log_find_segment(log, offset);
	if (i < 0) i = 0;
	for (; (size_t)i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		uint64_t limit = s->visible;
		struct stor_bhdr h;
		uint64_t start;
		int rc = find_batch(s, stor_segment_lookup(s, offset), limit, offset, &h, &start);
		if (rc == -ENODATA) continue;
		if (rc) return rc;
		if (h.base >= max_offset) return 0;
		/* The range ends before the batch that holds max_offset (HW or LSO). */
		uint64_t end_lim = limit;
		if (max_offset < s->end_offset) {
			struct stor_bhdr mh;
			uint64_t mpos;
			uint64_t from = stor_segment_lookup(s, max_offset);
			if (from < start) from = start;
			rc = find_batch(s, from, limit, max_offset, &mh, &mpos);
			if (rc && rc != -ENODATA) return rc;
			if (!rc) end_lim = mpos;
		}
		uint64_t want = end_lim - start > max_bytes ? start + max_bytes : end_lim;
		/* Last whole batch that ends at or before `want`: jump through the index, then walk. */
		uint64_t p = stor_segment_lookup_pos(s, want);
		if (p < start) p = start;
		uint64_t end = p;
		for (;;) {
			struct stor_bhdr bh;
			rc = stor_segment_read_hdr(s, end, end_lim, &bh);
			if (rc == -ENODATA) break;
			if (rc) return rc;
			if (end + bh.size > want) break;
			end += bh.size;
		}
		if (end == start) {
			if (!min_one || start + h.size > end_lim) return 0;
			end = start + h.size;
		}
		out->fd = s->fd;
		out->pos = start;
		out->len = (uint32_t)(end - start);
		out->first_offset = h.base;
		struct stor_bhdr nh;
		if (end < limit && !stor_segment_read_hdr(s, end, limit, &nh)) out->next_offset = nh.base;
		else out->next_offset = s->end_offset;
		out->seg = s;
		s->refs++;
		return 0;
	}
	return 0;
}

void stor_read_release(struct stor_log *log, struct stor_read *r)
{
	if (!r->seg) return;
	r->seg->refs--;
	if (r->seg->deleted && !r->seg->refs) stor_reap(log);
	r->seg = NULL;
}

/* The first record with timestamp >= ts in the batch at pos, reading it whole. */
static int search_batch(const struct stor_segment *s, uint64_t pos, uint64_t size, int64_t ts,
                        int64_t *offset, int64_t *found)
{
	uint8_t *buf = malloc(size);
	if (!buf) return -ENOMEM;
	int rc = 0;
	size_t got = 0;
	while (got < size) {
		ssize_t r = pread(s->fd, buf + got, size - got, (off_t)(pos + got));
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EBADMSG;
			break;
		}
		got += (size_t)r;
	}
	struct rt_arena arena;
	rt_arena_init(&arena, 0, 0);
	struct kp_batch_iter it;
	if (!rc) rc = kp_batch_iter_init(&it, buf, size, &arena, 0);
	if (!rc) {
		rc = -ENOENT;
		if (it.hdr.attributes & KP_ATTR_LOG_APPEND_TIME) {
			/* Every record of a LogAppendTime batch carries the batch's max timestamp. */
			if (it.hdr.max_timestamp >= ts) {
				*offset = it.hdr.base_offset;
				*found = it.hdr.max_timestamp;
				rc = 0;
			}
		} else {
			struct kp_record rec;
			int n;
			while ((n = kp_batch_iter_next(&it, &rec)) == 1) {
				int64_t t = it.hdr.base_timestamp + rec.timestamp_delta;
				if (t >= ts) {
					*offset = it.hdr.base_offset + rec.offset_delta;
					*found = t;
					rc = 0;
					break;
				}
			}
			if (n < 0) rc = n;
		}
	}
	rt_arena_fini(&arena);
	free(buf);
	return rc;
}

int stor_log_offset_for_time(struct stor_log *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->max_ts < ts || !s->visible) continue;
		int64_t from = stor_segment_lookup_time(s, ts);
		uint64_t pos = stor_segment_lookup(s, from);
		/* The time index entry names the batch's last offset; the batch may start earlier. */
		if (from > s->base) pos = stor_segment_lookup(s, from - 1);
		for (;;) {
			struct stor_bhdr h;
			int rc = stor_segment_read_hdr(s, pos, s->visible, &h);
			if (rc == -ENODATA) break;
			if (rc) return rc;
			if (h.max_ts >= ts && h.last >= log->log_start) {
				rc = search_batch(s, pos, h.size, ts, offset, timestamp);
				if (!rc) {
					if (*offset < log->log_start) *offset = log->log_start;
					return 0;
				}
				if (rc != -ENOENT) return rc;
			}
			pos += h.size;
		}
	}
	return -ENOENT;
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
