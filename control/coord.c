/*
 * control/coord.c: the coordinator's registry of groups, its clock and timers, the appends to
 * `__consumer_offsets` it hands its owner, and the rebuilding of its state from that topic.
 */
#include "control/coord_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *ctl_group_state_name(enum ctl_group_state s)
{
	switch (s) {
	case CTL_GROUP_EMPTY: return "Empty";
	case CTL_GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
	case CTL_GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
	case CTL_GROUP_STABLE: return "Stable";
	case CTL_GROUP_DEAD: return "Dead";
	}
	return "Unknown";
}

void ctl_config_default(struct ctl_config *cfg)
{
	cfg->min_session_timeout_ms = 6000;
	cfg->max_session_timeout_ms = 1800000;
	cfg->initial_rebalance_delay_ms = 3000;
	cfg->max_size = INT32_MAX;
	cfg->new_member_join_timeout_ms = 300000;
	cfg->offset_metadata_max_bytes = 4096;
	cfg->offsets_retention_ms = 10080LL * 60 * 1000;
	cfg->offsets_retention_check_ms = 600000;
	cfg->offsets_partitions = 50;
}

char *ctl_strdup_slice(struct ctl_slice s)
{
	if (s.len < 0)
		return NULL;
	char *p = malloc((size_t)s.len + 1);
	if (!p)
		abort(); /* the control process cannot run without memory; it is restarted */
	memcpy(p, s.p, (size_t)s.len);
	p[s.len] = 0;
	return p;
}

bool ctl_slice_eq(struct ctl_slice s, const char *z)
{
	if (s.len < 0 || !z)
		return s.len < 0 && !z;
	return strlen(z) == (size_t)s.len && memcmp(s.p, z, (size_t)s.len) == 0;
}

struct ctl_coord *ctl_coord_create(const struct ctl_config *cfg, const struct ctl_coord_ops *ops, int64_t now_ms)
{
	struct ctl_coord *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->ops = *ops;
	c->now = now_ms;
	c->loading = true;
	c->load_offset = c->load_pid = -1;
	c->next_retention_check = now_ms + cfg->offsets_retention_check_ms;
	ctl_map_init(&c->groups);
	return c;
}

static void group_free(struct ctl_group *g)
{
	ctl_group_free_members(g);
	ctl_offsets_clear(g);
	ctl_map_fini(&g->offsets);
	ctl_pending_free_all(g);
	for (int32_t i = 0; i < g->n_subscribed; i++)
		free(g->subscribed[i]);
	free(g->subscribed);
	free(g->id);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	free(g);
}

void ctl_coord_destroy(struct ctl_coord *c)
{
	if (!c)
		return;
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, &c->groups);
	while ((g = ctl_map_next(&it))) {
		ctl_map_iter_remove(&it);
		group_free(g);
	}
	ctl_map_fini(&c->groups);
	while (c->done_q) {
		struct ctl_txn_done *d = c->done_q;
		c->done_q = d->next;
		free(d);
	}
	free(c);
}

struct ctl_group *ctl_grp_get(const struct ctl_coord *c, struct ctl_slice id)
{
	if (id.len < 0)
		return NULL;
	return ctl_map_get(&c->groups, id.p, (size_t)id.len);
}

struct ctl_group *ctl_grp_create(struct ctl_coord *c, struct ctl_slice id)
{
	struct ctl_group *g = calloc(1, sizeof(*g));
	if (!g)
		abort();
	g->id = ctl_strdup_slice(id);
	g->state = CTL_GROUP_EMPTY;
	g->state_ts = c->now;
	ctl_map_init(&g->offsets);
	if (ctl_map_put(&c->groups, id.p, (size_t)id.len, g, NULL))
		abort();
	return g;
}

void ctl_grp_remove(struct ctl_coord *c, struct ctl_group *g)
{
	ctl_map_del(&c->groups, g->id, strlen(g->id));
	group_free(g);
}

