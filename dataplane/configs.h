/*
 * dataplane/configs.h: the configs DescribeConfigs shows, with Kafka's names, current values,
 * sources and types: every topic-level key storage honours (plus the ones Kafka has that have
 * no effect on a single broker yet), and the broker keys the dataplane reads.  Sources follow
 * Kafka's ConfigHelper: a topic override is DYNAMIC_TOPIC_CONFIG, a key the operator gave at start
 * (or a broker synonym of a topic key) STATIC_BROKER_CONFIG, anything else DEFAULT_CONFIG.
 */
#ifndef DP_CONFIGS_H
#define DP_CONFIGS_H

#include <stdbool.h>
#include <stdint.h>

struct dp_broker;
struct dp_topic;

/* Kafka's ConfigSource and ConfigType numbers. */
enum { DP_SRC_TOPIC = 1, DP_SRC_STATIC_BROKER = 4, DP_SRC_DEFAULT = 5 };
enum { DP_TYPE_BOOLEAN = 1, DP_TYPE_STRING = 2, DP_TYPE_INT = 3, DP_TYPE_LONG = 5, DP_TYPE_DOUBLE = 6, DP_TYPE_LIST = 7 };

struct dp_cfgval {
	const char *name;              /* static */
	const char *value;             /* buf, or borrowed from the topic (its owner list) */
	char buf[160];
	int8_t source;
	int8_t type;
	bool read_only;
};

#define DP_CFG_MAX 48

/* Fills out[] (DP_CFG_MAX entries) with topic t's configs; returns the count. */
int dp_configs_topic(const struct dp_broker *b, const struct dp_topic *t, struct dp_cfgval *out);

/* Fills out[] with the broker's configs; returns the count. */
int dp_configs_broker(const struct dp_broker *b, struct dp_cfgval *out);

#endif
