/*
 * control/coord.h: the group coordinator of the control process: Kafka's classic group
 * protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets (OffsetCommit,
 * OffsetFetch, OffsetDelete), and group administration (DescribeGroups, ListGroups,
 * DeleteGroups), as Apache Kafka's GroupCoordinator behaves.
 *
 * The coordinator is pure logic: it does no I/O and reads no clock.  Its owner
 *   - sets the time (ctl_coord_tick, which also fires every timer that is due),
 *   - answers JoinGroup, SyncGroup and OffsetCommit through the callbacks of struct
 *     ctl_coord_ops, because those answers can wait for other members or for the log,
 *   - writes the records the coordinator hands it (struct ctl_append) to `__consumer_offsets`
 *     with acks=-1 and reports back with ctl_coord_append_done, and
 *   - feeds it the records of `__consumer_offsets` at start (ctl_coord_load_record) before
 *     ctl_coord_load_done; until then every request gets COORDINATOR_LOAD_IN_PROGRESS.
 * Committed offsets enter the cache (and OffsetFetch answers) only after their append is
 * durable, and an OffsetCommit is answered only then.
 *
 * A `req` pointer passed in is the caller's token for one pending request; the coordinator
 * hands it back exactly once through the matching callback (possibly before the call
 * returns) and never dereferences it.
 */
#ifndef CTL_COORD_H
#define CTL_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "control/records.h"

/* Kafka error codes the coordinator answers with (Kafka's own numbers). */
enum {
	CTL_ERR_NONE = 0,
	CTL_ERR_UNKNOWN_SERVER_ERROR = -1,
	CTL_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	CTL_ERR_REQUEST_TIMED_OUT = 7,
	CTL_ERR_OFFSET_METADATA_TOO_LARGE = 12,
	CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	CTL_ERR_COORDINATOR_NOT_AVAILABLE = 15,
	CTL_ERR_NOT_COORDINATOR = 16,
	CTL_ERR_ILLEGAL_GENERATION = 22,
	CTL_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	CTL_ERR_INVALID_GROUP_ID = 24,
	CTL_ERR_UNKNOWN_MEMBER_ID = 25,
	CTL_ERR_INVALID_SESSION_TIMEOUT = 26,
	CTL_ERR_REBALANCE_IN_PROGRESS = 27,
	CTL_ERR_INVALID_REQUEST = 42,
	CTL_ERR_NON_EMPTY_GROUP = 68,
	CTL_ERR_GROUP_ID_NOT_FOUND = 69,
	CTL_ERR_MEMBER_ID_REQUIRED = 79,
	CTL_ERR_GROUP_MAX_SIZE_REACHED = 81,
	CTL_ERR_FENCED_INSTANCE_ID = 82,
	CTL_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	CTL_ERR_UNSTABLE_OFFSET_COMMIT = 88,
};

enum ctl_group_state {
	CTL_GROUP_EMPTY,
	CTL_GROUP_PREPARING_REBALANCE,
	CTL_GROUP_COMPLETING_REBALANCE,
	CTL_GROUP_STABLE,
	CTL_GROUP_DEAD,
};

/* Kafka's names ("Empty", "PreparingRebalance", ...) as DescribeGroups and ListGroups show them. */
const char *ctl_group_state_name(enum ctl_group_state s);

/* The broker settings the coordinator honours, with Kafka's defaults from ctl_config_default. */
struct ctl_config {
	int32_t min_session_timeout_ms;       /* group.min.session.timeout.ms (6000) */
	int32_t max_session_timeout_ms;       /* group.max.session.timeout.ms (1800000) */
	int32_t initial_rebalance_delay_ms;   /* group.initial.rebalance.delay.ms (3000) */
	int32_t max_size;                     /* group.max.size (INT32_MAX) */
	int32_t new_member_join_timeout_ms;   /* Kafka's fixed 5 minutes for members without an id */
	int32_t offset_metadata_max_bytes;    /* offset.metadata.max.bytes (4096) */
	int64_t offsets_retention_ms;         /* offsets.retention.minutes (10080) in ms */
	int64_t offsets_retention_check_ms;   /* offsets.retention.check.interval.ms (600000) */
	int32_t offsets_partitions;           /* offsets.topic.num.partitions (50) */
};

