/*
 * dataplane/handlers/fanout.c: per-partition jobs on owner shards (see fanout.h).
 */
#include "fanout.h"

void dp_fan_begin(struct dp_fan *f, struct dp_req *req, void (*done)(struct dp_fan *f))
{
	f->req = req;
	f->pending = 1;
	f->done = done;
}

void *dp_fan_start(struct dp_req *req, size_t size, void (*done)(struct dp_fan *f))
{
	struct dp_fan *f = rt_arena_alloc(&req->arena, size);
	if (!f) {
		req->close_after = true;
		dp_req_finish(req);
		return NULL;
	}
	dp_fan_begin(f, req, done);
	return f;
}

void *dp_fan_job_new(struct dp_fan *f, const struct dp_topic *t, int32_t p, size_t size,
		     void (*run)(struct dp_shard *owner, struct dp_fan_job *j), int16_t *err)
{
	if (!t || p < 0 || p >= t->nparts) {
		*err = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
		return NULL;
	}
	struct dp_fan_job *j = rt_arena_alloc(&f->req->arena, size);
	if (!j) {
		*err = KP_ERR_UNKNOWN_SERVER_ERROR;
		return NULL;
	}
	j->run = run;
	return j;
}

void dp_fan_hold(struct dp_fan *f)
{
	f->pending++;
}

void dp_fan_end(struct dp_fan *f)
{
	if (--f->pending == 0)
		f->done(f);
}

static void back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct dp_fan_job *j = arg;
	dp_fan_end(j->fan);
}

static void run(struct dp_shard *s, void *arg)
{
	struct dp_fan_job *j = arg;
	j->run(s, j);
	dp_shard_post(s, j->fan->req->s->id, back, j);
}

void dp_fan_post(struct dp_fan *f, struct dp_fan_job *j, int owner)
{
	j->fan = f;
	dp_fan_hold(f);
	dp_shard_post(f->req->s, owner, run, j);
}
