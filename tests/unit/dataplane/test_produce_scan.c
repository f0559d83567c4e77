/* Unit tests for dataplane/produce_scan.c: Produce frames of every served version (3..11, compact
 * and with tagged fields from 9), several topics and partitions, null and empty record sets, cut
 * into pieces anywhere (a length varint or int32 split between two pieces): the spans found are
 * where the decoder finds the record sets; frames that are not a Produce v3..11 or do not parse
 * (truncated, trailing bytes) are refused. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "base/chain.h"
#include "dataplane/produce_scan.h"
#include "kp_msgs.h"

static uint8_t rec_a[3000], rec_b[700], tagv[5] = "tags!";

/* A Produce frame (no length prefix) of version ver: two topics, the first with three partitions
 * (records, null, records), the second with one (records) and tagged fields where flexible. */
static uint8_t *make(int16_t ver, const char *client, size_t *len)
{
	for (size_t i = 0; i < sizeof rec_a; i++)
		rec_a[i] = (uint8_t)(i * 7);
	memset(rec_b, 0x5a, sizeof rec_b);
	static struct kp_raw_tag tg = {3, sizeof tagv, tagv};
	struct kp_produce_req_partition_data p1[3] = {
		{.index = 0, .records = {rec_a, sizeof rec_a, -1, 0}},
		{.index = 1, .records = {NULL, -1, -1, 0}},
		{.index = 2, .records = {rec_b, sizeof rec_b, -1, 0}, .unknown_tags = {&tg, ver >= 9}},
	};
	struct kp_produce_req_partition_data p2[1] = {{.index = 5, .records = {rec_b, 100, -1, 0}}};
	struct kp_produce_req_topic_data td[2] = {
		{.name = KP_STR("topic-one"), .partition_data = {p1, 3}, .unknown_tags = {&tg, ver >= 9}},
		{.name = KP_STR("t2"), .partition_data = {p2, 1}},
	};
	struct kp_produce_req m;
	kp_produce_req_init(&m);
	m.transactional_id = ver % 2 ? KP_STR("txn-id") : KP_STR_NULL;
	m.acks = -1;
	m.timeout_ms = 30000;
	m.topic_data.items = td;
	m.topic_data.n = 2;
	if (ver >= 9) {
		m.unknown_tags.items = &tg;
		m.unknown_tags.n = 1;
	}
	struct rt_chain c;
	rt_chain_init(&c, 1 << 20);
	struct kp_req_hdr h = {.request_api_key = 0, .request_api_version = ver, .correlation_id = 7,
	                       .client_id = client ? KP_STR(client) : KP_STR_NULL};
	if (ver >= 9) {
		h.unknown_tags.items = &tg;
		h.unknown_tags.n = 1;
	}
	kp_req_hdr_encode(&c, &h);
	kp_produce_req_encode(&c, ver, &m);
	*len = rt_chain_len(&c);
	uint8_t *f = malloc(*len);
	cr_assert_eq(rt_chain_flatten(&c, f), 0);
	rt_chain_fini(&c);
	return f;
}

/* The truth: where the decoder finds the non-empty record sets. */
static int truth(const uint8_t *f, size_t len, struct dp_span *out)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, f, len);
	struct kp_req_hdr h;
	cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
	struct kp_produce_req m;
	kp_produce_req_init(&m);
	cr_assert_eq(kp_produce_req_decode(&r, h.request_api_version, &a, &m), 0);
	int k = 0;
	for (int i = 0; i < m.topic_data.n; i++)
		for (int j = 0; j < m.topic_data.items[i].partition_data.n; j++) {
			const struct kp_records *rec = &m.topic_data.items[i].partition_data.items[j].records;
			if (rec->len > 0)
				out[k++] = (struct dp_span){(uint32_t)(rec->ptr - f), (uint32_t)rec->len};
		}
	rt_arena_fini(&a);
	return k;
}

/* The frame with a 4-byte length prefix, cut at the given stream offsets into pieces of their own. */
static int scan_cut(const uint8_t *f, size_t len, const size_t *at, int nat, struct dp_span *out, int max)
{
	uint8_t *s = malloc(len + 4);
	rt_be32_put(s, (uint32_t)len);
	memcpy(s + 4, f, len);
	struct iovec v[64];
	void *bufs[64];
	int n = 0;
	size_t from = 0;
	for (int i = 0; i <= nat; i++) {
		size_t to = i < nat ? at[i] : len + 4;
		bufs[n] = malloc(to - from + 1);
		memcpy(bufs[n], s + from, to - from);
		v[n] = (struct iovec){bufs[n], to - from};
		n++;
		from = to;
	}
	int k = dp_produce_scan(v, n, 4, len, out, max);
	for (int i = 0; i < n; i++)
		free(bufs[i]);
	free(s);
	return k;
}

Test(dp_produce_scan, every_version_and_every_two_piece_cut)
{
	for (int16_t ver = 3; ver <= 11; ver++) {
		size_t len;
		uint8_t *f = make(ver, ver == 4 ? NULL : "a-client", &len);
		struct dp_span want[8], got[8];
		int nw = truth(f, len, want);
		cr_assert_eq(nw, 3);
		for (size_t at = 0; at <= len + 4; at++) {
			int ng = scan_cut(f, len, &at, 1, got, 8);
			cr_assert_eq(ng, nw, "v%d cut at %zu: %d spans", ver, at, ng);
			cr_assert(memcmp(got, want, sizeof want[0] * (size_t)nw) == 0, "v%d cut at %zu", ver, at);
		}
		free(f);
	}
}

Test(dp_produce_scan, segment_sized_pieces_and_bounds)
{
	size_t len;
	uint8_t *f = make(9, "c", &len);
	struct dp_span want[8], got[8];
	int nw = truth(f, len, want);
	size_t at[8];
	int n = 0;
	for (size_t o = 1448; o < len + 4; o += 1448)
		at[n++] = o;
	cr_assert_eq(scan_cut(f, len, at, n, got, 8), nw);
	cr_assert(memcmp(got, want, sizeof want[0] * (size_t)nw) == 0);
	cr_assert_eq(scan_cut(f, len, at, n, got, 2), -1, "more record sets than room");
	/* truncated (the frame claims one byte less) and trailing bytes (one more) */
	cr_assert_eq(scan_cut(f, len - 1, at, n, got, 8), -1);
	uint8_t *g = malloc(len + 1);
	memcpy(g, f, len);
	g[len] = 0;
	cr_assert_eq(scan_cut(g, len + 1, at, n, got, 8), -1);
	/* another API key, an unserved version */
	g[1] = 1;
	cr_assert_eq(scan_cut(g, len, at, n, got, 8), -1);
	memcpy(g, f, len);
	rt_be16_put(g + 2, 12);
	cr_assert_eq(scan_cut(g, len, at, n, got, 8), -1);
	rt_be16_put(g + 2, 2);
	cr_assert_eq(scan_cut(g, len, at, n, got, 8), -1);
	/* a records length past the frame */
	memcpy(g, f, len);
	size_t ro = want[0].off;
	cr_assert_eq(g[ro - 2] & 0x80, 0x80, "a two-byte varint length before the first set");
	g[ro - 1] = 0x7f;
	cr_assert_eq(scan_cut(g, len, at, n, got, 8), -1);
	free(g);
	free(f);
}
