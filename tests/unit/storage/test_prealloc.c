/* Unit tests for storage/prealloc.c: the active segment's file is kept zero-filled ahead of the
 * appends while every size storage reports (reads, stor_log_size, retention.bytes) is the data
 * end, and only partitions with durable appends get them; sealed segments are cut back to their
 * data at roll, the active one at close, so a clean
 * reopen finds Kafka's layout; after a crash the zero tail is trimmed as a preallocated tail
 * (not as dropped data) and every acknowledged batch is there; a zero length followed by other
 * bytes is still a torn tail.  Faults (storage/fault.h): a zero chunk on a full disk only stops
 * the zero fill; a failed zero write, zero-chunk fdatasync, trim or trim fdatasync takes the
 * partition offline (KAFKA_STORAGE_ERROR) with a log line, and every acknowledged offset is
 * there after the reopen.  A partition without durable appends gets blocks reserved ahead
 * (fallocate, the file's size unchanged), freed at roll and close; a failed reservation only
 * stops them. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 64 * 1024;
	t.cfg.index_interval_bytes = 1024;
	t.cfg.prealloc_window_ms = 2;  /* the rate is known within milliseconds */
}
static void teardown(void) { stor_fault_clear(); t_teardown(&t); }
TestSuite(stor_prealloc, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "pa");
}

static void seg_path(char *out, size_t n, int64_t base)
{
	snprintf(out, n, "%s/pa-0/%020lld.log", t.dir, (long long)base);
}

/* Walks a .log file's batches from the start: the data end (where a batch length is 0 or the
 * file ends), the file size, and whether everything after the data end is zero. */
static uint64_t data_end(const char *path, long long *fsize, bool *zeros_after)
{
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	off_t sz = lseek(fd, 0, SEEK_END);
	uint64_t pos = 0;
	uint8_t h[KP_BATCH_LOG_OVERHEAD];
	while (pos + sizeof h <= (uint64_t)sz && pread(fd, h, sizeof h, (off_t)pos) == (ssize_t)sizeof h) {
		uint32_t blen = rt_be32_get(h + 8);
		if (!blen) break;
		pos += KP_BATCH_LOG_OVERHEAD + blen;
	}
	*zeros_after = true;
	uint8_t b[4096];
	for (uint64_t p = pos; p < (uint64_t)sz;) {
		ssize_t r = pread(fd, b, sizeof b, (off_t)p);
		cr_assert(r > 0);
		for (ssize_t i = 0; i < r; i++)
			if (b[i]) *zeros_after = false;
		p += (uint64_t)r;
	}
	close(fd);
	*fsize = sz;
	return pos;
}

/* Appends 1 KiB-value batches (durable when asked) for about `ms` milliseconds, paced at about
 * one per 100 us: well below the rate above which nothing is preallocated. */
static void append_for(struct stor_log *lg, int ms, unsigned flags)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		size_t len;
		uint8_t *buf = t_batch(1, 1700000000000LL, 1024, &len);
		cr_assert_eq(t_append(&t, lg, buf, len, flags, NULL), 0);
		free(buf);
		usleep(100);
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* The active segment, and the path of its .log file into p. */
static struct stor_segment *active_seg(struct stor_log *lg, char *p, size_t n)
{
	struct stor_segment *s = stor_log_active(lg);
	seg_path(p, n, s->base);
	return s;
}

/* Appends with append(lg), driving the ring after each, until there(active segment, its path)
 * holds; false when it did not after max appends. */
static bool append_until(struct stor_log *lg, int max, void (*append)(struct stor_log *),
                         bool (*there)(const struct stor_segment *s, const char *path))
{
	for (int i = 0; i < max; i++) {
		append(lg);
		t_run_idle(&t.ring, lg);
		char p[512];
		const struct stor_segment *s = active_seg(lg, p, sizeof p);
		if (there(s, p)) return true;
	}
	return false;
}

static void append_durable_ms(struct stor_log *lg)
{
	append_for(lg, 1, STOR_APPEND_DURABLE);
}

static bool zeros_ahead(const struct stor_segment *s, const char *path)
{
	return t_file_size(path) > (long long)s->size;
}

/* Appends durably until the active segment's file holds zeros ahead of its data (or gives up). */
static bool append_until_ahead(struct stor_log *lg)
{
	return append_until(lg, 400, append_durable_ms, zeros_ahead);
}

