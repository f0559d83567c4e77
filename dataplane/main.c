/*
 * dataplane/main.c: the `ringtail` process: configuration, the log directory and topic
 * registry, the shards, signals.
 *
 *   ringtail [server.properties] [--override key=value ...] [--log-level L] [--print-plan]
 *            [--show-partitions]
 *
 * SIGTERM or SIGINT: stop accepting, let in-flight requests finish (bounded), flush and close
 * every partition, write the checkpoints, exit 0.  The main thread also writes the storage
 * checkpoints once a minute, so that shard loops never do that blocking work.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/lat_trace.h"
#include "base/log.h"
#include "broker.h"
#include "hw/nofile.h"
#include "hw/plan.h"
#include "config.h"
#include "control_link.h"
#include "meta.h"
#include "net.h"
#include "owners.h"
#ifdef RT_HAVE_DPDK
#include "dataplane/net_dpdk/backend.h"
#endif
#include "parts.h"
#include "shard.h"
#include "storage/storage.h"

#define CHECKPOINT_INTERVAL_S 60
#define DRAIN_LIMIT_S 30

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ringtail [server.properties] [--override key=value ...] [--log-level LEVEL] [--print-plan]\n"
	        "                [--show-partitions]\n"
	        "  With no properties file the broker listens on 127.0.0.1:9092 with one shard per online\n"
	        "  core and keeps its data under ./ringtail-data.\n"
	        "  --print-plan: the core and NIC affinity plan, then exit.\n"
	        "  --show-partitions: each partition's owner shard and core, from log.dirs (also while the\n"
	        "  broker runs), then exit.\n");
}

static void help(FILE *f)
{
	usage(f);
	fprintf(f, "\nKeys of server.properties (and --override):\n\n");
	dp_config_help(f);
}

static int mkdirs(const char *path)
{
	char buf[4200];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static void storage_line(void *arg, const char *line)
{
	(void)arg;
	RT_INFO("storage: %s", line);
}

static void lim_str(char *buf, size_t len, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* Every partition and connection holds descriptors, so the broker takes all the open files its
 * hard limit allows (as Kafka operators set with ulimit -n) and says how many that is. */
static void nofile_raise(void)
{
	struct hw_nofile n;
	int rc = hw_nofile_raise(NULL, &n);
	char before[24], soft[24], hard[24];
	lim_str(before, sizeof(before), n.soft_before);
	lim_str(soft, sizeof(soft), n.soft);
	lim_str(hard, sizeof(hard), n.hard);
	if (rc)
		RT_WARN("open files (RLIMIT_NOFILE): cannot raise the soft limit %s to the hard limit %s: %s", before,
		        hard, strerror(-rc));
	else
		RT_INFO("open files (RLIMIT_NOFILE): soft limit %s%s%s, hard limit %s (fs.nr_open %llu)%s", before,
		        n.soft != n.soft_before ? " raised to " : "", n.soft != n.soft_before ? soft : "", hard,
		        (unsigned long long)n.nr_open,
		        n.hard < 100000 ? "; each partition and connection holds descriptors: Kafka's docs recommend a "
		                          "limit of 100,000 or more for a broker (ulimit -Hn, systemd LimitNOFILE=)"
		                        : "");
}

