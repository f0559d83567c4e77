/* Unit tests for hw/nofile.c: the soft open-files limit raised to the hard one, never beyond.
 * Criterion runs each test in its own process, so the limits set here do not leak. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/resource.h>

#include "fakefs.h"
#include "hw/nofile.h"

static void set_nofile(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = {soft, hard};
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit %lu/%lu", (unsigned long)soft, (unsigned long)hard);
}

Test(hw_nofile, raises_the_soft_limit_to_the_hard_one)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rlim_t hard = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4096 ? 4096 : rl.rlim_max;
	cr_assert_gt(hard, 64, "this machine's hard limit is too low for the test");
	set_nofile(64, hard);
	struct hw_nofile n;
	cr_assert_eq(hw_nofile_raise(NULL, &n), 0);
	cr_expect_eq(n.soft_before, 64);
	cr_expect_eq(n.soft, hard);
	cr_expect_eq(n.hard, hard);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_expect_eq(rl.rlim_cur, hard, "the process's soft limit is now the hard one");
	cr_expect_eq(rl.rlim_max, hard, "the hard limit is left as it was");
}

Test(hw_nofile, a_soft_limit_at_the_hard_one_is_left_alone)
{
	set_nofile(300, 300);
	struct hw_nofile n;
	cr_assert_eq(hw_nofile_raise(NULL, &n), 0);
	cr_expect_eq(n.soft_before, 300);
	cr_expect_eq(n.soft, 300);
	cr_expect_eq(n.hard, 300);
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_expect_eq(rl.rlim_cur, 300);
	cr_expect_eq(rl.rlim_max, 300);
}

Test(hw_nofile, reads_fs_nr_open_from_the_procfs_root)
{
	char *root = fake_root();
	fake_write(root, "proc/sys/fs/nr_open", "1048576\n");
	char proc[512];
	snprintf(proc, sizeof(proc), "%s/proc", root);
	struct hw_nofile n;
	cr_assert_eq(hw_nofile_raise(proc, &n), 0);
	cr_expect_eq(n.nr_open, 1048576);
	fake_remove(root);
	root = fake_root();
	snprintf(proc, sizeof(proc), "%s/proc", root);
	cr_assert_eq(hw_nofile_raise(proc, &n), 0);
	cr_expect_eq(n.nr_open, 0, "no fs.nr_open file: unknown");
	fake_remove(root);
}
