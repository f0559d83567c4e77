/* Unit tests for base/log.c: line format, level filtering, thread tags, long lines. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"

/* Sends log lines to a memory file and reads them back. */
static int capture(void)
{
	int fd = memfd_create("log", 0);
	cr_assert_geq(fd, 0);
	rt_log_set_fd(fd);
	return fd;
}

static char *captured(int fd)
{
	static char out[65536];
	off_t n = lseek(fd, 0, SEEK_CUR);
	cr_assert_lt(n, (off_t)sizeof(out));
	ssize_t r = pread(fd, out, (size_t)n, 0);
	cr_assert_eq(r, n);
	out[r] = 0;
	return out;
}

static void expect_match(const char *s, const char *re)
{
	regex_t rx;
	cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	cr_expect_eq(regexec(&rx, s, 0, NULL, 0), 0, "%s does not match %s", s, re);
	regfree(&rx);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(rt_log, line_format)
{
	int fd = capture();
	rt_log_set_level(RT_LOG_INFO);
	RT_INFO("listening on %s:%d", "127.0.0.1", 9092);
	const char *out = captured(fd);
	expect_match(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z INFO  "
			  "listening on 127\\.0\\.0\\.1:9092\n$");
}

Test(rt_log, debug_lines_carry_file_and_line)
{
	int fd = capture();
	rt_log_set_level(RT_LOG_TRACE);
	RT_DEBUG("x=%d", 5);
	expect_match(captured(fd), " DEBUG x=5 \\(test_log\\.c:[0-9]+\\)\n$");
}

static int evaluated;
static int side_effect(void) { return ++evaluated; }

Test(rt_log, levels_filter_and_skip_arguments)
{
	int fd = capture();
	rt_log_set_level(RT_LOG_WARN);
	evaluated = 0;
	RT_ERROR("e %d", side_effect());
	RT_WARN("w %d", side_effect());
	RT_INFO("i %d", side_effect());
	RT_DEBUG("d %d", side_effect());
	RT_TRACE("t %d", side_effect());
	cr_expect_eq(evaluated, 2, "arguments of disabled levels must not be evaluated");
	const char *out = captured(fd);
	cr_expect_eq(count_lines(out), 2);
	expect_match(out, " ERROR e 1$");
	expect_match(out, " WARN  w 2$");
	cr_expect_null(strstr(out, "INFO"));

	rt_log_set_level(RT_LOG_ERROR);
	cr_expect(!rt_log_enabled(RT_LOG_WARN));
	cr_expect(rt_log_enabled(RT_LOG_ERROR));
	rt_log_set_level(RT_LOG_TRACE);
	cr_expect(rt_log_enabled(RT_LOG_TRACE));
	cr_expect_eq(rt_log_get_level(), RT_LOG_TRACE);
}

Test(rt_log, parse_level_names)
{
	cr_expect_eq(rt_log_level_parse("error"), RT_LOG_ERROR);
	cr_expect_eq(rt_log_level_parse("WARN"), RT_LOG_WARN);
	cr_expect_eq(rt_log_level_parse("warning"), RT_LOG_WARN);
	cr_expect_eq(rt_log_level_parse("Info"), RT_LOG_INFO);
	cr_expect_eq(rt_log_level_parse("debug"), RT_LOG_DEBUG);
	cr_expect_eq(rt_log_level_parse("trace"), RT_LOG_TRACE);
	cr_expect_eq(rt_log_level_parse("verbose"), -EINVAL);
	cr_expect_eq(rt_log_level_parse(""), -EINVAL);
	cr_expect_eq(rt_log_level_parse(NULL), -EINVAL);
	cr_expect_str_eq(rt_log_level_name(RT_LOG_DEBUG), "DEBUG");
}

static void *tagged_thread(void *arg)
{
	rt_log_set_tag((const char *)arg);
	for (int i = 0; i < 50; i++)
		RT_INFO("from %s line %d", (const char *)arg, i);
	return NULL;
}

Test(rt_log, tags_are_per_thread_and_lines_stay_whole)
{
	int fd = capture();
	rt_log_set_level(RT_LOG_INFO);
	rt_log_set_tag("main");
	pthread_t a, b;
	pthread_create(&a, NULL, tagged_thread, "shard 0");
	pthread_create(&b, NULL, tagged_thread, "shard 1");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	cr_expect_str_eq(rt_log_tag(), "main", "other threads' tags must not leak here");
	RT_INFO("done");
	const char *out = captured(fd);
	cr_expect_eq(count_lines(out), 101);
	/* Every line carries the tag of the thread that wrote it. */
	char *copy = strdup(out), *save = NULL;
	int n0 = 0, n1 = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strstr(l, "[shard 0] from shard 0 line"))
			n0++;
		else if (strstr(l, "[shard 1] from shard 1 line"))
			n1++;
		else
			cr_expect(strstr(l, "[main] done") != NULL, "stray line: %s", l);
	}
	cr_expect_eq(n0, 50);
	cr_expect_eq(n1, 50, "%s", out);
	free(copy);
	rt_log_set_tag(NULL);
	cr_expect_str_eq(rt_log_tag(), "");
}

Test(rt_log, long_tag_is_cut)
{
	char tag[100];
	memset(tag, 'x', sizeof(tag) - 1);
	tag[99] = 0;
	rt_log_set_tag(tag);
	cr_expect_eq(strlen(rt_log_tag()), RT_LOG_TAG_MAX - 1);
}

Test(rt_log, long_message_is_cut_to_one_line)
{
	int fd = capture();
	rt_log_set_level(RT_LOG_TRACE);
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	RT_TRACE("%s", big);
	const char *out = captured(fd);
	cr_expect_eq(strlen(out), RT_LOG_LINE_MAX);
	cr_expect_eq(count_lines(out), 1);
	expect_match(out, "aaa\\.\\.\\.\n$");
}

Test(rt_log, errno_is_preserved)
{
	capture();
	errno = ENOSPC;
	RT_ERROR("write failed");
	cr_expect_eq(errno, ENOSPC);
}
