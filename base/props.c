/*
 * base/props.c: the .properties reader of base/props.h.
 *
 * Two passes per logical line, like Java's LineReader and load0: first gather the logical line
 * (joining continuations, dropping comments and blank lines) as raw bytes, then split it into
 * key and value and decode the escapes of each.  Both passes only ever look at bytes inside
 * [text, text + len); the decoded strings are never longer than the raw line, so one scratch
 * buffer of the input's size bounds every allocation.
 */
#include "base/errmsg.h"
#include "base/props.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void rt_props_init(struct rt_props *p)
{
	memset(p, 0, sizeof(*p));
}

void rt_props_fini(struct rt_props *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].key);
		free(p->v[i].value);
	}
	free(p->v);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }
static bool is_eol(char c) { return c == '\n' || c == '\r'; }

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Reads 4 hex digits at s[0..n); returns the value or -1. */
static long hex4(const char *s, size_t n)
{
	if (n < 4)
		return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decodes the escapes of s[0..n) into a new string.  A \uXXXX takes 6 input bytes and gives at
 * most 3 (a pair: 12 bytes, 4 out), so the output never outgrows the input.
 * Returns the string, or NULL with *why set ("malformed ...") or *why NULL for no memory.
 */
static char *unescape(const char *s, size_t n, const char **why)
{
	char *out = malloc(n + 1), *o = out;
	*why = NULL;
	if (!out)
		return NULL;
	size_t i = 0;
	while (i < n) {
		char c = s[i++];
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (i == n) /* a dangling backslash (only at the end of the input): dropped, as Java does */
			break;
		c = s[i++];
		switch (c) {
		case 't': *o++ = '\t'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			long u = hex4(s + i, n - i);
			if (u < 0) {
				*why = "malformed \\uXXXX escape (needs four hex digits)";
				goto fail;
			}
			i += 4;
			uint32_t cp = (uint32_t)u;
			if (cp == 0) {
				*why = "\\u0000 is not allowed";
				goto fail;
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				long lo = (i + 2 <= n && s[i] == '\\' && s[i + 1] == 'u') ? hex4(s + i + 2, n - i - 2) : -1;
				if (lo < 0xDC00 || lo > 0xDFFF) {
					*why = "unpaired UTF-16 surrogate in \\u escape";
					goto fail;
				}
				i += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				*why = "unpaired UTF-16 surrogate in \\u escape";
				goto fail;
			}
			o += put_utf8(o, cp);
			break;
		}
		default: *o++ = c; break;
		}
	}
	*o = 0;
	return out;
fail:
	free(out);
	return NULL;
}

static int push(struct rt_props *p, char *key, char *value, int line)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct rt_prop *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct rt_prop){ key, value, line };
	return 0;
}

/* Splits a raw logical line into key and value and stores them (Java's load0). */
static int add_line(struct rt_props *p, const char *b, size_t n, int line, char *err, size_t errlen)
{
	size_t klen = 0, vstart = n;
	bool sep = false, bs = false;
	while (klen < n) {
		char c = b[klen];
		if ((c == '=' || c == ':') && !bs) {
			vstart = klen + 1;
			sep = true;
			break;
		}
		if (is_blank(c) && !bs) {
			vstart = klen + 1;
			break;
		}
		bs = c == '\\' ? !bs : false;
		klen++;
	}
	while (vstart < n) {
		char c = b[vstart];
		if (!is_blank(c)) {
			if (!sep && (c == '=' || c == ':'))
				sep = true;
			else
				break;
		}
		vstart++;
	}
	const char *why;
	char *key = unescape(b, klen, &why);
	if (!key) {
		if (!why)
			return -ENOMEM;
		rt_errmsg(err, errlen, "%s:%d: %s in key", p->file, line, why);
		return -EINVAL;
	}
	char *value = unescape(b + vstart, n - vstart, &why);
	if (!value) {
		if (!why) {
			free(key);
			return -ENOMEM;
		}
		rt_errmsg(err, errlen, "%s:%d: %s in the value of %s", p->file, line, why, key);
		free(key);
		return -EINVAL;
	}
	if (push(p, key, value, line)) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	return 0;
}

