/*
 * hw/plan.c: builds the affinity plan from the topology and the ringtail.* values, and prints it.
 *
 * Defaults follow what operators of Kafka-like brokers do on dedicated servers: the shards stay
 * on the NIC's NUMA node (packets, socket buffers and page cache stay local), one shard per
 * physical core (two busy-polling shards on SMT siblings share one core's execution units and
 * caches), the control process and the kernel's housekeeping on a core the shards do not use
 * when there are enough cores, and each NIC queue's IRQ on the core of the shard that serves it
 * (the softirq work lands in the cache of the thread that reads the data).
 *
 * Every refusal names the key, the value and what is allowed, because the dataplane prints it as
 * is and stops.
 */
#include "hw/plan.h"

#include "base/errmsg.h"
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_verrmsg(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void note(struct hw_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct hw_plan *p, const char *fmt, ...)
{
	if (p->nnotes >= HW_PLAN_MAX_NOTES) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->notes[p->nnotes++], sizeof p->notes[0], fmt, ap);
	va_end(ap);
}

static bool set(const char *v) { return v && *v; }

const char *hw_net_backend_name(enum hw_net_backend b)
{
	return b == HW_NET_DPDK ? "dpdk" : "uring";
}

/* A whole number in [lo, hi]; returns 0 or -EINVAL. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *e;
	errno = 0;
	long v = strtol(s, &e, 10);
	while (*e == ' ' || *e == '\t' || *e == '\n') e++;
	if (e == s || *e || errno || v < lo || v > hi) return -EINVAL;
	*out = v;
	return 0;
}

/* The lowest other online thread of cpu's physical core, or -1. */
static int sibling_of(const struct hw_topology *t, const struct hw_cpu *c)
{
	for (int i = 0; i < t->ncpus; i++)
		if (t->cpus[i].id != c->id && hw_cpuset_has(&c->siblings, t->cpus[i].id))
			return t->cpus[i].id;
	return -1;
}

static bool same_core(const struct hw_cpu *a, const struct hw_cpu *b)
{
	return hw_cpuset_has(&a->siblings, b->id) || hw_cpuset_has(&b->siblings, a->id);
}

/* Parses a list of cores (key=value in messages) and checks each is online.  Returns the count. */
static int parse_cores(const struct hw_topology *t, const char *key, const char *val, int *out,
		       char *err, size_t errlen)
{
	char why[160], on[256];
	int n = hw_cpulist_parse(val, out, HW_MAX_CPUS, why, sizeof why);
	if (n < 0) return fail(err, errlen, "%s=%s: %s", key, val, why);
	if (n == 0) return fail(err, errlen, "%s=%s: the list is empty (allowed: online cores %s)", key, val,
				hw_cpuset_format(&t->online, on, sizeof on));
	for (int i = 0; i < n; i++)
		if (!hw_topology_cpu(t, out[i]))
			return fail(err, errlen, "%s=%s: core %d is not online (allowed: online cores %s)", key, val,
				    out[i], hw_cpuset_format(&t->online, on, sizeof on));
	return n;
}

/* Orders candidate shard cores: the preferred node first, one thread per physical core first,
 * the other threads after (used only when SMT siblings are allowed).  Excludes the physical
 * core of `reserved` (-1: none).  Returns the count; *in_node counts those on the node. */