void ctl_config_default(struct ctl_config *cfg);

/* One protocol a member supports, as named in its JoinGroup. */
struct ctl_join_protocol {
	struct ctl_slice name;
	struct ctl_slice metadata;
};

struct ctl_join_req {
	struct ctl_slice group_id;
	struct ctl_slice member_id;           /* "" for a new member */
	struct ctl_slice instance_id;         /* null unless static (v5+) */
	struct ctl_slice client_id;
	struct ctl_slice client_host;
	struct ctl_slice protocol_type;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;         /* v0: the session timeout */
	const struct ctl_join_protocol *protocols;
	int32_t n_protocols;
	bool require_known_member_id;         /* v4+ */
	bool supports_skip_assignment;        /* v9+ */
};

struct ctl_join_member {
	const char *member_id;
	const char *instance_id;              /* NULL for dynamic members */
	struct ctl_slice metadata;
};

/* A JoinGroup answer; everything borrowed for the duration of the callback. */
struct ctl_join_result {
	int16_t error;
	int32_t generation;                   /* -1 with most errors */
	const char *protocol_type;            /* NULL when none */
	const char *protocol_name;            /* NULL when none */
	const char *leader;                   /* "" when none */
	const char *member_id;                /* "" when none */
	bool skip_assignment;
	const struct ctl_join_member *members;/* the leader's view; NULL/0 for followers */
	int32_t n_members;
};

struct ctl_sync_assignment {
	struct ctl_slice member_id;
	struct ctl_slice assignment;
};

struct ctl_sync_req {
	struct ctl_slice group_id;
	struct ctl_slice member_id;
	struct ctl_slice instance_id;
	struct ctl_slice protocol_type;       /* null before v5 */
	struct ctl_slice protocol_name;       /* null before v5 */
	int32_t generation;
	const struct ctl_sync_assignment *assignments;
	int32_t n_assignments;
};

struct ctl_sync_result {
	int16_t error;
	const char *protocol_type;
	const char *protocol_name;
	struct ctl_slice assignment;
};

/* One member named in a LeaveGroup; error is written by ctl_group_leave. */
struct ctl_leave_member {
	struct ctl_slice member_id;
	struct ctl_slice instance_id;
	int16_t error;
};

/* One partition of an OffsetCommit; error is written by the coordinator. */
struct ctl_commit_part {
	struct ctl_slice topic;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;                 /* -1 when not given */
	struct ctl_slice metadata;            /* null is stored as "" */
	int64_t commit_ts;                    /* v1 only; -1 = now */
	int16_t error;
};

struct ctl_commit_req {
	struct ctl_slice group_id;
	struct ctl_slice member_id;
	struct ctl_slice instance_id;
	int32_t generation;                   /* -1 for a simple (non-group) commit */
	int64_t retention_ms;                 /* v2-v4; -1 = broker default */
	struct ctl_commit_part *parts;        /* borrowed until commit_done */
	int32_t n_parts;
	/* TxnOffsetCommit: the transactional producer; producer_id -1 for OffsetCommit */
	int64_t producer_id;
	int16_t producer_epoch;
	struct ctl_slice transactional_id;    /* TxnOffsetCommit's; borrowed until commit_done */
};

/* A batch of records for one partition of `__consumer_offsets`. */
struct ctl_kv {
	uint32_t koff, klen;
	uint32_t voff;
	int32_t vlen;                         /* -1: tombstone */
};

struct ctl_append {
	int32_t partition;
	struct rt_buf data;                   /* keys and values; owned */
	struct ctl_kv *kv;                    /* owned */
	int32_t n, cap;
	/* A transactional batch (TxnOffsetCommit) of producer_id / producer_epoch; the owner
	 * numbers its sequences.  false: a plain batch (producer_id is ignored). */
	bool transactional;
	int64_t producer_id;
	int16_t producer_epoch;
	char *transactional_id;               /* the producer's (owned; the Produce carries it) */
	int64_t log_offset;                   /* set by the owner: the batch's base offset, or -1 */
	int32_t seq_end;                      /* the owner's: sequence after the batch (-1: none), */
	int32_t seq_prev_next;                /* and the producer's sequence and epoch before it */
	int16_t seq_prev_epoch;
	/* the coordinator's completion state (private) */
	int kind;
	char *group_id;
	int32_t generation;
	void *req;
	struct ctl_commit_req *commit;
	char *member_id;
	char *old_leader;
	bool skip_assignment;
	struct ctl_append *next;              /* free for the owner's queue */
};

