/*
 * perf/harness/ledger.h: which offsets of each partition a run's consumers read, to tell a
 * consumer group that handed its partitions over cleanly (every offset read exactly once) from
 * one that read some again after a commit was missed (Kafka's at-least-once redelivery), one
 * that read some twice for no such reason, and one that lost some.
 *
 * Consumers report each stretch they read as a half-open range [from, to).  Ranges that
 * continue the partition's last one are merged, so a partition holds one range per stretch of
 * ownership (a new one after each rebalance), not one per fetch.  The members also report the
 * commits the group acknowledged and where each new owner started (perf_ledger_resume), so that
 * a record read again can be judged: a new owner that starts at the group's latest acknowledged
 * commit (or, before any commit, at the offset the run starts from) and reads records an earlier
 * owner had read but not committed is a redelivery of records after the last commit, which Kafka
 * allows; any other record read twice is a duplicate, which it does not.  The tally sorts the
 * ranges and counts redeliveries, duplicates, offsets of [start, end) skipped (gaps) and offsets
 * after the last read (unread).  No I/O; single-threaded.
 */
#ifndef PERF_LEDGER_H
#define PERF_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

struct perf_ledger_range {
	int64_t from, to;
	bool resumed;          /* the first range of an owner that started at the latest commit */
};

struct perf_ledger_part {
	struct perf_ledger_range *iv;   /* owned: the ranges in the order reported */
	int32_t n, cap;
	int64_t acked;         /* highest offset the group acknowledged a commit of; -1 none */
	enum perf_ledger_next {
		PERF_LEDGER_CONTINUES = 0,   /* the next range may continue the last one */
		PERF_LEDGER_AT_COMMIT,       /* it starts a stretch at or after acked (a redelivery) */
		PERF_LEDGER_BELOW_COMMIT,    /* it starts a stretch below acked (duplicates) */
	} next;
};

struct perf_ledger {
	struct perf_ledger_part *parts;   /* owned, one per partition */
	int32_t nparts;
};

/* What one partition's ranges cover (perf_ledger_tally). */
struct perf_ledger_count {
	int64_t redelivered;   /* re-read by an owner that started at the latest acknowledged commit */
	int64_t duplicate;     /* re-read otherwise (each extra read counts) */
	int64_t gap;           /* offsets of [start, end) never read, below the last read */
	int64_t unread;        /* offsets of [start, end) after the last read */
	int64_t hi;            /* the highest end read (start when none) */
};

/* 0 or -ENOMEM. */
int perf_ledger_init(struct perf_ledger *l, int32_t nparts);
void perf_ledger_fini(struct perf_ledger *l);

/* Records that [from, to) of partition part was read.  0, -EINVAL (part out of range or
 * to < from) or -ENOMEM.  An empty range records nothing. */
int perf_ledger_add(struct perf_ledger *l, int32_t part, int64_t from, int64_t to);

/* The group acknowledged a commit of offset for part (answers may come in any order: the
 * highest counts).  A part out of range is ignored. */
void perf_ledger_committed(struct perf_ledger *l, int32_t part, int64_t offset);

/* An owner starts reading part at offset: the group's committed offset, or where the run starts
 * when the group has none.  The next range reported for part begins a new stretch, judged
 * against the commits acknowledged so far.  A part out of range is ignored. */
void perf_ledger_resume(struct perf_ledger *l, int32_t part, int64_t offset);

/* Tallies partition part over [start, end) into *c.  Sorts the partition's ranges in place. */
void perf_ledger_tally(struct perf_ledger *l, int32_t part, int64_t start, int64_t end, struct perf_ledger_count *c);

#endif
