/* Unit tests for dataplane/config.c: Kafka's defaults, a properties file with overrides on
 * top, and messages that name the source, key, value and what is allowed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "dataplane/config.h"

Test(dp_config, embedded_defaults)
{
	struct dp_config c;
	char err[512] = "";
	cr_assert_eq(dp_config_load(&c, NULL, NULL, 0, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.listen_host, "127.0.0.1");
	cr_assert_eq(c.listen_port, 9092);
	cr_assert_str_eq(c.adv_host, "127.0.0.1");
	cr_assert_str_eq(c.log_dirs, "./ringtail-data");
	cr_assert_eq(c.num_partitions, 1);
	cr_assert(c.auto_create_topics);
	cr_assert_eq(c.message_max_bytes, 1048588);
	cr_assert_eq(c.socket_request_max_bytes, 104857600);
	cr_assert_eq(c.log_retention_ms, 168LL * 3600 * 1000);
	cr_assert_eq(c.connections_max_idle_ms, 600000);
	cr_assert_eq(c.producer_id_expiration_ms, 86400000, "producer.id.expiration.ms: Kafka's 1 day");
	cr_assert_eq(c.producer_id_expiration_check_ms, 600000);
	cr_assert_geq(c.ncores, 1);
	dp_config_fini(&c);
}

Test(dp_config, producer_id_expiration_keys)
{
	struct dp_config c;
	char err[512] = "";
	const char *ov[2] = { "producer.id.expiration.ms=2000", "producer.id.expiration.check.interval.ms=200" };
	cr_assert_eq(dp_config_load(&c, NULL, ov, 2, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.producer_id_expiration_ms, 2000);
	cr_assert_eq(c.producer_id_expiration_check_ms, 200);
	dp_config_fini(&c);
	const char *bad[1] = { "producer.id.expiration.ms=0" };
	cr_assert_neq(dp_config_load(&c, NULL, bad, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "producer.id.expiration.ms"), "%s", err);
}

Test(dp_config, shard_poll_us)
{
	struct dp_config c;
	char err[512] = "";
	cr_assert_eq(dp_config_load(&c, NULL, NULL, 0, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.shard_poll_us, 500, "ringtail.shard.poll.us defaults to 500");
	dp_config_fini(&c);
	const char *off[1] = { "ringtail.shard.poll.us=0" };
	cr_assert_eq(dp_config_load(&c, NULL, off, 1, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.shard_poll_us, 0);
	dp_config_fini(&c);
	const char *bad[] = { "ringtail.shard.poll.us=-1", "ringtail.shard.poll.us=1000001", "ringtail.shard.poll.us=50us" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		cr_assert_neq(dp_config_load(&c, NULL, &bad[i], 1, NULL, err, sizeof(err)), 0, "%s accepted", bad[i]);
		cr_assert(strstr(err, "ringtail.shard.poll.us") && strstr(err, bad[i] + strlen("ringtail.shard.poll.us=")) &&
		          strstr(err, "between 0 and 1000000"), "%s", err);
	}
}

Test(dp_config, file_then_overrides)
{
	char path[] = "/tmp/dp_config_testXXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	const char *text = "listeners=PLAINTEXT://0.0.0.0:19092\n"
	                   "advertised.listeners=PLAINTEXT://broker1:29092\n"
	                   "num.partitions=6\n"
	                   "log.retention.hours=2\n"
	                   "auto.create.topics.enable=false\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	const char *ov[] = { "num.partitions=3", "log.retention.ms=5000" };
	struct dp_config c;
	char err[512] = "";
	cr_assert_eq(dp_config_load(&c, path, ov, 2, NULL, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_assert_str_eq(c.listen_host, "0.0.0.0");
	cr_assert_eq(c.listen_port, 19092);
	cr_assert_str_eq(c.adv_host, "broker1");
	cr_assert_eq(c.adv_port, 29092);
	cr_assert_eq(c.num_partitions, 3, "the override wins over the file");
	cr_assert_eq(c.log_retention_ms, 5000, "log.retention.ms wins over log.retention.hours");
	cr_assert(!c.auto_create_topics);
	dp_config_fini(&c);
}

Test(dp_config, invalid_values_name_key_value_and_allowed)
{
	struct dp_config c;
	char err[512] = "";
	const char *ov1[] = { "num.partitions=0" };
	cr_assert_neq(dp_config_load(&c, NULL, ov1, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "num.partitions") && strstr(err, "0") && strstr(err, "between 1 and 100000"), "%s", err);
	const char *ov2[] = { "listeners=nonsense" };
	cr_assert_neq(dp_config_load(&c, NULL, ov2, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "listeners=nonsense") && strstr(err, "PLAINTEXT://"), "%s", err);
	const char *ov3[] = { "default.replication.factor=3" };
	cr_assert_neq(dp_config_load(&c, NULL, ov3, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "default.replication.factor"), "%s", err);
#ifdef RT_HAVE_DPDK
	/* The dpdk backend is built: its own keys are checked and named. */
	const char *ov4[] = { "ringtail.net.backend=dpdk", "ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.300" };
	cr_assert_neq(dp_config_load(&c, NULL, ov4, 3, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "ringtail.dpdk.ip=10.0.0.300") && strstr(err, "IPv4"), "%s", err);
