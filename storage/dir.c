/*
 * storage/dir.c: a log directory: its lock file, its two checkpoint files, its clean-shutdown
 * marker, and the registry of the logs open in it.
 *
 * Checkpoint format (Kafka's CheckpointFile, version 0):
 *     0
 *     <number of lines>
 *     <topic> <partition> <offset>
 *     ...
 * The registry keeps one entry per partition ever seen: the values read at open, replaced by an
 * open log's live values (atomics that the owner shard publishes), so a checkpoint written on any
 * thread covers every partition without touching a shard.  The mutex is taken only at open,
 * close and checkpoint, never on the data path.
 *
 * ".kafka_cleanshutdown" is written by stor_dir_close when every log closed cleanly and removed
 * at open; while it exists, opening a log trusts its indexes instead of scanning its tail.
 */
#include <dirent.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file_replace.h"
#include "storage/internal.h"

#define CLEAN_MARKER ".kafka_cleanshutdown"
#define RP_FILE "recovery-point-offset-checkpoint"
#define LSO_FILE "log-start-offset-checkpoint"
#define CLEAN_FILE "cleaner-offset-checkpoint"  /* Kafka's: the compacted logs' clean points */

struct ck_entry {
	char *topic;
	int32_t partition;
	int64_t rp, lso, clean;     /* -1 when the file had no line for it */
	struct stor_log *log;       /* open log, or NULL */
};

struct stor_dir {
	char *path;
	int fd;                     /* the directory */
	int lockfd;
	pthread_mutex_t mu;
	struct ck_entry *e;
	size_t n, cap;
	bool clean;                 /* the marker was there at open */
	_Atomic bool unclean;       /* a log failed: do not write the marker at close */
};

int stor_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int stor_ck_open(int dirfd, const char *name, long max, FILE **fp, long *n)
{
	*fp = NULL;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? 0 : -errno;
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	int ver;
	if (fscanf(f, "%d %ld", &ver, n) != 2 || ver != 0 || *n < 0 || *n > max) {
		fclose(f);
		return -EBADMSG;
	}
	*fp = f;
	return 0;
}

static struct ck_entry *entry_find(struct stor_dir *d, const char *topic, int32_t partition, bool add)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->e[i].partition == partition && !strcmp(d->e[i].topic, topic)) return &d->e[i];
	if (!add) return NULL;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct ck_entry *n = realloc(d->e, cap * sizeof *n);
		if (!n) return NULL;
		d->e = n;
		d->cap = cap;
	}
	char *t = strdup(topic);
	if (!t) return NULL;
	d->e[d->n] = (struct ck_entry){.topic = t, .partition = partition, .rp = -1, .lso = -1, .clean = -1};
	return &d->e[d->n++];
}

/* which: 0 recovery point, 1 log start, 2 clean point. */
static int ck_read(struct stor_dir *d, const char *file, int which)
{
	FILE *f;
	long n;
	int rc = stor_ck_open(d->fd, file, LONG_MAX, &f, &n);
	char topic[256];
	for (long i = 0; !rc && f && i < n; i++) {
		int32_t p;
		int64_t off;
		if (fscanf(f, "%255s %" SCNd32 " %" SCNd64, topic, &p, &off) != 3 || p < 0 || off < 0) {
			rc = -EBADMSG;
			break;
		}
		struct ck_entry *e = entry_find(d, topic, p, true);
		if (!e) {
			rc = -ENOMEM;
			break;
		}
		int64_t *slot[] = {&e->rp, &e->lso, &e->clean};
		*slot[which] = off;
	}
	if (f) fclose(f);
	if (rc == -EBADMSG) stor_logf("%s/%s: not a version 0 checkpoint file", d->path, file);
	return rc;
}

