/*
 * perf/bench_cleaner.c: log cleaner throughput (MB of log cleaned per second) beside the limits
 * of the same machine measured in the same run.
 *
 *   bench_cleaner DIR [TOTAL_BYTES [none|gzip|snappy|lz4|zstd [txn]]]
 *
 * Writes a compacted log of TOTAL_BYTES (256 MiB) in 32 MiB segments: batches of 64 records
 * with 200-byte values (half pseudo-random, half repeated: about 2:1 for the codecs) cycling over
 * 100,000 keys (so most records are superseded), in the given
 * codec; with "txn" every batch is a transaction of its own with its marker, a third of them
 * aborted (recorded in the .txnindex as the dataplane does).  Then, with the page cache warm
 * for everything (the cleaner reads what was just written):
 *   - seq_read:  pread of every segment file in 1 MiB blocks (the cleaner's reading floor);
 *   - copy:      the same bytes read and written to a new file in 1 MiB blocks, fdatasync'ed
 *                (the floor of a cleaner that rewrote every byte: read + write + sync);
 *   - memcpy:    1 MiB memcpy over a 64 MiB buffer;
 *   - cleaner:   one stor_log_compact of the whole log on this thread (key map, decompress,
 *                filter, recompress, write, fdatasync, swap), MB/s of log bytes before cleaning.
 * Prints one line of key=value figures with the ratios to each limit, and removes DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/ioop.h"
#include "proto/batch.h"
#include "storage/compact.h"
#include "storage/storage.h"

#define TS0 1700000000000LL
#define KEYS 100000
#define RECS 64
#define VSIZE 200
#define BLOCK ((size_t)1 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void dispatch(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(ring, &cqe) == 0)
		rt_ioop_complete(ring, cqe);
}

static bool done_flag;
static int64_t done_base;
static void on_done(struct stor_append *a, int err)
{
	if (err) {
		fprintf(stderr, "bench_cleaner: append failed: %s\n", strerror(-err));
		exit(1);
	}
	done_base = a->base_offset;
	done_flag = true;
}

/* Appends one built batch and waits for it; returns its base offset. */
static int64_t append(struct stor_log *log, struct io_uring *ring, const uint8_t *p, size_t len)
{
	static uint8_t *buf;
	static size_t cap;
	if (len > cap) {
		free(buf);
		buf = malloc(len);
		cap = len;
		if (!buf) exit(1);
	}
	memcpy(buf, p, len);
	struct kp_records_info info;
	struct kp_validate_opts o = {.internal_origin = true};
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	const char *why = NULL;
	if (kp_records_validate(buf, len, &o, &a, &info, &why)) {
		fprintf(stderr, "bench_cleaner: bad batch: %s\n", why ? why : "?");
		exit(1);
	}
	rt_arena_fini(&a);
	struct stor_append ap = {.data = buf, .len = len, .done = on_done};
	done_flag = false;
	if (stor_log_append(log, &ap, &info)) exit(1);
	while (!done_flag) {
		stor_ring_flush(ring);
		io_uring_submit_and_wait(ring, 1);
		dispatch(ring);
	}
	return done_base;
}

static void run_idle(struct stor_log *log, struct io_uring *ring)
{
	stor_ring_flush(ring);
	io_uring_submit(ring);
	while (!stor_log_idle(log)) {
		stor_ring_flush(ring);
		io_uring_submit_and_wait(ring, 1);
		dispatch(ring);
	}
}

static int64_t marker(struct stor_log *log, struct io_uring *ring, int64_t pid, bool commit, int64_t ts)
{
	struct kp_batch_builder b;
	if (kp_batch_builder_marker(&b, pid, 0, commit, 0, ts)) exit(1);
	size_t len;
	const uint8_t *p = kp_batch_builder_finish(&b, &len);
	int64_t off = append(log, ring, p, len);
	kp_batch_builder_fini(&b);
	return off;
}

/* Calls fn(path) for every "*.log" file of dir. */
static uint64_t each_log(const char *dir, uint64_t (*fn)(const char *, uint8_t *), uint8_t *buf)
{
	DIR *d = opendir(dir);
	if (!d) return 0;
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".log")) continue;
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		total += fn(p, buf);
	}
	closedir(d);
	return total;
}

static uint64_t read_file(const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	uint64_t got = 0;
	ssize_t n;
	while ((n = pread(fd, buf, BLOCK, (off_t)got)) > 0) got += (uint64_t)n;
	close(fd);
	return got;
}