struct ctl_coord;

struct ctl_coord_ops {
	void *ctx;
	/* Answer a JoinGroup / SyncGroup / OffsetCommit (errors in req->parts[i].error). */
	void (*join_done)(void *ctx, void *req, const struct ctl_join_result *r);
	void (*sync_done)(void *ctx, void *req, const struct ctl_sync_result *r);
	void (*commit_done)(void *ctx, void *req, struct ctl_commit_req *c);
	/* Write a->n records to partition a->partition with acks=-1, then call
	 * ctl_coord_append_done(c, a, error) once (never from inside this call).  Takes a
	 * until then. */
	void (*append)(void *ctx, struct ctl_append *a);
	/* Random bytes for member ids; tests may make it deterministic. */
	void (*random)(void *ctx, uint8_t *p, size_t n);
};

/* Returns an owned coordinator (loading until ctl_coord_load_done), or NULL. */
struct ctl_coord *ctl_coord_create(const struct ctl_config *cfg, const struct ctl_coord_ops *ops, int64_t now_ms);
/* Frees everything; pending requests are dropped without an answer. */
void ctl_coord_destroy(struct ctl_coord *c);

/* Sets the clock and fires the timers that are due: rebalance and initial delays, session
 * expiry, pending-sync expiry, offset retention. */
void ctl_coord_tick(struct ctl_coord *c, int64_t now_ms);
/* Time of the next timer (INT64_MAX when none), so a caller can sleep until then. */
int64_t ctl_coord_next_deadline(const struct ctl_coord *c);

/* Loading: one record of `__consumer_offsets` (value NULL/-1 for a tombstone).  Records with
 * unknown versions are skipped; 0 or -EBADMSG for a malformed record (skipped as well). */
int ctl_coord_load_record(struct ctl_coord *c, const void *key, size_t klen, const void *val, int32_t vlen);
void ctl_coord_load_done(struct ctl_coord *c);
bool ctl_coord_loading(const struct ctl_coord *c);
/* The partition count of `__consumer_offsets` as it exists (it wins over the setting). */
void ctl_coord_set_partitions(struct ctl_coord *c, int32_t n);
/* The partition of `__consumer_offsets` that holds a group (Java String.hashCode placement). */
int32_t ctl_coord_offsets_partition(const struct ctl_coord *c, struct ctl_slice group_id);

/* Loading, for transactional offset commits (Kafka's loader): the batch the next records
 * belong to (its base offset; producer_id -1 unless the batch is transactional), and a
 * transaction marker (control batch) of producer_id on `partition`, which makes that producer's
 * pending offsets on the partition committed or drops them. */
void ctl_coord_load_batch(struct ctl_coord *c, int64_t base_offset, int64_t producer_id);
void ctl_coord_load_marker(struct ctl_coord *c, int32_t partition, int64_t producer_id, bool commit);

/* The owner reports an append as durable (error 0) or failed (a Kafka error from Produce);
 * frees a. */
void ctl_coord_append_done(struct ctl_coord *c, struct ctl_append *a, int16_t error);

/* The group protocol.  join and sync always answer through ops (possibly at once). */
void ctl_group_join(struct ctl_coord *c, const struct ctl_join_req *rq, void *req);
void ctl_group_sync(struct ctl_coord *c, const struct ctl_sync_req *rq, void *req);
int16_t ctl_group_heartbeat(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice member_id,
                            struct ctl_slice instance_id, int32_t generation);
/* Returns the top-level error; each member's error is written into members[i].error. */
int16_t ctl_group_leave(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_leave_member *members, int32_t n);

/* Offsets.  commit answers through ops->commit_done once the records are durable (or at once
 * when nothing needs writing).  A part whose error is set on entry (the front end's
 * UNKNOWN_TOPIC_OR_PARTITION) is neither checked nor written and keeps its error; the others
 * must enter with error 0. */
void ctl_offsets_commit(struct ctl_coord *c, struct ctl_commit_req *rq, void *req);