static void dir_free(struct stor_dir *d)
{
	for (size_t i = 0; i < d->n; i++) free(d->e[i].topic);
	free(d->e);
	if (d->lockfd >= 0) close(d->lockfd);
	if (d->fd >= 0) close(d->fd);
	pthread_mutex_destroy(&d->mu);
	free(d->path);
	free(d);
}

struct stor_dir *stor_dir_open(const char *path, int *err)
{
	int dummy;
	if (!err) err = &dummy;
	struct stor_dir *d = calloc(1, sizeof *d);
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	d->fd = d->lockfd = -1;
	pthread_mutex_init(&d->mu, NULL);
	d->path = strdup(path);
	if (!d->path) {
		*err = -ENOMEM;
		goto fail;
	}
	if (mkdir(path, 0755) && errno != EEXIST) {
		*err = -errno;
		goto fail;
	}
	d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0) {
		*err = -errno;
		goto fail;
	}
	d->lockfd = openat(d->fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lockfd < 0) {
		*err = -errno;
		goto fail;
	}
	if (flock(d->lockfd, LOCK_EX | LOCK_NB)) {
		*err = errno == EWOULDBLOCK ? -EWOULDBLOCK : -errno;
		if (*err == -EWOULDBLOCK)
			stor_logf("%s: locked by another process (.lock); one process per log dir", path);
		goto fail;
	}
	if ((*err = ck_read(d, RP_FILE, 0)) || (*err = ck_read(d, LSO_FILE, 1)) ||
	    (*err = ck_read(d, CLEAN_FILE, 2)))
		goto fail;
	if (faccessat(d->fd, CLEAN_MARKER, F_OK, 0) == 0) {
		d->clean = true;
		/* Removed now, so that a crash from here on is not taken for a clean stop. */
		if (unlinkat(d->fd, CLEAN_MARKER, 0) || fsync(d->fd)) {
			*err = -errno;
			goto fail;
		}
	}
	*err = 0;
	return d;
fail:
	dir_free(d);
	return NULL;
}

const char *stor_dir_path(const struct stor_dir *d)
{
	return d->path;
}

bool stor_dir_clean(struct stor_dir *d)
{
	return d->clean;
}

void stor_dir_mark_unclean(struct stor_dir *d)
{
	atomic_store(&d->unclean, true);
}

int64_t stor_dir_lookup(struct stor_dir *d, const char *file, const char *topic, int32_t partition,
                        int64_t dflt)
{
	pthread_mutex_lock(&d->mu);
	struct ck_entry *e = entry_find(d, topic, partition, false);
	int64_t v = dflt;
	if (e) {
		int64_t x = !strcmp(file, RP_FILE) ? e->rp : !strcmp(file, LSO_FILE) ? e->lso : e->clean;
		if (x >= 0) v = x;
	}
	pthread_mutex_unlock(&d->mu);
	return v;
}

int stor_dir_register(struct stor_dir *d, struct stor_log *log)
{
	pthread_mutex_lock(&d->mu);
	struct ck_entry *e = entry_find(d, log->topic, log->partition, true);
	int rc = !e ? -ENOMEM : e->log ? -EBUSY : 0;
	if (!rc) e->log = log;
	pthread_mutex_unlock(&d->mu);
	return rc;
}

void stor_dir_unregister(struct stor_dir *d, struct stor_log *log)
{
	pthread_mutex_lock(&d->mu);
	struct ck_entry *e = entry_find(d, log->topic, log->partition, false);
	if (e && e->log == log) {
		e->rp = atomic_load(&log->ck_recovery_point);
		e->lso = atomic_load(&log->ck_log_start);
		e->clean = atomic_load(&log->ck_clean_point);
		e->log = NULL;
	}
	pthread_mutex_unlock(&d->mu);
}

void stor_dir_unregister_only(struct stor_dir *d, struct stor_log *log)
{
	pthread_mutex_lock(&d->mu);
	struct ck_entry *e = entry_find(d, log->topic, log->partition, false);
	if (e && e->log == log) e->log = NULL;
	pthread_mutex_unlock(&d->mu);
}

