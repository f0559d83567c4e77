/*
 * dataplane/broker.h: the process-wide objects of `ringtail`: the configuration, the shards,
 * the topic registry and the run phase.  Everything here is written before the shards start or
 * through atomics; the topic registry has its own rules (dataplane/meta.h).
 */
#ifndef DP_BROKER_H
#define DP_BROKER_H

#include <stdatomic.h>

#include "config.h"

struct dp_shard;
struct dp_meta;
struct dp_net_ops;
struct stor_dir;

enum dp_phase {
	DP_RUNNING = 0,
	DP_DRAINING = 1,   /* SIGTERM: no new connections or requests; finish what is in flight */
	DP_STOPPING = 2,   /* in-flight work done: flush and leave the loops */
};

struct dp_broker {
	struct dp_config cfg;
	int nshards;
	struct dp_shard **shards;      /* owned */
	struct dp_meta *meta;          /* owned */
	struct stor_dir *dir;          /* owned: log.dirs */
	const struct dp_net_ops *net;  /* the client listeners' backend (uring always runs too) */
	uint16_t internal_port;        /* the internal listener on 127.0.0.1 (net.h), on shard 0 */
	_Atomic int phase;
	_Atomic int shards_ready;      /* shards that have opened their partitions */
	_Atomic int shards_drained;    /* shards that have nothing in flight while DRAINING */
};

#endif
