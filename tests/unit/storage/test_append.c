/* Unit tests for storage/append.c (and the segment files it writes): offsets, stamping, Kafka's
 * file layout, rolling, LogAppendTime, refusals, and group commit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/bytes.h"
#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;

static void setup(void) { t_setup(&t, NULL); }
static void teardown(void) { t_teardown(&t); }

TestSuite(stor_append, .init = setup, .fini = teardown);

static struct stor_log *open_log(const char *topic)
{
	return t_open(&t, topic);
}

Test(stor_append, assigns_offsets_and_stamps_in_place)
{
	struct stor_log *log = open_log("t");
	int64_t base;
	for (int i = 0; i < 3; i++) {
		size_t len;
		uint8_t *b = t_batch(5, 1000, 10, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, &base), 0);
		cr_expect_eq(base, i * 5);
		cr_expect_eq((int64_t)rt_be64_get(b), i * 5, "base offset stamped in the caller's buffer");
		cr_expect(kp_batch_crc_ok(b, len));
		free(b);
	}
	cr_expect_eq(stor_log_end_offset(log), 15);
	cr_expect_eq(stor_log_high_watermark(log), 15);
	cr_expect_eq(stor_log_start_offset(log), 0);
	cr_expect_eq(t_close(&t, log), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/t-0/00000000000000000000.log", t.dir);
	cr_expect(t_file_size(p) > 0, "Kafka's 20-digit segment name");
	snprintf(p, sizeof p, "%s/t-0/00000000000000000000.index", t.dir);
	cr_expect(t_file_size(p) >= 0);
	snprintf(p, sizeof p, "%s/t-0/00000000000000000000.timeindex", t.dir);
	cr_expect(t_file_size(p) >= 0);
}

Test(stor_append, stamps_leader_epoch)
{
	struct stor_log *log = open_log("ep");
	cr_assert_eq(stor_log_set_leader_epoch(log, 7), 0);
	size_t len;
	uint8_t *b = t_batch(1, 1, 1, &len);
	cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
	cr_expect_eq((int32_t)rt_be32_get(b + KP_BATCH_OFF_LEADER_EPOCH), 7);
	free(b);
	cr_expect_eq(t_close(&t, log), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/ep-0/leader-epoch-checkpoint", t.dir);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	char buf[64] = {0};
	cr_expect(fread(buf, 1, sizeof buf - 1, f) > 0);
	fclose(f);
	cr_expect_str_eq(buf, "0\n1\n7 0\n");
}

Test(stor_append, log_append_time_sets_max_timestamp_and_crc)
{
	t.cfg.timestamp_type = STOR_TS_LOG_APPEND_TIME;
	struct stor_log *log = open_log("lat");
	size_t len;
	uint8_t *b = t_batch(3, 5, 10, &len);
	struct t_app ta;
	cr_assert_eq(t_append_submit(log, &ta, b, len, 0), 0);
	t_run_until(&t.ring, &ta.done);
	cr_assert_eq(ta.err, 0);
	cr_expect(ta.a.log_append_time > 1600000000000LL);
	cr_expect_eq((int64_t)rt_be64_get(b + KP_BATCH_OFF_MAX_TIMESTAMP), ta.a.log_append_time);
	cr_expect(rt_be16_get(b + KP_BATCH_OFF_ATTRIBUTES) & KP_ATTR_LOG_APPEND_TIME);
	cr_expect(kp_batch_crc_ok(b, len), "CRC recomputed after the change");
	free(b);
	t_close(&t, log);
}

Test(stor_append, rolls_on_segment_bytes_with_20_digit_names)
{
	t.cfg.segment_bytes = 4096;
	struct stor_log *log = open_log("roll");
	for (int i = 0; i < 20; i++) {
		size_t len;
		uint8_t *b = t_batch(10, 1000 + i, 50, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
	}
	cr_expect(stor_log_segment_count(log) > 3);
	cr_expect_eq(stor_log_end_offset(log), 200);
	t_run_idle(&t.ring, log);
	cr_expect_eq(t_close(&t, log), 0);
	/* Every segment file is at most segment.bytes, named by its base offset. */
	int found = 0;
	for (int64_t base = 0; base < 200; base++) {
		char p[512];
		snprintf(p, sizeof p, "%s/roll-0/%020lld.log", t.dir, (long long)base);
		long long sz = t_file_size(p);
		if (sz < 0) continue;
		cr_expect(sz <= 4096, "segment %lld is %lld bytes", (long long)base, sz);
		found++;
	}
	cr_expect(found > 3);
}

