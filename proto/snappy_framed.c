/*
 * proto/snappy_framed.c: snappy for record batches, in the xerial framing the Java client and
 * kafka-python write and in the raw form librdkafka writes (see compress.h for the layout).
 *
 * Every raw block states its uncompressed length up front; that length is checked against what
 * remains of the bound before any memory is reserved, so a block claiming 4 GiB costs nothing.
 */
#include "proto/compress.h"

#include <errno.h>
#include <string.h>

#include <snappy-c.h>

static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

/* Appends one raw snappy block; `*left` is what remains of the output bound. */
static int raw_block(const uint8_t *in, size_t n, size_t *left, struct rt_buf *out)
{
	size_t ulen;
	if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK) return -EBADMSG;
	if (ulen > *left) return -E2BIG;
	if (ulen == 0) {
		/* Still must be a well-formed empty block. */
		return snappy_validate_compressed_buffer((const char *)in, n) == SNAPPY_OK ? 0 : -EBADMSG;
	}
	int rc = rt_buf_reserve(out, ulen);
	if (rc) return rc;
	size_t got = ulen;
	if (snappy_uncompress((const char *)in, n, (char *)out->data + out->len, &got) != SNAPPY_OK || got != ulen)
		return -EBADMSG;
	out->len += ulen;
	*left -= ulen;
	return 0;
}

int kp_snappy_decompress(const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out)
{
	size_t left = max_out;
	if (n < KP_SNAPPY_XERIAL_HEADER_SIZE || memcmp(in, xerial_magic, sizeof(xerial_magic)) != 0)
		return raw_block(in, n, &left, out);
	size_t pos = KP_SNAPPY_XERIAL_HEADER_SIZE;
	while (pos < n) {
		if (n - pos < 4) return -EBADMSG;
		int32_t len = (int32_t)rt_be32_get(in + pos);
		pos += 4;
		if (len < 0 || (size_t)len > n - pos) return -EBADMSG;
		int rc = raw_block(in + pos, (size_t)len, &left, out);
		if (rc) return rc;
		pos += (size_t)len;
	}
	return 0;
}

int kp_snappy_compress_raw(const uint8_t *in, size_t n, struct rt_buf *out)
{
	size_t bound = snappy_max_compressed_length(n);
	int rc = rt_buf_reserve(out, bound);
	if (rc) return rc;
	size_t got = bound;
	if (snappy_compress((const char *)in, n, (char *)out->data + out->len, &got) != SNAPPY_OK) return -ENOMEM;
	out->len += got;
	return 0;
}

int kp_snappy_compress(const uint8_t *in, size_t n, struct rt_buf *out)
{
	rt_buf_put(out, xerial_magic, sizeof(xerial_magic));
	rt_buf_put_i32(out, 1);  /* version */
	rt_buf_put_i32(out, 1);  /* oldest compatible version */
	if (out->err) return out->err;
	for (size_t pos = 0; pos < n; pos += KP_SNAPPY_XERIAL_BLOCK) {
		size_t chunk = n - pos < KP_SNAPPY_XERIAL_BLOCK ? n - pos : KP_SNAPPY_XERIAL_BLOCK;
		size_t at = out->len;
		rt_buf_put_i32(out, 0);
		if (out->err) return out->err;
		int rc = kp_snappy_compress_raw(in + pos, chunk, out);
		if (rc) return rc;
		rt_be32_put(out->data + at, (uint32_t)(out->len - at - 4));
	}
	return 0;
}