static int order_pool(const struct hw_topology *t, int node, int reserved, bool allow_smt,
		      int *out, int *in_node)
{
	const struct hw_cpu *rc = reserved >= 0 ? hw_topology_cpu(t, reserved) : NULL;
	int n = 0;
	*in_node = 0;
	for (int pass = 0; pass < 4; pass++) {
		bool want_node = pass == 0 || pass == 2;
		bool want_primary = pass < 2;
		if (!allow_smt && !want_primary) break;
		for (int i = 0; i < t->ncpus; i++) {
			const struct hw_cpu *c = &t->cpus[i];
			if (rc && same_core(c, rc)) continue;
			bool on_node = node < 0 || c->node == node;
			if (on_node != want_node) continue;
			if (node < 0 && !want_node) continue;
			/* The primary thread is the lowest online id of the physical core. */
			bool primary = true;
			for (int k = 0; k < i; k++)
				if (same_core(&t->cpus[k], c)) { primary = false; break; }
			if (primary != want_primary) continue;
			out[n++] = c->id;
			if (on_node) (*in_node)++;
		}
	}
	/* SMT siblings of the node's cores come right after them, before other nodes' cores. */
	if (allow_smt && node >= 0) {
		int k = 0;
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i < n; i++) {
				const struct hw_cpu *c = hw_topology_cpu(t, out[i]);
				bool on = c->node == node;
				if (on == (pass == 0)) out[n + k++] = out[i];
			}
		memmove(out, out + n, sizeof(int) * (size_t)n);
	}
	return n;
}

static int physical_cores(const struct hw_topology *t, int node)
{
	int n = 0;
	for (int i = 0; i < t->ncpus; i++) {
		const struct hw_cpu *c = &t->cpus[i];
		if (node >= 0 && c->node != node) continue;
		bool primary = true;
		for (int k = 0; k < i; k++)
			if (same_core(&t->cpus[k], c)) { primary = false; break; }
		n += primary;
	}
	return n;
}

