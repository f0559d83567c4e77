/*
 * dataplane/owners.h: the operator's word on partition ownership: the topic config
 * `ringtail.partition.shards`, a comma-separated list that names the owner shard of partition 0,
 * 1, ... of a topic ("0,1,1,0").  CreateTopics accepts it; DescribeConfigs shows every topic's
 * owners in the same form (read-only: a partition's data lives where its owner opened it, so
 * moving it is not a config change).  Kafka has no word for a core, hence a ringtail.* key.
 * `ringtail --show-partitions` prints the same ownership from the data directory, with cores.
 */
#ifndef DP_OWNERS_H
#define DP_OWNERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dp_snap;

#define DP_OWNERS_KEY "ringtail.partition.shards"

/* Parses `value` into owner[0 .. nparts-1] (the caller's array): exactly nparts shard numbers,
 * each below nshards, separated by commas (blanks around them allowed).  Returns 0, or
 * KP_ERR_INVALID_CONFIG with a message in msg (the caller's buffer of msglen bytes) that names
 * the value and what is allowed; owner[] is then undefined. */
int16_t dp_owners_parse(const char *value, int32_t nparts, int nshards, int16_t *owner, char *msg, size_t msglen);

/* Writes the list of owner[0 .. nparts-1] ("0,1,1,0") into buf (cap bytes, NUL-terminated when
 * cap > 0, truncated when too small).  Returns the length of the whole list, as snprintf does. */
size_t dp_owners_format(const int16_t *owner, int32_t nparts, char *buf, size_t cap);

/* Prints a table of every partition of snapshot s (borrowed): topic, partition, owner shard
 * and that shard's core (cores[shard], the affinity plan's); a line saying there are none when
 * s is empty. */
void dp_owners_print(FILE *f, const struct dp_snap *s, const int *cores);

#endif
