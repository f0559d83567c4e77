/*
 * dataplane/net_dpdk/steer.c: the shard-aware steering decision of steer.h.  All or nothing: a
 * port served by one shard only must reach that shard's queue, so one refused rule undoes the
 * others and every shard serves every port.
 */
#include <stdio.h>

#include "dataplane/net_dpdk/steer.h"

bool dp_steer_shards(int nshards, uint16_t nqueues, uint16_t base, dp_steer_rule_fn rule,
                     dp_steer_undo_fn undo, void *dev, char *why, size_t whylen)
{
	if (nqueues <= 1)
		return true; /* one queue: every flow reaches the only shard */
	for (int i = 0; i < nshards; i++) {
		char r[200] = "";
		uint16_t port = (uint16_t)(base + 1 + i);
		if (i >= nqueues || rule(dev, port, (uint16_t)i, r, sizeof r)) {
			undo(dev);
			if (whylen)
				snprintf(why, whylen, "port %u -> queue %d: %s", port, i,
				         i >= nqueues ? "no such queue" : r[0] ? r : "refused");
			return false;
		}
	}
	return true;
}

int dp_steer_ports(int shard, int nshards, uint16_t base, bool advertise, bool steered, uint16_t *ports)
{
	int n = 0;
	ports[n++] = base;
	for (int i = 0; advertise && i < nshards; i++)
		if (!steered || i == shard)
			ports[n++] = (uint16_t)(base + 1 + i);
	return n;
}
