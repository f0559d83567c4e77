/*
 * storage/prealloc.c: keeping the active segment's file zero-filled ahead of its appends, and
 * cutting the zeros off again at roll.
 *
 * Why.  On ext4 an append that grows the file changes i_size and allocates blocks, so the
 * fdatasync of every group-commit round must commit the journal, and the rounds of all the
 * partitions queue behind each other's commits.  An append that overwrites blocks already
 * written and made durable changes no metadata an fdatasync must keep, so the round only writes
 * data pages.  Kafka's `preallocate` uses fallocate, whose unwritten extents still need a
 * journaled conversion when first written; here the zeros are really written.  The pages
 * written ahead are also in the page cache already when the append's write comes (on a VM a
 * new page can cost a host page fault).
 *
 * How.  At most one zero chunk per log is in flight: a linked IORING_OP_WRITE of zeros and
 * IORING_OP_FSYNC (datasync) over [lo, hi) of the active segment (or of the spare
 * "spare.log.tmp", so that a new segment starts with zeros ahead of it), issued on the shard's
 * ring and run by the kernel's workers.  [size, pa_end) of a segment is durable zeros.  An
 * append whose bytes overlap the chunk in flight waits for it (its write would race the zeros):
 * the chunk's write completes first, then the held writes are submitted.
 *
 * Bounds.  The lead kept ahead is a quarter of a second of the partition's append rate, measured
 * over windows of prealloc_window_ms (a second by default), between one page and PA_LEAD_MAX, and never past segment.bytes.  An
 * idle partition (rate 0) gets none, so ten thousand quiet partitions cost nothing.  Nor does one
 * whose window had no durable append (acks=1 and acks=0 only): it has no group-commit rounds
 * whose journal commits the zeros could save, and they would only cost it a second write of each
 * byte, an fdatasync per chunk, and io_uring worker time beside its own appends' writes (which
 * io_uring runs one at a time per file, so an append could queue behind a zero chunk).  A partition
 * appending faster than PA_MAX_RATE gets none either unless its group-commit rounds are small
 * (at most PA_MAX_ROUND_BYTES each, e.g. durable appends at queue depth 1): a fast writer without
 * fdatasyncs (acks=1) or with big rounds already shares one journal commit among many bytes, and
 * zero-filling would double the disk traffic of exactly the partitions that use the disk most.
 * Otherwise the zeros cost one extra write of each byte, in chunks of at most PA_CHUNK_MAX (one
 * journal commit per chunk instead of one per round), each issued when less than half the lead
 * is left and reaching up to PA_CHUNK_LEADS leads ahead, so at most PA_CHUNK_MAX + PA_LEAD_MAX
 * of zeros are ahead.
 *
 * Chunks are small and go one at a time per thread (a shard's logs).  A chunk's fdatasync
 * writes its zeros back as one request of the chunk's size, and the disk serves it before the
 * small writes and flushes of every other partition's rounds queued behind it: on the
 * development VM (virtio disk, ext4) a 1 MiB chunk took 0.45-0.9 ms at the device, and 1-2% of
 * all the rounds' fdatasyncs, of every partition, ran beside one at 4-5x their median.  And
 * partitions that started together at the same rate issued their chunks together (8 chunks of
 * 1 MiB within 14 ms, once a second, at 10,000 acks=-1 records/s over 8 partitions): a stall
 * of several milliseconds for every partition, right in the p99 (issue 4).  So a chunk is at
 * most 256 KiB, and a thread issues the next only when its last one is back (the other logs
 * take their turn at their next append); the disk then has at most one chunk per shard in
 * front of a round.  The price is more chunks (about four a second per partition at 1,250
 * durable appends/s) and so more rounds beside one of their own log (about 0.5%, each waiting
 * at most for the chunk: sync.c, "Side syncs").
 *
 * The file is longer than the segment only while zeros are ahead: the segment's size is always
 * `visible`.  At roll the sealed segment's file is cut to its size (IORING_OP_FTRUNCATE + an
 * fdatasync, linked); until that is done the recovery point does not pass it (sync.c), so a
 * crash rescans it and recovery trims the zero tail (recover.c).  At close the active segment is
 * cut with the close's other blocking calls (log.c).
 *
 * Blocks reserved ahead.  A partition without durable appends (acks=0/1 only, in this window
 * and the last) gets the active segment's blocks reserved ahead of its appends instead: one
 * IORING_OP_FALLOCATE (FALLOC_FL_KEEP_SIZE: the file's size stays the data's, so recovery sees
 * nothing new) of up to a second of its append rate, at most FA_AHEAD_MAX, never past
 * segment.bytes, issued when less than half of that is left; none below FA_MIN a second.  A
 * buffered append into reserved blocks skips ext4's delayed allocation (the per-block space and
 * quota reservation and extent-status bookkeeping that was a third of the io_uring worker's time
 * for 1 MiB appends); fio lays its file out with fallocate before it writes, so without this
 * storage paid for what its yardstick did not.  The blocks past the data are freed by the same
 * trim at roll and close (an ftruncate to the size frees blocks reserved past the end).  A failed
 * fallocate (ENOSPC, a file system without it) only stops the reservations.  Not for durable
 * partitions: their rounds' fdatasyncs would convert the unwritten blocks (a journal commit each,
 * which the zeros exist to avoid).  `RINGTAIL_NO_RESERVE=1` in the environment turns it off for
 * an A/B on one binary.
 *
 * Failures.  A zero write that finds the disk full (ENOSPC, EDQUOT, or short) only stops the
 * zero fill of that segment: no append's bytes are involved, and the appends meet the full disk
 * themselves (KAFKA_STORAGE_ERROR, and they work again once space is back).  A failed fdatasync
 * of a zero chunk or of a trim is another matter: it shares the open file with the appends, and
 * Linux reports a writeback error once per open file description, so it may have taken the
 * report of lost append pages that a group-commit fdatasync running beside it, or the next one,
 * would then not see.  It is handled as sync.c handles its own: the partition goes offline
 * (nothing after it is acknowledged), and sync.c settles no round that completed while a zero
 * chunk or trim was in flight until that is back (stor_sync_settle), so a round that succeeded
 * because the side sync took its error acknowledges nothing.  Any other
 * failed write or ftruncate is the disk failing under the segment, and takes it offline too, as
 * Kafka takes a log directory offline on any IOException.  The spare's chunks hold no append's
 * bytes until it becomes a segment (stor_pa_take_spare moves a chunk in flight to it): failing,
 * they only stop its zero fill.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/lat_trace.h"
#include "storage/fault.h"
#include "storage/internal.h"

#define PA_PAGE 4096u
#define PA_CHUNK_MAX ((uint64_t)256 << 10)   /* one zero write + fdatasync */
#define PA_CHUNK_LEADS 4                     /* a chunk reaches this many leads past the appends */
#define PA_LEAD_MAX ((uint64_t)1 << 20)      /* the most kept ahead of one partition */
#define PA_MAX_RATE ((uint64_t)16 << 20)     /* bytes/s above which nothing is kept ahead... */
#define PA_MAX_ROUND_BYTES ((uint64_t)256 << 10) /* ...unless its rounds are this small */
/* liburing 2.3 predates the opcode (Linux 6.9). */
#define PA_OP_FTRUNCATE 55
#define FA_AHEAD_MAX ((uint64_t)64 << 20)    /* the most reserved ahead of one partition */
#define FA_MIN ((uint64_t)1 << 20)           /* bytes/s below which nothing is reserved */

