/*
 * control/group.c: Kafka's classic group membership protocol: JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup and their timers, following Apache Kafka's GroupCoordinator state by state.
 *
 * States: Empty -> PreparingRebalance (a member joins) -> CompletingRebalance (every member
 * rejoined, or the rebalance timeout passed: the generation is bumped, the protocol chosen,
 * the leader gets the member list) -> Stable (the leader's SyncGroup assignment is durable in
 * `__consumer_offsets`) -> PreparingRebalance (a member joins, leaves, changes its
 * subscription, or misses its session timeout).  A group whose last member goes rebalances to
 * Empty; Dead groups are removed from the registry at once.
 *
 * Callbacks (join_done, sync_done) run synchronously and must not call back into the
 * coordinator; a member's token is answered exactly once and forgotten.
 */
#include "control/coord_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"


struct ctl_member *ctl_member_find(const struct ctl_group *g, const char *id, size_t len)
{
	for (struct ctl_member *m = g->head; m; m = m->next)
		if (strlen(m->id) == len && memcmp(m->id, id, len) == 0)
			return m;
	return NULL;
}

static struct ctl_member *find_slice(const struct ctl_group *g, struct ctl_slice id)
{
	return id.len < 0 ? NULL : ctl_member_find(g, id.p, (size_t)id.len);
}

static struct ctl_member *find_static(const struct ctl_group *g, struct ctl_slice instance)
{
	if (instance.len < 0)
		return NULL;
	for (struct ctl_member *m = g->head; m; m = m->next)
		if (m->instance_id && ctl_slice_eq(instance, m->instance_id))
			return m;
	return NULL;
}

/* Kafka's isStaticMemberFenced: the instance id belongs to a different member id. */
static bool static_fenced(const struct ctl_group *g, struct ctl_slice instance, struct ctl_slice member)
{
	struct ctl_member *m = find_static(g, instance);
	return m && !ctl_slice_eq(member, m->id);
}

/* Kafka's validateMember (Heartbeat, SyncGroup, LeaveGroup; OffsetCommit in offsets.c): a request
 * naming an instance id the group does not hold (removed at session expiry, or never its own) is
 * UNKNOWN_MEMBER_ID whatever its member id, so the client rejoins; only an instance id held by
 * another member id is FENCED_INSTANCE_ID (fatal in librdkafka).
 * Returns the member, or NULL with *err set. */
static struct ctl_member *validate_member(const struct ctl_group *g, struct ctl_slice instance,
                                          struct ctl_slice member, int16_t *err)
{
	if (instance.len >= 0) {
		struct ctl_member *s = find_static(g, instance);
		if (!s || !ctl_slice_eq(member, s->id)) {
			*err = s ? CTL_ERR_FENCED_INSTANCE_ID : CTL_ERR_UNKNOWN_MEMBER_ID;
			return NULL;
		}
	}
	struct ctl_member *m = find_slice(g, member);
	*err = m ? CTL_ERR_NONE : CTL_ERR_UNKNOWN_MEMBER_ID;
	return m;
}

static void free_protocols(struct ctl_member *m)
{
	for (int32_t i = 0; i < m->n_protocols; i++) {
		free(m->protocols[i].name);
		free(m->protocols[i].meta);
	}
	free(m->protocols);
	m->protocols = NULL;
	m->n_protocols = 0;
}

void ctl_member_free(struct ctl_member *m)
{
	free_protocols(m);
	free(m->id);
	free(m->instance_id);
	free(m->client_id);
	free(m->client_host);
	free(m->protocol_type);
	free(m->assignment);
	free(m->next_assignment);
	free(m);
}

void ctl_group_free_members(struct ctl_group *g)
{
	struct ctl_member *m = g->head;
	while (m) {
		struct ctl_member *n = m->next;
		ctl_member_free(m);
		m = n;
	}
	g->head = g->tail = NULL;
	g->n_members = g->n_awaiting_join = 0;
	struct ctl_pending_member *p = g->pending;
	while (p) {
		struct ctl_pending_member *n = p->next;
		free(p->id);
		free(p);
		p = n;
	}
	g->pending = NULL;
	g->n_pending = 0;
	free(g->leader);
	g->leader = NULL;
}

static uint8_t *dup_bytes(struct ctl_slice s, int32_t *len)
{
	int32_t n = s.len > 0 ? s.len : 0;
	uint8_t *p = malloc((size_t)n + 1);
	if (!p)
		abort();
	if (n)
		memcpy(p, s.p, (size_t)n);
	*len = n;
	return p;
}

static void set_protocols(struct ctl_member *m, const struct ctl_join_req *rq)
{
	free_protocols(m);
	m->protocols = calloc((size_t)rq->n_protocols + 1, sizeof(*m->protocols));
	if (!m->protocols)
		abort();
	for (int32_t i = 0; i < rq->n_protocols; i++) {
		m->protocols[i].name = ctl_strdup_slice(rq->protocols[i].name.len >= 0 ? rq->protocols[i].name : (struct ctl_slice){ "", 0 });
		m->protocols[i].meta = dup_bytes(rq->protocols[i].metadata, &m->protocols[i].meta_len);
	}
	m->n_protocols = rq->n_protocols;
}

