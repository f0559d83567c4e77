#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/chain.h"
#include "kp_errors.h"
#include "perf/harness/record.h"
#include "perf/harness/wire.h"
#include "proto/batch.h"

static struct kp_api_versions_resp_api_version av[8];

static struct kp_api_versions_resp versions(int drop_key)
{
	int16_t ranges[][3] = {{18, 0, 4}, {3, 0, 12}, {0, 3, 11}, {1, 4, 17}, {2, 1, 10}, {19, 2, 7}};
	struct kp_api_versions_resp r;
	kp_api_versions_resp_init(&r);
	int n = 0;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if (ranges[i][0] == drop_key)
			continue;
		av[n].api_key = ranges[i][0];
		av[n].min_version = ranges[i][1];
		av[n].max_version = ranges[i][2];
		n++;
	}
	r.api_keys.items = av;
	r.api_keys.n = n;
	return r;
}

Test(perf_wire, picks_the_highest_common_versions_within_the_harness_caps)
{
	struct kp_api_versions_resp r = versions(-1);
	struct perf_versions v;
	char err[256];
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.produce, 11);
	cr_assert_eq(v.fetch, 12);         /* v13+ names topics by id */
	cr_assert_eq(v.metadata, 12);
	cr_assert_eq(v.list_offsets, 3);
	cr_assert_eq(v.create_topics, 7);
	/* An old broker: Produce up to 7, Fetch up to 11, no CreateTopics (librdkafka's mock). */
	av[2].max_version = 7;
	av[3].max_version = 11;
	r.api_keys.n = 5;
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.produce, 7);
	cr_assert_eq(v.fetch, 11);
	cr_assert_eq(v.create_topics, -1);
}

Test(perf_wire, a_broker_without_produce_is_refused_by_name)
{
	struct kp_api_versions_resp r = versions(0);
	struct perf_versions v;
	char err[256];
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), -ENOTSUP);
	cr_assert_str_eq(err, "the broker does not serve Produce in versions 3..11");
}

static const uint8_t *make_batch(struct kp_batch_builder *b, int n, uint64_t t0, size_t *size)
{
	uint8_t value[100];
	kp_batch_builder_init(b, KP_COMPRESSION_NONE, 0, -1, -1, -1);
	for (int i = 0; i < n; i++) {
		perf_record_fill(value, sizeof(value), t0 + (uint64_t)i, 1);
		cr_assert_eq(kp_batch_builder_add(b, 1000 + i, "k", 1, value, sizeof(value), NULL, 0), 0);
	}
	const uint8_t *p = kp_batch_builder_finish(b, size);
	cr_assert_not_null(p);
	return p;
}

Test(perf_wire, a_produce_request_decodes_back_to_what_was_sent)
{
	struct kp_batch_builder b1, b2;
	size_t s1, s2;
	const uint8_t *d1 = make_batch(&b1, 3, 10, &s1), *d2 = make_batch(&b2, 5, 20, &s2);
	struct kp_produce_req_partition_data pd[2];
	kp_produce_req_partition_data_init(&pd[0]);
	kp_produce_req_partition_data_init(&pd[1]);
	pd[0].index = 4;
	pd[0].records = (struct kp_records){d1, (int32_t)s1, -1, 0};
	pd[1].index = 7;
	pd[1].records = (struct kp_records){d2, (int32_t)s2, -1, 0};
	struct kp_produce_req_topic_data td;
	kp_produce_req_topic_data_init(&td);
	td.name = KP_STR("perf");
	td.partition_data.items = pd;
	td.partition_data.n = 2;
	struct kp_produce_req q;
	kp_produce_req_init(&q);
	q.acks = -1;
	q.timeout_ms = 30000;
	q.topic_data.items = &td;
	q.topic_data.n = 1;

	for (int16_t version = 3; version <= 11; version++) {
		struct rt_buf out;
		rt_buf_init(&out, 0);
		cr_assert_eq(perf_wire_request(&out, KP_API_PRODUCE, version, 42, &q), 0);
		cr_assert_eq(perf_wire_frame_size(out.data, out.len, 1 << 20), (int64_t)out.len);
		cr_assert_eq(perf_wire_frame_size(out.data, out.len - 1, 1 << 20), 0);
		struct rt_arena a;
		rt_arena_init(&a, 4096, 1 << 20);
		struct rt_rd r;
		rt_rd_init(&r, out.data + 4, out.len - 4);
		struct kp_req_hdr h;
		cr_assert_eq(kp_req_hdr_decode(&r, &a, &h), 0);
		cr_assert_eq(h.request_api_key, KP_API_PRODUCE);
		cr_assert_eq(h.request_api_version, version);
		cr_assert_eq(h.correlation_id, 42);
		cr_assert_eq(h.client_id.len, 13);
		struct kp_produce_req got;
		cr_assert_eq(kp_produce_req_decode(&r, version, &a, &got), 0);
		cr_assert_eq(rt_rd_left(&r), 0);
		cr_assert_eq(got.acks, -1);
		cr_assert_eq(got.topic_data.n, 1);
		cr_assert_eq(got.topic_data.items[0].partition_data.n, 2);
		const struct kp_produce_req_partition_data *g = got.topic_data.items[0].partition_data.items;
		cr_assert_eq(g[1].index, 7);
		cr_assert_eq(g[1].records.len, (int32_t)s2);
		cr_assert_eq(memcmp(g[1].records.ptr, d2, s2), 0);
		/* The chain form: the same bytes, the record sets borrowed, not copied. */
		struct rt_chain ch;
		rt_chain_init(&ch, 0);
		cr_assert_eq(perf_wire_request_chain(&ch, KP_API_PRODUCE, version, 42, &q), 0);
		cr_assert_eq(rt_chain_len(&ch), out.len);
		uint8_t *flat = malloc(out.len);
		cr_assert_eq(rt_chain_flatten(&ch, flat), 0);
		cr_assert_eq(memcmp(flat, out.data, out.len), 0);
		free(flat);
		int borrowed = 0;
		for (size_t i = 0; i < ch.nsegs; i++)
			borrowed += ch.segs[i].kind == RT_SEG_MEM && (ch.segs[i].ptr == d1 || ch.segs[i].ptr == d2);
		cr_assert_eq(borrowed, 2, "both record sets are segments of their own");
		rt_chain_fini(&ch);
		rt_arena_fini(&a);
		rt_buf_fini(&out);
	}
	kp_batch_builder_fini(&b1);
	kp_batch_builder_fini(&b2);
}

