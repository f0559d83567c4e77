/*
 * base/file_replace.c: a small file replaced whole through a temporary file (see file_replace.h).
 */
#include "base/file_replace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A regular file reports a full disk as -ENOSPC on the next write, so a short write
		 * just continues. */
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int rt_file_replace_at(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	if (strchr(name, '/'))
		return -EINVAL;
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", name) >= sizeof tmp)
		return -ENAMETOOLONG;
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, data, len);
	if (!rc && fsync(fd))
		rc = -errno;
	/* close can report a deferred write error (NFS); it must not hide an earlier one. */
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, name))
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	return fsync(dirfd) ? -errno : 0;
}

int rt_file_replace(const char *dir, const char *name, const void *data, size_t len)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	int rc = rt_file_replace_at(dfd, name, data, len);
	close(dfd);
	return rc;
}

int rt_file_replace_print(const char *dir, const char *name, void (*print)(FILE *out, const void *arg),
                          const void *arg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return -ENOMEM;
	print(out, arg);
	bool bad = ferror(out);
	/* fclose sets text and len for the last time; a failed one leaves them unusable. */
	if (fclose(out) || bad) {
		free(text);
		return -ENOMEM;
	}
	int rc = rt_file_replace(dir, name, text, len);
	free(text);
	return rc;
}
