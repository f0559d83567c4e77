/* tests/unit/storage/test_producer_state.c: every sequence and epoch decision of the producer
 * state, transactions and the last stable offset, expiry, and the snapshot format. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "storage/producer_state.h"

#define PID 1000

/* A tiny log: offsets assigned in order, as the owner shard does. */
struct tl {
	struct stor_pstate *ps;
	int64_t next;
	struct stor_ps_txn_done done[8];
	size_t ndone;
	struct stor_ps_dup dup;
};

static void tl_init(struct tl *t)
{
	memset(t, 0, sizeof(*t));
	t->ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert(t->ps);
}

static struct stor_ps_batch data(int64_t pid, int16_t epoch, int32_t seq, int32_t count)
{
	return (struct stor_ps_batch){ .producer_id = pid, .producer_epoch = epoch,
	                               .base_sequence = seq, .last_offset_delta = count - 1,
	                               .max_timestamp = 1000 };
}

static struct stor_ps_batch txdata(int64_t pid, int16_t epoch, int32_t seq, int32_t count)
{
	struct stor_ps_batch b = data(pid, epoch, seq, count);
	b.transactional = true;
	return b;
}

static struct stor_ps_batch marker(int64_t pid, int16_t epoch, bool commit, int32_t coord_epoch)
{
	return (struct stor_ps_batch){ .producer_id = pid, .producer_epoch = epoch,
	                               .base_sequence = -1, .last_offset_delta = 0,
	                               .max_timestamp = 2000, .transactional = true,
	                               .control = true, .commit = commit,
	                               .coordinator_epoch = coord_epoch };
}

/* Checks and (when accepted) appends n batches; returns the check's error code. */
static int16_t tl_append_n(struct tl *t, struct stor_ps_batch *b, size_t n, enum stor_ps_origin o)
{
	int16_t err = stor_pstate_check(t->ps, b, n, o, &t->dup);
	t->ndone = 0;
	if (err || t->dup.found)
		return err;
	for (size_t i = 0; i < n; i++) {
		b[i].base_offset = t->next;
		t->next += b[i].last_offset_delta + 1;
	}
	cr_assert_eq(stor_pstate_apply(t->ps, b, n, o, t->done, &t->ndone), 0);
	return 0;
}

static int16_t tl_append(struct tl *t, struct stor_ps_batch b, enum stor_ps_origin o)
{
	return tl_append_n(t, &b, 1, o);
}

static int16_t app(struct tl *t, struct stor_ps_batch b)
{
	return tl_append(t, b, b.control ? STOR_PS_COORDINATOR : STOR_PS_CLIENT);
}

Test(stor_producer_state, last_sequence_wraps_like_the_clients)
{
	cr_assert_eq(stor_ps_last_seq(0, 0), 0);
	cr_assert_eq(stor_ps_last_seq(10, 4), 14);
	cr_assert_eq(stor_ps_last_seq(INT32_MAX, 0), INT32_MAX);
	cr_assert_eq(stor_ps_last_seq(INT32_MAX, 1), 0);
	cr_assert_eq(stor_ps_last_seq(INT32_MAX - 1, 3), 1);
}

