/* Shared helpers for the storage tests (see util.h). */
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "base/ioop.h"

static char lines[1 << 16];
static size_t lines_len;

static void line_sink(void *arg, const char *line)
{
	(void)arg;
	size_t n = strlen(line);
	if (lines_len + n + 2 < sizeof lines) {
		memcpy(lines + lines_len, line, n);
		lines_len += n;
		lines[lines_len++] = '\n';
		lines[lines_len] = 0;
	}
	if (getenv("STOR_TEST_VERBOSE")) fprintf(stderr, "storage: %s\n", line);
}

const char *t_lines(void) { return lines; }
void t_lines_reset(void) { lines_len = 0; lines[0] = 0; }

/* The scratch directory under parent, the ring, the dir; t->mnt is kept. */
static void setup_in(struct tctx *t, const char *parent)
{
	snprintf(t->dir, sizeof t->dir, "%s/stor-test-XXXXXX", parent);
	cr_assert_not_null(mkdtemp(t->dir));
	t->ring_ok = io_uring_queue_init(256, &t->ring, 0) == 0;
	cr_assert(t->ring_ok, "io_uring_queue_init failed");
	stor_set_log_line(line_sink, NULL);
	t_lines_reset();
	int err = 0;
	t->d = stor_dir_open(t->dir, &err);
	cr_assert_not_null(t->d, "stor_dir_open: %d", err);
	stor_config_default(&t->cfg);
}

void t_setup(struct tctx *t, const char *parent)
{
	memset(t, 0, sizeof *t);
	setup_in(t, parent ? parent : "/tmp");
}

void t_setup_tmpfs(struct tctx *t, const char *size)
{
	memset(t, 0, sizeof *t);
	char opts[64];
	snprintf(opts, sizeof opts, "size=%s", size);
	snprintf(t->mnt, sizeof t->mnt, "/tmp/stor-tmpfs-XXXXXX");
	if (!mkdtemp(t->mnt)) {
		t->mnt[0] = 0;
		cr_assert_fail("mkdtemp: %s", strerror(errno));
	}
	if (mount("tmpfs", t->mnt, "tmpfs", 0, opts)) {
		int e = errno;
		rmdir(t->mnt);
		t->mnt[0] = 0;
		cr_assert_fail("mounting a tmpfs failed (%s): this test needs root and mount(2); it does "
		               "not skip", strerror(e));
	}
	setup_in(t, t->mnt);
}

void t_fill_file(const char *path, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	char buf[4096];
	memset(buf, 'z', sizeof buf);
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, buf, n - done < sizeof buf ? n - done : sizeof buf);
		if (w <= 0) break;
		done += (size_t)w;
	}
	close(fd);
}

void t_rmtree(const char *path)
{
	DIR *dp = opendir(path);
	if (!dp) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		char p[1024];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		struct stat st;
		if (!lstat(p, &st) && S_ISDIR(st.st_mode)) t_rmtree(p);
		else unlink(p);
	}
	closedir(dp);
	rmdir(path);
}

struct stor_log *t_open(struct tctx *t, const char *topic)
{
	int err = 0;
	struct stor_log *lg = stor_log_open(t->d, topic, 0, &t->cfg, NULL, &t->ring, &err);
	cr_assert_not_null(lg, "open %s: %d", topic, err);
	return lg;
}

void t_teardown(struct tctx *t)
{
	if (t->d) stor_dir_close(t->d);
	t->d = NULL;
	if (t->ring_ok) io_uring_queue_exit(&t->ring);
	t->ring_ok = false;
	if (t->dir[0]) t_rmtree(t->dir);
	t->dir[0] = 0;
	if (t->mnt[0]) {
		umount2(t->mnt, MNT_DETACH);
		rmdir(t->mnt);
		t->mnt[0] = 0;
	}
}

static void dispatch(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	/* Collect first: a callback may submit, and the CQ ring is advanced once. */
	struct { struct rt_ioop *op; int32_t res; uint32_t flags; } batch[256];
	io_uring_for_each_cqe(ring, head, cqe) {
		if (n == 256) break;
		batch[n].op = io_uring_cqe_get_data(cqe);
		batch[n].res = cqe->res;
		batch[n].flags = cqe->flags;
		n++;
	}
	io_uring_cq_advance(ring, n);
	for (unsigned i = 0; i < n; i++)
		if (batch[i].op) batch[i].op->cb(batch[i].op, batch[i].res, batch[i].flags);
}

void t_run_once(struct io_uring *ring)
{
	stor_ring_flush(ring);
	io_uring_submit_and_wait(ring, 1);
	dispatch(ring);
}

