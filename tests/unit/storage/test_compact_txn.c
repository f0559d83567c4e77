/* Unit tests for the transaction and delete-horizon rules of storage/compact.c (Kafka's
 * LogCleaner with CleanedTransactionMetadata and KIP-534): data of aborted transactions removed
 * (found through the .txnindex), committed transactional data compacted like any other, markers
 * kept while data of their transaction is left, then given a delete horizon and removed after
 * it; tombstones carrying the horizon in the batch (attribute bit 6, base timestamp) and that
 * horizon honoured after a restart; nothing at or past the last stable offset cleaned; records
 * without a key dropped. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/compact.h"
#include "storage/internal.h"
#include "storage/producer_state.h"
#include "util.h"

#define TS0 1700000000000LL
#define RET 1000               /* delete.retention.ms */

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 600;
	t.cfg.cleanup_policy = STOR_CLEANUP_COMPACT;
	t.cfg.delete_retention_ms = RET;
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_compact_txn, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "ctx");
}

/* After an unclean restart: the producer state replays the log tail and rebuilds the .txnindex
 * entries, as the broker does before any cleaning. */
static void recover_producers(struct stor_log *lg)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/ctx-0", t.dir);
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_not_null(ps);
	cr_assert_eq(stor_pstate_recover(ps, lg, dir, 0), 0);
	cr_assert_eq(stor_log_txn_rebuild_from(lg), INT64_MAX);
	stor_pstate_destroy(ps);
}

static int64_t append(struct stor_log *lg, struct kp_batch_builder *b)
{
	size_t len;
	const uint8_t *p = kp_batch_builder_finish(b, &len);
	cr_assert_not_null(p);
	uint8_t *buf = malloc(len);
	memcpy(buf, p, len);
	kp_batch_builder_fini(b);
	int64_t base;
	cr_assert_eq(t_append(&t, lg, buf, len, 0, &base), 0);
	free(buf);
	return base;
}

/* One batch of n records "<keys[i]>" = "<vals[i]>" (NULL value: tombstone); pid < 0 for a
 * plain batch, otherwise transactional when txn. */
static int64_t put(struct stor_log *lg, int64_t pid, int32_t seq, bool txn, int n, const char *const *keys,
                   const char *const *vals, int64_t ts, enum kp_compression codec)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, codec, txn ? KP_ATTR_TRANSACTIONAL : 0, pid, pid < 0 ? -1 : 0, pid < 0 ? -1 : seq);
	for (int i = 0; i < n; i++)
		cr_assert_eq(kp_batch_builder_add(&b, ts + i, keys[i], (int32_t)strlen(keys[i]), vals[i],
		                                  vals[i] ? (int32_t)strlen(vals[i]) : -1, NULL, 0), 0);
	return append(lg, &b);
}

static int64_t put1(struct stor_log *lg, const char *k, const char *v, int64_t ts)
{
	return put(lg, -1, -1, false, 1, &k, &v, ts, KP_COMPRESSION_NONE);
}

/* A COMMIT (commit true) or ABORT marker of pid. */
static int64_t marker(struct stor_log *lg, int64_t pid, bool commit, int64_t ts)
{
	struct kp_batch_builder b;
	cr_assert_eq(kp_batch_builder_marker(&b, pid, 0, commit, 7, ts), 0);
	return append(lg, &b);
}

/* What the log holds, batch by batch. */
struct seen_rec {
	int64_t off, ts;
	char key[16], val[16];
	bool tomb;
};
struct seen_batch {
	int64_t base, last, pid, base_ts;
	int16_t attrs;
	int32_t count;
	int first_rec;             /* index into recs */
};
struct seen {
	struct seen_batch b[256];
	int nb;
	struct seen_rec r[512];
	int nr;
};