Test(stor_prealloc, zeros_ahead_but_every_size_is_the_data)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	struct stor_log *lg = open_log();
	cr_assert(append_until_ahead(lg), "no zeros were ever kept ahead of the appends");
	char p[512];
	struct stor_segment *s = active_seg(lg, p, sizeof p);
	long long fs;
	bool zeros;
	uint64_t end = data_end(p, &fs, &zeros);
	cr_assert_eq(end, s->size, "the batches end at %llu, the segment at %llu", (unsigned long long)end,
	             (unsigned long long)s->size);
	cr_assert_gt(fs, (long long)end);
	cr_assert(zeros, "the bytes past the data are not all zero");

	/* Reads stop at the data: the whole log reads back as batches, nothing past the LEO. */
	int64_t n = t_verify_log(lg, 0);
	cr_assert_eq(n, stor_log_end_offset(lg));
	uint64_t total = 0;
	for (size_t i = 0; i < lg->nseg; i++) total += lg->segs[i]->visible;
	cr_assert_eq(stor_log_size(lg), total);
	struct stor_read rd;
	cr_assert_eq(stor_log_read(lg, stor_log_end_offset(lg), 1 << 20, INT64_MAX, true, &rd), 0);
	cr_assert_eq(rd.len, 0);
	t_close(&t, lg);
}

/* acks=1 only: the same rate as append_until_ahead's, many windows long, and never a zero
 * written ahead (no group-commit round for them to save); one durable append in a window is
 * enough for the zeros to come back. */
Test(stor_prealloc, no_zeros_for_a_partition_without_durable_appends)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	struct stor_log *lg = open_log();
	for (int i = 0; i < 100; i++) {
		append_for(lg, 1, 0);
		t_run_idle(&t.ring, lg);
		struct stor_segment *s = stor_log_active(lg);
		char p[512];
		seg_path(p, sizeof p, s->base);
		cr_assert_eq(t_file_size(p), (long long)s->size, "zeros ahead of acks=1 appends (round %d)", i);
		cr_assert_eq(s->file_end, s->size);
		cr_assert_eq(lg->pa.left, 0, "a zero chunk in flight");
	}
	cr_assert_gt(lg->pa_rate, 0, "the rate was never measured, so the test proves nothing");
	cr_assert(append_until_ahead(lg), "durable appends got no zeros ahead either");
	t_close(&t, lg);
}

/* Zero chunks come seldom: one is issued when less than half the lead (a quarter second of the
 * append rate) is left and reaches several leads past the appends, not just the lead, so that a
 * partition's rounds seldom run beside one (each costs such a round the chunk's journal commit
 * and fdatasync: sync.c, "Side syncs").  Paced at about 500 KB/s, whose lead is far below the
 * chunk's maximum. */
Test(stor_prealloc, a_zero_chunk_reaches_several_leads_ahead)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	t.cfg.segment_bytes = 64 << 20;
	t.cfg.prealloc_window_ms = 50;
	struct stor_log *lg = open_log();
	int seen = 0;
	uint64_t last_lo = UINT64_MAX;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	long ms = 0;
	while (ms < 1500 && seen < 2) {
		size_t len;
		uint8_t *buf = t_batch(1, 1700000000000LL, 1024, &len);
		struct t_app ta;
		cr_assert_eq(t_append_submit(lg, &ta, buf, len, STOR_APPEND_DURABLE), 0);
		/* stor_log_append issues a chunk that is due before it returns. */
		if (lg->pa.left && lg->pa.seg && lg->pa.lo != last_lo) {
			last_lo = lg->pa.lo;
			uint64_t l = (lg->pa_rate / 4 + 4095) / 4096 * 4096;
			cr_assert_gt(l, 0);
			cr_assert_lt(l, 256 << 10, "the rate (%llu B/s) is too high for the test",
			             (unsigned long long)lg->pa_rate);
			cr_expect_geq(lg->pa.hi - lg->pa.seg->size, 2 * l,
			              "a chunk to %llu with the appends at %llu and a lead of %llu",
			              (unsigned long long)lg->pa.hi, (unsigned long long)lg->pa.seg->size,
			              (unsigned long long)l);
			seen++;
		}
		t_run_until(&t.ring, &ta.done);
		cr_assert_eq(ta.err, 0);
		free(buf);
		usleep(2000);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	}
	cr_assert_geq(seen, 1, "no zero chunk in %ld ms of durable appends", ms);
	t_run_idle(&t.ring, lg);
	t_close(&t, lg);
}

