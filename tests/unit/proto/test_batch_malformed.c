/* Malformed record batches: every truncation point, bad CRC, magic and length fields,
 * records_count against the records present, broken record framing (overlong varints,
 * lengths past the end), decompression bombs and garbage payloads for every codec.  Each must
 * give the documented errno; inputs live in exact-size heap copies so that ASan
 * (meson setup build-asan -Db_sanitize=address,undefined) reports any over-read. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "proto/batch.h"
#include "proto/compress.h"

static const enum kp_compression codecs[] = {
	KP_COMPRESSION_NONE, KP_COMPRESSION_GZIP, KP_COMPRESSION_SNAPPY, KP_COMPRESSION_LZ4, KP_COMPRESSION_ZSTD,
};
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

static const struct kp_validate_opts strict = {
	.max_batch_bytes = 1 << 20, .max_decompressed = 1 << 20, .check_records = true,
};

static struct rt_arena arena;
static void setup(void) { rt_arena_init(&arena, 0, 64 << 20); }
static void teardown(void) { rt_arena_fini(&arena); }

static uint8_t *dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	memcpy(d, p, n);
	return d;
}

static int validate(const uint8_t *p, size_t n, const char **why)
{
	uint8_t *d = dup(p, n);
	int rc = kp_records_validate(d, n, &strict, &arena, NULL, why);
	free(d);
	rt_arena_reset(&arena);
	return rc;
}

/* A good batch of a few records with headers and nulls. */
static uint8_t *good_batch(enum kp_compression c, size_t *size)
{
	struct kp_batch_builder b;
	kp_batch_builder_init(&b, c, 0, 5, 1, 0);
	struct kp_record_header h = {(const uint8_t *)"hk", 2, (const uint8_t *)"hv", 2};
	for (int i = 0; i < 12; i++)
		cr_assert_eq(kp_batch_builder_add(&b, 1000 + i, i % 2 ? "key" : NULL, i % 2 ? 3 : -1,
		                                  "value-value-value", i % 3 ? 17 : -1, &h, i % 2), 0);
	const uint8_t *p = kp_batch_builder_finish(&b, size);
	uint8_t *d = dup(p, *size);
	kp_batch_builder_fini(&b);
	return d;
}

/* A batch around hand-made records bytes: header from the builder, then count and
 * last_offset_delta as given, the payload compressed with c, length and CRC made consistent. */
static uint8_t *craft(enum kp_compression c, const uint8_t *recs, size_t n, int32_t count, int32_t lod, size_t *size)
{
	struct rt_buf o;
	rt_buf_init(&o, 0);
	uint8_t *h = rt_buf_extend(&o, KP_BATCH_HEADER_SIZE);
	memset(h, 0, KP_BATCH_HEADER_SIZE);
	h[KP_BATCH_OFF_MAGIC] = 2;
	rt_be16_put(h + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)c);
	rt_be32_put(h + KP_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)lod);
	rt_be64_put(h + KP_BATCH_OFF_PRODUCER_ID, (uint64_t)-1);
	rt_be16_put(h + KP_BATCH_OFF_PRODUCER_EPOCH, 0xffff);
	rt_be32_put(h + KP_BATCH_OFF_BASE_SEQUENCE, 0xffffffffu);
	rt_be32_put(h + KP_BATCH_OFF_RECORDS_COUNT, (uint32_t)count);
	cr_assert_eq(kp_compress(c, recs, n, &o), 0);
	rt_be32_put(o.data + KP_BATCH_OFF_LENGTH, (uint32_t)(o.len - KP_BATCH_LOG_OVERHEAD));
	kp_batch_crc_update(o.data, o.len);
	*size = o.len;
	return rt_buf_steal(&o, NULL);
}

Test(kp_batch_malformed, every_truncation_point, .init = setup, .fini = teardown)
{
	for (size_t c = 0; c < NCODECS; c++) {
		size_t size;
		uint8_t *p = good_batch(codecs[c], &size);
		cr_assert_eq(validate(p, size, NULL), 0);
		for (size_t cut = 0; cut < size; cut++) {
			const char *why = NULL;
			int rc = validate(p, cut, &why);
			cr_assert_eq(rc, cut == 0 ? -EINVAL : -EBADMSG, "codec %d cut %zu: %d", (int)codecs[c], cut, rc);
			cr_assert_not_null(why);
			uint8_t *d = dup(p, cut);
			struct kp_batch_hdr h;
			cr_assert_eq(kp_batch_hdr_parse(d, cut, &h), -EBADMSG);
			struct kp_batch_iter it;
			cr_assert_lt(kp_batch_iter_init(&it, d, cut, &arena, 1 << 20), 0);
			free(d);
		}
		free(p);
	}
}