void ctl_grp_set_state(struct ctl_coord *c, struct ctl_group *g, enum ctl_group_state s)
{
	g->state = s;
	g->state_ts = c->now;
}

bool ctl_coord_loading(const struct ctl_coord *c)
{
	return c->loading;
}

void ctl_coord_set_partitions(struct ctl_coord *c, int32_t n)
{
	if (n > 0)
		c->cfg.offsets_partitions = n;
}

int32_t ctl_coord_offsets_partition(const struct ctl_coord *c, struct ctl_slice group_id)
{
	return ctl_offsets_partition(group_id.len > 0 ? group_id.p : "", group_id.len > 0 ? (size_t)group_id.len : 0,
	                             c->cfg.offsets_partitions);
}

/* ---- appends ---- */

struct ctl_append *ctl_append_new(struct ctl_coord *c, struct ctl_group *g, int kind)
{
	struct ctl_append *a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	a->partition = ctl_offsets_partition(g->id, strlen(g->id), c->cfg.offsets_partitions);
	rt_buf_init(&a->data, 0);
	a->kind = kind;
	a->producer_id = -1;
	a->log_offset = -1;
	a->seq_end = -1;
	a->group_id = strdup(g->id);
	a->generation = g->generation;
	return a;
}

static struct ctl_kv *next_kv(struct ctl_append *a)
{
	if (a->n == a->cap) {
		int32_t cap = a->cap ? a->cap * 2 : 8;
		struct ctl_kv *kv = realloc(a->kv, (size_t)cap * sizeof(*kv));
		if (!kv)
			abort();
		a->kv = kv;
		a->cap = cap;
	}
	return &a->kv[a->n++];
}

void ctl_append_group_record(struct ctl_coord *c, struct ctl_append *a, struct ctl_group *g, bool use_next)
{
	(void)c;
	struct ctl_kv *kv = next_kv(a);
	kv->koff = (uint32_t)a->data.len;
	ctl_rec_group_key_put(&a->data, ctl_slice_str(g->id));
	kv->klen = (uint32_t)(a->data.len - kv->koff);
	struct ctl_member_rec *mr = g->n_members ? calloc((size_t)g->n_members, sizeof(*mr)) : NULL;
	if (g->n_members && !mr)
		abort();
	int32_t i = 0;
	for (struct ctl_member *m = g->head; m; m = m->next, i++) {
		mr[i].member_id = ctl_slice_str(m->id);
		mr[i].instance_id = ctl_slice_str(m->instance_id);
		mr[i].client_id = ctl_slice_str(m->client_id);
		mr[i].client_host = ctl_slice_str(m->client_host);
		mr[i].rebalance_timeout = m->rebalance_timeout;
		mr[i].session_timeout = m->session_timeout;
		mr[i].subscription = (struct ctl_slice){ "", 0 };
		for (int32_t k = 0; g->protocol && k < m->n_protocols; k++)
			if (!strcmp(m->protocols[k].name, g->protocol))
				mr[i].subscription = (struct ctl_slice){ (const char *)m->protocols[k].meta, m->protocols[k].meta_len };
		if (use_next)
			mr[i].assignment = (struct ctl_slice){ (const char *)m->next_assignment, m->next_assignment_len };
		else
			mr[i].assignment = (struct ctl_slice){ (const char *)m->assignment, m->assignment_len };
		if (mr[i].assignment.len < 0 || !mr[i].assignment.p)
			mr[i].assignment = (struct ctl_slice){ "", 0 };
	}
	struct ctl_group_value v = {
		.protocol_type = ctl_slice_str(g->protocol_type ? g->protocol_type : ""),
		.generation = g->generation,
		.protocol = ctl_slice_str(g->protocol),
		.leader = ctl_slice_str(g->leader),
		.current_state_ts = g->state_ts,
		.members = mr,
		.n_members = g->n_members,
	};
	kv->voff = (uint32_t)a->data.len;
	ctl_rec_group_value_put(&a->data, &v);
	kv->vlen = (int32_t)(a->data.len - kv->voff);
	free(mr);
}

