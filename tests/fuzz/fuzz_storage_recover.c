/*
 * tests/fuzz/fuzz_storage_recover.c: recovery of arbitrary segment and index bytes.
 *
 * Input: one mode byte, then bytes.  Mode bit 0 puts three valid batches (offsets 0..8) in front
 * of the bytes, so the fuzzer works on torn and corrupted tails of a real log; bit 1 also writes
 * the first half of the bytes as the .index file and leaves a clean-shutdown marker, so the
 * trusted-index path runs; bit 2 splits the log into two segments at the half.
 * Checked: open never crashes or fails on bad bytes; the valid prefix is never dropped; every
 * batch up to the LEO reads back whole with a good CRC and increasing offsets; the files end
 * exactly where the log does; appending after recovery works.  Files go to /dev/shm (tmpfs) so
 * the fsyncs of open and close cost nothing and the fuzzer runs fast.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/batch.h"
#include "storage/storage.h"

static char dir[64];
static struct io_uring ring;
static uint8_t *prefix;
static size_t prefix_len;

static void quiet(void *arg, const char *line) { (void)arg; (void)line; }

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof path, "%s/f-0/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) abort();
	if (n && write(fd, p, n) != (ssize_t)n) abort();
	close(fd);
}

static void clear(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s/f-0 %s/.kafka_cleanshutdown %s/*checkpoint", dir, dir, dir);
	if (system(cmd)) abort();
	snprintf(cmd, sizeof cmd, "%s/f-0", dir);
	mkdir(cmd, 0755);
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd)) return;
}

static int init(void)
{
	snprintf(dir, sizeof dir, "/dev/shm/fuzz-stor-XXXXXX");
	if (!mkdtemp(dir)) abort();
	atexit(cleanup);
	if (io_uring_queue_init(8, &ring, 0)) abort();
	stor_set_log_line(quiet, NULL);
	struct kp_batch_builder b;
	for (int k = 0; k < 3; k++) {
		kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
		for (int i = 0; i < 3; i++) kp_batch_builder_add(&b, 1000 + i, "k", 1, "value", 5, NULL, 0);
		size_t n;
		const uint8_t *p = kp_batch_builder_finish(&b, &n);
		prefix = realloc(prefix, prefix_len + n);
		memcpy(prefix + prefix_len, p, n);
		kp_batch_stamp(prefix + prefix_len, k * 3, 0);
		prefix_len += n;
		kp_batch_builder_fini(&b);
	}
	return 0;
}

static bool appended;
static void on_done(struct stor_append *a, int err) { (void)a; if (err) abort(); appended = true; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) once = init() + 1;
	if (size < 1) return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	clear();
	uint8_t *log = malloc(prefix_len + size + 1);
	size_t len = 0;
	if (mode & 1) {
		memcpy(log, prefix, prefix_len);
		len = prefix_len;
	}
	memcpy(log + len, data, size);
	len += size;
	if ((mode & 4) && len > 1) {
		/* Second segment named after what the first claims to end at (or a fuzzed number). */
		put("00000000000000000000.log", log, len / 2);
		put("00000000000000000009.log", log + len / 2, len - len / 2);
	} else {
		put("00000000000000000000.log", log, len);
	}
	if (mode & 2) {
		put("00000000000000000000.index", data, size / 2);
		char p[128];
		snprintf(p, sizeof p, "%s/.kafka_cleanshutdown", dir);
		close(open(p, O_WRONLY | O_CREAT, 0644));
	}
	int err;
	struct stor_dir *d = stor_dir_open(dir, &err);
	if (!d) abort();
	struct stor_config cfg;
	stor_config_default(&cfg);
	cfg.index_interval_bytes = 64;
	struct stor_log *lg = stor_log_open(d, "f", 0, &cfg, NULL, &ring, &err);
	if (!lg) abort();
	int64_t leo = stor_log_end_offset(lg);
	if ((mode & 7) == 1 && leo < 9) abort();  /* the valid prefix survives any tail */
	int64_t off = stor_log_start_offset(lg);
	uint64_t seen = 0;
	while (off < leo) {
		struct stor_read r;
		if (stor_log_read(lg, off, 1 << 20, INT64_MAX, true, &r) || !r.len) abort();
		uint8_t *p = malloc(r.len);
		if (pread(r.fd, p, r.len, (off_t)r.pos) != (ssize_t)r.len) abort();
		for (size_t q = 0; q < r.len;) {
			size_t sz = kp_batch_size(p + q, r.len - q);
			struct kp_batch_hdr h;
			if (!sz || q + sz > r.len || kp_batch_hdr_parse(p + q, sz, &h)) abort();
			if (!(mode & 2) && !kp_batch_crc_ok(p + q, sz)) abort();
			if (h.base_offset + h.last_offset_delta < off) abort();
			off = h.base_offset + h.last_offset_delta + 1;
			q += sz;
		}
		seen += r.len;
		free(p);
		stor_read_release(lg, &r);
	}
	if (!(mode & 2) && seen != stor_log_size(lg)) abort();
	/* The log takes appends after recovery. */
	uint8_t *b = malloc(prefix_len);
	memcpy(b, prefix, prefix_len);
	struct stor_append a = {.data = b, .len = prefix_len, .done = on_done};
	struct kp_records_info info = {.records = 9, .offset_count = 9};
	appended = false;
	if (stor_log_append(lg, &a, &info)) abort();
	while (!appended || !stor_log_idle(lg)) {
		struct io_uring_cqe *cqe;
		stor_ring_flush(&ring);
		io_uring_submit_and_wait(&ring, 1);
		while (!io_uring_peek_cqe(&ring, &cqe))
			rt_ioop_complete(&ring, cqe);
	}
	if (stor_log_end_offset(lg) != leo + 9) abort();
	free(b);
	stor_log_close(lg);
	stor_dir_close(d);
	free(log);
	return 0;
}
