/*
 * proto/gen/kp_codec_rt.h: the wire primitives the generated codec is made of (private to
 * kp_msgs.c and kp_testvals.c; not part of proto's public surface).
 *
 * Reading: every helper reads through base/bytes.h's rt_rd, so a short or hostile frame sets
 * the reader's sticky error and later reads are no-ops.  Lengths are checked against the bytes
 * left before anything is borrowed, array counts against bytes left / the smallest element, so
 * nothing here over-reads and the arena never gets a request larger than the frame warrants.
 * Writing: into the chain's buffer; record data goes in as a borrowed memory or file segment.
 * A value that cannot be written (null where the version forbids it) makes the chain -EINVAL.
 */
#ifndef KP_CODEC_RT_H
#define KP_CODEC_RT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kp_msgs.h"

static inline void kp_chain_fail(struct rt_chain *c, int err)
{
	if (!c->err) c->err = err;
}

static inline bool kp_f64_same(double x, double y) { return memcmp(&x, &y, sizeof(x)) == 0; }

static inline bool kp_uuid_is_zero(const uint8_t *u)
{
	for (int i = 0; i < 16; i++)
		if (u[i]) return false;
	return true;
}

/* ---- reading ---- */

/* A length or count: INT16/INT32 before flexible versions, uvarint (n + 1) in them; -1 = null. */
static inline int64_t kp_rd_len(struct rt_rd *r, bool flex, bool wide)
{
	if (flex) return (int64_t)rt_rd_uvarint(r) - 1;
	return wide ? (int64_t)rt_rd_i32(r) : (int64_t)rt_rd_i16(r);
}

static inline void kp_rd_str(struct rt_rd *r, bool flex, bool nullable, struct kp_str *s)
{
	int64_t n = kp_rd_len(r, flex, false);
	if (r->err) return;
	if (n < 0) {
		if (n != -1 || !nullable) { rt_rd_fail(r, -EBADMSG); return; }
		s->ptr = NULL;
		s->len = -1;
		return;
	}
	if (n > INT16_MAX) { rt_rd_fail(r, -EBADMSG); return; }  /* Kafka strings are at most 32767 bytes */
	const uint8_t *p = rt_rd_bytes(r, (size_t)n);
	if (!p) return;
	s->ptr = (const char *)p;
	s->len = (int32_t)n;
}

/* Bytes and records share the framing; the slice is returned through *p / *len. */
static inline bool kp_rd_blob(struct rt_rd *r, bool flex, bool nullable, const uint8_t **p, int32_t *len)
{
	int64_t n = kp_rd_len(r, flex, true);
	if (r->err) return false;
	if (n < 0) {
		if (n != -1 || !nullable) { rt_rd_fail(r, -EBADMSG); return false; }
		*p = NULL;
		*len = -1;
		return true;
	}
	if ((uint64_t)n > rt_rd_left(r)) { rt_rd_fail(r, -EBADMSG); return false; }
	*p = rt_rd_bytes(r, (size_t)n);
	*len = (int32_t)n;
	return *p != NULL;
}

static inline void kp_rd_bytes(struct rt_rd *r, bool flex, bool nullable, struct kp_bytes *b)
{
	kp_rd_blob(r, flex, nullable, &b->ptr, &b->len);
}

static inline void kp_rd_records(struct rt_rd *r, bool flex, bool nullable, struct kp_records *rec)
{
	if (kp_rd_blob(r, flex, nullable, &rec->ptr, &rec->len)) {
		rec->fd = -1;
		rec->file_off = 0;
	}
}

static inline void kp_rd_uuid(struct rt_rd *r, uint8_t *u)
{
	const uint8_t *p = rt_rd_bytes(r, 16);
	if (p) memcpy(u, p, 16);
}

/* An array count, checked so that n elements of at least minsz bytes fit in what is left. */
static inline int32_t kp_rd_count(struct rt_rd *r, bool flex, bool nullable, size_t minsz)
{
	int64_t n = kp_rd_len(r, flex, true);
	if (r->err) return 0;
	if (n < -1 || (n == -1 && !nullable)) { rt_rd_fail(r, -EBADMSG); return 0; }
	if (minsz == 0) minsz = 1;
	if (n > 0 && (n > INT32_MAX || (uint64_t)n > rt_rd_left(r) / minsz)) { rt_rd_fail(r, -EBADMSG); return 0; }
	return (int32_t)n;
}

/* The marker of a nullable struct: -1 null, 1 present; no marker when the version does not
 * allow null. */
static inline bool kp_rd_present(struct rt_rd *r, bool nullable)
{
	if (!nullable) return !r->err;
	int8_t m = rt_rd_i8(r);
	if (r->err) return false;
	if (m == -1) return false;
	if (m != 1) { rt_rd_fail(r, -EBADMSG); return false; }
	return true;
}

