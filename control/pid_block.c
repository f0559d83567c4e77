/*
 * control/pid_block.c: producer id blocks (see pid_block.h).
 *
 * Invariants: next <= end <= claimed; ids in [next, end) are covered by a durable block record;
 * an id below `next` has been handed out or skipped and is never handed out again.
 */
#include "control/pid_block.h"

#include <errno.h>
#include <string.h>

#include "base/bytes.h"

#define KEY_VERSION 0x7fff
#define KEY_NAME "ringtail.producer-id-block"
#define PRODUCER_IDS_RECORD_KEY 15

void ctl_pid_init(struct ctl_pid *p)
{
	memset(p, 0, sizeof(*p));
}

void ctl_pid_load(struct ctl_pid *p, int64_t next_producer_id)
{
	if (next_producer_id > p->claimed) {
		p->claimed = next_producer_id;
		/* whatever the old block had left may have been handed out before the restart */
		p->next = p->end = next_producer_id;
	}
}

bool ctl_pid_take(struct ctl_pid *p, int64_t *id)
{
	if (p->next >= p->end)
		return false;
	*id = p->next++;
	return true;
}

bool ctl_pid_want_block(struct ctl_pid *p, int64_t *next_producer_id)
{
	if (p->writing || p->claimed > p->end || p->end - p->next > CTL_PID_PREFETCH)
		return false;
	p->writing = true;
	*next_producer_id = p->claimed + CTL_PID_BLOCK_SIZE;
	return true;
}

void ctl_pid_block_done(struct ctl_pid *p, int64_t next_producer_id, bool ok)
{
	p->writing = false;
	if (!ok || next_producer_id <= p->claimed)
		return;
	int64_t start = next_producer_id - CTL_PID_BLOCK_SIZE;
	if (p->next >= p->end || start != p->end)
		p->next = start;        /* the old block is used up (or was not contiguous) */
	p->end = p->claimed = next_producer_id;
}

void ctl_pid_record_key(struct rt_buf *key)
{
	rt_buf_put_i16(key, KEY_VERSION);
	rt_buf_put_i16(key, (int16_t)strlen(KEY_NAME));
	rt_buf_put(key, KEY_NAME, strlen(KEY_NAME));
}

void ctl_pid_record_value(struct rt_buf *value, int64_t next_producer_id)
{
	rt_buf_put_uvarint(value, 1);                           /* frame version */
	rt_buf_put_uvarint(value, PRODUCER_IDS_RECORD_KEY);
	rt_buf_put_uvarint(value, 0);                           /* record version */
	rt_buf_put_i32(value, 0);                               /* broker id */
	rt_buf_put_i64(value, -1);                              /* broker epoch */
	rt_buf_put_i64(value, next_producer_id);
	rt_buf_put_uvarint(value, 0);                           /* tagged fields */
}

bool ctl_pid_is_record_key(const uint8_t *key, size_t len)
{
	size_t n = strlen(KEY_NAME);
	return len == 4 + n && rt_be16_get(key) == KEY_VERSION && rt_be16_get(key + 2) == n &&
	       !memcmp(key + 4, KEY_NAME, n);
}

int ctl_pid_record_parse(const uint8_t *value, size_t len, int64_t *next_producer_id)
{
	struct rt_rd r;
	rt_rd_init(&r, value, len);
	uint32_t frame = rt_rd_uvarint(&r), api = rt_rd_uvarint(&r), ver = rt_rd_uvarint(&r);
	(void)rt_rd_i32(&r);
	(void)rt_rd_i64(&r);
	int64_t next = rt_rd_i64(&r);
	uint32_t tags = rt_rd_uvarint(&r);
	for (uint32_t i = 0; i < tags && !r.err; i++) {
		(void)rt_rd_uvarint(&r);
		rt_rd_skip(&r, rt_rd_uvarint(&r));
	}
	if (r.err || rt_rd_left(&r) || frame != 1 || api != PRODUCER_IDS_RECORD_KEY || ver != 0 ||
	    next < 0)
		return -EBADMSG;
	*next_producer_id = next;
	return 0;
}
