/*
 * storage/segment.c: one segment's three files and its two indexes.
 *
 *   <base>.log        batches, exactly as on the wire
 *   <base>.index      entries of 8 bytes: int32 offset - base, int32 file position of the append
 *                     whose last offset that is (Kafka's LogSegment rule: an entry once more than
 *                     index.interval.bytes were appended since the previous one)
 *   <base>.timeindex  entries of 12 bytes: int64 max timestamp so far, int32 (offset of the batch
 *                     that carries it) - base; only when the timestamp grows
 *   <base>.txnindex   aborted transactions whose marker is in the segment (aborted.c)
 *
 * Both indexes live in memory in their on-disk byte order, in anonymous mappings reserved for
 * segment.index.bytes (pages are only touched as entries are added), so an io_uring write from
 * them never sees the memory move.  The active segment's files grow a page of entries at a
 * time, the rest is written when it seals (and at close).  They are derived data: recovery
 * rebuilds them from the log whenever they are missing or do not check out, and always for the
 * last segment after an unclean stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/fault.h"
#include "storage/internal.h"

void stor_segment_name(char *out, size_t n, int64_t base, const char *ext)
{
	snprintf(out, n, "%020" PRId64 ".%s", base, ext);
}

static void idx_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

struct stor_segment *stor_segment_alloc(struct stor_log *log, int64_t base, int64_t ib)
{
	struct stor_segment *s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->log = log;
	s->base = base;
	s->fd = s->ifd = s->tfd = -1;
	s->end_offset = base;
	s->max_ts = -1;
	s->max_ts_off = base;
	s->roll_ts = -1;
	s->created_ms = stor_now_ms();
	s->ocap = (size_t)(ib / STOR_OFF_ENTRY);
	s->tcap = (size_t)(ib / STOR_TIME_ENTRY);
	if (s->ocap < 1) s->ocap = 1;
	if (s->tcap < 1) s->tcap = 1;
	s->oidx = mmap(NULL, s->ocap * STOR_OFF_ENTRY, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->tidx = mmap(NULL, s->tcap * STOR_TIME_ENTRY, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->oidx == MAP_FAILED || s->tidx == MAP_FAILED) {
		if (s->oidx != MAP_FAILED) munmap(s->oidx, s->ocap * STOR_OFF_ENTRY);
		if (s->tidx != MAP_FAILED) munmap(s->tidx, s->tcap * STOR_TIME_ENTRY);
		free(s);
		return NULL;
	}
	s->idx_op.cb = idx_cb;
	return s;
}

static int open_files(struct stor_segment *s, int flags)
{
	char name[48];
	int dfd = stor_log_dirfd(s->log);
	if (dfd < 0) return dfd;
	stor_segment_aux_note(s);
	stor_segment_name(name, sizeof name, s->base, "log");
	s->fd = openat(dfd, name, O_RDWR | O_CLOEXEC | flags, 0644);
	if (s->fd < 0) return -errno;
	stor_segment_name(name, sizeof name, s->base, "index");
	s->ifd = openat(dfd, name, O_RDWR | O_CLOEXEC | (flags & O_TRUNC), 0644);
	if (s->ifd < 0 && errno == ENOENT) {
		s->idx_missing = true;
		s->ifd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_CREAT, 0644);
	}
	if (s->ifd < 0) return -errno;
	stor_segment_name(name, sizeof name, s->base, "timeindex");
	s->tfd = openat(dfd, name, O_RDWR | O_CLOEXEC | (flags & O_TRUNC), 0644);
	if (s->tfd < 0 && errno == ENOENT) {
		s->idx_missing = true;
		s->tfd = openat(dfd, name, O_RDWR | O_CLOEXEC | O_CREAT, 0644);
	}
	if (s->tfd < 0) return -errno;
	return 0;
}

struct stor_segment *stor_segment_new(struct stor_log *log, int64_t base, int *err)
{
	int32_t f = stor_fault_check(STOR_FAULT_SEG_CREATE);
	if (f < 0) {
		*err = f;
		return NULL;
	}
	struct stor_segment *s = stor_segment_alloc(log, base, log->cfg.segment_index_bytes);
	if (!s) *err = -ENOMEM;
	return s;
}

struct stor_segment *stor_segment_create(struct stor_log *log, int64_t base, int *err)
{
	struct stor_segment *s = stor_segment_new(log, base, err);
	if (!s) return NULL;
	int rc = open_files(s, O_CREAT | O_TRUNC);
	s->idx_missing = false;
	if (!rc) rc = stor_segment_txn_open(s, true);
	if (rc) {
		stor_segment_unlink(s);
		stor_segment_free(s);
		*err = rc;
		return NULL;
	}
	return s;
}

struct stor_segment *stor_segment_open(struct stor_log *log, int64_t base, int *err)
{
	struct stor_segment *s = stor_segment_alloc(log, base, log->cfg.segment_index_bytes);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	int rc = open_files(s, 0);
	if (!rc) rc = stor_segment_txn_open(s, false);
	if (rc) {
		stor_segment_free(s);
		*err = rc;
		return NULL;
	}
	return s;
}

void stor_segment_free(struct stor_segment *s)
{
	if (!s) return;
	if (s->fd >= 0) close(s->fd);
	if (s->ifd >= 0) close(s->ifd);
	if (s->tfd >= 0) close(s->tfd);
	stor_segment_txn_close(s);
	munmap(s->oidx, s->ocap * STOR_OFF_ENTRY);
	munmap(s->tidx, s->tcap * STOR_TIME_ENTRY);
	free(s);
}

void stor_segment_free_async(struct stor_segment *s)
{
	if (!s) return;
	stor_close_async(s->log, s->fd);
	stor_close_async(s->log, s->ifd);
	stor_close_async(s->log, s->tfd);
	if (s->txn) stor_close_async(s->log, stor_txnidx_release(s->txn));
	s->txn = NULL;
	s->fd = s->ifd = s->tfd = -1;
	stor_segment_free(s);
}

void stor_segment_unlink(struct stor_segment *s)
{
	static const char *const ext[] = {"log", "index", "timeindex", "txnindex"};
	char name[48];
	for (int i = 0; i < 4; i++) {
		stor_segment_name(name, sizeof name, s->base, ext[i]);
		char *p = stor_log_file_path(s->log, name);
		if (p) unlink(p);
		free(p);
	}
}

/* --- in-memory index ------------------------------------------------------------------------ */