static uint8_t zeros[PA_CHUNK_MAX];

static bool supported, fa_supported;

/* Zero chunks of this thread's logs in flight, at most one (see "Chunks are small" above; a
 * log is only ever driven by one thread). */
static _Thread_local unsigned chunks_in_flight;

unsigned stor_pa_chunks_in_flight(void) { return chunks_in_flight; }
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
	if (getenv("RINGTAIL_NO_PREALLOC")) return;
	struct io_uring_probe *p = io_uring_get_probe();
	if (!p) return;
	supported = io_uring_opcode_supported(p, PA_OP_FTRUNCATE) &&
	            io_uring_opcode_supported(p, IORING_OP_FSYNC) && io_uring_opcode_supported(p, IORING_OP_WRITE);
	fa_supported = supported && io_uring_opcode_supported(p, IORING_OP_FALLOCATE) &&
	               !getenv("RINGTAIL_NO_RESERVE");
	io_uring_free_probe(p);
}

bool stor_pa_supported(void)
{
	pthread_once(&probe_once, probe);
	return supported;
}

static uint64_t round_up(uint64_t v)
{
	return (v + PA_PAGE - 1) / PA_PAGE * PA_PAGE;
}

/* Closes the rate window when it is over: the rate, the bytes per round and whether it had a
 * durable append become the last whole window's. */