Test(stor_producer_state, new_producer_then_in_sequence_batches)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 0, 0, 3)), 0);
	cr_assert_eq(app(&t, data(PID, 0, 3, 2)), 0);
	cr_assert(!t.dup.found);
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.producer_epoch, 0);
	cr_assert_eq(in.last_sequence, 4);
	cr_assert_eq(in.txn_first_offset, -1);
	cr_assert_eq(t.next, 5);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, gap_and_repeat_out_of_window_are_out_of_order)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 0, 0, 1)), 0);
	cr_assert_eq(app(&t, data(PID, 0, 2, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(app(&t, data(PID, 0, 1, 1)), 0);
	/* a sequence that overlaps a retained batch without matching it exactly */
	cr_assert_eq(app(&t, data(PID, 0, 1, 2)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(t.next, 2);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, duplicates_of_the_last_five_batches_return_their_offsets)
{
	struct tl t;
	tl_init(&t);
	int64_t first[7];
	for (int i = 0; i < 7; i++) {
		first[i] = t.next;
		cr_assert_eq(app(&t, data(PID, 0, i * 2, 2)), 0);
	}
	for (int i = 2; i < 7; i++) {
		cr_assert_eq(app(&t, data(PID, 0, i * 2, 2)), 0);
		cr_assert(t.dup.found, "batch %d", i);
		cr_assert_eq(t.dup.first_offset, first[i]);
		cr_assert_eq(t.dup.last_offset, first[i] + 1);
	}
	/* older than the five retained: not a duplicate, and out of order */
	cr_assert_eq(app(&t, data(PID, 0, 2, 2)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert(!t.dup.found);
	cr_assert_eq(t.next, 14);       /* nothing written twice */
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, duplicate_needs_the_same_epoch)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 3, 0, 1)), 0);
	cr_assert_eq(app(&t, data(PID, 4, 0, 1)), 0);   /* bump: a new batch, not a duplicate */
	cr_assert(!t.dup.found);
	cr_assert_eq(t.next, 2);
	cr_assert_eq(app(&t, data(PID, 3, 0, 1)), STOR_PS_INVALID_PRODUCER_EPOCH);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, stale_epoch_is_invalid_producer_epoch)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 5, 0, 1)), 0);
	cr_assert_eq(app(&t, data(PID, 4, 1, 1)), STOR_PS_INVALID_PRODUCER_EPOCH);
	cr_assert_eq(app(&t, data(PID, 4, 0, 1)), STOR_PS_INVALID_PRODUCER_EPOCH);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, new_epoch_must_start_at_sequence_zero)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 0, 0, 5)), 0);
	cr_assert_eq(app(&t, data(PID, 1, 5, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(app(&t, data(PID, 1, 0, 1)), 0);
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.producer_epoch, 1);
	cr_assert_eq(in.last_sequence, 0);
	/* the old epoch's batches are gone: its sequence 5 is no duplicate at the new epoch */
	cr_assert_eq(app(&t, data(PID, 1, 5, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, unknown_producer_is_accepted_at_any_sequence)
{
	/* Kafka 2.5+ (KIP-360): state lost to retention is no error; the producer continues. */
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 7, 42, 2)), 0);
	cr_assert_eq(app(&t, data(PID, 7, 44, 1)), 0);
	cr_assert_eq(app(&t, data(PID, 7, 46, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, sequence_wraps_after_int32_max)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 0, INT32_MAX - 1, 2)), 0);
	cr_assert_eq(app(&t, data(PID, 0, 1, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(app(&t, data(PID, 0, 0, 3)), 0);
	cr_assert_eq(app(&t, data(PID, 0, 3, 1)), 0);
	/* a batch spanning the wrap is found as a duplicate */
	struct tl u;
	tl_init(&u);
	cr_assert_eq(app(&u, data(PID, 0, INT32_MAX - 1, 4)), 0);
	cr_assert_eq(app(&u, data(PID, 0, INT32_MAX - 1, 4)), 0);
	cr_assert(u.dup.found);
	cr_assert_eq(u.dup.first_offset, 0);
	cr_assert_eq(u.dup.last_offset, 3);
	cr_assert_eq(app(&u, data(PID, 0, 2, 1)), 0);
	cr_assert(!u.dup.found);
	stor_pstate_destroy(t.ps);
	stor_pstate_destroy(u.ps);
}

Test(stor_producer_state, client_rules_invalid_record)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(PID, 0, -1, 1)), STOR_PS_INVALID_RECORD);
	struct stor_ps_batch m = marker(PID, 0, true, 0);
	cr_assert_eq(tl_append(&t, m, STOR_PS_CLIENT), STOR_PS_INVALID_RECORD);
	/* batches without a producer id are not the producer state's business */
	cr_assert_eq(app(&t, data(-1, -1, -1, 3)), 0);
	cr_assert_eq(stor_pstate_count(t.ps), 0);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, batches_of_one_append_are_checked_in_order_and_atomically)
{
	struct tl t;
	tl_init(&t);
	struct stor_ps_batch ok[3] = { data(PID, 0, 0, 2), data(PID, 0, 2, 2), data(PID + 1, 0, 0, 1) };
	cr_assert_eq(tl_append_n(&t, ok, 3, STOR_PS_CLIENT), 0);
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.last_sequence, 3);
	struct stor_ps_batch bad[2] = { data(PID, 0, 4, 1), data(PID, 0, 6, 1) };
	cr_assert_eq(tl_append_n(&t, bad, 2, STOR_PS_CLIENT), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.last_sequence, 3);      /* the first, good batch was not recorded either */
	cr_assert_eq(app(&t, data(PID, 0, 4, 1)), 0);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, check_changes_nothing)
{
	struct tl t;
	tl_init(&t);
	struct stor_ps_batch b = data(PID, 0, 0, 1);
	struct stor_ps_dup d;
	cr_assert_eq(stor_pstate_check(t.ps, &b, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert_eq(stor_pstate_count(t.ps), 0);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, transaction_holds_back_the_last_stable_offset)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(7, 0, 0, 2)), 0);             /* offsets 0-1, idempotent only */
	cr_assert_eq(stor_pstate_lso(t.ps, t.next), 2);
	cr_assert_eq(app(&t, txdata(PID, 0, 0, 3)), 0);         /* offsets 2-4 */
	cr_assert_eq(stor_pstate_first_open_txn(t.ps), 2);
	cr_assert_eq(stor_pstate_lso(t.ps, t.next), 2);
	cr_assert_eq(stor_pstate_lso(t.ps, 1), 1);              /* never above the high watermark */
	cr_assert_eq(app(&t, txdata(PID, 0, 3, 1)), 0);         /* offset 5, same transaction */
	cr_assert_eq(app(&t, data(PID, 0, 4, 1)), STOR_PS_INVALID_TXN_STATE);
	cr_assert_eq(app(&t, marker(PID, 0, true, 0)), 0);      /* offset 6 */
	cr_assert_eq(t.ndone, 1);
	cr_assert_eq(t.done[0].producer_id, PID);
	cr_assert_eq(t.done[0].first_offset, 2);
	cr_assert_eq(t.done[0].last_offset, 6);
	cr_assert_eq(t.done[0].last_stable_offset, 7);
	cr_assert(!t.done[0].aborted);
	cr_assert_eq(stor_pstate_first_open_txn(t.ps), -1);
	/* the marker is not yet below the high watermark: still unstable */
	cr_assert_eq(stor_pstate_lso(t.ps, 6), 2);
	cr_assert_eq(stor_pstate_lso(t.ps, 7), 7);
	cr_assert_eq(stor_pstate_lso(t.ps, 6), 6);              /* forgotten once passed */
	/* after the marker a non-transactional write is fine again */
	cr_assert_eq(app(&t, data(PID, 0, 4, 1)), 0);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, aborted_transaction_records_the_lso_of_the_others)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, txdata(1, 0, 0, 1)), 0);   /* 0 */
	cr_assert_eq(app(&t, txdata(2, 0, 0, 1)), 0);   /* 1 */
	cr_assert_eq(app(&t, marker(1, 0, false, 3)), 0); /* 2: abort of producer 1 */
	cr_assert_eq(t.ndone, 1);
	cr_assert(t.done[0].aborted);
	cr_assert_eq(t.done[0].first_offset, 0);
	cr_assert_eq(t.done[0].last_offset, 2);
	cr_assert_eq(t.done[0].last_stable_offset, 1);  /* producer 2's transaction is still open */
	cr_assert_eq(stor_pstate_lso(t.ps, 3), 1);
	cr_assert_eq(app(&t, marker(2, 0, true, 3)), 0); /* 3 */
	cr_assert_eq(t.done[0].last_stable_offset, 4);
	cr_assert_eq(stor_pstate_lso(t.ps, 4), 4);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, marker_epoch_and_coordinator_epoch_fencing)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, txdata(PID, 2, 0, 1)), 0);
	cr_assert_eq(app(&t, marker(PID, 1, false, 5)), STOR_PS_INVALID_PRODUCER_EPOCH);
	cr_assert_eq(app(&t, marker(PID, 2, false, 5)), 0);
	cr_assert_eq(app(&t, marker(PID, 2, false, 4)), STOR_PS_TRANSACTION_COORDINATOR_FENCED);
	/* a marker at a higher epoch fences the producer's older epoch (the coordinator's bump) */
	cr_assert_eq(app(&t, marker(PID, 3, false, 5)), 0);
	cr_assert_eq(t.ndone, 0);                       /* no transaction was open: no index entry */
	cr_assert_eq(app(&t, txdata(PID, 2, 1, 1)), STOR_PS_INVALID_PRODUCER_EPOCH);
	cr_assert_eq(app(&t, txdata(PID, 3, 0, 1)), 0);
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.coordinator_epoch, 5);
	cr_assert_eq(in.producer_epoch, 3);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, marker_for_unknown_producer_creates_its_entry)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, marker(PID, 4, true, 0)), 0);
	cr_assert_eq(t.ndone, 0);
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(t.ps, PID, &in));
	cr_assert_eq(in.producer_epoch, 4);
	cr_assert_eq(in.last_sequence, -1);
	/* the producer's first batch at that epoch must start at 0 */
	cr_assert_eq(app(&t, data(PID, 4, 1, 1)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(app(&t, data(PID, 4, 0, 1)), 0);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, replay_from_the_log_checks_nothing)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(tl_append(&t, data(PID, 5, 0, 1), STOR_PS_LOG), 0);
	cr_assert_eq(tl_append(&t, data(PID, 4, 9, 1), STOR_PS_LOG), 0);
	cr_assert_eq(tl_append(&t, txdata(PID, 5, 30, 1), STOR_PS_LOG), 0);
	cr_assert_eq(tl_append(&t, marker(PID, 5, false, 0), STOR_PS_LOG), 0);
	cr_assert_eq(t.ndone, 1);
	cr_assert(t.done[0].aborted);
	cr_assert_eq(t.done[0].first_offset, 2);
	/* a transaction opened and closed inside one replayed append */
	struct stor_ps_batch two[2] = { txdata(PID, 5, 31, 1), marker(PID, 5, true, 0) };
	cr_assert_eq(tl_append_n(&t, two, 2, STOR_PS_LOG), 0);
	cr_assert_eq(t.ndone, 1);
	cr_assert_eq(t.done[0].first_offset, 4);
	cr_assert_eq(t.done[0].last_offset, 5);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, producers_expire_unless_a_transaction_is_open)
{
	struct stor_pstate *ps = stor_pstate_create(1000);
	struct stor_ps_batch a = data(1, 0, 0, 1), b = txdata(2, 0, 0, 1);
	a.max_timestamp = 5000;
	a.base_offset = 0;
	b.max_timestamp = 5000;
	b.base_offset = 1;
	cr_assert_eq(stor_pstate_apply(ps, &a, 1, STOR_PS_CLIENT, NULL, NULL), 0);
	cr_assert_eq(stor_pstate_apply(ps, &b, 1, STOR_PS_CLIENT, NULL, NULL), 0);
	cr_assert_eq(stor_pstate_expire(ps, 5999), 0);
	cr_assert_eq(stor_pstate_expire(ps, 6000), 1);
	struct stor_ps_info in;
	cr_assert(!stor_pstate_get(ps, 1, &in));
	cr_assert(stor_pstate_get(ps, 2, &in));
	stor_pstate_destroy(ps);
}

