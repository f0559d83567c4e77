/* Unit tests for base/hist.c: percentiles against exact ones, merge, correction, limits. */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hist.h"

#define HOUR_NS 3600000000000ull

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static uint64_t pow10u(int d)
{
	uint64_t r = 1;
	while (d--)
		r *= 10;
	return r;
}

/* The exact value at percentile p of sorted samples, by the same rank rule (ceil, at least 1). */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
	double x = p / 100.0 * (double)n;
	size_t rank = fabs(x - nearbyint(x)) <= 1e-9 * x ? (size_t)nearbyint(x) : (size_t)ceil(x);
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static void check_accuracy(int digits, int log_uniform)
{
	size_t n = 200000;
	uint64_t *v = malloc(n * sizeof(*v));
	struct rt_hist *h = rt_hist_create(HOUR_NS, digits);
	cr_assert_not_null(h);
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		if (log_uniform) /* spread over 1 ns .. ~1 hour, as latencies spread */
			v[i] = 1 + (uint64_t)exp((double)(rng() % 1000000) / 1000000.0 * log((double)HOUR_NS - 1));
		else
			v[i] = 1000000 + rng() % 9000000; /* 1..10 ms */
		sum += (double)v[i];
		cr_assert_eq(rt_hist_record(h, v[i]), 0, "value %llu", (unsigned long long)v[i]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999};
	uint64_t scale = pow10u(digits);
	for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t want = exact_percentile(v, n, ps[i]), got = rt_hist_percentile(h, ps[i]);
		cr_expect(got >= want && (got - want) * scale <= want,
			  "digits %d p%g: got %llu exact %llu", digits, ps[i], (unsigned long long)got,
			  (unsigned long long)want);
	}
	cr_expect_eq(rt_hist_count(h), n);
	cr_expect_eq(rt_hist_min(h), v[0]);
	cr_expect_eq(rt_hist_max(h), v[n - 1]);
	cr_expect_eq(rt_hist_percentile(h, 100), v[n - 1]);
	cr_expect_eq(rt_hist_percentile(h, 0), v[0]);
	double mean = sum / (double)n;
	cr_expect(fabs(rt_hist_mean(h) - mean) <= mean / (double)scale, "mean %f exact %f",
		  rt_hist_mean(h), mean);
	rt_hist_destroy(h);
	free(v);
}

Test(rt_hist, percentiles_within_precision_1_digit) { check_accuracy(1, 1); check_accuracy(1, 0); }
Test(rt_hist, percentiles_within_precision_2_digits) { check_accuracy(2, 1); check_accuracy(2, 0); }
Test(rt_hist, percentiles_within_precision_3_digits) { check_accuracy(3, 1); check_accuracy(3, 0); }

Test(rt_hist, bucket_width_matches_precision)
{
	for (int d = 1; d <= 3; d++) {
		struct rt_hist *h = rt_hist_create(HOUR_NS, d);
		cr_assert_not_null(h);
		for (uint64_t v = 1; v < HOUR_NS; v = v * 3 + 1)
			cr_expect_leq(rt_hist_bucket_width(h, v) * pow10u(d), v < pow10u(d) * 2 ? pow10u(d) * 2 : v,
				      "digits %d value %llu width %llu", d, (unsigned long long)v,
				      (unsigned long long)rt_hist_bucket_width(h, v));
		/* Small values are exact. */
		cr_expect_eq(rt_hist_bucket_width(h, 1), 1u);
		cr_expect_eq(rt_hist_bucket_width(h, 2 * pow10u(d) - 1), 1u);
		rt_hist_destroy(h);
	}
}

Test(rt_hist, small_values_are_exact)
{
	struct rt_hist *h = rt_hist_create(1000, 2);
	for (uint64_t v = 1; v <= 100; v++)
		rt_hist_record(h, v);
	cr_expect_eq(rt_hist_percentile(h, 50), 50u);
	cr_expect_eq(rt_hist_percentile(h, 99), 99u);
	cr_expect_eq(rt_hist_percentile(h, 99.5), 100u);
	cr_expect_eq(rt_hist_percentile(h, 1), 1u);
	cr_expect(fabs(rt_hist_mean(h) - 50.5) < 1e-9);
	rt_hist_destroy(h);
}

Test(rt_hist, record_n_counts_many)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	cr_expect_eq(rt_hist_record_n(h, 1000, 90), 0);
	cr_expect_eq(rt_hist_record_n(h, 5000000, 10), 0);
	cr_expect_eq(rt_hist_record_n(h, 7, 0), 0);
	cr_expect_eq(rt_hist_count(h), 100u);
	cr_expect_eq(rt_hist_percentile(h, 90), 1000u);
	uint64_t p91 = rt_hist_percentile(h, 91);
	cr_expect(p91 >= 5000000 && p91 <= 5000000 + 5000, "p91 %llu", (unsigned long long)p91);
	cr_expect_eq(rt_hist_min(h), 1000u, "a zero count records nothing");
	rt_hist_destroy(h);
}

