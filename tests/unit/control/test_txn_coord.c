/* tests/unit/control/test_txn_coord.c: the transaction coordinator with an injected clock: the
 * producer id and epoch rules of InitProducerId (KIP-360), the two-phase commit and abort,
 * fencing of zombies, timeouts, recovery of prepared transactions from the log, expiry. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "control/records.h"
#include "control/txn_coord.h"

struct rec {
	uint8_t *k, *v;
	size_t kl, vl;
	bool tomb;
};

struct ans {
	bool done;
	int calls;
	int16_t err;
	int64_t pid;
	int16_t epoch;
};

struct h {
	struct ctl_txn_coord *c;
	struct ctl_txn_config cfg;
	struct ctl_txn_append *q[64];
	int nq;
	struct ctl_txn_markers *mk[64];
	int nmk;
	struct rec log[256];
	int nlog;
	int64_t now;
};

static void on_append(void *ctx, struct ctl_txn_append *a)
{
	struct h *h = ctx;
	h->q[h->nq++] = a;
}

static void on_markers(void *ctx, struct ctl_txn_markers *m)
{
	struct h *h = ctx;
	h->mk[h->nmk++] = m;
}

static void on_init(void *ctx, void *req, int16_t err, int64_t pid, int16_t epoch)
{
	(void)ctx;
	struct ans *a = req;
	a->done = true;
	a->calls++;
	a->err = err;
	a->pid = pid;
	a->epoch = epoch;
}

static void on_done(void *ctx, void *req, int16_t err)
{
	(void)ctx;
	struct ans *a = req;
	a->done = true;
	a->calls++;
	a->err = err;
}

static void h_start(struct h *h)
{
	struct ctl_txn_ops ops = { h, on_append, on_markers, on_init, on_done };
	h->nq = h->nmk = 0;
	h->c = ctl_txn_create(&h->cfg, &ops);
	cr_assert(h->c);
	for (int i = 0; i < h->nlog; i++)
		cr_assert_eq(ctl_txn_load_record(h->c, h->log[i].k, h->log[i].kl,
		                                 h->log[i].tomb ? NULL : h->log[i].v, h->log[i].vl), 0);
	ctl_txn_load_done(h->c, h->now);
}

static void h_init(struct h *h)
{
	memset(h, 0, sizeof(*h));
	ctl_txn_config_default(&h->cfg);
	h->cfg.abort_interval_ms = 100;
	h->now = 1000000;
	h_start(h);
}

/* Completes the oldest queued append (err 0: durable, then kept in the log). */
static struct ctl_txn_append *h_pop(struct h *h)
{
	cr_assert_gt(h->nq, 0, "no append queued");
	struct ctl_txn_append *a = h->q[0];
	memmove(h->q, h->q + 1, (size_t)--h->nq * sizeof(h->q[0]));
	return a;
}

static void h_complete(struct h *h, int16_t err)
{
	struct ctl_txn_append *a = h_pop(h);
	if (!err) {
		struct rec *r = &h->log[h->nlog++];
		r->kl = a->key.len;
		r->k = malloc(r->kl);
		memcpy(r->k, a->key.data, r->kl);
		r->tomb = a->tombstone;
		r->vl = a->value.len;
		r->v = malloc(r->vl + 1);
		if (r->vl) /* a tombstone's value is NULL: memcpy's source may not be */
			memcpy(r->v, a->value.data, r->vl);
	}
	ctl_txn_append_done(h->c, a, err);
}

static void h_drain(struct h *h)
{
	while (h->nq)
		h_complete(h, 0);
}

static struct ctl_txn_markers *h_markers(struct h *h)
{
	cr_assert_gt(h->nmk, 0, "no markers sent");
	struct ctl_txn_markers *m = h->mk[0];
	memmove(h->mk, h->mk + 1, (size_t)--h->nmk * sizeof(h->mk[0]));
	return m;
}

static void h_stop(struct h *h)
{
	ctl_txn_destroy(h->c);
	h->c = NULL;
}

