/* Unit tests for hw/plan.c: default choices on fake machines and each refusal's message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakefs.h"
#include "base/log.h"
#include "hw/plan.h"

static char *root;
static struct hw_topology *topo;

static void machine(void (*make)(const char *))
{
	char sys[PATH_MAX], proc[PATH_MAX], err[256] = "";
	root = fake_root();
	make(root);
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	topo = hw_topology_load(sys, proc, err, sizeof err);
	cr_assert(topo, "%s", err);
}

static void teardown(void)
{
	hw_topology_destroy(topo);
	fake_remove(root);
}

static void two_socket(void) { machine(fake_two_socket_smt); }
static void vm(void) { machine(fake_vm_no_numa); }
static void two_cpus(void) { machine(fake_two_cpus); }

static void plan_ok(const struct hw_plan_config *c, struct hw_plan *p)
{
	char err[512] = "";
	int rc = hw_plan_build(topo, c, p, err, sizeof err);
	cr_assert_eq(rc, 0, "hw_plan_build: %s", err);
}

static void expect_cores(const struct hw_plan *p, const int *want, int n)
{
	cr_assert_eq(p->nshards, n, "%d shards, wanted %d", p->nshards, n);
	for (int i = 0; i < n; i++) cr_expect_eq(p->shards[i].cpu, want[i], "shard %d on core %d, wanted %d", i,
						     p->shards[i].cpu, want[i]);
}

static void expect_refused(const struct hw_plan_config *c, const char *msg)
{
	struct hw_plan p;
	char err[512] = "";
	cr_expect_eq(hw_plan_build(topo, c, &p, err, sizeof err), -EINVAL, "accepted, wanted: %s", msg);
	cr_expect_str_eq(err, msg);
	cr_expect_null(p.shards, "a refused plan owns nothing");
}

Test(hw_plan, default_shards_on_nic_node_one_per_physical_core, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0" }, &p);
	/* eth0 is on node 1: cores 4-7, not their SMT siblings 12-15, not node 0. */
	expect_cores(&p, (int[]){4, 5, 6, 7}, 4);
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(p.shards[i].node, 1);
		cr_expect_eq(p.shards[i].smt_sibling, 12 + i);
		cr_expect_eq(p.shards[i].queue, i);
		cr_expect_eq(p.shards[i].irq, 101 + i);
	}
	/* The control process goes to the other node, off every shard core. */
	cr_expect_eq(p.control_cpu, 0);
	cr_expect_eq(p.control_node, 0);
	cr_expect_eq(p.control_shares_shard, -1);
	/* Each queue IRQ on its shard's core; the misc IRQ is left alone. */
	cr_assert_eq(p.nirqs, 4);
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(p.irqs[i].irq, 101 + i);
		cr_expect_eq(p.irqs[i].cpu, 4 + i);
		cr_expect_eq(p.irqs[i].shard, i);
	}
	cr_expect_eq(p.nic_node, 1);
	cr_expect_str_eq(p.interface, "eth0");
	hw_plan_fini(&p);
}

Test(hw_plan, other_nic_other_node, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth1" }, &p);
	expect_cores(&p, (int[]){0, 1, 2, 3}, 4);
	cr_expect_eq(p.control_cpu, 4, "control on node 1, away from eth1's node 0");
	/* eth1 has 2 queues for 4 shards: shards 2 and 3 serve none; rx and tx IRQs both pinned. */
	cr_expect_eq(p.shards[1].queue, 1);
	cr_expect_eq(p.shards[2].queue, -1);
	cr_assert_eq(p.nirqs, 4);
	cr_expect_eq(p.irqs[1].irq, 121);
	cr_expect_eq(p.irqs[1].cpu, 1);
	cr_expect_eq(p.irqs[3].irq, 123);
	cr_expect_eq(p.irqs[3].cpu, 1);
	hw_plan_fini(&p);
}

Test(hw_plan, smt_siblings_only_when_asked, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .allow_smt = "true" }, &p);
	expect_cores(&p, (int[]){4, 5, 6, 7, 12, 13, 14, 15}, 8);
	hw_plan_fini(&p);
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .cores = "4,12", .allow_smt = "TRUE" }, &p);
	expect_cores(&p, (int[]){4, 12}, 2);
	hw_plan_fini(&p);
}

