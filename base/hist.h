/*
 * base/hist.h: a log-linear latency histogram with bounded relative error (HdrHistogram's scheme).
 *
 * Values 0..highest (nanoseconds, say) fall in buckets whose width is at most value / 10^digits
 * for `digits` significant decimal digits (1..3): each power-of-two range is split into
 * 2^k linear sub-buckets with 2^k >= 10^digits.  So a percentile is reported within that relative
 * error of the exact one; min and max are kept exactly.  Memory is one counts array allocated at
 * creation (about 270 KiB for 1 hour in ns at 3 digits, 35 KiB at 2 digits) and never grows.
 *
 * Not thread-safe: each shard records into its own histogram and a reader merges copies.
 */
#ifndef RT_HIST_H
#define RT_HIST_H

#include <stddef.h>
#include <stdint.h>

struct rt_hist {
	uint64_t highest;        /* largest value that can be recorded */
	int digits;              /* significant decimal digits, 1..3 */
	int sub_half_mag;        /* log2 of the sub-buckets in the upper half of a bucket */
	uint64_t sub_half;       /* 1 << sub_half_mag */
	uint64_t sub_mask;       /* (2 * sub_half - 1): values below 2*sub_half are exact */
	size_t counts_len;
	uint64_t total;          /* values recorded */
	uint64_t overflow;       /* values rejected for being above `highest` */
	uint64_t min, max;       /* exact; min is UINT64_MAX while empty */
	uint64_t *counts;        /* owned, counts_len entries */
};

/* Returns a new histogram for values 0..highest (highest >= 2) with `digits` (1..3) significant
 * digits, or NULL for bad arguments or no memory.  Free with rt_hist_destroy. */
struct rt_hist *rt_hist_create(uint64_t highest, int digits);
void rt_hist_destroy(struct rt_hist *h);

/* Forgets every value; keeps the memory. */
void rt_hist_reset(struct rt_hist *h);

/* Records value `count` times.  Returns 0, or -ERANGE when value is above `highest`
 * (nothing recorded, h->overflow grows by count).  0 is a value like any other: a
 * coarse clock reads 0 ns for a fast operation, and dropping it would bias percentiles up. */
int rt_hist_record_n(struct rt_hist *h, uint64_t value, uint64_t count);
static inline int rt_hist_record(struct rt_hist *h, uint64_t value) { return rt_hist_record_n(h, value, 1); }

/*
 * Records value and, when it exceeds expected_interval (> 0), also the values a load generator
 * would have seen had it not waited: value - interval, value - 2*interval, ... down to the
 * interval.  This corrects coordinated omission for a generator that sends every
 * expected_interval.  Returns 0 or -ERANGE as rt_hist_record.
 */
int rt_hist_record_corrected(struct rt_hist *h, uint64_t value, uint64_t expected_interval);

/* Adds every value of src into dst (their ranges and precisions may differ).  Returns 0, or
 * -ERANGE when some of src's values lie above dst's range (those are counted in dst->overflow). */
int rt_hist_merge(struct rt_hist *dst, const struct rt_hist *src);

/*
 * The value at percentile p (0..100): the smallest recorded-bucket value v such that at least
 * p% of the values are <= v, reported as the highest value equivalent to that bucket (never
 * above the exact max).  0 when empty.
 */
uint64_t rt_hist_percentile(const struct rt_hist *h, double p);

static inline uint64_t rt_hist_count(const struct rt_hist *h) { return h->total; }
static inline uint64_t rt_hist_min(const struct rt_hist *h) { return h->total ? h->min : 0; }
static inline uint64_t rt_hist_max(const struct rt_hist *h) { return h->max; }

/* Mean of the values, each taken at the middle of its bucket (0 when empty). */
double rt_hist_mean(const struct rt_hist *h);

/* Width of the bucket holding value: values within it are reported alike. */
uint64_t rt_hist_bucket_width(const struct rt_hist *h, uint64_t value);

/* Writes "n=... min=... p50=... p90=... p99=... p99.9=... p99.99=... max=... mean=..." into
 * out (always NUL-terminated); returns what snprintf returns. */
int rt_hist_summary(const struct rt_hist *h, char *out, size_t size);

#endif
