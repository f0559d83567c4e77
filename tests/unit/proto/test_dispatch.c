/*
 * tests/unit/proto/test_dispatch.c: the generated API table: lookup by key, consistency of the
 * version ranges, and the generic function pointers doing the same as the typed ones.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"
#include "kp_testvals.h"

Test(kp_dispatch, lookup_finds_every_entry_and_nothing_else)
{
	size_t found = 0;
	for (int k = -5; k < 200; k++) {
		const struct kp_api_info *i = kp_api_lookup((int16_t)k);
		if (!i) continue;
		found++;
		cr_assert_eq(i->key, k);
	}
	cr_assert_eq(found, kp_api_count);
	cr_assert_null(kp_api_lookup(-1));
	cr_assert_null(kp_api_lookup(32767));
	cr_assert_null(kp_api_lookup(76), "ShareGroupHeartbeat is not served");
	cr_assert_null(kp_api_lookup(4), "LeaderAndIsr is not a broker-listener API");
}

Test(kp_dispatch, table_is_sorted_and_consistent)
{
	for (size_t i = 0; i < kp_api_count; i++) {
		const struct kp_api_info *a = &kp_api_info[i];
		if (i) cr_assert_gt(a->key, kp_api_info[i - 1].key);
		cr_assert_leq(a->advertised_min, a->min_version, "%s", a->name);
		cr_assert_leq(a->min_version, a->max_version, "%s", a->name);
		cr_assert(a->flexible_version == -1 || a->flexible_version >= 0);
		cr_assert(a->req_size > 0 && a->resp_size > 0);
		cr_assert(a->req_init && a->resp_init && a->req_decode && a->resp_decode && a->req_encode && a->resp_encode);
		cr_assert_not_null(kp_api_testvals(a->key));
	}
}

Test(kp_dispatch, generic_pointers_match_typed_functions)
{
	const struct kp_api_info *api = kp_api_lookup(KP_API_PRODUCE);
	cr_assert_str_eq(api->name, "Produce");
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_produce_req q;
	struct kp_fill f = { .a = &a, .counter = 3 };
	kp_api_testvals(KP_API_PRODUCE)->req_fill(&f, 9, &q);

	struct rt_chain c1, c2;
	rt_chain_init(&c1, 0);
	rt_chain_init(&c2, 0);
	api->req_encode(&c1, 9, &q);
	kp_produce_req_encode(&c2, 9, &q);
	cr_assert_eq(rt_chain_finish(&c1), 0);
	cr_assert_eq(rt_chain_finish(&c2), 0);
	size_t n = rt_chain_len(&c1);
	cr_assert_eq(n, rt_chain_len(&c2));
	uint8_t *b1 = malloc(n), *b2 = malloc(n);
	rt_chain_flatten(&c1, b1);
	rt_chain_flatten(&c2, b2);
	cr_assert(memcmp(b1, b2, n) == 0);

	struct kp_produce_req d1, d2;
	struct rt_rd r1, r2;
	rt_rd_init(&r1, b1, n);
	rt_rd_init(&r2, b1, n);
	cr_assert_eq(api->req_decode(&r1, 9, &a, &d1), 0);
	cr_assert_eq(kp_produce_req_decode(&r2, 9, &a, &d2), 0);
	cr_assert(kp_api_testvals(KP_API_PRODUCE)->req_eq(9, &d1, &d2));
	cr_assert(kp_api_testvals(KP_API_PRODUCE)->req_eq(9, &q, &d1));

	struct kp_produce_resp p;
	api->resp_init(&p);
	cr_assert_eq(p.throttle_time_ms, 0);
	cr_assert_eq(p.responses.n, 0);
	free(b1);
	free(b2);
	rt_chain_fini(&c1);
	rt_chain_fini(&c2);
	rt_arena_fini(&a);
}

/* A router's path: header, lookup, served-range check, generic decode. */
Test(kp_dispatch, route_a_frame_by_its_header)
{
	const uint8_t f[] = { 0, 18, 0, 3, 0, 0, 0, 5, 0, 1, 'c', 0,          /* header v2 */
	                      0x05, 'k', 'c', 'a', 't', 0x04, '1', '.', '0', 0 }; /* ApiVersions v3 body */
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_req_hdr h;
	cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
	const struct kp_api_info *api = kp_api_lookup(h.request_api_key);
	cr_assert_not_null(api);
	cr_assert(h.request_api_version >= api->min_version && h.request_api_version <= api->max_version);
	void *m = rt_arena_alloc(&a, api->req_size);
	cr_assert_eq(api->req_decode(&r, h.request_api_version, &a, m), 0);
	struct kp_api_versions_req *q = m;
	cr_assert_eq(q->client_software_name.len, 4);
	cr_assert(memcmp(q->client_software_name.ptr, "kcat", 4) == 0);
	cr_assert_eq(q->client_software_version.len, 3);
	cr_assert_eq(rt_rd_left(&r), 0);
	rt_arena_fini(&a);
}
