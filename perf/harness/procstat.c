/*
 * perf/harness/procstat.c: CPU time of a process from /proc (see procstat.h).
 */
#include "perf/harness/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int perf_procstat_parse(const char *line, long ticks_per_s, double *cpu_s)
{
	const char *p = strrchr(line, ')');
	if (!p || ticks_per_s <= 0)
		return -EBADMSG;
	p++;
	/* After ')': field 3 (state) is the first; utime is field 14, stime field 15. */
	unsigned long long v[13];
	int field = 3;
	while (field <= 15) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EBADMSG;
		if (field >= 14) {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(p, &end, 10);
			if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
				return -EBADMSG;
			v[field - 14] = x;
			p = end;
		} else {
			while (*p && *p != ' ')
				p++;
		}
		field++;
	}
	*cpu_s = (double)(v[0] + v[1]) / (double)ticks_per_s;
	return 0;
}

int perf_procstat_read(int pid, double *cpu_s)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	line[n] = '\0';
	return perf_procstat_parse(line, sysconf(_SC_CLK_TCK), cpu_s);
}