static int build(const struct hw_topology *t, const struct hw_plan_config *c, struct hw_plan *p,
		 int *cores, char *err, size_t errlen)
{
	char on[256];
	const struct hw_nic *nic = NULL;

	p->control_cpu = -1;
	p->control_node = -1;
	p->control_shares_shard = -1;
	p->nic_node = -1;

	if (!set(c->backend) || !strcasecmp(c->backend, "uring")) p->backend = HW_NET_URING;
	else if (!strcasecmp(c->backend, "dpdk")) p->backend = HW_NET_DPDK;
	else return fail(err, errlen, "%s=%s: allowed values are uring and dpdk", HW_KEY_BACKEND, c->backend);

	if (!set(c->allow_smt) || !strcasecmp(c->allow_smt, "false")) p->allow_smt = false;
	else if (!strcasecmp(c->allow_smt, "true")) p->allow_smt = true;
	else return fail(err, errlen, "%s=%s: allowed values are true and false", HW_KEY_ALLOW_SMT, c->allow_smt);

	/* The NIC. */
	if (set(c->interface)) {
		nic = hw_topology_nic(t, c->interface);
		if (!nic && p->backend == HW_NET_URING) {
			char names[256] = "";
			for (int i = 0; i < t->nnics; i++)
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
					 t->nics[i].name);
			return fail(err, errlen, "%s=%s: no such network interface (present: %s)", HW_KEY_INTERFACE,
				    c->interface, names[0] ? names : "none");
		}
		snprintf(p->interface, sizeof p->interface, "%s", c->interface);
		if (!nic)
			note(p, "%s is not in sysfs (bound to a DPDK driver?): its NUMA node and queue count are unknown",
			     c->interface);
	} else {
		int ndev = 0;
		for (int i = 0; i < t->nnics; i++)
			if (t->nics[i].has_device) { ndev++; nic = &t->nics[i]; }
		if (ndev == 1) {
			snprintf(p->interface, sizeof p->interface, "%s", nic->name);
			note(p, "NIC %s: the only interface with a device (set %s to choose another)", nic->name,
			     HW_KEY_INTERFACE);
		} else {
			nic = NULL;
			note(p, "no NIC planned: %d interfaces have a device; set %s to plan queues and IRQs", ndev,
			     HW_KEY_INTERFACE);
		}
	}
	if (nic) {
		p->nic_node = nic->node;
		p->nic_queues = nic->rx_queues;
	}

	/* The control core, when given. */
	long v;
	if (set(c->control_core) && strcasecmp(c->control_core, "auto")) {
		if (parse_int(c->control_core, 0, HW_MAX_CPUS - 1, &v))
			return fail(err, errlen, "%s=%s: allowed: auto or one online core (%s)", HW_KEY_CONTROL_CORE,
				    c->control_core, hw_cpuset_format(&t->online, on, sizeof on));
		if (!hw_topology_cpu(t, (int)v))
			return fail(err, errlen, "%s=%s: core %ld is not online (allowed: auto or one of %s)",
				    HW_KEY_CONTROL_CORE, c->control_core, v, hw_cpuset_format(&t->online, on, sizeof on));
		p->control_cpu = (int)v;
	}

	long want = 0;
	if (set(c->shards) && parse_int(c->shards, 1, HW_MAX_CPUS, &want))
		return fail(err, errlen, "%s=%s: allowed: a whole number from 1 to %d (online cores)", HW_KEY_SHARDS,
			    c->shards, t->ncpus);

	int n;
	const char *share_why = "with fewer than 4 physical cores a reserved core would cost the dataplane more "
				"than the mostly idle control process needs";
	if (set(c->cores)) {
		n = parse_cores(t, HW_KEY_CORES, c->cores, cores, err, errlen);
		if (n < 0) return n;
		if (want && want != n)
			return fail(err, errlen, "%s=%s: %s=%s lists %d cores (allowed: one shard per listed core)",
				    HW_KEY_SHARDS, c->shards, HW_KEY_CORES, c->cores, n);
		for (int i = 0; !p->allow_smt && i < n; i++)
			for (int k = 0; k < i; k++)
				if (same_core(hw_topology_cpu(t, cores[i]), hw_topology_cpu(t, cores[k])))
					return fail(err, errlen,
						    "%s=%s: cores %d and %d are SMT siblings of one physical core (allowed: one "
						    "core per physical core, or set %s=true)", HW_KEY_CORES, c->cores,
						    cores[k], cores[i], HW_KEY_ALLOW_SMT);
		note(p, "shard cores from %s", HW_KEY_CORES);
	} else {
		int node = p->nic_node;
		int pool_cores = physical_cores(t, node);
		if (node >= 0 && pool_cores == 0) {
			/* sysfs names a node for the NIC but no online CPU on it (a memory-only node, or a
			 * VM that reports numa_node without node/ directories): plan over every node. */
			note(p, "NIC node %d has no online CPU: shards on every node", node);
			node = -1;
			pool_cores = physical_cores(t, node);
		}
		int reserved = p->control_cpu;
		if (reserved < 0) {
			/* The control core: on another node when there is one, which costs the shards nothing
			 * since they stay on the NIC's node; otherwise, with enough cores, the lowest core,
			 * which also carries the kernel's housekeeping (timers, RCU, boot CPU duties). */
			for (int i = 0; reserved < 0 && node >= 0 && i < t->ncpus; i++)
				if (t->cpus[i].node != node) reserved = t->cpus[i].id;
			if (reserved >= 0)
				note(p, "control process on core %d, on node %d away from the NIC's node %d", reserved,
				     hw_topology_cpu(t, reserved)->node, node);
			else if (pool_cores >= HW_PLAN_CONTROL_OWN_CORE_MIN) {
				reserved = t->cpus[0].id;
				for (int i = 0; node >= 0 && i < t->ncpus; i++)
					if (t->cpus[i].node == node) { reserved = t->cpus[i].id; break; }
				note(p, "control process on core %d, off the shard cores (%d physical cores >= %d)",
				     reserved, pool_cores, HW_PLAN_CONTROL_OWN_CORE_MIN);
			}
			p->control_cpu = reserved;
		}
		int in_node;
		n = order_pool(t, node, reserved, p->allow_smt, cores, &in_node);
		if (n == 0 && reserved >= 0) {
			/* A one-core machine: the control process can only share. */
			n = order_pool(t, node, -1, p->allow_smt, cores, &in_node);
		}
		if (want > n && reserved >= 0 && !set(c->control_core)) {
			/* The operator asked for more shards than the cores left after the control core:
			 * the shards get every core and the control process shares one. */
			reserved = -1;
			p->control_cpu = -1;
			if (p->nnotes > 0) p->nnotes--;  /* the control-core note just written */
			share_why = "every core is needed for the shards asked for";
			n = order_pool(t, node, -1, p->allow_smt, cores, &in_node);
		}
		if (want) {
			if (want > n)
			{
				char ctl[48] = "";
				if (reserved >= 0) snprintf(ctl, sizeof ctl, " minus control core %d", reserved);
				return fail(err, errlen, "%s=%s: only %d cores are free for shards (online %s%s, %s)",
					    HW_KEY_SHARDS, c->shards, n, hw_cpuset_format(&t->online, on, sizeof on), ctl,
					    p->allow_smt ? "SMT siblings allowed"
							 : "one thread per physical core unless " HW_KEY_ALLOW_SMT "=true");
			}
			if (want > in_node && node >= 0)
				note(p, "%ld shards do not fit on NUMA node %d (%d cores): the rest run on other nodes", want,
				     node, in_node);
			n = (int)want;
		} else {
			/* The NIC's node, unless the control core took its only core. */
			if (node >= 0 && in_node > 0) n = in_node;
			if (n == 0)
				return fail(err, errlen, "%s: no core is left for shards (online %s, control core %d); set %s",
					    HW_KEY_CORES, hw_cpuset_format(&t->online, on, sizeof on), reserved, HW_KEY_CORES);
			if (node >= 0)
				note(p, "shards on NUMA node %d, the NIC's node: one per %s", node,
				     p->allow_smt ? "thread" : "physical core (SMT siblings left idle)");
			else
				note(p, "one shard per %s (NIC NUMA node unknown)",
				     p->allow_smt ? "online thread" : "physical core (SMT siblings left idle)");
		}
		if (p->backend == HW_NET_DPDK && nic && nic->rx_queues > 0 && n > nic->rx_queues && !want) {
			note(p, "%d shards capped to the %d queues of %s (DPDK gives each shard a queue)", n,
			     nic->rx_queues, nic->name);
			n = nic->rx_queues;
		}
	}
	if (p->backend == HW_NET_DPDK && nic && nic->rx_queues > 0 && n > nic->rx_queues)
		return fail(err, errlen, "%s=%s: %d shards but %s has %d receive queues (allowed: at most one shard per "
			    "queue with the dpdk backend)", set(c->cores) ? HW_KEY_CORES : HW_KEY_SHARDS,
			    set(c->cores) ? c->cores : c->shards, n, nic->name, nic->rx_queues);

	p->shards = calloc((size_t)n, sizeof *p->shards);
	if (!p->shards) { fail(err, errlen, "out of memory"); return -ENOMEM; }
	p->nshards = n;
	for (int i = 0; i < n; i++) {
		const struct hw_cpu *cpu = hw_topology_cpu(t, cores[i]);
		p->shards[i] = (struct hw_plan_shard){ .shard = i, .cpu = cpu->id, .node = cpu->node,
			.smt_sibling = sibling_of(t, cpu), .queue = -1, .irq = -1 };
	}

	/* The control process shares shard 0's core when none was set aside. */
	if (p->control_cpu < 0) {
		p->control_cpu = p->shards[0].cpu;
		note(p, "control process shares core %d with shard 0: %s", p->control_cpu, share_why);
	}
	const struct hw_cpu *cc = hw_topology_cpu(t, p->control_cpu);
	p->control_node = cc->node;
	for (int i = 0; i < n; i++)
		if (p->shards[i].cpu == p->control_cpu) p->control_shares_shard = i;

	/* Queues: shard k serves queue k, or the list given. */
	if (set(c->queues)) {
		if (!nic && p->backend == HW_NET_URING)
			return fail(err, errlen, "%s=%s: no NIC is planned (allowed only with %s set)", HW_KEY_QUEUES,
				    c->queues, HW_KEY_INTERFACE);
		char why[160];
		int *q = malloc(sizeof(int) * HW_MAX_CPUS);
		if (!q) return -ENOMEM;
		int nq = hw_cpulist_parse(c->queues, q, HW_MAX_CPUS, why, sizeof why);
		int rc = 0;
		if (nq < 0)
			rc = fail(err, errlen, "%s=%s: %s", HW_KEY_QUEUES, c->queues, why);
		else if (nq != n)
			rc = fail(err, errlen, "%s=%s: %d queues for %d shards (allowed: one queue per shard, in shard order)",
				  HW_KEY_QUEUES, c->queues, nq, n);
		for (int i = 0; !rc && i < nq; i++) {
			/* The dpdk backend sets the port up with one queue pair per shard and shard k
			 * polls queue k (RSS spreads flows over exactly those): a plan that said otherwise
			 * would not be what runs. */
			if (p->backend == HW_NET_DPDK && q[i] != i)
				rc = fail(err, errlen, "%s=%s: shard %d would serve queue %d, but the dpdk backend gives "
					  "shard k queue k (allowed: 0-%d in shard order, or unset)", HW_KEY_QUEUES, c->queues,
					  i, q[i], n - 1);
			else if (nic && nic->rx_queues > 0 && q[i] >= nic->rx_queues)
				rc = fail(err, errlen, "%s=%s: queue %d does not exist: %s has %d receive queues (0-%d)",
					  HW_KEY_QUEUES, c->queues, q[i], nic->name, nic->rx_queues, nic->rx_queues - 1);
			else
				p->shards[i].queue = q[i];
		}
		free(q);
		if (rc) return rc;
	} else if (nic || p->backend == HW_NET_DPDK) {
		int nq = nic ? nic->rx_queues : 0;
		for (int i = 0; i < n; i++)
			if (nq == 0 ? p->backend == HW_NET_DPDK : i < nq) p->shards[i].queue = i;
	}

	/* IRQs: kernel path only; DPDK polls its queues. */
	int *irqc = NULL, nirqc = 0;
	if (set(c->irq_cores)) {
		if (p->backend == HW_NET_DPDK)
			return fail(err, errlen, "%s=%s: the dpdk backend polls its queues, it has no queue IRQs (allowed "
				    "only with %s=uring)", HW_KEY_IRQ_CORES, c->irq_cores, HW_KEY_BACKEND);
		irqc = malloc(sizeof(int) * HW_MAX_CPUS);
		if (!irqc) return -ENOMEM;
		nirqc = parse_cores(t, HW_KEY_IRQ_CORES, c->irq_cores, irqc, err, errlen);
		if (nirqc < 0) { free(irqc); return nirqc; }
	}
	if (nic && p->backend == HW_NET_URING) {
		int nq = 0;
		for (int i = 0; i < nic->nirqs; i++) nq += nic->irqs[i].queue >= 0;
		if (nq) {
			p->irqs = calloc((size_t)nq, sizeof *p->irqs);
			if (!p->irqs) { free(irqc); return -ENOMEM; }
		}
		for (int i = 0; i < nic->nirqs; i++) {
			const struct hw_nic_irq *ni = &nic->irqs[i];
			if (ni->queue < 0) continue;
			int owner = -1;
			for (int s = 0; s < n && owner < 0; s++)
				if (p->shards[s].queue == ni->queue) owner = s;
			/* Queues beyond the shards still carry RSS traffic: spread them over the shards. */
			int core_of = owner >= 0 ? owner : ni->queue % n;
			struct hw_plan_irq *pi = &p->irqs[p->nirqs++];
			pi->irq = ni->irq;
			pi->queue = ni->queue;
			pi->shard = owner;
			pi->cpu = nirqc ? irqc[ni->queue % nirqc] : p->shards[core_of].cpu;
			snprintf(pi->name, sizeof pi->name, "%s", ni->name);
			if (owner >= 0 && p->shards[owner].irq < 0) p->shards[owner].irq = ni->irq;
		}
		if (nic->has_device && nq == 0)
			note(p, "the queue IRQs of %s are unknown (no msi_irqs and no queue names in /proc/interrupts)",
			     nic->name);
		else if (nq)
			note(p, "each queue IRQ of %s on %s", nic->name,
			     nirqc ? "the cores of " HW_KEY_IRQ_CORES : "the core of the shard serving the queue");
	}
	free(irqc);
	return 0;
}

