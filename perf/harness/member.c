/*
 * perf/harness/member.c: the consumer-group members of the native driver (member.h).
 *
 * Invariants:
 *   - A member sends on its coordinator connection only what its state says is in flight:
 *     one of JoinGroup, SyncGroup, OffsetFetch, OffsetCommit (hand-over), LeaveGroup or
 *     FindCoordinator, or, while fetching, at most one Heartbeat and one periodic OffsetCommit.
 *   - A member's fetch connections hold exactly its assigned partitions, and only from the
 *     OffsetFetch answer until the hand-over's commit is answered; a paused connection sends
 *     no Fetch, and the hand-over waits until none is in flight, so positions do not move
 *     after they are committed.
 *   - The ledger gets every stretch read (perf_grp_consumed), whoever read it.
 */
#include "perf/harness/member.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kp_errors.h"
#include "perf/harness/group.h"
#include "perf/harness/ledger.h"
#include "perf/harness/native.h"

#define MS 1000000ull
#define COORD_CAP 8              /* a member never has more requests in flight than this */
#define FIND_TIMEOUT_MS 15000    /* the control process may still be loading at set-up */
#define BACKOFF_MS 100

enum mstate {
	M_JOIN,        /* JoinGroup in flight */
	M_SYNC,        /* SyncGroup in flight */
	M_OFFSETS,     /* OffsetFetch in flight */
	M_STABLE,      /* fetching its partitions */
	M_HANDOVER,    /* giving them up: waiting for fetches and coordinator answers */
	M_COMMIT,      /* the hand-over's OffsetCommit in flight */
	M_LEAVE,       /* LeaveGroup in flight */
	M_FIND,        /* FindCoordinator in flight */
	M_BACKOFF,     /* waiting before it joins again */
	M_GONE,        /* left the group */
};

/* What a hand-over ends in. */
enum after { AFTER_REJOIN, AFTER_LEAVE, AFTER_CHURN };

struct member {
	int idx;
	struct conn *coord;
	struct conn **fetch;         /* per node; NULL until the member is given a partition there */
	char id[256];                /* member id; "" before the coordinator gave one */
	int32_t generation;
	enum mstate st;
	enum after after;
	bool valid;                  /* holds the current generation's assignment (may commit) */
	bool stop;                   /* leave at the next chance */
	int32_t *assigned;           /* room for every partition */
	int nassigned;
	int64_t *commit_at;          /* per partition: the offset the commit in flight carries, -1 none */
	uint64_t next_hb, next_commit, wake_at;
	bool hb_out, commit_out;
	bool refind;                 /* ask FindCoordinator before joining again */
	uint64_t paused_ns;          /* when it last gave its partitions up (0 = holds them) */
};

struct perf_grp {
	struct member *m;
	int n;
	int coord_node;
	struct rt_buf sub;           /* this harness's ConsumerProtocolSubscription */
	int64_t *reset;              /* per partition: where a partition without a commit starts */
	int64_t *ends;               /* consume mode: the log end at set-up */
	int64_t *gpos;               /* furthest position any member reached */
	int64_t *first;              /* the first position this run started a partition from (-1 none) */
	int64_t left;                /* consume mode: partitions with gpos < ends */
	int64_t given;               /* partitions assigned at least once */
	struct perf_ledger ledger;
	uint64_t next_churn;
	int churn_next;
	int32_t top_gen;             /* highest generation a member was assigned in */
};

static struct kp_str kstr(const char *s)
{
	return (struct kp_str){s, (int32_t)strlen(s)};
}

static void grp_error(struct native *nv, int16_t code, const char *what, struct member *m)
{
	nv->st->group.group_errors++;
	perf_stats_error(nv->st, code, "%s (member %d): %s", what, m->idx, kp_error_name(code));
}

/* ------------------------------------------------------------------ requests */

static void send_join(struct native *nv, struct member *m)
{
	struct kp_join_group_req_protocol p;
	kp_join_group_req_protocol_init(&p);
	p.name = KP_STR(PERF_GROUP_ASSIGNOR);
	p.metadata = (struct kp_bytes){nv->grp->sub.data, (int32_t)nv->grp->sub.len};
	struct kp_join_group_req q;
	kp_join_group_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.session_timeout_ms = PERF_GRP_SESSION_MS;
	q.rebalance_timeout_ms = PERF_GRP_REBALANCE_MS;
	q.member_id = kstr(m->id);
	q.group_instance_id = KP_STR_NULL;
	q.protocol_type = KP_STR("consumer");
	q.protocols.items = &p;
	q.protocols.n = 1;
	q.reason = KP_STR_NULL;
	perf_nv_queue_request(nv, m->coord, KP_API_JOIN_GROUP, nv->v.join_group, &q, NULL, true);
	m->st = M_JOIN;
}

