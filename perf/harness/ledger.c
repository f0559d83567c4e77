/*
 * perf/harness/ledger.c: the consumption ledger (ledger.h).
 *
 * The tally is one sweep over the ranges sorted by start: `reach` is the furthest offset
 * covered so far, so a range starting below it overlaps by min(to, reach) - from (redelivered
 * when the range opened a stretch at the latest acknowledged commit, else duplicates), and one
 * starting above it leaves [reach, from) unread.  Only the part of a hole inside [start, end) is
 * a gap: a group may start after the log start (committed or latest offsets).  The hole after the
 * last read is `unread`, kept apart because a run stopped early (--records) leaves it by design.
 */
#include "perf/harness/ledger.h"

#include <errno.h>
#include <stdlib.h>

int perf_ledger_init(struct perf_ledger *l, int32_t nparts)
{
	l->nparts = nparts;
	l->parts = calloc(nparts > 0 ? (size_t)nparts : 1, sizeof(*l->parts));
	if (!l->parts)
		return -ENOMEM;
	for (int32_t i = 0; i < nparts; i++)
		l->parts[i].acked = -1;
	return 0;
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
	if (p->next == PERF_LEDGER_CONTINUES && p->n && p->iv[p->n - 1].to == from) {
		p->iv[p->n - 1].to = to;
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
	p->iv[p->n] = (struct perf_ledger_range){from, to, p->next == PERF_LEDGER_AT_COMMIT};
	p->n++;
	p->next = PERF_LEDGER_CONTINUES;
	return 0;
}

void perf_ledger_committed(struct perf_ledger *l, int32_t part, int64_t offset)
{
	if (part >= 0 && part < l->nparts && offset > l->parts[part].acked)
		l->parts[part].acked = offset;
}

void perf_ledger_resume(struct perf_ledger *l, int32_t part, int64_t offset)
{
	if (part < 0 || part >= l->nparts)
		return;
	struct perf_ledger_part *p = &l->parts[part];
	p->next = offset >= p->acked ? PERF_LEDGER_AT_COMMIT : PERF_LEDGER_BELOW_COMMIT;
}

static int cmp_iv(const void *a, const void *b)
{
	const struct perf_ledger_range *x = a, *y = b;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
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

void perf_ledger_tally(struct perf_ledger *l, int32_t part, int64_t start, int64_t end, struct perf_ledger_count *c)
{
	*c = (struct perf_ledger_count){.hi = start};
	if (part < 0 || part >= l->nparts) {
		c->unread = end > start ? end - start : 0;
		return;
	}
	struct perf_ledger_part *p = &l->parts[part];
	if (p->n > 1)
		qsort(p->iv, (size_t)p->n, sizeof(*p->iv), cmp_iv);
	bool any = false;
	int64_t reach = start;
	for (int32_t i = 0; i < p->n; i++) {
		int64_t from = p->iv[i].from, to = p->iv[i].to;
		if (any && from < reach) {
			int64_t again = (to < reach ? to : reach) - from;
			if (p->iv[i].resumed)
				c->redelivered += again;
			else
				c->duplicate += again;
		}
		if (from > reach)
			c->gap += inside(reach, from, start, end);
		if (!any || to > reach)
			reach = to;
		any = true;
		if (to > c->hi)
			c->hi = to;
	}
	c->unread = inside(reach, end, start, end);
}
