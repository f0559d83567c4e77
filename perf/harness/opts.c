/*
 * perf/harness/opts.c: parsing ringtail-perf's options (see opts.h).
 *
 * Options are long only ("--name value" or "--name=value"), so that scenario scripts read
 * plainly.  Numbers are checked for their whole text and their range; nothing is silently
 * clamped.
 */
#include "perf/harness/opts.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errmsg.h"
#include "proto/batch.h"

void perf_opts_defaults(struct perf_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->driver = PERF_DRIVER_NATIVE;
	o->mode = PERF_MODE_PRODUCE;
	snprintf(o->bootstrap, sizeof(o->bootstrap), "127.0.0.1:9092");
	snprintf(o->topic, sizeof(o->topic), "perf");
	o->partitions = 0;
	o->record_size = 1024;
	o->batch_size = 16384;
	o->linger_ms = 1;
	o->compression = KP_COMPRESSION_NONE;
	o->acks = 1;
	o->keys = PERF_KEYS_NONE;
	o->key_count = 0;
	o->zipf_s = 0.99;
	o->rate = 0;
	o->duration_s = 10;
	o->records = 0;
	o->warmup_s = 0;
	o->producers = 1;
	o->consumers = 1;
	o->inflight = 5;
	o->buffer_bytes = 8 << 20;
	o->fetch_max_bytes = 52428800;
	o->fetch_partition_max_bytes = 1048576;
	o->fetch_max_wait_ms = 100;
	o->fetch_min_bytes = 1;
	o->progress_s = 0;
	o->commit_interval_ms = 1000;
	snprintf(o->assignor, sizeof(o->assignor), "range");
}

const char *perf_driver_name(enum perf_driver d)
{
	switch (d) {
	case PERF_DRIVER_NATIVE: return "native";
	case PERF_DRIVER_RDKAFKA: return "rdkafka";
	case PERF_DRIVER_NATS: return "nats";
	case PERF_DRIVER_REDIS: return "redis";
	}
	return "?";
}

const char *perf_mode_name(enum perf_mode m)
{
	switch (m) {
	case PERF_MODE_PRODUCE: return "produce";
	case PERF_MODE_CONSUME: return "consume";
	case PERF_MODE_E2E: return "e2e";
	}
	return "?";
}

static const char usage[] =
"usage: ringtail-perf [options]\n"
"  --driver native|rdkafka|nats|redis   client to drive the load with (native)\n"
"  --mode produce|consume|e2e           what to run (produce)\n"
"  --bootstrap HOST:PORT[,...]          broker / server address (127.0.0.1:9092)\n"
"  --topic NAME                         topic, subject or stream name (perf)\n"
"  --partitions N                       partitions to create or use, 0 = all (0)\n"
"  --create                             create the topic with --partitions first\n"
"  --delete                             delete the topic after the run (its data leaves the disk)\n"
"  --record-size BYTES                  value bytes per record, >= 16 (1024)\n"
"  --batch-size BYTES                   batch bytes per partition (16384)\n"
"  --linger-ms MS                       longest wait to fill a batch (1)\n"
"  --compression none|gzip|snappy|lz4|zstd  (none)\n"
"  --acks 0|1|-1|all                    (1)\n"
"  --keys none|seq:N|uniform:N|zipf:N[:S]  key distribution (none)\n"
"  --rate RECORDS_PER_S                 open-loop target over all producers; 0 = flat out (0)\n"
"  --pace-tick-us US                    open loop: release the records due in bursts US apart, each\n"
"                                       timed from its own slot (0 = each at its slot)\n"
"  --duration S                         run length in seconds (10)\n"
"  --records N                          stop after N records (0 = by duration)\n"
"  --co-interval-us US                  closed loop: back-fill produce latency for this send interval\n"
"  --warmup S                           seconds whose latencies are not recorded (0)\n"
"  --prime                              before the clock starts, write one record to every partition\n"
"                                       (native driver): the run measures writes, not partition creation\n"
"  --producers N                        producer connections (1)\n"
"  --consumers N                        consumer connections (1)\n"
"  --inflight N                         pipelined requests per connection (5)\n"
"  --buffer-bytes B                     flat out: bytes a producer queues before it waits (8 MiB)\n"
"  --idle-connections N                 connections held open and idle beside the load (0)\n"
"  --fetch-max-bytes B  --fetch-partition-max-bytes B  --fetch-max-wait-ms MS  --fetch-min-bytes B\n"
"  --from earliest|latest               where consumers start without a committed offset (earliest)\n"
"  --group ID                           consumers join consumer group ID and read what it assigns\n"
"  --assignor range|roundrobin|cooperative-sticky  the group's assignor (range; the native driver\n"
"                                       has range only, cooperative-sticky is KIP-429's incremental one)\n"
"  --group-churn S                      every S s one member leaves and rejoins as a new one (0 = never)\n"
"  --commit-interval-ms MS              how often group members commit their positions (1000)\n"
"  --broker-pid PID                     read the broker's CPU time from /proc/PID/stat\n"
"  --progress S                         progress line on stderr every S seconds (0 = off)\n"
"  --json FILE                          write the JSON result to FILE (stdout)\n"
"  --trace-records FILE                 native driver: a line per acknowledged record (corr partition\n"
"                                       slot_ns sent_ns answered_ns, CLOCK_MONOTONIC), for\n"
"                                       perf/lat_records.py\n"
"  --label TEXT                         copied into the JSON result\n"
"  --driver-conf K=V[,K=V...]           extra settings for the rdkafka driver\n"
"  --quiet                              no progress or notes on stderr\n";