/* The leader's range assignment for the members of a JoinGroup answer; followers send none. */
static void send_sync(struct native *nv, struct member *m, const struct kp_join_group_resp *jr)
{
	struct kp_sync_group_req q;
	kp_sync_group_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.generation_id = m->generation;
	q.member_id = kstr(m->id);
	q.group_instance_id = KP_STR_NULL;
	q.protocol_type = KP_STR("consumer");
	q.protocol_name = KP_STR(PERF_GROUP_ASSIGNOR);
	struct rt_buf out;
	rt_buf_init(&out, 0);
	int n = jr->members.n;
	struct kp_sync_group_req_assignment *as = NULL;
	const char **ids = NULL;
	size_t *at = NULL;
	if (n > 0 && jr->leader.len == (int32_t)strlen(m->id) && !memcmp(jr->leader.ptr, m->id, strlen(m->id))) {
		as = rt_arena_calloc(&nv->arena, (size_t)n, sizeof(*as));
		ids = rt_arena_calloc(&nv->arena, (size_t)n, sizeof(*ids));
		at = rt_arena_calloc(&nv->arena, (size_t)n + 1, sizeof(*at));
		if (!as || !ids || !at) {
			perf_stats_error(nv->st, -1, "out of memory");
			nv->failed = true;
			return;
		}
		/* Members that subscribe to the topic share it by range, in member-id order. */
		int subs = 0;
		for (int i = 0; i < n; i++) {
			const struct kp_join_group_resp_member *jm = &jr->members.items[i];
			bool has = false;
			if (perf_group_subscription_has(jm->metadata.ptr, jm->metadata.len > 0 ? (size_t)jm->metadata.len : 0,
			                                nv->o->topic, &has) || !has)
				continue;
			char *id = rt_arena_alloc(&nv->arena, (size_t)jm->member_id.len + 1);
			if (!id) {
				nv->failed = true;
				return;
			}
			memcpy(id, jm->member_id.ptr, (size_t)jm->member_id.len);
			id[jm->member_id.len] = '\0';
			ids[subs++] = id;
		}
		perf_group_sort_members(ids, subs);
		for (int i = 0; i < n; i++) {
			const struct kp_str *mid = &jr->members.items[i].member_id;
			int32_t first = 0, count = 0;
			for (int k = 0; k < subs; k++)
				if ((int32_t)strlen(ids[k]) == mid->len && !memcmp(ids[k], mid->ptr, (size_t)mid->len))
					perf_group_range(nv->nparts, subs, k, &first, &count);
			int32_t *parts = rt_arena_calloc(&nv->arena, (size_t)count + 1, sizeof(int32_t));
			if (!parts) {
				nv->failed = true;
				return;
			}
			for (int32_t k = 0; k < count; k++)
				parts[k] = first + k;
			at[i] = out.len;
			perf_group_assignment_encode(&out, nv->o->topic, parts, count);
			kp_sync_group_req_assignment_init(&as[i]);
			as[i].member_id = *mid;
		}
		if (out.err) {
			perf_stats_error(nv->st, -1, "out of memory");
			nv->failed = true;
			rt_buf_fini(&out);
			return;
		}
		/* The buffer may have moved while it grew: point at it only now. */
		for (int i = 0; i < n; i++) {
			size_t to = i + 1 < n ? at[i + 1] : out.len;
			as[i].assignment = (struct kp_bytes){out.data + at[i], (int32_t)(to - at[i])};
		}
		q.assignments.items = as;
		q.assignments.n = n;
	}
	perf_nv_queue_request(nv, m->coord, KP_API_SYNC_GROUP, nv->v.sync_group, &q, NULL, true);
	rt_buf_fini(&out);
	m->st = M_SYNC;
}

static void send_offset_fetch(struct native *nv, struct member *m)
{
	struct kp_offset_fetch_req_topic t;
	kp_offset_fetch_req_topic_init(&t);
	t.name = kstr(nv->o->topic);
	t.partition_indexes.items = m->assigned;
	t.partition_indexes.n = m->nassigned;
	struct kp_offset_fetch_req q;
	kp_offset_fetch_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.topics.items = &t;
	q.topics.n = 1;
	q.require_stable = false;
	perf_nv_queue_request(nv, m->coord, KP_API_OFFSET_FETCH, nv->v.offset_fetch, &q, NULL, true);
	m->st = M_OFFSETS;
}

/* Commits the position of every partition the member holds. */
static void send_commit(struct native *nv, struct member *m)
{
	struct kp_offset_commit_req_partition *ps =
		rt_arena_calloc(&nv->arena, (size_t)m->nassigned + 1, sizeof(*ps));
	if (!ps) {
		nv->failed = true;
		return;
	}
	int n = 0;
	for (int k = 0; k < nv->nnodes; k++) {
		struct conn *c = m->fetch[k];
		for (int i = 0; c && i < c->nparts; i++) {
			kp_offset_commit_req_partition_init(&ps[n]);
			ps[n].partition_index = c->parts[i];
			ps[n].committed_offset = c->offsets[i];
			m->commit_at[c->parts[i]] = c->offsets[i];
			ps[n].committed_leader_epoch = -1;
			ps[n].commit_timestamp = -1;
			ps[n].committed_metadata = KP_STR("");
			n++;
		}
	}
	struct kp_offset_commit_req_topic t;
	kp_offset_commit_req_topic_init(&t);
	t.name = kstr(nv->o->topic);
	t.partitions.items = ps;
	t.partitions.n = n;
	struct kp_offset_commit_req q;
	kp_offset_commit_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.generation_id_or_member_epoch = m->generation;
	q.member_id = kstr(m->id);
	q.group_instance_id = KP_STR_NULL;
	q.retention_time_ms = -1;
	q.topics.items = &t;
	q.topics.n = 1;
	perf_nv_queue_request(nv, m->coord, KP_API_OFFSET_COMMIT, nv->v.offset_commit, &q, NULL, true);
	m->commit_out = true;
}

static void send_heartbeat(struct native *nv, struct member *m)
{
	struct kp_heartbeat_req q;
	kp_heartbeat_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.generation_id = m->generation;
	q.member_id = kstr(m->id);
	q.group_instance_id = KP_STR_NULL;
	perf_nv_queue_request(nv, m->coord, KP_API_HEARTBEAT, nv->v.heartbeat, &q, NULL, true);
	m->hb_out = true;
	nv->st->group.heartbeats++;
}

