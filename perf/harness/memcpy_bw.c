/*
 * perf/harness/memcpy_bw.c: perf-memcpy, the memory-copy limit for the report.
 *
 * Copies a buffer of each size again and again for about `seconds` and prints one JSON object:
 * {"memcpy": [{"bytes": N, "gb_per_s": X}, ...]} with GB = 10^9 bytes copied (read once and
 * written once).  A broker cannot move bytes through user space faster than this; a zero-copy
 * path can beat it, which the report then shows as a ratio above 1.
 *
 * usage: perf-memcpy [seconds-per-size (0.5)] [size ...]   (default sizes 64 KiB, 256 MiB)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	size_t defaults[] = {64 << 10, 256 << 20};
	size_t nsizes = argc > 2 ? (size_t)(argc - 2) : 2;
	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "perf-memcpy: seconds must be in (0, 60]\n");
		return 2;
	}
	printf("{\"memcpy\": [");
	for (size_t i = 0; i < nsizes; i++) {
		size_t n = argc > 2 ? strtoull(argv[i + 2], NULL, 10) : defaults[i];
		if (n == 0 || n > ((size_t)4 << 30)) {
			fprintf(stderr, "perf-memcpy: size '%s' must be 1..4 GiB\n", argv[i + 2]);
			return 2;
		}
		uint8_t *a = malloc(n), *b = malloc(n);
		if (!a || !b) {
			fprintf(stderr, "perf-memcpy: no memory for %zu bytes\n", n);
			return 1;
		}
		memset(a, 1, n);
		memset(b, 2, n);
		uint64_t start = rt_clock_ns(), now = start, copied = 0;
		const uint64_t limit = (uint64_t)(secs * 1e9);
		while (now - start < limit) {
			memcpy(b, a, n);
			a[copied % n] ^= b[(copied / 7) % n]; /* keep the copies observable */
			copied += n;
			now = rt_clock_ns();
		}
		printf("%s{\"bytes\": %zu, \"gb_per_s\": %.3f}", i ? ", " : "", n,
		       (double)copied / ((double)(now - start) / 1e9) / 1e9);
		free(a);
		free(b);
	}
	printf("]}\n");
	return 0;
}
