/*
 * storage/log.c: a partition log's lifetime (open with recovery, close, delete), its segment
 * array, its small metadata files (partition.metadata, leader-epoch-checkpoint), and accessors.
 */
#include <dirent.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/file_replace.h"
#include "storage/bg.h"
#include "storage/internal.h"

int64_t stor_now_ms(void)
{
	return rt_clock_wall_ms();
}

struct io_uring_sqe *stor_get_sqe(struct stor_log *log)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(log->ring);
	if (!sqe) {
		/* The SQ is full: hand what is queued to the kernel and try once more. */
		io_uring_submit(log->ring);
		sqe = io_uring_get_sqe(log->ring);
	}
	return sqe;
}

bool stor_sq_reserve(struct stor_log *log, unsigned n)
{
	if (io_uring_sq_space_left(log->ring) < n) io_uring_submit(log->ring);
	return io_uring_sq_space_left(log->ring) >= n;
}

void stor_close_async(struct stor_log *log, int fd)
{
	if (fd < 0) return;
	struct io_uring_sqe *sqe = stor_get_sqe(log);
	if (!sqe) {
		close(fd);
		return;
	}
	/* A close releases no dirty data (fdatasync does that) but may still wait on the file
	 * system; the kernel runs it for us.  user_data NULL: the shard ignores the completion. */
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data(sqe, NULL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

struct stor_segment *stor_log_active(const struct stor_log *log)
{
	return log->nseg ? log->segs[log->nseg - 1] : NULL;
}

int stor_log_push_segment(struct stor_log *log, struct stor_segment *s)
{
	if (log->nseg == log->segcap) {
		size_t cap = log->segcap ? log->segcap * 2 : 8;
		struct stor_segment **n = realloc(log->segs, cap * sizeof *n);
		if (!n) return -ENOMEM;
		log->segs = n;
		log->segcap = cap;
	}
	log->segs[log->nseg++] = s;
	return 0;
}

ssize_t stor_log_find_segment(const struct stor_log *log, int64_t offset)
{
	size_t lo = 0, hi = log->nseg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->base <= offset) lo = mid + 1;
		else hi = mid;
	}
	return (ssize_t)lo - 1;
}

void stor_log_publish(struct stor_log *log)
{
	atomic_store(&log->ck_recovery_point, log->recovery_point);
	atomic_store(&log->ck_log_start, log->log_start);
	atomic_store(&log->ck_clean_point, log->clean_point);
}

void stor_log_recompute_max_ts(struct stor_log *log)
{
	log->max_ts = -1;
	log->max_ts_off = -1;
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->max_ts > log->max_ts) {
			log->max_ts = s->max_ts;
			log->max_ts_off = s->max_ts_off;
		}
	}
}

void stor_log_go_offline(struct stor_log *log, const char *what, int err)
{
	if (!log->offline)
		stor_logf("%s: %s failed (%s): partition OFFLINE; nothing past durable offset %" PRId64
		          " is acknowledged; appends fail with KAFKA_STORAGE_ERROR until the log is "
		          "reopened and recovered", log->name, what, strerror(-err), log->durable);
	log->offline = true;
	stor_dir_mark_unclean(log->dir);
	stor_sync_fail_all(log, -EROFS);
}

/* --- partition.metadata (Kafka's topic id file) ------------------------------------------ */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Kafka prints a Uuid as URL-safe base64 without padding: 22 characters. */
static void uuid_encode(const uint8_t id[16], char out[23])
{
	int o = 0;
	for (int i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)id[i] << 16;
		if (i + 1 < 16) v |= (uint32_t)id[i + 1] << 8;
		if (i + 2 < 16) v |= id[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < 16) out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < 16) out[o++] = b64url[v & 63];
	}
	out[o] = 0;
}

