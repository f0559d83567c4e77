/*
 * hw/plan.h: the affinity plan: which core each shard runs on, where the control process
 * runs, which NIC queue each shard serves and which core each queue's IRQ goes to.
 *
 * The plan is built from a topology (hw/topology.h) and the raw configuration values below
 * (strings as the operator wrote them; the config parser does not need to know their syntax).
 * Keys (documented in hw/README.md):
 *   ringtail.cores               shard cores, CPU list ("0-3,8,10-11"), one shard per core in
 *                                the order written; default: one shard per physical core of the
 *                                NIC's NUMA node, the control core left out (see below)
 *   ringtail.shards              number of shards; default: as many as ringtail.cores lists, or
 *                                as the default core choice gives
 *   ringtail.control.core        core of ringtail-control, or "auto" (default)
 *   ringtail.allow.smt.siblings  "true" lets two shards share a physical core; default "false"
 *   ringtail.net.backend         "uring" (default, kernel TCP) or "dpdk"
 *   ringtail.net.interface       the NIC whose queues and IRQs are planned; default: the only
 *                                NIC with a device, if there is exactly one
 *   ringtail.nic.queues          queue list, one queue per shard in shard order ("0-7");
 *                                default: shard k serves queue k (the only plan the dpdk backend runs)
 *   ringtail.irq.cores           kernel path: cores that take the NIC's queue IRQs (queue q ->
 *                                irq.cores[q mod n]); default: each queue's IRQ on the core of
 *                                the shard that serves it
 *
 * Invariants of a built plan: every shard core is online and distinct; no two shards are SMT
 * siblings unless allow_smt; nshards >= 1; every planned queue exists on the NIC when the NIC's
 * queue count is known.
 */
#ifndef HW_PLAN_H
#define HW_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "hw/topology.h"

#define HW_KEY_CORES        "ringtail.cores"
#define HW_KEY_SHARDS       "ringtail.shards"
#define HW_KEY_CONTROL_CORE "ringtail.control.core"
#define HW_KEY_ALLOW_SMT    "ringtail.allow.smt.siblings"
#define HW_KEY_BACKEND      "ringtail.net.backend"
#define HW_KEY_INTERFACE    "ringtail.net.interface"
#define HW_KEY_QUEUES       "ringtail.nic.queues"
#define HW_KEY_IRQ_CORES    "ringtail.irq.cores"

/* With fewer physical cores than this (in the pool the shards come from), the control process
 * shares a core with shard 0 instead of taking one away from the shards: on a 2- or 3-core
 * machine a reserved core would cost a third to a half of the dataplane for a process that is
 * idle except for group and transaction coordination. */
#define HW_PLAN_CONTROL_OWN_CORE_MIN 4

#define HW_PLAN_MAX_NOTES 8

enum hw_net_backend { HW_NET_URING = 0, HW_NET_DPDK = 1 };

/* Every field borrowed; NULL (or "") means "not set": the default applies. */
struct hw_plan_config {
	const char *cores;
	const char *shards;
	const char *control_core;
	const char *allow_smt;
	const char *backend;
	const char *interface;
	const char *queues;
	const char *irq_cores;
};

struct hw_plan_shard {
	int shard;
	int cpu;
	int node;          /* -1 unknown */
	int smt_sibling;   /* lowest other online thread of the same physical core; -1 none */
	int queue;         /* the NIC queue it serves; -1 none */
	int irq;           /* that queue's IRQ; -1 none, unknown, or DPDK (polled) */
};

/* One NIC queue IRQ and the core it should be pinned to (kernel path only). */
struct hw_plan_irq {
	int irq;
	int queue;
	int shard;         /* the shard serving the queue; -1 none */
	int cpu;           /* wanted affinity */
	char name[HW_IRQNAME_MAX];
};

struct hw_plan {
	enum hw_net_backend backend;
	bool allow_smt;
	char interface[HW_IFNAME_MAX];  /* "" no NIC planned */
	int nic_node;                   /* -1 unknown */
	int nic_queues;                 /* the NIC's rx queue count; 0 unknown */
	int nshards;
	struct hw_plan_shard *shards;   /* owned */
	int control_cpu;
	int control_node;               /* -1 unknown */
	int control_shares_shard;       /* shard whose core the control process shares; -1 own core */
	int nirqs;
	struct hw_plan_irq *irqs;       /* owned; ascending irq */
	int nnotes;
	char notes[HW_PLAN_MAX_NOTES][200];  /* why each default was chosen, for the log */
};

/*
 * Builds the plan.  Returns 0, or -EINVAL with a one-line message in err that names the key,
 * the value and what is allowed (for example "ringtail.cores=0-3,2: core 2 is given twice"),
 * which the dataplane prints before it stops; -ENOMEM.  Borrows t and c; on success out owns
 * its arrays (free with hw_plan_fini), on failure out holds nothing to free.
 */
int hw_plan_build(const struct hw_topology *t, const struct hw_plan_config *c,
		  struct hw_plan *out, char *err, size_t errlen);

/* Frees what a built plan owns; safe on a zeroed plan. */
void hw_plan_fini(struct hw_plan *p);

/* Prints the plan as a table (shard, core, node, SMT sibling, NIC queue, IRQ), then the
 * control core, the IRQ pinning and the notes. */
void hw_plan_print(FILE *f, const struct hw_plan *p);

/* Logs the same table through base/log.h at info level, one log line per table line (the
 * broker's start-up log). */
void hw_plan_log(const struct hw_plan *p);

/* "uring" or "dpdk". */
const char *hw_net_backend_name(enum hw_net_backend b);

#endif
