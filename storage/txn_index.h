/*
 * storage/txn_index.h: the aborted-transaction index of one segment (prefix stor_txnidx_),
 * Kafka's "<20-digit base offset>.txnindex", and the queries read_committed fetches make.
 *
 * File format: a sequence of 34-byte entries, one per aborted transaction whose ABORT marker is
 * in the segment, in marker order (big-endian):
 *     0  int16  version (0)
 *     2  int64  producer id
 *    10  int64  first offset of the transaction
 *    18  int64  last offset (the ABORT marker's)
 *    26  int64  last stable offset right after the abort
 * A torn tail (a partial entry after a crash) is dropped at open; recovery rebuilds entries past
 * the recovery point from the log (producer_state.h gives them as struct stor_ps_txn_done).
 *
 * A fetch with isolation_level=read_committed from offset f up to the last stable offset u lists
 * every aborted transaction with last offset >= f and first offset < u.  It walks the indexes of
 * the segments from the one holding f onwards and can stop at the first entry whose last stable
 * offset is >= u (no later segment can hold a transaction that started below u).
 *
 * Threads: owned by the partition's owner shard.  Opens and stor_txnidx_append block (read,
 * pwrite); stor_txnidx_push does no I/O and leaves the write to the caller (the shard's ring,
 * storage/aborted.c).  Queries do no I/O.
 */
#ifndef STOR_TXN_INDEX_H
#define STOR_TXN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STOR_TXNIDX_ENTRY 34

struct stor_aborted_txn {
	int64_t producer_id;
	int64_t first_offset;
	int64_t last_offset;
	int64_t last_stable_offset;
};

struct stor_txnidx;

/* Opens (creating when missing) the index file at path and reads its entries, dropping a
 * partial last entry (truncating the file).  Blocking.  Returns an owned index or NULL with
 * *err: -EBADMSG (an entry with a version other than 0, or entries out of order), -errno. */
struct stor_txnidx *stor_txnidx_open(const char *path, int *err);
/* The same on a file already open for reading and writing: takes fd (closed on failure too). */
struct stor_txnidx *stor_txnidx_open_fd(int fd, int *err);
/* An index over fd, a file known to be empty (just created): no I/O.  Takes fd (on success).
 * NULL on out of memory. */
struct stor_txnidx *stor_txnidx_new(int fd);
/* Frees the index and returns its descriptor, still open (the caller closes it, e.g. through
 * its ring). */
int stor_txnidx_release(struct stor_txnidx *x);
/* Closes the file and frees the index. */
void stor_txnidx_close(struct stor_txnidx *x);

/* Appends one aborted transaction (its last offset must be above every entry's).  Blocking
 * pwrite; durable with the segment's next fdatasync of this file (stor_txnidx_sync).
 * Returns 0, -EINVAL (out of order) or -errno (nothing recorded then). */
int stor_txnidx_append(struct stor_txnidx *x, const struct stor_aborted_txn *t);
/* Records t in memory and encodes its entry into out, to be written by the caller at file
 * position *pos (no I/O here).  Until that write is durable the entry is only in memory; a
 * failed write must be handled by the caller (the file no longer mirrors the entries).
 * Returns 0, -EINVAL (out of order) or -ENOMEM. */
int stor_txnidx_push(struct stor_txnidx *x, const struct stor_aborted_txn *t, uint8_t out[STOR_TXNIDX_ENTRY],
                     uint64_t *pos);
/* fdatasync of the file.  0 or -errno. */
int stor_txnidx_sync(struct stor_txnidx *x);
/* Drops every entry whose last offset is >= offset (log truncation).  Blocking.  0 or -errno. */
int stor_txnidx_truncate(struct stor_txnidx *x, int64_t offset);
/* The same in memory only: returns the entries left (the file's length is that many entries;
 * the caller cuts the file, off the owner shard).  No I/O. */
size_t stor_txnidx_cut(struct stor_txnidx *x, int64_t offset);

/* The index file's descriptor (borrowed: for an fdatasync queued by the owner), -1 while the
 * owner has it closed (stor_txnidx_take_fd). */
int stor_txnidx_fd(const struct stor_txnidx *x);
/* Takes the descriptor out (the caller closes it; the entries stay): -1 when there was none. */
int stor_txnidx_take_fd(struct stor_txnidx *x);
/* Gives the index a descriptor of its file again (it had none). */
void stor_txnidx_give_fd(struct stor_txnidx *x, int fd);

size_t stor_txnidx_count(const struct stor_txnidx *x);
const struct stor_aborted_txn *stor_txnidx_entry(const struct stor_txnidx *x, size_t i);

/* Adds to out[] (capacity cap, count in *n) every entry with last_offset >= fetch_offset and
 * first_offset < upper (the fetch's last stable offset).  Returns true when the search is
 * complete (an entry's last stable offset reached upper: later segments need not be searched).
 * Entries beyond cap are counted in *n but not written (the caller grows and asks again). */
bool stor_txnidx_collect(const struct stor_txnidx *x, int64_t fetch_offset, int64_t upper,
                         struct stor_aborted_txn *out, size_t cap, size_t *n);

#endif
