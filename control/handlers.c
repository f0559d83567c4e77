/*
 * control/handlers.c: decode, dispatch and encode for the coordinator APIs (see handlers.h).
 *
 * A request lives in a struct ctl_hreq: its own copy of the frame (decoded fields borrow from
 * it), an arena for the decoded structures, and what the answer needs (key, version,
 * correlation id).  Synchronous APIs answer before ctl_handle returns; JoinGroup, SyncGroup and
 * OffsetCommit keep the ctl_hreq until the coordinator calls back.
 */
#include "control/handlers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "base/chain.h"
#include "kp_errors.h"
#include "kp_msgs.h"
#include "control/link.h"

struct ctl_hreq {
	struct ctl_hreq *prev, *next;   /* hs->live */
	struct ctl_handlers *hs;
	int origin;
	uint64_t link_id;
	int16_t key, version;
	int32_t corr;
	uint8_t *frame;                 /* owned copy */
	struct rt_arena arena;
	char *host;
	void *msg;                      /* decoded request, in the arena */
	struct ctl_commit_req commit;
	int32_t *unknown;               /* positions of partitions that do not exist, in the arena */
	int32_t n_unknown;
};

/* Marks the partitions the dataplane does not know (Kafka's KafkaApis answers them before the
 * coordinator sees the request); returns how many partitions are left for the coordinator. */
static int32_t mark_unknown(struct ctl_hreq *q, struct ctl_commit_part *parts, int32_t n)
{
	int32_t left = n;
	for (int32_t i = 0; i < q->n_unknown; i++)
		if (q->unknown[i] >= 0 && q->unknown[i] < n && !parts[q->unknown[i]].error) {
			parts[q->unknown[i]].error = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			left--;
		}
	return left;
}

static struct ctl_slice sl(struct kp_str s)
{
	return (struct ctl_slice){ s.ptr, s.len };
}

/* OffsetCommit and TxnOffsetCommit have the same topic -> partition shape with the same field
 * names in request and response (only the generated types differ: kp_offset_commit_* and
 * kp_txn_offset_commit_*), so one expansion serves both.
 *
 * COMMIT_PARTS sets c->parts (in q's arena, in request order) and c->n_parts from request m:
 * NULL and 0 when out of memory.  epoch_ok: the version carries committed_leader_epoch; ts:
 * the part's commit timestamp, an expression of p (the request's partition). */
#define COMMIT_PARTS(q, c, m, epoch_ok, p, ts)                                                             \
	do {                                                                                               \
		int32_t n_ = 0, k_ = 0;                                                                    \
		for (int32_t t_ = 0; t_ < (m)->topics.n; t_++)                                             \
			n_ += (m)->topics.items[t_].partitions.n > 0 ? (m)->topics.items[t_].partitions.n : 0; \
		(c)->parts = rt_arena_calloc(&(q)->arena, (size_t)n_ + 1, sizeof(*(c)->parts));           \
		(c)->n_parts = (c)->parts ? n_ : 0;                                                        \
		for (int32_t t_ = 0; (c)->parts && t_ < (m)->topics.n; t_++) {                             \
			const __typeof__(*(m)->topics.items) *tp_ = &(m)->topics.items[t_];                \
			for (int32_t i_ = 0; i_ < tp_->partitions.n; i_++, k_++) {                         \
				const __typeof__(*tp_->partitions.items) *p = &tp_->partitions.items[i_];  \
				(c)->parts[k_] = (struct ctl_commit_part){                                 \
					.topic = sl(tp_->name),                                            \
					.partition = p->partition_index,                                   \
					.offset = p->committed_offset,                                     \
					.leader_epoch = (epoch_ok) ? p->committed_leader_epoch : -1,       \
					.metadata = sl(p->committed_metadata),                             \
					.commit_ts = (ts),                                                 \
				};                                                                         \
			}                                                                                  \
		}                                                                                          \
	} while (0)

/* COMMIT_ANSWER fills resp's topics (generated type prefix api) from request m and the parts'
 * errors, in q's arena: no topics when out of memory (the client retries) or when nothing was
 * asked.  err: the error answered, an expression of e (the part's error). */
#define COMMIT_ANSWER(api, q, c, m, resp, e, err)                                                          \
	do {                                                                                               \
		int32_t nt_ = (m)->topics.n > 0 ? (m)->topics.n : 0, k_ = 0;                               \
		(resp).topics.items = rt_arena_calloc(&(q)->arena, (size_t)nt_ + 1, sizeof(*(resp).topics.items)); \
		(resp).topics.n = (resp).topics.items && (c)->n_parts ? nt_ : 0;                           \
		for (int32_t t_ = 0; t_ < (resp).topics.n; t_++) {                                         \
			const __typeof__(*(m)->topics.items) *tp_ = &(m)->topics.items[t_];                \
			__typeof__(*(resp).topics.items) *rt_ = &(resp).topics.items[t_];                  \
			api##_resp_topic_init(rt_);                                                        \
			rt_->name = tp_->name;                                                             \
			int32_t np_ = tp_->partitions.n > 0 ? tp_->partitions.n : 0;                       \
			rt_->partitions.items = rt_arena_calloc(&(q)->arena, (size_t)np_ + 1, sizeof(*rt_->partitions.items)); \
			rt_->partitions.n = rt_->partitions.items ? np_ : 0;                               \
			for (int32_t i_ = 0; i_ < rt_->partitions.n; i_++, k_++) {                         \
				int16_t e = (c)->parts[k_].error;                                          \
				api##_resp_partition_init(&rt_->partitions.items[i_]);                     \
				rt_->partitions.items[i_].partition_index = tp_->partitions.items[i_].partition_index; \
				rt_->partitions.items[i_].error_code = (err);                              \
			}                                                                                  \
		}                                                                                          \
	} while (0)

static struct kp_str ks(const char *s)
{
	return s ? (struct kp_str){ s, (int32_t)strlen(s) } : (struct kp_str){ NULL, -1 };
}

static struct kp_str ks_slice(struct ctl_slice s)
{
	return (struct kp_str){ s.p, s.len };
}

static struct kp_bytes kb(struct ctl_slice s)
{
	return s.len < 0 ? (struct kp_bytes){ (const uint8_t *)"", 0 } : (struct kp_bytes){ (const uint8_t *)s.p, s.len };
}

bool ctl_handlers_serves(int16_t k) { return ctl_link_serves(k); }

static void hreq_free(struct ctl_hreq *q)
{
	struct ctl_handlers *hs = q->hs;
	if (q->prev) q->prev->next = q->next; else hs->live = q->next;
	if (q->next) q->next->prev = q->prev;
	hs->pending--;
	rt_arena_fini(&q->arena);
	free(q->frame);
	free(q->host);
	free(q);
}

/* Encodes resp as the answer to q, hands it to reply and frees q. */
static void answer(struct ctl_hreq *q, const void *resp)
{
	const struct kp_api_info *info = kp_api_lookup(q->key);
	struct rt_chain c;
	rt_chain_init(&c, 0);
	info->resp_encode(&c, q->version, resp);
	int rc = rt_chain_finish(&c);
	uint8_t *out = NULL;
	size_t n = rt_chain_len(&c);
	if (!rc && (out = malloc(n ? n : 1)) && !rt_chain_flatten(&c, out))
		q->hs->reply(q->hs->ctx, q->origin, q->link_id, out, n);
	/* An answer that cannot be encoded is a bug in this file (a null where the version
	 * forbids one) or memory exhaustion; the request then goes unanswered and the client's
	 * request timeout takes over. */
	free(out);
	rt_chain_fini(&c);
	hreq_free(q);
}

