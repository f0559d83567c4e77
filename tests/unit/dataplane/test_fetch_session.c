/* Unit tests for dataplane/fetch_session.c: Kafka's session metadata rules (full, final,
 * incremental epochs and their errors), the session update (added, updated, forgotten), the
 * incremental answer's choice of partitions, id ranges per shard and the eviction rules. */
#include <criterion/criterion.h>
#include <string.h>

#include "dataplane/fetch_session.h"
#include "kp_errors.h"

#define EV 120000

static const uint8_t id_a[16] = { 1, 2, 3 };
static const uint8_t id_b[16] = { 9, 9, 9 };

static struct dp_fs_preq named(const char *t, int32_t p, int64_t off)
{
	return (struct dp_fs_preq){ .topic = t, .topic_len = (int32_t)strlen(t), .partition = p,
	                            .max_bytes = 1 << 20, .leader_epoch = -1,
	                            .last_fetched_epoch = -1, .fetch_offset = off,
	                            .log_start_offset = -1 };
}

static struct dp_fs_preq by_id(const uint8_t *id, int32_t p, int64_t off)
{
	return (struct dp_fs_preq){ .topic_id = id, .partition = p, .max_bytes = 1 << 20,
	                            .leader_epoch = -1, .last_fetched_epoch = -1,
	                            .fetch_offset = off, .log_start_offset = -1 };
}

/* A session of n named partitions t-0..t-(n-1), all at hwm 10, log start 0. */
static int32_t make(struct dp_fs_cache *c, int n, int64_t now, bool privileged)
{
	struct dp_fs_preq q[16];
	struct dp_fs_presp r[16];
	for (int i = 0; i < n; i++) {
		q[i] = named("t", i, 0);
		r[i] = (struct dp_fs_presp){ 0, 10, 0, 0 };
	}
	struct dp_fs_ctx x;
	dp_fs_context(c, 12, 0, DP_FS_INITIAL_EPOCH, q, n, NULL, 0, now, &x);
	cr_assert_eq(x.kind, DP_FS_FULL);
	return dp_fs_create(c, now, privileged, false, q, r, n);
}

static struct dp_fs_ctx incr(struct dp_fs_cache *c, int16_t v, int32_t id, int32_t epoch,
                             const struct dp_fs_preq *q, int n, const struct dp_fs_preq *f, int nf,
                             int64_t now)
{
	struct dp_fs_ctx x;
	dp_fs_context(c, v, id, epoch, q, n, f, nf, now, &x);
	return x;
}

Test(dp_fetch_session, epochs_choose_the_context)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 1);
	struct dp_fs_preq q = named("t", 0, 0);
	struct dp_fs_ctx x = incr(c, 12, 0, DP_FS_FINAL_EPOCH, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_SESSIONLESS);
	x = incr(c, 12, 0, DP_FS_INITIAL_EPOCH, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_FULL);
	cr_assert_eq(dp_fs_count(c), 0, "no session before the full answer is made");
	x = incr(c, 12, 12345, 1, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_ERROR);
	cr_assert_eq(x.error, KP_ERR_FETCH_SESSION_ID_NOT_FOUND);
	x = incr(c, 12, 0, 5, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_FETCH_SESSION_ID_NOT_FOUND, "session 0 with an epoch is not a session");
	int32_t id = make(c, 1, 0, false);
	cr_assert_gt(id, 0);
	cr_assert_eq(dp_fs_get(c, id)->epoch, 1, "a new session expects epoch 1");
	x = incr(c, 12, id, 2, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_INVALID_FETCH_SESSION_EPOCH);
	x = incr(c, 13, id, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_FETCH_SESSION_TOPIC_ID_ERROR, "a name session used by v13");
	x = incr(c, 12, id, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_INCREMENTAL);
	cr_assert_eq(x.s->id, id);
	cr_assert_eq(x.s->epoch, 2);
	cr_assert(dp_fs_ctx_current(&x));
	dp_fs_ctx_fini(&x);
	x = incr(c, 12, id, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_INVALID_FETCH_SESSION_EPOCH, "an epoch is used once");
	/* a full fetch naming the session closes it */
	x = incr(c, 12, id, DP_FS_INITIAL_EPOCH, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_FULL);
	cr_assert_null(dp_fs_get(c, id));
	cr_assert_eq(dp_fs_count(c), 0);
	id = make(c, 1, 0, false);
	x = incr(c, 12, id, DP_FS_FINAL_EPOCH, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_SESSIONLESS, "the final epoch closes and makes none");
	cr_assert_null(dp_fs_get(c, id));
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, next_epoch_wraps_like_kafka)
{
	cr_assert_eq(dp_fs_next_epoch(0), 1);
	cr_assert_eq(dp_fs_next_epoch(41), 42);
	cr_assert_eq(dp_fs_next_epoch(INT32_MAX), 1);
	cr_assert_eq(dp_fs_next_epoch(-1), -1);
}

