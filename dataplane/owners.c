/*
 * dataplane/owners.c: the `ringtail.partition.shards` list (see owners.h): parsing with the
 * message an operator needs, formatting, and the operator's table of owners and cores.
 */
#include "owners.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kp_errors.h"
#include "meta.h"

/* The value as it appears in a message: long lists are cut, the message must stay readable. */
static const char *shown(const char *value, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "%s", value);
	if (n >= cap && cap > 4)
		snprintf(buf + cap - 4, 4, "...");
	return buf;
}

int16_t dp_owners_parse(const char *value, int32_t nparts, int nshards, int16_t *owner, char *msg, size_t msglen)
{
	char v[64];
	const char *p = value;
	int32_t n = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		char *end;
		long s = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
		if (s < 0) {
			snprintf(msg, msglen,
			         DP_OWNERS_KEY "=%s: not a list of shard numbers (allowed: one shard from 0 to %d per "
			                       "partition, comma-separated, for example 0,1)",
			         shown(value, v, sizeof(v)), nshards - 1);
			return KP_ERR_INVALID_CONFIG;
		}
		if (s >= nshards) {
			snprintf(msg, msglen, DP_OWNERS_KEY "=%s: shard %ld does not exist (allowed: shards 0 to %d)",
			         shown(value, v, sizeof(v)), s, nshards - 1);
			return KP_ERR_INVALID_CONFIG;
		}
		if (n < nparts)
			owner[n] = (int16_t)s;
		n++;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == 0)
			break;
		if (*p != ',') {
			snprintf(msg, msglen,
			         DP_OWNERS_KEY "=%s: not a list of shard numbers (allowed: one shard from 0 to %d per "
			                       "partition, comma-separated, for example 0,1)",
			         shown(value, v, sizeof(v)), nshards - 1);
			return KP_ERR_INVALID_CONFIG;
		}
		p++;
	}
	if (n != nparts) {
		snprintf(msg, msglen,
		         DP_OWNERS_KEY "=%s: %d shard%s listed for %d partition%s (allowed: one shard from 0 to %d per "
		                       "partition)",
		         shown(value, v, sizeof(v)), n, n == 1 ? "" : "s", nparts, nparts == 1 ? "" : "s", nshards - 1);
		return KP_ERR_INVALID_CONFIG;
	}
	return 0;
}

size_t dp_owners_format(const int16_t *owner, int32_t nparts, char *buf, size_t cap)
{
	size_t len = 0;
	if (cap)
		buf[0] = 0;
	for (int32_t p = 0; p < nparts; p++) {
		char one[16];
		int k = snprintf(one, sizeof(one), "%s%d", p ? "," : "", owner[p]);
		if (len + (size_t)k < cap)
			memcpy(buf + len, one, (size_t)k + 1);
		else if (len < cap)
			buf[len] = 0;
		len += (size_t)k;
	}
	return len;
}

void dp_owners_print(FILE *f, const struct dp_snap *s, const int *cores)
{
	if (!s->n) {
		fprintf(f, "no topics\n");
		return;
	}
	int w = (int)strlen("topic");
	for (int i = 0; i < s->n; i++)
		if ((int)strlen(s->t[i]->name) > w)
			w = (int)strlen(s->t[i]->name);
	fprintf(f, "%-*s  %9s  %5s  %4s\n", w, "topic", "partition", "shard", "core");
	for (int i = 0; i < s->n; i++)
		for (int32_t p = 0; p < s->t[i]->nparts; p++)
			fprintf(f, "%-*s  %9d  %5d  %4d\n", w, s->t[i]->name, p, s->t[i]->owner[p], cores[s->t[i]->owner[p]]);
}
