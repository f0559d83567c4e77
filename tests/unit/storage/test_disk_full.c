/* The disk-full test of issue 3, on a real small file system: a 512 KiB tmpfs mounted for the
 * test (needs root; a failure to mount fails the test, it is never skipped).  Appends fail with
 * an error that maps to KAFKA_STORAGE_ERROR, nothing acknowledged is lost, and appends work
 * again once space is back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static struct tctx t;

static void setup(void)
{
	t_setup_tmpfs(&t, "512k");
	t.cfg.segment_bytes = 128 * 1024;
}

static void teardown(void) { t_teardown(&t); }

TestSuite(stor_disk_full, .init = setup, .fini = teardown);

static void run(unsigned flags)
{
	char filler[512];
	snprintf(filler, sizeof filler, "%s/filler", t.mnt);
	t_fill_file(filler, 200 * 1024);
	int err;
	struct stor_log *lg = stor_log_open(t.d, "full", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	int64_t acked = 0;
	int failures = 0, last_err = 0;
	for (int i = 0; i < 200 && failures < 3; i++) {
		size_t len;
		uint8_t *b = t_batch(4, i, 1000, &len);
		int rc = t_append(&t, lg, b, len, flags, NULL);
		free(b);
		if (rc) {
			failures++;
			last_err = rc;
			continue;
		}
		acked += 4;
	}
	cr_assert(failures > 0, "the disk never filled up");
	cr_expect_eq(stor_err_to_kafka(last_err), 56, "err %d maps to KAFKA_STORAGE_ERROR", last_err);
	cr_expect(!stor_log_offline(lg), "a full disk is not a failed fdatasync");
	cr_expect_eq(stor_log_end_offset(lg), acked);
	cr_expect_eq(t_verify_log(lg, 0), acked);
	/* Space comes back: appends go on from the same offset. */
	cr_assert_eq(unlink(filler), 0);
	t_run_idle(&t.ring, lg);
	for (int i = 0; i < 10; i++) {
		size_t len;
		uint8_t *b = t_batch(4, i, 1000, &len);
		int64_t base;
		cr_assert_eq(t_append(&t, lg, b, len, flags, &base), 0, "append after space came back");
		cr_expect_eq(base, acked);
		acked += 4;
		free(b);
	}
	cr_assert_eq(t_close(&t, lg), 0);
	t_reopen_dir(&t, true);
	lg = stor_log_open(t.d, "full", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_not_null(lg);
	cr_expect_eq(stor_log_end_offset(lg), acked, "nothing acknowledged is lost");
	cr_expect_eq(t_verify_log(lg, 0), acked);
	t_close(&t, lg);
}

Test(stor_disk_full, plain_appends) { run(0); }
Test(stor_disk_full, durable_appends) { run(STOR_APPEND_DURABLE); }
