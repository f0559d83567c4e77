/*
 * storage/compact.c: what is cleanable and one cleaning (see storage/compact.h for the rules and
 * the file protocol); storage/cleaner.c schedules cleanings and runs them on a thread.
 *
 * Invariants: only sealed segments other than the active one are touched (no append, index write
 * or SQE of their own can reach them any more); a job pins its segments from prepare to install,
 * so retention cannot close or unlink them under the thread; the thread reads only the job, the
 * pinned segments' descriptors, a directory descriptor of its own and the log's constant path/name; the "<base>.log" name always holds
 * a whole valid segment (original or cleaned); memory is bounded by the key map limit, one read
 * buffer and one write buffer (about 1 MiB each, or one batch when larger), not by segment size.
 */
#include <assert.h>
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
#include "storage/producer_state.h"

/* --- the key map: open addressing over owned key copies ------------------------------------ */

/* Keys up to KINLINE bytes live in the slot itself: a lookup that hits then touches one cache
 * line instead of two (the map is probed twice per record, at random, and a probe that misses
 * the cache is most of a cleaning's CPU time). */
#define KINLINE 16

struct kent {
	uint64_t h;                /* 0 = empty slot (khash never returns 0) */
	int64_t off;
	int32_t len;
	union {
		uint8_t *p;        /* owned, when len > KINLINE */
		uint8_t in[KINLINE];
	} k;
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

static const uint8_t *kkey(const struct kent *e)
{
	return e->len > KINLINE ? e->k.p : e->k.in;
}

static struct kent *kmap_slot(struct kmap *m, uint64_t h, const uint8_t *k, int32_t len)
{
	size_t i = h & (m->cap - 1);
	for (;;) {
		struct kent *e = &m->e[i];
		if (!e->h) return e;
		if (e->h == h && e->len == len && !memcmp(kkey(e), k, (size_t)len)) return e;
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
		if (m->e[i].h) *kmap_slot(&nm, m->e[i].h, kkey(&m->e[i]), m->e[i].len) = m->e[i];
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
	if (!e->h) {
		if (len > KINLINE) {
			if (!(e->k.p = malloc((size_t)len))) return -ENOMEM;
			memcpy(e->k.p, k, (size_t)len);
			m->bytes += (size_t)len;
		} else if (len) {
			memcpy(e->k.in, k, (size_t)len);
		}
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
	return e->h ? e->off : -1;
}

static void kmap_free(struct kmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].h && m->e[i].len > KINLINE) free(m->e[i].k.p);
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

/* --- transactions met on the walk: Kafka's CleanedTransactionMetadata ---------------------- */

/* Producer ids as keys of a kmap. */
static int64_t pid_get(struct kmap *m, int64_t pid)
{
	uint8_t pk[8];
	rt_be64_put(pk, (uint64_t)pid);
	return kmap_get(m, pk, 8);
}

static int pid_put(struct kmap *m, int64_t pid, int64_t v)
{
	uint8_t pk[8];
	rt_be64_put(pk, (uint64_t)pid);
	return kmap_put(m, pk, 8, v);
}

#define TX_GONE (-2)               /* a pid map value: was there, removed (kmap cannot delete) */

/* One walk's view of transactions.  `ab` lists the aborted transactions (from the .txnindex
 * files) that overlap the job, by first offset; one that ends at or past `from` (where the walk
 * starts) becomes ongoing once the walk reaches its first offset, and ends at its ABORT marker. */
struct txns {
	const struct stor_aborted_txn *ab;
	size_t nab, next;
	int64_t from;
	struct kmap aborted;       /* pid -> ongoing aborted transaction: its index in ab * 2, + 1 once
	                            * a batch of it was seen */
	struct kmap committed;     /* pid -> 1: a batch of its ongoing (not aborted) transaction seen */
};

static void txns_init(struct txns *t, const struct stor_aborted_txn *ab, size_t n, int64_t from)
{
	*t = (struct txns){.ab = ab, .nab = n, .from = from};
}

static void txns_fini(struct txns *t)
{
	kmap_free(&t->aborted);
	kmap_free(&t->committed);
}

static int txns_reach(struct txns *t, int64_t offset)
{
	while (t->next < t->nab && t->ab[t->next].first_offset <= offset) {
		int64_t pid = t->ab[t->next].producer_id;
		if (t->ab[t->next].last_offset >= t->from && pid_get(&t->aborted, pid) < 0) {
			int rc = pid_put(&t->aborted, pid, (int64_t)t->next * 2);
			if (rc) return rc;
		}
		t->next++;
	}
	return 0;
}

/* A data batch: 1 when it belongs to an aborted transaction (its records can go), 0 when not,
 * or -errno. */
static int txns_on_data(struct txns *t, const struct kp_batch_hdr *h)
{
	int rc = txns_reach(t, h->base_offset + h->last_offset_delta);
	if (rc || !(h->attributes & KP_ATTR_TRANSACTIONAL)) return rc;
	int64_t v = pid_get(&t->aborted, h->producer_id);
	if (v >= 0) {
		rc = pid_put(&t->aborted, h->producer_id, v | 1);
		return rc ? rc : 1;
	}
	return pid_put(&t->committed, h->producer_id, 1);
}

/* The control record type of a marker batch: 0 ABORT, 1 COMMIT, 2 anything that does not read
 * as one (unknown: kept), or -1 when the batch holds no record (a marker emptied by an earlier
 * cleaning). */
static int control_type(const struct kp_batch_hdr *h, const uint8_t *b, size_t sz)
{
	if (h->records_count <= 0) return -1;
	bool commit;
	int32_t coordinator_epoch;
	return stor_ps_marker_parse(b, sz, &commit, &coordinator_epoch) ? 2 : commit;
}

/* A control batch: 1 when it may go (no batch of its transaction was met on this walk, so no
 * data of it is left below: the data was removed or cleaned away), 0 when it stays, -errno.
 * An ABORT marker that stays sets *entry to its transaction's .txnindex entry, which the cleaned
 * segment's index keeps (readers still need it to skip the data); one that may go has no data
 * left to skip, and its entry is dropped (Kafka's cleanedIndex). */
static int txns_on_control(struct txns *t, const struct kp_batch_hdr *h, const uint8_t *b, size_t sz,
                           const struct stor_aborted_txn **entry)
{
	*entry = NULL;
	int rc = txns_reach(t, h->base_offset + h->last_offset_delta);
	if (rc) return rc;
	int type = control_type(h, b, sz);
	if (type < 0) return 1;
	if (type == 0) {
		int64_t v = pid_get(&t->aborted, h->producer_id);
		if (v >= 0 && (rc = pid_put(&t->aborted, h->producer_id, TX_GONE))) return rc;
		if (v < 0 || !(v & 1)) return 1;
		*entry = &t->ab[v >> 1];
		return 0;
	}
	if (type == 1) {
		int64_t v = pid_get(&t->committed, h->producer_id);
		if (v == 1 && (rc = pid_put(&t->committed, h->producer_id, TX_GONE))) return rc;
		return v == 1 ? 0 : 1;
	}
	return 0;
}

/* --- the cleaning rules -------------------------------------------------------------------- */

/* The producers' last batches, which stay (empty when their records go) so that a producer's
 * sequence and epoch survive: per producer id the last offset of its last data batch, and
 * the epoch of its last marker for a producer that wrote no data batch here (Kafka's
 * lastRecordsOfActiveProducers).  With the owner's producer state (j->active_known) the maps are
 * the active producers' and the log's batches add nothing; without it every producer seen counts
 * as active. */
struct producers {
	struct kmap last_data;
	struct kmap last_marker_epoch;
	bool fixed;                 /* filled from the producer state: note_producer adds nothing */
};

static int note_producer(struct producers *p, const struct kp_batch_hdr *h)
{
	if (h->producer_id < 0 || p->fixed) return 0;
	if (h->attributes & KP_ATTR_CONTROL)
		return pid_put(&p->last_marker_epoch, h->producer_id, h->producer_epoch);
	return pid_put(&p->last_data, h->producer_id, h->base_offset + h->last_offset_delta);
}

static bool last_of_producer(struct producers *p, const struct kp_batch_hdr *h)
{
	if (h->producer_id < 0) return false;
	int64_t d = pid_get(&p->last_data, h->producer_id);
	if (d >= 0) return h->base_offset + h->last_offset_delta == d;
	return (h->attributes & KP_ATTR_CONTROL) &&
	       pid_get(&p->last_marker_epoch, h->producer_id) == h->producer_epoch;
}

/* Pass 1 over one batch of the dirty section: newest offset per key, except in aborted data
 * and markers, which supersede nothing. */
static int map_batch(const uint8_t *b, size_t sz, struct kmap *keys, struct txns *tx, struct producers *pr)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	int rc = note_producer(pr, &h);
	if (rc) return rc;
	const struct stor_aborted_txn *entry;
	rc = h.attributes & KP_ATTR_CONTROL ? txns_on_control(tx, &h, b, sz, &entry) : txns_on_data(tx, &h);
	if (rc || (h.attributes & KP_ATTR_CONTROL)) return rc < 0 ? rc : 0;
	if (h.records_count <= 0) return 0;
	struct rt_arena a;
	rt_arena_init(&a, 1 << 16, 0);
	struct kp_batch_iter it;
	rc = kp_batch_iter_init(&it, b, sz, &a, 0);
	struct kp_record r;
	while (!rc && (rc = kp_batch_iter_next(&it, &r)) == 1) {
		rc = 0;
		if (r.key_len >= 0) rc = kmap_put(keys, r.key, r.key_len, h.base_offset + r.offset_delta);
	}
	rt_arena_fini(&a);
	return rc < 0 ? rc : 0;
}

struct clean_ctx {
	struct kmap *keys;
	struct txns *tx;
	struct producers *pr;
	int64_t now_ms;
	int64_t horizon_ms;        /* now + delete.retention.ms: the delete horizon a batch gets */
	struct stor_compact_stats *st;
	int64_t latest_horizon;    /* the latest delete horizon a kept batch carries, 0 when none */
	bool changed;              /* the segment's bytes change */
	struct stor_aborted_txn *entries; /* the segment's .txnindex entries that stay (owned) */
	size_t nentries, centries;
};

/* Kafka's shouldRetainRecord for a data record of v2: the newest of its key, and a tombstone
 * only until its batch's delete horizon (none yet: kept, and the batch gets one).  A record
 * without a key is dropped, as Kafka's cleaner does (compacted topics refuse them at produce;
 * they are there only when cleanup.policy changed from delete). */
static bool record_kept(struct clean_ctx *c, const struct kp_batch_hdr *h, const struct kp_record *r)
{
	if (r->key_len < 0) return false;
	if (kmap_get(c->keys, r->key, r->key_len) > h->base_offset + r->offset_delta) return false;
	if (r->value_len >= 0) return true;
	return !(h->attributes & KP_ATTR_DELETE_HORIZON) || c->now_ms < h->base_timestamp;
}

/* Appends the record at p (n bytes) with its timestamp delta replaced. */
static int put_rebased(struct rt_buf *o, const uint8_t *p, size_t n, int64_t delta)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	(void)rt_rd_varint(&r);
	int8_t attrs = rt_rd_i8(&r);
	(void)rt_rd_varlong(&r);
	if (r.err) return -EBADMSG;
	size_t rest = rt_rd_left(&r);
	size_t body = 1 + rt_uvarint_size(rt_zigzag64(delta)) + rest;
	rt_buf_put_varint(o, (int32_t)body);
	rt_buf_put_i8(o, attrs);
	rt_buf_put_varlong(o, delta);
	rt_buf_put(o, r.p, rest);
	return o->err;
}