static void scan_batch(void *ctx, const struct t_batch_view *v)
{
	struct seen *s = ctx;
	const struct kp_batch_hdr *h = &v->h;
	cr_assert(s->nb < 256);
	struct seen_batch *sb = &s->b[s->nb++];
	*sb = (struct seen_batch){.base = h->base_offset, .last = h->base_offset + h->last_offset_delta,
	                          .pid = h->producer_id, .base_ts = h->base_timestamp,
	                          .attrs = h->attributes, .count = h->records_count, .first_rec = s->nr};
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, v->p, v->size, v->arena, 0), 0);
	struct kp_record rec;
	int rc;
	while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
		cr_assert(s->nr < 512);
		struct seen_rec *o = &s->r[s->nr++];
		o->off = h->base_offset + rec.offset_delta;
		o->ts = h->base_timestamp + rec.timestamp_delta;
		if (h->attributes & KP_ATTR_CONTROL) {
			snprintf(o->key, sizeof o->key, "ctl%d", rec.key_len >= 4 ? rt_be16_get(rec.key + 2) : -1);
		} else {
			snprintf(o->key, sizeof o->key, "%.*s", rec.key_len, (const char *)rec.key);
			o->tomb = rec.value_len < 0;
			snprintf(o->val, sizeof o->val, "%.*s", o->tomb ? 0 : rec.value_len, (const char *)rec.value);
		}
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(s->nr - sb->first_rec, h->records_count);
}

static void scan(struct stor_log *lg, struct seen *s)
{
	memset(s, 0, sizeof *s);
	t_each_batch(lg, scan_batch, s);
}

static const struct seen_rec *rec_at(const struct seen *s, int64_t off)
{
	for (int i = 0; i < s->nr; i++)
		if (s->r[i].off == off) return &s->r[i];
	return NULL;
}

static const struct seen_batch *batch_at(const struct seen *s, int64_t base)
{
	for (int i = 0; i < s->nb; i++)
		if (s->b[i].base == base) return &s->b[i];
	return NULL;
}

static void fillers(struct stor_log *lg, int n, int64_t ts)
{
	char k[16], v[16];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof k, "f%d", i);
		snprintf(v, sizeof v, "F%d", i);
		put1(lg, k, v, ts + i);
	}
	t_run_idle(&t.ring, lg);
}

static int64_t active_base(struct stor_log *lg)
{
	return lg->segs[lg->nseg - 1]->base;
}

/* Producer 100 commits k1=a1,k2=a2; producer 200 aborts k1=b1,k3=b3 and then commits k4=b4. */
struct txlog {
	int64_t a1, b1, a_commit, b_abort, b2, b_commit;
};

static void two_producers(struct stor_log *lg, struct txlog *x, enum kp_compression codec)
{
	const char *ak[] = {"k1", "k2"}, *av[] = {"a1", "a2"};
	const char *bk[] = {"k1", "k3"}, *bv[] = {"b1", "b3"};
	const char *ck[] = {"k4"}, *cv[] = {"b4"};
	x->a1 = put(lg, 100, 0, true, 2, ak, av, TS0, codec);
	x->b1 = put(lg, 200, 0, true, 2, bk, bv, TS0 + 2, codec);
	x->a_commit = marker(lg, 100, true, TS0 + 4);
	x->b_abort = marker(lg, 200, false, TS0 + 5);
	cr_assert_eq(stor_log_add_aborted(lg, &(struct stor_aborted_txn){
		.producer_id = 200, .first_offset = x->b1, .last_offset = x->b_abort,
		.last_stable_offset = x->b_abort + 1}), 0);
	x->b2 = put(lg, 200, 2, true, 1, ck, cv, TS0 + 6, codec);
	x->b_commit = marker(lg, 200, true, TS0 + 7);
	fillers(lg, 20, TS0 + 10);
	cr_assert(active_base(lg) > x->b_commit, "the transactions are in inactive segments");
}