/* Kafka's LogSegment.shouldRoll on segment.ms: measured from the segment's first batch timestamp
 * to the incoming batch's max timestamp (not the wall clock when batches carry timestamps). */
Test(stor_append, rolls_on_segment_ms_by_record_timestamps)
{
	t.cfg.segment_ms = 1000;
	struct stor_log *log = open_log("age");
	int64_t ts[] = { 5000, 5600, 6000, 6001, 6500, 7002 };
	size_t want[] = { 1, 1, 1, 2, 2, 3 };   /* segments after each append */
	for (int i = 0; i < 6; i++) {
		size_t len;
		uint8_t *b = t_batch(1, ts[i], 10, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
		cr_expect_eq(stor_log_segment_count(log), want[i], "after the batch at %lld: %zu segments",
		             (long long)ts[i], stor_log_segment_count(log));
	}
	cr_expect_eq(log->segs[1]->base, 3, "the roll came with the batch 1001 ms after the first");
	cr_expect_eq(log->segs[2]->base, 5);
	cr_expect_eq(t_close(&t, log), 0);
}

/* A full offset index rolls the segment however small the .log still is
 * (segment.index.bytes 32: four 8-byte entries). */
Test(stor_append, rolls_when_the_offset_index_is_full)
{
	t.cfg.segment_index_bytes = 32;
	t.cfg.index_interval_bytes = 1;         /* an index entry for (nearly) every batch */
	struct stor_log *log = open_log("full");
	for (int i = 0; i < 16; i++) {
		size_t len;
		uint8_t *b = t_batch(1, 1000, 10, &len);   /* one timestamp: one time index entry */
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
	}
	size_t n = stor_log_segment_count(log);
	cr_expect(n >= 3, "16 batches with room for 4 index entries a segment: %zu segments", n);
	for (size_t i = 0; i + 1 < log->nseg; i++)
		cr_expect(log->segs[i]->on <= 4 && stor_segment_index_full(log->segs[i]),
		          "sealed segment %zu rolled with a full index (%zu entries)", i, log->segs[i]->on);
	t_run_idle(&t.ring, log);
	cr_expect_eq(t_close(&t, log), 0);
	/* The same appends with the default index size stay in one segment. */
	t.cfg.segment_index_bytes = 10485760;
	log = open_log("room");
	for (int i = 0; i < 16; i++) {
		size_t len;
		uint8_t *b = t_batch(1, 1000, 10, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
	}
	cr_expect_eq(stor_log_segment_count(log), 1);
	cr_expect_eq(t_close(&t, log), 0);
}

/* The active segment's index files grow a page of entries at a time (not a write per append),
 * a sealed segment's hold exactly its entries, and a clean close writes the active one's whole. */
Test(stor_append, index_files_grow_a_page_at_a_time_and_are_whole_when_sealed)
{
	t.cfg.segment_bytes = 4096;
	t.cfg.index_interval_bytes = 100;
	struct stor_log *log = open_log("idx");
	while (stor_log_segment_count(log) < 3 || !stor_log_active(log)->on) {
		size_t len;
		uint8_t *b = t_batch(2, 1000, 50, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
	}
	t_run_idle(&t.ring, log);
	char p[512];
	for (size_t i = 0; i + 1 < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		cr_assert_gt(s->on, 0, "segment %zu has no index entries", i);
		snprintf(p, sizeof p, "%s/idx-0/%020lld.index", t.dir, (long long)s->base);
		cr_expect_eq(t_file_size(p), (long long)s->on * 8, "sealed segment %zu", i);
		snprintf(p, sizeof p, "%s/idx-0/%020lld.timeindex", t.dir, (long long)s->base);
		cr_expect_eq(t_file_size(p), (long long)s->tn * 12, "sealed segment %zu", i);
	}
	/* The active segment: a few entries stay in memory only... */
	struct stor_segment *a = stor_log_active(log);
	snprintf(p, sizeof p, "%s/idx-0/%020lld.index", t.dir, (long long)a->base);
	cr_expect_eq(t_file_size(p), 0, "a few entries are written before a page of them is new");
	/* ...and a page of them is written while it is still active. */
	log->cfg.segment_bytes = 64 << 20;
	cr_assert_eq(stor_log_active(log), a);
	log->cfg.index_interval_bytes = 1;       /* an entry per batch */
	size_t before = a->on;
	while (a->on - before < STOR_INDEX_PAGE / 8 + 1) {
		size_t len;
		uint8_t *b = t_batch(1, 10, 1, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
		cr_assert_eq(stor_log_active(log), a, "the segment rolled");
	}
	t_run_idle(&t.ring, log);
	long long got = t_file_size(p);
	cr_expect(got >= (long long)STOR_INDEX_PAGE && got <= (long long)a->on * 8,
	          "the active segment's .index holds %lld bytes, %zu entries in memory", got, a->on);
	long long on = (long long)a->on;
	cr_assert_eq(t_close(&t, log), 0);
	cr_expect_eq(t_file_size(p), on * 8);
}

Test(stor_append, refuses_bad_framing_and_oversize)
{
	t.cfg.segment_bytes = 1024;
	struct stor_log *log = open_log("bad");
	size_t len;
	uint8_t *b = t_batch(1, 1, 10, &len);
	struct stor_append a = {.data = b, .len = len - 1, .done = (stor_append_fn)abort};
	struct kp_records_info info = {0};
	cr_expect_eq(stor_log_append(log, &a, &info), -EBADMSG);
	free(b);
	b = t_batch(10, 1, 200, &len);
	a = (struct stor_append){.data = b, .len = len, .done = (stor_append_fn)abort};
	cr_expect_eq(stor_log_append(log, &a, &info), -EMSGSIZE);
	cr_expect_eq(stor_err_to_kafka(-EMSGSIZE), 18);
	free(b);
	cr_expect_eq(stor_log_end_offset(log), 0);
	t_close(&t, log);
}

Test(stor_append, multi_batch_record_sets_get_consecutive_offsets)
{
	struct stor_log *log = open_log("multi");
	size_t len;
	uint8_t *b = t_batches(3, 4, 100, 8, &len);
	int64_t base;
	cr_assert_eq(t_append(&t, log, b, len, 0, &base), 0);
	cr_expect_eq(base, 0);
	size_t p = 0;
	int64_t expect = 0;
	while (p < len) {
		cr_expect_eq((int64_t)rt_be64_get(b + p), expect);
		expect += 4;
		p += kp_batch_size(b + p, len - p);
	}
	cr_expect_eq(stor_log_end_offset(log), 12);
	free(b);
	t_close(&t, log);
}

Test(stor_append, durable_appends_share_fdatasyncs)
{
	struct stor_log *log = open_log("gc");
	enum { N = 64 };
	struct t_app ta[N];
	uint8_t *bufs[N];
	stor_fault_clear();
	uint64_t before = stor_fault_seen(STOR_FAULT_FSYNC);
	for (int i = 0; i < N; i++) {
		size_t len;
		bufs[i] = t_batch(1, i, 100, &len);
		cr_assert_eq(t_append_submit(log, &ta[i], bufs[i], len, STOR_APPEND_DURABLE), 0);
	}
	for (int i = 0; i < N; i++) t_run_until(&t.ring, &ta[i].done);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(ta[i].err, 0);
		cr_expect_eq(ta[i].a.base_offset, i);
		free(bufs[i]);
	}
	uint64_t rounds = stor_fault_seen(STOR_FAULT_FSYNC) - before;
	cr_expect(rounds >= 1 && rounds < N / 2, "%d durable appends took %llu flush rounds", N,
	          (unsigned long long)rounds);
	cr_expect_eq(stor_log_durable_offset(log), N);
	t_run_idle(&t.ring, log);
	t_close(&t, log);
}

static bool synced;
static int sync_err;
static void on_sync(struct stor_sync *s, int err)
{
	(void)s;
	synced = true;
	sync_err = err;
}

Test(stor_append, sync_waits_for_offset)
{
	struct stor_log *log = open_log("sw");
	size_t len;
	uint8_t *b = t_batch(3, 1, 10, &len);
	cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
	free(b);
	struct stor_sync s = {.offset = 3, .done = on_sync};
	synced = false;
	cr_assert_eq(stor_log_sync(log, &s), 0);
	t_run_until(&t.ring, &synced);
	cr_expect_eq(sync_err, 0);
	cr_expect(stor_log_durable_offset(log) >= 3);
	struct stor_sync bad = {.offset = 99, .done = on_sync};
	cr_expect_eq(stor_log_sync(log, &bad), -EINVAL);
	t_run_idle(&t.ring, log);
	t_close(&t, log);
}

static int64_t hook_offsets[64];
static bool hook_trunc[64];
static int hook_n;
static void on_roll(void *arg, struct stor_log *lg, int64_t offset, bool truncated)
{
	(void)arg;
	(void)lg;
	if (hook_n < 64) {
		hook_offsets[hook_n] = offset;
		hook_trunc[hook_n++] = truncated;
	}
}

Test(stor_append, roll_hook_sees_rolls_and_truncations)
{
	t.cfg.segment_bytes = 1024;
	struct stor_log *log = open_log("hook");
	hook_n = 0;
	stor_log_set_roll_hook(log, on_roll, NULL);
	for (int i = 0; i < 12; i++) {
		size_t len;
		uint8_t *b = t_batch(3, 1000 + i, 60, &len);
		cr_assert_eq(t_append(&t, log, b, len, 0, NULL), 0);
		free(b);
	}
	cr_assert(hook_n >= 2, "%d rolls", hook_n);
	cr_expect_eq((size_t)hook_n, stor_log_segment_count(log) - 1);
	for (int i = 0; i < hook_n; i++) {
		cr_expect(!hook_trunc[i]);
		cr_expect_eq(hook_offsets[i] % 3, 0, "a roll falls between batches");
	}
	t_run_idle(&t.ring, log);
	int n = hook_n;
	cr_assert_eq(stor_log_truncate(log, 9), 0);
	cr_assert_eq(hook_n, n + 1);
	cr_expect(hook_trunc[n]);
	cr_expect_eq(hook_offsets[n], 9);
	t_close(&t, log);
}

Test(stor_append, a_lone_durable_append_carries_its_own_fdatasync)
{
	struct stor_log *log = open_log("link");
	for (int i = 0; i < 3; i++) {
		size_t len;
		uint8_t *b = t_batch(2, i, 100, &len);
		struct t_app ta;
		uint64_t before = stor_fault_seen(STOR_FAULT_FSYNC);
		cr_assert_eq(t_append_submit(log, &ta, b, len, STOR_APPEND_DURABLE), 0);
		/* Nothing else in flight: at the pass's end its write and its fdatasync go out
		 * linked, together. */
		cr_expect_eq(ta.a.link_seq, 0);
		stor_ring_flush(&t.ring);
		cr_expect_neq(ta.a.link_seq, 0);
		t_run_until(&t.ring, &ta.done);
		cr_expect_eq(ta.err, 0);
		cr_expect_eq(stor_log_durable_offset(log), 2 * (i + 1));
		cr_expect_eq(stor_fault_seen(STOR_FAULT_FSYNC) - before, 1, "one fdatasync, no second round");
		t_run_idle(&t.ring, log);
		free(b);
	}
	t_close(&t, log);
}

/* A real short write (the file size limit falls in the middle of the append) cancels the
 * fdatasync linked to it: the round must make nothing durable and must not count as a failed
 * fdatasync (which would take the partition offline); the append fails, the tail is cut back,
 * and durable appends work again once the limit is lifted. */
Test(stor_append, a_short_linked_write_cancels_its_fdatasync_harmlessly)
{
	struct stor_log *log = open_log("short");
	size_t len;
	uint8_t *b = t_batch(1, 0, 1000, &len);
	cr_assert_eq(t_append(&t, log, b, len, STOR_APPEND_DURABLE, NULL), 0);
	t_run_idle(&t.ring, log);
	free(b);
	char p[512];
	snprintf(p, sizeof p, "%s/short-0/00000000000000000000.log", t.dir);
	long long size = t_file_size(p);
	cr_assert_eq(size, (long long)len, "no zeros ahead yet on a new partition");

	struct rlimit old;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	b = t_batch(1, 1, 1000, &len);
	struct rlimit lim = { (rlim_t)size + len / 2, old.rlim_max };
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct t_app ta;
	cr_assert_eq(t_append_submit(log, &ta, b, len, STOR_APPEND_DURABLE), 0);
	stor_ring_flush(&t.ring);
	cr_expect_neq(ta.a.link_seq, 0);
	t_run_until(&t.ring, &ta.done);
	cr_expect_eq(ta.err, -EFBIG);
	t_run_idle(&t.ring, log);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	cr_expect_eq(stor_log_durable_offset(log), 1);
	cr_expect_eq(stor_log_end_offset(log), 1);
	free(b);

	b = t_batch(1, 2, 1000, &len);
	cr_expect_eq(t_append(&t, log, b, len, STOR_APPEND_DURABLE, NULL), 0, "not offline");
	cr_expect_eq(stor_log_durable_offset(log), 2);
	free(b);
	t_run_idle(&t.ring, log);
	t_close(&t, log);
}