static int metadata_check(struct stor_log *log, const uint8_t *topic_id)
{
	char want[23];
	uuid_encode(topic_id, want);
	char buf[256];
	int fd = openat(log->dfd, "partition.metadata", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n < 0) return -errno;
		buf[n] = 0;
		const char *p = strstr(buf, "topic_id: ");
		if (p && !strncmp(p + 10, want, 22)) return 0;
		if (p) {
			stor_logf("%s: partition.metadata holds another topic id than %s", log->name, want);
			return -EEXIST;
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	int len = snprintf(buf, sizeof buf, "version: 0\ntopic_id: %s\n", want);
	return rt_file_replace_at(log->dfd, "partition.metadata", buf, (size_t)len);
}

/* --- leader-epoch-checkpoint --------------------------------------------------------------- */

static int epochs_read(struct stor_log *log)
{
	FILE *f;
	long n;
	int rc = stor_ck_open(log->dfd, "leader-epoch-checkpoint", 1000000, &f, &n);
	if (!rc && f && n) {
		log->epochs = calloc((size_t)n, sizeof *log->epochs);
		if (!log->epochs) rc = -ENOMEM;
	}
	for (long i = 0; !rc && f && i < n; i++) {
		if (fscanf(f, "%" SCNd32 " %" SCNd64, &log->epochs[i].epoch, &log->epochs[i].start) != 2)
			rc = -EBADMSG;
		else
			log->nepochs++;
	}
	if (f) fclose(f);
	if (rc == -EBADMSG)
		stor_logf("%s: leader-epoch-checkpoint is malformed; ignoring it", log->name);
	if (log->nepochs) log->epoch = log->epochs[log->nepochs - 1].epoch;
	return rc == -EBADMSG ? 0 : rc;
}

char *stor_log_epochs_text(const struct stor_log *log, size_t *len)
{
	size_t cap = 32 + log->nepochs * 40;
	char *buf = malloc(cap);
	if (!buf) return NULL;
	size_t n = (size_t)snprintf(buf, cap, "0\n%zu\n", log->nepochs);
	for (size_t i = 0; i < log->nepochs; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%" PRId32 " %" PRId64 "\n",
		                      log->epochs[i].epoch, log->epochs[i].start);
	*len = n;
	return buf;
}

static int epochs_write(struct stor_log *log)
{
	size_t len;
	char *buf = stor_log_epochs_text(log, &len);
	if (!buf) return -ENOMEM;
	int dfd = stor_log_dirfd(log);
	int rc = dfd < 0 ? dfd : rt_file_replace_at(dfd, "leader-epoch-checkpoint", buf, len);
	free(buf);
	return rc;
}

int stor_log_set_leader_epoch(struct stor_log *log, int32_t epoch)
{
	if (log->nepochs && log->epochs[log->nepochs - 1].epoch >= epoch) {
		if (epoch < log->epochs[log->nepochs - 1].epoch) return -EINVAL;
		log->epoch = epoch;
		return 0;
	}
	struct stor_epoch_entry *n = realloc(log->epochs, (log->nepochs + 1) * sizeof *n);
	if (!n) return -ENOMEM;
	log->epochs = n;
	log->epochs[log->nepochs++] = (struct stor_epoch_entry){epoch, log->next_offset};
	log->epoch = epoch;
	return epochs_write(log);
}

bool stor_log_trim_epochs(struct stor_log *log, int64_t end)
{
	size_t n = log->nepochs;
	while (n && log->epochs[n - 1].start >= end && end > 0) n--;
	if (n == log->nepochs) return false;
	log->nepochs = n;
	return true;
}

int32_t stor_log_leader_epoch(const struct stor_log *log)
{
	return log->epoch;
}

/* --- open / close / delete ----------------------------------------------------------------- */

static bool valid_topic(const char *t)
{
	size_t n = strlen(t);
	if (!n || n > 249 || !strcmp(t, ".") || !strcmp(t, "..")) return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void log_free(struct stor_log *log)
{
	for (size_t i = 0; i < log->nseg; i++) stor_segment_free(log->segs[i]);
	while (log->grave) {
		struct stor_segment *s = log->grave;
		log->grave = s->grave_next;
		if (!s->replaced) stor_segment_unlink(s);
		stor_segment_free(s);
	}
	stor_spare_discard(log);
	for (int i = 0; i <= STOR_SPARE_FILES; i++) free(log->spare_src[i]);
	for (int i = 0; i < STOR_SPARE_FILES; i++) free(log->spare_dest[i]);
	if (log->dfd >= 0) close(log->dfd);
	free(log->segs);
	free(log->read_win);
	free(log->rh);
	assert(!log->wpass.first);  /* idle: no pass waits for stor_ring_flush */
	stor_wc_free(log);
	free(log->epochs);
	free(log->topic);
	free(log->path);
	free(log->name);
	free(log);
}

static int rm_tree(const char *path);

/* Removes the directory a failed open created.  Out of descriptors (the usual cause) it cannot
 * be listed, so the names an open creates in a fresh directory are unlinked by path (which
 * needs no descriptor) before the rmdir. */
static void rm_fresh(const char *path)
{
	if (!rm_tree(path)) return;
	static const char *const names[] = {
		"partition.metadata", "partition.metadata.tmp", "leader-epoch-checkpoint",
		"leader-epoch-checkpoint.tmp", "00000000000000000000.log", "00000000000000000000.index",
		"00000000000000000000.timeindex", "00000000000000000000.txnindex",
		"00000000000000000000.snapshot",
	};
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(p, sizeof p, "%s/%s", path, names[i]);
		unlink(p);
	}
	if (rmdir(path) && errno != ENOENT)
		stor_logf("%s: cannot remove the directory of a failed open: %s", path, strerror(errno));
}

struct stor_log *stor_log_open(struct stor_dir *d, const char *topic, int32_t partition,
                               const struct stor_config *cfg, const uint8_t *topic_id,
                               struct io_uring *ring, int *err)
{
	int dummy;
	bool created = false;
	if (!err) err = &dummy;
	if (!valid_topic(topic) || partition < 0 || cfg->segment_bytes < KP_BATCH_HEADER_SIZE ||
	    cfg->segment_index_bytes < 4 * STOR_OFF_ENTRY) {
		*err = -EINVAL;
		return NULL;
	}
	struct stor_log *log = calloc(1, sizeof *log);
	if (!log) {
		*err = -ENOMEM;
		return NULL;
	}
	log->dfd = -1;
	for (int i = 0; i < STOR_SPARE_FILES; i++) log->spare_fd[i] = -1;
	log->dir = d;
	log->topic = strdup(topic);
	log->partition = partition;
	log->cfg = *cfg;
	log->ring = ring;
	log->max_ts = -1;
	log->max_ts_off = -1;
	log->txn_rebuild_from = INT64_MAX;
	log->last_flush_ms = stor_now_ms();
	if (asprintf(&log->name, "%s-%" PRId32, topic, partition) < 0) log->name = NULL;
	if (asprintf(&log->path, "%s/%s", stor_dir_path(d), log->name ? log->name : "") < 0) log->path = NULL;
	if (!log->topic || !log->name || !log->path) {
		*err = -ENOMEM;
		goto fail_noreg;
	}
	if (mkdir(log->path, 0755) == 0) created = true;
	else if (errno != EEXIST) {
		*err = -errno;
		goto fail_noreg;
	}
	if (created && (*err = stor_fsync_dir(stor_dir_path(d)))) goto fail_noreg;
	/* Until recovery publishes real values, a concurrent checkpoint keeps the old ones. */
	int64_t rp = stor_dir_lookup(d, "recovery-point-offset-checkpoint", topic, partition, 0);
	log->log_start = stor_dir_lookup(d, "log-start-offset-checkpoint", topic, partition, 0);
	atomic_store(&log->ck_recovery_point, rp);
	atomic_store(&log->ck_log_start, log->log_start);
	log->clean_point = stor_dir_lookup(d, "cleaner-offset-checkpoint", topic, partition, 0);
	atomic_store(&log->ck_clean_point, log->clean_point);
	if ((*err = stor_dir_register(d, log))) {
		stor_logf("%s: already open", log->name);
		goto fail_noreg;
	}
	log->dfd = open(log->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dfd < 0) {
		*err = -errno;
		goto fail;
	}
	if (topic_id && (*err = metadata_check(log, topic_id))) goto fail;
	if ((*err = epochs_read(log))) goto fail;

	if ((*err = stor_recover(log, rp, stor_dir_clean(d)))) goto fail;
	if (log->nseg) stor_segment_txn_hold(stor_log_active(log));
	if (log->clean_point > log->leo) log->clean_point = log->leo;  /* the tail was cut */
	stor_log_publish(log);
	/* Recovery opened every file; from here on the log holds only its .log descriptors (and
	 * what a due sync needs), see fds.c. */
	stor_log_fds_release(log, true);
	return log;
fail:
	stor_dir_unregister_only(d, log);
fail_noreg:;
	/* (The `;` above: a label followed by a declaration is C23; clang, which builds the fuzz
	 * targets, refuses it in C11.)  A directory this open created holds nothing but what the
	 * open itself put there: it goes, so that a failed open (out of descriptors, say) leaves no
	 * partition behind whose partition.metadata would refuse the topic when it is created again. */
	char *gone = created ? log->path : NULL;
	if (gone) log->path = NULL;
	log_free(log);  /* first: its descriptors are what the removal may lack */
	if (gone) rm_fresh(gone);
	free(gone);
	return NULL;
}

bool stor_log_idle(const struct stor_log *log)
{
	return log->inflight == 0 && !log->wq_head;
}

static int flush_all(struct stor_log *log)
{
	int rc = 0;
	for (size_t i = 0; i < log->nseg; i++) {
		struct stor_segment *s = log->segs[i];
		/* Below the recovery point everything was flushed already. */
		bool flushed = i + 1 < log->nseg && log->segs[i + 1]->base <= log->recovery_point &&
		               !s->dirty && !s->idx_dirty && !s->idx_bad && s->on_disk == s->on &&
		               s->tn_disk == s->tn && !s->txn_dirty;
		if (flushed) continue;
		/* The zeros kept ahead of the appends go: after a clean stop a file is its data. */
		int t = stor_pa_trim_sync(s);
		if (t && !rc) rc = t;
		if (s->idx_bad || s->on_disk != s->on || s->tn_disk != s->tn) {
			int e = stor_segment_write_index_sync(s);
			if (e && !rc) rc = e;
		}
		/* Descriptors closed while idle are opened for it (fds.c); a .txnindex without one
		 * has no write since its last sync. */
		int o = stor_segment_aux_open_sync(s);
		if (o && !rc) rc = o;
		if (!o && (fdatasync(s->fd) || fdatasync(s->ifd) || fdatasync(s->tfd) ||
		           (s->txn && stor_txnidx_fd(s->txn) >= 0 && stor_txnidx_sync(s->txn)))) {
			if (!rc) rc = -errno;
		}
		s->txn_dirty = false;
	}
	int dfd = stor_log_dirfd(log);
	if ((dfd < 0 || fsync(dfd)) && !rc) rc = dfd < 0 ? dfd : -errno;
	return rc;
}

int stor_log_close(struct stor_log *log)
{
	assert(stor_log_idle(log));
	for (size_t i = 0; i < log->nseg; i++) assert(log->segs[i]->refs == 0);
	int rc = 0;
	if (!log->offline) {
		/* The active segment gets its final time index entry too, as Kafka's close does. */
		struct stor_segment *a = stor_log_active(log);
		if (a) stor_segment_seal_timeindex(a);
		rc = flush_all(log);
		if (!rc) {
			log->recovery_point = log->leo;
			log->durable = log->leo;
		} else {
			stor_logf("%s: flush at close failed (%s); the next open recovers the tail", log->name,
			          strerror(-rc));
		}
	} else {
		rc = -EROFS;
	}
	if (rc) stor_dir_mark_unclean(log->dir);
	stor_log_publish(log);
	stor_dir_unregister(log->dir, log);
	log_free(log);
	return rc;
}

static int rm_tree(const char *path)
{
	DIR *dp = opendir(path);
	if (!dp) return -errno;
	int dfd = dirfd(dp);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
		if (unlinkat(dfd, e->d_name, 0) && !rc) rc = -errno;
	}
	closedir(dp);
	if (rmdir(path) && !rc) rc = -errno;
	return rc;
}

