/* base/clock.c: monotonic and wall clocks (see clock.h); clock_gettime cannot fail for these ids. */
#include "base/clock.h"

#include <assert.h>
#include <time.h>

uint64_t rt_clock_ns(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
	assert(rc == 0);
	(void)rc;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t rt_clock_wall_ns(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_REALTIME, &ts);
	assert(rc == 0);
	(void)rc;
	return (int64_t)ts.tv_sec * 1000000000ll + (int64_t)ts.tv_nsec;
}

int64_t rt_clock_wall_ms(void)
{
	return rt_clock_wall_ns() / 1000000;
}
