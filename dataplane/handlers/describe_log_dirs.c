/*
 * dataplane/handlers/describe_log_dirs.c: DescribeLogDirs (key 35): the one log directory with
 * the size of every requested partition (all of them when topics is null), read by the owner
 * shards, and the file system's total and usable bytes (v4+).
 */
#include <sys/statvfs.h>

#include "../parts.h"
#include "fanout.h"

struct ld_job {
	struct dp_fan_job j;
	struct kp_describe_log_dirs_resp_partition *out;
	const struct dp_topic *topic;
	bool missing;
};

static void run(struct dp_shard *s, struct dp_fan_job *fj)
{
	struct ld_job *j = (struct ld_job *)fj;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->out->partition_index, &kerr);
	if (!part) {
		j->missing = true;
		return;
	}
	j->out->partition_size = (int64_t)stor_log_size(part->log);
	j->out->offset_lag = 0;
}

struct ld_ctx {
	struct dp_fan fan;
	struct kp_describe_log_dirs_resp resp;
	struct ld_job **jobs;
	int njobs;
};

static void done(struct dp_fan *f)
{
	struct ld_ctx *c = (struct ld_ctx *)f;
	dp_req_respond(f->req, &c->resp);
}

void dp_h_describe_log_dirs(struct dp_req *req, void *msg)
{
	struct kp_describe_log_dirs_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct ld_ctx *c = dp_fan_start(req, sizeof(*c), done);
	if (!c)
		return;
	kp_describe_log_dirs_resp_init(&c->resp);
	DP_ARRAY(req, c->resp.results, 1);
	if (!c->resp.results.n) {
		dp_fan_end(&c->fan);
		return;
	}
	struct kp_describe_log_dirs_resp_result *r = &c->resp.results.items[0];
	r->log_dir = dp_str(b->cfg.log_dirs);
	r->total_bytes = -1;
	r->usable_bytes = -1;
	struct statvfs sv;
	if (!statvfs(b->cfg.log_dirs, &sv)) {
		r->total_bytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
		r->usable_bytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
	}
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	int nt = m->topics.n < 0 ? snap->n : m->topics.n;
	DP_ARRAY(req, r->topics, nt);
	int kept = 0;
	for (int i = 0; i < r->topics.n; i++) {
		const struct dp_topic *t;
		struct kp_describe_log_dirs_req_describable_log_dir_topic *q = m->topics.n < 0 ? NULL : &m->topics.items[i];
		t = q ? dp_topic_by_str(snap, q->topic) : snap->t[i];
		if (!t)
			continue;          /* Kafka leaves out what this directory does not hold */
		struct kp_describe_log_dirs_resp_topic *rt = &r->topics.items[kept++];
		rt->name = dp_str(t->name);
		int np = q ? q->partitions.n : t->nparts;
		DP_ARRAY(req, rt->partitions, np);
		int kp = 0;
		for (int k = 0; k < rt->partitions.n; k++) {
			int32_t p = q ? q->partitions.items[k] : k;
			if (p < 0 || p >= t->nparts)
				continue;
			struct kp_describe_log_dirs_resp_partition *o = &rt->partitions.items[kp++];
			o->partition_index = p;
			struct ld_job *j = rt_arena_alloc(&req->arena, sizeof(*j));
			if (!j)
				continue;
			j->j.run = run;
			j->out = o;
			j->topic = t;
			dp_fan_post(&c->fan, &j->j, t->owner[p]);
		}
		rt->partitions.n = kp;
	}
	r->topics.n = kept;
	dp_fan_end(&c->fan);
}
