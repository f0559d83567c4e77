/*
 * libFuzzer target for record batches: kp_records_validate with check_records, the iterator
 * (which does not rely on the CRC), header walking, the codecs' decompressors, and a rebuild of
 * every batch that validates (the rebuilt batch must validate and hold the same records).
 *
 * The first input byte selects the mode, the rest is the record set:
 *   bit 0  recompute each batch's CRC first, so mutations get past the CRC check
 *   bit 1  validate as internal origin (several batches, control batches, any base offset)
 *   bit 2  instead feed the rest to kp_decompress with codec (byte 1 % 5)
 * Seeds (tests/fuzz/corpus/batch/) are the golden batches behind mode bytes 0x00 and 0x01.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "proto/batch.h"
#include "proto/compress.h"

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static void walk_batch(const uint8_t *b, size_t size, struct rt_arena *a)
{
	struct kp_batch_iter it;
	if (kp_batch_iter_init(&it, b, size, a, 4 << 20)) return;
	struct kp_record rec;
	while (kp_batch_iter_next(&it, &rec) == 1) {
		CHECK(rec.key_len >= -1 && rec.value_len >= -1 && rec.header_count >= 0);
		size_t pos = 0;
		struct kp_record_header h;
		int32_t n = 0;
		int rc;
		while ((rc = kp_record_header_next(&rec, &pos, &h)) == 1) n++;
		/* The iterator proved the headers: walking them cannot fail and finds them all. */
		CHECK(rc == 0 && n == rec.header_count && pos == rec.headers_len);
	}
}

/* Rebuilds a batch that validated and checks the copy validates to the same records. */
static void rebuild(const uint8_t *b, size_t size, struct rt_arena *a, const struct kp_validate_opts *o)
{
	struct kp_batch_iter it;
	CHECK(kp_batch_iter_init(&it, b, size, a, o->max_decompressed) == 0);
	enum kp_compression c = (enum kp_compression)(it.hdr.attributes & KP_ATTR_COMPRESSION_MASK);
	struct kp_batch_builder bb;
	kp_batch_builder_init(&bb, c, (int16_t)(it.hdr.attributes & ~KP_ATTR_COMPRESSION_MASK),
	                      it.hdr.producer_id, it.hdr.producer_epoch, it.hdr.base_sequence);
	struct kp_record rec;
	int32_t n = 0;
	while (kp_batch_iter_next(&it, &rec) == 1) {
		struct kp_record_header hs[64];
		int32_t hc = rec.header_count < 64 ? rec.header_count : 64;
		size_t pos = 0;
		for (int32_t i = 0; i < hc; i++) CHECK(kp_record_header_next(&rec, &pos, &hs[i]) == 1);
		int64_t ts = (int64_t)((uint64_t)it.hdr.base_timestamp + (uint64_t)rec.timestamp_delta);
		CHECK(kp_batch_builder_add(&bb, ts, rec.key, rec.key_len, rec.value, rec.value_len, hs, hc) == 0);
		n++;
	}
	CHECK(it.err == 0 && n == it.hdr.records_count);
	size_t nsize;
	const uint8_t *nb = kp_batch_builder_finish(&bb, &nsize);
	CHECK(nb);
	struct kp_validate_opts o2 = *o;
	o2.internal_origin = true;
	o2.max_batch_bytes = 0;
	struct kp_records_info info;
	CHECK(kp_records_validate(nb, nsize, &o2, a, &info, NULL) == 0);
	CHECK(info.records == n);
	kp_batch_builder_fini(&bb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	uint8_t mode = data[0];
	size_t n = size - 1;
	uint8_t *p = malloc(n ? n : 1);  /* exact size, so ASan sees any over-read */
	memcpy(p, data + 1, n);
	struct rt_arena a;
	rt_arena_init(&a, 0, 64 << 20);

	if (mode & 4) {
		if (n >= 1) {
			struct rt_buf out;
			rt_buf_init(&out, 0);
			int rc = kp_decompress((enum kp_compression)(p[0] % 5), p + 1, n - 1, 1 << 20, &out);
			CHECK(out.len <= 1 << 20);
			CHECK(rc == 0 || out.len == 0);
			rt_buf_fini(&out);
		}
		goto out;
	}
	if (mode & 1) {
		for (size_t off = 0; off < n;) {
			size_t bs = kp_batch_size(p + off, n - off);
			if (bs < KP_BATCH_HEADER_SIZE || bs > n - off) break;
			kp_batch_crc_update(p + off, bs);
			off += bs;
		}
	}
	struct kp_validate_opts o = {
		.max_batch_bytes = 1 << 20, .max_decompressed = 4 << 20, .check_records = true,
		.internal_origin = (mode & 2) != 0,
	};
	struct kp_records_info info;
	const char *why = NULL;
	int rc = kp_records_validate(p, n, &o, &a, &info, &why);
	CHECK(rc == 0 || rc == -EBADMSG || rc == -EINVAL || rc == -E2BIG || rc == -ENOTSUP || rc == -ENOMEM);
	CHECK(rc == 0 || why != NULL);
	if (rc == 0) CHECK(info.batches >= 1 && info.records >= info.batches);
	rt_arena_reset(&a);
	/* Walk every batch whatever validation said: the iterator must hold up without the CRC. */
	for (size_t off = 0; off < n;) {
		size_t bs = kp_batch_size(p + off, n - off);
		if (bs == 0 || bs > n - off) break;
		walk_batch(p + off, bs, &a);
		rt_arena_reset(&a);
		if (rc == 0) rebuild(p + off, bs, &a, &o);
		rt_arena_reset(&a);
		off += bs;
	}
out:
	rt_arena_fini(&a);
	free(p);
	return 0;
}
