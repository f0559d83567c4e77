/*
 * proto/compress.c: the codecs of record batches (gzip, lz4, zstd here; snappy in
 * snappy_framed.c), with the output of every decompression bounded.
 *
 * Each decompressor writes into the caller's rt_buf in pieces and never lets the output grow
 * past max_out + 1 bytes: reaching that extra byte proves the input expands beyond the bound,
 * so a decompression bomb costs at most max_out bytes of memory and is -E2BIG.
 *
 * The formats are the ones Kafka's clients write for magic 2: gzip is RFC 1952 (members may be
 * concatenated, as Java's GZIPInputStream allows), lz4 is the standard LZ4 frame (Kafka's
 * historical wrong header checksum only ever applied to magic 0/1), zstd is the standard zstd
 * frame.  Compression writes what Kafka's Java producer writes: LZ4 frames with independent
 * 64 KiB blocks and no checksums, zstd level 3, gzip at zlib's default level.
 *
 * zstd and lz4 contexts are cached per thread: creating them costs more than a small batch
 * takes to decompress.
 */
#include "proto/compress.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* The largest piece handed to a library in one call (their lengths are 32-bit in places). */
#define PIECE_MAX ((size_t)1 << 30)

/*
 * Reserves room for the next piece of output and returns how many bytes may be written at
 * out->data + out->len: never more than `left` (what remains of the bound plus one), at
 * least one byte, or 0 when the buffer cannot grow (its err is set).
 */
static size_t out_room(struct rt_buf *out, size_t left, size_t want)
{
	if (want > left) want = left;
	if (want > PIECE_MAX) want = PIECE_MAX;
	if (want == 0) want = 1;
	if (rt_buf_reserve(out, want)) return 0;
	size_t avail = out->cap - out->len;
	if (avail > left) avail = left;
	if (avail > PIECE_MAX) avail = PIECE_MAX;
	return avail;
}

/* First guess at the output size, then doubling: compression ratios of records are 2-10x. */
static size_t first_piece(size_t n) { return n < 16384 ? 65536 : n * 4; }

/* ---- gzip ---- */

static int gzip_decompress(const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out)
{
	if (n > UINT_MAX) return -E2BIG;
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return -ENOMEM;
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)n;
	size_t start = out->len, limit = max_out + 1 > max_out ? max_out + 1 : max_out;
	size_t want = first_piece(n);
	int rc = 0;
	for (;;) {
		size_t produced = out->len - start;
		size_t room = out_room(out, limit - produced, want);
		if (!room) { rc = out->err ? out->err : -E2BIG; break; }
		s.next_out = out->data + out->len;
		s.avail_out = (uInt)room;
		int z = inflate(&s, Z_NO_FLUSH);
		out->len += room - s.avail_out;
		if (out->len - start > max_out) { rc = -E2BIG; break; }
		if (z == Z_STREAM_END) {
			if (s.avail_in == 0) break;
			/* Another member follows, as in `cat a.gz b.gz`. */
			if (inflateReset(&s) != Z_OK) { rc = -EBADMSG; break; }
			continue;
		}
		if (z == Z_BUF_ERROR && s.avail_in == 0) { rc = -EBADMSG; break; } /* truncated */
		if (z != Z_OK && z != Z_BUF_ERROR) { rc = z == Z_MEM_ERROR ? -ENOMEM : -EBADMSG; break; }
		want = out->len - start;
	}
	inflateEnd(&s);
	return rc;
}

static int gzip_compress(const uint8_t *in, size_t n, struct rt_buf *out)
{
	if (n > UINT_MAX) return -E2BIG;
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	size_t bound = deflateBound(&s, (uLong)n) + 32;
	int rc = rt_buf_reserve(out, bound);
	if (!rc) {
		s.next_in = (Bytef *)in;
		s.avail_in = (uInt)n;
		s.next_out = out->data + out->len;
		s.avail_out = (uInt)bound;
		if (deflate(&s, Z_FINISH) == Z_STREAM_END)
			out->len += bound - s.avail_out;
		else
			rc = -ENOMEM;
	}
	deflateEnd(&s);
	return rc;
}

/* ---- zstd ---- */

static __thread ZSTD_DCtx *zstd_dctx;
static __thread ZSTD_CCtx *zstd_cctx;