static void window(struct stor_log *log)
{
	int64_t now = stor_now_ms();
	if (!log->pa_win_ms) log->pa_win_ms = now;
	int64_t el = now - log->pa_win_ms;
	if (el >= log->cfg.prealloc_window_ms) {
		log->pa_rate = log->pa_win_bytes * 1000 / (uint64_t)el;
		uint64_t rounds = log->round_seq - log->pa_win_round;
		log->pa_round_bytes = rounds ? log->pa_win_bytes / rounds : 0;
		log->pa_durable = log->pa_win_durable;
		log->pa_win_bytes = 0;
		log->pa_win_durable = false;
		log->pa_win_ms = now;
		log->pa_win_round = log->round_seq;
	}
}

/* The lead of zeros to keep ahead now (0: none), from the rate and the durable appends of the
 * last whole window (preallocation on and supported, window() called: stor_pa_kick did). */
static uint64_t lead(const struct stor_log *log)
{
	if (!log->pa_rate || !log->pa_durable) return 0;
	if (log->pa_rate > PA_MAX_RATE && (!log->pa_round_bytes || log->pa_round_bytes > PA_MAX_ROUND_BYTES))
		return 0;
	uint64_t l = round_up(log->pa_rate / 4);
	return l > PA_LEAD_MAX ? PA_LEAD_MAX : l;
}

bool stor_pa_place(struct stor_log *log, const struct stor_append *a)
{
	struct stor_segment *s = a->seg;
	uint64_t pos = a->pos, len = a->len;
	log->pa_win_bytes += len;
	if (a->flags & STOR_APPEND_DURABLE) log->pa_win_durable = true;
	if (pos + len > s->file_end) s->file_end = pos + len;
	return log->pa.left && log->pa.seg == s && pos < log->pa.hi && pos + len > log->pa.lo;
}

static void chunk_done(struct stor_log *log);

static void chunk_end(struct stor_pa_op *pa)
{
	struct stor_log *log = pa->log;
	log->inflight--;
	if (pa->seg) pa->seg->inflight--;
	if (--pa->left == 0) {
		chunks_in_flight--;
		rt_lt_record(RT_LT_PA_CHUNK, log->lt_pa_start, rt_lt_now());
		chunk_done(log);
	}
}

static void write_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_pa_op *pa = rt_container_of(op, struct stor_pa_op, wop);
	pa->wres = pa->winj < 0 ? pa->winj : res;  /* STOR_FAULT_SHORT: really cut short */
	chunk_end(pa);
}

static void sync_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_pa_op *pa = rt_container_of(op, struct stor_pa_op, fop);
	pa->fres = pa->finj ? pa->finj : res;
	chunk_end(pa);
}

static void chunk_done(struct stor_log *log)
{
	struct stor_pa_op *pa = &log->pa;
	bool ok = pa->wres == (int32_t)(pa->hi - pa->lo) && pa->fres == 0;
	struct stor_segment *s = pa->seg;
	/* See "Failures" above: what takes the partition offline, what only stops the zero fill. */
	int32_t bad = pa->fres < 0 && pa->fres != -ECANCELED ? pa->fres
	              : pa->wres < 0 && pa->wres != -ENOSPC && pa->wres != -EDQUOT ? pa->wres : 0;
	if (s && bad) {
		char what[128];
		snprintf(what, sizeof what, "%s of the zeros kept ahead in segment %020" PRId64 " at %" PRIu64,
		         bad == pa->fres ? "fdatasync" : "write", s->base, pa->lo);
		stor_log_go_offline(log, what, bad);
	}
	if (s) {
		if (ok && !pa->stale && s->pa_end == pa->lo) s->pa_end = pa->hi;
		if (!ok && !s->pa_stop) {
			s->pa_stop = true;
			const char *why = pa->wres < 0 ? strerror(-pa->wres)
			                  : pa->wres != (int32_t)(pa->hi - pa->lo) ? "short write"
			                  : strerror(pa->fres < 0 ? -pa->fres : EIO);
			if (!bad)
				stor_logf("%s: zero-filling segment %020" PRId64 " ahead of the appends failed (%s); "
				          "its appends extend the file instead", log->name, s->base, why);
		}
	} else {
		if (ok && log->spare_zeroed == pa->lo) log->spare_zeroed = pa->hi;
		if (!ok) log->spare_pa_stop = true;
	}
	pa->seg = NULL;
	pa->stale = false;
	/* The rounds that completed beside the chunk's fdatasync (sync.c, "Side syncs"): settled
	 * now, after a failed one took the partition offline, and before the next chunk goes. */
	stor_sync_settle(log);
	if (log->pa_held) {
		log->pa_held = false;
		stor_append_release_held(log);
	}
	if (s && s->sealed) stor_pa_trim(log, s);
	if (s && s->deleted) stor_reap(log);
	stor_pa_kick(log);
}

