/*
 * dataplane/dup_names.h: finding the names a request gives more than once (CreateTopics,
 * CreatePartitions, AlterConfigs, IncrementalAlterConfigs, DeleteTopics), which Kafka refuses
 * (at every occurrence, or once per name for DeleteTopics) while it handles the others.  Sorted,
 * not compared pairwise: one frame of socket.request.max.bytes can name millions of topics, and
 * n^2 comparisons of those would stall the shard for minutes.
 */
#ifndef DP_DUP_NAMES_H
#define DP_DUP_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_msgs.h"

/* One name of the request: its kind (AlterConfigs' resource type; 0 where there is one kind),
 * the name as the request holds it (borrowed; a null name counts as empty), and its index in the
 * request. */
struct dp_dup_name {
	int8_t type;
	struct kp_str name;
	int32_t i;
};

/* Marks dup[k->i] for every key k whose (type, name) another key also has; leaves the other
 * entries of dup (the caller's array, indexed by request index, all false before) alone.
 * Reorders keys (n of them).  O(n log n) comparisons. */
void dp_dup_names_mark(struct dp_dup_name *keys, int32_t n, bool *dup);

/* As dp_dup_names_mark, leaves keys sorted by key then request index (each duplicated key's
 * copies follow its first occurrence), and marks first[i] (the caller's array, all false before; NULL: none) for
 * the lowest request index of each key given more than once: for requests that Kafka answers once
 * per duplicated name (DeleteTopics). */
void dp_dup_names_mark_first(struct dp_dup_name *keys, int32_t n, bool *dup, bool *first);

#endif
