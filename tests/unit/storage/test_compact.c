/* Unit tests for storage/compact.c: newest value per key, offsets kept, tombstones until
 * delete.retention.ms, compressed batches recompressed and valid, the active segment untouched,
 * reads and recovery after compaction, leftovers of an interrupted swap, producers' last batch. */
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
#include "storage/producer_state.h"
#include "util.h"

#define TS0 1700000000000LL

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 1024;
	t.cfg.cleanup_policy = STOR_CLEANUP_COMPACT;
	t.cfg.delete_retention_ms = 1000;
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_compact, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "cmp");
}

/* One record of the model: what the log should hold at an offset. */
struct rec {
	int64_t off;
	char key[16];
	char val[16];
	bool tomb;
};

/* Appends one batch of n records: key "k<keys[i]>", value "v<offset>" (or a tombstone when
 * tomb[i]), into the model m as well. */
static int64_t put(struct stor_log *lg, enum kp_compression c, int64_t pid, int n, const int *keys,
                   const bool *tomb, int64_t ts, struct rec *m, int *nm)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, c, 0, pid, pid >= 0 ? 0 : -1, pid >= 0 ? 0 : -1);
	int64_t next = stor_log_end_offset(lg);
	for (int i = 0; i < n; i++) {
		struct rec *r = &m[(*nm)++];
		r->off = next + i;
		snprintf(r->key, sizeof r->key, "k%d", keys[i]);
		snprintf(r->val, sizeof r->val, "v%lld", (long long)r->off);
		r->tomb = tomb && tomb[i];
		cr_assert_eq(kp_batch_builder_add(&b, ts + i, r->key, (int32_t)strlen(r->key), r->tomb ? NULL : r->val,
		                                  r->tomb ? -1 : (int32_t)strlen(r->val), NULL, 0), 0);
	}
	size_t len;
	const uint8_t *p = kp_batch_builder_finish(&b, &len);
	cr_assert_not_null(p);
	uint8_t *buf = malloc(len);
	memcpy(buf, p, len);
	kp_batch_builder_fini(&b);
	int64_t base;
	cr_assert_eq(t_append(&t, lg, buf, len, 0, &base), 0);
	cr_assert_eq(base, next);
	free(buf);
	return base;
}

struct read_back {
	struct rec *out;
	int max, n;
	int64_t last;
	enum kp_compression want_codec;
};

static void read_batch(void *ctx, const struct t_batch_view *v)
{
	struct read_back *rb = ctx;
	const struct kp_batch_hdr *h = &v->h;
	/* kp_records_validate applies the client rule records_count == last_offset_delta + 1,
	 * which a compacted batch breaks by design (as in Kafka); those get CRC, decompression,
	 * full record framing and offset deltas within the batch checked below instead. */
	if (h->records_count > 0 && h->records_count == h->last_offset_delta + 1) {
		struct kp_validate_opts o = {.check_records = true, .internal_origin = true};
		struct kp_records_info info;
		const char *why = NULL;
		cr_assert_eq(kp_records_validate(v->p, v->size, &o, v->arena, &info, &why), 0, "validate: %s",
		             why ? why : "");
	}
	if (h->records_count > 0)
		cr_expect_eq(h->attributes & KP_ATTR_COMPRESSION_MASK, (int)rb->want_codec, "codec kept");
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, v->p, v->size, v->arena, 0), 0);
	struct kp_record rec;
	int rc;
	while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
		cr_assert(rb->n < rb->max);
		struct rec *o = &rb->out[rb->n++];
		cr_assert(rec.offset_delta >= 0 && rec.offset_delta <= h->last_offset_delta);
		o->off = h->base_offset + rec.offset_delta;
		cr_assert(o->off > rb->last, "offsets increase");
		rb->last = o->off;
		snprintf(o->key, sizeof o->key, "%.*s", rec.key_len, (const char *)rec.key);
		o->tomb = rec.value_len < 0;
		snprintf(o->val, sizeof o->val, "%.*s", o->tomb ? 0 : rec.value_len, (const char *)rec.value);
	}
	cr_assert_eq(rc, 0);
}

