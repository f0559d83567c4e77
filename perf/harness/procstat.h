/*
 * perf/harness/procstat.h: a process's CPU time from /proc/<pid>/stat, for CPU seconds per GB.
 *
 * utime + stime of the process (all its threads); the file's second field (the command) may
 * hold spaces and parentheses, so fields are counted from the last ')'.  The broker's figure
 * is its process tree: ringtail and the ringtail-control it forks (and any child it already
 * reaped, through cutime + cstime), since both do the work a run measures.
 */
#ifndef PERF_PROCSTAT_H
#define PERF_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

/* Parses one stat line: *cpu_s = (utime + stime) / ticks_per_s.  0 or -EBADMSG.  Borrows line. */
int perf_procstat_parse(const char *line, long ticks_per_s, double *cpu_s);

/* The fields of one stat line the harness uses (times in clock ticks). */
struct perf_procstat {
	int ppid;
	unsigned long long utime, stime, cutime, cstime;
};

/* Parses one stat line into *out.  0 or -EBADMSG.  Borrows line. */
int perf_procstat_fields(const char *line, struct perf_procstat *out);

/* Reads /proc/<pid>/stat.  0, -errno from open/read (-ENOENT: no such process) or -EBADMSG. */
int perf_procstat_read(int pid, double *cpu_s);

/* CPU seconds of pid and every live descendant (found by their parent ids in /proc), plus what
 * the reaped children of each used (cutime + cstime).  0, or -errno / -EBADMSG for pid itself
 * (a descendant that exits while /proc is read is skipped). */
int perf_procstat_read_tree(int pid, double *cpu_s);

/* What a process holds, for the cost of a partition or a connection: its open descriptors
 * (entries of /proc/<pid>/fd), its memory mappings, its resident and virtual memory (VmRSS, VmSize of
 * /proc/<pid>/status, KiB), and the CPU seconds its tree has used so far (perf_procstat_read_tree),
 * so that two readings give the cost of what happened between them.  -1 in a field that could
 * not be read. */
struct perf_procres {
	int64_t fds, rss_kb, vm_kb;
	double cpu_s;
	int64_t maps;                /* memory mappings (lines of /proc/<pid>/maps): vm.max_map_count */
};

/* Reads field `key` ("VmRSS") of a status text into *kb.  0 or -ENOENT (absent) / -EBADMSG.
 * Borrows text. */
int perf_procstatus_kb(const char *text, const char *key, int64_t *kb);

/* Fills *out for pid (the process only: ringtail-control keeps its own).  0 when the process
 * exists (fields it could not read are -1), else -errno. */
int perf_procres_read(int pid, struct perf_procres *out);

#endif