static const struct ctl_proto *member_protocol(const struct ctl_member *m, const char *name)
{
	for (int32_t i = 0; name && i < m->n_protocols; i++)
		if (!strcmp(m->protocols[i].name, name))
			return &m->protocols[i];
	return NULL;
}

/* Kafka's MemberMetadata.matches: the same protocols, in the same order, with the same bytes. */
static bool member_matches(const struct ctl_member *m, const struct ctl_join_req *rq)
{
	if (m->n_protocols != rq->n_protocols)
		return false;
	for (int32_t i = 0; i < rq->n_protocols; i++) {
		const struct ctl_join_protocol *p = &rq->protocols[i];
		if (!ctl_slice_eq(p->name, m->protocols[i].name))
			return false;
		int32_t l = p->metadata.len > 0 ? p->metadata.len : 0;
		if (l != m->protocols[i].meta_len || (l && memcmp(p->metadata.p, m->protocols[i].meta, (size_t)l)))
			return false;
	}
	return true;
}

/* Kafka's supportsProtocols: an empty group takes any non-empty protocol type; otherwise the
 * type must match and one of the member's protocols must be supported by every member. */
static bool supports_protocols(const struct ctl_group *g, const struct ctl_join_req *rq)
{
	if (g->n_members == 0)
		return rq->protocol_type.len > 0 && rq->n_protocols > 0;
	if (!g->protocol_type || !ctl_slice_eq(rq->protocol_type, g->protocol_type))
		return false;
	for (int32_t i = 0; i < rq->n_protocols; i++) {
		bool all = true;
		for (struct ctl_member *m = g->head; m && all; m = m->next) {
			bool has = false;
			for (int32_t k = 0; k < m->n_protocols && !has; k++)
				has = ctl_slice_eq(rq->protocols[i].name, m->protocols[k].name);
			all = has;
		}
		if (all)
			return true;
	}
	return false;
}

static bool all_support(const struct ctl_group *g, const char *name)
{
	for (struct ctl_member *m = g->head; m; m = m->next)
		if (!member_protocol(m, name))
			return false;
	return true;
}

/* Kafka's selectProtocol: each member votes for its first protocol that every member
 * supports; the most votes wins (ties go to the earlier candidate in the first member's list). */
static const char *select_protocol(const struct ctl_group *g)
{
	const struct ctl_member *first = g->head;
	const char *best = NULL;
	int32_t best_votes = -1;
	for (int32_t i = 0; first && i < first->n_protocols; i++) {
		const char *cand = first->protocols[i].name;
		if (!all_support(g, cand))
			continue;
		int32_t votes = 0;
		for (struct ctl_member *m = g->head; m; m = m->next) {
			for (int32_t k = 0; k < m->n_protocols; k++) {
				if (all_support(g, m->protocols[k].name)) {
					votes += !strcmp(m->protocols[k].name, cand);
					break;
				}
			}
		}
		if (votes > best_votes) {
			best = cand;
			best_votes = votes;
		}
	}
	return best;
}

static int32_t rebalance_timeout(const struct ctl_group *g)
{
	int32_t t = 0;
	for (struct ctl_member *m = g->head; m; m = m->next)
		if (m->rebalance_timeout > t)
			t = m->rebalance_timeout;
	return t;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	if (src && !*dst)
		abort();
}

static void answer_join_error(struct ctl_coord *c, void *req, int16_t err, const char *member_id)
{
	struct ctl_join_result r = {
		.error = err, .generation = -1, .leader = "", .member_id = member_id ? member_id : "",
	};
	c->ops.join_done(c->ops.ctx, req, &r);
}

static void answer_sync_error(struct ctl_coord *c, void *req, int16_t err)
{
	struct ctl_sync_result r = { .error = err, .assignment = { "", 0 } };
	c->ops.sync_done(c->ops.ctx, req, &r);
}

/* Answers a member's pending JoinGroup (if any) with the group's current generation. */
static void invoke_join(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m, bool with_members,
                        const char *leader, bool skip)
{
	if (!m->awaiting_join)
		return;
	struct ctl_join_member *jm = NULL;
	int32_t n = 0;
	if (with_members) {
		jm = calloc((size_t)g->n_members + 1, sizeof(*jm));
		if (!jm)
			abort();
		for (struct ctl_member *x = g->head; x; x = x->next, n++) {
			const struct ctl_proto *p = member_protocol(x, g->protocol);
			jm[n].member_id = x->id;
			jm[n].instance_id = x->instance_id;
			jm[n].metadata = p ? (struct ctl_slice){ (const char *)p->meta, p->meta_len } : (struct ctl_slice){ "", 0 };
		}
	}
	void *req = m->join_req;
	m->awaiting_join = false;
	m->join_req = NULL;
	g->n_awaiting_join--;
	struct ctl_join_result r = {
		.error = CTL_ERR_NONE,
		.generation = g->generation,
		.protocol_type = g->protocol_type,
		.protocol_name = g->protocol,
		.leader = leader ? leader : "",
		.member_id = m->id,
		.skip_assignment = skip,
		.members = jm,
		.n_members = n,
	};
	c->ops.join_done(c->ops.ctx, req, &r);
	free(jm);
}