Test(hw_plan, more_shards_than_the_node_spill_over, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .shards = "6" }, &p);
	/* Node 1's four cores first, then node 0's, leaving out the control core 0 and its sibling. */
	expect_cores(&p, (int[]){4, 5, 6, 7, 1, 2}, 6);
	cr_expect_eq(p.control_cpu, 0);
	hw_plan_fini(&p);
	/* Every physical core asked for: the control process gives its core back and shares. */
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .shards = "8" }, &p);
	expect_cores(&p, (int[]){4, 5, 6, 7, 0, 1, 2, 3}, 8);
	cr_expect_eq(p.control_cpu, 4);
	cr_expect_eq(p.control_shares_shard, 0);
	hw_plan_fini(&p);
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .shards = "2" }, &p);
	expect_cores(&p, (int[]){4, 5}, 2);
	hw_plan_fini(&p);
}

Test(hw_plan, explicit_cores_and_control, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .cores = "7,4-5", .control_core = "6",
					  .queues = "3,0,1" }, &p);
	expect_cores(&p, (int[]){7, 4, 5}, 3);
	cr_expect_eq(p.control_cpu, 6);
	cr_expect_eq(p.shards[0].queue, 3);
	cr_expect_eq(p.shards[0].irq, 104);
	/* Queue 2 has no shard of its own: its IRQ goes to shard 2 mod 3's core. */
	cr_assert_eq(p.nirqs, 4);
	cr_expect_eq(p.irqs[2].queue, 2);
	cr_expect_eq(p.irqs[2].shard, -1);
	cr_expect_eq(p.irqs[2].cpu, 5);
	cr_expect_eq(p.irqs[3].cpu, 7);
	hw_plan_fini(&p);
	/* A control core among the shard cores is the operator's call: it is shared and said so. */
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .cores = "4-5", .control_core = "5" }, &p);
	cr_expect_eq(p.control_shares_shard, 1);
	hw_plan_fini(&p);
}

Test(hw_plan, irq_cores_and_dpdk, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .irq_cores = "12,13" }, &p);
	cr_assert_eq(p.nirqs, 4);
	cr_expect_eq(p.irqs[0].cpu, 12);
	cr_expect_eq(p.irqs[1].cpu, 13);
	cr_expect_eq(p.irqs[2].cpu, 12);
	hw_plan_fini(&p);
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .backend = "dpdk", .allow_smt = "true" }, &p);
	/* Eight threads on the node but four queues: DPDK gives each shard a queue, so four shards. */
	expect_cores(&p, (int[]){4, 5, 6, 7}, 4);
	cr_expect_eq(p.backend, HW_NET_DPDK);
	cr_expect_eq(p.nirqs, 0, "DPDK polls: no IRQ to pin");
	cr_expect_eq(p.shards[3].queue, 3);
	cr_expect_eq(p.shards[3].irq, -1);
	hw_plan_fini(&p);
	/* A NIC bound to a DPDK driver is gone from sysfs: planned blind, one queue per shard. */
	plan_ok(&(struct hw_plan_config){ .interface = "0000:3b:00.0", .backend = "dpdk", .cores = "4-5" }, &p);
	cr_expect_eq(p.nic_node, -1);
	cr_expect_eq(p.shards[1].queue, 1);
	hw_plan_fini(&p);
	/* Given, the queue list must be what the backend does (shard k polls queue k). */
	plan_ok(&(struct hw_plan_config){ .interface = "eth0", .backend = "dpdk", .cores = "4-5", .queues = "0-1" }, &p);
	cr_expect_eq(p.shards[0].queue, 0);
	cr_expect_eq(p.shards[1].queue, 1);
	hw_plan_fini(&p);
}

Test(hw_plan, no_interface_with_two_nics_plans_no_queues, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ 0 }, &p);
	cr_expect_str_eq(p.interface, "");
	/* NIC node unknown: one shard per physical core over both nodes, control on core 0. */
	expect_cores(&p, (int[]){1, 2, 3, 4, 5, 6, 7}, 7);
	cr_expect_eq(p.control_cpu, 0);
	cr_expect_eq(p.nirqs, 0);
	cr_expect_eq(p.shards[0].queue, -1);
	hw_plan_fini(&p);
}

