/*
 * hw/topology.c: reads CPUs, SMT siblings, NUMA nodes, NICs, their queues and IRQs from
 * sysfs and procfs under configurable roots.
 *
 * Every read goes through rd() which returns -errno instead of failing, so a file that a VM or
 * a virtual NIC lacks leaves the field at its "unknown" value.  Nothing here needs root.
 */
#include "hw/topology.h"

#include "base/errmsg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hw_cpuset_count(const struct hw_cpuset *s)
{
	int n = 0;
	for (size_t i = 0; i < HW_MAX_CPUS / 64; i++)
		n += __builtin_popcountll(s->bits[i]);
	return n;
}

char *hw_cpuset_format(const struct hw_cpuset *s, char *out, size_t outlen)
{
	size_t len = 0;
	if (outlen == 0) return out;
	out[0] = '\0';
	for (int c = 0; c < HW_MAX_CPUS; c++) {
		if (!hw_cpuset_has(s, c)) continue;
		int e = c;
		while (e + 1 < HW_MAX_CPUS && hw_cpuset_has(s, e + 1)) e++;
		int n = e == c ? snprintf(out + len, outlen - len, "%s%d", len ? "," : "", c)
			       : snprintf(out + len, outlen - len, "%s%d-%d", len ? "," : "", c, e);
		if (n < 0 || (size_t)n >= outlen - len) { out[outlen - 1] = '\0'; return out; }
		len += (size_t)n;
		c = e;
	}
	return out;
}

/* Reads an unsigned decimal at *p; returns it or -1 when there is no digit or it is too big. */
static long num(const char **p)
{
	const char *s = *p;
	long v = 0;
	if (!isdigit((unsigned char)*s)) return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (*s - '0');
		if (v > INT_MAX / 16) return -1;
		s++;
	}
	*p = s;
	return v;
}

int hw_cpulist_parse(const char *s, int *cpus, int max, char *err, size_t errlen)
{
	struct hw_cpuset seen;
	int n = 0;
	hw_cpuset_clear(&seen);
	while (*s == ' ' || *s == '\t') s++;
	size_t len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1])) len--;
	if (len == 0) return 0;
	const char *p = s, *end = s + len;
	for (;;) {
		const char *el = p;
		const char *el_end = memchr(p, ',', (size_t)(end - p));
		if (!el_end) el_end = end;
		int ellen = (int)(el_end - el);
		if (ellen == 0) {
			rt_errmsg(err, errlen, "an empty element in the list (allowed: numbers and ranges like 0-3,8,10-11)");
			return -EINVAL;
		}
		long a = num(&p), b;
		if (a < 0) goto bad;
		b = a;
		if (p < el_end && *p == '-') {
			p++;
			b = num(&p);
			if (b < 0) goto bad;
		}
		if (p != el_end) goto bad;
		if (b < a) {
			rt_errmsg(err, errlen, "the range \"%.*s\" runs backwards (allowed: low-high)", ellen, el);
			return -EINVAL;
		}
		if (b >= HW_MAX_CPUS) {
			rt_errmsg(err, errlen, "%ld is too large (allowed: 0 to %d)", b, HW_MAX_CPUS - 1);
			return -EINVAL;
		}
		for (long c = a; c <= b; c++) {
			if (hw_cpuset_has(&seen, (int)c)) {
				rt_errmsg(err, errlen, "%ld is given twice (allowed: each once)", c);
				return -EINVAL;
			}
			hw_cpuset_add(&seen, (int)c);
			if (n >= max) {
				rt_errmsg(err, errlen, "more than %d entries", max);
				return -EINVAL;
			}
			cpus[n++] = (int)c;
		}
		if (el_end == end) return n;
		p = el_end + 1;
		if (p == end) {
			rt_errmsg(err, errlen, "an empty element in the list (allowed: numbers and ranges like 0-3,8,10-11)");
			return -EINVAL;
		}
		continue;
bad:
		rt_errmsg(err, errlen, "\"%.*s\" is not a number or a range (allowed: numbers and ranges like 0-3,8,10-11)",
		       ellen, el);
		return -EINVAL;
	}
}