Test(perf_wire, frame_sizes_out_of_bounds_are_refused)
{
	uint8_t neg[] = {0xff, 0xff, 0xff, 0xfe, 0};
	uint8_t big[] = {0x10, 0, 0, 0, 0};
	cr_assert_eq(perf_wire_frame_size(neg, sizeof(neg), 1 << 20), -EBADMSG);
	cr_assert_eq(perf_wire_frame_size(big, sizeof(big), 1 << 20), -EBADMSG);
	cr_assert_eq(perf_wire_frame_size(big, 3, 1 << 20), 0);
}

struct seen {
	int n;
	uint64_t sum;
};

static void count_time(void *ctx, uint64_t t)
{
	struct seen *s = ctx;
	s->n++;
	s->sum += t;
}

/* A Fetch response as a broker would send it: two whole batches (offsets 100..102 and
 * 103..107) and the first bytes of a third, cut by the partition's max bytes. */
static void fetch_frame(struct rt_buf *frame, uint8_t *records, size_t *rlen, int16_t version)
{
	struct kp_batch_builder b1, b2, b3;
	size_t s1, s2, s3;
	const uint8_t *d1 = make_batch(&b1, 3, 1000, &s1);
	const uint8_t *d2 = make_batch(&b2, 5, 2000, &s2);
	const uint8_t *d3 = make_batch(&b3, 2, 3000, &s3);
	memcpy(records, d1, s1);
	memcpy(records + s1, d2, s2);
	memcpy(records + s1 + s2, d3, 30);
	kp_batch_stamp(records, 100, 0);
	kp_batch_stamp(records + s1, 103, 0);
	kp_batch_stamp(records + s1 + s2, 108, 0);
	*rlen = s1 + s2 + 30;
	kp_batch_builder_fini(&b1);
	kp_batch_builder_fini(&b2);
	kp_batch_builder_fini(&b3);

	struct kp_fetch_resp_partition_data pd;
	kp_fetch_resp_partition_data_init(&pd);
	pd.partition_index = 3;
	pd.high_watermark = 110;
	pd.aborted_transactions.n = -1;
	pd.records = (struct kp_records){records, (int32_t)*rlen, -1, 0};
	struct kp_fetch_resp_fetchable_topic t;
	kp_fetch_resp_fetchable_topic_init(&t);
	t.topic = KP_STR("perf");
	t.partitions.items = &pd;
	t.partitions.n = 1;
	struct kp_fetch_resp m;
	kp_fetch_resp_init(&m);
	m.responses.items = &t;
	m.responses.n = 1;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_frame f = kp_frame_begin(&c);
	struct kp_resp_hdr h = {.correlation_id = 9};
	kp_resp_hdr_encode(&c, KP_API_FETCH, version, &h);
	kp_fetch_resp_encode(&c, version, &m);
	kp_frame_end(&c, f);
	cr_assert_eq(rt_chain_finish(&c), 0);
	uint8_t *dst = rt_buf_extend(frame, rt_chain_len(&c));
	cr_assert_eq(rt_chain_flatten(&c, dst), 0);
	rt_chain_fini(&c);
}

