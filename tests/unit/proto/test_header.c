/*
 * tests/unit/proto/test_header.c: request header v1/v2 and response header v0/v1, chosen by
 * API key and version, and the size-prefix helpers.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"

static uint8_t *flat(struct rt_chain *c, size_t *n)
{
	cr_assert_eq(rt_chain_finish(c), 0);
	*n = rt_chain_len(c);
	uint8_t *b = malloc(*n + 1);
	cr_assert_eq(rt_chain_flatten(c, b), 0);
	return b;
}

Test(kp_header, versions_follow_key_and_version)
{
	cr_assert_eq(kp_req_hdr_version(KP_API_PRODUCE, 8), 1);
	cr_assert_eq(kp_req_hdr_version(KP_API_PRODUCE, 9), 2);
	cr_assert_eq(kp_resp_hdr_version(KP_API_PRODUCE, 8), 0);
	cr_assert_eq(kp_resp_hdr_version(KP_API_PRODUCE, 9), 1);
	cr_assert_eq(kp_req_hdr_version(KP_API_API_VERSIONS, 3), 2);
	cr_assert_eq(kp_resp_hdr_version(KP_API_API_VERSIONS, 3), 0, "ApiVersions responses always use header v0");
	cr_assert_eq(kp_resp_hdr_version(KP_API_API_VERSIONS, 4), 0);
	cr_assert_eq(kp_req_hdr_version(KP_API_METADATA, 12), 2);
	cr_assert_eq(kp_resp_hdr_version(KP_API_METADATA, 8), 0);
	cr_assert_eq(kp_req_hdr_version(KP_API_OFFSET_DELETE, 0), 1, "OffsetDelete is never flexible");
	cr_assert_eq(kp_req_hdr_version(KP_API_FETCH, 40), 2, "versions above the known stay flexible");
	cr_assert_eq(kp_req_hdr_version(1000, 0), 1);
	cr_assert_eq(kp_resp_hdr_version(1000, 0), 0);
}

Test(kp_header, request_v1_decodes_and_reencodes)
{
	const uint8_t f[] = { 0, 0, 0, 7, 0, 0, 0, 42, 0, 3, 'a', 'b', 'c', 0xee };
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_req_hdr h;
	cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
	cr_assert_eq(h.request_api_key, 0);
	cr_assert_eq(h.request_api_version, 7);
	cr_assert_eq(h.correlation_id, 42);
	cr_assert_eq(h.client_id.len, 3);
	cr_assert(memcmp(h.client_id.ptr, "abc", 3) == 0);
	cr_assert_eq((const uint8_t *)h.client_id.ptr, f + 10, "client id is a slice of the frame");
	cr_assert_eq(rt_rd_left(&r), 1, "the body is left to the caller");
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_req_hdr_encode(&c, &h);
	size_t n;
	uint8_t *b = flat(&c, &n);
	cr_assert_eq(n, sizeof(f) - 1);
	cr_assert(memcmp(b, f, n) == 0);
	free(b);
	rt_chain_fini(&c);
	rt_arena_fini(&a);
}

Test(kp_header, request_v2_null_client_and_unknown_tag_survive)
{
	/* Produce v9: header v2 with a null client id and one unknown tagged field (tag 5, "hi"). */
	const uint8_t f[] = { 0, 0, 0, 9, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0x01, 0x05, 0x02, 'h', 'i' };
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_req_hdr h;
	cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
	cr_assert_eq(h.correlation_id, -2);
	cr_assert_eq(h.client_id.len, -1);
	cr_assert_null(h.client_id.ptr);
	cr_assert_eq(h.unknown_tags.n, 1);
	cr_assert_eq(h.unknown_tags.items[0].tag, 5);
	cr_assert_eq(h.unknown_tags.items[0].len, 2);
	cr_assert_eq(rt_rd_left(&r), 0);
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_req_hdr_encode(&c, &h);
	size_t n;
	uint8_t *b = flat(&c, &n);
	cr_assert_eq(n, sizeof(f));
	cr_assert(memcmp(b, f, n) == 0);
	free(b);
	rt_chain_fini(&c);
	rt_arena_fini(&a);
}

Test(kp_header, client_id_is_never_compact)
{
	/* In header v2 the client id keeps its int16 length: 0x00 0x02 "id", then tags. */
	const uint8_t f[] = { 0, 18, 0, 3, 0, 0, 0, 1, 0, 2, 'i', 'd', 0 };
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_req_hdr h;
	cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
	cr_assert_eq(h.client_id.len, 2);
	cr_assert_eq(rt_rd_left(&r), 0);
	rt_arena_fini(&a);
}

Test(kp_header, truncated_headers_fail)
{
	const uint8_t f[] = { 0, 0, 0, 9, 0, 0, 0, 1, 0, 2, 'i', 'd', 0 };
	for (size_t cut = 0; cut < sizeof(f); cut++) {
		struct rt_arena a;
		rt_arena_init(&a, 0, 0);
		struct rt_rd r;
		rt_rd_init(&r, f, cut);
		struct kp_req_hdr h;
		cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), -EBADMSG, "cut at %zu", cut);
		rt_arena_fini(&a);
	}
}

Test(kp_header, response_headers)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_resp_hdr h;
	memset(&h, 0, sizeof(h));
	h.correlation_id = 0x01020304;
	kp_resp_hdr_encode(&c, KP_API_API_VERSIONS, 3, &h);
	kp_resp_hdr_encode(&c, KP_API_METADATA, 12, &h);
	size_t n;
	uint8_t *b = flat(&c, &n);
	const uint8_t want[] = { 1, 2, 3, 4, 1, 2, 3, 4, 0 };
	cr_assert_eq(n, sizeof(want));
	cr_assert(memcmp(b, want, n) == 0);

	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, b, n);
	struct kp_resp_hdr d;
	cr_assert_eq(kp_resp_hdr_decode(&r, KP_API_API_VERSIONS, 3, &a, &d), 0);
	cr_assert_eq(d.correlation_id, 0x01020304);
	cr_assert_eq(kp_resp_hdr_decode(&r, KP_API_METADATA, 12, &a, &d), 0);
	cr_assert_eq(rt_rd_left(&r), 0);
	free(b);
	rt_arena_fini(&a);
	rt_chain_fini(&c);
}

Test(kp_header, size_prefix_counts_every_segment)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	rt_buf_put_u8(rt_chain_buf(&c), 0x77);          /* something before the frame */
	struct kp_frame f = kp_frame_begin(&c);
	rt_buf_put_i32(rt_chain_buf(&c), 5);
	static const uint8_t data[100] = { 1 };
	rt_chain_add_mem(&c, data, sizeof(data));
	rt_buf_put_i16(rt_chain_buf(&c), 9);
	kp_frame_end(&c, f);
	size_t n;
	uint8_t *b = flat(&c, &n);
	cr_assert_eq(n, 1 + 4 + 4 + 100 + 2);
	cr_assert_eq(rt_be32_get(b + 1), 106);
	free(b);
	rt_chain_fini(&c);
}
