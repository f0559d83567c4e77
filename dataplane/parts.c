/*
 * dataplane/parts.c: the owner shard's partition table (see parts.h).
 */
#include "parts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker.h"
#include "broker_configs.h"
#include "kp_errors.h"
#include "meta.h"
#include "shard.h"
#include "storage/bg.h"
#include "storage/compact.h"
#include "storage/producer_state.h"

#define NBUCKETS 1024

struct dp_parts {
	struct dp_part *b[NBUCKETS];
	int count;
	struct stor_cleaner *cleaner;  /* this shard's log cleaner (compaction); owned, may be NULL */
	int64_t next_pid_expiry;       /* wall ms of the next producer-id expiry pass */
	int64_t pid_expiration_ms;     /* producer.id.expiration.ms in effect on this shard */
	const struct dp_bcfg *dyn_seen; /* the dynamic broker configs last applied here (a published
	                                * set lives until exit: comparing pointers is enough) */
	struct stor_bg *bg;            /* this shard's file worker (snapshots, deletions); owned, may
	                                * be NULL: then that work blocks the shard as a fallback */
};

static unsigned hash(const uint8_t *id, int32_t index)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ id[i]) * 16777619u;
	h = (h ^ (uint32_t)index) * 16777619u;
	return h % NBUCKETS;
}

/* Frees a partition entry (its log is closed or deleted already). */
static void part_free(struct dp_part *x)
{
	stor_pstate_destroy(x->pstate);
	free(x);
}

/* The rebuild after a cut is over (storage logged a failure and took the partition offline). */
static void pstate_rebuilt(void *arg, struct stor_pstate *ps, int err)
{
	(void)ps;
	struct dp_part *x = arg;
	if (err)
		RT_WARN("partition %s-%d: producer state not rebuilt after the log was cut back: %s", x->topic,
		        x->index, strerror(-err));
}

/* Kafka's rule for producer snapshots: one at every segment roll (the state of every offset
 * below the new segment), and the state rebuilt after the log is cut back (issue 7).  Neither
 * costs the shard a system call: the roll's snapshot is written by the shard's file worker
 * (storage/bg.h), and the rebuild lists the snapshots, reads one and the log tail there too
 * (stor_pstate_rebuild_start; meanwhile the partition refuses appends and its state is stale).
 * That rebuild also prunes the snapshots past the new end, after any roll's snapshot queued
 * before the cut (the worker runs jobs in order); a crash before that leaves one past the log
 * end, which the next open's recovery prunes first. */
static void pstate_on_roll(void *arg, struct stor_log *log, int64_t offset, bool truncated)
{
	struct dp_part *x = arg;
	if (truncated) {
		stor_pstate_rebuild_start(x->pstate, log, dp_wall_ms(), pstate_rebuilt, x);
		return;
	}
	if (stor_pstate_stale(x->pstate))
		return;  /* never a snapshot of a state the log may have lost */
	int rc;
	if (x->bg) {
		rc = stor_pstate_snapshot_queue(x->pstate, log, x->bg, offset);
	} else {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/%s-%d", x->dir_path, x->topic, x->index);
		rc = stor_pstate_snapshot_write(x->pstate, dir, offset);
		if (!rc)
			rc = stor_pstate_snapshot_prune(dir, stor_log_start_offset(log), offset);
		rc = rc < 0 ? rc : 0;
	}
	if (rc)
		RT_WARN("partition %s-%d: producer snapshot at roll to %lld: %s", x->topic, x->index,
		        (long long)offset, strerror(-rc));
}

/* Producer state of a freshly opened log: snapshot plus log tail (issue 7). */
static void pstate_open(struct dp_shard *s, struct dp_part *x)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s-%d", stor_dir_path(s->b->dir), x->topic, x->index);
	stor_log_set_bg(x->log, s->parts->bg);  /* a cut's file calls (failed-write repair) go there */
	/* Maybe on a file worker: the latest snapshot's value (the shard's own is set again before
	 * every expiry pass, dp_parts_tick). */
	x->pstate = stor_pstate_create(s->b->meta ? dp_meta_snap(s->b->meta)->dyn->eff.producer_id_expiration_ms
	                                          : s->b->cfg.producer_id_expiration_ms);
	if (!x->pstate)
		return;
	int rc = stor_pstate_recover(x->pstate, x->log, dir, dp_wall_ms());
	if (rc)
		RT_WARN("partition %s-%d: producer state not recovered (%s); producers start afresh",
		        x->topic, x->index, strerror(-rc));
	x->dir_path = stor_dir_path(s->b->dir);
	x->bg = s->parts->bg;
	stor_log_set_roll_hook(x->log, pstate_on_roll, x);
}

