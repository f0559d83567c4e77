/* Unit tests for proto/batch.c: build -> validate -> iterate round trips, stamping, the client
 * rules of validation and the limits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "proto/batch.h"

static const enum kp_compression codecs[] = {
	KP_COMPRESSION_NONE, KP_COMPRESSION_GZIP, KP_COMPRESSION_SNAPPY, KP_COMPRESSION_LZ4, KP_COMPRESSION_ZSTD,
};
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

static const struct kp_validate_opts strict = {
	.max_batch_bytes = 16 << 20, .max_decompressed = 64 << 20, .check_records = true,
};

/* Record i of the standard test set: varied keys, values and headers, with nulls. */
static void record_i(int i, char *kbuf, char *vbuf, int32_t *klen, int32_t *vlen, int32_t *hc)
{
	*klen = i % 7 == 3 ? -1 : snprintf(kbuf, 32, "key-%d", i);
	if (i % 11 == 5) *vlen = -1;
	else if (i % 13 == 6) *vlen = 0;
	else *vlen = snprintf(vbuf, 256, "value %d %0*d", i, i % 200, 0);
	*hc = i % 3;
}

static const struct kp_record_header hdrs[2] = {
	{(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
	{(const uint8_t *)"nullv", 5, NULL, -1},
};

static void build_std(struct kp_batch_builder *b, int n, int64_t ts0)
{
	for (int i = 0; i < n; i++) {
		char k[32], v[256];
		int32_t kl, vl, hc;
		record_i(i, k, v, &kl, &vl, &hc);
		int rc = kp_batch_builder_add(b, ts0 + (i * 37) % 101, kl < 0 ? NULL : k, kl, vl < 0 ? NULL : v, vl,
		                              hc ? hdrs : NULL, hc);
		cr_assert_eq(rc, 0, "add %d: %d", i, rc);
	}
}

static void check_std(const uint8_t *p, size_t size, int n, int64_t ts0, struct rt_arena *a)
{
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, a, 0), 0);
	struct kp_record rec;
	int i = 0, rc;
	while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
		char k[32], v[256];
		int32_t kl, vl, hc;
		record_i(i, k, v, &kl, &vl, &hc);
		cr_assert_eq(rec.offset_delta, i);
		cr_assert_eq(it.hdr.base_timestamp + rec.timestamp_delta, ts0 + (i * 37) % 101);
		cr_assert_eq(rec.key_len, kl, "record %d key_len %d want %d", i, rec.key_len, kl);
		if (kl >= 0) cr_assert(memcmp(rec.key, k, (size_t)kl) == 0);
		else cr_assert_null(rec.key);
		cr_assert_eq(rec.value_len, vl);
		if (vl > 0) cr_assert(memcmp(rec.value, v, (size_t)vl) == 0);
		if (vl < 0) cr_assert_null(rec.value);
		cr_assert_eq(rec.header_count, hc);
		size_t pos = 0;
		struct kp_record_header h;
		for (int j = 0; j < hc; j++) {
			cr_assert_eq(kp_record_header_next(&rec, &pos, &h), 1);
			cr_assert_eq(h.key_len, hdrs[j].key_len);
			cr_assert(memcmp(h.key, hdrs[j].key, (size_t)h.key_len) == 0);
			cr_assert_eq(h.value_len, hdrs[j].value_len);
			if (h.value_len > 0) cr_assert(memcmp(h.value, hdrs[j].value, (size_t)h.value_len) == 0);
			if (h.value_len < 0) cr_assert_null(h.value);
		}
		cr_assert_eq(kp_record_header_next(&rec, &pos, &h), 0);
		i++;
	}
	cr_assert_eq(rc, 0, "iteration ended with %d (%s)", rc, it.why ? it.why : "");
	cr_assert_eq(i, n);
}

