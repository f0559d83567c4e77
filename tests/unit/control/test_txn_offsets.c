/*
 * Transactional offset commits (control/txn_offsets.c): pending per producer until the
 * transaction's marker on the group's partition, COMMIT makes them committed (unless a newer
 * commit was appended after them), ABORT drops them; what require_stable sees as unstable; the
 * markers wait while a TxnOffsetCommit is being written; and the rebuild from the log, with
 * markers reported while loading applied once it ends.
 */
#include "harness.h"

#define G "txg"
#define PID 7

static int32_t gpart(void)
{
	return ctl_offsets_partition(G, strlen(G), 50);
}

static struct ctl_commit_part part(const char *topic, int32_t p, int64_t off)
{
	return (struct ctl_commit_part){ .topic = S(topic), .partition = p, .offset = off, .leader_epoch = -1,
	                                 .metadata = S(""), .commit_ts = -1 };
}

/* Completes the queued appends in order, each at the next log offset (as the store reports). */
static int64_t next_log_offset = 100;
static void flush_at(struct h *h, int16_t err)
{
	while (h->nq) {
		struct ctl_append *a = h->q[0];
		memmove(h->q, h->q + 1, (size_t)(h->nq - 1) * sizeof(*h->q));
		h->nq--;
		a->log_offset = err ? -1 : next_log_offset++;
		ctl_coord_append_done(h->c, a, err);
	}
}

static void txn_commit(struct h *h, struct res *r, int64_t pid, struct ctl_commit_part *p, int n)
{
	static struct ctl_commit_req rq;
	rq = (struct ctl_commit_req){ .group_id = S(G), .member_id = S(""), .instance_id = NUL, .generation = -1,
	                              .retention_ms = -1, .parts = p, .n_parts = n, .producer_id = pid,
	                              .producer_epoch = 0 };
	memset(r, 0, sizeof(*r));
	ctl_offsets_txn_commit(h->c, &rq, r);
}

static void plain_commit(struct h *h, struct res *r, struct ctl_commit_part *p, int n)
{
	static struct ctl_commit_req rq;
	rq = (struct ctl_commit_req){ .group_id = S(G), .member_id = S(""), .instance_id = NUL, .generation = -1,
	                              .retention_ms = -1, .parts = p, .n_parts = n, .producer_id = -1 };
	memset(r, 0, sizeof(*r));
	ctl_offsets_commit(h->c, &rq, r);
}

static int64_t fetched(struct h *h, const char *topic, int32_t p)
{
	struct ctl_offset_value v;
	return ctl_offsets_get(h->c, S(G), S(topic), p, &v) ? v.offset : -1;
}

static bool unstable(struct h *h, const char *topic, int32_t p)
{
	return ctl_offsets_unstable(h->c, S(G), S(topic), p);
}

Test(ctl_txn_offsets, pending_until_the_commit_marker)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[2] = { part("in", 0, 10), part("in", 1, 20) };
	struct res r;
	txn_commit(&h, &r, PID, p, 2);
	cr_assert(!r.done, "answered only once durable");
	cr_assert_eq(h.nq, 1);
	cr_assert(h.q[0]->transactional);
	cr_assert_eq(h.q[0]->producer_id, PID);
	cr_assert_eq(h.q[0]->partition, gpart());
	cr_assert(ctl_coord_txn_writing(h.c, PID), "markers wait while the offsets are written");
	cr_assert(!ctl_coord_txn_writing(h.c, PID + 1));
	flush_at(&h, 0);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, 0);
	cr_assert(!ctl_coord_txn_writing(h.c, PID));
	cr_assert_eq(fetched(&h, "in", 0), -1, "pending offsets are not committed offsets");
	cr_assert(unstable(&h, "in", 0) && unstable(&h, "in", 1));
	cr_assert(!unstable(&h, "in", 2));
	ctl_coord_txn_complete(h.c, gpart() + 1, PID, true);
	cr_assert_eq(fetched(&h, "in", 0), -1, "a marker on another partition settles nothing here");
	ctl_coord_txn_complete(h.c, gpart(), PID + 1, true);
	cr_assert_eq(fetched(&h, "in", 0), -1, "nor does another producer's marker");
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	cr_assert_eq(fetched(&h, "in", 0), 10);
	cr_assert_eq(fetched(&h, "in", 1), 20);
	cr_assert(!unstable(&h, "in", 0));
	h_fini(&h);
}

