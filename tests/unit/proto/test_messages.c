/*
 * tests/unit/proto/test_messages.c: exact wire forms of chosen messages: zero-copy slices,
 * record sets as memory and file segments, tagged fields (known, unknown, default), null
 * compact strings, empty vs null arrays, defaults of fields a version lacks, encode errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kp_msgs.h"

static struct rt_arena A;
static void setup(void) { rt_arena_init(&A, 0, 0); }
static void teardown(void) { rt_arena_fini(&A); }
TestSuite(kp_messages, .init = setup, .fini = teardown);

static uint8_t *flat(struct rt_chain *c, size_t *n)
{
	cr_assert_eq(rt_chain_finish(c), 0);
	*n = rt_chain_len(c);
	uint8_t *b = malloc(*n + 1);
	cr_assert_eq(rt_chain_flatten(c, b), 0);
	return b;
}

static void want_bytes(struct rt_chain *c, const uint8_t *want, size_t wn)
{
	size_t n;
	uint8_t *b = flat(c, &n);
	cr_assert_eq(n, wn, "length %zu, want %zu", n, wn);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(b[i], want[i], "byte %zu: %02x, want %02x", i, b[i], want[i]);
	free(b);
}

Test(kp_messages, api_versions_v3_response_exact_bytes)
{
	struct kp_api_versions_resp m;
	kp_api_versions_resp_init(&m);
	struct kp_api_versions_resp_api_version k;
	kp_api_versions_resp_api_version_init(&k);
	k.api_key = 18;
	k.min_version = 0;
	k.max_version = 4;
	m.api_keys.items = &k;
	m.api_keys.n = 1;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_api_versions_resp_encode(&c, 3, &m);
	/* error, compact array of 1, {18, 0, 4, no tags}, throttle 0, no tags (all tagged at default) */
	const uint8_t want[] = { 0, 0, 2, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0 };
	want_bytes(&c, want, sizeof(want));
	rt_chain_fini(&c);

	rt_chain_init(&c, 0);
	kp_api_versions_resp_encode(&c, 0, &m);
	const uint8_t want0[] = { 0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 4 };
	want_bytes(&c, want0, sizeof(want0));
	rt_chain_fini(&c);
}

Test(kp_messages, produce_records_are_slices_of_the_frame)
{
	/* Produce v9: null tid, acks -1, timeout 1000, 1 topic "t", 1 partition 3, 4 bytes of records */
	const uint8_t f[] = { 0x00, 0xff, 0xff, 0, 0, 3, 0xe8, 0x02, 0x02, 't', 0x02, 0, 0, 0, 3,
	                      0x05, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00 };
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_produce_req q;
	cr_assert_eq(kp_produce_req_decode(&r, 9, &A, &q), 0);
	cr_assert_eq(rt_rd_left(&r), 0);
	cr_assert_eq(q.transactional_id.len, -1);
	cr_assert_eq(q.acks, -1);
	cr_assert_eq(q.timeout_ms, 1000);
	cr_assert_eq(q.topic_data.n, 1);
	cr_assert_eq(q.topic_data.items[0].name.len, 1);
	cr_assert_eq((const uint8_t *)q.topic_data.items[0].name.ptr, f + 9);
	struct kp_records *rec = &q.topic_data.items[0].partition_data.items[0].records;
	cr_assert_eq(q.topic_data.items[0].partition_data.items[0].index, 3);
	cr_assert_eq(rec->len, 4);
	cr_assert_eq(rec->ptr, f + 16, "records point into the frame, not a copy");
	cr_assert_eq(rec->fd, -1);

	/* Re-encoding puts the records in as a borrowed memory segment. */
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_produce_req_encode(&c, 9, &q);
	cr_assert_eq(rt_chain_finish(&c), 0);
	bool found = false;
	for (size_t i = 0; i < c.nsegs; i++)
		if (c.segs[i].kind == RT_SEG_MEM && c.segs[i].ptr == f + 16 && c.segs[i].len == 4) found = true;
	cr_assert(found, "records joined the chain as a MEM segment");
	want_bytes(&c, f, sizeof(f));
	rt_chain_fini(&c);
}

