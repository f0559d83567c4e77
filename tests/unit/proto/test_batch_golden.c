/* Golden record batches written by real clients (tests/unit/proto/data/batches/, captured by
 * tools/capture_batches_kafka_python.py and tools/capture_batches_librdkafka.py): each decodes,
 * validates as a Produce record set and holds exactly the records golden_record() describes
 * (the capture scripts use the same formula). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "proto/batch.h"

#define BASE_TS 1700000000000LL

struct golden {
	int64_t ts;
	char key[32];
	int32_t key_len;
	char value[512];
	int32_t value_len;
	int nh;
	char hk[2][16];
	char hv[2][32];
	int32_t hv_len[2];
};

/* Mirror of golden_record() in tools/capture_batches_kafka_python.py. */
static void golden_record(int i, struct golden *g)
{
	g->ts = BASE_TS + i * 3;
	g->key_len = i % 5 == 4 ? -1 : snprintf(g->key, sizeof(g->key), "key-%d", i);
	if (i % 9 == 8) {
		g->value_len = -1;
	} else if (i % 13 == 12) {
		g->value_len = 0;
	} else {
		char unit[32];
		int ul = snprintf(unit, sizeof(unit), "value-%d-", i);
		g->value_len = 0;
		for (int r = 0; r < i % 17 + 1; r++) {
			memcpy(g->value + g->value_len, unit, (size_t)ul);
			g->value_len += ul;
		}
	}
	g->nh = i % 3;
	for (int j = 0; j < g->nh; j++) {
		snprintf(g->hk[j], sizeof(g->hk[j]), "h%d", j);
		g->hv_len[j] = (i + j) % 4 == 3 ? -1 : snprintf(g->hv[j], sizeof(g->hv[j]), "v%d", i * j);
	}
}

static uint8_t *load(const char *name, size_t *n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/batches/%s", RT_TEST_DATA, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "missing golden file %s", path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)len);
	cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

static void check_records(const uint8_t *p, size_t n, int count, struct rt_arena *a)
{
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, n, a, 0), 0);
	struct kp_record rec;
	int i = 0, rc;
	while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
		struct golden g;
		golden_record(i, &g);
		cr_assert_eq(rec.offset_delta, i);
		cr_assert_eq(it.hdr.base_timestamp + rec.timestamp_delta, g.ts);
		cr_assert_eq(rec.key_len, g.key_len, "record %d", i);
		if (g.key_len >= 0) cr_assert(memcmp(rec.key, g.key, (size_t)g.key_len) == 0);
		cr_assert_eq(rec.value_len, g.value_len, "record %d value_len %d want %d", i, rec.value_len, g.value_len);
		if (g.value_len > 0) cr_assert(memcmp(rec.value, g.value, (size_t)g.value_len) == 0, "record %d", i);
		cr_assert_eq(rec.header_count, g.nh);
		size_t pos = 0;
		struct kp_record_header h;
		for (int j = 0; j < g.nh; j++) {
			cr_assert_eq(kp_record_header_next(&rec, &pos, &h), 1);
			cr_assert_eq(h.key_len, (int32_t)strlen(g.hk[j]));
			cr_assert(memcmp(h.key, g.hk[j], (size_t)h.key_len) == 0);
			cr_assert_eq(h.value_len, g.hv_len[j], "record %d header %d", i, j);
			if (h.value_len > 0) cr_assert(memcmp(h.value, g.hv[j], (size_t)h.value_len) == 0);
		}
		cr_assert_eq(kp_record_header_next(&rec, &pos, &h), 0);
		i++;
	}
	cr_assert_eq(rc, 0, "%s", it.why ? it.why : "");
	cr_assert_eq(i, count);
}

