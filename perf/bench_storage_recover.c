/*
 * perf/bench_storage_recover.c: recovery scan speed (lengths, headers, CRC-32C, index rebuild)
 * for perf/storage.sh to put beside a sequential read of the same disk.
 *
 *   bench_storage_recover DIR TOTAL_BYTES BATCH_BYTES [drop]
 *
 * Writes a log of TOTAL_BYTES in BATCH_BYTES batches (1 GiB segments, Kafka's default), closes
 * it, removes the clean-shutdown marker and the recovery point (as after a crash, so every
 * segment is scanned), optionally drops the page cache ("drop": needs root), then times
 * stor_log_open.  Prints "scan_GBps=... bytes=... seconds=..." and removes the dir.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/ioop.h"
#include "proto/batch.h"
#include "storage/storage.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool done_flag;
static void on_done(struct stor_append *a, int err)
{
	(void)a;
	if (err) {
		fprintf(stderr, "append failed: %d\n", err);
		exit(1);
	}
	done_flag = true;
}

static void run_until(struct io_uring *ring, bool *flag)
{
	while (!*flag) {
		stor_ring_flush(ring);
		io_uring_submit_and_wait(ring, 1);
		struct io_uring_cqe *cqe;
		while (io_uring_peek_cqe(ring, &cqe) == 0)
			rt_ioop_complete(ring, cqe);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DIR TOTAL_BYTES BATCH_BYTES [drop]\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1];
	uint64_t total = strtoull(argv[2], NULL, 10);
	size_t bsz = strtoull(argv[3], NULL, 10);
	bool drop = argc > 4 && !strcmp(argv[4], "drop");
	struct io_uring ring;
	if (io_uring_queue_init(64, &ring, 0)) return 1;
	int err;
	struct stor_dir *d = stor_dir_open(dir, &err);
	if (!d) return 1;
	struct stor_config cfg;
	stor_config_default(&cfg);
	struct stor_log *log = stor_log_open(d, "recover", 0, &cfg, NULL, &ring, &err);
	if (!log) return 1;

	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	int n = (int)(bsz / 1024);
	if (n < 1) n = 1;
	char v[1000];
	memset(v, 'v', sizeof v);
	for (int i = 0; i < n; i++) kp_batch_builder_add(&b, 1700000000000LL + i, "k", 1, v, 1000, NULL, 0);
	size_t len;
	const uint8_t *tmpl = kp_batch_builder_finish(&b, &len);
	uint8_t *buf = malloc(len);
	struct kp_records_info info = {.batches = 1, .records = n, .offset_count = n};
	for (uint64_t w = 0; w < total; w += len) {
		memcpy(buf, tmpl, len);
		struct stor_append a = {.data = buf, .len = len, .done = on_done};
		done_flag = false;
		if (stor_log_append(log, &a, &info)) return 1;
		run_until(&ring, &done_flag);
	}
	while (!stor_log_idle(log)) {
		bool f = false;
		stor_ring_flush(&ring);
		io_uring_submit(&ring);
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&ring, &cqe) == 0)
			rt_ioop_complete(&ring, cqe);
		(void)f;
	}
	uint64_t bytes = stor_log_size(log);
	stor_log_close(log);
	stor_dir_close(d);
	/* As after a crash: no marker, no recovery point, so every segment is scanned. */
	char p[1024];
	snprintf(p, sizeof p, "%s/.kafka_cleanshutdown", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/recovery-point-offset-checkpoint", dir);
	unlink(p);
	sync();
	if (drop) {
		int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd < 0 || write(fd, "3\n", 2) != 2) fprintf(stderr, "could not drop caches\n");
		if (fd >= 0) close(fd);
	}
	d = stor_dir_open(dir, &err);
	if (!d) return 1;
	uint64_t t0 = now_ns();
	log = stor_log_open(d, "recover", 0, &cfg, NULL, &ring, &err);
	uint64_t t1 = now_ns();
	if (!log) return 1;
	double s = (double)(t1 - t0) / 1e9;
	printf("scan_GBps=%.3f bytes=%" PRIu64 " seconds=%.3f batch_bytes=%zu cache=%s\n", (double)bytes / s / 1e9,
	       bytes, s, len, drop ? "dropped" : "warm");
	stor_log_close(log);
	stor_dir_close(d);
	kp_batch_builder_fini(&b);
	free(buf);
	io_uring_queue_exit(&ring);
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
	return system(cmd) ? 1 : 0;
}