Test(rt_hist, out_of_range_is_rejected_and_counted)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 2);
	cr_expect_eq(rt_hist_record(h, HOUR_NS), 0);
	cr_expect_eq(rt_hist_record(h, HOUR_NS + 1), -ERANGE);
	cr_expect_eq(rt_hist_record(h, UINT64_MAX), -ERANGE);
	cr_expect_eq(rt_hist_count(h), 1u);
	cr_expect_eq(h->overflow, 2u);
	cr_expect_eq(rt_hist_max(h), HOUR_NS);
	cr_expect_eq(rt_hist_percentile(h, 50), HOUR_NS);
	rt_hist_destroy(h);
}

Test(rt_hist, bad_arguments)
{
	cr_expect_null(rt_hist_create(HOUR_NS, 0));
	cr_expect_null(rt_hist_create(HOUR_NS, 4));
	cr_expect_null(rt_hist_create(1, 2));
	cr_expect_null(rt_hist_create(UINT64_MAX, 2));
	struct rt_hist *h = rt_hist_create(2, 1);
	cr_assert_not_null(h);
	cr_expect_eq(rt_hist_record(h, 2), 0);
	cr_expect_eq(rt_hist_record(h, 3), -ERANGE);
	rt_hist_destroy(h);
	rt_hist_destroy(NULL);
}

Test(rt_hist, empty_histogram)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	cr_expect_eq(rt_hist_percentile(h, 50), 0u);
	cr_expect_eq(rt_hist_min(h), 0u);
	cr_expect_eq(rt_hist_max(h), 0u);
	cr_expect_eq(rt_hist_mean(h), 0.0);
	rt_hist_destroy(h);
}

Test(rt_hist, reset_forgets_and_keeps_memory)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	uint64_t *counts = h->counts;
	size_t len = h->counts_len;
	for (int i = 1; i < 100000; i++)
		rt_hist_record(h, (uint64_t)i * 1000);
	rt_hist_record(h, HOUR_NS + 1);
	rt_hist_reset(h);
	cr_expect_eq(rt_hist_count(h), 0u);
	cr_expect_eq(h->overflow, 0u);
	cr_expect_eq(rt_hist_percentile(h, 99), 0u);
	cr_expect_eq(h->counts, counts);
	cr_expect_eq(h->counts_len, len);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(h->counts[i], 0u);
	rt_hist_record(h, 42);
	cr_expect_eq(rt_hist_percentile(h, 50), 42u);
	rt_hist_destroy(h);
}

Test(rt_hist, memory_is_bounded)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	cr_expect_lt(h->counts_len * sizeof(uint64_t), 300u * 1024);
	rt_hist_destroy(h);
	h = rt_hist_create(HOUR_NS, 2);
	cr_expect_lt(h->counts_len * sizeof(uint64_t), 40u * 1024);
	rt_hist_destroy(h);
}

Test(rt_hist, merge_equals_recording_into_one)
{
	struct rt_hist *a = rt_hist_create(HOUR_NS, 3), *b = rt_hist_create(HOUR_NS, 3);
	struct rt_hist *all = rt_hist_create(HOUR_NS, 3);
	for (int i = 0; i < 50000; i++) {
		uint64_t x = 1 + rng() % 100000000, y = 1000 + rng() % 1000;
		rt_hist_record(a, x);
		rt_hist_record(b, y);
		rt_hist_record(all, x);
		rt_hist_record(all, y);
	}
	rt_hist_record(b, UINT64_MAX);
	cr_expect_eq(rt_hist_merge(a, b), 0);
	cr_expect_eq(rt_hist_count(a), rt_hist_count(all));
	cr_expect_eq(rt_hist_min(a), rt_hist_min(all));
	cr_expect_eq(rt_hist_max(a), rt_hist_max(all));
	cr_expect_eq(a->overflow, 1u);
	cr_expect_eq(memcmp(a->counts, all->counts, a->counts_len * sizeof(uint64_t)), 0);
	for (double p = 1; p < 100; p += 7.3)
		cr_expect_eq(rt_hist_percentile(a, p), rt_hist_percentile(all, p), "p%g", p);
	rt_hist_destroy(a);
	rt_hist_destroy(b);
	rt_hist_destroy(all);
}

