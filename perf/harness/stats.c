/*
 * perf/harness/stats.c: counters, latency histograms (base/hist.h), progress line and JSON
 * (see stats.h).
 *
 * Histograms hold nanoseconds from 1 ns to 1 hour at 3 significant digits: percentiles are
 * within 0.1% of the exact ones.  MB in the results is 10^6 bytes of record payload (key +
 * value), the unit Kafka's own perf tools print.
 */
#include "perf/harness/stats.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>

#include "base/hist.h"
#include "perf/harness/procstat.h"
#include "proto/batch.h"

#define HIST_MAX_NS (3600ull * 1000000000ull)

int perf_stats_init(struct perf_stats *st, const struct perf_opts *opts)
{
	memset(st, 0, sizeof(*st));
	st->opts = opts;
	st->co_interval_ns = (uint64_t)(opts->co_interval_us * 1000.0);
	st->create_s = -1;
	st->broker_setup = st->broker_ready = (struct perf_procres){-1, -1, -1, -1, -1};
	for (int k = 0; k < PERF_LAT_KINDS; k++) {
		st->lat[k] = rt_hist_create(HIST_MAX_NS, 3);
		if (!st->lat[k]) {
			perf_stats_fini(st);
			return -ENOMEM;
		}
	}
	return 0;
}

void perf_stats_fini(struct perf_stats *st)
{
	for (int k = 0; k < PERF_LAT_KINDS; k++) {
		rt_hist_destroy(st->lat[k]);
		st->lat[k] = NULL;
	}
}

static void read_cpu(const struct perf_stats *st, double *out, bool *ok)
{
	if (st->opts->broker_pid <= 0) {
		*ok = false;
		return;
	}
	*ok = perf_procstat_read_tree(st->opts->broker_pid, out) == 0;
}

/* This process's CPU seconds (every thread: librdkafka's too). */
static double self_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void perf_stats_start(struct perf_stats *st, uint64_t now_ns)
{
	st->self_cpu_start_s = self_cpu();
	st->start_ns = now_ns;
	st->warm_ns = now_ns + (uint64_t)(st->opts->warmup_s * 1e9);
	st->last_progress_ns = now_ns;
	st->next_progress_ns = now_ns + (uint64_t)(st->opts->progress_s * 1e9);
	read_cpu(st, &st->broker_cpu_start_s, &st->broker_cpu_ok);
}

void perf_stats_stop(struct perf_stats *st, uint64_t now_ns)
{
	st->end_ns = now_ns;
	st->self_cpu_end_s = self_cpu();
	bool ok = false;
	read_cpu(st, &st->broker_cpu_end_s, &ok);
	st->broker_cpu_ok = st->broker_cpu_ok && ok;
}

void perf_stats_latency(struct perf_stats *st, enum perf_lat_kind k, uint64_t now_ns, uint64_t lat_ns)
{
	if (now_ns < st->warm_ns)
		return;
	if (lat_ns == 0)
		lat_ns = 1; /* the histogram's range starts at 1 ns */
	if (lat_ns > HIST_MAX_NS)
		lat_ns = HIST_MAX_NS;
	if (k == PERF_LAT_PRODUCE && st->co_interval_ns)
		rt_hist_record_corrected(st->lat[k], lat_ns, st->co_interval_ns);
	else
		rt_hist_record(st->lat[k], lat_ns);
}

