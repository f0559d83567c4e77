/*
 * dataplane/fetch_session.h: incremental fetch sessions (KIP-227), kept as Kafka's broker keeps
 * them (FetchSession.scala: FetchManager, FetchSessionCacheShard, CachedPartition).
 *
 * A fetch names a session by (id, epoch):
 *   (0, -1)  sessionless full fetch: no session is created (librdkafka, KafkaJS, Fetch < v7);
 *   (0,  0)  full fetch that asks for a new session;
 *   (X, -1)  closes session X, then a sessionless full fetch;
 *   (X,  0)  closes session X, then a full fetch that asks for a new session;
 *   (X,  N)  incremental fetch in session X: the request carries only partitions that are new
 *            or whose fetch parameters changed plus the forgotten ones; every other partition of
 *            the session is fetched from its cached parameters, and the response leaves out the
 *            partitions with no records, no error and no change of high watermark or log start
 *            offset.  N must be the session's current epoch (else INVALID_FETCH_SESSION_EPOCH);
 *            an unknown X gets FETCH_SESSION_ID_NOT_FOUND, and a session made with topic ids
 *            (v13+) used by a version without them, or the reverse, FETCH_SESSION_TOPIC_ID_ERROR.
 *
 * Ownership: one cache per shard, touched only on that shard (the shard serving the client's
 * connection), as Kafka shards its cache (KAFKA-9401): `max.incremental.fetch.session.cache.slots`
 * is divided between the shards, and a session id tells its shard (ids of shard k lie in
 * [max(1, k*R), (k+1)*R) with R = INT32_MAX / shards), so that a full fetch closing a session
 * made on another shard (the client reconnected and landed elsewhere) can close it there.  An
 * incremental fetch naming another shard's session gets FETCH_SESSION_ID_NOT_FOUND and the client
 * starts over with a full fetch, which Kafka's clients do after any session error.
 *
 * Eviction (Kafka's tryEvict) when a shard's cache is full and a full fetch asks for a session:
 * first the least recently used session if unused for more than eviction_ms (120 s, Kafka's
 * fixed value); otherwise the first of the evictable sessions ordered by (privileged, size, id)
 * if the new session ranks above it.  A session is evictable by anyone once it is older than
 * eviction_ms and by a privileged (follower) fetch unless it is privileged itself, as of the
 * last time it was used.  The scan is O(sessions of the shard) and runs only when the cache is
 * full.
 *
 * Lifetimes: a session is reference-counted: the cache holds one reference while it is cached,
 * and an incremental fetch in flight holds one (struct dp_fs_ctx), so a session evicted or closed
 * while a long poll waits is still there to answer from, as in Kafka.  Cached partitions belong
 * to their session.  Nothing here is thread-safe; everything runs on the owning shard.
 */
#ifndef DP_FETCH_SESSION_H
#define DP_FETCH_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#define DP_FS_EVICTION_MS 120000       /* Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS */
#define DP_FS_FINAL_EPOCH (-1)
#define DP_FS_INITIAL_EPOCH 0

/* One partition of a session with the request parameters it was last fetched with and the
 * response data last sent for it. */
struct dp_fs_part {
	struct dp_fs_part *prev, *next;    /* session order: the order partitions are read in */
	struct dp_fs_part *hnext;          /* the session's hash chain */
	uint32_t hash;
	int32_t partition;
	int32_t max_bytes;
	int32_t leader_epoch;
	int32_t last_fetched_epoch;
	int64_t fetch_offset;
	int64_t fetcher_log_start;
	int64_t hwm;                       /* last sent; -1 = must be sent next time */
	int64_t log_start;                 /* last sent */
	uint8_t topic_id[16];              /* the key of sessions with topic ids (v13+) */
	int32_t topic_len;
	char topic[];                      /* the key otherwise; NUL-terminated */
};

struct dp_fsess {
	int32_t id;
	int32_t epoch;                     /* the epoch the next incremental fetch must carry */
	bool privileged;                   /* made by a follower (replica id >= 0) */
	bool uses_topic_ids;               /* made by Fetch v13+ */
	bool in_cache;
	bool evict_all, evict_priv;        /* evictable by anyone / by a privileged fetch (last touch) */
	int refs;
	int32_t size;
	int32_t cached_size;               /* size at the last touch */
	int64_t creation_ms, last_used_ms;
	struct dp_fs_part *head, *tail;
	struct dp_fs_part **buckets;       /* owned */
	uint32_t nbuckets;
	struct dp_fsess *hnext;            /* the cache's id hash chain */
};

struct dp_fs_cache;

/* A partition as a request names it (v0-12 by topic name, v13+ by topic id); all borrowed. */
struct dp_fs_preq {
	const char *topic;
	int32_t topic_len;
	const uint8_t *topic_id;           /* 16 bytes; NULL for v0-12 */
	int32_t partition;
	int32_t max_bytes;
	int32_t leader_epoch;
	int32_t last_fetched_epoch;
	int64_t fetch_offset;
	int64_t log_start_offset;
};

