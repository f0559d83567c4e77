/* Unit tests for hw/topology.c: the CPU list syntax and topology read from fake sysfs trees. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fakefs.h"
#include "hw/topology.h"

static struct hw_topology *load(const char *root)
{
	char sys[PATH_MAX], proc[PATH_MAX], err[256] = "";
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	struct hw_topology *t = hw_topology_load(sys, proc, err, sizeof err);
	cr_assert(t, "hw_topology_load: %s", err);
	return t;
}

Test(hw_topology, cpulist_valid_forms)
{
	int c[64];
	char err[128];
	cr_assert_eq(hw_cpulist_parse("0-3,8,10-11", c, 64, err, sizeof err), 7);
	int want[] = {0, 1, 2, 3, 8, 10, 11};
	for (int i = 0; i < 7; i++) cr_expect_eq(c[i], want[i]);
	cr_assert_eq(hw_cpulist_parse("5", c, 64, err, sizeof err), 1);
	cr_expect_eq(c[0], 5);
	/* Order as written: shards follow the operator's order. */
	cr_assert_eq(hw_cpulist_parse("9,2-3\n", c, 64, err, sizeof err), 3);
	cr_expect_eq(c[0], 9);
	cr_expect_eq(c[1], 2);
	cr_expect_eq(hw_cpulist_parse("", c, 64, err, sizeof err), 0);
	cr_expect_eq(hw_cpulist_parse(" \n", c, 64, err, sizeof err), 0);
	cr_expect_eq(hw_cpulist_parse("4095", c, 64, err, sizeof err), 1);
}

static void expect_bad(const char *in, const char *msg)
{
	int c[64];
	char err[160] = "";
	cr_expect_eq(hw_cpulist_parse(in, c, 64, err, sizeof err), -EINVAL, "\"%s\" accepted", in);
	cr_expect_str_eq(err, msg, "\"%s\": %s", in, err);
}

Test(hw_topology, cpulist_each_malformed_form)
{
	const char *list = "(allowed: numbers and ranges like 0-3,8,10-11)";
	char m[200];
	snprintf(m, sizeof m, "an empty element in the list %s", list);
	expect_bad("1,,2", m);
	expect_bad(",1", m);
	expect_bad("1,", m);
	expect_bad("3-1", "the range \"3-1\" runs backwards (allowed: low-high)");
	snprintf(m, sizeof m, "\"a\" is not a number or a range %s", list);
	expect_bad("a", m);
	snprintf(m, sizeof m, "\"1-\" is not a number or a range %s", list);
	expect_bad("1-", m);
	snprintf(m, sizeof m, "\"-1\" is not a number or a range %s", list);
	expect_bad("-1", m);
	snprintf(m, sizeof m, "\"1-2-3\" is not a number or a range %s", list);
	expect_bad("1-2-3", m);
	snprintf(m, sizeof m, "\"1 2\" is not a number or a range %s", list);
	expect_bad("1 2", m);
	expect_bad("4096", "4096 is too large (allowed: 0 to 4095)");
	expect_bad("99999999999", "\"99999999999\" is not a number or a range (allowed: numbers and ranges like 0-3,8,10-11)");
	expect_bad("1,1", "1 is given twice (allowed: each once)");
	expect_bad("0-2,1", "1 is given twice (allowed: each once)");
	/* More entries than the caller has room for is refused, never written past. */
	int c[2];
	char err[128];
	cr_expect_eq(hw_cpulist_parse("0-2", c, 2, err, sizeof err), -EINVAL);
	cr_expect_str_eq(err, "more than 2 entries");
}

Test(hw_topology, cpuset_format_round_trips)
{
	struct hw_cpuset s;
	char buf[64], err[64];
	cr_assert_eq(hw_cpuset_parse("10-11,0-3,8", &s, err, sizeof err), 7);
	cr_expect_eq(hw_cpuset_count(&s), 7);
	cr_expect_str_eq(hw_cpuset_format(&s, buf, sizeof buf), "0-3,8,10-11");
	cr_expect(hw_cpuset_has(&s, 8));
	cr_expect(!hw_cpuset_has(&s, 9));
	cr_expect(!hw_cpuset_has(&s, -1));
	cr_expect(!hw_cpuset_has(&s, HW_MAX_CPUS));
}

