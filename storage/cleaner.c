/*
 * storage/cleaner.c: when and where compaction runs (Kafka's LogCleaner threads and
 * LogCleanerManager.grabFilthiestCompactedLog), one cleaner per shard.
 *
 * Why a thread and not small steps in the shard's idle time.  A cleaning reads every byte of
 * the cleanable section, decompresses, hashes every key, recompresses and writes whole segments:
 * seconds of CPU and I/O for large segments.  Cut into steps on the shard, every step would still
 * be either a blocking pread/pwrite/fdatasync/rename (forbidden on a shard in the steady state)
 * or an io_uring state machine with the CPU-heavy (de)compression still on the shard's core,
 * competing with produce and fetch for exactly the core they are pinned to.  The segments it
 * works on are immutable (sealed: no append, no index write, nothing in flight), so a separate
 * thread can work on them without locks; the shard only has to (1) pick the log and pin the
 * segments (prepare: a walk of the segment array), and (2) swap the cleaned segment objects into
 * the array and unpin (install: pointer moves), both O(segments) and non-blocking.  The thread
 * runs at SCHED_IDLE, so on a machine whose cores all run shards it only uses time they leave
 * idle, which is the "idle time" variant without putting any of the work on the shard's stack.
 * The thread is a storage/bg.h worker of its own: the finished job comes back as a CQE on the
 * shard's own ring, so the shard learns of it in its normal completion loop.
 *
 * Scheduling: once a second the shard offers every log it owns (consider), and kick() hands the
 * filthiest due log (largest dirty ratio among those past min.cleanable.dirty.ratio or
 * max.compaction.lag.ms; see compact.h) to the thread when it is free.  When nothing was due, the
 * next look is log.cleaner.backoff.ms later, as Kafka's cleaner thread sleeps.  Topic configs
 * changed at run time (AlterConfigs -> stor_log_set_config) take effect at the next look, since
 * every decision reads the log's current config and the job copies it at prepare.  The
 * cleaner's own settings (dynamic broker configs -> stor_cleaner_set_config) take effect at once
 * for the backoff, at the next job for the key-map bound and at the running job's next batch for
 * the I/O rate (an atomic the worker reads).
 *
 * Why the thread count is fixed (log.cleaner.threads, which Kafka can change dynamically): a log
 * can only be prepared and installed by its owner shard, and a cleaning's completion comes back
 * on that shard's own ring, so each shard has exactly one cleaner of its own; Kafka's pool of N
 * threads over all logs has no counterpart, and the number of cleaners is the number of shards,
 * fixed at start.
 *
 * Invariants: at most one job per cleaner is out; a log with a job out is not idle (its inflight
 * count holds one), so it cannot be closed or deleted before the job is back and installed.
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "storage/compact.h"
#include "storage/internal.h"

struct stor_cleaner {
	struct stor_bg *bg;             /* the worker thread (SCHED_IDLE) that runs the jobs */
	struct stor_cleaner_config cfg;
	_Atomic bool cancel;            /* the running job stops at its next batch */
	_Atomic int64_t io_bps;         /* cfg.io_max_bytes_per_second, read by the running job */
	/* owner shard only */
	struct stor_clean_job *out;     /* the job out, or NULL */
	struct stor_log *best;          /* this round's filthiest due log */
	double best_ratio;
	int64_t next_look_ms;
	struct stor_compact_stats total;
	int64_t runs;
};

void stor_cleaner_config_default(struct stor_cleaner_config *c)
{
	*c = (struct stor_cleaner_config){
		.enable = true,
		.backoff_ms = 15000,
		.dedupe_buffer_size = (int64_t)128 << 20,
		.io_max_bytes_per_second = 0,
	};
}

/* On the worker thread. */
static void job_run(struct stor_bg_job *bj)
{
	struct stor_clean_job *j = rt_container_of(bj, struct stor_clean_job, bg);
	stor_clean_run(j);
	bj->res = j->err;
}

