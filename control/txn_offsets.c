/*
 * control/txn_offsets.c: transactional offset commits (TxnOffsetCommit, KIP-98) and what
 * KIP-447's require_stable needs to see: commits that are not settled yet.
 *
 * A TxnOffsetCommit is written to `__consumer_offsets` as a transactional batch of the
 * producer, in Kafka's OffsetCommit record format, and held in the group's pending list; it
 * enters the cache (and OffsetFetch answers) only when the transaction's COMMIT marker is
 * durable on the group's partition, and is dropped at ABORT.  At start the same rule rebuilds
 * it from the log: records of a transactional batch wait for their producer's marker on that
 * partition (Kafka's GroupMetadataManager loader), and those without one stay pending until
 * the transaction coordinator, which resumes prepared transactions, has the marker written.
 *
 * Invariants:
 *   - a pending entry with `append` set is in flight; the transaction's markers wait until no
 *     entry of that producer is in flight (ctl_coord_txn_writing), so in the log every offset
 *     record of a transaction precedes its marker;
 *   - a committed pending offset replaces the cached one only when it was appended after it
 *     (larger log offset), as Kafka compares append offsets;
 *   - plain OffsetCommits are in the list (pid -1) only while their append is in flight.
 */
#include "control/coord_int.h"

#include <stdlib.h>
#include <string.h>

static bool tp_eq(const struct ctl_pending_offset *e, struct ctl_slice topic, int32_t partition)
{
	return e->partition == partition && ctl_slice_eq(topic, e->topic);
}

static void entry_free(struct ctl_pending_offset *e)
{
	free(e->topic);
	free(e->metadata);
	free(e);
}

struct ctl_pending_offset *ctl_pending_add(struct ctl_group *g, int64_t pid, const struct ctl_append *a,
                                           struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v,
                                           int64_t log_offset)
{
	struct ctl_pending_offset *e = calloc(1, sizeof(*e));
	if (!e)
		abort();
	e->pid = pid;
	e->append = a;
	e->topic = ctl_strdup_slice(topic.len >= 0 ? topic : (struct ctl_slice){ "", 0 });
	e->partition = partition;
	e->offset = v->offset;
	e->leader_epoch = v->leader_epoch;
	e->metadata = ctl_strdup_slice(v->metadata.len >= 0 ? v->metadata : (struct ctl_slice){ "", 0 });
	e->commit_ts = v->commit_ts;
	e->expire_ts = v->expire_ts;
	e->log_offset = log_offset;
	struct ctl_pending_offset **tail = &g->pend;   /* kept in append order */
	while (*tail)
		tail = &(*tail)->next;
	*tail = e;
	return e;
}

void ctl_pending_settle(struct ctl_group *g, const struct ctl_append *a, bool ok, int64_t log_offset)
{
	for (struct ctl_pending_offset **pp = &g->pend; *pp;) {
		struct ctl_pending_offset *e = *pp;
		if (e->append != a) {
			pp = &e->next;
			continue;
		}
		if (e->pid < 0 || !ok) {
			*pp = e->next;
			entry_free(e);
			continue;
		}
		e->append = NULL;
		e->log_offset = log_offset;
		pp = &e->next;
	}
}

void ctl_pending_drop(struct ctl_group *g, struct ctl_slice topic, int32_t partition)
{
	for (struct ctl_pending_offset **pp = &g->pend; *pp;) {
		struct ctl_pending_offset *e = *pp;
		if (e->pid >= 0 && tp_eq(e, topic, partition)) {
			*pp = e->next;
			entry_free(e);
		} else {
			pp = &e->next;
		}
	}
}

void ctl_pending_free_all(struct ctl_group *g)
{
	while (g->pend) {
		struct ctl_pending_offset *e = g->pend;
		g->pend = e->next;
		entry_free(e);
	}
}

/* The marker of pid is durable on the group's partition: settle its durable entries. */
static void complete_group(struct ctl_group *g, int64_t pid, bool commit)
{
	for (struct ctl_pending_offset **pp = &g->pend; *pp;) {
		struct ctl_pending_offset *e = *pp;
		if (e->pid != pid || e->append) {
			pp = &e->next;
			continue;
		}
		if (commit) {
			struct ctl_slice t = ctl_slice_str(e->topic);
			bool newer = true;
			uint8_t key[32767 + 5];
			size_t tl = strlen(e->topic);
			if (tl + 5 <= sizeof(key)) {
				memcpy(key, e->topic, tl);
				key[tl] = 0;
				memcpy(key + tl + 1, &e->partition, 4);
				const struct ctl_offset *o = ctl_map_get(&g->offsets, key, tl + 5);
				newer = !o || o->log_offset < e->log_offset;
			}
			if (newer) {
				struct ctl_offset_value v = {
					.offset = e->offset, .leader_epoch = e->leader_epoch,
					.metadata = ctl_slice_str(e->metadata), .commit_ts = e->commit_ts,
					.expire_ts = e->expire_ts,
				};
				ctl_offsets_put(g, t, e->partition, &v, e->log_offset);
			}
		}
		*pp = e->next;
		entry_free(e);
	}
}