static inline uint32_t o_rel(const struct stor_segment *s, size_t i) { return rt_be32_get(s->oidx + i * 8); }
static inline uint32_t o_pos(const struct stor_segment *s, size_t i) { return rt_be32_get(s->oidx + i * 8 + 4); }
static inline int64_t t_ts(const struct stor_segment *s, size_t i) { return (int64_t)rt_be64_get(s->tidx + i * 12); }
static inline uint32_t t_rel(const struct stor_segment *s, size_t i) { return rt_be32_get(s->tidx + i * 12 + 8); }

static void time_maybe_append(struct stor_segment *s, int64_t ts, int64_t off, bool skip_full)
{
	if (!skip_full && s->tn >= s->tcap) return;
	if (s->tn >= s->tcap) return;
	if (s->tn && ts <= t_ts(s, s->tn - 1)) return;
	if (ts < 0) return;
	rt_be64_put(s->tidx + s->tn * 12, (uint64_t)ts);
	rt_be32_put(s->tidx + s->tn * 12 + 8, (uint32_t)(off - s->base));
	s->tn++;
}

void stor_segment_note_append(struct stor_segment *s, uint64_t pos, uint64_t bytes, int64_t last,
                              int64_t max_ts, int64_t max_ts_off, int64_t interval)
{
	if (max_ts > s->max_ts) {
		s->max_ts = max_ts;
		s->max_ts_off = max_ts_off;
	}
	if (s->visible == 0) {
		s->roll_ts = max_ts;
		s->roll_is_ts = max_ts >= 0;
	}
	if (s->since_index > (uint64_t)interval && s->on < s->ocap) {
		rt_be32_put(s->oidx + s->on * 8, (uint32_t)(last - s->base));
		rt_be32_put(s->oidx + s->on * 8 + 4, (uint32_t)pos);
		s->on++;
		time_maybe_append(s, s->max_ts, s->max_ts_off, false);
		s->since_index = 0;
	}
	s->since_index += bytes;
	s->visible = pos + bytes;
	s->end_offset = last + 1;
}