Test(ctl_txn_offsets, abort_drops_them_and_the_group_they_made)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[1] = { part("in", 0, 10) };
	struct res r;
	txn_commit(&h, &r, PID, p, 1);
	flush_at(&h, 0);
	cr_assert_str_eq(h_state(&h, G), "Empty");
	ctl_coord_txn_complete(h.c, gpart(), PID, false);
	cr_assert_eq(fetched(&h, "in", 0), -1);
	cr_assert(!unstable(&h, "in", 0));
	cr_assert_str_eq(h_state(&h, G), "Dead", "a group that only held aborted offsets is gone");
	h_fini(&h);
}

Test(ctl_txn_offsets, the_later_append_wins)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part t1[1] = { part("in", 0, 10) }, c1[1] = { part("in", 0, 20) };
	struct res r, s;
	txn_commit(&h, &r, PID, t1, 1);
	flush_at(&h, 0);                        /* the transaction's offset at log offset n */
	plain_commit(&h, &s, c1, 1);
	cr_assert(unstable(&h, "in", 0));
	flush_at(&h, 0);                        /* a plain commit after it, at n + 1 */
	cr_assert_eq(fetched(&h, "in", 0), 20);
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	cr_assert_eq(fetched(&h, "in", 0), 20, "a commit appended after the transaction's is newer");

	struct ctl_commit_part c2[1] = { part("in", 0, 30) }, t2[1] = { part("in", 0, 40) };
	plain_commit(&h, &s, c2, 1);
	flush_at(&h, 0);
	txn_commit(&h, &r, PID, t2, 1);
	flush_at(&h, 0);
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	cr_assert_eq(fetched(&h, "in", 0), 40, "the transaction's offset appended later wins");
	h_fini(&h);
}

Test(ctl_txn_offsets, failed_write_answers_an_error_and_leaves_nothing_pending)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[1] = { part("in", 0, 10) };
	struct res r;
	txn_commit(&h, &r, PID, p, 1);
	flush_at(&h, 15);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, CTL_ERR_COORDINATOR_NOT_AVAILABLE);
	cr_assert(!unstable(&h, "in", 0));
	cr_assert(!ctl_coord_txn_writing(h.c, PID));
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	cr_assert_eq(fetched(&h, "in", 0), -1);
	h_fini(&h);
}

Test(ctl_txn_offsets, member_checks_of_a_live_group)
{
	struct h h;
	h_init(&h);
	struct res j, sy;
	h_join_new(&h, &j, G);
	h_tick(&h, 3000);
	cr_assert(j.done);
	h_sync(&h, &sy, G, j.member, 1, NULL, 0);
	h_flush(&h, 0);
	struct ctl_commit_part p[1] = { part("in", 0, 10) };
	static struct ctl_commit_req rq;
	struct res r = { 0 };
	rq = (struct ctl_commit_req){ .group_id = S(G), .member_id = S("stranger"), .instance_id = NUL,
	                              .generation = 1, .retention_ms = -1, .parts = p, .n_parts = 1,
	                              .producer_id = PID };
	ctl_offsets_txn_commit(h.c, &rq, &r);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, CTL_ERR_UNKNOWN_MEMBER_ID);
	p[0].error = 0;
	rq.member_id = S(j.member);
	rq.generation = 5;
	memset(&r, 0, sizeof(r));
	ctl_offsets_txn_commit(h.c, &rq, &r);
	cr_assert_eq(p[0].error, CTL_ERR_ILLEGAL_GENERATION);
	p[0].error = 0;
	rq.member_id = S("");
	rq.generation = -1;
	memset(&r, 0, sizeof(r));
	ctl_offsets_txn_commit(h.c, &rq, &r);   /* v0-2: no member, into a live group */
	flush_at(&h, 0);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, 0, "older TxnOffsetCommit versions commit into a live group");
	h_fini(&h);
}

