/* Unit tests for storage/cleaner.c and the scheduling side of storage/compact.c: what is
 * cleanable (dirty ratio, min/max compaction lag, configs changed at run time), the cleaner
 * thread handing a job back through the ring, readers that pinned a replaced segment, cancel,
 * the key map bound (cleaning in steps), and crash safety around the swap: index files missing
 * after the swap, and gaps left at the end of cleaned segments surviving an unclean restart. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "proto/batch.h"
#include "storage/compact.h"
#include "storage/internal.h"
#include "util.h"

#define TS0 1700000000000LL

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 1024;
	t.cfg.cleanup_policy = STOR_CLEANUP_COMPACT;
	t.cfg.delete_retention_ms = 1000;
	t.cfg.min_cleanable_ratio = 0.5;
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_cleaner, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "cln");
}

/* One keyed record "k<key>" = "v<offset>" (or a tombstone) with timestamp ts. */
static int64_t put1(struct stor_log *lg, int key, bool tomb, int64_t ts)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	char k[16], v[24];
	snprintf(k, sizeof k, "k%d", key);
	snprintf(v, sizeof v, "v%lld", (long long)stor_log_end_offset(lg));
	cr_assert_eq(kp_batch_builder_add(&b, ts, k, (int32_t)strlen(k), tomb ? NULL : v,
	                                  tomb ? -1 : (int32_t)strlen(v), NULL, 0), 0);
	size_t len;
	const uint8_t *p = kp_batch_builder_finish(&b, &len);
	uint8_t *buf = malloc(len);
	memcpy(buf, p, len);
	kp_batch_builder_fini(&b);
	int64_t base;
	cr_assert_eq(t_append(&t, lg, buf, len, 0, &base), 0);
	free(buf);
	return base;
}

/* Writes n records cycling over `keys` keys, then lets every flush and index write finish. */
static void fill(struct stor_log *lg, int n, int keys, int64_t ts)
{
	for (int i = 0; i < n; i++) put1(lg, i % keys, false, ts + i);
	t_run_idle(&t.ring, lg);
}

struct newest {
	int64_t *newest;
	int nkeys, n, *tombs;
};

static void newest_batch(void *ctx, const struct t_batch_view *v)
{
	struct newest *nw = ctx;
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, v->p, v->size, v->arena, 0), 0);
	struct kp_record rec;
	while (kp_batch_iter_next(&it, &rec) == 1) {
		int key = atoi((const char *)rec.key + 1);
		cr_assert(key >= 0 && key < nw->nkeys);
		int64_t o = v->h.base_offset + rec.offset_delta;
		cr_assert(o > nw->newest[key], "one record per key, in order");
		nw->newest[key] = o;
		if (rec.value_len < 0 && nw->tombs) (*nw->tombs)++;
		nw->n++;
	}
}

/* Newest offset per key "k<i>" over the whole log (-1: absent), and the record count. */
static int scan(struct stor_log *lg, int64_t *newest, int nkeys, int *tombs)
{
	for (int i = 0; i < nkeys; i++) newest[i] = -1;
	if (tombs) *tombs = 0;
	struct newest nw = {.newest = newest, .nkeys = nkeys, .tombs = tombs};
	t_each_batch(lg, newest_batch, &nw);
	return nw.n;
}

