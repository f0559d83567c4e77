/*
 * tests/unit/proto/test_golden.c: request frames captured from real clients decode to the
 * values the clients were asked to send and re-encode to the same bytes.
 *
 * The frames in data/golden/<client>/ were written by tools/kp-capture while kcat 1.7 /
 * librdkafka 2.0.2 and kafka-python 2.0.2 (Debian 12) produced "golden-key" = "golden-value"
 * to partition 0 of topic "golden" and consumed from it (tools/capture_golden.sh).  Each file
 * is one frame without its size prefix.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_msgs.h"
#include "kp_testvals.h"
#include "proto/batch.h"

#define GOLDEN RT_TEST_DATA "/golden"

struct frame {
	uint8_t *b;
	size_t n;
	struct rt_arena a;
	struct rt_rd r;
	struct kp_req_hdr h;
	void *body;
};

static void load(struct frame *f, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", GOLDEN, rel);
	FILE *fp = fopen(path, "rb");
	cr_assert_not_null(fp, "missing %s", path);
	fseek(fp, 0, SEEK_END);
	f->n = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	f->b = malloc(f->n);
	cr_assert_eq(fread(f->b, 1, f->n, fp), f->n);
	fclose(fp);
	rt_arena_init(&f->a, 0, 1 << 20);
	rt_rd_init(&f->r, f->b, f->n);
	cr_assert_eq(kp_req_hdr_decode(&f->r, &f->a, &f->h), 0, "%s: header", rel);
	const struct kp_api_info *api = kp_api_lookup(f->h.request_api_key);
	cr_assert_not_null(api, "%s: key %d", rel, f->h.request_api_key);
	cr_assert(f->h.request_api_version >= api->min_version && f->h.request_api_version <= api->max_version,
	          "%s: v%d not served", rel, f->h.request_api_version);
	f->body = rt_arena_alloc(&f->a, api->req_size);
	cr_assert_eq(api->req_decode(&f->r, f->h.request_api_version, &f->a, f->body), 0, "%s: body", rel);
	cr_assert_eq(rt_rd_left(&f->r), 0, "%s: %zu bytes left over", rel, rt_rd_left(&f->r));

	/* header + body re-encoded give the captured bytes back */
	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_req_hdr_encode(&c, &f->h);
	api->req_encode(&c, f->h.request_api_version, f->body);
	cr_assert_eq(rt_chain_finish(&c), 0);
	cr_assert_eq(rt_chain_len(&c), f->n, "%s: re-encoded %zu bytes of %zu", rel, rt_chain_len(&c), f->n);
	uint8_t *out = malloc(f->n);
	cr_assert_eq(rt_chain_flatten(&c, out), 0);
	for (size_t i = 0; i < f->n; i++)
		cr_assert_eq(out[i], f->b[i], "%s: byte %zu differs", rel, i);
	free(out);
	rt_chain_fini(&c);
}

static void unload(struct frame *f)
{
	rt_arena_fini(&f->a);
	free(f->b);
}

static bool str_is(struct kp_str s, const char *want)
{
	return s.len == (int32_t)strlen(want) && memcmp(s.ptr, want, (size_t)s.len) == 0;
}

/* The one record both producers were asked to send. */
static void check_golden_batch(const struct kp_records *rec)
{
	cr_assert_gt(rec->len, 0);
	struct rt_arena scratch;
	rt_arena_init(&scratch, 0, 1 << 20);
	struct kp_validate_opts o = { .max_batch_bytes = 1 << 20, .max_decompressed = 1 << 20, .check_records = true };
	struct kp_records_info info;
	const char *why = NULL;
	cr_assert_eq(kp_records_validate(rec->ptr, (size_t)rec->len, &o, &scratch, &info, &why), 0, "%s", why ? why : "");
	cr_assert_eq(info.batches, 1);
	cr_assert_eq(info.records, 1);
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, rec->ptr, (size_t)rec->len, &scratch, 1 << 20), 0);
	struct kp_record r;
	cr_assert_eq(kp_batch_iter_next(&it, &r), 1);
	cr_assert_eq(r.key_len, 10);
	cr_assert(memcmp(r.key, "golden-key", 10) == 0);
	cr_assert_eq(r.value_len, 12);
	cr_assert(memcmp(r.value, "golden-value", 12) == 0);
	cr_assert_eq(kp_batch_iter_next(&it, &r), 0);
	rt_arena_fini(&scratch);
}

