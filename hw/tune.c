/*
 * hw/tune.c: the checks behind ringtail-tune (see hw/tune.h for the contract).
 *
 * Each check reads a current value, compares it with the wanted one under a rule (equal, at
 * least, at most, the selected word of a "[bracketed]" sysfs choice, a CPU list), and in apply
 * mode writes the wanted value only when the rule fails, then reads it back.  The wanted values
 * are the ones Kafka operators' production guides converge on, adapted where Ringtail differs
 * (acks=-1 is fdatasync'd by group commit, so dirty page limits are about smoothing writeback,
 * not about durability).
 */
#include "hw/tune.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Rows are display text and paths are bounded by PATH_MAX: a cut-off message is acceptable
 * where a larger buffer would only move the limit. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

enum rule {
	R_EQ,       /* whitespace-normalised strings equal */
	R_MIN,      /* every number >= the wanted one at the same position; apply keeps larger ones */
	R_MAX,      /* the number <= wanted */
	R_CHOICE,   /* the selected word of "a [b] c" equals wanted; wanted must be offered */
	R_CPUS,     /* CPU lists describe the same set */
};

struct ctx {
	const struct hw_tune_opts *o;
	const char *sys, *proc;
	FILE *out;
	struct hw_tune_counts *n;
};

const char *hw_tune_status_name(enum hw_tune_status s)
{
	switch (s) {
	case HW_TUNE_OK: return "OK";
	case HW_TUNE_CHANGE: return "CHANGE";
	case HW_TUNE_CHANGED: return "CHANGED";
	case HW_TUNE_FAILED: return "FAILED";
	case HW_TUNE_NA: return "N/A";
	case HW_TUNE_SKIPPED: return "SKIPPED";
	}
	return "?";
}

static void row(struct ctx *x, const char *name, const char *cur, const char *want, enum hw_tune_status s,
		const char *why)
{
	switch (s) {
	case HW_TUNE_OK: x->n->ok++; break;
	case HW_TUNE_CHANGE: x->n->change++; break;
	case HW_TUNE_CHANGED: x->n->changed++; break;
	case HW_TUNE_FAILED: x->n->failed++; break;
	case HW_TUNE_NA: x->n->na++; break;
	case HW_TUNE_SKIPPED: x->n->skipped++; break;
	}
	fprintf(x->out, "%-36s %-22s %-22s %-8s %s\n", name, cur, want, hw_tune_status_name(s), why);
}

/* Reads a whole small file, whitespace runs folded to one space, ends trimmed.  0 or -errno. */
static int slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	ssize_t r = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (r < 0) return -e;
	size_t w = 0;
	bool sp = false;
	for (ssize_t i = 0; i < r; i++) {
		if (isspace((unsigned char)buf[i])) { sp = w > 0; continue; }
		if (sp) buf[w++] = ' ';
		sp = false;
		buf[w++] = buf[i];
	}
	buf[w] = '\0';
	return 0;
}

/* Writes s and a newline; 0 or -errno. */
static int put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) return -errno;
	char buf[512];
	int n = snprintf(buf, sizeof buf, "%s\n", s);
	ssize_t w = write(fd, buf, (size_t)n);
	int e = errno;
	if (close(fd) && w == n) return -errno;
	if (w < 0) return -e;
	return w == n ? 0 : -EIO;
}

/* The selected word of "always [madvise] never"; a file without brackets is its own word. */
static void choice(const char *s, char *out, size_t len)
{
	const char *a = strchr(s, '['), *b = a ? strchr(a, ']') : NULL;
	if (a && b) snprintf(out, len, "%.*s", (int)(b - a - 1), a + 1);
	else snprintf(out, len, "%s", s);
}

static bool offers(const char *s, const char *word)
{
	if (!strchr(s, '[')) return true;  /* a plain value (a fake tree after a write) lists no choices */
	char w[64];
	for (const char *p = s; *p;) {
		while (*p == ' ') p++;
		size_t l = strcspn(p, " ");
		snprintf(w, sizeof w, "%.*s", (int)l, p);
		char *q = w;
		if (*q == '[') q++;
		size_t ql = strlen(q);
		if (ql && q[ql - 1] == ']') q[ql - 1] = '\0';
		if (!strcmp(q, word)) return true;
		p += l;
	}
	return false;
}

