/*
 * storage/spare.c: creating the next segment's files off the shard (segment roll without a
 * blocking open on the append path).
 *
 * Once the active segment is half way to its roll (half of segment.bytes written, or half of
 * segment.ms gone), the owner shard queues IORING_OP_OPENAT for four spare files, "spare.log.tmp", "spare.index.tmp", "spare.timeindex.tmp" and
 * "spare.txnindex.tmp" (the kernel creates them on its io-wq workers, not on the shard's core).
 * Only the .log's descriptor is kept once made (the others are closed at once: they need only
 * exist, fds.c opens them when the segment first writes them).  A roll that finds all four made
 * takes them: the new segment writes through the .log's descriptor at once, and four
 * IORING_OP_RENAMEAT give the files their real names ("<base>.log", ...).  Until
 * those renames complete, no group commit starts (sync.c asks stor_spare_busy): an fdatasync
 * round must never report offsets durable while the file holding them still has a temporary
 * name, because recovery removes *.tmp leftovers.  When they complete, the directory is marked
 * for the next round's fsync; its descriptor, which the log holds only while a sync of it is
 * due (fds.c), is opened by a fifth op beside the renames, and counts as one of them.  Every
 * name goes by its full path: no directory descriptor is needed for them.  A failed rename takes the partition offline (nothing written to
 * that segment could be found again after a restart).  A roll that finds the spares not ready
 * yet (rolls in quick succession: the previous renames or the new opens are in flight) waits for
 * them: append.c holds the appends meanwhile and writes them once the opens complete.  Only
 * after a failed open (and when more than segment.bytes would wait) are the files created with
 * blocking calls.
 *
 * Why not at once after every roll: the four descriptors (and the zero chunk prealloc.c writes
 * at the spare's start) would then be held by every partition that ever took a record, most of
 * which never roll again: with 10,000 partitions that was 40,000 descriptors of 90,000.  Half
 * a segment ahead still leaves the opens far more time than they take.
 *
 * Crash windows: before a rename lands, records in the new segment are only in "spare.log.tmp"
 * and are dropped at the next open (none of them was acknowledged as durable; acks=1 records of
 * that window are lost after a crash, as after a power loss); with the .log renamed and an index
 * not yet, the index is rebuilt at open.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/fault.h"
#include "storage/internal.h"

static const char *const spare_name[STOR_SPARE_FILES] = {
	"spare.log.tmp", "spare.index.tmp", "spare.timeindex.tmp", "spare.txnindex.tmp",
};
static const char *const spare_ext[STOR_SPARE_FILES] = {"log", "index", "timeindex", "txnindex"};

static void open_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_spare_op *so = rt_container_of(op, struct stor_spare_op, op);
	struct stor_log *log = so->log;
	free(log->spare_src[so->i]);
	log->spare_src[so->i] = NULL;
	log->inflight--;
	log->spare_opening--;
	if (res >= 0 && so->i > 0) {
		/* The indexes and the .txnindex need only exist for the renames: their descriptors
		 * are opened when the segment first writes them (fds.c), after the renames. */
		stor_close_async(log, res);
		log->spare_made[so->i] = true;
	} else if (res >= 0) {
		log->spare_fd[so->i] = res;
		/* Zeros at the start of the next segment, unless a roll waits for it right now. */
		if (so->i == 0 && !log->roll_wait) stor_pa_kick(log);
	} else if (!log->spare_failed) {
		log->spare_failed = true;
		stor_logf("%s: creating spare segment file %s failed (%s); rolls create their files "
		          "themselves", log->name, spare_name[so->i], strerror(-res));
	}
	/* A roll waiting for these files goes on once they are all open (or one failed). */
	if (!log->spare_opening && log->roll_wait) stor_roll_resume(log);
}

