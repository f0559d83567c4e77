/*
 * dataplane/handlers/alter_configs.c: AlterConfigs (key 33) and IncrementalAlterConfigs
 * (key 44) for topics and the broker: the new topic overrides or dynamic broker configs
 * (broker_configs.h) are validated and persisted on the shard's file worker (offload.h: the
 * registry write blocks); back on the connection's shard, every shard applies them to its open
 * logs (a broker change: every topic's), and the answer waits until all have: Kafka's answer
 * means the change is in effect, so a produce or fetch sent on any connection after it sees the
 * new values.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../broker_configs.h"
#include "../parts.h"
#include "handlers.h"
#include "offload.h"

#define RES_TOPIC 2
#define RES_BROKER 4

/* Kafka's words (ConfigAdminManager.preprocess) for a resource named twice; ours for a request
 * whose arena is full. */
#define DUP_MSG "Each resource must appear at most once."
#define NOMEM_MSG "The request's configs do not fit in the broker's per-request memory"

/* The topics altered by the request (not validate_only), collected on the file worker for
 * `reconfigure_back`, and one job per shard to apply them; in the request's arena, hung on
 * off->ctx. */
struct altered {
	const struct dp_topic **t;
	int32_t n;
	bool all;                       /* the dynamic broker configs changed: every topic */
	struct reconf_job {
		struct dp_fan_job j;
		struct altered *al;
	} *jobs;                        /* [nshards] */
};

/* On the file worker (offload.h): validates and writes one resource's configs to the registry;
 * a topic altered is added to the request's list.  kv (and ops) hold the n configs, or are NULL
 * when the request's arena could not hold them: that is an error, never an empty set (which
 * would clear a topic's overrides).  Returns the resource's error code, with *msg. */
static int16_t alter_one(struct dp_off *off, int8_t type, struct kp_str name, const struct dp_kv *kv,
                         const int8_t *ops, int32_t n, bool incremental, bool validate_only, struct kp_str *msg)
{
	struct dp_broker *b = dp_req_broker(off->req);
	const char *why = NULL;
	int16_t e = 0;
	bool whole = n <= 0 || (kv && (ops || !incremental));
	char bmsg[1024] = "";
	if (type == RES_BROKER && !whole) {
		why = NOMEM_MSG;
		e = KP_ERR_INVALID_REQUEST;
	} else if (type == RES_BROKER) {
		const char *rname = dp_req_cstr(off->req, name);
		int level = 0;
		e = rname ? dp_bcfg_resource(&b->cfg, b->nshards, rname, false, &level, bmsg, sizeof(bmsg))
		          : KP_ERR_UNKNOWN_SERVER_ERROR;
		if (!e)
			e = dp_meta_alter_broker(b->meta, level, kv, ops, n, incremental, validate_only, bmsg, sizeof(bmsg));
		why = e && bmsg[0] ? bmsg : NULL;
		if (!e && !validate_only && off->ctx)
			((struct altered *)off->ctx)->all = true;
	} else if (type != RES_TOPIC) {
		why = "Unsupported resource type";
		e = KP_ERR_INVALID_REQUEST;
	} else if (name.len <= 0) {
		why = "Topic does not exist";
		e = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	} else if (!whole) {
		why = NOMEM_MSG;
		e = KP_ERR_INVALID_REQUEST;
	} else {
		e = dp_meta_alter_configs(b->meta, name.ptr, (size_t)name.len, kv, ops, n, incremental, validate_only,
		                          &why);
	}
	/* In the request's arena: the registry's message may live in this worker thread's buffer. */
	const char *kept = e && why ? dp_req_cstr(off->req, dp_str(why)) : NULL;
	*msg = kept ? dp_str(kept) : (struct kp_str){ NULL, -1 };
	struct altered *al = off->ctx;
	const struct dp_topic *t =
		e || validate_only || !al || type != RES_TOPIC ? NULL : dp_topic_by_str(dp_meta_snap(b->meta), name);
	if (t)
		al->t[al->n++] = t;
	return e;
}

/* One config's name and value as C strings in the request's arena into *kv (value NULL: a null
 * value).  False when the arena is full. */
static bool config_kv(struct dp_req *req, struct kp_str name, struct kp_str value, struct dp_kv *kv)
{
	kv->key = dp_req_cstr(req, name);
	kv->value = value.len < 0 ? NULL : dp_req_cstr(req, value);
	return kv->key && (value.len < 0 || kv->value);
}

/* The list for a request of n resources in off->ctx; left NULL when the request's arena is
 * full (the open logs then keep their old configs until reopened from the registry). */
static void altered_init(struct dp_off *off, int32_t n)
{
	int nshards = dp_req_broker(off->req)->nshards;
	struct altered *al = dp_req_array(off->req, 1, sizeof(*al));
	if (al && n > 0 && (al->t = dp_req_array(off->req, n, sizeof(*al->t))) &&
	    (al->jobs = dp_req_array(off->req, nshards, sizeof(*al->jobs))))
		off->ctx = al;
}

