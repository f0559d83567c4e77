/*
 * base/lat_trace.c: the histograms behind base/lat_trace.h (built only with -Dlat_trace=true).
 * One set for the process, created on first use, guarded by a mutex: a diagnostic build trades
 * a little contention for not touching every shard's structures.
 */
#include "base/lat_trace.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "base/hist.h"

static const char *const names[RT_LT_NSTAGES] = {
	"recv -> handler", "handler -> owner", "owner -> write CQE", "write CQE -> round issue",
	"write CQE -> done", "done -> back", "back -> sent", "total recv -> sent", "sync round", "sync round w/ zeros", "zero chunk",
};
static struct rt_hist *hists[RT_LT_NSTAGES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t rt_lt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rt_lt_record(enum rt_lt_stage st, uint64_t from, uint64_t to)
{
	if (!from || !to || to < from)
		return;
	pthread_mutex_lock(&mu);
	if (!hists[st])
		hists[st] = rt_hist_create(60000000000ull, 3);
	if (hists[st])
		rt_hist_record(hists[st], to - from);
	pthread_mutex_unlock(&mu);
}

void rt_lt_dump(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < RT_LT_NSTAGES; i++) {
		struct rt_hist *h = hists[i];
		if (!h || !rt_hist_count(h))
			continue;
		fprintf(stderr, "lat_trace %-26s n=%-8llu p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f us\n",
		        names[i], (unsigned long long)rt_hist_count(h), rt_hist_percentile(h, 50) / 1e3,
		        rt_hist_percentile(h, 90) / 1e3, rt_hist_percentile(h, 99) / 1e3,
		        rt_hist_percentile(h, 99.9) / 1e3, rt_hist_max(h) / 1e3);
		rt_hist_reset(h);
	}
	pthread_mutex_unlock(&mu);
}
