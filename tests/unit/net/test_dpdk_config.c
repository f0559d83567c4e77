/*
 * tests/unit/net/test_dpdk_config.c: the ringtail.dpdk.* keys: defaults, a full valid set, and
 * each refusal with a message naming the key, the value and what is allowed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dataplane/net_dpdk/dpdk_config.h"

static int load(const char *const *kv, size_t n, struct dp_dpdk_cfg *out, char *err, size_t errlen)
{
	struct rt_cfg *c = rt_cfg_create(dp_dpdk_cfg_defs, dp_dpdk_cfg_ndefs, err, errlen);
	cr_assert_not_null(c, "%s", err);
	int rc = rt_cfg_apply_args(c, kv, n, err, errlen);
	if (rc == 0)
		rc = dp_dpdk_cfg_read(c, out, err, errlen);
	rt_cfg_destroy(c);
	return rc;
}

Test(dp_dpdk_config, a_full_valid_set)
{
	const char *kv[] = {"ringtail.dpdk.port=net_af_packet0,iface=veth0", "ringtail.dpdk.ip=10.1.2.3",
	                    "ringtail.dpdk.netmask=255.255.0.0", "ringtail.dpdk.gateway=10.1.0.1",
	                    "ringtail.dpdk.mtu=9000", "ringtail.dpdk.tcp.rcvbuf=1m"};
	struct dp_dpdk_cfg c;
	char err[256];
	cr_assert_eq(load(kv, 6, &c, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(c.port, "net_af_packet0,iface=veth0");
	cr_assert_eq(c.ip, 0x0a010203u);
	cr_assert_eq(c.netmask, 0xffff0000u);
	cr_assert_eq(c.gateway, 0x0a010001u);
	cr_assert_eq(c.mtu, 9000);
	cr_assert_eq(c.rcvbuf, 1u << 20);
	cr_assert_eq(c.zerocopy, 1);
	cr_assert_eq(c.rx_zc_max, 0u, "multi-segment receive in place is off unless asked for");
	cr_assert(strstr(c.eal_args, "--no-huge") != NULL, "the default runs without huge pages");
	cr_assert_eq(c.dispatch, DP_DISPATCH_AUTO);
	const char *sw[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.1", "ringtail.dpdk.rx.dispatch=software"};
	cr_assert_eq(load(sw, 3, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.dispatch, DP_DISPATCH_SOFTWARE);
	/* the EAL arguments are the operator's when given (huge pages on the appliance) */
	const char *eal[] = {"ringtail.dpdk.port=0000:3b:00.0", "ringtail.dpdk.ip=10.0.0.1",
	                     "ringtail.dpdk.eal.args=--in-memory -m 1024 -a 0000:3b:00.0"};
	cr_assert_eq(load(eal, 3, &c, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(c.eal_args, "--in-memory -m 1024 -a 0000:3b:00.0");
	cr_assert_str_eq(c.port, "0000:3b:00.0");
}

static void refused(const char *const *kv, size_t n, const char *must)
{
	struct dp_dpdk_cfg c;
	char err[256] = "";
	cr_assert_neq(load(kv, n, &c, err, sizeof err), 0);
	cr_assert(strstr(err, must) != NULL, "message '%s' lacks '%s'", err, must);
}

Test(dp_dpdk_config, refusals_name_the_key_and_value)
{
	const char *noport[] = {"ringtail.dpdk.ip=10.0.0.1"};
	refused(noport, 1, "ringtail.dpdk.port is required");
	const char *noip[] = {"ringtail.dpdk.port=net_tap0"};
	refused(noip, 1, "ringtail.dpdk.ip is required");
	const char *badip[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.300"};
	refused(badip, 2, "ringtail.dpdk.ip=10.0.0.300: expected an IPv4 address");
	const char *mask[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.1",
	                      "ringtail.dpdk.netmask=255.0.255.0"};
	refused(mask, 3, "ringtail.dpdk.netmask=255.0.255.0: expected a contiguous netmask");
	const char *bcast[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.255"};
	refused(bcast, 2, "ringtail.dpdk.ip=10.0.0.255: expected a unicast host address");
	const char *gw[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.1",
	                    "ringtail.dpdk.gateway=10.9.0.1"};
	refused(gw, 3, "ringtail.dpdk.gateway=10.9.0.1: the gateway must be on the port's subnet");
	const char *mtu[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.1", "ringtail.dpdk.mtu=100"};
	refused(mtu, 3, "ringtail.dpdk.mtu=100");
	const char *disp[] = {"ringtail.dpdk.port=net_tap0", "ringtail.dpdk.ip=10.0.0.1", "ringtail.dpdk.rx.dispatch=rss"};
	refused(disp, 3, "ringtail.dpdk.rx.dispatch");
}