void perf_stats_error(struct perf_stats *st, int16_t code, const char *fmt, ...)
{
	st->errors++;
	if (code > 0)
		st->last_error = code;
	if (st->error_text[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->error_text, sizeof(st->error_text), fmt, ap);
	va_end(ap);
	if (!st->opts->quiet)
		fprintf(stderr, "ringtail-perf: %s\n", st->error_text);
}

uint64_t perf_stats_pct(const struct perf_stats *st, enum perf_lat_kind k, double q)
{
	return rt_hist_percentile(st->lat[k], q);
}

uint64_t perf_stats_count(const struct perf_stats *st, enum perf_lat_kind k) { return rt_hist_count(st->lat[k]); }
uint64_t perf_stats_max(const struct perf_stats *st, enum perf_lat_kind k) { return rt_hist_max(st->lat[k]); }

void perf_stats_tick(struct perf_stats *st, uint64_t now_ns)
{
	if (st->opts->progress_s <= 0 || st->opts->quiet || now_ns < st->next_progress_ns)
		return;
	double dt = (double)(now_ns - st->last_progress_ns) / 1e9;
	bool prod = st->opts->mode != PERF_MODE_CONSUME;
	int64_t recs = prod ? st->acked_records : st->consumed_records;
	double rate = dt > 0 ? (double)(recs - st->last_progress_records) / dt : 0;
	enum perf_lat_kind k = st->opts->mode == PERF_MODE_E2E ? PERF_LAT_E2E : PERF_LAT_PRODUCE;
	fprintf(stderr, "[%6.1fs] %s %.0f rec/s %.1f MB/s  p99 %.3f ms  errors %lld\n",
	        (double)(now_ns - st->start_ns) / 1e9, prod ? "acked" : "consumed", rate,
	        rate * (st->opts->record_size + (st->opts->keys != PERF_KEYS_NONE ? 8 : 0)) / 1e6,
	        (double)perf_stats_pct(st, k, 99) / 1e6, (long long)st->errors);
	st->last_progress_ns = now_ns;
	st->last_progress_records = recs;
	st->next_progress_ns = now_ns + (uint64_t)(st->opts->progress_s * 1e9);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_lat(FILE *f, const struct perf_stats *st, enum perf_lat_kind k)
{
	const struct rt_hist *h = st->lat[k];
	fprintf(f, "{\"count\": %llu, \"p50\": %.4f, \"p90\": %.4f, \"p99\": %.4f, \"p99_9\": %.4f, "
	        "\"p99_99\": %.4f, \"max\": %.4f, \"mean\": %.4f}",
	        (unsigned long long)rt_hist_count(h), rt_hist_percentile(h, 50) / 1e6,
	        rt_hist_percentile(h, 90) / 1e6, rt_hist_percentile(h, 99) / 1e6,
	        rt_hist_percentile(h, 99.9) / 1e6, rt_hist_percentile(h, 99.99) / 1e6,
	        rt_hist_max(h) / 1e6, rt_hist_mean(h) / 1e6);
}

int perf_stats_json(const struct perf_stats *st, FILE *f)
{
	const struct perf_opts *o = st->opts;
	static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
	static const char *keys[] = {"none", "seq", "uniform", "zipf"};
	double secs = st->end_ns > st->start_ns ? (double)(st->end_ns - st->start_ns) / 1e9 : 0;
	double div = secs > 0 ? secs : 1;
	fprintf(f, "{\n  \"driver\": \"%s\", \"mode\": \"%s\", \"label\": ", perf_driver_name(o->driver),
	        perf_mode_name(o->mode));
	json_str(f, o->label);
	fprintf(f, ", \"topic\": ");
	json_str(f, o->topic);
	fprintf(f, ",\n  \"partitions\": %d, \"record_size\": %d, \"batch_size\": %d, \"linger_ms\": %d, "
	        "\"compression\": \"%s\", \"acks\": %d, \"keys\": \"%s\", \"key_count\": %u,\n"
	        "  \"rate_target\": %.1f, \"pace_tick_us\": %g, \"duration_s\": %g, \"producers\": %d, \"consumers\": %d, \"inflight\": %d, "
	        "\"idle_connections\": %d, \"connections\": %lld,\n",
	        o->partitions, o->record_size, o->batch_size, o->linger_ms, codecs[o->compression], o->acks,
	        keys[o->keys], o->key_count, o->rate, o->pace_tick_us, o->duration_s, o->producers, o->consumers, o->inflight,
	        o->idle_connections, (long long)st->connections);
	fprintf(f, "  \"elapsed_s\": %.3f, \"sent_records\": %lld, \"acked_records\": %lld, "
	        "\"failed_records\": %lld, \"consumed_records\": %lld, \"skipped_records\": %lld, "
	        "\"requests\": %lld, \"errors\": %lld, \"fell_behind\": %s,\n",
	        secs, (long long)st->sent_records, (long long)st->acked_records, (long long)st->failed_records,
	        (long long)st->consumed_records, (long long)st->skipped_records, (long long)st->requests,
	        (long long)st->errors, st->fell_behind ? "true" : "false");
	fprintf(f, "  \"primed_partitions\": %lld, \"prime_s\": %.3f,\n", (long long)st->primed_partitions, st->prime_s);
	if (st->create_s >= 0)
		fprintf(f, "  \"create_s\": %.3f,\n", st->create_s);
	else
		fprintf(f, "  \"create_s\": null,\n");
	const struct perf_procres *res[2] = {&st->broker_setup, &st->broker_ready};
	const char *res_name[2] = {"broker_setup", "broker_ready"};
	for (int i = 0; i < 2; i++) {
		if (res[i]->fds < 0) {
			fprintf(f, "  \"%s\": null,\n", res_name[i]);
			continue;
		}
		fprintf(f, "  \"%s\": {\"fds\": %lld, \"maps\": %lld, \"rss_kb\": %lld, \"vm_kb\": %lld, \"cpu_s\": %.3f",
		        res_name[i], (long long)res[i]->fds, (long long)res[i]->maps, (long long)res[i]->rss_kb,
		        (long long)res[i]->vm_kb, res[i]->cpu_s);
		if (i == 1)
			fprintf(f, ", \"harness_connections\": %lld", (long long)st->ready_connections);
		fprintf(f, "},\n");
	}
	fprintf(f, "  \"produce_records_per_s\": %.1f, \"produce_mb_per_s\": %.3f, "
	        "\"consume_records_per_s\": %.1f, \"consume_mb_per_s\": %.3f,\n",
	        st->acked_records / div, st->acked_bytes / div / 1e6, st->consumed_records / div,
	        st->consumed_bytes / div / 1e6);
	fprintf(f, "  \"co_corrected\": %s,\n  \"latency_ms\": {\n    \"produce\": ",
	        o->rate > 0 || st->co_interval_ns ? "true" : "false");
	json_lat(f, st, PERF_LAT_PRODUCE);
	fprintf(f, ",\n    \"service\": ");
	json_lat(f, st, PERF_LAT_SERVICE);
	fprintf(f, ",\n    \"e2e\": ");
	json_lat(f, st, PERF_LAT_E2E);
	fprintf(f, "\n  },\n");
	double gb = (double)(st->acked_bytes + st->consumed_bytes) / 1e9;
	if (st->broker_cpu_ok) {
		double cpu = st->broker_cpu_end_s - st->broker_cpu_start_s;
		fprintf(f, "  \"broker_cpu_s\": %.3f, \"broker_cpu_s_per_gb\": %.3f,\n", cpu, gb > 0 ? cpu / gb : 0);
	} else {
		fprintf(f, "  \"broker_cpu_s\": null, \"broker_cpu_s_per_gb\": null,\n");
	}
	/* The load generator's own share of the machine, beside the broker's: on a machine with few
	 * cores the two together can be what bounds a figure. */
	fprintf(f, "  \"harness_cpu_s\": %.3f,\n", st->self_cpu_end_s - st->self_cpu_start_s);
	const struct perf_group_stats *g = &st->group;
	if (g->on) {
		fprintf(f, "  \"group\": {\"id\": ");
		json_str(f, o->group);
		fprintf(f, ", \"assignor\": ");
		json_str(f, o->assignor);
		fprintf(f, ", \"members\": %d, \"churn_s\": %g, \"generations\": %lld, \"joins\": %lld, "
		        "\"heartbeats\": %lld, \"commits\": %lld, \"leaves\": %lld, \"churns\": %lld, "
		        "\"group_errors\": %lld, \"lost_assignments\": %lld,\n    \"redelivered_records\": %lld, "
		        "\"duplicate_records\": %lld, \"gap_records\": %lld, "
		        "\"unread_records\": %lld, \"uncommitted_records\": %lld, \"pauses\": %lld, "
		        "\"pause_ms_max\": %.3f, \"pause_ms_mean\": %.3f, \"poll_ms_max\": ",
		        o->consumers, o->group_churn_s, (long long)g->generations, (long long)g->joins,
		        (long long)g->heartbeats, (long long)g->commits, (long long)g->leaves, (long long)g->churns,
		        (long long)g->group_errors, (long long)g->lost_assignments, (long long)g->redelivered_records,
		        (long long)g->duplicate_records, (long long)g->gap_records,
		        (long long)g->unread_records, (long long)g->uncommitted_records, (long long)g->pauses,
		        g->pause_ms_max, g->pauses ? g->pause_ms_sum / (double)g->pauses : 0);
		if (g->poll_ms_max < 0)
			fprintf(f, "null},\n");
		else
			fprintf(f, "%.3f},\n", g->poll_ms_max);
	} else {
		fprintf(f, "  \"group\": null,\n");
	}
	fprintf(f, "  \"last_error_code\": %d, \"error\": ", st->last_error);
	json_str(f, st->error_text);
	fprintf(f, "\n}\n");
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