/* TxnOffsetCommit (after the caller verified that producer_id / producer_epoch have an ongoing
 * transaction holding the group's partition of `__consumer_offsets`): Kafka's checks, then the
 * offsets are written as a transactional batch of the producer and held pending: OffsetFetch
 * does not show them (require_stable: UNSTABLE_OFFSET_COMMIT) until ctl_coord_txn_complete
 * reports the COMMIT marker; ABORT drops them.  Answers through ops->commit_done once durable. */
void ctl_offsets_txn_commit(struct ctl_coord *c, struct ctl_commit_req *rq, void *req);

/* The transaction marker of producer_id is durable on `partition` of `__consumer_offsets`: its
 * pending offsets there become committed (each unless a newer commit of that partition was
 * appended after it, as Kafka compares append offsets) or are dropped.  While loading, the
 * report is kept and applied when loading ends. */
void ctl_coord_txn_complete(struct ctl_coord *c, int32_t partition, int64_t producer_id, bool commit);

/* True while a TxnOffsetCommit of producer_id is being written: its markers must wait, so that
 * in the log every offset record of a transaction precedes the transaction's marker. */
bool ctl_coord_txn_writing(const struct ctl_coord *c, int64_t producer_id);

/* KIP-447: true when a commit of the partition is pending (a transaction not yet completed, or
 * an OffsetCommit not yet durable): OffsetFetch with require_stable answers
 * UNSTABLE_OFFSET_COMMIT for it. */
bool ctl_offsets_unstable(const struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice topic,
                          int32_t partition);

/* Group-level check before an OffsetFetch: NONE, COORDINATOR_LOAD_IN_PROGRESS, INVALID_GROUP_ID. */
int16_t ctl_offsets_fetch_check(const struct ctl_coord *c, struct ctl_slice group_id);
/* One committed offset: returns true and fills *out (metadata borrowed until the next change)
 * or false when nothing is committed (Kafka answers offset -1, metadata ""). */
bool ctl_offsets_get(const struct ctl_coord *c, struct ctl_slice group_id, struct ctl_slice topic,
                     int32_t partition, struct ctl_offset_value *out);
/* Every committed offset of a group (OffsetFetch with null topics): calls fn for each. */
void ctl_offsets_each(const struct ctl_coord *c, struct ctl_slice group_id,
                      void (*fn)(void *arg, struct ctl_slice topic, int32_t partition,
                                 const struct ctl_offset_value *v), void *arg);

/* OffsetDelete: the group-level error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...); per
 * partition errors in parts[i].error (only topic/partition of parts are read). */
int16_t ctl_offsets_delete(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_commit_part *parts, int32_t n);

/* DescribeGroups, one group.  Fills *d; its members borrow the group until the next call
 * into the coordinator. */
struct ctl_described_member {
	const char *member_id;
	const char *instance_id;
	const char *client_id;
	const char *client_host;
	struct ctl_slice metadata;            /* empty unless Stable */
	struct ctl_slice assignment;          /* empty unless Stable */
};
struct ctl_described_group {
	int16_t error;
	const char *state;
	const char *protocol_type;            /* "" when none */
	const char *protocol;                 /* "" unless Stable */
	struct ctl_described_member *members; /* owned by the caller's arena (see below) */
	int32_t n_members;
};
/* members are allocated with alloc(arg, bytes), typically an arena; returns 0 or -ENOMEM. */
int ctl_group_describe(struct ctl_coord *c, struct ctl_slice group_id, struct ctl_described_group *d,
                       void *(*alloc)(void *arg, size_t n), void *alloc_arg);

/* ListGroups: calls fn for each group whose state is in the filter (n_states 0: every group;
 * names compared without case as Kafka does).  Returns NONE or COORDINATOR_LOAD_IN_PROGRESS. */
int16_t ctl_group_list(struct ctl_coord *c, const struct ctl_slice *states, int32_t n_states,
                       void (*fn)(void *arg, const char *group_id, const char *protocol_type, const char *state),
                       void *arg);

/* DeleteGroups, one group: NONE (group and offsets tombstoned), GROUP_ID_NOT_FOUND,
 * NON_EMPTY_GROUP, INVALID_GROUP_ID, COORDINATOR_LOAD_IN_PROGRESS. */
int16_t ctl_group_delete(struct ctl_coord *c, struct ctl_slice group_id);

#endif
