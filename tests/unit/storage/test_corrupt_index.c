/* The corrupt-index test of issue 3: an index that does not check out (partial entry, entries
 * out of order, positions past the log, an index of another segment) is rebuilt from the log,
 * and reads are right afterwards. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bytes.h"
#include "util.h"

static struct tctx t;
static char idx[512];
static long long idx_size;

static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 6000;
	t.cfg.index_interval_bytes = 200;
	int err;
	struct stor_log *lg = stor_log_open(t.d, "ci", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	t_fill(&t, lg, 80, 4, 40);
	cr_assert(stor_log_segment_count(lg) >= 3);
	cr_assert_eq(t_close(&t, lg), 0);
	snprintf(idx, sizeof idx, "%s/ci-0/00000000000000000000.index", t.dir);
	idx_size = t_file_size(idx);
	cr_assert(idx_size >= 24);
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_corrupt_index, .init = setup, .fini = teardown);

static void check_rebuilt(void)
{
	t_reopen_dir(&t, false);
	t_lines_reset();
	int err;
	struct stor_log *lg = stor_log_open(t.d, "ci", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	cr_expect(strstr(t_lines(), "rebuilding the indexes of segment 00000000000000000000"),
	          "log: %s", t_lines());
	cr_expect_eq(t_file_size(idx), idx_size);
	cr_expect_eq(stor_log_end_offset(lg), 320);
	cr_expect_eq(t_verify_log(lg, 0), 320);
	for (int64_t off = 0; off < 320; off += 13) {
		struct stor_read r;
		cr_assert_eq(stor_log_read(lg, off, 1, INT64_MAX, true, &r), 0);
		cr_expect_eq(r.first_offset, off / 4 * 4);
		stor_read_release(lg, &r);
	}
	t_close(&t, lg);
}

static void patch(long long at, const void *p, size_t n)
{
	int fd = open(idx, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, p, n, at), (ssize_t)n);
	close(fd);
}

Test(stor_corrupt_index, partial_entry)
{
	cr_assert_eq(truncate(idx, idx_size - 3), 0);
	check_rebuilt();
}

Test(stor_corrupt_index, entries_out_of_order)
{
	uint8_t e[8];
	rt_be32_put(e, 1);
	rt_be32_put(e + 4, 5);
	patch(8, e, 8);
	check_rebuilt();
}

Test(stor_corrupt_index, position_past_the_log)
{
	uint8_t e[8];
	rt_be32_put(e, 300);
	rt_be32_put(e + 4, 1 << 30);
	patch(idx_size - 8, e, 8);
	check_rebuilt();
}

Test(stor_corrupt_index, entry_that_points_into_a_batch)
{
	/* Last entry shifted by a few bytes: plausible numbers, but no batch starts there. */
	int fd = open(idx, O_RDWR);
	uint8_t e[8];
	cr_assert_eq(pread(fd, e, 8, idx_size - 8), 8);
	rt_be32_put(e + 4, rt_be32_get(e + 4) + 5);
	cr_assert_eq(pwrite(fd, e, 8, idx_size - 8), 8);
	close(fd);
	check_rebuilt();
}
