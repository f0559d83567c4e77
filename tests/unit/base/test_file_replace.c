/* Unit tests for base/file_replace.c: the file replaced whole, and every failure leaving the old
 * file as it was with no "<name>.tmp" behind (unwritable directory, a full disk, a failed
 * rename, bad names). */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file_replace.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rt_file_replace_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/* The contents of dir/name into buf (NUL-terminated): its length, or -1 when it cannot be read. */
static long slurp(const char *name, char *buf, size_t size)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

static bool exists(const char *name)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* What the failure tests check after a failed replace: the old contents, no temp file. */
static bool old_intact(const char *name, const char *old)
{
	char buf[256];
	char tmp[128];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	return slurp(name, buf, sizeof(buf)) == (long)strlen(old) && !strcmp(buf, old) && !exists(tmp);
}

TestSuite(rt_file_replace, .init = setup, .fini = teardown);

Test(rt_file_replace, creates_then_replaces_whole)
{
	char buf[256];
	cr_assert_eq(rt_file_replace(dir, "f", "first version\n", 14), 0);
	cr_assert_eq(slurp("f", buf, sizeof(buf)), 14);
	cr_assert_str_eq(buf, "first version\n");
	/* Shorter: nothing of the old one may remain after it. */
	cr_assert_eq(rt_file_replace(dir, "f", "v2\n", 3), 0);
	cr_assert_eq(slurp("f", buf, sizeof(buf)), 3);
	cr_assert_str_eq(buf, "v2\n");
	cr_assert_not(exists("f.tmp"));
	/* Empty is a valid content. */
	cr_assert_eq(rt_file_replace(dir, "f", "", 0), 0);
	cr_assert_eq(slurp("f", buf, sizeof(buf)), 0);
}

Test(rt_file_replace, at_a_directory_fd_leaves_it_open)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(rt_file_replace_at(dfd, "g", "abc", 3), 0);
	cr_assert_eq(rt_file_replace_at(dfd, "g", "abcd", 4), 0);
	cr_assert_neq(fcntl(dfd, F_GETFD), -1, "dirfd still open");
	close(dfd);
	char buf[16];
	cr_assert_eq(slurp("g", buf, sizeof(buf)), 4);
}

Test(rt_file_replace, a_stale_temp_file_from_a_crash_is_overwritten)
{
	char p[256], buf[256];
	snprintf(p, sizeof(p), "%s/f.tmp", dir);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fprintf(f, "a long leftover of a write a crash interrupted\n");
	fclose(f);
	cr_assert_eq(rt_file_replace(dir, "f", "new\n", 4), 0);
	cr_assert_eq(slurp("f", buf, sizeof(buf)), 4);
	cr_assert_str_eq(buf, "new\n");
	cr_assert_not(exists("f.tmp"));
}

Test(rt_file_replace, bad_names_and_a_missing_directory)
{
	char p[256], big[NAME_MAX + 1];
	memset(big, 'n', NAME_MAX - 2);
	big[NAME_MAX - 2] = 0; /* fits NAME_MAX, its ".tmp" does not */
	cr_assert_eq(rt_file_replace(dir, big, "x", 1), -ENAMETOOLONG);
	cr_assert_eq(rt_file_replace(dir, "sub/f", "x", 1), -EINVAL);
	snprintf(p, sizeof(p), "%s/absent", dir);
	cr_assert_eq(rt_file_replace(p, "f", "x", 1), -ENOENT);
	cr_assert_eq(rt_file_replace_at(-1, "f", "x", 1), -EBADF);
}

Test(rt_file_replace, a_failed_rename_removes_the_temp_file)
{
	/* A non-empty directory of that name: the rename over it fails (EISDIR). */
	char p[256];
	snprintf(p, sizeof(p), "%s/f", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/f/inside", dir);
	cr_assert_eq(mknod(p, S_IFREG | 0644, 0), 0);
	cr_assert_eq(rt_file_replace(dir, "f", "x", 1), -EISDIR);
	cr_assert_not(exists("f.tmp"));
	cr_assert(exists("f/inside"));
}

/* Runs fn in a child process (so it may drop privileges or enter its own mount namespace) and
 * returns its exit status: 0 passed, 77 not possible here, anything else a failed check. */
static int in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn());
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "child died: status %#x", st);
	return WEXITSTATUS(st);
}

