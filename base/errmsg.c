/*
 * base/errmsg.c: filling a caller's error text (see errmsg.h).
 */
#include "base/errmsg.h"

#include <stdio.h>

void rt_verrmsg(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void rt_errmsg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_verrmsg(err, errlen, fmt, ap);
	va_end(ap);
}
