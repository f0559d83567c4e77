/*
 * dataplane/handlers/delete_topics.c: DeleteTopics (key 20), by name (v1-5, and v6+) or by
 * topic id (v6+).  The topic leaves the registry first (persisted), then every shard drops its
 * partitions of that topic id: the logs are deleted once no read pins them.
 */
#include "../parts.h"
#include "handlers.h"
#include "offload.h"

/* On the shard's file worker: the registry write blocks (offload.h). */
static void dt_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_delete_topics_req *m = off->msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_delete_topics_resp *resp = off->resp;
	kp_delete_topics_resp_init(resp);
	bool v6 = req->api_version >= 6;
	int32_t n = v6 ? m->topics.n : m->topic_names.n;
	DP_ARRAY(req, resp->responses, n);
	for (int32_t i = 0; i < resp->responses.n; i++) {
		struct kp_delete_topics_resp_deletable_topic_result *o = &resp->responses.items[i];
		const struct dp_snap *s = dp_meta_snap(b->meta);
		const struct dp_topic *t;
		o->error_message = (struct kp_str){ NULL, -1 };
		if (v6) {
			struct kp_delete_topics_req_delete_topic_state *q = &m->topics.items[i];
			o->name = q->name;
			memcpy(o->topic_id, q->topic_id, 16);
			if (q->name.len >= 0 && !dp_uuid_zero(q->topic_id)) {
				o->error_code = KP_ERR_INVALID_REQUEST;
				o->error_message = dp_str("Either a topic name or a topic id, not both");
				continue;
			}
			t = q->name.len >= 0 ? dp_topic_by_str(s, q->name) : dp_snap_find_id(s, q->topic_id);
			if (!t) {
				o->error_code = q->name.len >= 0 ? KP_ERR_UNKNOWN_TOPIC_OR_PARTITION : KP_ERR_UNKNOWN_TOPIC_ID;
				continue;
			}
			o->name = dp_str(t->name);
		} else {
			o->name = m->topic_names.items[i];
			t = dp_topic_by_str(s, o->name);
			if (!t) {
				o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
		}
		memcpy(o->topic_id, t->id, 16);
		o->error_code = dp_meta_delete(b->meta, t);
	}
}

/* Every result without an error is a topic the registry dropped: the shards follow.  The
 * registry is persisted first, so a crash never brings back a topic whose files were already
 * being removed. */
static void dt_back(struct dp_off *off)
{
	struct kp_delete_topics_resp *resp = off->resp;
	for (int32_t i = 0; i < resp->responses.n; i++)
		if (!resp->responses.items[i].error_code)
			dp_parts_drop_everywhere(off->req->s, resp->responses.items[i].topic_id, 0);
}

void dp_h_delete_topics(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_delete_topics_resp), dt_run, dt_back);
}
