/*
 * dataplane/fetch_session.c: the per-shard fetch session cache and the session decisions of
 * KIP-227 (see fetch_session.h for the rules and the ownership).
 *
 * Invariants: a session is in its cache's id table exactly while in_cache, and then holds one
 * of its refs for the cache; c->n counts cached sessions and c->npartitions the sum of their
 * cached_size; a session's partition list and hash table hold the same partitions, each once
 * per key (topic id + partition for sessions with topic ids, topic name + partition otherwise).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_session.h"
#include "kp_errors.h"

struct dp_fs_cache {
	int shard, nshards;
	int32_t max_entries;
	int64_t eviction_ms;
	int32_t id_lo, id_hi;              /* this shard's ids: [id_lo, id_hi) */
	int32_t id_range;
	uint64_t rng;
	int32_t n;
	int64_t npartitions;
	int64_t evictions;
	struct dp_fsess **buckets;         /* by id; owned */
	uint32_t nbuckets;
};

int32_t dp_fs_next_epoch(int32_t epoch)
{
	if (epoch < 0)
		return DP_FS_FINAL_EPOCH;
	if (epoch == INT32_MAX)
		return 1;
	return epoch + 1;
}

/* --- partitions of a session ------------------------------------------------------------- */

static uint32_t key_hash(bool ids, const char *topic, int32_t len, const uint8_t *id, int32_t p)
{
	uint32_t h = 2166136261u;
	const uint8_t *b = ids ? id : (const uint8_t *)topic;
	int32_t n = ids ? 16 : len;
	for (int32_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	h = (h ^ (uint32_t)p) * 16777619u;
	return h ^ (h >> 15);
}

static const uint8_t zero_id[16];

/* A null topic name keys as the empty one. */
static int32_t qlen(const struct dp_fs_preq *q) { return q->topic_len > 0 ? q->topic_len : 0; }

static bool key_eq(const struct dp_fsess *s, const struct dp_fs_part *x, const struct dp_fs_preq *q)
{
	if (x->partition != q->partition)
		return false;
	if (s->uses_topic_ids)
		return memcmp(x->topic_id, q->topic_id ? q->topic_id : zero_id, 16) == 0;
	return x->topic_len == qlen(q) && memcmp(x->topic, q->topic, (size_t)qlen(q)) == 0;
}

static uint32_t req_hash(const struct dp_fsess *s, const struct dp_fs_preq *q)
{
	return key_hash(s->uses_topic_ids, q->topic, qlen(q), q->topic_id ? q->topic_id : zero_id,
	                q->partition);
}

static struct dp_fs_part *part_find(const struct dp_fsess *s, const struct dp_fs_preq *q)
{
	if (!s->nbuckets)
		return NULL;
	uint32_t h = req_hash(s, q);
	for (struct dp_fs_part *x = s->buckets[h & (s->nbuckets - 1)]; x; x = x->hnext)
		if (x->hash == h && key_eq(s, x, q))
			return x;
	return NULL;
}

static int grow_parts(struct dp_fsess *s)
{
	uint32_t nb = s->nbuckets ? s->nbuckets * 2 : 16;
	struct dp_fs_part **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (struct dp_fs_part *x = s->head; x; x = x->next) {
		x->hnext = b[x->hash & (nb - 1)];
		b[x->hash & (nb - 1)] = x;
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
	return 0;
}

static void set_request(struct dp_fs_part *x, const struct dp_fs_preq *q)
{
	x->max_bytes = q->max_bytes;
	x->fetch_offset = q->fetch_offset;
	x->fetcher_log_start = q->log_start_offset;
	x->leader_epoch = q->leader_epoch;
	x->last_fetched_epoch = q->last_fetched_epoch;
}

static void list_append(struct dp_fsess *s, struct dp_fs_part *x)
{
	x->next = NULL;
	x->prev = s->tail;
	if (s->tail)
		s->tail->next = x;
	else
		s->head = x;
	s->tail = x;
}

static void list_unlink(struct dp_fsess *s, struct dp_fs_part *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		s->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		s->tail = x->prev;
}

/* Adds q at the end of the session (hwm and log start unknown: it is sent next time).  The new
 * partition, or NULL when out of memory. */
static struct dp_fs_part *part_add(struct dp_fsess *s, const struct dp_fs_preq *q)
{
	if ((uint32_t)s->size + 1 > s->nbuckets / 4 * 3 && grow_parts(s))
		return NULL;
	int32_t tl = s->uses_topic_ids ? 0 : qlen(q);
	struct dp_fs_part *x = calloc(1, sizeof(*x) + (size_t)tl + 1);
	if (!x)
		return NULL;
	x->partition = q->partition;
	x->hash = req_hash(s, q);
	if (s->uses_topic_ids && q->topic_id)
		memcpy(x->topic_id, q->topic_id, 16);
	x->topic_len = tl;
	if (tl)
		memcpy(x->topic, q->topic, (size_t)tl);
	set_request(x, q);
	x->hwm = -1;
	x->log_start = -1;
	list_append(s, x);
	uint32_t b = x->hash & (s->nbuckets - 1);
	x->hnext = s->buckets[b];
	s->buckets[b] = x;
	s->size++;
	return x;
}

static bool part_remove(struct dp_fsess *s, const struct dp_fs_preq *q)
{
	if (!s->nbuckets)
		return false;
	uint32_t h = req_hash(s, q);
	for (struct dp_fs_part **pp = &s->buckets[h & (s->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
		struct dp_fs_part *x = *pp;
		if (x->hash != h || !key_eq(s, x, q))
			continue;
		*pp = x->hnext;
		list_unlink(s, x);
		free(x);
		s->size--;
		return true;
	}
	return false;
}

static void sess_free(struct dp_fsess *s)
{
	for (struct dp_fs_part *x = s->head, *next; x; x = next) {
		next = x->next;
		free(x);
	}
	free(s->buckets);
	free(s);
}

static void sess_unref(struct dp_fsess *s)
{
	if (--s->refs == 0)
		sess_free(s);
}

/* --- the cache --------------------------------------------------------------------------- */

struct dp_fs_cache *dp_fs_cache_create(int shard, int nshards, int32_t slots, int64_t eviction_ms,
                                       uint64_t seed)
{
	if (nshards <= 0 || shard < 0 || shard >= nshards || slots < 0 || eviction_ms < 0)
		return NULL;
	struct dp_fs_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->shard = shard;
	c->nshards = nshards;
	c->max_entries = slots / nshards;
	c->eviction_ms = eviction_ms;
	c->id_range = INT32_MAX / nshards;
	c->id_lo = shard * c->id_range > 1 ? shard * c->id_range : 1;
	c->id_hi = (shard + 1) * c->id_range;
	c->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	return c;
}

void dp_fs_cache_destroy(struct dp_fs_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->nbuckets; i++)
		for (struct dp_fsess *s = c->buckets[i], *next; s; s = next) {
			next = s->hnext;
			s->in_cache = false;
			sess_unref(s);
		}
	free(c->buckets);
	free(c);
}

int dp_fs_id_shard(const struct dp_fs_cache *c, int32_t id)
{
	if (id <= 0)
		return -1;
	int k = (int)(id / c->id_range);
	return k < c->nshards ? k : -1;
}

static uint32_t id_hash(int32_t id)
{
	uint32_t h = (uint32_t)id * 2654435761u;
	return h ^ (h >> 16);
}

struct dp_fsess *dp_fs_get(const struct dp_fs_cache *c, int32_t id)
{
	if (!c->nbuckets)
		return NULL;
	for (struct dp_fsess *s = c->buckets[id_hash(id) & (c->nbuckets - 1)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

int32_t dp_fs_count(const struct dp_fs_cache *c) { return c->n; }
int64_t dp_fs_partitions(const struct dp_fs_cache *c) { return c->npartitions; }
int64_t dp_fs_evictions(const struct dp_fs_cache *c) { return c->evictions; }

static int grow_cache(struct dp_fs_cache *c)
{
	uint32_t nb = c->nbuckets ? c->nbuckets * 2 : 64;
	struct dp_fsess **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nbuckets; i++)
		for (struct dp_fsess *s = c->buckets[i], *next; s; s = next) {
			next = s->hnext;
			s->hnext = b[id_hash(s->id) & (nb - 1)];
			b[id_hash(s->id) & (nb - 1)] = s;
		}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
	return 0;
}

static void cache_remove(struct dp_fs_cache *c, struct dp_fsess *s)
{
	for (struct dp_fsess **pp = &c->buckets[id_hash(s->id) & (c->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
		if (*pp != s)
			continue;
		*pp = s->hnext;
		s->in_cache = false;
		c->n--;
		c->npartitions -= s->cached_size;
		sess_unref(s);
		return;
	}
}

bool dp_fs_close(struct dp_fs_cache *c, int32_t id)
{
	struct dp_fsess *s = dp_fs_get(c, id);
	if (!s)
		return false;
	cache_remove(c, s);
	return true;
}

/* Kafka's touch: the session's place in the last-used order and the evictable sets. */
static void touch(struct dp_fs_cache *c, struct dp_fsess *s, int64_t now_ms)
{
	s->last_used_ms = now_ms;
	c->npartitions += s->size - s->cached_size;
	s->cached_size = s->size;
	bool old = now_ms - s->creation_ms > c->eviction_ms;
	s->evict_priv = !s->privileged || old;
	s->evict_all = old;
}

/* (privileged, size, id) as Kafka's EvictableKey orders them. */
static int evictable_cmp(bool pa, int32_t sa, int32_t ia, bool pb, int32_t sb, int32_t ib)
{
	if (pa != pb)
		return pa ? 1 : -1;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

/* Kafka's tryEvict for a proposed session (privileged, size).  True when one was evicted. */
static bool try_evict(struct dp_fs_cache *c, bool privileged, int32_t size, int64_t now_ms)
{
	struct dp_fsess *lru = NULL, *ev = NULL;
	for (uint32_t i = 0; i < c->nbuckets; i++)
		for (struct dp_fsess *s = c->buckets[i]; s; s = s->hnext) {
			if (!lru || s->last_used_ms < lru->last_used_ms ||
			    (s->last_used_ms == lru->last_used_ms && s->id < lru->id))
				lru = s;
			if (!(privileged ? s->evict_priv : s->evict_all))
				continue;
			if (!ev || evictable_cmp(s->privileged, s->cached_size, s->id, ev->privileged,
			                         ev->cached_size, ev->id) < 0)
				ev = s;
		}
	if (!lru)
		return false;
	if (now_ms - lru->last_used_ms > c->eviction_ms) {
		cache_remove(c, lru);
		c->evictions++;
		return true;
	}
	if (!ev || evictable_cmp(privileged, size, 0, ev->privileged, ev->cached_size, ev->id) < 0)
		return false;
	cache_remove(c, ev);
	c->evictions++;
	return true;
}

static int32_t new_id(struct dp_fs_cache *c)
{
	for (;;) {
		/* xorshift64*: ids need only be unpredictable enough not to collide by accident */
		c->rng ^= c->rng >> 12;
		c->rng ^= c->rng << 25;
		c->rng ^= c->rng >> 27;
		uint64_t r = c->rng * 2685821657736338717ull;
		int32_t id = c->id_lo + (int32_t)(r % (uint64_t)(c->id_hi - c->id_lo));
		if (id != 0 && !dp_fs_get(c, id))
			return id;
	}
}

int32_t dp_fs_create(struct dp_fs_cache *c, int64_t now_ms, bool privileged, bool uses_topic_ids,
                     const struct dp_fs_preq *parts, const struct dp_fs_presp *resp, int32_t n)
{
	if (c->max_entries <= 0)
		return 0;
	if (c->n >= c->max_entries && !try_evict(c, privileged, n, now_ms))
		return 0;
	if ((uint32_t)c->n + 1 > c->nbuckets / 4 * 3 && grow_cache(c))
		return 0;
	struct dp_fsess *s = calloc(1, sizeof(*s));
	if (!s)
		return 0;
	s->privileged = privileged;
	s->uses_topic_ids = uses_topic_ids;
	s->creation_ms = now_ms;
	s->epoch = dp_fs_next_epoch(DP_FS_INITIAL_EPOCH);
	s->refs = 1;
	for (int32_t i = 0; i < n; i++) {
		struct dp_fs_part *x = part_find(s, &parts[i]);
		if (!x)
			x = part_add(s, &parts[i]);
		if (!x) {
			sess_free(s);
			return 0;
		}
		set_request(x, &parts[i]);
		x->hwm = resp[i].hwm;
		x->log_start = resp[i].log_start;
	}
	s->id = new_id(c);
	uint32_t b = id_hash(s->id) & (c->nbuckets - 1);
	s->hnext = c->buckets[b];
	c->buckets[b] = s;
	s->in_cache = true;
	c->n++;
	touch(c, s, now_ms);
	return s->id;
}

/* --- the request's context --------------------------------------------------------------- */

void dp_fs_context(struct dp_fs_cache *c, int16_t version, int32_t session_id, int32_t epoch,
                   const struct dp_fs_preq *parts, int32_t n, const struct dp_fs_preq *forget,
                   int32_t nforget, int64_t now_ms, struct dp_fs_ctx *out)
{
	*out = (struct dp_fs_ctx){ .kind = DP_FS_SESSIONLESS, .close_shard = -1 };
	if (epoch == DP_FS_INITIAL_EPOCH || epoch == DP_FS_FINAL_EPOCH) {
		/* Any session a full fetch names is closed, wherever it lives. */
		if (session_id != 0) {
			int k = dp_fs_id_shard(c, session_id);
			if (k == c->shard)
				dp_fs_close(c, session_id);
			else if (k >= 0) {
				out->close_shard = k;
				out->close_id = session_id;
			}
		}
		out->kind = epoch == DP_FS_FINAL_EPOCH ? DP_FS_SESSIONLESS : DP_FS_FULL;
		return;
	}
	struct dp_fsess *s = dp_fs_id_shard(c, session_id) == c->shard ? dp_fs_get(c, session_id) : NULL;
	out->kind = DP_FS_ERROR;
	if (!s) {
		out->error = KP_ERR_FETCH_SESSION_ID_NOT_FOUND;
		return;
	}
	if (s->epoch != epoch) {
		out->error = KP_ERR_INVALID_FETCH_SESSION_EPOCH;
		return;
	}
	if (s->uses_topic_ids != (version >= 13)) {
		out->error = KP_ERR_FETCH_SESSION_TOPIC_ID_ERROR;
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		struct dp_fs_part *x = part_find(s, &parts[i]);
		if (x) {
			set_request(x, &parts[i]);
		} else if (!part_add(s, &parts[i])) {
			/* Out of memory: the session is half updated, so it goes; the client's next
			 * fetch is a full one, as after any session error. */
			cache_remove(c, s);
			out->error = KP_ERR_FETCH_SESSION_ID_NOT_FOUND;
			return;
		}
	}
	for (int32_t i = 0; i < nforget; i++)
		part_remove(s, &forget[i]);
	if (s->size == 0) {
		cache_remove(c, s);
		out->kind = DP_FS_SESSIONLESS;
		return;
	}
	touch(c, s, now_ms);
	s->epoch = dp_fs_next_epoch(s->epoch);
	s->refs++;
	out->kind = DP_FS_INCREMENTAL;
	out->s = s;
	out->expect_epoch = s->epoch;
}

bool dp_fs_ctx_current(const struct dp_fs_ctx *x)
{
	return x->kind == DP_FS_INCREMENTAL && x->s && x->s->epoch == x->expect_epoch;
}

bool dp_fs_must_respond(struct dp_fsess *s, struct dp_fs_part *p, const struct dp_fs_presp *r)
{
	bool must = r->records_len > 0;
	if (p->hwm != r->hwm) {
		must = true;
		p->hwm = r->hwm;
	}
	if (p->log_start != r->log_start) {
		must = true;
		p->log_start = r->log_start;
	}
	if (r->error) {
		/* sent again once the error is gone */
		p->hwm = -1;
		must = true;
	}
	if (r->records_len > 0 && p != s->tail) {
		list_unlink(s, p);
		list_append(s, p);
	}
	return must;
}

void dp_fs_ctx_fini(struct dp_fs_ctx *x)
{
	if (x->s) {
		sess_unref(x->s);
		x->s = NULL;
	}
}
