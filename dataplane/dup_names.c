/*
 * dataplane/dup_names.c: the names a request gives more than once (see dup_names.h).
 */
#include "dup_names.h"

#include <stdlib.h>
#include <string.h>

static int name_cmp(const void *a, const void *b)
{
	const struct dp_dup_name *x = a, *y = b;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	int32_t lx = x->name.len > 0 ? x->name.len : 0, ly = y->name.len > 0 ? y->name.len : 0;
	int c = memcmp(x->name.ptr ? x->name.ptr : "", y->name.ptr ? y->name.ptr : "", (size_t)(lx < ly ? lx : ly));
	return c ? c : lx < ly ? -1 : lx > ly;
}

/* The sort order: by key, then by request index, so that each run of equal keys starts with the
 * key's first occurrence in the request. */
static int key_then_index_cmp(const void *a, const void *b)
{
	int c = name_cmp(a, b);
	if (c)
		return c;
	const struct dp_dup_name *x = a, *y = b;
	return x->i < y->i ? -1 : x->i > y->i;
}

void dp_dup_names_mark_first(struct dp_dup_name *keys, int32_t n, bool *dup, bool *first)
{
	if (n < 2)
		return;
	qsort(keys, (size_t)n, sizeof(*keys), key_then_index_cmp);
	/* Equal keys are neighbours now, the first occurrence leading its run. */
	for (int32_t k = 1; k < n; k++)
		if (!name_cmp(&keys[k - 1], &keys[k])) {
			if (first && (k == 1 || name_cmp(&keys[k - 2], &keys[k - 1])))
				first[keys[k - 1].i] = true;
			dup[keys[k - 1].i] = dup[keys[k].i] = true;
		}
}

void dp_dup_names_mark(struct dp_dup_name *keys, int32_t n, bool *dup)
{
	dp_dup_names_mark_first(keys, n, dup, NULL);
}