/* producer.id.expiration.ms is a dynamic broker config: the next pass judges by the new value. */
Test(stor_producer_state, expiration_changes_at_run_time)
{
	struct stor_pstate *ps = stor_pstate_create(86400000);
	struct stor_ps_batch a = data(1, 0, 0, 1);
	a.max_timestamp = 5000;
	a.base_offset = 0;
	cr_assert_eq(stor_pstate_apply(ps, &a, 1, STOR_PS_CLIENT, NULL, NULL), 0);
	cr_assert_eq(stor_pstate_expire(ps, 65000), 0, "a minute idle: kept under a day's expiration");
	stor_pstate_set_expiration(ps, 60000);
	cr_assert_eq(stor_pstate_expiration(ps), 60000);
	cr_assert_eq(stor_pstate_expire(ps, 64999), 0);
	cr_assert_eq(stor_pstate_expire(ps, 65000), 1, "forgotten by the next pass under the new value");
	struct stor_ps_info in;
	cr_assert(!stor_pstate_get(ps, 1, &in));
	stor_pstate_destroy(ps);
}

Test(stor_producer_state, many_producers_survive_growth_and_deletion)
{
	struct stor_pstate *ps = stor_pstate_create(100);
	for (int64_t i = 0; i < 5000; i++) {
		struct stor_ps_batch b = data(i * 7919, 0, 0, 1);
		b.max_timestamp = (i % 3) ? 1000 : 0;   /* every third one expires first */
		b.base_offset = i;
		cr_assert_eq(stor_pstate_apply(ps, &b, 1, STOR_PS_CLIENT, NULL, NULL), 0);
	}
	cr_assert_eq(stor_pstate_count(ps), 5000);
	cr_assert_eq(stor_pstate_expire(ps, 100), 1667);
	for (int64_t i = 0; i < 5000; i++) {
		struct stor_ps_info in;
		cr_assert_eq(stor_pstate_get(ps, i * 7919, &in), (i % 3) != 0, "pid %ld", (long)i);
	}
	stor_pstate_destroy(ps);
}