static const char *copy_dir;
static uint64_t copy_file(const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char out[4200];
	snprintf(out, sizeof out, "%s/copy.tmp", copy_dir);
	int wfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || wfd < 0) exit(1);
	uint64_t got = 0;
	ssize_t n;
	while ((n = pread(fd, buf, BLOCK, (off_t)got)) > 0) {
		if (pwrite(wfd, buf, (size_t)n, (off_t)got) != n) exit(1);
		got += (uint64_t)n;
	}
	if (fdatasync(wfd)) exit(1);
	close(fd);
	close(wfd);
	unlink(out);
	return got;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [TOTAL_BYTES [none|gzip|snappy|lz4|zstd [txn]]]\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	uint64_t total = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)256 << 20;
	const char *cname = argc > 3 ? argv[3] : "none";
	bool txn = argc > 4 && !strcmp(argv[4], "txn");
	static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	int codec = -1;
	for (int i = 0; i < 5; i++)
		if (!strcmp(cname, codecs[i])) codec = i;
	if (codec < 0 || total < BLOCK) {
		fprintf(stderr, "bench_cleaner: codec is one of none, gzip, snappy, lz4, zstd; TOTAL_BYTES >= 1 MiB\n");
		return 2;
	}
	struct io_uring ring;
	if (io_uring_queue_init(64, &ring, 0)) return 1;
	int err = 0;
	struct stor_dir *d = stor_dir_open(dir, &err);
	if (!d) {
		fprintf(stderr, "bench_cleaner: %s: %s\n", dir, strerror(-err));
		return 1;
	}
	struct stor_config cfg;
	stor_config_default(&cfg);
	cfg.segment_bytes = 32 << 20;
	cfg.cleanup_policy = STOR_CLEANUP_COMPACT;
	struct stor_log *log = stor_log_open(d, "clean", 0, &cfg, NULL, &ring, &err);
	if (!log) return 1;

	/* Values about 2:1 compressible: 100 pseudo-random bytes, then 100 repeated ones. */
	char v[VSIZE];
	memset(v, 'v', sizeof v);
	uint64_t key = 0, written = 0, rnd = 88172645463325252ull;
	int64_t pid = 1000;
	for (uint64_t i = 0; written < total; i++) {
		bool aborted = txn && i % 3 == 1;
		struct kp_batch_builder b;
		kp_batch_builder_init(&b, (enum kp_compression)codec, txn ? KP_ATTR_TRANSACTIONAL : 0,
		                      txn ? pid : -1, txn ? 0 : -1, txn ? 0 : -1);
		for (int r = 0; r < RECS; r++) {
			char k[16];
			int kl = snprintf(k, sizeof k, "key-%" PRIu64, key++ % KEYS);
			for (int j = 0; j < VSIZE / 2; j++) {
				rnd ^= rnd << 13;
				rnd ^= rnd >> 7;
				rnd ^= rnd << 17;
				v[j] = (char)rnd;
			}
			kp_batch_builder_add(&b, TS0 + (int64_t)i, k, kl, v, VSIZE, NULL, 0);
		}
		size_t len;
		const uint8_t *p = kp_batch_builder_finish(&b, &len);
		int64_t first = append(log, &ring, p, len);
		written += len;
		kp_batch_builder_fini(&b);
		if (txn) {
			int64_t m = marker(log, &ring, pid, !aborted, TS0 + (int64_t)i);
			if (aborted &&
			    stor_log_add_aborted(log, &(struct stor_aborted_txn){.producer_id = pid, .first_offset = first,
			                                                         .last_offset = m, .last_stable_offset = m + 1}))
				return 1;
			pid++;          /* one producer per transaction: keeps every marker's pairing simple */
		}
	}
	run_idle(log, &ring);
	uint64_t log_bytes = stor_log_size(log);

	char pdir[4096];
	snprintf(pdir, sizeof pdir, "%s/clean-0", dir);
	copy_dir = dir;
	uint8_t *buf = malloc(BLOCK);
	(void)each_log(pdir, read_file, buf);   /* warm */
	uint64_t t0 = now_ns();
	uint64_t rbytes = each_log(pdir, read_file, buf);
	double seq_s = (double)(now_ns() - t0) / 1e9;
	t0 = now_ns();
	uint64_t cbytes = each_log(pdir, copy_file, buf);
	double copy_s = (double)(now_ns() - t0) / 1e9;
	size_t msz = (size_t)64 << 20;
	uint8_t *src = malloc(msz), *dst = malloc(msz);
	if (!src || !dst) return 1;
	memset(src, 1, msz);
	memset(dst, 2, msz);
	t0 = now_ns();
	uint64_t mbytes = 0;
	for (int rep = 0; rep < 8; rep++)
		for (size_t o = 0; o < msz; o += BLOCK) {
			memcpy(dst + o, src + o, BLOCK);
			mbytes += BLOCK;
		}
	double mem_s = (double)(now_ns() - t0) / 1e9;
	volatile uint8_t sink = dst[msz - 1];
	(void)sink;

	struct stor_compact_stats st;
	t0 = now_ns();
	int rc = stor_log_compact(log, TS0 + 1000000, &st);
	double clean_s = (double)(now_ns() - t0) / 1e9;
	if (rc) {
		fprintf(stderr, "bench_cleaner: cleaning failed: %s\n", strerror(-rc));
		return 1;
	}
	double cl = (double)st.bytes_before / clean_s / 1e6;
	double sr = (double)rbytes / seq_s / 1e6, cp = (double)cbytes / copy_s / 1e6, mc = (double)mbytes / mem_s / 1e6;
	printf("codec=%s txn=%d log_bytes=%" PRIu64 " cleaned_bytes=%" PRId64 " after_bytes=%" PRId64
	       " records_removed=%" PRId64 " seconds=%.3f cleaner_MBps=%.1f seq_read_MBps=%.1f copy_MBps=%.1f"
	       " memcpy_MBps=%.1f ratio_seq_read=%.3f ratio_copy=%.3f ratio_memcpy=%.4f\n",
	       cname, txn, log_bytes, st.bytes_before, st.bytes_after, st.records_removed, clean_s, cl, sr, cp, mc,
	       cl / sr, cl / cp, cl / mc);
	free(src);
	free(dst);
	free(buf);
	stor_log_close(log);
	stor_dir_close(d);
	io_uring_queue_exit(&ring);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	return system(cmd) ? 1 : 0;
}