/* On each shard: the altered topics' new configs on its open logs. */
static void reconf_run(struct dp_shard *s, struct dp_fan_job *fj)
{
	struct altered *al = rt_container_of(fj, struct reconf_job, j)->al;
	if (al->all) {
		/* The latest snapshot: it has every change, this request's and any later one's. */
		dp_parts_reconfigure_all(s, dp_meta_snap(s->b->meta));
		return;
	}
	for (int32_t i = 0; i < al->n; i++)
		dp_parts_reconfigure(s, al->t[i]);
}

/* Back on the connection's shard: every shard applies the new configs (offload.h: the answer
 * waits for the jobs on off->fan). */
static void reconfigure_back(struct dp_off *off)
{
	struct altered *al = off->ctx;
	if (!al || (!al->n && !al->all))
		return;
	for (int sh = 0; sh < dp_req_broker(off->req)->nshards; sh++) {
		al->jobs[sh].al = al;
		al->jobs[sh].j.run = reconf_run;
		dp_fan_post(&off->fan, &al->jobs[sh].j, sh);
	}
}

static void ac_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_alter_configs_req *m = off->msg;
	struct kp_alter_configs_resp *resp = off->resp;
	kp_alter_configs_resp_init(resp);
	DP_ARRAY(req, resp->responses, m->resources.n);
	altered_init(off, resp->responses.n);
	/* Kafka's ConfigAdminManager refuses every occurrence of a (type, name) given more than
	 * once, and alters the others. */
	struct dp_dup_name *keys = dp_req_array(req, resp->responses.n, sizeof(*keys));
	for (int32_t i = 0; keys && i < resp->responses.n; i++)
		keys[i] = (struct dp_dup_name){ m->resources.items[i].resource_type, m->resources.items[i].resource_name, i };
	bool *dup = dp_req_dup_marks(req, keys, resp->responses.n, resp->responses.n);
	for (int32_t i = 0; i < resp->responses.n; i++) {
		struct kp_alter_configs_req_resource *q = &m->resources.items[i];
		struct kp_alter_configs_resp_resource *o = &resp->responses.items[i];
		o->resource_type = q->resource_type;
		o->resource_name = q->resource_name;
		if (!dup || dup[i]) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str(dup ? DUP_MSG : NOMEM_MSG);
			continue;
		}
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		for (int32_t k = 0; kv && k < q->configs.n; k++)
			if (!config_kv(req, q->configs.items[k].name, q->configs.items[k].value, &kv[k]))
				kv = NULL;
		o->error_code = alter_one(off, q->resource_type, q->resource_name, kv, NULL, q->configs.n, false,
		                          m->validate_only, &o->error_message);
	}
}

void dp_h_alter_configs(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_alter_configs_resp), ac_run, reconfigure_back);
}

static void iac_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_incremental_alter_configs_req *m = off->msg;
	struct kp_incremental_alter_configs_resp *resp = off->resp;
	kp_incremental_alter_configs_resp_init(resp);
	DP_ARRAY(req, resp->responses, m->resources.n);
	altered_init(off, resp->responses.n);
	/* Kafka's ConfigAdminManager refuses every occurrence of a (type, name) given more than
	 * once, and alters the others. */
	struct dp_dup_name *keys = dp_req_array(req, resp->responses.n, sizeof(*keys));
	for (int32_t i = 0; keys && i < resp->responses.n; i++)
		keys[i] = (struct dp_dup_name){ m->resources.items[i].resource_type, m->resources.items[i].resource_name, i };
	bool *dup = dp_req_dup_marks(req, keys, resp->responses.n, resp->responses.n);
	for (int32_t i = 0; i < resp->responses.n; i++) {
		struct kp_incremental_alter_configs_req_alter_configs_resource *q = &m->resources.items[i];
		struct kp_incremental_alter_configs_resp_alter_configs_resource *o = &resp->responses.items[i];
		o->resource_type = q->resource_type;
		o->resource_name = q->resource_name;
		if (!dup || dup[i]) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str(dup ? DUP_MSG : NOMEM_MSG);
			continue;
		}
		struct dp_kv *kv = dp_req_array(req, q->configs.n, sizeof(*kv));
		int8_t *ops = dp_req_array(req, q->configs.n, sizeof(*ops));
		for (int32_t k = 0; kv && ops && k < q->configs.n; k++) {
			if (!config_kv(req, q->configs.items[k].name, q->configs.items[k].value, &kv[k]))
				kv = NULL;
			else
				ops[k] = q->configs.items[k].config_operation;
		}
		o->error_code = alter_one(off, q->resource_type, q->resource_name, kv, ops, q->configs.n, true,
		                          m->validate_only, &o->error_message);
	}
}

void dp_h_incremental_alter_configs(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_incremental_alter_configs_resp), iac_run, reconfigure_back);
}
