/*
 * A test harness for the coordinator: answers land in struct res slots the test owns, appends
 * wait in a queue until the test completes them (durable or failed), and every completed
 * append's records are kept as a log that a fresh coordinator can load, as the control process
 * does from `__consumer_offsets` at start.
 */
#ifndef CTL_TEST_HARNESS_H
#define CTL_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/coord.h"

#define S(x) ((struct ctl_slice){ x, (int32_t)strlen(x) })
#define NUL ((struct ctl_slice){ NULL, -1 })

struct res {
	bool done;
	int calls;
	int16_t err;
	int32_t gen;
	char member[160];
	char leader[160];
	char proto[40];
	char ptype[40];
	int n_members;
	char members[8][160];
	bool skip;
	uint8_t assign[256];
	int32_t alen;
};

struct logrec {
	uint8_t *k;
	size_t kl;
	uint8_t *v;
	int32_t vl;
	int32_t partition;
};

struct h {
	struct ctl_coord *c;
	struct ctl_config cfg;
	struct ctl_append *q[1024];
	int nq;
	uint32_t rnd;
	struct logrec log[4096];
	int nlog;
	int64_t now;
};

static void h_join_done(void *ctx, void *req, const struct ctl_join_result *r)
{
	(void)ctx;
	struct res *x = req;
	x->done = true;
	x->calls++;
	x->err = r->error;
	x->gen = r->generation;
	snprintf(x->member, sizeof(x->member), "%s", r->member_id);
	snprintf(x->leader, sizeof(x->leader), "%s", r->leader);
	snprintf(x->proto, sizeof(x->proto), "%s", r->protocol_name ? r->protocol_name : "(null)");
	snprintf(x->ptype, sizeof(x->ptype), "%s", r->protocol_type ? r->protocol_type : "(null)");
	x->n_members = r->n_members;
	for (int i = 0; i < r->n_members && i < 8; i++)
		snprintf(x->members[i], sizeof(x->members[i]), "%s", r->members[i].member_id);
	x->skip = r->skip_assignment;
}

static void h_sync_done(void *ctx, void *req, const struct ctl_sync_result *r)
{
	(void)ctx;
	struct res *x = req;
	x->done = true;
	x->calls++;
	x->err = r->error;
	x->alen = r->assignment.len;
	if (r->assignment.len > 0)
		memcpy(x->assign, r->assignment.p, (size_t)r->assignment.len);
	snprintf(x->proto, sizeof(x->proto), "%s", r->protocol_name ? r->protocol_name : "(null)");
}

static void h_commit_done(void *ctx, void *req, struct ctl_commit_req *c)
{
	(void)ctx;
	(void)c;
	struct res *x = req;
	x->done = true;
	x->calls++;
}

static void h_append(void *ctx, struct ctl_append *a)
{
	struct h *h = ctx;
	cr_assert_lt(h->nq, 1024);
	h->q[h->nq++] = a;
}

static void h_random(void *ctx, uint8_t *p, size_t n)
{
	struct h *h = ctx;
	for (size_t i = 0; i < n; i++) {
		h->rnd = h->rnd * 1103515245u + 12345u;
		p[i] = (uint8_t)(h->rnd >> 16);
	}
}

static void h_init_cfg(struct h *h, const struct ctl_config *cfg, bool loaded)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->now = 1000000;
	struct ctl_coord_ops ops = {
		.ctx = h, .join_done = h_join_done, .sync_done = h_sync_done, .commit_done = h_commit_done,
		.append = h_append, .random = h_random,
	};
	h->c = ctl_coord_create(cfg, &ops, h->now);
	cr_assert_not_null(h->c);
	if (loaded)
		ctl_coord_load_done(h->c);
}

static void h_init(struct h *h)
{
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	h_init_cfg(h, &cfg, true);
}

static void h_fini(struct h *h)
{
	for (int i = 0; i < h->nq; i++)
		ctl_coord_append_done(h->c, h->q[i], 15);
	ctl_coord_destroy(h->c);
	for (int i = 0; i < h->nlog; i++) {
		free(h->log[i].k);
		free(h->log[i].v);
	}
}

