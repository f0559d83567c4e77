/*
 * storage/pstate_rebuild.c: the producer state rebuilt after a log is cut back (a failed write's
 * repair, an explicit truncation: the roll hook with truncated set), without a file system call
 * on the owner shard (stor_pstate_rebuild_start in producer_state.h).
 *
 * The same rebuild as stor_pstate_recover (producer_recover.c), in three steps:
 *   1. worker: list the partition directory, load the newest usable snapshot at or below the log
 *      end (and at or below the aborted-transaction rebuild offset) into a fresh state, prune the
 *      snapshots past the log end;
 *   2. shard: from the snapshot's offset, the file ranges of the batches to replay, found through
 *      the segments' offset indexes in memory (the history before the snapshot that the last five
 *      batches need, then the tail up to the log end); those segments are pinned;
 *   3. worker: pread those ranges and replay their batches into the fresh state (and the history
 *      into a second one);
 * then, on the shard, the fresh state takes the live one's place.  Steps 1 and 3 are jobs on the
 * shard's file worker (storage/bg.h), which runs jobs in order, so a roll's snapshot queued
 * before the cut is written before step 1 looks (and pruned by it when past the new end).
 *
 * Holds while it runs (from stor_pstate_rebuild_start until `done`):
 *   - the live state is stale (stor_pstate_set_stale): stor_pstate_check refuses every batch with
 *     KAFKA_STORAGE_ERROR (retriable) and stor_pstate_lso does not pass the LSO of the moment it
 *     became stale, so no producer check and no last stable offset uses the state of a log that
 *     is no longer there;
 *   - the log takes no append (log->holds: stor_log_append answers -EAGAIN, a storage error to
 *     clients, as the repair's fail_err does before it) and is not idle (log->inflight), so the
 *     log end the rebuild replays to stays the log end, no roll snapshots the stale state, and
 *     the log is neither cut again, closed nor deleted under the worker;
 *   - the segments read are pinned (refs), so retention or a cleaning may take them out of the
 *     log meanwhile but their descriptors stay open and their bytes below `visible` unchanged.
 * The worker touches only the job: the fresh states, a copy of the directory path, and the
 * pinned descriptors.
 *
 * The one thing left blocking on the shard: when the log still owes its aborted-transaction index
 * a rebuild from the log (stor_log_txn_rebuild_from, set when the open's own rebuild failed), the
 * aborts the replay met are recorded with stor_log_add_aborted at the end, which writes them with
 * pwrite (the steady state never gets there).
 * A failure (a read error, a snapshot directory that cannot be listed, no memory) takes the
 * partition offline: its producer state is unknown, and the next open rebuilds it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/batch.h"
#include "storage/bg.h"
#include "storage/internal.h"
#include "storage/producer_state.h"

/* Kept equal to producer_recover.c's backfill bounds (the two rebuilds must agree). */
#define HISTORY_OFFSETS 4096
#define HISTORY_BYTES (16u << 20)
#define CHUNK (1u << 20)

/* A file range of one pinned segment: whole batches from pos up to end (its visible size). */
struct piece {
	struct stor_segment *seg;
	int fd;
	uint64_t pos, end;
};

struct rebuild {
	struct stor_bg_job job;
	struct stor_log *log;           /* held (holds, inflight) until the end */
	struct stor_pstate *ps;         /* the live state, stale until the end */
	struct stor_pstate *fresh;      /* built on the worker */
	struct stor_pstate *older;      /* the history before the snapshot, or NULL */
	char *dir;                      /* copy of log->path */
	int64_t now_ms, leo, start, max_snap, from;
	bool loaded;                    /* step 1 loaded a snapshot */
	bool txn;                       /* re-derive the aborted transactions (txn_rebuild_from) */
	bool history_ok;
	struct piece *pieces;           /* [0, nhist): history, [nhist, npieces): tail */
	size_t nhist, npieces, pcap;
	int64_t hist_lo;
	struct stor_aborted_txn *aborted;
	size_t naborted, acap;
	stor_pstate_rebuilt_fn done;
	void *arg;
};

static void finish(struct rebuild *rb, int err);

/* --- on the worker ---------------------------------------------------------------------------- */

static void load_run(struct stor_bg_job *j)
{
	struct rebuild *rb = rt_container_of(j, struct rebuild, job);
	int rc = stor_pstate_snapshot_load(rb->fresh, rb->dir, rb->max_snap, rb->now_ms, &rb->from);
	rb->loaded = rc == 0;
	if (rc == -ENOENT) rc = 0;
	/* snapshots past the end belong to the log before the cut */
	if (!rc) stor_pstate_snapshot_prune(rb->dir, 0, rb->leo);
	j->res = rc;
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t pos)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = pread(fd, p + off, n - off, (off_t)(pos + off));
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return r < 0 ? -errno : -EIO;
		off += (size_t)r;
	}
	return 0;
}

