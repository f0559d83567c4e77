/*
 * storage/aborted.c: the aborted-transaction index of a log, one "<base>.txnindex" per segment
 * (entry format and queries in storage/txn_index.h), and how it survives crashes.
 *
 * Every segment gets its .txnindex file when it is created, empty until an ABORT marker lands in
 * it, so that a file missing at open means "lost" rather than "never had an abort".  Segments
 * created by this process keep the descriptor they were created with (struct stor_txnidx), and
 * the active segment of a recovered log has its file opened at open, so the segment that takes
 * an ABORT marker in the steady state always has it: no open on the shard.  Older segments
 * without entries keep no descriptor.
 *
 * Writing.  In the steady state an entry is recorded in memory and written through the shard's
 * ring (IORING_OP_WRITE) when its marker is given its offset, next to the marker's own write.
 * The two writes are unordered, so durability rests on the recovery point instead: the write is
 * counted in the segment's idx_inflight, txn_dirty is set only once it has completed (so the
 * next flush round's fdatasync of the file comes after it), and the recovery point never passes
 * a segment with an index write in flight or a .txnindex not yet synced (sync.c,
 * update_recovery_point).  So an entry that a crash lost is always in a segment that the next
 * open scans, and the replay below puts it back.  Entries met again while replaying the log
 * (start-up, or after a truncation: their markers are below the log end) are written with a
 * blocking pwrite, as start-up may block.
 *
 * Crash repair: recovery (recover.c) sets txn_rebuild_from to the first segment it had to scan
 * or whose file was missing, the producer state replays the log from there (producer_recover.c)
 * and adds every abort again; adding is idempotent, so entries already there stay as they are.
 * A failed write removes the file (through the ring), which makes the next open rebuild it; the
 * entries stay in memory for the fetches until then.
 *
 * Invariants: entries of a segment are ordered by marker offset and every marker lies in
 * [segment base, next segment base); entries past the log end are trimmed with the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liburing.h>

#include "storage/internal.h"

static void txn_name(const struct stor_segment *s, char *out, size_t n)
{
	stor_segment_name(out, n, s->base, "txnindex");
}

/* Opens the entries of s (creating the file when missing).  0 or -errno. */
static int load(struct stor_segment *s)
{
	char name[48], path[4096];
	txn_name(s, name, sizeof name);
	int err = 0;
	snprintf(path, sizeof path, "%s/%s", s->log->path, name);
	s->txn = stor_txnidx_open(path, &err);
	if (s->txn) stor_segment_aux_note(s);
	return s->txn ? 0 : err;
}

/* The descriptor of s's .txnindex for a blocking path (replay, recovery): opened when the
 * entries are held without one (fds.c).  0 or -errno. */
static int fd_sync(struct stor_segment *s)
{
	if (stor_txnidx_fd(s->txn) >= 0) return 0;
	char name[48];
	txn_name(s, name, sizeof name);
	char *p = stor_log_file_path(s->log, name);
	if (!p) return -ENOMEM;
	int fd;
	if (stor_segment_renaming(s)) {
		/* A roll's renames are in flight (an abort replayed right after the roll): the file is
		 * "spare.txnindex.tmp" until its rename lands and "<base>.txnindex" after, always
		 * under exactly one of the two; creating the real name now would make a file that
		 * the rename replaces. */
		char *q = stor_log_file_path(s->log, "spare.txnindex.tmp");
		fd = -1;
		errno = ENOMEM;
		for (int i = 0; q && i < 1000 && fd < 0; i++) {
			if ((fd = open(p, O_RDWR | O_CLOEXEC)) >= 0 || errno != ENOENT) break;
			if ((fd = open(q, O_RDWR | O_CLOEXEC)) >= 0 || errno != ENOENT) break;
		}
		free(q);
	} else {
		fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	free(p);
	if (fd < 0) return -errno;
	stor_txnidx_give_fd(s->txn, fd);
	stor_segment_aux_note(s);
	return 0;
}

/* Removes s's .txnindex by name (blocking; error paths). */
static void unlink_sync(struct stor_segment *s)
{
	char name[48];
	txn_name(s, name, sizeof name);
	char *p = stor_log_file_path(s->log, name);
	if (p) unlink(p);
	free(p);
}

int stor_segment_txn_open(struct stor_segment *s, bool create)
{
	char name[48];
	txn_name(s, name, sizeof name);
	int dfd = stor_log_dirfd(s->log);
	if (dfd < 0) return dfd;
	if (create) {
		int fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) return -errno;
		/* The entries are kept (this may become the active segment, see the file comment),
		 * the descriptor only until the log is idle (fds.c). */
		if (!(s->txn = stor_txnidx_new(fd))) close(fd);
		else stor_segment_aux_note(s);
		return 0;
	}
	struct stat st;
	if (fstatat(dfd, name, &st, 0)) {
		if (errno != ENOENT) return -errno;
		s->txn_missing = true;
		return 0;
	}
	if (st.st_size == 0) return 0;
	int rc = load(s);
	if (rc == -EBADMSG) {
		stor_logf("%s: %s does not decode; it is rebuilt from the log", s->log->name, name);
		unlinkat(dfd, name, 0);
		s->txn_missing = true;
		return 0;
	}
	return rc;
}

