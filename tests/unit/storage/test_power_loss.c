/* tests/unit/storage/test_power_loss.c: simulated power loss through the storage fault layer's
 * trace.  While a log takes appends (durable and not, with segment rolls on spare files and
 * appends in flight), the test models what the disk holds for certain: a write that completed
 * before an fdatasync of its file was issued (inside its range, when it is a ranged one) is
 * durable once that group-commit round completes; nothing else is.  At a random moment the power goes: the model is frozen, the log is closed,
 * and then every .log file is cut back to what the model says survived (bytes never covered by a
 * completed fdatasync are zeroed, the file is truncated after the last durable byte, a file with
 * nothing durable is removed) and the checkpoint files are put back as they were at that moment.
 * Recovery must then give a valid log holding every record acknowledged as durable before the
 * power went, byte for byte.  40 rounds, each continuing on the recovered log. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 16384;
}
static void teardown(void)
{
	stor_fault_set_trace(NULL, NULL);
	t_teardown(&t);
}
TestSuite(stor_power_loss, .init = setup, .fini = teardown);

/* --- the model: byte ranges per inode ------------------------------------------------------ */

struct range { uint64_t a, b; };
struct rset { struct range *r; size_t n, cap; };

static void rset_add(struct rset *s, uint64_t a, uint64_t b)
{
	if (a >= b) return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->r = realloc(s->r, s->cap * sizeof *s->r);
	}
	s->r[s->n++] = (struct range){a, b};
	/* Keep sorted and merged (small sets: insertion). */
	for (size_t i = s->n - 1; i > 0 && s->r[i].a < s->r[i - 1].a; i--) {
		struct range x = s->r[i];
		s->r[i] = s->r[i - 1];
		s->r[i - 1] = x;
	}
	size_t w = 0;
	for (size_t i = 1; i < s->n; i++) {
		if (s->r[i].a <= s->r[w].b) {
			if (s->r[i].b > s->r[w].b) s->r[w].b = s->r[i].b;
		} else {
			s->r[++w] = s->r[i];
		}
	}
	s->n = w + 1;
}

static void rset_union(struct rset *d, const struct rset *s)
{
	for (size_t i = 0; i < s->n; i++) rset_add(d, s->r[i].a, s->r[i].b);
}

/* Keeps only what lies in [a, b). */
static void rset_clip(struct rset *s, uint64_t a, uint64_t b)
{
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t x = s->r[i].a > a ? s->r[i].a : a, y = s->r[i].b < b ? s->r[i].b : b;
		if (x < y) s->r[w++] = (struct range){x, y};
	}
	s->n = w;
}

static void rset_copy(struct rset *d, const struct rset *s)
{
	d->n = 0;
	rset_union(d, s);
}

#define MAXF 256
static struct file {
	ino_t ino;
	struct rset done, durable;
} files[MAXF];
static int nfiles;
static struct { int f; uint64_t round; struct rset snap; } pending[MAXF];
static int npending;
static bool frozen;

static int file_of_ino(ino_t ino, bool add)
{
	for (int i = 0; i < nfiles; i++)
		if (files[i].ino == ino) return i;
	if (!add) return -1;
	cr_assert_lt(nfiles, MAXF);
	files[nfiles].ino = ino;
	files[nfiles].done.n = files[nfiles].durable.n = 0;
	return nfiles++;
}

static int file_of_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) return -1;
	return file_of_ino(st.st_ino, true);
}

static void trace(void *arg, enum stor_trace_ev ev, int fd, uint64_t pos, uint64_t len)
{
	(void)arg;
	if (frozen) return;
	int f;
	switch (ev) {
	case STOR_TRACE_WRITE_DONE:
		if ((f = file_of_fd(fd)) >= 0) rset_add(&files[f].done, pos, pos + len);
		break;
	case STOR_TRACE_SYNC_ISSUE:
		if ((f = file_of_fd(fd)) >= 0) {
			cr_assert_lt(npending, MAXF);
			pending[npending].f = f;
			pending[npending].round = pos;
			rset_copy(&pending[npending].snap, &files[f].done);
			npending++;
		}
		break;
	case STOR_TRACE_SYNC_RANGE:
		/* A ranged fdatasync: only the completed writes inside the range are covered. */
		if ((f = file_of_fd(fd)) >= 0) {
			cr_assert(npending > 0 && pending[npending - 1].f == f);
			rset_clip(&pending[npending - 1].snap, pos, len);
		}
		break;
	case STOR_TRACE_SYNC_DONE:
	case STOR_TRACE_SYNC_FAILED:
		/* Rounds may overlap: only this round's fdatasyncs are done. */
		for (int i = 0; i < npending;) {
			if (pending[i].round != pos) {
				i++;
				continue;
			}
			if (ev == STOR_TRACE_SYNC_DONE) rset_union(&files[pending[i].f].durable, &pending[i].snap);
			struct rset tmp = pending[i].snap;
			pending[i] = pending[--npending];
			pending[npending].snap = tmp;  /* keep the buffer for reuse */
		}
		break;
	}
}