Test(kp_batch, round_trip_every_codec)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	for (size_t c = 0; c < NCODECS; c++) {
		struct kp_batch_builder b;
		kp_batch_builder_init(&b, codecs[c], 0, -1, -1, -1);
		build_std(&b, 300, 1700000000000);
		size_t size;
		const uint8_t *p = kp_batch_builder_finish(&b, &size);
		cr_assert_not_null(p);
		cr_assert_eq(kp_batch_size(p, size), size);
		cr_assert(kp_batch_crc_ok(p, size));
		struct kp_batch_hdr h;
		cr_assert_eq(kp_batch_hdr_parse(p, size, &h), 0);
		cr_assert_eq(h.magic, 2);
		cr_assert_eq(h.attributes & KP_ATTR_COMPRESSION_MASK, (int)codecs[c]);
		cr_assert_eq(h.records_count, 300);
		cr_assert_eq(h.last_offset_delta, 299);
		cr_assert_eq(h.base_timestamp, 1700000000000);
		cr_assert_eq(h.max_timestamp, 1700000000100);
		cr_assert_eq(h.producer_id, -1);
		struct kp_records_info info;
		const char *why = NULL;
		int rc = kp_records_validate(p, size, &strict, &a, &info, &why);
		cr_assert_eq(rc, 0, "codec %d: %d %s", (int)codecs[c], rc, why ? why : "");
		cr_assert_eq(info.batches, 1);
		cr_assert_eq(info.records, 300);
		cr_assert_eq(info.offset_count, 300);
		cr_assert_eq(info.max_timestamp, 1700000000100);
		cr_assert_eq(info.min_timestamp, 1700000000000);
		cr_assert_eq(info.first_timestamp, 1700000000000);
		cr_assert_eq(info.compression, codecs[c]);
		cr_assert_eq(info.producer_id, -1);
		cr_assert(!info.transactional && !info.control);
		check_std(p, size, 300, 1700000000000, &a);
		if (codecs[c] != KP_COMPRESSION_NONE) {
			/* Compressed must really be smaller for this repetitive set. */
			struct kp_batch_builder plain;
			kp_batch_builder_init(&plain, KP_COMPRESSION_NONE, 0, -1, -1, -1);
			build_std(&plain, 300, 1700000000000);
			size_t psize;
			cr_assert_not_null(kp_batch_builder_finish(&plain, &psize));
			cr_assert_lt(size, psize / 2, "codec %d: %zu vs %zu", (int)codecs[c], size, psize);
			kp_batch_builder_fini(&plain);
		}
		kp_batch_builder_fini(&b);
		rt_arena_reset(&a);
	}
	rt_arena_fini(&a);
}

Test(kp_batch, many_records_and_big_values)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	static char big[100000];
	for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)(i * 131 + i / 7);
	for (size_t c = 0; c < NCODECS; c++) {
		struct kp_batch_builder b;
		kp_batch_builder_init(&b, codecs[c], 0, -1, -1, -1);
		for (int i = 0; i < 20000; i++) {
			int32_t vl = i % 1000 == 0 ? (int32_t)sizeof(big) : i % 50;
			cr_assert_eq(kp_batch_builder_add(&b, 5, &i, 4, big, vl, NULL, 0), 0);
		}
		size_t size;
		const uint8_t *p = kp_batch_builder_finish(&b, &size);
		cr_assert_not_null(p);
		struct kp_records_info info;
		const char *why = NULL;
		cr_assert_eq(kp_records_validate(p, size, &strict, &a, &info, &why), 0, "%s", why ? why : "");
		cr_assert_eq(info.records, 20000);
		struct kp_batch_iter it;
		cr_assert_eq(kp_batch_iter_init(&it, p, size, &a, 0), 0);
		struct kp_record rec;
		int i = 0;
		while (kp_batch_iter_next(&it, &rec) == 1) {
			int k;
			memcpy(&k, rec.key, 4);
			cr_assert_eq(k, i);
			int32_t vl = i % 1000 == 0 ? (int32_t)sizeof(big) : i % 50;
			cr_assert_eq(rec.value_len, vl);
			cr_assert(memcmp(rec.value, big, (size_t)vl) == 0);
			i++;
		}
		cr_assert_eq(it.err, 0);
		cr_assert_eq(i, 20000);
		kp_batch_builder_fini(&b);
		rt_arena_reset(&a);
	}
	rt_arena_fini(&a);
}