static void cancel_join(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m, int16_t err, const char *id)
{
	if (!m->awaiting_join)
		return;
	void *req = m->join_req;
	m->awaiting_join = false;
	m->join_req = NULL;
	g->n_awaiting_join--;
	answer_join_error(c, req, err, id);
}

static void cancel_sync(struct ctl_coord *c, struct ctl_member *m, int16_t err)
{
	if (!m->awaiting_sync)
		return;
	void *req = m->sync_req;
	m->awaiting_sync = false;
	m->sync_req = NULL;
	answer_sync_error(c, req, err);
}

static void unlink_member(struct ctl_group *g, struct ctl_member *m)
{
	if (m->awaiting_join)
		g->n_awaiting_join--;
	if (m->prev) m->prev->next = m->next; else g->head = m->next;
	if (m->next) m->next->prev = m->prev; else g->tail = m->prev;
	g->n_members--;
	if (g->leader && !strcmp(g->leader, m->id))
		set_str(&g->leader, g->head ? g->head->id : NULL);
}

/* Kafka's group.remove: no callback is answered and no rebalance starts (callers do that). */
static void plain_remove(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m)
{
	cancel_join(c, g, m, CTL_ERR_UNKNOWN_MEMBER_ID, "");
	cancel_sync(c, m, CTL_ERR_UNKNOWN_MEMBER_ID);
	unlink_member(g, m);
	ctl_member_free(m);
}

static void add_member(struct ctl_group *g, struct ctl_member *m)
{
	if (g->n_members == 0)
		set_str(&g->protocol_type, m->protocol_type);
	m->prev = g->tail;
	if (g->tail) g->tail->next = m; else g->head = m;
	g->tail = m;
	g->n_members++;
	if (!g->leader)
		set_str(&g->leader, m->id);
	if (m->awaiting_join)
		g->n_awaiting_join++;
}

static struct ctl_pending_member **find_pending(struct ctl_group *g, struct ctl_slice id)
{
	for (struct ctl_pending_member **pp = &g->pending; *pp; pp = &(*pp)->next)
		if (ctl_slice_eq(id, (*pp)->id))
			return pp;
	return NULL;
}

static void drop_pending(struct ctl_group *g, struct ctl_pending_member **pp)
{
	struct ctl_pending_member *p = *pp;
	*pp = p->next;
	free(p->id);
	free(p);
	g->n_pending--;
}

/* ---- rebalancing ---- */

static void complete_join(struct ctl_coord *c, struct ctl_group *g);

static void store_group(struct ctl_coord *c, struct ctl_group *g, int kind, bool use_next)
{
	struct ctl_append *a = ctl_append_new(c, g, kind);
	ctl_append_group_record(c, a, g, use_next);
	ctl_append_submit(c, a);
}

static void maybe_complete_join(struct ctl_coord *c, struct ctl_group *g)
{
	if (g->state == CTL_GROUP_PREPARING_REBALANCE && !g->initial_delay &&
	    g->n_awaiting_join == g->n_members && g->n_pending == 0)
		complete_join(c, g);
}

static void clear_pending_sync(struct ctl_group *g)
{
	for (struct ctl_member *m = g->head; m; m = m->next)
		m->pending_sync = false;
	g->sync_deadline = 0;
}

/* Kafka's prepareRebalance. */
static void prepare_rebalance(struct ctl_coord *c, struct ctl_group *g)
{
	if (g->state == CTL_GROUP_COMPLETING_REBALANCE) {
		for (struct ctl_member *m = g->head; m; m = m->next) {
			free(m->next_assignment);
			m->next_assignment = NULL;
			cancel_sync(c, m, CTL_ERR_REBALANCE_IN_PROGRESS);
		}
	}
	clear_pending_sync(g);
	int32_t rt = rebalance_timeout(g);
	if (g->state == CTL_GROUP_EMPTY) {
		int32_t d = c->cfg.initial_rebalance_delay_ms;
		g->initial_delay = true;
		g->new_member_added = false;
		g->join_deadline = c->now + d;
		g->initial_remaining = rt > d ? rt - d : 0;
	} else {
		g->initial_delay = false;
		g->join_deadline = c->now + rt;
	}
	ctl_grp_set_state(c, g, CTL_GROUP_PREPARING_REBALANCE);
	maybe_complete_join(c, g);
}

static void maybe_prepare_rebalance(struct ctl_coord *c, struct ctl_group *g)
{
	if (g->state == CTL_GROUP_STABLE || g->state == CTL_GROUP_COMPLETING_REBALANCE || g->state == CTL_GROUP_EMPTY)
		prepare_rebalance(c, g);
}