void t_run_until(struct io_uring *ring, volatile bool *flag)
{
	while (!*flag) {
		stor_ring_flush(ring);
		io_uring_submit_and_wait(ring, 1);
		dispatch(ring);
	}
}

void t_run_idle(struct io_uring *ring, struct stor_log *log)
{
	stor_ring_flush(ring);
	io_uring_submit(ring);
	while (!stor_log_idle(log)) {
		stor_ring_flush(ring);
		io_uring_submit_and_wait(ring, 1);
		dispatch(ring);
	}
}

bool t_run_for(struct io_uring *ring, volatile bool *flag, int ms)
{
	struct timespec now, end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	while (!*flag) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		stor_ring_flush(ring);
		io_uring_submit(ring);
		struct __kernel_timespec tick = { .tv_sec = 0, .tv_nsec = 10 * 1000000 };
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe_timeout(ring, &cqe, &tick) == 0)
			dispatch(ring);
	}
	return *flag;
}

uint8_t *t_batch(int n, int64_t ts, size_t vsize, size_t *len)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	char *v = malloc(vsize + 1);
	for (int i = 0; i < n; i++) {
		memset(v, 'a' + i % 26, vsize);
		char key[16];
		int kl = snprintf(key, sizeof key, "k%d", i);
		cr_assert_eq(kp_batch_builder_add(&b, ts + i, key, kl, v, (int32_t)vsize, NULL, 0), 0);
	}
	size_t sz;
	const uint8_t *p = kp_batch_builder_finish(&b, &sz);
	cr_assert_not_null(p);
	uint8_t *out = malloc(sz);
	memcpy(out, p, sz);
	*len = sz;
	kp_batch_builder_fini(&b);
	free(v);
	return out;
}

uint8_t *t_batches(int k, int n, int64_t ts, size_t vsize, size_t *len)
{
	uint8_t *out = NULL;
	size_t total = 0;
	for (int i = 0; i < k; i++) {
		size_t l;
		uint8_t *b = t_batch(n, ts + i * n, vsize, &l);
		out = realloc(out, total + l);
		memcpy(out + total, b, l);
		total += l;
		free(b);
	}
	*len = total;
	return out;
}

uint8_t *t_producer_batch(int n, int64_t ts, size_t vsize, int64_t pid, int16_t epoch, int32_t seq, bool txn,
                          size_t *len)
{
	uint8_t *b = t_batch(n, ts, vsize, len);
	rt_be64_put(b + KP_BATCH_OFF_PRODUCER_ID, (uint64_t)pid);
	rt_be16_put(b + KP_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)epoch);
	rt_be32_put(b + KP_BATCH_OFF_BASE_SEQUENCE, (uint32_t)seq);
	if (txn)
		rt_be16_put(b + KP_BATCH_OFF_ATTRIBUTES,
		            (uint16_t)(rt_be16_get(b + KP_BATCH_OFF_ATTRIBUTES) | KP_ATTR_TRANSACTIONAL));
	kp_batch_crc_update(b, *len);
	return b;
}

uint8_t *t_marker_batch(int64_t pid, int16_t epoch, bool commit, int32_t coord_epoch, int64_t ts, size_t *len)
{
	struct kp_batch_builder bb;
	cr_assert_eq(kp_batch_builder_marker(&bb, pid, epoch, commit, coord_epoch, ts), 0);
	const uint8_t *p = kp_batch_builder_finish(&bb, len);
	cr_assert_not_null(p);
	uint8_t *out = malloc(*len);
	cr_assert_not_null(out);
	memcpy(out, p, *len);
	kp_batch_builder_fini(&bb);
	return out;
}

static void t_done(struct stor_append *a, int err)
{
	struct t_app *ta = (struct t_app *)a;
	ta->err = err;
	ta->done = true;
}

int t_append_submit(struct stor_log *log, struct t_app *ta, uint8_t *buf, size_t len, unsigned flags)
{
	struct kp_records_info info;
	struct kp_validate_opts o = {.check_records = true, .internal_origin = true};
	struct rt_arena arena;
	rt_arena_init(&arena, 0, 0);
	const char *why = NULL;
	int rc = kp_records_validate(buf, len, &o, &arena, &info, &why);
	rt_arena_fini(&arena);
	cr_assert_eq(rc, 0, "validate: %d %s", rc, why ? why : "");
	memset(ta, 0, sizeof *ta);
	ta->a.data = buf;
	ta->a.len = len;
	ta->a.flags = flags;
	ta->a.done = t_done;
	return stor_log_append(log, &ta->a, &info);
}

size_t t_submit_batches(struct stor_log *log, struct t_app *ta, uint8_t **b, int n, int recs, int64_t ts,
                        size_t vsize, unsigned flags)
{
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		b[i] = t_batch(recs, ts + i, vsize, &len);
		cr_assert_eq(t_append_submit(log, &ta[i], b[i], len, flags), 0, "append %d", i);
	}
	return len;
}