Test(kp_batch_malformed, crc_mismatch_anywhere, .init = setup, .fini = teardown)
{
	for (size_t c = 0; c < NCODECS; c++) {
		size_t size;
		uint8_t *p = good_batch(codecs[c], &size);
		for (size_t i = KP_BATCH_OFF_CRC; i < size; i++) {
			p[i] ^= (uint8_t)(1u << (i % 8));
			const char *why = NULL;
			int rc = validate(p, size, &why);
			cr_assert(rc == -EBADMSG, "codec %d byte %zu: %d %s", (int)codecs[c], i, rc, why ? why : "");
			p[i] ^= (uint8_t)(1u << (i % 8));
		}
		cr_assert_eq(validate(p, size, NULL), 0);
		free(p);
	}
}

Test(kp_batch_malformed, magic, .init = setup, .fini = teardown)
{
	size_t size;
	uint8_t *p = good_batch(KP_COMPRESSION_NONE, &size);
	static const struct { int8_t magic; int err; } cases[] = {
		{0, -ENOTSUP}, {1, -ENOTSUP}, {3, -EBADMSG}, {-1, -EBADMSG}, {127, -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p[KP_BATCH_OFF_MAGIC] = (uint8_t)cases[i].magic;
		cr_assert_eq(validate(p, size, NULL), cases[i].err, "magic %d", cases[i].magic);
		struct kp_batch_hdr h;
		cr_assert_eq(kp_batch_hdr_parse(p, size, &h), cases[i].err);
	}
	/* A v0 message set (offset, size, crc, magic 0, ...) is shorter than a v2 header: still ENOTSUP. */
	uint8_t v0[26] = {0};
	rt_be32_put(v0 + 8, 14);
	v0[16] = 0;
	cr_assert_eq(validate(v0, sizeof(v0), NULL), -ENOTSUP);
	free(p);
}

Test(kp_batch_malformed, length_fields, .init = setup, .fini = teardown)
{
	size_t size;
	uint8_t *p = good_batch(KP_COMPRESSION_NONE, &size);
	int32_t real = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LENGTH);
	static const int32_t bad[] = {-1, INT32_MIN, INT32_MAX, 0, 1, KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD - 1};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rt_be32_put(p + KP_BATCH_OFF_LENGTH, (uint32_t)bad[i]);
		cr_assert_eq(validate(p, size, NULL), -EBADMSG, "length %d", bad[i]);
	}
	/* One more than present, or some less (the CRC then covers fewer bytes and fails). */
	rt_be32_put(p + KP_BATCH_OFF_LENGTH, (uint32_t)(real + 1));
	cr_assert_eq(validate(p, size, NULL), -EBADMSG);
	rt_be32_put(p + KP_BATCH_OFF_LENGTH, (uint32_t)(real - 5));
	cr_assert_eq(validate(p, size, NULL), -EBADMSG);
	/* Less, with the CRC made to match the shorter batch: the records no longer fit (INVALID_RECORD)
	 * and when they do, the 5 bytes left over are corruption. */
	kp_batch_crc_update(p, size - 5);
	cr_assert_eq(validate(p, size - 5, NULL), -EINVAL);
	struct kp_validate_opts o = strict;
	o.check_records = false;
	uint8_t *d = dup(p, size);
	cr_assert_eq(kp_records_validate(d, size, &o, &arena, NULL, NULL), -EBADMSG);
	cr_assert_eq(kp_records_validate(d, size - 5, &o, &arena, NULL, NULL), 0);
	free(d);
	/* kp_batch_size walks by the length field and says 0 for a negative one. */
	rt_be32_put(p + KP_BATCH_OFF_LENGTH, 0x80000000u);
	cr_assert_eq(kp_batch_size(p, size), 0u);
	free(p);
}

