/* tests/unit/hw/fakefs.c: fake sysfs/procfs trees (see fakefs.h). */
#include "fakefs.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fake_root(void)
{
	char tmpl[] = "/tmp/rt-hw-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	cr_assert(d, "mkdtemp: %s", strerror(errno));
	return strdup(d);
}

static void mkparents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/') continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST) cr_assert_fail("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
}

void fake_mkdir(const char *root, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s/", root, rel);
	mkparents(path);
}

void fake_write(const char *root, const char *rel, const char *fmt, ...)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	mkparents(path);
	FILE *f = fopen(path, "w");
	cr_assert(f, "fopen %s: %s", path, strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

void fake_symlink(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	mkparents(path);
	cr_assert(symlink(target, path) == 0, "symlink %s: %s", path, strerror(errno));
}

char *fake_read(const char *root, const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f) return buf;
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int rm1(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

void fake_remove(char *root)
{
	if (!root) return;
	nftw(root, rm1, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
}

static void cpu(const char *root, int id, int core, int pkg, const char *siblings)
{
	char rel[256];
	snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/core_id", id);
	fake_write(root, rel, "%d\n", core);
	snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/physical_package_id", id);
	fake_write(root, rel, "%d\n", pkg);
	snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", id);
	fake_write(root, rel, "%s\n", siblings);
}

static void queues(const char *root, const char *ifname, int n)
{
	char rel[256];
	for (int q = 0; q < n; q++) {
		snprintf(rel, sizeof rel, "sys/class/net/%s/queues/rx-%d", ifname, q);
		fake_mkdir(root, rel);
		snprintf(rel, sizeof rel, "sys/class/net/%s/queues/tx-%d", ifname, q);
		fake_mkdir(root, rel);
	}
}

/*
 * Linux numbering of a 2-socket box with SMT: cpus 0-3 are node 0's cores, 4-7 node 1's,
 * 8-11 the second threads of 0-3 and 12-15 those of 4-7.  eth0 (node 1, 4 combined queues,
 * i40e names) and eth1 (node 0, 2 queues, separate rx/tx IRQs) have devices; lo has none.
 */
void fake_two_socket_smt(const char *root)
{
	char sib[32], rel[256];
	fake_write(root, "sys/devices/system/cpu/online", "0-15\n");
	for (int c = 0; c < 16; c++) {
		int first = c % 8;
		snprintf(sib, sizeof sib, "%d,%d", first, first + 8);
		cpu(root, c, first % 4, first / 4, sib);
	}
	fake_write(root, "sys/devices/system/node/node0/cpulist", "0-3,8-11\n");
	fake_write(root, "sys/devices/system/node/node0/meminfo",
		   "Node 0 MemTotal:       65536000 kB\nNode 0 MemFree:        60000000 kB\n");
	fake_write(root, "sys/devices/system/node/node1/cpulist", "4-7,12-15\n");
	fake_write(root, "sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:       32768000 kB\n");
	fake_write(root, "sys/devices/system/node/online", "0-1\n");

	fake_write(root, "sys/class/net/eth0/device/numa_node", "1\n");
	queues(root, "eth0", 4);
	for (int i = 100; i <= 104; i++) {
		snprintf(rel, sizeof rel, "sys/class/net/eth0/device/msi_irqs/%d", i);
		fake_write(root, rel, "msix\n");
	}
	fake_write(root, "sys/class/net/eth1/device/numa_node", "0\n");
	queues(root, "eth1", 2);
	fake_mkdir(root, "sys/class/net/lo/queues/rx-0");
	fake_mkdir(root, "sys/class/net/lo/queues/tx-0");

	/* eth1 has no msi_irqs: its IRQs are found by name only.  eth10 must not match eth1. */
	fake_write(root, "proc/interrupts",
		   "            CPU0       CPU1       CPU2\n"
		   "   0:         22          0          0   IO-APIC   2-edge      timer\n"
		   "  24:          0          0          0   PCI-MSI 1-edge      eth10-rx-0\n"
		   " 100:          1          0          0   PCI-MSI 3145728-edge      i40e-0000:3b:00.0:misc\n"
		   " 101:        100          0          0   PCI-MSI 3145729-edge      i40e-eth0-TxRx-0\n"
		   " 102:        100          0          0   PCI-MSI 3145730-edge      i40e-eth0-TxRx-1\n"
		   " 103:        100          0          0   PCI-MSI 3145731-edge      i40e-eth0-TxRx-2\n"
		   " 104:        100          0          0   PCI-MSI 3145732-edge      i40e-eth0-TxRx-3\n"
		   " 120:          5          0          0   PCI-MSI 1-edge      eth1-rx-0\n"
		   " 121:          5          0          0   PCI-MSI 2-edge      eth1-rx-1\n"
		   " 122:          5          0          0   PCI-MSI 3-edge      eth1-tx-0\n"
		   " 123:          5          0          0   PCI-MSI 4-edge      eth1-tx-1\n"
		   " NMI:          0          0          0   Non-maskable interrupts\n");
}

/*
 * A VM: no node/ directory, cpu3 lacks its topology files, eth0 is virtio (device/ links to the
 * virtio device below its PCI function, which has msi_irqs), veth0 has no device.
 */
void fake_vm_no_numa(const char *root)
{
	fake_write(root, "sys/devices/system/cpu/online", "0-3\n");
	for (int c = 0; c < 3; c++) {
		char sib[8];
		snprintf(sib, sizeof sib, "%d", c);
		cpu(root, c, c, 0, sib);
	}
	fake_mkdir(root, "sys/devices/system/cpu/cpu3");
	fake_mkdir(root, "sys/devices/pci0000:00/0000:00:03.0/virtio2");
	fake_write(root, "sys/devices/pci0000:00/0000:00:03.0/numa_node", "-1\n");
	for (int i = 37; i <= 41; i++) {
		char rel[128];
		snprintf(rel, sizeof rel, "sys/devices/pci0000:00/0000:00:03.0/msi_irqs/%d", i);
		fake_write(root, rel, "msix\n");
	}
	fake_symlink(root, "sys/class/net/eth0/device", "../../../devices/pci0000:00/0000:00:03.0/virtio2");
	queues(root, "eth0", 2);
	fake_mkdir(root, "sys/class/net/veth0/queues/rx-0");
	fake_write(root, "proc/interrupts",
		   "           CPU0       CPU1       CPU2       CPU3\n"
		   " 36:          0      40965          0          0  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n"
		   " 37:          0          0          0          0  PCI-MSIX-0000:00:03.0   0-edge      virtio2-config\n"
		   " 38:          0        663          0          0  PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n"
		   " 39:        486          0          0          0  PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0\n"
		   " 40:          0        663          0          0  PCI-MSIX-0000:00:03.0   3-edge      virtio2-input.1\n"
		   " 41:        486          0          0          0  PCI-MSIX-0000:00:03.0   4-edge      virtio2-output.1\n");
}

void fake_two_cpus(const char *root)
{
	fake_write(root, "sys/devices/system/cpu/online", "0-1\n");
	cpu(root, 0, 0, 0, "0");
	cpu(root, 1, 1, 0, "1");
	fake_write(root, "sys/devices/system/node/node0/cpulist", "0-1\n");
	fake_write(root, "sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:        4548812 kB\n");
	fake_write(root, "sys/class/net/eth0/device/numa_node", "0\n");
	queues(root, "eth0", 1);
	fake_write(root, "sys/class/net/eth0/device/msi_irqs/50", "msix\n");
	fake_write(root, "proc/interrupts",
		   "           CPU0       CPU1\n"
		   " 50:          0        663  PCI-MSIX-0000:00:03.0   1-edge      eth0-TxRx-0\n");
}
