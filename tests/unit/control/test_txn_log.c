/* tests/unit/control/test_txn_log.c: TransactionLogKey / TransactionLogValue bytes, both value
 * versions, and hostile input. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"
#include "control/txnlog_codec.h"

static struct ctl_txn_tp tps3[] = { { "a", 0 }, { "bb", 2 }, { "a", 1 } };

static struct ctl_txnlog_value sample(int16_t version)
{
	return (struct ctl_txnlog_value){
		.version = version, .producer_id = 4000, .prev_producer_id = -1,
		.next_producer_id = -1, .producer_epoch = 3, .timeout_ms = 60000,
		.state = CTL_TXN_ONGOING, .tps = tps3, .ntps = 3, .last_update_ms = 1700000000001,
		.start_ms = 1700000000000,
	};
}

Test(ctl_txn_log, key_bytes)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	ctl_txnlog_key_encode(&b, "tx-1", 4);
	static const uint8_t want[] = { 0, 0, 0, 4, 't', 'x', '-', '1' };
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	const char *id;
	size_t len;
	cr_assert_eq(ctl_txnlog_key_decode(b.data, b.len, &id, &len), 0);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(id, "tx-1", 4), 0);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(ctl_txnlog_key_decode(b.data, n, &id, &len), n < 2 ? -EBADMSG : -EBADMSG);
	b.data[1] = 1;      /* another key version: not ours, skipped */
	cr_assert_eq(ctl_txnlog_key_decode(b.data, b.len, &id, &len), 1);
	rt_buf_fini(&b);
}

Test(ctl_txn_log, value_v0_bytes_group_topics)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	struct ctl_txnlog_value v = sample(0);
	ctl_txnlog_value_encode(&b, &v);
	const uint8_t *p = b.data;
	cr_assert_eq(rt_be16_get(p), 0);
	cr_assert_eq(rt_be64_get(p + 2), 4000);
	cr_assert_eq(rt_be16_get(p + 10), 3);
	cr_assert_eq(rt_be32_get(p + 12), 60000);
	cr_assert_eq(p[16], 1);
	cr_assert_eq(rt_be32_get(p + 17), 2);           /* two topics */
	cr_assert_eq(rt_be16_get(p + 21), 1);
	cr_assert_eq(p[23], 'a');
	cr_assert_eq(rt_be32_get(p + 24), 2);           /* a: 0, 1 */
	cr_assert_eq(rt_be32_get(p + 28), 0);
	cr_assert_eq(rt_be32_get(p + 32), 1);
	cr_assert_eq(rt_be16_get(p + 36), 2);
	cr_assert_eq(rt_be32_get(p + 40), 1);
	cr_assert_eq(rt_be32_get(p + 44), 2);
	cr_assert_eq(rt_be64_get(p + 48), 1700000000001);
	cr_assert_eq(rt_be64_get(p + 56), 1700000000000);
	cr_assert_eq(b.len, 64);
	struct ctl_txnlog_value d;
	cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.ntps, 3);
	cr_assert_str_eq(d.tps[2].topic, "bb");
	cr_assert_eq(d.tps[2].partition, 2);
	cr_assert_eq(d.state, CTL_TXN_ONGOING);
	cr_assert_eq(d.prev_producer_id, -1);
	ctl_txnlog_value_fini(&d);
	rt_buf_fini(&b);
}

Test(ctl_txn_log, empty_state_writes_a_null_partition_list)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	struct ctl_txnlog_value v = sample(0);
	v.state = CTL_TXN_EMPTY;
	v.ntps = 0;
	v.tps = NULL;
	ctl_txnlog_value_encode(&b, &v);
	cr_assert_eq((int32_t)rt_be32_get(b.data + 17), -1);
	struct ctl_txnlog_value d;
	cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.ntps, 0);
	rt_buf_fini(&b);
}

Test(ctl_txn_log, value_v1_is_flexible_with_tags)
{
	struct rt_buf b;
	rt_buf_init(&b, 0);
	struct ctl_txnlog_value v = sample(1);
	v.prev_producer_id = 3999;
	v.client_txn_version = 2;
	ctl_txnlog_value_encode(&b, &v);
	const uint8_t *p = b.data;
	cr_assert_eq(rt_be16_get(p), 1);
	cr_assert_eq(p[17], 3);                         /* compact array: 2 topics + 1 */
	cr_assert_eq(p[18], 2);                         /* compact string "a" */
	struct ctl_txnlog_value d;
	cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.prev_producer_id, 3999);
	cr_assert_eq(d.next_producer_id, -1);
	cr_assert_eq(d.client_txn_version, 2);
	cr_assert_eq(d.ntps, 3);
	cr_assert_str_eq(d.tps[0].topic, "a");
	cr_assert_eq(d.start_ms, 1700000000000);
	ctl_txnlog_value_fini(&d);
	/* an unknown tag (5) in the value's tag section is skipped */
	cr_assert_eq(b.data[b.len - 10 - 4 - 1], 2);  /* two tags: 0 and 2 */
	b.data[b.len - 10 - 4 - 1] = 3;
	rt_buf_put(&b, (uint8_t[]){ 5, 1, 0xee }, 3);
	cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), 0);
	cr_assert_eq(d.client_txn_version, 2);
	ctl_txnlog_value_fini(&d);
	rt_buf_fini(&b);
}

Test(ctl_txn_log, every_truncation_and_bad_status_is_refused)
{
	for (int ver = 0; ver <= 1; ver++) {
		struct rt_buf b;
		rt_buf_init(&b, 0);
		struct ctl_txnlog_value v = sample((int16_t)ver), d;
		ctl_txnlog_value_encode(&b, &v);
		for (size_t n = 0; n < b.len; n++)
			cr_assert_neq(ctl_txnlog_value_decode(b.data, n, &d), 0, "v%d len %zu", ver, n);
		b.data[16] = 8;
		cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), -EBADMSG);
		b.data[16] = 1;
		b.data[1] = 2;
		cr_assert_eq(ctl_txnlog_value_decode(b.data, b.len, &d), -EBADMSG);
		rt_buf_fini(&b);
	}
	/* a huge partition count with no bytes behind it allocates nothing */
	uint8_t huge[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff };
	struct ctl_txnlog_value d;
	cr_assert_eq(ctl_txnlog_value_decode(huge, sizeof(huge), &d), -EBADMSG);
}

Test(ctl_txn_log, state_names_are_kafkas)
{
	cr_assert_str_eq(ctl_txn_state_name(CTL_TXN_PREPARE_EPOCH_FENCE), "PrepareEpochFence");
	cr_assert_str_eq(ctl_txn_state_name(CTL_TXN_COMPLETE_ABORT), "CompleteAbort");
	cr_assert_str_eq(ctl_txn_state_name(CTL_TXN_EMPTY), "Empty");
}
