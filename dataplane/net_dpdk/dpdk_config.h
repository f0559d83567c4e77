/*
 * dataplane/net_dpdk/dpdk_config.h: the ringtail.dpdk.* keys of the DPDK backend, as a table
 * for base/config.h (a program appends it to its own table) and their reading into a checked
 * structure.  Pure C: it builds and is tested without DPDK.
 */
#ifndef DP_NET_DPDK_CONFIG_H
#define DP_NET_DPDK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

#define DP_DPDK_KEY_EAL "ringtail.dpdk.eal.args"
#define DP_DPDK_KEY_PORT "ringtail.dpdk.port"
#define DP_DPDK_KEY_IP "ringtail.dpdk.ip"
#define DP_DPDK_KEY_NETMASK "ringtail.dpdk.netmask"
#define DP_DPDK_KEY_GATEWAY "ringtail.dpdk.gateway"
#define DP_DPDK_KEY_MTU "ringtail.dpdk.mtu"
#define DP_DPDK_KEY_RCVBUF "ringtail.dpdk.tcp.rcvbuf"
#define DP_DPDK_KEY_ZEROCOPY "ringtail.dpdk.tx.zerocopy"
#define DP_DPDK_KEY_RX_ZC_MAX "ringtail.dpdk.rx.zerocopy.max"
#define DP_DPDK_KEY_DISPATCH "ringtail.dpdk.rx.dispatch"

/* Who sends each TCP flow to one shard's queue (ringtail.dpdk.rx.dispatch). */
enum dp_dispatch {
	DP_DISPATCH_AUTO,      /* the device's RSS, or a driver whose kernel side hashes flows over
	                        * the queues (net_af_packet's fanout, net_tap's multiqueue); else
	                        * the software hash */
	DP_DISPATCH_DEVICE,    /* the device only (without RSS: every flow on queue 0) */
	DP_DISPATCH_SOFTWARE,  /* each shard hands frames of other shards' flows to them */
};

extern const struct rt_cfg_def dp_dpdk_cfg_defs[];
extern const size_t dp_dpdk_cfg_ndefs;

struct dp_dpdk_cfg {
	char eal_args[512];   /* split on blanks */
	char port[256];       /* a vdev ("net_af_packet0,iface=veth0") or a PCI address */
	uint32_t ip, netmask, gateway;  /* host order; gateway 0: none */
	uint16_t mtu;
	uint32_t rcvbuf;
	int zerocopy;         /* 1: payload attached as external mbufs; 0: copied */
	uint32_t rx_zc_max;   /* largest Produce frame over several segments kept in its mbufs; 0: none
	                       * (the default: copying measured cheaper at a 1,500-byte MTU) */
	enum dp_dispatch dispatch;
};

/* Reads and checks the keys (the port and ip are required here, although the table cannot
 * say so: they matter only when the backend is dpdk).  0, or -EINVAL with a message naming
 * the key, the value and what is allowed. */
int dp_dpdk_cfg_read(const struct rt_cfg *c, struct dp_dpdk_cfg *out, char *err, size_t errlen);

#endif
