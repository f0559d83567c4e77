/*
 * control/config.c: the control process's keys (see config.h), Kafka's names and defaults.
 */
#include "control/config.h"

#include <stdint.h>

const struct rt_cfg_def ctl_cfg_defs[] = {
	{ "group.min.session.timeout.ms", RT_CFG_INT, "6000", .min = 0, .max = INT32_MAX,
	  .doc = "smallest session timeout a member may ask for" },
	{ "group.max.session.timeout.ms", RT_CFG_INT, "1800000", .min = 0, .max = INT32_MAX,
	  .doc = "largest session timeout a member may ask for" },
	{ "group.initial.rebalance.delay.ms", RT_CFG_INT, "3000", .min = 0, .max = INT32_MAX,
	  .doc = "how long the first rebalance of an empty group waits for more members" },
	{ "group.max.size", RT_CFG_INT, "2147483647", .min = 1, .max = INT32_MAX,
	  .doc = "members a group may have" },
	{ "offset.metadata.max.bytes", RT_CFG_INT, "4096", .min = 0, .max = INT32_MAX,
	  .doc = "largest metadata string of a committed offset" },
	{ "offsets.retention.minutes", RT_CFG_INT, "10080", .min = 1, .max = INT32_MAX,
	  .doc = "how long committed offsets of an empty group are kept" },
	{ "offsets.retention.check.interval.ms", RT_CFG_LONG, "600000", .min = 1, .max = INT64_MAX,
	  .doc = "how often expired offsets are looked for" },
	{ "offsets.topic.num.partitions", RT_CFG_INT, "50", .min = 1, .max = 100000,
	  .doc = "partitions of __consumer_offsets when it is created" },
	{ "transaction.max.timeout.ms", RT_CFG_INT, "900000", .min = 1, .max = INT32_MAX,
	  .doc = "largest transaction.timeout.ms a producer may ask for" },
	{ "transaction.state.log.num.partitions", RT_CFG_INT, "50", .min = 1, .max = 100000,
	  .doc = "partitions of __transaction_state when it is created" },
	{ "transactional.id.expiration.ms", RT_CFG_INT, "604800000", .min = 1, .max = INT32_MAX,
	  .doc = "how long an idle transactional id is kept" },
	{ "transaction.abort.timed.out.transaction.cleanup.interval.ms", RT_CFG_INT, "10000",
	  .min = 1, .max = INT32_MAX, .doc = "how often timed-out transactions are looked for" },
	{ "transaction.remove.expired.transaction.cleanup.interval.ms", RT_CFG_INT, "3600000",
	  .min = 1, .max = INT32_MAX, .doc = "how often expired transactional ids are looked for" },
};

const size_t ctl_cfg_ndefs = sizeof(ctl_cfg_defs) / sizeof(ctl_cfg_defs[0]);
