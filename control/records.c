/*
 * control/records.c: encoders and decoders for the `__consumer_offsets` record formats listed
 * in records.h, and the group-to-partition hash.  Decoders use base/bytes.h's sticky reader and
 * check it once; nothing here trusts a length before checking it against the bytes left.
 */
#include "control/records.h"

#include <errno.h>
#include <string.h>

#include "base/bytes.h"

int32_t ctl_offsets_partition(const char *group, size_t len, int32_t n)
{
	const uint8_t *s = (const uint8_t *)group;
	uint32_t h = 0;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t k;
		uint8_t c = s[i];
		if (c < 0x80) { cp = c; k = 1; }
		else if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; k = 2; }
		else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; k = 3; }
		else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; k = 4; }
		else { cp = c; k = 0; }
		if (k > 1) {
			if (i + k > len) k = 0;
			for (size_t j = 1; k && j < k; j++) {
				if ((s[i + j] & 0xc0) != 0x80) k = 0;
				else cp = (cp << 6) | (s[i + j] & 0x3f);
			}
		}
		if (k == 0) { cp = c; k = 1; }
		i += k;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			h = 31 * h + (0xd800 + (cp >> 10));
			h = 31 * h + (0xdc00 + (cp & 0x3ff));
		} else {
			h = 31 * h + cp;
		}
	}
	int32_t hv = (int32_t)h;
	int32_t a = hv == INT32_MIN ? 0 : (hv < 0 ? -hv : hv);
	return a % n;
}

/* ---- writing ---- */

static void put_str(struct rt_buf *b, struct ctl_slice s)
{
	if (s.len < 0) {
		rt_buf_put_i16(b, -1);
		return;
	}
	rt_buf_put_i16(b, (int16_t)s.len);
	rt_buf_put(b, s.p, (size_t)s.len);
}

static void put_bytes(struct rt_buf *b, struct ctl_slice s)
{
	if (s.len < 0) {
		rt_buf_put_i32(b, -1);
		return;
	}
	rt_buf_put_i32(b, s.len);
	rt_buf_put(b, s.p, (size_t)s.len);
}

void ctl_rec_offset_key_put(struct rt_buf *out, struct ctl_slice group, struct ctl_slice topic, int32_t partition)
{
	rt_buf_put_i16(out, 1);
	put_str(out, group);
	put_str(out, topic);
	rt_buf_put_i32(out, partition);
}

void ctl_rec_offset_value_put(struct rt_buf *out, const struct ctl_offset_value *v)
{
	struct ctl_slice md = v->metadata.len < 0 ? (struct ctl_slice){ "", 0 } : v->metadata;
	if (v->expire_ts >= 0) {
		rt_buf_put_i16(out, 1);
		rt_buf_put_i64(out, v->offset);
		put_str(out, md);
		rt_buf_put_i64(out, v->commit_ts);
		rt_buf_put_i64(out, v->expire_ts);
		return;
	}
	rt_buf_put_i16(out, 3);
	rt_buf_put_i64(out, v->offset);
	rt_buf_put_i32(out, v->leader_epoch);
	put_str(out, md);
	rt_buf_put_i64(out, v->commit_ts);
}

void ctl_rec_group_key_put(struct rt_buf *out, struct ctl_slice group)
{
	rt_buf_put_i16(out, 2);
	put_str(out, group);
}

void ctl_rec_group_value_put(struct rt_buf *out, const struct ctl_group_value *v)
{
	rt_buf_put_i16(out, 3);
	put_str(out, v->protocol_type.len < 0 ? (struct ctl_slice){ "", 0 } : v->protocol_type);
	rt_buf_put_i32(out, v->generation);
	put_str(out, v->protocol);
	put_str(out, v->leader);
	rt_buf_put_i64(out, v->current_state_ts);
	rt_buf_put_i32(out, v->n_members);
	for (int32_t i = 0; i < v->n_members; i++) {
		const struct ctl_member_rec *m = &v->members[i];
		put_str(out, m->member_id);
		put_str(out, m->instance_id);
		put_str(out, m->client_id);
		put_str(out, m->client_host);
		rt_buf_put_i32(out, m->rebalance_timeout);
		rt_buf_put_i32(out, m->session_timeout);
		put_bytes(out, m->subscription.len < 0 ? (struct ctl_slice){ "", 0 } : m->subscription);
		put_bytes(out, m->assignment.len < 0 ? (struct ctl_slice){ "", 0 } : m->assignment);
	}
}

/* ---- reading ---- */