static void send_leave(struct native *nv, struct member *m)
{
	struct kp_leave_group_req_member_identity mi;
	kp_leave_group_req_member_identity_init(&mi);
	mi.member_id = kstr(m->id);
	mi.group_instance_id = KP_STR_NULL;
	mi.reason = KP_STR("ringtail-perf member leaves");
	struct kp_leave_group_req q;
	kp_leave_group_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.member_id = kstr(m->id);
	q.members.items = &mi;
	q.members.n = 1;
	perf_nv_queue_request(nv, m->coord, KP_API_LEAVE_GROUP, nv->v.leave_group, &q, NULL, true);
	m->st = M_LEAVE;
}

static void send_find(struct native *nv, struct member *m)
{
	struct kp_find_coordinator_req q;
	kp_find_coordinator_req_init(&q);
	q.key = kstr(nv->o->group);
	q.key_type = 0;
	perf_nv_queue_request(nv, m->coord, KP_API_FIND_COORDINATOR, nv->v.find_coordinator, &q, NULL, true);
	m->st = M_FIND;
}

/* ------------------------------------------------------------------ assignment */

/* The furthest position of partition p (consume mode counts partitions that reach the end). */
static void advance(struct perf_grp *g, int32_t p, int64_t pos)
{
	if (pos <= g->gpos[p])
		return;
	if (g->ends && g->gpos[p] < g->ends[p] && pos >= g->ends[p])
		g->left--;
	g->gpos[p] = pos;
}

/* Fetch connection of member m to node k, made on first use. */
static struct conn *fetch_conn(struct native *nv, struct member *m, int k)
{
	if (m->fetch[k])
		return m->fetch[k];
	char err[512] = "";
	int rc = 0;
	struct conn *c = perf_nv_conn_new(nv, ROLE_CONSUMER, k, 2, err, sizeof(err), &rc);
	if (!c) {
		perf_nv_fail(nv, rc, "group member fetch connection", err);
		nv->failed = true;
		return NULL;
	}
	c->member = m;
	c->capparts = nv->nparts;
	c->parts = calloc((size_t)nv->nparts, sizeof(int32_t));
	c->offsets = calloc((size_t)nv->nparts, sizeof(int64_t));
	c->ends = calloc((size_t)nv->nparts, sizeof(int64_t));
	if (!c->parts || !c->offsets || !c->ends || (rc = perf_nv_conn_register(nv, c))) {
		perf_nv_fail(nv, rc ? rc : -ENOMEM, "group member fetch connection", NULL);
		nv->failed = true;
		return NULL;
	}
	m->fetch[k] = c;
	return c;
}

/* The OffsetFetch answer: the member starts reading its partitions. */
static void install(struct native *nv, struct member *m, const struct kp_offset_fetch_resp *r, uint64_t now)
{
	struct perf_grp *g = nv->grp;
	for (int k = 0; k < nv->nnodes; k++)
		if (m->fetch[k])
			m->fetch[k]->nparts = 0;
	for (int i = 0; i < m->nassigned; i++) {
		int32_t p = m->assigned[i];
		int64_t pos = -1;
		for (int32_t t = 0; t < r->topics.n; t++)
			for (int32_t k = 0; k < r->topics.items[t].partitions.n; k++) {
				const struct kp_offset_fetch_resp_partition *op = &r->topics.items[t].partitions.items[k];
				if (op->partition_index != p)
					continue;
				if (op->error_code)
					grp_error(nv, op->error_code, "OffsetFetch", m);
				else
					pos = op->committed_offset;
			}
		if (pos < 0)
			pos = g->reset[p];    /* no commit yet: auto.offset.reset */
		perf_ledger_resume(&g->ledger, p, pos);
		struct conn *c = fetch_conn(nv, m, nv->leader[p]);
		if (!c)
			return;
		c->parts[c->nparts] = p;
		c->offsets[c->nparts] = pos;
		c->ends[c->nparts] = g->ends ? g->ends[p] : INT64_MAX;
		c->nparts++;
		if (g->first[p] < 0) {
			g->first[p] = pos;
			g->given++;
		}
		advance(g, p, pos);
	}
	for (int k = 0; k < nv->nnodes; k++)
		if (m->fetch[k])
			m->fetch[k]->paused = false;
	m->valid = true;
	m->st = M_STABLE;
	m->next_hb = now + PERF_GRP_HEARTBEAT_MS * MS;
	m->next_commit = now + (uint64_t)nv->o->commit_interval_ms * MS;
	if (m->generation > g->top_gen) {
		g->top_gen = m->generation;
		nv->st->group.generations++;
	}
	if (m->paused_ns) {
		double ms = (double)(now - m->paused_ns) / 1e6;
		nv->st->group.pauses++;
		nv->st->group.pause_ms_sum += ms;
		if (ms > nv->st->group.pause_ms_max)
			nv->st->group.pause_ms_max = ms;
		m->paused_ns = 0;
	}
}

/* Stops fetching; the hand-over (perf_grp_step) commits once nothing is in flight. */
static void begin_handover(struct member *m, enum after after, uint64_t now, int nnodes)
{
	for (int k = 0; k < nnodes; k++)
		if (m->fetch[k])
			m->fetch[k]->paused = true;
	m->after = after;
	m->st = M_HANDOVER;
	if (!m->paused_ns)
		m->paused_ns = now;
}