/* Everything on disk now is durable (a fresh round starts from a recovered log). */
static void model_reset(const char *pdir)
{
	nfiles = 0;
	npending = 0;
	frozen = false;
	DIR *dp = opendir(pdir);
	if (!dp) return;
	struct dirent *e;
	while ((e = readdir(dp))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".log")) continue;
		char p[768];
		snprintf(p, sizeof p, "%s/%s", pdir, e->d_name);
		struct stat st;
		cr_assert_eq(stat(p, &st), 0);
		int f = file_of_ino(st.st_ino, true);
		rset_add(&files[f].done, 0, (uint64_t)st.st_size);
		rset_add(&files[f].durable, 0, (uint64_t)st.st_size);
	}
	closedir(dp);
}

/* The power goes: every .log file keeps only its durable bytes. */
static void power_cut(const char *pdir, int64_t *dropped)
{
	DIR *dp = opendir(pdir);
	cr_assert_not_null(dp);
	struct dirent *e;
	while ((e = readdir(dp))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".log")) continue;
		char p[768];
		snprintf(p, sizeof p, "%s/%s", pdir, e->d_name);
		struct stat st;
		cr_assert_eq(stat(p, &st), 0);
		int f = file_of_ino(st.st_ino, false);
		struct rset *d = f >= 0 ? &files[f].durable : NULL;
		uint64_t end = d && d->n ? d->r[d->n - 1].b : 0;
		if (end > (uint64_t)st.st_size) end = (uint64_t)st.st_size;
		*dropped += st.st_size - (off_t)end;
		if (!end) {
			cr_assert_eq(unlink(p), 0);
			continue;
		}
		int fd = open(p, O_RDWR);
		cr_assert_geq(fd, 0);
		uint64_t at = 0;
		static uint8_t zero[65536];
		for (size_t i = 0; i <= d->n; i++) {
			uint64_t upto = i < d->n ? d->r[i].a : end;
			if (upto > end) upto = end;
			while (at < upto) {  /* a hole: never covered by a completed fdatasync */
				size_t k = upto - at > sizeof zero ? sizeof zero : (size_t)(upto - at);
				cr_assert_eq(pwrite(fd, zero, k, (off_t)at), (ssize_t)k);
				*dropped += (int64_t)k;
				at += k;
			}
			if (i < d->n && d->r[i].b > at) at = d->r[i].b;
		}
		cr_assert_eq(ftruncate(fd, (off_t)end), 0);
		close(fd);
	}
	closedir(dp);
}

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	char *b = malloc(1 << 16);
	*n = fread(b, 1, 1 << 16, f);
	fclose(f);
	return b;
}

