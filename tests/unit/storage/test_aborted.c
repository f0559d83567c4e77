/* tests/unit/storage/test_aborted.c: a log's .txnindex files (storage/aborted.c): aborts
 * recorded in the segment of their marker, Kafka's collectAbortedTransactions across segments,
 * the files across a clean close, a crash, a missing or damaged file (re-derived from the log by
 * the producer state's replay), truncation and retention. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/producer_state.h"
#include "storage/storage.h"
#include "util.h"

/* The owner shard's part, as dataplane/handlers/{produce,write_txn_markers}.c do it: append,
 * apply to the producer state, record an abort in the index. */
struct owner {
	struct tctx t;
	struct stor_log *log;
	struct stor_pstate *ps;
	char dir[512];
	struct stor_aborted_txn want[256];   /* every abort, in marker order */
	size_t nwant;
	int32_t seq[8];
	bool open[8];
};

static uint8_t *data_batch(int64_t pid, int32_t seq, int n, size_t *len)
{
	return t_producer_batch(n, 1000, 40, pid, 0, seq, true, len);
}

/* Appends one batch and applies it; returns its base offset. */
static int64_t own_put(struct owner *o, uint8_t *b, size_t len)
{
	struct kp_batch_hdr h;
	cr_assert_eq(kp_batch_hdr_parse(b, len, &h), 0);
	struct stor_ps_batch pb;
	stor_ps_batch_from_hdr(&pb, &h);
	if (pb.control)
		cr_assert_eq(stor_ps_marker_parse(b, len, &pb.commit, &pb.coordinator_epoch), 0);
	int64_t base;
	cr_assert_eq(t_append(&o->t, o->log, b, len, 0, &base), 0);
	pb.base_offset = base;
	struct stor_ps_txn_done d;
	size_t nd = 0;
	cr_assert_eq(stor_pstate_apply(o->ps, &pb, 1, STOR_PS_LOG, &d, &nd), 0);
	if (nd && d.aborted) {
		struct stor_aborted_txn a = { d.producer_id, d.first_offset, d.last_offset,
		                              d.last_stable_offset };
		cr_assert_eq(stor_log_add_aborted(o->log, &a), 0);
		cr_assert_lt(o->nwant, 256);
		o->want[o->nwant++] = a;
	}
	free(b);
	return base;
}

static void own_data(struct owner *o, int pid, int n)
{
	size_t len;
	uint8_t *b = data_batch(pid, o->seq[pid], n, &len);
	o->seq[pid] += n;
	o->open[pid] = true;
	own_put(o, b, len);
}

static void own_end(struct owner *o, int pid, bool commit)
{
	size_t len = 0;
	uint8_t *b = t_marker_batch(pid, 0, commit, 0, 2000, &len);
	own_put(o, b, len);
	o->open[pid] = false;
}

static void own_open(struct owner *o, struct stor_config *cfg)
{
	int err = 0;
	o->log = stor_log_open(o->t.d, "tx", 0, cfg, NULL, &o->t.ring, &err);
	cr_assert(o->log, "open: %d", err);
	snprintf(o->dir, sizeof o->dir, "%s/tx-0", o->t.dir);
}

/* Interleaved transactions of three producers over several segments: some committed, some
 * aborted, some spanning a roll. */
static void own_script(struct owner *o, int rounds)
{
	unsigned r = 12345;
	for (int i = 0; i < rounds; i++) {
		r = r * 1103515245u + 12345u;
		int pid = 1 + (int)((r >> 8) % 3);
		unsigned act = (r >> 16) % 4;
		if (!o->open[pid] || act < 2)
			own_data(o, pid, 1 + (int)((r >> 20) % 3));
		else
			own_end(o, pid, act == 2);
	}
	for (int pid = 1; pid <= 3; pid++)
		if (o->open[pid])
			own_end(o, pid, false);
}

static struct stor_config small_segments(const struct tctx *t)
{
	struct stor_config c = t->cfg;
	c.segment_bytes = 2048;
	return c;
}

/* Kafka's rule by brute force (see txn_index.h: the early stop never drops a match). */
static size_t expect(const struct owner *o, int64_t f, int64_t upper, struct stor_aborted_txn *out)
{
	size_t n = 0;
	for (size_t i = 0; i < o->nwant; i++)
		if (o->want[i].last_offset >= f && o->want[i].first_offset < upper)
			out[n++] = o->want[i];
	return n;
}

