#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/harness/opts.h"
#include "perf/harness/pace.h"
#include "perf/harness/stats.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Exact percentile as base/hist.h defines it: smallest value with at least p% at or below. */
static uint64_t exact_pct(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999999);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

static void near(uint64_t got, uint64_t want, const char *what)
{
	double e = (double)got > (double)want ? (double)got - (double)want : (double)want - (double)got;
	cr_assert(e <= (double)want * 0.002 + 1, "%s: %llu vs exact %llu", what,
	          (unsigned long long)got, (unsigned long long)want);
}

/*
 * An open-loop run at 1,000 records/s for 1 s against a broker that answers in 1 ms but stalls
 * from 500 ms to 600 ms.  Every record due during the stall waits for its end, so ~10% of the
 * records see 1..101 ms.  Latency measured from the intended time shows all of them; a
 * closed-loop sender would have sent one record during the stall and seen one slow sample.
 */
Test(perf_stats, open_loop_latency_counts_every_record_held_by_a_stall)
{
	struct perf_opts o;
	perf_opts_defaults(&o);
	o.rate = 1000;
	o.quiet = true;
	struct perf_stats st;
	cr_assert_eq(perf_stats_init(&st, &o), 0);
	perf_stats_start(&st, 0);

	struct perf_pace p;
	perf_pace_init(&p, 0, o.rate, 1000);
	uint64_t exact[1000];
	const uint64_t ms = 1000000, stall_from = 500 * ms, stall_to = 600 * ms;
	for (int i = 0; i < 1000; i++) {
		/* The sender is late too during the stall: it only gets to run at its end. */
		uint64_t intended = perf_pace_take(&p, 0);
		uint64_t ack = intended + ms;
		if (intended >= stall_from && intended < stall_to)
			ack = stall_to + ms;
		exact[i] = ack - intended;
		perf_stats_latency(&st, PERF_LAT_PRODUCE, ack, ack - intended);
	}
	qsort(exact, 1000, sizeof(exact[0]), cmp_u64);
	cr_assert_eq(perf_stats_count(&st, PERF_LAT_PRODUCE), 1000);
	near(perf_stats_pct(&st, PERF_LAT_PRODUCE, 50), exact_pct(exact, 1000, 50), "p50");
	near(perf_stats_pct(&st, PERF_LAT_PRODUCE, 95), exact_pct(exact, 1000, 95), "p95");
	near(perf_stats_pct(&st, PERF_LAT_PRODUCE, 99), exact_pct(exact, 1000, 99), "p99");
	near(perf_stats_max(&st, PERF_LAT_PRODUCE), 101 * ms, "max");
	/* The stall shows: p95 is ~51 ms, far above the 1 ms service time. */
	cr_assert_gt(perf_stats_pct(&st, PERF_LAT_PRODUCE, 95), 45 * ms);
	perf_stats_fini(&st);
}

Test(perf_stats, closed_loop_back_fills_with_the_co_interval)
{
	struct perf_opts o;
	perf_opts_defaults(&o);
	o.co_interval_us = 1000; /* the sender meant to send every 1 ms */
	o.quiet = true;
	struct perf_stats st;
	cr_assert_eq(perf_stats_init(&st, &o), 0);
	perf_stats_start(&st, 0);
	const uint64_t ms = 1000000;
	for (int i = 0; i < 899; i++)
		perf_stats_latency(&st, PERF_LAT_PRODUCE, 1, ms / 2);
	/* One 100 ms sample stands for the 99 sends (99, 98, ... 1 ms) the sender held back. */
	perf_stats_latency(&st, PERF_LAT_PRODUCE, 1, 100 * ms);
	cr_assert_eq(perf_stats_count(&st, PERF_LAT_PRODUCE), 899 + 100);
	uint64_t p95 = perf_stats_pct(&st, PERF_LAT_PRODUCE, 95);
	cr_assert(p95 > 49 * ms && p95 < 52 * ms, "p95 %llu", (unsigned long long)p95);
	/* Other kinds are not back-filled. */
	perf_stats_latency(&st, PERF_LAT_E2E, 1, 100 * ms);
	cr_assert_eq(perf_stats_count(&st, PERF_LAT_E2E), 1);
	perf_stats_fini(&st);
}