static int issue(struct stor_log *log, struct stor_segment *s, int fd, uint64_t lo, uint64_t hi)
{
	if (!stor_sq_reserve(log, 2)) return -EBUSY;
	struct stor_pa_op *pa = &log->pa;
	pa->log = log;
	pa->seg = s;
	pa->lo = lo;
	pa->hi = hi;
	pa->wres = pa->fres = 0;
	pa->stale = false;
	pa->wop.cb = write_cb;
	pa->fop.cb = sync_cb;
	struct io_uring_sqe *w = io_uring_get_sqe(log->ring), *f = io_uring_get_sqe(log->ring);
	/* An injected failure makes its SQE a NOP; a failed or short zero write cancels the sync
	 * linked to it, as the kernel does. */
	pa->winj = stor_fault_check(STOR_FAULT_PA_ZERO);
	pa->finj = pa->winj ? -ECANCELED : stor_fault_check(STOR_FAULT_PA_SYNC);
	if (pa->finj > 0) pa->finj = 0;
	if (pa->winj < 0) io_uring_prep_nop(w);
	else io_uring_prep_write(w, fd, zeros, (unsigned)(pa->winj ? (hi - lo) / 2 : hi - lo), lo);
	io_uring_sqe_set_data(w, &pa->wop);
	w->flags |= IOSQE_IO_LINK;
	if (pa->finj) io_uring_prep_nop(f);
	else io_uring_prep_fsync(f, fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(f, &pa->fop);
	pa->left = 2;
	chunks_in_flight++;
	log->inflight += 2;
	log->lt_pa_issued++;
	log->lt_pa_start = rt_lt_now();
	if (s) {
		s->inflight += 2;
		if (hi > s->file_end) s->file_end = hi;
	} else if (hi > log->spare_file_end) {
		log->spare_file_end = hi;
	}
	return 0;
}

static void fa_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_log *log = rt_container_of(op, struct stor_log, fa_op);
	struct stor_segment *s = log->fa_seg;
	log->fa_seg = NULL;
	log->inflight--;
	s->inflight--;
	if (log->fa_inj) res = log->fa_inj;
	log->fa_inj = 0;
	/* Even a failed one may have reserved part of the range: the trim frees whatever it did. */
	if (s->fa_end < log->fa_hi) s->fa_end = log->fa_hi;
	if (res < 0 && !s->fa_stop) {
		s->fa_stop = true;
		if (res == -EOPNOTSUPP || res == -EINVAL) log->fa_off = true;
		stor_logf("%s: reserving blocks of segment %020" PRId64 " ahead of the appends failed (%s); "
		          "its appends allocate their own", log->name, s->base, strerror(-res));
	}
	if (s->sealed) stor_pa_trim(log, s);
	if (s->deleted) stor_reap(log);
	else stor_pa_kick(log);
}

/* The active segment's next block reservation, when its appends came within half the lead of
 * the blocks reserved.  Only for a partition without zeros ahead (theirs are allocated). */