Test(stor_cleaner, dirty_ratio_decides_and_follows_config_changes)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_assert_gt(v.dirty_bytes, 0);
	cr_expect_eq(v.clean_bytes, 0);
	cr_expect_eq(v.first_dirty, 0);
	cr_expect_eq(v.first_uncleanable, lg->segs[lg->nseg - 1]->base, "the active segment is uncleanable");
	cr_expect(v.ratio > 0.99 && v.due);
	/* min.cleanable.dirty.ratio=1 (AlterConfigs): never due by ratio (Kafka compares with >). */
	struct stor_config c = t.cfg;
	c.min_cleanable_ratio = 1.0;
	stor_log_set_config(lg, &c);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect(!v.due);
	/* Without the compact policy nothing is due either. */
	c.min_cleanable_ratio = 0.0;
	c.cleanup_policy = STOR_CLEANUP_DELETE;
	stor_log_set_config(lg, &c);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect(!v.due);
	c.cleanup_policy = STOR_CLEANUP_COMPACT | STOR_CLEANUP_DELETE;
	c.retention_ms = -1;
	stor_log_set_config(lg, &c);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect(v.due, "compact,delete is compacted too");
	/* After a cleaning the cleaned part is clean: the ratio falls to what came after it. */
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 1000, &st), 0);
	cr_expect_eq(st.clean_point, v.first_uncleanable);
	cr_expect_eq(stor_log_clean_point(lg), v.first_uncleanable);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect_eq(v.dirty_bytes, 0);
	cr_expect(!v.due);
	fill(lg, 100, 5, TS0 + 500);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect_gt(v.dirty_bytes, 0);
	cr_expect_gt(v.clean_bytes, 0);
	cr_expect(v.ratio > 0.5 && v.ratio < 1.0, "ratio %f", v.ratio);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_cleaner, compaction_lags)
{
	struct stor_log *lg = open_log();
	int64_t now = TS0 + 10000;
	fill(lg, 200, 5, now - 100);  /* records 100 ms old and younger */
	struct stor_config c = t.cfg;
	c.min_compaction_lag_ms = 60000;
	stor_log_set_config(lg, &c);
	struct stor_clean_view v;
	stor_log_clean_view(lg, now, &v);
	cr_expect_eq(v.dirty_bytes, 0, "younger than min.compaction.lag.ms: uncleanable");
	cr_expect_eq(v.first_uncleanable, 0);
	cr_expect(!v.due);
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, now, &st), 0);
	cr_expect_eq(st.segments_rewritten, 0);
	/* Later the same segments are old enough. */
	stor_log_clean_view(lg, now + 120000, &v);
	cr_expect(v.due && v.dirty_bytes > 0);
	/* max.compaction.lag.ms makes a log due whatever its ratio (KIP-354). */
	c.min_compaction_lag_ms = 0;
	c.min_cleanable_ratio = 1.0;
	stor_log_set_config(lg, &c);
	stor_log_clean_view(lg, now, &v);
	cr_expect(!v.due && !v.urgent);
	c.max_compaction_lag_ms = 50;
	stor_log_set_config(lg, &c);
	stor_log_clean_view(lg, now, &v);
	cr_expect(v.urgent && v.due);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_cleaner, thread_cleans_and_hands_back_through_the_ring)
{
	struct stor_log *lg = open_log();
	fill(lg, 300, 7, TS0);
	int64_t act = lg->segs[lg->nseg - 1]->base;
	uint64_t before = stor_log_size(lg);
	struct stor_cleaner_config cc;
	stor_cleaner_config_default(&cc);
	int err = 0;
	struct stor_cleaner *cl = stor_cleaner_create(&t.ring, &cc, &err);
	cr_assert_not_null(cl, "%d", err);
	stor_cleaner_consider(cl, lg, TS0 + 1000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 1000), 1);
	cr_expect(stor_log_cleaning(lg));
	cr_expect(!stor_log_idle(lg), "a log with a job out is not idle (cannot be closed)");
	/* Appends go on while the thread works. */
	put1(lg, 3, false, TS0 + 2000);
	t_run_idle(&t.ring, lg);
	cr_expect(!stor_log_cleaning(lg));
	struct stor_compact_stats tot;
	int64_t runs;
	stor_cleaner_stats(cl, &tot, &runs);
	cr_expect_eq(runs, 1);
	cr_expect_gt(tot.segments_rewritten, 0);
	cr_expect_lt(stor_log_size(lg), before);
	cr_expect_eq(stor_log_clean_point(lg), act);
	int64_t newest[7];
	scan(lg, newest, 7, NULL);
	cr_expect_eq(newest[3], stor_log_end_offset(lg) - 1);
	/* Nothing due now: the next round starts nothing and backs off. */
	stor_cleaner_consider(cl, lg, TS0 + 3000);
	cr_expect_eq(stor_cleaner_kick(cl, TS0 + 3000), 0);
	stor_cleaner_destroy(cl);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* The dynamic broker configs of the cleaner (log.cleaner.backoff.ms, .dedupe.buffer.size,
 * .io.max.bytes.per.second): a new setting makes the next round look at once, not after the long
 * backoff in progress; log.cleaner.enable stays as created. */
