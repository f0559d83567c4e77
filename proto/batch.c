/*
 * proto/batch.c: record batches v2 (see batch.h for the layout and the error convention).
 *
 * Everything here reads borrowed memory through bounds checks: a length field is compared with
 * the bytes present before anything behind it is touched, and records are read with the sticky
 * cursor of base/bytes.h, so a hostile batch is an error code, never an over-read.  The only
 * allocation driven by the input is the decompressed copy of a compressed batch, and that is
 * bounded by max_decompressed before it is made (see compress.c).
 */
#include "proto/batch.h"

#include <assert.h>
#include <sys/uio.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "proto/compress.h"

#define SET_WHY(w, s) do { if (w) *(w) = (s); } while (0)

static void hdr_decode(const uint8_t *p, struct kp_batch_hdr *h)
{
	h->base_offset = (int64_t)rt_be64_get(p + KP_BATCH_OFF_BASE_OFFSET);
	h->batch_length = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LENGTH);
	h->leader_epoch = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LEADER_EPOCH);
	h->magic = (int8_t)p[KP_BATCH_OFF_MAGIC];
	h->crc = rt_be32_get(p + KP_BATCH_OFF_CRC);
	h->attributes = (int16_t)rt_be16_get(p + KP_BATCH_OFF_ATTRIBUTES);
	h->last_offset_delta = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LAST_OFFSET_DELTA);
	h->base_timestamp = (int64_t)rt_be64_get(p + KP_BATCH_OFF_BASE_TIMESTAMP);
	h->max_timestamp = (int64_t)rt_be64_get(p + KP_BATCH_OFF_MAX_TIMESTAMP);
	h->producer_id = (int64_t)rt_be64_get(p + KP_BATCH_OFF_PRODUCER_ID);
	h->producer_epoch = (int16_t)rt_be16_get(p + KP_BATCH_OFF_PRODUCER_EPOCH);
	h->base_sequence = (int32_t)rt_be32_get(p + KP_BATCH_OFF_BASE_SEQUENCE);
	h->records_count = (int32_t)rt_be32_get(p + KP_BATCH_OFF_RECORDS_COUNT);
}

/* The magic byte decides between "not a batch at all" and "a format we no longer take". */
static int magic_check(int8_t magic)
{
	if (magic == 2) return 0;
	if (magic == 0 || magic == 1) return -ENOTSUP;
	return -EBADMSG;
}

int kp_batch_hdr_peek(const uint8_t *p, size_t n, struct kp_batch_hdr *h)
{
	if (n < KP_BATCH_HEADER_SIZE) return -EBADMSG;
	int rc = magic_check((int8_t)p[KP_BATCH_OFF_MAGIC]);
	if (rc) return rc;
	int32_t len = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LENGTH);
	if (len < KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD) return -EBADMSG;
	hdr_decode(p, h);
	return 0;
}

int kp_batch_hdr_parse(const uint8_t *p, size_t n, struct kp_batch_hdr *h)
{
	if (n < KP_BATCH_OFF_MAGIC + 1) return -EBADMSG;
	int32_t len = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LENGTH);
	if (len < 0 || (size_t)len > n - KP_BATCH_LOG_OVERHEAD) return -EBADMSG;
	return kp_batch_hdr_peek(p, n, h);
}

size_t kp_batch_size(const uint8_t *p, size_t n)
{
	if (n < KP_BATCH_LOG_OVERHEAD) return 0;
	int32_t len = (int32_t)rt_be32_get(p + KP_BATCH_OFF_LENGTH);
	if (len < 0) return 0;
	return KP_BATCH_LOG_OVERHEAD + (size_t)len;
}

bool kp_batch_crc_ok(const uint8_t *p, size_t size)
{
	if (size < KP_BATCH_HEADER_SIZE) return false;
	return rt_crc32c(0, p + KP_BATCH_CRC_START, size - KP_BATCH_CRC_START) ==
	       rt_be32_get(p + KP_BATCH_OFF_CRC);
}

void kp_batch_crc_update(uint8_t *p, size_t size)
{
	assert(size >= KP_BATCH_HEADER_SIZE);
	rt_be32_put(p + KP_BATCH_OFF_CRC, rt_crc32c(0, p + KP_BATCH_CRC_START, size - KP_BATCH_CRC_START));
}

