/*
 * dataplane/handlers/offload.c: admin request work on the shard's file worker (see offload.h).
 */
#include "offload.h"

#include <stdlib.h>

#include "../parts.h"

static void job_run(struct stor_bg_job *j)
{
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	o->run(o);
}

static void job_done(struct stor_bg_job *j, int32_t res)
{
	(void)res;
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	o->back(o);
}

void dp_off_start(struct dp_off *o, struct dp_req *req)
{
	o->req = req;
	struct stor_bg *bg = dp_parts_bg(req->s);
	if (!bg) {
		o->run(o);
		o->back(o);
		return;
	}
	o->job.run = job_run;
	o->job.done = job_done;
	stor_bg_submit(bg, &o->job);
}

struct po_wait {
	struct dp_req *req;
	int left;                       /* owner shards not back yet, plus one while posting */
	void (*then)(struct dp_req *req, void *ctx);
	void *ctx;
};

struct po_msg {
	struct po_wait *w;
	const struct dp_topic *t;
};

static void po_end(struct po_wait *w)
{
	if (--w->left)
		return;
	w->then(w->req, w->ctx);
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

void dp_off_preopen(struct dp_req *req, const struct dp_topic *const *topics, int n,
                    void (*then)(struct dp_req *req, void *ctx), void *ctx)
{
	struct dp_broker *b = dp_req_broker(req);
	struct po_wait *w = rt_arena_alloc(&req->arena, sizeof(*w));
	if (!w) {
		then(req, ctx);  /* the partitions open on first use */
		return;
	}
	w->req = req;
	w->left = 1;
	w->then = then;
	w->ctx = ctx;
	for (int i = 0; i < n; i++) {
		const struct dp_topic *t = topics[i];
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