Test(hw_plan, vm_four_cores_control_off_shards, .init = vm, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(NULL, &p);
	cr_expect_str_eq(p.interface, "eth0", "the only NIC with a device");
	expect_cores(&p, (int[]){1, 2, 3}, 3);
	cr_expect_eq(p.control_cpu, 0);
	cr_expect_eq(p.control_shares_shard, -1);
	cr_expect_eq(p.shards[0].node, -1);
	cr_expect_eq(p.shards[0].queue, 0);
	cr_expect_eq(p.shards[0].irq, 38);
	cr_expect_eq(p.shards[2].queue, -1);
	cr_assert_eq(p.nirqs, 4);
	cr_expect_eq(p.irqs[3].irq, 41);
	cr_expect_eq(p.irqs[3].cpu, 2);
	hw_plan_fini(&p);
}

Test(hw_plan, nic_node_without_cpus_plans_over_all, .init = vm, .fini = teardown)
{
	/* The VM has no node/ directories, yet its NIC claims node 1. */
	fake_write(root, "sys/devices/pci0000:00/0000:00:03.0/numa_node", "1\n");
	hw_topology_destroy(topo);
	char sys[PATH_MAX], proc[PATH_MAX], err[256];
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	topo = hw_topology_load(sys, proc, err, sizeof err);
	cr_assert(topo, "%s", err);
	cr_assert_eq(hw_topology_nic(topo, "eth0")->node, 1);
	struct hw_plan p;
	plan_ok(NULL, &p);
	expect_cores(&p, (int[]){1, 2, 3}, 3);
	cr_expect_eq(p.control_cpu, 0);
	hw_plan_fini(&p);
}

Test(hw_plan, two_cpus_control_shares_shard_zero, .init = two_cpus, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(NULL, &p);
	expect_cores(&p, (int[]){0, 1}, 2);
	cr_expect_eq(p.control_cpu, 0);
	cr_expect_eq(p.control_shares_shard, 0);
	cr_expect_eq(p.shards[1].queue, -1);
	hw_plan_fini(&p);
	plan_ok(&(struct hw_plan_config){ .control_core = "1" }, &p);
	expect_cores(&p, (int[]){0}, 1);
	cr_expect_eq(p.control_shares_shard, -1);
	hw_plan_fini(&p);
}

