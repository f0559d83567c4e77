/*
 * storage/compact.c: what is cleanable and one cleaning (see storage/compact.h for the rules and
 * the file protocol); storage/cleaner.c schedules cleanings and runs them on a thread.
 *
 * Invariants: only sealed segments other than the active one are touched (no append, index write
 * or SQE of their own can reach them any more); a job pins its segments from prepare to install,
 * so retention cannot close or unlink them under the thread; the thread reads only the job, the
 * pinned segments' descriptors and the log's constant dfd/name; the "<base>.log" name always holds
 * a whole valid segment (original or cleaned); memory is bounded by the key map limit, one read
 * buffer and one write buffer (about 1 MiB each, or one batch when larger), not by segment size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "proto/batch.h"
#include "proto/compress.h"
#include "storage/compact.h"
#include "storage/internal.h"

/* --- the key map: open addressing over owned key copies ------------------------------------ */

struct kent {
	uint64_t h;
	uint8_t *key;              /* owned; NULL = empty slot */
	int32_t len;
	int64_t off;
};

struct kmap {
	struct kent *e;
	size_t cap, n;
	size_t bytes;              /* memory held: slots and key copies */
};

static uint64_t khash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
	return h ? h : 1;
}

static struct kent *kmap_slot(struct kmap *m, uint64_t h, const uint8_t *k, int32_t len)
{
	size_t i = h & (m->cap - 1);
	for (;;) {
		struct kent *e = &m->e[i];
		if (!e->key) return e;
		if (e->h == h && e->len == len && !memcmp(e->key, k, (size_t)len)) return e;
		i = (i + 1) & (m->cap - 1);
	}
}

static int kmap_grow(struct kmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	struct kent *ne = calloc(cap, sizeof *ne);
	if (!ne) return -ENOMEM;
	struct kmap nm = {.e = ne, .cap = cap, .n = m->n};
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].key) *kmap_slot(&nm, m->e[i].h, m->e[i].key, m->e[i].len) = m->e[i];
	free(m->e);
	nm.bytes = m->bytes - m->cap * sizeof *ne + cap * sizeof *ne;
	*m = nm;
	return 0;
}

/* Records that `off` is the newest offset seen for key (offsets arrive in increasing order). */
static int kmap_put(struct kmap *m, const uint8_t *k, int32_t len, int64_t off)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		int rc = kmap_grow(m);
		if (rc) return rc;
	}
	uint64_t h = khash(k, (size_t)len);
	struct kent *e = kmap_slot(m, h, k, len);
	if (!e->key) {
		e->key = malloc(len ? (size_t)len : 1);
		if (!e->key) return -ENOMEM;
		memcpy(e->key, k, (size_t)len);
		e->h = h;
		e->len = len;
		m->n++;
		m->bytes += len ? (size_t)len : 1;
	}
	e->off = off;
	return 0;
}

/* The newest offset of key, or -1 when the map has never seen it. */
static int64_t kmap_get(struct kmap *m, const uint8_t *k, int32_t len)
{
	if (!m->cap) return -1;
	struct kent *e = kmap_slot(m, khash(k, (size_t)len), k, len);
	return e->key ? e->off : -1;
}

static void kmap_free(struct kmap *m)
{
	for (size_t i = 0; i < m->cap; i++) free(m->e[i].key);
	free(m->e);
	*m = (struct kmap){0};
}


/* --- reading a segment batch by batch -------------------------------------------------------- */

#define IO_CHUNK ((size_t)1 << 20)

struct brd {
	int fd;
	uint64_t pos, end;         /* file position of buf[0]; bytes of the segment to read */
	uint8_t *buf;
	size_t cap, off, len;      /* buf[off..len) is read but not yet consumed */
	uint64_t bytes_read;
};

static void brd_init(struct brd *r, int fd, uint64_t end)
{
	*r = (struct brd){.fd = fd, .end = end};
}