int main(int argc, char **argv)
{
	static struct dp_broker broker;
	struct dp_broker *b = &broker;
	char err[2048];
	const char *file = NULL;
	bool print_plan = false, show_partitions = false;
	struct dp_config *cfg = &b->cfg;
	rt_log_set_tag("main");

	const char **overrides = calloc((size_t)argc, sizeof(*overrides));
	size_t noverrides = 0;
	if (!overrides)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			help(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--override") || !strcmp(argv[i], "--log-level")) {
			if (++i == argc) {
				fprintf(stderr, "ringtail: %s needs a value\n", argv[i - 1]);
				return 2;
			}
			if (argv[i - 1][2] == 'o') {
				overrides[noverrides++] = argv[i];
			} else {
				int lv = rt_log_level_parse(argv[i]);
				if (lv < 0) {
					fprintf(stderr, "ringtail: --log-level %s: expected error, warn, info, debug or trace\n", argv[i]);
					return 1;
				}
				rt_log_set_level((enum rt_log_level)lv);
			}
		} else if (!strcmp(argv[i], "--print-plan")) {
			print_plan = true;
		} else if (!strcmp(argv[i], "--show-partitions")) {
			show_partitions = true;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "ringtail: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (file) {
			fprintf(stderr, "ringtail: more than one properties file (%s, %s)\n", file, argv[i]);
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (dp_config_load(cfg, file, overrides, noverrides, NULL, err, sizeof(err))) {
		fprintf(stderr, "ringtail: %s\n", err);
		return 1;
	}
	free(overrides);
	if (print_plan) {
		hw_plan_print(stdout, &cfg->plan);
		return 0;
	}
	if (show_partitions) {
		/* Read only: beside a running broker, and without creating a data directory. */
		struct dp_meta *m = dp_meta_read(cfg, cfg->ncores, err, sizeof(err));
		if (!m) {
			fprintf(stderr, "ringtail: %s\n", err);
			return 1;
		}
		dp_owners_print(stdout, dp_meta_snap(m), cfg->cores);
		dp_meta_close(m);
		dp_config_fini(cfg);
		return 0;
	}
	hw_plan_log(&cfg->plan);
	if (dp_shard_fault_env(err, sizeof(err))) {
		fprintf(stderr, "ringtail: %s\n", err);
		return 1;
	}
	nofile_raise();

	signal(SIGPIPE, SIG_IGN);
	/* Blocked before any thread exists (storage's workers, DPDK's EAL threads): a thread that
	 * did not block SIGTERM could take it with the default action and end the process instead
	 * of the orderly stop below (seen as exit -15 of a DPDK broker in interop/dpdk_bad_packets).
	 * The main thread takes them in sigtimedwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int rc = mkdirs(cfg->log_dirs);
	if (rc) {
		fprintf(stderr, "ringtail: cannot create log.dirs '%s': %s\n", cfg->log_dirs, strerror(-rc));
		return 1;
	}
	stor_set_log_line(storage_line, NULL);
	int serr = 0;
	b->dir = stor_dir_open(cfg->log_dirs, &serr);
	if (!b->dir) {
		fprintf(stderr, "ringtail: cannot open log.dirs '%s': %s\n", cfg->log_dirs,
		        serr == -EWOULDBLOCK ? "another process holds its lock" : strerror(-serr));
		return 1;
	}
	b->nshards = cfg->ncores;
	b->meta = dp_meta_open(cfg, b->nshards, err, sizeof(err));
	if (!b->meta) {
		fprintf(stderr, "ringtail: %s\n", err);
		return 1;
	}
	b->net = &dp_net_uring;
#ifdef RT_HAVE_DPDK
	if (!strcmp(cfg->net_backend, "dpdk")) {
		b->net = &dp_net_dpdk;
		if (dp_net_dpdk_setup(b, &cfg->dpdk, err, sizeof(err))) {
			fprintf(stderr, "ringtail: %s\n", err);
			return 1;
		}
	}
#endif
	b->shards = calloc((size_t)b->nshards, sizeof(*b->shards));
	if (!b->shards)
		return 1;
	for (int i = 0; i < b->nshards; i++) {
		b->shards[i] = dp_shard_create(b, i, cfg->cores[i]);
		if (!b->shards[i]) {
			fprintf(stderr, "ringtail: cannot set up shard %d (io_uring): %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < b->nshards; i++) {
		rc = b->net->shard_init(b->shards[i]);
		if (!rc)
			rc = b->net->listen_clients(b->shards[i]);
		if (rc) {
			fprintf(stderr, "ringtail: shard %d: cannot start the network (%s:%u): %s\n", i, cfg->listen_host,
			        cfg->listen_port, strerror(-rc));
			return 1;
		}
	}
	/* The control process's own connections come in on loopback, through kernel sockets, also
	 * when the clients' backend is dpdk (net.h). */
	rc = b->net == &dp_net_uring ? 0 : dp_net_uring.shard_init(b->shards[0]);
	if (!rc)
		rc = dp_net_uring_listen_internal(b->shards[0], &b->internal_port);
	if (rc) {
		fprintf(stderr, "ringtail: cannot open the internal listener on 127.0.0.1 (for ringtail-control): %s\n",
		        strerror(-rc));
		return 1;
	}

	for (int i = 0; i < b->nshards; i++) {
		rc = dp_shard_start(b->shards[i]);
		if (rc) {
			fprintf(stderr, "ringtail: cannot start shard %d: %s\n", i, strerror(-rc));
			return 1;
		}
	}
	while (atomic_load(&b->shards_ready) < b->nshards)
		usleep(1000);
	dp_control_start(b, argc, argv);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	RT_INFO("ringtail %s started: node %d, %d shards, listening on %s:%u (advertised %s:%u, backend %s; "
	        "internal 127.0.0.1:%u), data in %s, %d topics",
	        "0.1.0", cfg->node_id, b->nshards, cfg->listen_host[0] ? cfg->listen_host : "*", cfg->listen_port,
	        cfg->adv_host, cfg->adv_port, b->net->name, b->internal_port, cfg->log_dirs, snap->n);
	for (int i = 0; i < snap->n; i++) {
		const char *l = snap->t[i]->owner_list;
		/* A log line has a bounded length: long lists are cut, DescribeConfigs shows them whole. */
		RT_INFO("topic %s: %d partitions, owner shards [%.480s%s]", snap->t[i]->name, snap->t[i]->nparts, l,
		        strlen(l) > 480 ? "..." : "");
	}

	time_t last_ckpt = time(NULL);
	for (;;) {
		struct timespec ts = { 1, 0 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			RT_INFO("signal %d: stopping (no new connections, finishing in-flight requests)", sig);
			break;
		}
		if (time(NULL) - last_ckpt >= CHECKPOINT_INTERVAL_S) {
			last_ckpt = time(NULL);
			rc = stor_dir_checkpoint(b->dir);
			if (rc)
				RT_WARN("writing checkpoints: %s", strerror(-rc));
		}
	}
	atomic_store(&b->phase, DP_DRAINING);
	dp_control_stop(); /* its links close: forwarded requests still waiting are answered */
	time_t until = time(NULL) + DRAIN_LIMIT_S;
	while (atomic_load(&b->shards_drained) < b->nshards && time(NULL) < until)
		usleep(5000);
	if (atomic_load(&b->shards_drained) < b->nshards)
		RT_WARN("in-flight requests still pending after %d s; stopping anyway", DRAIN_LIMIT_S);
	atomic_store(&b->phase, DP_STOPPING);
	for (int i = 0; i < b->nshards; i++)
		dp_shard_join(b->shards[i]);
	rt_lt_dump();
	for (int i = 0; i < b->nshards; i++) {
		b->net->shard_fini(b->shards[i]);
		if (b->net != &dp_net_uring)
			dp_net_uring.shard_fini(b->shards[i]);
		dp_shard_destroy(b->shards[i]);
	}
	rc = stor_dir_close(b->dir);
	if (rc)
		RT_ERROR("writing checkpoints at exit: %s", strerror(-rc));
	dp_meta_close(b->meta);
	free(b->shards);
	dp_config_fini(cfg);
	RT_INFO("stopped");
	return rc ? 1 : 0;
}
