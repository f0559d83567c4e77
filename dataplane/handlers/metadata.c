/*
 * dataplane/handlers/metadata.c: Metadata (key 3).  The broker (or, in shard-aware mode, one
 * node per shard), the cluster id, and the requested topics with topic ids and partition
 * leaders.  Unknown topics are created when auto.create.topics.enable and the request allow it,
 * as Kafka does.  Such a request is answered from the shard's file worker (offload.h: the
 * registry write blocks), after the owners have opened the new partitions, so the new topic is
 * answered as existing rather than with LEADER_NOT_AVAILABLE.  Requests that create nothing are
 * answered on the shard at once.
 */
#include <stdio.h>

#include "handlers.h"
#include "offload.h"

static void fill_topic(struct dp_req *req, struct kp_metadata_resp_topic *rt, const struct dp_topic *t)
{
	struct dp_broker *b = dp_req_broker(req);
	rt->error_code = 0;
	rt->name = dp_str(t->name);
	memcpy(rt->topic_id, t->id, 16);
	rt->is_internal = t->internal;
	rt->topic_authorized_operations = INT32_MIN;
	DP_ARRAY(req, rt->partitions, t->nparts);
	for (int32_t p = 0; p < rt->partitions.n; p++) {
		struct kp_metadata_resp_partition *rp = &rt->partitions.items[p];
		int32_t leader = dp_leader_node(b, t, p);
		rp->error_code = 0;
		rp->partition_index = p;
		rp->leader_id = leader;
		rp->leader_epoch = 0;
		DP_ARRAY(req, rp->replica_nodes, 1);
		DP_ARRAY(req, rp->isr_nodes, 1);
		if (rp->replica_nodes.n)
			rp->replica_nodes.items[0] = leader;
		if (rp->isr_nodes.n)
			rp->isr_nodes.items[0] = leader;
		rp->offline_replicas.n = 0;
	}
}

/* Whether the request names an unknown topic that Metadata would create (auto.create.topics). */
static bool wants_create(struct dp_req *req, const struct kp_metadata_req *m, const struct dp_snap *s)
{
	struct dp_broker *b = dp_req_broker(req);
	if (!b->cfg.auto_create_topics || (req->api_version >= 4 && !m->allow_auto_topic_creation) ||
	    m->topics.n < 0)
		return false;
	for (int32_t i = 0; i < m->topics.n; i++) {
		const struct kp_metadata_req_topic *q = &m->topics.items[i];
		const char *why;
		if (q->name.len >= 0 && !dp_topic_by_str(s, q->name) &&
		    !dp_topic_name_check(q->name.ptr, (size_t)q->name.len, &why))
			return true;
	}
	return false;
}

/* Builds the answer.  off is NULL on the connection's shard (wants_create was false: nothing
 * to create), or the file worker's job, which creates the unknown topics (the registry write
 * blocks) and lists them in off->open so that their partitions are open before the answer. */
static void md_fill(struct dp_req *req, struct kp_metadata_req *m, struct kp_metadata_resp *resp,
                    struct dp_off *off)
{
	struct dp_broker *b = dp_req_broker(req);
	kp_metadata_resp_init(resp);

	int nb = b->cfg.advertise_shards ? 1 + b->nshards : 1;
	DP_ARRAY(req, resp->brokers, nb);
	for (int i = 0; i < resp->brokers.n; i++) {
		struct kp_metadata_resp_broker *br = &resp->brokers.items[i];
		br->host = dp_str(b->cfg.adv_host);
		br->rack = (struct kp_str){ NULL, -1 };
		if (i == 0) {
			br->node_id = b->cfg.node_id;
			br->port = b->cfg.adv_port;
		} else {
			br->node_id = b->cfg.node_id * 1000 + i;
			br->port = b->cfg.adv_port + i;
		}
	}
	resp->cluster_id = dp_str(b->meta->cluster_id);
	resp->controller_id = b->cfg.node_id;
	resp->cluster_authorized_operations = INT32_MIN;

	const struct dp_snap *s = dp_meta_snap(b->meta);
	if (m->topics.n < 0 || (req->api_version == 0 && m->topics.n == 0)) {
		/* null (or an empty list in v0): every topic */
		DP_ARRAY(req, resp->topics, s->n);
		for (int i = 0; i < resp->topics.n; i++)
			fill_topic(req, &resp->topics.items[i], s->t[i]);
		return;
	}
	DP_ARRAY(req, resp->topics, m->topics.n);
	if (off) {
		off->open = dp_req_array(req, resp->topics.n, sizeof(*off->open));
		off->nopen = off->open ? resp->topics.n : 0;
	}
	for (int i = 0; i < resp->topics.n; i++) {
		struct kp_metadata_req_topic *q = &m->topics.items[i];
		struct kp_metadata_resp_topic *rt = &resp->topics.items[i];
		rt->topic_authorized_operations = INT32_MIN;
		const struct dp_topic *t = NULL;
		if (q->name.len < 0) {
			t = dp_snap_find_id(s, q->topic_id);
			if (!t) {
				rt->error_code = KP_ERR_UNKNOWN_TOPIC_ID;
				rt->name = (struct kp_str){ NULL, -1 };
				memcpy(rt->topic_id, q->topic_id, 16);
				continue;
			}
		} else {
			t = dp_topic_by_str(s, q->name);
		}
		if (!t && q->name.len >= 0) {
			rt->name = q->name;
			const char *why = NULL;
			int16_t e = dp_topic_name_check(q->name.ptr, (size_t)q->name.len, &why);
			if (e) {
				rt->error_code = e;
				continue;
			}
			if (!off) {   /* on the shard: wants_create found nothing to create */
				rt->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			e = dp_meta_create(b->meta, q->name.ptr, (size_t)q->name.len, -1, -1, NULL, 0, NULL, false, &why, &t);
			if (e == KP_ERR_TOPIC_ALREADY_EXISTS) {
				/* Another connection created it meanwhile. */
				s = dp_meta_snap(b->meta);
				t = dp_topic_by_str(s, q->name);
				e = t ? 0 : KP_ERR_LEADER_NOT_AVAILABLE;
			} else if (!e && off->open) {
				off->open[i] = t;
			}
			if (e) {
				rt->error_code = e;
				continue;
			}
		}
		fill_topic(req, rt, t);
	}
}

/* On the connection's shard: topic i was created but a partition of it could not be opened: it
 * is answered as absent, with the error (and undone, offload.h), as a CreateTopics would be. */
static void md_open_failed(struct dp_off *off, int32_t i, int err)
{
	struct kp_metadata_resp *resp = off->resp;
	struct kp_metadata_resp_topic *rt = &resp->topics.items[i];
	struct kp_str why;
	rt->error_code = dp_off_open_error(off, err, "the topic was not created", &why);
	memset(rt->topic_id, 0, 16);
	rt->is_internal = false;
	rt->partitions.n = 0;
}

static void md_run(struct dp_off *off)
{
	off->open_failed = md_open_failed;
	md_fill(off->req, off->msg, off->resp, off);
}

void dp_h_metadata(struct dp_req *req, void *msg)
{
	struct kp_metadata_req *m = msg;
	if (wants_create(req, m, dp_meta_snap(dp_req_broker(req)->meta))) {
		/* The new topics are written to the registry on the shard's file worker (offload.h)
		 * and their partitions opened by their owners before the answer. */
		dp_off_answer(req, msg, sizeof(struct kp_metadata_resp), md_run, NULL);
		return;
	}
	struct kp_metadata_resp resp;
	md_fill(req, m, &resp, NULL);
	dp_req_respond(req, &resp);
}
