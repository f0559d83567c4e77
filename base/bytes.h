/*
 * base/bytes.h: big-endian integers and Kafka varints, read and written with bounds checks.
 *
 * Reading uses a sticky error (as SQLite's decoders do): once a read fails, every later read
 * returns 0 and leaves the cursor where it is, so a decoder of a hostile frame reads on and
 * checks `r->err` once at the end.  Nothing here allocates.
 *
 * Writing into a growable buffer lives in base/buf.h; this file only has the fixed-memory
 * helpers (rt_be*_put / rt_be*_get) used to stamp fields in place.
 */
#ifndef RT_BYTES_H
#define RT_BYTES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fixed-memory big-endian access.  The caller guarantees the bytes exist. */
static inline uint16_t rt_be16_get(const void *p) { uint16_t v; memcpy(&v, p, 2); return __builtin_bswap16(v); }
static inline uint32_t rt_be32_get(const void *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint64_t rt_be64_get(const void *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
static inline void rt_be16_put(void *p, uint16_t v) { v = __builtin_bswap16(v); memcpy(p, &v, 2); }
static inline void rt_be32_put(void *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
static inline void rt_be64_put(void *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }

/* Kafka's zigzag mapping for signed varints. */
static inline uint32_t rt_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }
static inline uint64_t rt_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int32_t rt_unzigzag32(uint32_t v) { return (int32_t)((v >> 1) ^ (~(v & 1) + 1)); }
static inline int64_t rt_unzigzag64(uint64_t v) { return (int64_t)((v >> 1) ^ (~(v & 1) + 1)); }

/* Bytes a varint encoding of v takes (1..5 for 32 bits, 1..10 for 64 bits). */
static inline size_t rt_uvarint_size(uint64_t v) { size_t n = 1; while (v >= 0x80) { v >>= 7; n++; } return n; }

/* Encode v as an unsigned varint at p (which has room for 10 bytes); returns bytes written. */
static inline size_t rt_uvarint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) { p[n++] = (uint8_t)(v | 0x80); v >>= 7; }
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * A read cursor over borrowed memory.  err is 0 or a negative errno:
 *   -EBADMSG  the bytes ran out, or a varint was longer than its type allows;
 *   other codes are set by callers (rt_rd_fail) for their own checks (-E2BIG over a limit).
 */
struct rt_rd {
	const uint8_t *p;
	const uint8_t *end;
	int err;
};

static inline void rt_rd_init(struct rt_rd *r, const void *p, size_t n)
{
	r->p = (const uint8_t *)p;
	r->end = r->p + n;
	r->err = 0;
}

static inline size_t rt_rd_left(const struct rt_rd *r) { return (size_t)(r->end - r->p); }

/* Record the first failure only; later ones keep the first cause. */
static inline void rt_rd_fail(struct rt_rd *r, int err) { if (!r->err) r->err = err; }

/* True when n more bytes can be read; otherwise sets the sticky error. */
static inline bool rt_rd_need(struct rt_rd *r, size_t n)
{
	if (r->err) return false;
	if (rt_rd_left(r) < n) { r->err = -EBADMSG; return false; }
	return true;
}

static inline uint8_t rt_rd_u8(struct rt_rd *r) { if (!rt_rd_need(r, 1)) return 0; return *r->p++; }
static inline int8_t rt_rd_i8(struct rt_rd *r) { return (int8_t)rt_rd_u8(r); }
static inline uint16_t rt_rd_u16(struct rt_rd *r) { if (!rt_rd_need(r, 2)) return 0; uint16_t v = rt_be16_get(r->p); r->p += 2; return v; }
static inline int16_t rt_rd_i16(struct rt_rd *r) { return (int16_t)rt_rd_u16(r); }
static inline uint32_t rt_rd_u32(struct rt_rd *r) { if (!rt_rd_need(r, 4)) return 0; uint32_t v = rt_be32_get(r->p); r->p += 4; return v; }
static inline int32_t rt_rd_i32(struct rt_rd *r) { return (int32_t)rt_rd_u32(r); }
static inline uint64_t rt_rd_u64(struct rt_rd *r) { if (!rt_rd_need(r, 8)) return 0; uint64_t v = rt_be64_get(r->p); r->p += 8; return v; }
static inline int64_t rt_rd_i64(struct rt_rd *r) { return (int64_t)rt_rd_u64(r); }
static inline double rt_rd_f64(struct rt_rd *r) { uint64_t u = rt_rd_u64(r); double d; memcpy(&d, &u, 8); return d; }

/* Unsigned varint of at most maxbytes bytes (5 for 32-bit, 10 for 64-bit values). */
static inline uint64_t rt_rd_uvar_n(struct rt_rd *r, unsigned maxbytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < maxbytes; i++) {
		if (!rt_rd_need(r, 1)) return 0;
		uint8_t b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) return v;
	}
	rt_rd_fail(r, -EBADMSG); /* overlong */
	return 0;
}
static inline uint32_t rt_rd_uvarint(struct rt_rd *r)
{
	uint64_t v = rt_rd_uvar_n(r, 5);
	if (v > UINT32_MAX) { rt_rd_fail(r, -EBADMSG); return 0; }
	return (uint32_t)v;
}
static inline int32_t rt_rd_varint(struct rt_rd *r) { return rt_unzigzag32(rt_rd_uvarint(r)); }
static inline int64_t rt_rd_varlong(struct rt_rd *r) { return rt_unzigzag64(rt_rd_uvar_n(r, 10)); }

/* Borrow n bytes from the cursor: returns a pointer into the underlying memory, or NULL. */
static inline const uint8_t *rt_rd_bytes(struct rt_rd *r, size_t n)
{
	if (!rt_rd_need(r, n)) return NULL;
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

static inline void rt_rd_skip(struct rt_rd *r, size_t n) { (void)rt_rd_bytes(r, n); }

#endif