/* On the shard: the job is back (the worker's completion).  res is the job's error code. */
static void job_done(struct stor_bg_job *bj, int32_t res)
{
	(void)res;
	struct stor_clean_job *j = rt_container_of(bj, struct stor_clean_job, bg);
	struct stor_cleaner *c = j->cleaner;
	struct stor_compact_stats st;
	int rc = stor_clean_install(j, &st);
	c->out = NULL;
	c->runs++;
	c->total.segments_rewritten += st.segments_rewritten;
	c->total.records_removed += st.records_removed;
	c->total.batches_removed += st.batches_removed;
	c->total.bytes_before += st.bytes_before;
	c->total.bytes_after += st.bytes_after;
	c->total.segments_skipped += st.segments_skipped;
	atomic_store(&c->cancel, false);
	/* A failed cleaning is retried only after the backoff, so a bad segment cannot spin. */
	if (rc) c->next_look_ms = stor_now_ms() + c->cfg.backoff_ms;
}

struct stor_cleaner *stor_cleaner_create(struct io_uring *ring, const struct stor_cleaner_config *cfg,
                                         int *err)
{
	struct stor_cleaner *c = calloc(1, sizeof *c);
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->cfg = *cfg;
	atomic_init(&c->io_bps, cfg->io_max_bytes_per_second);
	/* Only the time shards leave idle (see the file comment). */
	if (!(c->bg = stor_bg_create_named(ring, "rt-cleaner", true, err))) {
		free(c);
		return NULL;
	}
	return c;
}

void stor_cleaner_consider(struct stor_cleaner *c, struct stor_log *log, int64_t now_ms)
{
	if (!c->cfg.enable || c->out || now_ms < c->next_look_ms) return;
	if (!(log->cfg.cleanup_policy & STOR_CLEANUP_COMPACT) || log->clean_job) return;
	struct stor_clean_view v;
	stor_log_clean_view(log, now_ms, &v);
	log->clean_ratio = (int64_t)(v.ratio * 1e6);
	if (!v.due) return;
	/* Logs past max.compaction.lag.ms come first, then the dirtiest; horizon scans (a read
	 * after an open, see compact.h) last. */
	double score = v.ratio + (v.urgent ? 2.0 : 0.0) - (v.horizon_scan ? 1.0 : 0.0);
	if (!c->best || score > c->best_ratio) {
		c->best = log;
		c->best_ratio = score;
	}
}

int stor_cleaner_kick(struct stor_cleaner *c, int64_t now_ms)
{
	struct stor_log *log = c->best;
	c->best = NULL;
	if (!c->cfg.enable || c->out || now_ms < c->next_look_ms) return 0;
	if (!log) {
		c->next_look_ms = now_ms + c->cfg.backoff_ms;
		return 0;
	}
	int err = 0;
	struct stor_clean_job *j = stor_clean_prepare(log, now_ms, c->cfg.dedupe_buffer_size, &err);
	if (!j) {
		if (err) stor_logf("%s: cannot start cleaning: %s", log->name, strerror(-err));
		c->next_look_ms = now_ms + c->cfg.backoff_ms;
		return err;
	}
	j->cleaner = c;
	j->io_bps = c->cfg.io_max_bytes_per_second;
	j->io_rate = &c->io_bps;
	j->cancel = &c->cancel;
	c->out = j;
	stor_bg_submit(c->bg, &j->bg, job_run, job_done);
	return 1;
}

void stor_cleaner_set_config(struct stor_cleaner *c, const struct stor_cleaner_config *cfg)
{
	bool enable = c->cfg.enable;
	c->cfg = *cfg;
	c->cfg.enable = enable;
	atomic_store_explicit(&c->io_bps, cfg->io_max_bytes_per_second, memory_order_relaxed);
	c->next_look_ms = 0;
}

void stor_cleaner_get_config(const struct stor_cleaner *c, struct stor_cleaner_config *out)
{
	*out = c->cfg;
}

void stor_cleaner_cancel(struct stor_cleaner *c)
{
	if (c->out) atomic_store(&c->cancel, true);
}

void stor_cleaner_stats(const struct stor_cleaner *c, struct stor_compact_stats *total, int64_t *runs)
{
	if (total) *total = c->total;
	if (runs) *runs = c->runs;
}

void stor_cleaner_destroy(struct stor_cleaner *c)
{
	if (!c) return;
	assert(!c->out);
	stor_bg_destroy(c->bg);
	free(c);
}