/* --- snapshots ------------------------------------------------------------------------------ */

Test(stor_producer_state, snapshot_bytes_are_kafkas_format)
{
	struct tl t;
	tl_init(&t);
	t.next = 100;
	cr_assert_eq(app(&t, data(PID, 3, 10, 4)), 0);  /* unknown producer at seq 10: 100..103 */
	cr_assert_eq(app(&t, marker(PID, 3, true, 9)), 0);
	size_t n;
	uint8_t *p = stor_pstate_snapshot_encode(t.ps, &n);
	cr_assert_eq(n, 10 + 46);
	cr_assert_eq(rt_be16_get(p), 1);
	cr_assert_eq(rt_be32_get(p + 2), rt_crc32c(0, p + 6, n - 6));
	cr_assert_eq(rt_be32_get(p + 6), 1);
	const uint8_t *e = p + 10;
	cr_assert_eq((int64_t)rt_be64_get(e), PID);
	cr_assert_eq((int16_t)rt_be16_get(e + 8), 3);
	cr_assert_eq((int32_t)rt_be32_get(e + 10), 13);  /* last sequence */
	cr_assert_eq((int64_t)rt_be64_get(e + 14), 103); /* last offset */
	cr_assert_eq((int32_t)rt_be32_get(e + 22), 3);   /* offset delta */
	cr_assert_eq((int64_t)rt_be64_get(e + 26), 2000); /* marker's timestamp is the last */
	cr_assert_eq((int32_t)rt_be32_get(e + 34), 9);
	cr_assert_eq((int64_t)rt_be64_get(e + 38), -1);
	free(p);
	stor_pstate_destroy(t.ps);
}

