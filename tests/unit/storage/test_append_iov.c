/* Unit tests for appends of a batch that lies in pieces (stor_append.iov, storage/append.c): the
 * header piece is stamped (offsets, leader epoch, LogAppendTime with the CRC summed over every
 * piece), one writev puts the pieces on disk, and the log reads back byte-identical to the same
 * batch appended from one buffer; a short write continues from the middle of a piece. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "base/bytes.h"
#include "storage/fault.h"
#include "storage/internal.h"
#include "util.h"

static struct tctx t;

static void setup(void) { t_setup(&t, NULL); stor_fault_clear(); }
static void teardown(void) { stor_fault_clear(); t_teardown(&t); }

TestSuite(stor_append_iov, .init = setup, .fini = teardown);

static void app_done(struct stor_append *a, int err)
{
	struct t_app *ta = (struct t_app *)a;
	ta->done = true;
	ta->err = err;
}

static void never_done(struct stor_append *a, int err)
{
	(void)a;
	cr_assert_fail("a refused append completed (%d)", err);
}

/* b cut into a header piece of hn bytes (its own buffer, as the copied header of a received
 * batch) and pieces of step bytes, each in a buffer of its own. */
struct cut {
	struct iovec v[256];
	int n;
};

static void cut(struct cut *c, const uint8_t *b, size_t len, size_t hn, size_t step)
{
	c->n = 0;
	for (size_t o = 0; o < len;) {
		size_t k = c->n == 0 ? hn : step;
		if (k > len - o) k = len - o;
		cr_assert(c->n < 256);
		uint8_t *q = malloc(k);
		memcpy(q, b + o, k);
		c->v[c->n++] = (struct iovec){q, k};
		o += k;
	}
}

static void uncut(struct cut *c, void **bases)
{
	for (int i = 0; i < c->n; i++)
		free(bases[i]);
}

/* Submits b (len bytes) in pieces and waits; returns the completion error. */
static int append_cut(struct stor_log *log, const uint8_t *b, size_t len, size_t hn, size_t step, struct t_app *ta)
{
	struct cut c;
	cut(&c, b, len, hn, step);
	void *bases[256];
	for (int i = 0; i < c.n; i++)
		bases[i] = c.v[i].iov_base;
	struct kp_records_info info;
	struct kp_validate_opts o = {.check_records = true};
	struct rt_arena ar;
	rt_arena_init(&ar, 0, 0);
	cr_assert_eq(kp_records_validate_iov(c.v, c.n, &o, &ar, &info, NULL), 0);
	rt_arena_fini(&ar);
	memset(ta, 0, sizeof *ta);
	ta->a.data = c.v[0].iov_base;
	ta->a.len = len;
	ta->a.iov = c.v;
	ta->a.iovcnt = c.n;
	ta->a.done = app_done;
	int rc = stor_log_append(log, &ta->a, &info);
	if (!rc) {
		t_run_until(&t.ring, &ta->done);
		rc = ta->err;
	}
	uncut(&c, bases);
	return rc;
}

struct seen {
	uint8_t *b[8];
	size_t n[8];
	int k;
};

static void keep(void *ctx, const struct t_batch_view *v)
{
	struct seen *s = ctx;
	cr_assert(s->k < 8);
	s->b[s->k] = malloc(v->size);
	memcpy(s->b[s->k], v->p, v->size);
	s->n[s->k++] = v->size;
}

/* The batch appended whole, then in pieces (several cuts): every copy reads back the same bytes
 * but for its base offset. */
