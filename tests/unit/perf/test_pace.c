#include <criterion/criterion.h>

#include "perf/harness/pace.h"

Test(perf_pace, open_loop_issues_by_intended_time)
{
	struct perf_pace p;
	perf_pace_init(&p, 1000, 1000.0, 0); /* one record per ms from t = 1000 ns */
	cr_assert_eq(perf_pace_due(&p, 999), 0);
	cr_assert_eq(perf_pace_due(&p, 1000), 1);          /* record 0 is due at the start */
	cr_assert_eq(perf_pace_due(&p, 1000 + 2500000), 3); /* records 0, 1, 2 */
	cr_assert_eq(perf_pace_take(&p, 5000000), 1000);    /* intended, not actual, time */
	cr_assert_eq(perf_pace_take(&p, 5000000), 1001000);
	cr_assert_eq(perf_pace_due(&p, 1000 + 2500000), 1);
	cr_assert_eq(perf_pace_wait_ns(&p, 1000 + 1500000), 500000);
	cr_assert_eq(perf_pace_take(&p, 0), 2001000);
	cr_assert_eq(perf_pace_wait_ns(&p, 1000 + 2500000), 500000);
}

Test(perf_pace, a_late_sender_catches_up_without_losing_slots)
{
	/* A sender that stalls for 1 s at 10,000/s owes 10,000 records, each with its own slot. */
	struct perf_pace p;
	perf_pace_init(&p, 0, 10000.0, 0);
	uint64_t now = 1000000000;
	cr_assert_eq(perf_pace_due(&p, now), 10001);
	uint64_t last = 0;
	for (int i = 0; i < 10001; i++)
		last = perf_pace_take(&p, now);
	cr_assert_eq(last, 1000000000);
	cr_assert_eq(perf_pace_due(&p, now), 0);
}

Test(perf_pace, long_runs_do_not_drift)
{
	struct perf_pace p;
	perf_pace_init(&p, 0, 3.0, 0); /* 333,333,333.33 ns apart */
	for (int i = 0; i < 3 * 3600; i++)
		perf_pace_take(&p, 0);
	/* After an hour's worth of records the next one is due at exactly 3600 s. */
	uint64_t t = perf_pace_take(&p, 0);
	cr_assert(t >= 3599999999999ull && t <= 3600000000001ull, "t = %llu", (unsigned long long)t);
}

Test(perf_pace, flat_out_and_limit)
{
	struct perf_pace p;
	perf_pace_init(&p, 0, 0, 5);
	cr_assert_eq(perf_pace_due(&p, 0), 5);
	cr_assert_eq(perf_pace_wait_ns(&p, 0), 0);
	cr_assert_eq(perf_pace_take(&p, 777), 777);
	for (int i = 0; i < 4; i++)
		perf_pace_take(&p, 0);
	cr_assert_eq(perf_pace_due(&p, 0), 0);
	cr_assert_eq(perf_pace_wait_ns(&p, 0), UINT64_MAX);
}

Test(perf_pace, a_tick_releases_records_in_bursts_with_their_own_times)
{
	/* 10 records per ms, released every 250 us: bursts of 2 or 3, each record keeping its slot. */
	struct perf_pace p;
	perf_pace_init(&p, 1000, 10000.0, 0);
	perf_pace_set_tick(&p, 250000);
	cr_assert_eq(perf_pace_due(&p, 1000), 1);                 /* record 0, due at the start boundary */
	cr_assert_eq(perf_pace_take(&p, 1000), 1000);
	cr_assert_eq(perf_pace_due(&p, 1000 + 249999), 0);        /* records 1, 2 wait for the boundary */
	cr_assert_eq(perf_pace_wait_ns(&p, 1000 + 100000), 150000); /* record 1 (1000 + 100 us) at 1000 + 250 us */
	cr_assert_eq(perf_pace_due(&p, 1000 + 250000), 2);        /* records 1 and 2 (intended 100, 200 us) */
	cr_assert_eq(perf_pace_take(&p, 1000 + 250000), 1000 + 100000);
	cr_assert_eq(perf_pace_take(&p, 1000 + 250000), 1000 + 200000);
	cr_assert_eq(perf_pace_due(&p, 1000 + 499999), 0);
	cr_assert_eq(perf_pace_due(&p, 1000 + 500000), 3);        /* 300, 400 and 500 us: on the boundary counts */
	cr_assert_eq(perf_pace_wait_ns(&p, 1000 + 260000), 240000);
	for (int i = 0; i < 3; i++)
		perf_pace_take(&p, 0);
	cr_assert_eq(perf_pace_wait_ns(&p, 1000 + 500000), 250000); /* record 6 (600 us) at the 750 us boundary */
}