void kp_batch_stamp(uint8_t *p, int64_t base_offset, int32_t leader_epoch)
{
	rt_be64_put(p + KP_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
	rt_be32_put(p + KP_BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
}

/* ---- iteration ---- */

static int iter_fail(struct kp_batch_iter *it, int err, const char *why)
{
	if (!it->err) {
		it->err = err;
		it->why = why;
	}
	return it->err;
}

int kp_batch_iter_init(struct kp_batch_iter *it, const uint8_t *batch, size_t size,
                       struct rt_arena *arena, size_t max_decompressed)
{
	memset(it, 0, sizeof(*it));
	int rc = kp_batch_hdr_parse(batch, size, &it->hdr);
	if (rc) return iter_fail(it, rc, rc == -ENOTSUP ? "magic 0/1 (message format v0/v1) is not supported"
	                                                  : "bad batch header, length or magic");
	size = KP_BATCH_LOG_OVERHEAD + (size_t)it->hdr.batch_length;
	if (it->hdr.records_count < 0) return iter_fail(it, -EBADMSG, "negative records_count");
	it->left = it->hdr.records_count;
	const uint8_t *recs = batch + KP_BATCH_HEADER_SIZE;
	size_t n = size - KP_BATCH_HEADER_SIZE;
	enum kp_compression c = (enum kp_compression)(it->hdr.attributes & KP_ATTR_COMPRESSION_MASK);
	if (c == KP_COMPRESSION_NONE) {
		it->p = recs;
		it->end = recs + n;
		return 0;
	}
	if (c > KP_COMPRESSION_ZSTD) return iter_fail(it, -ENOTSUP, "unknown compression codec");
	if (!max_decompressed) max_decompressed = KP_BATCH_DEFAULT_MAX_DECOMPRESSED;
	assert(arena);
	struct rt_buf out;
	rt_buf_init(&out, 0);
	rc = kp_decompress(c, recs, n, max_decompressed, &out);
	if (rc) {
		rt_buf_fini(&out);
		return iter_fail(it, rc, rc == -E2BIG ? "decompressed records over the configured bound"
		                                      : "compressed records do not decompress");
	}
	/* The copy into the arena ties the records to the caller's lifetime; an iterator has no fini. */
	static const uint8_t empty[1];
	const uint8_t *mem = empty;
	if (out.len) {
		uint8_t *copy = rt_arena_alloc(arena, out.len);
		if (!copy) {
			rt_buf_fini(&out);
			return iter_fail(it, -ENOMEM, "no memory for the decompressed records");
		}
		memcpy(copy, out.data, out.len);
		mem = copy;
	}
	it->p = mem;
	it->end = mem + out.len;
	rt_buf_fini(&out);
	return 0;
}

/* Reads a varint length that may be -1 (null) and borrows that many bytes. */
static const uint8_t *rd_nullable(struct rt_rd *r, int32_t *len)
{
	int32_t l = rt_rd_varint(r);
	*len = l;
	if (r->err) return NULL;
	if (l < -1) {
		rt_rd_fail(r, -EBADMSG);
		return NULL;
	}
	return l < 0 ? NULL : rt_rd_bytes(r, (size_t)l);
}

/* Parses one record's body (the len bytes after its length varint).  0, or -EBADMSG with *why. */
static int record_parse(const uint8_t *p, size_t len, struct kp_record *rec, const char **why)
{
	const uint8_t *body_end = p + len;
	struct rt_rd b;
	rt_rd_init(&b, p, len);
	rec->attributes = rt_rd_i8(&b);
	rec->timestamp_delta = rt_rd_varlong(&b);
	rec->offset_delta = rt_rd_varint(&b);
	rec->key = rd_nullable(&b, &rec->key_len);
	rec->value = rd_nullable(&b, &rec->value_len);
	rec->header_count = rt_rd_varint(&b);
	if (b.err) return *why = "record fields run past the record length", -EBADMSG;
	if (rec->header_count < 0) return *why = "negative header count", -EBADMSG;
	rec->headers = b.p;
	/* Walk the headers now so that the record's length is proven and header_next cannot fail. */
	for (int32_t i = 0; i < rec->header_count && !b.err; i++) {
		int32_t kl = rt_rd_varint(&b);
		if (kl < 0) rt_rd_fail(&b, -EBADMSG);
		rt_rd_skip(&b, (size_t)kl);
		int32_t vl;
		(void)rd_nullable(&b, &vl);
	}
	if (b.err) return *why = "record header runs past the record length", -EBADMSG;
	if (b.p != body_end) return *why = "record length does not match its fields", -EBADMSG;
	rec->headers_len = (size_t)(body_end - rec->headers);
	return 0;
}

int kp_batch_iter_next(struct kp_batch_iter *it, struct kp_record *rec)
{
	if (it->err) return it->err;
	if (it->left == 0) {
		if (it->p != it->end) return iter_fail(it, -EBADMSG, "bytes after the last of records_count records");
		return 0;
	}
	struct rt_rd r;
	rt_rd_init(&r, it->p, (size_t)(it->end - it->p));
	int32_t len = rt_rd_varint(&r);
	if (r.err) return iter_fail(it, -EBADMSG, "record length is truncated or an overlong varint (fewer records than records_count?)");
	if (len < 0 || (size_t)len > rt_rd_left(&r))
		return iter_fail(it, -EBADMSG, "record length runs past the end of the batch");
	const char *why;
	if (record_parse(r.p, (size_t)len, rec, &why)) return iter_fail(it, -EBADMSG, why);
	it->p = r.p + len;
	it->left--;
	return 1;
}

int kp_record_header_next(const struct kp_record *rec, size_t *pos, struct kp_record_header *h)
{
	if (*pos >= rec->headers_len) return 0;
	struct rt_rd r;
	rt_rd_init(&r, rec->headers + *pos, rec->headers_len - *pos);
	h->key_len = rt_rd_varint(&r);
	if (!r.err && h->key_len < 0) rt_rd_fail(&r, -EBADMSG);
	h->key = r.err ? NULL : rt_rd_bytes(&r, (size_t)h->key_len);
	h->value = rd_nullable(&r, &h->value_len);
	if (r.err) return r.err;
	*pos = (size_t)(r.p - rec->headers);
	return 1;
}

/* ---- validation ---- */

static void info_init(struct kp_records_info *info)
{
	memset(info, 0, sizeof(*info));
	info->max_timestamp = -1;
	info->min_timestamp = -1;
	info->first_timestamp = -1;
	info->producer_id = -1;
	info->producer_epoch = -1;
	info->base_sequence = -1;
	info->last_offset_delta = -1;
	info->header_max_timestamp = -1;
	info->compression = KP_COMPRESSION_NONE;
}

/* The rules one record of a batch whose CRC is good must follow (its index i); folds its
 * timestamp into *mx / *mn.  0 or -EINVAL with *why. */
static int record_check(const struct kp_validate_opts *o, const struct kp_batch_hdr *h, const struct kp_record *rec,
                        int32_t i, int64_t *mx, int64_t *mn, const char **why)
{
	if (rec->offset_delta != i) {
		SET_WHY(why, "record offset deltas are not 0..records_count-1");
		return -EINVAL;
	}
	if (o->require_keys && rec->key_len < 0 && !(h->attributes & KP_ATTR_CONTROL)) {
		SET_WHY(why, "a compacted topic does not accept a record without a key");
		return -EINVAL;
	}
	int64_t ts = (int64_t)((uint64_t)h->base_timestamp + (uint64_t)rec->timestamp_delta);
	if (ts > *mx) *mx = ts;
	if (ts != -1 && ts < *mn) *mn = ts;
	return 0;
}

/* Walks the records of one batch whose CRC is good; any failure is the client's doing. */
static int check_records(const uint8_t *b, size_t size, const struct kp_validate_opts *o,
                         struct rt_arena *scratch, int64_t *min_ts, int64_t *max_ts, const char **why)
{
	struct kp_batch_iter it;
	int rc = kp_batch_iter_init(&it, b, size, scratch, o->max_decompressed);
	if (rc) {
		SET_WHY(why, it.why);
		return rc;
	}
	struct kp_record rec;
	int32_t i = 0;
	int64_t mx = -1, mn = INT64_MAX;
	while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
		rc = record_check(o, &it.hdr, &rec, i, &mx, &mn, why);
		if (rc) return rc;
		i++;
	}
	if (rc < 0) {
		SET_WHY(why, it.why);
		return -EINVAL;
	}
	*max_ts = mx;
	*min_ts = mn == INT64_MAX ? -1 : mn;
	return 0;
}

#define FAIL(e, s) do { SET_WHY(why, s); return (e); } while (0)

/* The checks of a batch's framing that come before its CRC: b holds at least the first
 * min(left, 61) bytes of a batch with `left` bytes of the record set from its start.  Sets
 * *size to the batch's whole size. */
static int batch_frame_check(const uint8_t *b, size_t left, const struct kp_validate_opts *o, size_t *size,
                             const char **why)
{
	if (left < KP_BATCH_OFF_MAGIC + 1) FAIL(-EBADMSG, "a partial batch at the end of the record set");
	int32_t len = (int32_t)rt_be32_get(b + KP_BATCH_OFF_LENGTH);
	if (len < 0) FAIL(-EBADMSG, "negative batch length");
	if ((size_t)len > left - KP_BATCH_LOG_OVERHEAD)
		FAIL(-EBADMSG, "batch length runs past the end of the record set");
	*size = KP_BATCH_LOG_OVERHEAD + (size_t)len;
	int rc = magic_check((int8_t)b[KP_BATCH_OFF_MAGIC]);
	if (rc == -ENOTSUP) FAIL(rc, "magic 0/1 (message format v0/v1) is not supported");
	if (rc) FAIL(rc, "unknown magic byte");
	if (*size < KP_BATCH_HEADER_SIZE) FAIL(-EBADMSG, "batch length is shorter than a batch header");
	if (o->max_batch_bytes && *size > o->max_batch_bytes)
		FAIL(-E2BIG, "batch is larger than message.max.bytes");
	return 0;
}

/* The checks of a batch's header once its CRC is good. */
static int batch_hdr_check(const struct kp_batch_hdr *h, const struct kp_validate_opts *o,
                           const struct kp_records_info *info, const char **why)
{
	if (!o->internal_origin) {
		if (info->batches > 0) FAIL(-EINVAL, "more than one batch in a partition's record set");
		if (h->base_offset != 0) FAIL(-EINVAL, "base offset of a produced batch is not 0");
		if (h->attributes & KP_ATTR_CONTROL) FAIL(-EINVAL, "clients may not write control batches");
		if (h->producer_id >= 0 && h->base_sequence < 0)
			FAIL(-EINVAL, "invalid sequence number for a producer id");
	}
	if (h->last_offset_delta < 0) FAIL(-EINVAL, "batch has an invalid offset range");
	if (h->records_count <= 0) FAIL(-EINVAL, "invalid records_count");
	if ((int64_t)h->records_count != (int64_t)h->last_offset_delta + 1)
		FAIL(-EINVAL, "records_count does not match last_offset_delta");
	if ((h->attributes & KP_ATTR_COMPRESSION_MASK) > KP_COMPRESSION_ZSTD) FAIL(-ENOTSUP, "unknown compression codec");
	return 0;
}

static void info_add(struct kp_records_info *info, const struct kp_batch_hdr *h, int64_t min_ts, int64_t max_ts)
{
	if (info->batches == 0) {
		info->first_timestamp = h->base_timestamp;
		info->producer_id = h->producer_id;
		info->producer_epoch = h->producer_epoch;
		info->base_sequence = h->base_sequence;
		info->last_offset_delta = h->last_offset_delta;
		info->header_max_timestamp = h->max_timestamp;
		info->compression = (enum kp_compression)(h->attributes & KP_ATTR_COMPRESSION_MASK);
	}
	info->batches++;
	info->records += h->records_count;
	info->offset_count += (int64_t)h->last_offset_delta + 1;
	if (max_ts > info->max_timestamp) info->max_timestamp = max_ts;
	if (min_ts != -1 && (info->min_timestamp == -1 || min_ts < info->min_timestamp))
		info->min_timestamp = min_ts;
	if (h->attributes & KP_ATTR_TRANSACTIONAL) info->transactional = true;
	if (h->attributes & KP_ATTR_CONTROL) info->control = true;
}

int kp_records_validate(const uint8_t *p, size_t n, const struct kp_validate_opts *o,
                        struct rt_arena *scratch, struct kp_records_info *info, const char **why)
{
	struct kp_records_info tmp;
	if (!info) info = &tmp;
	info_init(info);
	if (n == 0) FAIL(-EINVAL, "the record set holds no batch");
	size_t off = 0;
	while (off < n) {
		const uint8_t *b = p + off;
		size_t size;
		int rc = batch_frame_check(b, n - off, o, &size, why);
		if (rc) return rc;
		if (!kp_batch_crc_ok(b, size)) FAIL(-EBADMSG, "CRC-32C mismatch");
		struct kp_batch_hdr h;
		hdr_decode(b, &h);
		rc = batch_hdr_check(&h, o, info, why);
		if (rc) return rc;
		int64_t max_ts = h.max_timestamp, min_ts = h.base_timestamp;
		if (o->check_records) {
			rc = check_records(b, size, o, scratch, &min_ts, &max_ts, why);
			if (rc) return rc;
		}
		info_add(info, &h, min_ts, max_ts);
		off += size;
	}
	return 0;
}

/* ---- validation of a record set in pieces ---- */

/* A read position in a list of pieces. */
struct pcur {
	const struct iovec *v;
	int cnt, i;
	size_t off;                    /* into v[i] */
};

/* Moves to the next non-empty piece when the current one is used up. */
static void pcur_norm(struct pcur *c)
{
	while (c->i < c->cnt && c->off == c->v[c->i].iov_len) {
		c->i++;
		c->off = 0;
	}
}

/* Copies k bytes (present: the caller checked the total) into dst, or sums them into *crc when
 * dst is NULL, or steps over them when both are. */
static void pcur_take(struct pcur *c, uint8_t *dst, uint32_t *crc, size_t k)
{
	while (k) {
		pcur_norm(c);
		assert(c->i < c->cnt);
		const uint8_t *p = (const uint8_t *)c->v[c->i].iov_base + c->off;
		size_t m = c->v[c->i].iov_len - c->off;
		if (m > k) m = k;
		if (dst) {
			memcpy(dst, p, m);
			dst += m;
		} else if (crc) {
			/* the next piece is elsewhere in memory: start fetching it (the copy this path
			 * saves would have streamed it in) */
			if (c->i + 1 < c->cnt)
				for (size_t o = 0; o < c->v[c->i + 1].iov_len && o < 4096; o += 64)
					__builtin_prefetch((const uint8_t *)c->v[c->i + 1].iov_base + o);
			*crc = rt_crc32c(*crc, p, m);
		}
		c->off += m;
		k -= m;
	}
}

/* The next k bytes where they lie when one piece holds them all, else NULL (nothing moved). */
static const uint8_t *pcur_span(struct pcur *c, size_t k)
{
	pcur_norm(c);
	if (c->i == c->cnt || c->v[c->i].iov_len - c->off < k) return NULL;
	const uint8_t *p = (const uint8_t *)c->v[c->i].iov_base + c->off;
	c->off += k;
	return p;
}

int kp_records_validate_iov(const struct iovec *v, int cnt, const struct kp_validate_opts *o,
                            struct rt_arena *scratch, struct kp_records_info *info, const char **why)
{
	struct kp_records_info tmp;
	if (!info) info = &tmp;
	info_init(info);
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += v[i].iov_len;
	if (n == 0) FAIL(-EINVAL, "the record set holds no batch");
	if (o->internal_origin) FAIL(-EXDEV, "internal record sets are validated whole");
	struct pcur c = {v, cnt, 0, 0};
	uint8_t hb[KP_BATCH_HEADER_SIZE];
	size_t hn = n < sizeof hb ? n : sizeof hb;
	pcur_take(&c, hb, NULL, hn);
	size_t size;
	int rc = batch_frame_check(hb, n, o, &size, why);
	if (rc) return rc;
	/* kp_records_validate would check this batch whole before finding what follows it. */
	if (size != n) FAIL(-EXDEV, "more than one batch: validated whole");
	if (hb[KP_BATCH_OFF_ATTRIBUTES + 1] & KP_ATTR_COMPRESSION_MASK)
		FAIL(-EXDEV, "a compressed batch is decompressed from one buffer");
	uint32_t crc = rt_crc32c(0, hb + KP_BATCH_CRC_START, KP_BATCH_HEADER_SIZE - KP_BATCH_CRC_START);
	struct pcur rest = c;
	pcur_take(&c, NULL, &crc, size - KP_BATCH_HEADER_SIZE);
	if (crc != rt_be32_get(hb + KP_BATCH_OFF_CRC)) FAIL(-EBADMSG, "CRC-32C mismatch");
	struct kp_batch_hdr h;
	hdr_decode(hb, &h);
	rc = batch_hdr_check(&h, o, info, why);
	if (rc) return rc;
	int64_t max_ts = h.max_timestamp, min_ts = h.base_timestamp;
	if (o->check_records) {
		/* Records read where they lie; one split between pieces is copied (at most one per
		 * piece boundary).  The messages are those of kp_batch_iter_next, and as in
		 * check_records every failure is -EINVAL. */
		c = rest;
		size_t left = size - KP_BATCH_HEADER_SIZE;
		int64_t mx = -1, mn = INT64_MAX;
		uint8_t split_buf[4096];
		for (int32_t i = 0; i < h.records_count; i++) {
			struct rt_rd r;
			int32_t len;
			size_t ln;
			const uint8_t *p = NULL;
			/* Most records lie whole in one piece: read there, with no gathering. */
			pcur_norm(&c);
			size_t avail = c.i < c.cnt ? c.v[c.i].iov_len - c.off : 0;
			if (avail > left) avail = left;
			if (avail >= 5) {
				rt_rd_init(&r, (const uint8_t *)c.v[c.i].iov_base + c.off, avail);
				len = rt_rd_varint(&r);
				ln = avail - rt_rd_left(&r);
				if (!r.err && len >= 0 && (size_t)len <= rt_rd_left(&r)) {
					p = r.p;
					c.off += ln + (size_t)len;
				}
			}
			if (!p) {
				uint8_t vb[5];
				size_t vn = left < sizeof vb ? left : sizeof vb;
				struct pcur at = c;
				pcur_take(&at, vb, NULL, vn);
				rt_rd_init(&r, vb, vn);
				len = rt_rd_varint(&r);
				if (r.err)
					FAIL(-EINVAL, "record length is truncated or an overlong varint (fewer records than records_count?)");
				ln = vn - rt_rd_left(&r);
				if (len < 0 || (size_t)len > left - ln) FAIL(-EINVAL, "record length runs past the end of the batch");
				pcur_take(&c, NULL, NULL, ln);
				p = pcur_span(&c, (size_t)len);
				if (!p && len) {
					/* up to split_buf's size on the stack: an arena's memory is zeroed first */
					uint8_t *cp = (size_t)len <= sizeof split_buf ? split_buf : rt_arena_alloc(scratch, (size_t)len);
					if (!cp) FAIL(-ENOMEM, "no memory for a record split between pieces");
					pcur_take(&c, cp, NULL, (size_t)len);
					p = cp;
				}
			}
			static const uint8_t none[1];
			struct kp_record rec;
			if (record_parse(p ? p : none, (size_t)len, &rec, why)) return -EINVAL;
			rc = record_check(o, &h, &rec, i, &mx, &mn, why);
			if (rc) return rc;
			left -= ln + (size_t)len;
		}
		if (left) FAIL(-EINVAL, "bytes after the last of records_count records");
		max_ts = mx;
		min_ts = mn == INT64_MAX ? -1 : mn;
	}
	info_add(info, &h, min_ts, max_ts);
	return 0;
}

#undef FAIL

/* ---- building ---- */

void kp_batch_builder_init(struct kp_batch_builder *b, enum kp_compression c, int16_t extra_attributes,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence)
{
	memset(b, 0, sizeof(*b));
	rt_buf_init(&b->out, 0);
	rt_buf_init(&b->recs, 0);
	b->compression = c;
	b->attributes = (int16_t)((extra_attributes & ~KP_ATTR_COMPRESSION_MASK) | (c & KP_ATTR_COMPRESSION_MASK));
	b->base_timestamp = -1;
	b->max_timestamp = -1;
	b->producer_id = producer_id;
	b->producer_epoch = producer_epoch;
	b->base_sequence = base_sequence;
}

void kp_batch_builder_fini(struct kp_batch_builder *b)
{
	rt_buf_fini(&b->out);
	rt_buf_fini(&b->recs);
}

int kp_batch_builder_marker(struct kp_batch_builder *b, int64_t producer_id, int16_t producer_epoch, bool commit,
                            int32_t coordinator_epoch, int64_t timestamp)
{
	uint8_t key[4], val[6];
	rt_be16_put(key, 0);
	rt_be16_put(key + 2, commit ? 1 : 0);
	rt_be16_put(val, 0);
	rt_be32_put(val + 2, (uint32_t)coordinator_epoch);
	kp_batch_builder_init(b, KP_COMPRESSION_NONE, KP_ATTR_TRANSACTIONAL | KP_ATTR_CONTROL, producer_id,
	                      producer_epoch, -1);
	return kp_batch_builder_add(b, timestamp, key, 4, val, 6, NULL, 0);
}

static size_t vsize32(int32_t v) { return rt_uvarint_size(rt_zigzag32(v)); }
static size_t len_size(int32_t l) { return vsize32(l) + (l > 0 ? (size_t)l : 0); }

int kp_batch_builder_add(struct kp_batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                         const void *value, int32_t value_len,
                         const struct kp_record_header *headers, int32_t header_count)
{
	if (key_len < -1 || value_len < -1 || header_count < 0 || (header_count && !headers)) return -EINVAL;
	if ((key_len > 0 && !key) || (value_len > 0 && !value)) return -EINVAL;
	if (b->count == INT32_MAX) return -E2BIG;
	int64_t base = b->count ? b->base_timestamp : timestamp;
	int64_t delta = (int64_t)((uint64_t)timestamp - (uint64_t)base);
	uint64_t body = 1 + rt_uvarint_size(rt_zigzag64(delta)) + vsize32(b->count) +
	                len_size(key_len) + len_size(value_len) + vsize32(header_count);
	for (int32_t i = 0; i < header_count; i++) {
		const struct kp_record_header *h = &headers[i];
		if (h->key_len < 0 || h->value_len < -1) return -EINVAL;
		if ((h->key_len > 0 && !h->key) || (h->value_len > 0 && !h->value)) return -EINVAL;
		body += len_size(h->key_len) + len_size(h->value_len);
	}
	if (body > INT32_MAX) return -E2BIG;
	struct rt_buf *r = &b->recs;
	size_t mark = r->len;
	rt_buf_put_varint(r, (int32_t)body);
	rt_buf_put_i8(r, 0);
	rt_buf_put_varlong(r, delta);
	rt_buf_put_varint(r, b->count);
	rt_buf_put_varint(r, key_len);
	if (key_len > 0) rt_buf_put(r, key, (size_t)key_len);
	rt_buf_put_varint(r, value_len);
	if (value_len > 0) rt_buf_put(r, value, (size_t)value_len);
	rt_buf_put_varint(r, header_count);
	for (int32_t i = 0; i < header_count; i++) {
		const struct kp_record_header *h = &headers[i];
		rt_buf_put_varint(r, h->key_len);
		if (h->key_len > 0) rt_buf_put(r, h->key, (size_t)h->key_len);
		rt_buf_put_varint(r, h->value_len);
		if (h->value_len > 0) rt_buf_put(r, h->value, (size_t)h->value_len);
	}
	if (r->err) return r->err;
	if (r->len - mark > (size_t)INT32_MAX - KP_BATCH_HEADER_SIZE) {
		r->len = mark;
		return -E2BIG;
	}
	if (b->count == 0) b->base_timestamp = timestamp;
	if (b->count == 0 || timestamp > b->max_timestamp) b->max_timestamp = timestamp;
	b->count++;
	return 0;
}

const uint8_t *kp_batch_builder_finish(struct kp_batch_builder *b, size_t *size)
{
	struct rt_buf *o = &b->out;
	rt_buf_reset(o);
	rt_buf_put_i64(o, 0);                          /* base offset: the broker assigns it */
	rt_buf_put_i32(o, 0);                          /* batch length, below */
	rt_buf_put_i32(o, -1);                         /* partition leader epoch: unknown to a producer */
	rt_buf_put_i8(o, 2);
	rt_buf_put_u32(o, 0);                          /* CRC, below */
	rt_buf_put_i16(o, b->attributes);
	rt_buf_put_i32(o, b->count - 1);
	rt_buf_put_i64(o, b->base_timestamp);
	rt_buf_put_i64(o, b->max_timestamp);
	rt_buf_put_i64(o, b->producer_id);
	rt_buf_put_i16(o, b->producer_epoch);
	rt_buf_put_i32(o, b->base_sequence);
	rt_buf_put_i32(o, b->count);
	if (o->err) return NULL;
	static const uint8_t none[1];
	const uint8_t *recs = b->recs.len ? b->recs.data : none;
	if (b->compression == KP_COMPRESSION_NONE)
		rt_buf_put(o, recs, b->recs.len);
	else if (kp_compress(b->compression, recs, b->recs.len, o))
		return NULL;
	if (o->err || o->len - KP_BATCH_LOG_OVERHEAD > INT32_MAX) return NULL;
	rt_be32_put(o->data + KP_BATCH_OFF_LENGTH, (uint32_t)(o->len - KP_BATCH_LOG_OVERHEAD));
	kp_batch_crc_update(o->data, o->len);
	*size = o->len;
	return o->data;
}