void stor_segment_txn_adopt(struct stor_segment *s, int fd)
{
	if (!(s->txn = stor_txnidx_new(fd))) stor_close_async(s->log, fd);
	else if (fd >= 0) stor_segment_aux_note(s);
}

void stor_segment_txn_hold(struct stor_segment *s)
{
	if (s->txn || s->txn_missing) return;
	if (load(s))
		s->txn = NULL;  /* a later abort opens it (blocking) or recovery rebuilds it */
}

void stor_segment_txn_close(struct stor_segment *s)
{
	stor_txnidx_close(s->txn);
	s->txn = NULL;
}

void stor_segment_txn_trim(struct stor_segment *s, int64_t offset)
{
	if (!s->txn) return;
	int rc = fd_sync(s);
	if (!rc) rc = stor_txnidx_truncate(s->txn, offset);
	if (rc) {
		char name[48];
		txn_name(s, name, sizeof name);
		stor_logf("%s: truncating %s failed (%s); it is removed and rebuilt at the next open",
		          s->log->name, name, strerror(-rc));
		unlink_sync(s);
		stor_segment_txn_close(s);
		s->txn_missing = true;
	}
}

struct txn_write {
	struct rt_ioop op;
	struct stor_segment *s;
	uint8_t buf[STOR_TXNIDX_ENTRY];
	uint64_t pos;
	char *path;                 /* for an unlink: the file's name, alive until the completion */
	struct txn_write *next;     /* in s->txn_wait */
	struct stor_aborted_txn t;
};

static void failed(struct stor_segment *s, const struct stor_aborted_txn *t, int err)
{
	struct stor_log *log = s->log;
	char name[48];
	txn_name(s, name, sizeof name);
	stor_logf("%s: recording aborted transaction of producer %" PRId64 " (offsets %" PRId64
	          "..%" PRId64 ") in %s failed (%s); the file is rebuilt at the next open",
	          log->name, t->producer_id, t->first_offset, t->last_offset, name, strerror(-err));
}

static void unlink_cb(struct rt_ioop *op, int32_t res, uint32_t flags);

static void write_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct txn_write *w = rt_container_of(op, struct txn_write, op);
	struct stor_segment *s = w->s;
	struct stor_log *log = s->log;
	s->inflight--;
	s->idx_inflight--;
	log->inflight--;
	if (res != STOR_TXNIDX_ENTRY) {
		if (!s->txn_missing) {
			failed(s, &w->t, res < 0 ? res : -EIO);
			/* The file no longer mirrors the entries: remove it so the next open rebuilds
			 * it from the log (the removal needs no order against anything else here). */
			char name[48];
			txn_name(s, name, sizeof name);
			char *p = stor_log_file_path(log, name);
			struct io_uring_sqe *sqe = p ? stor_get_sqe(log) : NULL;
			if (sqe) {
				/* The name must outlive the SQE: the op owns it. */
				struct txn_write *u = w;
				w = NULL;
				u->path = p;
				io_uring_prep_unlinkat(sqe, AT_FDCWD, p, 0);
				io_uring_sqe_set_data(sqe, &u->op);
				u->op.cb = unlink_cb;
				s->inflight++;
				log->inflight++;
			} else {
				free(p);
				unlink_sync(s);
			}
			s->txn_missing = true;
		}
	} else if (!s->txn_missing) {
		/* Completed: from now on a flush round syncs the file after this write. */
		s->txn_dirty = true;
		if (s != stor_log_active(log) && !s->deleted) {
			log->flush_wanted = true;
			stor_sync_kick(log);
		}
	}
	free(w);
	stor_log_fds_release(log, false);
	if (s->deleted) stor_reap(log);
}

static void unlink_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct txn_write *w = rt_container_of(op, struct txn_write, op);
	struct stor_segment *s = w->s;
	s->inflight--;
	s->log->inflight--;
	free(w->path);
	free(w);
	if (s->deleted) stor_reap(s->log);
}

/* Queues w's write (counted in flight already); its completion is write_cb either way. */
static void submit(struct txn_write *w)
{
	struct stor_segment *s = w->s;
	struct io_uring_sqe *sqe = stor_get_sqe(s->log);
	if (!sqe) {
		write_cb(&w->op, -EBUSY, 0);  /* the ring is unusable: rebuilt at the next open */
		return;
	}
	io_uring_prep_write(sqe, stor_txnidx_fd(s->txn), w->buf, STOR_TXNIDX_ENTRY, w->pos);
	io_uring_sqe_set_data(sqe, &w->op);
}