/* A batch with no record left that must stay (Kafka's writeEmptyHeader): offsets, producer id,
 * epoch and sequence as they were, uncompressed, both timestamps the old max timestamp. */
static int put_empty(const struct kp_batch_hdr *h, const uint8_t *b, struct rt_buf *out)
{
	size_t at = out->len;
	rt_buf_put(out, b, KP_BATCH_HEADER_SIZE);
	if (out->err) return out->err;
	uint8_t *nb = out->data + at;
	int16_t attrs = (int16_t)(h->attributes & ~(KP_ATTR_COMPRESSION_MASK | KP_ATTR_DELETE_HORIZON));
	rt_be32_put(nb + KP_BATCH_OFF_LENGTH, (uint32_t)(KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD));
	rt_be16_put(nb + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)attrs);
	rt_be64_put(nb + KP_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)h->max_timestamp);
	rt_be32_put(nb + KP_BATCH_OFF_RECORDS_COUNT, 0);
	kp_batch_crc_update(nb, KP_BATCH_HEADER_SIZE);
	return 0;
}

/* Appends the cleaned form of one batch (or nothing) to out: Kafka's checkBatchRetention,
 * shouldRetainRecord and MemoryRecords.filterTo. */
static int clean_batch(struct clean_ctx *c, const uint8_t *b, size_t sz, struct rt_buf *out)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	bool control = (h.attributes & KP_ATTR_CONTROL) != 0;
	bool has_horizon = (h.attributes & KP_ATTR_DELETE_HORIZON) != 0;
	const struct stor_aborted_txn *entry = NULL;
	int can_discard = control ? txns_on_control(c->tx, &h, b, sz, &entry) : txns_on_data(c->tx, &h);
	if (can_discard < 0) return can_discard;
	if (entry) {
		if (c->nentries == c->centries) {
			size_t cap = c->centries ? c->centries * 2 : 16;
			void *n = realloc(c->entries, cap * sizeof *c->entries);
			if (!n) return -ENOMEM;
			c->entries = n;
			c->centries = cap;
		}
		c->entries[c->nentries++] = *entry;
	}
	/* Aborted data goes at once; a marker whose transaction has no data left first gets a
	 * delete horizon and goes on a pass after it. */
	bool discard = control ? can_discard && has_horizon && h.base_timestamp <= c->now_ms : can_discard;
	bool empty_txn_marker = control && can_discard;
	bool keep_empty = last_of_producer(c->pr, &h);

	struct rt_arena a;
	rt_arena_init(&a, 1 << 16, 0);
	struct rt_buf kept;
	rt_buf_init(&kept, 0);
	struct kp_batch_iter it;
	int32_t nkept = 0, total = 0;
	bool tombs = false;
	int64_t max_ts = -1;
	int rc = h.records_count > 0 ? kp_batch_iter_init(&it, b, sz, &a, 0) : 1;
	/* Kept records, uncompressed, as they were (rebased below when the batch gets a horizon). */
	while (!rc) {
		const uint8_t *start = it.p;
		struct kp_record r;
		int n = kp_batch_iter_next(&it, &r);
		if (n <= 0) {
			rc = n;
			break;
		}
		total++;
		bool keep = discard ? false : control ? true : record_kept(c, &h, &r);
		if (keep) {
			rt_buf_put(&kept, start, (size_t)(it.p - start));
			nkept++;
			tombs |= r.value_len < 0;
			if (h.base_timestamp + r.timestamp_delta > max_ts) max_ts = h.base_timestamp + r.timestamp_delta;
		}
	}
	if (rc == 1) rc = 0;
	if (!rc) rc = kept.err;
	if (rc) goto out;
	c->st->records_removed += total - nkept;
	bool need_horizon = nkept && (tombs || empty_txn_marker) && !has_horizon;
	/* A kept batch with a horizon still ahead holds a tombstone or a marker that goes once it
	 * passes.  One already passed holds nothing that waits for it (this pass removed what it
	 * could), so it must not make the log due again and again. */
	int64_t horizon = !nkept ? 0 : need_horizon ? c->horizon_ms : has_horizon ? h.base_timestamp : 0;
	if (horizon > c->now_ms && horizon > c->latest_horizon) c->latest_horizon = horizon;
	if (!nkept) {
		bool same = h.records_count == 0 && !(h.attributes & (KP_ATTR_COMPRESSION_MASK | KP_ATTR_DELETE_HORIZON)) &&
		            h.base_timestamp == h.max_timestamp;
		if (keep_empty && same) {
			rt_buf_put(out, b, sz);
			rc = out->err;
		} else if (keep_empty) {
			c->changed = true;
			rc = put_empty(&h, b, out);
		} else {
			c->changed = true;
			c->st->batches_removed++;
		}
		goto out;
	}
	if (nkept == total && !need_horizon) {
		rt_buf_put(out, b, sz);
		rc = out->err;
		goto out;
	}
	c->changed = true;
	int64_t base_ts = h.base_timestamp;
	int16_t attrs = h.attributes;
	struct rt_buf rebased;
	rt_buf_init(&rebased, 0);
	const uint8_t *recs = kept.data;
	size_t rlen = kept.len;
	if (need_horizon) {
		/* KIP-534: the horizon goes in the base timestamp, so every record's timestamp delta is
		 * rewritten to keep its timestamp. */
		base_ts = c->horizon_ms;
		attrs = (int16_t)(attrs | KP_ATTR_DELETE_HORIZON);
		struct rt_rd rd;
		rt_rd_init(&rd, kept.data, kept.len);
		for (int32_t i = 0; i < nkept && !rc; i++) {
			const uint8_t *start = rd.p;
			int32_t len = rt_rd_varint(&rd);
			size_t hl = (size_t)(rd.p - start);
			if (rd.err || len < 0 || (size_t)len > rt_rd_left(&rd)) {
				rc = -EBADMSG;
				break;
			}
			struct rt_rd one;
			rt_rd_init(&one, rd.p, (size_t)len);
			(void)rt_rd_i8(&one);
			int64_t delta = rt_rd_varlong(&one);
			rc = put_rebased(&rebased, start, hl + (size_t)len, h.base_timestamp + delta - base_ts);
			rt_rd_skip(&rd, (size_t)len);
		}
		recs = rebased.data;
		rlen = rebased.len;
	}
	enum kp_compression codec = (enum kp_compression)(h.attributes & KP_ATTR_COMPRESSION_MASK);
	struct rt_buf z;
	rt_buf_init(&z, 0);
	if (!rc && codec != KP_COMPRESSION_NONE && !(rc = kp_compress(codec, recs, rlen, &z))) {
		recs = z.data;
		rlen = z.len;
	}
	if (!rc) {
		size_t at = out->len;
		rt_buf_put(out, b, KP_BATCH_HEADER_SIZE);
		rt_buf_put(out, recs, rlen);
		if (!(rc = out->err)) {
			uint8_t *nb = out->data + at;
			size_t nsz = KP_BATCH_HEADER_SIZE + rlen;
			rt_be32_put(nb + KP_BATCH_OFF_LENGTH, (uint32_t)(nsz - KP_BATCH_LOG_OVERHEAD));
			rt_be16_put(nb + KP_BATCH_OFF_ATTRIBUTES, (uint16_t)attrs);
			rt_be64_put(nb + KP_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
			if (!(h.attributes & KP_ATTR_LOG_APPEND_TIME))
				rt_be64_put(nb + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
			rt_be32_put(nb + KP_BATCH_OFF_RECORDS_COUNT, (uint32_t)nkept);
			kp_batch_crc_update(nb, nsz);
		}
	}
	rt_buf_fini(&z);
	rt_buf_fini(&rebased);
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
	int64_t bps = j->io_rate ? atomic_load_explicit(j->io_rate, memory_order_relaxed) : j->io_bps;
	if (bps <= 0) return;
	uint64_t due = t0 + (uint64_t)((double)bytes * 1e9 / (double)bps);
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
	static const char *const ext[] = {"log", "index", "timeindex", "txnindex"};
	char nm[96];
	for (int i = 0; i < 4; i++) {
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

/* The segment's .txnindex as the cleaning leaves it, written to "<base>.txnindex.cleaned" and
 * synced: the entries whose ABORT marker stays with data to skip.  Returns the open index (the
 * descriptor follows the file through the rename) or NULL with *err. */
static struct stor_txnidx *txn_write(struct stor_clean_job *j, int64_t base, const struct clean_ctx *c, int *err)
{
	char nm[96];
	cleaned_name(nm, sizeof nm, base, "txnindex", "cleaned");
	int fd = openat(j->dfd, nm, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	struct stor_txnidx *x = stor_txnidx_open_fd(fd, err);
	if (!x) return NULL;
	int rc = 0;
	for (size_t i = 0; i < c->nentries && !rc; i++) rc = stor_txnidx_append(x, &c->entries[i]);
	if (!rc) rc = stor_txnidx_sync(x);
	if (rc) {
		stor_txnidx_close(x);
		*err = rc;
		return NULL;
	}
	return x;
}

/* The swap: .log.cleaned -> .log.swap, old indexes unlinked, .swap over .log, indexes renamed
 * in (see compact.h for why this order is crash safe).  A .txnindex missing at open is rebuilt
 * from the log like the others. */
static int swap_in(struct stor_clean_job *j, int64_t base)
{
	char lg[48], ix[48], tx[48], xx[48], cl[96], sw[96], icl[96], tcl[96], xcl[96];
	stor_segment_name(lg, sizeof lg, base, "log");
	stor_segment_name(ix, sizeof ix, base, "index");
	stor_segment_name(tx, sizeof tx, base, "timeindex");
	stor_segment_name(xx, sizeof xx, base, "txnindex");
	cleaned_name(cl, sizeof cl, base, "log", "cleaned");
	cleaned_name(sw, sizeof sw, base, "log", "swap");
	cleaned_name(icl, sizeof icl, base, "index", "cleaned");
	cleaned_name(tcl, sizeof tcl, base, "timeindex", "cleaned");
	cleaned_name(xcl, sizeof xcl, base, "txnindex", "cleaned");
	if (renameat(j->dfd, cl, j->dfd, sw)) return -errno;
	if ((unlinkat(j->dfd, ix, 0) && errno != ENOENT) || (unlinkat(j->dfd, tx, 0) && errno != ENOENT) ||
	    (unlinkat(j->dfd, xx, 0) && errno != ENOENT) || fsync(j->dfd))
		return -errno;
	if (renameat(j->dfd, sw, j->dfd, lg)) return -errno;
	/* From here the cleaned segment is the segment; a failure below leaves it without index
	 * files, which the next open rebuilds. */
	if (renameat(j->dfd, icl, j->dfd, ix) || renameat(j->dfd, tcl, j->dfd, tx) ||
	    renameat(j->dfd, xcl, j->dfd, xx))
		return 1;
	return fsync(j->dfd) ? 1 : 0;
}

/* Cleans in[i] with c (whose transaction state carries over from the segments before); sets
 * in[i].out when the segment changed and was swapped in. */
static int clean_segment(struct stor_clean_job *j, size_t i, struct clean_ctx *cc, uint64_t t0, uint64_t *io)
{
	struct stor_clean_in *in = &j->in[i];
	struct clean_ctx c = *cc;
	c.changed = false;
	c.entries = NULL;
	c.nentries = c.centries = 0;
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
	cc->latest_horizon = c.latest_horizon;  /* c is this segment's copy */
	if (!rc) rc = flush_out(j, s, &out);
	*io += r.bytes_read + s->visible;
	throttle(j, t0, *io);
	brd_fini(&r);
	rt_buf_fini(&out);
	if (!rc && c.changed) {
		stor_segment_seal_timeindex(s);
		rc = stor_segment_write_index_sync(s);
		if (!rc && (fdatasync(s->fd) || fdatasync(s->ifd) || fdatasync(s->tfd))) rc = -errno;
		if (!rc) in->txn_out = txn_write(j, in->base, &c, &rc);
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
				free(c.entries);
				return 0;
			}
		} else if (!rc) {
			rc = -ECANCELED;
		}
	}
	free(c.entries);
	stor_txnidx_close(in->txn_out);
	in->txn_out = NULL;
	stor_segment_free(s);
	unlink_cleaned(j->dfd, in->base);
	return rc;
}

/* Reads every batch of in[i] into fn (stops at the first error or cancel). */
static int walk(struct stor_clean_job *j, size_t i, int (*fn)(void *, const uint8_t *, size_t), void *arg,
                uint64_t *io)
{
	struct brd r;
	brd_init(&r, j->in[i].seg->fd, j->in[i].size);
	const uint8_t *b;
	size_t sz;
	uint64_t pos;
	int n, rc = 0;
	while (!rc && (n = brd_next(&r, &b, &sz, &pos)) == 1)
		rc = cancelled(j) ? -ECANCELED : fn(arg, b, sz);
	if (n < 0 && !rc) rc = n;
	*io += r.bytes_read;
	brd_fini(&r);
	return rc;
}

struct map_arg {
	struct kmap *keys;
	struct txns *tx;
	struct producers *pr;
};

static int map_one(void *arg, const uint8_t *b, size_t sz)
{
	struct map_arg *m = arg;
	return map_batch(b, sz, m->keys, m->tx, m->pr);
}

static int producer_one(void *arg, const uint8_t *b, size_t sz)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	return note_producer(arg, &h);
}

static int horizon_one(void *arg, const uint8_t *b, size_t sz)
{
	struct kp_batch_hdr h;
	if (kp_batch_hdr_parse(b, sz, &h)) return -EBADMSG;
	int64_t *latest = arg;
	/* An emptied batch keeps no horizon (put_empty) and waits for nothing. */
	if ((h.attributes & KP_ATTR_DELETE_HORIZON) && h.records_count > 0 && h.base_timestamp > *latest)
		*latest = h.base_timestamp;
	return 0;
}

/* A horizon scan: the latest delete horizon in the clean segments' batch headers (one already
 * passed counts too: the log was down when it passed, and what waited for it is still there). */
static void scan_horizons(struct stor_clean_job *j)
{
	uint64_t t0 = rt_clock_ns(), io = 0;
	int64_t latest = 0;
	int rc = 0;
	for (size_t i = 0; i < j->nin && !rc; i++) {
		rc = walk(j, i, horizon_one, &latest, &io);
		throttle(j, t0, io);
	}
	j->latest_horizon = latest;
	j->err = rc;
}

static void clean_run(struct stor_clean_job *j);

void stor_clean_run(struct stor_clean_job *j)
{
	/* The log holds its directory's descriptor only while a sync of it is due (fds.c): the
	 * job opens its own. */
	j->dfd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dfd < 0) {
		j->err = -errno;
		return;
	}
	clean_run(j);
	close(j->dfd);
	j->dfd = -1;
}

