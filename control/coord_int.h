/*
 * control/coord_int.h: the coordinator's private structures, shared by coord.c (registry,
 * loading, timers, appends), group.c (the membership state machine), offsets.c (committed
 * offsets) and admin.c (describe, list, delete).  Not part of the module's surface.
 *
 * Invariants:
 *   - a group is in c->groups under its id exactly while it is not Dead;
 *   - n_awaiting_join counts the members with awaiting_join set;
 *   - a member with awaiting_join / awaiting_sync holds an unanswered request token;
 *   - leader is NULL exactly when the group has no members;
 *   - every string is an owned, NUL-terminated copy.
 */
#ifndef CTL_COORD_INT_H
#define CTL_COORD_INT_H

#include "control/coord.h"
#include "control/map.h"

struct ctl_proto {
	char *name;
	uint8_t *meta;
	int32_t meta_len;
};

struct ctl_member {
	struct ctl_member *next, *prev;
	char *id;
	char *instance_id;                    /* NULL for dynamic members */
	char *client_id;
	char *client_host;
	char *protocol_type;
	int32_t rebalance_timeout;
	int32_t session_timeout;
	struct ctl_proto *protocols;
	int32_t n_protocols;
	uint8_t *assignment;
	int32_t assignment_len;
	uint8_t *next_assignment;             /* the leader's assignment while it is being stored */
	int32_t next_assignment_len;
	bool is_new;                          /* joined but not yet through a completed join */
	bool awaiting_join;
	bool awaiting_sync;
	bool pending_sync;                    /* got its JoinGroup answer, SyncGroup not seen yet */
	void *join_req;
	void *sync_req;
	int64_t hb_deadline;
};

struct ctl_pending_member {
	struct ctl_pending_member *next;
	char *id;
	int64_t deadline;
};

/* A committed offset in the cache; the map key is topic bytes, NUL, int32 partition. */
struct ctl_offset {
	char *topic;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	char *metadata;
	int64_t commit_ts;
	int64_t expire_ts;
	int64_t log_offset;                   /* base offset of its batch in the log; -1 unknown */
};

/* A commit not (yet) in the cache: a transactional one waiting for its transaction's marker
 * (pid >= 0), or an OffsetCommit whose append is in flight (pid -1).  Owned by the group. */
struct ctl_pending_offset {
	struct ctl_pending_offset *next;
	int64_t pid;
	const struct ctl_append *append;      /* the append in flight; NULL once durable */
	char *topic;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	char *metadata;
	int64_t commit_ts;
	int64_t expire_ts;
	int64_t log_offset;
};

/* A marker reported while loading, applied when loading ends. */
struct ctl_txn_done {
	struct ctl_txn_done *next;
	int32_t partition;
	int64_t pid;
	bool commit;
};

struct ctl_group {
	char *id;
	enum ctl_group_state state;
	int64_t state_ts;
	int32_t generation;
	char *protocol_type;                  /* NULL for groups that only store offsets */
	char *protocol;
	char *leader;
	struct ctl_member *head, *tail;
	int32_t n_members;
	int32_t n_awaiting_join;
	struct ctl_pending_member *pending;
	int32_t n_pending;
	int64_t join_deadline;                /* 0: no rebalance timer */
	bool initial_delay;                   /* the timer is group.initial.rebalance.delay.ms */
	int32_t initial_remaining;
	bool new_member_added;
	int64_t sync_deadline;                /* 0: no pending-sync timer */
	char **subscribed;                    /* consumer protocol topics; NULL when unknown */
	int32_t n_subscribed;
	struct ctl_map offsets;
	struct ctl_pending_offset *pend;      /* see struct ctl_pending_offset */
};

struct ctl_coord {
	struct ctl_config cfg;
	struct ctl_coord_ops ops;
	int64_t now;
	bool loading;
	int64_t next_retention_check;
	struct ctl_map groups;
	int64_t load_offset, load_pid;        /* the batch being loaded (ctl_coord_load_batch) */
	struct ctl_txn_done *done_q, *done_tail; /* markers reported while loading */
};

enum { CTL_APPEND_GROUP = 1, CTL_APPEND_STATIC_JOIN, CTL_APPEND_COMMIT, CTL_APPEND_PLAIN, CTL_APPEND_TXN_COMMIT };

