#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "perf/harness/keys.h"

/* Kafka's own test vectors for Utils.murmur2 (UtilsTest.testMurmur2). */
Test(perf_keys, murmur2_matches_kafka)
{
	struct { const char *s; int32_t h; } v[] = {
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cr_assert_eq(perf_murmur2((const uint8_t *)v[i].s, strlen(v[i].s)), v[i].h, "%s", v[i].s);
}

Test(perf_keys, partition_is_positive_murmur_mod_partitions)
{
	const uint8_t *k = (const uint8_t *)"foobar";
	/* -790332482 & 0x7fffffff = 1357151166 */
	cr_assert_eq(perf_partition_for_key(k, 6, 7), 1357151166 % 7);
	cr_assert_eq(perf_partition_for_key(k, 6, 1), 0);
}

Test(perf_keys, keys_are_fixed_width_decimal)
{
	uint8_t k[PERF_KEY_LEN];
	perf_key_format(42, k);
	cr_assert_eq(memcmp(k, "00000042", 8), 0);
	perf_key_format(99999999, k);
	cr_assert_eq(memcmp(k, "99999999", 8), 0);
}

Test(perf_keys, seq_cycles_and_none_has_no_key)
{
	struct perf_keygen g;
	cr_assert_eq(perf_keygen_init(&g, PERF_KEYS_SEQ, 3, 0, 1), 0);
	uint32_t want[] = {0, 1, 2, 0, 1};
	for (int i = 0; i < 5; i++)
		cr_assert_eq(perf_keygen_next(&g), want[i]);
	perf_keygen_fini(&g);
	cr_assert_eq(perf_keygen_init(&g, PERF_KEYS_NONE, 0, 0, 1), 0);
	cr_assert_eq(perf_keygen_next(&g), UINT32_MAX);
	cr_assert_eq(perf_keygen_init(&g, PERF_KEYS_UNIFORM, 0, 0, 1), -EINVAL);
}

Test(perf_keys, uniform_covers_every_key_evenly)
{
	struct perf_keygen g;
	enum { N = 64, DRAWS = 640000 };
	uint32_t counts[N] = {0};
	cr_assert_eq(perf_keygen_init(&g, PERF_KEYS_UNIFORM, N, 0, 7), 0);
	for (int i = 0; i < DRAWS; i++) {
		uint32_t k = perf_keygen_next(&g);
		cr_assert_lt(k, N);
		counts[k]++;
	}
	/* Each key expects 10000; a 5% band is > 10 sigma. */
	for (int k = 0; k < N; k++)
		cr_assert(counts[k] > 9500 && counts[k] < 10500, "key %d drawn %u times", k, counts[k]);
	perf_keygen_fini(&g);
}

Test(perf_keys, zipf_follows_its_weights)
{
	struct perf_keygen g;
	enum { N = 100, DRAWS = 400000 };
	uint32_t counts[N] = {0};
	cr_assert_eq(perf_keygen_init(&g, PERF_KEYS_ZIPF, N, 1.0, 3), 0);
	for (int i = 0; i < DRAWS; i++)
		counts[perf_keygen_next(&g)]++;
	/* With s = 1, P(k) = (1/(k+1)) / H_100, H_100 = 5.18738. */
	double h = 0;
	for (int k = 1; k <= N; k++)
		h += 1.0 / k;
	for (int k = 0; k < 4; k++) {
		double want = DRAWS / (k + 1.0) / h;
		cr_assert(counts[k] > want * 0.95 && counts[k] < want * 1.05, "key %d: %u vs %.0f", k, counts[k], want);
	}
	cr_assert_gt(counts[0], counts[1]);
	cr_assert_gt(counts[1], counts[9]);
	perf_keygen_fini(&g);
}
