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
