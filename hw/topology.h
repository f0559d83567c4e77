/*
 * hw/topology.h: the machine as sysfs and procfs describe it, read without root.
 *
 * What is read (every path under a configurable root, so tests build fake trees):
 *   <sys>/devices/system/cpu/online                       online CPUs
 *   <sys>/devices/system/cpu/cpuN/topology/{thread_siblings_list,core_id,physical_package_id}
 *   <sys>/devices/system/node/nodeN/{cpulist,meminfo}     NUMA nodes and their memory
 *   <sys>/class/net/<if>/device/numa_node                 each NIC's NUMA node
 *   <sys>/class/net/<if>/queues/{rx-*,tx-*}               its queues
 *   <sys>/class/net/<if>/device/msi_irqs, <proc>/interrupts   its IRQs and which queue each serves
 *
 * Invariants: absent means unknown, never an error.  A VM without a node/ directory has
 * nnodes == 0 and every cpu's node == -1; a NIC without device/ (lo, ifb, veth) has
 * has_device == false, node == -1 and no IRQs.  Only a machine where not even one online CPU
 * can be found is an error.  CPU ids are below HW_MAX_CPUS; larger ids are ignored.
 */
#ifndef HW_TOPOLOGY_H
#define HW_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HW_MAX_CPUS 4096
#define HW_IFNAME_MAX 16   /* IFNAMSIZ */
#define HW_IRQNAME_MAX 64

/* A set of CPU ids, 0 .. HW_MAX_CPUS-1. */
struct hw_cpuset {
	uint64_t bits[HW_MAX_CPUS / 64];
};

static inline void hw_cpuset_clear(struct hw_cpuset *s) { for (size_t i = 0; i < HW_MAX_CPUS / 64; i++) s->bits[i] = 0; }
static inline void hw_cpuset_add(struct hw_cpuset *s, int c) { s->bits[c / 64] |= 1ull << (c % 64); }
static inline bool hw_cpuset_has(const struct hw_cpuset *s, int c)
{
	return c >= 0 && c < HW_MAX_CPUS && (s->bits[c / 64] >> (c % 64)) & 1;
}
/* Number of CPUs in the set. */
int hw_cpuset_count(const struct hw_cpuset *s);
/* Writes the set in the kernel's list form ("0-3,8,10-11"; "" when empty) into out; returns out. */
char *hw_cpuset_format(const struct hw_cpuset *s, char *out, size_t outlen);

/*
 * Parses the kernel's CPU list syntax ("0-3,8,10-11", whitespace and a trailing newline
 * allowed, "" is the empty list) into `cpus` in the order written, at most `max` entries.
 * Malformed forms are refused: an empty element ("1,,2", ",1", "1,"), a reversed range ("3-1"),
 * a non-number ("a", "1-", "-1", "1-2-3"), a number >= HW_MAX_CPUS, and any CPU given twice.
 * Returns the count (>= 0) or -EINVAL with the reason in err (which names the element but not a
 * configuration key: the caller adds the key).  Borrows s; writes cpus[0..count).
 */
int hw_cpulist_parse(const char *s, int *cpus, int max, char *err, size_t errlen);

/* The same into a set; returns the count or -EINVAL (err as above). */
int hw_cpuset_parse(const char *s, struct hw_cpuset *out, char *err, size_t errlen);

struct hw_cpu {
	int id;
	int core_id;        /* topology/core_id; -1 unknown */
	int package_id;     /* topology/physical_package_id; -1 unknown */
	int node;           /* NUMA node; -1 unknown (no NUMA in sysfs) */
	struct hw_cpuset siblings;  /* thread_siblings_list, itself included; {id} when unknown */
};

struct hw_node {
	int id;
	struct hw_cpuset cpus;      /* cpulist (online and offline CPUs of the node) */
	uint64_t mem_total_kb;      /* meminfo MemTotal; 0 unknown */
};

/* One interrupt line of a NIC, as named in /proc/interrupts. */
struct hw_nic_irq {
	int irq;
	int queue;                  /* the queue it serves (from its name); -1 not a queue IRQ or unknown */
	char name[HW_IRQNAME_MAX];  /* action name from /proc/interrupts; "" unknown */
};

struct hw_nic {
	char name[HW_IFNAME_MAX];
	bool has_device;            /* a device/ link exists (a real or virtio NIC, not lo/veth/ifb) */
	int node;                   /* device/numa_node; -1 unknown */
	int rx_queues;              /* count of queues/rx-*; 0 unknown */
	int tx_queues;              /* count of queues/tx-* */
	int nirqs;
	struct hw_nic_irq *irqs;    /* owned by the topology; sorted by irq */
};

struct hw_topology {
	char sysfs_root[256];
	char procfs_root[256];
	struct hw_cpuset online;
	int ncpus;
	struct hw_cpu *cpus;        /* owned; the online CPUs in ascending id */
	int nnodes;
	struct hw_node *nodes;      /* owned; ascending id; 0 entries when sysfs has no NUMA */
	int nnics;
	struct hw_nic *nics;        /* owned; sorted by name */
};

/*
 * Reads the topology under sysfs_root (NULL = "/sys") and procfs_root (NULL = "/proc").
 * Returns an owned topology (free with hw_topology_destroy) or NULL with the reason in err:
 * only when no online CPU can be found, or on out-of-memory.  Borrows the roots.
 */
struct hw_topology *hw_topology_load(const char *sysfs_root, const char *procfs_root,
				     char *err, size_t errlen);

/* Frees t and everything it owns; NULL is a no-op. */
void hw_topology_destroy(struct hw_topology *t);

/* Borrowed pointer to online CPU `id`, or NULL when it is offline or unknown. */
const struct hw_cpu *hw_topology_cpu(const struct hw_topology *t, int id);

/* Borrowed pointer to NUMA node `id`, or NULL. */
const struct hw_node *hw_topology_node(const struct hw_topology *t, int id);

/* Borrowed pointer to the NIC called `name`, or NULL. */
const struct hw_nic *hw_topology_nic(const struct hw_topology *t, const char *name);

/* The IRQ serving queue q of nic (the first one found), or -1 when unknown. */
int hw_nic_queue_irq(const struct hw_nic *nic, int q);

/* Prints a readable summary (CPUs, SMT siblings, nodes, NICs, queues, IRQs). */
void hw_topology_print(FILE *f, const struct hw_topology *t);

#endif
