/*
 * storage/internal.h: what the files of storage/ share and nothing outside storage/ may use.
 */
#ifndef STOR_INTERNAL_H
#define STOR_INTERNAL_H

#include "storage/storage.h"

/* One log line through the sink set by stor_set_log_line (printf-style, no newline). */
void stor_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
