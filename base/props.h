/*
 * base/props.h: a parser for Java .properties files, as java.util.Properties.load reads them.
 *
 * The rules followed (those of Properties.load):
 *   - lines end at \n, \r or \r\n; a line whose first non-blank character is # or ! is a
 *     comment (and never continues); blank lines are skipped; blanks are space, \t and \f;
 *   - a line ending in an odd number of backslashes continues on the next line, whose leading
 *     blanks are dropped; at the end of the input such a backslash is dropped;
 *   - the key runs to the first unescaped '=', ':' or blank; then blanks, at most one '=' or
 *     ':', and blanks again are skipped, and the rest of the line is the value (trailing blanks
 *     kept, "key" alone gives the value "");
 *   - in keys and values \t \n \r \f are control characters, \uXXXX is a code point (written
 *     out as UTF-8, surrogate pairs joined), and a backslash before any other character stands
 *     for that character ("\=" "\:" "\ " "\\" "\#").
 * Where Java would accept but C strings cannot carry the result, the input is refused with a
 * message: a NUL byte, \u0000, an unpaired surrogate.  A malformed \u escape is refused as Java
 * refuses it.  Bytes are otherwise taken as they are (UTF-8 passes through).
 *
 * Every entry keeps its line (where its logical line starts).  Duplicate keys are all kept in
 * file order; the last one is the one that counts, as in Java.  Memory is bounded by the input:
 * at most its length in key/value bytes plus one entry per line.
 */
#ifndef RT_PROPS_H
#define RT_PROPS_H

#include <stddef.h>

/* Files larger than this are refused rather than read (-EFBIG). */
#define RT_PROPS_MAX_FILE (16u << 20)

struct rt_prop {
	char *key;    /* owned by the rt_props, NUL-terminated */
	char *value;  /* owned by the rt_props, NUL-terminated */
	int line;     /* 1-based line where the entry starts */
};

struct rt_props {
	char *file;            /* owned copy of the name given to the parser, for messages */
	struct rt_prop *v;     /* owned, n entries in file order */
	size_t n, cap;
};

/* Embedded lifetime: init to empty; fini frees everything. */
void rt_props_init(struct rt_props *p);
void rt_props_fini(struct rt_props *p);

/*
 * Parses len bytes of text (borrowed) named `name` (copied; used in messages) into p, which must
 * be freshly initialised.  Returns 0, -EINVAL with a "name:line: what" message in err (errlen
 * bytes, always NUL-terminated), or -ENOMEM.  On failure p holds no entries.
 */
int rt_props_parse(struct rt_props *p, const char *name, const char *text, size_t len,
		   char *err, size_t errlen);

/* Reads and parses the file at path.  Returns 0 or -errno (-ENOENT, -EFBIG over
 * RT_PROPS_MAX_FILE, -EINVAL for bad content, ...) with a message naming the path in err. */
int rt_props_load_file(struct rt_props *p, const char *path, char *err, size_t errlen);

/* The last entry with this key, or NULL (borrowed from p). */
const struct rt_prop *rt_props_get(const struct rt_props *p, const char *key);

#endif
