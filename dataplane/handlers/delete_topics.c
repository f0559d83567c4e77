/*
 * dataplane/handlers/delete_topics.c: DeleteTopics (key 20), by name (v1-5, and v6+) or by
 * topic id (v6+).  The topic leaves the registry first (persisted), then every shard drops its
 * partitions of that topic id: the logs are deleted once no read pins them.
 */
#include "../parts.h"
#include "handlers.h"
#include "offload.h"

/* The key dup_names compares for request entry i: a name (type 0), or a topic id alone (type 1,
 * its 16 bytes); an entry with neither or both is no key (type -1), it is refused on its own. */
static struct dp_dup_name dt_key(const struct kp_delete_topics_req *m, bool v6, int32_t i)
{
	if (!v6)
		return (struct dp_dup_name){ 0, m->topic_names.items[i], i };
	const struct kp_delete_topics_req_delete_topic_state *q = &m->topics.items[i];
	bool zero = dp_uuid_zero(q->topic_id);
	if (q->name.len >= 0 && zero)
		return (struct dp_dup_name){ 0, q->name, i };
	if (q->name.len < 0 && !zero)
		return (struct dp_dup_name){ 1, { (const char *)q->topic_id, 16 }, i };
	return (struct dp_dup_name){ -1, { NULL, -1 }, i };
}

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
	n = resp->responses.n;
	/* A name (or id) given more than once is answered once, INVALID_REQUEST, and none of its
	 * copies deletes: Kafka's ControllerApis.deleteTopics (duplicateProvidedNames/Ids). */
	struct dp_dup_name *keys = dp_req_array(req, n, sizeof(*keys));
	bool *first = dp_req_array(req, n, sizeof(*first));
	int32_t nkeys = 0;
	for (int32_t i = 0; keys && i < n; i++) {
		struct dp_dup_name k = dt_key(m, v6, i);
		if (k.type >= 0)
			keys[nkeys++] = k;
	}
	bool *dup = keys && first ? dp_req_array(req, n, sizeof(*dup)) : NULL;
	if (dup)
		dp_dup_names_mark_first(keys, nkeys, dup, first);
	int32_t j = 0;   /* results written: a duplicate's later copies have none */
	for (int32_t i = 0; i < n; i++) {
		if (dup && dup[i] && !first[i])
			continue;
		struct kp_delete_topics_resp_deletable_topic_result *o = &resp->responses.items[j++];
		const struct dp_snap *s = dp_meta_snap(b->meta);
		const struct dp_topic *t;
		o->error_message = (struct kp_str){ NULL, -1 };
		if (!dup || dup[i]) {
			struct dp_dup_name k = dt_key(m, v6, i);
			o->name = k.type == 1 ? (struct kp_str){ NULL, -1 } : k.name;
			memset(o->topic_id, 0, 16);
			if (k.type == 1)
				memcpy(o->topic_id, m->topics.items[i].topic_id, 16);
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str(!dup ? "The request's topics do not fit in the broker's per-request memory"
			                          : k.type == 1 ? "Duplicate topic id." : "Duplicate topic name.");
			continue;
		}
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
	resp->responses.n = j;
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
