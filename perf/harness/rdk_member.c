/*
 * perf/harness/rdk_member.c: the rdkafka driver's consumer-group members (rdk_member.h says
 * what they do and why).
 *
 * Invariants: g->held is the number of partitions the members hold right now (each member's
 * nheld is what its last assign gave it, zero after a revoke); g->pos[p] is one past the highest
 * offset of p handed to any member, and the ledger holds every offset handed out, so after the
 * run it tells records read twice from records skipped.  Each rd_kafka_t has its own struct
 * rmember (the callbacks' opaque), allocated once and freed only after rd_kafka_destroy: g->m
 * holds the live members, one per slot; a churned member moves to g->gone while librdkafka
 * closes it (rd_kafka_consumer_close_queue: LeaveGroup on librdkafka's threads, the revoke and
 * commit events served from perf_rdk_grp_poll), and a new member takes the slot at once.
 * Nothing here blocks the driver's thread, whose loop produces and measures e2e latency, during
 * the run: a rebalance step that needs a round trip (an assignment's committed offsets, a
 * revoke's commit) leaves the member waiting (m->wait, with a copy of the partitions in m->pend;
 * g->waiting counts them) and the answer, served from perf_rdk_grp_poll, finishes the step; a
 * waiting member is not polled, is not churned, and is not closed until its step is over.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "perf/harness/ledger.h"
#include "perf/harness/rdk_member.h"

#define RDK_SETUP_TIMEOUT_MS 10000
#define RDK_CLOSE_TIMEOUT_MS 30000

/* A rebalance step that waits for a round trip to the coordinator.  Meanwhile the member's
 * rebalance stays open (librdkafka waits for the assign or unassign call, which the contract
 * allows within the rebalance timeout) and the member is not polled; the driver's thread goes on
 * with everything else. */
enum rm_wait {
	RM_NONE = 0,
	RM_OFFSETS,                 /* an assignment waits for the group's committed offsets */
	RM_COMMIT,                  /* a revoke waits for the commit of what the member was handed */
};

struct rmember {
	struct perf_rdk_grp *g;
	rd_kafka_t *rk;             /* owned; NULL once destroyed */
	rd_kafka_queue_t *q;        /* owned reference to rk's consumer queue (async commit results) */
	rd_kafka_queue_t *cq;       /* owned while closing: where librdkafka posts the close's callbacks */
	rd_kafka_queue_t *rq;       /* owned: the answers to its revokes' commits (events) */
	enum rm_wait wait;
	rd_kafka_topic_partition_list_t *pend;  /* owned while waiting: the rebalance's partitions */
	int pend_n;                 /* RM_COMMIT: how many partitions the revoke takes back */
	bool coop;                  /* the group's protocol is COOPERATIVE (as of its last rebalance) */
	int nheld;                  /* partitions held: what assigns gave and revokes did not take back */
	bool assigned;              /* a rebalance has handed it an assignment (maybe empty) */
	bool closing;               /* its close has begun */
	bool closed;                /* librdkafka says the close is done (rd_kafka_consumer_closed) */
	uint64_t paused_at;         /* when a revoke left it with nothing (0 = not paused) */
	uint64_t next_commit;
};

struct perf_rdk_grp {
	const struct perf_opts *o;  /* borrowed */
	struct perf_stats *st;      /* borrowed */
	rd_kafka_t *admin;          /* owned: a group-less-subscription consumer for offsets */
	rd_kafka_queue_t *aq;       /* owned: committed offsets looked up for assignments (admin results) */
	struct rmember **m;         /* owned, o->consumers live members */
	struct rmember **gone;      /* owned: members closing or closed, destroyed at the end */
	int n, ngone, capgone;
	int32_t nparts;
	int64_t *reset;             /* the offset a partition without a commit starts at */
	int64_t *start;             /* the committed-or-reset offset at set-up: the ledger's start */
	int64_t *ends;              /* consume mode: the log end at set-up */
	int64_t *pos;               /* one past the highest offset handed out */
	struct perf_ledger ledger;
	int held;
	int waiting;                /* members with a rebalance step waiting (rm_wait) */
	bool formed, closing;
	uint64_t next_churn;
	int churn_turn;
};

