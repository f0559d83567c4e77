/*
 * dataplane/handlers/create_topics.c: CreateTopics (key 19).  Each topic is checked and created
 * in the registry (meta.c), which persists it on the shard's file worker (offload.h); the owner
 * shards open the new partitions before the answer.  Replication factors above 1 are
 * INVALID_REPLICATION_FACTOR until clusters exist; a manual assignment names this broker or, in
 * shard-aware mode, the node of the shard that is to own the partition.  The owners config
 * (owners.h) names the owner shards too; it is not stored as an override but as the topic's
 * owners, which DescribeConfigs shows under the same key.  From v5 the answer lists every config
 * of a created topic in effect, with its source, sorted by name, as Kafka's does.  A topic some of whose
 * partitions cannot be opened (out of file descriptors, a failing disk) is answered with the
 * error and undone: out of the registry, what was opened of it deleted (offload.h), so the
 * broker is left as before the request and the topic can be created again later.
 */
#include <stdlib.h>

#include "../configs.h"
#include "../owners.h"
#include "handlers.h"
#include "offload.h"

static void ct_replicas(const void *list, int32_t k, int32_t *partition, const int32_t **ids, int32_t *nids)
{
	const struct kp_create_topics_req_creatable_replica_assignment *as =
		&((const struct kp_create_topics_req_creatable_topic *)list)->assignments.items[k];
	*partition = as->partition_index;
	*ids = as->broker_ids.items;
	*nids = as->broker_ids.n;
}

/* Topic q's replica assignments (dp_owners_assign: partition indexes 0 .. n-1, each once, each
 * naming this broker or a shard's node).  Returns 0 with *owners (request arena, one entry per
 * partition: the shard, or -1 where the registry picks one) or INVALID_REPLICA_ASSIGNMENT with
 * *msg (Kafka's words where Kafka has them). */
static int16_t ct_assignments(struct dp_req *req, const struct kp_create_topics_req_creatable_topic *q,
                              int16_t **owners, struct kp_str *msg)
{
	struct dp_owners_nodes nodes = dp_assign_nodes(dp_req_broker(req));
	int16_t *own = dp_req_array(req, q->assignments.n, sizeof(*own));
	if (!own) {
		*msg = dp_str("The request's assignments do not fit in the broker's per-request memory");
		return KP_ERR_INVALID_REQUEST;
	}
	char text[200];
	int16_t e = dp_owners_assign(&nodes, q, q->assignments.n, ct_replicas, false, own, text, sizeof(text));
	if (e) {
		*msg = dp_req_msg(req, "%s", text);
		return e;
	}
	*owners = own;
	return 0;
}

/* Merges the owners config (value, for nparts partitions) into *owners (NULL or the
 * assignments' shards, -1 where none): each partition's shard may be named by both only when
 * they agree.  Returns 0 with *owners set, or the error with *msg. */
static int16_t ct_owners_config(struct dp_req *req, const char *value, int32_t nparts, int16_t **owners,
                                struct kp_str *msg)
{
	struct dp_broker *b = dp_req_broker(req);
	if (!value) {
		*msg = dp_str("Null value not supported for topic configs");
		return KP_ERR_INVALID_CONFIG;
	}
	int16_t *conf = dp_req_array(req, nparts, sizeof(*conf));
	if (!conf) {
		*msg = dp_str("The request's configs do not fit in the broker's per-request memory");
		return KP_ERR_INVALID_REQUEST;
	}
	char text[300];
	int16_t e = dp_owners_parse(value, nparts, b->nshards, conf, text, sizeof(text));
	if (e) {
		*msg = dp_req_msg(req, "%s", text);
		return e;
	}
	for (int32_t p = 0; *owners && p < nparts; p++) {
		if ((*owners)[p] >= 0 && (*owners)[p] != conf[p]) {
			*msg = dp_req_msg(req, "The manual partition assignment puts partition %d on shard %d (node %d), but "
			                  DP_OWNERS_KEY " names shard %d", p, (*owners)[p],
			                  b->cfg.node_id * 1000 + 1 + (*owners)[p], conf[p]);
			return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
		}
	}
	*owners = conf;
	return 0;
}

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

static int cfg_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct dp_cfgval *const *)a)->name, (*(const struct dp_cfgval *const *)b)->name);
}

/* A created topic's configs in the answer (v5+) as Kafka's ReplicationControlManager lists them:
 * every config in effect (DescribeConfigs' values and sources, configs.h), sorted by name. */
