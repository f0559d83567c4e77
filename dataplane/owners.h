/*
 * dataplane/owners.h: the operator's word on partition ownership: the topic config
 * `ringtail.partition.shards`, a comma-separated list that names the owner shard of partition 0,
 * 1, ... of a topic ("0,1,1,0").  CreateTopics accepts it; DescribeConfigs shows every topic's
 * owners in the same form (read-only: a partition's data lives where its owner opened it, so
 * moving it is not a config change).  Kafka has no word for a core, hence a ringtail.* key.
 * `ringtail --show-partitions` prints the same ownership from the data directory, with cores.
 * A client's word on it is a manual replica assignment (CreateTopics, CreatePartitions) that names
 * a shard's node in shard-aware mode: dp_owners_assign turns one into owner shards.
 */
#ifndef DP_OWNERS_H
#define DP_OWNERS_H

#include <stdbool.h>
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

/* The nodes a manual replica assignment (CreateTopics, CreatePartitions) may name: the broker
 * itself (node_id), and in shard-aware mode (shard_nodes) each shard s as node
 * node_id * 1000 + 1 + s, as Metadata advertises it. */
struct dp_owners_nodes {
	int32_t node_id;
	int nshards;
	bool shard_nodes;
};

/* What broker id `id` names: -1 this broker (the registry picks the shard), a shard (0 ..) in
 * shard-aware mode, -2 no node here. */
int dp_owners_node_shard(const struct dp_owners_nodes *nodes, int32_t id);

/* Reads assignment k of a request's list: the partition index it names (CreatePartitions has
 * none: its position) and its replica broker ids (borrowed from the request).  The two APIs'
 * generated structs differ, hence the accessor. */
typedef void (*dp_owners_replicas_fn)(const void *list, int32_t k, int32_t *partition, const int32_t **ids,
                                      int32_t *nids);

/* The owner shards that the n manual replica assignments of `list` (read through `at`) name,
 * checked as Kafka checks them with one replica per partition: partition indexes 0 .. n-1 each
 * named once, a non-empty replica list, every broker id a node here (nodes), one replica.
 * Fills owner[0 .. n-1] (the caller's array; indexed by partition: the shard, or -1 where the
 * registry picks one).  `growing`: the partitions are added to an existing topic
 * (CreatePartitions), whose words Kafka uses for a second replica.  Returns 0, or
 * KP_ERR_INVALID_REPLICA_ASSIGNMENT with Kafka's message (where Kafka has one) in msg (msglen
 * bytes); owner[] is then undefined.  O(total replica ids). */
int16_t dp_owners_assign(const struct dp_owners_nodes *nodes, const void *list, int32_t n, dp_owners_replicas_fn at,
                         bool growing, int16_t *owner, char *msg, size_t msglen);

/* Prints a table of every partition of snapshot s (borrowed): topic, partition, owner shard
 * and that shard's core (cores[shard], the affinity plan's); a line saying there are none when
 * s is empty. */
void dp_owners_print(FILE *f, const struct dp_snap *s, const int *cores);

#endif