static void grp_error(struct perf_rdk_grp *g, const char *what, rd_kafka_resp_err_t e)
{
	g->st->group.group_errors++;
	perf_stats_error(g->st, -1, "rdkafka group: %s: %s", what, rd_kafka_err2str(e));
}

/* A periodic commit that a rebalance overtook (the group moved to a new generation, or this
 * member is rejoining) is not a fault: the commit made before the partitions are given up
 * covers the same positions, and the ledger's uncommitted count checks that it did. */
static bool periodic_commit_superseded(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR__NO_OFFSET:
	case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
	case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
	case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
	case RD_KAFKA_RESP_ERR__WAIT_COORD:
	case RD_KAFKA_RESP_ERR__STATE:
	case RD_KAFKA_RESP_ERR__DESTROY:
		return true;
	default:
		return false;
	}
}

/* The offsets the group acknowledged go into the ledger, which judges a record read again
 * against them. */
static void ledger_committed(struct perf_rdk_grp *g, const rd_kafka_topic_partition_list_t *offsets)
{
	for (int i = 0; offsets && i < offsets->cnt; i++)
		if (!offsets->elems[i].err && offsets->elems[i].offset >= 0)
			perf_ledger_committed(&g->ledger, offsets->elems[i].partition, offsets->elems[i].offset);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
                      void *opaque)
{
	(void)rk;
	struct rmember *m = opaque;
	ledger_committed(m->g, offsets);
	if (!err)
		m->g->st->group.commits++;
	else if (!periodic_commit_superseded(err))
		grp_error(m->g, "commit", err);
}

/* The answer to a revoke's commit of what the member was handed (n partitions taken back).  An
 * error that says the group had already moved to a generation this member's commit does not
 * carry loses the n partitions: a closing member whose JoinGroup the coordinator answered (the
 * join completed, the generation went up) commits with the generation before, and the
 * coordinator answers ILLEGAL_GENERATION, as Kafka's validateOffsetCommit does (seen with
 * cooperative-sticky, where members rejoin while they still hold partitions);
 * REBALANCE_IN_PROGRESS is the same race answered while the join completes.  The partitions are
 * then lost, not handed over: the next owner reads from the last acknowledged commit. */