static void brd_fini(struct brd *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Makes at least `need` bytes available at buf[off] (fewer only at the end of the segment). */
static int brd_fill(struct brd *r, size_t need)
{
	if (r->len - r->off >= need) return 0;
	uint64_t at = r->pos + r->off;
	size_t have = r->len - r->off;
	size_t want = need > IO_CHUNK ? need : IO_CHUNK;
	if (want > r->cap) {
		uint8_t *n = malloc(want);
		if (!n) return -ENOMEM;
		if (have) memcpy(n, r->buf + r->off, have);
		free(r->buf);
		r->buf = n;
		r->cap = want;
	} else if (have) {
		memmove(r->buf, r->buf + r->off, have);
	}
	r->pos = at;
	r->off = 0;
	r->len = have;
	while (r->len < r->cap && r->pos + r->len < r->end) {
		size_t n = r->cap - r->len;
		if (n > r->end - r->pos - r->len) n = (size_t)(r->end - r->pos - r->len);
		ssize_t got = pread(r->fd, r->buf + r->len, n, (off_t)(r->pos + r->len));
		if (got < 0 && errno == EINTR) continue;
		if (got < 0) return -errno;
		if (got == 0) return -EIO;  /* the file is shorter than the segment says */
		r->len += (size_t)got;
		r->bytes_read += (uint64_t)got;
	}
	return 0;
}

/* The next whole batch: 1 (in *b, *sz, file position *pos), 0 at the end, or -errno/-EBADMSG. */
static int brd_next(struct brd *r, const uint8_t **b, size_t *sz, uint64_t *pos)
{
	if (r->pos + r->off >= r->end) return 0;
	int rc = brd_fill(r, KP_BATCH_LOG_OVERHEAD);
	if (rc) return rc;
	if (r->len - r->off < KP_BATCH_LOG_OVERHEAD) return -EBADMSG;
	size_t n = kp_batch_size(r->buf + r->off, r->len - r->off);
	if (n < KP_BATCH_HEADER_SIZE || r->pos + r->off + n > r->end) return -EBADMSG;
	if ((rc = brd_fill(r, n))) return rc;
	if (r->len - r->off < n) return -EBADMSG;
	*b = r->buf + r->off;
	*sz = n;
	*pos = r->pos + r->off;
	r->off += n;
	return 1;
}

/* --- the cleaning rules -------------------------------------------------------------------- */

static bool is_whole_kept(const struct kp_batch_hdr *h)
{
	return (h->attributes & (KP_ATTR_CONTROL | KP_ATTR_TRANSACTIONAL)) != 0;
}

/* Pass 1 over one batch: newest offset per key, last batch base per producer id. */
static int map_batch(const uint8_t *b, size_t sz, struct kmap *keys, struct kmap *pids)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	if (h.producer_id >= 0) {
		uint8_t pk[8];
		rt_be64_put(pk, (uint64_t)h.producer_id);
		int rc = kmap_put(pids, pk, 8, h.base_offset);
		if (rc) return rc;
	}
	if (is_whole_kept(&h) || h.records_count <= 0) return 0;
	struct rt_arena a;
	rt_arena_init(&a, 1 << 16, 0);
	struct kp_batch_iter it;
	int rc = kp_batch_iter_init(&it, b, sz, &a, 0);
	struct kp_record r;
	while (!rc && (rc = kp_batch_iter_next(&it, &r)) == 1) {
		rc = 0;
		if (r.key_len >= 0) rc = kmap_put(keys, r.key, r.key_len, h.base_offset + r.offset_delta);
	}
	rt_arena_fini(&a);
	return rc < 0 ? rc : 0;
}

struct clean_ctx {
	struct kmap *keys, *pids;
	bool drop_tombstones;
	struct stor_compact_stats *st;
	bool changed;              /* the segment loses something */
};

