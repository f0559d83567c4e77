/*
 * perf/harness/group.c: Kafka's "consumer" embedded protocol and the range assignor (group.h).
 *
 * Both formats are plain (non-flexible) Kafka structs behind an int16 version: strings are int16
 * length + bytes, arrays int32 count, bytes int32 length (-1 = null).  Counts and lengths are
 * checked against what is left before anything is read, so malformed input from a group member
 * never allocates or reads past the frame.
 */
#include "perf/harness/group.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

static void put_str(struct rt_buf *out, const char *s)
{
	size_t n = strlen(s);
	rt_buf_put_i16(out, (int16_t)n);
	rt_buf_put(out, s, n);
}

/* Reads a non-null string; *s borrows from r.  False when malformed. */
static bool rd_str(struct rt_rd *r, const uint8_t **s, size_t *n)
{
	int16_t l = rt_rd_i16(r);
	if (r->err || l < 0) return false;
	*s = rt_rd_bytes(r, (size_t)l);
	*n = (size_t)l;
	return *s != NULL || l == 0;
}

/* An array count whose elements take at least min_elem bytes each. */
static bool rd_count(struct rt_rd *r, size_t min_elem, int32_t *c)
{
	*c = rt_rd_i32(r);
	if (r->err || *c < 0) return false;
	return (size_t)*c <= rt_rd_left(r) / min_elem;
}

static bool same(const uint8_t *s, size_t n, const char *topic)
{
	return n == strlen(topic) && memcmp(s, topic, n) == 0;
}

void perf_group_subscription_encode(struct rt_buf *out, const char *topic)
{
	rt_buf_put_i16(out, PERF_GROUP_SUBSCRIPTION_VERSION);
	rt_buf_put_i32(out, 1);
	put_str(out, topic);
	rt_buf_put_i32(out, -1);
}

int perf_group_subscription_has(const uint8_t *data, size_t len, const char *topic, bool *has)
{
	struct rt_rd r;
	rt_rd_init(&r, data, len);
	*has = false;
	int16_t v = rt_rd_i16(&r);
	if (r.err || v < 0 || v > 3) return -EBADMSG;
	int32_t c;
	if (!rd_count(&r, 2, &c)) return -EBADMSG;
	for (int32_t i = 0; i < c; i++) {
		const uint8_t *s;
		size_t n;
		if (!rd_str(&r, &s, &n)) return -EBADMSG;
		if (same(s, n, topic)) *has = true;
	}
	/* UserData must be there; the fields of versions 1-3 after it are not needed. */
	int32_t ud = rt_rd_i32(&r);
	if (r.err || ud < -1) return -EBADMSG;
	if (ud > 0) rt_rd_skip(&r, (size_t)ud);
	return r.err ? -EBADMSG : 0;
}

void perf_group_assignment_encode(struct rt_buf *out, const char *topic, const int32_t *parts, int n)
{
	rt_buf_put_i16(out, PERF_GROUP_ASSIGNMENT_VERSION);
	rt_buf_put_i32(out, n > 0 ? 1 : 0);
	if (n > 0) {
		put_str(out, topic);
		rt_buf_put_i32(out, n);
		for (int i = 0; i < n; i++) rt_buf_put_i32(out, parts[i]);
	}
	rt_buf_put_i32(out, -1);
}

int perf_group_assignment_decode(const uint8_t *data, size_t len, const char *topic,
                                 int32_t *parts, int max, int *n)
{
	*n = 0;
	if (len == 0) return 0;
	struct rt_rd r;
	rt_rd_init(&r, data, len);
	int16_t v = rt_rd_i16(&r);
	if (r.err || v < 0 || v > 3) return -EBADMSG;
	int32_t tc;
	if (!rd_count(&r, 6, &tc)) return -EBADMSG;
	for (int32_t t = 0; t < tc; t++) {
		const uint8_t *s;
		size_t sl;
		int32_t pc;
		if (!rd_str(&r, &s, &sl) || !rd_count(&r, 4, &pc)) return -EBADMSG;
		bool mine = same(s, sl, topic);
		for (int32_t i = 0; i < pc; i++) {
			int32_t p = rt_rd_i32(&r);
			if (r.err) return -EBADMSG;
			if (!mine) continue;
			if (p < 0) return -EBADMSG;
			if (*n >= max) return -E2BIG;
			parts[(*n)++] = p;
		}
	}
	int32_t ud = rt_rd_i32(&r);
	if (r.err || ud < -1) return -EBADMSG;
	if (ud > 0) rt_rd_skip(&r, (size_t)ud);
	return r.err ? -EBADMSG : 0;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void perf_group_sort_members(const char **ids, int n)
{
	if (n > 1) qsort(ids, (size_t)n, sizeof(*ids), cmp_id);
}

void perf_group_range(int32_t partitions, int members, int i, int32_t *first, int32_t *count)
{
	int32_t per = partitions / members, extra = partitions % members;
	*first = per * i + (i < extra ? i : extra);
	*count = per + (i < extra ? 1 : 0);
}