Test(kp_batch_malformed, records_count_against_records, .init = setup, .fini = teardown)
{
	for (size_t c = 0; c < NCODECS; c++) {
		size_t size;
		uint8_t *p = good_batch(codecs[c], &size);
		int32_t n = (int32_t)rt_be32_get(p + KP_BATCH_OFF_RECORDS_COUNT);
		static const struct { int32_t dcount, dlod; int err; } cases[] = {
			{+1, +1, -EINVAL},  /* more declared than present: premature end */
			{-1, -1, -EINVAL},  /* fewer declared: a record left over */
			{+1, 0, -EINVAL},   /* count and last_offset_delta disagree */
			{0, -1, -EINVAL},
			{-12, -12, -EINVAL}, /* zero records, last_offset_delta -1 */
			{-13, -1, -EINVAL},  /* negative count */
			{+1000000, +1000000, -EINVAL},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			uint8_t *d = dup(p, size);
			rt_be32_put(d + KP_BATCH_OFF_RECORDS_COUNT, (uint32_t)(n + cases[i].dcount));
			rt_be32_put(d + KP_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(n - 1 + cases[i].dlod));
			kp_batch_crc_update(d, size);
			const char *why = NULL;
			int rc = kp_records_validate(d, size, &strict, &arena, NULL, &why);
			cr_assert_eq(rc, cases[i].err, "codec %d case %zu: %d %s", (int)codecs[c], i, rc, why ? why : "");
			cr_assert_not_null(why);
			free(d);
			rt_arena_reset(&arena);
		}
		free(p);
	}
	/* The iterator reports a negative count as corruption. */
	size_t size;
	uint8_t *p = good_batch(KP_COMPRESSION_NONE, &size);
	rt_be32_put(p + KP_BATCH_OFF_RECORDS_COUNT, 0xffffffffu);
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, size, &arena, 0), -EBADMSG);
	free(p);
}

/* One record's bytes after its length varint: attributes 0, timestamp delta 0, offset delta 0. */
#define REC_HEAD 0x00, 0x00, 0x00

Test(kp_batch_malformed, record_framing, .init = setup, .fini = teardown)
{
	static const struct { const char *what; uint8_t bytes[24]; size_t n; } cases[] = {
		{"overlong record length varint", {0x80, 0x80, 0x80, 0x80, 0x80, 0x01, REC_HEAD, 0x01, 0x01, 0x00}, 12},
		{"negative record length", {0x01, REC_HEAD, 0x01, 0x01, 0x00}, 7},
		{"record length past the end", {0x7e, REC_HEAD, 0x01, 0x01, 0x00}, 7},
		{"record length longer than its fields", {0x0e, REC_HEAD, 0x01, 0x01, 0x00, 0x00}, 8},
		{"record length shorter than its fields", {0x0a, REC_HEAD, 0x01, 0x01, 0x00}, 7},
		{"overlong timestamp varlong", {0x20, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x01, 0x01, 0x00}, 17},
		{"overlong offset delta varint", {0x18, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01, 0x01, 0x00}, 13},
		{"key length past the record", {0x0c, REC_HEAD, 0x08, 'a', 0x01, 0x00}, 7},
		{"key length below -1", {0x0a, REC_HEAD, 0x03, 0x01}, 6},
		{"value length past the record", {0x0c, REC_HEAD, 0x01, 0x10, 'a', 0x00}, 7},
		{"negative header count", {0x0c, REC_HEAD, 0x01, 0x01, 0x01}, 7},
		{"header count past the record", {0x0c, REC_HEAD, 0x01, 0x01, 0x04}, 7},
		{"null header key", {0x10, REC_HEAD, 0x01, 0x01, 0x02, 0x01, 0x01}, 9},
		{"header value past the record", {0x14, REC_HEAD, 0x01, 0x01, 0x02, 0x02, 'k', 0x08, 'v'}, 11},
		{"offset delta not 0", {0x0c, 0x00, 0x00, 0x02, 0x01, 0x01, 0x00}, 7},
	};
	for (size_t c = 0; c < NCODECS; c++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			size_t size;
			uint8_t *p = craft(codecs[c], cases[i].bytes, cases[i].n, 1, 0, &size);
			const char *why = NULL;
			int rc = kp_records_validate(p, size, &strict, &arena, NULL, &why);
			cr_assert_eq(rc, -EINVAL, "codec %d: %s: %d %s", (int)codecs[c], cases[i].what, rc, why ? why : "");
			/* The iterator itself: -EBADMSG for framing (the offset delta is validation's business). */
			struct kp_batch_iter it;
			struct kp_record rec;
			cr_assert_eq(kp_batch_iter_init(&it, p, size, &arena, 0), 0);
			rc = kp_batch_iter_next(&it, &rec);
			if (i + 1 < sizeof(cases) / sizeof(cases[0]))
				cr_assert_eq(rc, -EBADMSG, "%s: %d", cases[i].what, rc);
			else
				cr_assert_eq(rc, 1);
			free(p);
			rt_arena_reset(&arena);
		}
		/* No records at all behind a count of 1 (for a codec: a payload that decompresses to nothing). */
		{
			size_t size;
			uint8_t *p = craft(codecs[c], (const uint8_t *)"", 0, 1, 0, &size);
			cr_assert_eq(kp_records_validate(p, size, &strict, &arena, NULL, NULL), -EINVAL, "codec %d", (int)codecs[c]);
			free(p);
			rt_arena_reset(&arena);
		}
		/* And the well-formed twin of these records validates, so the cases test what they say. */
		static const uint8_t ok[] = {0x14, REC_HEAD, 0x01, 0x01, 0x02, 0x02, 'k', 0x02, 'v'};
		size_t size;
		uint8_t *p = craft(codecs[c], ok, sizeof(ok), 1, 0, &size);
		const char *why = NULL;
		cr_assert_eq(kp_records_validate(p, size, &strict, &arena, NULL, &why), 0, "%s", why ? why : "");
		free(p);
		rt_arena_reset(&arena);
	}
}