/* Reads the whole log; every batch must have a good CRC and (when it has records) pass
 * kp_records_validate; records come out in offset order.  Returns the record count. */
static int read_back(struct stor_log *lg, struct rec *out, int max, enum kp_compression want_codec)
{
	struct read_back rb = {.out = out, .max = max, .last = -1, .want_codec = want_codec};
	t_each_batch(lg, read_batch, &rb);
	return rb.n;
}

/* The model after compaction below `active` at time now: newest per key, tombstones dropped
 * when `drop_tomb` says so for their offset. */
static int expect(const struct rec *m, int nm, int64_t active, bool (*drop_tomb)(int64_t off),
                  struct rec *out)
{
	int n = 0;
	for (int i = 0; i < nm; i++) {
		bool keep = true;
		if (m[i].off < active) {
			for (int j = i + 1; j < nm && m[j].off < active; j++)
				if (!strcmp(m[j].key, m[i].key)) keep = false;
			if (keep && m[i].tomb && drop_tomb && drop_tomb(m[i].off)) keep = false;
		}
		if (keep) out[n++] = m[i];
	}
	return n;
}

static void same(const struct rec *a, int na, const struct rec *b, int nb)
{
	cr_assert_eq(na, nb, "record count %d, expected %d", na, nb);
	for (int i = 0; i < na; i++) {
		cr_expect_eq(a[i].off, b[i].off, "offset at %d", i);
		cr_expect_str_eq(a[i].key, b[i].key);
		cr_expect_eq(a[i].tomb, b[i].tomb);
		if (!a[i].tomb) cr_expect_str_eq(a[i].val, b[i].val);
	}
}

static int64_t active_base(struct stor_log *lg) { return lg->segs[lg->nseg - 1]->base; }

static void overwrite_case(enum kp_compression c, int per_batch)
{
	static struct rec m[4096], got[4096], want[4096];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 60; i++) {
		int keys[8];
		for (int j = 0; j < per_batch; j++) keys[j] = (i * per_batch + j) % 5;
		put(lg, c, -1, per_batch, keys, NULL, TS0 + i, m, &nm);
	}
	t_run_idle(&t.ring, lg);
	cr_assert(stor_log_segment_count(lg) >= 3);
	int64_t act = active_base(lg);
	uint64_t act_size = lg->segs[lg->nseg - 1]->visible;
	uint64_t before = stor_log_size(lg);
	struct stor_compact_stats st;
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, &st), 0);
	cr_expect(st.segments_rewritten > 0);
	cr_expect(stor_log_size(lg) < before);
	cr_expect_eq(active_base(lg), act, "active segment untouched");
	cr_expect_eq(lg->segs[lg->nseg - 1]->visible, act_size);
	int nw = expect(m, nm, act, NULL, want);
	int ng = read_back(lg, got, 4096, c);
	same(got, ng, want, nw);
	/* Keys overwritten many times: below the active segment at most one record per key. */
	int below = 0;
	for (int i = 0; i < ng; i++) below += got[i].off < act;
	cr_expect(below <= 5, "%d records below the active segment", below);
	/* Appends still work after compaction, and recovery sees the same records. */
	int k = 1;
	put(lg, c, -1, 1, &k, NULL, TS0 + 200, m, &nm);
	want[nw++] = m[nm - 1];
	cr_assert_eq(t_close(&t, lg), 0);
	lg = open_log();
	ng = read_back(lg, got, 4096, c);
	same(got, ng, want, nw);
	/* A second pass over an already clean log rewrites nothing that changes the records. */
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0 + 300, &st), 0);
	int64_t act2 = active_base(lg);
	nw = expect(m, nm, act2, NULL, want);
	ng = read_back(lg, got, 4096, c);
	same(got, ng, want, nw);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact, keys_overwritten_keep_newest_value) { overwrite_case(KP_COMPRESSION_NONE, 1); }
