/*
 * base/errmsg.h: the caller-supplied error text that parsers and validators fill (config keys,
 * properties, the affinity plan, command-line options).  A caller that does not want the text
 * passes NULL or a zero length, so every writer must go through here to honour that.
 */
#ifndef RT_ERRMSG_H
#define RT_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (errlen bytes, always NUL-terminated, truncated if long); does nothing when
 * err is NULL or errlen is 0. */
void rt_errmsg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for callers that are themselves variadic. */
void rt_verrmsg(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