Test(rt_hist, merge_across_precisions_and_ranges)
{
	struct rt_hist *fine = rt_hist_create(HOUR_NS, 3), *coarse = rt_hist_create(1000000, 1);
	for (uint64_t v = 1; v <= 10000; v++)
		rt_hist_record(fine, v * 100);
	/* coarse tracks up to 1 ms, so 100 ns .. 1 ms all fit. */
	cr_expect_eq(rt_hist_merge(coarse, fine), 0);
	cr_expect_eq(rt_hist_count(coarse), 10000u);
	cr_expect_eq(coarse->overflow, 0u);
	cr_expect_eq(rt_hist_min(coarse), 100u);
	cr_expect_eq(rt_hist_max(coarse), 1000000u);
	/* A value above coarse's range is refused and counted; the rest still merge. */
	rt_hist_record(fine, 2000000);
	struct rt_hist *c2 = rt_hist_create(1000000, 1);
	cr_expect_eq(rt_hist_merge(c2, fine), -ERANGE);
	cr_expect_eq(rt_hist_count(c2), 10000u);
	cr_expect_eq(c2->overflow, 1u);
	uint64_t p50 = rt_hist_percentile(c2, 50);
	cr_expect(p50 >= 450000 && p50 <= 550000, "p50 %llu", (unsigned long long)p50);
	/* The other way round the precision is the coarse one's, and nothing is lost. */
	struct rt_hist *f2 = rt_hist_create(HOUR_NS, 3);
	cr_expect_eq(rt_hist_merge(f2, coarse), 0);
	cr_expect_eq(rt_hist_count(f2), 10000u);
	cr_expect_eq(rt_hist_min(f2), 100u);
	cr_expect_eq(rt_hist_max(f2), 1000000u);
	rt_hist_destroy(fine);
	rt_hist_destroy(coarse);
	rt_hist_destroy(c2);
	rt_hist_destroy(f2);
}

Test(rt_hist, coordinated_omission_correction)
{
	struct rt_hist *raw = rt_hist_create(HOUR_NS, 3), *cor = rt_hist_create(HOUR_NS, 3);
	/* A generator meant to send every 1 ms; 99 replies in 100 us, then one stalled for 100 ms. */
	for (int i = 0; i < 99; i++) {
		rt_hist_record_corrected(cor, 100000, 1000000);
		rt_hist_record(raw, 100000);
	}
	cr_expect_eq(rt_hist_record_corrected(cor, 100000000, 1000000), 0);
	rt_hist_record(raw, 100000000);
	/* The stall hid 99 sends, whose latencies would have been 99 ms, 98 ms, ... 1 ms. */
	cr_expect_eq(rt_hist_count(raw), 100u);
	cr_expect_eq(rt_hist_count(cor), 199u);
	uint64_t raw_p75 = rt_hist_percentile(raw, 75), cor_p75 = rt_hist_percentile(cor, 75);
	cr_expect_lt(raw_p75, 101000u);
	/* Rank ceil(0.75 * 199) = 150: the 51st of the corrected values 1..99 ms, i.e. 51 ms. */
	cr_expect(cor_p75 >= 51000000 && cor_p75 <= 51000000 + 51000, "p75 %llu",
		  (unsigned long long)cor_p75);
	cr_expect_eq(rt_hist_min(cor), 100000u);
	cr_expect_eq(rt_hist_max(cor), 100000000u);
	/* No correction below the interval, or with interval 0. */
	struct rt_hist *h = rt_hist_create(HOUR_NS, 2);
	rt_hist_record_corrected(h, 500, 1000);
	rt_hist_record_corrected(h, 5000, 0);
	rt_hist_record_corrected(h, 3000, 1000); /* 3000, 2000, 1000 */
	cr_expect_eq(rt_hist_count(h), 5u);
	cr_expect_eq(rt_hist_record_corrected(h, HOUR_NS + 1, 1000), -ERANGE);
	cr_expect_eq(rt_hist_count(h), 5u);
	rt_hist_destroy(raw);
	rt_hist_destroy(cor);
	rt_hist_destroy(h);
}

Test(rt_hist, summary_line)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	for (uint64_t v = 1; v <= 1000; v++)
		rt_hist_record(h, v);
	char s[256];
	rt_hist_summary(h, s, sizeof(s));
	cr_expect_str_eq(s, "n=1000 min=1 p50=500 p90=900 p99=990 p99.9=999 p99.99=1000 max=1000 mean=500.5");
	rt_hist_destroy(h);
}

Test(rt_hist, zero_is_a_value)
{
	struct rt_hist *h = rt_hist_create(HOUR_NS, 3);
	cr_expect_eq(rt_hist_record_n(h, 0, 3), 0);
	cr_expect_eq(rt_hist_record(h, 10), 0);
	cr_expect_eq(rt_hist_count(h), 4u);
	cr_expect_eq(rt_hist_min(h), 0u);
	cr_expect_eq(rt_hist_percentile(h, 75), 0u);
	cr_expect_eq(rt_hist_percentile(h, 76), 10u);
	cr_expect(fabs(rt_hist_mean(h) - 2.5) < 1e-9);
	struct rt_hist *g = rt_hist_create(1000, 1);
	cr_expect_eq(rt_hist_merge(g, h), 0);
	cr_expect_eq(rt_hist_count(g), 4u);
	cr_expect_eq(rt_hist_min(g), 0u);
	cr_expect_eq(rt_hist_percentile(g, 50), 0u);
	rt_hist_destroy(g);
	rt_hist_destroy(h);
}