static int unwritable_child(void)
{
	/* Root writes through any mode bits, so drop to nobody first. */
	if (geteuid() == 0 && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
		return 77;
	int rc = rt_file_replace(dir, "f", "new", 3);
	if (rc != -EACCES) {
		fprintf(stderr, "replace in a read-only directory: %d (%s)\n", rc, strerror(-rc));
		return 1;
	}
	return old_intact("f", "old") ? 0 : 2;
}

Test(rt_file_replace, an_unwritable_directory_leaves_the_old_file)
{
	cr_assert_eq(rt_file_replace(dir, "f", "old", 3), 0);
	cr_assert_eq(chmod(dir, 0555), 0);
	int st = in_child(unwritable_child);
	chmod(dir, 0700);
	if (st == 77)
		cr_skip_test("cannot drop root privileges here");
	cr_assert_eq(st, 0, "child check %d failed", st);
}

/* A disk that fills up in the middle of the write: a 64 KiB tmpfs mounted over the test
 * directory in a mount namespace of the child's own (gone with it, nothing to unmount). */
static int tmpfs_full_child(void)
{
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"))
		return 77;
	if (rt_file_replace(dir, "f", "old", 3))
		return 1;
	static char big[1 << 20];
	memset(big, 'x', sizeof(big));
	int rc = rt_file_replace(dir, "f", big, sizeof(big));
	if (rc != -ENOSPC) {
		fprintf(stderr, "replace on a full tmpfs: %d (%s)\n", rc, strerror(-rc));
		return 2;
	}
	if (!old_intact("f", "old"))
		return 3;
	/* The temp file's blocks were given back: a small replace fits again. */
	char buf[16];
	if (rt_file_replace(dir, "f", "new", 3) || slurp("f", buf, sizeof(buf)) != 3)
		return 4;
	return 0;
}

Test(rt_file_replace, a_full_disk_leaves_the_old_file)
{
	int st = in_child(tmpfs_full_child);
	if (st == 77)
		cr_skip_test("cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
	cr_assert_eq(st, 0, "child check %d failed", st);
}

Test(rt_file_replace, enospc_from_the_write_leaves_the_old_file)
{
	/* The same failure without privileges: the temp name is a link to /dev/full, whose writes
	 * fail with ENOSPC.  The link is removed with the temp file. */
	char p[256];
	cr_assert_eq(rt_file_replace(dir, "f", "old", 3), 0);
	snprintf(p, sizeof(p), "%s/f.tmp", dir);
	cr_assert_eq(symlink("/dev/full", p), 0);
	cr_assert_eq(rt_file_replace(dir, "f", "new", 3), -ENOSPC);
	cr_assert(old_intact("f", "old"));
}

static void print_lines(FILE *out, const void *arg)
{
	for (int i = 0; i < *(const int *)arg; i++)
		fprintf(out, "line %d\n", i);
}

Test(rt_file_replace, print_replaces_with_formatted_text)
{
	char buf[256];
	int n = 3;
	cr_assert_eq(rt_file_replace_print(dir, "p", print_lines, &n), 0);
	cr_assert_eq(slurp("p", buf, sizeof(buf)), 21);
	cr_assert_str_eq(buf, "line 0\nline 1\nline 2\n");
	n = 0;
	cr_assert_eq(rt_file_replace_print(dir, "p", print_lines, &n), 0);
	cr_assert_eq(slurp("p", buf, sizeof(buf)), 0);
	char p[256];
	snprintf(p, sizeof(p), "%s/absent", dir);
	cr_assert_eq(rt_file_replace_print(p, "p", print_lines, &n), -ENOENT);
}
