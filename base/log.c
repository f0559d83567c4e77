/*
 * base/log.c: the line formatter and writer behind base/log.h.
 *
 * Invariant: a line is formatted entirely into a stack buffer and handed to one write(2) under a
 * mutex.  One write keeps lines whole on pipes and O_APPEND files; the mutex is still needed
 * because concurrent writes to a shared file offset (a log file opened without O_APPEND, a
 * memfd) can overwrite each other on some kernels.  Nothing allocates.
 */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

int rt_log_level_cur = RT_LOG_INFO;
static int log_fd = 2;
static pthread_mutex_t log_write_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread char log_tag[RT_LOG_TAG_MAX];

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void rt_log_set_level(enum rt_log_level lv)
{
	if ((int)lv < RT_LOG_ERROR)
		lv = RT_LOG_ERROR;
	if ((int)lv > RT_LOG_TRACE)
		lv = RT_LOG_TRACE;
	__atomic_store_n(&rt_log_level_cur, (int)lv, __ATOMIC_RELAXED);
}

enum rt_log_level rt_log_get_level(void)
{
	return (enum rt_log_level)__atomic_load_n(&rt_log_level_cur, __ATOMIC_RELAXED);
}

int rt_log_level_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i <= RT_LOG_TRACE; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return RT_LOG_WARN;
	return -EINVAL;
}

const char *rt_log_level_name(enum rt_log_level lv)
{
	if ((int)lv < RT_LOG_ERROR || (int)lv > RT_LOG_TRACE)
		return "?";
	return level_names[lv];
}

void rt_log_set_tag(const char *tag)
{
	if (!tag) {
		log_tag[0] = 0;
		return;
	}
	size_t n = strnlen(tag, RT_LOG_TAG_MAX - 1);
	memcpy(log_tag, tag, n);
	log_tag[n] = 0;
}

const char *rt_log_tag(void)
{
	return log_tag;
}

void rt_log_set_fd(int fd)
{
	__atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

/* Writes all of p; a log line lost to EAGAIN or a closed stderr is not worth failing for. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void rt_log_vwrite(enum rt_log_level lv, const char *file, int line, const char *fmt, va_list ap)
{
	if (!rt_log_enabled(lv))
		return;
	int saved_errno = errno; /* callers often log right before reporting errno */
	char b[RT_LOG_LINE_MAX];
	/* Each snprintf below leaves its NUL within cap; the newline later takes that NUL's place. */
	size_t cap = sizeof(b);
	size_t n = 0;

	int64_t ns = rt_clock_wall_ns();
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	n += strftime(b, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	int k = snprintf(b + n, cap - n, ".%06dZ %-5s ", (int)(ns % 1000000000 / 1000),
			 rt_log_level_name(lv));
	n += (size_t)k;
	if (log_tag[0])
		n += (size_t)snprintf(b + n, cap - n, "[%s] ", log_tag);

	k = vsnprintf(b + n, cap - n, fmt, ap);
	if (k < 0)
		k = 0;
	bool cut = (size_t)k >= cap - n;
	n = cut ? cap - 1 : n + (size_t)k; /* vsnprintf left a NUL at cap-1 */

	if (!cut && file && lv >= RT_LOG_DEBUG) {
		const char *slash = strrchr(file, '/');
		k = snprintf(b + n, cap - n, " (%s:%d)", slash ? slash + 1 : file, line);
		if (k > 0 && (size_t)k < cap - n)
			n += (size_t)k;
		else
			b[n] = 0;
	}
	if (cut)
		memcpy(b + n - 3, "...", 3);
	b[n++] = '\n';
	pthread_mutex_lock(&log_write_lock);
	write_all(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), b, n);
	pthread_mutex_unlock(&log_write_lock);
	errno = saved_errno;
}

void rt_log_write(enum rt_log_level lv, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_log_vwrite(lv, file, line, fmt, ap);
	va_end(ap);
}
