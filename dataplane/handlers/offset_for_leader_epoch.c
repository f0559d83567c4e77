/*
 * dataplane/handlers/offset_for_leader_epoch.c: OffsetForLeaderEpoch (key 23).  A single broker
 * has had one leader epoch per partition (stor_log_leader_epoch): asked for that epoch or an
 * earlier one, the answer is the log end offset with the current epoch; a later epoch, or the
 * undefined epoch -1, is answered with epoch -1 and offset -1 (Kafka's UNDEFINED, as
 * LeaderEpochFileCache.endOffsetFor answers both).  current_leader_epoch is checked as
 * Kafka does: newer than ours is UNKNOWN_LEADER_EPOCH, older is FENCED_LEADER_EPOCH.
 */
#include "../parts.h"
#include "fanout.h"

struct ole_job {
	struct dp_fan_job j;
	struct kp_offset_for_leader_epoch_resp_epoch_end_offset *out;
	const struct dp_topic *topic;
	int32_t current, wanted;
};

static void run(struct dp_shard *s, struct dp_fan_job *fj)
{
	struct ole_job *j = (struct ole_job *)fj;
	struct kp_offset_for_leader_epoch_resp_epoch_end_offset *o = j->out;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, o->partition, &kerr);
	if (!part) {
		o->error_code = kerr;
		return;
	}
	int32_t epoch = stor_log_leader_epoch(part->log);
	if (epoch < 0)
		epoch = 0;
	if (j->current >= 0 && j->current > epoch) {
		o->error_code = KP_ERR_UNKNOWN_LEADER_EPOCH;
		return;
	}
	if (j->current >= 0 && j->current < epoch) {
		o->error_code = KP_ERR_FENCED_LEADER_EPOCH;
		return;
	}
	if (j->wanted < 0 || j->wanted > epoch) {
		o->leader_epoch = -1;
		o->end_offset = -1;
		return;
	}
	o->leader_epoch = epoch;
	o->end_offset = stor_log_end_offset(part->log);
}

struct ole_ctx {
	struct dp_fan fan;
	struct kp_offset_for_leader_epoch_resp resp;
};

static void done(struct dp_fan *f)
{
	struct ole_ctx *c = (struct ole_ctx *)f;
	dp_req_respond(f->req, &c->resp);
}

void dp_h_offset_for_leader_epoch(struct dp_req *req, void *msg)
{
	struct kp_offset_for_leader_epoch_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct ole_ctx *c = dp_fan_start(req, sizeof(*c), done);
	if (!c)
		return;
	kp_offset_for_leader_epoch_resp_init(&c->resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	DP_ARRAY(req, c->resp.topics, m->topics.n);
	for (int32_t i = 0; i < c->resp.topics.n; i++) {
		struct kp_offset_for_leader_epoch_req_offset_for_leader_topic *q = &m->topics.items[i];
		struct kp_offset_for_leader_epoch_resp_offset_for_leader_topic_result *rt = &c->resp.topics.items[i];
		const struct dp_topic *t = dp_topic_by_str(snap, q->topic);
		rt->topic = q->topic;
		DP_ARRAY(req, rt->partitions, q->partitions.n);
		for (int32_t k = 0; k < rt->partitions.n; k++) {
			struct kp_offset_for_leader_epoch_resp_epoch_end_offset *o = &rt->partitions.items[k];
			o->partition = q->partitions.items[k].partition;
			o->leader_epoch = -1;
			o->end_offset = -1;
			struct ole_job *j = dp_fan_job_new(&c->fan, t, o->partition, sizeof(*j), run,
							   &o->error_code);
			if (!j)
				continue;
			j->out = o;
			j->topic = t;
			j->current = q->partitions.items[k].current_leader_epoch;
			j->wanted = q->partitions.items[k].leader_epoch;
			dp_fan_post(&c->fan, &j->j, t->owner[o->partition]);
		}
	}
	dp_fan_end(&c->fan);
}
