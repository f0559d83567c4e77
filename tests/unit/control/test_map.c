#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/map.h"

Test(ctl_map, put_get_replace_delete)
{
	struct ctl_map m;
	ctl_map_init(&m);
	int a = 1, b = 2;
	void *old = &a;
	cr_assert_eq(ctl_map_put(&m, "k", 1, &a, &old), 0);
	cr_assert_null(old);
	cr_assert_eq(ctl_map_get(&m, "k", 1), &a);
	cr_assert_null(ctl_map_get(&m, "k\0", 2), "a longer key with a NUL is a different key");
	cr_assert_eq(ctl_map_put(&m, "k", 1, &b, &old), 0);
	cr_assert_eq(old, &a);
	cr_assert_eq(ctl_map_size(&m), 1);
	cr_assert_eq(ctl_map_del(&m, "k", 1), &b);
	cr_assert_null(ctl_map_get(&m, "k", 1));
	cr_assert_eq(ctl_map_size(&m), 0);
	ctl_map_fini(&m);
}

Test(ctl_map, grows_and_iterates_with_removal)
{
	struct ctl_map m;
	ctl_map_init(&m);
	static int vals[5000];
	char k[32];
	for (int i = 0; i < 5000; i++) {
		vals[i] = i;
		int n = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(ctl_map_put(&m, k, (size_t)n, &vals[i], NULL), 0);
	}
	cr_assert_eq(ctl_map_size(&m), 5000);
	for (int i = 0; i < 5000; i += 7) {
		int n = snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(ctl_map_get(&m, k, (size_t)n), &vals[i]);
	}
	/* remove every odd value while iterating; every entry is seen exactly once */
	static int seen[5000];
	struct ctl_map_iter it;
	int *v, count = 0;
	ctl_map_iter_init(&it, &m);
	while ((v = ctl_map_next(&it))) {
		seen[*v]++;
		count++;
		if (*v % 2)
			ctl_map_iter_remove(&it);
	}
	cr_assert_eq(count, 5000);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(seen[i], 1);
	cr_assert_eq(ctl_map_size(&m), 2500);
	cr_assert_null(ctl_map_next(&it), "a finished iteration stays finished");
	ctl_map_fini(&m);
}

Test(ctl_map, values_are_a_copy_that_outlives_changes)
{
	struct ctl_map m;
	ctl_map_init(&m);
	size_t n = 99;
	cr_assert_null(ctl_map_values(&m, &n), "an empty map has no array");
	cr_assert_eq(n, 0);
	static int vals[300];
	char k[32];
	for (int i = 0; i < 300; i++) {
		vals[i] = i;
		int kn = snprintf(k, sizeof(k), "g%d", i);
		cr_assert_eq(ctl_map_put(&m, k, (size_t)kn, &vals[i], NULL), 0);
	}
	void **v = ctl_map_values(&m, &n);
	cr_assert_eq(n, 300);
	/* the walk the callers do: entries removed meanwhile do not disturb the array */
	static int seen[300];
	for (size_t i = 0; i < n; i++) {
		int x = *(int *)v[i];
		seen[x]++;
		int kn = snprintf(k, sizeof(k), "g%d", x);
		cr_assert_eq(ctl_map_del(&m, k, (size_t)kn), &vals[x]);
	}
	for (int i = 0; i < 300; i++)
		cr_assert_eq(seen[i], 1);
	cr_assert_eq(ctl_map_size(&m), 0);
	free(v);
	ctl_map_fini(&m);
}
