/*
 * perf/bench_batch_validate.c: how fast a Produce record set is validated, against memcpy of the
 * same bytes measured in the same run.
 *
 * The record set is one batch of 1 MiB of 1 KiB records (JSON-like values with varying digits,
 * so zstd compresses them about as much as real event data).  Measured, in GB/s of the batch's
 * bytes as it arrives (for zstd also of its uncompressed records):
 *   memcpy                       copying the 1 MiB batch (the limit)
 *   validate                     framing + CRC-32C, no record walk
 *   validate + check_records     framing + CRC + every record parsed
 *   zstd validate + check        the same batch zstd-compressed: CRC, decompression, records
 *   libzstd alone                ZSTD_decompressDCtx of that payload into a ready buffer: the
 *                                limit for the zstd path, as memcpy is for the plain one
 * Each measurement warms up, then runs several repetitions and keeps the best and the median,
 * timed in thread CPU time (see now_ns).
 * Usage: bench_batch_validate [repetitions] [MiB per repetition]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "base/arena.h"
#include "base/crc32c.h"
#include "proto/batch.h"

/* The thread's CPU time: on a shared 2-core box other tenants' load would otherwise decide the
 * figures; memcpy, the limit, is measured the same way. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile int64_t sink;

struct job {
	const uint8_t *batch;
	size_t size;
	uint8_t *dst;             /* memcpy only */
	struct kp_validate_opts o;
	struct rt_arena *arena;
	bool copy;
	bool zstd_only;           /* libzstd on the records payload, into dst */
	size_t dst_cap;
};

static ZSTD_DCtx *dctx;

