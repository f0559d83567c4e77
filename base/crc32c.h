/*
 * base/crc32c.h: CRC-32C (Castagnoli), as Kafka's record batch v2 uses it.
 *
 * The implementation is chosen once at start-up: SSE4.2 `crc32` instructions over three
 * interleaved streams where the CPU has them, a table-driven fallback elsewhere.
 */
#ifndef RT_CRC32C_H
#define RT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over n bytes at p and returns the new value.  Thread-safe. */
uint32_t rt_crc32c(uint32_t crc, const void *p, size_t n);

/* The portable implementation, exposed so tests can check both paths agree. */
uint32_t rt_crc32c_sw(uint32_t crc, const void *p, size_t n);

/* Name of the implementation in use ("sse4.2", "sse4.2-1way" without PCLMULQDQ, or "sw"),
 * for logs and benchmarks. */
const char *rt_crc32c_impl(void);

#endif