/* The partitions are given up (committed, or lost with the membership). */
static void drop_assignment(struct native *nv, struct member *m)
{
	for (int k = 0; k < nv->nnodes; k++)
		if (m->fetch[k]) {
			m->fetch[k]->nparts = 0;
			m->fetch[k]->paused = false;
		}
	m->nassigned = 0;
	m->valid = false;
}

/* After the hand-over: join again, leave, or leave and come back as a new member. */
static void after_handover(struct native *nv, struct member *m)
{
	drop_assignment(nv, m);
	if (m->stop && m->after == AFTER_REJOIN)
		m->after = AFTER_LEAVE;
	if (m->after == AFTER_REJOIN && m->refind) {
		m->st = M_BACKOFF;
		m->wake_at = 0;
	} else if (m->after == AFTER_REJOIN) {
		send_join(nv, m);
	} else if (m->id[0])
		send_leave(nv, m);
	else
		m->st = M_GONE;
}

/* The membership is gone (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION): what the member read since its
 * last commit will be read again by the next owner (the ledger counts it). */
static void lost(struct native *nv, struct member *m, int16_t code, uint64_t now)
{
	if (code == KP_ERR_UNKNOWN_MEMBER_ID || code == KP_ERR_FENCED_INSTANCE_ID)
		m->id[0] = '\0';
	if (m->valid)
		nv->st->group.lost_assignments += m->nassigned;
	m->valid = false;
	begin_handover(m, AFTER_REJOIN, now, nv->nnodes);
}

static bool coordinator_moved(int16_t code)
{
	return code == KP_ERR_NOT_COORDINATOR || code == KP_ERR_COORDINATOR_NOT_AVAILABLE ||
	       code == KP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
}

/* ------------------------------------------------------------------ answers */

static void on_join(struct native *nv, struct member *m, const struct kp_join_group_resp *r, uint64_t now)
{
	int16_t e = r->error_code;
	if (e == KP_ERR_MEMBER_ID_REQUIRED) {
		/* KIP-394: join again with the id the coordinator made. */
		snprintf(m->id, sizeof(m->id), "%.*s", r->member_id.len, r->member_id.ptr);
		send_join(nv, m);
		return;
	}
	if (e) {
		if (e == KP_ERR_UNKNOWN_MEMBER_ID)
			m->id[0] = '\0';
		else if (e != KP_ERR_REBALANCE_IN_PROGRESS)
			grp_error(nv, e, "JoinGroup", m);
		m->st = M_BACKOFF;
		m->wake_at = now + BACKOFF_MS * MS;
		m->refind = coordinator_moved(e);
		return;
	}
	nv->st->group.joins++;
	snprintf(m->id, sizeof(m->id), "%.*s", r->member_id.len, r->member_id.ptr);
	m->generation = r->generation_id;
	send_sync(nv, m, r);
}

static void on_sync(struct native *nv, struct member *m, const struct kp_sync_group_resp *r, uint64_t now)
{
	int16_t e = r->error_code;
	if (e) {
		if (e == KP_ERR_UNKNOWN_MEMBER_ID || e == KP_ERR_ILLEGAL_GENERATION) {
			if (e == KP_ERR_UNKNOWN_MEMBER_ID)
				m->id[0] = '\0';
		} else if (e != KP_ERR_REBALANCE_IN_PROGRESS) {
			grp_error(nv, e, "SyncGroup", m);
		}
		m->st = M_BACKOFF;
		m->wake_at = e == KP_ERR_REBALANCE_IN_PROGRESS ? now : now + BACKOFF_MS * MS;
		return;
	}
	int n = 0;
	int rc = perf_group_assignment_decode(r->assignment.ptr, r->assignment.len > 0 ? (size_t)r->assignment.len : 0,
	                                      nv->o->topic, m->assigned, nv->nparts, &n);
	for (int i = 0; !rc && i < n; i++)
		if (m->assigned[i] >= nv->nparts)
			rc = -ERANGE;
	if (rc) {
		perf_stats_error(nv->st, -1, "SyncGroup (member %d): an assignment the harness cannot use (%s)", m->idx,
		                 strerror(-rc));
		nv->failed = true;
		return;
	}
	m->nassigned = n;
	if (n) {
		send_offset_fetch(nv, m);
	} else {
		struct kp_offset_fetch_resp none;
		memset(&none, 0, sizeof(none));
		install(nv, m, &none, now);
	}
}

static void on_offset_fetch(struct native *nv, struct member *m, const struct kp_offset_fetch_resp *r, uint64_t now)
{
	if (r->error_code) {
		/* The group moved on (or the coordinator reloads): join again. */
		if (r->error_code != KP_ERR_REBALANCE_IN_PROGRESS && !coordinator_moved(r->error_code))
			grp_error(nv, r->error_code, "OffsetFetch", m);
		m->nassigned = 0;
		m->refind = coordinator_moved(r->error_code);
		m->st = M_BACKOFF;
		m->wake_at = now + BACKOFF_MS * MS;
		return;
	}
	install(nv, m, r, now);
}

static int16_t commit_error(const struct kp_offset_commit_resp *r)
{
	for (int32_t t = 0; t < r->topics.n; t++)
		for (int32_t k = 0; k < r->topics.items[t].partitions.n; k++)
			if (r->topics.items[t].partitions.items[k].error_code)
				return r->topics.items[t].partitions.items[k].error_code;
	return 0;
}