/* The deletion itself: rename, directory fsync, registry, files.  Any thread (the log is no
 * longer reachable from its shard).  Frees log.  0 or -errno. */
static int delete_now(struct stor_log *log)
{
	char *gone = NULL;
	static _Atomic unsigned seq;
	/* Renamed first (Kafka's "-delete" suffix) so a crash midway leaves nothing that loads. */
	if (asprintf(&gone, "%s.%u-%ld-delete", log->path, atomic_fetch_add(&seq, 1), (long)getpid()) < 0)
		gone = NULL;
	int rc = 0;
	if (!gone) rc = -ENOMEM;
	else if (rename(log->path, gone)) rc = -errno;
	else rc = stor_fsync_dir(stor_dir_path(log->dir));
	/* Unregistered only now: until the rename is durable the name is taken, so a partition
	 * re-created under it (stor_dir_register: -EBUSY meanwhile) never opens the old files. */
	stor_dir_unregister(log->dir, log);
	stor_dir_forget(log->dir, log->topic, log->partition);
	log_free(log);
	if (!rc) rc = rm_tree(gone);
	free(gone);
	return rc;
}

int stor_log_delete(struct stor_log *log)
{
	assert(stor_log_idle(log));
	return delete_now(log);
}

struct delete_job {
	struct stor_bg_job j;
	struct stor_log *log;       /* owned by the job until run frees it */
	char name[272];
};