/* Completes every queued append in order with `err` (0: durable, recorded in the log). */
static int h_flush(struct h *h, int16_t err)
{
	int n = 0;
	while (h->nq) {
		struct ctl_append *a = h->q[0];
		memmove(h->q, h->q + 1, (size_t)(h->nq - 1) * sizeof(*h->q));
		h->nq--;
		if (!err) {
			for (int32_t i = 0; i < a->n; i++) {
				struct logrec *l = &h->log[h->nlog++];
				l->kl = a->kv[i].klen;
				l->k = malloc(l->kl);
				memcpy(l->k, a->data.data + a->kv[i].koff, l->kl);
				l->vl = a->kv[i].vlen;
				l->v = NULL;
				if (l->vl >= 0) {
					l->v = malloc((size_t)l->vl + 1);
					memcpy(l->v, a->data.data + a->kv[i].voff, (size_t)l->vl);
				}
				l->partition = a->partition;
			}
		}
		ctl_coord_append_done(h->c, a, err);
		n++;
	}
	return n;
}

static void h_tick(struct h *h, int64_t ms)
{
	h->now += ms;
	ctl_coord_tick(h->c, h->now);
}

static const struct ctl_join_protocol proto_range[] = { { { "range", 5 }, { "\0\0\0\0\0\1\0\1t\xff\xff\xff\xff", 13 } } };

/* A JoinGroup with one protocol (or the protocols given). */
static void h_join_p(struct h *h, struct res *r, const char *group, const char *member, const char *instance,
                     const struct ctl_join_protocol *protos, int n, const char *ptype)
{
	char mid[160];
	snprintf(mid, sizeof(mid), "%s", member);
	memset(r, 0, sizeof(*r));
	struct ctl_join_req rq = {
		.group_id = S(group), .member_id = S(mid), .instance_id = instance ? S(instance) : NUL,
		.client_id = S("client"), .client_host = S("/127.0.0.1"), .protocol_type = S(ptype),
		.session_timeout_ms = 10000, .rebalance_timeout_ms = 30000,
		.protocols = protos, .n_protocols = n, .require_known_member_id = true,
		.supports_skip_assignment = true,
	};
	ctl_group_join(h->c, &rq, r);
}

static void h_join(struct h *h, struct res *r, const char *group, const char *member, const char *instance)
{
	h_join_p(h, r, group, member, instance, proto_range, 1, "consumer");
}

/* New dynamic member: MEMBER_ID_REQUIRED, then the real join; returns its id in r->member. */
static void h_join_new(struct h *h, struct res *r, const char *group)
{
	h_join(h, r, group, "", NULL);
	cr_assert_eq(r->err, CTL_ERR_MEMBER_ID_REQUIRED);
	char id[160];
	snprintf(id, sizeof(id), "%s", r->member);
	h_join(h, r, group, id, NULL);
	if (!r->done)
		snprintf(r->member, sizeof(r->member), "%s", id);
}

static void h_sync(struct h *h, struct res *r, const char *group, const char *member, int32_t gen,
                   const struct ctl_sync_assignment *as, int n)
{
	char mid[160];
	snprintf(mid, sizeof(mid), "%s", member);
	memset(r, 0, sizeof(*r));
	struct ctl_sync_req rq = {
		.group_id = S(group), .member_id = S(mid), .instance_id = NUL, .protocol_type = S("consumer"),
		.protocol_name = S("range"), .generation = gen, .assignments = as, .n_assignments = n,
	};
	ctl_group_sync(h->c, &rq, r);
}

static void *h_alloc(void *arg, size_t n)
{
	(void)arg;
	return calloc(1, n);
}

static const char *h_state(struct h *h, const char *group)
{
	struct ctl_described_group d;
	cr_assert_eq(ctl_group_describe(h->c, S(group), &d, h_alloc, NULL), 0);
	free(d.members);
	return d.state;
}

#endif
