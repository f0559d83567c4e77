/*
 * dataplane/handlers/create_topics.c: CreateTopics (key 19).  Each topic is checked and created
 * in the registry (meta.c), which persists it on the shard's file worker (offload.h); the owner
 * shards open the new partitions before the answer.  Replication factors above 1 are INVALID_REPLICATION_FACTOR until
 * clusters exist; a manual assignment may only name this broker.  A topic some of whose
 * partitions cannot be opened (out of file descriptors, a failing disk) is answered with the
 * error and undone: out of the registry, what was opened of it deleted (offload.h), so the
 * broker is left as before the request and the topic can be created again later.
 */
#include "handlers.h"
#include "offload.h"

/* On the connection's shard: topic i was created but a partition of it could not be opened. */
static void ct_open_failed(struct dp_off *off, int32_t i, int err)
{
	struct kp_create_topics_resp *resp = off->resp;
	struct kp_create_topics_resp_creatable_topic_result *o = &resp->topics.items[i];
	o->error_code = dp_off_open_error(off, err, "the topic was not created", &o->error_message);
	o->num_partitions = -1;
	o->replication_factor = -1;
	memset(o->topic_id, 0, 16);
	o->configs.n = -1;
}

/* On the shard's file worker: the registry write blocks (offload.h). */
static void ct_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_create_topics_req *m = off->msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_create_topics_resp *resp = off->resp;
	kp_create_topics_resp_init(resp);
	off->open_failed = ct_open_failed;
	DP_ARRAY(req, resp->topics, m->topics.n);
	/* per topic: created now (not validate_only), or NULL */
	off->open = dp_req_array(req, resp->topics.n, sizeof(*off->open));
	off->nopen = resp->topics.n;
	for (int32_t i = 0; i < resp->topics.n; i++) {
		struct kp_create_topics_req_creatable_topic *q = &m->topics.items[i];
		struct kp_create_topics_resp_creatable_topic_result *o = &resp->topics.items[i];
		o->name = q->name;
		o->error_message = (struct kp_str){ NULL, -1 };
		o->num_partitions = -1;
		o->replication_factor = -1;
		o->configs.n = -1;
		/* Kafka rejects a name listed twice in one request for every occurrence. */
		bool dup = false;
		for (int32_t k = 0; k < m->topics.n; k++)
			if (k != i && m->topics.items[k].name.len == q->name.len &&
			    !memcmp(m->topics.items[k].name.ptr, q->name.ptr, (size_t)(q->name.len > 0 ? q->name.len : 0)))
				dup = true;
		if (dup) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str("Duplicate topic name in the request");
			continue;
		}
		int32_t nparts = q->num_partitions;
		int16_t rf = q->replication_factor;
		if (q->assignments.n > 0) {
			if (nparts != -1 || rf != -1) {
				o->error_code = KP_ERR_INVALID_REQUEST;
				o->error_message = dp_str("Both numPartitions or replicationFactor and replicasAssignments were set");
				continue;
			}
			bool ok = true;
			for (int32_t k = 0; k < q->assignments.n; k++) {
				struct kp_create_topics_req_creatable_replica_assignment *as = &q->assignments.items[k];
				if (as->partition_index != k || as->broker_ids.n != 1 || as->broker_ids.items[0] != b->cfg.node_id)
					ok = false;
			}
			if (!ok) {
				o->error_code = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
				o->error_message = dp_str("Replica assignments may only name this broker, one replica per partition");
				continue;
			}
			nparts = q->assignments.n;
			rf = 1;
		}
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		int nkv = 0;
		for (int32_t k = 0; k < q->configs.n && kv; k++) {
			kv[nkv].key = dp_req_cstr(req, q->configs.items[k].name);
			kv[nkv].value = q->configs.items[k].value.len < 0 ? NULL : dp_req_cstr(req, q->configs.items[k].value);
			nkv++;
		}
		const char *why = NULL;
		const struct dp_topic *t = NULL;
		o->error_code = dp_meta_create(b->meta, q->name.ptr ? q->name.ptr : "", q->name.len > 0 ? (size_t)q->name.len : 0,
		                               nparts, rf, kv, nkv, m->validate_only, &why, &t);
		if (o->error_code) {
			o->error_message = why ? dp_str(why) : (struct kp_str){ NULL, -1 };
			continue;
		}
		o->num_partitions = nparts == -1 ? b->cfg.num_partitions : nparts;
		o->replication_factor = rf == -1 ? b->cfg.default_replication_factor : rf;
		if (t)
			memcpy(o->topic_id, t->id, 16);
		if (t && off->open)
			off->open[i] = t;
		if (req->api_version >= 5) {
			/* The topic's explicit configs (Kafka lists all; clients read what they set). */
			int nc = t ? t->nconf : nkv;
			DP_ARRAY(req, o->configs, nc);
			for (int k = 0; k < o->configs.n; k++) {
				struct kp_create_topics_resp_creatable_topic_configs *c = &o->configs.items[k];
				c->name = dp_str(t ? t->conf[k].key : kv[k].key);
				c->value = dp_str(t ? t->conf[k].value : kv[k].value);
				c->config_source = 1; /* DYNAMIC_TOPIC_CONFIG */
			}
		}
	}
}

void dp_h_create_topics(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_create_topics_resp), ct_run, NULL);
}