static void revoke_committed(struct rmember *m, rd_kafka_resp_err_t e,
                             const rd_kafka_topic_partition_list_t *offsets, int n)
{
	ledger_committed(m->g, offsets);
	if (!e)
		m->g->st->group.commits++;
	else if (e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
	         e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
		m->g->st->group.lost_assignments += n;
	else if (e != RD_KAFKA_RESP_ERR__NO_OFFSET)
		grp_error(m->g, "commit before giving partitions up", e);
}

/* m waits for a round trip before it can finish the rebalance step w of parts (copied). */
static void wait_begin(struct rmember *m, enum rm_wait w, const rd_kafka_topic_partition_list_t *parts)
{
	m->pend = rd_kafka_topic_partition_list_copy(parts);
	m->wait = w;
	m->g->waiting++;
}

static void wait_end(struct rmember *m)
{
	rd_kafka_topic_partition_list_destroy(m->pend);
	m->pend = NULL;
	m->wait = RM_NONE;
	m->g->waiting--;
}

/* Applies an assignment change of m the way its protocol wants: eager replaces the whole
 * assignment (parts, or nothing when !add), cooperative adds or removes just parts. */
static void apply(struct rmember *m, rd_kafka_topic_partition_list_t *parts, bool add)
{
	struct perf_rdk_grp *g = m->g;
	rd_kafka_t *rk = m->rk;
	if (!m->coop) {
		rd_kafka_resp_err_t e = rd_kafka_assign(rk, add ? parts : NULL);
		if (e)
			grp_error(g, add ? "assign" : "unassign", e);
		return;
	}
	rd_kafka_error_t *e = add ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts);
	if (e) {
		g->st->group.group_errors++;
		perf_stats_error(g->st, -1, "rdkafka group: incremental %s: %s", add ? "assign" : "unassign",
		                 rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* The end of an assignment: each partition starts at its committed offset (from `committed`,
 * the group's answer, NULL when the lookup failed with e, or when parts is empty), else at the
 * offset the run fixed at set-up; then the assignment is applied.  parts is m's, updated. */
static void assign_finish(struct rmember *m, rd_kafka_topic_partition_list_t *parts,
                          const rd_kafka_topic_partition_list_t *committed, rd_kafka_resp_err_t e)
{
	struct perf_rdk_grp *g = m->g;
	struct perf_group_stats *gs = &g->st->group;
	if (e)
		grp_error(g, "committed offsets of an assignment", e);
	for (int i = 0; i < parts->cnt; i++) {
		int32_t p = parts->elems[i].partition;
		if (p < 0 || p >= g->nparts) {
			grp_error(g, "assigned a partition the topic's metadata does not have",
			          RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION);
			continue;
		}
		const rd_kafka_topic_partition_t *c =
			committed ? rd_kafka_topic_partition_list_find(committed, parts->elems[i].topic, p) : NULL;
		rd_kafka_resp_err_t pe = e ? e : !c ? RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION : c->err;
		if (!e && pe) {
			/* Not "no commit": the committed offset is unknown (an error, or the answer
			 * left the partition out).  Starting at the reset offset may read committed
			 * records again, which the ledger then counts as duplicates. */
			char what[96];
			snprintf(what, sizeof(what), "committed offset of partition %d", (int)p);
			grp_error(g, what, pe);
		}
		parts->elems[i].offset = !pe && c->offset >= 0 ? c->offset : g->reset[p];
		perf_ledger_resume(&g->ledger, p, parts->elems[i].offset);
	}
	apply(m, parts, true);
	/* Eager: the whole assignment, after a revoke of everything; cooperative: only the
	 * partitions added. */
	m->nheld += parts->cnt;
	g->held += parts->cnt;
	if (m->paused_at && parts->cnt) {
		double ms = (double)(rt_clock_ns() - m->paused_at) / 1e6;
		gs->pauses++;
		gs->pause_ms_sum += ms;
		if (ms > gs->pause_ms_max)
			gs->pause_ms_max = ms;
		m->paused_at = 0;
	}
}

/* An assignment of parts (not empty): the group's committed offsets are asked for on the
 * set-up handle (ListConsumerGroupOffsets, the OffsetFetch that rd_kafka_committed sends, but
 * answered on g->aq, which perf_rdk_grp_poll serves), and the assignment finishes with the
 * answer (serve_offsets).  Without a request (no memory), it finishes at once from the reset
 * offsets, as a failed lookup does. */
static void assign_lookup(struct rmember *m, rd_kafka_topic_partition_list_t *parts)
{
	struct perf_rdk_grp *g = m->g;
	char err[256];
	rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(g->admin, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(g->o->group, parts);
	rd_kafka_error_t *se = NULL;
	if (!opt || !req ||
	    rd_kafka_AdminOptions_set_request_timeout(opt, RDK_SETUP_TIMEOUT_MS, err, sizeof(err)) ||
	    /* as rd_kafka_committed asks with the default isolation.level=read_committed */
	    (se = rd_kafka_AdminOptions_set_require_stable_offsets(opt, 1))) {
		if (se)
			rd_kafka_error_destroy(se);
		assign_finish(m, parts, NULL, RD_KAFKA_RESP_ERR__FAIL);
	} else {
		rd_kafka_AdminOptions_set_opaque(opt, m);
		wait_begin(m, RM_OFFSETS, parts);
		rd_kafka_ListConsumerGroupOffsets(g->admin, &req, 1, opt, g->aq);
	}
	if (req)
		rd_kafka_ListConsumerGroupOffsets_destroy(req);
	if (opt)
		rd_kafka_AdminOptions_destroy(opt);
}

/* The end of a revoke of n partitions (parts: what librdkafka listed): they are given up. */
static void revoke_finish(struct rmember *m, rd_kafka_topic_partition_list_t *parts, int n)
{
	struct perf_rdk_grp *g = m->g;
	apply(m, parts, false);
	g->held -= n;
	m->nheld -= n;
	if (!m->nheld && g->formed && !g->closing && !m->closing && !m->paused_at)
		m->paused_at = rt_clock_ns();
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
	struct rmember *m = opaque;
	struct perf_rdk_grp *g = m->g;
	struct perf_group_stats *gs = &g->st->group;
	/* Whether the group's assignor is cooperative (KIP-429: "cooperative-sticky"): a rebalance
	 * hands out and takes back only the partitions that move, and the assignment changes
	 * incrementally.  Known here; a closing member's group may no longer tell it (NULL) by the
	 * time its revoke's commit is answered. */
	const char *proto = rd_kafka_rebalance_protocol(rk);
	if (proto)
		m->coop = !strcmp(proto, "COOPERATIVE");
	bool coop = m->coop;
	/* librdkafka gives no new rebalance before the open one is finished (assign or unassign
	 * called), and a waiting member is not polled. */
	assert(m->wait == RM_NONE);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
		m->assigned = true;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && m->closing) {
		/* A SyncGroup answered as the close began hands its assignment to the close
		 * (librdkafka serves the consumer queue there).  The group subsystem is terminating:
		 * it answers rd_kafka_committed with __DESTROY ("Broker handle destroyed") and treats
		 * any assign as an unassign, so the member takes nothing (eager: it holds nothing
		 * then; cooperative: what it held stays until the close revokes it); the group gives
		 * these partitions out again after this member's LeaveGroup, from their commits. */
		gs->joins++;
		if (coop) {
			rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(0);
			apply(m, none, true);
			rd_kafka_topic_partition_list_destroy(none);
		} else {
			apply(m, NULL, false);
			g->held -= m->nheld;
			m->nheld = 0;
		}
	} else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		gs->joins++;
		if (parts->cnt)
			assign_lookup(m, parts);
		else
			assign_finish(m, parts, NULL, RD_KAFKA_RESP_ERR_NO_ERROR);
	} else {
		if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			grp_error(g, "rebalance", err);
		/* Eager takes back everything; cooperative the partitions listed, and the member
		 * reads the rest on through the rebalance. */
		int n = coop ? parts->cnt : m->nheld;
		/* A lost assignment (the membership expired or was fenced) cannot be committed: the
		 * next owner reads again from the last commit (the ledger counts the redelivery).
		 * Otherwise every position is committed (the ones kept too, harmlessly), and the
		 * partitions are given up when the commit is answered (serve_revoke), so that the
		 * next owner starts from it. */
		if (n && rd_kafka_assignment_lost(rk)) {
			gs->lost_assignments += n;
		} else if (n) {
			rd_kafka_resp_err_t e = rd_kafka_commit_queue(rk, NULL, m->rq, NULL, m);
			if (!e) {
				wait_begin(m, RM_COMMIT, parts);
				m->pend_n = n;
				return;
			}
			revoke_committed(m, e, NULL, n);
		}
		revoke_finish(m, parts, n);
	}
}

/* Serves the answers to the committed-offset lookups: each finishes its member's assignment.
 * Returns true when something came. */
static bool serve_offsets(struct perf_rdk_grp *g)
{
	bool busy = false;
	rd_kafka_event_t *ev;
	while (g->aq && (ev = rd_kafka_queue_poll(g->aq, 0))) {
		busy = true;
		struct rmember *m = rd_kafka_event_opaque(ev);
		const rd_kafka_ListConsumerGroupOffsets_result_t *res = rd_kafka_event_ListConsumerGroupOffsets_result(ev);
		rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
		const rd_kafka_topic_partition_list_t *committed = NULL;
		size_t n = 0;
		const rd_kafka_group_result_t **gr = !e && res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : NULL;
		if (!e && n != 1)
			e = RD_KAFKA_RESP_ERR__BAD_MSG;
		if (!e && rd_kafka_group_result_error(gr[0]))
			e = rd_kafka_error_code(rd_kafka_group_result_error(gr[0]));
		if (!e)
			committed = rd_kafka_group_result_partitions(gr[0]);
		if (m && m->wait == RM_OFFSETS) {
			assign_finish(m, m->pend, committed, e);
			wait_end(m);
		}
		rd_kafka_event_destroy(ev);
	}
	return busy;
}

/* Serves the answer to m's revoke commit: the revoke finishes.  Returns true when it came. */
static bool serve_revoke(struct rmember *m)
{
	bool busy = false;
	rd_kafka_event_t *ev;
	while (m->rq && (ev = rd_kafka_queue_poll(m->rq, 0))) {
		busy = true;
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT && m->wait == RM_COMMIT) {
			revoke_committed(m, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), m->pend_n);
			revoke_finish(m, m->pend, m->pend_n);
			wait_end(m);
		}
		rd_kafka_event_destroy(ev);
	}
	return busy;
}

static int member_open(struct perf_rdk_grp *g, struct rmember *m)
{
	rd_kafka_conf_t *c = perf_rdk_consumer_conf(g->o, g->st, true);
	if (!c)
		return -EINVAL;
	rd_kafka_conf_set_rebalance_cb(c, on_rebalance);
	rd_kafka_conf_set_opaque(c, m);
	char err[256];
	m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!m->rk) {
		perf_stats_error(g->st, -1, "rdkafka group member: %s", err);
		return -EINVAL;
	}
	rd_kafka_poll_set_consumer(m->rk);
	m->q = rd_kafka_queue_get_consumer(m->rk);
	m->rq = rd_kafka_queue_new(m->rk);
	if (!m->q || !m->rq) {
		perf_stats_error(g->st, -1, "rdkafka group member: no queue");
		return -ENOMEM;
	}
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, g->o->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(m->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		grp_error(g, "subscribe", e);
		return -EIO;
	}
	m->nheld = 0;
	m->paused_at = 0;
	m->next_commit = rt_clock_ns() + (uint64_t)g->o->commit_interval_ms * 1000000;
	return 0;
}

