/*
 * storage/compact.c: log compaction (see storage/compact.h for the rules and the file protocol).
 *
 * Invariants: only segments other than the active one are touched; a segment is rewritten only
 * when no reader pins it, no SQE uses its descriptors and every append to it is resolved; the
 * "<base>.log" name always holds a whole valid segment (original or cleaned).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"
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

/* --- segment I/O ---------------------------------------------------------------------------- */

static int read_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) return -errno;
		if (r == 0) return -EIO;
		got += (size_t)r;
	}
	return 0;
}

static int load_segment(const struct stor_segment *s, uint8_t **out)
{
	*out = malloc(s->visible ? s->visible : 1);
	if (!*out) return -ENOMEM;
	int rc = read_all(s->fd, *out, s->visible);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static bool is_whole_kept(const struct kp_batch_hdr *h)
{
	return (h->attributes & (KP_ATTR_CONTROL | KP_ATTR_TRANSACTIONAL)) != 0;
}

/* Pass 1 over one segment: newest offset per key, last batch base per producer id. */
static int map_segment(const uint8_t *b, size_t n, struct kmap *keys, struct kmap *pids)
{
	size_t pos = 0;
	while (pos < n) {
		size_t sz = kp_batch_size(b + pos, n - pos);
		struct kp_batch_hdr h;
		if (sz < KP_BATCH_HEADER_SIZE || kp_batch_hdr_parse(b + pos, n - pos, &h)) return -EBADMSG;
		if (h.producer_id >= 0) {
			uint8_t pk[8];
			rt_be64_put(pk, (uint64_t)h.producer_id);
			int rc = kmap_put(pids, pk, 8, h.base_offset);
			if (rc) return rc;
		}
		if (!is_whole_kept(&h) && h.records_count > 0) {
			struct rt_arena a;
			rt_arena_init(&a, 1 << 16, 0);
			struct kp_batch_iter it;
			int rc = kp_batch_iter_init(&it, b + pos, sz, &a, 0);
			struct kp_record r;
			while (!rc && (rc = kp_batch_iter_next(&it, &r)) == 1) {
				if (r.key_len >= 0) rc = kmap_put(keys, r.key, r.key_len, h.base_offset + r.offset_delta);
				if (rc == 1) rc = 0;
			}
			rt_arena_fini(&a);
			if (rc < 0) return rc;
		}
		pos += sz;
	}
	return 0;
}

struct clean_ctx {
	struct kmap *keys, *pids;
	bool drop_tombstones;
	struct stor_compact_stats *st;
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

static int write_all(int fd, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, p + done, n - done, (off_t)done);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) return -errno;
		done += (size_t)w;
	}
	return 0;
}

/* Writes the cleaned bytes and swaps them in: .cleaned, fdatasync, .swap, rename over .log. */
static int swap_in(struct stor_log *log, int64_t base, const uint8_t *p, size_t n)
{
	char lg[64], cl[96], sw[96];
	stor_segment_name(lg, sizeof lg, base, "log");
	snprintf(cl, sizeof cl, "%s.cleaned", lg);
	snprintf(sw, sizeof sw, "%s.swap", lg);
	int fd = openat(log->dfd, cl, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) return -errno;
	int rc = write_all(fd, p, n);
	if (!rc && fdatasync(fd)) rc = -errno;
	close(fd);
	if (!rc && renameat(log->dfd, cl, log->dfd, sw)) rc = -errno;
	if (rc) {
		unlinkat(log->dfd, cl, 0);
		return rc;
	}
	if (renameat(log->dfd, sw, log->dfd, lg)) {
		rc = -errno;
		unlinkat(log->dfd, sw, 0);
		return rc;
	}
	return fsync(log->dfd) ? -errno : 0;
}

/* Reopens segs[i] over its new file and rebuilds its indexes. */
static int reload(struct stor_log *log, size_t i)
{
	struct stor_segment *old = log->segs[i];
	int64_t base = old->base;
	int err = 0;
	struct stor_segment *s = stor_segment_open(log, base, &err);
	if (!s) return err;
	stor_segment_reset_index(s);
	uint64_t dropped;
	const char *why;
	int rc = stor_recover_scan(log, s, 0, base, &dropped, &why, NULL, 0);
	if (!rc && dropped) rc = -EIO;  /* what we just wrote and synced must scan whole */
	if (!rc) {
		stor_segment_seal_timeindex(s);
		rc = stor_segment_write_index_sync(s);
	}
	if (rc) {
		stor_segment_free(s);
		return rc;
	}
	s->sealed = true;
	stor_segment_free(old);
	log->segs[i] = s;
	return 0;
}

int stor_log_compact(struct stor_log *log, int64_t now_ms, struct stor_compact_stats *st)
{
	struct stor_compact_stats dummy;
	if (!st) st = &dummy;
	*st = (struct stor_compact_stats){0};
	if (!(log->cfg.cleanup_policy & STOR_CLEANUP_COMPACT) || log->nseg < 2) return 0;
	size_t nclean = log->nseg - 1;  /* never the active segment */
	struct kmap keys = {0}, pids = {0};
	int rc = 0;
	for (size_t i = 0; i < nclean && !rc; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->size != s->visible) {
			nclean = i;  /* appends still resolving: stop the dirty section here */
			break;
		}
		uint8_t *b;
		if ((rc = load_segment(s, &b))) break;
		rc = map_segment(b, s->visible, &keys, &pids);
		free(b);
	}
	for (size_t i = 0; i < nclean && !rc; i++) {
		struct stor_segment *s = log->segs[i];
		if (s->refs || s->inflight || s->deleted) {
			st->segments_skipped++;
			continue;
		}
		uint8_t *b;
		if ((rc = load_segment(s, &b))) break;
		struct clean_ctx c = {
			.keys = &keys, .pids = &pids, .st = st,
			.drop_tombstones = s->max_ts >= 0 && log->cfg.delete_retention_ms >= 0 &&
			                   s->max_ts < now_ms - log->cfg.delete_retention_ms,
		};
		struct rt_buf out;
		rt_buf_init(&out, 0);
		size_t pos = 0;
		while (pos < s->visible && !rc) {
			size_t sz = kp_batch_size(b + pos, s->visible - pos);
			if (sz < KP_BATCH_HEADER_SIZE || pos + sz > s->visible) rc = -EBADMSG;
			else rc = clean_batch(&c, b + pos, sz, &out);
			pos += sz;
		}
		if (!rc && out.len != s->visible) {
			st->bytes_before += (int64_t)s->visible;
			st->bytes_after += (int64_t)out.len;
			rc = swap_in(log, s->base, out.data, out.len);
			if (!rc) rc = reload(log, i);
			if (!rc) st->segments_rewritten++;
		}
		rt_buf_fini(&out);
		free(b);
	}
	kmap_free(&keys);
	kmap_free(&pids);
	if (!rc && st->segments_rewritten) stor_log_recompute_max_ts(log);
	if (rc) stor_logf("%s: compaction stopped: %s", log->name, strerror(-rc));
	return rc;
}
