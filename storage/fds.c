/*
 * storage/fds.c: which descriptors a log holds, and when.
 *
 * A partition holds one descriptor in the steady state: its active segment's .log (and every
 * other segment's .log: a fetch reads and splices from it, and Kafka keeps one per segment too).
 * Everything else is opened when something needs it and closed once nothing does:
 *
 *   .index, .timeindex  The indexes live in memory (segment.c); their files are only written: a
 *                       page of entries at a time while the segment is active, whole when it
 *                       seals, then synced by the next group-commit round.  The descriptors are
 *                       opened through the ring (IORING_OP_OPENAT, on io_uring's workers) when
 *                       such a write is due, and closed (IORING_OP_CLOSE) once it completed and,
 *                       for a sealed segment, a round has synced the files.
 *   .txnindex           The same for a transaction abort recorded in a segment (aborted.c): the
 *                       entries stay in memory, the descriptor comes and goes.
 *   the directory       Only while a directory sync is due (a roll's new names, a blocking
 *                       create): a roll queues its open beside the spare files' renames, and
 *                       keeps the group commit waiting until it is open (spare.c).  Names are
 *                       otherwise resolved from the log's path (unlinks, renames, opens).
 *   spare files         Made from half way to a roll (spare.c); only the spare .log stays open
 *                       (the others need only exist for the roll's renames, and the new
 *                       segment opens them as above, after the renames landed).
 *
 * Before, a written partition held five (directory, .log, .index, .timeindex, .txnindex): 10,000
 * partitions needed 50,000 descriptors, beyond a 20,000 open-files limit that an unprivileged
 * process cannot raise.
 *
 * Invariants (owner shard): nothing is opened by name while a roll's spare renames are in
 * flight (the new segment keeps the spare descriptors until they land); a sealed segment with
 * idx_dirty holds (or is opening: idx_inflight)
 * both index descriptors, a segment with txn_dirty its .txnindex one, and dir_dirty implies the
 * directory's: so a group-commit round (sync.c) always finds what it syncs open.  Nothing is
 * closed before the round that last synced it is done (sync.c records it: aux_round,
 * dir_round; with two rounds in flight per log there may be no moment without one), while a
 * write or open of it is
 * in flight (idx_inflight) or while entries wait for it.  Blocking paths (open, close, recovery,
 * a cut on the file worker, the cleaner) open what they need themselves.
 *
 * Names by path: "<log.dirs>/<topic>-<partition>/<name>", relative to the working directory when
 * log.dirs is (io_uring's workers share the process's; nothing in the broker changes it).
 *
 * An index write through a descriptor opened after an earlier one was closed is still covered
 * by the later fdatasync: it flushes the file's pages, whichever descriptor dirtied them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/internal.h"

char *stor_log_file_path(const struct stor_log *log, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", log->path, name) < 0) return NULL;
	return p;
}

int stor_log_dirfd(struct stor_log *log)
{
	if (log->dfd >= 0) return log->dfd;
	int fd = open(log->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return -errno;
	log->dfd = fd;
	return fd;
}

static const char *const aux_ext[3] = {"index", "timeindex", "txnindex"};

void stor_segment_aux_note(struct stor_segment *s)
{
	if (s->aux_held || !s->log) return;
	s->aux_held = true;
	s->log->aux_segs++;
}

void stor_segment_aux_forget(struct stor_segment *s)
{
	if (!s->aux_held) return;
	s->aux_held = false;
	if (s->log->aux_segs) s->log->aux_segs--;
}

int stor_segment_aux_open_sync(struct stor_segment *s)
{
	int *slot[2] = {&s->ifd, &s->tfd};
	for (int k = 0; k < 2; k++) {
		if (*slot[k] >= 0) continue;
		char name[48];
		stor_segment_name(name, sizeof name, s->base, aux_ext[k]);
		char *p = stor_log_file_path(s->log, name);
		if (!p) return -ENOMEM;
		int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		free(p);
		if (fd < 0) return -errno;
		*slot[k] = fd;
		stor_segment_aux_note(s);
	}
	return 0;
}

static void aux_open_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_aux_op *o = rt_container_of(op, struct stor_aux_op, op);
	struct stor_segment *s = o->s;
	struct stor_log *log = s->log;
	int k = (int)(o - s->aux);
	free(o->path);
	o->path = NULL;
	o->busy = false;
	s->inflight--;
	s->idx_inflight--;
	log->inflight--;
	if (res >= 0) {
		if (k == 0) s->ifd = res;
		else if (k == 1) s->tfd = res;
		else if (s->txn) stor_txnidx_give_fd(s->txn, res);
		else stor_close_async(log, res);  /* its entries went meanwhile (a failed cut) */
		if (!s->deleted) stor_segment_aux_note(s);  /* a deleted one's reaping closes it */
	} else if (k < 2) {
		if (!s->idx_bad)
			stor_logf("%s: opening %020" PRId64 ".%s failed (%s); the index is rewritten before "
			          "it is trusted again", log->name, s->base, aux_ext[k], strerror(-res));
		s->idx_bad = true;
	}
	if (k < 2 && !s->aux[0].busy && !s->aux[1].busy) {
		stor_segment_idx_resume(s);
		/* A sealed segment whose files were opened only for the round that syncs them (its
		 * entries were all written while it was active): that round is due now, as after an
		 * index write (segment.c, idx_cb). */
		if (!s->idx_inflight && s->sealed && s->idx_dirty && !s->idx_bad && !s->deleted) {
			log->flush_wanted = true;
			stor_sync_kick(log);
		}
	}
	if (k == 2) stor_segment_txn_resume(s, res < 0 ? res : 0);
	stor_log_fds_release(log, false);
	if (s->deleted) stor_reap(log);
}

