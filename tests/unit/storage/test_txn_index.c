/* tests/unit/storage/test_txn_index.c: the .txnindex file (Kafka's 34-byte entries), its
 * recovery from a torn tail, truncation, and the aborted-transaction query of read_committed. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "storage/producer_state.h"
#include "storage/txn_index.h"

static char dir[64], path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/rt_txnidx_XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/00000000000000000000.txnindex", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static off_t fsize(void)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

TestSuite(stor_txn_index, .init = setup, .fini = teardown);

Test(stor_txn_index, entries_are_kafkas_34_bytes_and_survive_reopen)
{
	int err = 0;
	struct stor_txnidx *x = stor_txnidx_open(path, &err);
	cr_assert(x, "err %d", err);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 7, 10, 20, 21 }), 0);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 8, 15, 30, 31 }), 0);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 9, 1, 30, 31 }), -EINVAL);
	cr_assert_eq(stor_txnidx_sync(x), 0);
	stor_txnidx_close(x);
	cr_assert_eq(fsize(), 68);
	uint8_t b[68];
	int fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, b, 68), 68);
	close(fd);
	cr_assert_eq(rt_be16_get(b), 0);
	cr_assert_eq(rt_be64_get(b + 2), 7);
	cr_assert_eq(rt_be64_get(b + 10), 10);
	cr_assert_eq(rt_be64_get(b + 18), 20);
	cr_assert_eq(rt_be64_get(b + 26), 21);
	cr_assert_eq(rt_be64_get(b + 34 + 2), 8);
	x = stor_txnidx_open(path, &err);
	cr_assert(x);
	cr_assert_eq(stor_txnidx_count(x), 2);
	cr_assert_eq(stor_txnidx_entry(x, 1)->first_offset, 15);
	cr_assert_null(stor_txnidx_entry(x, 2));
	stor_txnidx_close(x);
}

Test(stor_txn_index, torn_tail_is_dropped_and_bad_entries_refused)
{
	int err = 0;
	struct stor_txnidx *x = stor_txnidx_open(path, &err);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 7, 10, 20, 21 }), 0);
	stor_txnidx_close(x);
	int fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, "garbage", 7), 7);
	close(fd);
	x = stor_txnidx_open(path, &err);
	cr_assert(x);
	cr_assert_eq(stor_txnidx_count(x), 1);
	cr_assert_eq(fsize(), 34);
	stor_txnidx_close(x);
	/* a whole entry with a version other than 0 is not ours to guess at */
	uint8_t bad[34] = { 0, 1 };
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, bad, 34), 34);
	close(fd);
	cr_assert_null(stor_txnidx_open(path, &err));
	cr_assert_eq(err, -EBADMSG);
	cr_assert_eq(truncate(path, 34), 0);
	/* entries out of order */
	uint8_t e[34] = { 0 };
	rt_be64_put(e + 18, 5);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, e, 34), 34);
	close(fd);
	cr_assert_null(stor_txnidx_open(path, &err));
	cr_assert_eq(err, -EBADMSG);
}

Test(stor_txn_index, truncate_drops_entries_at_and_after_the_offset)
{
	int err = 0;
	struct stor_txnidx *x = stor_txnidx_open(path, &err);
	for (int i = 1; i <= 5; i++)
		cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ i, i * 10, i * 10 + 5, i * 10 + 6 }), 0);
	cr_assert_eq(stor_txnidx_truncate(x, 35), 0);
	cr_assert_eq(stor_txnidx_count(x), 2);   /* last offsets 15 and 25 stay */
	cr_assert_eq(fsize(), 2 * 34);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 9, 33, 40, 41 }), 0);
	stor_txnidx_close(x);
}

Test(stor_txn_index, collect_lists_what_overlaps_the_fetch_and_stops_at_the_lso)
{
	int err = 0;
	struct stor_txnidx *x = stor_txnidx_open(path, &err);
	/* producer 1 aborted [0, 5]; producer 2 aborted [3, 12] while 3 was open from 8 */
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 1, 0, 5, 3 }), 0);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 2, 3, 12, 8 }), 0);
	cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){ 3, 8, 20, 21 }), 0);
	struct stor_aborted_txn out[4];
	size_t n = 0;
	bool complete = stor_txnidx_collect(x, 0, 100, out, 4, &n);
	cr_assert(!complete);
	cr_assert_eq(n, 3);
	n = 0;
	cr_assert(!stor_txnidx_collect(x, 6, 100, out, 4, &n));
	cr_assert_eq(n, 2);
	cr_assert_eq(out[0].producer_id, 2);
	n = 0;
	/* upper 8: transaction 3 starts at 8, not below: left out, and the search is complete */
	cr_assert(stor_txnidx_collect(x, 4, 8, out, 4, &n));
	cr_assert_eq(n, 2);
	cr_assert_eq(out[0].producer_id, 1);
	cr_assert_eq(out[1].producer_id, 2);
	n = 0;
	cr_assert(stor_txnidx_collect(x, 4, 3, out, 4, &n));
	cr_assert_eq(n, 1);
	/* over capacity: counted, not written */
	n = 0;
	stor_txnidx_collect(x, 0, 100, out, 1, &n);
	cr_assert_eq(n, 3);
	stor_txnidx_close(x);
}

Test(stor_txn_index, producer_state_aborts_feed_the_index)
{
	struct stor_pstate *ps = stor_pstate_create(STOR_PS_DEFAULT_EXPIRATION_MS);
	int err = 0;
	struct stor_txnidx *x = stor_txnidx_open(path, &err);
	struct stor_ps_batch b[4] = {
		{ .producer_id = 1, .producer_epoch = 0, .base_sequence = 0, .transactional = true, .base_offset = 0 },
		{ .producer_id = 2, .producer_epoch = 0, .base_sequence = 0, .transactional = true, .base_offset = 1 },
		{ .producer_id = 1, .producer_epoch = 0, .base_sequence = -1, .transactional = true,
		  .control = true, .commit = false, .base_offset = 2 },
		{ .producer_id = 2, .producer_epoch = 0, .base_sequence = -1, .transactional = true,
		  .control = true, .commit = true, .base_offset = 3 },
	};
	for (int i = 0; i < 4; i++) {
		struct stor_ps_txn_done d[1];
		size_t nd = 0;
		struct stor_ps_dup dup;
		enum stor_ps_origin o = b[i].control ? STOR_PS_COORDINATOR : STOR_PS_CLIENT;
		cr_assert_eq(stor_pstate_check(ps, &b[i], 1, o, &dup), 0);
		cr_assert_eq(stor_pstate_apply(ps, &b[i], 1, o, d, &nd), 0);
		for (size_t j = 0; j < nd; j++)
			if (d[j].aborted)
				cr_assert_eq(stor_txnidx_append(x, &(struct stor_aborted_txn){
					d[j].producer_id, d[j].first_offset, d[j].last_offset,
					d[j].last_stable_offset }), 0);
	}
	cr_assert_eq(stor_txnidx_count(x), 1);
	cr_assert_eq(stor_txnidx_entry(x, 0)->last_stable_offset, 1);
	cr_assert_eq(stor_pstate_lso(ps, 4), 4);
	struct stor_aborted_txn out[2];
	size_t n = 0;
	stor_txnidx_collect(x, 0, 4, out, 2, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(out[0].producer_id, 1);
	cr_assert_eq(out[0].first_offset, 0);
	stor_txnidx_close(x);
	stor_pstate_destroy(ps);
}
