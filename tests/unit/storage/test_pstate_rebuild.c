/* Unit tests for storage/pstate_rebuild.c: the producer state rebuilt after a cut with its file
 * I/O on the log's file worker gives exactly the state that the blocking stor_pstate_recover
 * gives for the same directory (the snapshot encoding, the last stable offset, and every
 * client decision, the last five batches' duplicates included), with or without a snapshot at or
 * below the new end, and with the worker or without one; snapshots past the new end are pruned;
 * while it runs the state is stale (checks and DescribeProducers refused with KAFKA_STORAGE_ERROR,
 * the LSO held), the log refuses appends and is not idle; a tail that does not read takes the
 * partition offline and leaves the state stale. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/bg.h"
#include "storage/internal.h"
#include "storage/producer_state.h"
#include "util.h"

static struct tctx t;
static struct stor_bg *bg;
static char pdir[512];

static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 2048;     /* many segments */
	t.cfg.index_interval_bytes = 256;
	int err = 0;
	bg = stor_bg_create(&t.ring, &err);
	cr_assert_not_null(bg, "file worker: %d", err);
	snprintf(pdir, sizeof pdir, "%s/rb-0", t.dir);
}

static void teardown(void)
{
	stor_bg_destroy(bg);
	t_teardown(&t);
}

TestSuite(stor_pstate_rebuild, .init = setup, .fini = teardown);

/* What was appended, to ask both states the same questions afterwards. */
struct sent {
	int64_t pid;
	int16_t epoch;
	int32_t seq, count;
	bool txn;
};
static struct sent sent[512];
static int nsent;

static void append_bytes(struct stor_log *lg, uint8_t *b, size_t len)
{
	cr_assert_eq(t_append(&t, lg, b, len, 0, NULL), 0);
	free(b);
}

/* A batch of n records of producer pid (transactional when txn). */
static void put(struct stor_log *lg, int n, int64_t pid, int16_t epoch, int32_t seq, bool txn)
{
	size_t len;
	uint8_t *b = t_producer_batch(n, 1000 + nsent, 40, pid, epoch, seq, txn, &len);
	append_bytes(lg, b, len);
	sent[nsent++] = (struct sent){pid, epoch, seq, n, txn};
}

static void marker(struct stor_log *lg, int64_t pid, int16_t epoch, bool commit)
{
	size_t len;
	uint8_t *b = t_marker_batch(pid, epoch, commit, 7, 5000, &len);
	append_bytes(lg, b, len);
}

/* The state of the whole log now, written as the snapshot at the log end (a roll's). */
static void snapshot_now(struct stor_log *lg)
{
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(ps, lg, pdir, 0), 0);
	cr_assert_eq(stor_pstate_snapshot_write(ps, pdir, stor_log_end_offset(lg)), 0);
	stor_pstate_destroy(ps);
}

/* Idempotent producers 11 and 12 with many batches each, a committed transaction of 21, an
 * aborted one of 22 and one of 23 left open; snapshots at two points. */
static struct stor_log *build(bool snapshots)
{
	nsent = 0;
	struct stor_log *lg = t_open(&t, "rb");
	stor_log_set_bg(lg, bg);
	int32_t s11 = 0, s12 = 0;
	for (int r = 0; r < 3; r++) {
		for (int i = 0; i < 8; i++) {
			put(lg, 2, 11, 0, s11, false);
			s11 += 2;
			put(lg, 1, 12, 1, s12, false);
			s12 += 1;
		}
		put(lg, 2, 21, 0, 4 * r, true);
		put(lg, 2, 21, 0, 4 * r + 2, true);
		marker(lg, 21, 0, true);
		put(lg, 3, 22, 2, 3 * r, true);
		marker(lg, 22, 2, false);
		if (snapshots && r < 2) snapshot_now(lg);
	}
	put(lg, 2, 23, 0, 0, true);     /* open */
	for (int i = 0; i < 4; i++) {
		put(lg, 2, 11, 0, s11, false);
		s11 += 2;
	}
	return lg;
}

static int64_t cut_point(struct stor_log *lg)
{
	return stor_log_end_offset(lg) - 5;     /* inside 11's last batches: three of them go */
}

struct waiter {
	bool done;
	int err;
	struct stor_pstate *ps;
};

static void rebuilt(void *arg, struct stor_pstate *ps, int err)
{
	struct waiter *w = arg;
	w->done = true;
	w->err = err;
	w->ps = ps;
}

/* Both states give the same snapshot bytes, LSO, producers and answers to every batch sent (and
 * to the next batch of each). */
