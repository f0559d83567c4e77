/*
 * control/offsets.c: committed offsets: OffsetCommit (with Kafka's generation and member
 * checks), OffsetFetch lookups, OffsetDelete, and offsets.retention.minutes expiry.
 *
 * Invariant: the cache holds only what is durable in `__consumer_offsets`.  A commit is
 * applied to the cache when its append completes, and answered then; deletions and expiry
 * drop the cache entry and write the tombstone (as Kafka does, without waiting for it).
 */
#include "control/coord_int.h"

#include <stdlib.h>
#include <string.h>

static size_t offset_key(uint8_t *buf, size_t cap, struct ctl_slice topic, int32_t partition)
{
	size_t tl = topic.len > 0 ? (size_t)topic.len : 0;
	if (tl + 5 > cap)
		return 0;
	if (tl)
		memcpy(buf, topic.p, tl);
	buf[tl] = 0;
	memcpy(buf + tl + 1, &partition, 4);
	return tl + 5;
}

void ctl_offset_free(struct ctl_offset *o)
{
	free(o->topic);
	free(o->metadata);
	free(o);
}

void ctl_offsets_clear(struct ctl_group *g)
{
	struct ctl_map_iter it;
	struct ctl_offset *o;
	ctl_map_iter_init(&it, &g->offsets);
	while ((o = ctl_map_next(&it))) {
		ctl_map_iter_remove(&it);
		ctl_offset_free(o);
	}
}

const struct ctl_offset *ctl_offsets_find(const struct ctl_group *g, struct ctl_slice topic, int32_t partition)
{
	uint8_t key[32767 + 5];
	size_t kl = offset_key(key, sizeof(key), topic, partition);
	return kl ? ctl_map_get(&g->offsets, key, kl) : NULL;
}

bool ctl_group_has_offsets(const struct ctl_group *g)
{
	return ctl_map_size(&g->offsets) || g->pend;
}

int ctl_offsets_put(struct ctl_group *g, struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v,
                    int64_t log_offset)
{
	uint8_t key[32767 + 5];
	size_t kl = offset_key(key, sizeof(key), topic, partition);
	if (!kl)
		return -EINVAL;
	struct ctl_offset *o = ctl_map_get(&g->offsets, key, kl);
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			abort();
		o->topic = ctl_strdup_slice(topic.len >= 0 ? topic : (struct ctl_slice){ "", 0 });
		o->partition = partition;
		if (ctl_map_put(&g->offsets, key, kl, o, NULL))
			abort();
	}
	free(o->metadata);
	o->metadata = ctl_strdup_slice(v->metadata.len >= 0 ? v->metadata : (struct ctl_slice){ "", 0 });
	o->offset = v->offset;
	o->leader_epoch = v->leader_epoch;
	o->commit_ts = v->commit_ts;
	o->expire_ts = v->expire_ts;
	o->log_offset = log_offset;
	return 0;
}

void ctl_offsets_drop(struct ctl_group *g, struct ctl_slice topic, int32_t partition)
{
	uint8_t key[32767 + 5];
	size_t kl = offset_key(key, sizeof(key), topic, partition);
	struct ctl_offset *o = kl ? ctl_map_del(&g->offsets, key, kl) : NULL;
	if (o)
		ctl_offset_free(o);
}

/* Parts that arrive with an error (UNKNOWN_TOPIC_OR_PARTITION from the front end) keep it. */
static void fail_all(struct ctl_commit_req *rq, int16_t err)
{
	for (int32_t i = 0; i < rq->n_parts; i++)
		if (!rq->parts[i].error)
			rq->parts[i].error = err;
}

void ctl_offsets_commit_values(const struct ctl_commit_req *rq, const struct ctl_commit_part *p, struct ctl_offset_value *v)
{
	v->offset = p->offset;
	v->leader_epoch = p->leader_epoch;
	v->metadata = p->metadata.len >= 0 ? p->metadata : (struct ctl_slice){ "", 0 };
	v->commit_ts = p->commit_ts;
	v->expire_ts = rq->retention_ms >= 0 ? p->commit_ts + rq->retention_ms : -1;
}