/* ---- JoinGroup ---- */

static void do_join(struct ctl_hreq *q)
{
	struct kp_join_group_req *m = q->msg;
	struct ctl_join_protocol *ps = NULL;
	if (m->protocols.n > 0) {
		ps = rt_arena_calloc(&q->arena, (size_t)m->protocols.n, sizeof(*ps));
		if (!ps) {
			struct ctl_join_result r = { .error = KP_ERR_UNKNOWN_SERVER_ERROR, .generation = -1, .leader = "", .member_id = "" };
			ctl_handlers_join_done(q->hs, q, &r);
			return;
		}
		for (int32_t i = 0; i < m->protocols.n; i++) {
			ps[i].name = sl(m->protocols.items[i].name);
			ps[i].metadata = (struct ctl_slice){ (const char *)m->protocols.items[i].metadata.ptr,
			                                     m->protocols.items[i].metadata.len };
		}
	}
	struct ctl_join_req rq = {
		.group_id = sl(m->group_id),
		.member_id = sl(m->member_id),
		.instance_id = q->version >= 5 ? sl(m->group_instance_id) : (struct ctl_slice){ NULL, -1 },
		.client_id = { NULL, -1 },
		.client_host = ctl_slice_str(q->host),
		.protocol_type = sl(m->protocol_type),
		.session_timeout_ms = m->session_timeout_ms,
		.rebalance_timeout_ms = q->version >= 1 ? m->rebalance_timeout_ms : m->session_timeout_ms,
		.protocols = ps,
		.n_protocols = m->protocols.n > 0 ? m->protocols.n : 0,
		.require_known_member_id = q->version >= 4,
		.supports_skip_assignment = q->version >= 9,
	};
	/* The client id comes from the request header, kept in q->arena by ctl_handle. */
	rq.client_id = *(struct ctl_slice *)((char *)q->msg + sizeof(*m));
	ctl_group_join(q->hs->coord, &rq, q);
}

void ctl_handlers_join_done(void *ctx, void *req, const struct ctl_join_result *r)
{
	(void)ctx;
	struct ctl_hreq *q = req;
	struct kp_join_group_resp resp;
	kp_join_group_resp_init(&resp);
	resp.error_code = r->error;
	resp.generation_id = r->generation;
	resp.protocol_type = q->version >= 7 ? ks(r->protocol_type) : ks("");
	resp.protocol_name = q->version >= 7 ? ks(r->protocol_name) : ks(r->protocol_name ? r->protocol_name : "");
	resp.leader = ks(r->leader ? r->leader : "");
	resp.member_id = ks(r->member_id ? r->member_id : "");
	resp.skip_assignment = r->skip_assignment;
	resp.members.n = 0;
	if (r->n_members > 0) {
		resp.members.items = rt_arena_calloc(&q->arena, (size_t)r->n_members, sizeof(*resp.members.items));
		if (resp.members.items) {
			resp.members.n = r->n_members;
			for (int32_t i = 0; i < r->n_members; i++) {
				struct kp_join_group_resp_member *x = &resp.members.items[i];
				kp_join_group_resp_member_init(x);
				x->member_id = ks(r->members[i].member_id);
				x->group_instance_id = ks(r->members[i].instance_id);
				x->metadata = kb(r->members[i].metadata);
			}
		} else {
			resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		}
	}
	answer(q, &resp);
}

/* ---- SyncGroup ---- */

static void do_sync(struct ctl_hreq *q)
{
	struct kp_sync_group_req *m = q->msg;
	struct ctl_sync_assignment *as = NULL;
	int32_t n = m->assignments.n > 0 ? m->assignments.n : 0;
	if (n) {
		as = rt_arena_calloc(&q->arena, (size_t)n, sizeof(*as));
		if (!as) {
			struct ctl_sync_result r = { .error = KP_ERR_UNKNOWN_SERVER_ERROR };
			ctl_handlers_sync_done(q->hs, q, &r);
			return;
		}
		for (int32_t i = 0; i < n; i++) {
			as[i].member_id = sl(m->assignments.items[i].member_id);
			as[i].assignment = (struct ctl_slice){ (const char *)m->assignments.items[i].assignment.ptr,
			                                       m->assignments.items[i].assignment.len };
		}
	}
	struct ctl_sync_req rq = {
		.group_id = sl(m->group_id),
		.member_id = sl(m->member_id),
		.instance_id = q->version >= 3 ? sl(m->group_instance_id) : (struct ctl_slice){ NULL, -1 },
		.protocol_type = q->version >= 5 ? sl(m->protocol_type) : (struct ctl_slice){ NULL, -1 },
		.protocol_name = q->version >= 5 ? sl(m->protocol_name) : (struct ctl_slice){ NULL, -1 },
		.generation = m->generation_id,
		.assignments = as,
		.n_assignments = n,
	};
	ctl_group_sync(q->hs->coord, &rq, q);
}

void ctl_handlers_sync_done(void *ctx, void *req, const struct ctl_sync_result *r)
{
	(void)ctx;
	struct ctl_hreq *q = req;
	struct kp_sync_group_resp resp;
	kp_sync_group_resp_init(&resp);
	resp.error_code = r->error;
	resp.protocol_type = ks(r->error ? NULL : r->protocol_type);
	resp.protocol_name = ks(r->error ? NULL : r->protocol_name);
	resp.assignment = kb(r->assignment);
	answer(q, &resp);
}

/* ---- Heartbeat, LeaveGroup ---- */

static void do_heartbeat(struct ctl_hreq *q)
{
	struct kp_heartbeat_req *m = q->msg;
	struct kp_heartbeat_resp resp;
	kp_heartbeat_resp_init(&resp);
	resp.error_code = ctl_group_heartbeat(q->hs->coord, sl(m->group_id), sl(m->member_id),
	                                      q->version >= 3 ? sl(m->group_instance_id) : (struct ctl_slice){ NULL, -1 },
	                                      m->generation_id);
	answer(q, &resp);
}

static void do_leave(struct ctl_hreq *q)
{
	struct kp_leave_group_req *m = q->msg;
	struct kp_leave_group_resp resp;
	kp_leave_group_resp_init(&resp);
	int32_t n = q->version >= 3 ? (m->members.n > 0 ? m->members.n : 0) : 1;
	struct ctl_leave_member *lm = rt_arena_calloc(&q->arena, (size_t)n + 1, sizeof(*lm));
	if (!lm) {
		resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		answer(q, &resp);
		return;
	}
	if (q->version >= 3) {
		for (int32_t i = 0; i < n; i++) {
			lm[i].member_id = sl(m->members.items[i].member_id);
			lm[i].instance_id = sl(m->members.items[i].group_instance_id);
		}
	} else {
		lm[0].member_id = sl(m->member_id);
		lm[0].instance_id = (struct ctl_slice){ NULL, -1 };
	}
	resp.error_code = ctl_group_leave(q->hs->coord, sl(m->group_id), lm, n);
	if (q->version >= 3) {
		if (!resp.error_code && n) {
			resp.members.items = rt_arena_calloc(&q->arena, (size_t)n, sizeof(*resp.members.items));
			if (!resp.members.items) {
				resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			} else {
				resp.members.n = n;
				for (int32_t i = 0; i < n; i++) {
					kp_leave_group_resp_member_init(&resp.members.items[i]);
					resp.members.items[i].member_id = ks_slice(lm[i].member_id);
					resp.members.items[i].group_instance_id = ks_slice(lm[i].instance_id);
					resp.members.items[i].error_code = lm[i].error;
				}
			}
		}
	} else if (!resp.error_code) {
		/* v0-2 name one member: its error is the response's. */
		resp.error_code = lm[0].error;
	}
	answer(q, &resp);
}