static bool numbers_ok(const char *cur, const char *want, enum rule r, char *merged, size_t mlen)
{
	bool ok = true;
	size_t w = 0;
	merged[0] = '\0';
	const char *c = cur, *d = want;
	while (*d) {
		char *ce, *de;
		long long cv = strtoll(c, &ce, 10), dv = strtoll(d, &de, 10);
		if (de == d) break;
		if (ce == c) { ok = false; cv = dv; }
		if (r == R_MIN ? cv < dv : cv > dv) ok = false;
		long long v = r == R_MIN ? (cv > dv ? cv : dv) : (cv < dv ? cv : dv);
		w += (size_t)snprintf(merged + w, mlen > w ? mlen - w : 0, "%s%lld", w ? " " : "", v);
		c = ce;
		d = de;
		while (*d == ' ') d++;
	}
	return ok;
}

static bool same_cpus(const char *a, const char *b)
{
	struct hw_cpuset x, y;
	if (hw_cpuset_parse(a, &x, NULL, 0) < 0 || hw_cpuset_parse(b, &y, NULL, 0) < 0) return false;
	return !memcmp(&x, &y, sizeof x);
}

/* Whether cur satisfies want under r; *set receives what apply would write. */
static bool satisfied(const char *cur, const char *want, enum rule r, char *set, size_t setlen)
{
	char sel[128];
	snprintf(set, setlen, "%s", want);
	switch (r) {
	case R_EQ: return !strcmp(cur, want);
	case R_MIN:
	case R_MAX: return numbers_ok(cur, want, r, set, setlen);
	case R_CHOICE: choice(cur, sel, sizeof sel); return !strcmp(sel, want);
	case R_CPUS: return same_cpus(cur, want);
	}
	return false;
}

static const char *want_text(const char *want, enum rule r, char *buf, size_t len)
{
	if (r == R_MIN) snprintf(buf, len, ">= %s", want);
	else if (r == R_MAX) snprintf(buf, len, "<= %s", want);
	else snprintf(buf, len, "%s", want);
	return buf;
}

/* One file, one rule.  path is absolute (already under a root). */
static enum hw_tune_status check_file(struct ctx *x, const char *name, const char *path, const char *want,
				      enum rule r, const char *why)
{
	char cur[512], shown[128], set[256], wt[128];
	want_text(want, r, wt, sizeof wt);
	int rc = slurp(path, cur, sizeof cur);
	if (rc) {
		row(x, name, "not available here", wt, HW_TUNE_NA, why);
		return HW_TUNE_NA;
	}
	if (r == R_CHOICE) choice(cur, shown, sizeof shown);
	else snprintf(shown, sizeof shown, "%s", cur);
	if (r == R_CHOICE && !offers(cur, want)) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s (this kernel offers: %s)", why, cur);
		row(x, name, shown, wt, HW_TUNE_NA, msg);
		return HW_TUNE_NA;
	}
	if (satisfied(cur, want, r, set, sizeof set)) {
		row(x, name, shown, wt, HW_TUNE_OK, why);
		return HW_TUNE_OK;
	}
	if (!x->o->apply) {
		row(x, name, shown, wt, HW_TUNE_CHANGE, why);
		return HW_TUNE_CHANGE;
	}
	rc = put(path, set);
	char after[512], msg[320];
	if (rc) {
		snprintf(msg, sizeof msg, "writing %s failed: %s%s", set, strerror(-rc),
			 rc == -EIO && r == R_CPUS ? " (the kernel manages this IRQ's affinity)" : "");
		row(x, name, shown, wt, HW_TUNE_FAILED, msg);
		return HW_TUNE_FAILED;
	}
	if (slurp(path, after, sizeof after) || !satisfied(after, want, r, set, sizeof set)) {
		snprintf(msg, sizeof msg, "wrote %s but it reads back as %s", set, after);
		row(x, name, shown, wt, HW_TUNE_FAILED, msg);
		return HW_TUNE_FAILED;
	}
	snprintf(msg, sizeof msg, "%s -> %s; %s", shown, set, why);
	row(x, name, shown, wt, HW_TUNE_CHANGED, msg);
	return HW_TUNE_CHANGED;
}

