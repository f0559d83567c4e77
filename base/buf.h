/*
 * base/buf.h: a growable byte buffer for writing, with a sticky error.
 *
 * The buffer owns its memory (malloc/realloc), grows by doubling and never beyond `max`
 * (0 = no limit other than memory).  Once a write fails (-ENOMEM or -E2BIG) every later write
 * is a no-op and `err` keeps the first cause, so an encoder writes on and checks once.
 */
#ifndef RT_BUF_H
#define RT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"

struct rt_buf {
	uint8_t *data;  /* owned; NULL until the first write */
	size_t len;
	size_t cap;
	size_t max;     /* upper bound on cap; 0 means unbounded */
	int err;        /* 0, -ENOMEM or -E2BIG */
};

/* Embedded lifetime: rt_buf_init sets up an empty buffer, rt_buf_fini frees its memory. */
void rt_buf_init(struct rt_buf *b, size_t max);
void rt_buf_fini(struct rt_buf *b);

/* Ensures room for n more bytes; returns 0 or the (sticky) negative errno. */
int rt_buf_reserve(struct rt_buf *b, size_t n);

/* Appends n bytes of zeroes and returns a pointer to them (valid until the next write), or NULL. */
uint8_t *rt_buf_extend(struct rt_buf *b, size_t n);

/* Hands the memory to the caller (who frees it with free()); the buffer is left empty. */
uint8_t *rt_buf_steal(struct rt_buf *b, size_t *len);

static inline void rt_buf_reset(struct rt_buf *b) { b->len = 0; b->err = 0; }

static inline void rt_buf_put(struct rt_buf *b, const void *p, size_t n)
{
	if (n == 0 || rt_buf_reserve(b, n)) return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}
static inline void rt_buf_put_u8(struct rt_buf *b, uint8_t v) { rt_buf_put(b, &v, 1); }
static inline void rt_buf_put_i8(struct rt_buf *b, int8_t v) { rt_buf_put(b, &v, 1); }
static inline void rt_buf_put_i16(struct rt_buf *b, int16_t v) { uint8_t t[2]; rt_be16_put(t, (uint16_t)v); rt_buf_put(b, t, 2); }
static inline void rt_buf_put_u16(struct rt_buf *b, uint16_t v) { uint8_t t[2]; rt_be16_put(t, v); rt_buf_put(b, t, 2); }
static inline void rt_buf_put_i32(struct rt_buf *b, int32_t v) { uint8_t t[4]; rt_be32_put(t, (uint32_t)v); rt_buf_put(b, t, 4); }
static inline void rt_buf_put_u32(struct rt_buf *b, uint32_t v) { uint8_t t[4]; rt_be32_put(t, v); rt_buf_put(b, t, 4); }
static inline void rt_buf_put_i64(struct rt_buf *b, int64_t v) { uint8_t t[8]; rt_be64_put(t, (uint64_t)v); rt_buf_put(b, t, 8); }
static inline void rt_buf_put_f64(struct rt_buf *b, double d) { uint64_t u; memcpy(&u, &d, 8); rt_buf_put_i64(b, (int64_t)u); }
static inline void rt_buf_put_uvarint(struct rt_buf *b, uint64_t v) { uint8_t t[10]; rt_buf_put(b, t, rt_uvarint_put(t, v)); }
static inline void rt_buf_put_varint(struct rt_buf *b, int32_t v) { rt_buf_put_uvarint(b, rt_zigzag32(v)); }
static inline void rt_buf_put_varlong(struct rt_buf *b, int64_t v) { rt_buf_put_uvarint(b, rt_zigzag64(v)); }

#endif