static void expect_same(struct stor_pstate *a, struct stor_pstate *b, int64_t leo)
{
	size_t la, lb;
	uint8_t *ea = stor_pstate_snapshot_encode(a, &la), *eb = stor_pstate_snapshot_encode(b, &lb);
	cr_assert(ea && eb);
	cr_expect_eq(la, lb);
	cr_expect(la == lb && !memcmp(ea, eb, la), "the snapshot encodings differ");
	free(ea);
	free(eb);
	cr_expect_eq(stor_pstate_count(a), stor_pstate_count(b));
	cr_expect_eq(stor_pstate_lso(a, leo), stor_pstate_lso(b, leo));
	cr_expect_eq(stor_pstate_first_open_txn(a), stor_pstate_first_open_txn(b));
	int dups = 0;
	for (int i = 0; i < nsent; i++) {
		struct stor_ps_batch q = {.producer_id = sent[i].pid, .producer_epoch = sent[i].epoch,
		                          .base_sequence = sent[i].seq, .last_offset_delta = sent[i].count - 1,
		                          .max_timestamp = 1, .transactional = sent[i].txn};
		struct stor_ps_batch next = q;
		next.base_sequence = sent[i].seq + sent[i].count;
		struct stor_ps_dup da, db;
		int16_t ra = stor_pstate_check(a, &q, 1, STOR_PS_CLIENT, &da);
		int16_t rb = stor_pstate_check(b, &q, 1, STOR_PS_CLIENT, &db);
		cr_expect_eq(ra, rb, "batch %d (producer %lld seq %d): %d vs %d", i, (long long)sent[i].pid,
		             sent[i].seq, ra, rb);
		cr_expect(da.found == db.found && da.first_offset == db.first_offset && da.last_offset == db.last_offset,
		          "batch %d: duplicate answers differ", i);
		dups += da.found;
		ra = stor_pstate_check(a, &next, 1, STOR_PS_CLIENT, &da);
		rb = stor_pstate_check(b, &next, 1, STOR_PS_CLIENT, &db);
		cr_expect_eq(ra, rb, "after batch %d: %d vs %d", i, ra, rb);
	}
	cr_expect_gt(dups, 5, "the comparison saw retained batches (%d duplicates)", dups);
}

/* DescribeProducers' view (stor_pstate_describe): the producers it lists. */
struct listed {
	int n;
	bool ghost;             /* producer 99, which only the state before the cut had */
};

static void list_one(void *arg, const struct stor_ps_info *p)
{
	struct listed *l = arg;
	l->n++;
	l->ghost |= p->producer_id == 99;
}

static bool file_exists(const char *name)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", pdir, name);
	return access(p, F_OK) == 0;
}

