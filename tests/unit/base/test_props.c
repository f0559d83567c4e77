/* Unit tests for base/props.c: java.util.Properties rules, line numbers, malformed input. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/props.h"

static struct rt_props props;
static char err[512];

static int parse(const char *text)
{
	rt_props_fini(&props);
	rt_props_init(&props);
	return rt_props_parse(&props, "t.properties", text, strlen(text), err, sizeof(err));
}

static void fini(void) { rt_props_fini(&props); }

TestSuite(rt_props, .fini = fini);

/* Expects entry i to be key=value at line. */
static void expect_entry(size_t i, const char *key, const char *value, int line)
{
	cr_assert_lt(i, props.n, "only %zu entries", props.n);
	cr_expect_str_eq(props.v[i].key, key);
	cr_expect_str_eq(props.v[i].value, value, "value of %s", key);
	cr_expect_eq(props.v[i].line, line, "line of %s: %d", key, props.v[i].line);
}

Test(rt_props, separators)
{
	cr_assert_eq(parse("a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf\ng=\nh:=6\ni = = 7\nj  k=8\n  l=9\n"), 0, "%s", err);
	cr_assert_eq(props.n, 11);
	expect_entry(0, "a", "1", 1);
	expect_entry(1, "b", "2", 2);
	expect_entry(2, "c", "3", 3);
	expect_entry(3, "d", "4", 4);
	expect_entry(4, "e", "5", 5);
	expect_entry(5, "f", "", 6);
	expect_entry(6, "g", "", 7);
	expect_entry(7, "h", "=6", 8);
	expect_entry(8, "i", "= 7", 9);
	expect_entry(9, "j", "k=8", 10);
	expect_entry(10, "l", "9", 11);
}

Test(rt_props, trailing_blanks_are_kept_in_values)
{
	cr_assert_eq(parse("a=b  \t\nc = d e f "), 0);
	expect_entry(0, "a", "b  \t", 1);
	expect_entry(1, "c", "d e f ", 2);
}

Test(rt_props, comments_and_blank_lines)
{
	cr_assert_eq(parse("# comment\n! also\n   # indented\n\n \t \n\fx=1\n#a=2\\\ny=3\n"), 0, "%s", err);
	cr_assert_eq(props.n, 2);
	expect_entry(0, "x", "1", 6);
	/* A comment ending in a backslash does not continue. */
	expect_entry(1, "y", "3", 8);
	cr_assert_eq(parse("a=b#not a comment\n"), 0);
	expect_entry(0, "a", "b#not a comment", 1);
}

Test(rt_props, continuation_lines)
{
	cr_assert_eq(parse("a=one\\\n    two\\\n\tthree\nb=2\n"), 0, "%s", err);
	expect_entry(0, "a", "onetwothree", 1);
	expect_entry(1, "b", "2", 4);
	/* An even number of backslashes is an escaped backslash, not a continuation. */
	cr_assert_eq(parse("a=x\\\\\nb=y\n"), 0);
	expect_entry(0, "a", "x\\", 1);
	expect_entry(1, "b", "y", 2);
	/* A continued line starting with # is value, not comment. */
	cr_assert_eq(parse("a=x\\\n  #y\n"), 0);
	expect_entry(0, "a", "x#y", 1);
	/* The key itself may continue. */
	cr_assert_eq(parse("lo\\\n  ng.key=v\n"), 0);
	expect_entry(0, "long.key", "v", 1);
	/* A continuation onto an empty line ends the entry there. */
	cr_assert_eq(parse("a=x\\\n\nb=y"), 0);
	expect_entry(0, "a", "x", 1);
	expect_entry(1, "b", "y", 3);
	/* At the end of the input the backslash is dropped. */
	cr_assert_eq(parse("a=b\\"), 0);
	expect_entry(0, "a", "b", 1);
}

Test(rt_props, line_endings)
{
	cr_assert_eq(parse("a=1\r\nb=2\rc=3\n\r\nd=4\\\r\n  5\r\ne=6"), 0, "%s", err);
	cr_assert_eq(props.n, 5);
	expect_entry(0, "a", "1", 1);
	expect_entry(1, "b", "2", 2);
	expect_entry(2, "c", "3", 3);
	expect_entry(3, "d", "45", 5);
	expect_entry(4, "e", "6", 7);
}