static void on_commit(struct native *nv, struct member *m, const struct kp_offset_commit_resp *r, uint64_t now)
{
	int16_t e = commit_error(r);
	m->commit_out = false;
	if (!e)
		nv->st->group.commits++;
	for (int32_t t = 0; t < r->topics.n; t++)
		for (int32_t k = 0; k < r->topics.items[t].partitions.n; k++) {
			const struct kp_offset_commit_resp_partition *cp = &r->topics.items[t].partitions.items[k];
			int32_t p = cp->partition_index;
			/* Only what this commit carried: a partition answered twice, or one it did not
			 * carry, acknowledges nothing (commit_at is -1 there). */
			if (p < 0 || p >= nv->nparts)
				continue;
			if (!cp->error_code)
				perf_ledger_committed(&nv->grp->ledger, p, m->commit_at[p]);
			m->commit_at[p] = -1;
		}
	if (m->st == M_COMMIT) {
		/* The hand-over's commit: whatever it answered, the partitions go. */
		if (e)
			grp_error(nv, e, "OffsetCommit before a rebalance", m);
		after_handover(nv, m);
		return;
	}
	if (!e || m->st != M_STABLE)
		return;
	if (e == KP_ERR_REBALANCE_IN_PROGRESS)
		begin_handover(m, AFTER_REJOIN, now, nv->nnodes);
	else if (e == KP_ERR_UNKNOWN_MEMBER_ID || e == KP_ERR_ILLEGAL_GENERATION)
		lost(nv, m, e, now);
	else
		grp_error(nv, e, "OffsetCommit", m);
}

static void on_heartbeat(struct native *nv, struct member *m, const struct kp_heartbeat_resp *r, uint64_t now)
{
	m->hb_out = false;
	int16_t e = r->error_code;
	if (!e || m->st != M_STABLE)
		return;
	if (e == KP_ERR_REBALANCE_IN_PROGRESS)
		begin_handover(m, AFTER_REJOIN, now, nv->nnodes);
	else if (e == KP_ERR_UNKNOWN_MEMBER_ID || e == KP_ERR_ILLEGAL_GENERATION || e == KP_ERR_FENCED_INSTANCE_ID)
		lost(nv, m, e, now);
	else if (coordinator_moved(e)) {
		m->refind = true;
		begin_handover(m, AFTER_REJOIN, now, nv->nnodes);
	} else {
		grp_error(nv, e, "Heartbeat", m);
	}
}

static void on_leave(struct native *nv, struct member *m, const struct kp_leave_group_resp *r, uint64_t now)
{
	int16_t e = r->error_code;
	for (int32_t i = 0; !e && i < r->members.n; i++)
		e = r->members.items[i].error_code;
	if (e && e != KP_ERR_UNKNOWN_MEMBER_ID)
		grp_error(nv, e, "LeaveGroup", m);
	else
		nv->st->group.leaves++;
	m->id[0] = '\0';
	m->generation = -1;
	if (m->after == AFTER_CHURN && !m->stop) {
		m->st = M_BACKOFF;   /* back as a new member straight away */
		m->wake_at = now;
		m->after = AFTER_REJOIN;
	} else {
		m->st = M_GONE;
	}
}

/* FindCoordinator: reconnect when the coordinator is another node. */
static void on_find(struct native *nv, struct member *m, const struct kp_find_coordinator_resp *r, uint64_t now)
{
	m->st = M_BACKOFF;
	m->wake_at = now + BACKOFF_MS * MS;
	if (r->error_code)
		return;
	const struct node *cur = &nv->nodes[m->coord->node];
	if (r->port == cur->port && r->host.len == (int32_t)strlen(cur->host) &&
	    !memcmp(r->host.ptr, cur->host, (size_t)r->host.len))
		return;
	int k = 0;
	while (k < nv->nnodes && !(nv->nodes[k].port == r->port && r->host.len == (int32_t)strlen(nv->nodes[k].host) &&
	                           !memcmp(r->host.ptr, nv->nodes[k].host, (size_t)r->host.len)))
		k++;
	if (k == nv->nnodes) {
		perf_stats_error(nv->st, -1, "FindCoordinator: the coordinator %.*s:%d is not among the brokers",
		                 r->host.len, r->host.ptr, r->port);
		nv->failed = true;
		return;
	}
	/* The old connection has nothing in flight (FindCoordinator was its last request). */
	struct conn *old = m->coord;
	epoll_ctl(nv->ep, EPOLL_CTL_DEL, old->fd, NULL);
	close(old->fd);
	old->fd = -1;
	old->role = ROLE_DEAD;
	char err[512] = "";
	int rc = 0;
	struct conn *c = perf_nv_conn_new(nv, ROLE_COORD, k, COORD_CAP, err, sizeof(err), &rc);
	if (!c || (rc = perf_nv_conn_register(nv, c))) {
		perf_nv_fail(nv, rc ? rc : -ENOMEM, "coordinator connection", err);
		nv->failed = true;
		return;
	}
	c->member = m;
	m->coord = c;
}