/* Returns GB/s of batch bytes. */
static double run_once(const struct job *j, size_t iters)
{
	int64_t acc = 0;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < iters; i++) {
		if (j->zstd_only) {
			size_t r = ZSTD_decompressDCtx(dctx, j->dst, j->dst_cap, j->batch + KP_BATCH_HEADER_SIZE,
			                               j->size - KP_BATCH_HEADER_SIZE);
			if (ZSTD_isError(r)) exit(1);
			acc += (int64_t)r;
		} else if (j->copy) {
			memcpy(j->dst, j->batch, j->size);
			__asm__ volatile("" : : "r"(j->dst) : "memory");
			acc += j->dst[i & 1023];
		} else {
			struct kp_records_info info;
			if (kp_records_validate(j->batch, j->size, &j->o, j->arena, &info, NULL)) {
				fprintf(stderr, "bench_batch_validate: validation failed\n");
				exit(1);
			}
			acc += info.records;
			rt_arena_reset(j->arena);
		}
	}
	uint64_t t1 = now_ns();
	sink = acc;
	return (double)iters * (double)j->size / (double)(t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct result { double best, median; };

static struct result measure(const struct job *j, size_t iters, int reps)
{
	double v[64];
	run_once(j, iters / 4 + 1);
	for (int r = 0; r < reps; r++) v[r] = run_once(j, iters);
	qsort(v, (size_t)reps, sizeof(v[0]), cmp_double);
	return (struct result){v[reps - 1], v[reps / 2]};
}

/* 1 MiB of records with 1 KiB values. */
static const uint8_t *make_batch(struct kp_batch_builder *b, enum kp_compression c, size_t *size, size_t *records_bytes)
{
	kp_batch_builder_init(b, c, 0, 1000, 0, 0);
	char val[1024];
	uint32_t x = 1;
	int i = 0;
	while (b->recs.len < (1u << 20) - 1100) {
		size_t n = 0;
		while (n < sizeof(val) - 64) {
			x = x * 1103515245u + 12345u;
			n += (size_t)snprintf(val + n, sizeof(val) - n, "{\"id\":%u,\"t\":%d,\"v\":\"%08x\"},",
			                      x >> 8, i, x);
		}
		memset(val + n, ' ', sizeof(val) - n);
		char key[16];
		snprintf(key, sizeof(key), "user-%08d", i % 5000);
		if (kp_batch_builder_add(b, 1700000000000 + i, key, 13, val, sizeof(val), NULL, 0)) exit(1);
		i++;
	}
	*records_bytes = b->recs.len;
	return kp_batch_builder_finish(b, size);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	long mib = argc > 2 ? atol(argv[2]) : 256;
	if (reps < 1 || reps > 64 || mib < 1) {
		fprintf(stderr, "usage: %s [repetitions 1..64] [MiB per repetition]\n", argv[0]);
		return 2;
	}
	struct kp_batch_builder plain, zstd;
	size_t psize, zsize, precs, zrecs;
	const uint8_t *pb = make_batch(&plain, KP_COMPRESSION_NONE, &psize, &precs);
	const uint8_t *zb = make_batch(&zstd, KP_COMPRESSION_ZSTD, &zsize, &zrecs);
	if (!pb || !zb) return 1;
	uint8_t *dst = aligned_alloc(64, (psize + 63) / 64 * 64);
	dctx = ZSTD_createDCtx();
	/* Two scratch arenas: the default 16 KiB chunks, where each decompressed batch is a one-off
	 * chunk that rt_arena_reset frees (so every batch pays fresh pages), and 4 MiB chunks, whose
	 * head chunk survives the reset and is reused. */
	struct rt_arena arena, big;
	rt_arena_init(&arena, 0, 0);
	rt_arena_init(&big, 4 << 20, 0);
	size_t iters = (size_t)mib * 1024 * 1024 / psize + 1;

	struct job copy = {.batch = pb, .size = psize, .dst = dst, .copy = true};
	struct job crc_only = {.batch = pb, .size = psize, .arena = &arena,
	                       .o = {.max_batch_bytes = 8 << 20, .max_decompressed = 64 << 20}};
	struct job full = crc_only;
	full.o.check_records = true;
	struct job zfull = full;
	zfull.batch = zb;
	zfull.size = zsize;

	struct result mc = measure(&copy, iters, reps);
	struct result v0 = measure(&crc_only, iters, reps);
	struct result v1 = measure(&full, iters, reps);
	/* Decompression is ~10x slower per byte; fewer iterations keep the run short. */
	struct result vz = measure(&zfull, iters / 8 + 1, reps);
	struct job zbig = zfull;
	zbig.arena = &big;
	struct result vzb = measure(&zbig, iters / 8 + 1, reps);
	struct job zonly = {.batch = zb, .size = zsize, .dst = dst, .dst_cap = (psize + 63) / 64 * 64, .zstd_only = true};
	struct result lz = measure(&zonly, iters / 8 + 1, reps);
	double zratio = (double)zrecs / (double)(zsize - KP_BATCH_HEADER_SIZE);

	printf("bench_batch_validate: one batch of %zu B (%d records of 1 KiB), crc32c %s, %d repetitions of %ld MiB, best / median GB/s\n",
	       psize, plain.count, rt_crc32c_impl(), reps, mib);
	printf("memcpy                      %6.2f / %6.2f\n", mc.best, mc.median);
	printf("validate (CRC, framing)     %6.2f / %6.2f   ratio to memcpy %.2f (median %.2f)\n",
	       v0.best, v0.median, v0.best / mc.best, v0.median / mc.median);
	printf("validate + check_records    %6.2f / %6.2f   ratio to memcpy %.2f (median %.2f)\n",
	       v1.best, v1.median, v1.best / mc.best, v1.median / mc.median);
	printf("zstd validate + check       %6.2f / %6.2f   of %zu B compressed (%.1fx); %.2f / %.2f GB/s of records, ratio to memcpy %.2f\n",
	       vz.best, vz.median, zsize, zratio, vz.best * (double)(zrecs + KP_BATCH_HEADER_SIZE) / (double)zsize,
	       vz.median * (double)(zrecs + KP_BATCH_HEADER_SIZE) / (double)zsize,
	       vz.best * (double)(zrecs + KP_BATCH_HEADER_SIZE) / (double)zsize / mc.best);
	printf("  same, 4 MiB arena chunks  %6.2f / %6.2f   of compressed; %.2f / %.2f GB/s of records\n",
	       vzb.best, vzb.median, vzb.best * (double)(zrecs + KP_BATCH_HEADER_SIZE) / (double)zsize,
	       vzb.median * (double)(zrecs + KP_BATCH_HEADER_SIZE) / (double)zsize);
	printf("libzstd alone               %6.2f / %6.2f   of compressed; zstd validate + check reaches %.2f of it (%.2f with 4 MiB chunks)\n",
	       lz.best, lz.median, vz.best / lz.best, vzb.best / lz.best);
	ZSTD_freeDCtx(dctx);
	kp_batch_builder_fini(&plain);
	kp_batch_builder_fini(&zstd);
	rt_arena_fini(&arena);
	rt_arena_fini(&big);
	free(dst);
	return 0;
}