void stor_segment_seal_timeindex(struct stor_segment *s)
{
	if (s->max_ts >= 0) time_maybe_append(s, s->max_ts, s->max_ts_off, true);
}

bool stor_segment_index_full(const struct stor_segment *s)
{
	return s->on >= s->ocap || s->tn >= s->tcap;
}

uint64_t stor_segment_lookup(const struct stor_segment *s, int64_t target)
{
	if (target < s->base) return 0;
	int64_t rel = target - s->base;
	size_t lo = 0, hi = s->on;  /* find the last entry with rel <= target */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((int64_t)o_rel(s, mid) <= rel) lo = mid + 1;
		else hi = mid;
	}
	return lo ? o_pos(s, lo - 1) : 0;
}

uint64_t stor_segment_lookup_pos(const struct stor_segment *s, uint64_t pos)
{
	size_t lo = 0, hi = s->on;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o_pos(s, mid) <= pos) lo = mid + 1;
		else hi = mid;
	}
	return lo ? o_pos(s, lo - 1) : 0;
}

int64_t stor_segment_lookup_time(const struct stor_segment *s, int64_t ts)
{
	size_t lo = 0, hi = s->tn;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t_ts(s, mid) <= ts) lo = mid + 1;
		else hi = mid;
	}
	return lo ? s->base + t_rel(s, lo - 1) : s->base;
}

void stor_segment_trim_index_mem(struct stor_segment *s, uint64_t pos, int64_t offset)
{
	while (s->on && (o_pos(s, s->on - 1) >= pos || s->base + o_rel(s, s->on - 1) >= offset)) s->on--;
	while (s->tn && s->base + t_rel(s, s->tn - 1) >= offset) s->tn--;
	if (s->on_disk > s->on) s->on_disk = s->on;
	if (s->tn_disk > s->tn) s->tn_disk = s->tn;
	/* An index write still in flight may land after the truncation: rewrite before trusting. */
	if (s->idx_inflight) s->idx_bad = true;
	s->since_index = 0;
}

void stor_segment_trim_index(struct stor_segment *s, uint64_t pos, int64_t offset)
{
	stor_segment_trim_index_mem(s, pos, offset);
	if (stor_segment_aux_open_sync(s) || ftruncate(s->ifd, (off_t)(s->on_disk * 8)) || ftruncate(s->tfd, (off_t)(s->tn_disk * 12)))
		s->idx_bad = true;
}

void stor_segment_reset_index(struct stor_segment *s)
{
	s->on = s->on_disk = 0;
	s->tn = s->tn_disk = 0;
	s->since_index = 0;
	s->max_ts = -1;
	s->max_ts_off = s->base;
	s->visible = 0;
	s->end_offset = s->base;
	if (stor_segment_aux_open_sync(s) || ftruncate(s->ifd, 0) || ftruncate(s->tfd, 0)) s->idx_bad = true;
}

/* --- loading and checking index files -------------------------------------------------------- */

static int read_all(int fd, uint8_t *dst, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, dst + got, n - got, (off_t)got);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		if (r == 0) return -EBADMSG;
		got += (size_t)r;
	}
	return 0;
}

