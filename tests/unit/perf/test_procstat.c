#include <criterion/criterion.h>
#include <errno.h>
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