/* Kafka's validateOffsetCommit.  A transactional commit (TxnOffsetCommit, whose older versions
 * carry no member id or generation) may name no member, and may commit into a live group. */
int16_t ctl_offsets_validate(const struct ctl_group *g, const struct ctl_commit_req *rq, bool transactional)
{
	if (g->state == CTL_GROUP_DEAD)
		return CTL_ERR_COORDINATOR_NOT_AVAILABLE;
	if (rq->generation >= 0 || rq->member_id.len > 0 || rq->instance_id.len >= 0) {
		struct ctl_member *s = NULL;
		if (rq->instance_id.len >= 0)
			for (s = g->head; s && !(s->instance_id && ctl_slice_eq(rq->instance_id, s->instance_id)); s = s->next)
				;
		if (s && !ctl_slice_eq(rq->member_id, s->id))
			return CTL_ERR_FENCED_INSTANCE_ID;
		/* An instance id the group does not hold (e.g. removed at session expiry): Kafka's
		 * validateMember answers UNKNOWN_MEMBER_ID even when the member id is known.
		 * TxnOffsetCommit keeps its looser check (see above). */
		if (!s && rq->instance_id.len >= 0 && !transactional)
			return CTL_ERR_UNKNOWN_MEMBER_ID;
		if (transactional ? rq->member_id.len > 0 && !ctl_member_find(g, rq->member_id.p, (size_t)rq->member_id.len)
		                  : rq->member_id.len < 0 || !ctl_member_find(g, rq->member_id.p, (size_t)rq->member_id.len))
			return CTL_ERR_UNKNOWN_MEMBER_ID;
		if (rq->generation != g->generation)
			return CTL_ERR_ILLEGAL_GENERATION;
		return CTL_ERR_NONE;
	}
	if (!transactional && g->state != CTL_GROUP_EMPTY)
		return CTL_ERR_UNKNOWN_MEMBER_ID; /* only members commit into a live group */
	return CTL_ERR_NONE;
}

void ctl_offsets_commit(struct ctl_coord *c, struct ctl_commit_req *rq, void *req)
{
	int16_t err = CTL_ERR_NONE;
	struct ctl_group *g = NULL;
	if (c->loading)
		err = CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	else if (rq->group_id.len < 0)
		err = CTL_ERR_INVALID_GROUP_ID;
	else if (!(g = ctl_grp_get(c, rq->group_id))) {
		if (rq->generation < 0)
			g = ctl_grp_create(c, rq->group_id); /* simple commits: offsets only */
		else
			err = CTL_ERR_ILLEGAL_GENERATION;
	}
	if (!err)
		err = ctl_offsets_validate(g, rq, false);
	if (!err && g->state == CTL_GROUP_COMPLETING_REBALANCE)
		err = CTL_ERR_REBALANCE_IN_PROGRESS;
	if (err) {
		fail_all(rq, err);
		c->ops.commit_done(c->ops.ctx, req, rq);
		return;
	}
	if (rq->member_id.len > 0) {
		struct ctl_member *m = ctl_member_find(g, rq->member_id.p, (size_t)rq->member_id.len);
		if (m && (g->state == CTL_GROUP_STABLE || g->state == CTL_GROUP_PREPARING_REBALANCE))
			m->hb_deadline = c->now + m->session_timeout;
	}
	ctl_offsets_write(c, g, ctl_append_new(c, g, CTL_APPEND_COMMIT), rq, req, -1);
}

