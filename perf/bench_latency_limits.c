/*
 * perf/bench_latency_limits.c: the latency limits the broker's p99 figures are compared with,
 * measured on this machine in the same run:
 *   - loopback TCP round trip: a 1 KiB request and a 16-byte answer between two threads over
 *     127.0.0.1 (TCP_NODELAY), what the smallest Produce/acks=1 exchange must at least cost;
 *     back to back (the limit), and paced at 10,000 per second (for context: the threads sleep
 *     between exchanges, as the broker's do in the latency run), the paced one counted two ways:
 *     from the client's write (its wake-up excluded), and from the slot of each record it
 *     carries, as ringtail-perf's open-loop produce latency is counted (the client's own
 *     lateness included): a client that wakes late sends one exchange for every slot that is
 *     due by then, as the harness puts the records due at once into one request, and each of
 *     those slots counts from itself to the answer;
 *   - fdatasync: a 16 KiB append then fdatasync in DIR, what acks=-1 must at least wait for;
 *     and, for context (not a limit the issue names), the disk under the pattern of the broker's
 *     acks=-1 latency run: 8 files (its 8 partitions), each written ahead with zeros and synced
 *     (as storage/prealloc.c keeps a segment), each thread writing 1 KiB and fdatasyncing it
 *     1,250 times a second, the eight staggered so that the disk sees one every 100 us, counted
 *     from each write to its fdatasync's return: what 8 concurrent fdatasyncs cost the disk,
 *     without the broker.
 * Prints one line per limit: "<name> p50_us=... p99_us=... n=...".
 *
 *   bench_latency_limits [DIR] [ROUNDS]
 *
 * BLL_SYNC8_SECONDS in the environment runs the 8-file pattern that long (2 s by default; the
 * 4 MiB written ahead per file bound it to 3.3 s), and BLL_SYNC8_RAW=FILE writes its every
 * sample (file, write start ns, write + fdatasync ns) for perf/lat_model.py.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hist.h"
#include "perf/bench_util.h"

static int full(int fd, void *p, size_t n, int rd)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = rd ? read(fd, (char *)p + done, n - done) : write(fd, (char *)p + done, n - done);
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static void *echo(void *arg)
{
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char buf[1024];
	while (full(fd, buf, sizeof(buf), 1) == 0)
		if (full(fd, buf, 16, 0))
			break;
	close(fd);
	return NULL;
}


/* One of the 8 paced fdatasync writers. */
struct syncer {
	int fd;
	uint64_t start_ns;           /* its first slot */
	int n;                       /* appends */
	struct rt_hist *h;           /* owned by main; this thread's only */
	uint64_t *raw;               /* owned by main: per append, write start and duration (ns) */
	int failed;
};

#define SYNC8_FILES 8
#define SYNC8_PERIOD_NS 800000ull /* 1,250 a second each: 10,000 a second over the 8 */
#define SYNC8_ZEROS (4u << 20)