static void h_fini(struct h *h)
{
	h_stop(h);
	for (int i = 0; i < h->nlog; i++) {
		free(h->log[i].k);
		free(h->log[i].v);
	}
}

#define ID "app-1"
#define IDL 5

static struct ans init_txn(struct h *h, const char *id, int32_t timeout, int64_t xp, int16_t xe)
{
	struct ans a = { 0 };
	ctl_txn_init_pid(h->c, &a, id, id ? strlen(id) : 0, timeout, xp, xe);
	h_drain(h);
	cr_assert(a.done);
	return a;
}

static int16_t add(struct h *h, int64_t pid, int16_t epoch, const char *topic, int32_t part)
{
	struct ans a = { 0 };
	struct ctl_txn_tp tp = { (char *)topic, part };
	ctl_txn_add_partitions(h->c, &a, ID, IDL, pid, epoch, &tp, 1);
	h_drain(h);
	cr_assert_eq(a.calls, 1);
	return a.err;
}

static int16_t end(struct h *h, int64_t pid, int16_t epoch, bool commit)
{
	struct ans a = { 0 };
	ctl_txn_end(h->c, &a, ID, IDL, pid, epoch, commit);
	h_drain(h);
	cr_assert_eq(a.calls, 1);
	return a.err;
}

/* An EndTxn that prepares the transaction: not answered before its markers are written and
 * Complete* is durable (see the callers). */
static void end_begin(struct h *h, struct ans *a, int64_t pid, int16_t epoch, bool commit)
{
	memset(a, 0, sizeof(*a));
	ctl_txn_end(h->c, a, ID, IDL, pid, epoch, commit);
	h_drain(h);
	cr_assert(!a->done, "EndTxn answered before the markers were written");
	cr_assert_gt(h->nmk, 0, "no markers sent");
}

static enum ctl_txn_state state(struct h *h)
{
	struct ctl_txn_info in;
	cr_assert_eq(ctl_txn_describe(h->c, ID, IDL, &in), 0);
	return in.state;
}

Test(ctl_txn_coord, requests_wait_for_load_and_for_a_durable_id_block)
{
	struct h h;
	memset(&h, 0, sizeof(h));
	ctl_txn_config_default(&h.cfg);
	struct ctl_txn_ops ops = { &h, on_append, on_markers, on_init, on_done };
	h.c = ctl_txn_create(&h.cfg, &ops);
	struct ans a = { 0 };
	ctl_txn_init_pid(h.c, &a, NULL, 0, 0, -1, -1);
	cr_assert_eq(a.err, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	ctl_txn_load_done(h.c, 0);
	cr_assert_eq(h.nq, 1);                          /* the first block is claimed at once */
	memset(&a, 0, sizeof(a));
	ctl_txn_init_pid(h.c, &a, NULL, 0, 0, -1, -1);
	cr_assert_eq(a.err, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	h_drain(&h);
	memset(&a, 0, sizeof(a));
	ctl_txn_init_pid(h.c, &a, NULL, 0, 0, -1, -1);
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.pid, 0);
	cr_assert_eq(a.epoch, 0);
	ctl_txn_init_pid(h.c, &a, NULL, 0, 0, -1, -1);
	cr_assert_eq(a.pid, 1);                         /* idempotent producers: a new id each */
	h_fini(&h);
}

Test(ctl_txn_coord, init_is_answered_only_once_durable_and_bumps_the_epoch)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans a = { 0 };
	ctl_txn_init_pid(h.c, &a, ID, IDL, 60000, -1, -1);
	cr_assert(!a.done);
	cr_assert_eq(h.nq, 1);
	h_complete(&h, 0);
	cr_assert(a.done);
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.epoch, 0);
	int64_t pid = a.pid;
	struct ans b = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(b.pid, pid);
	cr_assert_eq(b.epoch, 1);
	/* the first instance is fenced */
	cr_assert_eq(add(&h, pid, 0, "t", 0), CTL_TXN_ERR_PRODUCER_FENCED);
	cr_assert_eq(ctl_txn_fenced_error(CTL_TXN_ERR_PRODUCER_FENCED, 24, 1),
	             CTL_TXN_ERR_INVALID_PRODUCER_EPOCH);
	cr_assert_eq(ctl_txn_fenced_error(CTL_TXN_ERR_PRODUCER_FENCED, 24, 2),
	             CTL_TXN_ERR_PRODUCER_FENCED);
	cr_assert_eq(ctl_txn_fenced_error(CTL_TXN_ERR_PRODUCER_FENCED, 22, 3),
	             CTL_TXN_ERR_INVALID_PRODUCER_EPOCH);
	cr_assert_eq(add(&h, pid, 1, "t", 0), 0);
	h_fini(&h);
}