/* Builds the golden records with our builder and returns the records' bytes (compressed with c). */
static const uint8_t *our_batch(struct kp_batch_builder *b, enum kp_compression c, int count, size_t *len)
{
	kp_batch_builder_init(b, c, 0, -1, -1, -1);
	for (int i = 0; i < count; i++) {
		struct golden g;
		golden_record(i, &g);
		struct kp_record_header h[2];
		for (int j = 0; j < g.nh; j++) {
			h[j].key = (const uint8_t *)g.hk[j];
			h[j].key_len = (int32_t)strlen(g.hk[j]);
			h[j].value = g.hv_len[j] < 0 ? NULL : (const uint8_t *)g.hv[j];
			h[j].value_len = g.hv_len[j];
		}
		cr_assert_eq(kp_batch_builder_add(b, g.ts, g.key_len < 0 ? NULL : g.key, g.key_len,
		                                  g.value_len < 0 ? NULL : g.value, g.value_len, h, g.nh), 0);
	}
	size_t size;
	const uint8_t *p = kp_batch_builder_finish(b, &size);
	cr_assert_not_null(p);
	*len = size - KP_BATCH_HEADER_SIZE;
	return p + KP_BATCH_HEADER_SIZE;
}

static const uint8_t *our_records(struct kp_batch_builder *b, int count, size_t *len)
{
	return our_batch(b, KP_COMPRESSION_NONE, count, len);
}

static void check_file(const char *name, enum kp_compression c, int count, int64_t pid, int16_t epoch,
                       int32_t seq, bool txn)
{
	size_t n;
	uint8_t *p = load(name, &n);
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct kp_validate_opts o = {.max_batch_bytes = 1 << 20, .max_decompressed = 16 << 20, .check_records = true};
	struct kp_records_info info;
	const char *why = NULL;
	int rc = kp_records_validate(p, n, &o, &a, &info, &why);
	cr_assert_eq(rc, 0, "%s: %d %s", name, rc, why ? why : "");
	cr_assert_eq(info.batches, 1);
	cr_assert_eq(info.records, count);
	cr_assert_eq(info.offset_count, count);
	cr_assert_eq(info.compression, c, "%s", name);
	cr_assert_eq(info.first_timestamp, BASE_TS);
	cr_assert_eq(info.min_timestamp, BASE_TS);
	cr_assert_eq(info.max_timestamp, BASE_TS + (count - 1) * 3);
	cr_assert_eq(info.producer_id, pid);
	cr_assert_eq(info.producer_epoch, epoch);
	cr_assert_eq(info.base_sequence, seq);
	cr_assert_eq(info.transactional, txn);
	cr_assert(!info.control);
	check_records(p, n, count, &a);

	/* The decompressed records are byte for byte what our builder writes for the same records. */
	struct kp_batch_iter it;
	cr_assert_eq(kp_batch_iter_init(&it, p, n, &a, 0), 0);
	struct kp_batch_builder b;
	size_t ours_len;
	const uint8_t *ours = our_records(&b, count, &ours_len);
	cr_assert_eq((size_t)(it.end - it.p), ours_len, "%s", name);
	cr_assert(memcmp(it.p, ours, ours_len) == 0, "%s", name);
	kp_batch_builder_fini(&b);

	/* Storage stamps offsets and the leader epoch in place: the CRC still holds. */
	kp_batch_stamp(p, 42, 3);
	cr_assert(kp_batch_crc_ok(p, n));
	/* One flipped bit anywhere after the CRC field is caught. */
	p[n / 2] ^= 0x10;
	cr_assert_eq(kp_records_validate(p, n, &o, &a, NULL, NULL), -EBADMSG);
	rt_arena_fini(&a);
	free(p);
}

