/*
 * tests/fuzz/fuzz_request.c: libFuzzer target for the request decoder.
 *
 * Input: one request frame without its size prefix (what the dataplane hands the decoder).
 * Decodes the header, then the body for the API key read, at the version read (any version the
 * schema knows, not only those served, so that every layout is reachable).  A body that decodes
 * is re-encoded, decoded again and re-encoded: the two encodings must match byte for byte, and
 * the arena may not grow beyond a small multiple of the frame.  A crash, sanitizer report or
 * abort() here is a bug.  Seeds: tests/fuzz/corpus/request/ (frames captured from real clients).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"

/* Worst-case arena bytes per frame byte: see tests/unit/proto/test_malformed.c. */
#define ARENA_FACTOR 64
#define ARENA_SLACK 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *flatten(struct rt_chain *c, size_t *n)
{
	if (rt_chain_finish(c)) abort();
	*n = rt_chain_len(c);
	uint8_t *b = malloc(*n ? *n : 1);
	if (!b || rt_chain_flatten(c, b)) abort();
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 64u << 20);
	struct rt_rd r;
	rt_rd_init(&r, data, size);
	struct kp_req_hdr h;
	if (kp_req_hdr_decode(&r, &a, &h) == 0) {
		const struct kp_api_info *api = kp_api_lookup(h.request_api_key);
		if (api && h.request_api_version >= 0 && h.request_api_version <= api->max_version) {
			int16_t v = h.request_api_version;
			void *m1 = malloc(api->req_size), *m2 = malloc(api->req_size);
			if (api->req_decode(&r, v, &a, m1) == 0) {
				if (a.used > ARENA_FACTOR * size + ARENA_SLACK) {
					fprintf(stderr, "%s v%d: arena %zu for a %zu-byte frame\n", api->name, v, a.used, size);
					abort();
				}
				struct rt_chain c1, c2;
				rt_chain_init(&c1, 0);
				rt_chain_init(&c2, 0);
				api->req_encode(&c1, v, m1);
				size_t n1, n2;
				uint8_t *b1 = flatten(&c1, &n1);
				struct rt_rd r2;
				rt_rd_init(&r2, b1, n1);
				if (api->req_decode(&r2, v, &a, m2) != 0 || rt_rd_left(&r2)) abort();
				api->req_encode(&c2, v, m2);
				uint8_t *b2 = flatten(&c2, &n2);
				if (n1 != n2 || memcmp(b1, b2, n1)) abort();
				free(b1);
				free(b2);
				rt_chain_fini(&c1);
				rt_chain_fini(&c2);
			}
			free(m1);
			free(m2);
		}
	}
	rt_arena_fini(&a);
	return 0;
}
