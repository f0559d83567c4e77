/*
 * tests/unit/proto/test_roundtrip.c: every served API's request and response, at every served
 * version, survives encode -> decode -> encode with identical bytes and equal values.
 *
 * Values come from the generated filler (kp_testvals.h): every field present in the version gets
 * a value different from its default (so tagged fields are written), or, in the "nulls" pass,
 * null wherever the version allows and empty arrays elsewhere.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"
#include "kp_testvals.h"

/* Encodes m, flattens the chain and returns the bytes (malloc'ed). */
static uint8_t *encode(kp_encode_fn enc, int16_t v, const void *m, size_t *len)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	enc(&c, v, m);
	cr_assert_eq(rt_chain_finish(&c), 0, "encode failed");
	*len = rt_chain_len(&c);
	uint8_t *out = malloc(*len ? *len : 1);
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	rt_chain_fini(&c);
	return out;
}

static void roundtrip(const struct kp_api_info *api, bool req, int16_t v, bool nulls)
{
	const struct kp_api_testvals *tv = kp_api_testvals(api->key);
	cr_assert_not_null(tv);
	size_t sz = req ? api->req_size : api->resp_size;
	kp_fill_fn fill = req ? tv->req_fill : tv->resp_fill;
	kp_eq_fn eq = req ? tv->req_eq : tv->resp_eq;
	kp_encode_fn enc = req ? api->req_encode : api->resp_encode;
	kp_decode_fn dec = req ? api->req_decode : api->resp_decode;

	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_fill f = { .a = &a, .counter = (uint64_t)api->key * 1000 + (uint64_t)v, .nulls = nulls };
	void *m1 = calloc(1, sz), *m2 = calloc(1, sz);
	fill(&f, v, m1);

	size_t n1, n2;
	uint8_t *b1 = encode(enc, v, m1, &n1);
	struct rt_rd r;
	rt_rd_init(&r, b1, n1);
	int rc = dec(&r, v, &a, m2);
	cr_assert_eq(rc, 0, "%s %s v%d: decode failed: %d", api->name, req ? "request" : "response", v, rc);
	cr_assert_eq(rt_rd_left(&r), 0, "%s v%d: %zu bytes left after decode", api->name, v, rt_rd_left(&r));
	cr_assert(eq(v, m1, m2), "%s %s v%d (nulls %d): decoded values differ", api->name,
	          req ? "request" : "response", v, nulls);
	uint8_t *b2 = encode(enc, v, m2, &n2);
	cr_assert_eq(n1, n2, "%s v%d: re-encoded length %zu != %zu", api->name, v, n2, n1);
	cr_assert(memcmp(b1, b2, n1) == 0, "%s v%d: re-encoded bytes differ", api->name, v);
	free(b1);
	free(b2);
	free(m1);
	free(m2);
	rt_arena_fini(&a);
}

static void all_versions(bool req, bool nulls)
{
	for (size_t i = 0; i < kp_api_count; i++) {
		const struct kp_api_info *api = &kp_api_info[i];
		for (int16_t v = api->min_version; v <= api->max_version; v++)
			roundtrip(api, req, v, nulls);
	}
}

Test(kp_roundtrip, requests_every_served_version) { all_versions(true, false); }
Test(kp_roundtrip, responses_every_served_version) { all_versions(false, false); }
Test(kp_roundtrip, requests_with_nulls_and_empties) { all_versions(true, true); }
Test(kp_roundtrip, responses_with_nulls_and_empties) { all_versions(false, true); }

/* The brief's minimum: lowest and highest served versions, checked by name so a table change
 * that drops an API fails here. */
Test(kp_roundtrip, lowest_and_highest_of_core_apis)
{
	static const int16_t keys[] = { KP_API_PRODUCE, KP_API_FETCH, KP_API_METADATA, KP_API_API_VERSIONS,
	                                KP_API_LIST_OFFSETS, KP_API_OFFSET_COMMIT, KP_API_OFFSET_FETCH,
	                                KP_API_FIND_COORDINATOR, KP_API_JOIN_GROUP };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct kp_api_info *api = kp_api_lookup(keys[i]);
		cr_assert_not_null(api);
		roundtrip(api, true, api->min_version, false);
		roundtrip(api, true, api->max_version, false);
		roundtrip(api, false, api->min_version, false);
		roundtrip(api, false, api->max_version, false);
	}
}