/* At a clean close: a snapshot at the log end so the next open replays nothing. */
static void pstate_close(struct dp_shard *s, struct dp_part *x)
{
	if (!x->pstate || x->deleting || !stor_log_idle(x->log) || stor_pstate_stale(x->pstate))
		return;  /* stale: the next open replays from the last good snapshot */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s-%d", stor_dir_path(s->b->dir), x->topic, x->index);
	int64_t leo = stor_log_end_offset(x->log);
	int rc = stor_pstate_snapshot_write(x->pstate, dir, leo);
	if (!rc)
		rc = stor_pstate_snapshot_prune(dir, leo, leo) < 0 ? -EIO : 0;
	if (rc)
		RT_WARN("partition %s-%d: producer snapshot: %s", x->topic, x->index, strerror(-rc));
}

struct dp_parts *dp_parts_create(struct dp_shard *s)
{
	struct dp_parts *p = calloc(1, sizeof(struct dp_parts));
	if (!p)
		return NULL;
	int err = 0;
	/* The dynamic broker configs read at start (broker_configs.h) count from the first look. */
	const struct dp_snap *snap = s->b->meta ? dp_meta_snap(s->b->meta) : NULL;
	const struct dp_config *c = snap ? &snap->dyn->eff : &s->b->cfg;
	p->dyn_seen = snap ? snap->dyn : NULL;
	p->pid_expiration_ms = c->producer_id_expiration_ms;
	p->cleaner = stor_cleaner_create(&s->ring, &c->cleaner, &err);
	if (!p->cleaner)
		RT_WARN("shard %d: no log cleaner (%s): compacted topics are not compacted", s->id, strerror(-err));
	p->bg = stor_bg_create(&s->ring, &err);
	if (!p->bg)
		RT_WARN("shard %d: no file worker (%s): snapshots and deletions block the shard", s->id, strerror(-err));
	return p;
}

void dp_parts_destroy(struct dp_parts *p)
{
	if (!p)
		return;
	for (int i = 0; i < NBUCKETS; i++)
		while (p->b[i]) {
			struct dp_part *x = p->b[i];
			p->b[i] = x->hnext;
			part_free(x);
		}
	stor_cleaner_destroy(p->cleaner);
	stor_bg_destroy(p->bg);
	free(p);
}

/* The table's entry for partition `index` of the topic with this id, or NULL. */
static struct dp_part *find(const struct dp_parts *pt, const uint8_t id[16], int32_t index)
{
	for (struct dp_part *x = pt->b[hash(id, index)]; x; x = x->hnext)
		if (x->index == index && !memcmp(x->topic_id, id, 16))
			return x;
	return NULL;
}

/* A new entry for partition `index` of t, with no log yet and not in the table: returns it
 * owned (part_free), or NULL on out of memory. */
static struct dp_part *part_new(const struct dp_topic *t, int32_t index)
{
	struct dp_part *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	memcpy(x->topic_id, t->id, 16);
	x->index = index;
	snprintf(x->topic, sizeof(x->topic), "%s", t->name);
	return x;
}

/* Links x (from part_new, not found in the table) into the table, which owns it from then on. */
static void insert(struct dp_parts *pt, struct dp_part *x)
{
	unsigned h = hash(x->topic_id, x->index);
	x->hnext = pt->b[h];
	pt->b[h] = x;
	pt->count++;
}

