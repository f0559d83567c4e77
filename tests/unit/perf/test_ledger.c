#include <criterion/criterion.h>
#include <errno.h>

#include "perf/harness/ledger.h"

static void tally(struct perf_ledger *l, int32_t p, int64_t start, int64_t end, int64_t edup, int64_t egap, int64_t ehi)
{
	int64_t dup, gap, hi;
	perf_ledger_tally(l, p, start, end, &dup, &gap, &hi);
	cr_assert_eq(dup, edup, "partition %d: %lld duplicates, expected %lld", p, (long long)dup, (long long)edup);
	cr_assert_eq(gap, egap, "partition %d: %lld gaps, expected %lld", p, (long long)gap, (long long)egap);
	cr_assert_eq(hi, ehi, "partition %d: read up to %lld, expected %lld", p, (long long)hi, (long long)ehi);
}

Test(perf_ledger, consecutive_fetches_merge_into_one_range)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 2), 0);
	for (int64_t o = 0; o < 1000; o += 10)
		cr_assert_eq(perf_ledger_add(&l, 1, o, o + 10), 0);
	cr_assert_eq(l.parts[1].n, 1);
	tally(&l, 1, 0, 1000, 0, 0, 1000);
	tally(&l, 0, 5, 9, 0, 4, 5);     /* nothing read: all of [start, end) is a gap */
	perf_ledger_fini(&l);
}

Test(perf_ledger, a_clean_hand_over_reads_each_offset_once)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	/* Owner A reads [100, 250), the next owner starts from A's commit, a third from B's. */
	perf_ledger_add(&l, 0, 100, 250);
	perf_ledger_add(&l, 0, 400, 500);
	perf_ledger_add(&l, 0, 250, 400);
	tally(&l, 0, 100, 500, 0, 0, 500);
	tally(&l, 0, 100, 600, 0, 100, 500);  /* the tail after the last read counts as a gap too */
	perf_ledger_fini(&l);
}

Test(perf_ledger, overlaps_are_duplicates_and_holes_are_gaps)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_add(&l, 0, 0, 100);
	perf_ledger_add(&l, 0, 90, 150);    /* a commit lost: 10 read twice */
	perf_ledger_add(&l, 0, 160, 200);   /* 150..160 never read */
	perf_ledger_add(&l, 0, 170, 180);   /* inside the last range: 10 more duplicates */
	perf_ledger_add(&l, 0, 0, 300);     /* everything again */
	tally(&l, 0, 0, 300, 10 + 10 + 190, 0, 300);
	perf_ledger_fini(&l);

	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_add(&l, 0, 0, 100);
	perf_ledger_add(&l, 0, 90, 150);
	perf_ledger_add(&l, 0, 160, 200);
	perf_ledger_add(&l, 0, 170, 180);
	tally(&l, 0, 0, 200, 20, 10, 200);
	/* Only the part of a hole inside [start, end) counts. */
	tally(&l, 0, 155, 200, 20, 5, 200);
	perf_ledger_fini(&l);
}

Test(perf_ledger, bad_ranges_are_refused)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 3), 0);
	cr_assert_eq(perf_ledger_add(&l, 3, 0, 1), -EINVAL);
	cr_assert_eq(perf_ledger_add(&l, -1, 0, 1), -EINVAL);
	cr_assert_eq(perf_ledger_add(&l, 0, 5, 4), -EINVAL);
	cr_assert_eq(perf_ledger_add(&l, 0, 5, 5), 0);
	cr_assert_eq(l.parts[0].n, 0, "an empty range records nothing");
	perf_ledger_fini(&l);
}