void stor_segment_txn_resume(struct stor_segment *s, int err)
{
	struct txn_write *w;
	if (!err && (!s->txn || stor_txnidx_fd(s->txn) < 0)) err = -EBADF;
	while ((w = s->txn_wait)) {
		s->txn_wait = w->next;
		w->next = NULL;
		if (err) write_cb(&w->op, err, 0);
		else submit(w);
	}
}

int stor_log_add_aborted(struct stor_log *log, const struct stor_aborted_txn *t)
{
	ssize_t i = stor_log_find_segment(log, t->last_offset);
	if (i < 0 || t->first_offset > t->last_offset) return -EINVAL;
	struct stor_segment *s = log->segs[i];
	size_t n = s->txn ? stor_txnidx_count(s->txn) : 0;
	if (n && stor_txnidx_entry(s->txn, n - 1)->last_offset >= t->last_offset) return 0;
	/* A marker below the log end is a replay (start-up recovery or after a truncation), which
	 * may block; a new marker (at or past the log end: its write is still in flight) is not. */
	bool replay = t->last_offset < log->leo;
	int rc = s->txn ? 0 : load(s);  /* steady state: never (the active segment holds it) */
	struct txn_write *w = NULL;
	if (!rc && !replay && !(w = calloc(1, sizeof *w))) replay = true;
	if (!rc && replay) rc = fd_sync(s);
	if (!rc && replay) rc = stor_txnidx_append(s->txn, t);
	if (rc) {
		free(w);
		failed(s, t, rc);
		unlink_sync(s);
		stor_segment_txn_close(s);
		s->txn_missing = true;
		return rc;
	}
	if (replay) {
		s->txn_dirty = true;
		return 0;
	}
	uint64_t pos;
	if ((rc = stor_txnidx_push(s->txn, t, w->buf, &pos))) {
		free(w);
		return rc;
	}
	w->s = s;
	w->t = *t;
	w->pos = pos;
	w->op.cb = write_cb;
	s->inflight++;
	s->idx_inflight++;
	log->inflight++;
	/* The descriptor is held only around writes (fds.c): the entry waits for its open. */
	if (stor_txnidx_fd(s->txn) < 0) {
		struct txn_write **pp = &s->txn_wait;
		while (*pp) pp = &(*pp)->next;
		*pp = w;
		if (!s->aux[2].busy) stor_segment_aux_open(s, false, true);
		return 0;
	}
	submit(w);
	return 0;
}

size_t stor_log_collect_aborted(const struct stor_log *log, int64_t fetch_offset, int64_t upper,
                                struct stor_aborted_txn *out, size_t cap)
{
	ssize_t i = stor_log_find_segment(log, fetch_offset);
	size_t n = 0;
	for (size_t k = i < 0 ? 0 : (size_t)i; k < log->nseg; k++) {
		const struct stor_segment *s = log->segs[k];
		if (s->txn && stor_txnidx_collect(s->txn, fetch_offset, upper, out, cap, &n)) break;
	}
	return n;
}

void stor_log_txn_settle_sync(struct stor_log *log)
{
	int err = 0;
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (!s->txn_dirty || !s->txn || stor_txnidx_fd(s->txn) < 0) continue;
		int rc = stor_txnidx_sync(s->txn);
		if (rc && !err) err = rc;
		if (!rc) s->txn_dirty = false;
	}
	if (log->dir_dirty && !err) {
		int dfd = stor_log_dirfd(log);
		if (dfd < 0) err = dfd;
		else if (fsync(dfd)) err = -errno;
		else log->dir_dirty = false;
	}
	if (err) stor_log_go_offline(log, "syncing the rebuilt .txnindex files", err);
	stor_log_fds_release(log, true);
}

int64_t stor_log_txn_rebuild_from(const struct stor_log *log)
{
	return log->txn_rebuild_from;
}

void stor_log_txn_rebuilt(struct stor_log *log)
{
	bool created = false;
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (!s->txn_missing) continue;
		/* Rebuilt: entries now in memory (and their file), or none (an empty file says so).
		 * Either way its file was made again (by the replay's first entry, or here), and that
		 * is what the directory sync is for: a scanned segment whose file was there needs
		 * none (every unclean open scans one, and 10,000 partitions would each hold their
		 * directory's descriptor until a round, fds.c). */
		created = true;
		if (!s->txn && stor_segment_txn_open(s, true)) continue;
		s->txn_missing = false;
	}
	if (created) {
		/* The directory's descriptor is held while its sync is due (fds.c). */
		int dfd = stor_log_dirfd(log);
		if (dfd >= 0) log->dir_dirty = true;
		else stor_log_go_offline(log, "opening the partition directory for its sync", dfd);
	}
	log->txn_rebuild_from = INT64_MAX;
}
