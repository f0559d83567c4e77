/*
 * dataplane/produce_scan.c: the Produce layout walk of produce_scan.h over pieces.  A cursor
 * with a sticky error reads byte by byte where a field may straddle two pieces (they are a few
 * bytes) and steps over record sets without touching them.
 */
#include "dataplane/produce_scan.h"

#include <stdbool.h>
#include <sys/uio.h>

struct cur {
	const struct iovec *v;
	int cnt, i;
	size_t off;                    /* into v[i] */
	size_t left;                   /* frame bytes not read yet */
	bool err;
};

static uint8_t u8(struct cur *c)
{
	if (c->err || !c->left) {
		c->err = true;
		return 0;
	}
	while (c->off == c->v[c->i].iov_len) {
		c->i++;
		c->off = 0;
	}
	c->left--;
	return ((const uint8_t *)c->v[c->i].iov_base)[c->off++];
}

static uint64_t be(struct cur *c, int n)
{
	uint64_t x = 0;
	while (n--)
		x = x << 8 | u8(c);
	return x;
}

static void skip(struct cur *c, size_t n)
{
	if (c->err || n > c->left) {
		c->err = true;
		return;
	}
	c->left -= n;
	while (n) {
		size_t k = c->v[c->i].iov_len - c->off;
		if (k > n)
			k = n;
		c->off += k;
		n -= k;
		if (n) {
			c->i++;
			c->off = 0;
		}
	}
}

static uint32_t uvarint(struct cur *c)
{
	uint32_t x = 0;
	for (int sh = 0; sh < 35; sh += 7) {
		uint8_t b = u8(c);
		x |= (uint32_t)(b & 0x7f) << sh;
		if (!(b & 0x80))
			return x;
	}
	c->err = true;
	return 0;
}

/* A length: int16 / int32 before the flexible versions, then uvarint length + 1 (0 = null, -1
 * returned).  A negative length other than null's is an error. */
static int64_t length(struct cur *c, bool flex, int width)
{
	int64_t n;
	if (flex)
		n = (int64_t)uvarint(c) - 1;
	else
		n = width == 2 ? (int16_t)be(c, 2) : (int32_t)be(c, 4);
	if (n < -1)
		c->err = true;
	return n;
}

static void tags(struct cur *c)
{
	for (uint32_t n = uvarint(c); n-- && !c->err;) {
		(void)uvarint(c);
		skip(c, uvarint(c));
	}
}

int dp_produce_scan(const struct iovec *v, int cnt, size_t skip_, size_t len, struct dp_span *out, int max)
{
	struct cur c = {v, cnt, 0, 0, len, false};
	size_t tot = 0;
	for (int i = 0; i < cnt; i++)
		tot += v[i].iov_len;
	if (tot < skip_ || tot - skip_ < len)
		return -1;
	c.left = skip_ + len;
	skip(&c, skip_);
	if ((int16_t)be(&c, 2) != 0)
		return -1;
	int16_t ver = (int16_t)be(&c, 2);
	if (ver < 3 || ver > 11)
		return -1;
	bool flex = ver >= 9;
	skip(&c, 4);                                   /* correlation id */
	int64_t n = length(&c, false, 2);              /* client id: never compact */
	skip(&c, n > 0 ? (size_t)n : 0);
	if (flex)
		tags(&c);
	n = length(&c, flex, 2);                       /* transactional id */
	skip(&c, n > 0 ? (size_t)n : 0);
	skip(&c, 2 + 4);                               /* acks, timeout */
	int k = 0;
	int64_t topics = length(&c, flex, 4);
	for (int64_t t = 0; t < topics && !c.err; t++) {
		n = length(&c, flex, 2);                   /* name */
		skip(&c, n > 0 ? (size_t)n : 0);
		int64_t parts = length(&c, flex, 4);
		for (int64_t p = 0; p < parts && !c.err; p++) {
			skip(&c, 4);                           /* index */
			n = length(&c, flex, 4);               /* records */
			if (n > 0 && !c.err) {
				if (k == max || (size_t)n > c.left)
					return -1;
				out[k++] = (struct dp_span){(uint32_t)(len - c.left), (uint32_t)n};
				skip(&c, (size_t)n);
			}
			if (flex)
				tags(&c);
		}
		if (flex)
			tags(&c);
	}
	if (flex)
		tags(&c);
	return c.err || c.left ? -1 : k;
}