Test(hw_plan, each_invalid_plan_names_key_value_and_allowed, .init = two_socket, .fini = teardown)
{
	expect_refused(&(struct hw_plan_config){ .cores = "0-16" },
		       "ringtail.cores=0-16: core 16 is not online (allowed: online cores 0-15)");
	expect_refused(&(struct hw_plan_config){ .cores = "4,5,4" },
		       "ringtail.cores=4,5,4: 4 is given twice (allowed: each once)");
	expect_refused(&(struct hw_plan_config){ .cores = "4-" },
		       "ringtail.cores=4-: \"4-\" is not a number or a range (allowed: numbers and ranges like 0-3,8,10-11)");
	expect_refused(&(struct hw_plan_config){ .cores = " " },
		       "ringtail.cores= : the list is empty (allowed: online cores 0-15)");
	expect_refused(&(struct hw_plan_config){ .cores = "4,12" },
		       "ringtail.cores=4,12: cores 4 and 12 are SMT siblings of one physical core (allowed: one core per "
		       "physical core, or set ringtail.allow.smt.siblings=true)");
	expect_refused(&(struct hw_plan_config){ .cores = "4-7", .shards = "3" },
		       "ringtail.shards=3: ringtail.cores=4-7 lists 4 cores (allowed: one shard per listed core)");
	expect_refused(&(struct hw_plan_config){ .shards = "0" },
		       "ringtail.shards=0: allowed: a whole number from 1 to 16 (online cores)");
	expect_refused(&(struct hw_plan_config){ .shards = "four" },
		       "ringtail.shards=four: allowed: a whole number from 1 to 16 (online cores)");
	expect_refused(&(struct hw_plan_config){ .shards = "9", .interface = "eth0" },
		       "ringtail.shards=9: only 8 cores are free for shards (online 0-15, one thread per "
		       "physical core unless ringtail.allow.smt.siblings=true)");
	expect_refused(&(struct hw_plan_config){ .shards = "8", .control_core = "3", .interface = "eth0" },
		       "ringtail.shards=8: only 7 cores are free for shards (online 0-15 minus control core 3, one thread "
		       "per physical core unless ringtail.allow.smt.siblings=true)");
	expect_refused(&(struct hw_plan_config){ .control_core = "16" },
		       "ringtail.control.core=16: core 16 is not online (allowed: auto or one of 0-15)");
	expect_refused(&(struct hw_plan_config){ .control_core = "first" },
		       "ringtail.control.core=first: allowed: auto or one online core (0-15)");
	expect_refused(&(struct hw_plan_config){ .allow_smt = "yes" },
		       "ringtail.allow.smt.siblings=yes: allowed values are true and false");
	expect_refused(&(struct hw_plan_config){ .backend = "xdp" },
		       "ringtail.net.backend=xdp: allowed values are uring and dpdk");
	expect_refused(&(struct hw_plan_config){ .interface = "eth9" },
		       "ringtail.net.interface=eth9: no such network interface (present: eth0, eth1, lo)");
	/* More queues than the NIC has, on each path. */
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .cores = "4-7,12", .allow_smt = "true",
						 .queues = "0-4" },
		       "ringtail.nic.queues=0-4: queue 4 does not exist: eth0 has 4 receive queues (0-3)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .backend = "dpdk", .shards = "5",
						 .allow_smt = "true" },
		       "ringtail.shards=5: 5 shards but eth0 has 4 receive queues (allowed: at most one shard per queue "
		       "with the dpdk backend)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth1", .backend = "dpdk", .cores = "0-2" },
		       "ringtail.cores=0-2: 3 shards but eth1 has 2 receive queues (allowed: at most one shard per queue "
		       "with the dpdk backend)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .cores = "4-5", .queues = "0" },
		       "ringtail.nic.queues=0: 1 queues for 2 shards (allowed: one queue per shard, in shard order)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .cores = "4-5", .queues = "1,1" },
		       "ringtail.nic.queues=1,1: 1 is given twice (allowed: each once)");
	expect_refused(&(struct hw_plan_config){ .cores = "4-5", .queues = "0-1" },
		       "ringtail.nic.queues=0-1: no NIC is planned (allowed only with ringtail.net.interface set)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .backend = "dpdk", .cores = "4-5", .queues = "1,0" },
		       "ringtail.nic.queues=1,0: shard 0 would serve queue 1, but the dpdk backend gives shard k queue k "
		       "(allowed: 0-1 in shard order, or unset)");
	expect_refused(&(struct hw_plan_config){ .interface = "0000:3b:00.0", .backend = "dpdk", .cores = "4-5",
						 .queues = "2-3" },
		       "ringtail.nic.queues=2-3: shard 0 would serve queue 2, but the dpdk backend gives shard k queue k "
		       "(allowed: 0-1 in shard order, or unset)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .irq_cores = "3,99" },
		       "ringtail.irq.cores=3,99: core 99 is not online (allowed: online cores 0-15)");
	expect_refused(&(struct hw_plan_config){ .interface = "eth0", .backend = "dpdk", .irq_cores = "3" },
		       "ringtail.irq.cores=3: the dpdk backend polls its queues, it has no queue IRQs (allowed only with "
		       "ringtail.net.backend=uring)");
}