/* Appends the cleaned form of one batch (or nothing) to out. */
static int clean_batch(struct clean_ctx *c, const uint8_t *b, size_t sz, struct rt_buf *out)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	if (is_whole_kept(&h) || h.records_count <= 0) {
		rt_buf_put(out, b, sz);
		return out->err;
	}
	struct rt_arena a;
	rt_arena_init(&a, 1 << 16, 0);
	struct rt_buf kept;
	rt_buf_init(&kept, 0);
	struct kp_batch_iter it;
	int32_t nkept = 0, total = 0;
	int rc = kp_batch_iter_init(&it, b, sz, &a, 0);
	while (!rc) {
		const uint8_t *start = it.p;
		struct kp_record r;
		int n = kp_batch_iter_next(&it, &r);
		if (n <= 0) {
			rc = n;
			break;
		}
		total++;
		bool keep = true;
		if (r.key_len >= 0) {
			int64_t newest = kmap_get(c->keys, r.key, r.key_len);
			if (newest > h.base_offset + r.offset_delta) keep = false;
			else if (r.value_len < 0 && c->drop_tombstones) keep = false;
		}
		if (keep) {
			rt_buf_put(&kept, start, (size_t)(it.p - start));
			nkept++;
		}
	}
	if (!rc) rc = kept.err;
	if (rc) goto out;
	if (nkept == total) {
		rt_buf_put(out, b, sz);
		rc = out->err;
		goto out;
	}
	c->changed = true;
	c->st->records_removed += total - nkept;
	if (!nkept) {
		/* Kafka keeps the producer's last batch, empty, so its sequence is not lost. */
		bool last_of_pid = false;
		if (h.producer_id >= 0) {
			uint8_t pk[8];
			rt_be64_put(pk, (uint64_t)h.producer_id);
			last_of_pid = kmap_get(c->pids, pk, 8) == h.base_offset;
		}
		if (!last_of_pid) {
			c->st->batches_removed++;
			goto out;
		}
	}
	enum kp_compression codec = (enum kp_compression)(h.attributes & KP_ATTR_COMPRESSION_MASK);
	const uint8_t *payload = kept.data;
	size_t plen = kept.len;
	struct rt_buf z;
	rt_buf_init(&z, 0);
	int16_t attrs = h.attributes;
	if (!nkept) {
		attrs = (int16_t)(attrs & ~KP_ATTR_COMPRESSION_MASK);
	} else if (codec != KP_COMPRESSION_NONE) {
		if ((rc = kp_compress(codec, kept.data, kept.len, &z))) {
			rt_buf_fini(&z);
			goto out;
		}
		payload = z.data;
		plen = z.len;
	}
	size_t at = out->len;
	rt_buf_put(out, b, KP_BATCH_HEADER_SIZE);
	rt_buf_put(out, payload, plen);
	rt_buf_fini(&z);
	if ((rc = out->err)) goto out;
	uint8_t *nb = out->data + at;
	size_t nsz = KP_BATCH_HEADER_SIZE + plen;
	rt_be32_put(nb + KP_BATCH_OFF_LENGTH, (uint32_t)(nsz - KP_BATCH_LOG_OVERHEAD));
	rt_be16_put(nb + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)attrs);
	rt_be32_put(nb + KP_BATCH_OFF_RECORDS_COUNT, (uint32_t)nkept);
	kp_batch_crc_update(nb, nsz);
out:
	rt_buf_fini(&kept);
	rt_arena_fini(&a);
	return rc;
}

/* --- the run (any thread) ------------------------------------------------------------------ */

static bool cancelled(const struct stor_clean_job *j)
{
	return j->cancel && atomic_load(j->cancel);
}

/* log.cleaner.io.max.bytes.per.second: sleeps until `bytes` since `t0` are within the rate. */
static void throttle(const struct stor_clean_job *j, uint64_t t0, uint64_t bytes)
{
	if (j->io_bps <= 0) return;
	uint64_t due = t0 + (uint64_t)((double)bytes * 1e9 / (double)j->io_bps);
	uint64_t now = rt_clock_ns();
	if (due > now) {
		uint64_t ns = due - now;
		if (ns > 1000000000ull) ns = 1000000000ull;
		struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
		nanosleep(&ts, NULL);
	}
}

static int write_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) return -errno;
		done += (size_t)w;
	}
	return 0;
}

static void cleaned_name(char *out, size_t n, int64_t base, const char *ext, const char *suffix)
{
	char nm[48];
	stor_segment_name(nm, sizeof nm, base, ext);
	snprintf(out, n, "%s.%s", nm, suffix);
}

static void unlink_cleaned(int dfd, int64_t base)
{
	static const char *const ext[] = {"log", "index", "timeindex"};
	char nm[96];
	for (int i = 0; i < 3; i++) {
		cleaned_name(nm, sizeof nm, base, ext[i], "cleaned");
		unlinkat(dfd, nm, 0);
	}
}