Test(dp_fetch_session, update_adds_updates_and_forgets)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 2);
	int32_t id = make(c, 3, 0, false);
	struct dp_fsess *s = dp_fs_get(c, id);
	cr_assert_eq(s->size, 3);
	struct dp_fs_preq q[2] = { named("t", 1, 77), named("u", 0, 5) };
	struct dp_fs_preq f[2] = { named("t", 0, 0), named("nope", 3, 0) };
	struct dp_fs_ctx x = incr(c, 12, id, 1, q, 2, f, 2, 10);
	cr_assert_eq(x.kind, DP_FS_INCREMENTAL);
	/* order: t-1 (updated in place), t-2, u-0 (added at the end); t-0 forgotten */
	struct dp_fs_part *p = s->head;
	cr_assert_str_eq(p->topic, "t");
	cr_assert_eq(p->partition, 1);
	cr_assert_eq(p->fetch_offset, 77);
	cr_assert_eq(p->hwm, 10, "an updated partition keeps what was sent");
	p = p->next;
	cr_assert_eq(p->partition, 2);
	p = p->next;
	cr_assert_str_eq(p->topic, "u");
	cr_assert_eq(p->hwm, -1, "an added partition is sent next time");
	cr_assert_null(p->next);
	cr_assert_eq(s->size, 3);
	cr_assert_eq(dp_fs_partitions(c), 3);
	dp_fs_ctx_fini(&x);
	/* forgetting every partition closes the session and answers sessionless */
	struct dp_fs_preq all[3] = { named("t", 1, 0), named("t", 2, 0), named("u", 0, 0) };
	x = incr(c, 12, id, 2, NULL, 0, all, 3, 20);
	cr_assert_eq(x.kind, DP_FS_SESSIONLESS);
	cr_assert_null(dp_fs_get(c, id));
	cr_assert_eq(dp_fs_partitions(c), 0);
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, incremental_answer_keeps_only_changes)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 3);
	int32_t id = make(c, 3, 0, false);
	struct dp_fs_ctx x = incr(c, 12, id, 1, NULL, 0, NULL, 0, 1);
	struct dp_fsess *s = x.s;
	struct dp_fs_part *p0 = s->head, *p1 = p0->next, *p2 = p1->next;
	struct dp_fs_presp same = { 0, 10, 0, 0 };
	cr_assert_not(dp_fs_must_respond(s, p0, &same), "nothing changed");
	struct dp_fs_presp hw = { 0, 11, 0, 0 };
	cr_assert(dp_fs_must_respond(s, p1, &hw), "a new high watermark");
	cr_assert_eq(p1->hwm, 11);
	cr_assert_not(dp_fs_must_respond(s, p1, &hw), "and only once");
	struct dp_fs_presp ls = { 0, 11, 4, 0 };
	cr_assert(dp_fs_must_respond(s, p1, &ls), "a new log start offset");
	struct dp_fs_presp err = { KP_ERR_KAFKA_STORAGE_ERROR, 10, 0, 0 };
	cr_assert(dp_fs_must_respond(s, p2, &err), "errors always");
	cr_assert(dp_fs_must_respond(s, p2, &same), "the partition is sent again once the error is gone");
	cr_assert_not(dp_fs_must_respond(s, p2, &same));
	struct dp_fs_presp rec = { 0, 10, 0, 100 };
	cr_assert(dp_fs_must_respond(s, p0, &rec), "records always");
	cr_assert_eq(s->tail, p0, "a partition that had records goes to the end");
	cr_assert_eq(s->head, p1);
	dp_fs_ctx_fini(&x);
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, topic_id_sessions_key_by_id)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 4);
	struct dp_fs_preq q[2] = { by_id(id_a, 0, 0), by_id(id_b, 0, 0) };
	struct dp_fs_presp r[2] = { { 0, 1, 0, 0 }, { KP_ERR_UNKNOWN_TOPIC_ID, -1, -1, 0 } };
	int32_t id = dp_fs_create(c, 0, false, true, q, r, 2);
	cr_assert_gt(id, 0);
	struct dp_fs_ctx x = incr(c, 12, id, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_FETCH_SESSION_TOPIC_ID_ERROR, "an id session used by v12");
	struct dp_fs_preq upd = by_id(id_a, 0, 50), forget = by_id(id_b, 0, 0);
	x = incr(c, 13, id, 1, &upd, 1, &forget, 1, 0);
	cr_assert_eq(x.kind, DP_FS_INCREMENTAL);
	cr_assert_eq(x.s->size, 1);
	cr_assert_eq(x.s->head->fetch_offset, 50);
	cr_assert_eq(memcmp(x.s->head->topic_id, id_a, 16), 0);
	dp_fs_ctx_fini(&x);
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, a_partition_named_twice_is_cached_once)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 5);
	struct dp_fs_preq q[2] = { named("t", 0, 1), named("t", 0, 9) };
	struct dp_fs_presp r[2] = { { 0, 10, 0, 0 }, { 0, 10, 0, 0 } };
	int32_t id = dp_fs_create(c, 0, false, false, q, r, 2);
	cr_assert_eq(dp_fs_get(c, id)->size, 1);
	cr_assert_eq(dp_fs_get(c, id)->head->fetch_offset, 9);
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, ids_tell_their_shard)
{
	struct dp_fs_cache *c0 = dp_fs_cache_create(0, 2, 1000, EV, 6);
	struct dp_fs_cache *c1 = dp_fs_cache_create(1, 2, 1000, EV, 7);
	for (int i = 0; i < 50; i++) {
		int32_t a = make(c0, 1, 0, false), b = make(c1, 1, 0, false);
		cr_assert_gt(a, 0);
		cr_assert_eq(dp_fs_id_shard(c1, a), 0);
		cr_assert_eq(dp_fs_id_shard(c0, b), 1);
	}
	cr_assert_eq(dp_fs_count(c0), 50);
	cr_assert_eq(dp_fs_id_shard(c0, 0), -1);
	cr_assert_eq(dp_fs_id_shard(c0, -7), -1);
	cr_assert_eq(dp_fs_id_shard(c0, INT32_MAX), -1, "no shard hands out the top id");
	/* a full fetch on shard 0 naming shard 1's session leaves it to shard 1 */
	int32_t b = make(c1, 1, 0, false);
	struct dp_fs_preq q = named("t", 0, 0);
	struct dp_fs_ctx x = incr(c0, 12, b, DP_FS_INITIAL_EPOCH, &q, 1, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_FULL);
	cr_assert_eq(x.close_shard, 1);
	cr_assert_eq(x.close_id, b);
	cr_assert(dp_fs_close(c1, b));
	cr_assert_not(dp_fs_close(c1, b));
	/* an incremental fetch on the wrong shard finds nothing */
	int32_t b2 = make(c1, 1, 0, false);
	x = incr(c0, 12, b2, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.error, KP_ERR_FETCH_SESSION_ID_NOT_FOUND);
	cr_assert_not_null(dp_fs_get(c1, b2), "and leaves the session alone");
	dp_fs_cache_destroy(c0);
	dp_fs_cache_destroy(c1);
}