Test(stor_producer_state, snapshot_round_trip_keeps_duplicates_and_open_transactions)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(1, 0, 0, 2)), 0);     /* 0-1 */
	cr_assert_eq(app(&t, data(1, 0, 2, 2)), 0);     /* 2-3 */
	cr_assert_eq(app(&t, txdata(2, 4, 0, 1)), 0);   /* 4: open */
	size_t n;
	uint8_t *p = stor_pstate_snapshot_encode(t.ps, &n);
	struct tl u;
	tl_init(&u);
	u.next = t.next;
	cr_assert_eq(stor_pstate_snapshot_decode(u.ps, p, n, 0), 0);
	free(p);
	cr_assert_eq(stor_pstate_count(u.ps), 2);
	cr_assert_eq(stor_pstate_lso(u.ps, u.next), 4);
	/* the last batch is still a duplicate, the one before is not kept (Kafka keeps one) */
	cr_assert_eq(app(&u, data(1, 0, 2, 2)), 0);
	cr_assert(u.dup.found);
	cr_assert_eq(u.dup.first_offset, 2);
	cr_assert_eq(app(&u, data(1, 0, 0, 2)), STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(app(&u, data(1, 0, 4, 1)), 0);
	cr_assert_eq(app(&u, marker(2, 4, false, 0)), 0);
	cr_assert_eq(u.ndone, 1);
	cr_assert_eq(u.done[0].first_offset, 4);
	stor_pstate_destroy(t.ps);
	stor_pstate_destroy(u.ps);
}