int t_append(struct tctx *t, struct stor_log *log, uint8_t *buf, size_t len, unsigned flags,
             int64_t *base)
{
	struct t_app ta;
	int rc = t_append_submit(log, &ta, buf, len, flags);
	if (rc) return rc;
	t_run_until(&t->ring, &ta.done);
	if (base) *base = ta.a.base_offset;
	return ta.err;
}

uint8_t *t_read_range(const struct stor_read *r)
{
	uint8_t *p = malloc(r->len ? r->len : 1);
	size_t got = 0;
	while (got < r->len) {
		ssize_t n = pread(r->fd, p + got, r->len - got, (off_t)(r->pos + got));
		cr_assert(n > 0);
		got += (size_t)n;
	}
	return p;
}

long long t_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (long long)st.st_size;
}

int t_close(struct tctx *t, struct stor_log *log)
{
	t_run_idle(&t->ring, log);
	return stor_log_close(log);
}

void t_reopen_dir(struct tctx *t, bool crash)
{
	int rc = stor_dir_close(t->d);
	t->d = NULL;  /* closed, failed or not: t_teardown must not close it again */
	cr_assert_eq(rc, 0);
	if (crash) {
		char p[512];
		snprintf(p, sizeof p, "%s/.kafka_cleanshutdown", t->dir);
		unlink(p);
	}
	int err = 0;
	t->d = stor_dir_open(t->dir, &err);
	cr_assert_not_null(t->d, "reopen dir: %d", err);
}

void t_fill(struct tctx *t, struct stor_log *log, int n, int recs, size_t vsize)
{
	for (int i = 0; i < n; i++) {
		size_t len;
		uint8_t *b = t_batch(recs, 1000000 + stor_log_end_offset(log), vsize, &len);
		cr_assert_eq(t_append(t, log, b, len, 0, NULL), 0);
		free(b);
	}
}

void t_each_batch(struct stor_log *log, void (*fn)(void *ctx, const struct t_batch_view *v), void *ctx)
{
	int64_t off = stor_log_start_offset(log);
	struct rt_arena a;
	rt_arena_init(&a, 1 << 16, 0);
	while (off < stor_log_end_offset(log)) {
		struct stor_read r;
		cr_assert_eq(stor_log_read(log, off, 1 << 20, stor_log_end_offset(log), true, &r), 0);
		if (!r.len) break;
		uint8_t *buf = t_read_range(&r);
		for (size_t pos = 0; pos < r.len;) {
			struct t_batch_view v = {.p = buf + pos, .arena = &a};
			v.size = kp_batch_size(v.p, r.len - pos);
			cr_assert(v.size >= KP_BATCH_HEADER_SIZE && pos + v.size <= r.len, "batch framing at offset %lld",
			          (long long)off);
			cr_assert(kp_batch_crc_ok(v.p, v.size), "CRC");
			cr_assert_eq(kp_batch_hdr_parse(v.p, v.size, &v.h), 0);
			cr_assert(v.h.base_offset >= off, "offsets increase");
			fn(ctx, &v);
			off = v.h.base_offset + v.h.last_offset_delta + 1;
			pos += v.size;
		}
		free(buf);
		stor_read_release(log, &r);
		rt_arena_reset(&a);
	}
	rt_arena_fini(&a);
}

int64_t t_verify_log(struct stor_log *log, int64_t from)
{
	int64_t off = from, recs = 0;
	while (off < stor_log_end_offset(log)) {
		struct stor_read r;
		cr_assert_eq(stor_log_read(log, off, 1 << 20, INT64_MAX, true, &r), 0);
		if (!r.len) {
			char cmd[600];
			snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd/ >&2; ", getpid());
			if (getenv("STOR_TEST_VERBOSE")) { fprintf(stderr, "%s\n", t_lines()); system(cmd); }
		}
		cr_assert(r.len > 0, "no data at %lld < LEO %lld", (long long)off,
		          (long long)stor_log_end_offset(log));
		uint8_t *p = t_read_range(&r);
		size_t pos = 0;
		while (pos < r.len) {
			size_t sz = kp_batch_size(p + pos, r.len - pos);
			struct kp_batch_hdr h;
			cr_assert_eq(kp_batch_hdr_parse(p + pos, sz, &h), 0);
			cr_assert(kp_batch_crc_ok(p + pos, sz));
			cr_assert(h.base_offset >= off, "offsets increase");
			off = h.base_offset + h.last_offset_delta + 1;
			recs += h.records_count;
			pos += sz;
		}
		free(p);
		stor_read_release(log, &r);
	}
	return recs;
}
