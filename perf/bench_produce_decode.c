/*
 * perf/bench_produce_decode.c: decode + validate of a 1 MiB Produce request, in GB/s, beside
 * memcpy of the same bytes in the same run.
 *
 *   bench_produce_decode [seconds per measurement (default 1)]
 *
 * The request (Produce v9, header v2) carries one topic with 64 partitions, each one
 * uncompressed batch of 16 records of 1 KiB built with proto/batch.h's builder: about 1 MiB.
 * "decode" is kp_req_hdr_decode + kp_produce_req_decode (slices, arena reset per request);
 * "decode + validate" adds kp_records_validate with check_records on every partition (CRC32C
 * over each batch and a walk of every record), which is what the dataplane does per Produce.
 * Each figure is the request bytes processed per second; memcpy copies the same request into
 * another buffer.  Speed is only measured here, never in tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kp_msgs.h"
#include "proto/batch.h"

#define PARTITIONS 64
#define RECORDS 16
#define RECORD_SIZE 1024

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint8_t *build_request(size_t *len)
{
	static struct kp_batch_builder bb[PARTITIONS];
	static struct kp_produce_req_partition_data parts[PARTITIONS];
	uint8_t value[RECORD_SIZE];
	for (size_t i = 0; i < sizeof(value); i++) value[i] = (uint8_t)(i * 31 + 7);
	for (int p = 0; p < PARTITIONS; p++) {
		kp_batch_builder_init(&bb[p], KP_COMPRESSION_NONE, 0, -1, -1, -1);
		for (int i = 0; i < RECORDS; i++) {
			char key[16];
			int kl = snprintf(key, sizeof(key), "k%d-%d", p, i);
			if (kp_batch_builder_add(&bb[p], 1700000000000LL + i, key, kl, value, RECORD_SIZE, NULL, 0)) {
				fprintf(stderr, "batch builder failed\n");
				exit(1);
			}
		}
		size_t sz;
		const uint8_t *b = kp_batch_builder_finish(&bb[p], &sz);
		if (!b) { fprintf(stderr, "batch finish failed\n"); exit(1); }
		kp_produce_req_partition_data_init(&parts[p]);
		parts[p].index = p;
		parts[p].records.ptr = b;
		parts[p].records.len = (int32_t)sz;
	}
	struct kp_produce_req_topic_data t;
	kp_produce_req_topic_data_init(&t);
	t.name = KP_STR("bench");
	t.partition_data.items = parts;
	t.partition_data.n = PARTITIONS;
	struct kp_produce_req q;
	kp_produce_req_init(&q);
	q.acks = -1;
	q.timeout_ms = 30000;
	q.topic_data.items = &t;
	q.topic_data.n = 1;
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = KP_API_PRODUCE;
	h.request_api_version = 9;
	h.correlation_id = 1;
	h.client_id = KP_STR("bench");

	struct rt_chain c;
	rt_chain_init(&c, 0);
	kp_req_hdr_encode(&c, &h);
	kp_produce_req_encode(&c, 9, &q);
	if (rt_chain_finish(&c)) { fprintf(stderr, "encode failed\n"); exit(1); }
	*len = rt_chain_len(&c);
	uint8_t *out = malloc(*len);
	if (!out || rt_chain_flatten(&c, out)) exit(1);
	rt_chain_fini(&c);
	for (int p = 0; p < PARTITIONS; p++) kp_batch_builder_fini(&bb[p]);
	return out;
}

/* One request: returns the number of records seen (so the work cannot be optimised away). */
static int64_t decode_one(const uint8_t *frame, size_t len, struct rt_arena *a, struct rt_arena *scratch,
                          bool validate)
{
	rt_arena_reset(a);
	struct rt_rd r;
	rt_rd_init(&r, frame, len);
	struct kp_req_hdr h;
	struct kp_produce_req q;
	if (kp_req_hdr_decode(&r, a, &h) || kp_produce_req_decode(&r, h.request_api_version, a, &q)) {
		fprintf(stderr, "decode failed\n");
		exit(1);
	}
	int64_t n = 0;
	struct kp_validate_opts o = { .max_batch_bytes = 1 << 20, .max_decompressed = 1 << 20, .check_records = true };
	for (int32_t i = 0; i < q.topic_data.n; i++)
		for (int32_t j = 0; j < q.topic_data.items[i].partition_data.n; j++) {
			const struct kp_records *rec = &q.topic_data.items[i].partition_data.items[j].records;
			if (!validate) { n += rec->len; continue; }
			struct kp_records_info info;
			const char *why;
			rt_arena_reset(scratch);
			if (kp_records_validate(rec->ptr, (size_t)rec->len, &o, scratch, &info, &why)) {
				fprintf(stderr, "validate failed: %s\n", why);
				exit(1);
			}
			n += info.records;
		}
	return n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	size_t len;
	uint8_t *frame = build_request(&len);
	uint8_t *copy = malloc(len);
	struct rt_arena a, scratch;
	rt_arena_init(&a, 0, 16 << 20);
	rt_arena_init(&scratch, 0, 16 << 20);

	double gbs[3];
	volatile int64_t sink = 0;
	for (int k = 0; k < 3; k++) {
		uint64_t iters = 0;
		double t0 = now(), t;
		do {
			for (int i = 0; i < 16; i++) {
				if (k == 0) {
					memcpy(copy, frame, len);
					__asm__ volatile("" : : "r"(copy) : "memory");
				} else {
					sink += decode_one(frame, len, &a, &scratch, k == 2);
				}
			}
			iters += 16;
			t = now();
		} while (t - t0 < secs);
		gbs[k] = (double)len * (double)iters / (t - t0) / 1e9;
	}
	printf("request: %zu bytes, %d partitions x %d records of %d bytes\n", len, PARTITIONS, RECORDS, RECORD_SIZE);
	printf("memcpy               %7.2f GB/s\n", gbs[0]);
	printf("decode               %7.2f GB/s  (%.2fx memcpy)\n", gbs[1], gbs[1] / gbs[0]);
	printf("decode + validate    %7.2f GB/s  (%.2fx memcpy)\n", gbs[2], gbs[2] / gbs[0]);
	(void)sink;
	free(frame);
	free(copy);
	rt_arena_fini(&a);
	rt_arena_fini(&scratch);
	return 0;
}