static void fa_kick(struct stor_log *log, uint64_t zero_lead)
{
	/* Durable partitions keep their own way: writes into reserved (unwritten) blocks make each
	 * round's fdatasync convert them, and their zeros, when kept, are allocated already. */
	if (zero_lead || log->pa_durable || log->pa_win_durable || log->fa_seg || log->fa_off ||
	    !fa_supported || log->fail_err)
		return;
	struct stor_segment *s = stor_log_active(log);
	if (!s || s->fa_stop || s->sealed) return;
	uint64_t ahead = log->pa_rate > log->pa_win_bytes ? log->pa_rate : log->pa_win_bytes;
	if (ahead < FA_MIN) return;
	if (ahead > FA_AHEAD_MAX) ahead = FA_AHEAD_MAX;
	uint64_t want = round_up(s->size + ahead), cap = (uint64_t)log->cfg.segment_bytes;
	if (want > cap) want = cap;
	uint64_t lo = s->fa_end > s->file_end ? s->fa_end : s->file_end;
	if (lo >= want || lo > s->size + ahead / 2) return;
	if (!stor_sq_reserve(log, 1)) return;  /* the next kick retries */
	struct io_uring_sqe *sqe = io_uring_get_sqe(log->ring);
	int32_t inj = stor_fault_check(STOR_FAULT_PA_FALLOC);
	if (inj < 0) io_uring_prep_nop(sqe);
	else io_uring_prep_fallocate(sqe, s->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(want - lo));
	io_uring_sqe_set_data(sqe, &log->fa_op);
	log->fa_op.cb = fa_cb;
	log->fa_seg = s;
	log->fa_hi = want;
	s->inflight++;
	log->inflight++;
	/* The fault layer's result stands in for the kernel's (a NOP completes with 0). */
	log->fa_inj = inj < 0 ? inj : 0;
}

void stor_pa_kick(struct stor_log *log)
{
	if (log->offline || log->roll_wait || log->cut || log->cfg.prealloc_window_ms <= 0 ||
	    !stor_pa_supported())
		return;
	window(log);
	uint64_t l = lead(log);
	fa_kick(log, l);
	if (log->pa.left) return;
	/* The segment before the active one, when its trim found the SQ full. */
	if (log->nseg > 1) stor_pa_trim(log, log->segs[log->nseg - 2]);
	/* Another log of this thread has its chunk in flight: this one's waits for its next kick. */
	if (!l || chunks_in_flight) return;
	uint64_t cap = (uint64_t)log->cfg.segment_bytes;
	struct stor_segment *s = stor_log_active(log);
	if (s && !s->pa_stop && !s->sealed && !log->fail_err) {
		/* Appends that outran the zeros extended the file themselves up to size. */
		if (s->pa_end < s->size) s->pa_end = s->size;
		/* Due when less than half the lead is left; then one chunk up to PA_CHUNK_LEADS
		 * leads past the appends, but at most PA_CHUNK_MAX (see "Chunks are small" at the
		 * top): as few chunks as that allows, since a round that runs beside one waits for
		 * the commit of its size change and for its fdatasync ("Side syncs", sync.c). */
		if (s->pa_end < cap && s->pa_end < s->size + l / 2 + 1) {
			uint64_t hi = round_up(s->size + PA_CHUNK_LEADS * l);
			if (hi > s->pa_end + PA_CHUNK_MAX) hi = s->pa_end + PA_CHUNK_MAX;
			if (hi > cap) hi = cap;
			issue(log, s, s->fd, s->pa_end, hi);
			return;
		}
	}
	/* The spare's first stretch, so a roll's first appends find zeros too. */
	if (log->spare_fd[0] >= 0 && !log->spare_renaming && !log->spare_pa_stop) {
		uint64_t want = round_up(l);
		if (want > cap) want = cap;
		if (log->spare_zeroed < want) {
			uint64_t hi = want - log->spare_zeroed > PA_CHUNK_MAX ? log->spare_zeroed + PA_CHUNK_MAX : want;
			issue(log, NULL, log->spare_fd[0], log->spare_zeroed, hi);
		}
	}
}

