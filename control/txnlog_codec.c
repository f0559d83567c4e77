/*
 * control/txnlog_codec.c: TransactionLogKey / TransactionLogValue (layout in txnlog_codec.h).
 * Decoding goes through the sticky-error reader of base/bytes.h; every count is checked
 * against the bytes left before anything is allocated for it.
 */
#include "control/txnlog_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

static const char *const names[] = {
	"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort",
	"Dead", "PrepareEpochFence",
};

const char *ctl_txn_state_name(enum ctl_txn_state s)
{
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "Unknown";
}

void ctl_txnlog_key_encode(struct rt_buf *b, const char *txn_id, size_t len)
{
	rt_buf_put_i16(b, 0);
	rt_buf_put_i16(b, (int16_t)len);
	rt_buf_put(b, txn_id, len);
}

int ctl_txnlog_key_decode(const uint8_t *p, size_t n, const char **id, size_t *len)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int16_t ver = rt_rd_i16(&r);
	if (r.err)
		return -EBADMSG;
	if (ver != 0)
		return 1;
	int16_t l = rt_rd_i16(&r);
	const uint8_t *s = l >= 0 ? rt_rd_bytes(&r, (size_t)l) : NULL;
	if (r.err || l < 0 || rt_rd_left(&r))
		return -EBADMSG;
	*id = (const char *)s;
	*len = (size_t)l;
	return 0;
}

static void put_str(struct rt_buf *b, const char *s, bool flex)
{
	size_t n = strlen(s);
	if (flex)
		rt_buf_put_uvarint(b, n + 1);
	else
		rt_buf_put_i16(b, (int16_t)n);
	rt_buf_put(b, s, n);
}

static void put_len(struct rt_buf *b, int64_t n, bool flex)
{
	if (flex)
		rt_buf_put_uvarint(b, (uint64_t)(n + 1));
	else
		rt_buf_put_i32(b, (int32_t)n);
}

void ctl_txnlog_value_encode(struct rt_buf *b, const struct ctl_txnlog_value *v)
{
	bool flex = v->version >= 1;
	rt_buf_put_i16(b, v->version);
	rt_buf_put_i64(b, v->producer_id);
	rt_buf_put_i16(b, v->producer_epoch);
	rt_buf_put_i32(b, v->timeout_ms);
	rt_buf_put_i8(b, (int8_t)v->state);
	if (v->state == CTL_TXN_EMPTY && !v->ntps) {
		put_len(b, -1, flex);
	} else {
		/* group by topic, keeping first-seen order */
		size_t ntopics = 0;
		for (size_t i = 0; i < v->ntps; i++) {
			size_t j = 0;
			while (j < i && strcmp(v->tps[j].topic, v->tps[i].topic))
				j++;
			ntopics += j == i;
		}
		put_len(b, (int64_t)ntopics, flex);
		for (size_t i = 0; i < v->ntps; i++) {
			size_t j = 0;
			while (j < i && strcmp(v->tps[j].topic, v->tps[i].topic))
				j++;
			if (j < i)
				continue;
			size_t count = 0;
			for (size_t k = i; k < v->ntps; k++)
				count += !strcmp(v->tps[k].topic, v->tps[i].topic);
			put_str(b, v->tps[i].topic, flex);
			put_len(b, (int64_t)count, flex);
			for (size_t k = i; k < v->ntps; k++)
				if (!strcmp(v->tps[k].topic, v->tps[i].topic))
					rt_buf_put_i32(b, v->tps[k].partition);
			if (flex)
				rt_buf_put_uvarint(b, 0);
		}
	}
	rt_buf_put_i64(b, v->last_update_ms);
	rt_buf_put_i64(b, v->start_ms);
	if (flex) {
		int ntags = (v->prev_producer_id != -1) + (v->next_producer_id != -1) +
		            (v->client_txn_version != 0);
		rt_buf_put_uvarint(b, (uint64_t)ntags);
		if (v->prev_producer_id != -1) {
			rt_buf_put_uvarint(b, 0);
			rt_buf_put_uvarint(b, 8);
			rt_buf_put_i64(b, v->prev_producer_id);
		}
		if (v->next_producer_id != -1) {
			rt_buf_put_uvarint(b, 1);
			rt_buf_put_uvarint(b, 8);
			rt_buf_put_i64(b, v->next_producer_id);
		}
		if (v->client_txn_version != 0) {
			rt_buf_put_uvarint(b, 2);
			rt_buf_put_uvarint(b, 2);
			rt_buf_put_i16(b, v->client_txn_version);
		}
	}
}

