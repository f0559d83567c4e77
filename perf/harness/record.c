/*
 * perf/harness/record.c: the harness's record value (see record.h).
 */
#include "perf/harness/record.h"

#include <string.h>

void perf_record_stamp(uint8_t *out, uint64_t send_ns, uint32_t producer)
{
	uint32_t magic = PERF_RECORD_MAGIC;
	memcpy(out, &send_ns, 8);
	memcpy(out + 8, &producer, 4);
	memcpy(out + 12, &magic, 4);
}

void perf_record_fill(uint8_t *out, size_t size, uint64_t send_ns, uint32_t producer)
{
	perf_record_stamp(out, send_ns, producer);
	/* Text-like filler: compresses like log lines do, not to nothing. */
	static const char words[] = "ringtail perf record payload 0123456789 abcdefghijklmnopqrstuvwxyz ";
	uint32_t x = producer * 2654435761u + 1;
	for (size_t i = 16; i < size; i++) {
		x = x * 1103515245u + 12345u;
		out[i] = (uint8_t)((x >> 24) % 4 == 0 ? words[(x >> 8) % (sizeof(words) - 1)] : words[i % (sizeof(words) - 1)]);
	}
}

bool perf_record_parse(const uint8_t *value, size_t len, uint64_t *send_ns)
{
	uint32_t magic;
	if (!value || len < 16)
		return false;
	memcpy(&magic, value + 12, 4);
	if (magic != PERF_RECORD_MAGIC)
		return false;
	memcpy(send_ns, value, 8);
	return true;
}
