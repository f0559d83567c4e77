/* tests/unit/control/test_txn_pid.c: producer id blocks: durable before use, never reused across
 * a restart, prefetched, and the block record's bytes. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/bytes.h"
#include "control/pid_block.h"

static int64_t take(struct ctl_pid *p)
{
	int64_t id = -1;
	cr_assert(ctl_pid_take(p, &id));
	return id;
}

/* What the control process does: take, and write a block record when asked. */
static int64_t take_or_claim(struct ctl_pid *p, int64_t *log, int *nlog)
{
	int64_t id, next;
	if (ctl_pid_want_block(p, &next)) {
		log[(*nlog)++] = next;
		ctl_pid_block_done(p, next, true);
	}
	cr_assert(ctl_pid_take(p, &id));
	return id;
}

Test(ctl_txn_pid, nothing_is_handed_out_before_a_block_is_durable)
{
	struct ctl_pid p;
	ctl_pid_init(&p);
	int64_t id, next;
	cr_assert(!ctl_pid_take(&p, &id));
	cr_assert(ctl_pid_want_block(&p, &next));
	cr_assert_eq(next, CTL_PID_BLOCK_SIZE);
	cr_assert(!ctl_pid_want_block(&p, &next));     /* one write at a time */
	cr_assert(!ctl_pid_take(&p, &id));
	ctl_pid_block_done(&p, CTL_PID_BLOCK_SIZE, false);     /* failed: still nothing */
	cr_assert(!ctl_pid_take(&p, &id));
	cr_assert(ctl_pid_want_block(&p, &next));
	ctl_pid_block_done(&p, next, true);
	cr_assert_eq(take(&p), 0);
	cr_assert_eq(take(&p), 1);
}

Test(ctl_txn_pid, blocks_are_prefetched_and_contiguous)
{
	struct ctl_pid p;
	ctl_pid_init(&p);
	int64_t log[16];
	int nlog = 0;
	for (int64_t i = 0; i < 2500; i++)
		cr_assert_eq(take_or_claim(&p, log, &nlog), i);
	cr_assert_eq(nlog, 3);
	cr_assert_eq(log[2], 3000);
}

Test(ctl_txn_pid, a_restart_never_reuses_an_id)
{
	struct ctl_pid p;
	ctl_pid_init(&p);
	int64_t log[16];
	int nlog = 0;
	int64_t last = -1;
	for (int i = 0; i < 10; i++)
		last = take_or_claim(&p, log, &nlog);
	/* restart: load every block record back, in log order */
	struct ctl_pid q;
	ctl_pid_init(&q);
	for (int i = 0; i < nlog; i++)
		ctl_pid_load(&q, log[i]);
	int64_t id;
	cr_assert(!ctl_pid_take(&q, &id));
	int64_t first = take_or_claim(&q, log, &nlog);
	cr_assert_gt(first, last);
	cr_assert_eq(first, CTL_PID_BLOCK_SIZE);
	/* an older record read after a newer one does not move allocation back */
	ctl_pid_load(&q, 1000);
	cr_assert_gt(take(&q), first);
}

Test(ctl_txn_pid, block_record_bytes)
{
	struct rt_buf k, v;
	rt_buf_init(&k, 1024);
	rt_buf_init(&v, 1024);
	ctl_pid_record_key(&k);
	ctl_pid_record_value(&v, 5000);
	cr_assert(ctl_pid_is_record_key(k.data, k.len));
	cr_assert_eq(rt_be16_get(k.data), 0x7fff);
	cr_assert_eq(v.len, 3 + 4 + 8 + 8 + 1);
	cr_assert_eq(v.data[0], 1);
	cr_assert_eq(v.data[1], 15);
	cr_assert_eq(v.data[2], 0);
	cr_assert_eq((int64_t)rt_be64_get(v.data + 15), 5000);
	int64_t next;
	cr_assert_eq(ctl_pid_record_parse(v.data, v.len, &next), 0);
	cr_assert_eq(next, 5000);
	for (size_t n = 0; n < v.len; n++)
		cr_assert_eq(ctl_pid_record_parse(v.data, n, &next), -EBADMSG);
	v.data[1] = 14;
	cr_assert_eq(ctl_pid_record_parse(v.data, v.len, &next), -EBADMSG);
	/* a transactional id key (version 0) is not a block key */
	uint8_t txkey[] = { 0, 0, 0, 1, 'x' };
	cr_assert(!ctl_pid_is_record_key(txkey, sizeof(txkey)));
	rt_buf_fini(&k);
	rt_buf_fini(&v);
}
