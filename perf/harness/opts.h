/*
 * perf/harness/opts.h: ringtail-perf's command line, parsed into one plain struct.
 *
 * Every option has a default that gives a short, sane run against 127.0.0.1:9092.  Parsing never
 * exits: a bad option yields -EINVAL and a message naming the option, the value and what is
 * allowed, so that the tests can check each message.
 */
#ifndef PERF_OPTS_H
#define PERF_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum perf_driver {
	PERF_DRIVER_NATIVE = 0, /* proto/ over the harness's own event loop */
	PERF_DRIVER_RDKAFKA,    /* librdkafka */
	PERF_DRIVER_NATS,       /* NATS JetStream through libnats */
	PERF_DRIVER_REDIS,      /* Redis Streams through hiredis */
};

enum perf_mode {
	PERF_MODE_PRODUCE = 0,  /* producers only */
	PERF_MODE_CONSUME,      /* consumers only, from what is already stored */
	PERF_MODE_E2E,          /* producers and consumers together; end-to-end latency */
};

enum perf_keydist {
	PERF_KEYS_NONE = 0,     /* null keys; partitions chosen round-robin per batch */
	PERF_KEYS_SEQ,          /* key i mod n, in order */
	PERF_KEYS_UNIFORM,      /* uniform over n keys */
	PERF_KEYS_ZIPF,         /* zipf(s) over n keys: a few hot keys */
};

struct perf_opts {
	enum perf_driver driver;
	enum perf_mode mode;
	char bootstrap[256];       /* host:port[,host:port...] */
	char topic[128];
	int32_t partitions;        /* partitions to create (--create) or to use (0 = all) */
	bool create;               /* create the topic (CreateTopics) before the run */
	bool delete_topic;         /* delete the topic (DeleteTopics) after the run */
	int32_t record_size;       /* value bytes per record (>= PERF_RECORD_MIN) */
	int32_t batch_size;        /* bytes per partition batch before it is closed */
	int32_t linger_ms;
	int compression;           /* enum kp_compression */
	int16_t acks;              /* 0, 1 or -1 */
	enum perf_keydist keys;
	uint32_t key_count;
	double zipf_s;
	double rate;               /* records/s over all producers; 0 = flat out (closed loop) */
	double pace_tick_us;       /* open loop: release due records in bursts this far apart (0 = per record) */
	double duration_s;         /* run length; 0 = until `records` */
	int64_t records;           /* records to produce (0 = until duration) */
	double co_interval_us;     /* closed loop: CO back-fill interval for produce latency (0 = none) */
	double warmup_s;           /* seconds at the start whose latencies are not recorded */
	bool prime;                /* one record to every partition before the clock starts */
	int32_t producers;         /* producer connections (each its own client) */
	int32_t consumers;         /* consumer connections */
	int32_t inflight;          /* pipelined requests per connection */
	int64_t buffer_bytes;      /* flat out: a producer's queued bytes before it waits (buffer.memory) */
	int32_t idle_connections;  /* connections opened and left idle beside the load */
	int32_t fetch_max_bytes;
	int32_t fetch_partition_max_bytes;
	int32_t fetch_max_wait_ms;
	int32_t fetch_min_bytes;
	bool from_latest;          /* consumers start at the log end instead of the start */
	char group[128];           /* consumer group the consumers join ("" = none: partition mod consumers) */
	char assignor[32];         /* the group's assignor: range (eager), roundrobin, cooperative-sticky */
	double group_churn_s;      /* every S seconds one member leaves and rejoins as a new member (0 = never) */
	int32_t commit_interval_ms; /* group members commit their positions this often (auto.commit.interval.ms) */
	int broker_pid;            /* for CPU seconds per GB (0 = not measured) */
	double progress_s;         /* live progress line period on stderr (0 = off) */
	char json_path[256];       /* "" = stdout */
	char trace_path[256];      /* --trace-records: a line per acknowledged record ("" = none) */
	char label[128];           /* copied into the JSON */
	char driver_conf[512];     /* extra driver settings, key=value,key=value */
	bool quiet;
};

/* Smallest record the harness produces: it carries a 16-byte header (send time, producer). */
#define PERF_RECORD_MIN 16
/* zipf keys come from a table of cumulative weights, one double per key. */
#define PERF_ZIPF_MAX_KEYS 1000000

/* Fills o with the defaults. */
void perf_opts_defaults(struct perf_opts *o);

/* Parses argv[1..argc) into o (which holds defaults).  0, 1 when --help was asked (usage is in
 * err), or -EINVAL with a message in err (errlen bytes) naming the option, the value and what
 * is allowed.  Borrows argv. */
int perf_opts_parse(struct perf_opts *o, int argc, char **argv, char *err, size_t errlen);

/* The usage text (static). */
const char *perf_opts_usage(void);

const char *perf_driver_name(enum perf_driver d);
const char *perf_mode_name(enum perf_mode m);

#endif
