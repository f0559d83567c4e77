/*
 * base/config.c: the typed configuration of base/config.h.
 *
 * Invariants: vals[i] always holds a value valid for defs[i] (a failed set leaves the old one);
 * every file name a value or an unknown key points to is owned by c->files and lives as long as
 * c; every message names its source, the key, the value and what the definition accepts.
 */
#include "base/config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/errmsg.h"
#include "base/log.h"
#include "base/props.h"

/* Appends to buf (NUL-terminated, size bytes) without overflowing. */
__attribute__((format(printf, 3, 4)))
static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strnlen(buf, size);
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

static bool bounded(const struct rt_cfg_def *d) { return d->min != 0 || d->max != 0; }

/* The effective integer bounds of a definition. */
static void int_bounds(const struct rt_cfg_def *d, int64_t *lo, int64_t *hi)
{
	switch (d->type) {
	case RT_CFG_INT: *lo = INT32_MIN; *hi = INT32_MAX; break;
	case RT_CFG_SIZE: *lo = 0; *hi = INT64_MAX; break;
	default: *lo = INT64_MIN; *hi = INT64_MAX; break;
	}
	if (bounded(d)) {
		if (d->min > *lo) *lo = d->min;
		if (d->max < *hi) *hi = d->max;
	}
}

const char *rt_cfg_expected(const struct rt_cfg_def *d, char *buf, size_t size)
{
	int64_t lo, hi;
	buf[0] = 0;
	switch (d->type) {
	case RT_CFG_INT:
	case RT_CFG_LONG:
		int_bounds(d, &lo, &hi);
		append(buf, size, "an integer between %" PRId64 " and %" PRId64, lo, hi);
		break;
	case RT_CFG_SIZE:
		int_bounds(d, &lo, &hi);
		append(buf, size, "a size in bytes between %" PRId64 " and %" PRId64
		       " (an integer, optionally with suffix k, m, g or t)", lo, hi);
		break;
	case RT_CFG_DOUBLE:
		if (d->dmin != 0 || d->dmax != 0)
			append(buf, size, "a number between %g and %g", d->dmin, d->dmax);
		else
			append(buf, size, "a number");
		break;
	case RT_CFG_BOOL:
		append(buf, size, "true or false");
		break;
	case RT_CFG_STRING:
		append(buf, size, (d->flags & RT_CFG_NONEMPTY) ? "a non-empty string" : "a string");
		break;
	case RT_CFG_ENUM:
		append(buf, size, "one of:");
		for (size_t i = 0; d->allowed && d->allowed[i]; i++)
			append(buf, size, "%s %s", i ? "," : "", d->allowed[i]);
		break;
	case RT_CFG_LIST:
		append(buf, size, "a comma-separated list");
		if (d->flags & RT_CFG_NONEMPTY)
			append(buf, size, " without empty items");
		if (bounded(d))
			append(buf, size, " of %" PRId64 " to %" PRId64 " items", d->min, d->max);
		if (d->allowed) {
			append(buf, size, ", each one of:");
			for (size_t i = 0; d->allowed[i]; i++)
				append(buf, size, "%s %s", i ? "," : "", d->allowed[i]);
		}
		break;
	}
	return buf;
}

/* Java's String.trim: drops bytes <= ' ' at both ends.  Returns a new string or NULL. */
static char *trimmed(const char *s)
{
	size_t b = 0, e = strlen(s);
	while (b < e && (unsigned char)s[b] <= ' ')
		b++;
	while (e > b && (unsigned char)s[e - 1] <= ' ')
		e--;
	return strndup(s + b, e - b);
}

static bool parse_i64(const char *s, int64_t *out)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_size(const char *s, int64_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || v > INT64_MAX)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	int shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return false;
	if (shift && v > ((unsigned long long)INT64_MAX >> shift))
		return false;
	*out = (int64_t)(v << shift);
	return true;
}

static bool in_allowed(const char *const *allowed, const char *s, int *idx)
{
	for (int i = 0; allowed && allowed[i]; i++)
		if (strcmp(allowed[i], s) == 0) {
			if (idx)
				*idx = i;
			return true;
		}
	return false;
}

