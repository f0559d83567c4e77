/*
 * dataplane/net_dpdk/zc_policy.h: whether the DPDK port sends payload in place (prefix dp_zc_).
 * Zero copy attaches the stack's payload memory (send requests, mapped segment files) to mbufs
 * with its virtual address as IOVA.  That is right when whoever reads the frame reads it through
 * the virtual address -- a software device's driver, on the vdev bus -- and wrong for a device
 * that DMAs, unless that memory was registered and mapped for its DMA (port.c does it for the
 * segment ranges the stack maps, dma_reg.h keeps them).  The decision is taken
 * from what the port reports (port.c gathers the facts), not from driver names, and is kept
 * here, without DPDK types, so that every branch is unit-tested.
 */
#ifndef DP_NET_DPDK_ZC_POLICY_H
#define DP_NET_DPDK_ZC_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct dp_zc_facts {
	bool wanted;          /* ringtail.dpdk.tx.zerocopy */
	bool multiseg;        /* the device chains mbufs on transmit (RTE_ETH_TX_OFFLOAD_MULTI_SEGS) */
	bool software;        /* the device is on the vdev bus: its driver reads frames with the CPU */
	bool hw_ports;        /* a probed port is on another bus: a software device may be sending
	                         through it (net_bonding, net_failsafe over PCI ports) */
	bool dma_registered;  /* the port registers and DMA-maps the stack's segment mappings for
	                         this device (IOVA as VA); pieces elsewhere are still copied */
};

/* True when payload may go out in place.  why (whylen > 0) gets the reason either way, for the
 * port's description. */
bool dp_zc_decide(const struct dp_zc_facts *f, char *why, size_t whylen);

#endif