bool stor_segment_renaming(const struct stor_segment *s)
{
	const struct stor_log *log = s->log;
	return log->spare_renaming && log->nseg && log->segs[log->nseg - 1] == s;
}

/* Queues the open of aux file k of s.  0, or -errno (nothing queued). */
static int aux_open_one(struct stor_segment *s, int k)
{
	struct stor_aux_op *o = &s->aux[k];
	if (o->busy) return 0;
	if (stor_segment_renaming(s)) {
		o->deferred = true;  /* stor_segment_aux_resume, when the renames land */
		return 0;
	}
	char name[48];
	stor_segment_name(name, sizeof name, s->base, aux_ext[k]);
	char *p = stor_log_file_path(s->log, name);
	if (!p) return -ENOMEM;
	struct io_uring_sqe *sqe = stor_get_sqe(s->log);
	if (!sqe) {
		free(p);
		return -EBUSY;
	}
	o->op.cb = aux_open_cb;
	o->s = s;
	o->path = p;
	o->busy = true;
	io_uring_prep_openat(sqe, AT_FDCWD, p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	io_uring_sqe_set_data(sqe, &o->op);
	s->inflight++;
	s->idx_inflight++;
	s->log->inflight++;
	return 0;
}

void stor_segment_aux_resume(struct stor_segment *s)
{
	bool idx = s->aux[0].deferred || s->aux[1].deferred, txn = s->aux[2].deferred;
	if (!idx && !txn) return;
	for (int k = 0; k < 3; k++) s->aux[k].deferred = false;
	stor_segment_aux_open(s, idx, txn);
	/* Nothing to open after all (the entries went meanwhile): what waited goes on. */
	if (idx && !s->aux[0].busy && !s->aux[1].busy) stor_segment_idx_resume(s);
}

bool stor_segment_aux_open(struct stor_segment *s, bool idx, bool txn)
{
	bool ready = true;
	if (idx) {
		if (s->ifd < 0 && aux_open_one(s, 0) && !s->idx_bad) {
			stor_logf("%s: cannot queue the open of %020" PRId64 ".index; the index is rewritten "
			          "before it is trusted again", s->log->name, s->base);
			s->idx_bad = true;
		}
		if (s->tfd < 0 && aux_open_one(s, 1) && !s->idx_bad) {
			stor_logf("%s: cannot queue the open of %020" PRId64 ".timeindex; the index is "
			          "rewritten before it is trusted again", s->log->name, s->base);
			s->idx_bad = true;
		}
		ready = s->ifd >= 0 && s->tfd >= 0;
	}
	if (txn && s->txn && stor_txnidx_fd(s->txn) < 0) {
		int rc = aux_open_one(s, 2);
		if (rc) stor_segment_txn_resume(s, rc);
		ready = false;
	}
	return ready;
}

/* Closes s's index and .txnindex descriptors when nothing needs them; true when s holds none
 * afterwards. */
static bool aux_release(struct stor_segment *s, bool now)
{
	struct stor_log *log = s->log;
	int xfd = s->txn ? stor_txnidx_fd(s->txn) : -1;
	if (s->ifd < 0 && s->tfd < 0 && xfd < 0) return true;
	if (s->idx_inflight || s->idx_want || s->txn_wait || s->txn_dirty ||
	    (s->sealed && s->idx_dirty && !s->idx_bad) || s->aux_round > log->round_done)
		return false;
	int fds[3] = {s->ifd, s->tfd, xfd >= 0 ? stor_txnidx_take_fd(s->txn) : -1};
	s->ifd = s->tfd = -1;
	for (int k = 0; k < 3; k++) {
		if (fds[k] < 0) continue;
		if (now) close(fds[k]);
		else stor_close_async(log, fds[k]);
	}
	return true;
}

void stor_log_fds_release(struct stor_log *log, bool now)
{
	/* A round in flight may name them (sync.c's add_dirty records which round took a
	 * segment's files, aux_round, and the directory's, dir_round), its SQEs perhaps not even
	 * submitted yet: they stay open until that round is done (rounds complete in order; the
	 * settling calls this again through stor_reap).  While a roll's spare
	 * renames are in flight the new segment keeps the spare descriptors it took: opening
	 * "<base>.index" or "<base>.txnindex" by name then would create a file that the rename
	 * replaces, and what was written to it would be lost (spare.c calls this when they land). */
	if (log->spare_renaming) return;
	if (log->aux_segs) {
		size_t seen = 0, held = 0;
		for (size_t i = log->nseg; i-- > 0 && seen < log->aux_segs;) {
			struct stor_segment *s = log->segs[i];
			if (!s->aux_held) continue;
			seen++;
			if (aux_release(s, now)) {
				s->aux_held = false;
			} else {
				held++;
			}
		}
		/* The walk stops once it has seen every counted segment, or reaches the first one
		 * having seen fewer (recovery frees some directly): either way `held` is the count. */
		log->aux_segs = held;
	}
	if (log->dfd >= 0 && !log->dir_dirty && log->dir_round <= log->round_done) {
		if (now) close(log->dfd);
		else stor_close_async(log, log->dfd);
		log->dfd = -1;
	}
}