Test(perf_wire, a_fetch_response_counts_whole_batches_and_reports_send_times)
{
	for (int16_t version = 4; version <= 12; version++) {
		uint8_t records[4096];
		size_t rlen;
		struct rt_buf frame;
		rt_buf_init(&frame, 0);
		fetch_frame(&frame, records, &rlen, version);
		struct rt_arena a;
		rt_arena_init(&a, 4096, 1 << 20);
		struct kp_fetch_resp resp;
		int32_t corr = 0;
		cr_assert_eq(perf_wire_response(frame.data, frame.len, KP_API_FETCH, version, &a, &corr, &resp), 0,
		             "v%d", version);
		cr_assert_eq(corr, 9);
		cr_assert_eq(resp.responses.n, 1);
		const struct kp_fetch_resp_partition_data *p = &resp.responses.items[0].partitions.items[0];
		cr_assert_eq(p->partition_index, 3);
		struct seen s = {0};
		struct perf_fetch_scan scan;
		perf_wire_scan_records(p->records.ptr, (size_t)p->records.len, 100, &a, count_time, &s, &scan);
		cr_assert_not(scan.corrupt);
		cr_assert_eq(scan.batches, 2);
		cr_assert_eq(scan.records, 8);
		cr_assert_eq(scan.payload, 8 * 101);
		cr_assert_eq(scan.next_offset, 108);     /* the cut batch is fetched again */
		cr_assert_eq(s.n, 8);
		cr_assert_eq(s.sum, 1000 + 1001 + 1002 + 2000 + 2001 + 2002 + 2003 + 2004);
		/* Asked from offset 104: the first batch and offset 103 count nothing. */
		perf_wire_scan_records(p->records.ptr, (size_t)p->records.len, 104, &a, NULL, NULL, &scan);
		cr_assert_eq(scan.records, 4);
		cr_assert_eq(scan.next_offset, 108);
		rt_arena_fini(&a);
		rt_buf_fini(&frame);
	}
}

Test(perf_wire, a_corrupt_batch_is_reported)
{
	uint8_t records[4096];
	size_t rlen;
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	fetch_frame(&frame, records, &rlen, 11);
	records[70] ^= 0x40; /* inside the first batch's records: the CRC no longer matches */
	struct rt_arena a;
	rt_arena_init(&a, 4096, 1 << 20);
	struct perf_fetch_scan scan;
	perf_wire_scan_records(records, rlen, 0, &a, NULL, NULL, &scan);
	cr_assert(scan.corrupt);
	cr_assert_eq(scan.records, 0);
	rt_arena_fini(&a);
	rt_buf_fini(&frame);
}

Test(perf_wire, a_truncated_response_is_refused)
{
	uint8_t records[4096];
	size_t rlen;
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	fetch_frame(&frame, records, &rlen, 11);
	/* Claim a shorter frame: the body ends inside the record set. */
	rt_be32_put(frame.data, (uint32_t)(frame.len - 4 - 40));
	struct rt_arena a;
	rt_arena_init(&a, 4096, 1 << 20);
	struct kp_fetch_resp resp;
	int32_t corr;
	cr_assert_eq(perf_wire_response(frame.data, frame.len - 40, KP_API_FETCH, 11, &a, &corr, &resp), -EBADMSG);
	rt_arena_fini(&a);
	rt_buf_fini(&frame);
}

Test(perf_wire, group_apis_are_optional_and_capped)
{
	struct kp_api_versions_resp r = versions(-1);
	struct perf_versions v;
	char err[256];
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.join_group, -1, "a broker without groups still serves produce runs");
	cr_assert_eq(v.offset_commit, -1);
	/* A broker serving the group APIs at Kafka 3.7's ranges. */
	static struct kp_api_versions_resp_api_version g[16];
	int16_t ranges[][3] = {{18, 0, 4}, {3, 0, 12}, {0, 3, 11}, {1, 4, 17}, {2, 1, 10},
	                       {10, 0, 4}, {11, 0, 9}, {14, 0, 5}, {12, 0, 4}, {9, 0, 9}, {8, 0, 9}, {13, 0, 5}};
	int n = (int)(sizeof(ranges) / sizeof(ranges[0]));
	for (int i = 0; i < n; i++)
		g[i] = (struct kp_api_versions_resp_api_version){.api_key = ranges[i][0],
			.min_version = ranges[i][1], .max_version = ranges[i][2]};
	r.api_keys.items = g;
	r.api_keys.n = n;
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.find_coordinator, 3, "v4 batches coordinator keys");
	cr_assert_eq(v.join_group, 7);
	cr_assert_eq(v.sync_group, 5);
	cr_assert_eq(v.heartbeat, 4);
	cr_assert_eq(v.offset_fetch, 7, "v8 batches groups");
	cr_assert_eq(v.offset_commit, 8);
	cr_assert_eq(v.leave_group, 4);
	/* FindCoordinator only at v0 is below the harness's range: not usable. */
	g[5].max_version = 0;
	cr_assert_eq(perf_wire_pick_versions(&r, &v, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(v.find_coordinator, -1);
}