/* librdkafka before 2.3.0 asserts in rd_kafka_destroy of a cooperative-sticky consumer that
 * never received an assignment (its sticky assignor state is still NULL: librdkafka issue 4312,
 * fixed by pull request 4381; Debian 12 ships 2.0.2).  Such a handle is left to the process's
 * exit instead of destroyed. */
static bool destroy_would_abort(const struct rmember *m)
{
	return rd_kafka_version() < 0x020300ff && !m->assigned && !strcmp(m->g->o->assignor, "cooperative-sticky");
}

/* Destroys m's handle and frees m.  A member whose close never began is closed by
 * rd_kafka_destroy (blocking); one whose close began and did not finish, or that waits in a
 * rebalance, is destroyed without waiting for it (see destroy_would_abort for the one
 * exception).  NULL is fine. */
static void member_free(struct rmember *m)
{
	if (!m)
		return;
	if (m->rk && destroy_would_abort(m)) {
		free(m);
		return;
	}
	if (m->cq)
		rd_kafka_queue_destroy(m->cq);
	if (m->q)
		rd_kafka_queue_destroy(m->q);
	if (m->rq)
		rd_kafka_queue_destroy(m->rq);
	/* A member still waiting in a rebalance (the run failed half-way) is not closed either: its
	 * close would wait for the assign or unassign call that nothing will make now. */
	bool no_close = (m->closing && !m->closed) || m->wait != RM_NONE;
	if (m->pend)
		wait_end(m);
	if (m->rk)
		rd_kafka_destroy_flags(m->rk, no_close ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
	free(m);
}

/* A new member subscribed to the topic.  Returns owned (free with member_free), or NULL with the
 * error in g->st. */
static struct rmember *member_new(struct perf_rdk_grp *g)
{
	struct rmember *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->g = g;
	if (member_open(g, m)) {
		member_free(m);
		return NULL;
	}
	return m;
}

/* Begins closing m (which g->m no longer holds) and takes it into g->gone: librdkafka revokes
 * (on_rebalance commits) and sends LeaveGroup on its own threads, posting the callbacks on m->cq,
 * which perf_rdk_grp_poll serves.  0, or -ENOMEM with the error in g->st and m closed and freed
 * in place (blocking: rd_kafka_destroy closes a consumer whose close never began). */
static int member_close_begin(struct perf_rdk_grp *g, struct rmember *m)
{
	if (g->ngone == g->capgone) {
		int cap = g->capgone ? g->capgone * 2 : 8;
		void *v = realloc(g->gone, sizeof(*g->gone) * (size_t)cap);
		if (!v) {
			perf_stats_error(g->st, -1, "out of memory (closing members)");
			member_free(m);
			return -ENOMEM;
		}
		g->gone = v;
		g->capgone = cap;
	}
	g->gone[g->ngone++] = m;
	m->closing = true;
	m->cq = rd_kafka_queue_new(m->rk);
	rd_kafka_error_t *e = m->cq ? rd_kafka_consumer_close_queue(m->rk, m->cq) : NULL;
	if (!m->cq || e) {
		/* Never closing: marked closed, so serve_gone leaves it and rd_kafka_destroy closes it. */
		perf_stats_error(g->st, -1, "rdkafka group: close: %s", e ? rd_kafka_error_string(e) : "no queue");
		g->st->group.group_errors++;
		if (e)
			rd_kafka_error_destroy(e);
		m->closing = false;
		m->closed = true;
	}
	return 0;
}

/* Serves the closing members' callbacks; counts each close that finished.  Returns true when
 * something happened. */
static bool serve_gone(struct perf_rdk_grp *g)
{
	bool busy = false;
	for (int i = 0; i < g->ngone; i++) {
		struct rmember *m = g->gone[i];
		if (m->closed)
			continue;
		busy |= serve_revoke(m);
		if (m->wait != RM_NONE)
			continue;
		/* Events, not callbacks: the queue may hold fetched messages too (the close drops
		 * them; the member was never handed them, so they were neither stored nor counted). */
		rd_kafka_event_t *ev;
		while (m->wait == RM_NONE && (ev = rd_kafka_queue_poll(m->cq, 0))) {
			busy = true;
			switch (rd_kafka_event_type(ev)) {
			case RD_KAFKA_EVENT_REBALANCE:
				on_rebalance(m->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), m);
				break;
			case RD_KAFKA_EVENT_OFFSET_COMMIT:
				on_commit(m->rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), m);
				break;
			case RD_KAFKA_EVENT_ERROR:
				if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR__DESTROY)
					grp_error(g, "closing member", rd_kafka_event_error(ev));
				break;
			default:
				break;
			}
			rd_kafka_event_destroy(ev);
		}
		if (!rd_kafka_consumer_closed(m->rk))
			continue;
		m->closed = true;
		busy = true;
		g->st->group.leaves++;
		/* A member closed while it held partitions without a revoke (assignment lost) held
		 * them no longer either. */
		g->held -= m->nheld;
		m->nheld = 0;
	}
	return busy;
}