static void ct_all_configs(struct dp_req *req, const struct dp_topic *t,
                           struct kp_create_topics_resp_creatable_topic_result *o)
{
	struct dp_broker *b = dp_req_broker(req);
	struct dp_cfgval *vals = dp_req_array(req, DP_CFG_MAX, sizeof(*vals));
	const struct dp_cfgval **order = dp_req_array(req, DP_CFG_MAX, sizeof(*order));
	int n = vals && order ? dp_configs_topic(b, dp_meta_snap(b->meta), t, vals) : 0;
	for (int k = 0; k < n; k++)
		order[k] = &vals[k];     /* sorted by pointer: a value may point into its own entry */
	if (n > 1)
		qsort(order, (size_t)n, sizeof(*order), cfg_cmp);
	DP_ARRAY(req, o->configs, n);
	for (int k = 0; k < o->configs.n; k++) {
		struct kp_create_topics_resp_creatable_topic_configs *c = &o->configs.items[k];
		c->name = dp_str(order[k]->name);
		c->value = dp_str(order[k]->value);
		c->read_only = order[k]->read_only;
		c->config_source = order[k]->source;
		c->is_sensitive = false;
		if (c->value.len > INT16_MAX)  /* a Kafka string's limit: see describe_configs.c */
			c->value = (struct kp_str){ NULL, -1 };
	}
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
	/* Kafka rejects a name listed twice in one request at every occurrence. */
	struct dp_dup_name *keys = dp_req_array(req, resp->topics.n, sizeof(*keys));
	for (int32_t i = 0; keys && i < resp->topics.n; i++)
		keys[i] = (struct dp_dup_name){ 0, m->topics.items[i].name, i };
	bool *dup = dp_req_dup_marks(req, keys, resp->topics.n, resp->topics.n);
	for (int32_t i = 0; i < resp->topics.n; i++) {
		struct kp_create_topics_req_creatable_topic *q = &m->topics.items[i];
		struct kp_create_topics_resp_creatable_topic_result *o = &resp->topics.items[i];
		o->name = q->name;
		o->error_message = (struct kp_str){ NULL, -1 };
		o->num_partitions = -1;
		o->replication_factor = -1;
		o->configs.n = -1;
		if (!dup || dup[i]) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str(dup ? "Duplicate topic name in the request"
			                              : "The request's topics do not fit in the broker's per-request memory");
			continue;
		}
		int32_t nparts = q->num_partitions;
		int16_t rf = q->replication_factor;
		int16_t *owners = NULL;   /* owner shard per partition, -1 spread; NULL none named */
		if (q->assignments.n > 0) {
			if (nparts != -1 || rf != -1) {
				o->error_code = KP_ERR_INVALID_REQUEST;
				o->error_message = dp_str("Both numPartitions or replicationFactor and replicasAssignments were set");
				continue;
			}
			o->error_code = ct_assignments(req, q, &owners, &o->error_message);
			if (o->error_code)
				continue;
			nparts = q->assignments.n;
			rf = 1;
		}
		int32_t total = nparts == -1 ? b->cfg.num_partitions : nparts;
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		int nkv = 0;
		const char *owners_value = NULL;
		for (int32_t k = 0; k < q->configs.n && !o->error_code; k++) {
			/* A full arena gives NULL copies (a null name never gets here: the codec refuses
			 * it, as Kafka's parser does, and the connection is closed); they are refused
			 * rather than passed on as a missing key or a null value, and so is a config
			 * array that did not fit, which would drop the configs silently. */
			const struct kp_str qv = q->configs.items[k].value;
			if (kv) {
				kv[nkv].key = dp_req_cstr(req, q->configs.items[k].name);
				kv[nkv].value = qv.len < 0 ? NULL : dp_req_cstr(req, qv);
			}
			if (!kv || !kv[nkv].key || (qv.len >= 0 && !kv[nkv].value)) {
				o->error_code = KP_ERR_INVALID_REQUEST;
				o->error_message = dp_str("The request's configs do not fit in the broker's per-request memory");
				break;
			}
			if (!strcmp(kv[nkv].key, DP_OWNERS_KEY)) {
				/* A count the registry refuses anyway is left to its INVALID_PARTITIONS. */
				if (total > 0 && total <= 100000)
					o->error_code = ct_owners_config(req, kv[nkv].value, total, &owners, &o->error_message);
				owners_value = kv[nkv].value;
				continue;
			}
			nkv++;
		}
		if (o->error_code)
			continue;
		const char *why = NULL;
		const struct dp_topic *t = NULL;
		o->error_code = dp_meta_create(b->meta, q->name.ptr ? q->name.ptr : "", q->name.len > 0 ? (size_t)q->name.len : 0,
		                               nparts, rf, kv, nkv, owners, m->validate_only, &why, &t);
		if (o->error_code) {
			o->error_message = why ? dp_str(why) : (struct kp_str){ NULL, -1 };
			int32_t want = rf == -1 ? b->cfg.default_replication_factor : rf;
			if (o->error_code == KP_ERR_INVALID_REPLICATION_FACTOR && want > 1)
				o->error_message = dp_req_msg(req, "Unable to replicate the partition %d time(s): The target "
				                              "replication factor of %d cannot be reached because only 1 "
				                              "broker(s) are registered.", want, want);
			continue;
		}
		o->num_partitions = nparts == -1 ? b->cfg.num_partitions : nparts;
		o->replication_factor = rf == -1 ? b->cfg.default_replication_factor : rf;
		if (t)
			memcpy(o->topic_id, t->id, 16);
		if (t && off->open)
			off->open[i] = t;
		if (req->api_version >= 5 && t) {
			ct_all_configs(req, t, o);
		} else if (req->api_version >= 5) {
			/* validate_only: no topic to describe; the explicit configs, and the owners as
			 * DescribeConfigs would show them. */
			int nc = t ? t->nconf : nkv;
			const char *shown = t ? t->owner_list : owners_value;
			DP_ARRAY(req, o->configs, nc + (shown ? 1 : 0));
			for (int k = 0; k < o->configs.n; k++) {
				struct kp_create_topics_resp_creatable_topic_configs *c = &o->configs.items[k];
				c->name = dp_str(k == nc ? DP_OWNERS_KEY : t ? t->conf[k].key : kv[k].key);
				c->value = dp_str(k == nc ? shown : t ? t->conf[k].value : kv[k].value);
				c->config_source = 1; /* DYNAMIC_TOPIC_CONFIG */
				c->read_only = k == nc;
				if (c->value.len > INT16_MAX)  /* a Kafka string's limit: see describe_configs.c */
					c->value = (struct kp_str){ NULL, -1 };
			}
		}
	}
}

void dp_h_create_topics(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_create_topics_resp), ct_run, NULL);
}