/* Two partitions of one thread (a shard) appending durably at the same rate, their appends
 * submitted together: their rate windows close together and both want zeros at once, but the
 * disk gets one chunk at a time from the thread, each at most 256 KiB (a bigger one is a
 * single write-back request that every other partition's fdatasync queues behind; storage/
 * prealloc.c, "Chunks are small").  Both still get their zeros: each takes its turn at its next
 * append once the other's chunk is back.  Fails on the old code: both chunks of 1 MiB in flight. */
Test(stor_prealloc, one_small_zero_chunk_at_a_time_per_thread)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	t.cfg.segment_bytes = 64 << 20;
	t.cfg.prealloc_window_ms = 20;
	struct stor_log *lg[2] = {t_open(&t, "pa"), t_open(&t, "pb")};
	bool ahead[2] = {false, false};
	int chunks = 0;
	uint64_t last_lo[2] = {UINT64_MAX, UINT64_MAX};
	for (int i = 0; i < 4000 && !(ahead[0] && ahead[1] && chunks >= 4); i++) {
		struct t_app ta[2];
		uint8_t *buf[2];
		for (int k = 0; k < 2; k++) {
			size_t len;
			buf[k] = t_batch(1, 1700000000000LL, 1024, &len);
			cr_assert_eq(t_append_submit(lg[k], &ta[k], buf[k], len, STOR_APPEND_DURABLE), 0);
			/* stor_log_append queues a chunk that is due before it returns. */
			cr_assert_leq(stor_pa_chunks_in_flight(), 1);
			cr_assert(!(lg[0]->pa.left && lg[1]->pa.left), "both partitions' zero chunks in flight");
			if (lg[k]->pa.left && lg[k]->pa.lo != last_lo[k]) {
				last_lo[k] = lg[k]->pa.lo;
				cr_assert_leq(lg[k]->pa.hi - lg[k]->pa.lo, 256 << 10, "a zero chunk of %llu bytes",
				              (unsigned long long)(lg[k]->pa.hi - lg[k]->pa.lo));
				chunks++;
			}
		}
		for (int k = 0; k < 2; k++) {
			t_run_until(&t.ring, &ta[k].done);
			cr_assert_eq(ta[k].err, 0);
			free(buf[k]);
			const struct stor_segment *sg = stor_log_active(lg[k]);
			if (sg->pa_end > sg->size) ahead[k] = true;
		}
		usleep(200);
	}
	cr_assert(ahead[0] && ahead[1], "zeros ahead: %d %d", ahead[0], ahead[1]);
	cr_assert_geq(chunks, 4);
	for (int k = 0; k < 2; k++) {
		t_run_idle(&t.ring, lg[k]);
		t_close(&t, lg[k]);
	}
	cr_assert_eq(stor_pa_chunks_in_flight(), 0);
}

Test(stor_prealloc, roll_and_close_cut_files_to_their_data)
{
	struct stor_log *lg = open_log();
	while (stor_log_segment_count(lg) < 4) append_for(lg, 2, STOR_APPEND_DURABLE);
	cr_assert(append_until_ahead(lg));
	t_run_idle(&t.ring, lg);
	/* Sealed segments were cut back at roll (their trims are done once the log is idle). */
	for (size_t i = 0; i + 1 < lg->nseg; i++) {
		char p[512];
		seg_path(p, sizeof p, lg->segs[i]->base);
		long long fs;
		bool z;
		uint64_t end = data_end(p, &fs, &z);
		cr_assert_eq((uint64_t)fs, end, "sealed segment %zu: file %lld bytes, data %llu", i, fs,
		             (unsigned long long)end);
		cr_assert_eq(end, lg->segs[i]->visible);
	}
	/* The recovery point passed the sealed segments: they were cut and synced. */
	cr_assert_eq(stor_log_recovery_point(lg), stor_log_active(lg)->base);
	int64_t leo = stor_log_end_offset(lg);
	int64_t first_base = lg->segs[1]->base;
	uint64_t first_size = lg->segs[0]->visible;

	/* retention.bytes counts data, not the zeros of the active file: exactly the log's size
	 * deletes nothing, one segment less deletes exactly the first. */
	struct stor_config c = t.cfg;
	c.retention_ms = -1;  /* the test batches are years old */
	c.retention_bytes = (int64_t)stor_log_size(lg);
	stor_log_set_config(lg, &c);
	cr_assert_eq(stor_log_tick(lg, stor_now_ms()), 0);
	c.retention_bytes = (int64_t)(stor_log_size(lg) - first_size);
	stor_log_set_config(lg, &c);
	cr_assert_eq(stor_log_tick(lg, stor_now_ms()), 1);
	cr_assert_eq(stor_log_start_offset(lg), first_base);
	c.retention_bytes = -1;
	stor_log_set_config(lg, &c);
	t_run_idle(&t.ring, lg);

	cr_assert_eq(t_close(&t, lg), 0);
	/* After a clean close every file is its data, byte for byte: Kafka's layout. */
	char dp[512];
	snprintf(dp, sizeof dp, "%s/pa-0", t.dir);
	DIR *d = opendir(dp);
	cr_assert_not_null(d);
	struct dirent *e;
	int logs = 0;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".log")) continue;
		char p[600];
		snprintf(p, sizeof p, "%s/%s", dp, e->d_name);
		long long fs;
		bool z;
		uint64_t end = data_end(p, &fs, &z);
		cr_assert_eq((uint64_t)fs, end, "%s: file %lld bytes, data %llu", e->d_name, fs, (unsigned long long)end);
		logs++;
	}
	closedir(d);
	cr_assert_eq(logs, 3);

	/* A clean reopen finds no zeros to trim and reads everything. */
	t_reopen_dir(&t, false);
	t_lines_reset();
	lg = open_log();
	cr_assert_null(strstr(t_lines(), "preallocated"), "log lines: %s", t_lines());
	cr_assert_null(strstr(t_lines(), "dropped"), "log lines: %s", t_lines());
	cr_assert_eq(stor_log_end_offset(lg), leo);
	t_verify_log(lg, first_base);
	t_close(&t, lg);
}