static bool all_gone_closed(const struct perf_rdk_grp *g)
{
	for (int i = 0; i < g->ngone; i++)
		if (!g->gone[i]->closed)
			return false;
	return true;
}

struct perf_rdk_grp *perf_rdk_grp_new(const struct perf_opts *o, struct perf_stats *st)
{
	struct perf_rdk_grp *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->o = o;
	g->st = st;
	g->n = o->consumers;
	st->group.on = true;
	/* Not known through librdkafka's API: say so rather than print a made-up 0. */
	st->group.generations = -1;
	st->group.heartbeats = -1;
	char err[256];
	rd_kafka_conf_t *c = perf_rdk_consumer_conf(o, st, true);
	if (!c || !(g->admin = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)))) {
		if (c)
			perf_stats_error(st, -1, "rdkafka group: %s", err);
		goto fail;
	}
	if (!(g->aq = rd_kafka_queue_new(g->admin)))
		goto fail;
	if (perf_rdk_topic_wait(g->admin, o->topic, st, &g->nparts))
		goto fail;
	size_t np = (size_t)g->nparts;
	g->reset = calloc(np, sizeof(int64_t));
	g->start = calloc(np, sizeof(int64_t));
	g->ends = calloc(np, sizeof(int64_t));
	g->pos = calloc(np, sizeof(int64_t));
	g->m = calloc((size_t)g->n, sizeof(*g->m));
	if (!g->reset || !g->start || !g->ends || !g->pos || !g->m || perf_ledger_init(&g->ledger, g->nparts))
		goto fail;
	bool latest = o->from_latest || o->mode == PERF_MODE_E2E;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->nparts);
	for (int32_t p = 0; p < g->nparts; p++) {
		int64_t lo, hi;
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(g->admin, o->topic, p, &lo, &hi,
		                                                         RDK_SETUP_TIMEOUT_MS);
		if (e) {
			rd_kafka_topic_partition_list_destroy(l);
			perf_stats_error(st, -1, "rdkafka group: offsets of %s/%d: %s", o->topic, p, rd_kafka_err2str(e));
			goto fail;
		}
		g->reset[p] = latest ? hi : lo;
		g->ends[p] = hi;
		rd_kafka_topic_partition_list_add(l, o->topic, p);
	}
	rd_kafka_resp_err_t e = rd_kafka_committed(g->admin, l, RDK_SETUP_TIMEOUT_MS);
	for (int32_t i = 0; !e && i < l->cnt; i++) {
		int32_t p = l->elems[i].partition;
		g->start[p] = l->elems[i].offset >= 0 ? l->elems[i].offset : g->reset[p];
		g->pos[p] = g->start[p];
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		perf_stats_error(st, -1, "rdkafka group: committed offsets of %s: %s", o->group, rd_kafka_err2str(e));
		goto fail;
	}
	for (int i = 0; i < g->n; i++)
		if (!(g->m[i] = member_new(g)))
			goto fail;
	return g;