Test(kp_batch, producer_fields_and_transactional)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_LZ4, KP_ATTR_TRANSACTIONAL, 4242, 7, 1000);
	build_std(&b, 10, 99);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	struct kp_batch_hdr h;
	cr_assert_eq(kp_batch_hdr_parse(p, size, &h), 0);
	cr_assert_eq(h.producer_id, 4242);
	cr_assert_eq(h.producer_epoch, 7);
	cr_assert_eq(h.base_sequence, 1000);
	cr_assert_eq(h.attributes, KP_ATTR_TRANSACTIONAL | KP_COMPRESSION_LZ4);
	struct kp_records_info info;
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, &info, NULL), 0);
	cr_assert_eq(info.producer_id, 4242);
	cr_assert_eq(info.producer_epoch, 7);
	cr_assert_eq(info.base_sequence, 1000);
	cr_assert(info.transactional);
	cr_assert_eq(info.compression, KP_COMPRESSION_LZ4);
	kp_batch_builder_fini(&b);

	/* A producer id with a negative sequence is Kafka's "Invalid sequence number". */
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, 4242, 7, -1);
	build_std(&b, 3, 99);
	p = kp_batch_builder_finish(&b, &size);
	const char *why = NULL;
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, &info, &why), -EINVAL);
	cr_assert_not_null(why);
	kp_batch_builder_fini(&b);
	rt_arena_fini(&a);
}

/* A standard batch of n records (build_std) as a malloc'd copy the caller may alter and frees. */
static uint8_t *std_copy(enum kp_compression c, int64_t pid, int16_t epoch, int32_t seq, int n, int64_t ts0,
                         size_t *size)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, c, 0, pid, epoch, seq);
	build_std(&b, n, ts0);
	const uint8_t *built = kp_batch_builder_finish(&b, size);
	uint8_t *p = malloc(*size);
	cr_assert_not_null(p);
	memcpy(p, built, *size);
	kp_batch_builder_fini(&b);
	return p;
}

/* What a producer's state needs of the one batch a client sends comes out of validation: its
 * last_offset_delta and the header's max_timestamp, kept apart from the maximum the records say. */
Test(kp_batch, info_carries_the_first_header_fields_a_producer_state_needs)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = std_copy(KP_COMPRESSION_NONE, 4242, 7, 1000, 10, 500, &size);
	struct kp_records_info info;
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, &info, NULL), 0);
	cr_assert_eq(info.last_offset_delta, 9);
	cr_assert_eq(info.header_max_timestamp, info.max_timestamp);
	/* A header whose max_timestamp disagrees with its records (max (i * 37) % 101 for i < 10 is
	 * 94; CRC made good again). */
	rt_be64_put(p + KP_BATCH_OFF_MAX_TIMESTAMP, 123456789);
	kp_batch_crc_update(p, size);
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, &info, NULL), 0);
	cr_assert_eq(info.header_max_timestamp, 123456789);
	cr_assert_eq(info.max_timestamp, 500 + 94, "the records' own maximum: %lld", (long long)info.max_timestamp);
	cr_assert_eq(info.last_offset_delta, 9);
	free(p);
	rt_arena_fini(&a);
}

/* A reader that skips a batch it cannot read (control/store.c) still takes its offsets from the
 * iterator's header; a header that does not parse leaves it zeroed. */
Test(kp_batch, iter_init_keeps_the_header_when_the_records_fail)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	size_t size;
	uint8_t *p = std_copy(KP_COMPRESSION_ZSTD, -1, -1, -1, 5, 100, &size);
	rt_be64_put(p + KP_BATCH_OFF_BASE_OFFSET, 4000);
	memset(p + KP_BATCH_HEADER_SIZE, 0xee, size - KP_BATCH_HEADER_SIZE);  /* not zstd any more */
	struct kp_batch_iter it;
	cr_assert_neq(kp_batch_iter_init(&it, p, size, &a, 0), 0);
	cr_assert_eq(it.hdr.magic, 2);
	cr_assert_eq(it.hdr.base_offset, 4000);
	cr_assert_eq(it.hdr.last_offset_delta, 4);
	p[KP_BATCH_OFF_MAGIC] = 3;
	cr_assert_neq(kp_batch_iter_init(&it, p, size, &a, 0), 0);
	cr_assert_eq(it.hdr.magic, 0);
	cr_assert_eq(it.hdr.base_offset, 0);
	free(p);
	rt_arena_fini(&a);
}