static void free_value(const struct rt_cfg_def *d, struct rt_cfg_value *v)
{
	if (d->type == RT_CFG_LIST) {
		for (size_t i = 0; i < v->u.list.n; i++)
			free(v->u.list.items[i]);
		free(v->u.list.items);
	}
	free(v->text);
	memset(v, 0, sizeof(*v));
}

/* Splits a trimmed list at commas, trimming items.  Returns 0, -EINVAL or -ENOMEM. */
static int parse_list(const struct rt_cfg_def *d, const char *t, struct rt_cfg_value *v)
{
	size_t n = 0;
	if (*t) {
		n = 1;
		for (const char *q = t; *q; q++)
			n += *q == ',';
	}
	char **items = n ? calloc(n, sizeof(char *)) : NULL;
	if (n && !items)
		return -ENOMEM;
	const char *q = t;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const char *comma = strchr(q, ',');
		size_t len = comma ? (size_t)(comma - q) : strlen(q);
		char *raw = strndup(q, len);
		items[i] = raw ? trimmed(raw) : NULL;
		free(raw);
		if (!items[i]) {
			rc = -ENOMEM;
			break;
		}
		if ((d->flags & RT_CFG_NONEMPTY) && !items[i][0])
			rc = -EINVAL;
		if (d->allowed && !in_allowed(d->allowed, items[i], NULL))
			rc = -EINVAL;
		q = comma ? comma + 1 : q + len;
	}
	if (!rc && (d->flags & RT_CFG_NONEMPTY) && n == 0)
		rc = -EINVAL;
	if (!rc && bounded(d) && ((int64_t)n < d->min || (int64_t)n > d->max))
		rc = -EINVAL;
	v->u.list.items = items;
	v->u.list.n = n;
	if (rc) {
		for (size_t i = 0; i < n; i++)
			free(items[i]);
		free(items);
		v->u.list.items = NULL;
		v->u.list.n = 0;
	}
	return rc;
}

/* Parses text for d into v (fresh).  Returns 0, -EINVAL (not what d accepts) or -ENOMEM. */
static int parse_value(const struct rt_cfg_def *d, const char *text, struct rt_cfg_value *v)
{
	memset(v, 0, sizeof(*v));
	char *t = trimmed(text);
	if (!t)
		return -ENOMEM;
	int rc = 0;
	int64_t lo, hi;
	switch (d->type) {
	case RT_CFG_INT:
	case RT_CFG_LONG:
	case RT_CFG_SIZE:
		int_bounds(d, &lo, &hi);
		if (!(d->type == RT_CFG_SIZE ? parse_size(t, &v->u.i) : parse_i64(t, &v->u.i)) ||
		    v->u.i < lo || v->u.i > hi)
			rc = -EINVAL;
		break;
	case RT_CFG_DOUBLE: {
		char *end;
		errno = 0;
		v->u.d = strtod(t, &end);
		if (!*t || *end || errno || !isfinite(v->u.d) || (unsigned char)t[0] <= ' ')
			rc = -EINVAL;
		else if ((d->dmin != 0 || d->dmax != 0) && (v->u.d < d->dmin || v->u.d > d->dmax))
			rc = -EINVAL;
		break;
	}
	case RT_CFG_BOOL:
		if (strcasecmp(t, "true") == 0)
			v->u.b = true;
		else if (strcasecmp(t, "false") == 0)
			v->u.b = false;
		else
			rc = -EINVAL;
		break;
	case RT_CFG_STRING:
		if ((d->flags & RT_CFG_NONEMPTY) && !*t)
			rc = -EINVAL;
		break;
	case RT_CFG_ENUM:
		if (!in_allowed(d->allowed, t, &v->u.e))
			rc = -EINVAL;
		break;
	case RT_CFG_LIST:
		rc = parse_list(d, t, v);
		break;
	}
	if (rc) {
		free(t);
		memset(v, 0, sizeof(*v));
		return rc;
	}
	v->text = t;
	v->set = true;
	return 0;
}

int rt_cfg_index(const struct rt_cfg *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->defs[i].name, name) == 0)
			return (int)i;
	return -1;
}