Test(stor_compact, compressed_batches_are_recompressed_and_valid_gzip) { overwrite_case(KP_COMPRESSION_GZIP, 4); }
Test(stor_compact, compressed_batches_are_recompressed_and_valid_zstd) { overwrite_case(KP_COMPRESSION_ZSTD, 4); }
Test(stor_compact, compressed_batches_are_recompressed_and_valid_lz4) { overwrite_case(KP_COMPRESSION_LZ4, 4); }
Test(stor_compact, compressed_batches_are_recompressed_and_valid_snappy) { overwrite_case(KP_COMPRESSION_SNAPPY, 4); }

Test(stor_compact, not_compacted_without_the_policy)
{
	t.cfg.cleanup_policy = STOR_CLEANUP_DELETE;
	static struct rec m[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 40; i++) {
		int k = 0;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + i, m, &nm);
	}
	uint64_t before = stor_log_size(lg);
	struct stor_compact_stats st;
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0, &st), 0);
	cr_expect_eq(st.segments_rewritten, 0);
	cr_expect_eq(stor_log_size(lg), before);
	cr_assert_eq(t_close(&t, lg), 0);
}

static int64_t tomb_ts_limit;
static bool tombs_expired(int64_t off) { (void)off; return tomb_ts_limit != 0; }

Test(stor_compact, tombstones_kept_until_delete_retention_ms)
{
	static struct rec m[512], got[512], want[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 30; i++) {
		int k = i % 6;
		bool tomb = (i >= 20 && k < 3);  /* keys 0..2 end deleted */
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, &tomb, TS0 + i, m, &nm);
	}
	for (int i = 0; i < 20; i++) {  /* fill the later segments with other keys */
		int k = 100 + i;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + 30 + i, m, &nm);
	}
	int64_t act = active_base(lg);
	cr_assert(act > 30, "the tombstones are in inactive segments");
	/* Within delete.retention.ms of the newest timestamp: tombstones stay. */
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0 + 500, NULL), 0);
	tomb_ts_limit = 0;
	int nw = expect(m, nm, act, tombs_expired, want);
	int ng = read_back(lg, got, 512, KP_COMPRESSION_NONE);
	same(got, ng, want, nw);
	int tombs = 0;
	for (int i = 0; i < ng; i++) tombs += got[i].tomb;
	cr_expect_eq(tombs, 3);
	/* Long after: they go, and the deleted keys are gone entirely. */
	struct stor_compact_stats st2;
	t_run_idle(&t.ring, lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0 + 100000, &st2), 0);
	cr_expect_eq(st2.records_removed, 3, "the three expired tombstones");
	tomb_ts_limit = 1;
	nw = expect(m, nm, act, tombs_expired, want);
	ng = read_back(lg, got, 512, KP_COMPRESSION_NONE);
	same(got, ng, want, nw);
	for (int i = 0; i < ng; i++) {
		cr_expect(!got[i].tomb);
		cr_expect(strcmp(got[i].key, "k0") && strcmp(got[i].key, "k1") && strcmp(got[i].key, "k2"));
	}
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact, interrupted_swap_leftovers_removed_at_open)
{
	static struct rec m[512], got[512], want[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 40; i++) {
		int k = i % 3;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + i, m, &nm);
	}
	int64_t act = active_base(lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	int nw = expect(m, nm, act, NULL, want);
	cr_assert_eq(t_close(&t, lg), 0);
	/* A crash after the .cleaned write, and one after the rename to .swap: the original .log
	 * is still whole in both cases, so open drops the leftovers. */
	const char *junk[] = {"00000000000000000000.log.cleaned", "00000000000000000000.log.swap"};
	for (int i = 0; i < 2; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/cmp-0/%s", t.dir, junk[i]);
		FILE *f = fopen(p, "w");
		cr_assert_not_null(f);
		fputs("half a cleaned segment", f);
		fclose(f);
	}
	lg = open_log();
	for (int i = 0; i < 2; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/cmp-0/%s", t.dir, junk[i]);
		cr_expect_eq(t_file_size(p), -1, "%s removed", junk[i]);
	}
	int ng = read_back(lg, got, 512, KP_COMPRESSION_NONE);
	same(got, ng, want, nw);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact, producer_last_batch_kept_empty)
{
	static struct rec m[512], got[512], want[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	int k = 7;
	int64_t pbase = put(lg, KP_COMPRESSION_NONE, 4242, 1, &k, NULL, TS0, m, &nm);
	for (int i = 0; i < 40; i++) put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + i, m, &nm);
	int64_t act = active_base(lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	int nw = expect(m, nm, act, NULL, want);
	int ng = read_back(lg, got, 512, KP_COMPRESSION_NONE);
	same(got, ng, want, nw);
	/* The producer's batch survives with no records, its offsets and sequence intact. */
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, pbase, 1 << 20, stor_log_end_offset(lg), true, &r), 0);
	cr_assert(r.len >= KP_BATCH_HEADER_SIZE);
	uint8_t *buf = t_read_range(&r);
	struct kp_batch_hdr h;
	cr_assert_eq(kp_batch_hdr_parse(buf, r.len, &h), 0);
	cr_expect_eq(h.base_offset, pbase);
	cr_expect_eq(h.producer_id, 4242);
	cr_expect_eq(h.base_sequence, 0);
	cr_expect_eq(h.last_offset_delta, 0);
	cr_expect_eq(h.records_count, 0);
	cr_expect(kp_batch_crc_ok(buf, (size_t)h.batch_length + KP_BATCH_LOG_OVERHEAD));
	free(buf);
	stor_read_release(lg, &r);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* The batches of producer pid left in the log: how many, and how many records they hold. */
