/*
 * perf/harness/main.c: ringtail-perf, the load generator.  Parses the options, opens the idle
 * connections, runs the chosen driver, writes the JSON result and, with --delete, deletes the
 * run's topic.
 *
 * Exit status: 0 when the run took place without errors, 1 when it took place but some
 * requests failed, 2 for bad options, 3 when the run could not take place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/harness/driver.h"
#include "perf/harness/opts.h"
#include "perf/harness/stats.h"

bool perf_run_done(const struct perf_opts *o, const struct perf_stats *st, uint64_t now_ns, int64_t records)
{
	if (o->duration_s > 0 && now_ns - st->start_ns >= (uint64_t)(o->duration_s * 1e9))
		return true;
	return o->records > 0 && records >= o->records;
}

int main(int argc, char **argv)
{
	struct perf_opts o;
	char err[4096];
	perf_opts_defaults(&o);
	int rc = perf_opts_parse(&o, argc, argv, err, sizeof(err));
	if (rc == 1) {
		fputs(err, stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "ringtail-perf: %s\n", err);
		return 2;
	}
	struct perf_stats st;
	if (perf_stats_init(&st, &o)) {
		fprintf(stderr, "ringtail-perf: out of memory\n");
		return 3;
	}
	switch (o.driver) {
	case PERF_DRIVER_NATIVE: rc = perf_run_native(&o, &st); break;
	case PERF_DRIVER_RDKAFKA: rc = perf_run_rdkafka(&o, &st); break;
	case PERF_DRIVER_NATS: rc = perf_run_nats(&o, &st); break;
	case PERF_DRIVER_REDIS: rc = perf_run_redis(&o, &st); break;
	}
	if (rc) {
		fprintf(stderr, "ringtail-perf: the run did not take place: %s\n",
		        st.error_text[0] ? st.error_text : strerror(-rc));
		perf_stats_fini(&st);
		return 3;
	}
	FILE *f = stdout;
	if (o.json_path[0] && !(f = fopen(o.json_path, "w"))) {
		fprintf(stderr, "ringtail-perf: --json %s: %s\n", o.json_path, strerror(errno));
		perf_stats_fini(&st);
		return 3;
	}
	if (perf_stats_json(&st, f))
		fprintf(stderr, "ringtail-perf: writing the result failed\n");
	if (f != stdout)
		fclose(f);
	if (!o.quiet) {
		bool prod = o.mode != PERF_MODE_CONSUME;
		double secs = (double)(st.end_ns - st.start_ns) / 1e9;
		enum perf_lat_kind k = o.mode == PERF_MODE_E2E ? PERF_LAT_E2E : PERF_LAT_PRODUCE;
		fprintf(stderr, "ringtail-perf: %s %s: %lld records in %.2f s = %.0f rec/s, %.2f MB/s; "
		        "p50 %.3f ms p99 %.3f ms p99.9 %.3f ms max %.3f ms; errors %lld\n",
		        perf_driver_name(o.driver), perf_mode_name(o.mode),
		        (long long)(prod ? st.acked_records : st.consumed_records), secs,
		        secs > 0 ? (prod ? st.acked_records : st.consumed_records) / secs : 0,
		        secs > 0 ? (prod ? st.acked_bytes : st.consumed_bytes) / secs / 1e6 : 0,
		        perf_stats_pct(&st, k, 50) / 1e6, perf_stats_pct(&st, k, 99) / 1e6,
		        perf_stats_pct(&st, k, 99.9) / 1e6, perf_stats_max(&st, k) / 1e6, (long long)st.errors);
	}
	rc = st.errors || st.failed_records ? 1 : 0;
	/* After the result is written: a delete that fails fails the run, not its figures. */
	if (o.delete_topic && perf_delete_topic(&o, &st)) {
		fprintf(stderr, "ringtail-perf: --delete: %s\n", st.error_text);
		rc = 1;
	}
	perf_stats_fini(&st);
	return rc;
}
