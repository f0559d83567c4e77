/* Unit tests for base/clock.c: monotonic order, agreement with the system clocks. */
#include <criterion/criterion.h>

#include <time.h>
#include <unistd.h>

#include "base/clock.h"

Test(rt_clock, monotonic_never_goes_back)
{
	uint64_t prev = rt_clock_ns();
	for (int i = 0; i < 100000; i++) {
		uint64_t t = rt_clock_ns();
		cr_assert_geq(t, prev);
		prev = t;
	}
}

Test(rt_clock, monotonic_measures_a_sleep)
{
	uint64_t t0 = rt_clock_ns();
	usleep(20000);
	uint64_t dt = rt_clock_ns() - t0;
	/* At least the sleep; a generous upper bound only to catch a wrong unit (us or ms). */
	cr_expect_geq(dt, 20000000ull, "dt %llu ns", (unsigned long long)dt);
	cr_expect_lt(dt, 20000000000ull, "dt %llu ns", (unsigned long long)dt);
}

Test(rt_clock, wall_ms_is_epoch_milliseconds)
{
	/* Bracketed by CLOCK_REALTIME itself: glibc's time() reads the coarse clock, which can
	 * still show the previous second after the precise clock has passed it. */
	struct timespec before, after;
	clock_gettime(CLOCK_REALTIME, &before);
	int64_t ms = rt_clock_wall_ms();
	clock_gettime(CLOCK_REALTIME, &after);
	cr_expect_geq(ms, (int64_t)before.tv_sec * 1000 + before.tv_nsec / 1000000);
	cr_expect_leq(ms, (int64_t)after.tv_sec * 1000 + after.tv_nsec / 1000000);
	/* Later than 2020-01-01 in ms: catches seconds or nanoseconds by mistake. */
	cr_expect_gt(ms, 1577836800000ll);
	int64_t ns = rt_clock_wall_ns();
	cr_expect_geq(ns / 1000000, ms);
	cr_expect_lt(ns / 1000000 - ms, 10000);
}