struct acked {
	int64_t leo;
	long long file, data;
};

Test(stor_prealloc, crash_with_zero_tail_keeps_every_acknowledged_offset)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		/* The child appends durably until zeros are ahead, then dies without closing. */
		close(p[0]);
		struct stor_log *lg = open_log();
		if (!append_until_ahead(lg)) _exit(2);
		append_for(lg, 3, STOR_APPEND_DURABLE);
		t_run_idle(&t.ring, lg);
		struct stor_segment *s = stor_log_active(lg);
		char path[512];
		seg_path(path, sizeof path, s->base);
		struct acked a = {stor_log_durable_offset(lg), t_file_size(path), (long long)s->size};
		if (write(p[1], &a, sizeof a) != (ssize_t)sizeof a) _exit(3);
		_exit(0);
	}
	close(p[1]);
	struct acked a;
	cr_assert_eq(read(p[0], &a, sizeof a), (ssize_t)sizeof a, "the child failed");
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_gt(a.file, a.data, "the child's file had no zero tail (%lld / %lld)", a.file, a.data);

	t_reopen_dir(&t, true);
	t_lines_reset();
	struct stor_log *lg = open_log();
	cr_assert_not_null(strstr(t_lines(), "trimmed its preallocated tail"), "log lines: %s", t_lines());
	cr_assert_null(strstr(t_lines(), "dropped"), "log lines: %s", t_lines());
	cr_assert_eq(stor_log_end_offset(lg), a.leo);
	cr_assert_eq(t_verify_log(lg, 0), a.leo);
	struct stor_segment *s = stor_log_active(lg);
	char path[512];
	seg_path(path, sizeof path, s->base);
	cr_assert_eq(t_file_size(path), a.data);
	t_close(&t, lg);
}

Test(stor_prealloc, zero_length_then_bytes_is_a_torn_tail)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 5, 2, 100);
	int64_t leo = stor_log_end_offset(lg);
	uint64_t size = stor_log_active(lg)->size;
	int64_t base = stor_log_active(lg)->base;
	cr_assert_eq(t_close(&t, lg), 0);
	char path[512];
	seg_path(path, sizeof path, base);
	int fd = open(path, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	static uint8_t junk[8192];
	junk[5000] = 0x7f;  /* zeros, then one stray byte: not a preallocated tail */
	cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	t_reopen_dir(&t, true);
	t_lines_reset();
	lg = open_log();
	cr_assert_not_null(strstr(t_lines(), "bad batch length"), "log lines: %s", t_lines());
	cr_assert_null(strstr(t_lines(), "preallocated"), "log lines: %s", t_lines());
	cr_assert_eq(stor_log_end_offset(lg), leo);
	cr_assert_eq(t_file_size(path), (long long)size);
	t_close(&t, lg);
}

/* Appends durable 1 KiB batches, paced as append_for, until one fails (its error is returned),
 * `max` were acknowledged, or `after` more were acknowledged once point p saw an operation since
 * `seen0` (0 returned).  *acked: the offset after the last acknowledged record. */
