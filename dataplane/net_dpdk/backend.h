/*
 * dataplane/net_dpdk/backend.h: the `dpdk` network backend of the broker (dataplane/net.h's
 * interface over the project's TCP/IP stack and the DPDK port driver).  Built only with
 * -Ddpdk=enabled.
 */
#ifndef DP_NET_DPDK_BACKEND_H
#define DP_NET_DPDK_BACKEND_H

#include <stddef.h>

#include "dataplane/net_dpdk/dpdk_config.h"

struct dp_broker;

/* Opens the port (one queue pair per shard) before the shards start.  dc is copied.
 * 0, or -errno with a message in err. */
int dp_net_dpdk_setup(struct dp_broker *b, const struct dp_dpdk_cfg *dc, char *err, size_t errlen);

extern const struct dp_net_ops dp_net_dpdk;

#endif
