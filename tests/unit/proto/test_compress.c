/* Unit tests for proto/compress.c and proto/snappy_framed.c: round trips of every codec,
 * the output bound (decompression bombs), corrupt and truncated input, both snappy forms. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "base/buf.h"
#include "proto/compress.h"

static const enum kp_compression codecs[] = {
	KP_COMPRESSION_NONE, KP_COMPRESSION_GZIP, KP_COMPRESSION_SNAPPY, KP_COMPRESSION_LZ4, KP_COMPRESSION_ZSTD,
};
static const enum kp_compression real_codecs[] = {
	KP_COMPRESSION_GZIP, KP_COMPRESSION_SNAPPY, KP_COMPRESSION_LZ4, KP_COMPRESSION_ZSTD,
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Deterministic data: half text-like (compressible), half pseudo-random. */
static uint8_t *make_data(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i / 4096) % 2 ? (uint8_t)(x >> 16) : (uint8_t)("kafka ringtail batch "[i % 21]);
	}
	return p;
}

static void compress_to(enum kp_compression c, const uint8_t *in, size_t n, struct rt_buf *out)
{
	rt_buf_init(out, 0);
	cr_assert_eq(kp_compress(c, in, n, out), 0, "compress codec %d n %zu", (int)c, n);
}

Test(kp_compress, round_trip_sizes)
{
	static const size_t sizes[] = {0, 1, 2, 100, 4095, 4096, 32767, 32768, 32769, 65536, 65537, 300000, 3 << 20};
	for (size_t c = 0; c < N(codecs); c++) {
		for (size_t s = 0; s < N(sizes); s++) {
			uint8_t *d = make_data(sizes[s], (unsigned)s);
			struct rt_buf z, o;
			compress_to(codecs[c], d, sizes[s], &z);
			rt_buf_init(&o, 0);
			/* Something already in the buffer stays: decompression appends. */
			rt_buf_put(&o, "pre", 3);
			int rc = kp_decompress(codecs[c], z.data, z.len, sizes[s], &o);
			cr_assert_eq(rc, 0, "codec %d size %zu: %d", (int)codecs[c], sizes[s], rc);
			cr_assert_eq(o.len, sizes[s] + 3);
			cr_assert(memcmp(o.data, "pre", 3) == 0);
			cr_assert(sizes[s] == 0 || memcmp(o.data + 3, d, sizes[s]) == 0);
			rt_buf_fini(&z);
			rt_buf_fini(&o);
			free(d);
		}
	}
}

Test(kp_compress, bound_is_exact)
{
	size_t n = 200000;
	uint8_t *d = make_data(n, 9);
	for (size_t c = 0; c < N(codecs); c++) {
		struct rt_buf z, o;
		compress_to(codecs[c], d, n, &z);
		rt_buf_init(&o, 0);
		cr_assert_eq(kp_decompress(codecs[c], z.data, z.len, n, &o), 0);
		rt_buf_reset(&o);
		rt_buf_put(&o, "x", 1);
		cr_assert_eq(kp_decompress(codecs[c], z.data, z.len, n - 1, &o), -E2BIG, "codec %d", (int)codecs[c]);
		cr_assert_eq(o.len, 1u, "a failed decompression leaves the buffer as it was");
		rt_buf_fini(&z);
		rt_buf_fini(&o);
	}
	free(d);
}

Test(kp_compress, bombs_are_bounded)
{
	/* 64 MiB of zeroes compresses to a few KiB (gzip ~64 KiB, snappy ~3 MiB); the bound is 1 MiB. */
	size_t n = 64 << 20, bound = 1 << 20;
	uint8_t *zeros = calloc(1, n);
	for (size_t c = 0; c < N(real_codecs); c++) {
		struct rt_buf z, o;
		compress_to(real_codecs[c], zeros, n, &z);
		cr_assert_lt(z.len, n / 16, "codec %d", (int)real_codecs[c]);
		rt_buf_init(&o, 0);
		cr_assert_eq(kp_decompress(real_codecs[c], z.data, z.len, bound, &o), -E2BIG, "codec %d", (int)real_codecs[c]);
		cr_assert_eq(o.len, 0u);
		cr_assert_leq(o.cap, 2 * (bound + 1), "codec %d reserved %zu for a bound of %zu", (int)real_codecs[c], o.cap, bound);
		rt_buf_fini(&z);
		rt_buf_fini(&o);
	}
	free(zeros);
}

