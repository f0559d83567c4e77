/*
 * dataplane/handlers/delete_records.c: DeleteRecords (key 21).  Each partition's owner advances
 * its log start offset (storage schedules the segments below it for deletion); -1 means the
 * high watermark, as in Kafka.  An offset above the high watermark is OFFSET_OUT_OF_RANGE.  A
 * topic whose cleanup.policy lacks delete (compact only) is POLICY_VIOLATION, as Kafka's
 * Partition.deleteRecordsOnLeader refuses it: compaction keeps the latest record of every key.
 */
#include "../parts.h"
#include "fanout.h"

struct dr_job {
	struct dp_fan_job j;
	struct kp_delete_records_resp_partition_result *out;
	const struct dp_topic *topic;
	int64_t offset;
};

static void run(struct dp_shard *s, struct dp_fan_job *fj)
{
	struct dr_job *j = (struct dr_job *)fj;
	int16_t kerr = 0;
	struct dp_part *part = dp_parts_get(s, j->topic, j->out->partition_index, &kerr);
	if (!part) {
		j->out->error_code = kerr;
		return;
	}
	if (!(j->topic->scfg.cleanup_policy & STOR_CLEANUP_DELETE)) {
		j->out->error_code = KP_ERR_POLICY_VIOLATION;
		return;
	}
	int64_t off = j->offset == -1 ? stor_log_high_watermark(part->log) : j->offset;
	int64_t low = -1;
	int rc = off < 0 ? -ERANGE : stor_log_delete_records(part->log, off, &low);
	if (rc) {
		j->out->error_code = stor_err_to_kafka(rc);
		if (!j->out->error_code)
			j->out->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
		return;
	}
	j->out->low_watermark = low;
}

struct dr_ctx {
	struct dp_fan fan;
	struct kp_delete_records_resp resp;
};

static void done(struct dp_fan *f)
{
	struct dr_ctx *c = (struct dr_ctx *)f;
	dp_req_respond(f->req, &c->resp);
}

void dp_h_delete_records(struct dp_req *req, void *msg)
{
	struct kp_delete_records_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct dr_ctx *c = dp_fan_start(req, sizeof(*c), done);
	if (!c)
		return;
	kp_delete_records_resp_init(&c->resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	DP_ARRAY(req, c->resp.topics, m->topics.n);
	for (int32_t i = 0; i < c->resp.topics.n; i++) {
		struct kp_delete_records_req_topic *q = &m->topics.items[i];
		struct kp_delete_records_resp_topic_result *rt = &c->resp.topics.items[i];
		const struct dp_topic *t = dp_topic_by_str(snap, q->name);
		rt->name = q->name;
		DP_ARRAY(req, rt->partitions, q->partitions.n);
		for (int32_t k = 0; k < rt->partitions.n; k++) {
			struct kp_delete_records_resp_partition_result *o = &rt->partitions.items[k];
			o->partition_index = q->partitions.items[k].partition_index;
			o->low_watermark = -1;
			struct dr_job *j = dp_fan_job_new(&c->fan, t, o->partition_index, sizeof(*j), run,
							  &o->error_code);
			if (!j)
				continue;
			j->out = o;
			j->topic = t;
			j->offset = q->partitions.items[k].offset;
			dp_fan_post(&c->fan, &j->j, t->owner[o->partition_index]);
		}
	}
	dp_fan_end(&c->fan);
}