static void delete_run(struct stor_bg_job *bj)
{
	struct delete_job *dj = rt_container_of(bj, struct delete_job, j);
	bj->res = delete_now(dj->log);
	dj->log = NULL;
}

static void delete_done(struct stor_bg_job *bj, int32_t res)
{
	struct delete_job *dj = rt_container_of(bj, struct delete_job, j);
	if (res < 0) stor_logf("%s: deleting the partition's files failed: %s", dj->name, strerror(-res));
	free(dj);
}

int stor_log_delete_bg(struct stor_log *log, struct stor_bg *bg)
{
	assert(stor_log_idle(log));
	for (size_t i = 0; i < log->nseg; i++) assert(log->segs[i]->refs == 0);
	struct delete_job *dj = calloc(1, sizeof *dj);
	if (!dj) return stor_log_delete(log);  /* out of memory: block rather than leak the files */
	dj->log = log;
	snprintf(dj->name, sizeof dj->name, "%s", log->name);
	stor_bg_submit(bg, &dj->j, delete_run, delete_done);
	return 0;
}

void stor_log_set_roll_hook(struct stor_log *log, stor_roll_fn fn, void *arg)
{
	log->roll_hook = fn;
	log->roll_arg = fn ? arg : NULL;
}

void stor_log_set_config(struct stor_log *log, const struct stor_config *cfg)
{
	/* The index mappings were sized by segment.index.bytes at open; new segments use the new
	 * size, which is also what Kafka does. */
	log->cfg = *cfg;
}

int64_t stor_log_start_offset(const struct stor_log *log) { return log->log_start; }
int64_t stor_log_end_offset(const struct stor_log *log) { return log->leo; }
int64_t stor_log_high_watermark(const struct stor_log *log) { return log->leo; }
int64_t stor_log_durable_offset(const struct stor_log *log) { return log->durable; }
int64_t stor_log_recovery_point(const struct stor_log *log) { return log->recovery_point; }
bool stor_log_offline(const struct stor_log *log) { return log->offline; }
size_t stor_log_segment_count(const struct stor_log *log) { return log->nseg; }

uint64_t stor_log_size(const struct stor_log *log)
{
	uint64_t n = 0;
	for (size_t i = 0; i < log->nseg; i++) n += log->segs[i]->visible;
	return n;
}
