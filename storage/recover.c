/*
 * storage/recover.c: loading a partition's segments at open and recovering an unclean tail.
 *
 * Segments below the recovery point were flushed (data and indexes) before the checkpoint said
 * so: their indexes are loaded and sanity-checked, and rebuilt from the log if missing or
 * inconsistent.  Every segment from the one holding the recovery point on is scanned batch by
 * batch: length within the file, magic 2 header, CRC-32C, base offsets increasing.  The scan
 * stops at the first batch that fails; the segment is truncated there, every later segment is
 * deleted, and one log line says what went: bytes, offsets and why.  After an unclean stop this
 * is what removes a torn tail, the garbage of a half-written page, or writes that landed after a
 * hole.  Start-up may block, so this file uses plain pread/ftruncate/fdatasync.
 * The aborted-transaction indexes of scanned segments are trimmed to the log and marked for
 * re-derivation from the log by the producer state's replay (aborted.c says how).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/internal.h"

#define SCAN_CHUNK ((size_t)4 << 20)

static uint64_t file_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? 0 : (uint64_t)st.st_size;
}

static void describe_drop(struct stor_segment *s, uint64_t pos, char *out, size_t n);

int stor_recover_scan(struct stor_log *log, struct stor_segment *s, uint64_t from, int64_t expect,
                      uint64_t *dropped, const char **why, char *claim, size_t claim_n)
{
	uint64_t size = file_size(s->fd);
	size_t cap = SCAN_CHUNK;
	uint8_t *buf = malloc(cap);
	if (!buf) return -ENOMEM;
	posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	uint64_t bpos = from;       /* file position of buf[0] */
	size_t blen = 0;
	uint64_t pos = from;
	int rc = 0;
	bool zero_tail = false;
	*why = NULL;
	while (pos < size) {
		size_t off = (size_t)(pos - bpos);
		size_t avail = blen - off;
		size_t need = KP_BATCH_LOG_OVERHEAD;
		if (avail >= KP_BATCH_LOG_OVERHEAD) {
			size_t sz = kp_batch_size(buf + off, avail);
			if (sz < KP_BATCH_HEADER_SIZE) {
				/* Zeros to the end of the file are the preallocated tail (prealloc.c): the end
				 * of the log, not data.  A zero length followed by anything else is torn. */
				zero_tail = stor_pa_zero_tail(s->fd, pos, size);
				*why = zero_tail ? "preallocated zero tail" : "bad batch length";
				break;
			}
			if (pos + sz > size) {
				*why = "batch runs past the end of the file (torn write)";
				break;
			}
			need = sz;
		} else if (size - pos < KP_BATCH_LOG_OVERHEAD) {
			zero_tail = stor_pa_zero_tail(s->fd, pos, size);
			*why = zero_tail ? "preallocated zero tail"
			                 : "a partial batch header at the end of the file (torn write)";
			break;
		}
		if (avail < need) {
			/* Refill: move the partial batch to the front and read the next chunk behind it. */
			if (need > cap) {
				uint8_t *n = realloc(buf, need);
				if (!n) {
					rc = -ENOMEM;
					break;
				}
				buf = n;
				cap = need;
			}
			memmove(buf, buf + off, avail);
			bpos = pos;
			blen = avail;
			size_t want = cap - blen;
			if (want > size - (bpos + blen)) want = (size_t)(size - (bpos + blen));
			while (want) {
				ssize_t r = pread(s->fd, buf + blen, want, (off_t)(bpos + blen));
				if (r < 0 && errno == EINTR) continue;
				if (r < 0) {
					rc = -errno;
					break;
				}
				if (r == 0) break;
				blen += (size_t)r;
				want -= (size_t)r;
			}
			if (rc) break;
			/* Start reading the next chunks now so the disk works while we check this one. */
			posix_fadvise(s->fd, (off_t)(bpos + blen), (off_t)(2 * SCAN_CHUNK), POSIX_FADV_WILLNEED);
			continue;
		}
		uint8_t *b = buf + off;
		struct kp_batch_hdr h;
		if (kp_batch_hdr_parse(b, need, &h)) {
			*why = "not a magic 2 batch header";
			break;
		}
		if (!kp_batch_crc_ok(b, need)) {
			*why = "CRC-32C mismatch";
			break;
		}
		int64_t last = h.base_offset + h.last_offset_delta;
		if (h.base_offset < expect || h.last_offset_delta < 0) {
			*why = "offsets not increasing";
			break;
		}
		if (last - s->base > INT32_MAX) {
			*why = "offset beyond the segment's 32-bit range";
			break;
		}
		stor_segment_note_append(s, pos, need, last, h.max_timestamp, last, log->cfg.index_interval_bytes);
		expect = last + 1;
		pos += need;
	}
	free(buf);
	if (rc) return rc;
	*dropped = zero_tail ? 0 : size - pos;
	if (pos < size) {
		if (zero_tail) {
			stor_logf("%s: segment %020" PRId64 ".log: trimmed its preallocated tail, %" PRIu64
			          " zero bytes from position %" PRIu64 " (not data; the log ends at offset %" PRId64 ")",
			          log->name, s->base, size - pos, pos, expect);
			*why = NULL;
		} else if (claim) {
			describe_drop(s, pos, claim, claim_n);
		}
		if (ftruncate(s->fd, (off_t)pos)) return -errno;
		stor_segment_trim_index(s, pos, expect);
	}
	s->size = s->visible = pos;
	s->file_end = s->pa_end = pos;
	if (s->visible == 0) s->end_offset = s->base;
	return 0;
}