Test(stor_producer_state, snapshot_decode_refuses_damage)
{
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(1, 0, 0, 1)), 0);
	cr_assert_eq(app(&t, data(2, 0, 0, 1)), 0);
	size_t n;
	uint8_t *p = stor_pstate_snapshot_encode(t.ps, &n);
	struct stor_pstate *ps = stor_pstate_create(1000);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			p[i] ^= (uint8_t)(1u << bit);
			cr_assert_eq(stor_pstate_snapshot_decode(ps, p, n, 0), -EBADMSG, "byte %zu", i);
			p[i] ^= (uint8_t)(1u << bit);
		}
	}
	for (size_t len = 0; len < n; len++)
		cr_assert_eq(stor_pstate_snapshot_decode(ps, p, len, 0), -EBADMSG);
	cr_assert_eq(stor_pstate_snapshot_decode(ps, p, n, 0), 0);
	/* expired producers are not loaded */
	cr_assert_eq(stor_pstate_snapshot_decode(ps, p, n, 1000 + 1000), 0);
	cr_assert_eq(stor_pstate_count(ps), 0);
	free(p);
	stor_pstate_destroy(ps);
	stor_pstate_destroy(t.ps);
}

static void mkscratch(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/rt_pstate_XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void rmscratch(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static bool exists(const char *dir, const char *name)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

Test(stor_producer_state, snapshot_files_load_newest_usable_and_prune)
{
	char dir[64];
	mkscratch(dir, sizeof(dir));
	struct tl t;
	tl_init(&t);
	cr_assert_eq(app(&t, data(1, 0, 0, 5)), 0);
	cr_assert_eq(stor_pstate_snapshot_write(t.ps, dir, 5), 0);
	cr_assert_eq(app(&t, data(2, 0, 0, 5)), 0);
	cr_assert_eq(stor_pstate_snapshot_write(t.ps, dir, 10), 0);
	cr_assert_eq(app(&t, data(3, 0, 0, 5)), 0);
	cr_assert_eq(stor_pstate_snapshot_write(t.ps, dir, 15), 0);
	cr_assert(exists(dir, "00000000000000000010.snapshot"));
	cr_assert(!exists(dir, "00000000000000000010.snapshot.tmp"));

	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	int64_t off = -1;
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, 14, 0, &off), 0);
	cr_assert_eq(off, 10);
	cr_assert_eq(stor_pstate_count(ps), 2);
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, INT64_MAX, 0, &off), 0);
	cr_assert_eq(off, 15);
	cr_assert_eq(stor_pstate_count(ps), 3);

	/* a torn newest snapshot is deleted and the one before it used */
	char p[128];
	snprintf(p, sizeof(p), "%s/00000000000000000015.snapshot", dir);
	cr_assert_eq(truncate(p, 20), 0);
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, INT64_MAX, 0, &off), 0);
	cr_assert_eq(off, 10);
	cr_assert(!exists(dir, "00000000000000000015.snapshot"));
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, 4, 0, &off), -ENOENT);
	cr_assert_eq(stor_pstate_count(ps), 0);

	cr_assert_eq(stor_pstate_snapshot_prune(dir, 6, 100), 1);
	cr_assert(!exists(dir, "00000000000000000005.snapshot"));
	cr_assert(exists(dir, "00000000000000000010.snapshot"));
	cr_assert_eq(stor_pstate_snapshot_prune(dir, 0, 9), 1);
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, INT64_MAX, 0, &off), -ENOENT);
	stor_pstate_destroy(ps);
	stor_pstate_destroy(t.ps);
	rmscratch(dir);
}