static void governor(struct ctx *x)
{
	const char *why = "no clock ramp-up delay when a burst arrives; latency stays flat";
	const struct hw_topology *t = x->o->topo;
	char path[PATH_MAX], cur[64];
	struct hw_cpuset other, missing;
	hw_cpuset_clear(&other);
	hw_cpuset_clear(&missing);
	char other_val[64] = "";
	int have = 0;
	for (int i = 0; i < t->ncpus; i++) {
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cpufreq/scaling_governor", x->sys, t->cpus[i].id);
		if (slurp(path, cur, sizeof cur)) { hw_cpuset_add(&missing, t->cpus[i].id); continue; }
		have++;
		if (strcmp(cur, "performance")) {
			hw_cpuset_add(&other, t->cpus[i].id);
			snprintf(other_val, sizeof other_val, "%s", cur);
		}
	}
	if (!have) {
		row(x, "cpufreq governor", "not available here", "performance", HW_TUNE_NA,
		    "no cpufreq in sysfs (a VM, or the firmware owns the clock)");
		return;
	}
	char list[256], shown[128];
	int bad = hw_cpuset_count(&other);
	if (bad == 0) {
		row(x, "cpufreq governor", "performance", "performance", HW_TUNE_OK, why);
		return;
	}
	snprintf(shown, sizeof shown, "%s on %s", other_val, hw_cpuset_format(&other, list, sizeof list));
	if (!x->o->apply) {
		row(x, "cpufreq governor", shown, "performance", HW_TUNE_CHANGE, why);
		return;
	}
	int failed = 0, rc = 0;
	for (int c = 0; c < HW_MAX_CPUS; c++) {
		if (!hw_cpuset_has(&other, c)) continue;
		snprintf(path, sizeof path, "%s/devices/system/cpu/cpu%d/cpufreq/scaling_governor", x->sys, c);
		int r = put(path, "performance");
		if (!r && !slurp(path, cur, sizeof cur) && !strcmp(cur, "performance")) continue;
		failed++;
		rc = r ? r : -EIO;
	}
	char msg[256];
	if (failed) {
		snprintf(msg, sizeof msg, "%d of %d CPUs refused: %s", failed, bad, strerror(-rc));
		row(x, "cpufreq governor", shown, "performance", HW_TUNE_FAILED, msg);
	} else {
		snprintf(msg, sizeof msg, "set performance on %s; %s", list, why);
		row(x, "cpufreq governor", shown, "performance", HW_TUNE_CHANGED, msg);
	}
}

static void thp(struct ctx *x)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/kernel/mm/transparent_hugepage/enabled", x->sys);
	check_file(x, "transparent hugepages", path, "madvise", R_CHOICE,
		   "'always' stalls in khugepaged compaction and bloats memory; madvise lets Ringtail opt in "
		   "for its own arenas only");
	snprintf(path, sizeof path, "%s/kernel/mm/transparent_hugepage/defrag", x->sys);
	check_file(x, "transparent hugepages defrag", path, "defer", R_CHOICE,
		   "a shard never stalls in a page fault for compaction; kcompactd does it in the background");
}