Test(stor_cleaner, set_config_looks_again_at_once)
{
	struct stor_log *lg = open_log();
	struct stor_cleaner_config cc;
	stor_cleaner_config_default(&cc);
	cc.backoff_ms = 600000;
	int err = 0;
	struct stor_cleaner *cl = stor_cleaner_create(&t.ring, &cc, &err);
	cr_assert_not_null(cl, "%d", err);
	stor_cleaner_consider(cl, lg, TS0);
	cr_assert_eq(stor_cleaner_kick(cl, TS0), 0, "nothing to clean: backs off for ten minutes");
	fill(lg, 300, 7, TS0);
	stor_cleaner_consider(cl, lg, TS0 + 1000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 1000), 0, "a dirty log waits out the backoff");
	struct stor_cleaner_config nc = cc;
	nc.backoff_ms = 100;
	nc.dedupe_buffer_size = (int64_t)4 << 20;
	nc.io_max_bytes_per_second = 1 << 30;
	nc.enable = false;
	stor_cleaner_set_config(cl, &nc);
	struct stor_cleaner_config got;
	stor_cleaner_get_config(cl, &got);
	cr_assert(got.backoff_ms == 100 && got.dedupe_buffer_size == (int64_t)4 << 20 &&
	          got.io_max_bytes_per_second == 1 << 30 && got.enable, "the new settings, enable unchanged");
	stor_cleaner_consider(cl, lg, TS0 + 1000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 1000), 1, "after the change the cleaner looks at once");
	t_run_idle(&t.ring, lg);
	int64_t runs;
	stor_cleaner_stats(cl, NULL, &runs);
	cr_assert_eq(runs, 1);
	/* Nothing due any more: the next look is the new backoff later, not ten minutes. */
	stor_cleaner_consider(cl, lg, TS0 + 2000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 2000), 0);
	fill(lg, 300, 7, TS0 + 3000);
	stor_cleaner_consider(cl, lg, TS0 + 2100);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 2100), 1, "looked again after 100 ms");
	t_run_idle(&t.ring, lg);
	stor_cleaner_destroy(cl);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* log.cleaner.io.max.bytes.per.second is read by the running job at each batch: a job crawling
 * at 1 byte/s (a second's sleep at least once per segment of 1 KiB, over about 130 segments)
 * finishes soon after the rate is lifted.  With the rate copied at the start it would crawl for
 * minutes and the timeout fails the test. */
Test(stor_cleaner, running_job_follows_a_new_io_rate, .timeout = 90)
{
	struct stor_log *lg = open_log();
	fill(lg, 2000, 7, TS0);
	struct stor_cleaner_config cc;
	stor_cleaner_config_default(&cc);
	cc.io_max_bytes_per_second = 1;
	int err = 0;
	struct stor_cleaner *cl = stor_cleaner_create(&t.ring, &cc, &err);
	cr_assert_not_null(cl, "%d", err);
	stor_cleaner_consider(cl, lg, TS0 + 10000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 10000), 1);
	usleep(1500 * 1000);
	cr_assert(stor_log_cleaning(lg), "at 1 byte/s the job is still crawling");
	struct stor_cleaner_config nc = cc;
	nc.io_max_bytes_per_second = 0;
	stor_cleaner_set_config(cl, &nc);
	t_run_idle(&t.ring, lg);
	struct stor_compact_stats tot;
	int64_t runs;
	stor_cleaner_stats(cl, &tot, &runs);
	cr_assert(runs == 1 && tot.segments_rewritten > 0, "the job finished its cleaning");
	stor_cleaner_destroy(cl);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_cleaner, picks_the_filthiest_log)
{
	int err = 0;
	struct stor_log *a = stor_log_open(t.d, "cln", 0, &t.cfg, NULL, &t.ring, &err);
	struct stor_log *b = stor_log_open(t.d, "cln", 1, &t.cfg, NULL, &t.ring, &err);
	cr_assert(a && b);
	fill(a, 200, 5, TS0);
	cr_assert_eq(stor_log_compact(a, TS0 + 1000, NULL), 0);
	fill(a, 60, 5, TS0 + 500);   /* a: partly dirty */
	fill(b, 200, 5, TS0);        /* b: all dirty */
	struct stor_cleaner_config cc;
	stor_cleaner_config_default(&cc);
	struct stor_cleaner *cl = stor_cleaner_create(&t.ring, &cc, &err);
	cr_assert_not_null(cl);
	stor_cleaner_consider(cl, a, TS0 + 1000);
	stor_cleaner_consider(cl, b, TS0 + 1000);
	cr_assert_eq(stor_cleaner_kick(cl, TS0 + 1000), 1);
	cr_expect(stor_log_cleaning(b) && !stor_log_cleaning(a));
	t_run_idle(&t.ring, b);
	stor_cleaner_destroy(cl);
	cr_assert_eq(t_close(&t, a), 0);
	cr_assert_eq(t_close(&t, b), 0);
}