static int note_aborted(struct rebuild *rb, const struct stor_ps_txn_done *d)
{
	if (rb->naborted == rb->acap) {
		size_t cap = rb->acap ? rb->acap * 2 : 16;
		struct stor_aborted_txn *a = realloc(rb->aborted, cap * sizeof *a);
		if (!a) return -ENOMEM;
		rb->aborted = a;
		rb->acap = cap;
	}
	rb->aborted[rb->naborted++] = (struct stor_aborted_txn){d->producer_id, d->first_offset, d->last_offset,
	                                                        d->last_stable_offset};
	return 0;
}

/* Replays into ps the batches of [lo, hi) that the pieces hold (as producer_recover.c's replay:
 * origin LOG, markers whose body does not parse skipped), recording the aborts met when txn.
 * Stops quietly after about max_bytes.  0 or -errno (-EBADMSG: bytes that do not frame). */
static int replay(struct rebuild *rb, const struct piece *p, size_t n, int64_t lo, int64_t hi,
                  struct stor_pstate *ps, bool txn, size_t max_bytes)
{
	size_t cap = CHUNK, seen = 0;
	uint8_t *buf = malloc(cap);
	if (!buf) return -ENOMEM;
	int rc = 0;
	bool end = false;
	for (size_t k = 0; k < n && !rc && !end; k++) {
		uint64_t pos = p[k].pos;
		while (pos < p[k].end && seen < max_bytes && !rc && !end) {
			size_t want = p[k].end - pos < cap ? (size_t)(p[k].end - pos) : cap;
			if ((rc = pread_all(p[k].fd, buf, want, pos))) break;
			size_t off = 0;
			while (off < want) {
				if (want - off < KP_BATCH_HEADER_SIZE && off && pos + want < p[k].end)
					break;  /* a header cut by the chunk: read again from it */
				size_t size = kp_batch_size(buf + off, want - off);
				if (size < KP_BATCH_HEADER_SIZE || size > p[k].end - (pos + off)) {
					rc = -EBADMSG;
					break;
				}
				if (size > want - off) {
					if (off) break;  /* read again from this batch */
					uint8_t *nb = realloc(buf, size);  /* one batch larger than the chunk */
					if (!nb) {
						rc = -ENOMEM;
						break;
					}
					buf = nb;
					cap = size;
					break;
				}
				struct kp_batch_hdr h;
				if (kp_batch_hdr_parse(buf + off, size, &h)) {
					rc = -EBADMSG;
					break;
				}
				if (h.base_offset >= hi) {
					end = true;
					break;
				}
				if (h.base_offset + h.last_offset_delta >= lo && h.producer_id >= 0) {
					struct stor_ps_batch b;
					struct stor_ps_txn_done d;
					size_t nd = 0;
					stor_ps_batch_from_hdr(&b, &h);
					if (!b.control || !stor_ps_marker_parse(buf + off, size, &b.commit, &b.coordinator_epoch))
						rc = stor_pstate_apply(ps, &b, 1, STOR_PS_LOG, &d, &nd);
					if (!rc && txn && nd && d.aborted) rc = note_aborted(rb, &d);
					if (rc) break;
				}
				off += size;
			}
			pos += off;
			seen += off;
		}
	}
	free(buf);
	return rc;
}

static void replay_run(struct stor_bg_job *j)
{
	struct rebuild *rb = rt_container_of(j, struct rebuild, job);
	/* The history is best effort, as backfill_history's: a failure there changes nothing. */
	if (rb->older)
		rb->history_ok = !replay(rb, rb->pieces, rb->nhist, rb->hist_lo, rb->from, rb->older, false,
		                         HISTORY_BYTES);
	j->res = replay(rb, rb->pieces + rb->nhist, rb->npieces - rb->nhist, rb->from, rb->leo, rb->fresh, rb->txn,
	                SIZE_MAX);
}

/* --- on the owner shard ----------------------------------------------------------------------- */

static void submit(struct rebuild *rb, void (*run)(struct stor_bg_job *), void (*back)(struct stor_bg_job *, int32_t))
{
	struct stor_bg *bg = rb->log->bg;
	if (bg) {
		stor_bg_submit(bg, &rb->job, run, back);
	} else {
		run(&rb->job);
		back(&rb->job, rb->job.res);
	}
}