void perf_grp_on_response(struct native *nv, struct conn *c, const struct nreq *r, const uint8_t *frame,
                          size_t n, uint64_t now)
{
	struct member *m = c->member;
	union {
		struct kp_join_group_resp join;
		struct kp_sync_group_resp sync;
		struct kp_offset_fetch_resp fetch;
		struct kp_offset_commit_resp commit;
		struct kp_heartbeat_resp hb;
		struct kp_leave_group_resp leave;
		struct kp_find_coordinator_resp find;
	} u;
	int32_t corr = 0;
	int rc = perf_wire_response(frame, n, r->api, r->version, &nv->arena, &corr, &u);
	if (rc || corr != r->corr) {
		const struct kp_api_info *info = kp_api_lookup(r->api);
		perf_stats_error(nv->st, -1, "undecodable %s response (%s)", info ? info->name : "?",
		                 rc ? strerror(-rc) : "correlation id out of order");
		nv->failed = true;
		return;
	}
	switch (r->api) {
	case KP_API_JOIN_GROUP: on_join(nv, m, &u.join, now); break;
	case KP_API_SYNC_GROUP: on_sync(nv, m, &u.sync, now); break;
	case KP_API_OFFSET_FETCH: on_offset_fetch(nv, m, &u.fetch, now); break;
	case KP_API_OFFSET_COMMIT: on_commit(nv, m, &u.commit, now); break;
	case KP_API_HEARTBEAT: on_heartbeat(nv, m, &u.hb, now); break;
	case KP_API_LEAVE_GROUP: on_leave(nv, m, &u.leave, now); break;
	case KP_API_FIND_COORDINATOR: on_find(nv, m, &u.find, now); break;
	default: break;
	}
}

/* ------------------------------------------------------------------ the loop */

static bool fetches_idle(const struct native *nv, const struct member *m)
{
	for (int k = 0; k < nv->nnodes; k++)
		if (m->fetch[k] && m->fetch[k]->n)
			return false;
	return true;
}