static int append_durable(struct stor_log *lg, int max, enum stor_fault_point p, uint64_t seen0, int after,
                          int64_t *acked)
{
	for (int i = 0; i < max; i++) {
		size_t len;
		uint8_t *buf = t_batch(1, 1700000000000LL, 1024, &len);
		int64_t base;
		int rc = t_append(&t, lg, buf, len, STOR_APPEND_DURABLE, &base);
		free(buf);
		if (rc) return rc;
		*acked = base + 1;
		if (stor_fault_seen(p) > seen0 && --after < 0) return 0;
		usleep(100);
	}
	return 0;
}

/* After the partition went offline: later appends are refused, and a reopen (recovery) finds
 * every acknowledged offset, the file cut back to its data. */
static void offline_then_reopen(struct stor_log *lg, int64_t acked, const char *line)
{
	cr_expect(stor_log_offline(lg));
	cr_expect(strstr(t_lines(), line) && strstr(t_lines(), "OFFLINE"), "log: %s", t_lines());
	cr_expect_eq(stor_err_to_kafka(-EROFS), 56);
	stor_fault_clear();
	size_t len;
	uint8_t *b = t_batch(1, 1, 20, &len);
	cr_expect_eq(t_append(&t, lg, b, len, STOR_APPEND_DURABLE, NULL), -EROFS);
	free(b);
	t_run_idle(&t.ring, lg);
	cr_expect_eq(stor_log_close(lg), -EROFS);
	t_reopen_dir(&t, false);
	lg = open_log();
	cr_expect(!stor_log_offline(lg));
	cr_expect_geq(stor_log_end_offset(lg), acked);
	cr_expect_eq(t_verify_log(lg, 0), stor_log_end_offset(lg), "every acknowledged record is there");
	t_close(&t, lg);
}

/* A log whose active segment keeps zeros ahead and will not roll during the test, with no zero
 * chunk for the spare: every chunk from here on is the active segment's. */
static struct stor_log *open_ahead(void)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	t.cfg.segment_bytes = 8 << 20;
	struct stor_log *lg = open_log();
	cr_assert(append_until_ahead(lg), "no zeros were ever kept ahead of the appends");
	t_run_idle(&t.ring, lg);
	lg->spare_pa_stop = true;
	t_lines_reset();
	return lg;
}

Test(stor_prealloc, failed_zero_chunk_fdatasync_takes_the_partition_offline)
{
	struct stor_log *lg = open_ahead();
	int64_t acked = stor_log_end_offset(lg);
	uint64_t seen0 = stor_fault_seen(STOR_FAULT_PA_SYNC);
	stor_fault_arm(STOR_FAULT_PA_SYNC, 0, -EIO, 1);
	int rc = append_durable(lg, 3000, STOR_FAULT_PA_SYNC, seen0, 1000, &acked);
	cr_expect_eq(rc, -EROFS, "appends fail once the chunk's fdatasync failed (%d)", rc);
	cr_expect_eq(stor_fault_seen(STOR_FAULT_PA_SYNC), seen0 + 1, "no zero chunk after it");
	offline_then_reopen(lg, acked, "fdatasync of the zeros kept ahead");
}

Test(stor_prealloc, failed_zero_write_takes_the_partition_offline)
{
	struct stor_log *lg = open_ahead();
	int64_t acked = stor_log_end_offset(lg);
	uint64_t seen0 = stor_fault_seen(STOR_FAULT_PA_ZERO);
	stor_fault_arm(STOR_FAULT_PA_ZERO, 0, -EIO, 1);
	int rc = append_durable(lg, 3000, STOR_FAULT_PA_ZERO, seen0, 1000, &acked);
	cr_expect_eq(rc, -EROFS, "appends fail once the zero write failed (%d)", rc);
	offline_then_reopen(lg, acked, "write of the zeros kept ahead");
}

/* A full disk under a zero chunk (ENOSPC, or a write cut short) stops the zero fill of that
 * segment and nothing else: the appends go on, extending the file, and stay acknowledged. */