Test(kp_batch, stamp_keeps_crc_and_crc_update_after_attributes)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_ZSTD, 0, -1, -1, -1);
	build_std(&b, 20, 1000);
	size_t size;
	const uint8_t *cp = kp_batch_builder_finish(&b, &size);
	uint8_t *p = malloc(size);
	memcpy(p, cp, size);
	kp_batch_stamp(p, 123456789012LL, 17);
	cr_assert(kp_batch_crc_ok(p, size));
	struct kp_batch_hdr h;
	cr_assert_eq(kp_batch_hdr_parse(p, size, &h), 0);
	cr_assert_eq(h.base_offset, 123456789012LL);
	cr_assert_eq(h.leader_epoch, 17);
	cr_assert_eq(rt_be64_get(p), 123456789012ULL);

	/* A stamped batch is no longer what a client may send, but the log may hold it. */
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, NULL, NULL), -EINVAL);
	struct kp_validate_opts internal = strict;
	internal.internal_origin = true;
	cr_assert_eq(kp_records_validate(p, size, &internal, &a, NULL, NULL), 0);

	/* LogAppendTime: the attribute and max timestamp are CRC-covered, so the CRC must follow. */
	uint16_t attr = rt_be16_get(p + KP_BATCH_OFF_ATTRIBUTES);
	rt_be16_put(p + KP_BATCH_OFF_ATTRIBUTES, attr | KP_ATTR_LOG_APPEND_TIME);
	rt_be64_put(p + KP_BATCH_OFF_MAX_TIMESTAMP, 5555);
	cr_assert(!kp_batch_crc_ok(p, size));
	cr_assert_eq(kp_records_validate(p, size, &internal, &a, NULL, NULL), -EBADMSG);
	kp_batch_crc_update(p, size);
	cr_assert(kp_batch_crc_ok(p, size));
	cr_assert_eq(kp_records_validate(p, size, &internal, &a, NULL, NULL), 0);
	cr_assert_eq(kp_batch_hdr_parse(p, size, &h), 0);
	cr_assert_eq(h.attributes, KP_COMPRESSION_ZSTD | KP_ATTR_LOG_APPEND_TIME);
	check_std(p, size, 20, 1000, &a);
	free(p);
	kp_batch_builder_fini(&b);
	rt_arena_fini(&a);
}

Test(kp_batch, control_batches_only_from_inside)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, KP_ATTR_CONTROL | KP_ATTR_TRANSACTIONAL, 77, 1, 0);
	/* A COMMIT marker: key = version 0, type 1; value = version 0, coordinator epoch 3. */
	uint8_t key[4] = {0, 0, 0, 1}, val[6] = {0, 0, 0, 0, 0, 3};
	cr_assert_eq(kp_batch_builder_add(&b, 10, key, 4, val, 6, NULL, 0), 0);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	const char *why = NULL;
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, NULL, &why), -EINVAL);
	cr_assert(strstr(why, "control") != NULL);
	struct kp_validate_opts internal = strict;
	internal.internal_origin = true;
	struct kp_records_info info;
	cr_assert_eq(kp_records_validate(p, size, &internal, &a, &info, NULL), 0);
	cr_assert(info.control && info.transactional);
	kp_batch_builder_fini(&b);
	rt_arena_fini(&a);
}

Test(kp_batch, marker_builder_writes_kafkas_end_transaction_marker)
{
	struct kp_batch_builder b;
	cr_assert_eq(kp_batch_builder_marker(&b, 77, 1, false, 3, 10), 0);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	cr_assert_not_null(p);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, &a, 0), 0);
	cr_assert_eq(it.hdr.attributes, KP_ATTR_CONTROL | KP_ATTR_TRANSACTIONAL);
	cr_assert_eq(it.hdr.producer_id, 77);
	cr_assert_eq(it.hdr.producer_epoch, 1);
	cr_assert_eq(it.hdr.base_sequence, -1);
	cr_assert_eq(it.hdr.records_count, 1);
	cr_assert_eq(it.hdr.base_timestamp, 10);
	struct kp_record rec;
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 1);
	/* An ABORT marker: key = version 0, type 0; value = version 0, coordinator epoch 3. */
	static const uint8_t key[4] = {0, 0, 0, 0}, val[6] = {0, 0, 0, 0, 0, 3};
	cr_assert(rec.key_len == 4 && !memcmp(rec.key, key, 4));
	cr_assert(rec.value_len == 6 && !memcmp(rec.value, val, 6));
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 0);
	kp_batch_builder_fini(&b);
	rt_arena_fini(&a);
}