Test(kp_golden, every_captured_frame_round_trips)
{
	static const char *clients[] = { "kcat-produce", "kcat-consume", "kafka-python-produce", "kafka-python-consume" };
	size_t total = 0;
	for (size_t i = 0; i < 4; i++) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/%s", GOLDEN, clients[i]);
		DIR *d = opendir(dir);
		cr_assert_not_null(d, "%s", dir);
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strstr(e->d_name, ".bin")) continue;
			char rel[600];
			snprintf(rel, sizeof(rel), "%s/%s", clients[i], e->d_name);
			struct frame f;
			load(&f, rel);
			unload(&f);
			total++;
		}
		closedir(d);
	}
	cr_assert_geq(total, 16);
}

Test(kp_golden, kcat_api_versions_v3_flexible)
{
	struct frame f;
	load(&f, "kcat-produce/000-ApiVersions-v3.bin");
	cr_assert_eq(f.h.request_api_key, KP_API_API_VERSIONS);
	cr_assert_eq(f.h.request_api_version, 3);
	cr_assert(str_is(f.h.client_id, "rdkafka"));
	struct kp_api_versions_req *q = f.body;
	cr_assert(str_is(q->client_software_name, "librdkafka"));
	cr_assert(str_is(q->client_software_version, "2.0.2"));
	unload(&f);
}

Test(kp_golden, kafka_python_api_versions_v0)
{
	struct frame f;
	load(&f, "kafka-python-produce/000-ApiVersions-v0.bin");
	cr_assert_eq(f.h.request_api_version, 0);
	cr_assert(str_is(f.h.client_id, "golden-py"));
	cr_assert_eq(f.n, 19, "header only: v0 has no body fields");
	unload(&f);
}

Test(kp_golden, metadata_requests)
{
	struct frame f;
	load(&f, "kcat-produce/001-Metadata-v4.bin");
	struct kp_metadata_req *m = f.body;
	cr_assert_eq(m->topics.n, 1);
	cr_assert(str_is(m->topics.items[0].name, "golden"));
	cr_assert_eq(m->allow_auto_topic_creation, true, "a producer may create the topic");
	unload(&f);

	load(&f, "kcat-consume/001-Metadata-v4.bin");
	m = f.body;
	cr_assert(str_is(m->topics.items[0].name, "golden"));
	cr_assert_eq(m->allow_auto_topic_creation, false);
	unload(&f);

	load(&f, "kafka-python-produce/001-Metadata-v0.bin");
	m = f.body;
	cr_assert_eq(m->topics.n, 0, "v0: empty list means every topic");
	unload(&f);

	load(&f, "kafka-python-produce/002-Metadata-v1.bin");
	m = f.body;
	cr_assert_eq(m->topics.n, -1, "v1: null list means every topic");
	unload(&f);

	load(&f, "kafka-python-consume/002-Metadata-v1.bin");
	m = f.body;
	cr_assert_eq(m->topics.n, 1);
	cr_assert(str_is(m->topics.items[0].name, "golden"));
	unload(&f);
}

