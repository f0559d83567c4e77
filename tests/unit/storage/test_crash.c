/* The crash test of issue 3.  A child process appends with durable acknowledgements (several in
 * flight, so group commit and segment rolls happen) and reports each acknowledged batch through
 * a pipe: base offset, size and CRC-32C of its bytes as stamped.  The parent kills it with
 * SIGKILL at a random moment, 200 times, reopening (recovering) the log each time and checking
 * that every acknowledged batch is there byte-identical, that the log reads back cleanly to its
 * end, and that nothing follows the last valid batch in the files.
 * SIGKILL keeps the page cache, so this checks the process-crash path; power loss is what the
 * fdatasync accounting (and the fault tests) cover. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "storage/internal.h"
#include "util.h"

#ifndef ITERATIONS
#define ITERATIONS 200
#endif
#define INFLIGHT 8

struct ack {
	int64_t base;
	uint32_t len;
	uint32_t crc;
};

struct child_app {
	struct t_app ta;
	uint8_t *buf;
	size_t len;
};

static int ack_fd;

static void child_done(struct stor_append *a, int err)
{
	struct child_app *c = (struct child_app *)a;
	c->ta.done = true;
	c->ta.err = err;
	if (err) return;
	struct ack m = {a->base_offset, (uint32_t)c->len, rt_crc32c(0, c->buf, c->len)};
	if (write(ack_fd, &m, sizeof m) != (ssize_t)sizeof m) _exit(3);
}

static void child_submit(struct stor_log *lg, struct child_app *c, unsigned *seed)
{
	free(c->buf);
	int n = 1 + (int)(rand_r(seed) % 5);
	c->buf = t_batch(n, 1700000000000LL + rand_r(seed) % 1000, (size_t)(rand_r(seed) % 400), &c->len);
	struct kp_records_info info = {.records = n, .offset_count = n};
	memset(&c->ta, 0, sizeof c->ta);
	c->ta.a.data = c->buf;
	c->ta.a.len = c->len;
	c->ta.a.flags = STOR_APPEND_DURABLE;
	c->ta.a.done = child_done;
	if (stor_log_append(lg, &c->ta.a, &info)) _exit(4);
}

static void child(const char *dir, int fd, unsigned seed)
{
	ack_fd = fd;
	struct io_uring ring;
	if (io_uring_queue_init(64, &ring, 0)) _exit(5);
	int err;
	struct stor_dir *d = stor_dir_open(dir, &err);
	if (!d) _exit(6);
	struct stor_config cfg;
	stor_config_default(&cfg);
	cfg.segment_bytes = 48 * 1024;
	cfg.index_interval_bytes = 1024;
	/* A short rate window so the child keeps zeros ahead within milliseconds: most kills leave
	 * a preallocated tail for recovery to trim (storage/prealloc.c). */
	cfg.prealloc_window_ms = 3;
	struct stor_log *lg = stor_log_open(d, "crash", 0, &cfg, NULL, &ring, &err);
	if (!lg) _exit(7);
	struct child_app apps[INFLIGHT] = {0};
	for (int i = 0; i < INFLIGHT; i++) child_submit(lg, &apps[i], &seed);
	for (;;) {
		stor_ring_flush(&ring);
		io_uring_submit_and_wait(&ring, 1);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		struct rt_ioop *ops[64];
		int32_t res[64];
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (n == 64) break;
			ops[n] = io_uring_cqe_get_data(cqe);
			res[n] = cqe->res;
			n++;
		}
		io_uring_cq_advance(&ring, n);
		for (unsigned i = 0; i < n; i++)
			if (ops[i]) ops[i]->cb(ops[i], res[i], 0);
		for (int i = 0; i < INFLIGHT; i++) {
			if (!apps[i].ta.done) continue;
			if (apps[i].ta.err) _exit(8);
			child_submit(lg, &apps[i], &seed);
		}
	}
}

static long long log_files_size(const char *dir)
{
	DIR *dp = opendir(dir);
	cr_assert_not_null(dp);
	struct dirent *e;
	long long total = 0;
	while ((e = readdir(dp))) {
		size_t n = strlen(e->d_name);
		if (n == 24 && !strcmp(e->d_name + 20, ".log")) {
			char p[1024];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			total += t_file_size(p);
		}
	}
	closedir(dp);
	return total;
}

