#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perf/harness/procstat.h"

Test(perf_procstat, reads_utime_plus_stime_after_the_command)
{
	/* The command holds spaces and a ')': fields are counted from the last ')'. */
	const char *line = "4242 (ring tail) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 100 1000 10\n";
	double s = 0;
	cr_assert_eq(perf_procstat_parse(line, 100, &s), 0);
	cr_assert_float_eq(s, 4.0, 1e-9);
}

Test(perf_procstat, rejects_truncated_lines)
{
	double s;
	cr_assert_eq(perf_procstat_parse("4242 (x) S 1 2 3", 100, &s), -EBADMSG);
	cr_assert_eq(perf_procstat_parse("no parenthesis", 100, &s), -EBADMSG);
	cr_assert_eq(perf_procstat_parse("1 (x) S 1 1 1 0 -1 0 0 0 0 0 12a 3 0 0", 100, &s), -EBADMSG);
}

Test(perf_procstat, reads_this_process)
{
	double s = -1;
	cr_assert_eq(perf_procstat_read(getpid(), &s), 0);
	cr_assert_geq(s, 0.0);
	cr_assert_eq(perf_procstat_read(0x7ffffff0, &s), -ENOENT);
}

Test(perf_procstat, reads_parent_and_times)
{
	const char *line = "7 (c) S 42 7 7 0 -1 0 0 0 0 0 250 150 30 20 20 0 1 0 100 1000 10\n";
	struct perf_procstat ps;
	cr_assert_eq(perf_procstat_fields(line, &ps), 0);
	cr_assert_eq(ps.ppid, 42);
	cr_assert_eq(ps.utime, 250);
	cr_assert_eq(ps.stime, 150);
	cr_assert_eq(ps.cutime, 30);
	cr_assert_eq(ps.cstime, 20);
}

/* Spins until this process has used `secs` of CPU. */
static void burn(double secs)
{
	struct timespec t;
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while (t.tv_sec + t.tv_nsec / 1e9 < secs);
	(void)x;  /* read once, so clang does not call the volatile sink unused */
}

Test(perf_procstat, the_tree_counts_live_and_reaped_children)
{
	double before = 0, mine = 0;
	cr_assert_eq(perf_procstat_read_tree(getpid(), &before), 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		burn(0.3);
		char c = 1;
		(void)!write(p[1], &c, 1);
		pause();
		_exit(0);
	}
	char c;
	cr_assert_eq(read(p[0], &c, 1), 1);
	double live = 0;
	cr_assert_eq(perf_procstat_read_tree(getpid(), &live), 0);
	cr_assert_eq(perf_procstat_read(getpid(), &mine), 0);
	/* The child's 0.3 s are in the tree, not in this process's own figure. */
	cr_assert_geq(live - before, 0.28, "live child: tree grew %.3f s", live - before);
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	double reaped = 0;
	cr_assert_eq(perf_procstat_read_tree(getpid(), &reaped), 0);
	cr_assert_geq(reaped - before, 0.28, "reaped child: tree grew %.3f s", reaped - before);
	close(p[0]);
	close(p[1]);
}

Test(perf_procstat, reads_memory_fields_of_a_status_text)
{
	const char *text = "Name:\tringtail\nVmPeak:\t  900 kB\nVmSize:\t  812345 kB\nVmRSS:\t   8832 kB\nThreads:\t5\n";
	int64_t kb = -1;
	cr_assert_eq(perf_procstatus_kb(text, "VmRSS", &kb), 0);
	cr_expect_eq(kb, 8832);
	cr_assert_eq(perf_procstatus_kb(text, "VmSize", &kb), 0);
	cr_expect_eq(kb, 812345);
	cr_expect_eq(perf_procstatus_kb(text, "VmSwap", &kb), -ENOENT);
	cr_expect_eq(perf_procstatus_kb(text, "Vm", &kb), -ENOENT, "a key matches whole, not as a prefix");
	cr_expect_eq(perf_procstatus_kb("VmRSS:\t12 pages\n", "VmRSS", &kb), -EBADMSG);
	cr_expect_eq(perf_procstatus_kb("VmRSS:\t\n", "VmRSS", &kb), -EBADMSG);
}

Test(perf_procstat, counts_the_descriptors_this_process_holds)
{
	struct perf_procres a, b;
	cr_assert_eq(perf_procres_read(getpid(), &a), 0);
	cr_assert_gt(a.fds, 0);
	cr_expect_gt(a.rss_kb, 0);
	cr_expect_geq(a.vm_kb, a.rss_kb);
	cr_expect_geq(a.cpu_s, 0);
	cr_expect_gt(a.maps, 3, "a process maps at least its program, stack and libc");
	int fds[10];
	for (int i = 0; i < 10; i++)
		fds[i] = dup(0);
	cr_assert_eq(perf_procres_read(getpid(), &b), 0);
	for (int i = 0; i < 10; i++)
		close(fds[i]);
	/* opendir's own descriptor is counted both times. */
	cr_expect_eq(b.fds, a.fds + 10);
	cr_expect_eq(perf_procres_read(-5, &b), -ENOENT);
	cr_expect_eq(b.fds, -1);
}