#else
	const char *ov4[] = { "ringtail.net.backend=dpdk" };
	cr_assert_neq(dp_config_load(&c, NULL, ov4, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "ringtail.net.backend=dpdk"), "%s", err);
#endif
	const char *ov5[] = { "log.dirs=/a,/b" };
	cr_assert_neq(dp_config_load(&c, NULL, ov5, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "log.dirs=/a,/b"), "%s", err);
}

Test(dp_config, listener_forms)
{
	char host[64];
	uint16_t port;
	cr_assert(dp_config_parse_listener("PLAINTEXT://[::1]:9093", host, sizeof(host), &port));
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(port, 9093);
	cr_assert(dp_config_parse_listener("PLAINTEXT://:9094,SSL://x:1", host, sizeof(host), &port));
	cr_assert_str_eq(host, "");
	cr_assert_eq(port, 9094);
	cr_assert(!dp_config_parse_listener("PLAINTEXT://host:70000", host, sizeof(host), &port));
	cr_assert(!dp_config_parse_listener("PLAINTEXT://host", host, sizeof(host), &port));
}

/* One PLAINTEXT listener is served: several, or a TLS or SASL one, stop the start with the key
 * and the value named (served as the first one, plaintext, they went unanswered or garbled). */
Test(dp_config, only_one_plaintext_listener)
{
	struct dp_config c;
	char err[512] = "";
	const char *bad[][2] = {
		{ "listeners=PLAINTEXT://:9092,PLAINTEXT2://:9093", "several listeners" },
		{ "listeners=SSL://127.0.0.1:9093", "SSL and SASL" },
		{ "listeners=SASL_PLAINTEXT://127.0.0.1:9093", "SSL and SASL" },
		{ "advertised.listeners=PLAINTEXT://a:9092,SSL://a:9093", "several listeners" },
		{ "advertised.listeners=SASL_SSL://a:9092", "SSL and SASL" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *ov[] = { bad[i][0] };
		cr_assert_neq(dp_config_load(&c, NULL, ov, 1, NULL, err, sizeof(err)), 0, "%s was taken", bad[i][0]);
		cr_assert(strstr(err, bad[i][0]) && strstr(err, bad[i][1]), "%s", err);
	}
	const char *ok[] = { "listeners=plaintext://127.0.0.1:19092", "advertised.listeners=PLAINTEXT://b1:29092" };
	cr_assert_eq(dp_config_load(&c, NULL, ok, 2, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.listen_port, 19092);
	cr_assert_str_eq(c.adv_host, "b1");
	dp_config_fini(&c);
}

/* ringtail reads the same file as ringtail-control: the control process's keys (control/config.h)
 * are known here, so they are not warned about as unknown, and a bad value stops the start. */
Test(dp_config, control_keys_known_and_checked)
{
	char path[] = "/tmp/dp_config_logXXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	rt_log_set_fd(fd);
	const char *ov[] = { "group.initial.rebalance.delay.ms=0", "group.max.size=10",
	                     "offsets.topic.num.partitions=3", "transaction.max.timeout.ms=60000",
	                     "no.such.key=1" };
	struct dp_config c;
	char err[512] = "";
	int rc = dp_config_load(&c, NULL, ov, 5, NULL, err, sizeof(err));
	rt_log_set_fd(2);
	cr_assert_eq(rc, 0, "%s", err);
	dp_config_fini(&c);
	char log[4096] = "";
	ssize_t n = pread(fd, log, sizeof(log) - 1, 0);
	close(fd);
	cr_assert_gt(n, 0, "the unknown key is warned about");
	cr_assert(strstr(log, "no.such.key"), "%s", log);
	cr_assert(!strstr(log, "group.") && !strstr(log, "offsets.") && !strstr(log, "transaction."), "%s", log);
	const char *bad[] = { "group.max.size=0" };
	cr_assert_neq(dp_config_load(&c, NULL, bad, 1, NULL, err, sizeof(err)), 0);
	cr_assert(strstr(err, "group.max.size=0") && strstr(err, "between 1 and"), "%s", err);
}