Test(stor_producer_state, snapshot_plus_tail_replay_equals_the_live_state)
{
	/* what recovery does: load the snapshot at the roll, replay the batches after it */
	char dir[64];
	mkscratch(dir, sizeof(dir));
	struct tl live;
	tl_init(&live);
	struct stor_ps_batch log[16];
	int nlog = 0;
	for (int i = 0; i < 4; i++) {
		log[nlog] = data(1, 0, i, 1);
		cr_assert_eq(app(&live, log[nlog]), 0);
		log[nlog].base_offset = live.next - 1;
		nlog++;
	}
	cr_assert_eq(stor_pstate_snapshot_write(live.ps, dir, live.next), 0);
	int64_t snap_at = live.next;
	struct stor_ps_batch tail[3] = { txdata(2, 0, 0, 2), data(1, 0, 4, 1), marker(2, 0, false, 1) };
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(app(&live, tail[i]), 0);
		tail[i].base_offset = live.next - 1 - tail[i].last_offset_delta;
	}
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	int64_t off;
	cr_assert_eq(stor_pstate_snapshot_load(ps, dir, INT64_MAX, 0, &off), 0);
	cr_assert_eq(off, snap_at);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(stor_pstate_apply(ps, &tail[i], 1, STOR_PS_LOG, NULL, NULL), 0);
	for (int64_t pid = 1; pid <= 2; pid++) {
		struct stor_ps_info a, b;
		cr_assert(stor_pstate_get(live.ps, pid, &a));
		cr_assert(stor_pstate_get(ps, pid, &b));
		cr_assert_eq(a.producer_epoch, b.producer_epoch);
		cr_assert_eq(a.last_sequence, b.last_sequence);
		cr_assert_eq(a.coordinator_epoch, b.coordinator_epoch);
		cr_assert_eq(a.txn_first_offset, b.txn_first_offset);
		cr_assert_eq(a.last_timestamp, b.last_timestamp);
	}
	cr_assert_eq(stor_pstate_lso(ps, live.next), stor_pstate_lso(live.ps, live.next));
	/* the restored producer continues at the next sequence and its retry is a duplicate */
	struct stor_ps_batch retry = data(1, 0, 4, 1), next = data(1, 0, 5, 1);
	struct stor_ps_dup d;
	cr_assert_eq(stor_pstate_check(ps, &retry, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(d.found);
	cr_assert_eq(d.first_offset, tail[1].base_offset);
	cr_assert_eq(stor_pstate_check(ps, &next, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(!d.found);
	stor_pstate_destroy(ps);
	stor_pstate_destroy(live.ps);
	rmscratch(dir);
}

/* --- recovery against a real log ------------------------------------------------------------ */

#include "proto/batch.h"
#include "util.h"

/* A batch of n records from producer pid at epoch/seq (header fields set, CRC recomputed). */
static uint8_t *pid_batch(int n, int64_t pid, int16_t epoch, int32_t seq, bool txn, size_t *len)
{
	return t_producer_batch(n, 1000, 10, pid, epoch, seq, txn, len);
}

static void put(struct tctx *t, struct stor_log *log, int n, int64_t pid, int16_t epoch,
                int32_t seq, bool txn)
{
	size_t len;
	uint8_t *b = pid_batch(n, pid, epoch, seq, txn, &len);
	int64_t base;
	cr_assert_eq(t_append(t, log, b, len, 0, &base), 0);
	free(b);
}

Test(stor_producer_state, recovers_from_snapshot_and_log_tail)
{
	struct tctx t;
	t_setup(&t, NULL);
	struct stor_log *log = t_open(&t, "ps");
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/ps-0", t.dir);
	put(&t, log, 2, 11, 0, 0, false);       /* 0-1 */
	put(&t, log, 3, 11, 0, 2, false);       /* 2-4 */
	struct stor_pstate *live = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(live, log, dir, 0), 0);        /* no snapshot: whole log */
	struct stor_ps_info in;
	cr_assert(stor_pstate_get(live, 11, &in));
	cr_assert_eq(in.last_sequence, 4);
	cr_assert_eq(stor_pstate_snapshot_write(live, dir, stor_log_end_offset(log)), 0);
	put(&t, log, 1, 11, 0, 5, false);       /* 5 */
	put(&t, log, 2, 12, 3, 0, true);        /* 6-7: an open transaction */
	cr_assert_eq(t_close(&t, log), 0);
	t_reopen_dir(&t, true);
	log = t_open(&t, "ps");
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(ps, log, dir, 0), 0);
	cr_assert(stor_pstate_get(ps, 11, &in));
	cr_assert_eq(in.last_sequence, 5);
	cr_assert(stor_pstate_get(ps, 12, &in));
	cr_assert_eq(in.producer_epoch, 3);
	cr_assert_eq(in.txn_first_offset, 6);
	cr_assert_eq(stor_pstate_lso(ps, 8), 6);
	/* the retry of the batch at offset 5 is a duplicate; a gap is out of order */
	struct stor_ps_batch retry = data(11, 0, 5, 1), gap = data(11, 0, 7, 1);
	struct stor_ps_dup d;
	cr_assert_eq(stor_pstate_check(ps, &retry, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(d.found);
	cr_assert_eq(d.first_offset, 5);
	cr_assert_eq(stor_pstate_check(ps, &gap, 1, STOR_PS_CLIENT, &d),
	             STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* a snapshot past the log end (a truncated log) is ignored and pruned */
	cr_assert_eq(stor_pstate_snapshot_write(ps, dir, 100), 0);
	cr_assert_eq(stor_pstate_recover(ps, log, dir, 0), 0);
	cr_assert(stor_pstate_get(ps, 11, &in));
	cr_assert_eq(in.last_sequence, 5);
	cr_assert(!exists(dir, "00000000000000000100.snapshot"));
	stor_pstate_forget(ps, 12);
	cr_assert(!stor_pstate_get(ps, 12, &in));
	cr_assert_eq(stor_pstate_lso(ps, 8), 8);
	stor_pstate_destroy(ps);
	stor_pstate_destroy(live);
	cr_assert_eq(t_close(&t, log), 0);
	t_teardown(&t);
}

/* A clean close writes a snapshot at the log end, which keeps only each producer's last batch.
 * A client whose last answers were lost (connection cut, broker stopped) retries its in-flight
 * batches after the restart: each of its last five must still be a duplicate answered with the
 * original offsets (an OUT_OF_ORDER answer is a fatal error for librdkafka), the sixth from
 * last is out of order as in Kafka, and the next batch is appended. */
Test(stor_producer_state, clean_close_snapshot_keeps_the_last_five_batches_for_retries)
{
	struct tctx t;
	t_setup(&t, NULL);
	struct stor_log *log = t_open(&t, "ps");
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/ps-0", t.dir);
	put(&t, log, 2, 12, 0, 0, false);       /* 0-1: another producer */
	for (int i = 0; i < 7; i++)
		put(&t, log, 3, 11, 2, 3 * i, false);   /* offsets and sequences 2+3i .. 4+3i, 3i .. 3i+2 */
	put(&t, log, 1, 12, 0, 2, false);       /* 23 */
	struct stor_pstate *live = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(live, log, dir, 0), 0);
	cr_assert_eq(stor_pstate_snapshot_write(live, dir, stor_log_end_offset(log)), 0);
	cr_assert_eq(t_close(&t, log), 0);
	t_reopen_dir(&t, false);        /* clean: the snapshot at the log end is used */
	log = t_open(&t, "ps");
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	cr_assert_eq(stor_pstate_recover(ps, log, dir, 0), 0);
	struct stor_ps_dup d;
	for (int i = 2; i < 7; i++) {
		struct stor_ps_batch retry = data(11, 2, 3 * i, 3);
		cr_assert_eq(stor_pstate_check(ps, &retry, 1, STOR_PS_CLIENT, &d), 0, "batch %d", i);
		cr_assert(d.found, "the retry of batch %d (sequence %d) is a duplicate", i, 3 * i);
		cr_assert_eq(d.first_offset, 2 + 3 * i);
		cr_assert_eq(d.last_offset, 4 + 3 * i);
	}
	struct stor_ps_batch old = data(11, 2, 3, 3), next = data(11, 2, 21, 1);
	cr_assert_eq(stor_pstate_check(ps, &old, 1, STOR_PS_CLIENT, &d),
	             STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER);
	cr_assert_eq(stor_pstate_check(ps, &next, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(!d.found);
	/* the other producer: its two batches are both duplicates */
	struct stor_ps_batch o0 = data(12, 0, 0, 2), o1 = data(12, 0, 2, 1);
	cr_assert_eq(stor_pstate_check(ps, &o0, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(d.found);
	cr_assert_eq(d.first_offset, 0);
	cr_assert_eq(stor_pstate_check(ps, &o1, 1, STOR_PS_CLIENT, &d), 0);
	cr_assert(d.found);
	cr_assert_eq(d.first_offset, 23);
	stor_pstate_destroy(ps);
	stor_pstate_destroy(live);
	cr_assert_eq(t_close(&t, log), 0);
	t_teardown(&t);
}