int stor_segment_load_index(struct stor_segment *s, uint64_t log_size)
{
	struct stat oi, ti;
	if (fstat(s->ifd, &oi) || fstat(s->tfd, &ti)) return -errno;
	/* Kafka's sanity checks: whole entries, within capacity. */
	if (oi.st_size % STOR_OFF_ENTRY || ti.st_size % STOR_TIME_ENTRY) return -EBADMSG;
	size_t on = (size_t)oi.st_size / STOR_OFF_ENTRY, tn = (size_t)ti.st_size / STOR_TIME_ENTRY;
	if (on > s->ocap || tn > s->tcap) return -EBADMSG;
	if (s->idx_missing) return -EBADMSG;
	int rc = read_all(s->ifd, s->oidx, on * STOR_OFF_ENTRY);
	if (!rc) rc = read_all(s->tfd, s->tidx, tn * STOR_TIME_ENTRY);
	if (rc) return rc;
	s->on = s->on_disk = on;
	s->tn = s->tn_disk = tn;
	for (size_t i = 0; i < on; i++) {
		if (o_pos(s, i) >= log_size) return -EBADMSG;
		if (i && (o_rel(s, i) <= o_rel(s, i - 1) || o_pos(s, i) <= o_pos(s, i - 1))) return -EBADMSG;
		if (o_rel(s, i) > INT32_MAX) return -EBADMSG;
	}
	for (size_t i = 0; i < tn; i++) {
		if (t_rel(s, i) > INT32_MAX) return -EBADMSG;
		if (i && (t_ts(s, i) <= t_ts(s, i - 1) || t_rel(s, i) < t_rel(s, i - 1))) return -EBADMSG;
	}
	/* Every entry must point at a batch whose offsets match it; checking the last one catches
	 * an index from another log or a shifted file at the cost of one header read. */
	if (on) {
		struct stor_bhdr h;
		int e = stor_segment_read_hdr(s, o_pos(s, on - 1), log_size, &h);
		if (e || h.base > s->base + (int64_t)o_rel(s, on - 1)) return -EBADMSG;
	}
	return 0;
}

int stor_segment_read_hdr(const struct stor_segment *s, uint64_t pos, uint64_t limit,
                          struct stor_bhdr *h)
{
	uint8_t b[KP_BATCH_HEADER_SIZE];
	if (pos + KP_BATCH_LOG_OVERHEAD > limit) return -ENODATA;
	size_t want = limit - pos < sizeof b ? (size_t)(limit - pos) : sizeof b;
	ssize_t r;
	do r = pread(s->fd, b, want, (off_t)pos);
	while (r < 0 && errno == EINTR);
	if (r < 0) return -errno;
	return stor_bhdr_parse(b, (size_t)r, pos, limit, h);
}

int stor_bhdr_parse(const uint8_t *b, size_t n, uint64_t pos, uint64_t limit, struct stor_bhdr *h)
{
	if (n < KP_BATCH_HEADER_SIZE) return -EBADMSG;
	struct kp_batch_hdr hd;
	if (kp_batch_hdr_peek(b, n, &hd)) return -EBADMSG;
	int64_t size = (int64_t)hd.batch_length + KP_BATCH_LOG_OVERHEAD;
	if (hd.last_offset_delta < 0) return -EBADMSG;
	if (pos + (uint64_t)size > limit) return -EBADMSG;
	h->base = hd.base_offset;
	h->last = hd.base_offset + hd.last_offset_delta;
	h->size = (uint64_t)size;
	h->max_ts = hd.max_timestamp;
	return 0;
}

/* --- writing index files ----------------------------------------------------------------------- */

