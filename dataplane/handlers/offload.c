/*
 * dataplane/handlers/offload.c: admin request work on the shard's file worker (see offload.h).
 */
#include "offload.h"

#include <stdlib.h>

#include "../parts.h"

struct po_msg {
	struct dp_fan *fan;
	const struct dp_topic *t;
};

static void po_back(struct dp_shard *s, void *arg)
{
	(void)s;
	dp_fan_end(arg);
}

static void po_opened(struct dp_shard *owner, void *arg)
{
	struct po_msg *m = arg;
	struct dp_fan *fan = m->fan;
	free(m);
	dp_shard_post(owner, fan->req->s->id, po_back, fan);
}

static void po_run(struct dp_shard *owner, void *arg)
{
	struct po_msg *m = arg;
	dp_parts_preopen(owner, m->t, po_opened, m);
}

/* On the connection's shard: has every owner shard open the new partitions of o->open on its
 * file worker (dp_parts_preopen), each counted on o->fan. */
static void preopen(struct dp_off *o)
{
	struct dp_broker *b = dp_req_broker(o->req);
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
				continue;  /* the partitions open on first use */
			m->fan = &o->fan;
			m->t = t;
			dp_fan_hold(&o->fan);
			dp_shard_post(o->req->s, sh, po_run, m);
		}
	}
}

static void answer(struct dp_fan *f)
{
	struct dp_off *o = rt_container_of(f, struct dp_off, fan);
	dp_req_respond(o->req, o->resp);
}

static void off_back(struct dp_off *o)
{
	dp_fan_begin(&o->fan, o->req, answer);
	if (o->back)
		o->back(o);
	preopen(o);
	dp_fan_end(&o->fan);
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
