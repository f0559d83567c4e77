/*
 * base/lat_trace.c: the histograms behind base/lat_trace.h (built only with -Dlat_trace=true).
 * One set for the process, created on first use, guarded by a mutex: a diagnostic build trades
 * a little contention for not touching every shard's structures.
 */
#include "base/lat_trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/hist.h"

static const char *const names[RT_LT_NSTAGES] = {
	"recv -> handler", "handler -> owner", "owner -> write CQE", "write CQE -> round issue",
	"write CQE -> done", "done -> back", "back -> sent", "total recv -> sent", "sync round", "sync round w/ zeros", "zero chunk",
};
static struct rt_hist *hists[RT_LT_NSTAGES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* RINGTAIL_LT_ROWS: the rows, kept in memory (a file write per row would cost the shards more
 * than what they measure) up to ROWS_MAX (about 64 s at 10,000 records/s; later ones are
 * counted, not kept). */
#define ROWS_MAX (1u << 20)
struct row {
	char kind;
	int32_t corr, part;
	uint64_t conn;
	uint64_t t[RT_LT_ROW_STAMPS];
};
static struct row *rows;
static size_t nrows, rows_dropped;
static int rows_on = -1;         /* -1: the environment not read yet */

uint64_t rt_lt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rt_lt_record(enum rt_lt_stage st, uint64_t from, uint64_t to)
{
	if (!from || !to || to < from)
		return;
	pthread_mutex_lock(&mu);
	if (!hists[st])
		hists[st] = rt_hist_create(60000000000ull, 3);
	if (hists[st])
		rt_hist_record(hists[st], to - from);
	pthread_mutex_unlock(&mu);
}

void rt_lt_row(char kind, uint64_t conn, int32_t corr, int32_t part, const uint64_t *t, int nt)
{
	pthread_mutex_lock(&mu);
	if (rows_on < 0)
		rows_on = getenv("RINGTAIL_LT_ROWS") != NULL;
	if (rows_on && !rows && !(rows = calloc(ROWS_MAX, sizeof *rows)))
		rows_on = 0;
	if (rows_on && nrows < ROWS_MAX) {
		struct row *r = &rows[nrows++];
		r->kind = kind;
		r->conn = conn;
		r->corr = corr;
		r->part = part;
		memset(r->t, 0, sizeof r->t);
		memcpy(r->t, t, sizeof(uint64_t) * (size_t)(nt < RT_LT_ROW_STAMPS ? nt : RT_LT_ROW_STAMPS));
	} else if (rows_on) {
		rows_dropped++;
	}
	pthread_mutex_unlock(&mu);
}

static void rows_write(void)
{
	const char *path = getenv("RINGTAIL_LT_ROWS");
	FILE *f = path && rows ? fopen(path, "w") : NULL;
	if (path && rows && !f)
		fprintf(stderr, "lat_trace: RINGTAIL_LT_ROWS=%s: cannot write it\n", path);
	for (size_t i = 0; f && i < nrows; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "%c %llu %d %d", r->kind, (unsigned long long)r->conn, r->corr, r->part);
		for (int k = 0; k < RT_LT_ROW_STAMPS; k++)
			fprintf(f, " %llu", (unsigned long long)r->t[k]);
		fputc('\n', f);
	}
	if (f) {
		fclose(f);
		fprintf(stderr, "lat_trace rows: %zu written to %s, %zu dropped\n", nrows, path, rows_dropped);
	}
	nrows = rows_dropped = 0;
}

void rt_lt_dump(void)
{
	pthread_mutex_lock(&mu);
	rows_write();
	for (int i = 0; i < RT_LT_NSTAGES; i++) {
		struct rt_hist *h = hists[i];
		if (!h || !rt_hist_count(h))
			continue;
		fprintf(stderr, "lat_trace %-26s n=%-8llu p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f us\n",
		        names[i], (unsigned long long)rt_hist_count(h), rt_hist_percentile(h, 50) / 1e3,
		        rt_hist_percentile(h, 90) / 1e3, rt_hist_percentile(h, 99) / 1e3,
		        rt_hist_percentile(h, 99.9) / 1e3, rt_hist_max(h) / 1e3);
		rt_hist_reset(h);
	}
	pthread_mutex_unlock(&mu);
}