static void clean_run(struct stor_clean_job *j)
{
	if (j->scan) {
		scan_horizons(j);
		return;
	}
	struct kmap keys = {0};
	struct producers pr = {0};
	uint64_t t0 = rt_clock_ns(), io = 0;
	/* A cleaned segment may end before the next one begins (its last records were superseded),
	 * and recovery reads such a gap in a segment it scans as writes lost at a roll and deletes
	 * everything after it.  Segments below the recovery point are trusted, not scanned, so only
	 * those are cleaned, and the recovery point that covers them is made durable before the
	 * first swap. */
	int rc = stor_dir_checkpoint(j->dir);
	size_t nclean = j->nin;
	j->map_end = j->end;
	if (j->active_known) {
		for (size_t i = 0; i < j->nactive && !rc; i++) {
			const struct stor_clean_producer *a = &j->active[i];
			rc = a->last_data >= 0 ? pid_put(&pr.last_data, a->pid, a->last_data)
			                       : pid_put(&pr.last_marker_epoch, a->pid, a->epoch);
		}
		pr.fixed = true;
	}
	/* Producers' batches before the dirty section come first, so that "last" follows the log. */
	for (size_t i = 0; i < j->dirty_from && !rc && !pr.fixed; i++) rc = walk(j, i, producer_one, &pr, &io);
	/* The key map over the dirty section, bounded: Kafka's dedupe buffer.  At least one segment
	 * is mapped whatever its size, so cleaning always progresses.  Its walk starts at the first
	 * dirty offset, so it knows only the aborted transactions that end there or later. */
	struct txns tx;
	txns_init(&tx, j->aborted, j->naborted, j->first_dirty);
	struct map_arg ma = {.keys = &keys, .tx = &tx, .pr = &pr};
	for (size_t i = j->dirty_from; i < j->nin && !rc; i++) {
		if (i > j->dirty_from && (int64_t)(keys.bytes + pr.last_data.bytes) >= j->map_limit) {
			nclean = i;
			j->map_end = j->in[i].base;
			break;
		}
		rc = walk(j, i, map_one, &ma, &io);
		throttle(j, t0, io);
	}
	txns_fini(&tx);
	/* The clean pass walks from the log's first segment with every aborted transaction. */
	txns_init(&tx, j->aborted, j->naborted, INT64_MIN);
	struct clean_ctx c = {
		.keys = &keys, .tx = &tx, .pr = &pr, .st = &j->st, .now_ms = j->now_ms,
		.horizon_ms = j->cfg.delete_retention_ms > INT64_MAX - j->now_ms ? INT64_MAX
		              : j->now_ms + j->cfg.delete_retention_ms,
	};
	for (size_t i = 0; i < nclean && !rc; i++) {
		if (cancelled(j)) rc = -ECANCELED;
		else rc = clean_segment(j, i, &c, t0, &io);
	}
	j->latest_horizon = c.latest_horizon;
	txns_fini(&tx);
	kmap_free(&keys);
	kmap_free(&pr.last_data);
	kmap_free(&pr.last_marker_epoch);
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
	/* Aborted data is found through the .txnindex files: while one is missing (rebuilt from the
	 * log at open) nothing is cleanable, or aborted records would be taken for committed. */
	bool txn_known = log->txn_rebuild_from == INT64_MAX;
	for (size_t i = 0; txn_known && i < log->nseg; i++) txn_known = !log->segs[i]->txn_missing;
	if (!txn_known && log->nseg) end = log->segs[0]->base;
	for (size_t i = 0; i + 1 < log->nseg; i++) {
		const struct stor_segment *s = log->segs[i];
		if (s->base >= end) break;
		bool dirty = s->end_offset > first_dirty;
		/* Only below the recovery point (see stor_clean_run for why), and only below the last
		 * stable offset: an open transaction's records cannot be told committed or aborted. */
		if (!ready(s) || log->segs[i + 1]->base > log->recovery_point ||
		    (log->lso_known && log->segs[i + 1]->base > log->last_stable) ||
		    (dirty && cfg->min_compaction_lag_ms > 0 && s->max_ts > now_ms - cfg->min_compaction_lag_ms)) {
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
	bool compact = (cfg->cleanup_policy & STOR_CLEANUP_COMPACT) && !log->offline;
	v->due = compact && v->dirty_bytes && (v->ratio > cfg->min_cleanable_ratio || v->urgent);
	/* KIP-534 (Kafka's latestDeleteHorizon): a quiet log whose tombstones or markers waited for
	 * their delete horizon is cleaned again once it passes, dirty bytes or not. */
	v->horizon_due = compact && !v->due && log->delete_horizon > 0 &&
	                 log->delete_horizon <= now_ms && v->clean_bytes;
	/* After an open that horizon is in the batches only (compact.h): read once for it. */
	v->horizon_scan = compact && !v->due && !v->horizon_due && !log->horizon_known && v->clean_bytes;
	v->due = v->due || v->horizon_due || v->horizon_scan;
}

bool stor_log_cleaning(const struct stor_log *log)
{
	return log->clean_job != NULL;
}

int64_t stor_log_clean_point(const struct stor_log *log)
{
	return log->clean_point;
}

void stor_log_set_producers(struct stor_log *log, const struct stor_pstate *ps)
{
	log->pstate = ps;
}

struct active_arg {
	struct stor_clean_job *j;
	size_t cap;
};

static void active_one(void *arg, const struct stor_ps_info *p)
{
	struct active_arg *a = arg;
	if (a->j->nactive < a->cap)
		a->j->active[a->j->nactive++] = (struct stor_clean_producer){
			.pid = p->producer_id, .last_data = p->last_data_offset, .epoch = p->producer_epoch};
}

/* The active producers of the log's producer state, copied for the cleaner thread.  0 or
 * -ENOMEM. */
static int collect_active(struct stor_log *log, struct stor_clean_job *j)
{
	if (!log->pstate) return 0;
	size_t n = stor_pstate_count(log->pstate);
	j->active = malloc((n ? n : 1) * sizeof *j->active);
	if (!j->active) return -ENOMEM;
	struct active_arg a = {.j = j, .cap = n};
	stor_pstate_foreach(log->pstate, active_one, &a);
	j->active_known = true;
	return 0;
}

void stor_log_set_last_stable(struct stor_log *log, int64_t lso)
{
	log->last_stable = lso;
	log->lso_known = true;
}

static int by_first(const void *a, const void *b)
{
	const struct stor_aborted_txn *x = a, *y = b;
	return x->first_offset < y->first_offset ? -1 : x->first_offset > y->first_offset;
}

/* Every aborted transaction overlapping [first segment base, end), by first offset, into j.
 * Every segment's entries are read (no early stop on the recorded last stable offsets: one
 * missed entry would make aborted data look committed). */
static int collect_aborted(struct stor_log *log, int64_t end, struct stor_clean_job *j)
{
	int64_t from = log->segs[0]->base;
	size_t n = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < log->nseg; k++) {
			const struct stor_txnidx *x = log->segs[k]->txn;
			for (size_t i = 0, c = x ? stor_txnidx_count(x) : 0; i < c; i++) {
				const struct stor_aborted_txn *t = stor_txnidx_entry(x, i);
				if (t->last_offset < from || t->first_offset >= end) continue;
				if (pass) j->aborted[j->naborted++] = *t;
				else n++;
			}
		}
		if (!pass && !(j->aborted = malloc((n ? n : 1) * sizeof *j->aborted))) return -ENOMEM;
	}
	assert(j->naborted == n);
	qsort(j->aborted, n, sizeof *j->aborted, by_first);
	return 0;
}

