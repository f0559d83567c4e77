/*
 * base/file_replace.h: replacing a small file whole, so that a crash leaves either the old
 * contents or the new ones, never a mix (the topic registry, the dynamic broker configs, the
 * storage checkpoints and metadata files).
 *
 * The sequence: write "<name>.tmp", fsync it, rename it over <name>, fsync the directory.  The
 * fsync before the rename makes the data durable before it gets the name (otherwise a crash can
 * leave the new name on an empty file); the directory fsync makes the rename itself durable
 * before the caller relies on it.  A crash at any point leaves <name> whole, plus at worst a
 * stale "<name>.tmp" that the next call truncates (storage's recovery removes *.tmp too).
 *
 * Blocking system calls: for start-up, admin requests and background workers, never for a
 * shard's data path (that goes through io_uring: storage/spare.c).
 */
#ifndef RT_FILE_REPLACE_H
#define RT_FILE_REPLACE_H

#include <stddef.h>
#include <stdio.h>

/* Replaces the file `name` in the directory open as `dirfd` with the `len` bytes at `data`.
 * Borrows everything; `name` is a plain file name (no '/') and dirfd stays open.
 * Returns 0, or -errno of the first call that failed (-ENAMETOOLONG when "<name>.tmp" does not
 * fit in NAME_MAX).  On a failure before the rename, "<name>.tmp" is removed and <name> is
 * untouched; a failed directory fsync comes after the rename, so <name> may already hold the new
 * contents but the caller must not count on it surviving a crash. */
int rt_file_replace_at(int dirfd, const char *name, const void *data, size_t len);

/* The same for the file `name` of the directory at path `dir` (opened and closed here).
 * Returns 0 or -errno (opening the directory included). */
int rt_file_replace(const char *dir, const char *name, const void *data, size_t len);

/* The same for text made by `print`, which writes it to `out` (a memory stream: its fprintf
 * calls cannot fail on a disk) from `arg` (borrowed).  For files made of formatted lines, so
 * that every caller need not build and free its buffer.  Returns 0 or -errno (-ENOMEM when the
 * text cannot be held in memory). */
int rt_file_replace_print(const char *dir, const char *name, void (*print)(FILE *out, const void *arg),
                          const void *arg);

#endif
