/*
 * storage/truncate.c: cutting a log back to an offset: the repair after a failed write
 * (append.c) and explicit truncation (stor_log_truncate, stor_log_truncate_start).
 *
 * A cut has two halves.  The log's memory (segments, sizes, indexes, offsets, the .txnindex
 * entries, leader epochs) is cut at once on the owner shard, so no reader or append sees the
 * offsets that go.  The files (the names of the segments cut off unlinked; the .log, its two
 * indexes and its .txnindex cut with ftruncate; for an explicit truncation also an fdatasync,
 * a directory fsync and the leader-epoch checkpoint) are cut by one job on the shard's file
 * worker (storage/bg.h; io_uring has no opcode for a checkpoint's rename and not every kernel
 * has IORING_OP_FTRUNCATE), so the shard never waits on them.  Without a worker
 * (stor_log_set_bg not called: start-up, tests) the same job runs on the caller's thread.
 *
 * Invariants while the files are being cut (log->cut != NULL): the log is not idle (inflight)
 * and takes no append (the repair keeps fail_err; an explicit truncation's caller must not
 * append), so no write can land in the bytes the ftruncate cuts; the cut segment's descriptors
 * stay open (its inflight count); the names of the segments cut off are unlinked before any
 * roll could create a segment of the same base name, and after every spare file rename in flight
 * (spare.c) lands: such a rename gives a segment its name, and landing after the unlink it would
 * bring back the name of a segment cut off.  The job opens its own descriptors of the directory
 * and the index files (the log holds them only while it needs them, fds.c) and syncs the
 * directory after its unlinks; the segment is marked dirty only when the job is back, so the
 * flush that makes the cut durable is one issued after it.  A failed cut leaves memory and files apart: the callers take the partition offline (the
 * next open recovers it).
 * The roll hook (truncated = true) runs when the files are cut.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/file_replace.h"
#include "storage/bg.h"
#include "storage/fault.h"
#include "storage/internal.h"

#define NAME_LEN 48

struct stor_cut {
	struct stor_bg_job job;
	struct stor_log *log;
	struct stor_segment *seg;       /* the segment cut at pos (its inflight count held) */
	int64_t offset;
	bool sync;                      /* explicit truncation: durable before done */
	/* the file work, set on the shard, read by the worker */
	const char *path;               /* the log's directory (the log outlives the cut) */
	int fd;                         /* the .log's (the segment's own: the shard keeps it open) */
	bool xcut;                      /* the .txnindex is cut too */
	char iname[NAME_LEN], tname[NAME_LEN];
	uint64_t pos, ilen, tlen, xlen;
	int32_t fault;                  /* the fault layer's result for the .log cut (it is per
	                                 * thread: asked on the shard) */
	char xname[NAME_LEN];
	char (*names)[NAME_LEN];        /* files of the segments cut off */
	size_t nnames;
	char *epochs;                   /* leader-epoch-checkpoint's new text, or NULL */
	size_t epochs_len;
	/* results, set by the worker */
	bool idx_err, txn_err;
	stor_cut_fn done;
	void *arg;
	bool held;                      /* waits for the spare renames in flight */
};

/* On the worker (or the caller's thread without one): every file call of the cut. */
static void cut_run(struct stor_bg_job *j)
{
	struct stor_cut *c = rt_container_of(j, struct stor_cut, job);
	/* The log holds no descriptor of its directory or its indexes unless something needs them
	 * (fds.c): the job opens its own. */
	int dfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		j->res = -errno;
		c->idx_err = true;
		return;
	}
	for (size_t i = 0; i < c->nnames; i++) unlinkat(dfd, c->names[i], 0);
	int err = 0;
	if (c->fault < 0) err = c->fault;
	else if (ftruncate(c->fd, (off_t)c->pos)) err = -errno;
	int ifd = openat(dfd, c->iname, O_RDWR | O_CLOEXEC), tfd = openat(dfd, c->tname, O_RDWR | O_CLOEXEC);
	if (ifd < 0 || tfd < 0 || ftruncate(ifd, (off_t)c->ilen) || ftruncate(tfd, (off_t)c->tlen))
		c->idx_err = true;
	if (ifd >= 0) close(ifd);
	if (tfd >= 0) close(tfd);
	if (c->xcut) {
		int xfd = openat(dfd, c->xname, O_RDWR | O_CLOEXEC);
		if (xfd < 0 || ftruncate(xfd, (off_t)c->xlen)) {
			c->txn_err = true;
			unlinkat(dfd, c->xname, 0);  /* rebuilt from the log at the next open */
		}
		if (xfd >= 0) close(xfd);
	}
	if (!err && c->sync) {
		if (fdatasync(c->fd) || fsync(dfd)) err = -errno;
		else if (c->epochs)
			err = rt_file_replace_at(dfd, "leader-epoch-checkpoint", c->epochs, c->epochs_len);
	} else if (!err && c->nnames && fsync(dfd)) {
		/* The unlinks are made durable here rather than by the next round: the log holds
		 * its directory's descriptor only while a round must sync it (fds.c). */
		err = -errno;
	}
	close(dfd);
	j->res = err;
}