Test(ctl_txn_coord, bad_init_requests)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	cr_assert_eq(init_txn(&h, "", 60000, -1, -1).err, CTL_TXN_ERR_INVALID_REQUEST);
	cr_assert_eq(init_txn(&h, ID, 0, -1, -1).err, CTL_TXN_ERR_INVALID_TRANSACTION_TIMEOUT);
	cr_assert_eq(init_txn(&h, ID, 900001, -1, -1).err, CTL_TXN_ERR_INVALID_TRANSACTION_TIMEOUT);
	cr_assert_eq(init_txn(&h, ID, 900000, -1, -1).err, 0);
	h_fini(&h);
}

Test(ctl_txn_coord, commit_runs_both_phases)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(end(&h, p.pid, p.epoch, true), CTL_TXN_ERR_INVALID_TXN_STATE);   /* Empty */
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), 0);
	cr_assert_eq(state(&h), CTL_TXN_ONGOING);
	int nlog = h.nlog;
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), 0);       /* already in: nothing written */
	cr_assert_eq(h.nlog, nlog);
	cr_assert_eq(add(&h, p.pid, p.epoch, "u", 3), 0);
	struct ans e = { 0 };
	ctl_txn_end(h.c, &e, ID, IDL, p.pid, p.epoch, true);
	cr_assert(!e.done);
	cr_assert_eq(h.nmk, 0);                         /* no marker before PrepareCommit is durable */
	h_complete(&h, 0);
	cr_assert(!e.done);                             /* answered at CompleteCommit */
	cr_assert_eq(state(&h), CTL_TXN_PREPARE_COMMIT);
	cr_assert_eq(h.nmk, 1);
	struct ctl_txn_markers *m = h_markers(&h);
	cr_assert(m->commit);
	cr_assert_eq(m->producer_id, p.pid);
	cr_assert_eq(m->producer_epoch, p.epoch);
	cr_assert_eq(m->ntps, 2);
	/* while the markers are out */
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	cr_assert_eq(end(&h, p.pid, p.epoch, true), CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	cr_assert_eq(end(&h, p.pid, p.epoch, false), CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	cr_assert_eq(init_txn(&h, ID, 60000, -1, -1).err, CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	ctl_txn_markers_done(h.c, m, 0);
	cr_assert_eq(h.nq, 1);
	cr_assert(!e.done);                             /* answered at CompleteCommit */
	/* while CompleteCommit is being written (end() completes the write) */
	cr_assert_eq(end(&h, p.pid, p.epoch, false), CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_COMPLETE_COMMIT);
	cr_assert(e.done);
	cr_assert_eq(e.calls, 1);
	cr_assert_eq(e.err, 0);
	struct ctl_txn_info in;
	ctl_txn_describe(h.c, ID, IDL, &in);
	cr_assert_eq(in.ntps, 0);
	cr_assert_eq(end(&h, p.pid, p.epoch, true), 0);         /* a retried EndTxn */
	cr_assert_eq(end(&h, p.pid, p.epoch, false), CTL_TXN_ERR_INVALID_TXN_STATE);
	/* the next transaction starts from CompleteCommit */
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 1), 0);
	end_begin(&h, &e, p.pid, p.epoch, false);
	m = h_markers(&h);
	cr_assert(!m->commit);
	cr_assert_eq(m->ntps, 1);
	ctl_txn_markers_done(h.c, m, 0);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_COMPLETE_ABORT);
	cr_assert(e.done);
	cr_assert_eq(e.err, 0);
	h_fini(&h);
}

