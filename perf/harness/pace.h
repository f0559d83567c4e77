/*
 * perf/harness/pace.h: open-loop pacing.
 *
 * Record i is due at start + i / rate, whatever happened to the records before it.  Latency is
 * measured from that intended time, not from when the record was actually handed to the
 * network, so a stalled broker shows as the whole delay every waiting record saw (the
 * coordinated-omission correction of an open-loop run).  rate 0 means flat out: every record is
 * due at once and the caller's in-flight limit is what paces.
 *
 * With a tick (perf_pace_set_tick), records are released in bursts at start + k * tick: record i
 * becomes due at the first tick boundary at or after its intended time, and still carries that
 * intended time, so the wait for the boundary (under one tick) is counted in its latency.  A
 * sender then wakes once per tick instead of once per record or per network event; at tens of
 * thousands of records/s that is what makes the open loop cheap enough that the server, not the
 * load generator, bounds an end-to-end run (perf/README.md).
 */
#ifndef PERF_PACE_H
#define PERF_PACE_H

#include <stdint.h>

struct perf_pace {
	uint64_t start_ns;
	double interval_ns;    /* 0 = flat out */
	uint64_t issued;       /* records handed out so far */
	uint64_t limit;        /* stop after this many (UINT64_MAX = no limit) */
	uint64_t tick_ns;      /* 0 = each record at its own time; else released at tick boundaries */
};

/* No tick: each record is due at its own intended time. */
void perf_pace_init(struct perf_pace *p, uint64_t start_ns, double rate, uint64_t limit);

/* Releases records at start + k * tick_ns boundaries (0: no tick).  Ignored when flat out. */
void perf_pace_set_tick(struct perf_pace *p, uint64_t tick_ns);

/* Records due at now_ns that have not been issued yet (0 when the limit is reached).  With
 * rate 0 that is all that remain (the caller takes as many as it can).  With a tick, the records
 * whose intended time is at or before the last tick boundary at or before now_ns. */
uint64_t perf_pace_due(const struct perf_pace *p, uint64_t now_ns);

/* Marks the next record issued and returns its intended time (now_ns when flat out). */
uint64_t perf_pace_take(struct perf_pace *p, uint64_t now_ns);

/* Nanoseconds from now_ns until the next record is due (0 when one is due now or flat out;
 * UINT64_MAX when the limit is reached); with a tick, until the boundary that releases it. */
uint64_t perf_pace_wait_ns(const struct perf_pace *p, uint64_t now_ns);

#endif