Test(hw_topology, two_socket_smt_box_with_nics)
{
	char *root = fake_root();
	fake_two_socket_smt(root);
	struct hw_topology *t = load(root);
	cr_assert_eq(t->ncpus, 16);
	cr_assert_eq(t->nnodes, 2);
	cr_expect_eq(t->nodes[0].mem_total_kb, 65536000);
	cr_expect_eq(t->nodes[1].mem_total_kb, 32768000);
	const struct hw_cpu *c5 = hw_topology_cpu(t, 5), *c13 = hw_topology_cpu(t, 13);
	cr_assert(c5 && c13);
	cr_expect_eq(c5->node, 1);
	cr_expect_eq(c13->node, 1);
	cr_expect_eq(c5->package_id, 1);
	cr_expect_eq(c5->core_id, 1);
	cr_expect(hw_cpuset_has(&c5->siblings, 13));
	cr_expect(hw_cpuset_has(&c13->siblings, 5));
	cr_expect_eq(hw_topology_cpu(t, 8)->node, 0);
	cr_expect_null(hw_topology_cpu(t, 16));

	cr_assert_eq(t->nnics, 3);
	const struct hw_nic *e0 = hw_topology_nic(t, "eth0"), *e1 = hw_topology_nic(t, "eth1"),
			    *lo = hw_topology_nic(t, "lo");
	cr_assert(e0 && e1 && lo);
	cr_expect(e0->has_device);
	cr_expect_eq(e0->node, 1);
	cr_expect_eq(e0->rx_queues, 4);
	cr_expect_eq(e0->tx_queues, 4);
	cr_assert_eq(e0->nirqs, 5);
	cr_expect_eq(e0->irqs[0].irq, 100);
	cr_expect_eq(e0->irqs[0].queue, -1, "the misc IRQ serves no queue");
	for (int q = 0; q < 4; q++) cr_expect_eq(hw_nic_queue_irq(e0, q), 101 + q);
	cr_expect_str_eq(e0->irqs[2].name, "i40e-eth0-TxRx-1");

	/* eth1 is found by name alone, and eth10's IRQ is not taken for eth1's. */
	cr_expect_eq(e1->node, 0);
	cr_assert_eq(e1->nirqs, 4);
	cr_expect_eq(e1->irqs[0].irq, 120);
	cr_expect_eq(hw_nic_queue_irq(e1, 1), 121);
	cr_expect_eq(e1->irqs[3].queue, 1);

	cr_expect(!lo->has_device);
	cr_expect_eq(lo->node, -1);
	cr_expect_eq(lo->nirqs, 0);
	cr_expect_eq(lo->rx_queues, 1);
	hw_topology_destroy(t);
	fake_remove(root);
}

Test(hw_topology, vm_without_numa_and_missing_files)
{
	char *root = fake_root();
	fake_vm_no_numa(root);
	struct hw_topology *t = load(root);
	cr_assert_eq(t->ncpus, 4);
	cr_expect_eq(t->nnodes, 0);
	for (int i = 0; i < 4; i++) cr_expect_eq(t->cpus[i].node, -1);
	const struct hw_cpu *c3 = hw_topology_cpu(t, 3);
	cr_assert(c3);
	cr_expect_eq(c3->core_id, -1);
	cr_expect_eq(c3->package_id, -1);
	cr_expect_eq(hw_cpuset_count(&c3->siblings), 1, "unknown siblings: the CPU alone");
	cr_expect(hw_cpuset_has(&c3->siblings, 3));

	const struct hw_nic *e0 = hw_topology_nic(t, "eth0"), *v = hw_topology_nic(t, "veth0");
	cr_assert(e0 && v);
	cr_expect(e0->has_device);
	cr_expect_eq(e0->node, -1, "numa_node -1 means unknown");
	cr_expect_eq(e0->rx_queues, 2);
	cr_assert_eq(e0->nirqs, 5, "virtio IRQs come from the PCI function's msi_irqs");
	cr_expect_eq(e0->irqs[0].queue, -1);
	cr_expect_eq(hw_nic_queue_irq(e0, 0), 38);
	cr_expect_eq(hw_nic_queue_irq(e0, 1), 40);
	cr_expect_eq(e0->irqs[4].queue, 1);
	cr_expect(!v->has_device);
	cr_expect_eq(v->tx_queues, 0);
	hw_topology_destroy(t);
	fake_remove(root);
}