Test(dp_fetch_session, slots_are_divided_between_shards)
{
	struct dp_fs_cache *c = dp_fs_cache_create(1, 2, 5, EV, 8);
	cr_assert_gt(make(c, 1, 0, false), 0);
	cr_assert_gt(make(c, 1, 0, false), 0);
	cr_assert_eq(make(c, 1, 0, false), 0, "5 slots over 2 shards: 2 each");
	dp_fs_cache_destroy(c);
	c = dp_fs_cache_create(0, 1, 0, EV, 9);
	cr_assert_eq(make(c, 3, 0, false), 0, "0 slots: no sessions at all");
	dp_fs_cache_destroy(c);
	cr_assert_null(dp_fs_cache_create(2, 2, 10, EV, 1));
	cr_assert_null(dp_fs_cache_create(0, 1, -1, EV, 1));
}

Test(dp_fetch_session, eviction_follows_kafka)
{
	/* young unprivileged sessions: a larger one cannot evict them, a privileged one can (the
	 * lowest ranked first) */
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 2, EV, 10);
	int32_t a = make(c, 2, 0, false);
	int32_t b = make(c, 3, 1000, false);
	cr_assert_eq(make(c, 9, 2000, false), 0);
	cr_assert_gt(make(c, 1, 3000, true), 0);
	cr_assert_null(dp_fs_get(c, a));
	cr_assert_not_null(dp_fs_get(c, b));
	cr_assert_eq(dp_fs_evictions(c), 1);
	dp_fs_cache_destroy(c);

	/* a young privileged session: nobody evicts it */
	c = dp_fs_cache_create(0, 1, 1, EV, 11);
	int32_t p = make(c, 1, 0, true);
	cr_assert_eq(make(c, 9, 10, true), 0);
	cr_assert_eq(make(c, 9, 10, false), 0);
	/* ... until it is stale: unused for longer than the eviction time */
	cr_assert_gt(make(c, 1, EV + 1, false), 0);
	cr_assert_null(dp_fs_get(c, p));
	dp_fs_cache_destroy(c);

	/* a session older than the eviction time, used again: a larger one evicts it, one of the
	 * same size ranks lower and does not */
	c = dp_fs_cache_create(0, 1, 1, EV, 12);
	b = make(c, 3, 0, false);
	struct dp_fs_ctx x = incr(c, 12, b, 1, NULL, 0, NULL, 0, EV + 1);
	cr_assert_eq(x.kind, DP_FS_INCREMENTAL);
	dp_fs_ctx_fini(&x);
	cr_assert_eq(make(c, 3, EV + 2, false), 0);
	cr_assert_gt(make(c, 4, EV + 3, false), 0);
	cr_assert_null(dp_fs_get(c, b));
	cr_assert_eq(dp_fs_evictions(c), 1);
	dp_fs_cache_destroy(c);
}