/* The pids whose comm is `name` under the procfs root; returns the first or 0. */
static pid_t find_process(const char *proc, const char *name)
{
	DIR *d = opendir(proc);
	if (!d) return 0;
	struct dirent *de;
	pid_t found = 0;
	char path[PATH_MAX], comm[64];
	while (!found && (de = readdir(d))) {
		char *e;
		long pid = strtol(de->d_name, &e, 10);
		if (*e || pid <= 0) continue;
		snprintf(path, sizeof path, "%s/%ld/comm", proc, pid);
		if (!slurp(path, comm, sizeof comm) && !strcmp(comm, name)) found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

static int run(char *const argv[])
{
	pid_t pid;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ)) return -1;
	int st;
	if (waitpid(pid, &st, 0) < 0) return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void irqbalance(struct ctx *x)
{
	const char *why = "it rewrites IRQ affinity every 10 s and would undo the plan's pinning";
	pid_t pid = find_process(x->proc, "irqbalance");
	char cur[64];
	if (!pid) {
		row(x, "irqbalance", "not running", "not running", HW_TUNE_OK, why);
		return;
	}
	snprintf(cur, sizeof cur, "running (pid %d)", (int)pid);
	if (!x->o->apply) {
		row(x, "irqbalance", cur, "not running", HW_TUNE_CHANGE, why);
		return;
	}
	if (strcmp(x->proc, "/proc")) {
		row(x, "irqbalance", cur, "not running", HW_TUNE_SKIPPED,
		    "a process under a test procfs root is not stopped");
		return;
	}
	struct stat st;
	if (stat("/run/systemd/system", &st) == 0) {
		/* Under systemd a plain kill would be undone by the unit; stop and disable it. */
		run((char *const[]){ "systemctl", "stop", "irqbalance.service", NULL });
		run((char *const[]){ "systemctl", "disable", "irqbalance.service", NULL });
	}
	if (find_process(x->proc, "irqbalance") == pid) kill(pid, SIGTERM);
	for (int i = 0; i < 20 && find_process(x->proc, "irqbalance"); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	if (find_process(x->proc, "irqbalance"))
		row(x, "irqbalance", cur, "not running", HW_TUNE_FAILED, "still running after SIGTERM");
	else
		row(x, "irqbalance", cur, "not running", HW_TUNE_CHANGED, "stopped (and disabled under systemd)");
}

static void irq_affinity(struct ctx *x)
{
	const struct hw_plan *p = x->o->plan;
	if (!p) return;
	if (p->backend == HW_NET_DPDK) {
		row(x, "NIC IRQ affinity", "-", "-", HW_TUNE_OK, "the dpdk backend polls its queues: no IRQs to pin");
		return;
	}
	if (p->nirqs == 0) {
		row(x, "NIC IRQ affinity", "not available here", "-", HW_TUNE_NA,
		    p->interface[0] ? "the plan found no queue IRQs for the NIC" : "no NIC in the plan (set ringtail.net.interface)");
		return;
	}
	for (int i = 0; i < p->nirqs; i++) {
		char name[64], path[PATH_MAX], want[16], why[160];
		snprintf(name, sizeof name, "irq %d %s", p->irqs[i].irq, p->irqs[i].name);
		snprintf(path, sizeof path, "%s/irq/%d/smp_affinity_list", x->proc, p->irqs[i].irq);
		snprintf(want, sizeof want, "%d", p->irqs[i].cpu);
		if (p->irqs[i].shard >= 0)
			snprintf(why, sizeof why, "queue %d's softirq work on shard %d's core, where its data is read",
				 p->irqs[i].queue, p->irqs[i].shard);
		else
			snprintf(why, sizeof why, "queue %d has no shard of its own: spread over the shard cores",
				 p->irqs[i].queue);
		check_file(x, name, path, want, R_CPUS, why);
	}
}

struct sysctl { const char *key, *want; enum rule r; const char *why; };

static const struct sysctl sysctls[] = {
	{ "net.core.somaxconn", "4096", R_MIN, "accept backlog for reconnect storms after a restart" },
	{ "net.ipv4.tcp_max_syn_backlog", "4096", R_MIN, "half-open connections during the same storms" },
	{ "net.core.netdev_max_backlog", "16384", R_MIN, "per-CPU receive backlog at 10-100 Gbit/s before drops" },
	{ "net.core.rmem_max", "16777216", R_MIN, "lets socket.receive.buffer.bytes and autotuning reach 16 MiB" },
	{ "net.core.wmem_max", "16777216", R_MIN, "lets socket.send.buffer.bytes and autotuning reach 16 MiB" },
	{ "net.ipv4.tcp_rmem", "4096 87380 16777216", R_MIN, "receive autotuning up to 16 MiB for high-BDP producers" },
	{ "net.ipv4.tcp_wmem", "4096 65536 16777216", R_MIN, "send autotuning up to 16 MiB for large fetch responses" },
	{ "net.ipv4.tcp_slow_start_after_idle", "0", R_EQ, "an idle producer connection keeps its congestion window" },
	{ "vm.swappiness", "1", R_MAX, "keep the broker and page cache in RAM; 1, not 0, so the kernel may still swap rather than OOM-kill" },
	{ "vm.dirty_background_ratio", "5", R_MAX, "start writeback early so acks=1 data flushes smoothly" },
	{ "vm.dirty_ratio", "60", R_MIN, "appends block on writeback only late; acks=-1 is fdatasync'd anyway" },
	{ "vm.max_map_count", "262144", R_MIN, "one mapping per segment index; many partitions need many" },
};

static void sysctl_checks(struct ctx *x)
{
	for (size_t i = 0; i < sizeof sysctls / sizeof sysctls[0]; i++) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof path, "%s/sys/", x->proc);
		for (const char *k = sysctls[i].key; *k && n < (int)sizeof path - 1; k++) path[n++] = *k == '.' ? '/' : *k;
		path[n] = '\0';
		check_file(x, sysctls[i].key, path, sysctls[i].want, sysctls[i].r, sysctls[i].why);
	}
}

