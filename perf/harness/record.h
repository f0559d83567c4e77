/*
 * perf/harness/record.h: what the harness puts in each record's value.
 *
 * Layout of the first PERF_RECORD_MIN bytes (little-endian; only the harness reads them):
 *    0  u64  intended send time, CLOCK_MONOTONIC ns (shared by every process on the host,
 *            so a consumer in another process measures end-to-end latency against it)
 *    8  u32  producer number
 *   12  u32  magic 'RTpf'
 * The rest is a fixed filler pattern, so that compression sees realistic, not zero, bytes.
 */
#ifndef PERF_RECORD_H
#define PERF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERF_RECORD_MAGIC 0x66705452u /* "RTpf" read little-endian */

/* Writes a whole value of size bytes (size >= 16) at out. */
void perf_record_fill(uint8_t *out, size_t size, uint64_t send_ns, uint32_t producer);

/* Restamps only the header of a value written by perf_record_fill. */
void perf_record_stamp(uint8_t *out, uint64_t send_ns, uint32_t producer);

/* True with *send_ns set when value carries the harness's header. */
bool perf_record_parse(const uint8_t *value, size_t len, uint64_t *send_ns);

#endif
