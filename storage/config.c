/*
 * storage/config.c: topic-level storage configuration (Kafka's key names and defaults), the one
 * mapping from storage errors to Kafka error codes, and where storage's log lines go.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "storage/storage.h"
#include "storage/internal.h"

void stor_config_default(struct stor_config *c)
{
	*c = (struct stor_config){
		.segment_bytes = 1073741824,
		.segment_ms = 604800000,
		.segment_index_bytes = 10485760,
		.index_interval_bytes = 4096,
		.retention_ms = 604800000,
		.retention_bytes = -1,
		.cleanup_policy = STOR_CLEANUP_DELETE,
		.delete_retention_ms = 86400000,
		.min_cleanable_ratio = 0.5,
		.min_compaction_lag_ms = 0,
		.max_compaction_lag_ms = INT64_MAX,
		.flush_messages = INT64_MAX,
		.flush_ms = INT64_MAX,
		.file_delete_delay_ms = 60000,
		.timestamp_type = STOR_TS_CREATE_TIME,
		.prealloc_window_ms = 1000,
	};
}

static int parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi) return -EINVAL;
	*out = x;
	return 0;
}

struct int_key {
	const char *key;
	size_t off;
	int64_t lo, hi;
	const char *why;
};

#define K(name, field, lo, hi, why) { name, offsetof(struct stor_config, field), lo, hi, why }
static const struct int_key int_keys[] = {
	/* Kafka's own lower bounds: segment.bytes >= 14 (one empty batch), index >= 4 entries. */
	K("segment.bytes", segment_bytes, 14, INT32_MAX, "segment.bytes: an integer from 14 to 2147483647"),
	K("segment.ms", segment_ms, 1, INT64_MAX, "segment.ms: an integer >= 1"),
	K("segment.index.bytes", segment_index_bytes, 4 * 8, INT32_MAX, "segment.index.bytes: an integer from 32 to 2147483647"),
	K("index.interval.bytes", index_interval_bytes, 0, INT32_MAX, "index.interval.bytes: an integer from 0 to 2147483647"),
	K("retention.ms", retention_ms, -1, INT64_MAX, "retention.ms: -1 (forever) or an integer >= 0"),
	K("retention.bytes", retention_bytes, -1, INT64_MAX, "retention.bytes: -1 (no limit) or an integer >= 0"),
	K("delete.retention.ms", delete_retention_ms, 0, INT64_MAX, "delete.retention.ms: an integer >= 0"),
	K("min.compaction.lag.ms", min_compaction_lag_ms, 0, INT64_MAX, "min.compaction.lag.ms: an integer >= 0"),
	K("max.compaction.lag.ms", max_compaction_lag_ms, 1, INT64_MAX, "max.compaction.lag.ms: an integer >= 1"),
	K("flush.messages", flush_messages, 1, INT64_MAX, "flush.messages: an integer >= 1"),
	K("flush.ms", flush_ms, 0, INT64_MAX, "flush.ms: an integer >= 0"),
	K("file.delete.delay.ms", file_delete_delay_ms, 0, INT64_MAX, "file.delete.delay.ms: an integer >= 0"),
};
#undef K

int stor_config_set(struct stor_config *c, const char *key, const char *value, const char **why)
{
	const char *dummy;
	if (!why) why = &dummy;
	for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
		const struct int_key *k = &int_keys[i];
		if (strcmp(key, k->key)) continue;
		int64_t v;
		if (parse_i64(value, k->lo, k->hi, &v)) {
			*why = k->why;
			return -EINVAL;
		}
		*(int64_t *)((char *)c + k->off) = v;
		return 0;
	}
	if (!strcmp(key, "min.cleanable.dirty.ratio")) {
		/* Kafka's ConfigDef: a double between 0 and 1 inclusive. */
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !(v >= 0.0 && v <= 1.0)) {
			*why = "min.cleanable.dirty.ratio: a number from 0 to 1";
			return -EINVAL;
		}
		c->min_cleanable_ratio = v;
		return 0;
	}
	if (!strcmp(key, "cleanup.policy")) {
		/* A comma-separated list, as Kafka's ConfigDef LIST type reads it. */
		unsigned pol = 0;
		const char *p = value;
		while (*p) {
			while (*p == ' ') p++;
			size_t n = strcspn(p, ",");
			size_t m = n;
			while (m && p[m - 1] == ' ') m--;
			if (m == 6 && !strncmp(p, "delete", 6)) pol |= STOR_CLEANUP_DELETE;
			else if (m == 7 && !strncmp(p, "compact", 7)) pol |= STOR_CLEANUP_COMPACT;
			else {
				*why = "cleanup.policy: a list of delete and/or compact";
				return -EINVAL;
			}
			p += n;
			if (*p == ',') p++;
		}
		if (!pol) {
			*why = "cleanup.policy: a list of delete and/or compact";
			return -EINVAL;
		}
		c->cleanup_policy = pol;
		return 0;
	}
	if (!strcmp(key, "message.timestamp.type")) {
		if (!strcmp(value, "CreateTime")) c->timestamp_type = STOR_TS_CREATE_TIME;
		else if (!strcmp(value, "LogAppendTime")) c->timestamp_type = STOR_TS_LOG_APPEND_TIME;
		else {
			*why = "message.timestamp.type: CreateTime or LogAppendTime";
			return -EINVAL;
		}
		return 0;
	}
	*why = "not a storage configuration key";
	return -ENOENT;
}

/* Kafka error codes (Errors.java numbering). */
enum {
	KERR_NONE = 0,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_RECORD_LIST_TOO_LARGE = 18,
	KERR_INVALID_REQUEST = 42,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_UNKNOWN_SERVER_ERROR = -1,
};

int16_t stor_err_to_kafka(int err)
{
	switch (err) {
	case 0: return KERR_NONE;
	case -ERANGE: return KERR_OFFSET_OUT_OF_RANGE;
	case -EBADMSG: return KERR_CORRUPT_MESSAGE;
	case -EMSGSIZE: return KERR_RECORD_LIST_TOO_LARGE;
	case -EINVAL: return KERR_INVALID_REQUEST;
	case -ENOMEM: return KERR_UNKNOWN_SERVER_ERROR;
	default:
		/* Everything the disk says (ENOSPC, EIO, EROFS, EDQUOT, ...) is a storage error, which
		 * clients treat as retriable. */
		return KERR_KAFKA_STORAGE_ERROR;
	}
}

static void default_line(void *arg, const char *line)
{
	(void)arg;
	RT_WARN("storage: %s", line);
}

static stor_log_line_fn line_fn = default_line;
static void *line_arg;

void stor_set_log_line(stor_log_line_fn fn, void *arg)
{
	line_fn = fn ? fn : default_line;
	line_arg = fn ? arg : NULL;
}

void stor_logf(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	line_fn(line_arg, line);
}
