/*
 * storage/txn_index.c: one segment's .txnindex (format in txn_index.h).
 *
 * Invariant: `e` mirrors the file's whole entries exactly, ordered by last offset; the file
 * never holds a partial entry after open or truncate.
 */
#include "storage/txn_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"

struct stor_txnidx {
	int fd;
	struct stor_aborted_txn *e;
	size_t n, cap;
};

static int grow(struct stor_txnidx *x, size_t need)
{
	if (need <= x->cap)
		return 0;
	size_t cap = x->cap ? x->cap * 2 : 8;
	while (cap < need)
		cap *= 2;
	struct stor_aborted_txn *e = realloc(x->e, cap * sizeof(*e));
	if (!e)
		return -ENOMEM;
	x->e = e;
	x->cap = cap;
	return 0;
}

static void decode(const uint8_t *p, struct stor_aborted_txn *t)
{
	t->producer_id = (int64_t)rt_be64_get(p + 2);
	t->first_offset = (int64_t)rt_be64_get(p + 10);
	t->last_offset = (int64_t)rt_be64_get(p + 18);
	t->last_stable_offset = (int64_t)rt_be64_get(p + 26);
}

static void encode(uint8_t *p, const struct stor_aborted_txn *t)
{
	rt_be16_put(p, 0);
	rt_be64_put(p + 2, (uint64_t)t->producer_id);
	rt_be64_put(p + 10, (uint64_t)t->first_offset);
	rt_be64_put(p + 18, (uint64_t)t->last_offset);
	rt_be64_put(p + 26, (uint64_t)t->last_stable_offset);
}

struct stor_txnidx *stor_txnidx_open(const char *path, int *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	return stor_txnidx_open_fd(fd, err);
}

struct stor_txnidx *stor_txnidx_open_fd(int fd, int *err)
{
	struct stor_txnidx *x = stor_txnidx_new(fd);
	int rc = 0;
	if (!x) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	struct stat st;
	if (fstat(x->fd, &st)) {
		rc = -errno;
		goto fail;
	}
	size_t whole = (size_t)st.st_size / STOR_TXNIDX_ENTRY;
	if ((rc = grow(x, whole)))
		goto fail;
	uint8_t buf[STOR_TXNIDX_ENTRY * 64];
	size_t done = 0;
	while (done < whole) {
		size_t k = whole - done < 64 ? whole - done : 64;
		ssize_t r = pread(x->fd, buf, k * STOR_TXNIDX_ENTRY, (off_t)(done * STOR_TXNIDX_ENTRY));
		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)(k * STOR_TXNIDX_ENTRY)) {
			rc = r < 0 ? -errno : -EIO;
			goto fail;
		}
		for (size_t i = 0; i < k; i++) {
			const uint8_t *p = buf + i * STOR_TXNIDX_ENTRY;
			struct stor_aborted_txn *t = &x->e[done + i];
			if (rt_be16_get(p) != 0) {
				rc = -EBADMSG;
				goto fail;
			}
			decode(p, t);
			if (t->first_offset > t->last_offset ||
			    (done + i > 0 && t->last_offset <= x->e[done + i - 1].last_offset)) {
				rc = -EBADMSG;
				goto fail;
			}
		}
		done += k;
	}
	x->n = whole;
	if ((off_t)(whole * STOR_TXNIDX_ENTRY) != st.st_size &&
	    ftruncate(x->fd, (off_t)(whole * STOR_TXNIDX_ENTRY))) {
		rc = -errno;
		goto fail;
	}
	return x;
fail:
	stor_txnidx_close(x);
	*err = rc;
	return NULL;
}

struct stor_txnidx *stor_txnidx_new(int fd)
{
	struct stor_txnidx *x = calloc(1, sizeof(*x));
	if (x)
		x->fd = fd;
	return x;
}

int stor_txnidx_take_fd(struct stor_txnidx *x)
{
	int fd = x->fd;
	x->fd = -1;
	return fd;
}

void stor_txnidx_give_fd(struct stor_txnidx *x, int fd)
{
	x->fd = fd;
}

int stor_txnidx_release(struct stor_txnidx *x)
{
	int fd = x->fd;
	free(x->e);
	free(x);
	return fd;
}

/* Room for t as the next entry, which must end after the last one: 0, -EINVAL or -ENOMEM.
 * The one check of an entry's order for both ways of appending (push and append). */
static int reserve(struct stor_txnidx *x, const struct stor_aborted_txn *t)
{
	if (t->first_offset > t->last_offset || (x->n && t->last_offset <= x->e[x->n - 1].last_offset))
		return -EINVAL;
	return grow(x, x->n + 1);
}

int stor_txnidx_push(struct stor_txnidx *x, const struct stor_aborted_txn *t, uint8_t out[STOR_TXNIDX_ENTRY],
                     uint64_t *pos)
{
	int rc = reserve(x, t);
	if (rc)
		return rc;
	encode(out, t);
	*pos = (uint64_t)x->n * STOR_TXNIDX_ENTRY;
	x->e[x->n++] = *t;
	return 0;
}

void stor_txnidx_close(struct stor_txnidx *x)
{
	if (!x)
		return;
	int fd = stor_txnidx_release(x);
	if (fd >= 0)
		close(fd);
}

int stor_txnidx_append(struct stor_txnidx *x, const struct stor_aborted_txn *t)
{
	int rc = reserve(x, t);
	if (rc)
		return rc;
	uint8_t p[STOR_TXNIDX_ENTRY];
	encode(p, t);
	off_t at = (off_t)(x->n * STOR_TXNIDX_ENTRY);
	ssize_t w;
	do
		w = pwrite(x->fd, p, sizeof(p), at);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(p)) {
		rc = w < 0 ? -errno : -ENOSPC;
		/* leave no partial entry behind */
		if (ftruncate(x->fd, at))
			rc = rc ? rc : -errno;
		return rc;
	}
	x->e[x->n++] = *t;
	return 0;
}

int stor_txnidx_sync(struct stor_txnidx *x)
{
	return fdatasync(x->fd) ? -errno : 0;
}

size_t stor_txnidx_cut(struct stor_txnidx *x, int64_t offset)
{
	while (x->n && x->e[x->n - 1].last_offset >= offset)
		x->n--;
	return x->n;
}

int stor_txnidx_truncate(struct stor_txnidx *x, int64_t offset)
{
	size_t n = x->n;
	while (n && x->e[n - 1].last_offset >= offset)
		n--;
	if (n == x->n)
		return 0;
	if (ftruncate(x->fd, (off_t)(n * STOR_TXNIDX_ENTRY)))
		return -errno;
	x->n = n;
	return 0;
}

int stor_txnidx_fd(const struct stor_txnidx *x)
{
	return x->fd;
}

size_t stor_txnidx_count(const struct stor_txnidx *x)
{
	return x->n;
}

const struct stor_aborted_txn *stor_txnidx_entry(const struct stor_txnidx *x, size_t i)
{
	return i < x->n ? &x->e[i] : NULL;
}

bool stor_txnidx_collect(const struct stor_txnidx *x, int64_t fetch_offset, int64_t upper,
                         struct stor_aborted_txn *out, size_t cap, size_t *n)
{
	for (size_t i = 0; i < x->n; i++) {
		const struct stor_aborted_txn *t = &x->e[i];
		if (t->last_offset >= fetch_offset && t->first_offset < upper) {
			if (*n < cap)
				out[*n] = *t;
			(*n)++;
		}
		if (t->last_stable_offset >= upper)
			return true;
	}
	return false;
}
