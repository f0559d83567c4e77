/* Unit tests for kp_records_validate_iov (proto/batch.c): a record set cut into pieces at every
 * place (header fields, the CRC, record length varints and bodies split between two pieces)
 * validates exactly as the same bytes in one buffer, with the same outcome and info when
 * corrupted; what it does not take (compressed, several batches) is -EXDEV. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "proto/batch.h"

static const struct kp_validate_opts strict = {
	.max_batch_bytes = 16 << 20, .max_decompressed = 64 << 20, .check_records = true,
};

/* A batch of n records with varied keys, values (some longer than a piece), nulls and headers. */
static uint8_t *make_batch(enum kp_compression c, int n, int64_t pid, size_t *size)
{
	static const struct kp_record_header hd[1] = {{(const uint8_t *)"h", 1, (const uint8_t *)"v", 1}};
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, c, 0, pid, pid >= 0 ? 0 : -1, pid >= 0 ? 7 : -1);
	char v[700];
	for (int i = 0; i < n; i++) {
		char k[16];
		int kl = snprintf(k, sizeof k, "k%d", i);
		int vl = (i * 97) % 690;
		memset(v, 'a' + i % 26, (size_t)vl);
		cr_assert_eq(kp_batch_builder_add(&b, 1700000000000 + i * 13 % 50, i % 5 == 2 ? NULL : k, i % 5 == 2 ? -1 : kl,
		                                  i % 9 == 4 ? NULL : v, i % 9 == 4 ? -1 : vl, i % 2 ? hd : NULL, i % 2),
		             0);
	}
	const uint8_t *p = kp_batch_builder_finish(&b, size);
	cr_assert_not_null(p);
	uint8_t *cp = malloc(*size);
	memcpy(cp, p, *size);
	kp_batch_builder_fini(&b);
	return cp;
}

/* Each piece in a buffer of its own, so a read past a piece's end is ASan's to see. */
struct pieces {
	struct iovec v[512];
	int n;
};

static void cut(struct pieces *ps, const uint8_t *p, size_t size, const size_t *at, int nat)
{
	ps->n = 0;
	size_t from = 0;
	for (int i = 0; i <= nat; i++) {
		size_t to = i < nat ? at[i] : size;
		cr_assert(ps->n < 512 && to >= from);
		uint8_t *q = malloc(to - from ? to - from : 1);
		memcpy(q, p + from, to - from);
		ps->v[ps->n++] = (struct iovec){q, to - from};
		from = to;
	}
}

static void uncut(struct pieces *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->v[i].iov_base);
}

/* Validates p both ways (whole and cut at at[]) and asserts the same outcome. */
static int both(const uint8_t *p, size_t size, const size_t *at, int nat, struct rt_arena *a)
{
	struct kp_records_info i1, i2;
	const char *w1 = NULL, *w2 = NULL;
	int r1 = kp_records_validate(p, size, &strict, a, &i1, &w1);
	struct pieces ps;
	cut(&ps, p, size, at, nat);
	int r2 = kp_records_validate_iov(ps.v, ps.n, &strict, a, &i2, &w2);
	uncut(&ps);
	rt_arena_reset(a);
	cr_assert_eq(r2, r1, "cut at %zu (%d cuts): %d (%s) vs whole %d (%s)", nat ? at[0] : 0, nat, r2, w2 ? w2 : "",
	             r1, w1 ? w1 : "");
	if (r1)
		cr_assert_str_eq(w2, w1);
	else
		cr_assert(memcmp(&i1, &i2, sizeof i1) == 0, "info differs");
	return r1;
}

Test(kp_batch_iov, every_two_piece_cut_validates_as_whole)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_NONE, 20, 1234, &size);
	for (size_t at = 0; at <= size; at++)
		cr_assert_eq(both(p, size, &at, 1, &a), 0);
	free(p);
	rt_arena_fini(&a);
}

Test(kp_batch_iov, random_cuts_like_segments)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_NONE, 200, -1, &size);
	srand(7);
	for (int round = 0; round < 200; round++) {
		size_t at[511];
		int n = 0;
		for (size_t o = (size_t)(rand() % 80); o < size && n < 511; o += 1 + (size_t)(rand() % (round % 2 ? 40 : 1448)))
			at[n++] = o;
		cr_assert_eq(both(p, size, at, n, &a), 0);
	}
	free(p);
	rt_arena_fini(&a);
}