/* What the response says about a partition, for the session's decisions. */
struct dp_fs_presp {
	int16_t error;
	int64_t hwm;
	int64_t log_start;
	int64_t records_len;
};

enum dp_fs_kind {
	DP_FS_SESSIONLESS,                 /* answer the request's partitions; session id 0 */
	DP_FS_FULL,                        /* answer the request's partitions; try to make a session */
	DP_FS_INCREMENTAL,                 /* answer the session's partitions that changed */
	DP_FS_ERROR,                       /* answer `error` alone, session id 0 */
};

/* The outcome of a request's session metadata (Kafka's FetchContext). */
struct dp_fs_ctx {
	enum dp_fs_kind kind;
	int16_t error;                     /* DP_FS_ERROR */
	struct dp_fsess *s;                /* DP_FS_INCREMENTAL: referenced until dp_fs_ctx_fini */
	int32_t expect_epoch;              /* DP_FS_INCREMENTAL: the session's epoch at answer time */
	int close_shard;                   /* >= 0: close session close_id on that other shard */
	int32_t close_id;
};

/* Constructor for shard `shard` of `nshards`: its share of `slots` sessions (slots / nshards),
 * stale after eviction_ms, ids drawn from a generator seeded with seed.  NULL when out of
 * memory or the arguments make no sense. */
struct dp_fs_cache *dp_fs_cache_create(int shard, int nshards, int32_t slots, int64_t eviction_ms,
                                       uint64_t seed);
/* Frees every cached session; sessions still referenced by a context are freed by its fini. */
void dp_fs_cache_destroy(struct dp_fs_cache *c);

/* The shard whose cache would hold session id (any cache of the same broker gives the same
 * answer), or -1 when no shard hands out that id. */
int dp_fs_id_shard(const struct dp_fs_cache *c, int32_t id);

/* Removes session id from this cache (a full fetch closing it).  True when it was there. */
bool dp_fs_close(struct dp_fs_cache *c, int32_t id);

/*
 * Kafka's FetchManager.newContext for a request of `version` carrying (session_id, epoch),
 * its partitions and its forgotten partitions (both borrowed for the call only).  An
 * incremental request updates the session here: new partitions are added at the end,
 * known ones take the request's parameters, forgotten ones are removed, the epoch moves on;
 * a session left empty is closed and the request answered sessionless.  Sessions of this shard
 * named by a full request are closed here; another shard's are left to the caller (close_shard).
 * Out of memory while updating, the session is closed and the answer is
 * FETCH_SESSION_ID_NOT_FOUND (the client starts over with a full fetch).
 */
void dp_fs_context(struct dp_fs_cache *c, int16_t version, int32_t session_id, int32_t epoch,
                   const struct dp_fs_preq *parts, int32_t n, const struct dp_fs_preq *forget,
                   int32_t nforget, int64_t now_ms, struct dp_fs_ctx *out);

/*
 * A full fetch's response is ready: makes a session of its n partitions (request parameters
 * and response data; a partition named twice is cached once) if the cache has room or can
 * evict.  Returns the new session's id, or 0 (no room, or out of memory: the response then
 * carries no session, which Kafka's protocol allows).
 */
int32_t dp_fs_create(struct dp_fs_cache *c, int64_t now_ms, bool privileged, bool uses_topic_ids,
                     const struct dp_fs_preq *parts, const struct dp_fs_presp *resp, int32_t n);

/* An incremental fetch is about to answer: false when another request has used the session
 * since (the answer is then INVALID_FETCH_SESSION_EPOCH with the session's id, as Kafka's). */
bool dp_fs_ctx_current(const struct dp_fs_ctx *x);

/* Kafka's CachedPartition.maybeUpdateResponseData with update: true when partition p of the
 * session goes into the response (records, an error, a new high watermark or log start
 * offset); records move p to the end of the session's order so that the partitions after it
 * get their turn under the response byte limit. */
bool dp_fs_must_respond(struct dp_fsess *s, struct dp_fs_part *p, const struct dp_fs_presp *r);

/* Drops the context's session reference (every kind; idempotent). */
void dp_fs_ctx_fini(struct dp_fs_ctx *x);

/* Sessions cached, partitions in them (as of each session's last use), evictions so far. */
int32_t dp_fs_count(const struct dp_fs_cache *c);
int64_t dp_fs_partitions(const struct dp_fs_cache *c);
int64_t dp_fs_evictions(const struct dp_fs_cache *c);
/* A cached session by id (borrowed), or NULL. */
struct dp_fsess *dp_fs_get(const struct dp_fs_cache *c, int32_t id);
/* Kafka's FetchMetadata.nextEpoch. */
int32_t dp_fs_next_epoch(int32_t epoch);

#endif