Test(kp_batch_golden, kafka_python_none) { check_file("kafka-python-none.bin", KP_COMPRESSION_NONE, 200, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_gzip) { check_file("kafka-python-gzip.bin", KP_COMPRESSION_GZIP, 200, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_snappy_xerial) { check_file("kafka-python-snappy.bin", KP_COMPRESSION_SNAPPY, 200, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_lz4) { check_file("kafka-python-lz4.bin", KP_COMPRESSION_LZ4, 200, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_zstd) { check_file("kafka-python-zstd.bin", KP_COMPRESSION_ZSTD, 200, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_idempotent_zstd) { check_file("kafka-python-idempotent-zstd.bin", KP_COMPRESSION_ZSTD, 50, 1001, 2, 17, false); }
Test(kp_batch_golden, kafka_python_transactional_gzip) { check_file("kafka-python-transactional-gzip.bin", KP_COMPRESSION_GZIP, 30, 1002, 0, 0, true); }
Test(kp_batch_golden, kafka_python_large_snappy) { check_file("kafka-python-large-snappy.bin", KP_COMPRESSION_SNAPPY, 3000, -1, -1, -1, false); }
Test(kp_batch_golden, kafka_python_large_lz4) { check_file("kafka-python-large-lz4.bin", KP_COMPRESSION_LZ4, 3000, -1, -1, -1, false); }

/* librdkafka 2.0 (confluent-kafka-python), captured from its Produce requests.  Its snappy is a
 * raw snappy block, not the xerial framing of the Java client and kafka-python. */
Test(kp_batch_golden, librdkafka_none) { check_file("librdkafka-none.bin", KP_COMPRESSION_NONE, 200, -1, -1, -1, false); }
Test(kp_batch_golden, librdkafka_gzip) { check_file("librdkafka-gzip.bin", KP_COMPRESSION_GZIP, 200, -1, -1, -1, false); }
Test(kp_batch_golden, librdkafka_snappy_raw)
{
	size_t n;
	uint8_t *p = load("librdkafka-snappy.bin", &n);
	static const uint8_t xerial[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
	cr_assert_neq(memcmp(p + KP_BATCH_HEADER_SIZE, xerial, 8), 0, "librdkafka wrote xerial framing after all");
	free(p);
	check_file("librdkafka-snappy.bin", KP_COMPRESSION_SNAPPY, 200, -1, -1, -1, false);
}
Test(kp_batch_golden, librdkafka_lz4) { check_file("librdkafka-lz4.bin", KP_COMPRESSION_LZ4, 200, -1, -1, -1, false); }
Test(kp_batch_golden, librdkafka_zstd) { check_file("librdkafka-zstd.bin", KP_COMPRESSION_ZSTD, 200, -1, -1, -1, false); }
Test(kp_batch_golden, librdkafka_idempotent_lz4) { check_file("librdkafka-idempotent-lz4.bin", KP_COMPRESSION_LZ4, 50, 4711, 3, 0, false); }

/* The uncompressed batch from kafka-python and ours agree on every byte from the magic on
 * (kafka-python writes leader epoch 0 where a producer's -1 is usual, so that field is skipped). */
Test(kp_batch_golden, builder_matches_kafka_python_bytes)
{
	size_t n;
	uint8_t *p = load("kafka-python-none.bin", &n);
	struct kp_batch_builder b;
	size_t rl;
	(void)our_records(&b, 200, &rl);
	cr_assert_eq(b.out.len, n);
	cr_assert(memcmp(b.out.data, p, KP_BATCH_OFF_LEADER_EPOCH) == 0);
	cr_assert(memcmp(b.out.data + KP_BATCH_OFF_MAGIC, p + KP_BATCH_OFF_MAGIC, n - KP_BATCH_OFF_MAGIC) == 0);
	kp_batch_builder_fini(&b);
	free(p);
}

/* The other way round: batches our builder writes, in every codec, read by kafka-python's own
 * decoder (as a kafka-python consumer would read what Ringtail's control process writes). */
Test(kp_batch_golden, kafka_python_reads_our_batches)
{
	char dir[] = "/tmp/rt_batch_golden_XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	for (int c = 0; c < 5; c++) {
		struct kp_batch_builder b;
		size_t rl;
		(void)our_batch(&b, (enum kp_compression)c, 3000, &rl);
		char path[256];
		snprintf(path, sizeof(path), "%s/%s-3000.bin", dir, names[c]);
		FILE *f = fopen(path, "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(b.out.data, 1, b.out.len, f), b.out.len);
		fclose(f);
		kp_batch_builder_fini(&b);
	}
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/../../../../tools/check_batches_kafka_python.py %s 2>&1",
	         RT_TEST_DATA, dir);
	FILE *out = popen(cmd, "r");
	cr_assert_not_null(out);
	char line[512], all[4096] = "";
	while (fgets(line, sizeof(line), out)) strncat(all, line, sizeof(all) - strlen(all) - 1);
	int st = pclose(out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kafka-python could not read our batches:\n%s", all);
	cr_assert(strstr(all, "zstd-3000.bin: ok") != NULL, "%s", all);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