Test(kp_compress, snappy_block_claiming_4_gib)
{
	/* A raw snappy block is its uncompressed length (varint) then elements; claim 2^32-1. */
	uint8_t raw[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 'a'};
	struct rt_buf o;
	rt_buf_init(&o, 0);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, raw, sizeof(raw), 1 << 20, &o), -E2BIG);
	cr_assert_lt(o.cap, 4096u);
	/* Under a big enough bound it is simply corrupt (the elements do not make 4 GiB). */
	rt_buf_reset(&o);
	raw[0] = 0x20; raw[1] = 0x00;  /* claims 32 bytes, holds one literal of 1 */
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, raw, 2, 1 << 20, &o), -EBADMSG);
	rt_buf_fini(&o);
}

Test(kp_compress, snappy_xerial_and_raw)
{
	size_t n = 100000;
	uint8_t *d = make_data(n, 3);
	struct rt_buf x, r, o;
	compress_to(KP_COMPRESSION_SNAPPY, d, n, &x);
	static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
	cr_assert(memcmp(x.data, magic, 8) == 0);
	cr_assert_eq(x.data[11], 1);  /* version 1 */
	cr_assert_eq(x.data[15], 1);  /* compatible 1 */
	/* Chunks of at most 32 KiB uncompressed: 100000 bytes make 4 chunks. */
	size_t pos = 16, chunks = 0;
	while (pos < x.len) {
		uint32_t len = rt_be32_get(x.data + pos);
		pos += 4 + len;
		chunks++;
	}
	cr_assert_eq(pos, x.len);
	cr_assert_eq(chunks, 4u);

	rt_buf_init(&r, 0);
	cr_assert_eq(kp_snappy_compress_raw(d, n, &r), 0);
	cr_assert_neq(memcmp(r.data, magic, 8), 0);
	rt_buf_init(&o, 0);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, r.data, r.len, n, &o), 0);
	cr_assert_eq(o.len, n);
	cr_assert(memcmp(o.data, d, n) == 0);

	/* A xerial stream of only its header is empty; a chunk length past the end is corrupt. */
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, x.data, 16, n, &o), 0);
	cr_assert_eq(o.len, 0u);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, x.data, 18, n, &o), -EBADMSG);
	uint8_t *bad = malloc(x.len);
	memcpy(bad, x.data, x.len);
	rt_be32_put(bad + 16, 0x7fffffff);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, bad, x.len, n, &o), -EBADMSG);
	rt_be32_put(bad + 16, 0x80000000u);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_SNAPPY, bad, x.len, n, &o), -EBADMSG);
	free(bad);
	rt_buf_fini(&x);
	rt_buf_fini(&r);
	rt_buf_fini(&o);
	free(d);
}

Test(kp_compress, gzip_concatenated_members)
{
	uint8_t *a = make_data(5000, 1), *b = make_data(7000, 2);
	struct rt_buf z, o;
	compress_to(KP_COMPRESSION_GZIP, a, 5000, &z);
	cr_assert_eq(kp_compress(KP_COMPRESSION_GZIP, b, 7000, &z), 0);
	cr_assert_eq(z.data[0], 0x1f);
	cr_assert_eq(z.data[1], 0x8b);
	rt_buf_init(&o, 0);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_GZIP, z.data, z.len, 12000, &o), 0);
	cr_assert_eq(o.len, 12000u);
	cr_assert(memcmp(o.data, a, 5000) == 0);
	cr_assert(memcmp(o.data + 5000, b, 7000) == 0);
	/* zlib framing (not gzip) is not what Kafka's gzip is. */
	uLongf zl = compressBound(5000);
	uint8_t *zz = malloc(zl);
	cr_assert_eq(compress(zz, &zl, a, 5000), Z_OK);
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_GZIP, zz, zl, 12000, &o), -EBADMSG);
	free(zz);
	rt_buf_fini(&z);
	rt_buf_fini(&o);
	free(a);
	free(b);
}