/* Describes what a dropped region claimed to hold, when its first header still parses. */
static void describe_drop(struct stor_segment *s, uint64_t pos, char *out, size_t n)
{
	uint8_t b[KP_BATCH_HEADER_SIZE];
	struct kp_batch_hdr h;
	ssize_t r = pread(s->fd, b, sizeof b, (off_t)pos);
	if (r == (ssize_t)sizeof b && !kp_batch_hdr_peek(b, sizeof b, &h) && h.last_offset_delta >= 0)
		snprintf(out, n, "; its first batch header claims offsets %" PRId64 "..%" PRId64,
		         h.base_offset, h.base_offset + h.last_offset_delta);
	else
		out[0] = 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool is_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9') return false;
	return true;
}

/* Lists the 20-digit .log files; removes leftovers of interrupted work (Kafka's .deleted,
 * .cleaned, .swap and *.tmp files, indexes without a log). */
static int list_segments(struct stor_log *log, int64_t **bases, size_t *n)
{
	int fd = dup(log->dfd);
	if (fd < 0) return -errno;
	DIR *dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return -errno;
	}
	rewinddir(dp);
	size_t cap = 16;
	*bases = malloc(cap * sizeof **bases);
	*n = 0;
	if (!*bases) {
		closedir(dp);
		return -ENOMEM;
	}
	struct dirent *e;
	while ((e = readdir(dp))) {
		const char *nm = e->d_name;
		size_t len = strlen(nm);
		const char *dot = strchr(nm, '.');
		if (nm[0] == '.') continue;
		if ((len > 8 && !strcmp(nm + len - 8, ".deleted")) || (len > 8 && !strcmp(nm + len - 8, ".cleaned")) ||
		    (len > 5 && !strcmp(nm + len - 5, ".swap")) || (len > 4 && !strcmp(nm + len - 4, ".tmp"))) {
			stor_logf("%s: removing leftover file %s", log->name, nm);
			unlinkat(log->dfd, nm, 0);
			continue;
		}
		if (!dot || dot - nm != 20 || !is_digits(nm, 20)) continue;
		if (strcmp(dot, ".log")) continue;
		if (*n == cap) {
			cap *= 2;
			int64_t *nb = realloc(*bases, cap * sizeof *nb);
			if (!nb) {
				closedir(dp);
				return -ENOMEM;
			}
			*bases = nb;
		}
		(*bases)[(*n)++] = strtoll(nm, NULL, 10);
	}
	closedir(dp);
	qsort(*bases, *n, sizeof **bases, cmp_i64);
	return 0;
}

/* Checks a trusted last segment from its last index entry to its end (at most about
 * index.interval.bytes plus one append): the part a clean stop wrote last.  Anything that does not
 * check out there is cut, with a log line. */
