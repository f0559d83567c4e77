/*
 * perf/harness/procstat.h: a process's CPU time from /proc/<pid>/stat, for CPU seconds per GB.
 *
 * utime + stime of the process (all its threads); the file's second field (the command) may
 * hold spaces and parentheses, so fields are counted from the last ')'.
 */
#ifndef PERF_PROCSTAT_H
#define PERF_PROCSTAT_H

#include <stddef.h>

/* Parses one stat line: *cpu_s = (utime + stime) / ticks_per_s.  0 or -EBADMSG.  Borrows line. */
int perf_procstat_parse(const char *line, long ticks_per_s, double *cpu_s);

/* Reads /proc/<pid>/stat.  0, -errno from open/read (-ENOENT: no such process) or -EBADMSG. */
int perf_procstat_read(int pid, double *cpu_s);

#endif