static void *syncer_run(void *arg)
{
	struct syncer *y = arg;
	char rec[1024];
	memset(rec, 'z', sizeof(rec));
	for (int i = 0; i < y->n; i++) {
		uint64_t slot = y->start_ns + SYNC8_PERIOD_NS * (uint64_t)i;
		struct timespec ts = { (time_t)(slot / 1000000000ull), (long)(slot % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		uint64_t t0 = rt_clock_ns();
		if (pwrite(y->fd, rec, sizeof(rec), (off_t)i * (off_t)sizeof(rec)) != (ssize_t)sizeof(rec) ||
		    fdatasync(y->fd)) {
			y->failed = 1;
			return NULL;
		}
		uint64_t t1 = rt_clock_ns();
		if (i >= y->n / 10)
			rt_hist_record(y->h, t1 - t0);
		if (y->raw) {
			y->raw[2 * i] = t0;
			y->raw[2 * i + 1] = t1 - t0;
		}
	}
	return NULL;
}

/* The 8-file paced fdatasync pattern (see the top of the file) for about `secs` seconds;
 * prints its line.  0, or 1 on an I/O failure. */
static int sync8(const char *dir, double secs, const char *raw_path)
{
	struct syncer y[SYNC8_FILES];
	pthread_t th[SYNC8_FILES];
	char path[4096];
	static char zeros[SYNC8_ZEROS];
	int n = (int)(secs * 1e9 / SYNC8_PERIOD_NS);
	if ((uint64_t)n * 1024 > SYNC8_ZEROS)
		n = SYNC8_ZEROS / 1024;
	for (int k = 0; k < SYNC8_FILES; k++) {
		snprintf(path, sizeof(path), "%s/bench_latency_limits.%d.tmp", dir, k);
		y[k].fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
		unlink(path);
		if (y[k].fd < 0 || full(y[k].fd, zeros, sizeof(zeros), 0) || fdatasync(y[k].fd)) {
			perror(path);
			return 1;
		}
	}
	uint64_t start = rt_clock_ns() + 10000000ull;
	for (int k = 0; k < SYNC8_FILES; k++) {
		y[k].start_ns = start + (SYNC8_PERIOD_NS / SYNC8_FILES) * (uint64_t)k;
		y[k].n = n;
		y[k].h = rt_hist_create(10000000000ull, 3);
		y[k].failed = 0;
		y[k].raw = raw_path ? calloc(2 * (size_t)n, sizeof(uint64_t)) : NULL;
		pthread_create(&th[k], NULL, syncer_run, &y[k]);
	}
	struct rt_hist *all = rt_hist_create(10000000000ull, 3);
	int failed = 0;
	FILE *rf = raw_path ? fopen(raw_path, "w") : NULL;
	if (raw_path && !rf)
		perror(raw_path);
	for (int k = 0; k < SYNC8_FILES; k++) {
		pthread_join(th[k], NULL);
		for (int i = 0; rf && y[k].raw && i < n; i++)
			if (y[k].raw[2 * i + 1])
				fprintf(rf, "%d %llu %llu\n", k, (unsigned long long)y[k].raw[2 * i],
				        (unsigned long long)y[k].raw[2 * i + 1]);
		free(y[k].raw);
		rt_hist_merge(all, y[k].h);
		rt_hist_destroy(y[k].h);
		close(y[k].fd);
		failed |= y[k].failed;
	}
	if (rf)
		fclose(rf);
	if (failed) {
		fprintf(stderr, "sync8: write or fdatasync failed\n");
		rt_hist_destroy(all);
		return 1;
	}
	perf_hist_line("fdatasync_1k_8files_paced", all);
	rt_hist_destroy(all);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	int rounds = argc > 2 ? atoi(argv[2]) : 20000;
	struct rt_hist *h = rt_hist_create(10000000000ull, 3);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 1) || getsockname(lfd, (struct sockaddr *)&a, &al)) {
		perror("listen");
		return 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, echo, &lfd);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return 1;
	}
	char buf[1024];
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < rounds; i++) {
		uint64_t t0 = rt_clock_ns();
		if (full(fd, buf, sizeof(buf), 0) || full(fd, buf, 16, 1))
			return 1;
		if (i >= rounds / 10)
			rt_hist_record(h, rt_clock_ns() - t0);
	}
	perf_hist_line("loopback_rtt_1k", h);

	/* The same exchange paced at 10,000 per second, as the produce latency run sends: between
	 * exchanges both threads sleep, and waking a sleeping thread is part of every answer.
	 * Printed beside the back-to-back figure (which stays the limit) to show that cost. */
	rt_hist_reset(h);
	struct rt_hist *hs = rt_hist_create(10000000000ull, 3);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	int paced = rounds / 4 > 2000 ? rounds / 4 : 2000;
	uint64_t slot0 = (uint64_t)next.tv_sec * 1000000000ull + (uint64_t)next.tv_nsec;
	for (int i = 0; i < paced;) {
		perf_pace(&next, 100000);
		uint64_t t0 = rt_clock_ns();
		if (full(fd, buf, sizeof(buf), 0) || full(fd, buf, 16, 1))
			return 1;
		uint64_t t1 = rt_clock_ns();
		/* Slots i+1 .. up to t0 were due when this exchange left: it carries them all. */
		int carried = 1;
		while (i + carried < paced && slot0 + 100000ull * (uint64_t)(i + carried + 1) <= t0)
			carried++;
		for (int k = 0; k < carried; k++, i++) {
			uint64_t slot = slot0 + 100000ull * (uint64_t)(i + 1);
			if (i >= paced / 10)
				rt_hist_record(hs, t1 > slot ? t1 - slot : 1);
		}
		if (i - carried >= paced / 10)
			rt_hist_record(h, t1 - t0);
		uint64_t last = slot0 + 100000ull * (uint64_t)i;
		next.tv_sec = (time_t)(last / 1000000000ull);
		next.tv_nsec = (long)(last % 1000000000ull);
	}
	close(fd);
	pthread_join(t, NULL);
	close(lfd);
	perf_hist_line("loopback_rtt_1k_paced_10k", h);
	perf_hist_line("loopback_rtt_1k_paced_10k_from_slot", hs);
	rt_hist_destroy(hs);

	rt_hist_reset(h);
	char path[4096];
	snprintf(path, sizeof(path), "%s/bench_latency_limits.tmp", dir);
	int wfd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (wfd < 0) {
		perror(path);
		return 1;
	}
	static char blk[16384];
	memset(blk, 'y', sizeof(blk));
	int syncs = rounds / 20 > 200 ? rounds / 20 : 200;
	for (int i = 0; i < syncs; i++) {
		uint64_t t0 = rt_clock_ns();
		if (full(wfd, blk, sizeof(blk), 0) || fdatasync(wfd))
			return 1;
		rt_hist_record(h, rt_clock_ns() - t0);
	}
	close(wfd);
	unlink(path);
	perf_hist_line("fdatasync_16k", h);
	rt_hist_destroy(h);
	const char *secs = getenv("BLL_SYNC8_SECONDS");
	return sync8(dir, secs ? atof(secs) : 2.0, getenv("BLL_SYNC8_RAW"));
}