struct dp_part *dp_parts_get(struct dp_shard *s, const struct dp_topic *t, int32_t index, int16_t *kerr)
{
	struct dp_parts *pt = s->parts;
	struct dp_part *x = find(pt, t->id, index);
	if (x) {
		if (x->deleting) {
			*kerr = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			return NULL;
		}
		if (x->opening) {
			/* Being opened by the file worker (dp_parts_preopen): clients retry. */
			*kerr = KP_ERR_NOT_LEADER_OR_FOLLOWER;
			return NULL;
		}
		return x;
	}
	if (index < 0 || index >= t->nparts || t->owner[index] != s->id) {
		*kerr = index < 0 || index >= t->nparts ? KP_ERR_UNKNOWN_TOPIC_OR_PARTITION : KP_ERR_NOT_LEADER_OR_FOLLOWER;
		return NULL;
	}
	x = part_new(t, index);
	if (!x) {
		*kerr = KP_ERR_UNKNOWN_SERVER_ERROR;
		return NULL;
	}
	int err = 0;
	/* The registry's latest configs: t may come from a snapshot taken before a config change
	 * whose reconfiguration of this shard is already over (a broker default changes them all). */
	const struct dp_topic *cur = s->b->meta ? dp_snap_find(dp_meta_snap(s->b->meta), t->name, strlen(t->name)) : NULL;
	const struct stor_config *sc = cur && !memcmp(cur->id, t->id, 16) ? &cur->scfg : &t->scfg;
	x->log = stor_log_open(s->b->dir, t->name, index, sc, t->id, &s->ring, &err);
	if (!x->log) {
		RT_ERROR("cannot open partition %s-%d: %s", t->name, index, strerror(-err));
		part_free(x);
		*kerr = stor_err_to_kafka(err);
		if (!*kerr)
			*kerr = KP_ERR_KAFKA_STORAGE_ERROR;
		return NULL;
	}
	pstate_open(s, x);
	insert(pt, x);
	return x;
}

int dp_parts_open_owned(struct dp_shard *s)
{
	const struct dp_snap *sn = dp_meta_snap(s->b->meta);
	int n = 0;
	for (int i = 0; i < sn->n; i++) {
		const struct dp_topic *t = sn->t[i];
		for (int32_t p = 0; p < t->nparts; p++) {
			if (t->owner[p] != s->id)
				continue;
			int16_t kerr;
			if (!dp_parts_get(s, t, p, &kerr))
				return -EIO;
			n++;
		}
	}
	if (n)
		RT_INFO("shard %d owns %d partitions", s->id, n);
	return 0;
}

static void try_delete(struct dp_parts *pt, struct dp_part **pp)
{
	struct dp_part *x = *pp;
	if (x->opening || x->pins || !stor_log_idle(x->log))
		return;
	int rc = pt->bg ? stor_log_delete_bg(x->log, pt->bg) : stor_log_delete(x->log);
	if (rc)
		RT_WARN("deleting partition %s-%d: %s", x->topic, x->index, strerror(-rc));
	*pp = x->hnext;
	pt->count--;
	part_free(x);
}

struct drop_msg {
	uint8_t id[16];
	int32_t first;
};

static void drop_run(struct dp_shard *s, void *arg)
{
	struct drop_msg *m = arg;
	dp_parts_drop_from(s, m->id, m->first);
	free(m);
}

void dp_parts_drop_everywhere(struct dp_shard *from, const uint8_t id[16], int32_t first)
{
	/* `from` first and at once: its deletions then go to its file worker before any job the
	 * caller submits next (offload.c's registry write, which needs the descriptors back). */
	dp_parts_drop_from(from, id, first);
	for (int i = 0; i < from->b->nshards; i++) {
		if (i == from->id)
			continue;
		struct drop_msg *m = malloc(sizeof(*m));
		if (!m)
			continue;
		memcpy(m->id, id, 16);
		m->first = first;
		dp_shard_post(from, i, drop_run, m);
	}
}

void dp_parts_drop_topic(struct dp_shard *s, const uint8_t id[16])
{
	dp_parts_drop_from(s, id, 0);
}

void dp_parts_drop_from(struct dp_shard *s, const uint8_t id[16], int32_t first)
{
	struct dp_parts *pt = s->parts;
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part **pp = &pt->b[i]; *pp;) {
			struct dp_part *x = *pp;
			if (memcmp(x->topic_id, id, 16) || x->index < first) {
				pp = &x->hnext;
				continue;
			}
			x->deleting = true;
			if (pt->cleaner && !x->opening && stor_log_cleaning(x->log))
				stor_cleaner_cancel(pt->cleaner);
			try_delete(pt, pp);
			if (*pp == x)
				pp = &x->hnext;
		}
}

/* The dynamic broker configs that reach past the topics' own (broker_configs.h): this shard's
 * cleaner settings (log.cleaner.backoff.ms, .dedupe.buffer.size, .io.max.bytes.per.second) and
 * producer.id.expiration.ms of its partitions, from snap's set unless it is the one applied
 * last.  The cleaner is only touched when its settings changed: a new setting makes it look at
 * once (stor_cleaner_set_config), another key's change should not. */