Test(kp_batch, one_batch_per_client_set)
{
	struct kp_batch_builder b1, b2;
	kp_batch_builder_init(&b1, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	kp_batch_builder_init(&b2, KP_COMPRESSION_GZIP, 0, -1, -1, -1);
	build_std(&b1, 5, 100);
	build_std(&b2, 8, 200);
	size_t s1, s2;
	const uint8_t *p1 = kp_batch_builder_finish(&b1, &s1);
	const uint8_t *p2 = kp_batch_builder_finish(&b2, &s2);
	uint8_t *both = malloc(s1 + s2);
	memcpy(both, p1, s1);
	memcpy(both + s1, p2, s2);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	cr_assert_eq(kp_records_validate(both, s1 + s2, &strict, &a, NULL, NULL), -EINVAL);
	struct kp_validate_opts internal = strict;
	internal.internal_origin = true;
	struct kp_records_info info;
	cr_assert_eq(kp_records_validate(both, s1 + s2, &internal, &a, &info, NULL), 0);
	cr_assert_eq(info.batches, 2);
	cr_assert_eq(info.records, 13);
	cr_assert_eq(info.offset_count, 13);
	cr_assert_eq(info.first_timestamp, 100);
	cr_assert_eq(info.max_timestamp, 284); /* 200 + (5 * 37) % 101 */
	cr_assert_eq(info.compression, KP_COMPRESSION_NONE);
	/* A few trailing bytes that do not make a batch are corruption. */
	cr_assert_eq(kp_records_validate(both, s1 + 11, &internal, &a, NULL, NULL), -EBADMSG);
	free(both);
	kp_batch_builder_fini(&b1);
	kp_batch_builder_fini(&b2);
	rt_arena_fini(&a);
}

Test(kp_batch, limits)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_ZSTD, 0, -1, -1, -1);
	static char zeros[65536];
	for (int i = 0; i < 64; i++) cr_assert_eq(kp_batch_builder_add(&b, 1, NULL, -1, zeros, sizeof(zeros), NULL, 0), 0);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	cr_assert_lt(size, 8192u);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_validate_opts o = strict;
	o.max_batch_bytes = size - 1;
	const char *why = NULL;
	cr_assert_eq(kp_records_validate(p, size, &o, &a, NULL, &why), -E2BIG);
	o.max_batch_bytes = size;
	cr_assert_eq(kp_records_validate(p, size, &o, &a, NULL, NULL), 0);
	/* 4 MiB of records decompressed: one byte under that bound is a bomb. */
	o.max_decompressed = 64 * (sizeof(zeros) + 8) - 1;
	cr_assert_eq(kp_records_validate(p, size, &o, &a, NULL, &why), -E2BIG);
	/* Without check_records the payload is not looked at. */
	o.check_records = false;
	cr_assert_eq(kp_records_validate(p, size, &o, &a, NULL, NULL), 0);
	/* The arena's own limit also holds the decompressed copy. */
	struct rt_arena small;
	rt_arena_init(&small, 0, 1 << 20);
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, &small, 0), -ENOMEM);
	rt_arena_fini(&small);
	kp_batch_builder_fini(&b);
	rt_arena_fini(&a);
}

Test(kp_batch, empty_and_header_only)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	cr_assert_eq(kp_records_validate((const uint8_t *)"", 0, &strict, &a, NULL, NULL), -EINVAL);
	/* A batch of no records is well-framed but Kafka rejects its count. */
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	cr_assert_eq(size, (size_t)KP_BATCH_HEADER_SIZE);
	cr_assert_eq(kp_records_validate(p, size, &strict, &a, NULL, NULL), -EINVAL);
	struct kp_batch_iter it;
	struct kp_record rec;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, &a, 0), 0);
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 0);
	/* The header alone is enough for peek, not for parse. */
	struct kp_batch_builder b2;
	kp_batch_builder_init(&b2, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	build_std(&b2, 3, 1);
	p = kp_batch_builder_finish(&b2, &size);
	struct kp_batch_hdr h;
	cr_assert_eq(kp_batch_hdr_peek(p, KP_BATCH_HEADER_SIZE, &h), 0);
	cr_assert_eq(h.records_count, 3);
	cr_assert_eq(kp_batch_hdr_parse(p, KP_BATCH_HEADER_SIZE, &h), -EBADMSG);
	cr_assert_eq(kp_batch_size(p, 12), size);
	cr_assert_eq(kp_batch_size(p, 11), 0u);
	kp_batch_builder_fini(&b);
	kp_batch_builder_fini(&b2);
	rt_arena_fini(&a);
}