/* coord.c */
struct ctl_group *ctl_grp_get(const struct ctl_coord *c, struct ctl_slice id);
struct ctl_group *ctl_grp_create(struct ctl_coord *c, struct ctl_slice id);
void ctl_grp_remove(struct ctl_coord *c, struct ctl_group *g);   /* unregisters and frees */
void ctl_grp_set_state(struct ctl_coord *c, struct ctl_group *g, enum ctl_group_state s);
struct ctl_append *ctl_append_new(struct ctl_coord *c, struct ctl_group *g, int kind);
void ctl_append_kv(struct ctl_append *a, int32_t klen_hint);
void ctl_append_submit(struct ctl_coord *c, struct ctl_append *a);
/* Records: the group's metadata (with each member's assignment), one offset, tombstones. */
void ctl_append_group_record(struct ctl_coord *c, struct ctl_append *a, struct ctl_group *g, bool use_next_assignment);
void ctl_append_offset_record(struct ctl_append *a, const char *group, struct ctl_slice topic,
                              int32_t partition, const struct ctl_offset_value *v);
void ctl_append_offset_tombstone(struct ctl_append *a, const char *group, const char *topic, int32_t partition);
void ctl_append_group_tombstone(struct ctl_append *a, const char *group);
char *ctl_strdup_slice(struct ctl_slice s);
bool ctl_slice_eq(struct ctl_slice s, const char *z);
int16_t ctl_append_error(int16_t produce_error);

/* group.c */
struct ctl_member *ctl_member_find(const struct ctl_group *g, const char *id, size_t len);
void ctl_member_free(struct ctl_member *m);
void ctl_group_free_members(struct ctl_group *g);
void ctl_group_timers(struct ctl_coord *c, struct ctl_group *g);
int64_t ctl_group_deadline(const struct ctl_group *g);
void ctl_group_on_store(struct ctl_coord *c, struct ctl_append *a, int16_t err);
void ctl_group_parse_subscriptions(struct ctl_group *g);
/* A loaded group above group.max.size rebalances, and the join turns the excess away. */
void ctl_group_check_capacity(struct ctl_coord *c, struct ctl_group *g);

/* offsets.c */
void ctl_offset_free(struct ctl_offset *o);
void ctl_offsets_clear(struct ctl_group *g);
int ctl_offsets_put(struct ctl_group *g, struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v,
                    int64_t log_offset);
int16_t ctl_offsets_validate(const struct ctl_group *g, const struct ctl_commit_req *rq, bool transactional);
/* The value a commit part stores (retention from the request). */
void ctl_offsets_commit_values(const struct ctl_commit_req *rq, const struct ctl_commit_part *p,
                               struct ctl_offset_value *v);
/* The end of OffsetCommit and TxnOffsetCommit once the request is valid: takes a, fills it
 * with the partitions that pass the per-partition checks (the others get their error in rq),
 * pending for producer pid (-1: not transactional) until written, and submits it; with
 * nothing to write, answers rq (borrowed, as req) at once and buries g if it is left unused. */
void ctl_offsets_write(struct ctl_coord *c, struct ctl_group *g, struct ctl_append *a, struct ctl_commit_req *rq,
                       void *req, int64_t pid);
/* True when the group holds committed or pending offsets (then it is not buried). */
bool ctl_group_has_offsets(const struct ctl_group *g);

/* txn_offsets.c */
struct ctl_pending_offset *ctl_pending_add(struct ctl_group *g, int64_t pid, const struct ctl_append *a,
                                           struct ctl_slice topic, int32_t partition, const struct ctl_offset_value *v,
                                           int64_t log_offset);
/* The append a is done: plain commits leave the pending list; transactional ones stay (durable
 * at log_offset) or, when the append failed, leave it. */
void ctl_pending_settle(struct ctl_group *g, const struct ctl_append *a, bool ok, int64_t log_offset);
/* Drops the pending offsets of a partition (a tombstone or OffsetDelete) and frees all. */
void ctl_pending_drop(struct ctl_group *g, struct ctl_slice topic, int32_t partition);
void ctl_pending_free_all(struct ctl_group *g);
void ctl_txn_offsets_on_commit(struct ctl_coord *c, struct ctl_append *a, int16_t err);
void ctl_txn_offsets_load_done(struct ctl_coord *c);
void ctl_offsets_drop(struct ctl_group *g, struct ctl_slice topic, int32_t partition);
/* The committed offset of a partition (borrowed) or NULL. */
const struct ctl_offset *ctl_offsets_find(const struct ctl_group *g, struct ctl_slice topic, int32_t partition);
void ctl_offsets_on_commit(struct ctl_coord *c, struct ctl_append *a, int16_t err);
void ctl_offsets_expire(struct ctl_coord *c);

#endif