/* Pins the segments holding [lo, hi) and adds their ranges.  0 or -ENOMEM. */
static int add_pieces(struct rebuild *rb, int64_t lo, int64_t hi)
{
	struct stor_log *log = rb->log;
	if (lo >= hi) return 0;
	ssize_t i = stor_log_find_segment(log, lo);
	if (i < 0) i = 0;
	for (bool first = true; (size_t)i < log->nseg && log->segs[i]->base < hi; i++, first = false) {
		struct stor_segment *s = log->segs[i];
		uint64_t pos = first ? stor_segment_lookup(s, lo) : 0;
		if (pos >= s->visible) continue;
		if (rb->npieces == rb->pcap) {
			size_t cap = rb->pcap ? rb->pcap * 2 : 8;
			struct piece *np = realloc(rb->pieces, cap * sizeof *np);
			if (!np) return -ENOMEM;
			rb->pieces = np;
			rb->pcap = cap;
		}
		s->refs++;
		rb->pieces[rb->npieces++] = (struct piece){.seg = s, .fd = s->fd, .pos = pos, .end = s->visible};
	}
	return 0;
}

static void replay_back(struct stor_bg_job *j, int32_t res);

static void load_back(struct stor_bg_job *j, int32_t res)
{
	struct rebuild *rb = rt_container_of(j, struct rebuild, job);
	if (res) {
		finish(rb, res);
		return;
	}
	if (!rb->loaded) rb->from = rb->start;
	/* The batches before the snapshot, for the last five of each producer it holds (see
	 * producer_recover.c's backfill_history). */
	int rc = 0;
	if (rb->loaded && rb->from > rb->start && stor_pstate_count(rb->fresh)) {
		rb->hist_lo = rb->from - HISTORY_OFFSETS > rb->start ? rb->from - HISTORY_OFFSETS : rb->start;
		rb->older = stor_pstate_create(INT64_MAX);
		if (rb->older) rc = add_pieces(rb, rb->hist_lo, rb->from);
		rb->nhist = rb->npieces;
	}
	if (rb->from < rb->start) rb->from = rb->start;
	if (!rc) rc = add_pieces(rb, rb->from, rb->leo);
	if (rc) {
		finish(rb, rc);
		return;
	}
	submit(rb, replay_run, replay_back);
}

static void replay_back(struct stor_bg_job *j, int32_t res)
{
	struct rebuild *rb = rt_container_of(j, struct rebuild, job);
	if (!res && rb->older && rb->history_ok) stor_pstate_backfill(rb->fresh, rb->older);
	if (!res) {
		for (size_t i = 0; i < rb->naborted; i++)
			(void)stor_log_add_aborted(rb->log, &rb->aborted[i]);  /* a failure is logged there */
		stor_pstate_expire(rb->fresh, rb->now_ms);
		if (rb->txn) stor_log_txn_rebuilt(rb->log);
	}
	finish(rb, res);
}

static void finish(struct rebuild *rb, int err)
{
	struct stor_log *log = rb->log;
	for (size_t i = 0; i < rb->npieces; i++) {
		struct stor_segment *s = rb->pieces[i].seg;
		s->refs--;
		if (s->deleted && !s->refs) stor_reap(log);
	}
	log->holds--;
	log->inflight--;
	if (err) {
		stor_logf("%s: rebuilding the producer state after the log was cut back to offset %" PRId64
		          " failed (%s)", log->name, rb->leo, strerror(-err));
		stor_log_go_offline(log, "rebuilding the producer state", err);
	} else {
		stor_pstate_take(rb->ps, rb->fresh);
	}
	stor_pstate_rebuilt_fn done = rb->done;
	void *arg = rb->arg;
	struct stor_pstate *ps = rb->ps;
	stor_pstate_destroy(rb->fresh);
	stor_pstate_destroy(rb->older);
	free(rb->pieces);
	free(rb->aborted);
	free(rb->dir);
	free(rb);
	stor_reap(log);
	if (done) done(arg, ps, err);
}

void stor_pstate_rebuild_start(struct stor_pstate *ps, struct stor_log *log, int64_t now_ms,
                               stor_pstate_rebuilt_fn done, void *arg)
{
	stor_pstate_set_stale(ps, log->leo);
	struct rebuild *rb = calloc(1, sizeof *rb);
	if (rb) rb->fresh = stor_pstate_create(stor_pstate_expiration(ps));
	if (rb) rb->dir = strdup(log->path);
	if (!rb || !rb->fresh || !rb->dir) {
		if (rb) {
			stor_pstate_destroy(rb->fresh);
			free(rb->dir);
			free(rb);
		}
		stor_log_go_offline(log, "rebuilding the producer state", -ENOMEM);
		if (done) done(arg, ps, -ENOMEM);
		return;
	}
	rb->log = log;
	rb->ps = ps;
	rb->now_ms = now_ms;
	rb->leo = log->leo;
	rb->start = log->log_start;
	int64_t txn_from = log->txn_rebuild_from;
	rb->txn = txn_from != INT64_MAX;
	rb->max_snap = txn_from < rb->leo ? txn_from : rb->leo;
	rb->done = done;
	rb->arg = arg;
	log->holds++;
	log->inflight++;
	submit(rb, load_run, load_back);
}