int hw_cpuset_parse(const char *s, struct hw_cpuset *out, char *err, size_t errlen)
{
	int *cpus = malloc(sizeof(int) * HW_MAX_CPUS);
	if (!cpus) { rt_errmsg(err, errlen, "out of memory"); return -ENOMEM; }
	int n = hw_cpulist_parse(s, cpus, HW_MAX_CPUS, err, errlen);
	hw_cpuset_clear(out);
	for (int i = 0; i < n; i++) hw_cpuset_add(out, cpus[i]);
	free(cpus);
	return n;
}

/* Reads root/rel (formatted) into buf, NUL-terminated, trailing whitespace cut.
 * Returns 0 or -errno (-ENOENT for an absent file is the common, harmless case). */
static int rd(const char *root, char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rd(const char *root, char *buf, size_t len, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof path, "%s/%s", root, rel);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0) return -e;
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1])) buf[--n] = '\0';
	return 0;
}

/* An integer file (path formatted under root); returns its value or dflt when absent or not a number. */
static long rd_long(const char *root, long dflt, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static long rd_long(const char *root, long dflt, const char *fmt, ...)
{
	char rel[PATH_MAX], buf[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	if (rd(root, buf, sizeof buf, "%s", rel)) return dflt;
	char *e;
	errno = 0;
	long v = strtol(buf, &e, 10);
	if (e == buf || *e || errno) return dflt;
	return v;
}

/* Calls fn for each entry of root/rel named <prefix><number>; returns -errno of opendir. */
static int scan_numbered(const char *root, const char *rel, const char *prefix,
			 void (*fn)(void *ctx, int n), void *ctx)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	DIR *d = opendir(path);
	if (!d) return -errno;
	size_t pl = strlen(prefix);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, pl)) continue;
		const char *p = de->d_name + pl;
		long v = num(&p);
		if (v < 0 || *p) continue;
		fn(ctx, (int)v);
	}
	closedir(d);
	return 0;
}

static void add_to_set(void *ctx, int n)
{
	if (n < HW_MAX_CPUS) hw_cpuset_add(ctx, n);
}

static void load_cpus_online(struct hw_topology *t)
{
	char buf[16384];
	hw_cpuset_clear(&t->online);
	if (!rd(t->sysfs_root, buf, sizeof buf, "devices/system/cpu/online") &&
	    hw_cpuset_parse(buf, &t->online, NULL, 0) > 0)
		return;
	/* No online file (or unreadable): every cpuN directory whose own online flag is not 0. */
	struct hw_cpuset dirs;
	hw_cpuset_clear(&dirs);
	scan_numbered(t->sysfs_root, "devices/system/cpu", "cpu", add_to_set, &dirs);
	for (int c = 0; c < HW_MAX_CPUS; c++)
		if (hw_cpuset_has(&dirs, c) && rd_long(t->sysfs_root, 1, "devices/system/cpu/cpu%d/online", c) != 0)
			hw_cpuset_add(&t->online, c);
}

static int load_cpus(struct hw_topology *t)
{
	char buf[16384];
	load_cpus_online(t);
	int n = hw_cpuset_count(&t->online);
	if (n == 0) return 0;
	t->cpus = calloc((size_t)n, sizeof *t->cpus);
	if (!t->cpus) return -ENOMEM;
	for (int c = 0; c < HW_MAX_CPUS; c++) {
		if (!hw_cpuset_has(&t->online, c)) continue;
		struct hw_cpu *cpu = &t->cpus[t->ncpus++];
		cpu->id = c;
		cpu->node = -1;
		cpu->core_id = (int)rd_long(t->sysfs_root, -1, "devices/system/cpu/cpu%d/topology/core_id", c);
		cpu->package_id = (int)rd_long(t->sysfs_root, -1, "devices/system/cpu/cpu%d/topology/physical_package_id", c);
		if (rd(t->sysfs_root, buf, sizeof buf, "devices/system/cpu/cpu%d/topology/thread_siblings_list", c) ||
		    hw_cpuset_parse(buf, &cpu->siblings, NULL, 0) <= 0 || !hw_cpuset_has(&cpu->siblings, c)) {
			hw_cpuset_clear(&cpu->siblings);
			hw_cpuset_add(&cpu->siblings, c);
		}
	}
	return 0;
}

struct idlist { int n, cap; int *v; };

