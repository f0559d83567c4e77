/*
 * perf/bench_crc32c.c: CRC32C throughput on 64 KiB buffers against memcpy measured in the same
 * run, so the figure is a ratio to what this machine's memory path can do right now.
 *
 * Each measurement warms up, then runs several repetitions of a fixed byte count and keeps the
 * best and the median (the best is the least disturbed by the other tenants of a shared box).
 * Usage: bench_crc32c [repetitions] [MiB per repetition]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crc32c.h"

#define BUF_LEN (64 * 1024)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum kind { K_CRC_HW, K_CRC_SW, K_MEMCPY };

/* Keeps results observable so the compiler cannot drop the work. */
static volatile uint32_t sink;

static double run_once(enum kind k, uint8_t *src, uint8_t *dst, size_t iters)
{
	uint32_t crc = 0;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < iters; i++) {
		switch (k) {
		case K_CRC_HW: crc = rt_crc32c(crc, src, BUF_LEN); break;
		case K_CRC_SW: crc = rt_crc32c_sw(crc, src, BUF_LEN); break;
		case K_MEMCPY:
			memcpy(dst, src, BUF_LEN);
			/* A compiler barrier: the copy must happen every time. */
			__asm__ volatile("" : : "r"(dst) : "memory");
			crc ^= dst[i & (BUF_LEN - 1)];
			break;
		}
	}
	uint64_t t1 = now_ns();
	sink = crc;
	return (double)iters * BUF_LEN / (double)(t1 - t0); /* bytes per ns == GB/s */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct result { double best, median; };

static struct result measure(enum kind k, uint8_t *src, uint8_t *dst, size_t iters, int reps)
{
	double v[64];
	run_once(k, src, dst, iters / 4 + 1); /* warm-up: caches, TLB, frequency */
	for (int r = 0; r < reps; r++)
		v[r] = run_once(k, src, dst, iters);
	qsort(v, (size_t)reps, sizeof(v[0]), cmp_double);
	return (struct result){ v[reps - 1], v[reps / 2] };
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	long mib = argc > 2 ? atol(argv[2]) : 512;
	if (reps < 1 || reps > 64 || mib < 1) {
		fprintf(stderr, "usage: %s [repetitions 1..64] [MiB per repetition]\n", argv[0]);
		return 2;
	}
	size_t iters = (size_t)mib * 1024 * 1024 / BUF_LEN;

	uint8_t *src = aligned_alloc(64, BUF_LEN), *dst = aligned_alloc(64, BUF_LEN);
	if (!src || !dst)
		return 1;
	for (size_t i = 0; i < BUF_LEN; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	memset(dst, 0, BUF_LEN);

	struct result mc = measure(K_MEMCPY, src, dst, iters, reps);
	struct result hw = measure(K_CRC_HW, src, dst, iters, reps);
	/* The table-driven path is ~10x slower; give it fewer bytes to keep the run short. */
	struct result sw = measure(K_CRC_SW, src, dst, iters / 8 + 1, reps);

	printf("bench_crc32c: 64 KiB buffers, %d repetitions of %ld MiB (sw: %ld MiB), best / median GB/s\n",
	       reps, mib, mib / 8);
	printf("memcpy            %6.2f / %6.2f\n", mc.best, mc.median);
	printf("crc32c %-10s %6.2f / %6.2f   ratio to memcpy %.2f (median %.2f)\n", rt_crc32c_impl(),
	       hw.best, hw.median, hw.best / mc.best, hw.median / mc.median);
	printf("crc32c sw         %6.2f / %6.2f   ratio to memcpy %.2f (median %.2f)\n", sw.best,
	       sw.median, sw.best / mc.best, sw.median / mc.median);
	free(src);
	free(dst);
	return 0;
}
