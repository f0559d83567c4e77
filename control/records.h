/*
 * control/records.h: the key and value formats of the records the control process keeps in the
 * compacted topic `__consumer_offsets`, as Apache Kafka writes them, and the partition of that
 * topic a group lives in.
 *
 * Every key and value starts with an int16 version.  Keys:
 *   version 0/1  OffsetCommitKey    string group, string topic, int32 partition
 *   version 2    GroupMetadataKey   string group
 * Values (a null value is a tombstone that deletes the key):
 *   OffsetCommitValue v0-4: int64 offset, [v3+ int32 leader_epoch], string metadata,
 *       int64 commit_timestamp, [v1 only: int64 expire_timestamp]; v4 is flexible.
 *   GroupMetadataValue v0-4: string protocol_type, int32 generation, nullable string protocol,
 *       nullable string leader, [v2+ int64 current_state_timestamp], members[]: string member_id,
 *       [v3+ nullable string group_instance_id], string client_id, string client_host,
 *       [v1+ int32 rebalance_timeout], int32 session_timeout, bytes subscription,
 *       bytes assignment; v4 is flexible (compact lengths, tagged fields).
 * Strings are int16-length prefixed (-1 = null), bytes int32-length prefixed; flexible versions
 * use unsigned varint length + 1 and end each struct with a tagged-field section.
 *
 * The encoders write what Kafka 3.x writes: OffsetCommitValue v3 (v1 when an explicit expire
 * timestamp is kept) and GroupMetadataValue v3.  The decoders read every version above.
 * Decoded strings are slices borrowed from the record.
 */
#ifndef CTL_RECORDS_H
#define CTL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"

/* A borrowed string or byte slice; len -1 means null. */
struct ctl_slice {
	const char *p;
	int32_t len;
};

#define CTL_SLICE_NULL ((struct ctl_slice){ NULL, -1 })
static inline struct ctl_slice ctl_slice_str(const char *s)
{
	return s ? (struct ctl_slice){ s, (int32_t)__builtin_strlen(s) } : CTL_SLICE_NULL;
}

enum ctl_rec_kind {
	CTL_REC_OFFSET = 1,
	CTL_REC_GROUP = 2,
};

struct ctl_rec_key {
	enum ctl_rec_kind kind;
	struct ctl_slice group;
	struct ctl_slice topic;     /* CTL_REC_OFFSET only */
	int32_t partition;          /* CTL_REC_OFFSET only */
};

struct ctl_offset_value {
	int64_t offset;
	int32_t leader_epoch;       /* -1 when unknown */
	struct ctl_slice metadata;
	int64_t commit_ts;
	int64_t expire_ts;          /* -1 when none (then retention counts from commit_ts) */
};

struct ctl_member_rec {
	struct ctl_slice member_id;
	struct ctl_slice instance_id;   /* null for dynamic members */
	struct ctl_slice client_id;
	struct ctl_slice client_host;
	int32_t rebalance_timeout;
	int32_t session_timeout;
	struct ctl_slice subscription;
	struct ctl_slice assignment;
};

struct ctl_group_value {
	struct ctl_slice protocol_type;
	int32_t generation;
	struct ctl_slice protocol;      /* nullable */
	struct ctl_slice leader;        /* nullable */
	int64_t current_state_ts;       /* -1 when unknown */
	struct ctl_member_rec *members; /* borrowed (encode) or from the arena (decode) */
	int32_t n_members;
};

/* Kafka's partition for a group: abs(String.hashCode(group)) % n with Kafka's abs (which maps
 * INT32_MIN to 0).  The hash runs over UTF-16 code units as Java's does; bytes that are not
 * valid UTF-8 count as one unit each.  n > 0. */
int32_t ctl_offsets_partition(const char *group, size_t len, int32_t n);

/* Encoders append to out (check out->err once).  Borrow everything they are given. */
void ctl_rec_offset_key_put(struct rt_buf *out, struct ctl_slice group, struct ctl_slice topic, int32_t partition);
void ctl_rec_offset_value_put(struct rt_buf *out, const struct ctl_offset_value *v);
void ctl_rec_group_key_put(struct rt_buf *out, struct ctl_slice group);
void ctl_rec_group_value_put(struct rt_buf *out, const struct ctl_group_value *v);

/* Decoders.  Return 0, -EBADMSG (truncated or malformed) or -ENOTSUP (unknown version; a
 * reader skips such records as Kafka does for unknown keys).  Slices borrow p; the member array
 * of a group value comes from `arena`. */
int ctl_rec_key_get(const void *p, size_t n, struct ctl_rec_key *k);
int ctl_rec_offset_value_get(const void *p, size_t n, struct ctl_offset_value *v);
int ctl_rec_group_value_get(const void *p, size_t n, struct rt_arena *arena, struct ctl_group_value *v);

#endif
