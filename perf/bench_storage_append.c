/*
 * perf/bench_storage_append.c: append throughput of storage/ through its own io_uring loop, for
 * perf/storage.sh to put beside fio on the same disk in the same run.
 *
 *   bench_storage_append nosync  DIR BATCH_BYTES TOTAL_BYTES QD
 *       appends of BATCH_BYTES batches, QD in flight, no fsync; prints MB/s
 *   bench_storage_append durable DIR BATCH_BYTES COUNT WRITERS
 *       WRITERS concurrent durable appenders (each waits for its fdatasync before its next
 *       append, as an acks=-1 producer with one request in flight); prints appends/s and
 *       the flush rounds used
 *
 * Output: one line "key=value ..." that the script parses.  The log dir is removed at the end.
 * Built with -Dlat_trace=true it also prints storage's stage histograms (group-commit rounds,
 * zero chunks, write completion to round issue) to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hist.h"
#include "base/ioop.h"
#include "base/lat_trace.h"
#include "proto/batch.h"
#include "storage/fault.h"
#include "storage/storage.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One batch of about `bytes` bytes: records of up to 64 KiB. */
static uint8_t *make_batch(size_t bytes, size_t *len, int *nrec)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	size_t rec = bytes > 65536 ? 65536 : bytes;
	size_t payload = bytes > 200 ? bytes - 200 : bytes;
	int n = (int)((payload + rec - 1) / rec);
	size_t vlen = payload / (size_t)n;
	char *v = malloc(vlen);
	for (size_t i = 0; i < vlen; i++) v[i] = (char)(i * 131 + 7);
	for (int i = 0; i < n; i++) kp_batch_builder_add(&b, 1700000000000LL + i, NULL, -1, v, (int32_t)vlen, NULL, 0);
	const uint8_t *p = kp_batch_builder_finish(&b, len);
	uint8_t *out = malloc(*len);
	memcpy(out, p, *len);
	kp_batch_builder_fini(&b);
	free(v);
	*nrec = n;
	return out;
}

struct app {
	struct stor_append a;
	bool busy;
	int err;
	uint64_t t_sub;             /* when it was submitted */
};

static struct rt_hist *lat;     /* append submitted -> done */

static void on_done(struct stor_append *a, int err)
{
	struct app *x = (struct app *)a;
	x->busy = false;
	x->err = err;
	uint64_t now = now_ns();
	rt_hist_record(lat, now - x->t_sub);
	/* lat_trace builds: the submission to the write's completion (storage stamps the rest;
	 * both are CLOCK_MONOTONIC). */
	rt_lt_record(RT_LT_OWNER_WRITTEN, x->t_sub, x->a.lt_written);
}

static void loop_once(struct io_uring *ring)
{
	stor_ring_flush(ring);
	io_uring_submit_and_wait(ring, 1);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	struct rt_ioop *ops[256];
	int32_t res[256];
	uint32_t fl[256];
	io_uring_for_each_cqe(ring, head, cqe) {
		if (n == 256) break;
		ops[n] = io_uring_cqe_get_data(cqe);
		res[n] = cqe->res;
		fl[n] = cqe->flags;
		n++;
	}
	io_uring_cq_advance(ring, n);
	for (unsigned i = 0; i < n; i++)
		if (ops[i]) ops[i]->cb(ops[i], res[i], fl[i]);
}

static int rm_rf(const char *path)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
	return system(cmd);
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "nosync") && strcmp(argv[1], "durable"))) {
		fprintf(stderr, "usage: %s nosync DIR BATCH_BYTES TOTAL_BYTES QD\n"
		                "       %s durable DIR BATCH_BYTES COUNT WRITERS\n", argv[0], argv[0]);
		return 2;
	}
	bool durable = !strcmp(argv[1], "durable");
	const char *dir = argv[2];
	size_t bsz = strtoull(argv[3], NULL, 10);
	uint64_t amount = strtoull(argv[4], NULL, 10);
	int qd = atoi(argv[5]);
	if (qd < 1 || qd > 256 || bsz < 100 || !amount) return 2;

	struct io_uring ring;
	if (io_uring_queue_init(512, &ring, 0)) return 1;
	int err;
	struct stor_dir *d = stor_dir_open(dir, &err);
	if (!d) {
		fprintf(stderr, "stor_dir_open %s: %s\n", dir, strerror(-err));
		return 1;
	}
	struct stor_config cfg;
	stor_config_default(&cfg);
	struct stor_log *log = stor_log_open(d, "bench", 0, &cfg, NULL, &ring, &err);
	if (!log) {
		fprintf(stderr, "stor_log_open: %s\n", strerror(-err));
		return 1;
	}
	struct app *apps = calloc((size_t)qd, sizeof *apps);
	uint8_t **bufs = calloc((size_t)qd, sizeof *bufs);
	size_t len = 0;
	int nrec = 0;
	for (int i = 0; i < qd; i++) bufs[i] = make_batch(bsz, &len, &nrec);
	struct kp_records_info info = {.batches = 1, .records = nrec, .offset_count = nrec};

	lat = rt_hist_create(60000000000ull, 3);
	if (!lat) return 1;
	uint64_t target = durable ? amount : amount / len;  /* appends to do */
	uint64_t issued = 0, completed = 0;
	uint64_t fsyncs0 = stor_fault_seen(STOR_FAULT_FSYNC);
	uint64_t t0 = now_ns();
	while (completed < target) {
		for (int i = 0; i < qd && issued < target; i++) {
			if (apps[i].busy) continue;
			apps[i].a = (struct stor_append){.data = bufs[i], .len = len, .done = on_done,
			                                 .flags = durable ? STOR_APPEND_DURABLE : 0};
			apps[i].busy = true;
			apps[i].t_sub = now_ns();
			int rc = stor_log_append(log, &apps[i].a, &info);
			if (rc) {
				fprintf(stderr, "append: %s\n", strerror(-rc));
				return 1;
			}
			issued++;
		}
		loop_once(&ring);
		completed = issued;
		for (int i = 0; i < qd; i++) {
			if (apps[i].busy) completed--;
			if (apps[i].err) {
				fprintf(stderr, "append failed: %s\n", strerror(-apps[i].err));
				return 1;
			}
		}
	}
	uint64_t t1 = now_ns();
	while (!stor_log_idle(log)) loop_once(&ring);
	double s = (double)(t1 - t0) / 1e9;
	double mb = (double)completed * (double)len / 1e6;
	uint64_t rounds = stor_fault_seen(STOR_FAULT_FSYNC) - fsyncs0;
	printf("mode=%s batch_bytes=%zu appends=%" PRIu64 " seconds=%.3f MBps=%.1f appends_per_s=%.1f "
	       "flush_rounds=%" PRIu64 " writers=%d p50_us=%.1f p99_us=%.1f\n",
	       argv[1], len, completed, s, mb / s, (double)completed / s, rounds, qd,
	       rt_hist_percentile(lat, 50) / 1e3, rt_hist_percentile(lat, 99) / 1e3);
	rt_lt_dump();
	stor_log_close(log);
	stor_dir_close(d);
	for (int i = 0; i < qd; i++) free(bufs[i]);
	free(bufs);
	free(apps);
	rt_hist_destroy(lat);
	io_uring_queue_exit(&ring);
	rm_rf(dir);
	return 0;
}