fail:
	perf_rdk_grp_free(g);
	return NULL;
}

static void churn(struct perf_rdk_grp *g, uint64_t now)
{
	int slot = g->churn_turn++ % g->n;
	struct rmember *m = g->m[slot];
	g->m[slot] = NULL;
	g->st->group.churns++;
	if (m)
		member_close_begin(g, m);
	if (!(g->m[slot] = member_new(g))) {
		g->st->group.group_errors++;
		return;
	}
	/* The new member holds nothing until the group has rebalanced. */
	g->m[slot]->paused_at = now;
}

bool perf_rdk_grp_poll(struct perf_rdk_grp *g, uint64_t now)
{
	uint64_t t0 = rt_clock_ns();
	bool busy = false;
	for (int i = 0; i < g->n; i++) {
		struct rmember *m = g->m[i];
		if (!m)
			continue;
		busy |= serve_revoke(m);
		/* A member waiting in a rebalance is not polled: librdkafka would hand it nothing new
		 * anyway, and a message read after its revoke's commit was sent would be left out of
		 * that commit. */
		for (int k = 0; k < 1000 && m->wait == RM_NONE; k++) {
			rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 0);
			if (!msg)
				break;
			busy = true;
			if (msg->err) {
				if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					perf_stats_error(g->st, -1, "rdkafka consume: %s", rd_kafka_message_errstr(msg));
			} else if (msg->partition >= 0 && msg->partition < g->nparts) {
				int32_t p = msg->partition;
				perf_ledger_add(&g->ledger, p, msg->offset, msg->offset + 1);
				if (msg->offset + 1 > g->pos[p])
					g->pos[p] = msg->offset + 1;
				perf_rdk_consumed(g->o, g->st, msg);
			}
			rd_kafka_message_destroy(msg);
		}
		if (m->nheld && m->wait == RM_NONE && now >= m->next_commit) {
			rd_kafka_commit_queue(m->rk, NULL, m->q, on_commit, m);
			m->next_commit = now + (uint64_t)g->o->commit_interval_ms * 1000000;
		}
	}
	busy |= serve_offsets(g);
	busy |= serve_gone(g);
	/* The member whose turn it is leaves once it has had an assignment: a member that never had
	 * one could not be destroyed with cooperative-sticky (destroy_would_abort), and one that
	 * leaves before its first assignment only makes the group rebalance twice for nothing.  Nor
	 * does it leave in the middle of a rebalance step (its close would wait for it). */
	struct rmember *next = g->m[g->churn_turn % g->n];
	if (g->formed && g->o->group_churn_s > 0 && now >= g->next_churn && !g->closing &&
	    (!next || (next->assigned && next->wait == RM_NONE))) {
		churn(g, now);
		g->next_churn = rt_clock_ns() + (uint64_t)(g->o->group_churn_s * 1e9);
		busy = true;
	}
	/* How long the driver's thread was away from its producers and its clock (the run only:
	 * forming the group and closing it at the end are outside the figures). */
	double ms = (double)(rt_clock_ns() - t0) / 1e6;
	if (g->formed && !g->closing && ms > g->st->group.poll_ms_max)
		g->st->group.poll_ms_max = ms;
	return busy;
}