Test(kp_batch, builder_rejects_bad_lengths)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	cr_assert_eq(kp_batch_builder_add(&b, 1, NULL, -2, NULL, -1, NULL, 0), -EINVAL);
	cr_assert_eq(kp_batch_builder_add(&b, 1, NULL, -1, NULL, -3, NULL, 0), -EINVAL);
	struct kp_record_header nullkey = {NULL, -1, NULL, -1};
	cr_assert_eq(kp_batch_builder_add(&b, 1, NULL, -1, NULL, -1, &nullkey, 1), -EINVAL);
	cr_assert_eq(kp_batch_builder_add(&b, 1, NULL, -1, NULL, -1, NULL, 1), -EINVAL);
	cr_assert_eq(b.count, 0);
	/* Timestamps before the first record's give negative deltas and still round-trip. */
	cr_assert_eq(kp_batch_builder_add(&b, 1000, NULL, -1, NULL, -1, NULL, 0), 0);
	cr_assert_eq(kp_batch_builder_add(&b, 10, NULL, -1, NULL, -1, NULL, 0), 0);
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(&b, &size);
	struct kp_batch_iter it;
	struct kp_record rec;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, NULL, 0), 0);
	cr_assert_eq(it.hdr.max_timestamp, 1000);
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 1);
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 1);
	cr_assert_eq(rec.timestamp_delta, -990);
	cr_assert_eq(kp_batch_iter_next(&it, &rec), 0);
	/* The records' minimum is not the first record's timestamp; -1 (no timestamp) is not a minimum. */
	cr_assert_eq(kp_batch_builder_add(&b, -1, NULL, -1, NULL, -1, NULL, 0), 0);
	p = kp_batch_builder_finish(&b, &size);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_records_info info;
	cr_assert_eq(kp_records_validate(p, size, &(struct kp_validate_opts){.check_records = true}, &a, &info, NULL), 0);
	cr_assert_eq(info.min_timestamp, 10);
	cr_assert_eq(info.max_timestamp, 1000);
	cr_assert_eq(info.first_timestamp, 1000);
	/* Without check_records only the header speaks: base timestamp and max timestamp. */
	cr_assert_eq(kp_records_validate(p, size, &(struct kp_validate_opts){0}, &a, &info, NULL), 0);
	cr_assert_eq(info.min_timestamp, 1000);
	rt_arena_fini(&a);
	kp_batch_builder_fini(&b);
}

/* Kafka refuses records without a key on compacted topics (INVALID_RECORD): require_keys. */
Test(kp_batch, require_keys_refuses_a_keyless_record_in_any_codec)
{
	struct kp_validate_opts keys = strict;
	keys.require_keys = true;
	for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++) {
		struct rt_arena a;
		rt_arena_init(&a, 0, 0);
		struct kp_batch_builder b;
		kp_batch_builder_init(&b, codecs[c], 0, -1, -1, -1);
		cr_assert_eq(kp_batch_builder_add(&b, 1000, "k", 1, "v", 1, NULL, 0), 0);
		cr_assert_eq(kp_batch_builder_add(&b, 1001, NULL, -1, "v", 1, NULL, 0), 0);
		size_t size;
		const uint8_t *p = kp_batch_builder_finish(&b, &size);
		cr_assert_not_null(p);
		const char *why = NULL;
		cr_expect_eq(kp_records_validate(p, size, &strict, &a, NULL, &why), 0, "codec %d", (int)codecs[c]);
		rt_arena_reset(&a);
		why = NULL;
		cr_expect_eq(kp_records_validate(p, size, &keys, &a, NULL, &why), -EINVAL, "codec %d", (int)codecs[c]);
		cr_expect(why && strstr(why, "key"), "the reason names the missing key: %s", why ? why : "(none)");
		kp_batch_builder_fini(&b);

		/* Every record keyed: accepted. */
		kp_batch_builder_init(&b, codecs[c], 0, -1, -1, -1);
		cr_assert_eq(kp_batch_builder_add(&b, 1000, "k", 1, NULL, -1, NULL, 0), 0);
		p = kp_batch_builder_finish(&b, &size);
		rt_arena_reset(&a);
		cr_expect_eq(kp_records_validate(p, size, &keys, &a, NULL, &why), 0, "a keyed tombstone is fine");
		kp_batch_builder_fini(&b);
		rt_arena_fini(&a);
	}
}