/* Opens the three .cleaned files into a fresh segment object. */
static struct stor_segment *cleaned_open(struct stor_clean_job *j, int64_t base, int *err)
{
	struct stor_segment *s = stor_segment_alloc(j->log, base, j->cfg.segment_index_bytes);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	static const char *const ext[] = {"log", "index", "timeindex"};
	int *fds[] = {&s->fd, &s->ifd, &s->tfd};
	for (int i = 0; i < 3; i++) {
		char nm[96];
		cleaned_name(nm, sizeof nm, base, ext[i], "cleaned");
		*fds[i] = openat(j->dfd, nm, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (*fds[i] < 0) {
			*err = -errno;
			stor_segment_free(s);
			unlink_cleaned(j->dfd, base);
			return NULL;
		}
	}
	return s;
}

/* Writes buffered output batches to the cleaned segment and indexes them. */
static int flush_out(struct stor_clean_job *j, struct stor_segment *s, struct rt_buf *out)
{
	if (!out->len) return 0;
	int rc = write_at(s->fd, out->data, out->len, s->visible);
	for (size_t p = 0; !rc && p < out->len;) {
		size_t sz = kp_batch_size(out->data + p, out->len - p);
		struct kp_batch_hdr h;
		if (sz < KP_BATCH_HEADER_SIZE || kp_batch_hdr_parse(out->data + p, out->len - p, &h)) {
			rc = -EBADMSG;
			break;
		}
		int64_t last = h.base_offset + h.last_offset_delta;
		stor_segment_note_append(s, s->visible, sz, last, h.max_timestamp, last,
		                         j->cfg.index_interval_bytes);
		p += sz;
	}
	rt_buf_reset(out);
	return rc;
}

/* The swap: .log.cleaned -> .log.swap, old indexes unlinked, .swap over .log, indexes renamed
 * in (see compact.h for why this order is crash safe). */
static int swap_in(struct stor_clean_job *j, int64_t base)
{
	char lg[48], ix[48], tx[48], cl[96], sw[96], icl[96], tcl[96];
	stor_segment_name(lg, sizeof lg, base, "log");
	stor_segment_name(ix, sizeof ix, base, "index");
	stor_segment_name(tx, sizeof tx, base, "timeindex");
	cleaned_name(cl, sizeof cl, base, "log", "cleaned");
	cleaned_name(sw, sizeof sw, base, "log", "swap");
	cleaned_name(icl, sizeof icl, base, "index", "cleaned");
	cleaned_name(tcl, sizeof tcl, base, "timeindex", "cleaned");
	if (renameat(j->dfd, cl, j->dfd, sw)) return -errno;
	if ((unlinkat(j->dfd, ix, 0) && errno != ENOENT) || (unlinkat(j->dfd, tx, 0) && errno != ENOENT) ||
	    fsync(j->dfd))
		return -errno;
	if (renameat(j->dfd, sw, j->dfd, lg)) return -errno;
	/* From here the cleaned segment is the segment; a failure below leaves it without index
	 * files, which the next open rebuilds. */
	if (renameat(j->dfd, icl, j->dfd, ix) || renameat(j->dfd, tcl, j->dfd, tx)) return 1;
	return fsync(j->dfd) ? 1 : 0;
}

/* Cleans in[i]; sets in[i].out when the segment lost something and was swapped in. */
static int clean_segment(struct stor_clean_job *j, size_t i, struct kmap *keys, struct kmap *pids,
                         uint64_t t0, uint64_t *io)
{
	struct stor_clean_in *in = &j->in[i];
	struct clean_ctx c = {
		.keys = keys, .pids = pids, .st = &j->st,
		.drop_tombstones = in->max_ts >= 0 && j->cfg.delete_retention_ms >= 0 &&
		                   in->max_ts < j->now_ms - j->cfg.delete_retention_ms,
	};
	int rc = 0;
	struct stor_segment *s = cleaned_open(j, in->base, &rc);
	if (!s) return rc;
	struct brd r;
	brd_init(&r, in->seg->fd, in->size);
	struct rt_buf out;
	rt_buf_init(&out, 0);
	const uint8_t *b;
	size_t sz;
	uint64_t pos;
	int n;
	while ((n = brd_next(&r, &b, &sz, &pos)) == 1) {
		if (cancelled(j)) {
			rc = -ECANCELED;
			break;
		}
		if ((rc = clean_batch(&c, b, sz, &out))) break;
		if (out.len >= IO_CHUNK && (rc = flush_out(j, s, &out))) break;
	}
	if (n < 0 && !rc) rc = n;
	if (!rc) rc = flush_out(j, s, &out);
	*io += r.bytes_read + s->visible;
	throttle(j, t0, *io);
	brd_fini(&r);
	rt_buf_fini(&out);
	if (!rc && c.changed) {
		stor_segment_seal_timeindex(s);
		rc = stor_segment_write_index_sync(s);
		if (!rc && (fdatasync(s->fd) || fdatasync(s->ifd) || fdatasync(s->tfd))) rc = -errno;
		if (!rc && !cancelled(j)) {
			rc = swap_in(j, in->base);
			if (rc >= 0) {
				if (rc) stor_logf("%s: index files of cleaned segment %020" PRId64 " not renamed in: "
				                  "rebuilt at the next open", j->name, in->base);
				rc = 0;
				s->sealed = true;
				s->size = s->visible;
				s->dirty = s->idx_dirty = false;
				in->out = s;
				j->st.segments_rewritten++;
				j->st.bytes_before += (int64_t)in->size;
				j->st.bytes_after += (int64_t)s->visible;
				return 0;
			}
		} else if (!rc) {
			rc = -ECANCELED;
		}
	}
	stor_segment_free(s);
	unlink_cleaned(j->dfd, in->base);
	return rc;
}

void stor_clean_run(struct stor_clean_job *j)
{
	struct kmap keys = {0}, pids = {0};
	uint64_t t0 = rt_clock_ns(), io = 0;
	/* A cleaned segment may end before the next one begins (its last records were superseded),
	 * and recovery reads such a gap in a segment it scans as writes lost at a roll and deletes
	 * everything after it.  Segments below the recovery point are trusted, not scanned, so only
	 * those are cleaned, and the recovery point that covers them is made durable before the
	 * first swap. */
	int rc = stor_dir_checkpoint(j->dir);
	size_t nclean = j->nin;
	j->map_end = j->end;
	/* The key map over the dirty section, bounded: Kafka's dedupe buffer.  At least one segment
	 * is mapped whatever its size, so cleaning always progresses. */
	for (size_t i = j->dirty_from; i < j->nin && !rc; i++) {
		if (i > j->dirty_from && (int64_t)(keys.bytes + pids.bytes) >= j->map_limit) {
			nclean = i;
			j->map_end = j->in[i].base;
			break;
		}
		struct brd r;
		brd_init(&r, j->in[i].seg->fd, j->in[i].size);
		const uint8_t *b;
		size_t sz;
		uint64_t pos;
		int n;
		while ((n = brd_next(&r, &b, &sz, &pos)) == 1 && !rc) {
			if (cancelled(j)) rc = -ECANCELED;
			else rc = map_batch(b, sz, &keys, &pids);
		}
		if (n < 0 && !rc) rc = n;
		io += r.bytes_read;
		brd_fini(&r);
		throttle(j, t0, io);
	}
	/* Producers whose last batch lies before the dirty section: their batches there are only
	 * seen now; the last one of each is what the clean pass must keep. */
	for (size_t i = 0; i < j->dirty_from && !rc; i++) {
		struct brd r;
		brd_init(&r, j->in[i].seg->fd, j->in[i].size);
		const uint8_t *b;
		size_t sz;
		uint64_t pos;
		int n;
		while ((n = brd_next(&r, &b, &sz, &pos)) == 1 && !rc) {
			struct kp_batch_hdr h;
			if (cancelled(j)) rc = -ECANCELED;
			else if (kp_batch_hdr_parse(b, sz, &h)) rc = -EBADMSG;
			else if (h.producer_id >= 0) {
				uint8_t pk[8];
				rt_be64_put(pk, (uint64_t)h.producer_id);
				if (kmap_get(&pids, pk, 8) < h.base_offset) rc = kmap_put(&pids, pk, 8, h.base_offset);
			}
		}
		if (n < 0 && !rc) rc = n;
		brd_fini(&r);
	}
	for (size_t i = 0; i < nclean && !rc; i++) {
		if (cancelled(j)) rc = -ECANCELED;
		else rc = clean_segment(j, i, &keys, &pids, t0, &io);
	}
	kmap_free(&keys);
	kmap_free(&pids);
	j->err = rc;
}

/* --- the owner shard's side ---------------------------------------------------------------- */

/* A segment the cleaner may read while the shard keeps running: sealed, every append and index
 * write resolved, nothing in flight on its descriptors. */
static bool ready(const struct stor_segment *s)
{
	return s->sealed && !s->deleted && s->size == s->visible && !s->inflight && !s->idx_bad &&
	       s->on_disk == s->on && s->tn_disk == s->tn;
}

void stor_log_clean_view(const struct stor_log *log, int64_t now_ms, struct stor_clean_view *v)
{
	*v = (struct stor_clean_view){0};
	const struct stor_config *cfg = &log->cfg;
	int64_t first_dirty = log->clean_point > log->log_start ? log->clean_point : log->log_start;
	int64_t end = log->nseg ? stor_log_active(log)->base : first_dirty;
	for (size_t i = 0; i + 1 < log->nseg; i++) {
		const struct stor_segment *s = log->segs[i];
		if (s->base >= end) break;
		bool dirty = s->end_offset > first_dirty;
		/* Only below the recovery point (see stor_clean_run for why). */
		if (!ready(s) || log->segs[i + 1]->base > log->recovery_point || (dirty && cfg->min_compaction_lag_ms > 0 &&
		                  s->max_ts > now_ms - cfg->min_compaction_lag_ms)) {
			end = s->base;
			break;
		}
	}
	bool first = true;
	for (size_t i = 0; i + 1 < log->nseg && log->segs[i]->base < end; i++) {
		const struct stor_segment *s = log->segs[i];
		if (s->end_offset <= first_dirty) {
			v->clean_bytes += s->visible;
			continue;
		}
		v->dirty_bytes += s->visible;
		if (first) {
			/* KIP-354: the first dirty batch's timestamp against max.compaction.lag.ms. */
			int64_t ts = s->roll_ts >= 0 ? s->roll_ts : s->max_ts;
			v->urgent = ts >= 0 && cfg->max_compaction_lag_ms < INT64_MAX &&
			            now_ms - ts > cfg->max_compaction_lag_ms;
			first = false;
		}
	}
	if (first_dirty > end) first_dirty = end;
	v->first_dirty = first_dirty;
	v->first_uncleanable = end;
	uint64_t total = v->clean_bytes + v->dirty_bytes;
	v->ratio = total ? (double)v->dirty_bytes / (double)total : 0.0;
	v->due = (cfg->cleanup_policy & STOR_CLEANUP_COMPACT) && !log->offline && v->dirty_bytes &&
	         (v->ratio > cfg->min_cleanable_ratio || v->urgent);
}

bool stor_log_cleaning(const struct stor_log *log)
{
	return log->clean_job != NULL;
}

int64_t stor_log_clean_point(const struct stor_log *log)
{
	return log->clean_point;
}

/* With `force`, a log with only clean bytes is cleaned too (tombstones may have expired). */
static struct stor_clean_job *prepare(struct stor_log *log, int64_t now_ms, int64_t map_limit,
                                      bool force, int *err)
{
	*err = 0;
	if (!(log->cfg.cleanup_policy & STOR_CLEANUP_COMPACT) || log->offline || log->clean_job) return NULL;
	struct stor_clean_view v;
	stor_log_clean_view(log, now_ms, &v);
	if (!v.dirty_bytes && !(force && v.clean_bytes)) return NULL;
	size_t nin = 0, dirty_from = SIZE_MAX;
	while (nin + 1 < log->nseg && log->segs[nin]->base < v.first_uncleanable) {
		if (dirty_from == SIZE_MAX && log->segs[nin]->end_offset > v.first_dirty) dirty_from = nin;
		nin++;
	}
	if (!nin) return NULL;
	if (dirty_from == SIZE_MAX) dirty_from = nin;
	struct stor_clean_job *j = calloc(1, sizeof *j);
	if (j) j->in = calloc(nin, sizeof *j->in);
	if (!j || !j->in) {
		free(j);
		*err = -ENOMEM;
		return NULL;
	}
	j->log = log;
	j->cfg = log->cfg;
	j->dfd = log->dfd;
	j->dir = log->dir;
	j->name = log->name;
	j->now_ms = now_ms;
	j->map_limit = map_limit > 0 ? map_limit : (int64_t)128 << 20;
	j->first_dirty = v.first_dirty;
	j->end = v.first_uncleanable;
	j->nin = nin;
	j->dirty_from = dirty_from;
	for (size_t i = 0; i < nin; i++) {
		struct stor_segment *s = log->segs[i];
		j->in[i] = (struct stor_clean_in){.seg = s, .base = s->base, .size = s->visible, .max_ts = s->max_ts};
		s->refs++;
	}
	log->clean_job = j;
	log->inflight++;
	return j;
}

struct stor_clean_job *stor_clean_prepare(struct stor_log *log, int64_t now_ms, int64_t map_limit, int *err)
{
	return prepare(log, now_ms, map_limit, false, err);
}

int stor_clean_install(struct stor_clean_job *j, struct stor_compact_stats *st)
{
	struct stor_log *log = j->log;
	for (size_t i = 0; i < j->nin; i++) {
		struct stor_clean_in *in = &j->in[i];
		struct stor_segment *old = in->seg;
		if (in->out) {
			ssize_t k = stor_log_find_segment(log, in->base);
			if (k >= 0 && log->segs[k] == old) {
				/* The .txnindex keeps its name and content (transactional batches and markers
				 * are copied whole), so its state moves to the cleaned segment. */
				in->out->txn = old->txn;
				in->out->txn_missing = old->txn_missing;
				in->out->txn_dirty = old->txn_dirty;
				old->txn = NULL;
				log->segs[k] = in->out;
				old->replaced = true;
				old->deleted = true;
				old->grave_next = log->grave;
				log->grave = old;
			} else {
				/* Retention took it meanwhile: its pending unlink (by name) removes the
				 * cleaned files, which now hold that name. */
				stor_segment_free(in->out);
				j->st.segments_skipped++;
			}
		}
		old->refs--;
	}
	if (!j->err && j->map_end > log->clean_point) {
		log->clean_point = j->map_end;
		stor_log_publish(log);  /* cleaner-offset-checkpoint, at the next checkpoint */
	}
	j->st.clean_point = log->clean_point;
	if (j->st.segments_rewritten) {
		stor_log_recompute_max_ts(log);
		stor_logf("%s: cleaned offsets below %" PRId64 ": %" PRId64 " segment(s) rewritten, %" PRId64
		          " -> %" PRId64 " bytes, %" PRId64 " record(s) removed", log->name, log->clean_point,
		          j->st.segments_rewritten, j->st.bytes_before, j->st.bytes_after, j->st.records_removed);
	}
	if (j->err && j->err != -ECANCELED)
		stor_logf("%s: cleaning stopped: %s", log->name, strerror(-j->err));
	log->clean_job = NULL;
	log->inflight--;
	stor_reap(log);
	if (st) *st = j->st;
	int rc = j->err;
	free(j->in);
	free(j);
	return rc;
}

int stor_log_compact_limit(struct stor_log *log, int64_t now_ms, int64_t map_limit,
                           struct stor_compact_stats *st)
{
	if (st) *st = (struct stor_compact_stats){.clean_point = log->clean_point};
	int err;
	struct stor_clean_job *j = prepare(log, now_ms, map_limit, true, &err);
	if (!j) return err;
	stor_clean_run(j);
	return stor_clean_install(j, st);
}

int stor_log_compact(struct stor_log *log, int64_t now_ms, struct stor_compact_stats *st)
{
	return stor_log_compact_limit(log, now_ms, 0, st);
}