/* With `force`, a log with only clean bytes is cleaned too (tombstones may have expired). */
static struct stor_clean_job *prepare(struct stor_log *log, int64_t now_ms, int64_t map_limit,
                                      bool force, int *err)
{
	*err = 0;
	if (!(log->cfg.cleanup_policy & STOR_CLEANUP_COMPACT) || log->offline || log->clean_job) return NULL;
	struct stor_clean_view v;
	stor_log_clean_view(log, now_ms, &v);
	if (!v.dirty_bytes && !((force || v.horizon_due || v.horizon_scan) && v.clean_bytes)) return NULL;
	bool scan = v.horizon_scan && !force;
	size_t nin = 0, dirty_from = SIZE_MAX;
	while (nin + 1 < log->nseg && log->segs[nin]->base < v.first_uncleanable) {
		if (dirty_from == SIZE_MAX && log->segs[nin]->end_offset > v.first_dirty) dirty_from = nin;
		nin++;
	}
	if (dirty_from == SIZE_MAX) dirty_from = nin;
	if (scan) nin = dirty_from;  /* horizons are only in segments a cleaning wrote */
	if (!nin) return NULL;
	struct stor_clean_job *j = calloc(1, sizeof *j);
	if (j) j->in = calloc(nin, sizeof *j->in);
	if (!j || !j->in || (!scan && (collect_aborted(log, v.first_uncleanable, j) || collect_active(log, j)))) {
		if (j) {
			free(j->in);
			free(j->aborted);
		}
		free(j);
		*err = -ENOMEM;
		return NULL;
	}
	j->log = log;
	j->scan = scan;
	j->cfg = log->cfg;
	j->dfd = -1;
	j->path = log->path;
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
				/* The cleaned .txnindex replaced the old one on disk; a segment without
				 * entries holds no descriptor for it. */
				if (stor_txnidx_count(in->txn_out)) {
					in->out->txn = in->txn_out;
				} else {
					stor_txnidx_close(in->txn_out);
				}
				in->txn_out = NULL;
				stor_segment_txn_close(old);
				in->out->txn_missing = false;
				in->out->txn_dirty = false;
				log->segs[k] = in->out;
				stor_segment_aux_note(in->out);  /* closed once idle (fds.c) */
				old->replaced = true;
				stor_grave_push(log, old);
			} else {
				/* Retention took it meanwhile: its pending unlink (by name) removes the
				 * cleaned files, which now hold that name. */
				stor_segment_free(in->out);
				stor_txnidx_close(in->txn_out);
				in->txn_out = NULL;
				j->st.segments_skipped++;
			}
		}
		old->refs--;
	}
	if (!j->err) {
		log->delete_horizon = j->latest_horizon;
		log->horizon_known = true;
		if (j->scan && j->latest_horizon)
			stor_logf("%s: latest delete horizon in the cleaned batches: %" PRId64 " (%s)", log->name,
			          j->latest_horizon, j->latest_horizon <= j->now_ms ? "passed: due" : "ahead");
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
	free(j->aborted);
	free(j->active);
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