/* Kafka's removeMemberAndUpdateGroup. */
static void remove_member_and_update(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m)
{
	plain_remove(c, g, m);
	switch (g->state) {
	case CTL_GROUP_STABLE:
	case CTL_GROUP_COMPLETING_REBALANCE:
		maybe_prepare_rebalance(c, g);
		break;
	case CTL_GROUP_PREPARING_REBALANCE:
		maybe_complete_join(c, g);
		break;
	default:
		break;
	}
}

/* Kafka's maybeElectNewJoinedLeader. */
static bool elect_joined_leader(struct ctl_group *g)
{
	if (!g->leader)
		return false;
	struct ctl_member *l = ctl_member_find(g, g->leader, strlen(g->leader));
	if (l && l->awaiting_join)
		return true;
	for (struct ctl_member *m = g->head; m; m = m->next) {
		if (m->awaiting_join) {
			set_str(&g->leader, m->id);
			return true;
		}
	}
	return false;
}

/* Topics of the chosen protocol's subscriptions for consumer groups (OffsetDelete and offset
 * expiry need them); unknown (NULL) when any subscription does not parse. */
void ctl_group_parse_subscriptions(struct ctl_group *g)
{
	for (int32_t i = 0; i < g->n_subscribed; i++)
		free(g->subscribed[i]);
	free(g->subscribed);
	g->subscribed = NULL;
	g->n_subscribed = 0;
	if (!g->protocol_type || strcmp(g->protocol_type, "consumer") || !g->protocol)
		return;
	int32_t cap = 0, n = 0;
	char **t = NULL;
	for (struct ctl_member *m = g->head; m; m = m->next) {
		const struct ctl_proto *p = member_protocol(m, g->protocol);
		if (!p)
			goto unknown;
		struct rt_rd r;
		rt_rd_init(&r, p->meta, (size_t)p->meta_len);
		int16_t ver = rt_rd_i16(&r);
		int32_t cnt = rt_rd_i32(&r);
		if (r.err || ver < 0 || cnt < 0 || (size_t)cnt > rt_rd_left(&r) / 2)
			goto unknown;
		for (int32_t i = 0; i < cnt; i++) {
			int16_t l = rt_rd_i16(&r);
			const uint8_t *s = l >= 0 ? rt_rd_bytes(&r, (size_t)l) : NULL;
			if (!s || r.err)
				goto unknown;
			bool dup = false;
			for (int32_t k = 0; k < n && !dup; k++)
				dup = strlen(t[k]) == (size_t)l && !memcmp(t[k], s, (size_t)l);
			if (dup)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				char **nt = realloc(t, (size_t)cap * sizeof(*t));
				if (!nt)
					abort();
				t = nt;
			}
			t[n++] = ctl_strdup_slice((struct ctl_slice){ (const char *)s, l });
		}
	}
	if (!t) {
		t = malloc(sizeof(*t));
		if (!t)
			abort();
	}
	g->subscribed = t;
	g->n_subscribed = n;
	return;
unknown:
	for (int32_t k = 0; k < n; k++)
		free(t[k]);
	free(t);
}

/* Kafka's onCompleteJoin. */
static void complete_join(struct ctl_coord *c, struct ctl_group *g)
{
	g->join_deadline = 0;
	g->initial_delay = false;
	/* Dynamic members that did not rejoin in time are gone; static ones stay. */
	for (struct ctl_member *m = g->head, *n; m; m = n) {
		n = m->next;
		if (!m->awaiting_join && !m->instance_id)
			plain_remove(c, g, m);
	}
	if (!elect_joined_leader(g) && g->n_members) {
		g->join_deadline = c->now + rebalance_timeout(g);
		return;
	}
	g->generation++;
	if (g->n_members) {
		set_str(&g->protocol, select_protocol(g));
		ctl_grp_set_state(c, g, CTL_GROUP_COMPLETING_REBALANCE);
	} else {
		set_str(&g->protocol, NULL);
		ctl_grp_set_state(c, g, CTL_GROUP_EMPTY);
	}
	ctl_group_parse_subscriptions(g);
	if (g->state == CTL_GROUP_EMPTY) {
		store_group(c, g, CTL_APPEND_PLAIN, false);
		return;
	}
	for (struct ctl_member *m = g->head; m; m = m->next) {
		bool leader = !strcmp(m->id, g->leader);
		invoke_join(c, g, m, leader, g->leader, false);
		m->hb_deadline = c->now + m->session_timeout;
		m->is_new = false;
		m->pending_sync = true;
	}
	g->sync_deadline = c->now + rebalance_timeout(g);
}

void ctl_group_check_capacity(struct ctl_coord *c, struct ctl_group *g)
{
	if (g->n_members > c->cfg.max_size)
		maybe_prepare_rebalance(c, g);
}

/* ---- JoinGroup ---- */