Test(kp_batch_malformed, decompression_bomb_per_codec, .init = setup, .fini = teardown)
{
	size_t n = 32 << 20;
	uint8_t *zeros = calloc(1, n);
	for (size_t c = 1; c < NCODECS; c++) {
		size_t size;
		uint8_t *p = craft(codecs[c], zeros, n, 1, 0, &size);
		cr_assert_lt(size, (size_t)(2 << 20), "codec %d: %zu", (int)codecs[c], size);
		struct kp_validate_opts o = strict;
		o.max_batch_bytes = 16 << 20;
		const char *why = NULL;
		cr_assert_eq(kp_records_validate(p, size, &o, &arena, NULL, &why), -E2BIG, "codec %d", (int)codecs[c]);
		cr_assert_leq(arena.used, (size_t)0, "nothing of a bomb is kept");
		free(p);
	}
	free(zeros);
}

Test(kp_batch_malformed, garbage_payload_per_codec, .init = setup, .fini = teardown)
{
	uint8_t junk[600];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (uint8_t)(x >> 16);
	}
	for (size_t c = 1; c < NCODECS; c++) {
		size_t size;
		/* Build a real batch, then replace its compressed payload with junk of the same size. */
		uint8_t *p = craft(KP_COMPRESSION_NONE, junk, sizeof(junk), 1, 0, &size);
		rt_be16_put(p + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)codecs[c]);
		kp_batch_crc_update(p, size);
		const char *why = NULL;
		int rc = kp_records_validate(p, size, &strict, &arena, NULL, &why);
		cr_assert_eq(rc, -EBADMSG, "codec %d: %d %s", (int)codecs[c], rc, why ? why : "");
		/* Without check_records the payload is not opened. */
		struct kp_validate_opts o = strict;
		o.check_records = false;
		cr_assert_eq(kp_records_validate(p, size, &o, &arena, NULL, NULL), 0);
		free(p);
	}
}

Test(kp_batch_malformed, unknown_codec_and_client_rules, .init = setup, .fini = teardown)
{
	size_t size;
	uint8_t *p = good_batch(KP_COMPRESSION_NONE, &size);
	for (uint16_t c = 5; c <= 7; c++) {
		uint8_t *d = dup(p, size);
		rt_be16_put(d + KP_BATCH_OFF_ATTRIBUTES, c);
		kp_batch_crc_update(d, size);
		cr_assert_eq(validate(d, size, NULL), -ENOTSUP);
		struct kp_batch_iter it;
		cr_assert_eq(kp_batch_iter_init(&it, d, size, &arena, 0), -ENOTSUP);
		free(d);
	}
	/* Base offset is not covered by the CRC, and a client's must be 0. */
	rt_be64_put(p, 7);
	cr_assert_eq(validate(p, size, NULL), -EINVAL);
	free(p);
}
