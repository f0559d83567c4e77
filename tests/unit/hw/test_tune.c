/* Unit tests for hw/tune.c and the ringtail-tune executable, run against fake sysfs/procfs trees. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakefs.h"
#include "hw/tune.h"

static char *root;
static char sys_[PATH_MAX], proc_[PATH_MAX], data[PATH_MAX];
static const char *dpdk_port, *dpdk_eal;  /* ringtail.dpdk.port / eal.args for run_lib; NULL: not given */

/* The two-socket box plus everything ringtail-tune looks at, mostly not as wanted. */
static void tunable(void)
{
	root = fake_root();
	dpdk_port = dpdk_eal = NULL;
	fake_two_socket_smt(root);
	snprintf(sys_, sizeof sys_, "%s/sys", root);
	snprintf(proc_, sizeof proc_, "%s/proc", root);
	char rel[256];
	for (int c = 0; c < 16; c++) {
		snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor", c);
		fake_write(root, rel, "%s\n", c < 2 ? "performance" : "powersave");
	}
	fake_write(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n");
	fake_write(root, "sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n");
	for (int irq = 100; irq <= 104; irq++) {
		snprintf(rel, sizeof rel, "proc/irq/%d/smp_affinity_list", irq);
		fake_write(root, rel, "0-15\n");
	}
	fake_write(root, "proc/irq/102/smp_affinity_list", "5\n");  /* already where the plan wants it */
	fake_write(root, "proc/sys/net/core/somaxconn", "4096\n");
	fake_write(root, "proc/sys/net/ipv4/tcp_max_syn_backlog", "8192\n");
	fake_write(root, "proc/sys/net/core/netdev_max_backlog", "1000\n");
	fake_write(root, "proc/sys/net/core/rmem_max", "212992\n");
	fake_write(root, "proc/sys/net/core/wmem_max", "212992\n");
	fake_write(root, "proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
	fake_write(root, "proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t4194304\n");
	fake_write(root, "proc/sys/net/ipv4/tcp_slow_start_after_idle", "1\n");
	fake_write(root, "proc/sys/vm/swappiness", "60\n");
	fake_write(root, "proc/sys/vm/dirty_background_ratio", "10\n");
	fake_write(root, "proc/sys/vm/dirty_ratio", "20\n");
	/* vm.max_map_count is left out: "not available here". */
	fake_mkdir(root, "proc/1");
	fake_write(root, "proc/1/comm", "init\n");
	/* The log.dirs device: whatever device the temp dir is on, described by the fake sysfs. */
	snprintf(data, sizeof data, "%s/data", root);
	fake_mkdir(root, "data");
	struct stat st;
	cr_assert_eq(stat(data, &st), 0);
	snprintf(rel, sizeof rel, "sys/dev/block/%u:%u/queue/scheduler", major(st.st_dev), minor(st.st_dev));
	fake_write(root, rel, "[mq-deadline] kyber none\n");
	snprintf(rel, sizeof rel, "sys/dev/block/%u:%u/queue/rotational", major(st.st_dev), minor(st.st_dev));
	fake_write(root, rel, "0\n");
	fake_write(root, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
}

static void teardown(void) { fake_remove(root); }

static char *run_lib(bool apply, const char *backend, struct hw_tune_counts *n)
{
	char err[256];
	struct hw_topology *t = hw_topology_load(sys_, proc_, err, sizeof err);
	cr_assert(t, "%s", err);
	struct hw_plan plan;
	cr_assert_eq(hw_plan_build(t, &(struct hw_plan_config){ .interface = "eth0", .backend = backend }, &plan, err,
				   sizeof err), 0, "%s", err);
	struct hw_tune_opts o = { .sysfs_root = sys_, .procfs_root = proc_, .topo = t, .plan = &plan,
				  .log_dirs = data, .apply = apply, .dpdk_port = dpdk_port, .dpdk_eal_args = dpdk_eal };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cr_assert_eq(hw_tune_run(&o, f, n), 0);
	fclose(f);
	hw_plan_fini(&plan);
	hw_topology_destroy(t);
	return out;
}

/* The row of check `name`, or "" (copied into a static buffer). */
static const char *row_of(const char *out, const char *name)
{
	static char line[512];
	line[0] = '\0';
	size_t nl = strlen(name);
	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ' ') {
			size_t l = strcspn(p, "\n");
			snprintf(line, sizeof line, "%.*s", (int)l, p);
			break;
		}
	}
	return line;
}

#define expect_row(out, name, text) \
	cr_expect(strstr(row_of(out, name), text), "row %s lacks \"%s\": %s", name, text, row_of(out, name))

Test(hw_tune, check_mode_reports_and_changes_nothing, .init = tunable, .fini = teardown)
{
	struct hw_tune_counts n;
	char *out = run_lib(false, NULL, &n);
	expect_row(out, "cpufreq governor", "powersave on 2-15");
	expect_row(out, "cpufreq governor", "CHANGE");
	expect_row(out, "transparent hugepages", "always ");
	expect_row(out, "transparent hugepages", "CHANGE");
	expect_row(out, "transparent hugepages defrag", "CHANGE");
	expect_row(out, "irqbalance", "OK");
	expect_row(out, "irq 101 i40e-eth0-TxRx-0", "0-15");
	expect_row(out, "irq 101 i40e-eth0-TxRx-0", "CHANGE");
	expect_row(out, "irq 102 i40e-eth0-TxRx-1", "OK");
	cr_expect_eq(row_of(out, "irq 100")[0], '\0', "the misc IRQ is not a queue IRQ: left alone");
	expect_row(out, "net.core.somaxconn", "OK");
	expect_row(out, "net.ipv4.tcp_max_syn_backlog", "OK");
	expect_row(out, "net.ipv4.tcp_rmem", "4096 131072 6291456");
	expect_row(out, "net.ipv4.tcp_rmem", "CHANGE");
	expect_row(out, "vm.swappiness", "CHANGE");
	expect_row(out, "vm.max_map_count", "not available here");
	expect_row(out, "vm.max_map_count", "N/A");
	cr_expect(strstr(out, "I/O scheduler"), "%s", out);
	cr_expect(strstr(out, " mq-deadline            none                   CHANGE   log.dirs "), "%s", out);
	expect_row(out, "hugepages 2 MiB (DPDK)", "not needed");
	/* Nothing was written. */
	char buf[128];
	cr_expect_str_eq(fake_read(root, "proc/sys/vm/swappiness", buf, sizeof buf), "60\n");
	cr_expect_str_eq(fake_read(root, "proc/irq/101/smp_affinity_list", buf, sizeof buf), "0-15\n");
	cr_expect_eq(n.change, 16, "%s", out);
	cr_expect_eq(n.na, 1);
	cr_expect_eq(n.changed, 0);
	cr_expect(strstr(out, "run with --apply to change them"), "%s", out);
	free(out);
}

Test(hw_tune, apply_sets_then_second_run_changes_nothing, .init = tunable, .fini = teardown)
{
	struct hw_tune_counts n;
	char *out = run_lib(true, NULL, &n);
	cr_expect_eq(n.changed, 16, "%s", out);
	cr_expect_eq(n.failed, 0, "%s", out);
	expect_row(out, "vm.swappiness", "CHANGED");
	expect_row(out, "vm.swappiness", "60 -> 1");
	free(out);
	char buf[256], rel[128];
	cr_expect_str_eq(fake_read(root, "proc/sys/vm/swappiness", buf, sizeof buf), "1\n");
	cr_expect_str_eq(fake_read(root, "proc/sys/vm/dirty_ratio", buf, sizeof buf), "60\n");
	/* At-least rules keep what is already larger: only the third field grows. */
	cr_expect_str_eq(fake_read(root, "proc/sys/net/ipv4/tcp_rmem", buf, sizeof buf), "4096 131072 16777216\n");
	cr_expect_str_eq(fake_read(root, "proc/sys/net/ipv4/tcp_wmem", buf, sizeof buf), "4096 65536 16777216\n");
	cr_expect_str_eq(fake_read(root, "proc/sys/net/ipv4/tcp_max_syn_backlog", buf, sizeof buf), "8192\n");
	cr_expect_str_eq(fake_read(root, "sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf), "madvise\n");
	cr_expect_str_eq(fake_read(root, "sys/kernel/mm/transparent_hugepage/defrag", buf, sizeof buf), "defer\n");
	cr_expect_str_eq(fake_read(root, "sys/devices/system/cpu/cpu9/cpufreq/scaling_governor", buf, sizeof buf),
			 "performance\n");
	for (int q = 0; q < 4; q++) {
		snprintf(rel, sizeof rel, "proc/irq/%d/smp_affinity_list", 101 + q);
		char want[8];
		snprintf(want, sizeof want, "%d\n", 4 + q);
		cr_expect_str_eq(fake_read(root, rel, buf, sizeof buf), want, "irq %d", 101 + q);
	}
	cr_expect_str_eq(fake_read(root, "proc/irq/100/smp_affinity_list", buf, sizeof buf), "0-15\n");

	struct hw_tune_counts again;
	out = run_lib(true, NULL, &again);
	cr_expect_eq(again.changed, 0, "%s", out);
	cr_expect_eq(again.ok, n.ok + n.changed, "%s", out);
	cr_expect(strstr(out, "ringtail-tune: nothing to change"), "%s", out);
	free(out);
}

Test(hw_tune, dpdk_wants_hugepages_on_the_nic_node, .init = tunable, .fini = teardown)
{
	struct hw_tune_counts n;
	char *out = run_lib(false, "dpdk", &n);
	expect_row(out, "hugepages 2 MiB on node 1", ">= 1024");
	expect_row(out, "hugepages 2 MiB on node 1", "CHANGE");
	expect_row(out, "NIC IRQ affinity", "polls");
	free(out);
	out = run_lib(true, "dpdk", &n);
	free(out);
	char buf[64];
	cr_expect_str_eq(fake_read(root, "sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", buf,
				   sizeof buf), "1024\n");
}

/* A PCI port: bound to a kernel driver it wants vfio-pci (and says how), without an IOMMU it
 * wants one; apply changes neither (it reports them SKIPPED); bound to vfio-pci in an IOMMU group
 * both are OK.  A virtual device needs neither, and --no-huge needs no huge pages. */
Test(hw_tune, dpdk_port_driver_binding_and_iommu, .init = tunable, .fini = teardown)
{
	struct hw_tune_counts n;
	fake_mkdir(root, "sys/bus/pci/drivers/ixgbe");
	fake_mkdir(root, "sys/bus/pci/devices/0000:03:00.0");
	fake_symlink(root, "sys/bus/pci/devices/0000:03:00.0/driver", "../../../../bus/pci/drivers/ixgbe");
	dpdk_port = "03:00.0";
	char *out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port 0000:03:00.0 driver", "ixgbe");
	expect_row(out, "DPDK port 0000:03:00.0 driver", "CHANGE");
	expect_row(out, "DPDK port 0000:03:00.0 driver", "modprobe vfio-pci, then bind it: `dpdk-devbind.py "
		   "--bind=vfio-pci 0000:03:00.0`");
	expect_row(out, "IOMMU (DPDK)", "off");
	expect_row(out, "IOMMU (DPDK)", "CHANGE");
	expect_row(out, "IOMMU (DPDK)", "intel_iommu=on");
	free(out);
	out = run_lib(true, "dpdk", &n);
	expect_row(out, "DPDK port 0000:03:00.0 driver", "SKIPPED");
	expect_row(out, "DPDK port 0000:03:00.0 driver", "not done by ringtail-tune");
	expect_row(out, "IOMMU (DPDK)", "SKIPPED");
	cr_expect_eq(n.skipped, 2, "%s", out);
	cr_expect_eq(n.failed, 0, "%s", out);
	free(out);
	char link[PATH_MAX], target[PATH_MAX] = "";
	snprintf(link, sizeof link, "%s/sys/bus/pci/devices/0000:03:00.0/driver", root);
	cr_expect_gt(readlink(link, target, sizeof target - 1), 0);
	cr_expect(strstr(target, "drivers/ixgbe"), "apply left the binding alone: %s", target);
	/* uio: physical addresses, every send copied */
	fake_mkdir(root, "sys/bus/pci/drivers/uio_pci_generic");
	fake_mkdir(root, "sys/bus/pci/drivers/vfio-pci");
	fake_mkdir(root, "sys/bus/pci/devices/0000:04:00.1");
	fake_symlink(root, "sys/bus/pci/devices/0000:04:00.1/driver", "../../../../bus/pci/drivers/uio_pci_generic");
	fake_write(root, "sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
	dpdk_port = "0000:04:00.1";
	out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port 0000:04:00.1 driver", "uio_pci_generic");
	expect_row(out, "DPDK port 0000:04:00.1 driver", "bind it: `dpdk-devbind.py --bind=vfio-pci 0000:04:00.1`; uio "
		   "gives DPDK physical addresses");
	expect_row(out, "IOMMU (DPDK)", "off (vfio no-IOMMU mode)");
	free(out);
	/* as the appliance wants it */
	fake_mkdir(root, "sys/kernel/iommu_groups/17");
	fake_mkdir(root, "sys/bus/pci/devices/0000:05:00.0");
	fake_symlink(root, "sys/bus/pci/devices/0000:05:00.0/driver", "../../../../bus/pci/drivers/vfio-pci");
	fake_symlink(root, "sys/bus/pci/devices/0000:05:00.0/iommu_group", "../../../../kernel/iommu_groups/17");
	dpdk_port = "0000:05:00.0,rxq_pkt_fill=64";
	out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port 0000:05:00.0 driver", "vfio-pci");
	expect_row(out, "DPDK port 0000:05:00.0 driver", "OK");
	expect_row(out, "IOMMU (DPDK)", "on (group 17)");
	expect_row(out, "IOMMU (DPDK)", "OK");
	free(out);
	/* a virtual device without huge pages: nothing to bind, no IOMMU, no huge pages */
	dpdk_port = "net_af_packet0,iface=eth1";
	dpdk_eal = "--no-huge --no-shconf -m 512 --no-pci";
	out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port driver", "net_af_packet0");
	expect_row(out, "DPDK port driver", "OK");
	expect_row(out, "IOMMU (DPDK)", "OK");
	expect_row(out, "hugepages 2 MiB (DPDK)", "not used");
	cr_expect(!strstr(out, "hugepages 2 MiB on node"), "%s", out);
	free(out);
	/* not a port at all, and none given */
	dpdk_port = "eth1";
	out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port driver", "N/A");
	free(out);
	dpdk_port = NULL;
	out = run_lib(false, "dpdk", &n);
	expect_row(out, "DPDK port driver", "set ringtail.dpdk.port");
	free(out);
	/* the uring backend has no DPDK rows */
	dpdk_port = "0000:03:00.0";
	out = run_lib(false, NULL, &n);
	cr_expect(!strstr(out, "DPDK port"), "%s", out);
	free(out);
}

Test(hw_tune, irqbalance_and_missing_choices, .init = tunable, .fini = teardown)
{
	fake_write(root, "proc/4242/comm", "irqbalance\n");
	fake_write(root, "sys/kernel/mm/transparent_hugepage/defrag", "always [never]\n");
	struct hw_tune_counts n;
	char *out = run_lib(false, NULL, &n);
	expect_row(out, "irqbalance", "running (pid 4242)");
	expect_row(out, "irqbalance", "CHANGE");
	expect_row(out, "transparent hugepages defrag", "N/A");
	expect_row(out, "transparent hugepages defrag", "this kernel offers: always [never]");
	free(out);
	/* Under a fake /proc apply never signals a process: the row says it was skipped. */
	out = run_lib(true, NULL, &n);
	expect_row(out, "irqbalance", "SKIPPED");
	cr_expect_eq(n.skipped, 1);
	free(out);
}

Test(hw_tune, vm_without_cpufreq_or_sysctls_is_not_available_not_failed, .fini = teardown)
{
	root = fake_root();
	fake_vm_no_numa(root);
	snprintf(sys_, sizeof sys_, "%s/sys", root);
	snprintf(proc_, sizeof proc_, "%s/proc", root);
	snprintf(data, sizeof data, "%s/not/yet/created", root);
	struct hw_tune_counts n;
	char *out = run_lib(true, NULL, &n);
	cr_expect_eq(n.failed, 0, "%s", out);
	cr_expect_eq(n.changed, 0, "%s", out);
	expect_row(out, "cpufreq governor", "not available here");
	expect_row(out, "transparent hugepages", "not available here");
	expect_row(out, "vm.swappiness", "N/A");
	expect_row(out, "irq 38 virtio2-input.0", "N/A");
	cr_expect(strstr(out, "I/O scheduler (") && strstr(out, "not available here"), "%s", out);
	free(out);
}

#ifdef RINGTAIL_TUNE
/* Runs the real executable; returns its exit status and its output in *out (owned). */
static int tune(const char *extra, char **out)
{
	char cmd[4 * PATH_MAX + 512];
	snprintf(cmd, sizeof cmd, "%s --sysfs-root %s --procfs-root %s --set ringtail.net.interface=eth0 --set log.dirs=%s %s 2>&1",
		 RINGTAIL_TUNE, sys_, proc_, data, extra);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	size_t cap = 1 << 16, len = 0;
	*out = calloc(1, cap);
	size_t r;
	while ((r = fread(*out + len, 1, cap - len - 1, p)) > 0) len += r;
	int st = pclose(p);
	cr_assert(WIFEXITED(st), "%s", *out);
	return WEXITSTATUS(st);
}

Test(hw_tune, executable_check_apply_apply_check, .init = tunable, .fini = teardown)
{
	char *out;
	cr_expect_eq(tune("", &out), 2, "check mode with changes pending exits 2: %s", out);
	expect_row(out, "vm.dirty_ratio", "CHANGE");
	free(out);
	cr_expect_eq(tune("--apply", &out), 0, "%s", out);
	cr_expect(strstr(out, "ringtail-tune: changed 16, failed 0"), "%s", out);
	free(out);
	cr_expect_eq(tune("--apply", &out), 0, "%s", out);
	cr_expect(strstr(out, "ringtail-tune: nothing to change"), "%s", out);
	cr_expect_null(strstr(out, "CHANGED"), "%s", out);
	free(out);
	cr_expect_eq(tune("--print-plan", &out), 0, "%s", out);
	cr_expect(strstr(out, "affinity plan: 4 shards, backend uring, NIC eth0"), "%s", out);
	cr_expect(strstr(out, "ringtail-tune: 21 OK, 0 to change"), "%s", out);
	free(out);
}

Test(hw_tune, executable_reads_the_broker_properties_file, .init = tunable, .fini = teardown)
{
	char *out, extra[PATH_MAX + 64];
	/* The broker's file: other keys are ignored, --set overrides the file. */
	fake_write(root, "server.properties",
		   "# broker\nlisteners=PLAINTEXT://0.0.0.0:9092\nringtail.cores = 4-6\nringtail.net.backend=dpdk\n"
		   "ringtail.dpdk.hugepages=512\nringtail.dpdk.port=0000:03:00.0\n");
	snprintf(extra, sizeof extra, "--config %s/server.properties --print-plan --set ringtail.cores=5-6", root);
	cr_expect_eq(tune(extra, &out), 2, "%s", out);
	cr_expect(strstr(out, "affinity plan: 2 shards, backend dpdk, NIC eth0"), "%s", out);
	expect_row(out, "hugepages 2 MiB on node 1", ">= 512");
	expect_row(out, "DPDK port 0000:03:00.0 driver", "N/A");  /* the fake box has no such device */
	free(out);
	snprintf(extra, sizeof extra, "--config %s/missing.properties", root);
	cr_expect_eq(tune(extra, &out), 1, "%s", out);
	cr_expect(strstr(out, "missing.properties"), "%s", out);
	free(out);
}

Test(hw_tune, executable_refuses_bad_input_naming_the_key, .init = tunable, .fini = teardown)
{
	char *out;
	cr_expect_eq(tune("--set ringtail.cores=4,12", &out), 1);
	cr_expect(strstr(out, "ringtail-tune: invalid plan: ringtail.cores=4,12: cores 4 and 12 are SMT siblings"), "%s", out);
	free(out);
	cr_expect_eq(tune("--set ringtail.bogus=1", &out), 1);
	cr_expect(strstr(out, "--set ringtail.bogus: unknown key"), "%s", out);
	free(out);
	cr_expect_eq(tune("--set ringtail.dpdk.hugepages=lots", &out), 1);
	cr_expect(strstr(out, "ringtail.dpdk.hugepages=lots: allowed: a whole number of 2 MiB pages"), "%s", out);
	free(out);
}
#endif