Test(rt_props, escapes)
{
	cr_assert_eq(parse("a=\\t\\n\\r\\f\\\\\\=\\:\\ \\#\\!\\q\n"), 0, "%s", err);
	expect_entry(0, "a", "\t\n\r\f\\=: #!q", 1);
	cr_assert_eq(parse("my\\=key\\:x\\ y=v\n"), 0);
	expect_entry(0, "my=key:x y", "v", 1);
	cr_assert_eq(parse("u=\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\n"), 0, "%s", err);
	expect_entry(0, "u", "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 1);
	/* Leading blanks of a value can be kept by escaping them. */
	cr_assert_eq(parse("k = \\  v\n"), 0);
	expect_entry(0, "k", "  v", 1);
	/* UTF-8 bytes pass through. */
	cr_assert_eq(parse("caf\xC3\xA9=\xE2\x82\xAC\n"), 0);
	expect_entry(0, "caf\xC3\xA9", "\xE2\x82\xAC", 1);
}

Test(rt_props, duplicates_last_wins)
{
	cr_assert_eq(parse("a=1\nb=2\na=3\n"), 0);
	cr_expect_eq(props.n, 3);
	const struct rt_prop *p = rt_props_get(&props, "a");
	cr_assert_not_null(p);
	cr_expect_str_eq(p->value, "3");
	cr_expect_eq(p->line, 3);
	cr_expect_null(rt_props_get(&props, "c"));
}

Test(rt_props, empty_inputs)
{
	cr_expect_eq(parse(""), 0);
	cr_expect_eq(props.n, 0);
	cr_expect_eq(parse("\n\n# only comments\n   \n"), 0);
	cr_expect_eq(props.n, 0);
	cr_expect_eq(parse("=v"), 0);
	expect_entry(0, "", "v", 1);
}

Test(rt_props, malformed_unicode_escapes)
{
	const struct { const char *text, *msg; } bad[] = {
		{"a=1\nb=2\nc=\\u12\n", "t.properties:3: malformed \\uXXXX escape (needs four hex digits) in the value of c"},
		{"c=\\uZZZZ", "t.properties:1: malformed \\uXXXX escape (needs four hex digits) in the value of c"},
		{"x\\u00g1=1", "t.properties:1: malformed \\uXXXX escape (needs four hex digits) in key"},
		{"a=1\\\n 2\nk=\\u0000", "t.properties:3: \\u0000 is not allowed in the value of k"},
		{"k=\\uD83D", "t.properties:1: unpaired UTF-16 surrogate in \\u escape in the value of k"},
		{"k=\\uD83Dx", "t.properties:1: unpaired UTF-16 surrogate in \\u escape in the value of k"},
		{"k=\\uDE00", "t.properties:1: unpaired UTF-16 surrogate in \\u escape in the value of k"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(parse(bad[i].text), -EINVAL, "%s", bad[i].text);
		cr_expect_str_eq(err, bad[i].msg);
		cr_expect_eq(props.n, 0, "no entries after a failure");
	}
}

Test(rt_props, nul_byte_is_refused)
{
	rt_props_fini(&props);
	rt_props_init(&props);
	const char text[] = "a=1\nb=2\r\nc=x\0y\n";
	cr_expect_eq(rt_props_parse(&props, "n.conf", text, sizeof(text) - 1, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "n.conf:3: NUL byte in the file");
	cr_expect_eq(props.n, 0);
}

/* Every prefix of a tricky input parses or fails cleanly (no over-read under ASan). */
Test(rt_props, every_truncation_is_clean)
{
	const char *text = "a=\\u00e9\\\n  x\r\n#c\\\n k\\ e\\=y : v\\uD83D\\uDE00 \\";
	for (size_t n = 0; n <= strlen(text); n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, text, n);
		rt_props_fini(&props);
		rt_props_init(&props);
		int rc = rt_props_parse(&props, "t", copy, n, err, sizeof(err));
		cr_expect(rc == 0 || rc == -EINVAL, "prefix %zu: %d", n, rc);
		free(copy);
	}
}

static char *temp_file(const char *content)
{
	static char path[64];
	strcpy(path, "/tmp/rt_props_XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

Test(rt_props, load_file)
{
	char *path = temp_file("# ringtail\nnum.partitions=3\nlog.dirs = /data/a,\\\n   /data/b\n");
	rt_props_fini(&props);
	rt_props_init(&props);
	cr_assert_eq(rt_props_load_file(&props, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(props.file, path);
	expect_entry(0, "num.partitions", "3", 2);
	expect_entry(1, "log.dirs", "/data/a,/data/b", 3);
	unlink(path);
}

Test(rt_props, load_file_errors_name_the_path)
{
	rt_props_fini(&props);
	rt_props_init(&props);
	cr_expect_eq(rt_props_load_file(&props, "/nonexistent/ringtail.conf", err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "/nonexistent/ringtail.conf: cannot open: No such file or directory");
	cr_expect_eq(rt_props_load_file(&props, "/tmp", err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "/tmp: not a regular file");

	char *path = temp_file("");
	int fd = open(path, O_WRONLY);
	cr_assert_eq(ftruncate(fd, RT_PROPS_MAX_FILE + 1), 0); /* sparse: costs no disk */
	close(fd);
	cr_expect_eq(rt_props_load_file(&props, path, err, sizeof(err)), -EFBIG);
	cr_expect(strstr(err, path) == err && strstr(err, "larger than"), "%s", err);
	unlink(path);

	path = temp_file("ok=1\nbad=\\u12x4\n");
	cr_expect_eq(rt_props_load_file(&props, path, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: malformed \\uXXXX escape (needs four hex digits) in the value of bad", path);
	cr_expect_str_eq(err, want);
	unlink(path);
}
