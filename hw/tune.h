/*
 * hw/tune.h: the checks of ringtail-tune: what the appliance wants from the kernel (CPU
 * governor, transparent huge pages, irqbalance, IRQ affinity per the plan, sysctls, the I/O
 * scheduler of the log.dirs devices; for DPDK huge pages, the port's driver binding and the
 * IOMMU), each compared with what the machine has and, in apply mode, set (the driver binding
 * and the IOMMU only reported: binding takes the NIC from the kernel, the IOMMU is a boot
 * setting).
 *
 * Every path is under the configured sysfs and procfs roots, so the same code checks and
 * changes a fake tree in tests.  Apply writes only values that differ and re-reads each one it
 * wrote, so a second run changes nothing.  A file the machine does not have is reported as
 * "not available here", never as a failure.  Only the real /proc root lets apply stop a process
 * (irqbalance); under a fake root that row is reported, not acted on.
 */
#ifndef HW_TUNE_H
#define HW_TUNE_H

#include <stdbool.h>
#include <stdio.h>

#include "hw/plan.h"
#include "hw/topology.h"

/* How one check came out. */
enum hw_tune_status {
	HW_TUNE_OK,          /* already as wanted */
	HW_TUNE_CHANGE,      /* differs; check mode only */
	HW_TUNE_CHANGED,     /* differed and apply set it (and read it back as wanted) */
	HW_TUNE_FAILED,      /* apply tried and the kernel refused, or the read-back differs */
	HW_TUNE_NA,          /* the file or feature is not available here */
	HW_TUNE_SKIPPED,     /* differs but apply may not act here (a process under a fake /proc) or it
	                      * is not ringtail-tune's to change (a driver binding, a boot setting) */
};

struct hw_tune_opts {
	const char *sysfs_root;          /* NULL = "/sys" */
	const char *procfs_root;         /* NULL = "/proc" */
	const struct hw_topology *topo;  /* borrowed; required (the online CPUs) */
	const struct hw_plan *plan;      /* borrowed; NULL skips IRQ affinity and huge pages */
	const char *log_dirs;            /* borrowed; comma-separated log.dirs; NULL skips the disk */
	long hugepages;                  /* 2 MiB pages wanted for DPDK; used when plan->backend is dpdk */
	const char *dpdk_port;           /* borrowed; ringtail.dpdk.port (a PCI address or a net_* virtual
	                                  * device); NULL or "": not known, its rows say so */
	const char *dpdk_eal_args;       /* borrowed; ringtail.dpdk.eal.args; NULL: not given (the
	                                  * appliance's huge pages are wanted) */
	bool apply;
};

struct hw_tune_counts {
	int ok, change, changed, failed, na, skipped;
};

/* The huge pages (2 MiB) a DPDK shard set wants unless ringtail.dpdk.hugepages says otherwise. */
#define HW_TUNE_DEFAULT_HUGEPAGES 1024
#define HW_KEY_HUGEPAGES "ringtail.dpdk.hugepages"
/* The broker's own keys (dataplane/net_dpdk/dpdk_config.h), read here for the DPDK rows. */
#define HW_KEY_DPDK_PORT "ringtail.dpdk.port"
#define HW_KEY_DPDK_EAL "ringtail.dpdk.eal.args"

/*
 * Runs every check, prints one row per check to out (name, current, wanted, status, why) and
 * a closing line, and counts the outcomes into *counts.  Returns 0, or -EINVAL when an option is
 * unusable (topo missing).  Borrows everything.
 */
int hw_tune_run(const struct hw_tune_opts *o, FILE *out, struct hw_tune_counts *counts);

/* "OK", "CHANGE", "CHANGED", "FAILED", "N/A", "SKIPPED". */
const char *hw_tune_status_name(enum hw_tune_status s);

#endif