Test(stor_prealloc, zero_chunk_on_a_full_disk_only_stops_the_zero_fill)
{
	const int32_t res[] = {-ENOSPC, STOR_FAULT_SHORT};
	const char *why[] = {"No space left on device", "short write"};
	for (int k = 0; k < 2; k++) {
		struct stor_log *lg = open_ahead();
		int64_t acked = stor_log_end_offset(lg);
		uint64_t seen0 = stor_fault_seen(STOR_FAULT_PA_ZERO);
		stor_fault_arm(STOR_FAULT_PA_ZERO, 0, res[k], 1);
		cr_expect_eq(append_durable(lg, 3000, STOR_FAULT_PA_ZERO, seen0, 50, &acked), 0);
		t_run_idle(&t.ring, lg);
		cr_expect_gt(stor_fault_seen(STOR_FAULT_PA_ZERO), seen0);
		cr_expect(!stor_log_offline(lg));
		cr_expect(stor_log_active(lg)->pa_stop, "no more zeros for this segment");
		cr_expect(strstr(t_lines(), "zero-filling") && strstr(t_lines(), why[k]), "log: %s", t_lines());
		cr_expect_null(strstr(t_lines(), "OFFLINE"));
		cr_expect_eq(stor_log_durable_offset(lg), acked);
		cr_assert_eq(t_close(&t, lg), 0);
		t_reopen_dir(&t, false);
		lg = open_log();
		cr_expect_eq(stor_log_end_offset(lg), acked);
		cr_expect_eq(t_verify_log(lg, 0), acked);
		cr_assert_eq(t_close(&t, lg), 0);
		t_reopen_dir(&t, false);
		stor_fault_clear();
	}
}

/* The cut of a rolled segment's zeros (ftruncate + fdatasync, linked) failing at either step. */
Test(stor_prealloc, failed_trim_at_roll_takes_the_partition_offline)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	const enum stor_fault_point pt[] = {STOR_FAULT_TRIM, STOR_FAULT_TRIM_SYNC};
	for (int k = 0; k < 2; k++) {
		struct stor_log *lg = open_log();
		cr_assert(append_until_ahead(lg), "no zeros were ever kept ahead of the appends");
		t_run_idle(&t.ring, lg);
		t_lines_reset();
		int64_t acked = stor_log_end_offset(lg);
		uint64_t seen0 = stor_fault_seen(pt[k]);
		stor_fault_arm(pt[k], 0, -EIO, 1);
		/* Until a roll's trim met the fault (segments of 64 KiB: within ~64 appends). */
		int rc = append_durable(lg, 3000, pt[k], seen0, 0, &acked);
		t_run_idle(&t.ring, lg);
		cr_assert_gt(stor_fault_seen(pt[k]), seen0, "point %d: no trim was issued", k);
		cr_expect(rc == 0 || rc == -EROFS, "%d", rc);
		offline_then_reopen(lg, acked, "cutting segment");
		stor_fault_clear();
	}
}

/* Bytes of disk a file holds (its blocks), -1 when missing. */
static long long disk_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (long long)st.st_blocks * 512;
}

static long long page_up(uint64_t v)
{
	return (long long)((v + 4095) / 4096 * 4096);
}

static void append_4000(struct stor_log *lg)
{
	size_t len;
	uint8_t *buf = t_batch(1, 1700000000000LL, 4000, &len);
	cr_assert_eq(t_append(&t, lg, buf, len, 0, NULL), 0);
	free(buf);
}

static bool blocks_reserved(const struct stor_segment *s, const char *path)
{
	return disk_bytes(path) > page_up(s->size);
}

/* acks=1 appends as fast as the loop goes (well above the 1 MiB/s below which nothing is
 * reserved) until the active segment has blocks reserved past its end; false when it never did. */
static bool append_until_reserved(struct stor_log *lg)
{
	return append_until(lg, 2000, append_4000, blocks_reserved);
}

/* A partition without zeros ahead gets its active segment's blocks reserved ahead instead
 * (fallocate, keeping the file's size the data's); the trim at roll and close frees them. */