/* Keeps an unknown tagged field; the array (room for all `count` tags of the section) comes
 * from the arena on first use.  False when the arena is exhausted. */
static inline bool kp_raw_tag_add(struct kp_raw_tags *t, struct rt_arena *a, uint32_t count,
                                  uint32_t tag, const uint8_t *p, uint32_t len)
{
	if (!t->items) {
		t->items = rt_arena_calloc(a, count, sizeof(*t->items));
		if (!t->items) return false;
		t->n = 0;
	}
	struct kp_raw_tag *e = &t->items[t->n++];
	e->tag = tag;
	e->len = len;
	e->ptr = p;
	return true;
}

/* ---- writing ---- */

static inline void kp_wr_len(struct rt_buf *b, bool flex, bool wide, int64_t n)
{
	if (flex) rt_buf_put_uvarint(b, (uint64_t)(n + 1));
	else if (wide) rt_buf_put_i32(b, (int32_t)n);
	else rt_buf_put_i16(b, (int16_t)n);
}

static inline void kp_wr_str(struct rt_chain *c, bool flex, bool nullable, const struct kp_str *s)
{
	struct rt_buf *b = rt_chain_buf(c);
	if (s->len < 0) {
		if (s->len != -1 || !nullable) { kp_chain_fail(c, -EINVAL); return; }
		kp_wr_len(b, flex, false, -1);
		return;
	}
	if (s->len > INT16_MAX) { kp_chain_fail(c, -EINVAL); return; }
	kp_wr_len(b, flex, false, s->len);
	rt_buf_put(b, s->ptr, (size_t)s->len);
}

static inline void kp_wr_bytes(struct rt_chain *c, bool flex, bool nullable, const struct kp_bytes *v)
{
	struct rt_buf *b = rt_chain_buf(c);
	if (v->len < 0) {
		if (v->len != -1 || !nullable) { kp_chain_fail(c, -EINVAL); return; }
		kp_wr_len(b, flex, true, -1);
		return;
	}
	kp_wr_len(b, flex, true, v->len);
	rt_buf_put(b, v->ptr, (size_t)v->len);
}

/* Record data is never copied: it joins the chain as a memory or file segment. */
static inline void kp_wr_records(struct rt_chain *c, bool flex, bool nullable, const struct kp_records *v)
{
	struct rt_buf *b = rt_chain_buf(c);
	if (v->len < 0) {
		if (v->len != -1 || !nullable) { kp_chain_fail(c, -EINVAL); return; }
		kp_wr_len(b, flex, true, -1);
		return;
	}
	kp_wr_len(b, flex, true, v->len);
	if (v->len == 0) return;
	if (v->fd >= 0) rt_chain_add_file(c, v->fd, v->file_off, (size_t)v->len);
	else rt_chain_add_mem(c, v->ptr, (size_t)v->len);
}

/* Writes an array count; true when elements follow. */
static inline bool kp_wr_count(struct rt_chain *c, bool flex, bool nullable, int32_t n, bool has_items)
{
	struct rt_buf *b = rt_chain_buf(c);
	if (n < 0) {
		if (n != -1 || !nullable) { kp_chain_fail(c, -EINVAL); return false; }
		kp_wr_len(b, flex, true, -1);
		return false;
	}
	if (n > 0 && !has_items) { kp_chain_fail(c, -EINVAL); return false; }
	kp_wr_len(b, flex, true, n);
	return n > 0;
}

static inline bool kp_wr_present(struct rt_chain *c, bool nullable, bool present)
{
	if (!nullable) {
		if (!present) kp_chain_fail(c, -EINVAL);
		return present;
	}
	rt_buf_put_i8(rt_chain_buf(c), present ? 1 : -1);
	return present;
}

/* Writes unknown tags from index u while their tag is below `below`; returns the next index.
 * Unknown tags were kept in wire order, so merging them by number keeps the section sorted. */
static inline int32_t kp_wr_raw_tags(struct rt_buf *b, const struct kp_raw_tags *t, int32_t u, uint64_t below)
{
	while (u < t->n && t->items[u].tag < below) {
		rt_buf_put_uvarint(b, t->items[u].tag);
		rt_buf_put_uvarint(b, t->items[u].len);
		rt_buf_put(b, t->items[u].ptr, t->items[u].len);
		u++;
	}
	return u;
}

/* A tagged field's size precedes it but is known only after it is written: insert the uvarint
 * at `at` and move the field up.  Tagged fields never hold records, so all of it is in b. */
static inline void kp_wr_size_at(struct rt_buf *b, size_t at)
{
	if (b->err) return;
	size_t n = b->len - at;
	uint8_t tmp[10];
	size_t k = rt_uvarint_put(tmp, n);
	if (!rt_buf_extend(b, k)) return;
	memmove(b->data + at + k, b->data + at, n);
	memcpy(b->data + at, tmp, k);
}

#endif