/* ---- OffsetCommit ---- */

static void do_commit(struct ctl_hreq *q)
{
	struct kp_offset_commit_req *m = q->msg;
	struct ctl_commit_req *c = &q->commit;
	c->group_id = sl(m->group_id);
	c->member_id = q->version >= 1 ? sl(m->member_id) : (struct ctl_slice){ "", 0 };
	c->instance_id = q->version >= 7 ? sl(m->group_instance_id) : (struct ctl_slice){ NULL, -1 };
	c->generation = q->version >= 1 ? m->generation_id_or_member_epoch : -1;
	c->retention_ms = q->version >= 2 && q->version <= 4 ? m->retention_time_ms : -1;
	c->producer_id = -1;
	COMMIT_PARTS(q, c, m, q->version >= 6, p, q->version == 1 ? p->commit_timestamp : -1);
	if (c->n_parts == 0 || mark_unknown(q, c->parts, c->n_parts) == 0) {
		ctl_handlers_commit_done(q->hs, q, c);
		return;
	}
	ctl_offsets_commit(q->hs->coord, c, q);
}

/* ---- TxnOffsetCommit ---- */

static void txn_commit_answer(struct ctl_hreq *q, struct ctl_commit_req *c)
{
	struct kp_txn_offset_commit_req *m = q->msg;
	struct kp_txn_offset_commit_resp resp;
	kp_txn_offset_commit_resp_init(&resp);
	COMMIT_ANSWER(kp_txn_offset_commit, q, c, m, resp, e, ctl_txn_fenced_error(e, q->key, q->version));
	answer(q, &resp);
}

static void do_txn_commit(struct ctl_hreq *q)
{
	struct kp_txn_offset_commit_req *m = q->msg;
	struct ctl_commit_req *c = &q->commit;
	c->group_id = sl(m->group_id);
	c->member_id = q->version >= 3 ? sl(m->member_id) : (struct ctl_slice){ "", 0 };
	c->instance_id = q->version >= 3 ? sl(m->group_instance_id) : (struct ctl_slice){ NULL, -1 };
	c->generation = q->version >= 3 ? m->generation_id : -1;
	c->retention_ms = -1;
	c->producer_id = m->producer_id;
	c->producer_epoch = m->producer_epoch;
	c->transactional_id = sl(m->transactional_id);
	COMMIT_PARTS(q, c, m, q->version >= 2, p, -1);
	if (c->n_parts == 0 || mark_unknown(q, c->parts, c->n_parts) == 0) {
		txn_commit_answer(q, c);
		return;
	}
	/* The producer must own an ongoing transaction that holds the group's partition of
	 * `__consumer_offsets` (AddOffsetsToTxn first), as Kafka verifies it with the transaction
	 * coordinator (KIP-890): offsets of a transaction that is over, fenced or unknown never
	 * reach the log, where no marker would ever settle them. */
	int16_t err = KP_ERR_COORDINATOR_NOT_AVAILABLE;
	if (q->hs->txn) {
		struct ctl_txn_tp tp = { (char *)"__consumer_offsets",
		                         ctl_coord_offsets_partition(q->hs->coord, c->group_id) };
		int16_t perr = 0;
		err = ctl_txn_verify_partitions(ctl_txnsvc_use(q->hs->txn), m->transactional_id.ptr,
		                                m->transactional_id.len > 0 ? (size_t)m->transactional_id.len : 0,
		                                m->producer_id, m->producer_epoch, &tp, 1, &perr);
		if (!err)
			err = perr;
	}
	if (err) {
		for (int32_t i = 0; i < c->n_parts; i++)
			if (!c->parts[i].error)
				c->parts[i].error = err;
		txn_commit_answer(q, c);
		return;
	}
	ctl_offsets_txn_commit(q->hs->coord, c, q);
}

void ctl_handlers_commit_done(void *ctx, void *req, struct ctl_commit_req *c)
{
	(void)ctx;
	struct ctl_hreq *q = req;
	if (q->key == KP_API_TXN_OFFSET_COMMIT) {
		txn_commit_answer(q, c);
		return;
	}
	struct kp_offset_commit_req *m = q->msg;
	struct kp_offset_commit_resp resp;
	kp_offset_commit_resp_init(&resp);
	COMMIT_ANSWER(kp_offset_commit, q, c, m, resp, e, e);
	answer(q, &resp);
}

/* ---- OffsetFetch ---- */

struct all_offsets {
	struct rt_arena *a;
	struct kp_offset_fetch_resp_topics *topics;   /* v8 layout; converted for v0-7 */
	int32_t n, cap;
	bool oom;
};

static void collect(void *arg, struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v)
{
	struct all_offsets *ao = arg;
	struct kp_offset_fetch_resp_topics *t = NULL;
	for (int32_t i = 0; i < ao->n && !t; i++)
		if (ao->topics[i].name.len == topic.len && !memcmp(ao->topics[i].name.ptr, topic.p, (size_t)topic.len))
			t = &ao->topics[i];
	if (!t) {
		if (ao->n == ao->cap) {
			int32_t cap = ao->cap ? ao->cap * 2 : 16;
			struct kp_offset_fetch_resp_topics *nt = rt_arena_calloc(ao->a, (size_t)cap, sizeof(*nt));
			if (!nt) { ao->oom = true; return; }
			if (ao->n)
				memcpy(nt, ao->topics, (size_t)ao->n * sizeof(*nt));
			ao->topics = nt;
			ao->cap = cap;
		}
		t = &ao->topics[ao->n++];
		kp_offset_fetch_resp_topics_init(t);
		char *name = rt_arena_strndup(ao->a, topic.p, (size_t)topic.len);
		if (!name) { ao->oom = true; return; }
		t->name = (struct kp_str){ name, topic.len };
		t->partitions.n = 0;
	}
	/* partitions grow one at a time in the arena: fine for the sizes OffsetFetch sees */
	struct kp_offset_fetch_resp_partitions *np = rt_arena_calloc(ao->a, (size_t)t->partitions.n + 1, sizeof(*np));
	if (!np) { ao->oom = true; return; }
	if (t->partitions.n)
		memcpy(np, t->partitions.items, (size_t)t->partitions.n * sizeof(*np));
	struct kp_offset_fetch_resp_partitions *p = &np[t->partitions.n];
	kp_offset_fetch_resp_partitions_init(p);
	p->partition_index = partition;
	p->committed_offset = v->offset;
	p->committed_leader_epoch = v->leader_epoch;
	char *md = rt_arena_strndup(ao->a, v->metadata.p ? v->metadata.p : "", v->metadata.len > 0 ? (size_t)v->metadata.len : 0);
	p->metadata = (struct kp_str){ md ? md : "", md ? (v->metadata.len > 0 ? v->metadata.len : 0) : 0 };
	t->partitions.items = np;
	t->partitions.n++;
}

/* One group's offsets in the v8 layout.  topics NULL/-1: every committed offset.  With
 * require_stable (v7+, KIP-447) a partition with a commit pending gets UNSTABLE_OFFSET_COMMIT
 * (the consumer retries) instead of an offset that may be about to change. */