/* Length of a string / array; -1 for null; sets a sticky error when it cannot fit. */
static int64_t get_len(struct rt_rd *r, bool flex, bool is_str, size_t unit)
{
	int64_t n;
	if (flex)
		n = (int64_t)rt_rd_uvar_n(r, 5) - 1;
	else
		n = is_str ? rt_rd_i16(r) : rt_rd_i32(r);
	if (n < -1 || (n > 0 && (uint64_t)n > rt_rd_left(r) / unit))
		rt_rd_fail(r, -EBADMSG);
	return r->err ? -1 : n;
}

static void skip_tags(struct rt_rd *r, struct ctl_txnlog_value *v)
{
	uint32_t n = rt_rd_uvarint(r);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t tag = rt_rd_uvarint(r), size = rt_rd_uvarint(r);
		if (r->err || size > rt_rd_left(r)) {
			rt_rd_fail(r, -EBADMSG);
			return;
		}
		if (v && tag == 0 && size == 8)
			v->prev_producer_id = rt_rd_i64(r);
		else if (v && tag == 1 && size == 8)
			v->next_producer_id = rt_rd_i64(r);
		else if (v && tag == 2 && size == 2)
			v->client_txn_version = rt_rd_i16(r);
		else
			rt_rd_skip(r, size);
	}
}

void ctl_txnlog_value_fini(struct ctl_txnlog_value *v)
{
	for (size_t i = 0; i < v->ntps; i++)
		free(v->tps[i].topic);
	free(v->tps);
	v->tps = NULL;
	v->ntps = 0;
}

int ctl_txnlog_value_decode(const uint8_t *p, size_t n, struct ctl_txnlog_value *v)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	memset(v, 0, sizeof(*v));
	v->prev_producer_id = v->next_producer_id = -1;
	v->version = rt_rd_i16(&r);
	if (r.err || v->version < 0 || v->version > 1)
		return -EBADMSG;
	bool flex = v->version == 1;
	v->producer_id = rt_rd_i64(&r);
	v->producer_epoch = rt_rd_i16(&r);
	v->timeout_ms = rt_rd_i32(&r);
	int8_t st = rt_rd_i8(&r);
	if (st < 0 || st > CTL_TXN_PREPARE_EPOCH_FENCE)
		rt_rd_fail(&r, -EBADMSG);
	v->state = (enum ctl_txn_state)st;
	int64_t ntopics = get_len(&r, flex, false, flex ? 3 : 6);
	size_t cap = 0;
	int rc = -EBADMSG;
	for (int64_t t = 0; t < ntopics && !r.err; t++) {
		int64_t sl = get_len(&r, flex, true, 1);
		const uint8_t *s = sl >= 0 ? rt_rd_bytes(&r, (size_t)sl) : NULL;
		int64_t np = get_len(&r, flex, false, 4);
		if (r.err || sl < 0 || np < 0)
			goto fail;
		for (int64_t k = 0; k < np; k++) {
			if (v->ntps == cap) {
				cap = cap ? cap * 2 : 8;
				struct ctl_txn_tp *tps = realloc(v->tps, cap * sizeof(*tps));
				if (!tps) {
					rc = -ENOMEM;
					goto fail;
				}
				v->tps = tps;
			}
			char *topic = malloc((size_t)sl + 1);
			if (!topic) {
				rc = -ENOMEM;
				goto fail;
			}
			memcpy(topic, s, (size_t)sl);
			topic[sl] = 0;
			v->tps[v->ntps].topic = topic;
			v->tps[v->ntps++].partition = rt_rd_i32(&r);
		}
		if (flex)
			skip_tags(&r, NULL);
	}
	v->last_update_ms = rt_rd_i64(&r);
	v->start_ms = rt_rd_i64(&r);
	if (flex)
		skip_tags(&r, v);
	if (r.err || rt_rd_left(&r))
		goto fail;
	return 0;
fail:
	ctl_txnlog_value_fini(v);
	return rc;
}