Test(ctl_txn_coord, unknown_ids_and_producers)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	cr_assert_eq(add(&h, 5, 0, "t", 0), CTL_TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(add(&h, p.pid + 1, p.epoch, "t", 0), CTL_TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
	cr_assert_eq(end(&h, p.pid + 1, p.epoch, true), CTL_TXN_ERR_INVALID_PRODUCER_ID_MAPPING);
	struct ans a = { 0 };
	ctl_txn_end(h.c, &a, "", 0, p.pid, p.epoch, true);
	cr_assert_eq(a.err, CTL_TXN_ERR_INVALID_REQUEST);
	struct ctl_txn_info in;
	cr_assert_eq(ctl_txn_describe(h.c, "nope", 4, &in), CTL_TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
	h_fini(&h);
}

Test(ctl_txn_coord, a_new_instance_fences_the_zombie_and_aborts_its_transaction)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans z = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(add(&h, z.pid, z.epoch, "t", 0), 0);
	/* a new instance with the same transactional.id */
	struct ans n = { 0 };
	ctl_txn_init_pid(h.c, &n, ID, IDL, 60000, -1, -1);
	h_drain(&h);
	cr_assert_eq(n.err, CTL_TXN_ERR_CONCURRENT_TRANSACTIONS);
	cr_assert_eq(state(&h), CTL_TXN_PREPARE_ABORT);
	struct ctl_txn_markers *m = h_markers(&h);
	cr_assert(!m->commit);
	cr_assert_eq(m->producer_epoch, z.epoch + 1);   /* the markers fence the zombie's writes */
	/* the zombie can neither commit nor add */
	cr_assert_eq(end(&h, z.pid, z.epoch, true), CTL_TXN_ERR_PRODUCER_FENCED);
	ctl_txn_markers_done(h.c, m, 0);
	h_drain(&h);
	n = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(n.err, 0);
	cr_assert_eq(n.pid, z.pid);
	cr_assert_eq(n.epoch, z.epoch + 2);
	cr_assert_eq(add(&h, z.pid, z.epoch, "t", 0), CTL_TXN_ERR_PRODUCER_FENCED);
	cr_assert_eq(add(&h, n.pid, n.epoch, "t", 0), 0);
	h_fini(&h);
}

Test(ctl_txn_coord, a_timed_out_transaction_is_aborted_and_its_producer_fenced)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 5000, -1, -1);
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), 0);
	h.now += 5000;
	ctl_txn_tick(h.c, h.now);
	cr_assert_eq(h.nq, 0);                          /* not past the timeout yet */
	h.now += 200;
	ctl_txn_tick(h.c, h.now);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_PREPARE_ABORT);
	struct ctl_txn_markers *m = h_markers(&h);
	cr_assert(!m->commit);
	cr_assert_eq(m->producer_epoch, p.epoch + 1);
	ctl_txn_markers_done(h.c, m, 0);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_COMPLETE_ABORT);
	cr_assert_eq(end(&h, p.pid, p.epoch, true), CTL_TXN_ERR_PRODUCER_FENCED);
	h_fini(&h);
}

Test(ctl_txn_coord, kip360_expected_producer_and_epoch)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	struct ans q = init_txn(&h, ID, 60000, p.pid, p.epoch);
	cr_assert_eq(q.err, 0);
	cr_assert_eq(q.epoch, p.epoch + 1);
	/* the answer was lost: the retry with the old epoch gets the same bump back */
	struct ans r = init_txn(&h, ID, 60000, p.pid, p.epoch);
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.epoch, q.epoch);
	cr_assert_eq(init_txn(&h, ID, 60000, p.pid, 7).err, CTL_TXN_ERR_PRODUCER_FENCED);
	cr_assert_eq(init_txn(&h, ID, 60000, p.pid + 100, q.epoch).err, CTL_TXN_ERR_PRODUCER_FENCED);
	/* a producer without an expected pair bumps and clears the previous epoch */
	struct ans s = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(s.epoch, q.epoch + 1);
	cr_assert_eq(init_txn(&h, ID, 60000, p.pid, q.epoch).err, CTL_TXN_ERR_PRODUCER_FENCED);
	h_fini(&h);
}