static int16_t fetch_group(struct ctl_hreq *q, struct kp_str group, const struct kp_offset_fetch_req_topics *topics,
                           int32_t nt, struct kp_offset_fetch_resp_group *out)
{
	const struct kp_offset_fetch_req *req = q->msg;
	bool stable = q->version >= 7 && req->require_stable;
	kp_offset_fetch_resp_group_init(out);
	out->group_id = group;
	out->topics.n = 0;
	int16_t err = ctl_offsets_fetch_check(q->hs->coord, sl(group));
	if (err)
		return out->error_code = err;
	if (nt < 0) {
		struct all_offsets ao = { .a = &q->arena };
		ctl_offsets_each(q->hs->coord, sl(group), collect, &ao);
		if (ao.oom)
			return out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		out->topics.items = ao.topics;
		out->topics.n = ao.n;
		return 0;
	}
	out->topics.items = rt_arena_calloc(&q->arena, (size_t)nt + 1, sizeof(*out->topics.items));
	if (!out->topics.items)
		return out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
	out->topics.n = nt;
	for (int32_t t = 0; t < nt; t++) {
		struct kp_offset_fetch_resp_topics *rt = &out->topics.items[t];
		kp_offset_fetch_resp_topics_init(rt);
		rt->name = topics[t].name;
		int32_t np = topics[t].partition_indexes.n > 0 ? topics[t].partition_indexes.n : 0;
		rt->partitions.items = rt_arena_calloc(&q->arena, (size_t)np + 1, sizeof(*rt->partitions.items));
		if (!rt->partitions.items)
			return out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		rt->partitions.n = np;
		for (int32_t i = 0; i < np; i++) {
			struct kp_offset_fetch_resp_partitions *p = &rt->partitions.items[i];
			kp_offset_fetch_resp_partitions_init(p);
			p->partition_index = topics[t].partition_indexes.items[i];
			struct ctl_offset_value v;
			if (stable && ctl_offsets_unstable(q->hs->coord, sl(group), sl(rt->name), p->partition_index)) {
				p->committed_offset = -1;
				p->committed_leader_epoch = -1;
				p->metadata = ks("");
				p->error_code = KP_ERR_UNSTABLE_OFFSET_COMMIT;
				continue;
			}
			if (ctl_offsets_get(q->hs->coord, sl(group), sl(rt->name), p->partition_index, &v)) {
				p->committed_offset = v.offset;
				p->committed_leader_epoch = v.leader_epoch;
				p->metadata = ks_slice(v.metadata);
			} else {
				p->committed_offset = -1;
				p->committed_leader_epoch = -1;
				p->metadata = ks("");
			}
			p->error_code = 0;
		}
	}
	return 0;
}

static void do_fetch(struct ctl_hreq *q)
{
	struct kp_offset_fetch_req *m = q->msg;
	struct kp_offset_fetch_resp resp;
	kp_offset_fetch_resp_init(&resp);
	if (q->version >= 8) {
		int32_t ng = m->groups.n > 0 ? m->groups.n : 0;
		resp.groups.items = rt_arena_calloc(&q->arena, (size_t)ng + 1, sizeof(*resp.groups.items));
		resp.groups.n = resp.groups.items ? ng : 0;
		for (int32_t g = 0; g < resp.groups.n; g++) {
			struct kp_offset_fetch_req_group *rg = &m->groups.items[g];
			fetch_group(q, rg->group_id, rg->topics.items, rg->topics.n, &resp.groups.items[g]);
		}
		answer(q, &resp);
		return;
	}
	/* v0-7: one group; the request's topics in the v8 layout first. */
	int32_t nt = m->topics.n;
	struct kp_offset_fetch_req_topics *ts = NULL;
	if (nt > 0) {
		ts = rt_arena_calloc(&q->arena, (size_t)nt, sizeof(*ts));
		if (!ts)
			nt = 0;
		for (int32_t t = 0; ts && t < nt; t++) {
			ts[t].name = m->topics.items[t].name;
			ts[t].partition_indexes.items = m->topics.items[t].partition_indexes.items;
			ts[t].partition_indexes.n = m->topics.items[t].partition_indexes.n;
		}
	}
	struct kp_offset_fetch_resp_group g;
	int16_t err = fetch_group(q, m->group_id, ts, nt, &g);
	if (err && q->version >= 2) {
		resp.error_code = err;
		answer(q, &resp);
		return;
	}
	resp.error_code = 0;
	resp.topics.items = rt_arena_calloc(&q->arena, (size_t)g.topics.n + 1, sizeof(*resp.topics.items));
	resp.topics.n = resp.topics.items ? g.topics.n : 0;
	if (err) {
		/* v0-1 have no group-level error: each partition asked for carries it. */
		resp.topics.n = nt > 0 ? nt : 0;
		resp.topics.items = rt_arena_calloc(&q->arena, (size_t)resp.topics.n + 1, sizeof(*resp.topics.items));
		if (!resp.topics.items)
			resp.topics.n = 0;
		for (int32_t t = 0; t < resp.topics.n; t++) {
			struct kp_offset_fetch_resp_topic *rt = &resp.topics.items[t];
			kp_offset_fetch_resp_topic_init(rt);
			rt->name = ts[t].name;
			int32_t np = ts[t].partition_indexes.n > 0 ? ts[t].partition_indexes.n : 0;
			rt->partitions.items = rt_arena_calloc(&q->arena, (size_t)np + 1, sizeof(*rt->partitions.items));
			rt->partitions.n = rt->partitions.items ? np : 0;
			for (int32_t i = 0; i < rt->partitions.n; i++) {
				kp_offset_fetch_resp_partition_init(&rt->partitions.items[i]);
				rt->partitions.items[i].partition_index = ts[t].partition_indexes.items[i];
				rt->partitions.items[i].committed_offset = -1;
				rt->partitions.items[i].metadata = ks("");
				rt->partitions.items[i].error_code = err;
			}
		}
		answer(q, &resp);
		return;
	}
	for (int32_t t = 0; t < resp.topics.n; t++) {
		struct kp_offset_fetch_resp_topic *rt = &resp.topics.items[t];
		struct kp_offset_fetch_resp_topics *gt = &g.topics.items[t];
		kp_offset_fetch_resp_topic_init(rt);
		rt->name = gt->name;
		rt->partitions.items = rt_arena_calloc(&q->arena, (size_t)gt->partitions.n + 1, sizeof(*rt->partitions.items));
		rt->partitions.n = rt->partitions.items ? gt->partitions.n : 0;
		for (int32_t i = 0; i < rt->partitions.n; i++) {
			struct kp_offset_fetch_resp_partition *p = &rt->partitions.items[i];
			struct kp_offset_fetch_resp_partitions *gp = &gt->partitions.items[i];
			kp_offset_fetch_resp_partition_init(p);
			p->partition_index = gp->partition_index;
			p->committed_offset = gp->committed_offset;
			p->committed_leader_epoch = gp->committed_leader_epoch;
			p->metadata = gp->metadata;
			p->error_code = gp->error_code;
		}
	}
	answer(q, &resp);
}

/* ---- DescribeGroups, ListGroups, DeleteGroups, OffsetDelete ---- */

static void *arena_alloc(void *arg, size_t n)
{
	return rt_arena_alloc(arg, n);
}