static void scheduler_one(struct ctx *x, const char *dir)
{
	char d[PATH_MAX], name[96], path[PATH_MAX], rot[16], real[PATH_MAX];
	struct stat st;
	snprintf(d, sizeof d, "%s", dir);
	/* log.dirs may not exist yet: the disk is the one of its nearest existing parent. */
	while (stat(d, &st) && strlen(d) > 1) {
		char *s = strrchr(d, '/');
		if (!s) { snprintf(d, sizeof d, "."); continue; }
		if (s == d) s[1] = '\0'; else *s = '\0';
	}
	snprintf(name, sizeof name, "I/O scheduler (%s)", dir);
	if (stat(d, &st)) {
		row(x, name, "not available here", "none", HW_TUNE_NA, "log.dirs and its parents cannot be read");
		return;
	}
	unsigned ma = major(st.st_dev), mi = minor(st.st_dev);
	char base[PATH_MAX];
	snprintf(base, sizeof base, "%s/dev/block/%u:%u", x->sys, ma, mi);
	snprintf(path, sizeof path, "%s/partition", base);
	if (stat(path, &st) == 0) {
		size_t l = strlen(base);
		snprintf(base + l, sizeof base - l, "/..");
	}
	snprintf(path, sizeof path, "%s/queue/scheduler", base);
	if (stat(path, &st)) {
		row(x, name, "not available here", "none", HW_TUNE_NA,
		    ma == 0 ? "log.dirs is on a virtual filesystem (tmpfs, overlay)" : "the device has no I/O scheduler");
		return;
	}
	const char *dev = "";
	if (realpath(base, real)) { const char *s = strrchr(real, '/'); dev = s ? s + 1 : real; }
	snprintf(name, sizeof name, "I/O scheduler %s", dev);
	snprintf(rot, sizeof rot, "1");
	char rp[PATH_MAX];
	snprintf(rp, sizeof rp, "%s/queue/rotational", base);
	slurp(rp, rot, sizeof rot);
	bool ssd = !strcmp(rot, "0") || !strncmp(dev, "nvme", 4);
	char why[PATH_MAX + 128];
	snprintf(why, sizeof why, "log.dirs %s: %s", dir,
		 ssd ? "flash reorders itself; none costs the least CPU per I/O (group commit already batches)"
		     : "the device says it is rotational: mq-deadline keeps reads from starving behind appends");
	check_file(x, name, path, ssd ? "none" : "mq-deadline", R_CHOICE, why);
}

static void io_scheduler(struct ctx *x)
{
	if (!x->o->log_dirs || !*x->o->log_dirs) return;
	char dirs[4096];
	snprintf(dirs, sizeof dirs, "%s", x->o->log_dirs);
	for (char *sv, *d = strtok_r(dirs, ",", &sv); d; d = strtok_r(NULL, ",", &sv)) {
		while (*d == ' ') d++;
		if (*d) scheduler_one(x, d);
	}
}

static void hugepages(struct ctx *x)
{
	const struct hw_plan *p = x->o->plan;
	char path[PATH_MAX], want[32], name[64];
	if (!p || p->backend != HW_NET_DPDK) {
		row(x, "hugepages 2 MiB (DPDK)", "-", "-", HW_TUNE_OK, "not needed: the uring backend uses normal pages");
		return;
	}
	const char *eal = x->o->dpdk_eal_args;
	if (eal && strstr(eal, "--no-huge")) {
		row(x, "hugepages 2 MiB (DPDK)", "-", "-", HW_TUNE_OK,
		    "not used: " HW_KEY_DPDK_EAL " has --no-huge (a test set-up; the appliance drops it)");
		return;
	}
	long n = x->o->hugepages > 0 ? x->o->hugepages : HW_TUNE_DEFAULT_HUGEPAGES;
	snprintf(want, sizeof want, "%ld", n);
	struct stat st;
	snprintf(path, sizeof path, "%s/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages", x->sys,
		 p->nic_node);
	if (p->nic_node >= 0 && stat(path, &st) == 0) {
		snprintf(name, sizeof name, "hugepages 2 MiB on node %d", p->nic_node);
		check_file(x, name, path, want, R_MIN, "DPDK mbuf pools, on the NIC's node so DMA stays local");
		return;
	}
	snprintf(path, sizeof path, "%s/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", x->sys);
	check_file(x, "hugepages 2 MiB", path, want, R_MIN, "DPDK mbuf pools and rings live in huge pages");
}

