/*
 * dataplane/net_dpdk/steer.h: the shard-aware steering decision of the DPDK backend (prefix
 * dp_steer_).  In shard-aware mode shard i is also a node on port base+1+i; where the device
 * takes an rte_flow rule per shard (TCP to that port -> queue i) a flow to a shard's port
 * reaches that shard's queue, and only that shard listens there.  Where it refuses any rule
 * (af_packet has no rte_flow; net_tap needs the kernel's TC flower and multiq), the rules
 * already taken are removed and every shard listens on every shard port: the device's RSS or
 * the software flow hash spreads those flows like the others and requests hop to their owners.
 * Kept apart from port.c (DPDK) so that the decision is unit-tested with a fake device.
 */
#ifndef DP_NET_DPDK_STEER_H
#define DP_NET_DPDK_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The device: installs one rule (port -> queue q); 0 or -errno with the reason in why. */
typedef int (*dp_steer_rule_fn)(void *dev, uint16_t tcp_port, uint16_t q, char *why, size_t whylen);
/* Removes every rule installed. */
typedef void (*dp_steer_undo_fn)(void *dev);

/* Asks for the rule of each of nshards shards (ports base+1.., queues 0..).  Returns true when
 * every shard port reaches its shard's queue: every rule was taken, or there is one queue (no
 * rule needed).  False on the first refusal, after undo; why (whylen > 0) then names the port
 * and the device's reason. */
bool dp_steer_shards(int nshards, uint16_t nqueues, uint16_t base, dp_steer_rule_fn rule,
                     dp_steer_undo_fn undo, void *dev, char *why, size_t whylen);

/* The client ports shard `shard` listens on: the shared one (base), then the shard-aware ones
 * (advertise) it serves -- its own when steered, all otherwise.  ports has room for nshards+1;
 * returns the count. */
int dp_steer_ports(int shard, int nshards, uint16_t base, bool advertise, bool steered, uint16_t *ports);

#endif