static void put_back(const char *path, const char *data, size_t n)
{
	if (!data) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

/* --- appends ---------------------------------------------------------------------------------- */

#define MAXA 4096
static struct acked { int64_t base; uint8_t *bytes; size_t len; } acked[MAXA];
static int nacked;

struct app {
	struct t_app ta;
	uint8_t *buf;
	size_t len;
	bool durable;
};

static void dispatch_some(struct io_uring *ring, int max)
{
	stor_ring_flush(ring);
	io_uring_submit(ring);
	for (int k = 0; k < max; k++) {
		struct io_uring_cqe *cqe;
		if (io_uring_peek_cqe(ring, &cqe)) {
			struct __kernel_timespec ts = {0, 200000};
			if (io_uring_wait_cqe_timeout(ring, &cqe, &ts)) return;
		}
		rt_ioop_complete(ring, cqe);
		stor_ring_flush(ring);
		io_uring_submit(ring);
	}
}

Test(stor_power_loss, acknowledged_durable_records_survive, .timeout = 120)
{
	srand(20261124);
	stor_fault_set_trace(trace, NULL);
	char pdir[512], rp[512], ls[512], mk[512];
	snprintf(pdir, sizeof pdir, "%s/pl-0", t.dir);
	snprintf(rp, sizeof rp, "%s/recovery-point-offset-checkpoint", t.dir);
	snprintf(ls, sizeof ls, "%s/log-start-offset-checkpoint", t.dir);
	snprintf(mk, sizeof mk, "%s/.kafka_cleanshutdown", t.dir);
	int64_t total_dropped = 0, max_acked_end = 0;
	for (int round = 0; round <= 40; round++) {
		int err = 0;
		struct stor_log *lg = stor_log_open(t.d, "pl", 0, &t.cfg, NULL, &t.ring, &err);
		cr_assert_not_null(lg, "round %d: open: %d", round, err);
		/* Everything acknowledged durable so far is still there, byte for byte. */
		cr_assert_geq(stor_log_end_offset(lg), max_acked_end, "round %d", round);
		t_verify_log(lg, stor_log_start_offset(lg));
		for (int i = 0; i < nacked; i++) {
			struct stor_read r;
			cr_assert_eq(stor_log_read(lg, acked[i].base, 1 << 20, INT64_MAX, true, &r), 0);
			cr_assert_geq(r.len, acked[i].len, "round %d: acked offset %lld", round, (long long)acked[i].base);
			cr_assert_eq(r.first_offset, acked[i].base);
			uint8_t *got = t_read_range(&r);
			cr_assert_eq(memcmp(got, acked[i].bytes, acked[i].len), 0, "round %d: acked batch at %lld differs",
			             round, (long long)acked[i].base);
			free(got);
			stor_read_release(lg, &r);
		}
		if (round == 40) {  /* the last cut is only checked */
			cr_assert_eq(t_close(&t, lg), 0);
			break;
		}
		model_reset(pdir);
		size_t rpn = 0, lsn = 0;
		char *rpd = slurp(rp, &rpn), *lsd = slurp(ls, &lsn);
		/* Appends, some in flight when the power goes. */
		int n = 10 + rand() % 40;
		struct app *apps = calloc((size_t)n, sizeof *apps);
		for (int i = 0; i < n; i++) {
			apps[i].buf = t_batch(1 + rand() % 4, 1700000000000LL + i, 50 + (size_t)(rand() % 2000), &apps[i].len);
			apps[i].durable = rand() % 2;
			int rc = t_append_submit(lg, &apps[i].ta, apps[i].buf, apps[i].len,
			                         apps[i].durable ? STOR_APPEND_DURABLE : 0);
			cr_assert_eq(rc, 0, "round %d: submit %d", round, rc);
			if (rand() % 3 == 0) dispatch_some(&t.ring, rand() % 8);
		}
		dispatch_some(&t.ring, rand() % 256);
		/* Power off: what was acknowledged as durable until now must survive. */
		frozen = true;
		for (int i = 0; i < n; i++) {
			if (!apps[i].durable || !apps[i].ta.done || apps[i].ta.err) continue;
			cr_assert_lt(nacked, MAXA);
			acked[nacked].base = apps[i].ta.a.base_offset;
			acked[nacked].len = apps[i].len;
			acked[nacked].bytes = malloc(apps[i].len);
			memcpy(acked[nacked].bytes, apps[i].buf, apps[i].len);
			if (apps[i].ta.a.last_offset + 1 > max_acked_end) max_acked_end = apps[i].ta.a.last_offset + 1;
			nacked++;
		}
		/* Let the ring drain (the kernel would not, but our descriptors must be closed), close,
		 * then take the disk back to the moment of the power cut. */
		cr_assert_eq(t_close(&t, lg), 0);
		for (int i = 0; i < n; i++) free(apps[i].buf);
		free(apps);
		cr_assert_eq(stor_dir_close(t.d), 0);
		power_cut(pdir, &total_dropped);
		put_back(rp, rpd, rpn);
		put_back(ls, lsd, lsn);
		free(rpd);
		free(lsd);
		unlink(mk);
		t.d = stor_dir_open(t.dir, &err);
		cr_assert_not_null(t.d);
	}
	fprintf(stderr, "power loss: %d durable acknowledgements, %lld bytes dropped\n", nacked, (long long)total_dropped);
	cr_expect_gt(nacked, 20, "enough durable acknowledgements to mean something: %d", nacked);
	cr_expect_gt(total_dropped, 0, "the power cuts did drop unsynced bytes");
	for (int i = 0; i < nacked; i++) free(acked[i].bytes);
}