/* Every group on `partition` of `__consumer_offsets` settles pid's offsets; a group left
 * without anything (it only held the aborted offsets) goes, as after a tombstone. */
static void complete(struct ctl_coord *c, int32_t partition, int64_t pid, bool commit)
{
	size_t k;
	void **gs = ctl_map_values(&c->groups, &k);
	for (size_t i = 0; i < k; i++) {
		struct ctl_group *g = gs[i];
		if (!g->pend || ctl_offsets_partition(g->id, strlen(g->id), c->cfg.offsets_partitions) != partition)
			continue;
		complete_group(g, pid, commit);
		if (g->state == CTL_GROUP_EMPTY && !g->protocol_type && !g->n_pending && !ctl_group_has_offsets(g))
			ctl_grp_remove(c, g);
	}
	free(gs);
}

void ctl_coord_load_marker(struct ctl_coord *c, int32_t partition, int64_t producer_id, bool commit)
{
	complete(c, partition, producer_id, commit);
}

void ctl_coord_txn_complete(struct ctl_coord *c, int32_t partition, int64_t producer_id, bool commit)
{
	if (!c->loading) {
		complete(c, partition, producer_id, commit);
		return;
	}
	/* The loader may not have reached this producer's records yet: settle them after it. */
	struct ctl_txn_done *d = calloc(1, sizeof(*d));
	if (!d)
		abort();
	*d = (struct ctl_txn_done){ .partition = partition, .pid = producer_id, .commit = commit };
	if (c->done_tail)
		c->done_tail->next = d;
	else
		c->done_q = d;
	c->done_tail = d;
}

void ctl_txn_offsets_load_done(struct ctl_coord *c)
{
	while (c->done_q) {
		struct ctl_txn_done *d = c->done_q;
		c->done_q = d->next;
		complete(c, d->partition, d->pid, d->commit);
		free(d);
	}
	c->done_tail = NULL;
}

bool ctl_coord_txn_writing(const struct ctl_coord *c, int64_t producer_id)
{
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, (struct ctl_map *)&c->groups);
	while ((g = ctl_map_next(&it)))
		for (const struct ctl_pending_offset *e = g->pend; e; e = e->next)
			if (e->pid == producer_id && e->append)
				return true;
	return false;
}

bool ctl_offsets_unstable(const struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice topic,
                          int32_t partition)
{
	const struct ctl_group *g = ctl_grp_get(c, group_id);
	for (const struct ctl_pending_offset *e = g ? g->pend : NULL; e; e = e->next)
		if (tp_eq(e, topic, partition))
			return true;
	return false;
}

static void answer_all(struct ctl_coord *c, struct ctl_commit_req *rq, void *req, int16_t err)
{
	for (int32_t i = 0; i < rq->n_parts; i++)
		if (!rq->parts[i].error)
			rq->parts[i].error = err;
	c->ops.commit_done(c->ops.ctx, req, rq);
}

/* Kafka's GroupCoordinator.handleTxnCommitOffsets: the group is created when missing. */
void ctl_offsets_txn_commit(struct ctl_coord *c, struct ctl_commit_req *rq, void *req)
{
	if (c->loading) {
		answer_all(c, rq, req, CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS);
		return;
	}
	if (rq->group_id.len < 0) {
		answer_all(c, rq, req, CTL_ERR_INVALID_GROUP_ID);
		return;
	}
	struct ctl_group *g = ctl_grp_get(c, rq->group_id);
	if (!g)
		g = ctl_grp_create(c, rq->group_id);
	int16_t err = ctl_offsets_validate(g, rq, true);
	if (err) {
		if (g->state == CTL_GROUP_EMPTY && !g->protocol_type && !ctl_group_has_offsets(g))
			ctl_grp_remove(c, g);
		answer_all(c, rq, req, err);
		return;
	}
	struct ctl_append *a = ctl_append_new(c, g, CTL_APPEND_TXN_COMMIT);
	a->transactional = true;
	a->producer_id = rq->producer_id;
	a->producer_epoch = rq->producer_epoch;
	a->transactional_id = ctl_strdup_slice(rq->transactional_id.len > 0 ? rq->transactional_id
	                                                                     : (struct ctl_slice){ "", 0 });
	ctl_offsets_write(c, g, a, rq, req, rq->producer_id);
}

void ctl_txn_offsets_on_commit(struct ctl_coord *c, struct ctl_append *a, int16_t err)
{
	struct ctl_commit_req *rq = a->commit;
	err = ctl_append_error(err);
	/* No group: DeleteGroups took it while this append was in flight and appended tombstones
	 * for these partitions after it, so nothing of it stays pending (a reload agrees). */
	struct ctl_group *g = ctl_grp_get(c, ctl_slice_str(a->group_id));
	if (g)
		ctl_pending_settle(g, a, !err, a->log_offset);
	if (err) {
		if (g && g->state == CTL_GROUP_EMPTY && !g->protocol_type && !ctl_group_has_offsets(g))
			ctl_grp_remove(c, g);
		for (int32_t i = 0; i < rq->n_parts; i++)
			if (!rq->parts[i].error)
				rq->parts[i].error = err;
	}
	c->ops.commit_done(c->ops.ctx, a->req, rq);
}
