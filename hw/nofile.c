/*
 * hw/nofile.c: raising the soft open-files limit to the hard one at start (see nofile.h).
 *
 * Invariant: the hard limit is never touched, so a broker started under a deliberately low
 * hard limit (tests, an operator's cap) keeps it.
 */
#include "hw/nofile.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

static uint64_t lim_value(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

static uint64_t read_nr_open(const char *procfs_root)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/sys/fs/nr_open", procfs_root ? procfs_root : "/proc");
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long v = 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

int hw_nofile_raise(const char *procfs_root, struct hw_nofile *out)
{
	*out = (struct hw_nofile){0};
	out->nr_open = read_nr_open(procfs_root);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	out->soft_before = out->soft = lim_value(rl.rlim_cur);
	out->hard = lim_value(rl.rlim_max);
	rlim_t want = rl.rlim_max;
	if (want == RLIM_INFINITY && out->nr_open)
		want = (rlim_t)out->nr_open;
	if (rl.rlim_cur == want || (rl.rlim_cur != RLIM_INFINITY && want != RLIM_INFINITY && rl.rlim_cur > want))
		return 0;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	out->soft = lim_value(want);
	return 0;
}
