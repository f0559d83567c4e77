/*
 * perf/harness/driver.h: the drivers ringtail-perf can run a workload through.
 *
 * Each runs the whole workload of opts (mode, producers, consumers, pacing, duration) on the
 * calling thread, reports through st (perf_stats_start .. perf_stats_stop) and returns 0, or a
 * negative errno when the run could not take place at all (no connection, no topic), with the
 * reason in st->error_text.  A run that took place but saw errors returns 0 with the errors
 * counted.
 */
#ifndef PERF_DRIVER_H
#define PERF_DRIVER_H

#include "perf/harness/opts.h"
#include "perf/harness/stats.h"

int perf_run_native(const struct perf_opts *o, struct perf_stats *st);
int perf_run_rdkafka(const struct perf_opts *o, struct perf_stats *st);
int perf_run_nats(const struct perf_opts *o, struct perf_stats *st);
int perf_run_redis(const struct perf_opts *o, struct perf_stats *st);

/* Opens o->idle_connections connections to the first bootstrap address that each say
 * ApiVersions once and are then left silent (idle.c; the native driver's codec).  *fds gets an
 * owned array of *n descriptors (perf_idle_close frees it; it holds what was opened even on
 * failure).  0, or a negative errno with the error recorded in st. */
int perf_idle_open(const struct perf_opts *o, struct perf_stats *st, int **fds, int *n);
void perf_idle_close(int *fds, int n);

/* --delete, after the run: deletes o->topic (DeleteTopics) through the first bootstrap address,
 * so that the run's data leaves the broker's disk (drv_native.c, for every Kafka driver).  0, or
 * a negative errno with the error recorded in st. */
int perf_delete_topic(const struct perf_opts *o, struct perf_stats *st);

/* True when the run should stop: duration passed or the record target reached. */
bool perf_run_done(const struct perf_opts *o, const struct perf_stats *st, uint64_t now_ns, int64_t records);

#endif