static void do_describe(struct ctl_hreq *q)
{
	struct kp_describe_groups_req *m = q->msg;
	struct kp_describe_groups_resp resp;
	kp_describe_groups_resp_init(&resp);
	int32_t n = m->groups.n > 0 ? m->groups.n : 0;
	resp.groups.items = rt_arena_calloc(&q->arena, (size_t)n + 1, sizeof(*resp.groups.items));
	resp.groups.n = resp.groups.items ? n : 0;
	for (int32_t i = 0; i < resp.groups.n; i++) {
		struct kp_describe_groups_resp_described_group *g = &resp.groups.items[i];
		kp_describe_groups_resp_described_group_init(g);
		g->group_id = m->groups.items[i];
		struct ctl_described_group d;
		if (ctl_group_describe(q->hs->coord, sl(m->groups.items[i]), &d, arena_alloc, &q->arena)) {
			g->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			g->group_state = g->protocol_type = g->protocol_data = ks("");
			continue;
		}
		g->error_code = d.error;
		g->group_state = ks(d.state);
		g->protocol_type = ks(d.protocol_type);
		g->protocol_data = ks(d.protocol);
		/* Without an authorizer every group operation is allowed: READ, DELETE, DESCRIBE. */
		if (m->include_authorized_operations && !d.error)
			g->authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
		g->members.n = 0;
		if (d.n_members) {
			g->members.items = rt_arena_calloc(&q->arena, (size_t)d.n_members, sizeof(*g->members.items));
			if (!g->members.items) {
				g->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
				continue;
			}
			g->members.n = d.n_members;
			for (int32_t k = 0; k < d.n_members; k++) {
				struct kp_describe_groups_resp_described_group_member *x = &g->members.items[k];
				kp_describe_groups_resp_described_group_member_init(x);
				x->member_id = ks(d.members[k].member_id);
				x->group_instance_id = ks(d.members[k].instance_id);
				x->client_id = ks(d.members[k].client_id);
				x->client_host = ks(d.members[k].client_host);
				x->member_metadata = kb(d.members[k].metadata);
				x->member_assignment = kb(d.members[k].assignment);
			}
		}
	}
	answer(q, &resp);
}

struct listed {
	struct rt_arena *a;
	struct kp_list_groups_resp_listed_group *items;
	int32_t n, cap;
	bool oom;
};

static void on_listed(void *arg, const char *id, const char *ptype, const char *state)
{
	struct listed *l = arg;
	if (l->oom)
		return;
	if (l->n == l->cap) {
		int32_t cap = l->cap ? l->cap * 2 : 16;
		struct kp_list_groups_resp_listed_group *ni = rt_arena_calloc(l->a, (size_t)cap, sizeof(*ni));
		if (!ni) { l->oom = true; return; }
		if (l->n)
			memcpy(ni, l->items, (size_t)l->n * sizeof(*ni));
		l->items = ni;
		l->cap = cap;
	}
	struct kp_list_groups_resp_listed_group *g = &l->items[l->n++];
	kp_list_groups_resp_listed_group_init(g);
	/* the coordinator's strings live until the next call into it: copy them */
	char *a = rt_arena_strndup(l->a, id, strlen(id));
	char *b = rt_arena_strndup(l->a, ptype, strlen(ptype));
	if (!a || !b) { l->oom = true; l->n--; return; }
	g->group_id = ks(a);
	g->protocol_type = ks(b);
	g->group_state = ks(state);
	g->group_type = ks("classic");
}

static void do_list(struct ctl_hreq *q)
{
	struct kp_list_groups_req *m = q->msg;
	struct kp_list_groups_resp resp;
	kp_list_groups_resp_init(&resp);
	bool classic = true;
	if (q->version >= 5 && m->types_filter.n > 0) {
		classic = false;
		for (int32_t i = 0; i < m->types_filter.n; i++)
			classic |= m->types_filter.items[i].len == 7 && !strncasecmp(m->types_filter.items[i].ptr, "classic", 7);
	}
	struct listed l = { .a = &q->arena };
	int32_t ns = q->version >= 4 && m->states_filter.n > 0 ? m->states_filter.n : 0;
	struct ctl_slice *states = ns ? rt_arena_calloc(&q->arena, (size_t)ns, sizeof(*states)) : NULL;
	for (int32_t i = 0; states && i < ns; i++)
		states[i] = sl(m->states_filter.items[i]);
	if (ns && !states)
		l.oom = true;
	if (classic && !l.oom)
		resp.error_code = ctl_group_list(q->hs->coord, states, ns, on_listed, &l);
	if (l.oom)
		resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
	resp.groups.items = l.items;
	resp.groups.n = resp.error_code ? 0 : l.n;
	answer(q, &resp);
}

static void do_delete(struct ctl_hreq *q)
{
	struct kp_delete_groups_req *m = q->msg;
	struct kp_delete_groups_resp resp;
	kp_delete_groups_resp_init(&resp);
	int32_t n = m->groups_names.n > 0 ? m->groups_names.n : 0;
	resp.results.items = rt_arena_calloc(&q->arena, (size_t)n + 1, sizeof(*resp.results.items));
	resp.results.n = resp.results.items ? n : 0;
	for (int32_t i = 0; i < resp.results.n; i++) {
		kp_delete_groups_resp_deletable_group_result_init(&resp.results.items[i]);
		resp.results.items[i].group_id = m->groups_names.items[i];
		resp.results.items[i].error_code = ctl_group_delete(q->hs->coord, sl(m->groups_names.items[i]));
	}
	answer(q, &resp);
}

static void do_offset_delete(struct ctl_hreq *q)
{
	struct kp_offset_delete_req *m = q->msg;
	struct kp_offset_delete_resp resp;
	kp_offset_delete_resp_init(&resp);
	int32_t n = 0;
	for (int32_t t = 0; t < m->topics.n; t++)
		n += m->topics.items[t].partitions.n > 0 ? m->topics.items[t].partitions.n : 0;
	struct ctl_commit_part *parts = rt_arena_calloc(&q->arena, (size_t)n + 1, sizeof(*parts));
	int32_t nt = m->topics.n > 0 ? m->topics.n : 0;
	resp.topics.items = rt_arena_calloc(&q->arena, (size_t)nt + 1, sizeof(*resp.topics.items));
	if (!parts || !resp.topics.items) {
		resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		answer(q, &resp);
		return;
	}
	int32_t k = 0;
	for (int32_t t = 0; t < nt; t++)
		for (int32_t i = 0; i < m->topics.items[t].partitions.n; i++, k++) {
			parts[k].topic = sl(m->topics.items[t].name);
			parts[k].partition = m->topics.items[t].partitions.items[i].partition_index;
		}
	resp.error_code = ctl_offsets_delete(q->hs->coord, sl(m->group_id), parts, n);
	if (resp.error_code) {
		answer(q, &resp);
		return;
	}
	resp.topics.n = nt;
	k = 0;
	for (int32_t t = 0; t < nt; t++) {
		struct kp_offset_delete_resp_topic *rt = &resp.topics.items[t];
		kp_offset_delete_resp_topic_init(rt);
		rt->name = m->topics.items[t].name;
		int32_t np = m->topics.items[t].partitions.n > 0 ? m->topics.items[t].partitions.n : 0;
		rt->partitions.items = rt_arena_calloc(&q->arena, (size_t)np + 1, sizeof(*rt->partitions.items));
		rt->partitions.n = rt->partitions.items ? np : 0;
		for (int32_t i = 0; i < rt->partitions.n; i++, k++) {
			kp_offset_delete_resp_partition_init(&rt->partitions.items[i]);
			rt->partitions.items[i].partition_index = parts[k].partition;
			rt->partitions.items[i].error_code = parts[k].error;
		}
	}
	answer(q, &resp);
}

/* ---- entry ---- */

/* ---- InitProducerId (issue 7) ---- */