void ctl_offsets_write(struct ctl_coord *c, struct ctl_group *g, struct ctl_append *a, struct ctl_commit_req *rq,
                       void *req, int64_t pid)
{
	for (int32_t i = 0; i < rq->n_parts; i++) {
		struct ctl_commit_part *p = &rq->parts[i];
		if (p->error)
			continue;
		if (p->metadata.len > c->cfg.offset_metadata_max_bytes) {
			p->error = CTL_ERR_OFFSET_METADATA_TOO_LARGE;
			continue;
		}
		if (p->topic.len < 0) {
			p->error = CTL_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		if (pid >= 0 || p->commit_ts < 0)
			p->commit_ts = c->now;   /* TxnOffsetCommit carries no commit timestamp */
		struct ctl_offset_value v;
		ctl_offsets_commit_values(rq, p, &v);
		ctl_append_offset_record(a, g->id, p->topic, p->partition, &v);
		ctl_pending_add(g, pid, a, p->topic, p->partition, &v, -1);  /* KIP-447: unstable meanwhile */
	}
	if (a->n == 0) {
		a->kind = CTL_APPEND_PLAIN;
		ctl_coord_append_done(c, a, 0);
		if (g->state == CTL_GROUP_EMPTY && !g->protocol_type && !ctl_group_has_offsets(g))
			ctl_grp_remove(c, g);
		c->ops.commit_done(c->ops.ctx, req, rq);
		return;
	}
	a->commit = rq;
	a->req = req;
	ctl_append_submit(c, a);
}

void ctl_offsets_on_commit(struct ctl_coord *c, struct ctl_append *a, int16_t err)
{
	struct ctl_commit_req *rq = a->commit;
	err = ctl_append_error(err);
	struct ctl_group *g = ctl_grp_get(c, ctl_slice_str(a->group_id));
	if (g)
		ctl_pending_settle(g, a, false, -1);
	if (err) {
		for (int32_t i = 0; i < rq->n_parts; i++)
			if (!rq->parts[i].error)
				rq->parts[i].error = err;
	} else {
		if (!g)
			g = ctl_grp_create(c, ctl_slice_str(a->group_id));
		for (int32_t i = 0; i < rq->n_parts; i++) {
			struct ctl_commit_part *p = &rq->parts[i];
			if (p->error)
				continue;
			struct ctl_offset_value v;
			ctl_offsets_commit_values(rq, p, &v);
			ctl_offsets_put(g, p->topic, p->partition, &v, a->log_offset);
		}
	}
	c->ops.commit_done(c->ops.ctx, a->req, rq);
}

int16_t ctl_offsets_fetch_check(const struct ctl_coord *c, struct ctl_slice group_id)
{
	if (c->loading)
		return CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	if (group_id.len < 0)
		return CTL_ERR_INVALID_GROUP_ID;
	return CTL_ERR_NONE;
}

bool ctl_offsets_get(const struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice topic,
                     int32_t partition, struct ctl_offset_value *out)
{
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g)
		return false;
	uint8_t key[32767 + 5];
	size_t kl = offset_key(key, sizeof(key), topic, partition);
	struct ctl_offset *o = kl ? ctl_map_get(&g->offsets, key, kl) : NULL;
	if (!o)
		return false;
	out->offset = o->offset;
	out->leader_epoch = o->leader_epoch;
	out->metadata = ctl_slice_str(o->metadata);
	out->commit_ts = o->commit_ts;
	out->expire_ts = o->expire_ts;
	return true;
}

void ctl_offsets_each(const struct ctl_coord *c, struct ctl_slice group_id,
                      void (*fn)(void *arg, struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v),
                      void *arg)
{
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g)
		return;
	struct ctl_map_iter it;
	struct ctl_offset *o;
	ctl_map_iter_init(&it, &g->offsets);
	while ((o = ctl_map_next(&it))) {
		struct ctl_offset_value v = {
			.offset = o->offset, .leader_epoch = o->leader_epoch, .metadata = ctl_slice_str(o->metadata),
			.commit_ts = o->commit_ts, .expire_ts = o->expire_ts,
		};
		fn(arg, ctl_slice_str(o->topic), o->partition, &v);
	}
}

static bool subscribed_to(const struct ctl_group *g, const char *topic, size_t len)
{
	for (int32_t i = 0; i < g->n_subscribed; i++)
		if (strlen(g->subscribed[i]) == len && !memcmp(g->subscribed[i], topic, len))
			return true;
	return false;
}