static void add_id(void *ctx, int v)
{
	struct idlist *l = ctx;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 8;
		int *nv = realloc(l->v, sizeof(int) * (size_t)cap);
		if (!nv) return;  /* out of memory: the entry stays unknown */
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = v;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int load_nodes(struct hw_topology *t)
{
	struct idlist ids = {0};
	char buf[16384];
	if (scan_numbered(t->sysfs_root, "devices/system/node", "node", add_id, &ids) || ids.n == 0) {
		free(ids.v);
		return 0;
	}
	qsort(ids.v, (size_t)ids.n, sizeof(int), cmp_int);
	t->nodes = calloc((size_t)ids.n, sizeof *t->nodes);
	if (!t->nodes) { free(ids.v); return -ENOMEM; }
	for (int i = 0; i < ids.n; i++) {
		struct hw_node *nd = &t->nodes[t->nnodes++];
		nd->id = ids.v[i];
		hw_cpuset_clear(&nd->cpus);
		if (!rd(t->sysfs_root, buf, sizeof buf, "devices/system/node/node%d/cpulist", nd->id))
			hw_cpuset_parse(buf, &nd->cpus, NULL, 0);
		if (!rd(t->sysfs_root, buf, sizeof buf, "devices/system/node/node%d/meminfo", nd->id)) {
			const char *m = strstr(buf, "MemTotal:");
			if (m) nd->mem_total_kb = strtoull(m + 9, NULL, 10);
		}
		for (int k = 0; k < t->ncpus; k++)
			if (hw_cpuset_has(&nd->cpus, t->cpus[k].id))
				t->cpus[k].node = nd->id;
	}
	free(ids.v);
	return 0;
}

/* Counts entries of dir called <prefix><number>. */
static void count_one(void *ctx, int n)
{
	(void)n;
	(*(int *)ctx)++;
}

/* True when `name` occurs in `s` as a whole token (not followed or preceded by [A-Za-z0-9]). */
static bool has_token(const char *s, const char *name)
{
	size_t nl = strlen(name);
	if (!nl) return false;
	for (const char *p = strstr(s, name); p; p = strstr(p + 1, name)) {
		bool pre = p == s || !isalnum((unsigned char)p[-1]);
		bool post = !isalnum((unsigned char)p[nl]);
		if (pre && post) return true;
	}
	return false;
}

/*
 * Which queue an IRQ serves, from its action name: drivers end queue IRQ names with the queue
 * number after a separator ("eth0-TxRx-3", "i40e-eth0-rx-3", "virtio2-input.3") or after
 * "comp" (mlx5: "mlx5_comp3@pci:..."); config, mailbox and link-state IRQs have none.
 */
static int irq_queue(const char *name, const char *ifname)
{
	char n[HW_IRQNAME_MAX];
	snprintf(n, sizeof n, "%s", name);
	char *at = strchr(n, '@');
	if (at) *at = '\0';
	if (!strcmp(n, ifname)) return -1;
	size_t l = strlen(n), e = l;
	while (l && isdigit((unsigned char)n[l - 1])) l--;
	if (l == e || l == 0) return -1;
	char sep = n[l - 1];
	bool ok = sep == '-' || sep == '.' || sep == '_' || (l >= 4 && !strncmp(n + l - 4, "comp", 4));
	if (!ok) return -1;
	long v = strtol(n + l, NULL, 10);
	return v > 100000 ? -1 : (int)v;
}

static int cmp_irq(const void *a, const void *b)
{
	const struct hw_nic_irq *x = a, *y = b;
	return (x->irq > y->irq) - (x->irq < y->irq);
}

static void load_nic_irqs(struct hw_topology *t, struct hw_nic *nic, const char *devbase)
{
	struct idlist msi = {0};
	char rel[PATH_MAX];
	/* virtio NICs hang below their PCI function, which holds msi_irqs. */
	snprintf(rel, sizeof rel, "class/net/%s/device/msi_irqs", nic->name);
	if (scan_numbered(t->sysfs_root, rel, "", add_id, &msi)) {
		snprintf(rel, sizeof rel, "class/net/%s/device/../msi_irqs", nic->name);
		scan_numbered(t->sysfs_root, rel, "", add_id, &msi);
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/interrupts", t->procfs_root);
	FILE *f = fopen(path, "re");
	if (!f) {
		/* Without /proc/interrupts we still know the numbers, not which queue they serve. */
		nic->irqs = msi.n ? calloc((size_t)msi.n, sizeof *nic->irqs) : NULL;
		for (int i = 0; nic->irqs && i < msi.n; i++)
			nic->irqs[nic->nirqs++] = (struct hw_nic_irq){ .irq = msi.v[i], .queue = -1 };
		goto out;
	}
	char *line = NULL;
	size_t cap = 0;
	int ncap = 0;
	while (getline(&line, &cap, f) > 0) {
		char *p = line;
		while (*p == ' ') p++;
		const char *q = p;
		long irq = num(&q);
		if (irq < 0 || *q != ':') continue;
		size_t l = strlen(line);
		while (l && isspace((unsigned char)line[l - 1])) line[--l] = '\0';
		char *nm = strrchr(line, ' ');
		nm = nm ? nm + 1 : line + l;
		bool in_msi = false;
		for (int i = 0; i < msi.n; i++) in_msi |= msi.v[i] == irq;
		if (!in_msi && !has_token(nm, nic->name) && !(devbase[0] && has_token(nm, devbase)))
			continue;
		if (nic->nirqs == ncap) {
			int nc = ncap ? ncap * 2 : 8;
			struct hw_nic_irq *ni = realloc(nic->irqs, sizeof *ni * (size_t)nc);
			if (!ni) break;
			nic->irqs = ni;
			ncap = nc;
		}
		struct hw_nic_irq *e = &nic->irqs[nic->nirqs++];
		e->irq = (int)irq;
		snprintf(e->name, sizeof e->name, "%s", nm);
		e->queue = irq_queue(nm, nic->name);
	}
	free(line);
	fclose(f);
out:
	if (nic->nirqs) qsort(nic->irqs, (size_t)nic->nirqs, sizeof *nic->irqs, cmp_irq);
	free(msi.v);
}

static int cmp_nic(const void *a, const void *b)
{
	return strcmp(((const struct hw_nic *)a)->name, ((const struct hw_nic *)b)->name);
}

static int load_nics(struct hw_topology *t)
{
	char path[PATH_MAX], rel[PATH_MAX];
	snprintf(path, sizeof path, "%s/class/net", t->sysfs_root);
	DIR *d = opendir(path);
	if (!d) return 0;
	struct dirent *de;
	int cap = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= HW_IFNAME_MAX) continue;
		if (t->nnics == cap) {
			int nc = cap ? cap * 2 : 8;
			struct hw_nic *nn = realloc(t->nics, sizeof *nn * (size_t)nc);
			if (!nn) { closedir(d); return -ENOMEM; }
			t->nics = nn;
			cap = nc;
		}
		struct hw_nic *nic = &t->nics[t->nnics++];
		memset(nic, 0, sizeof *nic);
		snprintf(nic->name, sizeof nic->name, "%s", de->d_name);
		struct stat st;
		snprintf(path, sizeof path, "%s/class/net/%s/device", t->sysfs_root, nic->name);
		nic->has_device = stat(path, &st) == 0;
		nic->node = -1;
		char devbase[64] = "";
		if (nic->has_device) {
			long n = rd_long(t->sysfs_root, -1, "class/net/%s/device/numa_node", nic->name);
			if (n < 0) n = rd_long(t->sysfs_root, -1, "class/net/%s/device/../numa_node", nic->name);
			nic->node = n < 0 ? -1 : (int)n;
			char *real = realpath(path, NULL);
			if (real) {
				const char *b = strrchr(real, '/');
				/* A virtio NIC's IRQs are named after its virtio device ("virtio2-input.0"). */
				if (b && !strncmp(b + 1, "virtio", 6)) snprintf(devbase, sizeof devbase, "%s", b + 1);
				free(real);
			}
		}
		snprintf(rel, sizeof rel, "class/net/%s/queues", nic->name);
		scan_numbered(t->sysfs_root, rel, "rx-", count_one, &nic->rx_queues);
		scan_numbered(t->sysfs_root, rel, "tx-", count_one, &nic->tx_queues);
		if (nic->has_device) load_nic_irqs(t, nic, devbase);
	}
	closedir(d);
	if (t->nnics) qsort(t->nics, (size_t)t->nnics, sizeof *t->nics, cmp_nic);
	return 0;
}