void rt_cfg_destroy(struct rt_cfg *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->vals && i < c->n; i++)
		free_value(&c->defs[i], &c->vals[i]);
	free(c->vals);
	for (size_t i = 0; i < c->nunknown; i++)
		free(c->unknown[i].key);
	free(c->unknown);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c);
}

struct rt_cfg *rt_cfg_create(const struct rt_cfg_def *defs, size_t n, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	struct rt_cfg *c = calloc(1, sizeof(*c));
	if (!c || !(c->vals = calloc(n ? n : 1, sizeof(*c->vals)))) {
		free(c);
		rt_errmsg(err, errlen, "out of memory");
		return NULL;
	}
	c->defs = defs;
	c->n = n;
	char exp[512];
	for (size_t i = 0; i < n; i++) {
		const struct rt_cfg_def *d = &defs[i];
		c->vals[i].origin = RT_CFG_UNSET;
		if (!d->name || !d->name[0]) {
			rt_errmsg(err, errlen, "configuration table: entry %zu has no name", i);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(defs[j].name, d->name) == 0) {
				rt_errmsg(err, errlen, "configuration table: %s is declared twice", d->name);
				goto fail;
			}
		if (d->type == RT_CFG_ENUM && (!d->allowed || !d->allowed[0])) {
			rt_errmsg(err, errlen, "configuration table: %s is an enum without allowed values", d->name);
			goto fail;
		}
		if (!d->def || (d->flags & RT_CFG_REQUIRED))
			continue;
		int rc = parse_value(d, d->def, &c->vals[i]);
		if (rc == -ENOMEM) {
			rt_errmsg(err, errlen, "out of memory");
			goto fail;
		}
		if (rc) {
			rt_errmsg(err, errlen, "configuration table: default %s=%s: expected %s", d->name, d->def,
				rt_cfg_expected(d, exp, sizeof(exp)));
			goto fail;
		}
		c->vals[i].origin = RT_CFG_FROM_DEFAULT;
	}
	return c;
fail:
	rt_cfg_destroy(c);
	return NULL;
}

static const char *origin_text(enum rt_cfg_origin o, const char *file, int line, char *buf, size_t size)
{
	switch (o) {
	case RT_CFG_FROM_DEFAULT: snprintf(buf, size, "default"); break;
	case RT_CFG_FROM_FILE: snprintf(buf, size, "%s:%d", file ? file : "?", line); break;
	case RT_CFG_FROM_ARGS: snprintf(buf, size, "command line"); break;
	case RT_CFG_UNSET: snprintf(buf, size, "unset"); break;
	}
	return buf;
}

static int remember_unknown(struct rt_cfg *c, const char *key, const char *file, int line)
{
	for (size_t i = 0; i < c->nunknown; i++)
		if (strcmp(c->unknown[i].key, key) == 0) {
			c->unknown[i].file = file;
			c->unknown[i].line = line;
			return 0;
		}
	struct rt_cfg_unknown *u = realloc(c->unknown, (c->nunknown + 1) * sizeof(*u));
	if (!u)
		return -ENOMEM;
	c->unknown = u;
	char *k = strdup(key);
	if (!k)
		return -ENOMEM;
	c->unknown[c->nunknown++] = (struct rt_cfg_unknown){ k, file, line };
	return 0;
}

int rt_cfg_set(struct rt_cfg *c, const char *key, const char *value, enum rt_cfg_origin origin,
	       const char *file, int line, char *err, size_t errlen)
{
	int idx = rt_cfg_index(c, key);
	if (idx < 0) {
		if (remember_unknown(c, key, origin == RT_CFG_FROM_FILE ? file : NULL, line))
			return -ENOMEM;
		return 1;
	}
	const struct rt_cfg_def *d = &c->defs[idx];
	struct rt_cfg_value v;
	int rc = parse_value(d, value, &v);
	if (rc == -ENOMEM) {
		rt_errmsg(err, errlen, "out of memory");
		return rc;
	}
	if (rc) {
		char src[300], exp[512];
		rt_errmsg(err, errlen, "%s: %s=%s: expected %s", origin_text(origin, file, line, src, sizeof(src)),
			key, value, rt_cfg_expected(d, exp, sizeof(exp)));
		return rc;
	}
	v.origin = origin;
	v.file = origin == RT_CFG_FROM_FILE ? file : NULL;
	v.line = origin == RT_CFG_FROM_FILE ? line : 0;
	free_value(d, &c->vals[idx]);
	c->vals[idx] = v;
	return 0;
}