Test(stor_crash, sigkill_never_loses_an_acknowledged_batch, .timeout = 110)
{
	struct tctx t;
	t_setup(&t, NULL);
	cr_assert_eq(stor_dir_close(t.d), 0);
	t.d = NULL;
	char pdir[512];
	snprintf(pdir, sizeof pdir, "%s/crash-0", t.dir);
	unsigned seed = (unsigned)time(NULL);
	srand(seed);
	size_t nacks = 0, cap = 1024;
	struct ack *acks = malloc(cap * sizeof *acks);
	int64_t max_acked_end = 0, prev_leo = 0;
	int kills_with_acks = 0, zero_tails = 0;
	for (int it = 0; it < ITERATIONS; it++) {
		int p[2];
		cr_assert_eq(pipe(p), 0);
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child(t.dir, p[1], seed + (unsigned)it * 7919u);
		}
		close(p[1]);
		size_t first_new = nacks;
		struct ack m;
		ssize_t r;
		if (rand() % 10 < 7) {
			/* Most kills come after the first acknowledgement (however slow the box is), the
			 * rest at any moment, start-up and recovery included. */
			struct pollfd pfd = {.fd = p[0], .events = POLLIN};
			if (poll(&pfd, 1, 10000) == 1 && read(p[0], &m, sizeof m) == (ssize_t)sizeof m) {
				if (nacks == cap) acks = realloc(acks, (cap *= 2) * sizeof *acks);
				acks[nacks++] = m;
			}
			usleep((useconds_t)(rand() % 20000));
		} else {
			usleep((useconds_t)(rand() % 30000));
		}
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		cr_assert(WIFSIGNALED(st), "child exited by itself (status %d): it failed", WEXITSTATUS(st));
		while ((r = read(p[0], &m, sizeof m)) == (ssize_t)sizeof m) {
			if (nacks == cap) acks = realloc(acks, (cap *= 2) * sizeof *acks);
			acks[nacks++] = m;
		}
		close(p[0]);
		if (nacks > first_new) kills_with_acks++;

		/* Reopen and recover in the parent. */
		int err;
		t_lines_reset();
		t.d = stor_dir_open(t.dir, &err);
		cr_assert_not_null(t.d);
		struct stor_log *lg = stor_log_open(t.d, "crash", 0, &t.cfg, NULL, &t.ring, &err);
		cr_assert_not_null(lg, "iteration %d: open failed: %d", it, err);
		if (strstr(t_lines(), "preallocated tail")) zero_tails++;
		for (size_t i = first_new; i < nacks; i++) {
			struct stor_read rd;
			cr_assert_eq(stor_log_read(lg, acks[i].base, acks[i].len, INT64_MAX, true, &rd), 0,
			             "iteration %d: acked offset %lld not readable (LEO %lld)", it,
			             (long long)acks[i].base, (long long)stor_log_end_offset(lg));
			cr_assert_eq(rd.first_offset, acks[i].base, "iteration %d", it);
			cr_assert_eq(rd.len, acks[i].len, "iteration %d: batch at %lld", it, (long long)acks[i].base);
			uint8_t *bytes = t_read_range(&rd);
			cr_assert_eq(rt_crc32c(0, bytes, rd.len), acks[i].crc, "iteration %d: batch at %lld differs",
			             it, (long long)acks[i].base);
			struct kp_batch_hdr h;
			cr_assert_eq(kp_batch_hdr_parse(bytes, rd.len, &h), 0);
			int64_t end = h.base_offset + h.last_offset_delta + 1;
			if (end > max_acked_end) max_acked_end = end;
			free(bytes);
			stor_read_release(lg, &rd);
		}
		cr_assert(stor_log_end_offset(lg) >= max_acked_end, "iteration %d: LEO %lld < acked %lld", it,
		          (long long)stor_log_end_offset(lg), (long long)max_acked_end);
		/* The new part reads cleanly to the end, and the files end where the log does. */
		int64_t from = prev_leo < stor_log_end_offset(lg) ? prev_leo : 0;
		if (from < stor_log_start_offset(lg)) from = stor_log_start_offset(lg);
		t_verify_log(lg, from);
		cr_assert_eq(log_files_size(pdir), (long long)stor_log_size(lg),
		             "iteration %d: bytes follow the last valid batch", it);
		prev_leo = stor_log_end_offset(lg);
		t_run_idle(&t.ring, lg);
		cr_assert_eq(stor_log_close(lg), 0);
		/* Leave the dir as the crash left it: no clean-shutdown marker. */
		cr_assert_eq(stor_dir_close(t.d), 0);
		t.d = NULL;
		char mk[600];
		snprintf(mk, sizeof mk, "%s/.kafka_cleanshutdown", t.dir);
		unlink(mk);
	}
	/* Everything acknowledged over all the kills, once more at the end. */
	int err;
	t.d = stor_dir_open(t.dir, &err);
	struct stor_log *lg = stor_log_open(t.d, "crash", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	for (size_t i = 0; i < nacks; i++) {
		struct stor_read rd;
		cr_assert_eq(stor_log_read(lg, acks[i].base, acks[i].len, INT64_MAX, true, &rd), 0);
		uint8_t *bytes = t_read_range(&rd);
		cr_assert_eq(rt_crc32c(0, bytes, rd.len), acks[i].crc);
		free(bytes);
		stor_read_release(lg, &rd);
	}
	t_verify_log(lg, 0);
	cr_expect(kills_with_acks >= ITERATIONS / 2, "only %d of %d runs acknowledged anything", kills_with_acks,
	          ITERATIONS);
	/* The zero tail path is exercised, not just possible (when io_uring can cut files). */
	if (stor_pa_supported())
		cr_expect(zero_tails >= ITERATIONS / 10, "only %d of %d recoveries met a preallocated tail",
		          zero_tails, ITERATIONS);
	fprintf(stderr, "# crash: %d kills, %zu acknowledged batches checked, %d preallocated tails trimmed, "
	        "LEO %lld, seed %u\n", ITERATIONS, nacks, zero_tails, (long long)stor_log_end_offset(lg), seed);
	t_close(&t, lg);
	free(acks);
	t_teardown(&t);
}