static void do_init_pid(struct ctl_hreq *q)
{
	struct kp_init_producer_id_req *m = q->msg;
	if (!q->hs->txn) {
		ctl_handlers_init_pid_done(q->hs, q, KP_ERR_COORDINATOR_NOT_AVAILABLE, -1, -1);
		return;
	}
	bool has_id = m->transactional_id.len >= 0;
	ctl_txn_init_pid(ctl_txnsvc_use(q->hs->txn), q, has_id ? m->transactional_id.ptr : NULL,
	                 has_id ? (size_t)m->transactional_id.len : 0, m->transaction_timeout_ms,
	                 q->version >= 3 ? m->producer_id : -1, q->version >= 3 ? m->producer_epoch : -1);
}

/* ---- DescribeTransactions, ListTransactions (issue 7) ---- */

static struct kp_str kstr_n(const char *p, size_t n)
{
	return (struct kp_str){ p, (int32_t)n };
}

static void do_describe_txns(struct ctl_hreq *q)
{
	struct kp_describe_transactions_req *m = q->msg;
	struct kp_describe_transactions_resp resp;
	kp_describe_transactions_resp_init(&resp);
	struct ctl_txn_coord *c = q->hs->txn ? ctl_txnsvc_use(q->hs->txn) : NULL;
	int32_t n = m->transactional_ids.n > 0 ? m->transactional_ids.n : 0;
	resp.transaction_states.items = n ? rt_arena_calloc(&q->arena, (size_t)n, sizeof(*resp.transaction_states.items)) : NULL;
	if (n && !resp.transaction_states.items) {
		answer(q, &resp);
		return;
	}
	resp.transaction_states.n = n;
	/* the coordinator's strings are borrowed: nothing changes it before answer() encodes */
	for (int32_t i = 0; i < n; i++) {
		struct kp_describe_transactions_resp_transaction_state *o = &resp.transaction_states.items[i];
		kp_describe_transactions_resp_transaction_state_init(o);
		struct kp_str id = m->transactional_ids.items[i];
		o->transactional_id = id;
		o->transaction_state = ks("");
		o->producer_id = -1;
		o->producer_epoch = -1;
		o->transaction_start_time_ms = -1;
		struct ctl_txn_info in;
		o->error_code = !c ? KP_ERR_COORDINATOR_NOT_AVAILABLE
		                   : ctl_txn_describe(c, id.ptr, id.len > 0 ? (size_t)id.len : 0, &in);
		if (o->error_code)
			continue;
		o->transaction_state = ks(ctl_txn_state_name(in.state));
		o->transaction_timeout_ms = in.timeout_ms;
		o->transaction_start_time_ms = in.start_ms;
		o->producer_id = in.producer_id;
		o->producer_epoch = in.producer_epoch;
		if (!in.ntps)
			continue;
		o->topics.items = rt_arena_calloc(&q->arena, in.ntps, sizeof(*o->topics.items));
		if (!o->topics.items) {
			o->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			continue;
		}
		for (size_t k = 0; k < in.ntps; k++) {
			int32_t t = 0;
			while (t < o->topics.n && strcmp(o->topics.items[t].topic.ptr, in.tps[k].topic))
				t++;
			struct kp_describe_transactions_resp_topic_data *td = &o->topics.items[t];
			if (t == o->topics.n) {
				kp_describe_transactions_resp_topic_data_init(td);
				td->topic = ks(in.tps[k].topic);
				td->partitions.items = rt_arena_calloc(&q->arena, in.ntps, sizeof(int32_t));
				if (!td->partitions.items) {
					o->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
					break;
				}
				o->topics.n++;
			}
			td->partitions.items[td->partitions.n++] = in.tps[k].partition;
		}
	}
	answer(q, &resp);
}

struct list_txns {
	struct ctl_hreq *q;
	struct kp_list_transactions_req *m;
	struct kp_list_transactions_resp *resp;
	int32_t cap;
	int64_t now;
};

static void list_one(void *arg, const struct ctl_txn_info *t)
{
	struct list_txns *l = arg;
	struct kp_list_transactions_req *m = l->m;
	const char *name = ctl_txn_state_name(t->state);
	if (m->state_filters.n > 0) {
		bool hit = false;
		for (int32_t i = 0; i < m->state_filters.n && !hit; i++)
			hit = m->state_filters.items[i].len == (int32_t)strlen(name) &&
			      !memcmp(m->state_filters.items[i].ptr, name, strlen(name));
		if (!hit)
			return;
	}
	if (m->producer_id_filters.n > 0) {
		bool hit = false;
		for (int32_t i = 0; i < m->producer_id_filters.n && !hit; i++)
			hit = m->producer_id_filters.items[i] == t->producer_id;
		if (!hit)
			return;
	}
	if (l->q->version >= 1 && m->duration_filter >= 0 &&
	    (t->start_ms < 0 || l->now - t->start_ms < m->duration_filter))
		return;
	if (l->resp->transaction_states.n == l->cap) {
		int32_t cap = l->cap ? l->cap * 2 : 16;
		void *p = rt_arena_calloc(&l->q->arena, (size_t)cap, sizeof(*l->resp->transaction_states.items));
		if (!p) {
			l->resp->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			return;
		}
		if (l->cap)
			memcpy(p, l->resp->transaction_states.items,
			       (size_t)l->cap * sizeof(*l->resp->transaction_states.items));
		l->resp->transaction_states.items = p;
		l->cap = cap;
	}
	struct kp_list_transactions_resp_transaction_state *o =
		&l->resp->transaction_states.items[l->resp->transaction_states.n++];
	kp_list_transactions_resp_transaction_state_init(o);
	o->transactional_id = kstr_n(t->txn_id, t->idlen);
	o->producer_id = t->producer_id;
	o->transaction_state = ks(name);
}

static void do_list_txns(struct ctl_hreq *q)
{
	struct kp_list_transactions_req *m = q->msg;
	struct kp_list_transactions_resp resp;
	kp_list_transactions_resp_init(&resp);
	struct ctl_txn_coord *c = q->hs->txn ? ctl_txnsvc_use(q->hs->txn) : NULL;
	if (!c) {
		resp.error_code = KP_ERR_COORDINATOR_NOT_AVAILABLE;
	} else if (ctl_txn_loading(c)) {
		resp.error_code = KP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	} else {
		/* state names Kafka does not know are echoed back, as Kafka does */
		int32_t nf = m->state_filters.n > 0 ? m->state_filters.n : 0;
		resp.unknown_state_filters.items = nf ? rt_arena_calloc(&q->arena, (size_t)nf, sizeof(struct kp_str)) : NULL;
		for (int32_t i = 0; i < nf && resp.unknown_state_filters.items; i++) {
			bool known = false;
			for (int s = 0; s <= CTL_TXN_PREPARE_EPOCH_FENCE && !known; s++) {
				const char *nm = ctl_txn_state_name((enum ctl_txn_state)s);
				known = m->state_filters.items[i].len == (int32_t)strlen(nm) &&
				        !memcmp(m->state_filters.items[i].ptr, nm, strlen(nm));
			}
			if (!known)
				resp.unknown_state_filters.items[resp.unknown_state_filters.n++] = m->state_filters.items[i];
		}
		struct list_txns l = { q, m, &resp, 0, ctl_txn_now(c) };
		ctl_txn_list(c, list_one, &l);
	}
	answer(q, &resp);
}

/* ---- AddPartitionsToTxn, AddOffsetsToTxn, EndTxn (issue 7) ---- */

/* The request's partitions of one transaction as the coordinator's NUL-terminated pairs, in the
 * arena.  Returns the count, or -1 when the arena is exhausted. */