Test(stor_prealloc, blocks_reserved_ahead_without_zeros_and_freed_at_roll_and_close)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	struct stor_log *lg = open_log();
	cr_assert(append_until_reserved(lg), "no blocks were ever reserved ahead of the appends");
	char p[512];
	struct stor_segment *s = active_seg(lg, p, sizeof p);
	cr_assert_eq(t_file_size(p), (long long)s->size, "the file's size is the data's");
	cr_assert_gt(s->fa_end, s->size);
	cr_assert_eq(s->file_end, s->size, "no zeros written ahead");
	int64_t first = s->base;
	while (stor_log_segment_count(lg) < 3) append_for(lg, 1, 0);
	t_run_idle(&t.ring, lg);
	seg_path(p, sizeof p, first);
	long long used = disk_bytes(p);
	cr_assert_leq(used, page_up(lg->segs[0]->size), "sealed segment holds %lld bytes of disk for %llu of data",
	              used, (unsigned long long)lg->segs[0]->size);
	int64_t leo = stor_log_end_offset(lg);
	cr_assert_eq(t_verify_log(lg, 0), leo);
	cr_assert(append_until_reserved(lg));
	leo = stor_log_end_offset(lg);
	s = stor_log_active(lg);
	seg_path(p, sizeof p, s->base);
	uint64_t size = s->size;
	cr_assert_eq(t_close(&t, lg), 0);
	cr_assert_leq(disk_bytes(p), page_up(size), "the active segment kept its reserved blocks past close");
	cr_assert_eq(t_file_size(p), (long long)size);
	t_reopen_dir(&t, false);
	lg = open_log();
	cr_assert_eq(stor_log_end_offset(lg), leo);
	cr_assert_eq(t_verify_log(lg, 0), leo);
	t_close(&t, lg);
}

/* A failed fallocate (a full disk) involves no append's bytes: it only stops the reservations. */
Test(stor_prealloc, failed_reservation_only_stops_the_reservations)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	struct stor_log *lg = open_log();
	uint64_t seen0 = stor_fault_seen(STOR_FAULT_PA_FALLOC);
	stor_fault_arm(STOR_FAULT_PA_FALLOC, 0, -ENOSPC, 1);
	for (int i = 0; i < 2000 && stor_fault_seen(STOR_FAULT_PA_FALLOC) == seen0; i++) {
		size_t len;
		uint8_t *buf = t_batch(1, 1700000000000LL, 4000, &len);
		cr_assert_eq(t_append(&t, lg, buf, len, 0, NULL), 0);
		free(buf);
	}
	t_run_idle(&t.ring, lg);
	cr_assert_gt(stor_fault_seen(STOR_FAULT_PA_FALLOC), seen0, "no reservation was ever tried");
	struct stor_segment *s = NULL;
	for (size_t i = 0; i < lg->nseg; i++)
		if (lg->segs[i]->fa_stop) s = lg->segs[i];
	cr_assert_not_null(s, "reservations go on after a failed one");
	cr_expect(strstr(t_lines(), "reserving blocks") && strstr(t_lines(), "No space left on device"), "log: %s",
	          t_lines());
	cr_expect(!stor_log_offline(lg));
	cr_expect_null(strstr(t_lines(), "OFFLINE"));
	/* Appends go on, and the next segments reserve again. */
	cr_assert(append_until_reserved(lg));
	cr_assert_neq(stor_log_active(lg), s);
	t_run_idle(&t.ring, lg);
	int64_t leo = stor_log_end_offset(lg);
	cr_expect_eq(t_verify_log(lg, 0), leo);
	cr_assert_eq(t_close(&t, lg), 0);
}

/* The completion of a zero chunk's or a trim's fdatasync that the fault layer fails. */
static bool failing_side_sync(struct stor_log *lg, struct rt_ioop *op)
{
	if (op == &lg->pa.fop) return lg->pa.finj == -EIO;
	for (size_t i = 0; i < lg->nseg; i++) {
		struct stor_segment *s = lg->segs[i];
		/* The linked pair completes in order: the second completion is the fdatasync's. */
		if (op == &s->trim_op) return s->trim_left == 1 && s->trim_inj[1] == -EIO;
	}
	return false;
}

/* Runs the ring until *until or nothing but the held completion is left, dispatching every
 * completion but the one of a zero chunk's or trim's fdatasync that the fault layer fails: that
 * one is kept in *held (with its result), as if the kernel were slow to return it. */