void ctl_append_offset_record(struct ctl_append *a, const char *group, struct ctl_slice topic,
                              int32_t partition, const struct ctl_offset_value *v)
{
	struct ctl_kv *kv = next_kv(a);
	kv->koff = (uint32_t)a->data.len;
	ctl_rec_offset_key_put(&a->data, ctl_slice_str(group), topic, partition);
	kv->klen = (uint32_t)(a->data.len - kv->koff);
	kv->voff = (uint32_t)a->data.len;
	ctl_rec_offset_value_put(&a->data, v);
	kv->vlen = (int32_t)(a->data.len - kv->voff);
}

void ctl_append_offset_tombstone(struct ctl_append *a, const char *group, const char *topic, int32_t partition)
{
	struct ctl_kv *kv = next_kv(a);
	kv->koff = (uint32_t)a->data.len;
	ctl_rec_offset_key_put(&a->data, ctl_slice_str(group), ctl_slice_str(topic), partition);
	kv->klen = (uint32_t)(a->data.len - kv->koff);
	kv->voff = 0;
	kv->vlen = -1;
}

void ctl_append_group_tombstone(struct ctl_append *a, const char *group)
{
	struct ctl_kv *kv = next_kv(a);
	kv->koff = (uint32_t)a->data.len;
	ctl_rec_group_key_put(&a->data, ctl_slice_str(group));
	kv->klen = (uint32_t)(a->data.len - kv->koff);
	kv->voff = 0;
	kv->vlen = -1;
}

void ctl_append_submit(struct ctl_coord *c, struct ctl_append *a)
{
	if (a->data.err) {
		/* Only -ENOMEM can get here (the buffer is unbounded); fail the append like a
		 * failed write so that the waiting request gets an error. */
		ctl_coord_append_done(c, a, CTL_ERR_UNKNOWN_SERVER_ERROR);
		return;
	}
	c->ops.append(c->ops.ctx, a);
}

/* Kafka's mapping of a failed append of the coordinator (GroupMetadataManager). */
int16_t ctl_append_error(int16_t e)
{
	switch (e) {
	case 0: return CTL_ERR_NONE;
	case 3:  /* UNKNOWN_TOPIC_OR_PARTITION */
	case 19: /* NOT_ENOUGH_REPLICAS */
	case 20: /* NOT_ENOUGH_REPLICAS_AFTER_APPEND */
	case 7:  /* REQUEST_TIMED_OUT */
	case 15: /* COORDINATOR_NOT_AVAILABLE (link down) */
		return CTL_ERR_COORDINATOR_NOT_AVAILABLE;
	case 6:  /* NOT_LEADER_OR_FOLLOWER */
	case 56: /* KAFKA_STORAGE_ERROR */
		return CTL_ERR_NOT_COORDINATOR;
	case 10: /* MESSAGE_TOO_LARGE */
	case 18: /* RECORD_LIST_TOO_LARGE */
	case 4:  /* INVALID_FETCH_SIZE */
		return CTL_ERR_UNKNOWN_SERVER_ERROR;
	default:
		return e;
	}
}

void ctl_coord_append_done(struct ctl_coord *c, struct ctl_append *a, int16_t error)
{
	switch (a->kind) {
	case CTL_APPEND_GROUP:
	case CTL_APPEND_STATIC_JOIN:
		ctl_group_on_store(c, a, error);
		break;
	case CTL_APPEND_COMMIT:
		ctl_offsets_on_commit(c, a, error);
		break;
	case CTL_APPEND_TXN_COMMIT:
		ctl_txn_offsets_on_commit(c, a, error);
		break;
	default:
		break;
	}
	rt_buf_fini(&a->data);
	free(a->kv);
	free(a->group_id);
	free(a->member_id);
	free(a->old_leader);
	free(a->transactional_id);
	free(a);
}

/* ---- loading ---- */