/* The CRC field itself split between pieces, and a corrupt byte in the last piece. */
Test(kp_batch_iov, crc_split_and_corruption)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_NONE, 30, -1, &size);
	for (size_t at = KP_BATCH_OFF_CRC; at <= KP_BATCH_OFF_CRC + 4; at++) {
		size_t cuts[2] = {at, size - 100};
		cr_assert_eq(both(p, size, cuts, 2, &a), 0);
		p[size - 3] ^= 0x40;
		cr_assert_eq(both(p, size, cuts, 2, &a), -EBADMSG);
		p[size - 3] ^= 0x40;
		p[KP_BATCH_OFF_CRC + 2] ^= 1;
		cr_assert_eq(both(p, size, cuts, 2, &a), -EBADMSG);
		p[KP_BATCH_OFF_CRC + 2] ^= 1;
	}
	free(p);
	rt_arena_fini(&a);
}

/* Header fields split between pieces and wrong: the same rule fires as for the whole batch. */
Test(kp_batch_iov, bad_header_fields_split)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_NONE, 10, -1, &size);
	for (size_t at = 1; at < KP_BATCH_HEADER_SIZE; at += 3) {
		rt_be64_put(p, 5); /* base offset (not under the CRC) */
		cr_assert_eq(both(p, size, &at, 1, &a), -EINVAL);
		rt_be64_put(p, 0);
		rt_be32_put(p + KP_BATCH_OFF_RECORDS_COUNT, 11); /* under the CRC: recomputed */
		kp_batch_crc_update(p, size);
		cr_assert_eq(both(p, size, &at, 1, &a), -EINVAL);
		rt_be32_put(p + KP_BATCH_OFF_RECORDS_COUNT, 10);
		kp_batch_crc_update(p, size);
		rt_be32_put(p + KP_BATCH_OFF_LENGTH, (uint32_t)size); /* runs past the set */
		cr_assert_eq(both(p, size, &at, 1, &a), -EBADMSG);
		rt_be32_put(p + KP_BATCH_OFF_LENGTH, (uint32_t)(size - KP_BATCH_LOG_OVERHEAD));
		p[KP_BATCH_OFF_MAGIC] = 1;
		cr_assert_eq(both(p, size, &at, 1, &a), -ENOTSUP);
		p[KP_BATCH_OFF_MAGIC] = 2;
		cr_assert_eq(both(p, size, &at, 1, &a), 0);
	}
	/* Shorter than a header, cut in two. */
	size_t at = 10;
	cr_assert_eq(both(p, 40, &at, 1, &a), -EBADMSG);
	free(p);
	rt_arena_fini(&a);
}

/* A record's length varint, split between pieces, made wrong (CRC recomputed): INVALID_RECORD
 * with the iterator's message, as for the whole batch. */
Test(kp_batch_iov, bad_record_framing_split)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_NONE, 3, -1, &size);
	/* record 0's length varint is the first byte after the header; make it claim more */
	uint8_t was = p[KP_BATCH_HEADER_SIZE];
	for (int k = 0; k < 3; k++) {
		p[KP_BATCH_HEADER_SIZE] = (uint8_t)(k == 0 ? was + 2 : k == 1 ? 0x7e : 0x01);
		kp_batch_crc_update(p, size);
		for (size_t at = KP_BATCH_HEADER_SIZE - 1; at < KP_BATCH_HEADER_SIZE + 8; at++)
			cr_assert_eq(both(p, size, &at, 1, &a), -EINVAL);
	}
	p[KP_BATCH_HEADER_SIZE] = was;
	kp_batch_crc_update(p, size);
	/* bytes after the last record: one more byte in the batch */
	uint8_t *q = malloc(size + 1);
	memcpy(q, p, size);
	q[size] = 0;
	rt_be32_put(q + KP_BATCH_OFF_LENGTH, (uint32_t)(size + 1 - KP_BATCH_LOG_OVERHEAD));
	kp_batch_crc_update(q, size + 1);
	size_t at = size - 1;
	cr_assert_eq(both(q, size + 1, &at, 1, &a), -EINVAL);
	free(q);
	free(p);
	rt_arena_fini(&a);
}

Test(kp_batch_iov, compressed_or_several_batches_are_not_taken)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = make_batch(KP_COMPRESSION_LZ4, 50, -1, &size);
	struct pieces ps;
	size_t at = size / 2;
	cut(&ps, p, size, &at, 1);
	const char *why = NULL;
	cr_assert_eq(kp_records_validate_iov(ps.v, ps.n, &strict, &a, NULL, &why), -EXDEV);
	uncut(&ps);
	free(p);
	p = make_batch(KP_COMPRESSION_NONE, 5, -1, &size);
	uint8_t *two = malloc(2 * size);
	memcpy(two, p, size);
	memcpy(two + size, p, size);
	cut(&ps, two, 2 * size, &at, 1);
	cr_assert_eq(kp_records_validate_iov(ps.v, ps.n, &strict, &a, NULL, &why), -EXDEV);
	uncut(&ps);
	free(two);
	free(p);
	rt_arena_fini(&a);
}
