/*
 * storage/aborted.c: the aborted-transaction index of a log, one "<base>.txnindex" per segment
 * (entry format and queries in storage/txn_index.h), and how it survives crashes.
 *
 * Every segment gets its .txnindex file when it is created, empty until an ABORT marker lands in
 * it, so that a file missing at open means "lost" rather than "never had an abort".  Only
 * segments with entries hold the file open (struct stor_txnidx); the rest keep no descriptor.
 *
 * Durability: an entry is written (pwrite) when its marker is given its offset, before the
 * marker's own write completes, and the file joins the next flush round (sync.c), so a marker
 * made durable has its entry durable too.  What a crash can still leave behind is repaired from
 * the log: recovery (recover.c) sets txn_rebuild_from to the first segment it had to scan or whose
 * file was missing, the producer state replays the log from there (producer_recover.c) and adds
 * every abort again; adding is idempotent, so entries already there stay as they are.  A failed
 * write removes the file, which makes the next open rebuild it.
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
	int fd = stor_spare_txn_take(s->log, s->base);
	if (fd >= 0) {
		s->txn = stor_txnidx_open_fd(fd, &err);
		return s->txn ? 0 : err;
	}
	snprintf(path, sizeof path, "%s/%s", s->log->path, name);
	s->txn = stor_txnidx_open(path, &err);
	return s->txn ? 0 : err;
}

int stor_segment_txn_open(struct stor_segment *s, bool create)
{
	char name[48];
	txn_name(s, name, sizeof name);
	if (create) {
		int fd = openat(s->log->dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) return -errno;
		close(fd);
		return 0;
	}
	struct stat st;
	if (fstatat(s->log->dfd, name, &st, 0)) {
		if (errno != ENOENT) return -errno;
		s->txn_missing = true;
		return 0;
	}
	if (st.st_size == 0) return 0;
	int rc = load(s);
	if (rc == -EBADMSG) {
		stor_logf("%s: %s does not decode; it is rebuilt from the log", s->log->name, name);
		unlinkat(s->log->dfd, name, 0);
		s->txn_missing = true;
		return 0;
	}
	return rc;
}

void stor_segment_txn_close(struct stor_segment *s)
{
	stor_txnidx_close(s->txn);
	s->txn = NULL;
}

void stor_segment_txn_trim(struct stor_segment *s, int64_t offset)
{
	if (!s->txn) return;
	int rc = stor_txnidx_truncate(s->txn, offset);
	if (rc) {
		char name[48];
		txn_name(s, name, sizeof name);
		stor_logf("%s: truncating %s failed (%s); it is removed and rebuilt at the next open",
		          s->log->name, name, strerror(-rc));
		unlinkat(s->log->dfd, name, 0);
		stor_segment_txn_close(s);
		s->txn_missing = true;
	}
}

int stor_log_add_aborted(struct stor_log *log, const struct stor_aborted_txn *t)
{
	ssize_t i = stor_log_find_segment(log, t->last_offset);
	if (i < 0 || t->first_offset > t->last_offset) return -EINVAL;
	struct stor_segment *s = log->segs[i];
	size_t n = s->txn ? stor_txnidx_count(s->txn) : 0;
	if (n && stor_txnidx_entry(s->txn, n - 1)->last_offset >= t->last_offset) return 0;
	int rc = s->txn ? 0 : load(s);
	if (!rc) rc = stor_txnidx_append(s->txn, t);
	if (rc) {
		char name[48];
		txn_name(s, name, sizeof name);
		stor_logf("%s: recording aborted transaction of producer %" PRId64 " (offsets %" PRId64
		          "..%" PRId64 ") in %s failed (%s); the file is rebuilt at the next open",
		          log->name, t->producer_id, t->first_offset, t->last_offset, name, strerror(-rc));
		unlinkat(log->dfd, name, 0);
		stor_segment_txn_close(s);
		s->txn_missing = true;
		return rc;
	}
	s->txn_dirty = true;
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

int64_t stor_log_txn_rebuild_from(const struct stor_log *log)
{
	return log->txn_rebuild_from;
}

void stor_log_txn_rebuilt(struct stor_log *log)
{
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (!s->txn_missing) continue;
		/* Rebuilt: entries now in memory (and their file), or none (an empty file says so). */
		if (!s->txn && stor_segment_txn_open(s, true)) continue;
		s->txn_missing = false;
	}
	if (log->txn_rebuild_from != INT64_MAX) log->dir_dirty = true;
	log->txn_rebuild_from = INT64_MAX;
}