static void rename_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct stor_spare_op *so = rt_container_of(op, struct stor_spare_op, op);
	struct stor_log *log = so->log;
	free(log->spare_src[so->i]);
	log->spare_src[so->i] = NULL;
	if (so->i < STOR_SPARE_FILES) {
		free(log->spare_dest[so->i]);
		log->spare_dest[so->i] = NULL;
	}
	log->inflight--;
	log->spare_renaming--;
	if (so->i == STOR_SPARE_FILES) {
		/* The directory's descriptor, for the sync of the new names (fds.c). */
		if (res >= 0 && log->dfd < 0) log->dfd = res;
		else if (res >= 0) stor_close_async(log, res);
		else stor_log_go_offline(log, "opening the partition directory for its sync", res);
	} else if (res < 0) {
		log->spare_failed = true;
		stor_log_go_offline(log, "renaming a new segment's file into place", res);
	}
	if (!log->spare_renaming && !log->offline) {
		log->dir_dirty = true;
		stor_spare_prepare_due(log);
		stor_sync_kick(log);
	}
	/* A cut that waited for the renames (truncate.c) unlinks its names now. */
	if (!log->spare_renaming) stor_truncate_resume(log);
	/* Index entries and aborts of the new segment that waited for the renames open their
	 * files now (fds.c). */
	if (!log->spare_renaming && !log->offline && log->nseg) stor_segment_aux_resume(stor_log_active(log));
	if (!log->spare_renaming) stor_log_fds_release(log, false);
	/* A roll that waited for these renames needs new spares now, whether or not the active
	 * segment is "due" by size: a roll on a full offset index or on segment.ms comes long before
	 * half of segment.bytes, and stor_spare_prepare_due would open nothing, so no open_cb would
	 * ever resume the roll (the appends behind it hung).  Nothing to open (failed, offline):
	 * the roll goes on at once and creates its files itself. */
	if (!log->spare_renaming && log->roll_wait) {
		stor_spare_prepare(log);
		if (!log->spare_opening) stor_roll_resume(log);
	}
}

