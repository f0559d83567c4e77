/*
 * base/config.h: typed configuration: a table of definitions that a program declares, filled from
 * a properties file (base/props.h) and then from command-line overrides, and validated.
 *
 * A program declares its keys once (Kafka's names where Kafka has them), e.g.
 *
 *     static const char *const backends[] = {"uring", "dpdk", NULL};
 *     static const struct rt_cfg_def defs[] = {
 *         {"num.partitions", RT_CFG_INT, "1", .min = 1, .max = 1000000,
 *          .doc = "partitions of an auto-created topic"},
 *         {"ringtail.network.backend", RT_CFG_ENUM, "uring", .allowed = backends,
 *          .doc = "how packets reach the shards"},
 *     };
 *
 * and loads with rt_cfg_load.  The first invalid value stops the load with one message naming
 * where it came from, the key, the value and what is allowed:
 *
 *     ringtail.conf:12: num.partitions=abc: expected an integer between 1 and 1000000
 *     command line: log.segment.bytes=1x: expected a size in bytes between ... (suffix k, m, g, t)
 *
 * Unknown keys are not errors (Kafka logs them and goes on): they are kept with their source,
 * and rt_cfg_load logs one warning naming them all.  Values are trimmed of blanks as Kafka's
 * ConfigDef trims them.  Lookups by name are linear: the table is read at start-up; code that
 * reads a value often keeps it or uses the index.
 */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rt_cfg_type {
	RT_CFG_INT,     /* 32-bit signed integer; bounds default to the int32 range */
	RT_CFG_LONG,    /* 64-bit signed integer */
	RT_CFG_DOUBLE,  /* finite floating-point number */
	RT_CFG_BOOL,    /* true or false, any case */
	RT_CFG_STRING,  /* any text */
	RT_CFG_LIST,    /* comma-separated, items trimmed; "" is the empty list (Kafka's LIST) */
	RT_CFG_ENUM,    /* one of `allowed`, case-sensitive */
	RT_CFG_SIZE,    /* bytes: a non-negative integer with an optional binary suffix k, m, g, t
	                   (KiB..TiB; "kb", "KiB", "K" alike) */
};

enum rt_cfg_flag {
	RT_CFG_REQUIRED = 1 << 0,  /* must be given (the default is ignored) */
	RT_CFG_NONEMPTY = 1 << 1,  /* STRING or LIST: "" (or an empty item) is refused */
	RT_CFG_SECRET = 1 << 2,    /* never printed by the dump */
};

struct rt_cfg_def {
	const char *name;
	enum rt_cfg_type type;
	const char *def;              /* default as text (parsed and checked at create); NULL: unset */
	int64_t min, max;             /* INT, LONG, SIZE, LIST (item count): both 0 = no bounds */
	double dmin, dmax;            /* DOUBLE: both 0 = no bounds */
	const char *const *allowed;   /* ENUM (and optionally LIST items): NULL-terminated */
	const char *doc;              /* one line */
	unsigned flags;               /* rt_cfg_flag bits */
};

/* Where a value came from. */
enum rt_cfg_origin { RT_CFG_FROM_DEFAULT, RT_CFG_FROM_FILE, RT_CFG_FROM_ARGS, RT_CFG_UNSET };

struct rt_cfg_value {
	bool set;
	enum rt_cfg_origin origin;
	const char *file;  /* RT_CFG_FROM_FILE: borrowed from the rt_cfg's file names */
	int line;
	char *text;        /* owned: the trimmed text the value was parsed from */
	union {
		int64_t i;     /* INT, LONG, SIZE */
		double d;
		bool b;
		int e;         /* ENUM: index into allowed */
		struct {
			char **items;  /* owned, n strings */
			size_t n;
		} list;
	} u;
};

struct rt_cfg_unknown {
	char *key;         /* owned */
	const char *file;  /* borrowed as above; NULL for the command line */
	int line;
};

struct rt_cfg {
	const struct rt_cfg_def *defs;  /* borrowed: the program's static table */
	size_t n;
	struct rt_cfg_value *vals;      /* owned, n entries, same order as defs */
	struct rt_cfg_unknown *unknown; /* owned */
	size_t nunknown;
	char **files;                   /* owned names of the files loaded */
	size_t nfiles;
};

