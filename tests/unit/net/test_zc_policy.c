/*
 * tests/unit/net/test_zc_policy.c: the zero-copy decision of the DPDK port (dataplane/net_dpdk/
 * zc_policy.c) for each kind of device: software devices send in place, a DMA device only with
 * registered memory, and every refusal says why.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dataplane/net_dpdk/zc_policy.h"

static bool decide(struct dp_zc_facts f, char *why)
{
	return dp_zc_decide(&f, why, 200);
}

Test(dp_zc_policy, a_software_device_alone_sends_in_place)
{
	char why[200];
	cr_assert(decide((struct dp_zc_facts){.wanted = true, .multiseg = true, .software = true}, why));
	cr_assert(strstr(why, "software device"), "%s", why);
}

Test(dp_zc_policy, a_dma_device_copies_until_memory_is_registered)
{
	char why[200];
	struct dp_zc_facts f = {.wanted = true, .multiseg = true, .software = false, .hw_ports = true};
	cr_assert(!decide(f, why));
	cr_assert(strstr(why, "not registered"), "%s", why);
	f.dma_registered = true;
	cr_assert(decide(f, why));
	cr_assert(strstr(why, "registered for the device's DMA"), "%s", why);
}

Test(dp_zc_policy, a_software_device_beside_hardware_ports_copies)
{
	char why[200];
	cr_assert(!decide((struct dp_zc_facts){.wanted = true, .multiseg = true, .software = true,
	                                       .hw_ports = true}, why));
	cr_assert(strstr(why, "bonding"), "%s", why);
}

Test(dp_zc_policy, off_or_without_chained_mbufs_nothing_goes_in_place)
{
	char why[200];
	cr_assert(!decide((struct dp_zc_facts){.wanted = false, .multiseg = true, .software = true}, why));
	cr_assert(strstr(why, "tx.zerocopy=false"), "%s", why);
	cr_assert(!decide((struct dp_zc_facts){.wanted = true, .multiseg = false, .software = true,
	                                       .dma_registered = true}, why));
	cr_assert(strstr(why, "chain mbufs"), "%s", why);
	cr_assert(!dp_zc_decide(&(struct dp_zc_facts){.wanted = false}, NULL, 0), "no reason asked");
}

Test(dp_zc_policy, a_dma_device_alone_sends_registered_segment_memory_in_place)
{
	char why[200];
	struct dp_zc_facts f = {.wanted = true, .multiseg = true, .software = false, .dma_registered = false};
	cr_assert(!decide(f, why), "IOVA as PA: nothing can be registered at its virtual address");
	cr_assert(strstr(why, "IOVA as VA"), "%s", why);
	f.dma_registered = true;
	cr_assert(decide(f, why));
	cr_assert(strstr(why, "other memory copied"), "%s", why);
}
