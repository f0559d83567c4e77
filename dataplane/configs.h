/*
 * dataplane/configs.h: the configs DescribeConfigs shows, with Kafka's names, current values,
 * sources, types and synonyms: every topic-level key storage honours (plus the ones Kafka has
 * that have no effect on a single broker yet), the broker keys the dataplane reads, and the
 * dynamic broker configs (broker_configs.h).  Sources and synonyms follow Kafka's ConfigHelper:
 * a key's synonyms are its values at each level in the order DYNAMIC_BROKER_CONFIG (this
 * broker's), DYNAMIC_DEFAULT_BROKER_CONFIG (the cluster default), STATIC_BROKER_CONFIG (the
 * properties file or command line), DEFAULT_CONFIG (built in), each level listing the key's
 * broker synonyms (log.retention.ms, .minutes, .hours) in order, with anything before the key
 * itself dropped; a topic key's list is its override (TOPIC_CONFIG) then its broker synonym's
 * list.  The source is the first synonym's, DEFAULT_CONFIG when there is none.
 */
#ifndef DP_CONFIGS_H
#define DP_CONFIGS_H

#include <stdbool.h>
#include <stdint.h>

struct dp_broker;
struct dp_topic;
struct dp_snap;

/* Kafka's ConfigSource and ConfigType numbers. */
enum {
	DP_SRC_TOPIC = 1,
	DP_SRC_DYNAMIC_BROKER = 2,
	DP_SRC_DYNAMIC_DEFAULT = 3,
	DP_SRC_STATIC_BROKER = 4,
	DP_SRC_DEFAULT = 5,
};
enum { DP_TYPE_BOOLEAN = 1, DP_TYPE_STRING = 2, DP_TYPE_INT = 3, DP_TYPE_LONG = 5, DP_TYPE_DOUBLE = 6, DP_TYPE_LIST = 7 };

struct dp_cfgval {
	const char *name;              /* borrowed: static, or from the snapshot (lives until exit) */
	const char *value;             /* buf, or borrowed from the topic (its owner list), or NULL:
	                                * Kafka's null (a broker key with no default, not given) */
	char buf[160];
	int8_t source;
	int8_t type;
	bool read_only;
};

/* One synonym; name and value are borrowed from objects that live until exit (the static
 * config, a published snapshot's dynamic configs or topics, the static key table). */
struct dp_cfgsyn {
	const char *name;
	const char *value;
	int8_t source;
};

#define DP_CFG_MAX 80
#define DP_SYN_MAX 16

/* Fills out[] (DP_CFG_MAX entries) with topic t's configs (t from snapshot snap); returns the count. */
int dp_configs_topic(const struct dp_broker *b, const struct dp_snap *snap, const struct dp_topic *t,
                     struct dp_cfgval *out);

/* Fills out[] with this broker's configs (resource name = its node id); returns the count. */
int dp_configs_broker(const struct dp_broker *b, const struct dp_snap *snap, struct dp_cfgval *out);

/* Fills out[] with the cluster-wide dynamic defaults (resource name ""): only the keys set at
 * that level, as Kafka lists them; returns the count. */
int dp_configs_broker_default(const struct dp_broker *b, const struct dp_snap *snap, struct dp_cfgval *out);

/* The synonyms of entry `name` of a topic t (NULL: of the broker; per_broker false: of the
 * cluster-default listing, which leaves out this broker's level) into out[DP_SYN_MAX], in
 * Kafka's order.  Returns the count. */
int dp_configs_synonyms(const struct dp_broker *b, const struct dp_snap *snap, const struct dp_topic *t,
                        bool per_broker, const char *name, struct dp_cfgsyn *out);

#endif