Test(hw_plan, sixty_four_shards, .fini = teardown)
{
	/* A 2 x 32-core box with SMT: 64 shards fit when siblings are allowed on one node, or
	 * spill across both nodes without them. */
	root = fake_root();
	char rel[128], sib[32];
	fake_write(root, "sys/devices/system/cpu/online", "0-127\n");
	for (int c = 0; c < 128; c++) {
		int first = c % 64;
		snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", c);
		snprintf(sib, sizeof sib, "%d,%d", first, first + 64);
		fake_write(root, rel, "%s\n", sib);
	}
	fake_write(root, "sys/devices/system/node/node0/cpulist", "0-31,64-95\n");
	fake_write(root, "sys/devices/system/node/node1/cpulist", "32-63,96-127\n");
	fake_write(root, "sys/class/net/ens1/device/numa_node", "1\n");
	char sys[PATH_MAX], err[256];
	snprintf(sys, sizeof sys, "%s/sys", root);
	topo = hw_topology_load(sys, root, err, sizeof err);
	cr_assert(topo, "%s", err);
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .allow_smt = "true" }, &p);
	cr_assert_eq(p.nshards, 64);
	cr_expect_eq(p.shards[0].cpu, 32);
	cr_expect_eq(p.shards[32].cpu, 96);
	cr_expect_eq(p.shards[63].cpu, 127);
	cr_expect_eq(p.control_cpu, 0);
	hw_plan_fini(&p);
	plan_ok(&(struct hw_plan_config){ .shards = "64" }, &p);
	cr_assert_eq(p.nshards, 64);
	for (int i = 0; i < 64; i++)
		for (int k = 0; k < i; k++)
			cr_assert_neq(p.shards[i].cpu % 64, p.shards[k].cpu % 64, "shards %d and %d on siblings", k, i);
	hw_plan_fini(&p);
}

Test(hw_plan, print_has_every_column, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0" }, &p);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	hw_plan_print(f, &p);
	fclose(f);
	cr_expect(strstr(out, "shard  core  node  smt-sibling  nic-queue  irq\n"), "%s", out);
	cr_expect(strstr(out, "\n2      6     1     14           2          103\n"), "%s", out);
	cr_expect(strstr(out, "control process: core 0 (node 0), its own core\n"), "%s", out);
	cr_expect(strstr(out, "i40e-eth0-TxRx-3"), "%s", out);
	free(out);
	hw_plan_fini(&p);
}

Test(hw_plan, log_writes_each_table_line, .init = two_socket, .fini = teardown)
{
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .interface = "eth0" }, &p);
	FILE *tmp = tmpfile();
	cr_assert(tmp);
	rt_log_set_fd(fileno(tmp));
	hw_plan_log(&p);
	rt_log_set_fd(2);
	rewind(tmp);
	char line[1100];
	int n = 0, header = 0, shard3 = 0;
	while (fgets(line, sizeof line, tmp)) {
		n++;
		header += strstr(line, " INFO ") && strstr(line, "shard  core  node  smt-sibling  nic-queue  irq") != NULL;
		shard3 += strstr(line, "3      7     1     15           3          104") != NULL;
	}
	fclose(tmp);
	cr_expect_eq(header, 1);
	cr_expect_eq(shard3, 1);
	cr_expect_gt(n, 10, "one log line per table line");
	hw_plan_fini(&p);
}

Test(hw_plan, control_core_taking_the_nic_nodes_only_core, .fini = teardown)
{
	root = fake_root();
	fake_write(root, "sys/devices/system/cpu/online", "0-4\n");
	fake_write(root, "sys/devices/system/node/node0/cpulist", "0-3\n");
	fake_write(root, "sys/devices/system/node/node1/cpulist", "4\n");
	fake_write(root, "sys/class/net/eth0/device/numa_node", "1\n");
	char sys[PATH_MAX], err[256];
	snprintf(sys, sizeof sys, "%s/sys", root);
	topo = hw_topology_load(sys, root, err, sizeof err);
	cr_assert(topo, "%s", err);
	struct hw_plan p;
	plan_ok(&(struct hw_plan_config){ .control_core = "4" }, &p);
	expect_cores(&p, (int[]){0, 1, 2, 3}, 4);
	cr_expect_eq(p.control_shares_shard, -1);
	hw_plan_fini(&p);
	/* Left to itself the plan keeps the NIC's node for the shard and the control elsewhere. */
	plan_ok(NULL, &p);
	expect_cores(&p, (int[]){4}, 1);
	cr_expect_eq(p.control_cpu, 0);
	hw_plan_fini(&p);
}