Test(kp_messages, fetch_records_from_a_file_range)
{
	FILE *tf = tmpfile();
	cr_assert_not_null(tf);
	const char data[] = "0123456789abcdefRECORDSxyz";
	fwrite(data, 1, sizeof(data) - 1, tf);
	fflush(tf);
	int fd = fileno(tf);

	struct kp_fetch_resp m;
	kp_fetch_resp_init(&m);
	struct kp_fetch_resp_fetchable_topic t;
	kp_fetch_resp_fetchable_topic_init(&t);
	struct kp_fetch_resp_partition_data p;
	kp_fetch_resp_partition_data_init(&p);
	p.records.fd = fd;
	p.records.file_off = 16;
	p.records.len = 7;
	p.high_watermark = 10;
	t.topic = KP_STR("t");
	t.partitions.items = &p;
	t.partitions.n = 1;
	m.responses.items = &t;
	m.responses.n = 1;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_fetch_resp_encode(&c, 12, &m);
	cr_assert_eq(rt_chain_finish(&c), 0);
	size_t files = 0;
	for (size_t i = 0; i < c.nsegs; i++)
		if (c.segs[i].kind == RT_SEG_FILE) {
			files++;
			cr_assert_eq(c.segs[i].fd, fd);
			cr_assert_eq(c.segs[i].off, 16);
			cr_assert_eq(c.segs[i].len, 7);
		}
	cr_assert_eq(files, 1);
	size_t n;
	uint8_t *b = flat(&c, &n);
	struct rt_rd r;
	rt_rd_init(&r, b, n);
	struct kp_fetch_resp d;
	cr_assert_eq(kp_fetch_resp_decode(&r, 12, &A, &d), 0);
	cr_assert_eq(rt_rd_left(&r), 0);
	struct kp_records *rec = &d.responses.items[0].partitions.items[0].records;
	cr_assert_eq(rec->len, 7);
	cr_assert(memcmp(rec->ptr, "RECORDS", 7) == 0);
	free(b);
	rt_chain_fini(&c);
	fclose(tf);
}

/* Fetch v12 response with one partition; builds it and returns the encoding. */
static uint8_t *fetch12(struct kp_fetch_resp_partition_data *p, size_t *n)
{
	struct kp_fetch_resp m;
	kp_fetch_resp_init(&m);
	struct kp_fetch_resp_fetchable_topic t;
	kp_fetch_resp_fetchable_topic_init(&t);
	t.topic = KP_STR("t");
	t.partitions.items = p;
	t.partitions.n = 1;
	m.responses.items = &t;
	m.responses.n = 1;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_fetch_resp_encode(&c, 12, &m);
	uint8_t *b = flat(&c, n);
	rt_chain_fini(&c);
	return b;
}

Test(kp_messages, tagged_fields_known_default_and_unknown)
{
	struct kp_fetch_resp_partition_data p;
	kp_fetch_resp_partition_data_init(&p);
	p.records.len = -1;
	size_t n0, n1;
	uint8_t *b0 = fetch12(&p, &n0);
	/* the partition's tag section is its last byte before the topic's: 0 tags at default */
	p.current_leader.leader_id = 7;
	p.current_leader.leader_epoch = 9;
	uint8_t *b1 = fetch12(&p, &n1);
	/* tag 1 written: count 1, tag 1, size 9 (int32 + int32 + its own empty tag section) */
	cr_assert_eq(n1, n0 + 11);

	struct rt_rd r;
	rt_rd_init(&r, b1, n1);
	struct kp_fetch_resp d;
	cr_assert_eq(kp_fetch_resp_decode(&r, 12, &A, &d), 0);
	struct kp_fetch_resp_partition_data *dp = &d.responses.items[0].partitions.items[0];
	cr_assert_eq(dp->current_leader.leader_id, 7);
	cr_assert_eq(dp->current_leader.leader_epoch, 9);
	cr_assert_eq(dp->diverging_epoch.epoch, -1, "absent tagged field keeps its default");
	cr_assert_eq(dp->snapshot_id.end_offset, -1);

	/* An unknown tag (tag 9) after it is kept and written back. */
	struct kp_raw_tag u = { .tag = 9, .len = 3, .ptr = (const uint8_t *)"xyz" };
	dp->unknown_tags.items = &u;
	dp->unknown_tags.n = 1;
	size_t n2;
	uint8_t *b2 = fetch12(dp, &n2);
	cr_assert_eq(n2, n1 + 5);
	rt_rd_init(&r, b2, n2);
	cr_assert_eq(kp_fetch_resp_decode(&r, 12, &A, &d), 0);
	dp = &d.responses.items[0].partitions.items[0];
	cr_assert_eq(dp->unknown_tags.n, 1);
	cr_assert_eq(dp->unknown_tags.items[0].tag, 9);
	cr_assert(memcmp(dp->unknown_tags.items[0].ptr, "xyz", 3) == 0);
	cr_assert_eq(dp->current_leader.leader_id, 7);
	size_t n3;
	uint8_t *b3 = fetch12(dp, &n3);
	cr_assert_eq(n3, n2);
	cr_assert(memcmp(b2, b3, n2) == 0);
	free(b0);
	free(b1);
	free(b2);
	free(b3);
}

Test(kp_messages, known_tag_with_wrong_size_is_rejected)
{
	/* ApiVersions v3 response with tag 1 (FinalizedFeaturesEpoch, int64) claiming 4 bytes */
	const uint8_t f[] = { 0, 0, 1, 0, 0, 0, 0, 0x01, 0x01, 0x04, 0, 0, 0, 1 };
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_api_versions_resp m;
	cr_assert_eq(kp_api_versions_resp_decode(&r, 3, &A, &m), -EBADMSG);
	/* and with the right size it reads */
	const uint8_t g[] = { 0, 0, 1, 0, 0, 0, 0, 0x01, 0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5 };
	rt_rd_init(&r, g, sizeof(g));
	cr_assert_eq(kp_api_versions_resp_decode(&r, 3, &A, &m), 0);
	cr_assert_eq(m.finalized_features_epoch, 5);
}

