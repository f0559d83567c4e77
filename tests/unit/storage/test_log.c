/* Unit tests for storage/log.c's open: an open that runs out of file descriptors fails with
 * -EMFILE and leaves no partition directory behind (it created it), so the topic can be created
 * again; a directory that existed before a failed open is left alone. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static struct tctx t;
static void setup(void) { t_setup(&t, NULL); }
static void teardown(void) { t_teardown(&t); }
TestSuite(stor_log, .init = setup, .fini = teardown);

/* Descriptors this process holds now. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	int n = -1;  /* the listing's own */
	while (readdir(d)) n++;
	closedir(d);
	return n - 2;  /* . and .. */
}

static bool exists(const char *topic)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s-0", t.dir, topic);
	struct stat st;
	return stat(p, &st) == 0;
}

Test(stor_log, open_out_of_descriptors_leaves_no_directory)
{
	int held = open_fds();
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* Every budget from none to a few: each open fails at another step, or succeeds. */
	int failed = 0;
	for (int extra = 0; extra < 8; extra++) {
		char topic[32];
		snprintf(topic, sizeof topic, "emf%d", extra);
		struct rlimit low = {.rlim_cur = (rlim_t)(held + extra), .rlim_max = rl.rlim_max};
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
		int err = 0;
		struct stor_log *lg = stor_log_open(t.d, topic, 0, &t.cfg, NULL, &t.ring, &err);
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
		if (lg) {
			cr_expect(exists(topic));
			t_close(&t, lg);
			continue;
		}
		failed++;
		cr_expect_eq(err, -EMFILE, "budget %d: %d", extra, err);
		cr_expect(!exists(topic), "budget %d: the directory it created is gone", extra);
		cr_expect_eq(open_fds(), held, "budget %d: no descriptor left open", extra);
	}
	cr_expect_gt(failed, 1, "the small budgets failed");
	/* A directory that was there before a failed open stays. */
	char p[512];
	snprintf(p, sizeof p, "%s/kept-0", t.dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	struct rlimit low = {.rlim_cur = (rlim_t)held, .rlim_max = rl.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int err = 0;
	struct stor_log *lg = stor_log_open(t.d, "kept", 0, &t.cfg, NULL, &t.ring, &err);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_expect_null(lg);
	cr_expect(exists("kept"));
}