Test(stor_cleaner, pinned_reader_keeps_reading_the_old_segment)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, 0, 1 << 20, stor_log_end_offset(lg), true, &r), 0);
	cr_assert_gt(r.len, 0);
	uint8_t *old = t_read_range(&r);
	struct stor_segment *pinned = r.seg;
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 1000, &st), 0);
	cr_assert_gt(st.segments_rewritten, 0);
	cr_expect_neq(lg->segs[0], pinned, "the log has the cleaned segment");
	uint8_t *again = t_read_range(&r);
	cr_expect_eq(memcmp(old, again, r.len), 0, "the pinned range still reads the original bytes");
	stor_read_release(lg, &r);
	t_run_idle(&t.ring, lg);
	/* Released: the old object is gone, the name (now the cleaned file) stays. */
	char p[512];
	snprintf(p, sizeof p, "%s/cln-0/00000000000000000000.log", t.dir);
	cr_expect_eq(t_file_size(p), (long long)lg->segs[0]->visible);
	free(old);
	free(again);
	int64_t newest[5];
	int n = scan(lg, newest, 5, NULL);
	cr_assert_eq(t_close(&t, lg), 0);
	lg = open_log();
	int64_t newest2[5];
	cr_expect_eq(scan(lg, newest2, 5, NULL), n);
	cr_expect_eq(memcmp(newest, newest2, sizeof newest), 0);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_cleaner, cancelled_job_installs_nothing)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	uint64_t before = stor_log_size(lg);
	int err;
	struct stor_clean_job *j = stor_clean_prepare(lg, TS0 + 1000, 0, &err);
	cr_assert_not_null(j);
	_Atomic bool cancel = true;
	j->cancel = &cancel;
	stor_clean_run(j);
	cr_expect_eq(stor_clean_install(j, NULL), -ECANCELED);
	cr_expect_eq(stor_log_size(lg), before);
	cr_expect_eq(stor_log_clean_point(lg), 0);
	cr_expect(stor_log_idle(lg));
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls %s/cln-0 | grep -c 'cleaned\\|swap' >/dev/null", t.dir);
	cr_expect_neq(system(cmd), 0, "no .cleaned or .swap left behind");
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_cleaner, bounded_key_map_cleans_in_steps)
{
	struct stor_log *lg = open_log();
	for (int i = 0; i < 300; i++) put1(lg, i, false, TS0 + i);  /* unique keys: a big map */
	fill(lg, 100, 5, TS0 + 400);
	cr_assert_gt(lg->nseg, 4);
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact_limit(lg, TS0 + 1000, 1, &st), 0);
	cr_expect_eq(st.clean_point, lg->segs[1]->base, "one segment mapped per step");
	int64_t cp = st.clean_point;
	cr_assert_eq(stor_log_compact_limit(lg, TS0 + 1000, 1, &st), 0);
	cr_expect_gt(st.clean_point, cp);
	cr_assert_eq(t_close(&t, lg), 0);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	char *b = malloc(1 << 16);
	*n = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

/* Cleaning that removes the last records of segments leaves gaps before the next segment; an
 * unclean restart must not take them for writes lost at a roll (which deletes what follows).
 * The crash is simulated with the checkpoint files as they were right after the cleaning (the
 * periodic checkpoint thread has not run since). */
Test(stor_cleaner, gaps_after_cleaned_segments_survive_a_crash)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	for (int i = 0; i < 40; i++) put1(lg, 100 + i, false, TS0 + 300 + i);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0 + 1000, NULL), 0);
	char ckp[512];
	snprintf(ckp, sizeof ckp, "%s/recovery-point-offset-checkpoint", t.dir);
	size_t ckn = 0;
	char *ck = slurp(ckp, &ckn);
	int64_t leo = stor_log_end_offset(lg);
	int64_t newest[140];
	int n = scan(lg, newest, 140, NULL);
	bool gap = false;
	for (size_t i = 0; i + 1 < lg->nseg; i++) gap |= lg->segs[i]->end_offset < lg->segs[i + 1]->base;
	cr_assert(gap, "some cleaned segment ends before the next begins");
	cr_assert_eq(t_close(&t, lg), 0);
	cr_assert_eq(stor_dir_close(t.d), 0);
	FILE *f = fopen(ckp, "wb");
	cr_assert_not_null(f);
	if (ck) fwrite(ck, 1, ckn, f);
	fclose(f);
	free(ck);
	char mk[512];
	snprintf(mk, sizeof mk, "%s/.kafka_cleanshutdown", t.dir);
	unlink(mk);
	int err = 0;
	t.d = stor_dir_open(t.dir, &err);
	cr_assert_not_null(t.d);
	lg = open_log();
	cr_expect_eq(stor_log_end_offset(lg), leo);
	int64_t newest2[140];
	cr_expect_eq(scan(lg, newest2, 140, NULL), n);
	cr_expect_eq(memcmp(newest, newest2, sizeof newest), 0);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* A crash after .swap was renamed over .log but before the new indexes were renamed in: the
 * old index files are already gone, so open rebuilds them from the cleaned file. */