static void apply_broker(struct dp_shard *s, const struct dp_snap *snap)
{
	struct dp_parts *pt = s->parts;
	if (!snap || snap->dyn == pt->dyn_seen)
		return;
	pt->dyn_seen = snap->dyn;
	const struct dp_config *e = &snap->dyn->eff;
	if (pt->cleaner) {
		struct stor_cleaner_config cur;
		stor_cleaner_get_config(pt->cleaner, &cur);
		if (cur.backoff_ms != e->cleaner.backoff_ms || cur.dedupe_buffer_size != e->cleaner.dedupe_buffer_size ||
		    cur.io_max_bytes_per_second != e->cleaner.io_max_bytes_per_second)
			stor_cleaner_set_config(pt->cleaner, &e->cleaner);
	}
	pt->pid_expiration_ms = e->producer_id_expiration_ms;
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part *x = pt->b[i]; x; x = x->hnext)
			if (!x->opening && x->pstate)
				stor_pstate_set_expiration(x->pstate, pt->pid_expiration_ms);
}

void dp_parts_tick(struct dp_shard *s)
{
	struct dp_parts *pt = s->parts;
	int64_t now = dp_wall_ms();
	/* Normally done already by the AlterConfigs that published it (dp_parts_reconfigure_all);
	 * this catches a set whose fan-out could not be posted. */
	if (s->b->meta)
		apply_broker(s, dp_meta_snap(s->b->meta));
	bool expire = now >= pt->next_pid_expiry;     /* Kafka's producer.id.expiration.check.interval.ms */
	if (expire)
		pt->next_pid_expiry = now + s->b->cfg.producer_id_expiration_check_ms;
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part **pp = &pt->b[i]; *pp;) {
			struct dp_part *x = *pp;
			if (x->deleting) {
				try_delete(pt, pp);
				if (*pp == x)
					pp = &x->hnext;
				continue;
			}
			if (x->opening) {
				pp = &x->hnext;
				continue;
			}
			if (x->pstate && expire) {
				/* Also covers a partition whose open was under way when the value changed. */
				stor_pstate_set_expiration(x->pstate, pt->pid_expiration_ms);
				stor_pstate_expire(x->pstate, now);
			}
			int rc = stor_log_tick(x->log, now);
			if (rc < 0)
				RT_WARN("partition %s-%d: background work failed: %s", x->topic, x->index, strerror(-rc));
			if (pt->cleaner) {
				int64_t hw = stor_log_high_watermark(x->log);
				stor_log_set_last_stable(x->log, x->pstate ? stor_pstate_lso(x->pstate, hw) : hw);
				/* Only active producers keep their last batch through a cleaning. */
				stor_log_set_producers(x->log, x->pstate);
				stor_cleaner_consider(pt->cleaner, x->log, now);
			}
			pp = &x->hnext;
		}
	if (pt->cleaner)
		stor_cleaner_kick(pt->cleaner, now);
}

void dp_parts_stop_background(struct dp_shard *s)
{
	if (s->parts->cleaner)
		stor_cleaner_cancel(s->parts->cleaner);
}

bool dp_parts_idle(struct dp_shard *s)
{
	struct dp_parts *pt = s->parts;
	if (pt->bg && stor_bg_pending(pt->bg))
		return false;
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part *x = pt->b[i]; x; x = x->hnext)
			if (x->opening || !stor_log_idle(x->log))
				return false;
	return true;
}

int dp_parts_close_all(struct dp_shard *s)
{
	struct dp_parts *pt = s->parts;
	int first = 0;
	for (int i = 0; i < NBUCKETS; i++)
		while (pt->b[i]) {
			struct dp_part *x = pt->b[i];
			pt->b[i] = x->hnext;
			if (x->opening || !x->log) {
				/* The worker still holds it (the drain timed out): leave it to the worker. */
				continue;
			}
			pstate_close(s, x);
			int rc = x->deleting ? stor_log_delete(x->log) : stor_log_close(x->log);
			if (rc && !first)
				first = rc;
			part_free(x);
		}
	pt->count = 0;
	return first;
}

void dp_parts_reconfigure(struct dp_shard *s, const struct dp_topic *t)
{
	struct dp_parts *pt = s->parts;
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part *x = pt->b[i]; x; x = x->hnext)
			if (!x->opening && !memcmp(x->topic_id, t->id, 16))
				stor_log_set_config(x->log, &t->scfg);
}

void dp_parts_reconfigure_all(struct dp_shard *s, const struct dp_snap *snap)
{
	struct dp_parts *pt = s->parts;
	apply_broker(s, snap);
	for (int i = 0; i < NBUCKETS; i++)
		for (struct dp_part *x = pt->b[i]; x; x = x->hnext) {
			if (x->opening || x->deleting)
				continue;
			const struct dp_topic *t = dp_snap_find(snap, x->topic, strlen(x->topic));
			if (t && !memcmp(x->topic_id, t->id, 16))
				stor_log_set_config(x->log, &t->scfg);
		}
}