/* ringtail.dpdk.port as a PCI address "0000:03:00.0" (or "03:00.0"), up to its first comma,
 * in sysfs's form (lower case, with the domain) into out; false when it is not one. */
static bool pci_addr(const char *port, char *out, size_t len)
{
	size_t n = strcspn(port, ",");
	const char *shape = n == 12 ? "xxxx:xx:xx.d" : n == 7 ? "xx:xx.d" : NULL;
	if (!shape) return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)port[i];
		if (shape[i] == 'x' ? !isxdigit(ch) : shape[i] == 'd' ? ch < '0' || ch > '7' : ch != (unsigned char)shape[i])
			return false;
	}
	snprintf(out, len, "%s%.*s", n == 7 ? "0000:" : "", (int)n, port);
	for (char *c = out; *c; c++) *c = (char)tolower((unsigned char)*c);
	return true;
}

/* The last component of the symlink at path (a driver, an IOMMU group) into out; 0 or -errno. */
static int link_name(const char *path, char *out, size_t len)
{
	char t[PATH_MAX];
	ssize_t r = readlink(path, t, sizeof t - 1);
	if (r < 0) return -errno;
	t[r] = '\0';
	const char *s = strrchr(t, '/');
	snprintf(out, len, "%s", s ? s + 1 : t);
	return 0;
}

/* What the DPDK port needs from the machine: a NIC bound to a driver DPDK can use (vfio-pci, or
 * the kernel's own for a bifurcated mlx NIC) and an IOMMU, which gives VFIO IOVA-as-VA mode:
 * only then can the stack's zero-copy sends hand the NIC segment memory (net_dpdk/zc_policy.c;
 * in physical-address mode every send is copied) and the NIC's DMA stays confined.  Neither is
 * changed by apply: binding takes the NIC away from the kernel (and whatever reached the machine
 * over it), and the IOMMU is switched on at boot. */
