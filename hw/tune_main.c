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

#include "hw/plan.h"
#include "hw/topology.h"
#include "hw/tune.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringtail-tune [--apply] [--set key=value]... [--sysfs-root DIR] [--procfs-root DIR]\n"
		"                     [--print-plan]\n"
		"Checks what the Ringtail appliance wants from the kernel and prints, per check, the current\n"
		"value, the wanted value, OK/CHANGE and why.  --apply sets what differs (idempotent).\n"
		"Keys for --set: " HW_KEY_CORES ", " HW_KEY_SHARDS ", " HW_KEY_CONTROL_CORE ", " HW_KEY_ALLOW_SMT ",\n"
		"  " HW_KEY_BACKEND ", " HW_KEY_INTERFACE ", " HW_KEY_QUEUES ", " HW_KEY_IRQ_CORES ",\n"
		"  " HW_KEY_HUGEPAGES ", log.dirs (default ./ringtail-data)\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hw_plan_config pc = {0};
	struct hw_tune_opts o = { .log_dirs = "./ringtail-data" };
	bool print_plan = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "as:hp", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': o.apply = true; break;
		case 'S': o.sysfs_root = optarg; break;
		case 'P': o.procfs_root = optarg; break;
		case 'p': print_plan = true; break;
		case 'h': usage(stdout); return 0;
		case 's': {
			char *eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "ringtail-tune: --set %s: allowed: key=value\n", optarg);
				return 1;
			}
			*eq = '\0';
			const char *k = optarg, *v = eq + 1;
			if (!strcmp(k, HW_KEY_CORES)) pc.cores = v;
			else if (!strcmp(k, HW_KEY_SHARDS)) pc.shards = v;
			else if (!strcmp(k, HW_KEY_CONTROL_CORE)) pc.control_core = v;
			else if (!strcmp(k, HW_KEY_ALLOW_SMT)) pc.allow_smt = v;
			else if (!strcmp(k, HW_KEY_BACKEND)) pc.backend = v;
			else if (!strcmp(k, HW_KEY_INTERFACE)) pc.interface = v;
			else if (!strcmp(k, HW_KEY_QUEUES)) pc.queues = v;
			else if (!strcmp(k, HW_KEY_IRQ_CORES)) pc.irq_cores = v;
			else if (!strcmp(k, "log.dirs")) o.log_dirs = v;
			else if (!strcmp(k, HW_KEY_HUGEPAGES)) {
				char *e;
				long n = strtol(v, &e, 10);
				if (e == v || *e || n < 1 || n > 1L << 30) {
					fprintf(stderr, "ringtail-tune: %s=%s: allowed: a whole number of 2 MiB pages, 1 or more\n",
						k, v);
					return 1;
				}
				o.hugepages = n;
			} else {
				fprintf(stderr, "ringtail-tune: --set %s: unknown key (allowed: the keys listed by --help)\n", k);
				return 1;
			}
			break;
		}
		default: usage(stderr); return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringtail-tune: unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	char err[512];
	struct hw_topology *t = hw_topology_load(o.sysfs_root, o.procfs_root, err, sizeof err);
	if (!t) {
		fprintf(stderr, "ringtail-tune: %s\n", err);
		return 1;
	}
	struct hw_plan plan;
	if (hw_plan_build(t, &pc, &plan, err, sizeof err)) {
		fprintf(stderr, "ringtail-tune: invalid plan: %s\n", err);
		hw_topology_destroy(t);
		return 1;
	}
	if (print_plan) {
		hw_plan_print(stdout, &plan);
		fputc('\n', stdout);
	}
	o.topo = t;
	o.plan = &plan;
	struct hw_tune_counts n;
	hw_tune_run(&o, stdout, &n);
	hw_plan_fini(&plan);
	hw_topology_destroy(t);
	if (n.failed) return 1;
	return !o.apply && n.change ? 2 : 0;
}
