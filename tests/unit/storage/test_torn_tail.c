/* The torn-tail test of issue 3: garbage and truncation in the last bytes of the active segment
 * are cut at the last valid batch on reopen, the log line says what went, and appends go on. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static struct tctx t;
static void setup(void) { t_setup(&t, NULL); t.cfg.segment_bytes = 1 << 20; }
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_torn_tail, .init = setup, .fini = teardown);

static char seg[512];

/* 20 batches of 5 records, closed; returns the log file size.  Batch size in *blen. */
static long long prepare(size_t *blen)
{
	int err;
	struct stor_log *lg = stor_log_open(t.d, "torn", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	t_fill(&t, lg, 20, 5, 50);
	struct stor_read r;
	cr_assert_eq(stor_log_read(lg, 0, 1, INT64_MAX, true, &r), 0);
	*blen = r.len;
	stor_read_release(lg, &r);
	cr_assert_eq(t_close(&t, lg), 0);
	snprintf(seg, sizeof seg, "%s/torn-0/00000000000000000000.log", t.dir);
	return t_file_size(seg);
}

static struct stor_log *reopen(bool crash)
{
	t_reopen_dir(&t, crash);
	t_lines_reset();
	int err;
	struct stor_log *lg = stor_log_open(t.d, "torn", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	return lg;
}

static void append_garbage(const void *p, size_t n)
{
	int fd = open(seg, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

Test(stor_torn_tail, truncated_last_batch_is_cut)
{
	size_t blen;
	long long size = prepare(&blen);
	cr_assert_eq(truncate(seg, size - 7), 0);
	struct stor_log *lg = reopen(true);
	cr_expect_eq(stor_log_end_offset(lg), 95, "the last whole batch ends at offset 94");
	cr_expect_eq(t_file_size(seg), size - (long long)blen);
	cr_expect(strstr(t_lines(), "dropped") && strstr(t_lines(), "offsets from 95 on"),
	          "log line: %s", t_lines());
	char want[64];
	snprintf(want, sizeof want, "dropped %lld bytes", (long long)blen - 7);
	cr_expect(strstr(t_lines(), want), "log line: %s", t_lines());
	cr_expect_eq(t_verify_log(lg, 0), 95);
	t_fill(&t, lg, 1, 5, 50);
	cr_expect_eq(stor_log_end_offset(lg), 100);
	cr_expect_eq(t_verify_log(lg, 0), 100);
	t_close(&t, lg);
}

Test(stor_torn_tail, garbage_after_the_last_batch_is_cut)
{
	size_t blen;
	long long size = prepare(&blen);
	uint8_t junk[300];
	for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37 + 11);
	append_garbage(junk, sizeof junk);
	struct stor_log *lg = reopen(true);
	cr_expect_eq(stor_log_end_offset(lg), 100);
	cr_expect_eq(t_file_size(seg), size);
	cr_expect(strstr(t_lines(), "dropped 300 bytes"), "log line: %s", t_lines());
	t_close(&t, lg);
}

Test(stor_torn_tail, zeros_after_the_last_batch_are_cut)
{
	size_t blen;
	long long size = prepare(&blen);
	uint8_t zeros[4096] = {0};
	append_garbage(zeros, sizeof zeros);
	struct stor_log *lg = reopen(true);
	cr_expect_eq(stor_log_end_offset(lg), 100);
	cr_expect_eq(t_file_size(seg), size);
	t_close(&t, lg);
}

Test(stor_torn_tail, flipped_byte_in_the_last_batch_drops_it)
{
	size_t blen;
	long long size = prepare(&blen);
	int fd = open(seg, O_RDWR);
	uint8_t c;
	cr_assert_eq(pread(fd, &c, 1, size - 3), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, size - 3), 1);
	close(fd);
	struct stor_log *lg = reopen(true);
	cr_expect_eq(stor_log_end_offset(lg), 95);
	cr_expect(strstr(t_lines(), "CRC-32C mismatch"), "log line: %s", t_lines());
	cr_expect(strstr(t_lines(), "claims offsets 95..99"), "log line: %s", t_lines());
	t_close(&t, lg);
}

Test(stor_torn_tail, garbage_is_caught_even_after_a_clean_marker)
{
	size_t blen;
	long long size = prepare(&blen);
	uint8_t junk[100];
	memset(junk, 0x5a, sizeof junk);
	append_garbage(junk, sizeof junk);
	struct stor_log *lg = reopen(false);
	cr_expect_eq(stor_log_end_offset(lg), 100);
	cr_expect_eq(t_file_size(seg), size);
	t_close(&t, lg);
}