struct hw_topology *hw_topology_load(const char *sysfs_root, const char *procfs_root,
				     char *err, size_t errlen)
{
	struct hw_topology *t = calloc(1, sizeof *t);
	if (!t) { rt_errmsg(err, errlen, "out of memory"); return NULL; }
	snprintf(t->sysfs_root, sizeof t->sysfs_root, "%s", sysfs_root && *sysfs_root ? sysfs_root : "/sys");
	snprintf(t->procfs_root, sizeof t->procfs_root, "%s", procfs_root && *procfs_root ? procfs_root : "/proc");
	if (load_cpus(t) || load_nodes(t) || load_nics(t)) {
		rt_errmsg(err, errlen, "out of memory reading the topology");
		hw_topology_destroy(t);
		return NULL;
	}
	if (t->ncpus == 0) {
		rt_errmsg(err, errlen, "no online CPU found under %s/devices/system/cpu", t->sysfs_root);
		hw_topology_destroy(t);
		return NULL;
	}
	return t;
}

void hw_topology_destroy(struct hw_topology *t)
{
	if (!t) return;
	for (int i = 0; i < t->nnics; i++) free(t->nics[i].irqs);
	free(t->nics);
	free(t->nodes);
	free(t->cpus);
	free(t);
}

const struct hw_cpu *hw_topology_cpu(const struct hw_topology *t, int id)
{
	int lo = 0, hi = t->ncpus - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if (t->cpus[m].id == id) return &t->cpus[m];
		if (t->cpus[m].id < id) lo = m + 1; else hi = m - 1;
	}
	return NULL;
}

