/*
 * base/log.h: levelled logging to stderr.
 *
 * One line per call: "<UTC time with microseconds> <LEVEL> [<thread tag>] <message>", with the
 * source file and line added at debug and trace.  Each line is written with a single write(2)
 * of at most RT_LOG_LINE_MAX bytes (serialized by a lock), so lines from different threads never
 * interleave or overwrite each other; longer messages are cut and end in "...".
 *
 * The RT_* macros test the level before evaluating their arguments: a disabled level costs one
 * relaxed load and a branch.  The thread tag ("shard 3", "control") is thread-local and set
 * once by each thread.  Logging is for start-up, errors and rare events, never per record.
 */
#ifndef RT_LOG_H
#define RT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum rt_log_level {
	RT_LOG_ERROR = 0,
	RT_LOG_WARN = 1,
	RT_LOG_INFO = 2,
	RT_LOG_DEBUG = 3,
	RT_LOG_TRACE = 4,
};

#define RT_LOG_LINE_MAX 1024
#define RT_LOG_TAG_MAX 32

/* The current level; read through rt_log_enabled.  Default RT_LOG_INFO. */
extern int rt_log_level_cur;

static inline bool rt_log_enabled(enum rt_log_level lv)
{
	return (int)lv <= __atomic_load_n(&rt_log_level_cur, __ATOMIC_RELAXED);
}

/* Sets the process-wide level (any thread, takes effect at once). */
void rt_log_set_level(enum rt_log_level lv);
enum rt_log_level rt_log_get_level(void);

/* Parses "error", "warn", "info", "debug", "trace" (any case; "warning" too).
 * Returns the level or -EINVAL. */
int rt_log_level_parse(const char *s);

/* "ERROR", "WARN", ... for a level. */
const char *rt_log_level_name(enum rt_log_level lv);

/* Sets the calling thread's tag (copied, cut to RT_LOG_TAG_MAX-1 bytes); NULL or "" clears it. */
void rt_log_set_tag(const char *tag);
/* The calling thread's tag ("" when none); valid until the next rt_log_set_tag on this thread. */
const char *rt_log_tag(void);

/* Where lines go (default 2, stderr); for tests and for daemons that log to a file.
 * The descriptor is borrowed. */
void rt_log_set_fd(int fd);

/* Formats and writes one line if lv is enabled.  file/line may be NULL/0. */
void rt_log_write(enum rt_log_level lv, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void rt_log_vwrite(enum rt_log_level lv, const char *file, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define RT_LOG_AT(lv, ...) \
	do { \
		if (rt_log_enabled(lv)) \
			rt_log_write((lv), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define RT_ERROR(...) RT_LOG_AT(RT_LOG_ERROR, __VA_ARGS__)
#define RT_WARN(...) RT_LOG_AT(RT_LOG_WARN, __VA_ARGS__)
#define RT_INFO(...) RT_LOG_AT(RT_LOG_INFO, __VA_ARGS__)
#define RT_DEBUG(...) RT_LOG_AT(RT_LOG_DEBUG, __VA_ARGS__)
#define RT_TRACE(...) RT_LOG_AT(RT_LOG_TRACE, __VA_ARGS__)

#endif