Test(perf_stats, warmup_samples_are_not_recorded)
{
	struct perf_opts o;
	perf_opts_defaults(&o);
	o.warmup_s = 1;
	o.quiet = true;
	struct perf_stats st;
	cr_assert_eq(perf_stats_init(&st, &o), 0);
	perf_stats_start(&st, 5000000000ull);
	perf_stats_latency(&st, PERF_LAT_E2E, 5500000000ull, 1000);
	cr_assert_eq(perf_stats_count(&st, PERF_LAT_E2E), 0);
	perf_stats_latency(&st, PERF_LAT_E2E, 6000000000ull, 1000);
	cr_assert_eq(perf_stats_count(&st, PERF_LAT_E2E), 1);
	perf_stats_fini(&st);
}

Test(perf_stats, json_carries_rates_and_percentiles)
{
	struct perf_opts o;
	perf_opts_defaults(&o);
	o.quiet = true;
	o.record_size = 100;
	snprintf(o.label, sizeof(o.label), "a \"quoted\" label");
	struct perf_stats st;
	cr_assert_eq(perf_stats_init(&st, &o), 0);
	perf_stats_start(&st, 0);
	st.acked_records = 1000;
	st.acked_bytes = 100000;
	for (int i = 1; i <= 100; i++)
		perf_stats_latency(&st, PERF_LAT_PRODUCE, 1, (uint64_t)i * 1000000);
	perf_stats_error(&st, 7, "request timed out");
	perf_stats_stop(&st, 2000000000ull);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_eq(perf_stats_json(&st, f), 0);
	fclose(f);
	cr_assert(strstr(text, "\"produce_records_per_s\": 500.0") != NULL, "%s", text);
	cr_assert(strstr(text, "\"produce_mb_per_s\": 0.050") != NULL, "%s", text);
	cr_assert(strstr(text, "\"p50\": 50.0") != NULL, "%s", text);
	cr_assert(strstr(text, "\"max\": 100.0") != NULL, "%s", text);
	cr_assert(strstr(text, "\"label\": \"a \\\"quoted\\\" label\"") != NULL, "%s", text);
	cr_assert(strstr(text, "\"last_error_code\": 7, \"error\": \"request timed out\"") != NULL, "%s", text);
	cr_assert(strstr(text, "\"broker_cpu_s\": null") != NULL, "%s", text);
	free(text);
	perf_stats_fini(&st);
}

Test(perf_stats, json_carries_creation_time_and_the_brokers_holdings)
{
	struct perf_opts o;
	perf_opts_defaults(&o);
	o.quiet = true;
	struct perf_stats st;
	cr_assert_eq(perf_stats_init(&st, &o), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	cr_assert_eq(perf_stats_json(&st, f), 0);
	fclose(f);
	cr_assert(strstr(text, "\"create_s\": null") != NULL, "nothing created: %s", text);
	cr_assert(strstr(text, "\"broker_setup\": null") != NULL, "no --broker-pid: %s", text);
	cr_assert(strstr(text, "\"broker_ready\": null") != NULL, "%s", text);
	free(text);
	st.create_s = 12.5;
	st.broker_setup = (struct perf_procres){16, 8832, 900000, 0.25, 40};
	st.broker_ready = (struct perf_procres){5016, 20000, 1900000, 30.5, 2040};
	st.ready_connections = 5;
	f = open_memstream(&text, &len);
	cr_assert_eq(perf_stats_json(&st, f), 0);
	fclose(f);
	cr_assert(strstr(text, "\"create_s\": 12.500") != NULL, "%s", text);
	cr_assert(strstr(text, "\"broker_setup\": {\"fds\": 16, \"maps\": 40, \"rss_kb\": 8832, \"vm_kb\": 900000, \"cpu_s\": 0.250}") != NULL, "%s", text);
	cr_assert(strstr(text, "\"broker_ready\": {\"fds\": 5016, \"maps\": 2040, \"rss_kb\": 20000, \"vm_kb\": 1900000, \"cpu_s\": 30.500, \"harness_connections\": 5}") != NULL, "%s", text);
	free(text);
	perf_stats_fini(&st);
}
