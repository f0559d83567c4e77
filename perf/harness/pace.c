/*
 * perf/harness/pace.c: open-loop pacing (see pace.h).  Intended times are computed from the
 * record's index, never accumulated, so rounding does not drift over long runs.
 */
#include "perf/harness/pace.h"

void perf_pace_init(struct perf_pace *p, uint64_t start_ns, double rate, uint64_t limit)
{
	p->start_ns = start_ns;
	p->interval_ns = rate > 0 ? 1e9 / rate : 0;
	p->issued = 0;
	p->limit = limit ? limit : UINT64_MAX;
	p->tick_ns = 0;
}

void perf_pace_set_tick(struct perf_pace *p, uint64_t tick_ns)
{
	p->tick_ns = tick_ns;
}

/* The last tick boundary at or before t (t itself without a tick; t >= start). */
static uint64_t tick_floor(const struct perf_pace *p, uint64_t t)
{
	return p->tick_ns ? t - (t - p->start_ns) % p->tick_ns : t;
}

static uint64_t intended(const struct perf_pace *p, uint64_t i)
{
	return p->start_ns + (uint64_t)((double)i * p->interval_ns);
}

uint64_t perf_pace_due(const struct perf_pace *p, uint64_t now_ns)
{
	if (p->issued >= p->limit)
		return 0;
	uint64_t left = p->limit - p->issued;
	if (p->interval_ns == 0)
		return left;
	if (now_ns < p->start_ns)
		return 0;
	now_ns = tick_floor(p, now_ns);
	/* Index of the last record due at now_ns, plus one. */
	uint64_t upto = (uint64_t)((double)(now_ns - p->start_ns) / p->interval_ns) + 1;
	while (upto > 0 && intended(p, upto - 1) > now_ns)
		upto--;
	while (intended(p, upto) <= now_ns)
		upto++;
	if (upto <= p->issued)
		return 0;
	uint64_t due = upto - p->issued;
	return due < left ? due : left;
}

uint64_t perf_pace_take(struct perf_pace *p, uint64_t now_ns)
{
	uint64_t t = p->interval_ns == 0 ? now_ns : intended(p, p->issued);
	p->issued++;
	return t;
}

uint64_t perf_pace_wait_ns(const struct perf_pace *p, uint64_t now_ns)
{
	if (p->issued >= p->limit)
		return UINT64_MAX;
	if (p->interval_ns == 0)
		return 0;
	uint64_t t = intended(p, p->issued);
	if (p->tick_ns && t > p->start_ns && (t - p->start_ns) % p->tick_ns)
		t = tick_floor(p, t) + p->tick_ns;
	return t > now_ns ? t - now_ns : 0;
}
