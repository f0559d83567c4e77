#include <criterion/criterion.h>
#include <errno.h>

#include "perf/harness/ledger.h"

/* Expected counts of one partition's tally. */
struct want {
	int64_t redelivered, duplicate, gap, unread, hi;
};

static void tally(struct perf_ledger *l, int32_t p, int64_t start, int64_t end, struct want w)
{
	struct perf_ledger_count c;
	perf_ledger_tally(l, p, start, end, &c);
	cr_assert_eq(c.redelivered, w.redelivered, "partition %d: %lld redelivered, expected %lld", p,
	             (long long)c.redelivered, (long long)w.redelivered);
	cr_assert_eq(c.duplicate, w.duplicate, "partition %d: %lld duplicates, expected %lld", p,
	             (long long)c.duplicate, (long long)w.duplicate);
	cr_assert_eq(c.gap, w.gap, "partition %d: %lld gaps, expected %lld", p, (long long)c.gap, (long long)w.gap);
	cr_assert_eq(c.unread, w.unread, "partition %d: %lld unread, expected %lld", p, (long long)c.unread,
	             (long long)w.unread);
	cr_assert_eq(c.hi, w.hi, "partition %d: read up to %lld, expected %lld", p, (long long)c.hi, (long long)w.hi);
}

Test(perf_ledger, consecutive_fetches_merge_into_one_range)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 2), 0);
	for (int64_t o = 0; o < 1000; o += 10)
		cr_assert_eq(perf_ledger_add(&l, 1, o, o + 10), 0);
	cr_assert_eq(l.parts[1].n, 1);
	tally(&l, 1, 0, 1000, (struct want){.hi = 1000});
	tally(&l, 0, 5, 9, (struct want){.unread = 4, .hi = 5});   /* nothing read: all of it unread */
	perf_ledger_fini(&l);
}

Test(perf_ledger, a_clean_hand_over_reads_each_offset_once)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	/* Owner A reads [100, 250), the next owner starts from A's commit, a third from B's. */
	perf_ledger_resume(&l, 0, 100);
	perf_ledger_add(&l, 0, 100, 250);
	perf_ledger_committed(&l, 0, 250);
	perf_ledger_add(&l, 0, 400, 500);
	perf_ledger_resume(&l, 0, 250);
	perf_ledger_add(&l, 0, 250, 400);
	tally(&l, 0, 100, 500, (struct want){.hi = 500});
	tally(&l, 0, 100, 600, (struct want){.unread = 100, .hi = 500});  /* the tail after the last read */
	perf_ledger_fini(&l);
}

Test(perf_ledger, overlaps_without_a_resume_at_the_commit_are_duplicates_and_holes_are_gaps)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_add(&l, 0, 0, 100);
	perf_ledger_add(&l, 0, 90, 150);    /* read again with no hand-over: 10 duplicates */
	perf_ledger_add(&l, 0, 160, 200);   /* 150..160 never read */
	perf_ledger_add(&l, 0, 170, 180);   /* inside the last range: 10 more duplicates */
	perf_ledger_add(&l, 0, 0, 300);     /* everything again */
	tally(&l, 0, 0, 300, (struct want){.duplicate = 10 + 10 + 190, .hi = 300});
	perf_ledger_fini(&l);

	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_add(&l, 0, 0, 100);
	perf_ledger_add(&l, 0, 90, 150);
	perf_ledger_add(&l, 0, 160, 200);
	perf_ledger_add(&l, 0, 170, 180);
	tally(&l, 0, 0, 200, (struct want){.duplicate = 20, .gap = 10, .hi = 200});
	/* Only the part of a hole inside [start, end) counts. */
	tally(&l, 0, 155, 200, (struct want){.duplicate = 20, .gap = 5, .hi = 200});
	tally(&l, 0, 0, 250, (struct want){.duplicate = 20, .gap = 10, .unread = 50, .hi = 200});
	perf_ledger_fini(&l);
}

Test(perf_ledger, records_after_the_last_commit_read_again_by_the_next_owner_are_redelivered)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	/* A reads [0, 300) and commits 200; its membership is lost before it commits 300: the next
	 * owner starts at 200, so [200, 300) is read twice, as Kafka allows. */
	perf_ledger_resume(&l, 0, 0);
	perf_ledger_add(&l, 0, 0, 300);
	perf_ledger_committed(&l, 0, 100);
	perf_ledger_committed(&l, 0, 200);
	perf_ledger_committed(&l, 0, 150);  /* an older answer served late does not lower it */
	perf_ledger_resume(&l, 0, 200);
	perf_ledger_add(&l, 0, 200, 400);
	tally(&l, 0, 0, 400, (struct want){.redelivered = 100, .hi = 400});
	perf_ledger_fini(&l);

	/* Before any commit the next owner starts where the run started: all of it is redelivered. */
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_resume(&l, 0, 50);
	perf_ledger_add(&l, 0, 50, 80);
	perf_ledger_resume(&l, 0, 50);
	perf_ledger_add(&l, 0, 50, 90);
	tally(&l, 0, 50, 90, (struct want){.redelivered = 30, .hi = 90});
	perf_ledger_fini(&l);
}

Test(perf_ledger, an_owner_starting_below_the_latest_acknowledged_commit_reads_duplicates)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_resume(&l, 0, 0);
	perf_ledger_add(&l, 0, 0, 300);
	perf_ledger_committed(&l, 0, 300);
	/* The next owner starts at 0 (a stale commit, or the reset offset after an error) although
	 * 300 was acknowledged: the 300 records it reads again are duplicates, not redeliveries. */
	perf_ledger_resume(&l, 0, 0);
	perf_ledger_add(&l, 0, 0, 350);
	tally(&l, 0, 0, 350, (struct want){.duplicate = 300, .hi = 350});
	perf_ledger_fini(&l);
}

Test(perf_ledger, a_resume_starts_a_new_range_even_where_the_last_one_ended)
{
	struct perf_ledger l;
	cr_assert_eq(perf_ledger_init(&l, 1), 0);
	perf_ledger_add(&l, 0, 0, 100);
	perf_ledger_resume(&l, 0, 100);
	perf_ledger_add(&l, 0, 100, 200);
	cr_assert_eq(l.parts[0].n, 2);
	perf_ledger_add(&l, 0, 200, 300);
	cr_assert_eq(l.parts[0].n, 2, "the stretch after the resume merges again");
	tally(&l, 0, 0, 300, (struct want){.hi = 300});
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
	perf_ledger_resume(&l, 7, 0);      /* out of range: ignored */
	perf_ledger_committed(&l, -1, 0);
	perf_ledger_fini(&l);
}