static struct ctl_member *new_member(struct ctl_coord *c, const struct ctl_join_req *rq, const char *id)
{
	struct ctl_member *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->id = strdup(id);
	m->instance_id = ctl_strdup_slice(rq->instance_id);
	m->client_id = ctl_strdup_slice(rq->client_id.len >= 0 ? rq->client_id : (struct ctl_slice){ "", 0 });
	m->client_host = ctl_strdup_slice(rq->client_host.len >= 0 ? rq->client_host : (struct ctl_slice){ "", 0 });
	m->protocol_type = ctl_strdup_slice(rq->protocol_type.len >= 0 ? rq->protocol_type : (struct ctl_slice){ "", 0 });
	m->session_timeout = rq->session_timeout_ms;
	m->rebalance_timeout = rq->rebalance_timeout_ms;
	m->assignment = dup_bytes((struct ctl_slice){ "", 0 }, &m->assignment_len);
	set_protocols(m, rq);
	(void)c;
	return m;
}

static char *make_member_id(struct ctl_coord *c, struct ctl_slice prefix)
{
	uint8_t u[16];
	c->ops.random(c->ops.ctx, u, sizeof(u));
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	size_t pl = prefix.len > 0 ? (size_t)prefix.len : 0;
	char *s = malloc(pl + 1 + 36 + 1);
	if (!s)
		abort();
	if (pl)
		memcpy(s, prefix.p, pl);
	snprintf(s + pl, 38, "-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return s;
}

static void add_member_and_rebalance(struct ctl_coord *c, struct ctl_group *g, const struct ctl_join_req *rq,
                                     void *req, const char *id)
{
	struct ctl_member *m = new_member(c, rq, id);
	m->is_new = true;
	m->awaiting_join = true;
	m->join_req = req;
	if (g->state == CTL_GROUP_PREPARING_REBALANCE && g->generation == 0)
		g->new_member_added = true;
	add_member(g, m);
	m->hb_deadline = c->now + c->cfg.new_member_join_timeout_ms;
	maybe_prepare_rebalance(c, g);
}

/* Kafka's updateMember: new protocols and timeouts, and the member now waits in the join. */
static void update_member(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m,
                          const struct ctl_join_req *rq, void *req)
{
	set_protocols(m, rq);
	m->rebalance_timeout = rq->rebalance_timeout_ms;
	m->session_timeout = rq->session_timeout_ms;
	if (m->awaiting_join) {
		/* A second JoinGroup while the first still waits: Kafka drops the first one
		 * unanswered; this coordinator answers it so no request is left hanging. */
		answer_join_error(c, m->join_req, CTL_ERR_REBALANCE_IN_PROGRESS, m->id);
	} else {
		m->awaiting_join = true;
		g->n_awaiting_join++;
	}
	m->join_req = req;
}

static void update_member_and_rebalance(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m,
                                        const struct ctl_join_req *rq, void *req)
{
	update_member(c, g, m, rq, req);
	maybe_prepare_rebalance(c, g);
}

/* Kafka's updateStaticMemberAndRebalance: a known group.instance.id joins with a new member id. */
static void update_static_member(struct ctl_coord *c, struct ctl_group *g, struct ctl_member *m,
                                 const struct ctl_join_req *rq, void *req, const char *new_id)
{
	char *old_leader = g->leader ? strdup(g->leader) : NULL;
	/* Fence the old incarnation's waiting requests. */
	cancel_join(c, g, m, CTL_ERR_FENCED_INSTANCE_ID, m->id);
	cancel_sync(c, m, CTL_ERR_FENCED_INSTANCE_ID);
	if (g->leader && !strcmp(g->leader, m->id))
		set_str(&g->leader, new_id);
	set_str(&m->id, new_id);
	m->hb_deadline = c->now + rq->session_timeout_ms;
	update_member(c, g, m, rq, req);
	switch (g->state) {
	case CTL_GROUP_STABLE: {
		const char *next = select_protocol(g);
		if (next && g->protocol && !strcmp(next, g->protocol)) {
			struct ctl_append *a = ctl_append_new(c, g, CTL_APPEND_STATIC_JOIN);
			a->member_id = strdup(new_id);
			a->old_leader = old_leader;
			old_leader = NULL;
			a->skip_assignment = rq->supports_skip_assignment;
			a->req = req;
			ctl_append_group_record(c, a, g, false);
			ctl_append_submit(c, a);
		} else {
			maybe_prepare_rebalance(c, g);
		}
		break;
	}
	case CTL_GROUP_COMPLETING_REBALANCE:
		prepare_rebalance(c, g);
		break;
	default:
		break;
	}
	free(old_leader);
}

static void join_new_member(struct ctl_coord *c, struct ctl_group *g, const struct ctl_join_req *rq, void *req)
{
	if (!supports_protocols(g, rq)) {
		answer_join_error(c, req, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL, "");
		return;
	}
	char *id = make_member_id(c, rq->instance_id.len >= 0 ? rq->instance_id : rq->client_id);
	if (rq->instance_id.len >= 0) {
		struct ctl_member *old = find_static(g, rq->instance_id);
		if (old)
			update_static_member(c, g, old, rq, req, id);
		else
			add_member_and_rebalance(c, g, rq, req, id);
	} else if (rq->require_known_member_id) {
		struct ctl_pending_member *p = calloc(1, sizeof(*p));
		if (!p)
			abort();
		p->id = strdup(id);
		p->deadline = c->now + rq->session_timeout_ms;
		p->next = g->pending;
		g->pending = p;
		g->n_pending++;
		answer_join_error(c, req, CTL_ERR_MEMBER_ID_REQUIRED, id);
	} else {
		add_member_and_rebalance(c, g, rq, req, id);
	}
	free(id);
}

static void join_current_member(struct ctl_coord *c, struct ctl_group *g, const struct ctl_join_req *rq, void *req)
{
	if (!supports_protocols(g, rq)) {
		answer_join_error(c, req, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL, "");
		return;
	}
	struct ctl_pending_member **pp = find_pending(g, rq->member_id);
	if (pp) {
		char *id = strdup((*pp)->id);
		drop_pending(g, pp);
		add_member_and_rebalance(c, g, rq, req, id);
		free(id);
		return;
	}
	bool instance_unknown = rq->instance_id.len >= 0 && !find_static(g, rq->instance_id);
	if (static_fenced(g, rq->instance_id, rq->member_id)) {
		answer_join_error(c, req, CTL_ERR_FENCED_INSTANCE_ID, "");
		return;
	}
	struct ctl_member *m = find_slice(g, rq->member_id);
	if (!m || instance_unknown) {
		answer_join_error(c, req, CTL_ERR_UNKNOWN_MEMBER_ID, "");
		return;
	}
	switch (g->state) {
	case CTL_GROUP_PREPARING_REBALANCE:
		update_member_and_rebalance(c, g, m, rq, req);
		break;
	case CTL_GROUP_COMPLETING_REBALANCE:
		if (member_matches(m, rq)) {
			/* The member lost its JoinGroup answer: send the current generation again. */
			m->awaiting_join = true;
			m->join_req = req;
			g->n_awaiting_join++;
			invoke_join(c, g, m, !strcmp(m->id, g->leader), g->leader, false);
		} else {
			update_member_and_rebalance(c, g, m, rq, req);
		}
		break;
	case CTL_GROUP_STABLE:
		if (!strcmp(m->id, g->leader) || !member_matches(m, rq)) {
			update_member_and_rebalance(c, g, m, rq, req);
		} else {
			m->awaiting_join = true;
			m->join_req = req;
			g->n_awaiting_join++;
			invoke_join(c, g, m, false, g->leader, false);
		}
		break;
	default:
		answer_join_error(c, req, CTL_ERR_UNKNOWN_MEMBER_ID, "");
		break;
	}
}

static bool accept_joining_member(const struct ctl_coord *c, const struct ctl_group *g, const struct ctl_member *m)
{
	switch (g->state) {
	case CTL_GROUP_PREPARING_REBALANCE:
		return (m && m->awaiting_join) || g->n_awaiting_join < c->cfg.max_size;
	case CTL_GROUP_COMPLETING_REBALANCE:
	case CTL_GROUP_STABLE:
		return m || g->n_members < c->cfg.max_size;
	default:
		return true;
	}
}

void ctl_group_join(struct ctl_coord *c, const struct ctl_join_req *rq, void *req)
{
	if (c->loading) {
		answer_join_error(c, req, CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS, "");
		return;
	}
	if (rq->group_id.len <= 0) {
		answer_join_error(c, req, CTL_ERR_INVALID_GROUP_ID, "");
		return;
	}
	if (rq->session_timeout_ms < c->cfg.min_session_timeout_ms || rq->session_timeout_ms > c->cfg.max_session_timeout_ms) {
		answer_join_error(c, req, CTL_ERR_INVALID_SESSION_TIMEOUT, "");
		return;
	}
	bool unknown = rq->member_id.len <= 0;
	struct ctl_group *g = ctl_grp_get(c, rq->group_id);
	if (!g) {
		if (!unknown) {
			answer_join_error(c, req, CTL_ERR_UNKNOWN_MEMBER_ID, "");
			return;
		}
		g = ctl_grp_create(c, rq->group_id);
	}
	struct ctl_member *m = unknown ? NULL : find_slice(g, rq->member_id);
	if (!accept_joining_member(c, g, m)) {
		if (m)
			remove_member_and_update(c, g, m);
		answer_join_error(c, req, CTL_ERR_GROUP_MAX_SIZE_REACHED, "");
	} else if (unknown) {
		join_new_member(c, g, rq, req);
	} else {
		join_current_member(c, g, rq, req);
	}
	maybe_complete_join(c, g);
	/* A group that a rejected join created holds nothing: do not keep it. */
	if (g->state == CTL_GROUP_EMPTY && !g->n_members && !g->n_pending && !g->protocol_type &&
	    !ctl_group_has_offsets(g) && g->generation == 0)
		ctl_grp_remove(c, g);
}

/* ---- SyncGroup ---- */

void ctl_group_sync(struct ctl_coord *c, const struct ctl_sync_req *rq, void *req)
{
	int16_t err = CTL_ERR_NONE;
	struct ctl_group *g = NULL;
	struct ctl_member *m = NULL;
	if (c->loading)
		/* The rebalance in flight is lost with a reload; Kafka sends members back to JoinGroup. */
		err = CTL_ERR_REBALANCE_IN_PROGRESS;
	else if (rq->group_id.len <= 0)
		err = CTL_ERR_INVALID_GROUP_ID;
	else if (!(g = ctl_grp_get(c, rq->group_id)))
		err = CTL_ERR_UNKNOWN_MEMBER_ID;
	else if (!(m = validate_member(g, rq->instance_id, rq->member_id, &err)))
		;
	else if (rq->generation != g->generation)
		err = CTL_ERR_ILLEGAL_GENERATION;
	else if (rq->protocol_type.len >= 0 && (!g->protocol_type || !ctl_slice_eq(rq->protocol_type, g->protocol_type)))
		err = CTL_ERR_INCONSISTENT_GROUP_PROTOCOL;
	else if (rq->protocol_name.len >= 0 && (!g->protocol || !ctl_slice_eq(rq->protocol_name, g->protocol)))
		err = CTL_ERR_INCONSISTENT_GROUP_PROTOCOL;
	else if (g->state == CTL_GROUP_EMPTY)
		err = CTL_ERR_UNKNOWN_MEMBER_ID;
	else if (g->state == CTL_GROUP_PREPARING_REBALANCE)
		err = CTL_ERR_REBALANCE_IN_PROGRESS;
	if (err) {
		answer_sync_error(c, req, err);
		return;
	}
	if (g->state == CTL_GROUP_STABLE) {
		m->pending_sync = false;
		m->hb_deadline = c->now + m->session_timeout;
		struct ctl_sync_result r = {
			.error = CTL_ERR_NONE,
			.protocol_type = g->protocol_type,
			.protocol_name = g->protocol,
			.assignment = { (const char *)m->assignment, m->assignment_len },
		};
		c->ops.sync_done(c->ops.ctx, req, &r);
		return;
	}
	assert(g->state == CTL_GROUP_COMPLETING_REBALANCE);
	cancel_sync(c, m, CTL_ERR_REBALANCE_IN_PROGRESS); /* a duplicate SyncGroup replaces the first */
	m->awaiting_sync = true;
	m->sync_req = req;
	m->pending_sync = false;
	if (strcmp(m->id, g->leader))
		return;
	for (struct ctl_member *x = g->head; x; x = x->next) {
		struct ctl_slice a = { "", 0 };
		for (int32_t i = 0; i < rq->n_assignments; i++)
			if (ctl_slice_eq(rq->assignments[i].member_id, x->id))
				a = rq->assignments[i].assignment;
		free(x->next_assignment);
		x->next_assignment = dup_bytes(a, &x->next_assignment_len);
	}
	store_group(c, g, CTL_APPEND_GROUP, true);
}

/* The leader's assignment (CTL_APPEND_GROUP) or a static member's rejoin (CTL_APPEND_STATIC_JOIN)
 * reached the log, or failed. */
void ctl_group_on_store(struct ctl_coord *c, struct ctl_append *a, int16_t err)
{
	struct ctl_group *g = ctl_grp_get(c, ctl_slice_str(a->group_id));
	err = ctl_append_error(err);
	if (a->kind == CTL_APPEND_STATIC_JOIN) {
		struct ctl_member *m = g ? ctl_member_find(g, a->member_id, strlen(a->member_id)) : NULL;
		if (!m || !m->awaiting_join || m->join_req != a->req)
			return;
		if (err) {
			cancel_join(c, g, m, err, "");
			return;
		}
		bool leader = !strcmp(g->leader, m->id);
		bool skip = leader && a->skip_assignment;
		invoke_join(c, g, m, skip, skip ? m->id : a->old_leader, skip);
		return;
	}
	if (!g || g->state != CTL_GROUP_COMPLETING_REBALANCE || g->generation != a->generation)
		return;
	if (err) {
		for (struct ctl_member *m = g->head; m; m = m->next) {
			free(m->next_assignment);
			m->next_assignment = NULL;
			cancel_sync(c, m, err);
		}
		maybe_prepare_rebalance(c, g);
		return;
	}
	for (struct ctl_member *m = g->head; m; m = m->next) {
		free(m->assignment);
		m->assignment = m->next_assignment ? m->next_assignment : dup_bytes((struct ctl_slice){ "", 0 }, &m->next_assignment_len);
		m->assignment_len = m->next_assignment ? m->next_assignment_len : 0;
		m->next_assignment = NULL;
		m->hb_deadline = c->now + m->session_timeout;
	}
	ctl_grp_set_state(c, g, CTL_GROUP_STABLE);
	for (struct ctl_member *m = g->head; m; m = m->next) {
		if (!m->awaiting_sync)
			continue;
		void *req = m->sync_req;
		m->awaiting_sync = false;
		m->sync_req = NULL;
		struct ctl_sync_result r = {
			.error = CTL_ERR_NONE,
			.protocol_type = g->protocol_type,
			.protocol_name = g->protocol,
			.assignment = { (const char *)m->assignment, m->assignment_len },
		};
		c->ops.sync_done(c->ops.ctx, req, &r);
	}
}

/* ---- Heartbeat and LeaveGroup ---- */

int16_t ctl_group_heartbeat(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice member_id,
                            struct ctl_slice instance_id, int32_t generation)
{
	if (c->loading)
		return CTL_ERR_NONE; /* Kafka answers blindly while loading */
	if (group_id.len <= 0)
		return CTL_ERR_INVALID_GROUP_ID;
	struct ctl_group *g = ctl_grp_get(c, group_id);
	if (!g)
		return CTL_ERR_UNKNOWN_MEMBER_ID;
	int16_t err;
	struct ctl_member *m = validate_member(g, instance_id, member_id, &err);
	if (!m)
		return err;
	if (generation != g->generation)
		return CTL_ERR_ILLEGAL_GENERATION;
	switch (g->state) {
	case CTL_GROUP_EMPTY:
		return CTL_ERR_UNKNOWN_MEMBER_ID;
	case CTL_GROUP_PREPARING_REBALANCE:
		m->hb_deadline = c->now + m->session_timeout;
		return CTL_ERR_REBALANCE_IN_PROGRESS;
	default:
		m->hb_deadline = c->now + m->session_timeout;
		return CTL_ERR_NONE;
	}
}

int16_t ctl_group_leave(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_leave_member *lm, int32_t n)
{
	if (c->loading)
		return CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	if (group_id.len <= 0)
		return CTL_ERR_INVALID_GROUP_ID;
	struct ctl_group *g = ctl_grp_get(c, group_id);
	for (int32_t i = 0; i < n; i++) {
		struct ctl_leave_member *x = &lm[i];
		x->error = CTL_ERR_NONE;
		if (!g) {
			x->error = CTL_ERR_UNKNOWN_MEMBER_ID;
			continue;
		}
		struct ctl_pending_member **pp;
		if (x->member_id.len <= 0) {
			/* Administrative removal by group.instance.id. */
			struct ctl_member *m = find_static(g, x->instance_id);
			if (m)
				remove_member_and_update(c, g, m);
			else
				x->error = CTL_ERR_UNKNOWN_MEMBER_ID;
		} else if ((pp = find_pending(g, x->member_id))) {
			drop_pending(g, pp);
			maybe_complete_join(c, g);
		} else {
			struct ctl_member *m = validate_member(g, x->instance_id, x->member_id, &x->error);
			if (m)
				remove_member_and_update(c, g, m);
		}
	}
	return CTL_ERR_NONE;
}

/* ---- timers ---- */

int64_t ctl_group_deadline(const struct ctl_group *g)
{
	int64_t d = INT64_MAX;
	if (g->join_deadline && g->join_deadline < d)
		d = g->join_deadline;
	if (g->sync_deadline && g->sync_deadline < d)
		d = g->sync_deadline;
	for (struct ctl_pending_member *p = g->pending; p; p = p->next)
		if (p->deadline < d)
			d = p->deadline;
	for (struct ctl_member *m = g->head; m; m = m->next)
		if (m->hb_deadline && m->hb_deadline < d)
			d = m->hb_deadline;
	return d;
}

void ctl_group_timers(struct ctl_coord *c, struct ctl_group *g)
{
	int64_t now = c->now;
	/* Pending members (MEMBER_ID_REQUIRED) that never came back. */
	for (struct ctl_pending_member **pp = &g->pending; *pp;) {
		if ((*pp)->deadline <= now)
			drop_pending(g, pp);
		else
			pp = &(*pp)->next;
	}
	/* Session expiry; a removal can start or finish a rebalance, so restart the walk. */
	for (bool again = true; again;) {
		again = false;
		for (struct ctl_member *m = g->head; m; m = m->next) {
			if (!m->hb_deadline || m->hb_deadline > now)
				continue;
			if (!m->is_new && (m->awaiting_join || m->awaiting_sync)) {
				m->hb_deadline = 0; /* waiting in a rebalance counts as alive */
				continue;
			}
			remove_member_and_update(c, g, m);
			again = true;
			break;
		}
	}
	/* The initial delay re-arms itself from its own deadline (not from now), so a late tick
	 * cannot stretch it beyond what the rebalance timeout allows. */
	while (g->state == CTL_GROUP_PREPARING_REBALANCE && g->join_deadline && g->join_deadline <= now) {
		if (g->initial_delay && g->new_member_added && g->initial_remaining) {
			int32_t d = c->cfg.initial_rebalance_delay_ms;
			int32_t delay = d < g->initial_remaining ? d : g->initial_remaining;
			g->new_member_added = false;
			g->initial_remaining = g->initial_remaining > delay ? g->initial_remaining - delay : 0;
			g->join_deadline += delay;
		} else {
			complete_join(c, g);
		}
	}
	maybe_complete_join(c, g);
	if (g->sync_deadline && g->sync_deadline <= now) {
		g->sync_deadline = 0;
		if (g->state == CTL_GROUP_COMPLETING_REBALANCE || g->state == CTL_GROUP_STABLE) {
			bool any = false;
			for (struct ctl_member *m = g->head, *n; m; m = n) {
				n = m->next;
				if (m->pending_sync) {
					plain_remove(c, g, m);
					any = true;
				}
			}
			if (any)
				prepare_rebalance(c, g);
		}
	}
}