static void check_produce(const char *rel, int16_t acks, const char *client)
{
	struct frame f;
	load(&f, rel);
	cr_assert_eq(f.h.request_api_key, KP_API_PRODUCE);
	cr_assert(str_is(f.h.client_id, client));
	struct kp_produce_req *p = f.body;
	cr_assert_eq(p->transactional_id.len, -1);
	cr_assert_eq(p->acks, acks);
	cr_assert_eq(p->timeout_ms, 30000);
	cr_assert_eq(p->topic_data.n, 1);
	cr_assert(str_is(p->topic_data.items[0].name, "golden"));
	cr_assert_eq(p->topic_data.items[0].partition_data.n, 1);
	cr_assert_eq(p->topic_data.items[0].partition_data.items[0].index, 0);
	const struct kp_records *rec = &p->topic_data.items[0].partition_data.items[0].records;
	cr_assert(rec->ptr >= f.b && rec->ptr + rec->len <= f.b + f.n, "records are a slice of the frame");
	check_golden_batch(rec);
	unload(&f);
}

Test(kp_golden, kcat_produce_v7) { check_produce("kcat-produce/002-Produce-v7.bin", -1, "rdkafka"); }
Test(kp_golden, kafka_python_produce_v7) { check_produce("kafka-python-produce/003-Produce-v7.bin", 1, "golden-py"); }

Test(kp_golden, list_offsets_earliest)
{
	struct frame f;
	load(&f, "kcat-consume/003-ListOffsets-v2.bin");
	struct kp_list_offsets_req *l = f.body;
	cr_assert_eq(l->replica_id, -1);
	cr_assert_eq(l->isolation_level, 1, "librdkafka reads committed by default");
	cr_assert(str_is(l->topics.items[0].name, "golden"));
	cr_assert_eq(l->topics.items[0].partitions.items[0].partition_index, 0);
	cr_assert_eq(l->topics.items[0].partitions.items[0].timestamp, -2, "earliest");
	unload(&f);

	load(&f, "kafka-python-consume/003-ListOffsets-v1.bin");
	l = f.body;
	cr_assert_eq(l->replica_id, -1);
	cr_assert_eq(l->topics.items[0].partitions.items[0].timestamp, -2);
	unload(&f);
}

Test(kp_golden, fetch_requests)
{
	struct frame f;
	load(&f, "kcat-consume/004-Fetch-v11.bin");
	struct kp_fetch_req *q = f.body;
	cr_assert_eq(q->replica_id, -1);
	cr_assert_eq(q->max_wait_ms, 500);
	cr_assert_eq(q->min_bytes, 1);
	cr_assert_eq(q->max_bytes, 52428800);
	cr_assert_eq(q->isolation_level, 1);
	cr_assert_eq(q->session_id, 0);
	cr_assert_eq(q->session_epoch, -1);
	cr_assert_eq(q->topics.n, 1);
	cr_assert(str_is(q->topics.items[0].topic, "golden"));
	cr_assert_eq(q->topics.items[0].partitions.n, 1);
	cr_assert_eq(q->topics.items[0].partitions.items[0].partition, 0);
	cr_assert_eq(q->topics.items[0].partitions.items[0].current_leader_epoch, -1);
	cr_assert_eq(q->topics.items[0].partitions.items[0].fetch_offset, 0);
	cr_assert_eq(q->topics.items[0].partitions.items[0].log_start_offset, -1);
	cr_assert_eq(q->topics.items[0].partitions.items[0].partition_max_bytes, 1048576);
	cr_assert_eq(q->forgotten_topics_data.n, 0);
	cr_assert_eq(q->rack_id.len, 0);
	unload(&f);

	load(&f, "kafka-python-consume/004-Fetch-v4.bin");
	q = f.body;
	cr_assert_eq(q->max_wait_ms, 500);
	cr_assert_eq(q->min_bytes, 1);
	cr_assert_eq(q->max_bytes, 52428800);
	cr_assert_eq(q->isolation_level, 0);
	cr_assert(str_is(q->topics.items[0].topic, "golden"));
	cr_assert_eq(q->topics.items[0].partitions.items[0].fetch_offset, 0);
	cr_assert_eq(q->topics.items[0].partitions.items[0].partition_max_bytes, 1048576);
	unload(&f);
}