static ssize_t txn_tps(struct ctl_hreq *q, const struct kp_add_partitions_to_txn_req_topic *ts,
                       int32_t nts, struct ctl_txn_tp **out)
{
	size_t n = 0;
	for (int32_t i = 0; i < nts; i++)
		n += ts[i].partitions.n > 0 ? (size_t)ts[i].partitions.n : 0;
	*out = NULL;
	if (!n)
		return 0;
	struct ctl_txn_tp *tps = rt_arena_calloc(&q->arena, n, sizeof(*tps));
	if (!tps)
		return -1;
	size_t k = 0;
	for (int32_t i = 0; i < nts; i++) {
		size_t len = ts[i].name.len > 0 ? (size_t)ts[i].name.len : 0;
		char *name = rt_arena_alloc(&q->arena, len + 1);
		if (!name)
			return -1;
		if (len)
			memcpy(name, ts[i].name.ptr, len);
		name[len] = 0;
		for (int32_t p = 0; p < ts[i].partitions.n; p++)
			tps[k++] = (struct ctl_txn_tp){ .topic = name, .partition = ts[i].partitions.items[p] };
	}
	*out = tps;
	return (ssize_t)n;
}

/* Per-partition results mirroring the request's topics: errs[k] for the k-th partition in
 * request order, or err for all when errs is NULL.  Returns false when the arena is exhausted. */
static bool txn_results(struct ctl_hreq *q, const struct kp_add_partitions_to_txn_req_topic *ts,
                        int32_t nts, int16_t err, const int16_t *errs,
                        struct kp_add_partitions_to_txn_resp_topic_result **out)
{
	*out = NULL;
	if (nts <= 0)
		return true;
	struct kp_add_partitions_to_txn_resp_topic_result *rs = rt_arena_calloc(&q->arena, (size_t)nts, sizeof(*rs));
	if (!rs)
		return false;
	size_t k = 0;
	for (int32_t i = 0; i < nts; i++) {
		kp_add_partitions_to_txn_resp_topic_result_init(&rs[i]);
		rs[i].name = ts[i].name;
		int32_t np = ts[i].partitions.n > 0 ? ts[i].partitions.n : 0;
		if (!np)
			continue;
		rs[i].results_by_partition.items = rt_arena_calloc(&q->arena, (size_t)np, sizeof(*rs[i].results_by_partition.items));
		if (!rs[i].results_by_partition.items)
			return false;
		rs[i].results_by_partition.n = np;
		for (int32_t p = 0; p < np; p++) {
			struct kp_add_partitions_to_txn_resp_partition_result *o = &rs[i].results_by_partition.items[p];
			kp_add_partitions_to_txn_resp_partition_result_init(o);
			o->partition_index = ts[i].partitions.items[p];
			o->partition_error_code = errs ? errs[k] : err;
			k++;
		}
	}
	*out = rs;
	return true;
}

/* Answers an AddPartitionsToTxn request whose transactions all get err (v4+: the first
 * non-verify transaction gets err, verify-only ones were answered into q's response already). */
static void add_partitions_answer(struct ctl_hreq *q, int16_t err)
{
	struct kp_add_partitions_to_txn_req *m = q->msg;
	struct kp_add_partitions_to_txn_resp resp;
	kp_add_partitions_to_txn_resp_init(&resp);
	err = ctl_txn_fenced_error(err, q->key, q->version);
	if (q->version <= 3) {
		struct kp_add_partitions_to_txn_resp_topic_result *rs;
		if (!txn_results(q, m->v_3_and_below_topics.items, m->v_3_and_below_topics.n, err, NULL, &rs)) {
			q->hs->reply(q->hs->ctx, q->origin, q->link_id, NULL, 0);
			hreq_free(q);
			return;
		}
		resp.results_by_topic_v_3_and_below.items = rs;
		resp.results_by_topic_v_3_and_below.n = rs ? m->v_3_and_below_topics.n : 0;
		answer(q, &resp);
		return;
	}
	int32_t n = m->transactions.n > 0 ? m->transactions.n : 0;
	resp.results_by_transaction.items = n ? rt_arena_calloc(&q->arena, (size_t)n, sizeof(*resp.results_by_transaction.items)) : NULL;
	if (n && !resp.results_by_transaction.items) {
		resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		answer(q, &resp);
		return;
	}
	resp.results_by_transaction.n = n;
	struct ctl_txn_coord *c = q->hs->txn ? ctl_txnsvc_use(q->hs->txn) : NULL;
	for (int32_t i = 0; i < n; i++) {
		const struct kp_add_partitions_to_txn_req_transaction *t = &m->transactions.items[i];
		struct kp_add_partitions_to_txn_resp_result *o = &resp.results_by_transaction.items[i];
		kp_add_partitions_to_txn_resp_result_init(o);
		o->transactional_id = t->transactional_id;
		int16_t *errs = NULL;
		int16_t e = err;
		if (t->verify_only && c) {
			struct ctl_txn_tp *tps;
			ssize_t np = txn_tps(q, t->topics.items, t->topics.n, &tps);
			errs = np > 0 ? rt_arena_calloc(&q->arena, (size_t)np, sizeof(*errs)) : NULL;
			if (np < 0 || (np > 0 && !errs)) {
				e = KP_ERR_UNKNOWN_SERVER_ERROR;
				errs = NULL;
			} else {
				size_t idl = t->transactional_id.len > 0 ? (size_t)t->transactional_id.len : 0;
				e = ctl_txn_verify_partitions(c, t->transactional_id.ptr, idl, t->producer_id,
				                              t->producer_epoch, tps, (size_t)np, errs ? errs : &e);
				if (e)
					errs = NULL;
			}
		}
		struct kp_add_partitions_to_txn_resp_topic_result *rs;
		if (!txn_results(q, t->topics.items, t->topics.n, e, errs, &rs)) {
			resp.error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			break;
		}
		o->topic_results.items = rs;
		o->topic_results.n = rs ? t->topics.n : 0;
	}
	answer(q, &resp);
}