static void trim_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_segment *s = rt_container_of(op, struct stor_segment, trim_op);
	struct stor_log *log = s->log;
	log->inflight--;
	s->inflight--;
	/* The linked pair completes in order: the ftruncate, then its fdatasync. */
	int32_t inj = s->trim_inj[2 - s->trim_left];
	if (inj) res = inj;
	if (res < 0 && !s->trim_err) s->trim_err = res;
	if (--s->trim_left) return;
	log->trims--;
	if (s->trim_err) {
		/* See "Failures" above; a restart trims the zero tail. */
		char what[128];
		snprintf(what, sizeof what, "cutting segment %020" PRId64 ".log back to its %" PRIu64 " bytes",
		         s->base, s->size);
		stor_log_go_offline(log, what, s->trim_err);
	} else {
		s->file_end = s->size;
		s->fa_end = 0;
		/* The recovery point may pass it now. */
		log->flush_wanted = true;
	}
	stor_sync_settle(log);  /* rounds that completed beside its fdatasync (sync.c) */
	if (s->deleted) stor_reap(log);
	else stor_sync_kick(log);
}

void stor_pa_trim(struct stor_log *log, struct stor_segment *s)
{
	/* trim_err stays set after a failed trim: a restart trims the file instead. */
	if (!s->sealed || s->trim_left || s->trim_err || s->deleted ||
	    (s->file_end <= s->size && s->fa_end <= s->size) || s->visible != s->size || log->offline)
		return;
	if (log->pa.left && log->pa.seg == s) return;  /* chunk_done comes back here */
	if (log->fa_seg == s) return;                  /* so does fa_cb */
	if (!stor_sq_reserve(log, 2)) return;  /* the next kick retries */
	struct io_uring_sqe *t = io_uring_get_sqe(log->ring), *f = io_uring_get_sqe(log->ring);
	/* An injected failure makes its SQE a NOP; a failed ftruncate cancels the sync linked to
	 * it, as the kernel does. */
	int32_t ft = stor_fault_check(STOR_FAULT_TRIM), fs = ft < 0 ? -ECANCELED : stor_fault_check(STOR_FAULT_TRIM_SYNC);
	s->trim_inj[0] = ft < 0 ? ft : 0;
	s->trim_inj[1] = fs < 0 ? fs : 0;
	if (s->trim_inj[0]) io_uring_prep_nop(t);
	else io_uring_prep_rw(PA_OP_FTRUNCATE, t, s->fd, NULL, 0, s->size);
	io_uring_sqe_set_data(t, &s->trim_op);
	t->flags |= IOSQE_IO_LINK;
	if (s->trim_inj[1]) io_uring_prep_nop(f);
	else io_uring_prep_fsync(f, s->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(f, &s->trim_op);
	s->trim_op.cb = trim_cb;
	s->trim_left = 2;
	log->trims++;
	s->inflight += 2;
	log->inflight += 2;
}

void stor_pa_take_spare(struct stor_log *log, struct stor_segment *s)
{
	s->pa_end = log->spare_zeroed;
	s->file_end = log->spare_file_end;
	if (log->pa.left && !log->pa.seg) {
		log->pa.seg = s;
		s->inflight += log->pa.left;
	}
	log->spare_zeroed = log->spare_file_end = 0;
	log->spare_pa_stop = false;
}

void stor_pa_cut(struct stor_log *log, struct stor_segment *s, uint64_t pos)
{
	s->pa_end = pos;
	s->fa_end = 0;  /* the cut freed the blocks past pos; one in flight sets it again */
	s->file_end = pos;
	if (log->pa.left && log->pa.seg == s) {
		log->pa.stale = true;
		s->file_end = log->pa.hi > pos ? log->pa.hi : pos;
	}
}

int stor_pa_trim_sync(struct stor_segment *s)
{
	if (s->file_end <= s->visible && s->fa_end <= s->visible) return 0;
	if (ftruncate(s->fd, (off_t)s->visible)) return -errno;
	s->file_end = s->visible;
	s->fa_end = 0;
	s->pa_end = s->visible;
	return 0;
}

bool stor_pa_zero_tail(int fd, uint64_t pos, uint64_t end)
{
	enum { N = 64 << 10 };
	uint8_t *buf = malloc(N);
	if (!buf) return false;
	bool zero = true;
	while (zero && pos < end) {
		size_t want = end - pos > N ? N : (size_t)(end - pos);
		ssize_t r = pread(fd, buf, want, (off_t)pos);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) {
			zero = false;
			break;
		}
		for (ssize_t i = 0; i < r && zero; i++)
			if (buf[i]) zero = false;
		pos += (uint64_t)r;
	}
	free(buf);
	return zero;
}