const char *perf_opts_usage(void) { return usage; }

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_verrmsg(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Whole-text integer in [lo, hi]. */
static int get_i64(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out,
                   char *err, size_t errlen)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end != '\0' || x < lo || x > hi)
		return fail(err, errlen, "--%s: '%s' is not an integer in %lld..%lld", name, v,
		            (long long)lo, (long long)hi);
	*out = x;
	return 0;
}

static int get_i32(const char *name, const char *v, int32_t lo, int32_t hi, int32_t *out,
                   char *err, size_t errlen)
{
	int64_t x;
	int rc = get_i64(name, v, lo, hi, &x, err, errlen);
	if (!rc)
		*out = (int32_t)x;
	return rc;
}

static int get_dbl(const char *name, const char *v, double lo, double hi, double *out,
                   char *err, size_t errlen)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end != '\0' || !isfinite(x) || x < lo || x > hi)
		return fail(err, errlen, "--%s: '%s' is not a number in %g..%g", name, v, lo, hi);
	*out = x;
	return 0;
}

static int copy_str(const char *name, const char *v, char *dst, size_t cap, char *err, size_t errlen)
{
	size_t n = strlen(v);
	if (n == 0 || n >= cap)
		return fail(err, errlen, "--%s: value must be 1..%zu characters", name, cap - 1);
	memcpy(dst, v, n + 1);
	return 0;
}

/* none | seq:N | uniform:N | zipf:N[:S] */
static int get_keys(struct perf_opts *o, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "none")) {
		o->keys = PERF_KEYS_NONE;
		o->key_count = 0;
		return 0;
	}
	const char *colon = strchr(v, ':');
	size_t kind = colon ? (size_t)(colon - v) : strlen(v);
	enum perf_keydist d;
	if (kind == 3 && !strncmp(v, "seq", 3))
		d = PERF_KEYS_SEQ;
	else if (kind == 7 && !strncmp(v, "uniform", 7))
		d = PERF_KEYS_UNIFORM;
	else if (kind == 4 && !strncmp(v, "zipf", 4))
		d = PERF_KEYS_ZIPF;
	else
		return fail(err, errlen, "--keys: '%s' is not one of none, seq:N, uniform:N, zipf:N[:S]", v);
	if (!colon)
		return fail(err, errlen, "--keys: '%s' needs a key count (e.g. %.*s:1000)", v, (int)kind, v);
	char num[32];
	const char *n = colon + 1;
	const char *colon2 = strchr(n, ':');
	size_t nl = colon2 ? (size_t)(colon2 - n) : strlen(n);
	if (nl == 0 || nl >= sizeof(num))
		return fail(err, errlen, "--keys: '%s' has no key count", v);
	memcpy(num, n, nl);
	num[nl] = '\0';
	int64_t count;
	if (get_i64("keys", num, 1, 100000000, &count, err, errlen))
		return -EINVAL;
	double s = 0.99;
	if (colon2) {
		if (d != PERF_KEYS_ZIPF)
			return fail(err, errlen, "--keys: '%s': only zipf takes an exponent", v);
		if (get_dbl("keys", colon2 + 1, 0.01, 10, &s, err, errlen))
			return -EINVAL;
	}
	o->keys = d;
	o->key_count = (uint32_t)count;
	o->zipf_s = s;
	return 0;
}