static int zstd_decompress(const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out)
{
	if (!zstd_dctx && !(zstd_dctx = ZSTD_createDCtx())) return -ENOMEM;
	ZSTD_DCtx *d = zstd_dctx;
	ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
	/* One frame that states its size within the bound (librdkafka's, ours) decodes in one call
	 * straight into place; the streaming loop below is for the rest (Java's zstd-jni streams
	 * without a size) and for sizes over the bound, which it stops at max_out + 1. */
	unsigned long long whole = ZSTD_getFrameContentSize(in, n);
	if (whole != ZSTD_CONTENTSIZE_UNKNOWN && whole != ZSTD_CONTENTSIZE_ERROR && whole <= max_out &&
	    whole < PIECE_MAX && ZSTD_findFrameCompressedSize(in, n) == n) {
		int rc = rt_buf_reserve(out, (size_t)whole);
		if (rc) return rc;
		/* A frame stating 0 bytes reserves nothing: out->data may still be NULL, and NULL + 0 is
		 * undefined behaviour (UBSan, found by fuzz/batch). */
		uint8_t *dst = out->data ? out->data + out->len : NULL;
		size_t r = ZSTD_decompressDCtx(d, dst, (size_t)whole, in, n);
		if (ZSTD_isError(r) || r != whole)
			return !ZSTD_isError(r) || ZSTD_getErrorCode(r) != ZSTD_error_memory_allocation ? -EBADMSG : -ENOMEM;
		out->len += r;
		return 0;
	}
	ZSTD_inBuffer ib = {in, n, 0};
	size_t start = out->len, limit = max_out + 1 > max_out ? max_out + 1 : max_out;
	size_t want = first_piece(n);
	/* A frame that states its size lets the first piece be exact (still capped by the bound). */
	unsigned long long fcs = ZSTD_getFrameContentSize(in, n);
	if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != ZSTD_CONTENTSIZE_ERROR && fcs < PIECE_MAX)
		want = (size_t)fcs + 1;
	size_t last = 1;  /* ZSTD_decompressStream's hint: 0 once a frame is complete */
	for (;;) {
		size_t produced = out->len - start;
		size_t room = out_room(out, limit - produced, want);
		if (!room) return out->err ? out->err : -E2BIG;
		ZSTD_outBuffer ob = {out->data + out->len, room, 0};
		size_t r = ZSTD_decompressStream(d, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(r)) {
			return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM : -EBADMSG;
		}
		if (out->len - start > max_out) return -E2BIG;
		last = r;
		if (ib.pos == ib.size && ob.pos < ob.size) break; /* all input taken, output flushed */
		want = out->len - start;
	}
	return last == 0 ? 0 : -EBADMSG; /* input ended inside a frame */
}

static int zstd_compress(const uint8_t *in, size_t n, struct rt_buf *out)
{
	if (!zstd_cctx && !(zstd_cctx = ZSTD_createCCtx())) return -ENOMEM;
	size_t bound = ZSTD_compressBound(n);
	int rc = rt_buf_reserve(out, bound);
	if (rc) return rc;
	size_t r = ZSTD_compressCCtx(zstd_cctx, out->data + out->len, bound, in, n, 3);
	if (ZSTD_isError(r)) return -ENOMEM;
	out->len += r;
	return 0;
}

/* ---- lz4 ---- */

static __thread LZ4F_dctx *lz4_dctx;

static int lz4_decompress(const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out)
{
	if (!lz4_dctx && LZ4F_isError(LZ4F_createDecompressionContext(&lz4_dctx, LZ4F_VERSION))) {
		lz4_dctx = NULL;
		return -ENOMEM;
	}
	LZ4F_dctx *d = lz4_dctx;
	LZ4F_resetDecompressionContext(d);
	size_t start = out->len, limit = max_out + 1 > max_out ? max_out + 1 : max_out;
	size_t want = first_piece(n), pos = 0, hint = 1;
	for (;;) {
		size_t produced = out->len - start;
		size_t room = out_room(out, limit - produced, want);
		if (!room) return out->err ? out->err : -E2BIG;
		size_t dst = room, src = n - pos;
		hint = LZ4F_decompress(d, out->data + out->len, &dst, in + pos, &src, NULL);
		out->len += dst;
		pos += src;
		if (LZ4F_isError(hint)) return -EBADMSG;
		if (out->len - start > max_out) return -E2BIG;
		if (pos == n && dst < room) break; /* all input taken, nothing more buffered */
		want = out->len - start;
	}
	return hint == 0 ? 0 : -EBADMSG; /* hint > 0: the input ended inside a frame */
}

static int lz4_compress(const uint8_t *in, size_t n, struct rt_buf *out)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	size_t bound = LZ4F_compressFrameBound(n, &prefs);
	int rc = rt_buf_reserve(out, bound);
	if (rc) return rc;
	size_t r = LZ4F_compressFrame(out->data + out->len, bound, in, n, &prefs);
	if (LZ4F_isError(r)) return -ENOMEM;
	out->len += r;
	return 0;
}

/* ---- dispatch ---- */

int kp_decompress(enum kp_compression c, const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out)
{
	if (out->err) return out->err;
	size_t mark = out->len;
	int rc;
	switch (c) {
	case KP_COMPRESSION_NONE:
		if (n > max_out) return -E2BIG;
		rt_buf_put(out, in, n);
		return out->err;
	case KP_COMPRESSION_GZIP: rc = gzip_decompress(in, n, max_out, out); break;
	case KP_COMPRESSION_SNAPPY: rc = kp_snappy_decompress(in, n, max_out, out); break;
	case KP_COMPRESSION_LZ4: rc = lz4_decompress(in, n, max_out, out); break;
	case KP_COMPRESSION_ZSTD: rc = zstd_decompress(in, n, max_out, out); break;
	default: return -ENOTSUP;
	}
	if (rc) {
		/* Leave the buffer as it was: no half-decompressed output, and usable again. */
		out->len = mark;
	}
	return rc;
}

int kp_compress(enum kp_compression c, const uint8_t *in, size_t n, struct rt_buf *out)
{
	if (out->err) return out->err;
	static const uint8_t none[1];
	if (!in) in = none;
	size_t mark = out->len;
	int rc;
	switch (c) {
	case KP_COMPRESSION_NONE: rt_buf_put(out, in, n); rc = out->err; break;
	case KP_COMPRESSION_GZIP: rc = gzip_compress(in, n, out); break;
	case KP_COMPRESSION_SNAPPY: rc = kp_snappy_compress(in, n, out); break;
	case KP_COMPRESSION_LZ4: rc = lz4_compress(in, n, out); break;
	case KP_COMPRESSION_ZSTD: rc = zstd_compress(in, n, out); break;
	default: return -ENOTSUP;
	}
	if (rc) out->len = mark;
	return rc;
}