static int producer_batches(struct stor_log *lg, int64_t pid, int *records)
{
	int n = 0;
	*records = 0;
	int64_t off = stor_log_start_offset(lg);
	while (off < stor_log_end_offset(lg)) {
		struct stor_read r;
		cr_assert_eq(stor_log_read(lg, off, 1 << 20, INT64_MAX, true, &r), 0);
		if (!r.len) break;
		uint8_t *buf = t_read_range(&r);
		for (size_t at = 0; at < r.len;) {
			struct kp_batch_hdr h;
			size_t sz = kp_batch_size(buf + at, r.len - at);
			cr_assert(sz > 0 && at + sz <= r.len);
			cr_assert_eq(kp_batch_hdr_parse(buf + at, sz, &h), 0);
			if (h.producer_id == pid) {
				n++;
				*records += h.records_count;
			}
			at += sz;
		}
		off = r.next_offset;
		free(buf);
		stor_read_release(lg, &r);
	}
	return n;
}

/* Kafka keeps a producer's last batch through a cleaning only while the producer is active
 * (in the producer state, not expired): an expired producer's emptied batch goes. */
Test(stor_compact, only_active_producers_keep_their_last_batch)
{
	static struct rec m[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	int k = 7;
	put(lg, KP_COMPRESSION_NONE, 4242, 1, &k, NULL, TS0, m, &nm);      /* expired below */
	int64_t live = put(lg, KP_COMPRESSION_NONE, 5151, 1, &k, NULL, TS0, m, &nm);
	for (int i = 0; i < 40; i++) put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + i, m, &nm);
	t_run_idle(&t.ring, lg);
	/* The producer state knows 5151 only (4242 expired: producer.id.expiration.ms). */
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_not_null(ps);
	struct stor_ps_batch b = {.producer_id = 5151, .producer_epoch = 0, .base_sequence = 0,
	                          .last_offset_delta = 0, .max_timestamp = TS0, .base_offset = live};
	cr_assert_eq(stor_pstate_apply(ps, &b, 1, STOR_PS_LOG, NULL, NULL), 0);
	stor_log_set_producers(lg, ps);
	int recs;
	cr_assert_eq(producer_batches(lg, 4242, &recs), 1);
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	cr_expect_eq(producer_batches(lg, 4242, &recs), 0, "the expired producer's batch is gone");
	cr_expect_eq(producer_batches(lg, 5151, &recs), 1, "the active producer's last batch stays");
	cr_expect_eq(recs, 0, "emptied");
	stor_log_set_producers(lg, NULL);
	stor_pstate_destroy(ps);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* KIP-534: a log that got no new dirty bytes since its tombstones got their delete horizon is
 * due again once the horizon passes (Kafka's latestDeleteHorizon), and the cleaner's own
 * (not forced) cleaning then removes them; after that it is not due any more. */
Test(stor_compact, quiet_log_is_cleaned_again_when_its_delete_horizon_passes)
{
	static struct rec m[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 30; i++) {
		int k = i % 6;
		bool tomb = (i >= 20 && k < 3);
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, &tomb, TS0 + i, m, &nm);
	}
	for (int i = 0; i < 20; i++) {
		int k = 100 + i;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + 30 + i, m, &nm);
	}
	t_run_idle(&t.ring, lg);
	/* The cleaning gives the tombstones a horizon of now + delete.retention.ms (1000). */
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	t_run_idle(&t.ring, lg);
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 500, &v);
	cr_expect_eq(v.dirty_bytes, 0);
	cr_expect(!v.due, "before the horizon: nothing to do");
	stor_log_clean_view(lg, TS0 + 1500, &v);
	cr_expect_eq(v.dirty_bytes, 0, "no new dirty bytes");
	cr_expect(v.horizon_due && v.due, "the horizon passed: due again (horizon %lld, clean %llu)", (long long)lg->delete_horizon, (unsigned long long)v.clean_bytes);
	int err = 0;
	struct stor_clean_job *j = stor_clean_prepare(lg, TS0 + 1500, 0, &err);
	cr_assert_not_null(j, "the cleaner's job (err %d)", err);
	stor_clean_run(j);
	struct stor_compact_stats st;
	cr_assert_eq(stor_clean_install(j, &st), 0);
	cr_expect_eq(st.records_removed, 3, "the three tombstones go");
	t_run_idle(&t.ring, lg);
	stor_log_clean_view(lg, TS0 + 100000, &v);
	cr_expect(!v.due, "no horizon left: not due again");
	cr_assert_eq(t_close(&t, lg), 0);
}

