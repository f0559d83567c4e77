#include <criterion/criterion.h>
#include <string.h>

#include "perf/harness/opts.h"
#include "proto/batch.h"

static int parse(struct perf_opts *o, char *err, size_t n, int argc, char **argv)
{
	perf_opts_defaults(o);
	return perf_opts_parse(o, argc, argv, err, n);
}

#define PARSE(o, err, ...) ({ char *av_[] = {"ringtail-perf", __VA_ARGS__}; \
	parse(o, err, sizeof(err), (int)(sizeof(av_) / sizeof(av_[0])), av_); })

Test(perf_opts, defaults_are_a_valid_run)
{
	struct perf_opts o;
	char err[512];
	char *av[] = {"ringtail-perf"};
	cr_assert_eq(parse(&o, err, sizeof(err), 1, av), 0);
	cr_assert_str_eq(o.bootstrap, "127.0.0.1:9092");
	cr_assert_eq(o.acks, 1);
	cr_assert_eq(o.record_size, 1024);
	cr_assert_eq(o.driver, PERF_DRIVER_NATIVE);
}

Test(perf_opts, reads_every_kind_of_value)
{
	struct perf_opts o;
	char err[512];
	cr_assert_eq(PARSE(&o, err, "--driver", "rdkafka", "--mode=e2e", "--acks", "all", "--record-size", "100",
	                   "--compression", "zstd", "--keys", "zipf:1000:1.2", "--rate", "5000.5",
	                   "--producers", "64", "--inflight=16", "--create", "--partitions", "12",
	                   "--from", "latest", "--json", "/tmp/x.json", "--quiet"), 0, "%s", err);
	cr_assert_eq(o.driver, PERF_DRIVER_RDKAFKA);
	cr_assert_eq(o.mode, PERF_MODE_E2E);
	cr_assert_eq(o.acks, -1);
	cr_assert_eq(o.record_size, 100);
	cr_assert_eq(o.compression, KP_COMPRESSION_ZSTD);
	cr_assert_eq(o.keys, PERF_KEYS_ZIPF);
	cr_assert_eq(o.key_count, 1000);
	cr_assert_float_eq(o.zipf_s, 1.2, 1e-9);
	cr_assert_float_eq(o.rate, 5000.5, 1e-9);
	cr_assert_eq(o.producers, 64);
	cr_assert_eq(o.inflight, 16);
	cr_assert(o.create);
	cr_assert_eq(o.partitions, 12);
	cr_assert(o.from_latest);
	cr_assert_str_eq(o.json_path, "/tmp/x.json");
	cr_assert(o.quiet);
}

Test(perf_opts, bad_values_name_the_option_the_value_and_what_is_allowed)
{
	struct perf_opts o;
	char err[512];
	cr_assert_eq(PARSE(&o, err, "--acks", "2"), -EINVAL);
	cr_assert_str_eq(err, "--acks: '2' is not one of 0, 1, -1, all");
	cr_assert_eq(PARSE(&o, err, "--record-size", "8"), -EINVAL);
	cr_assert_str_eq(err, "--record-size: '8' is not an integer in 16..67108864");
	cr_assert_eq(PARSE(&o, err, "--inflight", "4x"), -EINVAL);
	cr_assert_str_eq(err, "--inflight: '4x' is not an integer in 1..1024");
	cr_assert_eq(PARSE(&o, err, "--compression", "brotli"), -EINVAL);
	cr_assert_str_eq(err, "--compression: 'brotli' is not one of none, gzip, snappy, lz4, zstd");
	cr_assert_eq(PARSE(&o, err, "--keys", "uniform"), -EINVAL);
	cr_assert_str_eq(err, "--keys: 'uniform' needs a key count (e.g. uniform:1000)");
	cr_assert_eq(PARSE(&o, err, "--keys", "seq:10:2"), -EINVAL);
	cr_assert_str_eq(err, "--keys: 'seq:10:2': only zipf takes an exponent");
	cr_assert_eq(PARSE(&o, err, "--bootstrap", "localhost"), -EINVAL);
	cr_assert_str_eq(err, "--bootstrap: 'localhost' is not HOST:PORT");
	cr_assert_eq(PARSE(&o, err, "--topic", "a b"), -EINVAL);
	cr_assert_str_eq(err, "--topic: 'a b' may hold only [a-zA-Z0-9._-]");
	cr_assert_eq(PARSE(&o, err, "--frobnicate", "1"), -EINVAL);
	cr_assert_str_eq(err, "--frobnicate: unknown option (see --help)");
	cr_assert_eq(PARSE(&o, err, "--rate"), -EINVAL);
	cr_assert_str_eq(err, "--rate needs a value (see --help)");
	cr_assert_eq(PARSE(&o, err, "-v"), -EINVAL);
	cr_assert_str_eq(err, "'-v': options start with -- (see --help)");
}

