/*
 * perf/harness/stats.h: what a run counts and measures, the progress line and the JSON result.
 *
 * Every driver reports through these calls, so figures from the native driver, librdkafka and
 * the peers mean the same thing:
 *   - produce latency: from the record's intended send time (open loop: its slot in the pacing
 *     schedule; closed loop: when it was created) to the acknowledgement.  In an open-loop run
 *     this is the coordinated-omission-corrected figure; the histogram additionally fills in
 *     the samples a stalled closed-loop sender would have missed (base/hist.h's correction
 *     with the expected interval between records).
 *   - service time: from the request's write to its response (native driver only).
 *   - end-to-end latency: from the intended send time carried in the record to the consumer
 *     seeing it.
 * Samples taken before the warm-up ends are counted in totals but not in histograms.
 * Single-threaded: the drivers call these from their one event loop thread.
 */
#ifndef PERF_STATS_H
#define PERF_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "perf/harness/opts.h"
#include "perf/harness/procstat.h"

struct rt_hist;

enum perf_lat_kind {
	PERF_LAT_PRODUCE = 0,
	PERF_LAT_SERVICE,
	PERF_LAT_E2E,
	PERF_LAT_KINDS,
};

struct perf_stats {
	const struct perf_opts *opts;   /* borrowed */
	uint64_t start_ns, warm_ns, end_ns;
	uint64_t co_interval_ns;        /* closed loop: back-fill interval for produce latency; 0 = none */
	int64_t sent_records, sent_bytes;       /* handed to the network / client */
	int64_t acked_records, acked_bytes;
	int64_t failed_records;
	int64_t consumed_records, consumed_bytes;
	int64_t skipped_records;        /* consumers: offsets dropped by the log before they were read */
	int64_t requests, errors;
	bool fell_behind;               /* open loop: the system fell too far behind the offered rate */
	double prime_s;                 /* --prime: seconds writing the first record of every partition */
	int64_t primed_partitions;
	double create_s;                /* --create: CreateTopics until Metadata gave every leader; <0 none */
	/* --broker-pid: what the broker process held before set-up (before CreateTopics) and when
	 * the run was ready (after --prime): the cost of the partitions created between them. */
	struct perf_procres broker_setup, broker_ready;
	int64_t ready_connections;      /* the harness's connections to the broker at broker_ready */
	int16_t last_error;             /* last Kafka error code seen (0 = none) */
	char error_text[160];           /* first error worth telling the user */
	struct rt_hist *lat[PERF_LAT_KINDS]; /* owned */
	/* progress */
	uint64_t next_progress_ns, last_progress_ns;
	int64_t last_progress_records;
	double broker_cpu_start_s, broker_cpu_end_s;
	double self_cpu_start_s, self_cpu_end_s;   /* this process (getrusage), over the run */
	bool broker_cpu_ok;
	int64_t connections;            /* open connections at the end (load + idle) */
	struct perf_group_stats {       /* --group: what the members did (member.h) */
		bool on;
		int64_t generations;          /* distinct generations the members were assigned in */
		int64_t joins, heartbeats, commits, leaves, churns;
		int64_t group_errors;         /* group answers with an error the members had to act on */
		int64_t lost_assignments;     /* partitions given up without a commit (membership lost) */
		int64_t redelivered_records;  /* read again by an owner that started at the latest commit
		                               * (after a lost assignment: Kafka's at-least-once) */
		int64_t duplicate_records;    /* read more than once for no such reason (each extra read) */
		int64_t gap_records;          /* offsets skipped between the first position and the last read */
		int64_t unread_records;       /* offsets after the last read, up to the log end at the end */
		int64_t uncommitted_records;  /* read but not in the group's committed offsets at the end */
		int64_t pauses;               /* stretches a member held no partitions during a rebalance */
		double pause_ms_max, pause_ms_sum;
		double poll_ms_max;           /* rdkafka driver: the longest serving of the group by the
		                               * driver's thread during the run (its producers and its
		                               * e2e clock wait meanwhile); -1: not measured (native) */
	} group;
};

/* 0 or -ENOMEM.  opts is borrowed for the life of the stats. */
int perf_stats_init(struct perf_stats *st, const struct perf_opts *opts);
void perf_stats_fini(struct perf_stats *st);

/* Marks the start of the run (and the broker CPU reading). */
void perf_stats_start(struct perf_stats *st, uint64_t now_ns);
/* Marks the end of the run (and the broker CPU reading). */
void perf_stats_stop(struct perf_stats *st, uint64_t now_ns);

/* A latency sample of kind k measured at now_ns; ignored during warm-up. */
void perf_stats_latency(struct perf_stats *st, enum perf_lat_kind k, uint64_t now_ns, uint64_t lat_ns);

/* Records an error: the first message is kept for the result. */
void perf_stats_error(struct perf_stats *st, int16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints the progress line to stderr when it is due (opts->progress_s). */
void perf_stats_tick(struct perf_stats *st, uint64_t now_ns);

/* Latency percentile q (0..100) of kind k in ns, 0 when there are no samples. */
uint64_t perf_stats_pct(const struct perf_stats *st, enum perf_lat_kind k, double q);
uint64_t perf_stats_count(const struct perf_stats *st, enum perf_lat_kind k);
uint64_t perf_stats_max(const struct perf_stats *st, enum perf_lat_kind k);

/* Writes the JSON result to f.  0 or -EIO. */
int perf_stats_json(const struct perf_stats *st, FILE *f);

#endif