static void aborted_removed_case(enum kp_compression codec)
{
	struct stor_log *lg = open_log();
	struct txlog x;
	two_producers(lg, &x, codec);
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, &st), 0);
	static struct seen s;
	scan(lg, &s);
	/* The aborted batch is gone whole (not producer 200's last data batch). */
	cr_expect_null(batch_at(&s, x.b1), "aborted batch removed");
	cr_expect_null(rec_at(&s, x.b1));
	cr_expect_null(rec_at(&s, x.b1 + 1));
	/* Committed transactional records are kept (the newest of their keys). */
	const struct seen_rec *r = rec_at(&s, x.a1);
	cr_assert_not_null(r, "committed k1=a1 kept");
	cr_expect_str_eq(r->val, "a1");
	cr_assert_not_null(rec_at(&s, x.a1 + 1));
	cr_assert_not_null(rec_at(&s, x.b2));
	cr_expect_str_eq(rec_at(&s, x.b2)->val, "b4");
	/* Both markers stay: data of their transactions was met on this pass; no horizon yet. */
	const struct seen_batch *m = batch_at(&s, x.b_abort);
	cr_assert_not_null(m, "abort marker kept while its data was there");
	cr_expect_eq(m->attrs & KP_ATTR_DELETE_HORIZON, 0);
	cr_assert_not_null(batch_at(&s, x.a_commit));
	cr_expect_eq(batch_at(&s, x.a_commit)->attrs & KP_ATTR_DELETE_HORIZON, 0);
	cr_expect_eq(st.records_removed, 2);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, aborted_data_removed_committed_kept) { aborted_removed_case(KP_COMPRESSION_NONE); }
Test(stor_compact_txn, aborted_compressed_data_removed) { aborted_removed_case(KP_COMPRESSION_LZ4); }