Test(ctl_txn_coord, exhausted_epoch_rotates_the_producer_id)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	/* rewrite the log's last record with an epoch at the limit and restart */
	h_stop(&h);
	struct rec *r = &h.log[h.nlog - 1];
	r->v[10] = 0x7f;
	r->v[11] = 0xfe;
	h_start(&h);
	h_drain(&h);
	struct ans q = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(q.err, 0);
	cr_assert_neq(q.pid, p.pid);
	cr_assert_eq(q.epoch, 0);
	h_fini(&h);
}

Test(ctl_txn_coord, a_restart_finishes_prepared_transactions_and_never_reuses_ids)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), 0);
	struct ans e;
	end_begin(&h, &e, p.pid, p.epoch, true);
	cr_assert_eq(h.nmk, 1);
	/* the control process dies with the markers out (and the EndTxn unanswered: the client
	 * retries it on the restarted process) */
	h_stop(&h);
	h.now += 1000;
	h_start(&h);
	cr_assert_eq(state(&h), CTL_TXN_PREPARE_COMMIT);
	cr_assert_eq(h.nmk, 1);
	struct ctl_txn_markers *m = h_markers(&h);
	cr_assert(m->commit);
	cr_assert_eq(m->producer_id, p.pid);
	cr_assert_eq(m->ntps, 1);
	cr_assert_str_eq(m->tps[0].topic, "t");
	ctl_txn_markers_done(h.c, m, 0);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_COMPLETE_COMMIT);
	struct ans i = init_txn(&h, NULL, 0, -1, -1);
	cr_assert_eq(i.err, 0);
	cr_assert_geq(i.pid, 1000);                     /* the first run's block is not reused */
	h_fini(&h);
}

Test(ctl_txn_coord, failed_writes_change_nothing_and_markers_are_retried)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	struct ans a = { 0 };
	struct ctl_txn_tp tp = { "t", 0 };
	ctl_txn_add_partitions(h.c, &a, ID, IDL, p.pid, p.epoch, &tp, 1);
	h_complete(&h, 6);                              /* NOT_LEADER_OR_FOLLOWER */
	cr_assert_eq(a.err, CTL_TXN_ERR_NOT_COORDINATOR);
	cr_assert_eq(state(&h), CTL_TXN_EMPTY);
	cr_assert_eq(add(&h, p.pid, p.epoch, "t", 0), 0);
	struct ans e;
	end_begin(&h, &e, p.pid, p.epoch, false);
	struct ctl_txn_markers *m = h_markers(&h);
	ctl_txn_markers_done(h.c, m, 15);
	cr_assert_eq(h.nmk, 0);
	ctl_txn_tick(h.c, h.now + 1);
	cr_assert_eq(h.nmk, 1);
	ctl_txn_markers_done(h.c, h_markers(&h), 0);
	h_complete(&h, 7);                              /* the Complete record fails once */
	cr_assert(!e.done);                             /* the EndTxn waits through both retries */
	ctl_txn_tick(h.c, h.now + 2);
	h_drain(&h);
	cr_assert_eq(state(&h), CTL_TXN_COMPLETE_ABORT);
	cr_assert(e.done);
	cr_assert_eq(e.calls, 1);
	cr_assert_eq(e.err, 0);
	h_fini(&h);
}

