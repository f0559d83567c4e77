/*
 * dataplane/handlers/describe_configs.c: DescribeConfigs (key 32) for topics (resource type 2)
 * and the broker (type 4: its node id, or "" for the cluster-wide dynamic defaults), with
 * Kafka's names, current values, sources, types and synonyms (configs.h).  Other resource types
 * (broker loggers, client metrics, groups) are INVALID_REQUEST.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../broker_configs.h"
#include "../configs.h"
#include "handlers.h"

#define RES_TOPIC 2
#define RES_BROKER 4

static bool wanted(const struct kp_describe_configs_req_resource *q, const char *name)
{
	if (q->configuration_keys.n < 0)
		return true;
	for (int32_t i = 0; i < q->configuration_keys.n; i++) {
		struct kp_str k = q->configuration_keys.items[i];
		if (k.len >= 0 && (size_t)k.len == strlen(name) && !memcmp(k.ptr, name, (size_t)k.len))
			return true;
	}
	return false;
}

void dp_h_describe_configs(struct dp_req *req, void *msg)
{
	struct kp_describe_configs_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_describe_configs_resp resp;
	kp_describe_configs_resp_init(&resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	DP_ARRAY(req, resp.results, m->resources.n);
	for (int32_t i = 0; i < resp.results.n; i++) {
		struct kp_describe_configs_req_resource *q = &m->resources.items[i];
		struct kp_describe_configs_resp_result *o = &resp.results.items[i];
		o->resource_type = q->resource_type;
		o->resource_name = q->resource_name;
		o->error_message = (struct kp_str){ NULL, -1 };
		struct dp_cfgval *vals = dp_req_array(req, DP_CFG_MAX, sizeof(*vals));
		int n = 0, level = DP_BCFG_NODE;
		const struct dp_topic *topic = NULL;
		if (!vals) {
			o->error_code = KP_ERR_UNKNOWN_SERVER_ERROR;
			continue;
		}
		if (q->resource_type == RES_TOPIC) {
			const struct dp_topic *t = topic = dp_topic_by_str(snap, q->resource_name);
			if (!t) {
				o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				o->error_message = dp_str("Topic does not exist");
				continue;
			}
			n = dp_configs_topic(b, snap, t, vals);
		} else if (q->resource_type == RES_BROKER) {
			char why[256];
			const char *rname = dp_req_cstr(req, q->resource_name);
			int16_t e = rname ? dp_bcfg_resource(&b->cfg, b->nshards, rname, true, &level, why, sizeof(why))
			                  : KP_ERR_UNKNOWN_SERVER_ERROR;
			if (e) {
				o->error_code = e;
				const char *em = rname ? dp_req_cstr(req, dp_str(why)) : NULL;
				o->error_message = em ? dp_str(em) : (struct kp_str){ NULL, -1 };
				continue;
			}
			n = level == DP_BCFG_NODE ? dp_configs_broker(b, snap, vals) : dp_configs_broker_default(b, snap, vals);
		} else {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str("Unsupported resource type");
			continue;
		}
		int k = 0;
		for (int j = 0; j < n; j++)
			if (wanted(q, vals[j].name))
				k++;
		DP_ARRAY(req, o->configs, k);
		k = 0;
		for (int j = 0; j < n && o->configs.items; j++) {
			if (!wanted(q, vals[j].name))
				continue;
			struct kp_describe_configs_resp_resource_result *c = &o->configs.items[k++];
			c->name = dp_str(vals[j].name);
			c->value = vals[j].value ? dp_str(vals[j].value) : (struct kp_str){ NULL, -1 };
			/* Kafka strings hold 32767 bytes: the owner list of a topic of thousands of
			 * partitions does not fit, and is then shown null, as Kafka shows what it does
			 * not reveal (the start-up log lists it). */
			if (c->value.len > INT16_MAX)
				c->value = (struct kp_str){ NULL, -1 };
			c->read_only = vals[j].read_only;
			c->is_default = vals[j].source == DP_SRC_DEFAULT;
			c->config_source = vals[j].source;
			c->config_type = vals[j].type;
			c->documentation = (struct kp_str){ NULL, -1 };
			c->synonyms.n = 0;
			if (m->include_synonyms) {
				struct dp_cfgsyn syn[DP_SYN_MAX];
				int ns = dp_configs_synonyms(b, snap, topic, level == DP_BCFG_NODE, vals[j].name, syn);
				DP_ARRAY(req, c->synonyms, ns);
				for (int x = 0; x < c->synonyms.n; x++) {
					c->synonyms.items[x].name = dp_str(syn[x].name);
					c->synonyms.items[x].value = dp_str(syn[x].value);
					c->synonyms.items[x].source = syn[x].source;
				}
			}
		}
	}
	dp_req_respond(req, &resp);
}