Test(kp_compress, truncated_and_garbage_input)
{
	size_t n = 70000;
	uint8_t *d = make_data(n, 5);
	for (size_t c = 0; c < N(real_codecs); c++) {
		struct rt_buf z, o;
		compress_to(real_codecs[c], d, n, &z);
		rt_buf_init(&o, 0);
		/* Every proper prefix fails cleanly (a few lengths are checked exhaustively near the ends). */
		for (size_t cut = 0; cut < z.len; cut += (cut < 64 || cut > z.len - 64) ? 1 : 97) {
			uint8_t *t = malloc(cut ? cut : 1);  /* exact-size copy so ASan sees over-reads */
			memcpy(t, z.data, cut);
			rt_buf_reset(&o);
			int rc = kp_decompress(real_codecs[c], t, cut, n, &o);
			if (real_codecs[c] == KP_COMPRESSION_SNAPPY && rc == 0) {
				/* xerial framing has no end marker: a cut between chunks is a shorter stream
				 * (the batch's records_count catches it), never more output. */
				cr_assert(cut == 16 || cut == 16 + 4 + rt_be32_get(z.data + 16) ||
				          cut > 16 + 4 + rt_be32_get(z.data + 16), "cut %zu", cut);
				cr_assert_lt(o.len, n);
			} else {
				cr_assert_eq(rc, -EBADMSG, "codec %d cut %zu of %zu: %d", (int)real_codecs[c], cut, z.len, rc);
				cr_assert_eq(o.len, 0u);
			}
			free(t);
		}
		/* Garbage: flip bytes in the middle of the payload. */
		uint8_t *g = malloc(z.len);
		memcpy(g, z.data, z.len);
		for (size_t i = z.len / 3; i < z.len / 3 + 16 && i < z.len; i++) g[i] ^= 0x5a;
		rt_buf_reset(&o);
		int rc = kp_decompress(real_codecs[c], g, z.len, n, &o);
		/* Snappy, LZ4 and zstd as Kafka's clients write them carry no checksum and may decode
		 * flipped literals "successfully" into other bytes of the same length; what must never
		 * happen is a crash or more output.  gzip's CRC-32 trailer catches it. */
		cr_assert(rc == -EBADMSG || (rc == 0 && o.len == n), "codec %d: %d", (int)real_codecs[c], rc);
		if (real_codecs[c] == KP_COMPRESSION_GZIP)
			cr_assert_eq(rc, -EBADMSG, "gzip has a checksum");
		free(g);
		/* Pure noise. */
		uint8_t *noise = make_data(4096, 77);
		for (int i = 0; i < 4096; i++) noise[i] = (uint8_t)(noise[i] * 7 + i);
		rt_buf_reset(&o);
		cr_assert_eq(kp_decompress(real_codecs[c], noise, 4096, n, &o), -EBADMSG, "codec %d", (int)real_codecs[c]);
		free(noise);
		rt_buf_fini(&z);
		rt_buf_fini(&o);
	}
	free(d);
}

Test(kp_compress, unknown_codec)
{
	struct rt_buf o;
	rt_buf_init(&o, 0);
	cr_assert_eq(kp_decompress((enum kp_compression)5, (const uint8_t *)"abc", 3, 100, &o), -ENOTSUP);
	cr_assert_eq(kp_compress((enum kp_compression)7, (const uint8_t *)"abc", 3, &o), -ENOTSUP);
	cr_assert_eq(o.len, 0u);
	rt_buf_fini(&o);
}

Test(kp_compress, lz4_frame_is_what_kafka_writes)
{
	uint8_t *d = make_data(200000, 4);
	struct rt_buf z;
	compress_to(KP_COMPRESSION_LZ4, d, 200000, &z);
	/* Magic 0x184D2204 (little-endian), FLG version 01 + block independence, BD 64 KiB. */
	cr_assert_eq(z.data[0], 0x04);
	cr_assert_eq(z.data[1], 0x22);
	cr_assert_eq(z.data[2], 0x4d);
	cr_assert_eq(z.data[3], 0x18);
	cr_assert_eq(z.data[4], 0x60);
	cr_assert_eq(z.data[5], 0x40);
	rt_buf_fini(&z);
	free(d);
}

/* Java's zstd-jni streams frames that do not state their size, and a producer may send several
 * frames back to back: both go through the streaming path, bounded as well. */
Test(kp_compress, zstd_without_content_size_and_two_frames)
{
	size_t n = 300000;
	uint8_t *d = make_data(n, 8);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	size_t bound = ZSTD_compressBound(n);
	uint8_t *z = malloc(2 * bound);
	size_t z1 = ZSTD_compress2(cc, z, bound, d, n);
	cr_assert(!ZSTD_isError(z1));
	cr_assert_eq(ZSTD_getFrameContentSize(z, z1), ZSTD_CONTENTSIZE_UNKNOWN);
	size_t z2 = ZSTD_compress2(cc, z + z1, bound, d, n / 2);
	cr_assert(!ZSTD_isError(z2));
	struct rt_buf o;
	rt_buf_init(&o, 0);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_ZSTD, z, z1, n, &o), 0);
	cr_assert_eq(o.len, n);
	cr_assert(memcmp(o.data, d, n) == 0);
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_ZSTD, z, z1, n - 1, &o), -E2BIG);
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_ZSTD, z, z1 + z2, n + n / 2, &o), 0);
	cr_assert_eq(o.len, n + n / 2);
	cr_assert(memcmp(o.data + n, d, n / 2) == 0);
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_ZSTD, z, z1 + z2, n + n / 2 - 1, &o), -E2BIG);
	rt_buf_reset(&o);
	cr_assert_eq(kp_decompress(KP_COMPRESSION_ZSTD, z, z1 + z2 - 1, n + n / 2, &o), -EBADMSG);
	rt_buf_fini(&o);
	ZSTD_freeCCtx(cc);
	free(z);
	free(d);
}