static void load_group(struct ctl_coord *c, struct ctl_slice id, const struct ctl_group_value *v)
{
	struct ctl_group *g = ctl_grp_get(c, id);
	if (!g)
		g = ctl_grp_create(c, id);
	ctl_group_free_members(g);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	g->protocol_type = v->protocol_type.len > 0 ? ctl_strdup_slice(v->protocol_type) : NULL;
	g->protocol = ctl_strdup_slice(v->protocol);
	g->leader = NULL;
	g->generation = v->generation;
	g->state_ts = v->current_state_ts >= 0 ? v->current_state_ts : c->now;
	for (int32_t i = 0; i < v->n_members; i++) {
		const struct ctl_member_rec *r = &v->members[i];
		struct ctl_member *m = calloc(1, sizeof(*m));
		if (!m)
			abort();
		m->id = ctl_strdup_slice(r->member_id);
		m->instance_id = ctl_strdup_slice(r->instance_id);
		m->client_id = ctl_strdup_slice(r->client_id.len >= 0 ? r->client_id : (struct ctl_slice){ "", 0 });
		m->client_host = ctl_strdup_slice(r->client_host.len >= 0 ? r->client_host : (struct ctl_slice){ "", 0 });
		m->protocol_type = strdup(g->protocol_type ? g->protocol_type : "");
		m->session_timeout = r->session_timeout;
		m->rebalance_timeout = r->rebalance_timeout >= 0 ? r->rebalance_timeout : r->session_timeout;
		if (g->protocol) {
			m->protocols = calloc(1, sizeof(*m->protocols));
			if (!m->protocols)
				abort();
			m->n_protocols = 1;
			m->protocols[0].name = strdup(g->protocol);
			m->protocols[0].meta_len = r->subscription.len > 0 ? r->subscription.len : 0;
			m->protocols[0].meta = malloc((size_t)m->protocols[0].meta_len + 1);
			if (!m->protocols[0].meta)
				abort();
			if (m->protocols[0].meta_len)
				memcpy(m->protocols[0].meta, r->subscription.p, (size_t)m->protocols[0].meta_len);
		}
		m->assignment_len = r->assignment.len > 0 ? r->assignment.len : 0;
		m->assignment = malloc((size_t)m->assignment_len + 1);
		if (!m->assignment)
			abort();
		if (m->assignment_len)
			memcpy(m->assignment, r->assignment.p, (size_t)m->assignment_len);
		m->prev = g->tail;
		if (g->tail)
			g->tail->next = m;
		else
			g->head = m;
		g->tail = m;
		g->n_members++;
		if (v->leader.len >= 0 && ctl_slice_eq(v->leader, m->id))
			g->leader = strdup(m->id);
	}
	if (g->n_members && !g->leader)
		g->leader = strdup(g->head->id);
	g->state = g->n_members ? CTL_GROUP_STABLE : CTL_GROUP_EMPTY;
	ctl_group_parse_subscriptions(g);
}

static void unload_group(struct ctl_coord *c, struct ctl_slice id)
{
	struct ctl_group *g = ctl_grp_get(c, id);
	if (!g)
		return;
	if (!ctl_group_has_offsets(g)) {
		ctl_grp_remove(c, g);
		return;
	}
	/* The group's metadata is gone but offsets remain: a group that only stores offsets. */
	ctl_group_free_members(g);
	free(g->protocol_type);
	free(g->protocol);
	free(g->leader);
	g->protocol_type = g->protocol = g->leader = NULL;
	g->generation = 0;
	g->state = CTL_GROUP_EMPTY;
}

