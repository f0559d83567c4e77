/*
 * perf/harness/ledger.h: which offsets of each partition a run's consumers read, to tell a
 * consumer group that handed its partitions over cleanly (every offset read exactly once) from
 * one that read some twice or skipped some.
 *
 * Consumers report each stretch they read as a half-open range [from, to).  Ranges that
 * continue the partition's last one are merged, so a partition holds one range per stretch of
 * ownership (a new one after each rebalance), not one per fetch.  The tally sorts them and
 * counts offsets covered more than once (duplicates) and offsets of [start, end) covered by
 * none (gaps).  No I/O; single-threaded.
 */
#ifndef PERF_LEDGER_H
#define PERF_LEDGER_H

#include <stdint.h>

struct perf_ledger_part {
	int64_t (*iv)[2];      /* owned: [from, to) ranges in the order reported */
	int32_t n, cap;
};

struct perf_ledger {
	struct perf_ledger_part *parts;   /* owned, one per partition */
	int32_t nparts;
};

/* 0 or -ENOMEM. */
int perf_ledger_init(struct perf_ledger *l, int32_t nparts);
void perf_ledger_fini(struct perf_ledger *l);

/* Records that [from, to) of partition part was read.  0, -EINVAL (part out of range or
 * to < from) or -ENOMEM.  An empty range records nothing. */
int perf_ledger_add(struct perf_ledger *l, int32_t part, int64_t from, int64_t to);

/* What partition part's ranges cover: *dup offsets read more than once (each extra read counts),
 * *gap offsets of [start, end) never read, *hi the highest end read (start when none).  Sorts
 * the partition's ranges in place. */
void perf_ledger_tally(struct perf_ledger *l, int32_t part, int64_t start, int64_t end,
                       int64_t *dup, int64_t *gap, int64_t *hi);

#endif
