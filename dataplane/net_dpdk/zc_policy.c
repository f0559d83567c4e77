/*
 * dataplane/net_dpdk/zc_policy.c: the zero-copy decision of zc_policy.h.  Every refusal names
 * the fact that caused it, first match wins, in the order a person would fix them.
 */
#include <stdio.h>

#include "dataplane/net_dpdk/zc_policy.h"

bool dp_zc_decide(const struct dp_zc_facts *f, char *why, size_t whylen)
{
	const char *r;
	bool ok = false;
	if (!f->wanted)
		r = "turned off (ringtail.dpdk.tx.zerocopy=false)";
	else if (!f->multiseg)
		r = "the device does not chain mbufs on transmit";
	else if (f->dma_registered)
		ok = true, r = "mapped segment memory registered for the device's DMA as it is mapped; "
		               "other memory copied";
	else if (!f->software)
		r = "the device DMAs and payload memory is not registered for it (registering needs the "
		    "EAL's IOVA as VA: VFIO with an IOMMU)";
	else if (f->hw_ports)
		r = "a software device beside hardware ports may send through them (bonding, failsafe)";
	else
		ok = true, r = "a software device: its driver reads frames through their virtual address";
	if (whylen)
		snprintf(why, whylen, "%s", r);
	return ok;
}