int ctl_coord_load_record(struct ctl_coord *c, const void *key, size_t klen, const void *val, int32_t vlen)
{
	struct ctl_rec_key k;
	int rc = ctl_rec_key_get(key, klen, &k);
	if (rc == -ENOTSUP)
		return 0;
	if (rc)
		return rc;
	if (k.group.len < 0)
		return -EBADMSG;
	if (k.kind == CTL_REC_OFFSET) {
		struct ctl_group *g = ctl_grp_get(c, k.group);
		if (!val || vlen < 0) {
			if (g) {
				ctl_offsets_drop(g, k.topic, k.partition);
				ctl_pending_drop(g, k.topic, k.partition);
				if (g->state == CTL_GROUP_EMPTY && !g->protocol_type && !ctl_group_has_offsets(g))
					ctl_grp_remove(c, g);
			}
			return 0;
		}
		struct ctl_offset_value v;
		rc = ctl_rec_offset_value_get(val, (size_t)vlen, &v);
		if (rc == -ENOTSUP)
			return 0;
		if (rc)
			return rc;
		if (!g)
			g = ctl_grp_create(c, k.group);
		if (c->load_pid >= 0) {
			/* a TxnOffsetCommit: pending until its producer's marker (Kafka's loader) */
			ctl_pending_add(g, c->load_pid, NULL, k.topic, k.partition, &v, c->load_offset);
			return 0;
		}
		return ctl_offsets_put(g, k.topic, k.partition, &v, c->load_offset);
	}
	if (!val || vlen < 0) {
		unload_group(c, k.group);
		return 0;
	}
	struct rt_arena arena;
	rt_arena_init(&arena, 0, 64u << 20);
	struct ctl_group_value v;
	rc = ctl_rec_group_value_get(val, (size_t)vlen, &arena, &v);
	if (rc == 0)
		load_group(c, k.group, &v);
	rt_arena_fini(&arena);
	return rc == -ENOTSUP ? 0 : rc;
}

void ctl_coord_load_batch(struct ctl_coord *c, int64_t base_offset, int64_t producer_id)
{
	c->load_offset = base_offset;
	c->load_pid = producer_id;
}

void ctl_coord_load_done(struct ctl_coord *c)
{
	c->loading = false;
	c->load_offset = c->load_pid = -1;
	ctl_txn_offsets_load_done(c);
	/* Loaded members must heartbeat within their session timeout, as after a coordinator
	 * failover in Kafka; those that do not are removed and the group rebalances. */
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, &c->groups);
	while ((g = ctl_map_next(&it)))
		for (struct ctl_member *m = g->head; m; m = m->next)
			m->hb_deadline = c->now + m->session_timeout;
	/* group.max.size may have been lowered since the group was written: such a group
	 * rebalances, and the join turns away the members over the limit (as Kafka does). */
	size_t k;
	void **gs = ctl_map_values(&c->groups, &k);
	for (size_t i = 0; i < k; i++)
		ctl_group_check_capacity(c, gs[i]);
	free(gs);
}

/* ---- clock ---- */

void ctl_coord_tick(struct ctl_coord *c, int64_t now_ms)
{
	if (now_ms > c->now)
		c->now = now_ms;
	if (c->loading)
		return;
	/* A group's timers may remove the group (and only that group), so walk a snapshot of
	 * the ids rather than the map itself. */
	size_t n = ctl_map_size(&c->groups), i = 0;
	char **ids = n ? malloc(n * sizeof(*ids)) : NULL;
	if (n && !ids)
		abort();
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, &c->groups);
	while ((g = ctl_map_next(&it)))
		if (ctl_group_deadline(g) <= c->now)
			ids[i++] = strdup(g->id);
	for (size_t k = 0; k < i; k++) {
		g = ctl_grp_get(c, ctl_slice_str(ids[k]));
		if (g)
			ctl_group_timers(c, g);
		free(ids[k]);
	}
	free(ids);
	if (c->now >= c->next_retention_check) {
		c->next_retention_check = c->now + c->cfg.offsets_retention_check_ms;
		ctl_offsets_expire(c);
	}
}

int64_t ctl_coord_next_deadline(const struct ctl_coord *c)
{
	int64_t d = c->next_retention_check;
	struct ctl_map_iter it;
	struct ctl_group *g;
	ctl_map_iter_init(&it, (struct ctl_map *)&c->groups);
	while ((g = ctl_map_next(&it))) {
		int64_t x = ctl_group_deadline(g);
		if (x < d)
			d = x;
	}
	return d;
}
