/*
 * dataplane/handlers/offload.c: admin request work on the shard's file worker (see offload.h).
 */
#include "offload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../parts.h"
#include "storage/storage.h"

struct po_msg {
	struct dp_off *o;
	const struct dp_topic *t;
	int32_t i;                      /* t is o->open[i] */
	int err;                        /* the owner's first failed open, or 0 */
};

/* The registry write of an undo: tries and the pause between them (2 s in all). */
enum { UNDO_TRIES = 100, UNDO_PAUSE_NS = 20 * 1000 * 1000 };

static void undo_run(struct stor_bg_job *j);
static void undo_done(struct stor_bg_job *j, int32_t res);

/* On the connection's shard: an owner is back from opening its partitions of open[m->i]. */
static void po_back(struct dp_shard *s, void *arg)
{
	(void)s;
	struct po_msg *m = arg;
	struct dp_off *o = m->o;
	if (m->err && o->open_err && !o->open_err[m->i])
		o->open_err[m->i] = m->err;
	free(m);
	dp_fan_end(&o->fan);
}

static void po_opened(struct dp_shard *owner, void *arg, int err)
{
	struct po_msg *m = arg;
	m->err = err;
	dp_shard_post(owner, m->o->req->s->id, po_back, m);
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
	if (o->open && o->nopen > 0)
		o->open_err = rt_arena_calloc(&o->req->arena, (size_t)o->nopen, sizeof(int));
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
			m->o = o;
			m->t = t;
			m->i = i;
			m->err = 0;
			dp_fan_hold(&o->fan);
			dp_shard_post(o->req->s, sh, po_run, m);
		}
	}
}

/* Every job and owner is back: topics with a partition that did not open are undone
 * (offload.h) before the answer. */
static void answer(struct dp_fan *f)
{
	struct dp_off *o = rt_container_of(f, struct dp_off, fan);
	bool undo = false;
	for (int32_t i = 0; i < o->nopen && o->open_err; i++) {
		if (!o->open_err[i])
			continue;
		if (o->open_failed) {
			o->open_failed(o, i, o->open_err[i]);
			undo = true;
		} else {
			o->open_err[i] = 0;  /* the partitions open on first use */
		}
	}
	if (!undo) {
		dp_req_respond(o->req, o->resp);
		return;
	}
	/* What was opened goes first: out of descriptors, the registry write below needs the
	 * descriptors its partitions hold. */
	for (int32_t i = 0; i < o->nopen; i++)
		if (o->open_err[i])
			dp_parts_drop_everywhere(o->req->s, o->open[i]->id, o->open_first ? o->open_first[i] : 0);
	struct stor_bg *bg = dp_parts_bg(o->req->s);
	if (!bg) {
		undo_run(&o->job);
		undo_done(&o->job, 0);
		return;
	}
	stor_bg_submit(bg, &o->job, undo_run, undo_done);
}

/* On the worker: the failed topics leave the registry, or go back to their partitions before
 * the growth (a blocking write). */
static void undo_run(struct stor_bg_job *j)
{
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	struct dp_broker *b = dp_req_broker(o->req);
	for (int32_t i = 0; i < o->nopen; i++) {
		if (!o->open_err[i])
			continue;
		int32_t first = o->open_first ? o->open_first[i] : 0;
		int16_t e;
		/* Out of descriptors the write fails until the other shards' file workers have closed
		 * what was opened (the drops in answer()): a few tries, on this worker only. */
		for (int tries = 0;; tries++) {
			e = first > 0 ? dp_meta_shrink_partitions(b->meta, o->open[i], first)
			              : dp_meta_delete(b->meta, o->open[i]);
			if (e != KP_ERR_KAFKA_STORAGE_ERROR || tries == UNDO_TRIES)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = UNDO_PAUSE_NS }, NULL);
		}
		if (e) {
			RT_ERROR("topic %s: its new partitions could not all be opened and cannot be removed "
			         "again (error %d): they stay, and open on first use", o->open[i]->name, e);
			o->open_err[i] = 0;
		}
	}
}

/* On the connection's shard: every shard drops again what may have been opened of them since
 * the first drop (a request opening a partition on first use); then the answer. */
static void undo_done(struct stor_bg_job *j, int32_t res)
{
	(void)res;
	struct dp_off *o = rt_container_of(j, struct dp_off, job);
	for (int32_t i = 0; i < o->nopen; i++) {
		if (!o->open_err[i])
			continue;
		int32_t first = o->open_first ? o->open_first[i] : 0;
		if (first > 0)
			RT_WARN("topic %s not grown: a new partition could not be opened (%s); it keeps its %d "
			        "partitions and what was opened of the new ones is removed", o->open[i]->name,
			        strerror(-o->open_err[i]), first);
		else
			RT_WARN("topic %s not created: a partition could not be opened (%s); what was opened of "
			        "it is removed", o->open[i]->name, strerror(-o->open_err[i]));
		dp_parts_drop_everywhere(o->req->s, o->open[i]->id, first);
	}
	dp_req_respond(o->req, o->resp);
}

int16_t dp_off_open_error(struct dp_off *o, int err, const char *outcome, struct kp_str *msg)
{
	char text[200];
	snprintf(text, sizeof(text), "Cannot open the topic's partitions: %s%s; %s", strerror(-err),
	         err == -EMFILE || err == -ENFILE ? " (the broker's RLIMIT_NOFILE is too low)" : "", outcome);
	char *m = rt_arena_strndup(&o->req->arena, text, strlen(text));
	*msg = m ? dp_str(m) : (struct kp_str){ NULL, -1 };
	int16_t code = stor_err_to_kafka(err);
	return code ? code : KP_ERR_KAFKA_STORAGE_ERROR;
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
