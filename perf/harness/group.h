/*
 * perf/harness/group.h: the consumer-group pieces of ringtail-perf that do no I/O: Kafka's
 * "consumer" embedded protocol (ConsumerProtocolSubscription in JoinGroup, ConsumerProtocolAssignment
 * in SyncGroup) and the range assignor.
 *
 * The harness consumes one topic, so the encoders write one topic; the decoders read every
 * version (0-3) a Java, librdkafka or Python client sends and look for that topic, ignoring the
 * fields after the ones they need (later versions only append fields).
 * The range assignor is Kafka's RangeAssignor for one topic: members sorted by member id, each
 * gets partitions/members consecutive partitions and the first partitions%members one more.
 */
#ifndef PERF_GROUP_H
#define PERF_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The assignor name sent in JoinGroup and its subscription version. */
#define PERF_GROUP_ASSIGNOR "range"
#define PERF_GROUP_SUBSCRIPTION_VERSION 0
#define PERF_GROUP_ASSIGNMENT_VERSION 0

/* Appends a ConsumerProtocolSubscription (version 0: Topics = [topic], UserData = null) to out.
 * Borrows topic.  Errors are left sticky in out->err. */
void perf_group_subscription_encode(struct rt_buf *out, const char *topic);

/* Reads a ConsumerProtocolSubscription of version 0-3 and sets *has when topic is among its
 * Topics.  0, or -EBADMSG when the bytes are not one (short, negative counts or lengths, an
 * unknown version).  Borrows data and topic. */
int perf_group_subscription_has(const uint8_t *data, size_t len, const char *topic, bool *has);

/* Appends a ConsumerProtocolAssignment (version 0: one topic with parts[0..n), or no topic when
 * n is 0; UserData = null) to out.  Borrows topic and parts. */
void perf_group_assignment_encode(struct rt_buf *out, const char *topic, const int32_t *parts, int n);

/* Reads a ConsumerProtocolAssignment of version 0-3 and copies the partitions it gives of topic
 * into parts (room for max); *n gets their count.  An empty frame (len 0) is an empty assignment,
 * as Kafka's coordinator sends to a member the leader gave nothing.  0, -EBADMSG (malformed or
 * a partition below 0) or -E2BIG (more than max partitions of topic).  Borrows data and topic. */
int perf_group_assignment_decode(const uint8_t *data, size_t len, const char *topic,
                                 int32_t *parts, int max, int *n);

/* Sorts member ids in place into the order the range assignor hands out partitions in (byte-wise,
 * as Java's String.compareTo on ASCII ids).  Borrows the strings. */
void perf_group_sort_members(const char **ids, int n);

/* The range assignor's share of member index i (0-based in sorted order) of members, over
 * partitions partitions: [*first, *first + *count).  members > 0, 0 <= i < members. */
void perf_group_range(int32_t partitions, int members, int i, int32_t *first, int32_t *count);

#endif
