/*
 * perf/peers/mock_cluster.c: ringtail-perf-mock, librdkafka's built-in mock cluster as a
 * standalone peer.  rd_kafka_mock_cluster_new() runs a Kafka-protocol server inside librdkafka
 * that keeps every record in memory; ringtail-perf drives it like any broker, which gives a
 * figure for "a Kafka-protocol server in C with no storage at all".
 *
 * usage: ringtail-perf-mock [--brokers N] [--topic NAME[,NAME...] --partitions N]
 * The mock serves no CreateTopics: the topics a run needs are made here (others are
 * auto-created on first use with the mock's default partition count).
 * Prints "bootstrap=HOST:PORT[,...]" and "pid=PID" on stdout, then serves until SIGTERM/SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	int brokers = 1, partitions = 1;
	const char *topic = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--brokers"))
			brokers = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--topic"))
			topic = argv[i + 1];
		else if (!strcmp(argv[i], "--partitions"))
			partitions = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "ringtail-perf-mock: unknown option '%s' (--brokers N, --topic NAME, --partitions N)\n", argv[i]);
			return 2;
		}
	}
	if (brokers < 1 || brokers > 64 || partitions < 1 || partitions > 100000) {
		fprintf(stderr, "ringtail-perf-mock: --brokers must be 1..64 and --partitions 1..100000\n");
		return 2;
	}
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "ringtail-perf-mock: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "ringtail-perf-mock: could not start the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	if (topic) {
		char names[1024];
		snprintf(names, sizeof(names), "%s", topic);
		char *save = NULL;
		for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (rd_kafka_mock_topic_create(mc, t, partitions, 1)) {
				fprintf(stderr, "ringtail-perf-mock: could not create topic %s\n", t);
				return 1;
			}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("bootstrap=%s\npid=%d\n", rd_kafka_mock_cluster_bootstraps(mc), (int)getpid());
	fflush(stdout);
	while (!stop)
		pause();
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