Test(hw_topology, no_online_file_no_net_no_proc)
{
	char *root = fake_root();
	/* Old kernels and stripped containers: cpuN/online decides, cpu0 has none (never offline). */
	fake_mkdir(root, "sys/devices/system/cpu/cpu0");
	fake_write(root, "sys/devices/system/cpu/cpu1/online", "1\n");
	fake_write(root, "sys/devices/system/cpu/cpu2/online", "0\n");
	fake_mkdir(root, "sys/devices/system/cpu/cpufreq");
	fake_write(root, "sys/class/net/eth0/device/numa_node", "garbage\n");
	struct hw_topology *t = load(root);
	char buf[32];
	cr_expect_str_eq(hw_cpuset_format(&t->online, buf, sizeof buf), "0-1");
	cr_expect_eq(t->ncpus, 2);
	cr_expect_null(hw_topology_cpu(t, 2));
	const struct hw_nic *e0 = hw_topology_nic(t, "eth0");
	cr_assert(e0);
	cr_expect_eq(e0->node, -1);
	cr_expect_eq(e0->nirqs, 0, "no /proc/interrupts and no msi_irqs: no IRQs, no crash");
	cr_expect_eq(e0->rx_queues, 0);
	hw_topology_destroy(t);
	fake_remove(root);
}

Test(hw_topology, no_cpu_at_all_is_an_error)
{
	char *root = fake_root();
	char sys[PATH_MAX], err[256] = "";
	snprintf(sys, sizeof sys, "%s/sys", root);
	cr_expect_null(hw_topology_load(sys, root, err, sizeof err));
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "no online CPU found under %s/devices/system/cpu", sys);
	cr_expect_str_eq(err, want);
	fake_remove(root);
}

Test(hw_topology, reads_this_machine)
{
	/* The real /sys: whatever it holds, at least one online CPU and no crash. */
	char err[256];
	struct hw_topology *t = hw_topology_load(NULL, NULL, err, sizeof err);
	cr_assert(t, "%s", err);
	cr_expect_gt(t->ncpus, 0);
	cr_expect_str_eq(t->sysfs_root, "/sys");
	FILE *f = fopen("/dev/null", "w");
	hw_topology_print(f, t);
	fclose(f);
	hw_topology_destroy(t);
}

Test(hw_topology, garbage_files_read_as_unknown)
{
	char *root = fake_root();
	fake_write(root, "sys/devices/system/cpu/online", "0-3,,\n");   /* malformed: scan cpuN/ */
	fake_write(root, "sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "zz\n");
	fake_write(root, "sys/devices/system/cpu/cpu0/topology/core_id", "-\n");
	fake_write(root, "sys/devices/system/cpu/cpu1/topology/thread_siblings_list", "0\n");  /* not itself */
	fake_write(root, "sys/devices/system/node/node0/cpulist", "x\n");
	fake_write(root, "sys/devices/system/node/node0/meminfo", "Node 0 MemFree: 1 kB\n");
	fake_write(root, "sys/devices/system/node/nodeX/cpulist", "0\n");
	fake_write(root, "sys/class/net/eth0/device/numa_node", "0\n");
	fake_write(root, "sys/class/net/eth0/device/msi_irqs/notanumber", "msix\n");
	fake_mkdir(root, "sys/class/net/eth0/queues/rx-");
	fake_mkdir(root, "sys/class/net/eth0/queues/rx-1x");
	fake_write(root, "proc/interrupts", "garbage\n:\n 12\n 13: eth0-TxRx-99999999999\n 14:\n 15: 0 0 eth0\n");
	char sys[PATH_MAX], proc[PATH_MAX], err[256];
	snprintf(sys, sizeof sys, "%s/sys", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	struct hw_topology *t = hw_topology_load(sys, proc, err, sizeof err);
	cr_assert(t, "%s", err);
	cr_expect_eq(t->ncpus, 2, "cpu0 and cpu1 directories, no online flags");
	const struct hw_cpu *c0 = hw_topology_cpu(t, 0), *c1 = hw_topology_cpu(t, 1);
	cr_assert(c0 && c1);
	cr_expect_eq(c0->core_id, -1);
	cr_expect_eq(hw_cpuset_count(&c0->siblings), 1);
	cr_expect(hw_cpuset_has(&c1->siblings, 1), "a sibling list without the CPU itself is not trusted");
	cr_expect_eq(t->nnodes, 1);
	cr_expect_eq(t->nodes[0].mem_total_kb, 0);
	cr_expect_eq(c0->node, -1);
	const struct hw_nic *e0 = hw_topology_nic(t, "eth0");
	cr_assert(e0);
	cr_expect_eq(e0->rx_queues, 0);
	cr_assert_eq(e0->nirqs, 2, "IRQs 13 and 15 name eth0");
	cr_expect_eq(e0->irqs[0].irq, 13);
	cr_expect_eq(e0->irqs[0].queue, -1, "an absurd queue number is not a queue");
	cr_expect_eq(e0->irqs[1].queue, -1, "the bare interface name serves no particular queue");
	hw_topology_destroy(t);
	fake_remove(root);
}
