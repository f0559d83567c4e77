/*
 * perf/bench_util.h: what the one-file benchmarks (perf/bench_*.c) share: an open loop's pacing
 * and the line a latency limit is printed in, which the perf scripts parse (perf/lib.sh's
 * latency_limits_read).  Header only: each benchmark is one program of one file.
 */
#ifndef PERF_BENCH_UTIL_H
#define PERF_BENCH_UTIL_H

#include <stdio.h>
#include <time.h>

#include "base/hist.h"

/* Moves *next on by step_ns (< 1 s) and sleeps until then (CLOCK_MONOTONIC, absolute: a late
 * wake-up does not push the slots after it back, so the loop keeps its rate). */
static inline void perf_pace(struct timespec *next, long step_ns)
{
	next->tv_nsec += step_ns;
	if (next->tv_nsec >= 1000000000) {
		next->tv_sec++;
		next->tv_nsec -= 1000000000;
	}
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL);
}

/* Prints "<name> p50_us=... p99_us=... n=..." for h (ns values). */
static inline void perf_hist_line(const char *name, const struct rt_hist *h)
{
	printf("%s p50_us=%.1f p99_us=%.1f n=%llu\n", name, rt_hist_percentile(h, 50) / 1000.0,
	       rt_hist_percentile(h, 99) / 1000.0, (unsigned long long)rt_hist_count(h));
}

#endif