static void check_collect(const struct owner *o)
{
	int64_t leo = stor_log_end_offset(o->log);
	struct stor_aborted_txn got[256], exp[256];
	for (int64_t f = 0; f <= leo; f += 3)
		for (int64_t u = f; u <= leo; u += 5) {
			size_t n = stor_log_collect_aborted(o->log, f, u, got, 256);
			size_t m = expect(o, f, u, exp);
			cr_assert_eq(n, m, "fetch %lld..%lld: %zu entries, want %zu", (long long)f,
			             (long long)u, n, m);
			for (size_t i = 0; i < n; i++)
				cr_assert(!memcmp(&got[i], &exp[i], sizeof got[i]), "entry %zu of %lld..%lld", i,
				          (long long)f, (long long)u);
		}
}

/* Base offsets of the segments on disk. */
static size_t bases(const char *dir, int64_t *out, size_t cap)
{
	DIR *d = opendir(dir);
	cr_assert(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strlen(e->d_name) == 24 && !strcmp(e->d_name + 20, ".log") && n < cap)
			out[n++] = strtoll(e->d_name, NULL, 10);
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j && out[j - 1] > out[j]; j--) {
			int64_t x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	return n;
}

static long long txn_file_size(const struct owner *o, int64_t base)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%020lld.txnindex", o->dir, (long long)base);
	return t_file_size(p);
}

/* Every segment has its file, 34 bytes per abort whose marker it holds.  Looked at once the
 * log is idle: a segment's files get their names through renames still in flight after a
 * roll (storage/spare.c). */
static void check_files(struct owner *o)
{
	t_run_idle(&o->t.ring, o->log);
	int64_t b[64];
	size_t n = bases(o->dir, b, 64);
	cr_assert_gt(n, 2, "the script spans several segments");
	for (size_t i = 0; i < n; i++) {
		int64_t end = i + 1 < n ? b[i + 1] : INT64_MAX;
		long long k = 0;
		for (size_t j = 0; j < o->nwant; j++)
			k += o->want[j].last_offset >= b[i] && o->want[j].last_offset < end;
		cr_assert_eq(txn_file_size(o, b[i]), k * STOR_TXNIDX_ENTRY, "segment %lld",
		             (long long)b[i]);
	}
}

static void own_recover(struct owner *o)
{
	stor_pstate_destroy(o->ps);
	o->ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(o->ps, o->log, o->dir, 0), 0);
	cr_assert_eq(stor_log_txn_rebuild_from(o->log), INT64_MAX);
}

static void own_setup(struct owner *o, int rounds)
{
	memset(o, 0, sizeof *o);
	t_setup(&o->t, NULL);
	struct stor_config c = small_segments(&o->t);
	own_open(o, &c);
	o->ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	own_script(o, rounds);
	cr_assert_gt(o->nwant, 5, "the script aborts several transactions");
}

static void own_teardown(struct owner *o)
{
	stor_pstate_destroy(o->ps);
	if (o->log)
		cr_assert_eq(t_close(&o->t, o->log), 0);
	t_teardown(&o->t);
}

static void own_reopen(struct owner *o, bool crash)
{
	cr_assert_eq(t_close(&o->t, o->log), 0);
	t_reopen_dir(&o->t, crash);
	struct stor_config c = small_segments(&o->t);
	own_open(o, &c);
}

Test(stor_aborted, aborts_go_to_the_segment_of_their_marker_and_collect_like_kafka)
{
	struct owner o;
	own_setup(&o, 120);
	cr_assert_gt(stor_log_segment_count(o.log), 2);
	check_files(&o);
	check_collect(&o);
	/* a transaction that spans segments: its first offset lies before its marker's segment */
	bool spans = false;
	int64_t b[64];
	size_t n = bases(o.dir, b, 64);
	for (size_t i = 0; i < o.nwant; i++)
		for (size_t k = 1; k < n; k++)
			spans |= o.want[i].first_offset < b[k] && o.want[i].last_offset >= b[k];
	cr_assert(spans, "the script has an aborted transaction across a roll");
	own_teardown(&o);
}

Test(stor_aborted, adding_again_is_a_no_op_and_offsets_outside_the_log_are_refused)
{
	struct owner o;
	own_setup(&o, 60);
	for (size_t i = 0; i < o.nwant; i++)
		cr_assert_eq(stor_log_add_aborted(o.log, &o.want[i]), 0);
	check_files(&o);
	check_collect(&o);
	struct stor_aborted_txn bad = { 9, 5, 3, 6 };   /* first above last */
	cr_assert_eq(stor_log_add_aborted(o.log, &bad), -EINVAL);
	own_teardown(&o);
}