struct stor_bg *dp_parts_bg(struct dp_shard *s)
{
	return s->parts ? s->parts->bg : NULL;
}

/* --- opening new partitions off the shard ---------------------------------------------------- */

struct preopen_group {
	int left;                       /* open jobs not back yet, plus one while they are queued */
	int err;                        /* the first open's failure, or 0 */
	int nfail;                      /* opens that failed (one log line for all but the first) */
	const struct dp_topic *t;
	void (*done)(struct dp_shard *s, void *arg, int err);
	void *arg;
};

struct open_job {
	struct stor_bg_job j;
	struct dp_shard *s;
	struct dp_part *x;              /* in the table with `opening` set: only this job touches it */
	const struct dp_topic *t;       /* registry topics live until exit (meta.h) */
	struct preopen_group *g;
	int err;
};

static void group_end(struct dp_shard *s, struct preopen_group *g)
{
	if (--g->left)
		return;
	if (g->nfail > 1)
		RT_ERROR("%d partitions of topic %s could not be opened in all (the first: %s)", g->nfail, g->t->name,
		         strerror(-g->err));
	g->done(s, g->arg, g->err);
	free(g);
}

/* On the worker: the same open as dp_parts_get's, blocking there instead of on the shard.
 * stor_log_open and the producer state's recovery touch no shard state and queue nothing on
 * the ring (the ring pointer is only kept for later). */
static void open_run(struct stor_bg_job *j)
{
	struct open_job *oj = rt_container_of(j, struct open_job, j);
	struct dp_part *x = oj->x;
	x->log = stor_log_open(oj->s->b->dir, oj->t->name, x->index, &oj->t->scfg, oj->t->id, &oj->s->ring,
	                       &oj->err);
	if (x->log)
		pstate_open(oj->s, x);
	j->res = x->log ? 0 : oj->err;
}

static void remove_entry(struct dp_parts *pt, struct dp_part *x)
{
	for (struct dp_part **pp = &pt->b[hash(x->topic_id, x->index)]; *pp; pp = &(*pp)->hnext)
		if (*pp == x) {
			*pp = x->hnext;
			pt->count--;
			return;
		}
}

static void open_done(struct stor_bg_job *j, int32_t res)
{
	struct open_job *oj = rt_container_of(j, struct open_job, j);
	struct dp_shard *s = oj->s;
	struct dp_part *x = oj->x;
	x->opening = false;
	if (!x->log) {
		/* Out of descriptors every later open fails alike: one line, and a count at the end. */
		if (!oj->g->nfail++)
			RT_ERROR("cannot open partition %s-%d: %s", x->topic, x->index, strerror(-res));
		if (!oj->g->err)
			oj->g->err = res < 0 ? res : -EIO;
		/* Gone from the table: the next request opens it on the shard and reports the error. */
		remove_entry(s->parts, x);
		part_free(x);
	} else {
		/* A config altered while the open was out is applied now. */
		const struct dp_topic *cur = dp_snap_find_id(dp_meta_snap(s->b->meta), x->topic_id);
		if (cur)
			stor_log_set_config(x->log, &cur->scfg);
	}
	group_end(s, oj->g);
	free(oj);
}

void dp_parts_preopen(struct dp_shard *s, const struct dp_topic *t,
                      void (*done)(struct dp_shard *s, void *arg, int err), void *arg)
{
	struct dp_parts *pt = s->parts;
	struct preopen_group *g = calloc(1, sizeof(*g));
	if (!g || !pt->bg) {
		/* No worker (or no memory): the partitions open on first use, as before. */
		free(g);
		done(s, arg, 0);
		return;
	}
	g->left = 1;
	g->t = t;
	g->done = done;
	g->arg = arg;
	for (int32_t index = 0; index < t->nparts; index++) {
		if (t->owner[index] != s->id)
			continue;
		if (find(pt, t->id, index))
			continue;
		struct dp_part *x = part_new(t, index);
		struct open_job *oj = calloc(1, sizeof(*oj));
		if (!x || !oj) {
			free(x);
			free(oj);
			break;
		}
		x->opening = true;
		insert(pt, x);
		oj->s = s;
		oj->x = x;
		oj->t = t;
		oj->g = g;
		g->left++;
		stor_bg_submit(pt->bg, &oj->j, open_run, open_done);
	}
	group_end(s, g);
}
