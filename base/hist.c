/*
 * base/hist.c: the log-linear histogram of base/hist.h.
 *
 * Index layout.  With H = sub_half: values 0..2H-1 map to slots 0..2H-1 one to one (bucket 0).
 * Bucket b >= 1 covers [H << b, 2H << b) in H slots of width 1 << b, at slots
 * (b + 1) * H .. (b + 2) * H - 1.  Hence slot = ((b + 1) << mag) + (v >> b) - H, where b is how
 * far v's top bit lies above bit 2H-1's, and every slot's lowest value is (sub << b).
 * A slot's width over its lowest value is at most 1/H <= 1/10^digits, the stated precision.
 */
#include "base/hist.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bucket_of(const struct rt_hist *h, uint64_t v)
{
	int top = 64 - __builtin_clzll(v | h->sub_mask); /* bits needed, at least mag + 1 */
	return top - (h->sub_half_mag + 1);
}

static size_t slot_of(const struct rt_hist *h, uint64_t v)
{
	int b = bucket_of(h, v);
	return ((size_t)(b + 1) << h->sub_half_mag) + (size_t)(v >> b) - (size_t)h->sub_half;
}

static uint64_t slot_lowest(const struct rt_hist *h, size_t i)
{
	int b = (int)(i >> h->sub_half_mag) - 1;
	uint64_t sub = (i & (h->sub_half - 1)) + h->sub_half;
	if (b < 0) {
		sub -= h->sub_half;
		b = 0;
	}
	return sub << b;
}

uint64_t rt_hist_bucket_width(const struct rt_hist *h, uint64_t value)
{
	return 1ull << bucket_of(h, value);
}

static uint64_t slot_highest(const struct rt_hist *h, size_t i)
{
	uint64_t lo = slot_lowest(h, i);
	return lo + rt_hist_bucket_width(h, lo) - 1;
}

struct rt_hist *rt_hist_create(uint64_t highest, int digits)
{
	if (digits < 1 || digits > 3 || highest < 2 || highest > (1ull << 62))
		return NULL;
	uint64_t single_unit = 2;
	for (int i = 0; i < digits; i++)
		single_unit *= 10;
	int mag = 0; /* ceil(log2(2 * 10^digits)) */
	while ((1ull << mag) < single_unit)
		mag++;

	struct rt_hist *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->highest = highest;
	h->digits = digits;
	h->sub_half_mag = mag - 1;
	h->sub_half = 1ull << (mag - 1);
	h->sub_mask = (1ull << mag) - 1;

	/* Buckets until the first value not trackable exceeds highest. */
	int buckets = 1;
	uint64_t limit = 1ull << mag;
	while (limit <= highest) {
		limit <<= 1;
		buckets++;
	}
	h->counts_len = (size_t)(buckets + 1) * h->sub_half;
	h->counts = calloc(h->counts_len, sizeof(uint64_t));
	if (!h->counts) {
		free(h);
		return NULL;
	}
	rt_hist_reset(h);
	return h;
}

void rt_hist_destroy(struct rt_hist *h)
{
	if (!h)
		return;
	free(h->counts);
	free(h);
}

void rt_hist_reset(struct rt_hist *h)
{
	memset(h->counts, 0, h->counts_len * sizeof(uint64_t));
	h->total = 0;
	h->overflow = 0;
	h->min = UINT64_MAX;
	h->max = 0;
}

int rt_hist_record_n(struct rt_hist *h, uint64_t value, uint64_t count)
{
	if (value > h->highest) {
		h->overflow += count;
		return -ERANGE;
	}
	if (count == 0)
		return 0;
	size_t i = slot_of(h, value);
	h->counts[i] += count;
	h->total += count;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
	return 0;
}

int rt_hist_record_corrected(struct rt_hist *h, uint64_t value, uint64_t expected_interval)
{
	int rc = rt_hist_record(h, value);
	if (rc || expected_interval == 0 || value <= expected_interval)
		return rc;
	for (uint64_t missing = value - expected_interval; missing >= expected_interval;
	     missing -= expected_interval)
		rt_hist_record(h, missing);
	return 0;
}

int rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src)
{
	int rc = 0;
	dst->overflow += src->overflow;
	if (src->total == 0)
		return 0;
	if (dst->sub_half_mag == src->sub_half_mag && dst->counts_len >= src->counts_len &&
	    src->max <= dst->highest) {
		for (size_t i = 0; i < src->counts_len; i++)
			dst->counts[i] += src->counts[i];
		dst->total += src->total;
		if (src->min < dst->min)
			dst->min = src->min;
		if (src->max > dst->max)
			dst->max = src->max;
		return 0;
	}
	/* Different layouts: re-record each slot at its lowest value, keeping min and max exact. */
	uint64_t dmin = dst->min, dmax = dst->max;
	for (size_t i = 0; i < src->counts_len; i++) {
		if (!src->counts[i])
			continue;
		uint64_t v = slot_lowest(src, i);
		if (v < src->min)
			v = src->min;
		if (rt_hist_record_n(dst, v, src->counts[i]))
			rc = -ERANGE;
	}
	if (src->min <= dst->highest)
		dst->min = src->min < dmin ? src->min : dmin;
	if (src->max <= dst->highest)
		dst->max = src->max > dmax ? src->max : dmax;
	return rc;
}

uint64_t rt_hist_percentile(const struct rt_hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (!(p > 0))
		return h->min;
	if (p >= 100)
		return h->max;
	/* The rank of the value at p: ceil(p% of total), at least 1. */
	/* Snap to an integer rank first: 99.9% of 1000 is 999.0000000000001 in doubles. */
	double x = p / 100.0 * (double)h->total;
	double r = nearbyint(x);
	uint64_t want = (uint64_t)(fabs(x - r) <= 1e-9 * (x > 1 ? x : 1) ? r : ceil(x));
	if (want < 1)
		want = 1;
	if (want > h->total)
		want = h->total;
	uint64_t seen = 0;
	for (size_t i = 0; i < h->counts_len; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			uint64_t v = slot_highest(h, i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double rt_hist_mean(const struct rt_hist *h)
{
	if (h->total == 0)
		return 0;
	double sum = 0;
	for (size_t i = 0; i < h->counts_len; i++) {
		if (!h->counts[i])
			continue;
		uint64_t lo = slot_lowest(h, i);
		sum += ((double)lo + (double)(rt_hist_bucket_width(h, lo) - 1) / 2.0) * (double)h->counts[i];
	}
	return sum / (double)h->total;
}

int rt_hist_summary(const struct rt_hist *h, char *out, size_t size)
{
	return snprintf(out, size,
			"n=%llu min=%llu p50=%llu p90=%llu p99=%llu p99.9=%llu p99.99=%llu max=%llu mean=%.1f",
			(unsigned long long)h->total, (unsigned long long)rt_hist_min(h),
			(unsigned long long)rt_hist_percentile(h, 50),
			(unsigned long long)rt_hist_percentile(h, 90),
			(unsigned long long)rt_hist_percentile(h, 99),
			(unsigned long long)rt_hist_percentile(h, 99.9),
			(unsigned long long)rt_hist_percentile(h, 99.99),
			(unsigned long long)rt_hist_max(h), rt_hist_mean(h));
}