Test(stor_aborted, entries_survive_a_clean_close)
{
	struct owner o;
	own_setup(&o, 120);
	own_reopen(&o, false);
	cr_assert_eq(stor_log_txn_rebuild_from(o.log), INT64_MAX, "a clean stop rebuilds nothing");
	check_collect(&o);
	own_recover(&o);
	check_files(&o);
	own_teardown(&o);
}

Test(stor_aborted, missing_or_damaged_files_are_derived_again_from_the_log)
{
	struct owner o;
	own_setup(&o, 120);
	int64_t b[64];
	size_t n = bases(o.dir, b, 64);
	/* the first segment with an abort loses its file; a later one gets a bad version */
	size_t lose = n, damage = n;
	for (size_t i = 0; i < n; i++) {
		if (txn_file_size(&o, b[i]) <= 0)
			continue;
		if (lose == n)
			lose = i;
		else if (damage == n)
			damage = i;
	}
	cr_assert(lose < n && damage < n);
	cr_assert_eq(t_close(&o.t, o.log), 0);
	char p[600];
	snprintf(p, sizeof p, "%s/%020lld.txnindex", o.dir, (long long)b[lose]);
	cr_assert_eq(unlink(p), 0);
	snprintf(p, sizeof p, "%s/%020lld.txnindex", o.dir, (long long)b[damage]);
	int fd = open(p, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "\x00\x07", 2, 0), 2);
	close(fd);
	struct stor_config c = small_segments(&o.t);
	own_open(&o, &c);
	cr_assert_eq(stor_log_txn_rebuild_from(o.log), b[lose]);
	cr_assert(strstr(t_lines(), "does not decode"), "%s", t_lines());
	own_recover(&o);
	check_collect(&o);
	check_files(&o);
	/* and the next open trusts them again */
	own_reopen(&o, false);
	cr_assert_eq(stor_log_txn_rebuild_from(o.log), INT64_MAX);
	check_collect(&o);
	own_teardown(&o);
}

Test(stor_aborted, a_crash_rederives_the_entries_of_the_scanned_tail)
{
	struct owner o;
	own_setup(&o, 120);
	int64_t b[64];
	size_t n = bases(o.dir, b, 64);
	/* one more abort in the active segment, then its entry is lost as if the page never made it */
	own_data(&o, 1, 2);
	own_end(&o, 1, false);
	cr_assert_eq(t_close(&o.t, o.log), 0);
	char p[600];
	snprintf(p, sizeof p, "%s/%020lld.txnindex", o.dir, (long long)b[n - 1]);
	cr_assert_gt(t_file_size(p), 0);
	cr_assert_eq(truncate(p, 0), 0);
	t_reopen_dir(&o.t, true);
	struct stor_config c = small_segments(&o.t);
	own_open(&o, &c);
	cr_assert_eq(stor_log_txn_rebuild_from(o.log), b[n - 1], "recovery scans the last segment");
	own_recover(&o);
	check_collect(&o);
	check_files(&o);
	own_teardown(&o);
}

Test(stor_aborted, truncation_drops_entries_past_the_new_end)
{
	struct owner o;
	own_setup(&o, 120);
	const struct stor_aborted_txn last = o.want[o.nwant - 1];
	t_run_idle(&o.t.ring, o.log);
	cr_assert_eq(stor_log_truncate(o.log, last.last_offset), 0);
	o.nwant--;
	check_files(&o);
	check_collect(&o);
	/* the same marker offset can be reused by a later abort */
	own_data(&o, 2, 1);
	own_end(&o, 2, false);
	check_files(&o);
	check_collect(&o);
	own_teardown(&o);
}

Test(stor_aborted, retention_removes_the_file_with_its_segment)
{
	struct owner o;
	own_setup(&o, 120);
	int64_t b[64];
	size_t n = bases(o.dir, b, 64);
	int64_t low;
	cr_assert_eq(stor_log_delete_records(o.log, b[2], &low), 0);
	t_run_idle(&o.t.ring, o.log);
	cr_assert_eq(txn_file_size(&o, b[0]), -1);
	cr_assert_eq(txn_file_size(&o, b[1]), -1);
	cr_assert_geq(txn_file_size(&o, b[2]), 0);
	cr_assert_eq(bases(o.dir, b, 64), n - 2);
	own_teardown(&o);
}