void perf_grp_step(struct native *nv, uint64_t now, bool stopping)
{
	struct perf_grp *g = nv->grp;
	const struct perf_opts *o = nv->o;
	if (stopping)
		for (int i = 0; i < g->n; i++)
			g->m[i].stop = true;
	/* Churn: one member at a time leaves and comes back as a new one. */
	if (o->group_churn_s > 0 && !stopping && perf_grp_formed(nv) && now >= g->next_churn) {
		struct member *m = &g->m[g->churn_next % g->n];
		if (m->st == M_STABLE) {
			begin_handover(m, AFTER_CHURN, now, nv->nnodes);
			nv->st->group.churns++;
			g->churn_next++;
			g->next_churn = now + (uint64_t)(o->group_churn_s * 1e9);
		} else {
			g->next_churn = now + 20 * MS;
		}
	}
	for (int i = 0; i < g->n && !nv->failed; i++) {
		struct member *m = &g->m[i];
		switch (m->st) {
		case M_STABLE:
			if (m->stop) {
				begin_handover(m, AFTER_LEAVE, now, nv->nnodes);
				break;
			}
			if (!m->hb_out && now >= m->next_hb) {
				send_heartbeat(nv, m);
				m->next_hb = now + PERF_GRP_HEARTBEAT_MS * MS;
			}
			if (!m->commit_out && m->nassigned && now >= m->next_commit) {
				send_commit(nv, m);
				m->next_commit = now + (uint64_t)o->commit_interval_ms * MS;
			}
			break;
		case M_HANDOVER:
			if (m->stop && m->after != AFTER_LEAVE)
				m->after = AFTER_LEAVE;
			if (!fetches_idle(nv, m) || m->coord->n)
				break;
			if (m->valid && m->nassigned) {
				send_commit(nv, m);
				m->st = M_COMMIT;
			} else {
				after_handover(nv, m);
			}
			break;
		case M_BACKOFF:
			if (m->coord->n)
				break;
			if (m->stop) {
				if (m->id[0])
					send_leave(nv, m);
				else
					m->st = M_GONE;
			} else if (now >= m->wake_at) {
				if (m->refind) {
					m->refind = false;
					send_find(nv, m);
				} else {
					send_join(nv, m);
				}
			}
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------------------ queries */

void perf_grp_consumed(struct native *nv, int32_t part, int64_t from, int64_t to)
{
	struct perf_grp *g = nv->grp;
	if (perf_ledger_add(&g->ledger, part, from, to)) {
		perf_stats_error(nv->st, -1, "out of memory (ledger)");
		nv->failed = true;
	}
	advance(g, part, to);
}

bool perf_grp_formed(const struct native *nv)
{
	return nv->grp->given >= nv->nparts;
}

bool perf_grp_read_all(const struct native *nv)
{
	return nv->grp->ends && nv->grp->left == 0;
}

/* Where the run started p: the first position a member started it from, else (never started)
 * where a partition without a commit starts.  The ledger's start and perf_grp_reached's base. */
static int64_t run_start(const struct perf_grp *g, int32_t p)
{
	return g->first[p] >= 0 ? g->first[p] : g->reset[p];
}

int64_t perf_grp_reached(const struct native *nv)
{
	const struct perf_grp *g = nv->grp;
	int64_t n = 0;
	for (int32_t p = 0; p < nv->nparts; p++) {
		int64_t start = run_start(g, p);
		if (g->gpos[p] > start)
			n += g->gpos[p] - start;
	}
	return n;
}

bool perf_grp_gone(const struct native *nv)
{
	for (int i = 0; i < nv->grp->n; i++)
		if (nv->grp->m[i].st != M_GONE)
			return false;
	return true;
}

uint64_t perf_grp_wait_ns(const struct native *nv, uint64_t now, uint64_t cap)
{
	const struct perf_grp *g = nv->grp;
	uint64_t w = cap;
	for (int i = 0; i < g->n; i++) {
		const struct member *m = &g->m[i];
		uint64_t t = UINT64_MAX;
		if (m->st == M_STABLE)
			t = m->next_hb < m->next_commit || !m->nassigned ? m->next_hb : m->next_commit;
		else if (m->st == M_BACKOFF)
			t = m->wake_at;
		else if (m->st == M_HANDOVER)
			t = now + MS;   /* polls for its fetches to drain */
		if (t != UINT64_MAX)
			w = t <= now ? 0 : (t - now < w ? t - now : w);
	}
	if (nv->o->group_churn_s > 0 && g->next_churn)
		w = g->next_churn <= now ? 0 : (g->next_churn - now < w ? g->next_churn - now : w);
	return w;
}

/* ------------------------------------------------------------------ set-up and the end */

static int find_coordinator(struct native *nv, int fd, struct rt_buf *frame)
{
	uint64_t until = rt_clock_ns() + (uint64_t)FIND_TIMEOUT_MS * MS;
	for (;;) {
		rt_arena_reset(&nv->arena);
		struct kp_find_coordinator_req q;
		kp_find_coordinator_req_init(&q);
		q.key = kstr(nv->o->group);
		q.key_type = 0;
		struct kp_find_coordinator_resp r;
		int rc = perf_nv_call(nv, fd, KP_API_FIND_COORDINATOR, nv->v.find_coordinator, &q, &r, frame);
		if (rc)
			return perf_nv_fail(nv, rc, "FindCoordinator", NULL);
		if (!r.error_code) {
			for (int k = 0; k < nv->nnodes; k++)
				if (nv->nodes[k].port == r.port && r.host.len == (int32_t)strlen(nv->nodes[k].host) &&
				    !memcmp(r.host.ptr, nv->nodes[k].host, (size_t)r.host.len))
					return k;
			perf_stats_error(nv->st, -1, "FindCoordinator: the coordinator %.*s:%d is not among the brokers",
			                 r.host.len, r.host.ptr, r.port);
			return -EIO;
		}
		if (!coordinator_moved(r.error_code) || rt_clock_ns() > until) {
			perf_stats_error(nv->st, r.error_code, "FindCoordinator %s: %s", nv->o->group,
			                 kp_error_name(r.error_code));
			return -EIO;
		}
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
}

/* Offsets at ts of every partition, asking each partition's leader. */
static int all_offsets(struct native *nv, int64_t ts, int64_t *dst, struct rt_buf *frame)
{
	char err[512] = "";
	int32_t *parts = calloc((size_t)nv->nparts, sizeof(int32_t));
	int64_t *got = calloc((size_t)nv->nparts, sizeof(int64_t));
	int rc = parts && got ? 0 : -ENOMEM;
	for (int k = 0; k < nv->nnodes && !rc; k++) {
		int n = 0;
		for (int32_t p = 0; p < nv->nparts; p++)
			if (nv->leader[p] == k)
				parts[n++] = p;
		if (!n)
			continue;
		int fd = perf_nv_dial(nv->nodes[k].host, nv->nodes[k].port, err, sizeof(err));
		if (fd < 0) {
			rc = perf_nv_fail(nv, fd, "ListOffsets connection", err);
			break;
		}
		rt_arena_reset(&nv->arena);
		rc = perf_nv_list_offsets(nv, fd, parts, n, ts, got, frame);
		close(fd);
		for (int i = 0; !rc && i < n; i++)
			dst[parts[i]] = got[i];
	}
	free(parts);
	free(got);
	return rc;
}

int perf_grp_setup(struct native *nv, struct rt_buf *frame)
{
	const struct perf_opts *o = nv->o;
	struct perf_versions *v = &nv->v;
	if (v->find_coordinator < 0 || v->join_group < 0 || v->sync_group < 0 || v->heartbeat < 0 ||
	    v->offset_fetch < 0 || v->offset_commit < 0 || v->leave_group < 0) {
		perf_stats_error(nv->st, -1, "--group: the broker does not serve the consumer-group APIs in versions the "
		                 "harness speaks (FindCoordinator 1-3, JoinGroup 1-7, SyncGroup 1-5, Heartbeat 1-4, "
		                 "OffsetFetch 1-7, OffsetCommit 2-8, LeaveGroup 1-4)");
		return -ENOTSUP;
	}
	struct perf_grp *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	nv->grp = g;
	nv->st->group.on = true;
	nv->st->group.poll_ms_max = -1;     /* non-blocking: nothing to measure */
	rt_buf_init(&g->sub, 0);
	perf_group_subscription_encode(&g->sub, o->topic);
	size_t np = (size_t)nv->nparts;
	g->reset = calloc(np, sizeof(int64_t));
	g->gpos = calloc(np, sizeof(int64_t));
	g->first = calloc(np, sizeof(int64_t));
	g->m = calloc((size_t)o->consumers, sizeof(*g->m));
	if (!g->reset || !g->gpos || !g->first || !g->m || g->sub.err || perf_ledger_init(&g->ledger, nv->nparts))
		return -ENOMEM;
	for (size_t p = 0; p < np; p++)
		g->gpos[p] = g->first[p] = -1;

	/* Where a partition nobody committed starts (auto.offset.reset), fixed before any record of
	 * this run is produced, so that an e2e run's consumers miss none however long the group
	 * takes to form. */
	bool latest = o->from_latest || o->mode == PERF_MODE_E2E;
	int rc = all_offsets(nv, latest ? -1 : -2, g->reset, frame);
	if (!rc && o->mode == PERF_MODE_CONSUME) {
		if (!(g->ends = calloc(np, sizeof(int64_t))))
			return -ENOMEM;
		rc = all_offsets(nv, -1, g->ends, frame);
		g->left = nv->nparts;
	}
	if (rc)
		return rc;

	/* The coordinator, asked on a connection to the first node (any broker answers). */
	char err[512] = "";
	int fd = perf_nv_dial(nv->nodes[0].host, nv->nodes[0].port, err, sizeof(err));
	if (fd < 0)
		return perf_nv_fail(nv, fd, "FindCoordinator connection", err);
	int k = find_coordinator(nv, fd, frame);
	close(fd);
	if (k < 0)
		return k;
	g->coord_node = k;
	g->n = o->consumers;
	for (int i = 0; i < g->n; i++) {
		struct member *m = &g->m[i];
		m->idx = i;
		m->generation = -1;
		m->fetch = calloc((size_t)nv->nnodes, sizeof(*m->fetch));
		m->assigned = calloc(np, sizeof(int32_t));
		m->commit_at = malloc(np * sizeof(int64_t));
		if (!m->fetch || !m->assigned || !m->commit_at)
			return -ENOMEM;
		for (size_t p = 0; p < np; p++)
			m->commit_at[p] = -1;
		m->coord = perf_nv_conn_new(nv, ROLE_COORD, k, COORD_CAP, err, sizeof(err), &rc);
		if (!m->coord)
			return perf_nv_fail(nv, rc, "coordinator connection", err);
		m->coord->member = m;
		/* Each joins as the run's loop starts (perf_grp_step sends from M_BACKOFF). */
		m->st = M_BACKOFF;
		m->after = AFTER_REJOIN;
	}
	return 0;
}

/* The group's committed offsets of every partition (-1 none), read on a fresh connection. */
static int committed(struct native *nv, int64_t *dst, struct rt_buf *frame)
{
	char err[512] = "";
	int fd = perf_nv_dial(nv->nodes[nv->grp->coord_node].host, nv->nodes[nv->grp->coord_node].port, err, sizeof(err));
	if (fd < 0)
		return perf_nv_fail(nv, fd, "OffsetFetch connection", err);
	rt_arena_reset(&nv->arena);
	int32_t *parts = rt_arena_calloc(&nv->arena, (size_t)nv->nparts, sizeof(int32_t));
	int rc = parts ? 0 : -ENOMEM;
	for (int32_t p = 0; parts && p < nv->nparts; p++)
		parts[p] = p;
	struct kp_offset_fetch_req_topic t;
	kp_offset_fetch_req_topic_init(&t);
	t.name = kstr(nv->o->topic);
	t.partition_indexes.items = parts;
	t.partition_indexes.n = nv->nparts;
	struct kp_offset_fetch_req q;
	kp_offset_fetch_req_init(&q);
	q.group_id = kstr(nv->o->group);
	q.topics.items = &t;
	q.topics.n = 1;
	struct kp_offset_fetch_resp r;
	if (!rc)
		rc = perf_nv_call(nv, fd, KP_API_OFFSET_FETCH, nv->v.offset_fetch, &q, &r, frame);
	close(fd);
	if (rc)
		return perf_nv_fail(nv, rc, "OffsetFetch at the end", NULL);
	for (int32_t p = 0; p < nv->nparts; p++)
		dst[p] = -1;
	for (int32_t i = 0; i < r.topics.n; i++)
		for (int32_t k = 0; k < r.topics.items[i].partitions.n; k++) {
			const struct kp_offset_fetch_resp_partition *op = &r.topics.items[i].partitions.items[k];
			if (op->partition_index >= 0 && op->partition_index < nv->nparts && !op->error_code)
				dst[op->partition_index] = op->committed_offset;
		}
	return 0;
}

void perf_grp_finish(struct native *nv)
{
	struct perf_grp *g = nv->grp;
	struct perf_group_stats *gs = &nv->st->group;
	for (int i = 0; i < g->n; i++)
		if (g->m[i].st != M_GONE)
			perf_stats_error(nv->st, -1, "group member %d had not left the group at the end", i);
	int64_t *end = calloc((size_t)nv->nparts, sizeof(int64_t));
	int64_t *com = calloc((size_t)nv->nparts, sizeof(int64_t));
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	if (!end || !com || all_offsets(nv, -1, end, &frame) || committed(nv, com, &frame)) {
		perf_stats_error(nv->st, -1, "the group's figures could not be read at the end");
	} else {
		for (int32_t p = 0; p < nv->nparts; p++) {
			int64_t start = run_start(g, p);
			struct perf_ledger_count n;
			perf_ledger_tally(&g->ledger, p, start, end[p], &n);
			gs->redelivered_records += n.redelivered;
			gs->duplicate_records += n.duplicate;
			gs->gap_records += n.gap;
			gs->unread_records += n.unread;
			int64_t c = com[p] >= 0 ? com[p] : start;
			gs->uncommitted_records += n.hi > c ? n.hi - c : 0;
		}
	}
	rt_buf_fini(&frame);
	free(end);
	free(com);
}

void perf_grp_fini(struct native *nv)
{
	struct perf_grp *g = nv->grp;
	if (!g)
		return;
	for (int i = 0; g->m && i < g->n; i++) {
		free(g->m[i].fetch);
		free(g->m[i].assigned);
		free(g->m[i].commit_at);
	}
	free(g->m);
	free(g->reset);
	free(g->ends);
	free(g->gpos);
	free(g->first);
	perf_ledger_fini(&g->ledger);
	rt_buf_fini(&g->sub);
	free(g);
	nv->grp = NULL;
}