/* Kafka's cleanupGroupMetadata tail: an Empty group without offsets dies and is tombstoned. */
static void maybe_bury(struct ctl_coord *c, struct ctl_group *g, struct ctl_append *a)
{
	if (g->state == CTL_GROUP_EMPTY && !g->n_pending && !ctl_group_has_offsets(g)) {
		ctl_append_group_tombstone(a, g->id);
		ctl_grp_remove(c, g);
	}
}

int16_t ctl_offsets_delete(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_commit_part *parts, int32_t n)
{
	if (c->loading)
		return CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	if (group_id.len <= 0)
		return CTL_ERR_INVALID_GROUP_ID;
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g || g->state == CTL_GROUP_DEAD)
		return CTL_ERR_GROUP_ID_NOT_FOUND;
	bool empty = g->state == CTL_GROUP_EMPTY;
	if (!empty && !(g->protocol_type && !strcmp(g->protocol_type, "consumer") && g->subscribed))
		return CTL_ERR_NON_EMPTY_GROUP;
	struct ctl_append *a = ctl_append_new(c, g, CTL_APPEND_PLAIN);
	for (int32_t i = 0; i < n; i++) {
		struct ctl_commit_part *p = &parts[i];
		if (!empty && p->topic.len >= 0 && subscribed_to(g, p->topic.p, (size_t)p->topic.len)) {
			p->error = CTL_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
			continue;
		}
		p->error = CTL_ERR_NONE;
		struct ctl_offset_value v;
		if (p->topic.len >= 0 && ctl_offsets_get(c, group_id, p->topic, p->partition, &v)) {
			char *t = ctl_strdup_slice(p->topic);
			ctl_append_offset_tombstone(a, g->id, t, p->partition);
			free(t);
			ctl_offsets_drop(g, p->topic, p->partition);
		}
		if (p->topic.len >= 0)
			ctl_pending_drop(g, p->topic, p->partition);
	}
	maybe_bury(c, g, a);
	if (a->n)
		ctl_append_submit(c, a);
	else
		ctl_coord_append_done(c, a, 0);
	return CTL_ERR_NONE;
}

void ctl_offsets_expire(struct ctl_coord *c)
{
	struct ctl_group *g;
	size_t k;
	void **gs = ctl_map_values(&c->groups, &k);
	int64_t now = c->now, ret = c->cfg.offsets_retention_ms;
	for (size_t i = 0; i < k; i++) {
		g = gs[i];
		/* Which base time counts (Kafka's removeExpiredOffsets):
		 *   - Empty group with a protocol type: since the group became Empty;
		 *   - Stable consumer group that knows its topics: since each commit, for
		 *     topics it no longer subscribes to;
		 *   - group without a protocol type (simple commits): since each commit;
		 *   - otherwise nothing expires. */
		int mode;
		if (g->protocol_type && g->state == CTL_GROUP_EMPTY)
			mode = 1;
		else if (g->protocol_type && !strcmp(g->protocol_type, "consumer") && g->subscribed && g->state == CTL_GROUP_STABLE)
			mode = 2;
		else if (!g->protocol_type)
			mode = 3;
		else
			mode = 0;
		struct ctl_append *a = ctl_append_new(c, g, CTL_APPEND_PLAIN);
		if (mode) {
			struct ctl_map_iter oi;
			struct ctl_offset *o;
			ctl_map_iter_init(&oi, &g->offsets);
			while ((o = ctl_map_next(&oi))) {
				if (mode == 2 && subscribed_to(g, o->topic, strlen(o->topic)))
					continue;
				bool expired;
				if (o->expire_ts >= 0)
					expired = now >= o->expire_ts;
				else
					expired = now - (mode == 1 ? g->state_ts : o->commit_ts) >= ret;
				if (!expired)
					continue;
				ctl_append_offset_tombstone(a, g->id, o->topic, o->partition);
				ctl_map_iter_remove(&oi);
				ctl_offset_free(o);
			}
		}
		maybe_bury(c, g, a);
		if (a->n)
			ctl_append_submit(c, a);
		else
			ctl_coord_append_done(c, a, 0);
	}
	free(gs);
}