/* Runs the job the cleaner would take for lg at now (asserting there is one), as its thread and
 * then its shard would. */
static void cleaner_job(struct stor_log *lg, int64_t now, struct stor_compact_stats *st)
{
	int err = 0;
	struct stor_clean_job *j = stor_clean_prepare(lg, now, 0, &err);
	cr_assert_not_null(j, "a job (err %d)", err);
	stor_clean_run(j);
	cr_assert_eq(stor_clean_install(j, st), 0);
	t_run_idle(&t.ring, lg);
}

/* A quiet log whose tombstones got their horizon: 30 updates of 6 keys, the last three keys
 * deleted, unique filler after them; cleaned once at TS0 (horizon TS0 + 1000), then closed. */
static void quiet_log_cleaned_then_closed(void)
{
	static struct rec m[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 30; i++) {
		int k = i % 6;
		bool tomb = (i >= 24 && k >= 3);
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, &tomb, TS0 + i, m, &nm);
	}
	for (int i = 0; i < 20; i++) {
		int k = 100 + i;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + 30 + i, m, &nm);
	}
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	cr_assert_eq(lg->delete_horizon, TS0 + 1000);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* The latest delete horizon survives a restart through the batches (compact.h): after the open
 * the cleaner reads the clean segments' headers once (a scan that rewrites nothing), learns the
 * horizon, and the quiet log is due again once it passes, with no new write. */