/* Consumes one line end at text[*i] (\r\n counts as one). */
static void eat_eol(const char *text, size_t len, size_t *i)
{
	if (text[*i] == '\r' && *i + 1 < len && text[*i + 1] == '\n')
		(*i)++;
	(*i)++;
}

int rt_props_parse(struct rt_props *p, const char *name, const char *text, size_t len,
		   char *err, size_t errlen)
{
	int rc = 0;
	if (err && errlen)
		err[0] = 0;
	p->file = strdup(name ? name : "(input)");
	char *line_buf = malloc(len + 1);
	if (!p->file || !line_buf) {
		free(line_buf);
		rt_props_fini(p);
		return -ENOMEM;
	}
	const char *nul = memchr(text, 0, len);
	if (nul) {
		int line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n' || (*q == '\r' && !(q + 1 < nul && q[1] == '\n'));
		rt_errmsg(err, errlen, "%s:%d: NUL byte in the file", p->file, line);
		rc = -EINVAL;
		goto out;
	}

	size_t i = 0;
	int line = 1;
	while (i < len) {
		while (i < len && is_blank(text[i]))
			i++;
		if (i == len)
			break;
		if (is_eol(text[i])) {
			eat_eol(text, len, &i);
			line++;
			continue;
		}
		if (text[i] == '#' || text[i] == '!') {
			while (i < len && !is_eol(text[i]))
				i++;
			if (i < len) {
				eat_eol(text, len, &i);
				line++;
			}
			continue;
		}
		/* A logical line: gather raw bytes, joining continuation lines. */
		int start = line;
		size_t n = 0;
		bool bs = false;
		while (i < len) {
			char c = text[i];
			if (is_eol(c)) {
				eat_eol(text, len, &i);
				line++;
				if (!bs)
					break;
				n--; /* the continuation backslash */
				bs = false;
				while (i < len && is_blank(text[i]))
					i++;
				continue;
			}
			bs = c == '\\' ? !bs : false;
			line_buf[n++] = c;
			i++;
		}
		if (i == len && bs)
			n--; /* a continuation at the end of the input: Java drops the backslash */
		rc = add_line(p, line_buf, n, start, err, errlen);
		if (rc)
			goto out;
	}
out:
	free(line_buf);
	if (rc) {
		char *file = p->file;
		p->file = NULL;
		rt_props_fini(p);
		p->file = file;
	}
	return rc;
}

int rt_props_load_file(struct rt_props *p, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		rt_errmsg(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		rt_errmsg(err, errlen, "%s: cannot stat: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		rt_errmsg(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > RT_PROPS_MAX_FILE) {
		close(fd);
		rt_errmsg(err, errlen, "%s: %lld bytes, larger than the %u bytes a configuration file may have",
			path, (long long)st.st_size, RT_PROPS_MAX_FILE);
		return -EFBIG;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	char *text = malloc(cap + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	/* Read to the end even if the file changed size since fstat, up to the limit. */
	for (;;) {
		if (n == cap) {
			if (cap >= RT_PROPS_MAX_FILE) {
				char probe;
				ssize_t r = read(fd, &probe, 1);
				if (r > 0) {
					free(text);
					close(fd);
					rt_errmsg(err, errlen, "%s: larger than the %u bytes a configuration file may have",
						path, RT_PROPS_MAX_FILE);
					return -EFBIG;
				}
				break;
			}
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > RT_PROPS_MAX_FILE)
				ncap = RT_PROPS_MAX_FILE;
			char *t = realloc(text, ncap + 1);
			if (!t) {
				free(text);
				close(fd);
				return -ENOMEM;
			}
			text = t;
			cap = ncap;
		}
		ssize_t r = read(fd, text + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(text);
			close(fd);
			rt_errmsg(err, errlen, "%s: read failed: %s", path, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	int rc = rt_props_parse(p, path, text, n, err, errlen);
	free(text);
	return rc;
}

const struct rt_prop *rt_props_get(const struct rt_props *p, const char *key)
{
	for (size_t i = p->n; i-- > 0;)
		if (strcmp(p->v[i].key, key) == 0)
			return &p->v[i];
	return NULL;
}