Test(dp_fetch_session, a_waiting_fetch_keeps_its_session)
{
	struct dp_fs_cache *c = dp_fs_cache_create(0, 1, 10, EV, 11);
	int32_t id = make(c, 2, 0, false);
	struct dp_fs_ctx x = incr(c, 12, id, 1, NULL, 0, NULL, 0, 0);
	cr_assert_eq(x.kind, DP_FS_INCREMENTAL);
	/* a pipelined fetch with the next epoch uses the session meanwhile */
	struct dp_fs_ctx y = incr(c, 12, id, 2, NULL, 0, NULL, 0, 0);
	cr_assert_eq(y.kind, DP_FS_INCREMENTAL);
	cr_assert_not(dp_fs_ctx_current(&x), "the first answer is now stale");
	cr_assert(dp_fs_ctx_current(&y));
	/* the session is closed while y waits: y still answers from it */
	cr_assert(dp_fs_close(c, id));
	cr_assert_eq(dp_fs_count(c), 0);
	cr_assert(dp_fs_ctx_current(&y));
	struct dp_fs_presp r = { 0, 99, 0, 0 };
	cr_assert(dp_fs_must_respond(y.s, y.s->head, &r));
	cr_assert_eq(y.s->in_cache, false);
	dp_fs_ctx_fini(&x);
	dp_fs_ctx_fini(&y);
	dp_fs_ctx_fini(&y);
	dp_fs_cache_destroy(c);
}