Test(stor_compact, latest_delete_horizon_is_learnt_again_after_a_restart)
{
	quiet_log_cleaned_then_closed();
	for (int crash = 0; crash < 2; crash++) {
		t_reopen_dir(&t, crash);
		struct stor_log *lg = open_log();
		if (crash) {
			/* As the owner does after an unclean stop: the .txnindex entries of the scanned
			 * tail come back from the log (nothing is cleanable until they have). */
			char dir[512];
			snprintf(dir, sizeof dir, "%s/cmp-0", t.dir);
			struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
			cr_assert_not_null(ps);
			cr_assert_eq(stor_pstate_recover(ps, lg, dir, 0), 0);
			stor_pstate_destroy(ps);
			t_run_idle(&t.ring, lg);
		}
		cr_assert_eq(lg->delete_horizon, 0, "nothing kept in memory across the restart");
		struct stor_clean_view v;
		stor_log_clean_view(lg, TS0 + 500, &v);
		cr_expect_eq(v.dirty_bytes, 0, "no new dirty bytes");
		cr_expect(v.horizon_scan && v.due && !v.horizon_due, "the horizon is unknown: a scan is due");
		struct stor_compact_stats st;
		int64_t cp = stor_log_clean_point(lg);
		cr_assert_gt(cp, 0);
		cleaner_job(lg, TS0 + 500, &st);
		cr_expect_eq(st.segments_rewritten, 0, "a scan writes nothing");
		cr_expect_eq(st.records_removed, 0);
		cr_expect_eq(stor_log_clean_point(lg), cp, "nor moves the clean point");
		cr_expect_eq(lg->delete_horizon, TS0 + 1000, "the horizon stamped before the restart");
		stor_log_clean_view(lg, TS0 + 500, &v);
		cr_expect(!v.due, "known and ahead: nothing to do");
		stor_log_clean_view(lg, TS0 + 1500, &v);
		cr_expect(v.horizon_due && !v.horizon_scan, "passed: due again without new bytes");
		if (crash) {
			cleaner_job(lg, TS0 + 1500, &st);
			cr_expect_eq(st.records_removed, 3, "the three tombstones go");
			stor_log_clean_view(lg, TS0 + 100000, &v);
			cr_expect(!v.due, "no horizon left: not due again");
		}
		cr_assert_eq(t_close(&t, lg), 0);
	}
}

/* A horizon that passed while the broker was down: the scan after the open finds it passed, and
 * the next look cleans the tombstones away. */
Test(stor_compact, horizon_passed_while_down_is_cleaned_after_the_open)
{
	quiet_log_cleaned_then_closed();
	t_reopen_dir(&t, false);
	struct stor_log *lg = open_log();
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 5000, &v);
	cr_expect(v.horizon_scan && v.due);
	struct stor_compact_stats st;
	cleaner_job(lg, TS0 + 5000, &st);
	cr_expect_eq(st.segments_rewritten, 0);
	stor_log_clean_view(lg, TS0 + 5000, &v);
	cr_expect(v.horizon_due && v.due, "due at once");
	cleaner_job(lg, TS0 + 5000, &st);
	cr_expect_eq(st.records_removed, 3, "the three tombstones go");
	stor_log_clean_view(lg, TS0 + 5000, &v);
	cr_expect(!v.due, "then nothing is due");
	cr_assert_eq(t_close(&t, lg), 0);
}

/* A cleaned log without tombstones or markers: one scan after the open, then never again. */
Test(stor_compact, log_without_horizons_is_scanned_once)
{
	static struct rec m[512];
	int nm = 0;
	struct stor_log *lg = open_log();
	for (int i = 0; i < 50; i++) {
		int k = i < 30 ? i % 6 : 100 + i;
		put(lg, KP_COMPRESSION_NONE, -1, 1, &k, NULL, TS0 + i, m, &nm);
	}
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, TS0, NULL), 0);
	cr_assert_eq(lg->delete_horizon, 0);
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0, &v);
	cr_expect(!v.due, "a cleaning leaves the horizon known");
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, false);
	lg = open_log();
	stor_log_clean_view(lg, TS0, &v);
	cr_expect(v.horizon_scan);
	struct stor_compact_stats st;
	cleaner_job(lg, TS0, &st);
	stor_log_clean_view(lg, TS0 + 100000000, &v);
	cr_expect(!v.due, "no horizon anywhere: not due again");
	cr_assert_eq(t_close(&t, lg), 0);
}