int hw_plan_build(const struct hw_topology *t, const struct hw_plan_config *c,
		  struct hw_plan *out, char *err, size_t errlen)
{
	static const struct hw_plan_config none;
	memset(out, 0, sizeof *out);
	if (!c) c = &none;
	int *cores = malloc(sizeof(int) * HW_MAX_CPUS * 2);
	if (!cores) return -ENOMEM;
	int rc = build(t, c, out, cores, err, errlen);
	free(cores);
	if (rc) hw_plan_fini(out);
	return rc;
}

void hw_plan_fini(struct hw_plan *p)
{
	free(p->shards);
	free(p->irqs);
	p->shards = NULL;
	p->irqs = NULL;
	p->nshards = p->nirqs = 0;
}

static const char *numstr(int v, char *buf, size_t len)
{
	if (v < 0) snprintf(buf, len, "-");
	else snprintf(buf, len, "%d", v);
	return buf;
}

void hw_plan_print(FILE *f, const struct hw_plan *p)
{
	char a[16], b[16], c[16], d[16];
	fprintf(f, "affinity plan: %d shard%s, backend %s, NIC %s", p->nshards, p->nshards == 1 ? "" : "s",
		hw_net_backend_name(p->backend), p->interface[0] ? p->interface : "none");
	if (p->interface[0])
		fprintf(f, " (NUMA node %s, receive queues: %s)", numstr(p->nic_node, a, sizeof a),
			p->nic_queues ? numstr(p->nic_queues, b, sizeof b) : "unknown");
	fprintf(f, "\n%-6s %-5s %-5s %-12s %-10s %s\n", "shard", "core", "node", "smt-sibling", "nic-queue",
		p->backend == HW_NET_DPDK ? "irq (dpdk polls)" : "irq");
	for (int i = 0; i < p->nshards; i++) {
		const struct hw_plan_shard *s = &p->shards[i];
		fprintf(f, "%-6d %-5d %-5s %-12s %-10s %s\n", s->shard, s->cpu, numstr(s->node, a, sizeof a),
			numstr(s->smt_sibling, b, sizeof b), numstr(s->queue, c, sizeof c), numstr(s->irq, d, sizeof d));
	}
	fprintf(f, "control process: core %d (node %s), ", p->control_cpu, numstr(p->control_node, a, sizeof a));
	if (p->control_shares_shard >= 0) fprintf(f, "shared with shard %d\n", p->control_shares_shard);
	else fprintf(f, "its own core\n");
	if (p->nirqs) {
		fprintf(f, "IRQ affinity (kernel path):\n%-6s %-24s %-6s %-6s %s\n", "irq", "name", "queue", "shard", "core");
		for (int i = 0; i < p->nirqs; i++) {
			const struct hw_plan_irq *q = &p->irqs[i];
			fprintf(f, "%-6d %-24s %-6d %-6s %d\n", q->irq, q->name, q->queue, numstr(q->shard, a, sizeof a), q->cpu);
		}
	}
	for (int i = 0; i < p->nnotes; i++) fprintf(f, "why: %s\n", p->notes[i]);
}

void hw_plan_log(const struct hw_plan *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f) return;
	hw_plan_print(f, p);
	if (fclose(f)) { free(text); return; }
	for (char *sv, *line = strtok_r(text, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv))
		RT_INFO("%s", line);
	free(text);
}