static void same_as_whole(bool log_append_time)
{
	if (log_append_time) t.cfg.timestamp_type = STOR_TS_LOG_APPEND_TIME;
	struct stor_log *log = t_open(&t, "iov");
	cr_assert_eq(stor_log_set_leader_epoch(log, 3), 0);
	size_t len;
	uint8_t *b = t_batch(40, 1000, 100, &len);
	uint8_t *w = malloc(len);
	memcpy(w, b, len);
	int64_t base;
	cr_assert_eq(t_append(&t, log, w, len, 0, &base), 0);
	static const size_t cuts[][2] = {{61, 1448}, {61, 37}, {200, 1000}, {1448, 1448}};
	struct t_app ta;
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(append_cut(log, b, len, cuts[i][0], cuts[i][1], &ta), 0, "cut %d", i);
		cr_expect_eq(ta.a.base_offset, 40 * (i + 1));
	}
	cr_assert_eq(t_close(&t, log), 0);
	log = t_open(&t, "iov");
	struct seen s = {0};
	t_each_batch(log, keep, &s); /* checks each CRC */
	cr_assert_eq(s.k, 5);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(s.n[i], len);
		cr_expect_eq((int64_t)rt_be64_get(s.b[i]), 40 * i);
		cr_expect_eq((int32_t)rt_be32_get(s.b[i] + KP_BATCH_OFF_LEADER_EPOCH), 3);
		if (log_append_time) {
			cr_expect(rt_be16_get(s.b[i] + KP_BATCH_OFF_ATTRIBUTES) & KP_ATTR_LOG_APPEND_TIME);
			/* the appends' clocks differ: compare past the timestamp and the CRC */
			cr_expect(memcmp(s.b[i] + KP_BATCH_OFF_ATTRIBUTES, s.b[0] + KP_BATCH_OFF_ATTRIBUTES,
			                 KP_BATCH_OFF_MAX_TIMESTAMP - KP_BATCH_OFF_ATTRIBUTES) == 0);
			cr_expect(memcmp(s.b[i] + KP_BATCH_OFF_PRODUCER_ID, s.b[0] + KP_BATCH_OFF_PRODUCER_ID,
			                 len - KP_BATCH_OFF_PRODUCER_ID) == 0, "batch %d", i);
		} else {
			size_t d = 8;
			while (d < len && s.b[i][d] == s.b[0][d]) d++;
			cr_expect_eq(d, len, "batch %d differs at byte %zu", i, d);
		}
	}
	for (int i = 0; i < 5; i++)
		free(s.b[i]);
	t_close(&t, log);
	free(w);
	free(b);
}

Test(stor_append_iov, reads_back_as_the_whole_batch) { same_as_whole(false); }

Test(stor_append_iov, log_append_time_crc_over_pieces) { same_as_whole(true); }

Test(stor_append_iov, short_writes_are_completed)
{
	struct stor_log *log = t_open(&t, "short");
	size_t len;
	uint8_t *b = t_batch(30, 1, 333, &len);
	stor_fault_arm(STOR_FAULT_LOG_WRITE, 0, STOR_FAULT_SHORT, 3);
	struct t_app ta;
	cr_assert_eq(append_cut(log, b, len, 61, 1000, &ta), 0);
	stor_fault_clear();
	cr_expect_eq(t_verify_log(log, 0), 30);
	t_close(&t, log);
	free(b);
}

/* The kernel stops a writev in the middle of a piece (the file size limit): the rest goes from
 * there once the limit is lifted. */
Test(stor_append_iov, a_write_cut_inside_a_piece_continues_there)
{
	struct stor_log *log = t_open(&t, "mid");
	size_t len;
	uint8_t *b = t_batch(30, 1, 333, &len);
	struct cut c;
	cut(&c, b, len, 61, 1000);
	void *bases[256];
	for (int i = 0; i < c.n; i++)
		bases[i] = c.v[i].iov_base;
	struct rlimit old;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit lim = {61 + 500, old.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct t_app ta = {0};
	ta.a = (struct stor_append){.data = c.v[0].iov_base, .len = len, .iov = c.v, .iovcnt = c.n, .done = app_done};
	cr_assert_eq(stor_log_append(log, &ta.a, NULL), 0);
	while (!ta.done && ta.a.written == 0)
		t_run_once(&t.ring);
	cr_assert_eq(ta.a.written, 561, "the kernel wrote up to the limit");
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0); /* before the rest is submitted */
	signal(SIGXFSZ, SIG_DFL);
	t_run_until(&t.ring, &ta.done);
	cr_assert_eq(ta.err, 0);
	cr_expect_eq(t_verify_log(log, 0), 30);
	struct seen s = {0};
	t_each_batch(log, keep, &s);
	cr_assert_eq(s.k, 1);
	cr_expect(memcmp(s.b[0] + KP_BATCH_OFF_MAGIC, b + KP_BATCH_OFF_MAGIC, len - KP_BATCH_OFF_MAGIC) == 0,
	          "byte-identical past the stamped offset and epoch");
	free(s.b[0]);
	uncut(&c, bases);
	t_close(&t, log);
	free(b);
}

Test(stor_append_iov, refuses_pieces_that_do_not_make_the_batch)
{
	struct stor_log *log = t_open(&t, "bad");
	size_t len;
	uint8_t *b = t_batch(3, 1, 100, &len);
	struct iovec v[2] = {{b, 40}, {b + 40, len - 40}};
	struct stor_append a = {.data = b, .len = len, .iov = v, .iovcnt = 2, .done = never_done};
	cr_expect_eq(stor_log_append(log, &a, NULL), -EINVAL, "header split");
	v[0].iov_len = 61;
	v[1] = (struct iovec){b + 61, len - 62};
	cr_expect_eq(stor_log_append(log, &a, NULL), -EINVAL, "a byte short");
	cr_expect_eq(stor_log_end_offset(log), 0);
	t_close(&t, log);
	free(b);
}