Test(perf_opts, rejects_combinations_that_cannot_run)
{
	struct perf_opts o;
	char err[512];
	cr_assert_eq(PARSE(&o, err, "--duration", "0"), -EINVAL);
	cr_assert_str_eq(err, "--duration 0 needs --records N (the run must end)");
	cr_assert_eq(PARSE(&o, err, "--create"), -EINVAL);
	cr_assert_str_eq(err, "--create needs --partitions N (N >= 1)");
	cr_assert_eq(PARSE(&o, err, "--mode", "e2e", "--acks", "0"), -EINVAL);
	cr_assert_eq(PARSE(&o, err, "--rate", "100", "--co-interval-us", "10"), -EINVAL);
	cr_assert_eq(PARSE(&o, err, "--warmup", "10", "--duration", "5"), -EINVAL);
	cr_assert_eq(PARSE(&o, err, "--keys", "zipf:2000000"), -EINVAL);
	cr_assert_eq(PARSE(&o, err, "--driver", "redis", "--idle-connections", "10"), -EINVAL);
	cr_assert_str_eq(err, "--idle-connections: only --driver native or rdkafka opens idle Kafka connections");
	cr_assert_eq(PARSE(&o, err, "--prime", "--create", "--partitions", "4"), 0, "%s", err);
	cr_assert(o.prime);
	cr_assert_eq(PARSE(&o, err, "--prime=yes"), -EINVAL);
	cr_assert_str_eq(err, "--prime takes no value");
	cr_assert_eq(PARSE(&o, err, "--prime", "--driver", "rdkafka"), -EINVAL);
	cr_assert_str_eq(err, "--prime: only --driver native with producers (--mode produce or e2e)");
	cr_assert_eq(PARSE(&o, err, "--driver", "rdkafka", "--idle-connections", "10"), 0, "%s", err);
	cr_assert_eq(o.idle_connections, 10);
	cr_assert_eq(PARSE(&o, err, "--mode", "consume", "--producers", "0"), 0, "%s", err);
}

Test(perf_opts, group_options_and_their_combinations)
{
	struct perf_opts o;
	char err[512];
	cr_assert_eq(PARSE(&o, err, "--mode", "e2e", "--group", "g-1", "--group-churn", "0.5",
	                   "--commit-interval-ms", "200"), 0, "%s", err);
	cr_assert_str_eq(o.group, "g-1");
	cr_assert_float_eq(o.group_churn_s, 0.5, 1e-9);
	cr_assert_eq(o.commit_interval_ms, 200);
	cr_assert_eq(PARSE(&o, err, "--group", "g"), -EINVAL);
	cr_assert_str_eq(err, "--group: 'g' needs consumers (--mode consume or e2e)");
	cr_assert_eq(PARSE(&o, err, "--mode", "consume", "--driver", "nats", "--group", "g"), -EINVAL);
	cr_assert_str_eq(err, "--group: only --driver native or rdkafka joins Kafka consumer groups");
	cr_assert_eq(PARSE(&o, err, "--mode", "consume", "--driver", "rdkafka", "--group", "g"), 0, "%s", err);
	cr_assert_str_eq(o.group, "g");
	cr_assert_eq(PARSE(&o, err, "--mode", "consume", "--group-churn", "1"), -EINVAL);
	cr_assert_str_eq(err, "--group-churn: only with --group ID");
	cr_assert_eq(PARSE(&o, err, "--mode", "consume", "--group", "g", "--commit-interval-ms", "0"), -EINVAL);
	cr_assert_str_eq(err, "--commit-interval-ms: '0' is not an integer in 1..3600000");
}

Test(perf_opts, assignor_pace_tick_and_delete)
{
	struct perf_opts o;
	char err[512];
	cr_assert_eq(PARSE(&o, err, "--mode", "e2e", "--group", "g"), 0, "%s", err);
	cr_assert_str_eq(o.assignor, "range");
	cr_assert_eq(PARSE(&o, err, "--driver", "rdkafka", "--mode", "e2e", "--group", "g", "--assignor",
	                   "cooperative-sticky"), 0, "%s", err);
	cr_assert_str_eq(o.assignor, "cooperative-sticky");
	cr_assert_eq(PARSE(&o, err, "--driver", "rdkafka", "--mode", "e2e", "--group", "g", "--assignor", "sticky"),
	             -EINVAL);
	cr_assert_str_eq(err, "--assignor: 'sticky' is not one of range, roundrobin, cooperative-sticky");
	cr_assert_eq(PARSE(&o, err, "--mode", "e2e", "--group", "g", "--assignor", "cooperative-sticky"), -EINVAL);
	cr_assert_str_eq(err, "--assignor: 'cooperative-sticky' needs --driver rdkafka (the native driver's members "
	                      "use the eager range assignor, member.c)");
	cr_assert_eq(PARSE(&o, err, "--driver", "rdkafka", "--assignor", "roundrobin"), -EINVAL);
	cr_assert_str_eq(err, "--assignor: only with --group ID");
	cr_assert_eq(PARSE(&o, err, "--rate", "1000", "--pace-tick-us", "250"), 0, "%s", err);
	cr_assert_float_eq(o.pace_tick_us, 250, 1e-9);
	cr_assert_eq(PARSE(&o, err, "--pace-tick-us", "250"), -EINVAL);
	cr_assert_str_eq(err, "--pace-tick-us: only for open-loop runs (--rate R); flat out there is nothing to pace");
	cr_assert_eq(PARSE(&o, err, "--delete"), 0, "%s", err);
	cr_assert(o.delete_topic);
	cr_assert_eq(PARSE(&o, err, "--delete=1"), -EINVAL);
	cr_assert_str_eq(err, "--delete takes no value");
	cr_assert_eq(PARSE(&o, err, "--driver", "nats", "--delete"), -EINVAL);
	cr_assert_str_eq(err, "--delete: only --driver native or rdkafka deletes Kafka topics");
}

Test(perf_opts, help_returns_the_usage)
{
	struct perf_opts o;
	char err[4096];
	cr_assert_eq(PARSE(&o, err, "--help"), 1);
	cr_assert(strstr(err, "--driver native|rdkafka|nats|redis") != NULL);
}