void stor_dir_forget(struct stor_dir *d, const char *topic, int32_t partition)
{
	pthread_mutex_lock(&d->mu);
	struct ck_entry *e = entry_find(d, topic, partition, false);
	if (e) {
		free(e->topic);
		*e = d->e[--d->n];
	}
	pthread_mutex_unlock(&d->mu);
}

static int64_t ck_value(const struct ck_entry *e, int which)
{
	if (e->log) {
		const struct stor_log *l = e->log;
		return atomic_load(which == 0 ? &l->ck_recovery_point : which == 1 ? &l->ck_log_start : &l->ck_clean_point);
	}
	return which == 0 ? e->rp : which == 1 ? e->lso : e->clean;
}

/* which as for ck_read; the cleaner file lists only logs with a clean point, as Kafka's does. */
static int ck_write(struct stor_dir *d, const char *file, int which)
{
	size_t cap = 32, len = 0, lines = 0;
	for (size_t i = 0; i < d->n; i++) cap += strlen(d->e[i].topic) + 48;
	char *buf = malloc(cap);
	if (!buf) return -ENOMEM;
	int64_t min = which == 2 ? 1 : 0;
	for (size_t i = 0; i < d->n; i++)
		if (ck_value(&d->e[i], which) >= min) lines++;
	len = (size_t)snprintf(buf, cap, "0\n%zu\n", lines);
	for (size_t i = 0; i < d->n; i++) {
		struct ck_entry *e = &d->e[i];
		int64_t v = ck_value(e, which);
		if (v >= min)
			len += (size_t)snprintf(buf + len, cap - len, "%s %" PRId32 " %" PRId64 "\n", e->topic,
			                        e->partition, v);
	}
	int rc = rt_file_replace_at(d->fd, file, buf, len);
	free(buf);
	return rc;
}

int stor_dir_checkpoint(struct stor_dir *d)
{
	pthread_mutex_lock(&d->mu);
	int rc = ck_write(d, RP_FILE, 0);
	if (!rc) rc = ck_write(d, LSO_FILE, 1);
	if (!rc) rc = ck_write(d, CLEAN_FILE, 2);
	pthread_mutex_unlock(&d->mu);
	if (rc) stor_logf("%s: writing checkpoints failed: %s", d->path, strerror(-rc));
	return rc;
}

int stor_dir_close(struct stor_dir *d)
{
	for (size_t i = 0; i < d->n; i++) assert(!d->e[i].log);
	int rc = stor_dir_checkpoint(d);
	if (!rc && !atomic_load(&d->unclean)) {
		int fd = openat(d->fd, CLEAN_MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || fsync(fd) || fsync(d->fd)) rc = -errno;
		if (fd >= 0) close(fd);
	}
	dir_free(d);
	return rc;
}

int stor_dir_list(struct stor_dir *d, void (*fn)(void *arg, const char *topic, int32_t partition),
                  void *arg)
{
	DIR *dp = opendir(d->path);
	if (!dp) return -errno;
	struct dirent *e;
	char topic[256];
	while ((e = readdir(dp))) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		if (n[0] == '.' || len >= sizeof topic) continue;
		if (len > 7 && (!strcmp(n + len - 7, "-delete") || !strcmp(n + len - 7, "-future"))) continue;
		const char *dash = strrchr(n, '-');
		if (!dash || dash == n || !dash[1]) continue;
		char *end;
		long p = strtol(dash + 1, &end, 10);
		if (*end || p < 0 || p > INT32_MAX) continue;
		struct stat st;
		if (fstatat(dirfd(dp), n, &st, 0) || !S_ISDIR(st.st_mode)) continue;
		memcpy(topic, n, (size_t)(dash - n));
		topic[dash - n] = 0;
		fn(arg, topic, (int32_t)p);
	}
	closedir(dp);
	return 0;
}