Test(stor_compact_txn, committed_transactional_records_are_superseded_and_supersede)
{
	struct stor_log *lg = open_log();
	int64_t old = put1(lg, "k1", "plain", TS0);
	struct txlog x;
	two_producers(lg, &x, KP_COMPRESSION_NONE);
	int64_t newer = put1(lg, "k2", "plain2", TS0 + 50);
	fillers(lg, 20, TS0 + 60);
	cr_assert(active_base(lg) > newer);
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, NULL), 0);
	static struct seen s;
	scan(lg, &s);
	cr_expect_null(rec_at(&s, old), "k1=plain superseded by the committed k1=a1");
	cr_expect_not_null(rec_at(&s, x.a1), "k1=a1 is the newest k1: the aborted k1=b1 supersedes nothing");
	cr_expect_null(rec_at(&s, x.a1 + 1), "committed k2=a2 superseded by a later plain k2");
	cr_expect_not_null(rec_at(&s, newer));
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, markers_get_a_horizon_then_go_across_a_restart)
{
	struct stor_log *lg = open_log();
	struct txlog x;
	two_producers(lg, &x, KP_COMPRESSION_NONE);
	static struct seen s;
	/* Pass 1 removes the aborted data; the marker stays (its data was met). */
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, NULL), 0);
	scan(lg, &s);
	cr_assert_null(batch_at(&s, x.b1));
	cr_assert_not_null(batch_at(&s, x.b_abort));
	struct stor_aborted_txn ab[4];
	cr_expect_eq(stor_log_collect_aborted(lg, 0, stor_log_end_offset(lg), ab, 4), 1,
	             "the .txnindex entry stays with its marker");
	/* Pass 2 meets no data of it: the marker gets the horizon now + delete.retention.ms, and
	 * its .txnindex entry goes (no data left to skip; a reader that kept skipping producer
	 * 200 after the marker is gone would lose its committed k4=b4). */
	int64_t now2 = TS0 + 200;
	cr_assert_eq(stor_log_compact(lg, now2, NULL), 0);
	cr_expect_eq(stor_log_collect_aborted(lg, 0, stor_log_end_offset(lg), ab, 4), 0);
	char path[512];
	snprintf(path, sizeof path, "%s/ctx-0/%020lld.txnindex", t.dir,
	         (long long)lg->segs[stor_log_find_segment(lg, x.b_abort)]->base);
	cr_expect_eq(t_file_size(path), 0, "%s rewritten empty", path);
	scan(lg, &s);
	const struct seen_batch *m = batch_at(&s, x.b_abort);
	cr_assert_not_null(m);
	cr_expect_neq(m->attrs & KP_ATTR_DELETE_HORIZON, 0, "horizon bit set");
	cr_expect_eq(m->base_ts, now2 + RET, "horizon in the base timestamp");
	cr_assert_eq(m->count, 1);
	cr_expect_str_eq(s.r[m->first_rec].key, "ctl0");
	cr_expect_eq(s.r[m->first_rec].ts, TS0 + 5, "the marker's own timestamp kept");
	/* The committed markers keep no horizon while their data is there. */
	cr_expect_eq(batch_at(&s, x.a_commit)->attrs & KP_ATTR_DELETE_HORIZON, 0);
	cr_expect_eq(batch_at(&s, x.b_commit)->attrs & KP_ATTR_DELETE_HORIZON, 0);
	cr_assert_eq(t_close(&t, lg), 0);
	/* The horizon lives in the batch: it holds across a restart (clean, then unclean). */
	t_reopen_dir(&t, false);
	lg = open_log();
	cr_assert_eq(stor_log_compact(lg, now2 + RET - 1, NULL), 0);
	scan(lg, &s);
	cr_expect_not_null(batch_at(&s, x.b_abort), "kept before its horizon");
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = open_log();
	recover_producers(lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, now2 + RET, NULL), 0);
	scan(lg, &s);
	cr_expect_null(batch_at(&s, x.b_abort), "removed once the horizon passed");
	cr_expect_not_null(batch_at(&s, x.a_commit));
	cr_expect_not_null(rec_at(&s, x.b2));
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, commit_marker_goes_after_its_data_is_superseded)
{
	struct stor_log *lg = open_log();
	struct txlog x;
	two_producers(lg, &x, KP_COMPRESSION_NONE);
	/* Producer 100's committed k1, k2 are overwritten by plain records. */
	put1(lg, "k1", "p1", TS0 + 40);
	put1(lg, "k2", "p2", TS0 + 41);
	fillers(lg, 20, TS0 + 50);
	static struct seen s;
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, NULL), 0);
	scan(lg, &s);
	/* Producer 100's only data batch is its last: kept empty, offsets and sequence intact. */
	const struct seen_batch *a = batch_at(&s, x.a1);
	cr_assert_not_null(a);
	cr_expect_eq(a->count, 0);
	cr_expect_eq(a->last, x.a1 + 1);
	cr_expect_not_null(batch_at(&s, x.a_commit));
	/* Next pass: the empty batch is still met, so the marker still has data: it stays too. */
	cr_assert_eq(stor_log_compact(lg, TS0 + 200, NULL), 0);
	scan(lg, &s);
	cr_expect_not_null(batch_at(&s, x.a_commit));
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, tombstone_horizon_written_in_the_batch_and_honoured_after_restart)
{
	struct stor_log *lg = open_log();
	const char *k[] = {"k9", "k8"}, *v[] = {NULL, "v8"};
	put1(lg, "k9", "old", TS0);
	int64_t tb = put(lg, -1, -1, false, 2, k, v, TS0 + 1, KP_COMPRESSION_ZSTD);
	fillers(lg, 20, TS0 + 10);
	cr_assert(active_base(lg) > tb);
	static struct seen s;
	int64_t now = TS0 + 5000;
	cr_assert_eq(stor_log_compact(lg, now, NULL), 0);
	scan(lg, &s);
	const struct seen_batch *b = batch_at(&s, tb);
	cr_assert_not_null(b);
	cr_expect_neq(b->attrs & KP_ATTR_DELETE_HORIZON, 0);
	cr_expect_eq(b->attrs & KP_ATTR_COMPRESSION_MASK, KP_COMPRESSION_ZSTD);
	cr_expect_eq(b->base_ts, now + RET);
	cr_assert_eq(b->count, 2);
	cr_expect(s.r[b->first_rec].tomb);
	cr_expect_eq(s.r[b->first_rec].ts, TS0 + 1, "timestamps survive the rebase");
	cr_expect_eq(s.r[b->first_rec + 1].ts, TS0 + 2);
	/* The horizon stays put on later passes. */
	cr_assert_eq(stor_log_compact(lg, now + 10, NULL), 0);
	scan(lg, &s);
	cr_expect_eq(batch_at(&s, tb)->base_ts, now + RET);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = open_log();
	recover_producers(lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_compact(lg, now + RET - 1, NULL), 0);
	scan(lg, &s);
	cr_expect(rec_at(&s, tb) && rec_at(&s, tb)->tomb, "tombstone kept before the horizon");
	cr_assert_eq(stor_log_compact(lg, now + RET, NULL), 0);
	scan(lg, &s);
	cr_expect_null(rec_at(&s, tb), "tombstone removed at the horizon");
	b = batch_at(&s, tb);
	cr_assert_not_null(b, "the batch keeps its other record");
	cr_expect_eq(b->count, 1);
	cr_expect_str_eq(s.r[b->first_rec].val, "v8");
	cr_expect_eq(s.r[b->first_rec].ts, TS0 + 2);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, open_transaction_past_the_lso_untouched)
{
	struct stor_log *lg = open_log();
	fillers(lg, 10, TS0);
	fillers(lg, 10, TS0 + 20);      /* supersedes the first ten */
	const char *ok[] = {"f1", "f2"}, *ov[] = {"open1", "open2"};
	int64_t open = put(lg, 300, 0, true, 2, ok, ov, TS0 + 40, KP_COMPRESSION_NONE);
	fillers(lg, 20, TS0 + 50);      /* would supersede the open transaction's records */
	cr_assert(active_base(lg) > open + 2);
	stor_log_set_last_stable(lg, open);
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 100, &v);
	cr_expect_leq(v.first_uncleanable, open, "nothing at or past the LSO is cleanable");
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, &st), 0);
	cr_expect_gt(st.records_removed, 0, "below the LSO was cleaned");
	cr_expect_leq(st.clean_point, open);
	static struct seen s;
	scan(lg, &s);
	cr_expect_not_null(rec_at(&s, open), "open transaction's records untouched");
	cr_expect_not_null(rec_at(&s, open + 1));
	cr_expect_not_null(rec_at(&s, open + 2), "records after it not cleaned either");
	/* Committed and past the LSO: now it is cleaned like any other data. */
	int64_t commit = marker(lg, 300, true, TS0 + 90);
	fillers(lg, 20, TS0 + 100);
	stor_log_set_last_stable(lg, stor_log_end_offset(lg));
	cr_assert(active_base(lg) > commit);
	cr_assert_eq(stor_log_compact(lg, TS0 + 200, NULL), 0);
	scan(lg, &s);
	cr_expect_null(rec_at(&s, open), "the committed f1 is superseded by later ones");
	cr_expect_not_null(batch_at(&s, open), "300's last data batch stays, empty");
	cr_expect_eq(batch_at(&s, open)->count, 0);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, missing_txnindex_blocks_cleaning)
{
	struct stor_log *lg = open_log();
	struct txlog x;
	two_producers(lg, &x, KP_COMPRESSION_NONE);
	lg->txn_rebuild_from = 0;       /* as recovery leaves it until the producer state rebuilt */
	struct stor_clean_view v;
	stor_log_clean_view(lg, TS0 + 100, &v);
	cr_expect(!v.due);
	struct stor_compact_stats st;
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, &st), 0);
	cr_expect_eq(st.segments_rewritten, 0);
	lg->txn_rebuild_from = INT64_MAX;
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_compact_txn, keyless_records_dropped_as_kafka_does)
{
	struct stor_log *lg = open_log();
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	cr_assert_eq(kp_batch_builder_add(&b, TS0, NULL, -1, "nokey", 5, NULL, 0), 0);
	cr_assert_eq(kp_batch_builder_add(&b, TS0 + 1, "k1", 2, "keyed", 5, NULL, 0), 0);
	int64_t base = append(lg, &b);
	fillers(lg, 20, TS0 + 10);
	cr_assert(active_base(lg) > base);
	cr_assert_eq(stor_log_compact(lg, TS0 + 100, NULL), 0);
	static struct seen s;
	scan(lg, &s);
	cr_expect_null(rec_at(&s, base), "the record without a key is dropped");
	cr_assert_not_null(rec_at(&s, base + 1));
	cr_expect_str_eq(rec_at(&s, base + 1)->val, "keyed");
	cr_assert_eq(t_close(&t, lg), 0);
}