const struct hw_node *hw_topology_node(const struct hw_topology *t, int id)
{
	for (int i = 0; i < t->nnodes; i++)
		if (t->nodes[i].id == id) return &t->nodes[i];
	return NULL;
}

const struct hw_nic *hw_topology_nic(const struct hw_topology *t, const char *name)
{
	for (int i = 0; name && i < t->nnics; i++)
		if (!strcmp(t->nics[i].name, name)) return &t->nics[i];
	return NULL;
}

int hw_nic_queue_irq(const struct hw_nic *nic, int q)
{
	for (int i = 0; i < nic->nirqs; i++)
		if (nic->irqs[i].queue == q) return nic->irqs[i].irq;
	return -1;
}

void hw_topology_print(FILE *f, const struct hw_topology *t)
{
	char buf[1024];
	fprintf(f, "online CPUs: %s (%d)\n", hw_cpuset_format(&t->online, buf, sizeof buf), t->ncpus);
	fprintf(f, "%-5s %-8s %-6s %-5s %s\n", "cpu", "package", "core", "node", "SMT siblings");
	for (int i = 0; i < t->ncpus; i++) {
		const struct hw_cpu *c = &t->cpus[i];
		fprintf(f, "%-5d %-8d %-6d %-5d %s\n", c->id, c->package_id, c->core_id, c->node,
			hw_cpuset_format(&c->siblings, buf, sizeof buf));
	}
	if (t->nnodes == 0) fprintf(f, "NUMA: not described by sysfs (unknown)\n");
	for (int i = 0; i < t->nnodes; i++)
		fprintf(f, "node %d: cpus %s, memory %llu MiB\n", t->nodes[i].id,
			hw_cpuset_format(&t->nodes[i].cpus, buf, sizeof buf),
			(unsigned long long)(t->nodes[i].mem_total_kb / 1024));
	for (int i = 0; i < t->nnics; i++) {
		const struct hw_nic *n = &t->nics[i];
		fprintf(f, "nic %s: %s, node %d, %d rx / %d tx queues, %d IRQs", n->name,
			n->has_device ? "device" : "virtual", n->node, n->rx_queues, n->tx_queues, n->nirqs);
		for (int k = 0; k < n->nirqs; k++)
		{
			fprintf(f, "%s%d(%s", k ? ", " : ": ", n->irqs[k].irq, n->irqs[k].name);
			if (n->irqs[k].queue >= 0) fprintf(f, " q%d", n->irqs[k].queue);
			fputc(')', f);
		}
		fputc('\n', f);
	}
}
