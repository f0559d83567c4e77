/*
 * proto/compress.h: the record batch compression codecs, both ways, with bounded output.
 *
 * gzip (zlib, gzip framing), snappy (the xerial framing the Java client writes, and raw snappy
 * as librdkafka reads it), lz4 (Kafka's LZ4 frame format) and zstd (libzstd, streaming).
 * Decompression never produces more than `max_out` bytes: a decompression bomb is -E2BIG.
 */
#ifndef KP_COMPRESS_H
#define KP_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/batch.h"

/* Appends the decompression of in[0..n) to out.  0, -EBADMSG (corrupt input), -E2BIG (output
 * over max_out), -ENOTSUP (unknown codec) or -ENOMEM. */
int kp_decompress(enum kp_compression c, const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out);

/* Appends the compression of in[0..n) to out.  0, -ENOTSUP or -ENOMEM. */
int kp_compress(enum kp_compression c, const uint8_t *in, size_t n, struct rt_buf *out);

#endif
