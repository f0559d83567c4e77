/*
 * perf/harness/drv_missing.c: the drivers this build could not include (their client library
 * or the generated codec was missing at configure time) say so instead of running.
 */
#include <errno.h>

#include "perf/harness/driver.h"

#define MISSING(name, what)                                                                   \
	int perf_run_##name(const struct perf_opts *o, struct perf_stats *st)                 \
	{                                                                                     \
		(void)o;                                                                      \
		perf_stats_error(st, -1, "--driver " #name ": not built here (" what " was not found " \
		                 "when the build was configured; see tools/deps.txt)");       \
		return -ENOTSUP;                                                              \
	}

#ifdef PERF_MISSING_NATIVE
MISSING(native, "the generated codec proto/gen")

/* The idle connections speak ApiVersions through the native codec. */
int perf_idle_open(const struct perf_opts *o, struct perf_stats *st, int **fds, int *n)
{
	*fds = NULL;
	*n = 0;
	if (o->idle_connections <= 0)
		return 0;
	perf_stats_error(st, -1, "--idle-connections: not built here (the generated codec proto/gen was not found "
	                 "when the build was configured)");
	return -ENOTSUP;
}

void perf_idle_close(int *fds, int n)
{
	(void)fds;
	(void)n;
}

int perf_delete_topic(const struct perf_opts *o, struct perf_stats *st)
{
	(void)o;
	perf_stats_error(st, -1, "--delete: not built here (the generated codec proto/gen was not found "
	                 "when the build was configured)");
	return -ENOTSUP;
}
#endif
#ifdef PERF_MISSING_RDKAFKA
MISSING(rdkafka, "librdkafka-dev")
#endif
#ifdef PERF_MISSING_NATS
MISSING(nats, "libnats-dev")
#endif
#ifdef PERF_MISSING_REDIS
MISSING(redis, "libhiredis-dev")
#endif