static void idx_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_segment *s = rt_container_of(op, struct stor_segment, idx_op);
	struct stor_log *log = s->log;
	s->inflight--;
	s->idx_inflight--;
	log->inflight--;
	if (res < 0) {
		if (!s->idx_bad)
			stor_logf("%s: index write for segment %020" PRId64 " failed (%s); the index is "
			          "rewritten before it is trusted again", log->name, s->base, strerror(-res));
		s->idx_bad = true;
	}
	if (!s->idx_inflight && s != stor_log_active(log) && !s->deleted) {
		log->flush_wanted = true;
		stor_sync_kick(log);
	}
	stor_log_fds_release(log, false);
	if (s->deleted) stor_reap(log);
}

static int queue_write(struct stor_segment *s, int fd, const uint8_t *p, size_t len, uint64_t off)
{
	struct io_uring_sqe *sqe = stor_get_sqe(s->log);
	if (!sqe) return -EBUSY;
	io_uring_prep_write(sqe, fd, p, (unsigned)len, off);
	io_uring_sqe_set_data(sqe, &s->idx_op);
	s->inflight++;
	s->idx_inflight++;
	s->log->inflight++;
	return 0;
}

/* Queues the writes of the entries not yet written; the descriptors are open. */
static int write_new(struct stor_segment *s)
{
	int rc = 0;
	if (s->on > s->on_disk) {
		rc = queue_write(s, s->ifd, s->oidx + s->on_disk * 8, (s->on - s->on_disk) * 8, s->on_disk * 8);
		if (!rc) s->on_disk = s->on;
	}
	if (!rc && s->tn > s->tn_disk) {
		rc = queue_write(s, s->tfd, s->tidx + s->tn_disk * 12, (s->tn - s->tn_disk) * 12, s->tn_disk * 12);
		if (!rc) s->tn_disk = s->tn;
	}
	if (rc) s->idx_bad = true;
	s->idx_dirty = true;
	return rc;
}

int stor_segment_write_index_async(struct stor_segment *s)
{
	if (s->on == s->on_disk && s->tn == s->tn_disk) {
		/* Nothing new, but a sealed segment's round syncs what was written while it was
		 * active (fds.c: its descriptors must be open then). */
		if (s->sealed && s->idx_dirty && !s->idx_bad) stor_segment_aux_open(s, true, false);
		return 0;
	}
	int32_t f = stor_fault_check(STOR_FAULT_INDEX_WRITE);
	if (f < 0) {
		stor_logf("%s: index write for segment %020" PRId64 " failed (%s, injected); the index is "
		          "rewritten before it is trusted again", s->log->name, s->base, strerror(-f));
		s->idx_bad = true;
		s->on_disk = s->on;
		s->tn_disk = s->tn;
		return f;
	}
	/* The descriptors are held only around writes (fds.c): the entries wait for their opens. */
	if (!stor_segment_aux_open(s, true, false)) {
		if (s->aux[0].busy || s->aux[1].busy || s->aux[0].deferred || s->aux[1].deferred) {
			s->idx_want = true;
			s->idx_dirty = true;
			return 0;
		}
		return -EBADF;  /* the open could not be queued: idx_bad is set */
	}
	return write_new(s);
}

void stor_segment_idx_resume(struct stor_segment *s)
{
	if (!s->idx_want) return;
	s->idx_want = false;
	if (s->ifd < 0 || s->tfd < 0) return;  /* an open failed: idx_bad is set */
	if (s->on != s->on_disk || s->tn != s->tn_disk) write_new(s);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pwrite(fd, p + done, n - done, (off_t)done);
		if (r < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		done += (size_t)r;
	}
	if (ftruncate(fd, (off_t)n)) return -errno;
	return 0;
}

int stor_segment_write_index_sync(struct stor_segment *s)
{
	int rc = stor_segment_aux_open_sync(s);
	if (!rc) rc = write_all(s->ifd, s->oidx, s->on * 8);
	if (!rc) rc = write_all(s->tfd, s->tidx, s->tn * 12);
	if (!rc) {
		s->on_disk = s->on;
		s->tn_disk = s->tn;
		s->idx_bad = false;
		s->idx_dirty = true;
	}
	return rc;
}
