/*
 * storage/retention.c: removing data: retention by time and size, DeleteRecords (log start
 * offset), and the deferred unlinking of deleted segments (truncation is truncate.c).
 *
 * A deleted segment leaves the log's array at once (readers can no longer find it) but keeps its
 * descriptors until the last reader releases its pin and no SQE uses them; then its files are
 * unlinked through io_uring, off the append path.  Retention only ever removes a prefix of the
 * log, as Kafka does, and never the segment appends go to (that one is rolled first).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "storage/fault.h"
#include "storage/internal.h"

struct unlink_op {
	struct rt_ioop op;
	struct stor_log *log;
	char *path;                 /* by full name: the log holds no directory descriptor (fds.c) */
};

static void unlink_cb(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct unlink_op *u = rt_container_of(op, struct unlink_op, op);
	u->log->inflight--;
	if (res < 0 && res != -ENOENT)
		stor_logf("%s: unlinking %s failed: %s", u->log->name, u->path, strerror(-res));
	free(u->path);
	free(u);
}

static void unlink_async(struct stor_log *log, int64_t base, const char *ext)
{
	char name[48];
	stor_segment_name(name, sizeof name, base, ext);
	struct unlink_op *u = malloc(sizeof *u);
	char *p = stor_log_file_path(log, name);
	struct io_uring_sqe *sqe = u && p ? stor_get_sqe(log) : NULL;
	if (!sqe) {
		free(u);
		if (p) unlink(p);
		free(p);
		return;
	}
	u->op.cb = unlink_cb;
	u->log = log;
	u->path = p;
	io_uring_prep_unlinkat(sqe, AT_FDCWD, p, 0);
	io_uring_sqe_set_data(sqe, &u->op);
	log->inflight++;
}

void stor_reap(struct stor_log *log)
{
	struct stor_segment **pp = &log->grave, *s;
	while ((s = *pp)) {
		/* A group-commit round issued before it left the log may still name its descriptors
		 * (its SQEs perhaps not even submitted yet). */
		if (s->refs || s->inflight || s->grave_round > log->round_done) {
			pp = &s->grave_next;
			continue;
		}
		*pp = s->grave_next;
		if (!s->replaced) {
			unlink_async(log, s->base, "log");
			unlink_async(log, s->base, "index");
			unlink_async(log, s->base, "timeindex");
			unlink_async(log, s->base, "txnindex");  /* when the segment had aborted transactions */
		}
		/* Unlinking a name and closing a descriptor of it are independent: either order
		 * frees the file once both are done. */
		stor_segment_free_async(s);
	}
	/* Settled rounds, completed writes: descriptors nothing needs any more go (fds.c). */
	stor_log_fds_release(log, false);
}

void stor_grave_push(struct stor_log *log, struct stor_segment *s)
{
	s->deleted = true;
	stor_segment_aux_forget(s);  /* reaping closes whatever it holds */
	s->grave_round = stor_sync_newest_round(log);
	s->grave_next = log->grave;
	log->grave = s;
}

void stor_retire_head(struct stor_log *log, size_t n)
{
	if (!n) return;
	assert(n < log->nseg);
	for (size_t i = 0; i < n; i++) stor_grave_push(log, log->segs[i]);
	memmove(log->segs, log->segs + n, (log->nseg - n) * sizeof *log->segs);
	log->nseg -= n;
	if (log->log_start < log->segs[0]->base) log->log_start = log->segs[0]->base;
	if (log->recovery_point < log->log_start) log->recovery_point = log->log_start;
	stor_log_publish(log);
	stor_log_recompute_max_ts(log);
	stor_reap(log);
}

int stor_log_delete_records(struct stor_log *log, int64_t offset, int64_t *low_watermark)
{
	if (offset == -1) offset = log->leo;  /* Kafka: -1 means the high watermark */
	if (offset < 0 || offset > log->leo) return -ERANGE;
	if (offset > log->log_start) {
		log->log_start = offset;
		size_t n = 0;
		while (n + 1 < log->nseg && log->segs[n + 1]->base <= offset) n++;
		stor_retire_head(log, n);
		stor_log_publish(log);
	}
	if (low_watermark) *low_watermark = log->log_start;
	return 0;
}

static bool expired(const struct stor_log *log, const struct stor_segment *s, int64_t now)
{
	if (log->cfg.retention_ms < 0) return false;
	int64_t t = s->max_ts >= 0 ? s->max_ts : s->created_ms;
	return t >= 0 && now - t > log->cfg.retention_ms;
}

int stor_log_tick(struct stor_log *log, int64_t now_ms)
{
	if (log->offline) return -EROFS;
	/* A cut's files are being cut (truncate.c): no roll or retention until they are. */
	if (log->cut) return 0;
	if (log->leo > log->durable && now_ms - log->last_flush_ms >= log->cfg.flush_ms) {
		log->flush_wanted = true;
		stor_sync_kick(log);
	}
	size_t n = 0;
	uint64_t total = stor_log_size(log);
	bool del = log->cfg.cleanup_policy & STOR_CLEANUP_DELETE;
	while (n < log->nseg) {
		struct stor_segment *s = log->segs[n];
		bool last = n + 1 == log->nseg;
		bool below_start = !last && log->segs[n + 1]->base <= log->log_start;
		bool by_time = del && s->visible && expired(log, s, now_ms);
		bool by_size = del && log->cfg.retention_bytes >= 0 &&
		               total - s->visible >= (uint64_t)log->cfg.retention_bytes && s->visible;
		if (!below_start && !by_time && !by_size) break;
		if (last) {
			/* Everything is due: roll so the old active segment can go, as Kafka does. */
			if (!by_time || log->wq_head || s->size != s->visible) break;
			if (stor_log_roll(log)) break;
		}
		total -= s->visible;
		n++;
	}
	if (n) {
		stor_logf("%s: retention deletes %zu segment(s) below offset %" PRId64, log->name, n,
		          log->segs[n]->base);
		stor_retire_head(log, n);
	}
	stor_reap(log);
	return (int)n;
}