static int scan_tail(struct stor_log *log, struct stor_segment *s, uint64_t size)
{
	uint64_t pos = s->on ? rt_be32_get(s->oidx + (s->on - 1) * 8 + 4) : 0;
	uint64_t dropped;
	const char *why;
	char claim[128] = "";
	int rc = stor_recover_scan(log, s, pos, s->base, &dropped, &why, claim, sizeof claim);
	if (rc) return rc;
	if (s->on && s->end_offset < s->base + (int64_t)rt_be32_get(s->oidx + (s->on - 1) * 8) + 1)
		return -EBADMSG;  /* the index names offsets the log does not have */
	if (dropped)
		stor_logf("%s: segment %020" PRId64 ".log: truncated at position %" PRIu64 ", dropped %" PRIu64
		          " bytes from offset %" PRId64 " on (%s)%s", log->name, s->base, size - dropped, dropped,
		          s->end_offset, why, claim);
	return 0;
}

static int rebuild(struct stor_log *log, struct stor_segment *s, const char *reason)
{
	stor_logf("%s: rebuilding the indexes of segment %020" PRId64 " (%s)", log->name, s->base, reason);
	stor_segment_reset_index(s);
	uint64_t dropped;
	const char *why;
	uint64_t was = file_size(s->fd);
	char claim[128] = "";
	int rc = stor_recover_scan(log, s, 0, s->base, &dropped, &why, claim, sizeof claim);
	if (rc) return rc;
	if (dropped)
		stor_logf("%s: segment %020" PRId64 ".log: truncated at position %" PRIu64 ", dropped %" PRIu64
		          " bytes from offset %" PRId64 " on (%s)%s", log->name, s->base, was - dropped, dropped,
		          s->end_offset, why, claim);
	return 0;
}

