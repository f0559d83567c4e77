/*
 * dataplane/handlers/alter_configs.c: AlterConfigs (key 33) and IncrementalAlterConfigs
 * (key 44) for topics: the new overrides are validated and persisted in the registry on the
 * shard's file worker (offload.h: the registry write blocks), then applied to the open logs on
 * every shard before the answer.  Broker configs are static here: altering one is
 * INVALID_REQUEST, as Kafka answers for keys that cannot change dynamically.
 */
#include <stdlib.h>

#include "../parts.h"
#include "handlers.h"
#include "offload.h"

#define RES_TOPIC 2
#define RES_BROKER 4

static void reconf_run(struct dp_shard *s, void *arg)
{
	dp_parts_reconfigure(s, arg);
}

/* On the file worker (offload.h): validates and writes one resource's configs to the registry. */
static int16_t alter_one(struct dp_req *req, int8_t type, struct kp_str name, struct dp_kv *kv, const int8_t *ops,
                         int n, bool incremental, bool validate_only, const char **why)
{
	struct dp_broker *b = dp_req_broker(req);
	if (type == RES_BROKER) {
		*why = "Broker configs cannot be updated dynamically";
		return KP_ERR_INVALID_REQUEST;
	}
	if (type != RES_TOPIC) {
		*why = "Unsupported resource type";
		return KP_ERR_INVALID_REQUEST;
	}
	if (name.len <= 0) {
		*why = "Topic does not exist";
		return KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	}
	return dp_meta_alter_configs(b->meta, name.ptr, (size_t)name.len, kv, ops, n, incremental, validate_only, why);
}

/* Back on the connection's shard: every shard applies the new configs of the topics altered
 * (resources answered without error) to its open logs, before the answer goes out. */
static void reconfigure(struct dp_req *req, int8_t type, struct kp_str name, int16_t error_code)
{
	struct dp_broker *b = dp_req_broker(req);
	if (type != RES_TOPIC || error_code)
		return;
	const struct dp_topic *t = dp_topic_by_str(dp_meta_snap(b->meta), name);
	if (t)
		for (int i = 0; i < b->nshards; i++)
			dp_shard_post(req->s, i, reconf_run, (void *)t);
}

static void ac_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_alter_configs_req *m = off->msg;
	struct kp_alter_configs_resp *resp = off->resp;
	kp_alter_configs_resp_init(resp);
	DP_ARRAY(req, resp->responses, m->resources.n);
	for (int32_t i = 0; i < resp->responses.n; i++) {
		struct kp_alter_configs_req_resource *q = &m->resources.items[i];
		struct kp_alter_configs_resp_resource *o = &resp->responses.items[i];
		o->resource_type = q->resource_type;
		o->resource_name = q->resource_name;
		o->error_message = (struct kp_str){ NULL, -1 };
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		for (int32_t k = 0; k < q->configs.n && kv; k++) {
			kv[k].key = dp_req_cstr(req, q->configs.items[k].name);
			kv[k].value = q->configs.items[k].value.len < 0 ? NULL : dp_req_cstr(req, q->configs.items[k].value);
		}
		const char *why = NULL;
		o->error_code = alter_one(req, q->resource_type, q->resource_name, kv, NULL, kv ? q->configs.n : 0, false,
		                          m->validate_only, &why);
		if (o->error_code && why)
			o->error_message = dp_str(why);
	}
}

static void ac_back(struct dp_off *off)
{
	struct kp_alter_configs_req *m = off->msg;
	struct kp_alter_configs_resp *resp = off->resp;
	for (int32_t i = 0; i < resp->responses.n && !m->validate_only; i++)
		reconfigure(off->req, resp->responses.items[i].resource_type,
		            resp->responses.items[i].resource_name, resp->responses.items[i].error_code);
}

void dp_h_alter_configs(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_alter_configs_resp), ac_run, ac_back);
}

static void iac_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_incremental_alter_configs_req *m = off->msg;
	struct kp_incremental_alter_configs_resp *resp = off->resp;
	kp_incremental_alter_configs_resp_init(resp);
	DP_ARRAY(req, resp->responses, m->resources.n);
	for (int32_t i = 0; i < resp->responses.n; i++) {
		struct kp_incremental_alter_configs_req_alter_configs_resource *q = &m->resources.items[i];
		struct kp_incremental_alter_configs_resp_alter_configs_resource *o = &resp->responses.items[i];
		o->resource_type = q->resource_type;
		o->resource_name = q->resource_name;
		o->error_message = (struct kp_str){ NULL, -1 };
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		int8_t *ops = dp_req_array(req, q->configs.n, sizeof(*ops));
		for (int32_t k = 0; k < q->configs.n && kv && ops; k++) {
			kv[k].key = dp_req_cstr(req, q->configs.items[k].name);
			kv[k].value = q->configs.items[k].value.len < 0 ? NULL : dp_req_cstr(req, q->configs.items[k].value);
			ops[k] = q->configs.items[k].config_operation;
		}
		const char *why = NULL;
		o->error_code = alter_one(req, q->resource_type, q->resource_name, kv, ops, kv && ops ? q->configs.n : 0,
		                          true, m->validate_only, &why);
		if (o->error_code && why)
			o->error_message = dp_str(why);
	}
}

static void iac_back(struct dp_off *off)
{
	struct kp_incremental_alter_configs_req *m = off->msg;
	struct kp_incremental_alter_configs_resp *resp = off->resp;
	for (int32_t i = 0; i < resp->responses.n && !m->validate_only; i++)
		reconfigure(off->req, resp->responses.items[i].resource_type,
		            resp->responses.items[i].resource_name, resp->responses.items[i].error_code);
}

void dp_h_incremental_alter_configs(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_incremental_alter_configs_resp), iac_run, iac_back);
}
