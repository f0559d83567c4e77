/*
 * dataplane/net_dpdk/dpdk_config.c: the ringtail.dpdk.* keys and their checks (see the header).
 * Addresses are dotted quads; a netmask must be contiguous; the gateway must be on the port's
 * subnet; the address may not be a network, broadcast or multicast address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/net_dpdk/dpdk_config.h"

static const char *const dispatch_names[] = {"auto", "device", "software", NULL};

const struct rt_cfg_def dp_dpdk_cfg_defs[] = {
	{DP_DPDK_KEY_EAL, RT_CFG_STRING, "--no-huge --no-shconf -m 512 --no-pci --log-level=notice",
	 .doc = "DPDK EAL arguments of the dpdk backend, split on blanks"},
	{DP_DPDK_KEY_PORT, RT_CFG_STRING, "",
	 .doc = "the DPDK port: a virtual device (net_af_packet0,iface=eth1) or a PCI address"},
	{DP_DPDK_KEY_IP, RT_CFG_STRING, "", .doc = "the port's IPv4 address"},
	{DP_DPDK_KEY_NETMASK, RT_CFG_STRING, "255.255.255.0", .doc = "the port's netmask"},
	{DP_DPDK_KEY_GATEWAY, RT_CFG_STRING, "", .doc = "the default gateway (empty: on-link only)"},
	{DP_DPDK_KEY_MTU, RT_CFG_INT, "1500", .min = 576, .max = 9000, .doc = "IP MTU of the port"},
	{DP_DPDK_KEY_RCVBUF, RT_CFG_SIZE, "256k", .min = 4096, .max = 1 << 30,
	 .doc = "TCP receive buffer per connection"},
	{DP_DPDK_KEY_ZEROCOPY, RT_CFG_BOOL, "true",
	 .doc = "send payload as external mbufs over the sender's memory instead of copying it"},
	{DP_DPDK_KEY_RX_ZC_MAX, RT_CFG_SIZE, "0", .min = 0, .max = 1 << 20,
	 .doc = "largest Produce request received over several segments that is kept in its mbufs and "
	        "written to storage from them (at most 48 segments; 0: every one is copied once, which "
	        "costs less CPU at a 1,500-byte MTU: perf/README.md, bench_rx_pieces)"},
	{DP_DPDK_KEY_DISPATCH, RT_CFG_ENUM, "auto", .allowed = dispatch_names,
	 .doc = "what sends each TCP flow to one shard: auto (the device's RSS, or the kernel's hash behind "
	        "net_af_packet/net_tap, else software), device, or software (a flow hash computed by the "
	        "receiving shard, which hands other shards their frames)"},
};
const size_t dp_dpdk_cfg_ndefs = sizeof dp_dpdk_cfg_defs / sizeof dp_dpdk_cfg_defs[0];

static int addr(const struct rt_cfg *c, const char *key, bool required, uint32_t *out, char *err, size_t errlen)
{
	const char *v = rt_cfg_str(c, key);
	*out = 0;
	if (!v || !*v) {
		if (!required)
			return 0;
		snprintf(err, errlen, "%s is required by the dpdk backend: an IPv4 address such as 10.0.0.1", key);
		return -EINVAL;
	}
	struct in_addr a;
	if (inet_pton(AF_INET, v, &a) != 1) {
		snprintf(err, errlen, "%s=%s: expected an IPv4 address (dotted quad)", key, v);
		return -EINVAL;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

int dp_dpdk_cfg_read(const struct rt_cfg *c, struct dp_dpdk_cfg *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	const char *eal = rt_cfg_str(c, DP_DPDK_KEY_EAL);
	const char *port = rt_cfg_str(c, DP_DPDK_KEY_PORT);
	if (!port || !*port) {
		snprintf(err, errlen, "%s is required by the dpdk backend: a virtual device "
		         "(net_af_packet0,iface=eth1; net_tap0,iface=rt0) or a PCI address", DP_DPDK_KEY_PORT);
		return -EINVAL;
	}
	if (strlen(port) >= sizeof o->port || (eal && strlen(eal) >= sizeof o->eal_args)) {
		snprintf(err, errlen, "%s or %s: too long", DP_DPDK_KEY_PORT, DP_DPDK_KEY_EAL);
		return -EINVAL;
	}
	snprintf(o->port, sizeof o->port, "%s", port);
	snprintf(o->eal_args, sizeof o->eal_args, "%s", eal ? eal : "");
	int rc;
	if ((rc = addr(c, DP_DPDK_KEY_IP, true, &o->ip, err, errlen)) ||
	    (rc = addr(c, DP_DPDK_KEY_NETMASK, true, &o->netmask, err, errlen)) ||
	    (rc = addr(c, DP_DPDK_KEY_GATEWAY, false, &o->gateway, err, errlen)))
		return rc;
	uint32_t inv = ~o->netmask;
	if (o->netmask == 0 || (inv & (inv + 1)) != 0) {
		snprintf(err, errlen, "%s=%s: expected a contiguous netmask such as 255.255.255.0",
		         DP_DPDK_KEY_NETMASK, rt_cfg_str(c, DP_DPDK_KEY_NETMASK));
		return -EINVAL;
	}
	uint32_t host = o->ip & ~o->netmask;
	if ((o->ip >> 28) >= 0xe || o->ip == 0 || (inv > 1 && (host == 0 || host == inv))) {
		snprintf(err, errlen, "%s=%s: expected a unicast host address of its subnet",
		         DP_DPDK_KEY_IP, rt_cfg_str(c, DP_DPDK_KEY_IP));
		return -EINVAL;
	}
	if (o->gateway && (o->gateway & o->netmask) != (o->ip & o->netmask)) {
		snprintf(err, errlen, "%s=%s: the gateway must be on the port's subnet (%s with %s)",
		         DP_DPDK_KEY_GATEWAY, rt_cfg_str(c, DP_DPDK_KEY_GATEWAY),
		         rt_cfg_str(c, DP_DPDK_KEY_IP), rt_cfg_str(c, DP_DPDK_KEY_NETMASK));
		return -EINVAL;
	}
	o->mtu = (uint16_t)rt_cfg_int(c, DP_DPDK_KEY_MTU);
	o->rcvbuf = (uint32_t)rt_cfg_int(c, DP_DPDK_KEY_RCVBUF);
	o->zerocopy = rt_cfg_bool(c, DP_DPDK_KEY_ZEROCOPY);
	o->rx_zc_max = (uint32_t)rt_cfg_int(c, DP_DPDK_KEY_RX_ZC_MAX);
	const char *d = rt_cfg_str(c, DP_DPDK_KEY_DISPATCH);
	o->dispatch = !strcmp(d, "device") ? DP_DISPATCH_DEVICE : !strcmp(d, "software") ? DP_DISPATCH_SOFTWARE
	                                                                                 : DP_DISPATCH_AUTO;
	return 0;
}