void stor_spare_prepare(struct stor_log *log)
{
	if (log->offline || log->spare_failed || log->spare_opening || log->spare_renaming)
		return;
	for (int i = 0; i < STOR_SPARE_FILES; i++) {
		if (log->spare_fd[i] >= 0 || log->spare_made[i]) continue;
		/* By full name: the log holds no directory descriptor (fds.c); the name lives until
		 * the completion. */
		char *p = stor_log_file_path(log, spare_name[i]);
		struct io_uring_sqe *sqe = p ? stor_get_sqe(log) : NULL;
		if (!sqe) {
			free(p);
			return;
		}
		log->spare_src[i] = p;
		struct stor_spare_op *so = &log->spare_op[i];
		so->op.cb = open_cb;
		so->log = log;
		so->i = i;
		io_uring_prep_openat(sqe, AT_FDCWD, p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		io_uring_sqe_set_data(sqe, &so->op);
		log->inflight++;
		log->spare_opening++;
	}
}

void stor_spare_prepare_due(struct stor_log *log)
{
	if (log->spare_fd[0] >= 0 || !log->nseg) return;
	const struct stor_segment *s = log->segs[log->nseg - 1];
	bool due = s->size >= (uint64_t)log->cfg.segment_bytes / 2 ||
	           stor_now_ms() - s->created_ms >= log->cfg.segment_ms / 2;
	if (due) stor_spare_prepare(log);
}

/* All four made: the .log open, the others closed again. */
static bool made(const struct stor_log *log)
{
	for (int i = 0; i < STOR_SPARE_FILES; i++)
		if (i ? !log->spare_made[i] : log->spare_fd[i] < 0) return false;
	return true;
}

bool stor_spare_ready(const struct stor_log *log)
{
	return made(log) && !log->spare_renaming;
}

bool stor_spare_busy(const struct stor_log *log)
{
	return log->spare_renaming > 0;
}

struct stor_segment *stor_spare_take(struct stor_log *log, int64_t base, int *err)
{
	if (!made(log) || log->spare_renaming) return NULL;
	/* The names by full path (the log holds no directory descriptor, fds.c), alive until the
	 * completions; and the directory's open for the sync of the new names unless it is open. */
	char *src[STOR_SPARE_FILES + 1] = {0}, *dst[STOR_SPARE_FILES] = {0};
	int nops = STOR_SPARE_FILES + (log->dfd < 0 ? 1 : 0);
	bool names = true;
	for (int i = 0; i < STOR_SPARE_FILES; i++) {
		char nm[48];
		stor_segment_name(nm, sizeof nm, base, spare_ext[i]);
		src[i] = stor_log_file_path(log, spare_name[i]);
		dst[i] = stor_log_file_path(log, nm);
		names = names && src[i] && dst[i];
	}
	if (nops > STOR_SPARE_FILES) {
		src[STOR_SPARE_FILES] = strdup(log->path);
		names = names && src[STOR_SPARE_FILES];
	}
	struct stor_segment *s = names ? stor_segment_new(log, base, err) : NULL;
	/* A test may hold the .log's rename in flight behind a gate (fault.h): one more SQE, a poll
	 * of the gate linked before the rename. */
	int gate = s ? stor_fault_gate(STOR_FAULT_SPARE_RENAME) : -1;
	/* All SQEs or none: a half-prepared set must never be submitted. */
	struct io_uring_sqe *sqe[STOR_SPARE_FILES + 1];
	if (s && !stor_sq_reserve(log, (unsigned)nops + (gate >= 0))) {
		stor_segment_free(s);
		s = NULL;
	}
	if (!s) {
		for (int i = 0; i <= STOR_SPARE_FILES; i++) free(src[i]);
		for (int i = 0; i < STOR_SPARE_FILES; i++) free(dst[i]);
		if (!names) *err = -ENOMEM;
		return NULL;
	}
	if (gate >= 0) {
		struct io_uring_sqe *g = io_uring_get_sqe(log->ring);
		io_uring_prep_poll_add(g, gate, POLLIN);
		io_uring_sqe_set_data(g, NULL);  /* its completion is ignored (base/ioop.h) */
		g->flags |= IOSQE_IO_LINK;       /* the next SQE, the .log's rename, waits for it */
	}
	for (int i = 0; i < nops; i++) sqe[i] = io_uring_get_sqe(log->ring);
	/* The .txnindex's entries (none yet) without a descriptor, and no index descriptors: an
	 * index page or an abort that comes while the renames are in flight waits for them
	 * (opening "<base>.index" by name before would create a file the rename replaces, fds.c). */
	stor_segment_txn_adopt(s, -1);
	s->fd = log->spare_fd[0];
	stor_pa_take_spare(log, s);
	stor_segment_aux_note(s);
	for (int i = 0; i < nops; i++) {
		struct stor_spare_op *so = &log->spare_op[i];
		log->spare_src[i] = src[i];
		so->op.cb = rename_cb;
		so->log = log;
		so->i = i;
		if (i < STOR_SPARE_FILES) {
			log->spare_dest[i] = dst[i];
			io_uring_prep_renameat(sqe[i], AT_FDCWD, src[i], AT_FDCWD, dst[i], 0);
		} else {
			io_uring_prep_openat(sqe[i], AT_FDCWD, src[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		}
		io_uring_sqe_set_data(sqe[i], &so->op);
		log->inflight++;
		log->spare_renaming++;
	}
	for (int i = 0; i < STOR_SPARE_FILES; i++) {
		log->spare_fd[i] = -1;
		log->spare_made[i] = false;
	}
	return s;
}

void stor_spare_discard(struct stor_log *log)
{
	for (int i = 0; i < STOR_SPARE_FILES; i++) {
		if (log->spare_fd[i] < 0 && !log->spare_made[i]) continue;
		if (log->spare_fd[i] >= 0) close(log->spare_fd[i]);
		log->spare_fd[i] = -1;
		log->spare_made[i] = false;
		char *p = log->path ? stor_log_file_path(log, spare_name[i]) : NULL;
		if (p) unlink(p);
		free(p);
	}
}