Test(stor_cleaner, missing_index_after_swap_is_rebuilt)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	cr_assert_eq(stor_log_compact(lg, TS0 + 1000, NULL), 0);
	int64_t newest[5];
	int n = scan(lg, newest, 5, NULL);
	cr_assert_eq(t_close(&t, lg), 0);
	char p[512], q[600];
	snprintf(p, sizeof p, "%s/cln-0/00000000000000000000.index", t.dir);
	snprintf(q, sizeof q, "%s.cleaned", p);
	cr_assert_eq(rename(p, q), 0);
	snprintf(p, sizeof p, "%s/cln-0/00000000000000000000.timeindex", t.dir);
	cr_assert_eq(unlink(p), 0);
	t_reopen_dir(&t, true);
	lg = open_log();
	int64_t newest2[5];
	cr_expect_eq(scan(lg, newest2, 5, NULL), n);
	cr_expect_eq(memcmp(newest, newest2, sizeof newest), 0);
	cr_expect_eq(t_file_size(q), -1, "the .cleaned leftover is removed");
	cr_assert_eq(t_close(&t, lg), 0);
}

/* The active segment is never cleaned, so a compacted topic rolls at max.compaction.lag.ms
 * (Kafka's LogConfig.maxSegmentMs); a delete-only topic does not. */
Test(stor_cleaner, max_compaction_lag_rolls_the_active_segment)
{
	t.cfg.segment_bytes = 1 << 20;
	t.cfg.max_compaction_lag_ms = 100;
	struct stor_log *lg = open_log();
	put1(lg, 1, false, TS0);
	put1(lg, 1, false, TS0 + 50);
	cr_expect_eq(stor_log_segment_count(lg), 1);
	put1(lg, 1, false, TS0 + 200);
	cr_expect_eq(stor_log_segment_count(lg), 2, "rolled at max.compaction.lag.ms");
	struct stor_config c = t.cfg;
	c.cleanup_policy = STOR_CLEANUP_DELETE;
	stor_log_set_config(lg, &c);
	put1(lg, 1, false, TS0 + 400);
	cr_expect_eq(stor_log_segment_count(lg), 2, "not for cleanup.policy=delete");
	t_run_idle(&t.ring, lg);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* Kafka's cleaner-offset-checkpoint: the clean point survives a restart, so a cleaned log is not
 * taken for dirty again. */
Test(stor_cleaner, clean_point_survives_a_restart)
{
	struct stor_log *lg = open_log();
	fill(lg, 200, 5, TS0);
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 1000, &st), 0);
	cr_assert_gt(st.clean_point, 0);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, false);
	char p[512];
	snprintf(p, sizeof p, "%s/cleaner-offset-checkpoint", t.dir);
	cr_expect_gt(t_file_size(p), 0);
	lg = open_log();
	cr_expect_eq(stor_log_clean_point(lg), st.clean_point);
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect_eq(v.dirty_bytes, 0);
	/* Only the one read for the latest delete horizon (compact.h) is due, no cleaning. */
	cr_expect(v.due && v.horizon_scan && !v.horizon_due && v.ratio == 0.0);
	int err = 0;
	struct stor_clean_job *j = stor_clean_prepare(lg, TS0 + 1000, 0, &err);
	cr_assert_not_null(j);
	stor_clean_run(j);
	cr_assert_eq(stor_clean_install(j, &st), 0);
	cr_expect_eq(st.segments_rewritten, 0);
	stor_log_clean_view(lg, TS0 + 1000, &v);
	cr_expect(!v.due);
	cr_assert_eq(t_close(&t, lg), 0);
}