int stor_recover(struct stor_log *log, int64_t recovery_point, bool clean)
{
	int64_t *bases = NULL;
	size_t n = 0;
	int rc = list_segments(log, &bases, &n);
	if (rc) {
		free(bases);
		return rc;
	}
	if (n == 0) {
		int64_t base = log->log_start > 0 ? log->log_start : 0;
		struct stor_segment *s = stor_segment_create(log, base, &rc);
		if (!s) goto out;
		if ((rc = stor_log_push_segment(log, s))) {
			stor_segment_free(s);
			goto out;
		}
		if (fsync(log->dfd)) rc = -errno;
		log->next_offset = log->leo = log->durable = log->recovery_point = base;
		if (log->log_start < base) log->log_start = base;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct stor_segment *s = stor_segment_open(log, bases[i], &rc);
		if (!s) goto out;
		if ((rc = stor_log_push_segment(log, s))) {
			stor_segment_free(s);
			goto out;
		}
	}
	/* The first segment to scan: the one holding the recovery point (none after a clean stop). */
	size_t first_scan = n;
	if (!clean) {
		first_scan = 0;
		while (first_scan + 1 < n && bases[first_scan + 1] <= recovery_point) first_scan++;
	}
	/* Aborted transactions are derived again from the first scanned segment on (Kafka rebuilds
	 * the transaction index of every segment it recovers) and from any whose file is gone. */
	if (first_scan < n) log->txn_rebuild_from = bases[first_scan];
	for (size_t i = 0; i < first_scan; i++)
		if (log->segs[i]->txn_missing) {
			stor_logf("%s: %020" PRId64 ".txnindex is missing; the aborted transactions from "
			          "offset %" PRId64 " on are derived again from the log", log->name, bases[i], bases[i]);
			log->txn_rebuild_from = bases[i];
			break;
		}
	for (size_t i = 0; i < first_scan; i++) {
		struct stor_segment *s = log->segs[i];
		uint64_t size = file_size(s->fd);
		int e = stor_segment_load_index(s, size);
		s->size = s->visible = size;
		if (!e && s->tn) {
			/* Kafka takes a trusted segment's max timestamp from its last time index entry. */
			s->max_ts = (int64_t)rt_be64_get(s->tidx + (s->tn - 1) * 12);
			s->max_ts_off = s->base + rt_be32_get(s->tidx + (s->tn - 1) * 12 + 8);
		}
		if (!e && i + 1 == n) e = scan_tail(log, s, size);
		else if (!e) s->end_offset = bases[i + 1];
		if (e == -EBADMSG) {
			e = rebuild(log, s, s->idx_missing ? "an index file is missing" : "an index file is corrupt");
			if (!e) e = stor_segment_write_index_sync(s);
			if (!e && (fdatasync(s->ifd) || fdatasync(s->tfd))) e = -errno;
		}
		if (e) {
			rc = e;
			goto out;
		}
		s->sealed = i + 1 < n;
	}
	int64_t expect = first_scan ? log->segs[first_scan - 1]->end_offset : log->segs[0]->base;
	for (size_t i = first_scan; i < n; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->base < expect && i > 0) {
			stor_logf("%s: segment %020" PRId64 " overlaps the previous one (ends at %" PRId64 ")",
			          log->name, s->base, expect);
		}
		stor_segment_reset_index(s);
		s->idx_missing = false;
		uint64_t was = file_size(s->fd);
		uint64_t dropped;
		const char *why;
		char claim[128] = "";
		if ((rc = stor_recover_scan(log, s, 0, i ? expect : s->base, &dropped, &why, claim,
		                            sizeof claim)))
			goto out;
		expect = s->end_offset;
		stor_segment_txn_trim(s, s->end_offset);
		if ((rc = stor_segment_write_index_sync(s))) goto out;
		if (fdatasync(s->fd) || fdatasync(s->ifd) || fdatasync(s->tfd)) {
			rc = -errno;
			goto out;
		}
		s->sealed = i + 1 < n;
		/* Writes still in flight when a segment rolled may never have landed: the next
		 * segment then starts past this one's end.  Nothing from that hole on was acknowledged
		 * (acknowledgements follow the LEO, which never passes a hole), so it all goes. */
		bool hole = i + 1 < n && s->end_offset < log->segs[i + 1]->base;
		if (!dropped && !hole) continue;
		uint64_t later = 0;
		for (size_t j = i + 1; j < n; j++) later += file_size(log->segs[j]->fd);
		if (dropped)
			stor_logf("%s: recovery truncated segment %020" PRId64 ".log at position %" PRIu64
			          ": dropped %" PRIu64 " bytes (%s), so offsets from %" PRId64 " on are gone%s; "
			          "%zu later segment(s) with %" PRIu64 " bytes deleted; the log now ends at offset %" PRId64,
			          log->name, s->base, was - dropped, dropped, why, expect, claim, n - i - 1, later, expect);
		else
			stor_logf("%s: recovery found offsets %" PRId64 "..%" PRId64 " missing after segment %020" PRId64
			          " (writes lost at a roll): %zu later segment(s) with %" PRIu64 " bytes deleted; the "
			          "log now ends at offset %" PRId64, log->name, expect, log->segs[i + 1]->base - 1, s->base,
			          n - i - 1, later, expect);
		while (log->nseg > i + 1) {
			struct stor_segment *t = log->segs[--log->nseg];
			stor_segment_unlink(t);
			stor_segment_free(t);
		}
		if (fsync(log->dfd)) {
			rc = -errno;
			goto out;
		}
		s->sealed = false;
		break;
	}
	/* An empty last segment past a hole (its predecessor lost its tail to corruption) would
	 * leave the LEO above offsets that do not exist; appends go to the predecessor instead. */
	while (log->nseg > 1 && !stor_log_active(log)->size &&
	       log->segs[log->nseg - 2]->end_offset < stor_log_active(log)->base) {
		struct stor_segment *t = log->segs[--log->nseg];
		stor_logf("%s: removing empty segment %020" PRId64 " after offsets %" PRId64 "..%" PRId64
		          " that are gone", log->name, t->base, log->segs[log->nseg - 1]->end_offset, t->base - 1);
		stor_segment_unlink(t);
		stor_segment_free(t);
		log->segs[log->nseg - 1]->sealed = false;
		if (fsync(log->dfd)) {
			rc = -errno;
			goto out;
		}
	}
	struct stor_segment *last = stor_log_active(log);
	log->next_offset = log->leo = log->durable = last->end_offset;
	log->recovery_point = log->leo;
	if (log->log_start < log->segs[0]->base) log->log_start = log->segs[0]->base;
	if (log->log_start > log->leo) log->log_start = log->leo;
	stor_log_recompute_max_ts(log);
out:
	free(bases);
	return rc;
}
