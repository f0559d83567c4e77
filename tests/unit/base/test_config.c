/* Unit tests for base/config.c: typed parsing, sources, every validation message, unknown keys. */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "base/props.h"

static const char *const backends[] = {"uring", "dpdk", NULL};
static const char *const protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", NULL};

/* A test table with one key of each type and the options a broker's table uses. */
static const struct rt_cfg_def defs[] = {
	{"num.partitions", RT_CFG_INT, "1", .min = 1, .max = 1000000, .doc = "partitions of a new topic"},
	{"port.offset", RT_CFG_INT, "0", .doc = "any int"},
	{"log.retention.ms", RT_CFG_LONG, "604800000", .min = -1, .max = INT64_MAX, .doc = "retention"},
	{"log.segment.bytes", RT_CFG_SIZE, "1g", .min = 14, .max = INT32_MAX, .doc = "segment size"},
	{"ringtail.hugepages", RT_CFG_SIZE, "0", .doc = "hugepage memory"},
	{"log.cleaner.min.cleanable.ratio", RT_CFG_DOUBLE, "0.5", .dmin = 0, .dmax = 1, .doc = "ratio"},
	{"ringtail.weight", RT_CFG_DOUBLE, "1.5", .doc = "any number"},
	{"auto.create.topics.enable", RT_CFG_BOOL, "true", .doc = "create on metadata"},
	{"ringtail.network.backend", RT_CFG_ENUM, "uring", .allowed = backends, .doc = "backend"},
	{"listeners", RT_CFG_LIST, "PLAINTEXT://127.0.0.1:9092", .flags = RT_CFG_NONEMPTY, .doc = "listeners"},
	{"log.dirs", RT_CFG_LIST, NULL, .flags = RT_CFG_REQUIRED | RT_CFG_NONEMPTY, .doc = "data folders"},
	{"ringtail.protocols", RT_CFG_LIST, "PLAINTEXT", .allowed = protocols, .min = 1, .max = 2, .doc = "protocols"},
	{"advertised.listeners", RT_CFG_STRING, NULL, .doc = "advertised (null by default)"},
	{"broker.rack", RT_CFG_STRING, "", .doc = "rack"},
	{"ringtail.node.name", RT_CFG_STRING, "node", .flags = RT_CFG_NONEMPTY, .doc = "name"},
	{"ssl.key.password", RT_CFG_STRING, NULL, .flags = RT_CFG_SECRET, .doc = "secret"},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static struct rt_cfg *cfg;
static char err[1024];

static void setup(void)
{
	cfg = rt_cfg_create(defs, NDEFS, err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
}
static void teardown(void) { rt_cfg_destroy(cfg); }

TestSuite(rt_config, .init = setup, .fini = teardown);

/* Sets one value from the command line; returns rt_cfg_set's result. */
static int arg(const char *kv)
{
	return rt_cfg_apply_args(cfg, &kv, 1, err, sizeof(err));
}

/* Expects the command-line override kv to fail with exactly msg. */
static void expect_bad(const char *kv, const char *msg)
{
	err[0] = 0;
	cr_expect_eq(arg(kv), -EINVAL, "%s was accepted", kv);
	cr_expect_str_eq(err, msg);
}

static char *temp_file(const char *content)
{
	static char path[64];
	strcpy(path, "/tmp/rt_cfg_XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

Test(rt_config, defaults)
{
	cr_expect_eq(rt_cfg_int(cfg, "num.partitions"), 1);
	cr_expect_eq(rt_cfg_int(cfg, "log.retention.ms"), 604800000);
	cr_expect_eq(rt_cfg_int(cfg, "log.segment.bytes"), 1073741824);
	cr_expect_eq(rt_cfg_double(cfg, "log.cleaner.min.cleanable.ratio"), 0.5);
	cr_expect(rt_cfg_bool(cfg, "auto.create.topics.enable"));
	cr_expect_eq(rt_cfg_enum(cfg, "ringtail.network.backend"), 0);
	cr_expect_str_eq(rt_cfg_str(cfg, "ringtail.network.backend"), "uring");
	char *const *items;
	cr_expect_eq(rt_cfg_list(cfg, "listeners", &items), 1);
	cr_expect_str_eq(items[0], "PLAINTEXT://127.0.0.1:9092");
	cr_expect_eq(rt_cfg_list(cfg, "log.dirs", &items), 0);
	cr_expect(!rt_cfg_is_set(cfg, "log.dirs"));
	cr_expect_null(rt_cfg_str(cfg, "advertised.listeners"));
	cr_expect_str_eq(rt_cfg_str(cfg, "broker.rack"), "");
	char src[64];
	cr_expect_str_eq(rt_cfg_source(cfg, rt_cfg_index(cfg, "num.partitions"), src, sizeof(src)), "default");
	cr_expect_str_eq(rt_cfg_source(cfg, rt_cfg_index(cfg, "advertised.listeners"), src, sizeof(src)), "unset");
	cr_expect_eq(rt_cfg_index(cfg, "no.such.key"), -1);
}

Test(rt_config, file_then_command_line)
{
	char *path = temp_file("# test\nnum.partitions = 12\nlog.dirs=/a, /b ,/c\nauto.create.topics.enable=FALSE\n"
			       "ringtail.network.backend: dpdk\nlog.segment.bytes 64 KiB\n");
	const char *over[] = {"num.partitions=24", "broker.rack= r1 "};
	cr_assert_eq(rt_cfg_load(cfg, path, over, 2, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rt_cfg_int(cfg, "num.partitions"), 24);
	cr_expect_eq(rt_cfg_int(cfg, "log.segment.bytes"), 65536);
	cr_expect(!rt_cfg_bool(cfg, "auto.create.topics.enable"));
	cr_expect_eq(rt_cfg_enum(cfg, "ringtail.network.backend"), 1);
	cr_expect_str_eq(rt_cfg_str(cfg, "broker.rack"), "r1", "values are trimmed");
	char *const *items;
	cr_assert_eq(rt_cfg_list(cfg, "log.dirs", &items), 3);
	cr_expect_str_eq(items[0], "/a");
	cr_expect_str_eq(items[1], "/b");
	cr_expect_str_eq(items[2], "/c");

	char src[128], want[128];
	cr_expect_str_eq(rt_cfg_source(cfg, rt_cfg_index(cfg, "num.partitions"), src, sizeof(src)), "command line");
	snprintf(want, sizeof(want), "%s:3", path);
	cr_expect_str_eq(rt_cfg_source(cfg, rt_cfg_index(cfg, "log.dirs"), src, sizeof(src)), want);
	snprintf(want, sizeof(want), "%s:6", path);
	cr_expect_str_eq(rt_cfg_source(cfg, rt_cfg_index(cfg, "log.segment.bytes"), src, sizeof(src)), want);
	const struct rt_cfg_value *v = rt_cfg_value_at(cfg, rt_cfg_index(cfg, "log.dirs"));
	cr_expect_eq(v->origin, RT_CFG_FROM_FILE);
	cr_expect_eq(v->line, 3);
	cr_expect_str_eq(v->text, "/a, /b ,/c");
	unlink(path);
}

Test(rt_config, message_names_file_line_key_value_and_range)
{
	char *path = temp_file("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\nlog.dirs=/d\nnum.partitions=abc\n");
	cr_assert_eq(rt_cfg_load(cfg, path, NULL, 0, err, sizeof(err)), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:12: num.partitions=abc: expected an integer between 1 and 1000000", path);
	cr_expect_str_eq(err, want);
	cr_expect_eq(rt_cfg_int(cfg, "num.partitions"), 1, "a refused value leaves the old one");
	unlink(path);
}

Test(rt_config, integer_messages)
{
	const char *m = "command line: num.partitions=%s: expected an integer between 1 and 1000000";
	const char *bad[] = {"abc", "0", "1000001", "-5", "1.0", "0x10", "12abc", "", "99999999999999999999", "+"};
	char want[256], kv[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "num.partitions=%s", bad[i]);
		snprintf(want, sizeof(want), m, bad[i]);
		expect_bad(kv, want);
	}
	cr_expect_eq(arg("num.partitions=+7"), 0);
	cr_expect_eq(rt_cfg_int(cfg, "num.partitions"), 7);
	cr_expect_eq(arg("num.partitions=1000000"), 0);
	expect_bad("port.offset=2147483648",
		   "command line: port.offset=2147483648: expected an integer between -2147483648 and 2147483647");
	cr_expect_eq(arg("port.offset=-2147483648"), 0);
	cr_expect_eq(rt_cfg_int(cfg, "port.offset"), INT32_MIN);
	expect_bad("log.retention.ms=-2",
		   "command line: log.retention.ms=-2: expected an integer between -1 and 9223372036854775807");
	expect_bad("log.retention.ms=9223372036854775808",
		   "command line: log.retention.ms=9223372036854775808: expected an integer between -1 and 9223372036854775807");
	cr_expect_eq(arg("log.retention.ms=9223372036854775807"), 0);
	cr_expect_eq(rt_cfg_int(cfg, "log.retention.ms"), INT64_MAX);
}

Test(rt_config, size_values_and_messages)
{
	struct { const char *v; int64_t want; } good[] = {
		{"1048576", 1048576}, {"64k", 65536}, {"64K", 65536}, {"64KiB", 65536}, {"64kb", 65536},
		{"16 m", 16 << 20}, {"1g", 1 << 30}, {"1GiB", 1 << 30}, {"100B", 100}, {"14", 14},
	};
	char kv[64];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(kv, sizeof(kv), "log.segment.bytes=%s", good[i].v);
		cr_expect_eq(arg(kv), 0, "%s: %s", kv, err);
		cr_expect_eq(rt_cfg_int(cfg, "log.segment.bytes"), good[i].want, "%s", kv);
	}
	const char *m = "command line: log.segment.bytes=%s: expected a size in bytes between 14 and 2147483647 "
			"(an integer, optionally with suffix k, m, g or t)";
	const char *bad[] = {"1x", "2g", "13", "-1", "k", "1.5m", "1kk", "1 k b x", "99999999999999999t"};
	char want[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "log.segment.bytes=%s", bad[i]);
		snprintf(want, sizeof(want), m, bad[i]);
		expect_bad(kv, want);
	}
	cr_expect_eq(arg("ringtail.hugepages=8t"), 0);
	cr_expect_eq(rt_cfg_int(cfg, "ringtail.hugepages"), 8ll << 40);
	expect_bad("ringtail.hugepages=9000000t",
		   "command line: ringtail.hugepages=9000000t: expected a size in bytes between 0 and "
		   "9223372036854775807 (an integer, optionally with suffix k, m, g or t)");
}

Test(rt_config, double_messages)
{
	cr_expect_eq(arg("log.cleaner.min.cleanable.ratio=0.25"), 0);
	cr_expect_eq(rt_cfg_double(cfg, "log.cleaner.min.cleanable.ratio"), 0.25);
	cr_expect_eq(arg("ringtail.weight=-1e3"), 0);
	cr_expect_eq(rt_cfg_double(cfg, "ringtail.weight"), -1000.0);
	expect_bad("log.cleaner.min.cleanable.ratio=1.5",
		   "command line: log.cleaner.min.cleanable.ratio=1.5: expected a number between 0 and 1");
	expect_bad("log.cleaner.min.cleanable.ratio=half",
		   "command line: log.cleaner.min.cleanable.ratio=half: expected a number between 0 and 1");
	expect_bad("ringtail.weight=nan", "command line: ringtail.weight=nan: expected a number");
	expect_bad("ringtail.weight=inf", "command line: ringtail.weight=inf: expected a number");
	expect_bad("ringtail.weight=1e999", "command line: ringtail.weight=1e999: expected a number");
	expect_bad("ringtail.weight=", "command line: ringtail.weight=: expected a number");
}

Test(rt_config, bool_and_enum_messages)
{
	cr_expect_eq(arg("auto.create.topics.enable=False"), 0);
	cr_expect(!rt_cfg_bool(cfg, "auto.create.topics.enable"));
	cr_expect_eq(arg("auto.create.topics.enable= TRUE "), 0);
	cr_expect(rt_cfg_bool(cfg, "auto.create.topics.enable"));
	expect_bad("auto.create.topics.enable=yes",
		   "command line: auto.create.topics.enable=yes: expected true or false");
	expect_bad("auto.create.topics.enable=1",
		   "command line: auto.create.topics.enable=1: expected true or false");
	expect_bad("ringtail.network.backend=tcp",
		   "command line: ringtail.network.backend=tcp: expected one of: uring, dpdk");
	expect_bad("ringtail.network.backend=URING",
		   "command line: ringtail.network.backend=URING: expected one of: uring, dpdk");
	cr_expect_eq(arg("ringtail.network.backend=dpdk"), 0);
	cr_expect_eq(rt_cfg_enum(cfg, "ringtail.network.backend"), 1);
}

Test(rt_config, list_and_string_messages)
{
	char *const *items;
	cr_expect_eq(arg("ringtail.protocols=SSL, PLAINTEXT"), 0);
	cr_expect_eq(rt_cfg_list(cfg, "ringtail.protocols", &items), 2);
	cr_expect_str_eq(items[0], "SSL");
	cr_expect_str_eq(items[1], "PLAINTEXT");
	const char *pm = "command line: ringtail.protocols=%s: expected a comma-separated list of 1 to 2 items, "
			 "each one of: PLAINTEXT, SSL, SASL_PLAINTEXT";
	const char *bad[] = {"TLS", "SSL,SSL,SSL", "", "SSL,,PLAINTEXT"};
	char kv[128], want[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "ringtail.protocols=%s", bad[i]);
		snprintf(want, sizeof(want), pm, bad[i]);
		expect_bad(kv, want);
	}
	expect_bad("listeners=", "command line: listeners=: expected a comma-separated list without empty items");
	expect_bad("listeners=a,,b", "command line: listeners=a,,b: expected a comma-separated list without empty items");
	expect_bad("log.dirs=/a, ", "command line: log.dirs=/a, : expected a comma-separated list without empty items");
	expect_bad("ringtail.node.name=  ", "command line: ringtail.node.name=  : expected a non-empty string");
	/* Kafka's LIST: "" is the empty list; items are trimmed. */
	static const struct rt_cfg_def plain[] = {{"l", RT_CFG_LIST, "", .doc = "plain list"}};
	struct rt_cfg *c = rt_cfg_create(plain, 1, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(rt_cfg_list(c, "l", &items), 0);
	const char *kvs[] = {"l= x ,y,, z"};
	cr_expect_eq(rt_cfg_apply_args(c, kvs, 1, err, sizeof(err)), 0);
	cr_assert_eq(rt_cfg_list(c, "l", &items), 4);
	cr_expect_str_eq(items[0], "x");
	cr_expect_str_eq(items[2], "");
	cr_expect_str_eq(items[3], "z");
	rt_cfg_destroy(c);
}

Test(rt_config, command_line_shape)
{
	expect_bad("num.partitions", "command line: num.partitions: expected key=value");
	expect_bad("=5", "command line: =5: expected key=value");
	/* The value may contain '='. */
	cr_expect_eq(arg("advertised.listeners=a=b"), 0);
	cr_expect_str_eq(rt_cfg_str(cfg, "advertised.listeners"), "a=b");
}

Test(rt_config, required_keys)
{
	cr_expect_eq(rt_cfg_load(cfg, NULL, NULL, 0, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "log.dirs: required, but neither the file nor the command line sets it "
			      "(expected a comma-separated list without empty items)");
	const char *over[] = {"log.dirs=/data"};
	cr_expect_eq(rt_cfg_load(cfg, NULL, over, 1, err, sizeof(err)), 0, "%s", err);
}

Test(rt_config, missing_and_malformed_files)
{
	const char *over[] = {"log.dirs=/data"};
	cr_expect_eq(rt_cfg_load(cfg, "/nonexistent/ringtail.conf", over, 1, err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "/nonexistent/ringtail.conf: cannot open: No such file or directory");
	char *path = temp_file("log.dirs=/d\nbroker.rack=\\u00zz\n");
	cr_expect_eq(rt_cfg_load(cfg, path, over, 1, err, sizeof(err)), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:2: malformed \\uXXXX escape (needs four hex digits) in the value of broker.rack", path);
	cr_expect_str_eq(err, want);
	unlink(path);
}

Test(rt_config, unknown_keys_are_one_warning)
{
	int fd = memfd_create("log", 0);
	rt_log_set_fd(fd);
	rt_log_set_level(RT_LOG_INFO);
	char *path = temp_file("log.dirs=/d\nfoo.bar=1\nnum.partitions=2\nzookeeper.connect=x\nfoo.bar=2\n");
	const char *over[] = {"ringtail.typo=3"};
	cr_assert_eq(rt_cfg_load(cfg, path, over, 1, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(rt_cfg_int(cfg, "num.partitions"), 2);
	cr_assert_eq(cfg->nunknown, 3);
	cr_expect_str_eq(cfg->unknown[0].key, "foo.bar");
	cr_expect_eq(cfg->unknown[0].line, 5, "the last occurrence");
	cr_expect_str_eq(cfg->unknown[1].key, "zookeeper.connect");
	cr_expect_str_eq(cfg->unknown[2].key, "ringtail.typo");
	cr_expect_null(cfg->unknown[2].file);

	char out[2048];
	ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
	cr_assert_gt(n, 0);
	out[n] = 0;
	char want[512];
	snprintf(want, sizeof(want), "WARN  unknown configuration keys, ignored: foo.bar (%s:5), "
		 "zookeeper.connect (%s:4), ringtail.typo (command line)\n", path, path);
	cr_expect(strstr(out, want) != NULL, "log: %s\nwant: %s", out, want);
	int lines = 0;
	for (char *q = out; *q; q++)
		lines += *q == '\n';
	cr_expect_eq(lines, 1);
	unlink(path);
	close(fd);
}

Test(rt_config, dump_shows_values_and_sources)
{
	char *path = temp_file("log.dirs=/d\nssl.key.password=hunter2\n");
	const char *over[] = {"num.partitions=3"};
	cr_assert_eq(rt_cfg_load(cfg, path, over, 1, err, sizeof(err)), 0, "%s", err);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	rt_cfg_dump(cfg, f);
	fclose(f);
	char want[256];
	cr_expect(strstr(buf, "num.partitions = 3  (command line)\n") != NULL, "%s", buf);
	snprintf(want, sizeof(want), "log.dirs = /d  (%s:1)\n", path);
	cr_expect(strstr(buf, want) != NULL, "%s", buf);
	cr_expect(strstr(buf, "log.segment.bytes = 1g  (default)\n") != NULL, "%s", buf);
	cr_expect(strstr(buf, "advertised.listeners = (unset)  (unset)\n") != NULL, "%s", buf);
	snprintf(want, sizeof(want), "ssl.key.password = [hidden]  (%s:2)\n", path);
	cr_expect(strstr(buf, want) != NULL, "%s", buf);
	cr_expect_null(strstr(buf, "hunter2"));
	int lines = 0;
	for (char *q = buf; *q; q++)
		lines += *q == '\n';
	cr_expect_eq(lines, (int)NDEFS);
	free(buf);
	unlink(path);
}

Test(rt_config, table_bugs_are_reported)
{
	static const struct rt_cfg_def dup[] = {
		{"a", RT_CFG_INT, "1", .doc = "a"}, {"a", RT_CFG_INT, "2", .doc = "a again"}};
	cr_expect_null(rt_cfg_create(dup, 2, err, sizeof(err)));
	cr_expect_str_eq(err, "configuration table: a is declared twice");
	static const struct rt_cfg_def noenum[] = {{"e", RT_CFG_ENUM, "x", .doc = "e"}};
	cr_expect_null(rt_cfg_create(noenum, 1, err, sizeof(err)));
	cr_expect_str_eq(err, "configuration table: e is an enum without allowed values");
	static const struct rt_cfg_def baddef[] = {{"n", RT_CFG_INT, "0", .min = 1, .max = 9, .doc = "n"}};
	cr_expect_null(rt_cfg_create(baddef, 1, err, sizeof(err)));
	cr_expect_str_eq(err, "configuration table: default n=0: expected an integer between 1 and 9");
	struct rt_cfg *empty = rt_cfg_create(NULL, 0, err, sizeof(err));
	cr_assert_not_null(empty);
	cr_expect_eq(rt_cfg_load(empty, NULL, NULL, 0, err, sizeof(err)), 0);
	rt_cfg_destroy(empty);
}

Test(rt_config, reading_with_the_wrong_type_is_a_bug, .signal = SIGABRT)
{
	rt_cfg_bool(cfg, "num.partitions");
}

Test(rt_config, reading_an_undeclared_key_is_a_bug, .signal = SIGABRT)
{
	rt_cfg_int(cfg, "no.such.key");
}

Test(rt_config, help_lists_every_key)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	rt_cfg_help(defs, NDEFS, f);
	fclose(f);
	cr_expect(strstr(buf, "num.partitions  (default: 1)\n    partitions of a new topic\n"
			      "    expects an integer between 1 and 1000000\n") != NULL, "%s", buf);
	cr_expect(strstr(buf, "log.dirs  (required)\n") != NULL);
	cr_expect(strstr(buf, "advertised.listeners  (no default)\n") != NULL);
	cr_expect(strstr(buf, "    expects one of: uring, dpdk\n") != NULL);
	for (size_t i = 0; i < NDEFS; i++)
		cr_expect(strstr(buf, defs[i].name) != NULL, "%s missing", defs[i].name);
	free(buf);
}
