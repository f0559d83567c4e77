/*
 * perf/harness/ledger.c: the consumption ledger (ledger.h).
 *
 * The tally is one sweep over the ranges sorted by start: `reach` is the furthest offset
 * covered so far, so a range starting below it overlaps by min(to, reach) - from (duplicates),
 * and one starting above it leaves [reach, from) unread.  Only the part of a hole inside
 * [start, end) is a gap: a group may start after the log start (committed or latest offsets).
 */
#include "perf/harness/ledger.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

int perf_ledger_init(struct perf_ledger *l, int32_t nparts)
{
	l->nparts = nparts;
	l->parts = calloc(nparts > 0 ? (size_t)nparts : 1, sizeof(*l->parts));
	return l->parts ? 0 : -ENOMEM;
}

void perf_ledger_fini(struct perf_ledger *l)
{
	for (int32_t i = 0; l->parts && i < l->nparts; i++)
		free(l->parts[i].iv);
	free(l->parts);
	l->parts = NULL;
	l->nparts = 0;
}

int perf_ledger_add(struct perf_ledger *l, int32_t part, int64_t from, int64_t to)
{
	if (part < 0 || part >= l->nparts || to < from)
		return -EINVAL;
	if (to == from)
		return 0;
	struct perf_ledger_part *p = &l->parts[part];
	if (p->n && p->iv[p->n - 1][1] == from) {
		p->iv[p->n - 1][1] = to;
		return 0;
	}
	if (p->n == p->cap) {
		int32_t cap = p->cap ? p->cap * 2 : 4;
		void *iv = realloc(p->iv, sizeof(*p->iv) * (size_t)cap);
		if (!iv)
			return -ENOMEM;
		p->iv = iv;
		p->cap = cap;
	}
	p->iv[p->n][0] = from;
	p->iv[p->n][1] = to;
	p->n++;
	return 0;
}

static int cmp_iv(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Length of [a, b) inside [lo, hi). */
static int64_t inside(int64_t a, int64_t b, int64_t lo, int64_t hi)
{
	if (a < lo)
		a = lo;
	if (b > hi)
		b = hi;
	return b > a ? b - a : 0;
}

void perf_ledger_tally(struct perf_ledger *l, int32_t part, int64_t start, int64_t end,
                       int64_t *dup, int64_t *gap, int64_t *hi)
{
	*dup = *gap = 0;
	*hi = start;
	if (part < 0 || part >= l->nparts) {
		*gap = end > start ? end - start : 0;
		return;
	}
	struct perf_ledger_part *p = &l->parts[part];
	if (p->n > 1)
		qsort(p->iv, (size_t)p->n, sizeof(*p->iv), cmp_iv);
	bool any = false;
	int64_t reach = start;
	for (int32_t i = 0; i < p->n; i++) {
		int64_t from = p->iv[i][0], to = p->iv[i][1];
		if (any && from < reach)
			*dup += (to < reach ? to : reach) - from;
		if (from > reach)
			*gap += inside(reach, from, start, end);
		if (!any || to > reach)
			reach = to;
		any = true;
		if (to > *hi)
			*hi = to;
	}
	*gap += inside(reach, end, start, end);
}
