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

/* Appends the compression of in[0..n) to out.  0, -ENOTSUP or -ENOMEM.  On failure out
 * keeps its old length.  Snappy is written in the xerial framing, as the Java client does. */
int kp_compress(enum kp_compression c, const uint8_t *in, size_t n, struct rt_buf *out);

/*
 * Snappy in the two forms clients send (snappy_framed.c).  The xerial framing of snappy-java:
 *   8 bytes magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00, int32 version 1, int32 compatible 1,
 *   then chunks of [int32 big-endian length][raw snappy block of that length].
 * librdkafka writes a single raw snappy block instead; as snappy-java does, input that does
 * not begin with the magic is taken as raw snappy.  Conventions as kp_decompress/kp_compress.
 */
#define KP_SNAPPY_XERIAL_HEADER_SIZE 16
#define KP_SNAPPY_XERIAL_BLOCK 32768   /* uncompressed bytes per chunk, as snappy-java writes */
int kp_snappy_decompress(const uint8_t *in, size_t n, size_t max_out, struct rt_buf *out);
int kp_snappy_compress(const uint8_t *in, size_t n, struct rt_buf *out);
/* The raw form (one snappy block, no framing), as librdkafka writes it. */
int kp_snappy_compress_raw(const uint8_t *in, size_t n, struct rt_buf *out);

#endif