static void do_add_partitions(struct ctl_hreq *q)
{
	struct kp_add_partitions_to_txn_req *m = q->msg;
	if (!q->hs->txn) {
		add_partitions_answer(q, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	struct ctl_txn_coord *c = ctl_txnsvc_use(q->hs->txn);
	const struct kp_add_partitions_to_txn_req_topic *ts;
	int32_t nts;
	struct kp_str id;
	int64_t pid;
	int16_t epoch;
	if (q->version <= 3) {
		ts = m->v_3_and_below_topics.items;
		nts = m->v_3_and_below_topics.n;
		id = m->v_3_and_below_transactional_id;
		pid = m->v_3_and_below_producer_id;
		epoch = m->v_3_and_below_producer_epoch;
	} else {
		/* v4+ (sent by brokers, KIP-890): verify-only entries are answered at once; one entry
		 * that adds partitions is served, several in one request are refused per entry. */
		int32_t adds = 0, at = -1;
		for (int32_t i = 0; i < m->transactions.n; i++)
			if (!m->transactions.items[i].verify_only) {
				adds++;
				at = i;
			}
		if (adds == 0) {
			add_partitions_answer(q, 0);
			return;
		}
		if (adds > 1 || m->transactions.n > 1) {
			add_partitions_answer(q, KP_ERR_INVALID_REQUEST);
			return;
		}
		const struct kp_add_partitions_to_txn_req_transaction *t = &m->transactions.items[at];
		ts = t->topics.items;
		nts = t->topics.n;
		id = t->transactional_id;
		pid = t->producer_id;
		epoch = t->producer_epoch;
	}
	struct ctl_txn_tp *tps;
	ssize_t n = txn_tps(q, ts, nts, &tps);
	if (n < 0) {
		add_partitions_answer(q, KP_ERR_UNKNOWN_SERVER_ERROR);
		return;
	}
	ctl_txn_add_partitions(c, q, id.ptr, id.len > 0 ? (size_t)id.len : 0, pid, epoch, tps, (size_t)n);
}

static void do_add_offsets(struct ctl_hreq *q)
{
	struct kp_add_offsets_to_txn_req *m = q->msg;
	if (!q->hs->txn) {
		ctl_handlers_txn_done(q->hs, q, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	/* The group's partition as the group coordinator places it (the topic's real partition
	 * count), so that the markers land where TxnOffsetCommit writes. */
	struct ctl_txn_tp tp = { (char *)"__consumer_offsets", ctl_coord_offsets_partition(q->hs->coord, sl(m->group_id)) };
	ctl_txn_add_partitions(ctl_txnsvc_use(q->hs->txn), q, m->transactional_id.ptr,
	                       m->transactional_id.len > 0 ? (size_t)m->transactional_id.len : 0,
	                       m->producer_id, m->producer_epoch, &tp, 1);
}

static void do_end_txn(struct ctl_hreq *q)
{
	struct kp_end_txn_req *m = q->msg;
	if (!q->hs->txn) {
		ctl_handlers_txn_done(q->hs, q, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	ctl_txn_end(ctl_txnsvc_use(q->hs->txn), q, m->transactional_id.ptr,
	            m->transactional_id.len > 0 ? (size_t)m->transactional_id.len : 0,
	            m->producer_id, m->producer_epoch, m->committed);
}

int ctl_handle(struct ctl_handlers *hs, int origin, uint64_t link_id, const struct ctl_link_req *lr,
               const uint8_t *frame, size_t len)
{
	const char *host = lr->host;
	size_t host_len = lr->host_len;
	struct ctl_hreq *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->hs = hs;
	q->origin = origin;
	q->link_id = link_id;
	q->frame = malloc(len ? len : 1);
	q->host = malloc(host_len + 1);
	if (!q->frame || !q->host) {
		free(q->frame);
		free(q->host);
		free(q);
		return -ENOMEM;
	}
	memcpy(q->frame, frame, len);
	memcpy(q->host, host, host_len);
	q->host[host_len] = 0;
	rt_arena_init(&q->arena, 0, hs->arena_limit ? hs->arena_limit : (64u << 20));
	q->next = hs->live;
	if (hs->live)
		hs->live->prev = q;
	hs->live = q;
	hs->pending++;

	struct rt_rd r;
	rt_rd_init(&r, q->frame, len);
	struct kp_req_hdr h;
	int rc = kp_req_hdr_decode(&r, &q->arena, &h);
	if (rc) {
		hreq_free(q);
		return -EBADMSG;
	}
	q->key = h.request_api_key;
	q->version = h.request_api_version;
	q->corr = h.correlation_id;
	const struct kp_api_info *info = kp_api_lookup(q->key);
	if (!info || !ctl_handlers_serves(q->key) || q->version < info->min_version || q->version > info->max_version) {
		hreq_free(q);
		return -ENOTSUP;
	}
	/* The decoded request, followed by the header's client id (JoinGroup keeps it). */
	q->msg = rt_arena_alloc(&q->arena, info->req_size + sizeof(struct ctl_slice));
	if (lr->n_unknown > 0 && q->msg) {
		q->unknown = rt_arena_alloc(&q->arena, (size_t)lr->n_unknown * sizeof(int32_t));
		if (q->unknown)
			memcpy(q->unknown, lr->unknown, (size_t)lr->n_unknown * sizeof(int32_t));
		q->n_unknown = lr->n_unknown;
	}
	if (!q->msg || (lr->n_unknown > 0 && !q->unknown)) {
		hreq_free(q);
		return -ENOMEM;
	}
	*(struct ctl_slice *)((char *)q->msg + info->req_size) = sl(h.client_id);
	info->req_init(q->msg);
	rc = info->req_decode(&r, q->version, &q->arena, q->msg);
	if (rc) {
		hreq_free(q);
		return rc == -E2BIG ? -E2BIG : -EBADMSG;
	}
	switch (q->key) {
	case KP_API_JOIN_GROUP: do_join(q); break;
	case KP_API_SYNC_GROUP: do_sync(q); break;
	case KP_API_HEARTBEAT: do_heartbeat(q); break;
	case KP_API_LEAVE_GROUP: do_leave(q); break;
	case KP_API_OFFSET_COMMIT: do_commit(q); break;
	case KP_API_TXN_OFFSET_COMMIT: do_txn_commit(q); break;
	case KP_API_OFFSET_FETCH: do_fetch(q); break;
	case KP_API_DESCRIBE_GROUPS: do_describe(q); break;
	case KP_API_LIST_GROUPS: do_list(q); break;
	case KP_API_DELETE_GROUPS: do_delete(q); break;
	case KP_API_OFFSET_DELETE: do_offset_delete(q); break;
	case KP_API_INIT_PRODUCER_ID: do_init_pid(q); break;
	case KP_API_DESCRIBE_TRANSACTIONS: do_describe_txns(q); break;
	case KP_API_LIST_TRANSACTIONS: do_list_txns(q); break;
	case KP_API_ADD_PARTITIONS_TO_TXN: do_add_partitions(q); break;
	case KP_API_ADD_OFFSETS_TO_TXN: do_add_offsets(q); break;
	case KP_API_END_TXN: do_end_txn(q); break;
	}
	return 0;
}

void ctl_handlers_init_pid_done(void *ctx, void *req, int16_t err, int64_t pid, int16_t epoch)
{
	(void)ctx;
	struct ctl_hreq *q = req;
	struct kp_init_producer_id_resp resp;
	kp_init_producer_id_resp_init(&resp);
	resp.error_code = ctl_txn_fenced_error(err, q->key, q->version);
	resp.producer_id = err ? -1 : pid;
	resp.producer_epoch = err ? -1 : epoch;
	answer(q, &resp);
}

void ctl_handlers_txn_done(void *ctx, void *req, int16_t err)
{
	(void)ctx;
	struct ctl_hreq *q = req;
	switch (q->key) {
	case KP_API_ADD_PARTITIONS_TO_TXN:
		add_partitions_answer(q, err);
		return;
	case KP_API_ADD_OFFSETS_TO_TXN: {
		struct kp_add_offsets_to_txn_resp resp;
		kp_add_offsets_to_txn_resp_init(&resp);
		resp.error_code = ctl_txn_fenced_error(err, q->key, q->version);
		answer(q, &resp);
		return;
	}
	case KP_API_END_TXN: {
		struct kp_end_txn_req *m = q->msg;
		struct kp_end_txn_resp resp;
		kp_end_txn_resp_init(&resp);
		resp.error_code = ctl_txn_fenced_error(err, q->key, q->version);
		/* v5+ (KIP-890 part 2) would carry a bumped epoch; this coordinator keeps the epoch */
		resp.producer_id = err ? -1 : m->producer_id;
		resp.producer_epoch = err ? -1 : m->producer_epoch;
		answer(q, &resp);
		return;
	}
	default:
		q->hs->reply(q->hs->ctx, q->origin, q->link_id, NULL, 0);
		hreq_free(q);
		return;
	}
}

void ctl_handlers_fini(struct ctl_handlers *hs)
{
	while (hs->live)
		hreq_free(hs->live);
}