Test(ctl_txn_coord, add_offsets_adds_the_groups_offsets_partition_and_verify)
{
	struct h h;
	h_init(&h);
	h_drain(&h);
	struct ans p = init_txn(&h, ID, 60000, -1, -1);
	struct ans a = { 0 };
	ctl_txn_add_offsets(h.c, &a, ID, IDL, p.pid, p.epoch, "grp", 3);
	h_drain(&h);
	cr_assert_eq(a.err, 0);
	struct ctl_txn_info in;
	ctl_txn_describe(h.c, ID, IDL, &in);
	cr_assert_eq(in.ntps, 1);
	cr_assert_str_eq(in.tps[0].topic, "__consumer_offsets");
	cr_assert_eq(in.tps[0].partition, ctl_offsets_partition("grp", 3, 50));
	struct ctl_txn_tp v[2] = { { "__consumer_offsets", in.tps[0].partition }, { "t", 0 } };
	int16_t errs[2];
	cr_assert_eq(ctl_txn_verify_partitions(h.c, ID, IDL, p.pid, p.epoch, v, 2, errs), 0);
	cr_assert_eq(errs[0], 0);
	cr_assert_eq(errs[1], CTL_TXN_ERR_INVALID_TXN_STATE);
	cr_assert_eq(ctl_txn_verify_partitions(h.c, ID, IDL, p.pid, p.epoch - 1, v, 2, errs),
	             CTL_TXN_ERR_PRODUCER_FENCED);
	cr_assert_eq(errs[1], CTL_TXN_ERR_PRODUCER_FENCED);
	h_fini(&h);
}

static void count_cb(void *arg, const struct ctl_txn_info *t)
{
	(void)t;
	(*(int *)arg)++;
}

Test(ctl_txn_coord, idle_ids_expire_with_a_tombstone)
{
	struct h h;
	h_init(&h);
	h.cfg.id_expiration_ms = 10000;
	h.cfg.expire_interval_ms = 1000;
	h_stop(&h);
	h_start(&h);
	h_drain(&h);
	init_txn(&h, ID, 60000, -1, -1);
	init_txn(&h, "other", 60000, -1, -1);
	int n = 0;
	ctl_txn_list(h.c, count_cb, &n);
	cr_assert_eq(n, 2);
	h.now += 10000 + 1000;
	ctl_txn_tick(h.c, h.now);
	h_drain(&h);
	n = 0;
	ctl_txn_list(h.c, count_cb, &n);
	cr_assert_eq(n, 0);
	cr_assert(h.log[h.nlog - 1].tomb);
	h_stop(&h);
	h_start(&h);                                     /* the tombstones are honoured on load */
	struct ctl_txn_info in;
	cr_assert_eq(ctl_txn_describe(h.c, ID, IDL, &in), CTL_TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND);
	h_fini(&h);
}

Test(ctl_txn_coord, deferred_ids_claim_no_block_before_an_id_is_asked_for)
{
	/* A coordinator whose log does not exist yet writes nothing until a producer needs an id:
	 * the first write would create __transaction_state. */
	struct h h;
	memset(&h, 0, sizeof(h));
	ctl_txn_config_default(&h.cfg);
	h.now = 1000000;
	struct ctl_txn_ops ops = { &h, on_append, on_markers, on_init, on_done };
	h.c = ctl_txn_create(&h.cfg, &ops);
	cr_assert(h.c);
	ctl_txn_defer_ids(h.c);
	ctl_txn_load_done(h.c, h.now);
	for (int i = 0; i < 5; i++)
		ctl_txn_tick(h.c, h.now += 1000);
	cr_assert_eq(h.nq, 0, "a block was claimed before any id was asked for");
	/* The first InitProducerId waits for the block its request claims, then gets an id. */
	struct ans a = { 0 };
	ctl_txn_init_pid(h.c, &a, NULL, 0, 60000, -1, -1);
	cr_assert_eq(h.nq, 1, "the request claims a block");
	h_drain(&h);
	cr_assert(a.done);
	struct ans b = a.err ? init_txn(&h, NULL, 60000, -1, -1) : a;
	cr_assert_eq(b.err, 0);
	cr_assert_geq(b.pid, 0);
	h_fini(&h);
}