/* The log a fresh coordinator loads: batches (transactional or not) and markers. */
Test(ctl_txn_offsets, rebuilt_from_the_log_with_markers)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part a[1] = { part("in", 0, 10) }, b[1] = { part("in", 0, 20) },
	                       c[1] = { part("in", 1, 30) };
	struct res r;
	/* keep the records each append writes, with their batch's producer */
	struct { uint8_t k[256], v[256]; size_t kl; int32_t vl; int64_t pid, off; } recs[3];
	struct ctl_commit_part *ps[3] = { a, b, c };
	int64_t pids[3] = { PID, PID + 1, PID };
	for (int i = 0; i < 3; i++) {
		txn_commit(&h, &r, pids[i], ps[i], 1);
		cr_assert_eq(h.nq, 1);
		struct ctl_append *x = h.q[0];
		recs[i].kl = x->kv[0].klen;
		memcpy(recs[i].k, x->data.data + x->kv[0].koff, recs[i].kl);
		recs[i].vl = x->kv[0].vlen;
		memcpy(recs[i].v, x->data.data + x->kv[0].voff, (size_t)recs[i].vl);
		recs[i].pid = pids[i];
		recs[i].off = next_log_offset;
		flush_at(&h, 0);
		if (i == 0)
			ctl_coord_txn_complete(h.c, gpart(), PID, true);   /* marker after the first */
	}
	cr_assert_eq(fetched(&h, "in", 0), 10);
	struct h h2;
	h_init_cfg(&h2, &h.cfg, false);
	for (int i = 0; i < 3; i++) {
		ctl_coord_load_batch(h2.c, recs[i].off, recs[i].pid);
		cr_assert_eq(ctl_coord_load_record(h2.c, recs[i].k, recs[i].kl, recs[i].v, recs[i].vl), 0);
		if (i == 0)
			ctl_coord_load_marker(h2.c, gpart(), PID, true);
	}
	/* the producer PID + 1's transaction commits while the coordinator still loads */
	ctl_coord_txn_complete(h2.c, gpart(), PID + 1, true);
	ctl_coord_load_done(h2.c);
	cr_assert_eq(fetched(&h2, "in", 0), 20, "a marker reported while loading is applied after it");
	cr_assert_eq(fetched(&h2, "in", 1), -1, "offsets without a marker stay pending");
	cr_assert(ctl_offsets_unstable(h2.c, S(G), S("in"), 1));
	ctl_coord_txn_complete(h2.c, gpart(), PID, false);
	cr_assert(!ctl_offsets_unstable(h2.c, S(G), S("in"), 1), "ABORT drops them");
	cr_assert_eq(fetched(&h2, "in", 1), -1);
	h_fini(&h2);
	h_fini(&h);
}

Test(ctl_txn_offsets, a_plain_commit_is_unstable_until_durable)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[1] = { part("in", 0, 10) };
	struct res r;
	plain_commit(&h, &r, p, 1);
	cr_assert(unstable(&h, "in", 0), "KIP-447: a commit in flight is pending too");
	flush_at(&h, 0);
	cr_assert(!unstable(&h, "in", 0));
	cr_assert_eq(fetched(&h, "in", 0), 10);
	h_fini(&h);
}

/* Every record an append writes, with its batch's producer and log offset, for a reload. */
struct txrec {
	uint8_t k[256], v[256];
	size_t kl;
	int32_t vl;
	int64_t pid, off;
};

static int keep_records(struct txrec *out, int n, const struct ctl_append *a, int64_t off)
{
	for (int32_t i = 0; i < a->n; i++, n++) {
		out[n].kl = a->kv[i].klen;
		memcpy(out[n].k, a->data.data + a->kv[i].koff, out[n].kl);
		out[n].vl = a->kv[i].vlen;
		if (out[n].vl > 0)
			memcpy(out[n].v, a->data.data + a->kv[i].voff, (size_t)out[n].vl);
		out[n].pid = a->transactional ? a->producer_id : -1;
		out[n].off = off;
	}
	return n;
}