static struct ctl_slice get_str(struct rt_rd *r, bool flexible, bool nullable)
{
	int64_t len;
	if (flexible)
		len = (int64_t)rt_rd_uvarint(r) - 1;
	else
		len = rt_rd_i16(r);
	if (len < 0) {
		if (len != -1 || !nullable)
			rt_rd_fail(r, -EBADMSG);
		return CTL_SLICE_NULL;
	}
	const uint8_t *p = rt_rd_bytes(r, (size_t)len);
	if (!p)
		return CTL_SLICE_NULL;
	return (struct ctl_slice){ (const char *)p, (int32_t)len };
}

static struct ctl_slice get_bytes(struct rt_rd *r, bool flexible)
{
	int64_t len;
	if (flexible)
		len = (int64_t)rt_rd_uvarint(r) - 1;
	else
		len = rt_rd_i32(r);
	if (len < 0) {
		if (len != -1)
			rt_rd_fail(r, -EBADMSG);
		return CTL_SLICE_NULL;
	}
	const uint8_t *p = rt_rd_bytes(r, (size_t)len);
	if (!p)
		return CTL_SLICE_NULL;
	return (struct ctl_slice){ (const char *)p, (int32_t)len };
}

/* Skips a tagged-field section: count, then (tag, size, bytes) each. */
static void skip_tags(struct rt_rd *r)
{
	uint32_t n = rt_rd_uvarint(r);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		(void)rt_rd_uvarint(r);
		rt_rd_skip(r, rt_rd_uvarint(r));
	}
}

int ctl_rec_key_get(const void *p, size_t n, struct ctl_rec_key *k)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int16_t ver = rt_rd_i16(&r);
	if (r.err)
		return -EBADMSG;
	memset(k, 0, sizeof(*k));
	if (ver == 0 || ver == 1) {
		k->kind = CTL_REC_OFFSET;
		k->group = get_str(&r, false, false);
		k->topic = get_str(&r, false, false);
		k->partition = rt_rd_i32(&r);
	} else if (ver == 2) {
		k->kind = CTL_REC_GROUP;
		k->group = get_str(&r, false, false);
	} else {
		return -ENOTSUP;
	}
	return r.err ? -EBADMSG : 0;
}

int ctl_rec_offset_value_get(const void *p, size_t n, struct ctl_offset_value *v)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int16_t ver = rt_rd_i16(&r);
	if (r.err)
		return -EBADMSG;
	if (ver < 0 || ver > 4)
		return -ENOTSUP;
	bool flex = ver >= 4;
	v->offset = rt_rd_i64(&r);
	v->leader_epoch = ver >= 3 ? rt_rd_i32(&r) : -1;
	v->metadata = get_str(&r, flex, false);
	v->commit_ts = rt_rd_i64(&r);
	v->expire_ts = ver == 1 ? rt_rd_i64(&r) : -1;
	if (flex)
		skip_tags(&r);
	return r.err ? -EBADMSG : 0;
}

int ctl_rec_group_value_get(const void *p, size_t n, struct rt_arena *arena, struct ctl_group_value *v)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int16_t ver = rt_rd_i16(&r);
	if (r.err)
		return -EBADMSG;
	if (ver < 0 || ver > 4)
		return -ENOTSUP;
	bool flex = ver >= 4;
	memset(v, 0, sizeof(*v));
	v->protocol_type = get_str(&r, flex, false);
	v->generation = rt_rd_i32(&r);
	v->protocol = get_str(&r, flex, true);
	v->leader = get_str(&r, flex, true);
	v->current_state_ts = ver >= 2 ? rt_rd_i64(&r) : -1;
	int64_t cnt = flex ? (int64_t)rt_rd_uvarint(&r) - 1 : rt_rd_i32(&r);
	if (r.err)
		return -EBADMSG;
	/* Each member takes at least 18 bytes, so a count the record cannot hold is corrupt
	 * (and never turns into a large allocation). */
	if (cnt < 0 || (size_t)cnt > rt_rd_left(&r) / 8)
		return -EBADMSG;
	v->n_members = (int32_t)cnt;
	if (cnt) {
		v->members = rt_arena_calloc(arena, (size_t)cnt, sizeof(*v->members));
		if (!v->members)
			return -ENOMEM;
	}
	for (int32_t i = 0; i < v->n_members && !r.err; i++) {
		struct ctl_member_rec *m = &v->members[i];
		m->member_id = get_str(&r, flex, false);
		m->instance_id = ver >= 3 ? get_str(&r, flex, true) : CTL_SLICE_NULL;
		m->client_id = get_str(&r, flex, false);
		m->client_host = get_str(&r, flex, false);
		m->rebalance_timeout = ver >= 1 ? rt_rd_i32(&r) : -1;
		m->session_timeout = rt_rd_i32(&r);
		m->subscription = get_bytes(&r, flex);
		m->assignment = get_bytes(&r, flex);
		if (flex)
			skip_tags(&r);
	}
	if (flex)
		skip_tags(&r);
	return r.err ? -EBADMSG : 0;
}