/* Keeps a copy of a file name for values and unknown keys to point to. */
static const char *own_file(struct rt_cfg *c, const char *name)
{
	char **f = realloc(c->files, (c->nfiles + 1) * sizeof(*f));
	if (!f)
		return NULL;
	c->files = f;
	char *copy = strdup(name);
	if (!copy)
		return NULL;
	c->files[c->nfiles++] = copy;
	return copy;
}

int rt_cfg_apply_props(struct rt_cfg *c, const struct rt_props *p, char *err, size_t errlen)
{
	const char *file = own_file(c, p->file ? p->file : "(input)");
	if (!file) {
		rt_errmsg(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n; i++) {
		int rc = rt_cfg_set(c, p->v[i].key, p->v[i].value, RT_CFG_FROM_FILE, file, p->v[i].line,
				    err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int rt_cfg_apply_args(struct rt_cfg *c, const char *const *kv, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');
		if (!eq || eq == kv[i]) {
			rt_errmsg(err, errlen, "command line: %s: expected key=value", kv[i]);
			return -EINVAL;
		}
		char *key = strndup(kv[i], (size_t)(eq - kv[i]));
		if (!key) {
			rt_errmsg(err, errlen, "out of memory");
			return -ENOMEM;
		}
		int rc = rt_cfg_set(c, key, eq + 1, RT_CFG_FROM_ARGS, NULL, 0, err, errlen);
		free(key);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int rt_cfg_check(const struct rt_cfg *c, char *err, size_t errlen)
{
	char exp[512];
	for (size_t i = 0; i < c->n; i++)
		if ((c->defs[i].flags & RT_CFG_REQUIRED) && !c->vals[i].set) {
			rt_errmsg(err, errlen, "%s: required, but neither the file nor the command line sets it "
				"(expected %s)", c->defs[i].name, rt_cfg_expected(&c->defs[i], exp, sizeof(exp)));
			return -EINVAL;
		}
	return 0;
}

int rt_cfg_load(struct rt_cfg *c, const char *path, const char *const *overrides, size_t n,
		char *err, size_t errlen)
{
	int rc;
	if (err && errlen)
		err[0] = 0;
	if (path) {
		struct rt_props p;
		rt_props_init(&p);
		rc = rt_props_load_file(&p, path, err, errlen);
		if (!rc)
			rc = rt_cfg_apply_props(c, &p, err, errlen);
		rt_props_fini(&p);
		if (rc)
			return rc;
	}
	rc = rt_cfg_apply_args(c, overrides, n, err, errlen);
	if (!rc)
		rc = rt_cfg_check(c, err, errlen);
	if (rc || !c->nunknown)
		return rc;
	char msg[RT_LOG_LINE_MAX], src[300];
	msg[0] = 0;
	for (size_t i = 0; i < c->nunknown; i++) {
		const struct rt_cfg_unknown *u = &c->unknown[i];
		append(msg, sizeof(msg), "%s%s (%s)", i ? ", " : "", u->key,
		       origin_text(u->file ? RT_CFG_FROM_FILE : RT_CFG_FROM_ARGS, u->file, u->line, src,
				   sizeof(src)));
	}
	RT_WARN("unknown configuration keys, ignored: %s", msg);
	return 0;
}

static const struct rt_cfg_value *get(const struct rt_cfg *c, const char *name,
				      enum rt_cfg_type t1, enum rt_cfg_type t2, enum rt_cfg_type t3)
{
	int idx = rt_cfg_index(c, name);
	assert(idx >= 0 && "configuration key not declared");
	enum rt_cfg_type t = c->defs[idx].type;
	assert((t == t1 || t == t2 || t == t3) && "configuration key read with the wrong type");
	(void)t1; (void)t2; (void)t3; (void)t;
	return &c->vals[idx];
}

int64_t rt_cfg_int(const struct rt_cfg *c, const char *name)
{
	return get(c, name, RT_CFG_INT, RT_CFG_LONG, RT_CFG_SIZE)->u.i;
}

double rt_cfg_double(const struct rt_cfg *c, const char *name)
{
	return get(c, name, RT_CFG_DOUBLE, RT_CFG_DOUBLE, RT_CFG_DOUBLE)->u.d;
}

bool rt_cfg_bool(const struct rt_cfg *c, const char *name)
{
	return get(c, name, RT_CFG_BOOL, RT_CFG_BOOL, RT_CFG_BOOL)->u.b;
}

const char *rt_cfg_str(const struct rt_cfg *c, const char *name)
{
	const struct rt_cfg_value *v = get(c, name, RT_CFG_STRING, RT_CFG_ENUM, RT_CFG_STRING);
	return v->set ? v->text : NULL;
}

int rt_cfg_enum(const struct rt_cfg *c, const char *name)
{
	const struct rt_cfg_value *v = get(c, name, RT_CFG_ENUM, RT_CFG_ENUM, RT_CFG_ENUM);
	return v->set ? v->u.e : -1;
}

size_t rt_cfg_list(const struct rt_cfg *c, const char *name, char *const **items)
{
	const struct rt_cfg_value *v = get(c, name, RT_CFG_LIST, RT_CFG_LIST, RT_CFG_LIST);
	*items = v->u.list.items;
	return v->u.list.n;
}

bool rt_cfg_is_set(const struct rt_cfg *c, const char *name)
{
	int idx = rt_cfg_index(c, name);
	assert(idx >= 0 && "configuration key not declared");
	return c->vals[idx].set;
}

const struct rt_cfg_value *rt_cfg_value_at(const struct rt_cfg *c, int idx)
{
	assert(idx >= 0 && (size_t)idx < c->n);
	return &c->vals[idx];
}

const char *rt_cfg_source(const struct rt_cfg *c, int idx, char *buf, size_t size)
{
	const struct rt_cfg_value *v = rt_cfg_value_at(c, idx);
	return origin_text(v->set ? v->origin : RT_CFG_UNSET, v->file, v->line, buf, size);
}

/* One dump line into buf. */
static void dump_line(const struct rt_cfg *c, size_t i, char *buf, size_t size)
{
	const struct rt_cfg_value *v = &c->vals[i];
	char src[300];
	const char *shown = !v->set ? "(unset)" : (c->defs[i].flags & RT_CFG_SECRET) ? "[hidden]" : v->text;
	snprintf(buf, size, "%s = %s  (%s)", c->defs[i].name, shown,
		 rt_cfg_source(c, (int)i, src, sizeof(src)));
}

void rt_cfg_dump(const struct rt_cfg *c, FILE *out)
{
	char line[RT_LOG_LINE_MAX];
	for (size_t i = 0; i < c->n; i++) {
		dump_line(c, i, line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
}

void rt_cfg_log(const struct rt_cfg *c)
{
	char line[RT_LOG_LINE_MAX];
	for (size_t i = 0; i < c->n; i++) {
		dump_line(c, i, line, sizeof(line));
		RT_INFO("config %s", line);
	}
}

void rt_cfg_help(const struct rt_cfg_def *defs, size_t n, FILE *out)
{
	char exp[512];
	for (size_t i = 0; i < n; i++) {
		const struct rt_cfg_def *d = &defs[i];
		if (d->flags & RT_CFG_REQUIRED)
			fprintf(out, "%s  (required)\n", d->name);
		else if (!d->def)
			fprintf(out, "%s  (no default)\n", d->name);
		else
			fprintf(out, "%s  (default: %s)\n", d->name, (d->flags & RT_CFG_SECRET) ? "[hidden]" : d->def);
		if (d->doc)
			fprintf(out, "    %s\n", d->doc);
		fprintf(out, "    expects %s\n", rt_cfg_expected(d, exp, sizeof(exp)));
	}
}
