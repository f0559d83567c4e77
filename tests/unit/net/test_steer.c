/*
 * tests/unit/net/test_steer.c: the shard-aware steering decision of the DPDK backend
 * (dataplane/net_dpdk/steer.c) against a fake device: every rule taken -> each shard serves its
 * own port; a refusal (as net_tap without TC flower, af_packet without rte_flow) -> the rules
 * taken are removed, the reason is kept, and every shard serves every port.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/net_dpdk/steer.h"

struct fake_dev {
	int refuse_at;          /* -1: takes every rule */
	int rules;              /* installed */
	int asked, undone;
	uint16_t port[8], q[8];
};

static int rule(void *dev, uint16_t tcp_port, uint16_t q, char *why, size_t whylen)
{
	struct fake_dev *d = dev;
	if (d->asked == d->refuse_at) {
		d->asked++;
		snprintf(why, whylen, "Kernel refused TC filter rule creation");
		return -EEXIST;
	}
	d->port[d->asked] = tcp_port;
	d->q[d->asked] = q;
	d->asked++;
	d->rules++;
	return 0;
}

static void undo(void *dev)
{
	struct fake_dev *d = dev;
	d->rules = 0;
	d->undone++;
}

Test(dp_steer, a_device_that_takes_every_rule_steers_each_port_to_its_shard)
{
	struct fake_dev d = {.refuse_at = -1};
	char why[256] = "";
	cr_assert(dp_steer_shards(3, 3, 9092, rule, undo, &d, why, sizeof why));
	cr_assert_eq(d.rules, 3);
	cr_assert_eq(d.undone, 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(d.port[i], 9093 + i);
		cr_assert_eq(d.q[i], i);
	}
	uint16_t ports[4];
	cr_assert_eq(dp_steer_ports(1, 3, 9092, true, true, ports), 2);
	cr_assert_eq(ports[0], 9092, "the shared port first");
	cr_assert_eq(ports[1], 9094, "then only its own shard port");
}

Test(dp_steer, a_refusal_undoes_the_rules_taken_and_every_shard_serves_every_port)
{
	struct fake_dev d = {.refuse_at = 2};
	char why[256] = "";
	cr_assert(!dp_steer_shards(4, 4, 9092, rule, undo, &d, why, sizeof why));
	cr_assert_eq(d.asked, 3, "stops at the first refusal");
	cr_assert_eq(d.undone, 1);
	cr_assert_eq(d.rules, 0, "no half-steered port stays");
	cr_assert(strstr(why, "port 9095 -> queue 2") && strstr(why, "Kernel refused TC filter"), "%s", why);
	uint16_t ports[5];
	cr_assert_eq(dp_steer_ports(0, 4, 9092, true, false, ports), 5);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(ports[1 + i], 9093 + i, "the software flow hash may bring any shard port's flow");
	/* the first rule refused (af_packet: no rte_flow at all) */
	struct fake_dev d0 = {.refuse_at = 0};
	cr_assert(!dp_steer_shards(2, 2, 9092, rule, undo, &d0, NULL, 0), "no reason asked");
	cr_assert_eq(d0.rules, 0);
}

Test(dp_steer, one_queue_needs_no_rule_and_no_advertising_only_the_shared_port)
{
	struct fake_dev d = {.refuse_at = 0};
	char why[64] = "";
	cr_assert(dp_steer_shards(1, 1, 9092, rule, undo, &d, why, sizeof why));
	cr_assert_eq(d.asked, 0, "the device is not asked");
	struct fake_dev d2 = {.refuse_at = -1};
	cr_assert(!dp_steer_shards(3, 2, 9092, rule, undo, &d2, why, sizeof why), "more shards than queues");
	cr_assert(strstr(why, "no such queue"), "%s", why);
	cr_assert_eq(d2.rules, 0);
	uint16_t ports[3];
	cr_assert_eq(dp_steer_ports(1, 2, 9092, false, false, ports), 1);
	cr_assert_eq(ports[0], 9092);
}