static void run_holding(struct stor_log *lg, volatile bool *until, struct rt_ioop **held, int32_t *hres)
{
	stor_ring_flush(&t.ring);
	io_uring_submit(&t.ring);
	while (!*until && lg->inflight > (*held ? 1 : 0)) {
		stor_ring_flush(&t.ring);
		io_uring_submit_and_wait(&t.ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		struct { struct rt_ioop *op; int32_t res; uint32_t flags; } b[64];
		io_uring_for_each_cqe(&t.ring, head, cqe) {
			if (n == 64) break;
			b[n].op = io_uring_cqe_get_data(cqe);
			b[n].res = cqe->res;
			b[n].flags = cqe->flags;
			n++;
		}
		io_uring_cq_advance(&t.ring, n);
		for (unsigned i = 0; i < n; i++) {
			if (!*held && b[i].op && failing_side_sync(lg, b[i].op)) {
				*held = b[i].op;
				*hres = b[i].res;
				continue;
			}
			if (b[i].op) b[i].op->cb(b[i].op, b[i].res, b[i].flags);
		}
	}
}

/* A zero chunk's or a trim's fdatasync and a group-commit round's run side by side on one open
 * file, and Linux reports a writeback error to whichever of them asks first: the side sync may
 * fail with the error of append pages while the round's succeeds.  Modelled here: the side
 * sync at point p fails (fault layer) and its completion is held back until the round of a
 * durable append written meanwhile has completed.  That append must not be acknowledged then,
 * and fails (the partition offline, log line `line`) once the side sync's failure is in. */
static void side_sync_fails_beside_a_round(struct stor_log *lg, enum stor_fault_point p, const char *line)
{
	int64_t acked = stor_log_end_offset(lg);
	stor_fault_arm(p, 0, -EIO, 1);
	struct rt_ioop *held = NULL;
	int32_t hres = 0;
	size_t len;
	enum { MAX = 3000 };
	uint8_t **buf = calloc(MAX + 1, sizeof *buf);
	struct t_app *ta = calloc(MAX + 1, sizeof *ta);
	cr_assert(buf && ta);
	int i;
	/* Durable appends until the failing side sync is out (its completion held). */
	for (i = 0; i < MAX && !held; i++) {
		buf[i] = t_batch(1, 1700000000000LL, 1024, &len);
		cr_assert_eq(t_append_submit(lg, &ta[i], buf[i], len, STOR_APPEND_DURABLE), 0);
		run_holding(lg, &ta[i].done, &held, &hres);
		if (ta[i].done && !ta[i].err) acked = ta[i].a.base_offset + 1;
		usleep(100);
	}
	cr_assert_not_null(held, "point %d: no side sync was issued in %d appends", p, i);
	/* One more, written and its round completed while the side sync is out. */
	uint64_t rounds0 = lg->round_seq;
	buf[i] = t_batch(1, 1700000000000LL, 1024, &len);
	struct t_app *last = &ta[i];
	cr_assert_eq(t_append_submit(lg, last, buf[i], len, STOR_APPEND_DURABLE), 0);
	cr_assert(!last->a.held, "the append does not wait for a zero chunk: its write goes now");
	run_holding(lg, &last->done, &held, &hres);
	/* With one round in flight per log (sync.c), the append's own round may not start: a round
	 * that completed beside the side sync waits, unsettled, and holds it back.  Either way a
	 * round has completed while the side sync is out, which is the case under test. */
	bool beside = lg->round_n > 0 && lg->rounds[lg->round_first].left == 0;
	cr_assert(lg->round_seq > rounds0 || beside,
	          "a round was issued for the append, or one completed beside the side sync");
	cr_expect(!last->done, "acknowledged (err %d) while a side fdatasync (point %d) was out: it may "
	          "have taken the round's writeback error", last->err, p);
	cr_expect_eq(stor_log_durable_offset(lg), acked);
	/* The side sync's failure comes in: nothing the round covered is acknowledged. */
	held->cb(held, hres, 0);
	t_run_idle(&t.ring, lg);
	cr_expect(last->done && last->err == -EROFS, "done %d err %d", last->done, last->err);
	cr_expect_eq(stor_log_durable_offset(lg), acked);
	for (int k = 0; k <= i; k++) free(buf[k]);
	free(buf);
	free(ta);
	offline_then_reopen(lg, acked, line);
}

Test(stor_prealloc, round_beside_a_failing_zero_chunk_sync_acknowledges_nothing)
{
	side_sync_fails_beside_a_round(open_ahead(), STOR_FAULT_PA_SYNC, "fdatasync of the zeros kept ahead");
}

/* The same for the fdatasync of the trim that cuts a rolled segment's zeros off (segments of
 * 64 KiB: a roll within ~64 appends). */
Test(stor_prealloc, round_beside_a_failing_trim_sync_acknowledges_nothing)
{
	cr_assert(stor_pa_supported(), "the kernel cannot cut files through io_uring (Linux >= 6.9)");
	struct stor_log *lg = open_log();
	cr_assert(append_until_ahead(lg), "no zeros were ever kept ahead of the appends");
	t_run_idle(&t.ring, lg);
	t_lines_reset();
	side_sync_fails_beside_a_round(lg, STOR_FAULT_TRIM_SYNC, "cutting segment");
}