int perf_opts_parse(struct perf_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2))
			return fail(err, errlen, "'%s': options start with -- (see --help)", a);
		char name[64];
		const char *v = NULL;
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof(name))
			return fail(err, errlen, "'%s': unknown option (see --help)", a);
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		if (eq)
			v = eq + 1;

		/* Flags without a value. */
		if (!strcmp(name, "help")) {
			snprintf(err, errlen, "%s", usage);
			return 1;
		}
		bool *flag = !strcmp(name, "create") ? &o->create : !strcmp(name, "delete") ? &o->delete_topic :
		             !strcmp(name, "quiet") ? &o->quiet : !strcmp(name, "prime") ? &o->prime : NULL;
		if (flag) {
			if (v)
				return fail(err, errlen, "--%s takes no value", name);
			*flag = true;
			continue;
		}
		if (!v) {
			if (i + 1 >= argc)
				return fail(err, errlen, "--%s needs a value (see --help)", name);
			v = argv[++i];
		}

		int rc = 0;
		int64_t x;
		if (!strcmp(name, "driver")) {
			if (!strcmp(v, "native")) o->driver = PERF_DRIVER_NATIVE;
			else if (!strcmp(v, "rdkafka")) o->driver = PERF_DRIVER_RDKAFKA;
			else if (!strcmp(v, "nats")) o->driver = PERF_DRIVER_NATS;
			else if (!strcmp(v, "redis")) o->driver = PERF_DRIVER_REDIS;
			else rc = fail(err, errlen, "--driver: '%s' is not one of native, rdkafka, nats, redis", v);
		} else if (!strcmp(name, "mode")) {
			if (!strcmp(v, "produce")) o->mode = PERF_MODE_PRODUCE;
			else if (!strcmp(v, "consume")) o->mode = PERF_MODE_CONSUME;
			else if (!strcmp(v, "e2e")) o->mode = PERF_MODE_E2E;
			else rc = fail(err, errlen, "--mode: '%s' is not one of produce, consume, e2e", v);
		} else if (!strcmp(name, "bootstrap")) {
			rc = copy_str(name, v, o->bootstrap, sizeof(o->bootstrap), err, errlen);
			if (!rc && !strchr(o->bootstrap, ':'))
				rc = fail(err, errlen, "--bootstrap: '%s' is not HOST:PORT", v);
		} else if (!strcmp(name, "topic")) {
			rc = copy_str(name, v, o->topic, sizeof(o->topic), err, errlen);
			for (const char *p = v; !rc && *p; p++)
				if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
				      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
					rc = fail(err, errlen, "--topic: '%s' may hold only [a-zA-Z0-9._-]", v);
		} else if (!strcmp(name, "partitions")) {
			rc = get_i32(name, v, 0, 100000, &o->partitions, err, errlen);
		} else if (!strcmp(name, "record-size")) {
			rc = get_i32(name, v, PERF_RECORD_MIN, 64 << 20, &o->record_size, err, errlen);
		} else if (!strcmp(name, "batch-size")) {
			rc = get_i32(name, v, 1, 64 << 20, &o->batch_size, err, errlen);
		} else if (!strcmp(name, "linger-ms")) {
			rc = get_i32(name, v, 0, 60000, &o->linger_ms, err, errlen);
		} else if (!strcmp(name, "compression")) {
			static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
			rc = fail(err, errlen, "--compression: '%s' is not one of none, gzip, snappy, lz4, zstd", v);
			for (int c = 0; c < 5; c++)
				if (!strcmp(v, names[c])) {
					o->compression = c;
					rc = 0;
					err[0] = '\0';
				}
		} else if (!strcmp(name, "acks")) {
			if (!strcmp(v, "all") || !strcmp(v, "-1")) o->acks = -1;
			else if (!strcmp(v, "1")) o->acks = 1;
			else if (!strcmp(v, "0")) o->acks = 0;
			else rc = fail(err, errlen, "--acks: '%s' is not one of 0, 1, -1, all", v);
		} else if (!strcmp(name, "keys")) {
			rc = get_keys(o, v, err, errlen);
		} else if (!strcmp(name, "rate")) {
			rc = get_dbl(name, v, 0, 1e9, &o->rate, err, errlen);
		} else if (!strcmp(name, "pace-tick-us")) {
			rc = get_dbl(name, v, 0, 1e6, &o->pace_tick_us, err, errlen);
		} else if (!strcmp(name, "assignor")) {
			if (strcmp(v, "range") && strcmp(v, "roundrobin") && strcmp(v, "cooperative-sticky"))
				rc = fail(err, errlen, "--assignor: '%s' is not one of range, roundrobin, cooperative-sticky", v);
			else
				snprintf(o->assignor, sizeof(o->assignor), "%s", v);
		} else if (!strcmp(name, "duration")) {
			rc = get_dbl(name, v, 0, 86400, &o->duration_s, err, errlen);
		} else if (!strcmp(name, "records")) {
			rc = get_i64(name, v, 0, INT64_MAX / 2, &x, err, errlen);
			if (!rc) o->records = x;
		} else if (!strcmp(name, "co-interval-us")) {
			rc = get_dbl(name, v, 0, 1e9, &o->co_interval_us, err, errlen);
		} else if (!strcmp(name, "warmup")) {
			rc = get_dbl(name, v, 0, 3600, &o->warmup_s, err, errlen);
		} else if (!strcmp(name, "producers")) {
			rc = get_i32(name, v, 0, 10000, &o->producers, err, errlen);
		} else if (!strcmp(name, "consumers")) {
			rc = get_i32(name, v, 0, 10000, &o->consumers, err, errlen);
		} else if (!strcmp(name, "inflight")) {
			rc = get_i32(name, v, 1, 1024, &o->inflight, err, errlen);
		} else if (!strcmp(name, "buffer-bytes")) {
			rc = get_i64(name, v, 1, (int64_t)1 << 34, &x, err, errlen);
			if (!rc) o->buffer_bytes = x;
		} else if (!strcmp(name, "idle-connections")) {
			rc = get_i32(name, v, 0, 100000, &o->idle_connections, err, errlen);
		} else if (!strcmp(name, "fetch-max-bytes")) {
			rc = get_i32(name, v, 1, INT32_MAX, &o->fetch_max_bytes, err, errlen);
		} else if (!strcmp(name, "fetch-partition-max-bytes")) {
			rc = get_i32(name, v, 1, INT32_MAX, &o->fetch_partition_max_bytes, err, errlen);
		} else if (!strcmp(name, "fetch-max-wait-ms")) {
			rc = get_i32(name, v, 0, 60000, &o->fetch_max_wait_ms, err, errlen);
		} else if (!strcmp(name, "fetch-min-bytes")) {
			rc = get_i32(name, v, 0, INT32_MAX, &o->fetch_min_bytes, err, errlen);
		} else if (!strcmp(name, "from")) {
			if (!strcmp(v, "earliest")) o->from_latest = false;
			else if (!strcmp(v, "latest")) o->from_latest = true;
			else rc = fail(err, errlen, "--from: '%s' is not one of earliest, latest", v);
		} else if (!strcmp(name, "group")) {
			rc = copy_str(name, v, o->group, sizeof(o->group), err, errlen);
		} else if (!strcmp(name, "group-churn")) {
			rc = get_dbl(name, v, 0, 3600, &o->group_churn_s, err, errlen);
		} else if (!strcmp(name, "commit-interval-ms")) {
			rc = get_i32(name, v, 1, 3600000, &o->commit_interval_ms, err, errlen);
		} else if (!strcmp(name, "broker-pid")) {
			rc = get_i64(name, v, 1, INT32_MAX, &x, err, errlen);
			if (!rc) o->broker_pid = (int)x;
		} else if (!strcmp(name, "progress")) {
			rc = get_dbl(name, v, 0, 3600, &o->progress_s, err, errlen);
		} else if (!strcmp(name, "json")) {
			rc = copy_str(name, v, o->json_path, sizeof(o->json_path), err, errlen);
		} else if (!strcmp(name, "trace-records")) {
			rc = copy_str(name, v, o->trace_path, sizeof(o->trace_path), err, errlen);
		} else if (!strcmp(name, "label")) {
			rc = copy_str(name, v, o->label, sizeof(o->label), err, errlen);
		} else if (!strcmp(name, "driver-conf")) {
			rc = copy_str(name, v, o->driver_conf, sizeof(o->driver_conf), err, errlen);
		} else {
			rc = fail(err, errlen, "--%s: unknown option (see --help)", name);
		}
		if (rc)
			return rc;
	}

	/* Combinations. */
	bool kafka = o->driver == PERF_DRIVER_NATIVE || o->driver == PERF_DRIVER_RDKAFKA;
	if (o->idle_connections > 0 && !kafka)
		return fail(err, errlen, "--idle-connections: only --driver native or rdkafka opens idle Kafka connections");
	if (o->delete_topic && !kafka)
		return fail(err, errlen, "--delete: only --driver native or rdkafka deletes Kafka topics");
	if (o->group[0] && !kafka)
		return fail(err, errlen, "--group: only --driver native or rdkafka joins Kafka consumer groups");
	if (o->prime && (o->driver != PERF_DRIVER_NATIVE || o->mode == PERF_MODE_CONSUME))
		return fail(err, errlen, "--prime: only --driver native with producers (--mode produce or e2e)");
	if (o->group[0] && o->mode == PERF_MODE_PRODUCE)
		return fail(err, errlen, "--group: '%s' needs consumers (--mode consume or e2e)", o->group);
	if (strcmp(o->assignor, "range") && !o->group[0])
		return fail(err, errlen, "--assignor: only with --group ID");
	if (strcmp(o->assignor, "range") && o->driver != PERF_DRIVER_RDKAFKA)
		return fail(err, errlen, "--assignor: '%s' needs --driver rdkafka (the native driver's members use the eager range assignor, member.c)", o->assignor);
	if (o->group_churn_s > 0 && !o->group[0])
		return fail(err, errlen, "--group-churn: only with --group ID");
	if (o->co_interval_us > 0 && o->rate > 0)
		return fail(err, errlen, "--co-interval-us: only for closed-loop runs (--rate 0); open-loop latency is already measured from each record's intended time");
	if (o->pace_tick_us > 0 && o->rate == 0)
		return fail(err, errlen, "--pace-tick-us: only for open-loop runs (--rate R); flat out there is nothing to pace");
	if (o->duration_s == 0 && o->records == 0)
		return fail(err, errlen, "--duration 0 needs --records N (the run must end)");
	if (o->mode != PERF_MODE_CONSUME && o->producers == 0)
		return fail(err, errlen, "--producers: '0' is not allowed with --mode %s", perf_mode_name(o->mode));
	if (o->mode != PERF_MODE_PRODUCE && o->consumers == 0)
		return fail(err, errlen, "--consumers: '0' is not allowed with --mode %s", perf_mode_name(o->mode));
	if (o->create && o->partitions == 0)
		return fail(err, errlen, "--create needs --partitions N (N >= 1)");
	if (o->mode == PERF_MODE_E2E && o->acks == 0)
		return fail(err, errlen, "--acks: '0' is not allowed with --mode e2e (use 1 or -1)");
	if (o->keys == PERF_KEYS_ZIPF && o->key_count > PERF_ZIPF_MAX_KEYS)
		return fail(err, errlen, "--keys: zipf takes at most %d keys", PERF_ZIPF_MAX_KEYS);
	if (o->warmup_s > 0 && o->duration_s > 0 && o->warmup_s >= o->duration_s)
		return fail(err, errlen, "--warmup: '%g' must be shorter than --duration %g", o->warmup_s, o->duration_s);
	return 0;
}