static void rebuild_equals_blocking(bool snapshots, bool worker)
{
	struct stor_log *lg = build(snapshots);
	int64_t snap2 = -1;
	if (snapshots) {
		/* a snapshot past the cut, as a roll just before it would have left */
		snap2 = stor_log_end_offset(lg) - 2;
		snapshot_now(lg);
		char n[64];
		snprintf(n, sizeof n, "%020lld.snapshot", (long long)stor_log_end_offset(lg));
		cr_assert(file_exists(n));
	}
	int64_t cut = cut_point(lg);
	t_run_idle(&t.ring, lg);
	cr_assert_eq(stor_log_truncate(lg, cut), 0);
	int64_t leo = stor_log_end_offset(lg);
	cr_assert_leq(leo, cut);
	cr_assert_gt(stor_log_segment_count(lg), 3);
	if (!worker) stor_log_set_bg(lg, NULL);

	/* The live state, out of date (built before the cut, with a producer the log never had). */
	struct stor_pstate *live = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(live, lg, pdir, 0), 0);
	struct stor_ps_batch ghost = {.producer_id = 99, .producer_epoch = 0, .base_sequence = 0,
	                              .last_offset_delta = 0, .max_timestamp = 1, .base_offset = leo};
	cr_assert_eq(stor_pstate_apply(live, &ghost, 1, STOR_PS_LOG, NULL, NULL), 0);
	int64_t lso_before = stor_pstate_lso(live, leo);

	struct waiter w = {0};
	stor_pstate_rebuild_start(live, lg, 0, rebuilt, &w);
	if (worker) {
		/* Held meanwhile: the worker's jobs come back through the ring, not driven yet. */
		cr_assert(!w.done);
		cr_expect(!stor_log_idle(lg), "the log is busy while the rebuild is out");
		cr_expect(stor_pstate_stale(live));
		struct stor_ps_dup d;
		cr_expect_eq(stor_pstate_check(live, &ghost, 1, STOR_PS_CLIENT, &d), STOR_PS_KAFKA_STORAGE_ERROR);
		cr_expect_eq(stor_pstate_lso(live, leo + 100), lso_before, "the LSO is held");
		struct listed l = {0};
		cr_expect_eq(stor_pstate_describe(live, list_one, &l), STOR_PS_KAFKA_STORAGE_ERROR,
		             "DescribeProducers is refused as the checks are");
		cr_expect_eq(l.n, 0, "no producer of the stale state is listed");
		size_t len;
		uint8_t *b = t_batch(1, 1, 10, &len);
		struct t_app ta;
		cr_expect_eq(t_append_submit(lg, &ta, b, len, 0), -EAGAIN, "appends are refused");
		free(b);
		t_run_until(&t.ring, &w.done);
	}
	cr_assert(w.done, "done was called");
	cr_assert_eq(w.err, 0);
	cr_assert_eq(w.ps, live);
	cr_expect(!stor_pstate_stale(live));
	t_run_idle(&t.ring, lg);
	cr_expect(stor_log_idle(lg));
	struct stor_ps_info in;
	cr_expect(!stor_pstate_get(live, 99, &in), "the old state is gone");
	struct listed l = {0};
	cr_expect_eq(stor_pstate_describe(live, list_one, &l), STOR_PS_OK);
	cr_expect(l.n > 0 && (size_t)l.n == stor_pstate_count(live) && !l.ghost,
	          "DescribeProducers lists the rebuilt producers (%d of %zu)", l.n, stor_pstate_count(live));
	if (snapshots) {
		char n[64];
		snprintf(n, sizeof n, "%020lld.snapshot", (long long)(snap2 + 2));
		cr_expect(!file_exists(n), "the snapshot past the new end was pruned");
	}

	/* The blocking rebuild of the same directory. */
	struct stor_pstate *ref = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(ref, lg, pdir, 0), 0);
	expect_same(live, ref, leo);
	cr_expect(stor_pstate_get(live, 23, &in) && in.txn_first_offset >= 0, "the open transaction is there");
	cr_expect_lt(stor_pstate_lso(live, leo), leo);

	/* Appends work again, and the rebuilt state decides them. */
	size_t len;
	uint8_t *b = t_batch(1, 1, 10, &len);
	cr_expect_eq(t_append(&t, lg, b, len, 0, NULL), 0);
	free(b);
	stor_pstate_destroy(ref);
	stor_pstate_destroy(live);
	cr_assert_eq(t_close(&t, lg), 0);
}

Test(stor_pstate_rebuild, with_snapshots_on_the_worker_equals_the_blocking_rebuild)
{
	rebuild_equals_blocking(true, true);
}

Test(stor_pstate_rebuild, without_snapshots_on_the_worker_equals_the_blocking_rebuild)
{
	rebuild_equals_blocking(false, true);
}

Test(stor_pstate_rebuild, without_a_worker_equals_the_blocking_rebuild)
{
	rebuild_equals_blocking(true, false);
}

/* The log's first segment lost its bytes under the log (cut short behind its back): the
 * rebuild's read fails as the blocking one's does, and the partition goes offline with the state
 * left stale. */
Test(stor_pstate_rebuild, unreadable_tail_takes_the_partition_offline)
{
	struct stor_log *lg = build(false);
	t_run_idle(&t.ring, lg);
	cr_assert_gt(stor_log_segment_count(lg), 2);
	cr_assert_eq(ftruncate(lg->segs[0]->fd, 10), 0);
	struct stor_pstate *ref = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_expect_neq(stor_pstate_recover(ref, lg, pdir, 0), 0, "the blocking rebuild fails too");
	stor_pstate_destroy(ref);
	struct stor_pstate *live = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	t_lines_reset();
	struct waiter w = {0};
	stor_pstate_rebuild_start(live, lg, 0, rebuilt, &w);
	t_run_until(&t.ring, &w.done);
	cr_expect_neq(w.err, 0);
	cr_expect(stor_pstate_stale(live));
	struct listed l = {0};
	cr_expect_eq(stor_pstate_describe(live, list_one, &l), STOR_PS_KAFKA_STORAGE_ERROR);
	cr_expect_eq(l.n, 0);
	cr_expect(stor_log_offline(lg));
	cr_expect(strstr(t_lines(), "producer state") && strstr(t_lines(), "OFFLINE"), "log: %s", t_lines());
	t_run_idle(&t.ring, lg);
	stor_pstate_destroy(live);
	stor_log_close(lg);
}
