/*
 * hw/tune_main.c: the ringtail-tune command: reads the topology, builds the affinity plan from
 * the ringtail.* values given, then runs the checks of hw/tune.c (and with --apply sets them).
 *
 * Exit status: 0 nothing to change (or everything changed), 2 check mode found something to
 * change, 1 a bad argument, an invalid plan, or a change that failed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/props.h"
#include "hw/plan.h"
#include "hw/topology.h"
#include "hw/tune.h"

/* The tune options plus the hugepages text, validated once every source is read. */
struct tune_opts {
	struct hw_tune_opts t;
	const char *hugepages_text;
};

static const char *const keys[] = {
	HW_KEY_CORES, HW_KEY_SHARDS, HW_KEY_CONTROL_CORE, HW_KEY_ALLOW_SMT, HW_KEY_BACKEND,
	HW_KEY_INTERFACE, HW_KEY_QUEUES, HW_KEY_IRQ_CORES, HW_KEY_HUGEPAGES, HW_KEY_DPDK_PORT, HW_KEY_DPDK_EAL,
	"log.dirs", NULL,
};

static bool known(const char *k)
{
	for (int i = 0; keys[i]; i++)
		if (!strcmp(keys[i], k)) return true;
	return false;
}

/* Records key=value (both borrowed; they outlive the run). */
static void take(struct hw_plan_config *pc, struct tune_opts *o, const char *k, const char *v)
{
	if (!strcmp(k, HW_KEY_CORES)) pc->cores = v;
	else if (!strcmp(k, HW_KEY_SHARDS)) pc->shards = v;
	else if (!strcmp(k, HW_KEY_CONTROL_CORE)) pc->control_core = v;
	else if (!strcmp(k, HW_KEY_ALLOW_SMT)) pc->allow_smt = v;
	else if (!strcmp(k, HW_KEY_BACKEND)) pc->backend = v;
	else if (!strcmp(k, HW_KEY_INTERFACE)) pc->interface = v;
	else if (!strcmp(k, HW_KEY_QUEUES)) pc->queues = v;
	else if (!strcmp(k, HW_KEY_IRQ_CORES)) pc->irq_cores = v;
	else if (!strcmp(k, HW_KEY_HUGEPAGES)) o->hugepages_text = v;
	else if (!strcmp(k, HW_KEY_DPDK_PORT)) o->t.dpdk_port = v;
	else if (!strcmp(k, HW_KEY_DPDK_EAL)) o->t.dpdk_eal_args = v;
	else if (!strcmp(k, "log.dirs")) o->t.log_dirs = v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringtail-tune [--config FILE] [--apply] [--set key=value]... [--sysfs-root DIR]\n"
		"                     [--procfs-root DIR] [--print-plan]\n"
		"Checks what the Ringtail appliance wants from the kernel and prints, per check, the current\n"
		"value, the wanted value, OK/CHANGE and why.  --apply sets what differs (idempotent).\n"
		"--config reads the broker's properties file (other keys in it are ignored); --set overrides it.\n"
		"Keys: " HW_KEY_CORES ", " HW_KEY_SHARDS ", " HW_KEY_CONTROL_CORE ", " HW_KEY_ALLOW_SMT ",\n"
		"  " HW_KEY_BACKEND ", " HW_KEY_INTERFACE ", " HW_KEY_QUEUES ", " HW_KEY_IRQ_CORES ",\n"
		"  " HW_KEY_HUGEPAGES ", " HW_KEY_DPDK_PORT ", " HW_KEY_DPDK_EAL ",\n"
		"  log.dirs (default ./ringtail-data)\n"
		"Exit status: 0 nothing to change, 2 something to change (check mode), 1 error or failed change.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "apply", no_argument, NULL, 'a' },
		{ "set", required_argument, NULL, 's' },
		{ "sysfs-root", required_argument, NULL, 'S' },
		{ "procfs-root", required_argument, NULL, 'P' },
		{ "print-plan", no_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hw_plan_config pc = {0};
	struct tune_opts o = { .t = { .log_dirs = "./ringtail-data" } };
	bool print_plan = false;
	const char *config = NULL;
	char *sets[64];
	int nsets = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "as:hp", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': o.t.apply = true; break;
		case 'S': o.t.sysfs_root = optarg; break;
		case 'P': o.t.procfs_root = optarg; break;
		case 'p': print_plan = true; break;
		case 'h': usage(stdout); return 0;
		case 's':
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "ringtail-tune: --set %s: allowed: key=value\n", optarg);
				return 1;
			}
			if (nsets < (int)(sizeof sets / sizeof sets[0])) sets[nsets++] = optarg;
			break;
		case 'c': config = optarg; break;
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringtail-tune: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	char err[512];
	struct rt_props props;
	rt_props_init(&props);
	if (config) {
		if (rt_props_load_file(&props, config, err, sizeof err)) {
			fprintf(stderr, "ringtail-tune: %s\n", err);
			return 1;
		}
		/* Only the keys this tool knows; the broker's other keys are not ours to judge. */
		for (size_t i = 0; i < props.n; i++)
			if (known(props.v[i].key)) take(&pc, &o, props.v[i].key, props.v[i].value);
	}
	for (int i = 0; i < nsets; i++) {
		char *eq = strchr(sets[i], '=');
		*eq = '\0';
		if (!known(sets[i])) {
			fprintf(stderr, "ringtail-tune: --set %s: unknown key (allowed: the keys listed by --help)\n", sets[i]);
			rt_props_fini(&props);
			return 1;
		}
		take(&pc, &o, sets[i], eq + 1);
	}
	if (o.hugepages_text) {
		char *e;
		long n = strtol(o.hugepages_text, &e, 10);
		if (e == o.hugepages_text || *e || n < 1 || n > 1L << 30) {
			fprintf(stderr, "ringtail-tune: %s=%s: allowed: a whole number of 2 MiB pages, 1 or more\n",
				HW_KEY_HUGEPAGES, o.hugepages_text);
			rt_props_fini(&props);
			return 1;
		}
		o.t.hugepages = n;
	}
	struct hw_topology *t = hw_topology_load(o.t.sysfs_root, o.t.procfs_root, err, sizeof err);
	if (!t) {
		fprintf(stderr, "ringtail-tune: %s\n", err);
		rt_props_fini(&props);
		return 1;
	}
	struct hw_plan plan;
	if (hw_plan_build(t, &pc, &plan, err, sizeof err)) {
		fprintf(stderr, "ringtail-tune: invalid plan: %s\n", err);
		hw_topology_destroy(t);
		rt_props_fini(&props);
		return 1;
	}
	if (print_plan) {
		hw_plan_print(stdout, &plan);
		fputc('\n', stdout);
	}
	o.t.topo = t;
	o.t.plan = &plan;
	struct hw_tune_counts n;
	hw_tune_run(&o.t, stdout, &n);
	hw_plan_fini(&plan);
	hw_topology_destroy(t);
	rt_props_fini(&props);
	if (n.failed) return 1;
	return !o.t.apply && n.change ? 2 : 0;
}
