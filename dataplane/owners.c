/*
 * dataplane/owners.c: the `ringtail.partition.shards` list (see owners.h): parsing with the
 * message an operator needs, formatting, and the operator's table of owners and cores; and the
 * owners that a request's manual replica assignments name.
 */
#include "owners.h"

#include <ctype.h>
#include <stdint.h>
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

int dp_owners_node_shard(const struct dp_owners_nodes *nodes, int32_t id)
{
	if (id == nodes->node_id)
		return -1;
	int64_t s = (int64_t)id - (int64_t)nodes->node_id * 1000 - 1;
	return nodes->shard_nodes && s >= 0 && s < nodes->nshards ? (int)s : -2;
}

/* Marks a partition no assignment has named yet (the shards are -1 ..). */
#define UNNAMED INT16_MIN

int16_t dp_owners_assign(const struct dp_owners_nodes *nodes, const void *list, int32_t n, dp_owners_replicas_fn at,
                         bool growing, int16_t *owner, char *msg, size_t msglen)
{
	for (int32_t p = 0; p < n; p++)
		owner[p] = UNNAMED;
	for (int32_t k = 0; k < n; k++) {
		int32_t p, nids;
		const int32_t *ids;
		at(list, k, &p, &ids, &nids);
		if (p < 0 || p >= n) {
			snprintf(msg, msglen, "partitions should be a consecutive 0-based integer sequence");
			return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
		}
		if (owner[p] != UNNAMED) {
			snprintf(msg, msglen, "Found multiple manual partition assignments for partition %d", p);
			return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
		}
		if (nids <= 0) {
			snprintf(msg, msglen, "The manual partition assignment includes an empty replica list.");
			return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
		}
		/* An unknown broker is reported before a second replica, as Kafka checks each id first. */
		for (int32_t r = 0; r < nids; r++) {
			if (dp_owners_node_shard(nodes, ids[r]) == -2) {
				snprintf(msg, msglen,
				         "The manual partition assignment includes broker %d, but no such broker is registered.",
				         ids[r]);
				return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
			}
		}
		if (nids > 1) {
			if (growing)
				snprintf(msg, msglen,
				         "The manual partition assignment includes a partition with %d replica(s), but this is "
				         "not consistent with previous partitions, which have 1 replica(s).", nids);
			else
				snprintf(msg, msglen,
				         "The manual partition assignment includes a partition with %d replicas, but a single "
				         "broker keeps one replica per partition", nids);
			return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
		}
		owner[p] = (int16_t)dp_owners_node_shard(nodes, ids[0]);
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
