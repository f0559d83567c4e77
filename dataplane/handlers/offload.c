/*
 * dataplane/handlers/offload.c: admin request work on the shard's file worker (see offload.h).
 */
#include "offload.h"

#include <stdlib.h>

#include "../parts.h"

struct po_wait {
	struct dp_req *req;
	int left;                       /* owner shards not back yet, plus one while posting */
	void *resp;
};

struct po_msg {
	struct po_wait *w;
	const struct dp_topic *t;
};

static void po_end(struct po_wait *w)
{
	if (--w->left)
		return;
	dp_req_respond(w->req, w->resp);
}

static void po_back(struct dp_shard *s, void *arg)
{
	(void)s;
	po_end(arg);
}

static void po_opened(struct dp_shard *owner, void *arg)
{
	struct po_msg *m = arg;
	struct po_wait *w = m->w;
	free(m);
	dp_shard_post(owner, w->req->s->id, po_back, w);
}

static void po_run(struct dp_shard *owner, void *arg)
{
	struct po_msg *m = arg;
	dp_parts_preopen(owner, m->t, po_opened, m);
}

/* On the connection's shard: has every owner shard open the new partitions of o->open on its
 * file worker (dp_parts_preopen), then answers o->resp on the connection's shard. */
static void preopen_answer(struct dp_off *o)
{
	struct dp_req *req = o->req;
	struct dp_broker *b = dp_req_broker(req);
	struct po_wait *w = rt_arena_alloc(&req->arena, sizeof(*w));
	if (!w) {
		dp_req_respond(req, o->resp);  /* the partitions open on first use */
		return;
	}
	w->req = req;
	w->left = 1;
	w->resp = o->resp;
	for (int32_t i = 0; i < o->nopen && o->open; i++) {
		const struct dp_topic *t = o->open[i];
		if (!t)
			continue;
		for (int sh = 0; sh < b->nshards; sh++) {
			bool owns = false;
			for (int32_t p = 0; p < t->nparts && !owns; p++)
				owns = t->owner[p] == sh;
			if (!owns)
				continue;
			struct po_msg *m = malloc(sizeof(*m));
			if (!m)
				continue;
			m->w = w;
			m->t = t;
			w->left++;
			dp_shard_post(req->s, sh, po_run, m);
		}
	}
	po_end(w);
}

static void off_back(struct dp_off *o)
{
	if (o->back)
		o->back(o);
	preopen_answer(o);
}

static void job_run(struct stor_bg_job *j)
{
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	o->run(o);
}

static void job_done(struct stor_bg_job *j, int32_t res)
{
	(void)res;
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	off_back(o);
}

void dp_off_answer(struct dp_req *req, void *msg, size_t resp_size, void (*run)(struct dp_off *o),
                   void (*back)(struct dp_off *o))
{
	struct dp_off *o = rt_arena_calloc(&req->arena, 1, sizeof(*o));
	void *resp = rt_arena_calloc(&req->arena, 1, resp_size);
	if (!o || !resp) {
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	o->req = req;
	o->msg = msg;
	o->resp = resp;
	o->run = run;
	o->back = back;
	struct stor_bg *bg = dp_parts_bg(req->s);
	if (!bg) {
		run(o);
		off_back(o);
		return;
	}
	stor_bg_submit(bg, &o->job, job_run, job_done);
}
