/*
 * base/lat_trace.h: per-stage latency histograms of the produce path, for finding where a p99
 * goes (issue 4).  Compiled in only with `meson setup -Dlat_trace=true` (RT_LAT_TRACE); without
 * it every call below is an empty inline and RT_LT_STAMP stores nothing (the stamps stay as the
 * zeroed allocation left them), so the hot path pays nothing.
 *
 * The stages of one produce request (and of each partition's append in it):
 *   recv -> handler: frame complete on the connection's shard until the Produce handler runs
 *   handler -> owner: the append's job posted until it runs on the partition's owner shard
 *   owner -> write CQE: the append's write queued until its completion is reaped
 *   write CQE -> round issue (acks=-1): until a group-commit round that covers it is issued
 *   write CQE -> done: until storage completes the append (acks=-1: the round's fdatasyncs)
 *   done -> back: the outcome posted until the connection's shard has it
 *   back -> sent: until the response's send completes (in-order wait for earlier requests)
 *   total: frame complete until the response's send completes
 *   sync round: a round issued until its last fdatasync completes (its own histogram when
 *     a zero chunk of prealloc.c was in flight on the same log during the round)
 *   zero chunk: a zero chunk's write + fdatasync (prealloc.c)
 * Each process prints its histograms (p50/p90/p99/p99.9/max in us) to stderr at exit.
 * Histograms are shared by the shards behind one mutex: fine for a diagnostic build.
 *
 * Rows.  With RINGTAIL_LT_ROWS=FILE in the environment the stamps are also kept one row per
 * append and per response (rt_lt_row) and written to FILE at exit, so that a tail can be taken
 * apart record by record: perf/lat_records.py joins them with the load generator's own rows
 * (ringtail-perf --trace-records) by correlation id.
 */
#ifndef RT_LAT_TRACE_H
#define RT_LAT_TRACE_H

#include <stdint.h>

enum rt_lt_stage {
	RT_LT_RECV_HANDLER,
	RT_LT_HANDLER_OWNER,
	RT_LT_OWNER_WRITTEN,
	RT_LT_WRITTEN_ROUND,
	RT_LT_WRITTEN_DONE,
	RT_LT_DONE_BACK,
	RT_LT_BACK_SENT,
	RT_LT_TOTAL,
	RT_LT_SYNC_ROUND,
	RT_LT_SYNC_ROUND_PA,
	RT_LT_PA_CHUNK,
	RT_LT_NSTAGES
};

#ifdef RT_LAT_TRACE
#define RT_LT_ENABLED 1
#else
#define RT_LT_ENABLED 0
#endif

/* Sets the stamp lvalue x to now; compiled out (no store) without RT_LAT_TRACE. */
#define RT_LT_STAMP(x)                          \
	do {                                    \
		if (RT_LT_ENABLED)              \
			(x) = rt_lt_now();      \
	} while (0)

#ifdef RT_LAT_TRACE
/* CLOCK_MONOTONIC in ns. */
uint64_t rt_lt_now(void);
/* Records `to - from` for stage st; nothing when either stamp is 0 (not taken). */
void rt_lt_record(enum rt_lt_stage st, uint64_t from, uint64_t to);
/* Keeps one row (RINGTAIL_LT_ROWS set; nothing otherwise): kind 'A' (an append: recv, handler,
 * owner, write CQE, round issue, done, back) or 'R' (a response: recv, last partition back,
 * response decided, send issued, send CQE); conn tells connections apart, corr is the request's
 * correlation id, part the partition (-1 for 'R').  Up to RT_LT_ROW_STAMPS stamps, 0 = not taken. */
#define RT_LT_ROW_STAMPS 8
void rt_lt_row(char kind, uint64_t conn, int32_t corr, int32_t part, const uint64_t *t, int nt);
/* Prints every stage's histogram to stderr and resets them; writes and drops the rows. */
void rt_lt_dump(void);
#else
static inline uint64_t rt_lt_now(void) { return 0; }
static inline void rt_lt_record(enum rt_lt_stage st, uint64_t from, uint64_t to)
{
	(void)st;
	(void)from;
	(void)to;
}
static inline void rt_lt_row(char kind, uint64_t conn, int32_t corr, int32_t part, const uint64_t *t, int nt)
{
	(void)kind;
	(void)conn;
	(void)corr;
	(void)part;
	(void)t;
	(void)nt;
}
static inline void rt_lt_dump(void) {}
#endif

#endif