/*
 * Returns a configuration holding the defaults of defs (borrowed; must outlive it), or NULL
 * with a message in err: a default that fails its own definition, an ENUM without values, a
 * duplicate name.  Those are bugs of the table, reported rather than asserted so that a test
 * can show them.  Free with rt_cfg_destroy.
 */
struct rt_cfg *rt_cfg_create(const struct rt_cfg_def *defs, size_t n, char *err, size_t errlen);
void rt_cfg_destroy(struct rt_cfg *c);

/*
 * Sets key to value (both borrowed) from the given origin (file and line for RT_CFG_FROM_FILE).
 * Returns 0; 1 when the key is unknown (remembered for the warning); -EINVAL with the message
 * in err when the value is invalid (the old value stays); -ENOMEM.
 */
int rt_cfg_set(struct rt_cfg *c, const char *key, const char *value, enum rt_cfg_origin origin,
	       const char *file, int line, char *err, size_t errlen);

/* Applies every entry of a parsed file in order.  Returns 0 or the first error as rt_cfg_set. */
struct rt_props;
int rt_cfg_apply_props(struct rt_cfg *c, const struct rt_props *p, char *err, size_t errlen);

/* Applies "key=value" overrides in order.  A string without '=' is an error.  0 or -errno. */
int rt_cfg_apply_args(struct rt_cfg *c, const char *const *kv, size_t n, char *err, size_t errlen);

/* Checks that every RT_CFG_REQUIRED key was given.  0 or -EINVAL with a message. */
int rt_cfg_check(const struct rt_cfg *c, char *err, size_t errlen);

/*
 * The whole load: the file at path (NULL: none), then the overrides, then rt_cfg_check; on
 * success, one warning (base/log.h) naming the unknown keys, if any.  Returns 0 or -errno with
 * one message in err.
 */
int rt_cfg_load(struct rt_cfg *c, const char *path, const char *const *overrides, size_t n,
		char *err, size_t errlen);

/* Index of a key, or -1. */
int rt_cfg_index(const struct rt_cfg *c, const char *name);

/*
 * Typed getters.  Asking for a key that is not declared, or with the wrong type, is a bug and
 * asserts.  Unset values (no default, not given) read as 0 / false / NULL / empty list.
 */
int64_t rt_cfg_int(const struct rt_cfg *c, const char *name);      /* INT, LONG, SIZE */
double rt_cfg_double(const struct rt_cfg *c, const char *name);
bool rt_cfg_bool(const struct rt_cfg *c, const char *name);
const char *rt_cfg_str(const struct rt_cfg *c, const char *name);  /* STRING, ENUM; borrowed */
int rt_cfg_enum(const struct rt_cfg *c, const char *name);         /* index into allowed; -1 unset */
/* LIST: returns the item count and sets *items (borrowed; may be NULL when empty). */
size_t rt_cfg_list(const struct rt_cfg *c, const char *name, char *const **items);
bool rt_cfg_is_set(const struct rt_cfg *c, const char *name);

/* The same by index (from rt_cfg_index). */
const struct rt_cfg_value *rt_cfg_value_at(const struct rt_cfg *c, int idx);

/* "default", "file.conf:12", "command line" or "unset" for a key's value, into buf. */
const char *rt_cfg_source(const struct rt_cfg *c, int idx, char *buf, size_t size);

/* Prints one line per key, "name = value  (source)", secrets hidden; for start-up logs. */
void rt_cfg_dump(const struct rt_cfg *c, FILE *out);
/* The same through base/log.h at info level. */
void rt_cfg_log(const struct rt_cfg *c);

/* Prints the table as help: per key "name  (default: X)", the doc line and what it accepts;
 * secrets' defaults hidden.  For a program's --help. */
void rt_cfg_help(const struct rt_cfg_def *defs, size_t n, FILE *out);

/* Describes what a definition accepts ("an integer between 1 and 1000000"), into buf. */
const char *rt_cfg_expected(const struct rt_cfg_def *d, char *buf, size_t size);

#endif
