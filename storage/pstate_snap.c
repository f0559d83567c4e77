/*
 * storage/pstate_snap.c: producer snapshots at a segment roll, written off the shard
 * (stor_pstate_snapshot_queue in producer_state.h).
 *
 * Ordering.  The state is encoded on the shard at the roll, so the snapshot holds exactly the
 * producers of the offsets below the new segment's base, whatever is appended while the write is
 * out.  The log counts the job as I/O in flight (log->inflight), so stor_log_idle is false until
 * it is back: a partition is never closed (its final snapshot) or deleted (its directory renamed
 * and emptied) while an earlier snapshot for it is still being written.  The worker runs jobs in
 * submission order, so a snapshot's prune, which removes snapshots newer than its own offset,
 * can never remove a later roll's snapshot, and the producer-state rebuild after a cut
 * (pstate_rebuild.c), which prunes the snapshots past the new end, runs after every snapshot
 * queued before the cut.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/bg.h"
#include "storage/internal.h"
#include "storage/producer_state.h"

struct snap_job {
	struct stor_bg_job j;
	struct stor_log *log;       /* held (inflight) until done */
	char *dir;                  /* copy of log->path: the worker reads no log field */
	int64_t offset, log_start;
	uint8_t *buf;
	size_t len;
};

/* On the worker thread. */
static void snap_run(struct stor_bg_job *bj)
{
	struct snap_job *sj = rt_container_of(bj, struct snap_job, j);
	int rc = stor_pstate_snapshot_write_encoded(sj->dir, sj->offset, sj->buf, sj->len);
	/* Only once the new one is durable: a crash in between still finds a snapshot. */
	if (!rc) {
		int n = stor_pstate_snapshot_prune(sj->dir, sj->log_start, sj->offset);
		rc = n < 0 ? n : 0;
	}
	bj->res = rc;
}

/* On the owner shard. */
static void snap_done(struct stor_bg_job *bj, int32_t res)
{
	struct snap_job *sj = rt_container_of(bj, struct snap_job, j);
	struct stor_log *log = sj->log;
	log->inflight--;
	if (res < 0)
		stor_logf("%s: producer snapshot at offset %" PRId64 " failed (%s); recovery replays the "
		          "log from the previous one", log->name, sj->offset, strerror(-res));
	free(sj->buf);
	free(sj->dir);
	free(sj);
}

int stor_pstate_snapshot_queue(const struct stor_pstate *ps, struct stor_log *log, struct stor_bg *bg,
                               int64_t offset)
{
	struct snap_job *sj = calloc(1, sizeof *sj);
	if (!sj) return -ENOMEM;
	sj->buf = stor_pstate_snapshot_encode(ps, &sj->len);
	sj->dir = strdup(log->path);
	if (!sj->buf || !sj->dir) {
		free(sj->buf);
		free(sj->dir);
		free(sj);
		return -ENOMEM;
	}
	sj->log = log;
	sj->offset = offset;
	sj->log_start = log->log_start;
	log->inflight++;
	stor_bg_submit(bg, &sj->j, snap_run, snap_done);
	return 0;
}