/* Kafka's DeleteGroups of an Empty group whose offsets open transactions still hold: NONE, and
 * tombstones for the pending partitions too (OffsetMetadataManager.deleteAllOffsets), so the
 * COMMIT markers that follow bring nothing back, neither now nor after a reload. */
Test(ctl_txn_offsets, delete_groups_takes_pending_offsets_with_it)
{
	struct h h;
	h_init(&h);
	struct txrec recs[16];
	int nrec = 0;
	struct ctl_commit_part c0[1] = { part("in", 0, 5) };
	struct ctl_commit_part t1[2] = { part("in", 0, 10), part("in", 1, 20) };
	struct ctl_commit_part t2[1] = { part("in", 1, 30) };
	struct res r, r1, r2;
	plain_commit(&h, &r, c0, 1);
	nrec = keep_records(recs, nrec, h.q[0], next_log_offset);
	flush_at(&h, 0);
	txn_commit(&h, &r1, PID, t1, 2);
	nrec = keep_records(recs, nrec, h.q[0], next_log_offset);
	flush_at(&h, 0);
	txn_commit(&h, &r2, PID + 1, t2, 1);       /* still in flight at the deletion */
	cr_assert_eq(h.nq, 1);
	nrec = keep_records(recs, nrec, h.q[0], next_log_offset);
	cr_assert_eq(ctl_group_delete(h.c, S(G)), CTL_ERR_NONE, "an Empty group goes despite pending offsets");
	cr_assert_eq(h.nq, 2);
	struct ctl_append *del = h.q[1];
	cr_assert(!del->transactional);
	cr_assert_eq(del->n, 3, "tombstones: in-0 (committed), in-1 (pending only, once), the group");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(del->kv[i].vlen, -1);
	nrec = keep_records(recs, nrec, del, next_log_offset + 1);
	flush_at(&h, 0);
	cr_assert(r2.done && t2[0].error == 0);
	cr_assert_str_eq(h_state(&h, G), "Dead");
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	ctl_coord_txn_complete(h.c, gpart(), PID + 1, true);
	cr_assert_eq(fetched(&h, "in", 0), -1);
	cr_assert_eq(fetched(&h, "in", 1), -1, "the in-flight commit does not come back either");
	cr_assert(!unstable(&h, "in", 1));
	cr_assert_str_eq(h_state(&h, G), "Dead");

	struct h h2;
	h_init_cfg(&h2, &h.cfg, false);
	for (int i = 0; i < nrec; i++) {
		ctl_coord_load_batch(h2.c, recs[i].off, recs[i].pid);
		cr_assert_eq(ctl_coord_load_record(h2.c, recs[i].k, recs[i].kl, recs[i].vl >= 0 ? recs[i].v : NULL,
		                                   recs[i].vl), 0);
	}
	ctl_coord_load_marker(h2.c, gpart(), PID, true);
	ctl_coord_load_marker(h2.c, gpart(), PID + 1, true);
	ctl_coord_load_done(h2.c);
	cr_assert_eq(fetched(&h2, "in", 0), -1, "reloaded: no offset of the deleted group");
	cr_assert_eq(fetched(&h2, "in", 1), -1);
	cr_assert_str_eq(h_state(&h2, G), "Dead");
	h_fini(&h2);
	h_fini(&h);
}

/* A JoinGroup that is turned away does not take the group that pending offsets keep. */
Test(ctl_txn_offsets, a_rejected_join_keeps_the_pending_offsets)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part t1[1] = { part("in", 0, 10) };
	struct res r, j;
	txn_commit(&h, &r, PID, t1, 1);
	flush_at(&h, 0);
	h_join(&h, &j, G, "nobody-knows-me", NULL);
	cr_assert_eq(j.err, CTL_ERR_UNKNOWN_MEMBER_ID);
	ctl_coord_txn_complete(h.c, gpart(), PID, true);
	cr_assert_eq(fetched(&h, "in", 0), 10);
	h_fini(&h);
}