/* On the owner shard: the files are cut (or not). */
static void cut_back(struct stor_bg_job *j, int32_t res)
{
	struct stor_cut *c = rt_container_of(j, struct stor_cut, job);
	struct stor_log *log = c->log;
	struct stor_segment *s = c->seg;
	s->inflight--;
	log->inflight--;
	log->cut = NULL;
	if (c->idx_err) s->idx_bad = true;
	if (c->txn_err) {
		stor_logf("%s: truncating %s failed; it is removed and rebuilt at the next open", log->name,
		          c->xname);
		stor_segment_txn_close(s);
		s->txn_missing = true;
	}
	if (res) {
		/* the caller's done takes the partition offline */
	} else if (c->sync) {
		s->dirty = false;
		log->durable = log->leo;
	} else {
		s->dirty = true;  /* the next flush makes the new size durable (the job synced the
		                   * directory after its unlinks) */
		s->sync_lo = 0;
	}
	if (!res && log->roll_hook) log->roll_hook(log->roll_arg, log, c->offset, true);
	stor_reap(log);
	stor_cut_fn done = c->done;
	void *arg = c->arg;
	free(c->names);
	free(c->epochs);
	free(c);
	done(log, arg, res);
}

static void cut_submit(struct stor_cut *c)
{
	if (c->log->bg) {
		stor_bg_submit(c->log->bg, &c->job, cut_run, cut_back);
	} else {
		cut_run(&c->job);
		cut_back(&c->job, c->job.res);
	}
}

void stor_truncate_at(struct stor_log *log, size_t i, uint64_t pos, int64_t offset, bool sync,
                      stor_cut_fn done, void *arg)
{
	assert(!log->cut);
	struct stor_cut *c = calloc(1, sizeof *c);
	size_t drop = log->nseg - (i + 1);
	if (c && drop && !(c->names = calloc(drop * 4, NAME_LEN))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		done(log, arg, -ENOMEM);
		return;
	}
	/* The segments past the cut leave the log; their offsets are assigned again. */
	static const char *const ext[] = {"log", "index", "timeindex", "txnindex"};
	while (log->nseg > i + 1) {
		struct stor_segment *t = log->segs[--log->nseg];
		for (int e = 0; e < 4; e++) stor_segment_name(c->names[c->nnames++], NAME_LEN, t->base, ext[e]);
		t->replaced = true;  /* its names are unlinked by the job: reaping only closes */
		stor_grave_push(log, t);
	}
	struct stor_segment *s = log->segs[i];
	c->log = log;
	c->seg = s;
	c->offset = offset;
	c->sync = sync;
	c->path = log->path;
	c->fd = s->fd;
	c->pos = pos;
	c->fault = stor_fault_check(STOR_FAULT_TRUNCATE);
	c->done = done;
	c->arg = arg;

	stor_pa_cut(log, s, pos);
	stor_recent_reset(log);
	s->size = pos;
	if (s->visible > pos) s->visible = pos;
	stor_segment_trim_index_mem(s, pos, offset);
	stor_segment_name(c->iname, sizeof c->iname, s->base, "index");
	stor_segment_name(c->tname, sizeof c->tname, s->base, "timeindex");
	c->ilen = s->on_disk * STOR_OFF_ENTRY;
	c->tlen = s->tn_disk * STOR_TIME_ENTRY;
	if (s->txn) {
		size_t before = stor_txnidx_count(s->txn);
		size_t n = stor_txnidx_cut(s->txn, offset);
		if (n != before) {
			c->xcut = true;
			c->xlen = n * STOR_TXNIDX_ENTRY;
			stor_segment_name(c->xname, sizeof c->xname, s->base, "txnindex");
		}
	}
	if (s->end_offset > offset) s->end_offset = offset;
	s->max_ts = s->tn ? (int64_t)rt_be64_get(s->tidx + (s->tn - 1) * STOR_TIME_ENTRY) : -1;
	s->max_ts_off = s->tn ? s->base + rt_be32_get(s->tidx + (s->tn - 1) * STOR_TIME_ENTRY + 8) : s->base;
	s->sealed = false;
	log->next_offset = offset;
	if (log->leo > offset) log->leo = offset;
	if (log->durable > offset) log->durable = offset;
	if (log->recovery_point > offset) log->recovery_point = offset;
	if (log->clean_point > offset) log->clean_point = offset;
	/* Only an explicit truncation moves the leader epochs back (the repair cuts offsets that
	 * were never acknowledged, before any epoch could have been recorded at them). */
	if (sync && stor_log_trim_epochs(log, offset) && !(c->epochs = stor_log_epochs_text(log, &c->epochs_len)))
		c->fault = -ENOMEM;
	stor_log_publish(log);
	stor_log_recompute_max_ts(log);
	stor_reap(log);

	s->inflight++;
	log->inflight++;
	log->cut = c;
	if (log->spare_renaming)
		c->held = true;  /* stor_truncate_resume, when they are back */
	else
		cut_submit(c);
}

