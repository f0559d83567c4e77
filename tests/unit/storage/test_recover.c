/* Unit tests for storage/recover.c: reopening after clean and unclean stops, index rebuilds,
 * leftovers, and the checkpoints that decide what is scanned. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static struct tctx t;
static void setup(void)
{
	t_setup(&t, NULL);
	t.cfg.segment_bytes = 4096;
	t.cfg.index_interval_bytes = 256;
}
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_recover, .init = setup, .fini = teardown);

static struct stor_log *open_log(void)
{
	return t_open(&t, "rec");
}

Test(stor_recover, clean_reopen_keeps_everything)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 4, 30);
	size_t nseg = stor_log_segment_count(lg);
	cr_assert(nseg > 2);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, false);
	lg = open_log();
	cr_expect_eq(stor_log_end_offset(lg), 240);
	cr_expect_eq(stor_log_segment_count(lg), nseg);
	cr_expect_eq(t_verify_log(lg, 0), 240);
	cr_expect_eq(t_lines()[0], 0, "nothing to say after a clean stop: %s", t_lines());
	t_fill(&t, lg, 1, 4, 30);
	cr_expect_eq(stor_log_end_offset(lg), 244);
	t_close(&t, lg);
}

Test(stor_recover, unclean_reopen_scans_and_keeps_valid_data)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 4, 30);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = open_log();
	cr_expect_eq(stor_log_end_offset(lg), 240);
	cr_expect_eq(t_verify_log(lg, 0), 240);
	t_close(&t, lg);
}

Test(stor_recover, missing_index_is_rebuilt)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 4, 30);
	cr_assert_eq(t_close(&t, lg), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/rec-0/00000000000000000000.index", t.dir);
	long long was = t_file_size(p);
	cr_assert(was > 0);
	cr_assert_eq(unlink(p), 0);
	t_reopen_dir(&t, false);
	t_lines_reset();
	lg = open_log();
	cr_expect(strstr(t_lines(), "rebuilding the indexes of segment 00000000000000000000") != NULL,
	          "log says: %s", t_lines());
	cr_expect_eq(t_file_size(p), was, "rebuilt to the same entries");
	cr_expect_eq(t_verify_log(lg, 0), 240);
	t_close(&t, lg);
}

Test(stor_recover, removes_leftover_files)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 3, 4, 30);
	cr_assert_eq(t_close(&t, lg), 0);
	char p[512];
	snprintf(p, sizeof p, "%s/rec-0/00000000000000000007.log.deleted", t.dir);
	FILE *f = fopen(p, "w");
	fputs("x", f);
	fclose(f);
	t_reopen_dir(&t, true);
	lg = open_log();
	cr_expect_eq(t_file_size(p), -1);
	cr_expect_eq(stor_log_end_offset(lg), 12);
	t_close(&t, lg);
}

Test(stor_recover, log_start_offset_survives_via_checkpoint)
{
	struct stor_log *lg = open_log();
	t_fill(&t, lg, 60, 4, 30);
	int64_t lw;
	cr_assert_eq(stor_log_delete_records(lg, 101, &lw), 0);
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, false);
	lg = open_log();
	cr_expect_eq(stor_log_start_offset(lg), 101);
	struct stor_read r;
	cr_expect_eq(stor_log_read(lg, 100, 100, INT64_MAX, true, &r), -ERANGE);
	cr_expect_eq(stor_log_read(lg, 101, 100, INT64_MAX, true, &r), 0);
	cr_expect(r.first_offset <= 101);
	stor_read_release(lg, &r);
	t_close(&t, lg);
}