Test(kp_messages, null_compact_string_and_empty_versus_null_arrays)
{
	struct kp_fetch_resp_partition_data p;
	kp_fetch_resp_partition_data_init(&p);
	p.records.len = -1;                  /* null records: compact 0 */
	p.aborted_transactions.n = -1;       /* null array: compact 0 */
	size_t nn, ne;
	uint8_t *bn = fetch12(&p, &nn);
	p.aborted_transactions.n = 0;        /* empty array: compact 1 */
	uint8_t *be = fetch12(&p, &ne);
	cr_assert_eq(nn, ne);
	cr_assert_neq(memcmp(bn, be, nn), 0);
	struct rt_rd r;
	struct kp_fetch_resp d;
	rt_rd_init(&r, bn, nn);
	cr_assert_eq(kp_fetch_resp_decode(&r, 12, &A, &d), 0);
	cr_assert_eq(d.responses.items[0].partitions.items[0].aborted_transactions.n, -1);
	cr_assert_eq(d.responses.items[0].partitions.items[0].records.len, -1);
	rt_rd_init(&r, be, ne);
	cr_assert_eq(kp_fetch_resp_decode(&r, 12, &A, &d), 0);
	cr_assert_eq(d.responses.items[0].partitions.items[0].aborted_transactions.n, 0);
	free(bn);
	free(be);

	/* Produce v9 with a null compact transactional id is byte 0x00; "" is 0x01. */
	struct kp_produce_req q;
	kp_produce_req_init(&q);
	cr_assert_eq(q.transactional_id.len, -1, "default null");
	q.topic_data.n = 0;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_produce_req_encode(&c, 9, &q);
	q.transactional_id = KP_STR("");
	kp_produce_req_encode(&c, 9, &q);
	const uint8_t want[] = { 0x00, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 0x00 };
	want_bytes(&c, want, sizeof(want));
	rt_chain_fini(&c);
}

Test(kp_messages, fields_absent_from_a_version_hold_defaults)
{
	/* Fetch v4 request: replica -1, max wait, min bytes, max bytes, isolation, [topics] empty */
	const uint8_t f[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0xf4, 0, 0, 0, 1, 0, 0x10, 0, 0, 1, 0, 0, 0, 0 };
	struct rt_rd r;
	rt_rd_init(&r, f, sizeof(f));
	struct kp_fetch_req q;
	cr_assert_eq(kp_fetch_req_decode(&r, 4, &A, &q), 0);
	cr_assert_eq(rt_rd_left(&r), 0);
	cr_assert_eq(q.max_wait_ms, 500);
	cr_assert_eq(q.max_bytes, 0x100000);
	cr_assert_eq(q.isolation_level, 1);
	cr_assert_eq(q.session_id, 0);
	cr_assert_eq(q.session_epoch, -1, "v7+ field keeps its default at v4");
	cr_assert_eq(q.rack_id.len, 0, "v11+ string defaults to empty");
	cr_assert_eq(q.forgotten_topics_data.n, 0);
	cr_assert_eq(q.cluster_id.len, -1, "tagged, default null");
	cr_assert_eq(q.replica_state.replica_id, -1);
}

Test(kp_messages, encode_refuses_nulls_the_version_forbids)
{
	struct kp_produce_req q;
	kp_produce_req_init(&q);
	struct kp_produce_req_topic_data t;
	kp_produce_req_topic_data_init(&t);
	t.name = KP_STR_NULL;
	q.topic_data.items = &t;
	q.topic_data.n = 1;
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_produce_req_encode(&c, 9, &q);
	cr_assert_eq(rt_chain_finish(&c), -EINVAL);
	rt_chain_fini(&c);

	rt_chain_init(&c, 0);
	q.topic_data.n = -1;
	kp_produce_req_encode(&c, 3, &q);
	cr_assert_eq(rt_chain_finish(&c), -EINVAL, "topic array is not nullable");
	rt_chain_fini(&c);

	rt_chain_init(&c, 0);
	q.topic_data.n = 0;
	kp_produce_req_encode(&c, 99, &q);
	cr_assert_eq(rt_chain_finish(&c), -EINVAL, "unknown version");
	rt_chain_fini(&c);
}

Test(kp_messages, init_sets_schema_defaults)
{
	struct kp_produce_resp_partition p;
	kp_produce_resp_partition_init(&p);
	cr_assert_eq(p.log_append_time_ms, -1);
	cr_assert_eq(p.log_start_offset, -1);
	cr_assert_eq(p.error_message.len, -1);
	cr_assert_eq(p.current_leader.leader_id, -1);
	struct kp_fetch_req q;
	kp_fetch_req_init(&q);
	cr_assert_eq(q.max_bytes, 0x7fffffff);
	cr_assert_eq(q.replica_id, -1);
	struct kp_join_group_req j;
	kp_join_group_req_init(&j);
	cr_assert_eq(j.rebalance_timeout_ms, -1);
}
