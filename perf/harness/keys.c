/*
 * perf/harness/keys.c: key distributions (see keys.h).
 *
 * zipf uses a table of cumulative weights and a binary search: exact for any exponent, O(log n)
 * per key, 8 bytes per key (bounded by PERF_ZIPF_MAX_KEYS).
 */
#include "perf/harness/keys.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static uint64_t next_u64(struct perf_keygen *g)
{
	uint64_t x = g->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	g->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

double perf_keygen_uniform(struct perf_keygen *g)
{
	return (double)(next_u64(g) >> 11) * (1.0 / 9007199254740992.0);
}

int perf_keygen_init(struct perf_keygen *g, enum perf_keydist dist, uint32_t n, double zipf_s, uint64_t seed)
{
	g->dist = dist;
	g->n = n;
	g->rng = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	if (g->rng == 0)
		g->rng = 1;
	g->next_seq = 0;
	g->cdf = NULL;
	if (dist == PERF_KEYS_NONE)
		return 0;
	if (n == 0)
		return -EINVAL;
	if (dist == PERF_KEYS_ZIPF) {
		g->cdf = malloc(sizeof(double) * n);
		if (!g->cdf)
			return -ENOMEM;
		double sum = 0;
		for (uint32_t i = 0; i < n; i++) {
			sum += 1.0 / pow((double)(i + 1), zipf_s);
			g->cdf[i] = sum;
		}
		for (uint32_t i = 0; i < n; i++)
			g->cdf[i] /= sum;
	}
	return 0;
}

void perf_keygen_fini(struct perf_keygen *g)
{
	free(g->cdf);
	g->cdf = NULL;
}

uint32_t perf_keygen_next(struct perf_keygen *g)
{
	switch (g->dist) {
	case PERF_KEYS_NONE:
		return UINT32_MAX;
	case PERF_KEYS_SEQ:
		return (uint32_t)(g->next_seq++ % g->n);
	case PERF_KEYS_UNIFORM:
		/* Multiply-shift: unbiased enough for n far below 2^32 and free of division. */
		return (uint32_t)(((next_u64(g) >> 32) * (uint64_t)g->n) >> 32);
	case PERF_KEYS_ZIPF: {
		double u = perf_keygen_uniform(g);
		uint32_t lo = 0, hi = g->n - 1;
		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (g->cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo;
	}
	}
	return UINT32_MAX;
}

void perf_key_format(uint32_t k, uint8_t out[PERF_KEY_LEN])
{
	for (int i = PERF_KEY_LEN - 1; i >= 0; i--) {
		out[i] = (uint8_t)('0' + k % 10);
		k /= 10;
	}
}

int32_t perf_murmur2(const uint8_t *data, size_t len)
{
	const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
	const int r = 24;
	uint32_t h = seed ^ (uint32_t)len;
	size_t n4 = len / 4;
	for (size_t i = 0; i < n4; i++) {
		const uint8_t *p = data + i * 4;
		uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	const uint8_t *t = data + n4 * 4;
	switch (len & 3) {
	case 3: h ^= (uint32_t)t[2] << 16; /* fall through */
	case 2: h ^= (uint32_t)t[1] << 8;  /* fall through */
	case 1: h ^= t[0]; h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)h;
}

int32_t perf_partition_for_key(const uint8_t *key, size_t len, int32_t partitions)
{
	return (int32_t)(((uint32_t)perf_murmur2(key, len) & 0x7fffffff) % (uint32_t)partitions);
}
