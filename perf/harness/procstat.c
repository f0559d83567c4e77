/*
 * perf/harness/procstat.c: CPU time of a process from /proc (see procstat.h).
 */
#include "perf/harness/procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int perf_procstat_fields(const char *line, struct perf_procstat *out)
{
	const char *p = strrchr(line, ')');
	if (!p)
		return -EBADMSG;
	p++;
	/* After ')': field 3 (state) is the first; ppid is field 4, utime .. cstime fields 14-17. */
	unsigned long long v[18];
	int field = 3;
	while (field <= 17) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EBADMSG;
		if (field == 4 || field >= 14) {
			char *end;
			errno = 0;
			unsigned long long x = strtoull(p, &end, 10);
			if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
				return -EBADMSG;
			v[field] = x;
			p = end;
		} else {
			while (*p && *p != ' ')
				p++;
		}
		field++;
	}
	out->ppid = (int)v[4];
	out->utime = v[14];
	out->stime = v[15];
	out->cutime = v[16];
	out->cstime = v[17];
	return 0;
}

int perf_procstat_parse(const char *line, long ticks_per_s, double *cpu_s)
{
	struct perf_procstat ps;
	if (ticks_per_s <= 0 || perf_procstat_fields(line, &ps))
		return -EBADMSG;
	*cpu_s = (double)(ps.utime + ps.stime) / (double)ticks_per_s;
	return 0;
}

static int read_stat(int pid, struct perf_procstat *ps)
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
	return perf_procstat_fields(line, ps);
}

int perf_procstat_read(int pid, double *cpu_s)
{
	struct perf_procstat ps;
	int rc = read_stat(pid, &ps);
	if (!rc)
		*cpu_s = (double)(ps.utime + ps.stime) / (double)sysconf(_SC_CLK_TCK);
	return rc;
}

int perf_procstat_read_tree(int pid, double *cpu_s)
{
	struct perf_procstat root;
	int rc = read_stat(pid, &root);
	if (rc)
		return rc;
	/* Every process's parent and times, then the tree grown from pid until it stops growing
	 * (a few rounds: the broker's tree is two deep). */
	struct proc { int pid, ppid; unsigned long long t; bool in; } *ps = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long p = strtol(e->d_name, &end, 10);
		struct perf_procstat s;
		if (*end || p <= 0 || p == pid || read_stat((int)p, &s))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct proc *np = realloc(ps, nc * sizeof(*ps));
			if (!np) {
				free(ps);
				closedir(d);
				return -ENOMEM;
			}
			ps = np;
			cap = nc;
		}
		ps[n++] = (struct proc){(int)p, s.ppid, s.utime + s.stime + s.cutime + s.cstime, false};
	}
	closedir(d);
	unsigned long long total = root.utime + root.stime + root.cutime + root.cstime;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (ps[i].in)
				continue;
			bool child = ps[i].ppid == pid;
			for (size_t k = 0; k < n && !child; k++)
				child = ps[k].in && ps[k].pid == ps[i].ppid;
			if (child) {
				ps[i].in = grew = true;
				total += ps[i].t;
			}
		}
	}
	free(ps);
	*cpu_s = (double)total / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

int perf_procstatus_kb(const char *text, const char *key, int64_t *kb)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) || p[kl] != ':')
			continue;
		char *end;
		errno = 0;
		long long v = strtoll(p + kl + 1, &end, 10);
		if (errno || end == p + kl + 1 || v < 0)
			return -EBADMSG;
		while (*end == ' ' || *end == '\t')
			end++;
		if (strncmp(end, "kB", 2))
			return -EBADMSG;
		*kb = v;
		return 0;
	}
	return -ENOENT;
}

int perf_procres_read(int pid, struct perf_procres *out)
{
	*out = (struct perf_procres){-1, -1, -1, -1, -1};
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	out->fds = n;
	double cpu;
	if (!perf_procstat_read_tree(pid, &cpu))
		out->cpu_s = cpu;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	int mfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mfd >= 0) {
		char chunk[65536];
		int64_t lines = 0;
		ssize_t r;
		while ((r = read(mfd, chunk, sizeof(chunk))) > 0)
			for (ssize_t i = 0; i < r; i++)
				lines += chunk[i] == '\n';
		close(mfd);
		out->maps = r < 0 ? -1 : lines;
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char text[4096];
		ssize_t r = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (r > 0) {
			text[r] = '\0';
			int64_t v;
			if (!perf_procstatus_kb(text, "VmRSS", &v))
				out->rss_kb = v;
			if (!perf_procstatus_kb(text, "VmSize", &v))
				out->vm_kb = v;
		}
	}
	return 0;
}