int perf_rdk_grp_wait_formed(struct perf_rdk_grp *g, uint64_t timeout_ns)
{
	uint64_t until = rt_clock_ns() + timeout_ns;
	while (g->held < g->nparts) {
		uint64_t now = rt_clock_ns();
		if (now >= until) {
			perf_stats_error(g->st, -1, "rdkafka group: %d of %d partitions given out after %.0f s",
			                 g->held, g->nparts, (double)timeout_ns / 1e9);
			return -ETIMEDOUT;
		}
		if (!perf_rdk_grp_poll(g, now)) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	g->formed = true;
	g->next_churn = rt_clock_ns() + (uint64_t)(g->o->group_churn_s * 1e9);
	return 0;
}

int64_t perf_rdk_grp_reached(const struct perf_rdk_grp *g)
{
	int64_t n = 0;
	for (int32_t p = 0; p < g->nparts; p++)
		if (g->pos[p] > g->start[p])
			n += g->pos[p] - g->start[p];
	return n;
}

bool perf_rdk_grp_read_all(const struct perf_rdk_grp *g)
{
	for (int32_t p = 0; p < g->nparts; p++)
		if (g->pos[p] < g->ends[p])
			return false;
	return true;
}

int perf_rdk_grp_members(const struct perf_rdk_grp *g)
{
	return g ? g->n : 0;
}

void perf_rdk_grp_finish(struct perf_rdk_grp *g)
{
	struct perf_group_stats *gs = &g->st->group;
	g->closing = true;
	/* The rebalance steps under way finish first (a close would wait for them; the closing
	 * members' too), reading nothing more. */
	uint64_t until = rt_clock_ns() + (uint64_t)RDK_CLOSE_TIMEOUT_MS * 1000000;
	while (g->waiting && rt_clock_ns() < until) {
		bool busy = serve_offsets(g);
		busy |= serve_gone(g);
		for (int i = 0; i < g->n; i++)
			if (g->m[i])
				busy |= serve_revoke(g->m[i]);
		if (!busy) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (g->waiting)
		perf_stats_error(g->st, -1, "rdkafka group: %d rebalance steps still waiting %d s after the end",
		                 g->waiting, RDK_CLOSE_TIMEOUT_MS / 1000);
	/* Every member closes at once (each commits, then leaves); the figures are read after. */
	for (int i = 0; i < g->n; i++) {
		struct rmember *m = g->m[i];
		g->m[i] = NULL;
		if (m)
			member_close_begin(g, m);
	}
	until = rt_clock_ns() + (uint64_t)RDK_CLOSE_TIMEOUT_MS * 1000000;
	while (!all_gone_closed(g) && rt_clock_ns() < until) {
		if (!serve_gone(g)) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	if (!all_gone_closed(g))
		perf_stats_error(g->st, -1, "rdkafka group: members still closing %d s after the end",
		                 RDK_CLOSE_TIMEOUT_MS / 1000);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(g->nparts);
	for (int32_t p = 0; p < g->nparts; p++)
		rd_kafka_topic_partition_list_add(l, g->o->topic, p);
	rd_kafka_resp_err_t e = rd_kafka_committed(g->admin, l, RDK_SETUP_TIMEOUT_MS);
	for (int32_t i = 0; !e && i < l->cnt; i++) {
		int32_t p = l->elems[i].partition;
		int64_t lo, end;
		e = rd_kafka_query_watermark_offsets(g->admin, g->o->topic, p, &lo, &end, RDK_SETUP_TIMEOUT_MS);
		if (e)
			break;
		struct perf_ledger_count n;
		perf_ledger_tally(&g->ledger, p, g->start[p], end, &n);
		gs->redelivered_records += n.redelivered;
		gs->duplicate_records += n.duplicate;
		gs->gap_records += n.gap;
		gs->unread_records += n.unread;
		int64_t c = l->elems[i].offset >= 0 ? l->elems[i].offset : g->start[p];
		gs->uncommitted_records += n.hi > c ? n.hi - c : 0;
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (e)
		perf_stats_error(g->st, -1, "rdkafka group: the group's figures could not be read at the end: %s",
		                 rd_kafka_err2str(e));
}

void perf_rdk_grp_free(struct perf_rdk_grp *g)
{
	if (!g)
		return;
	g->closing = true;
	/* Members never closed (set-up failed half-way) close in rd_kafka_destroy, blocking. */
	for (int i = 0; g->m && i < g->n; i++)
		member_free(g->m[i]);
	for (int i = 0; i < g->ngone; i++)
		member_free(g->gone[i]);
	free(g->gone);
	if (g->aq)
		rd_kafka_queue_destroy(g->aq);
	if (g->admin) {
		rd_kafka_consumer_close(g->admin);
		rd_kafka_destroy(g->admin);
	}
	free(g->m);
	free(g->reset);
	free(g->start);
	free(g->ends);
	free(g->pos);
	if (g->ledger.parts)
		perf_ledger_fini(&g->ledger);
	free(g);
}
