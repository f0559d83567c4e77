/*
 * perf/bench_pagecache.c: what one page of the page cache costs to write into, by the page's
 * state, measured on this machine in the same run as the broker's produce (perf/broker_bench.sh).
 *
 * Why.  A buffered append (acks=1 is acknowledged once its batch is in the page cache) writes
 * every byte into a page the page cache did not hold before.  In a VM that hands freed memory
 * back to its host (virtio-balloon free page reporting), such a page is, a few seconds after it
 * was freed, a host page fault the first time the guest writes it; the guest counts the wait as
 * the writing thread's CPU time, inside the copy (`copy_folio_from_iter_atomic`).  On the
 * development VM that made a new page cost about ten times a page already cached, and it, not
 * the broker, is what bounds a long flat-out produce there (perf/README.md, "What bounds produce").
 * This measures the three states so that the bound is a figure of the run, not a claim:
 *   - new:    1 MiB pwrites appending MB MiB to a new file in DIR: pages never cached (the
 *             memory they come from is in whatever state the machine left it; the caller waits
 *             a few seconds after any large free first, so that it is the host's again);
 *   - cached: the same file written over again: the copy and the page cache's own per-page
 *             work, with no page allocated;
 *   - freed:  the file deleted, then MB MiB appended to a second new file at once: new page-cache
 *             pages taken from the memory just freed, before it goes back to the host.
 * One thread, its own CPU time (CLOCK_THREAD_CPUTIME_ID), one line each:
 *   "pagecache_<state> us_per_page=... cpu_s_per_gb=... mb_per_s=..."
 * (a page is 4 KiB; GB is 1e9 bytes).  The files are removed before it exits.
 *
 *   bench_pagecache DIR [MB]      (default 512)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static double now(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes `bytes` from buf to fd from offset 0 in CHUNK pwrites and prints the state's line.
 * 0, or -1 on a failed or short write (reported). */
static int pass(const char *state, int fd, const char *buf, size_t bytes)
{
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
	for (size_t off = 0; off < bytes; off += CHUNK)
		if (pwrite(fd, buf, CHUNK, (off_t)off) != (ssize_t)CHUNK) {
			perror("bench_pagecache: pwrite");
			return -1;
		}
	double cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0, wall = now(CLOCK_MONOTONIC) - w0;
	printf("pagecache_%s us_per_page=%.2f cpu_s_per_gb=%.3f mb_per_s=%.0f\n", state,
	       cpu / ((double)bytes / 4096) * 1e6, cpu / ((double)bytes / 1e9), (double)bytes / wall / 1e6);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_pagecache DIR [MB]\n");
		return 2;
	}
	size_t bytes = (size_t)(argc > 2 ? atol(argv[2]) : 512) * CHUNK;
	if (!bytes) return 2;
	char *buf = malloc(CHUNK);   /* owned here; written once so that its own pages are resident */
	char p1[4096], p2[4096];
	snprintf(p1, sizeof(p1), "%s/bench_pagecache.1.tmp", argv[1]);
	snprintf(p2, sizeof(p2), "%s/bench_pagecache.2.tmp", argv[1]);
	if (!buf) return 1;
	memset(buf, 'p', CHUNK);
	int fd = open(p1, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0) {
		perror(p1);
		return 1;
	}
	int rc = pass("new", fd, buf, bytes) || pass("cached", fd, buf, bytes);
	close(fd);
	unlink(p1);
	if (!rc) {
		fd = open(p2, O_CREAT | O_TRUNC | O_WRONLY, 0644);
		if (fd < 0) {
			perror(p2);
			rc = 1;
		} else {
			rc = pass("freed", fd, buf, bytes);
			close(fd);
			unlink(p2);
		}
	}
	free(buf);
	return rc ? 1 : 0;
}