void stor_truncate_resume(struct stor_log *log)
{
	struct stor_cut *c = log->cut;
	if (!c || !c->held || log->spare_renaming) return;
	c->held = false;
	cut_submit(c);
}

/* --- explicit truncation ---------------------------------------------------------------------- */

/* Where the cut for `offset` goes, from the read of the batch that holds it (rd, pinned when
 * len > 0, released here): whole batches only, so that batch goes whole; when the segment that
 * should hold it has no batch at or past the offset (a compacted gap at its end), the cut is
 * at its end and the offset stays. */
static void plan(struct stor_log *log, int64_t *offset, struct stor_read *rd, size_t *seg, uint64_t *pos)
{
	ssize_t i = stor_log_find_segment(log, *offset);
	if (i < 0) i = 0;
	struct stor_segment *s = log->segs[i];
	*seg = (size_t)i;
	*pos = s->visible;
	if (rd->len && rd->seg == s) {
		*pos = rd->pos;
		if (rd->first_offset < *offset) *offset = rd->first_offset;
	}
	stor_read_release(log, rd);
	if (*offset < log->log_start) *offset = log->log_start;
	stor_logf("%s: truncating to offset %" PRId64 " (segment %020" PRId64 ", position %" PRIu64 ")",
	          log->name, *offset, s->base, *pos);
}

static void sync_done(struct stor_log *log, void *arg, int err)
{
	if (err) stor_log_go_offline(log, "truncating the log", err);
	*(int *)arg = err;
}

int stor_log_truncate(struct stor_log *log, int64_t offset)
{
	assert(stor_log_idle(log));
	if (offset >= log->leo) return 0;
	if (offset < log->log_start) return -ERANGE;
	struct stor_read rd;
	int rc = stor_log_read(log, offset, 0, log->leo, true, &rd);
	if (rc) return rc;
	size_t i;
	uint64_t pos;
	plan(log, &offset, &rd, &i, &pos);
	struct stor_bg *bg = log->bg;
	log->bg = NULL;  /* this caller may block: the job runs here */
	stor_truncate_at(log, i, pos, offset, true, sync_done, &rc);
	log->bg = bg;
	return rc;
}

static void trunc_cut_done(struct stor_log *log, void *arg, int err)
{
	if (err) stor_log_go_offline(log, "truncating the log", err);
	struct stor_trunc_op *t = arg;
	t->done(t, err);
}

static void trunc_cut(struct stor_trunc_op *t)
{
	size_t i;
	uint64_t pos;
	int64_t offset = t->offset;
	plan(t->log, &offset, &t->rop.rd, &i, &pos);
	stor_truncate_at(t->log, i, pos, offset, true, trunc_cut_done, t);
}

static void trunc_found(struct stor_read_op *r, int err)
{
	struct stor_trunc_op *t = rt_container_of(r, struct stor_trunc_op, rop);
	if (err) {
		t->done(t, err);
		return;
	}
	trunc_cut(t);
}

int stor_log_truncate_start(struct stor_log *log, struct stor_trunc_op *t)
{
	assert(stor_log_idle(log));
	if (t->offset >= log->leo) return 0;
	if (t->offset < log->log_start) return -ERANGE;
	t->log = log;
	t->rop = (struct stor_read_op){.offset = t->offset, .max_bytes = 0, .max_offset = log->leo,
	                               .min_one = true, .done = trunc_found};
	int rc = stor_log_read_start(log, &t->rop);
	if (rc == -EINPROGRESS) return rc;
	if (rc) return rc;
	trunc_cut(t);
	return -EINPROGRESS;
}

void stor_log_set_bg(struct stor_log *log, struct stor_bg *bg)
{
	log->bg = bg;
}
