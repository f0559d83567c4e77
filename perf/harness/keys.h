/*
 * perf/harness/keys.h: record keys by distribution, and Kafka's default partitioner.
 *
 * A key is the decimal key number padded to 8 digits ("00000042"), so every key has the same
 * size and any client maps it to the same partition.  Keyed records go to
 * murmur2(key) & 0x7fffffff mod partitions, as the Java client and librdkafka's
 * murmur2_random partitioner place them; so a keyed run puts the same load on each partition
 * whichever driver sends it.
 */
#ifndef PERF_KEYS_H
#define PERF_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "perf/harness/opts.h"

#define PERF_KEY_LEN 8

struct perf_keygen {
	enum perf_keydist dist;
	uint32_t n;
	uint64_t rng;          /* xorshift64* state, never 0 */
	uint64_t next_seq;
	double *cdf;           /* zipf: cumulative weights, n entries; owned */
};

/* 0, -EINVAL (n is 0 for a keyed distribution) or -ENOMEM.  seed picks the random stream. */
int perf_keygen_init(struct perf_keygen *g, enum perf_keydist dist, uint32_t n, double zipf_s, uint64_t seed);
void perf_keygen_fini(struct perf_keygen *g);

/* The next key number in [0, n), or UINT32_MAX for PERF_KEYS_NONE. */
uint32_t perf_keygen_next(struct perf_keygen *g);

/* Writes key number k as PERF_KEY_LEN bytes at out (no terminator). */
void perf_key_format(uint32_t k, uint8_t out[PERF_KEY_LEN]);

/* Kafka's murmur2 (the Java client's Utils.murmur2), as a signed 32-bit value. */
int32_t perf_murmur2(const uint8_t *data, size_t len);

/* The partition Kafka's default partitioner picks for a key. */
int32_t perf_partition_for_key(const uint8_t *key, size_t len, int32_t partitions);

/* A uniform double in [0, 1) from the generator's stream. */
double perf_keygen_uniform(struct perf_keygen *g);

#endif
