/* Unit tests for dataplane/dup_names.c: every occurrence of a (type, name) given more than once is
 * marked, nothing else; names are compared whole (a prefix is another name), null as empty. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dup_names.h"

static struct kp_str s(const char *p)
{
	return (struct kp_str){ p, p ? (int32_t)strlen(p) : -1 };
}

Test(dp_dup_names, marks_every_occurrence_and_nothing_else)
{
	const char *names[] = { "b", "a", "ab", "b", "c", "a", "b", "", "" };
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct dp_dup_name k[N];
	for (int i = 0; i < N; i++)
		k[i] = (struct dp_dup_name){ 0, s(names[i]), i };
	bool dup[N] = { false };
	dp_dup_names_mark(k, N, dup);
	bool want[N] = { true, true, false, true, false, true, true, true, true };
	cr_assert_arr_eq(dup, want, sizeof(want));
}

Test(dp_dup_names, the_type_is_part_of_the_key)
{
	/* AlterConfigs: topic "x" and broker "x" are two resources. */
	struct dp_dup_name k[] = { { 2, s("x"), 0 }, { 4, s("x"), 1 }, { 2, s("y"), 2 }, { 2, s("x"), 3 } };
	bool dup[4] = { false };
	dp_dup_names_mark(k, 4, dup);
	bool want[4] = { true, false, false, true };
	cr_assert_arr_eq(dup, want, sizeof(want));
}

Test(dp_dup_names, null_counts_as_empty_and_bytes_compare_whole)
{
	/* Names with a NUL inside are compared by length, not as C strings. */
	struct dp_dup_name k[] = { { 0, s(NULL), 0 }, { 0, s(""), 1 }, { 0, { "a\0b", 3 }, 2 }, { 0, { "a\0c", 3 }, 3 },
	                           { 0, { "a", 1 }, 4 } };
	bool dup[5] = { false };
	dp_dup_names_mark(k, 5, dup);
	bool want[5] = { true, true, false, false, false };
	cr_assert_arr_eq(dup, want, sizeof(want));
}

Test(dp_dup_names, one_or_none_is_never_a_duplicate)
{
	struct dp_dup_name k[] = { { 0, s("only"), 0 } };
	bool dup[1] = { false };
	dp_dup_names_mark(k, 1, dup);
	dp_dup_names_mark(k, 0, dup);
	cr_assert_not(dup[0]);
}

/* Many names in a shuffled order, every 97th given again: the marks match a count of each name
 * (the sort handles a frame's worth of names; its speed is not measured here). */
Test(dp_dup_names, many_names_shuffled)
{
	enum { U = 50000 };
	int n = U + U / 97 + 1;
	char (*text)[12] = calloc((size_t)U, sizeof(*text));
	struct dp_dup_name *k = calloc((size_t)n, sizeof(*k));
	bool *dup = calloc((size_t)n, sizeof(*dup));
	int *of = calloc((size_t)n, sizeof(*of));   /* which name entry i holds */
	cr_assert(text && k && dup && of);
	for (int u = 0; u < U; u++)
		snprintf(text[u], sizeof(text[u]), "t%07d", u);
	int m = 0;
	for (int u = 0; u < U; u++)
		of[m++] = u;
	for (int u = 0; u < U; u += 97)
		of[m++] = u;
	cr_assert_eq(m, n);
	srand(7);
	for (int i = n - 1; i > 0; i--) {
		int j = rand() % (i + 1), t = of[i];
		of[i] = of[j];
		of[j] = t;
	}
	for (int i = 0; i < n; i++)
		k[i] = (struct dp_dup_name){ 0, s(text[of[i]]), i };
	dp_dup_names_mark(k, n, dup);
	int marked = 0;
	for (int i = 0; i < n; i++) {
		cr_assert_eq(dup[i], of[i] % 97 == 0, "entry %d (%s)", i, text[of[i]]);
		marked += dup[i];
	}
	cr_assert_eq(marked, 2 * ((U + 96) / 97));
	free(text);
	free(k);
	free(dup);
	free(of);
}

Test(dp_dup_names, first_marks_the_lowest_index_of_each_duplicated_key)
{
	/* DeleteTopics answers a duplicated name once: at its first occurrence. */
	const char *names[] = { "b", "a", "ab", "b", "c", "a", "b", "", "" };
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct dp_dup_name k[N];
	for (int i = N - 1; i >= 0; i--)   /* keys in reverse request order: the sort must not care */
		k[N - 1 - i] = (struct dp_dup_name){ 0, s(names[i]), i };
	bool dup[N] = { false }, first[N] = { false };
	dp_dup_names_mark_first(k, N, dup, first);
	bool want_dup[N] = { true, true, false, true, false, true, true, true, true };
	bool want_first[N] = { true, true, false, false, false, false, false, true, false };
	cr_assert_arr_eq(dup, want_dup, sizeof(want_dup));
	cr_assert_arr_eq(first, want_first, sizeof(want_first));
}