static void dpdk_port(struct ctx *x)
{
	const struct hw_plan *p = x->o->plan;
	if (!p || p->backend != HW_NET_DPDK) return;
	const char *port = x->o->dpdk_port;
	if (!port || !*port) {
		row(x, "DPDK port driver", "not known", "-", HW_TUNE_NA,
		    "set " HW_KEY_DPDK_PORT " (a PCI address or a net_* virtual device) to check its driver and the IOMMU");
		return;
	}
	char name[64], addr[32], path[PATH_MAX], drv[64], msg[512];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(port, ","), port);
	if (!strncmp(name, "net_", 4)) {
		row(x, "DPDK port driver", name, "-", HW_TUNE_OK,
		    "a virtual device: the kernel interface it uses keeps its driver, there is nothing to bind");
		row(x, "IOMMU (DPDK)", "-", "-", HW_TUNE_OK,
		    "a virtual device: its driver copies frames with the CPU, no NIC DMAs into DPDK's memory");
		return;
	}
	if (!pci_addr(name, addr, sizeof addr)) {
		row(x, "DPDK port driver", name, "vfio-pci", HW_TUNE_NA,
		    "neither a PCI address (0000:03:00.0) nor a virtual device (net_af_packet0, net_tap0)");
		return;
	}
	char rname[64];
	snprintf(rname, sizeof rname, "DPDK port %s driver", addr);
	snprintf(path, sizeof path, "%s/bus/pci/devices/%s", x->sys, addr);
	struct stat st;
	if (stat(path, &st)) {
		row(x, rname, "no such device", "vfio-pci", HW_TUNE_NA, "no PCI device of that address in sysfs");
		return;
	}
	snprintf(path, sizeof path, "%s/bus/pci/devices/%s/driver", x->sys, addr);
	if (link_name(path, drv, sizeof drv)) snprintf(drv, sizeof drv, "none");
	if (!strcmp(drv, "vfio-pci")) {
		row(x, rname, drv, "vfio-pci", HW_TUNE_OK, "DPDK's poll-mode driver reaches the NIC through VFIO");
	} else if (!strcmp(drv, "mlx5_core") || !strcmp(drv, "mlx4_core")) {
		row(x, rname, drv, "vfio-pci", HW_TUNE_OK,
		    "a bifurcated NIC: DPDK's mlx PMD works beside the kernel driver, no binding");
	} else {
		bool uio = !strcmp(drv, "uio_pci_generic") || !strcmp(drv, "igb_uio");
		snprintf(path, sizeof path, "%s/bus/pci/drivers/vfio-pci", x->sys);
		bool vfio = stat(path, &st) == 0;
		snprintf(msg, sizeof msg, "%s%s`dpdk-devbind.py --bind=vfio-pci %s`%s", x->o->apply ? "not done by "
			 "ringtail-tune (it takes the NIC from the kernel): " : "",
			 vfio ? "bind it: " : "modprobe vfio-pci, then bind it: ", addr,
			 uio ? "; uio gives DPDK physical addresses: every send is copied and the NIC's DMA is "
			       "unconfined" : strcmp(drv, "none") ? "; the kernel driver holds it now" : "");
		row(x, rname, drv, "vfio-pci", x->o->apply ? HW_TUNE_SKIPPED : HW_TUNE_CHANGE, msg);
	}
	char grp[64], cur[64];
	snprintf(path, sizeof path, "%s/bus/pci/devices/%s/iommu_group", x->sys, addr);
	if (!link_name(path, grp, sizeof grp)) {
		snprintf(cur, sizeof cur, "on (group %s)", grp);
		row(x, "IOMMU (DPDK)", cur, "on", HW_TUNE_OK,
		    "the NIC's DMA is confined to what DPDK maps, in IOVA-as-VA mode: segment memory can be mapped "
		    "for zero-copy sends");
		return;
	}
	char noiommu[16] = "";
	snprintf(path, sizeof path, "%s/module/vfio/parameters/enable_unsafe_noiommu_mode", x->sys);
	slurp(path, noiommu, sizeof noiommu);
	snprintf(msg, sizeof msg, "%sa boot setting: intel_iommu=on (or amd_iommu=on) iommu=pt on the kernel command "
		 "line; without it DPDK runs in physical-address mode, copies every send and the NIC may DMA anywhere",
		 x->o->apply ? "not done by ringtail-tune: " : "");
	row(x, "IOMMU (DPDK)", !strcmp(noiommu, "Y") ? "off (vfio no-IOMMU mode)" : "off", "on",
	    x->o->apply ? HW_TUNE_SKIPPED : HW_TUNE_CHANGE, msg);
}

int hw_tune_run(const struct hw_tune_opts *o, FILE *out, struct hw_tune_counts *counts)
{
	if (!o->topo) return -EINVAL;
	struct hw_tune_counts local = {0};
	struct ctx x = { .o = o, .out = out, .n = counts ? counts : &local,
			 .sys = o->sysfs_root && *o->sysfs_root ? o->sysfs_root : "/sys",
			 .proc = o->procfs_root && *o->procfs_root ? o->procfs_root : "/proc" };
	memset(x.n, 0, sizeof *x.n);
	fprintf(out, "%-36s %-22s %-22s %-8s %s\n", "check", "current", "wanted", "status", "why");
	governor(&x);
	thp(&x);
	irqbalance(&x);
	irq_affinity(&x);
	sysctl_checks(&x);
	io_scheduler(&x);
	hugepages(&x);
	dpdk_port(&x);
	const struct hw_tune_counts *n = x.n;
	if (o->apply) {
		if (n->changed == 0 && n->failed == 0)
			fprintf(out, "ringtail-tune: nothing to change (%d OK, %d not available here)\n", n->ok, n->na);
		else
			fprintf(out, "ringtail-tune: changed %d, failed %d, %d OK, %d not available here, %d skipped "
				"(runtime values: add them to /etc/sysctl.d and the boot configuration to keep them)\n",
				n->changed, n->failed, n->ok, n->na, n->skipped);
	} else {
		fprintf(out, "ringtail-tune: %d OK, %d to change, %d not available here%s\n", n->ok, n->change, n->na,
			n->change ? "; run with --apply to change them" : "");
	}
	return 0;
}
