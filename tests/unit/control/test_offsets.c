/*
 * Committed offsets: durable before they are answered or visible, Kafka's generation and
 * member checks, metadata limits, retention, OffsetDelete, DeleteGroups, ListGroups and the
 * rebuild of everything from the records written to `__consumer_offsets`.
 */
#include "harness.h"

#define G "grp"

static struct ctl_commit_part part(const char *topic, int32_t p, int64_t off, const char *md)
{
	return (struct ctl_commit_part){ .topic = S(topic), .partition = p, .offset = off, .leader_epoch = 3,
	                                 .metadata = md ? S(md) : NUL, .commit_ts = -1 };
}

static int16_t commit(struct h *h, const char *group, const char *member, int32_t gen,
                      struct ctl_commit_part *parts, int n, bool flush)
{
	struct res r = { 0 };
	struct ctl_commit_req rq = { .group_id = S(group), .member_id = S(member), .instance_id = NUL,
	                             .generation = gen, .retention_ms = -1, .parts = parts, .n_parts = n };
	ctl_offsets_commit(h->c, &rq, &r);
	if (flush)
		h_flush(h, 0);
	cr_assert(r.done);
	cr_assert_eq(r.calls, 1);
	return parts[0].error;
}

static int64_t fetched(struct h *h, const char *group, const char *topic, int32_t p)
{
	struct ctl_offset_value v;
	return ctl_offsets_get(h->c, S(group), S(topic), p, &v) ? v.offset : -1;
}

static void stable_one(struct h *h, char *id)
{
	struct res r, s;
	h_join_new(h, &r, G);
	h_tick(h, 3000);
	cr_assert(r.done);
	strcpy(id, r.member);
	h_sync(h, &s, G, id, 1, NULL, 0);
	h_flush(h, 0);
	cr_assert_eq(s.err, 0);
}

Test(ctl_offsets, simple_commit_is_durable_before_answer_and_fetch)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[2] = { part("t", 0, 42, "meta"), part("t", 1, 7, NULL) };
	struct res r = { 0 };
	struct ctl_commit_req rq = { .group_id = S(G), .member_id = S(""), .instance_id = NUL,
	                             .generation = -1, .retention_ms = -1, .parts = p, .n_parts = 2 };
	ctl_offsets_commit(h.c, &rq, &r);
	cr_assert(!r.done, "not answered before the append is durable");
	cr_assert_eq(fetched(&h, G, "t", 0), -1, "not visible before the append is durable");
	cr_assert_eq(h.nq, 1);
	cr_assert_eq(h.q[0]->n, 2);
	cr_assert_eq(h.q[0]->partition, ctl_offsets_partition(G, 3, 50));
	h_flush(&h, 0);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, 0);
	cr_assert_eq(p[1].error, 0);
	struct ctl_offset_value v;
	cr_assert(ctl_offsets_get(h.c, S(G), S("t"), 0, &v));
	cr_assert_eq(v.offset, 42);
	cr_assert_eq(v.leader_epoch, 3);
	cr_assert_eq(v.metadata.len, 4);
	cr_assert(!memcmp(v.metadata.p, "meta", 4));
	cr_assert(ctl_offsets_get(h.c, S(G), S("t"), 1, &v));
	cr_assert_eq(v.metadata.len, 0, "a null metadata is stored as \"\"");
	cr_assert(!ctl_offsets_get(h.c, S(G), S("t"), 2, &v));
	cr_assert_str_eq(h_state(&h, G), "Empty");
	h_fini(&h);
}

Test(ctl_offsets, failed_append_answers_an_error_and_keeps_the_old_offset)
{
	struct h h;
	h_init(&h);
	struct ctl_commit_part p[1] = { part("t", 0, 10, "") };
	commit(&h, G, "", -1, p, 1, true);
	struct res r = { 0 };
	p[0] = part("t", 0, 20, "");
	struct ctl_commit_req rq = { .group_id = S(G), .member_id = S(""), .instance_id = NUL,
	                             .generation = -1, .retention_ms = -1, .parts = p, .n_parts = 1 };
	ctl_offsets_commit(h.c, &rq, &r);
	h_flush(&h, 19 /* NOT_ENOUGH_REPLICAS */);
	cr_assert(r.done);
	cr_assert_eq(p[0].error, CTL_ERR_COORDINATOR_NOT_AVAILABLE);
	cr_assert_eq(fetched(&h, G, "t", 0), 10);
	h_fini(&h);
}

Test(ctl_offsets, generation_and_member_checks)
{
	struct h h;
	h_init(&h);
	char id[160];
	struct ctl_commit_part p[1];
	p[0] = part("t", 0, 1, "");
	cr_assert_eq(commit(&h, "nogroup", "m", 3, p, 1, true), CTL_ERR_ILLEGAL_GENERATION);
	stable_one(&h, id);
	p[0] = part("t", 0, 5, "");
	cr_assert_eq(commit(&h, G, id, 1, p, 1, true), 0);
	cr_assert_eq(fetched(&h, G, "t", 0), 5);
	p[0] = part("t", 0, 6, "");
	cr_assert_eq(commit(&h, G, id, 2, p, 1, true), CTL_ERR_ILLEGAL_GENERATION);
	p[0] = part("t", 0, 6, "");
	cr_assert_eq(commit(&h, G, "stranger", 1, p, 1, true), CTL_ERR_UNKNOWN_MEMBER_ID);
	p[0] = part("t", 0, 6, "");
	cr_assert_eq(commit(&h, G, "", -1, p, 1, true), CTL_ERR_UNKNOWN_MEMBER_ID, "only members commit into a live group");
	cr_assert_eq(fetched(&h, G, "t", 0), 5);
	/* during CompletingRebalance: REBALANCE_IN_PROGRESS; during PreparingRebalance: accepted */
	struct res r2;
	h_join_new(&h, &r2, G);
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	p[0] = part("t", 0, 8, "");
	cr_assert_eq(commit(&h, G, id, 1, p, 1, true), 0);
	struct res r1;
	h_join(&h, &r1, G, id, NULL);
	cr_assert_str_eq(h_state(&h, G), "CompletingRebalance");
	p[0] = part("t", 0, 9, "");
	cr_assert_eq(commit(&h, G, id, 2, p, 1, true), CTL_ERR_REBALANCE_IN_PROGRESS);
	cr_assert_eq(fetched(&h, G, "t", 0), 8);
	h_fini(&h);
}

Test(ctl_offsets, oversized_metadata_is_refused_per_partition)
{
	struct h h;
	h_init(&h);
	static char big[4098];
	memset(big, 'x', 4097);
	struct ctl_commit_part p[2] = { part("t", 0, 1, big), part("t", 1, 2, "ok") };
	commit(&h, G, "", -1, p, 2, true);
	cr_assert_eq(p[0].error, CTL_ERR_OFFSET_METADATA_TOO_LARGE);
	cr_assert_eq(p[1].error, 0);
	cr_assert_eq(fetched(&h, G, "t", 0), -1);
	cr_assert_eq(fetched(&h, G, "t", 1), 2);
	/* all refused: answered at once, and no group is left behind */
	struct ctl_commit_part q[1] = { part("t", 0, 1, big) };
	commit(&h, "g-none", "", -1, q, 1, false);
	cr_assert_eq(q[0].error, CTL_ERR_OFFSET_METADATA_TOO_LARGE);
	cr_assert_str_eq(h_state(&h, "g-none"), "Dead");
	h_fini(&h);
}

Test(ctl_offsets, retention_expires_offsets_and_the_group)
{
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	cfg.offsets_retention_ms = 60000;
	cfg.offsets_retention_check_ms = 10000;
	struct h h;
	h_init_cfg(&h, &cfg, true);
	struct ctl_commit_part p[1] = { part("t", 0, 1, "") };
	commit(&h, "simple", "", -1, p, 1, true);
	h_tick(&h, 30000);
	p[0] = part("t", 1, 2, "");
	commit(&h, "simple", "", -1, p, 1, true);
	h_tick(&h, 30000);
	h_flush(&h, 0);
	cr_assert_eq(fetched(&h, "simple", "t", 0), -1, "60 s after its commit");
	cr_assert_eq(fetched(&h, "simple", "t", 1), 2);
	h_tick(&h, 30000);
	h_flush(&h, 0);
	cr_assert_eq(fetched(&h, "simple", "t", 1), -1);
	cr_assert_str_eq(h_state(&h, "simple"), "Dead", "an empty group without offsets is removed");
	/* the tombstones are in the log: the last records are null values */
	cr_assert_eq(h.log[h.nlog - 1].vl, -1);
	/* an active consumer group's offsets for subscribed topics do not expire */
	char id[160];
	stable_one(&h, id);
	p[0] = part("t", 0, 5, "");
	commit(&h, G, id, 1, p, 1, true);
	for (int i = 0; i < 12; i++) {
		h_tick(&h, 9000);
		ctl_group_heartbeat(h.c, S(G), S(id), NUL, 1);
	}
	h_flush(&h, 0);
	cr_assert_eq(fetched(&h, G, "t", 0), 5);
	h_fini(&h);
}

Test(ctl_offsets, delete_groups)
{
	struct h h;
	h_init(&h);
	char id[160];
	stable_one(&h, id);
	struct ctl_commit_part p[1] = { part("t", 0, 5, "") };
	commit(&h, G, id, 1, p, 1, true);
	cr_assert_eq(ctl_group_delete(h.c, S(G)), CTL_ERR_NON_EMPTY_GROUP);
	cr_assert_eq(ctl_group_delete(h.c, S("missing")), CTL_ERR_GROUP_ID_NOT_FOUND);
	struct ctl_leave_member lm = { .member_id = S(id), .instance_id = NUL };
	ctl_group_leave(h.c, S(G), &lm, 1);
	h_flush(&h, 0);
	cr_assert_str_eq(h_state(&h, G), "Empty");
	int before = h.nlog;
	cr_assert_eq(ctl_group_delete(h.c, S(G)), 0);
	h_flush(&h, 0);
	cr_assert_eq(h.nlog - before, 2, "an offset tombstone and a group tombstone");
	cr_assert_eq(fetched(&h, G, "t", 0), -1);
	cr_assert_str_eq(h_state(&h, G), "Dead");
	cr_assert_eq(ctl_group_delete(h.c, S(G)), CTL_ERR_GROUP_ID_NOT_FOUND);
	h_fini(&h);
}

Test(ctl_offsets, offset_delete_respects_subscriptions)
{
	struct h h;
	h_init(&h);
	char id[160];
	stable_one(&h, id); /* subscribed to topic "t" (see proto_range) */
	struct ctl_commit_part p[2] = { part("t", 0, 5, ""), part("u", 0, 6, "") };
	commit(&h, G, id, 1, p, 2, true);
	struct ctl_commit_part d[2] = { part("t", 0, 0, ""), part("u", 0, 0, "") };
	cr_assert_eq(ctl_offsets_delete(h.c, S(G), d, 2), 0);
	cr_assert_eq(d[0].error, CTL_ERR_GROUP_SUBSCRIBED_TO_TOPIC);
	cr_assert_eq(d[1].error, 0);
	h_flush(&h, 0);
	cr_assert_eq(fetched(&h, G, "t", 0), 5);
	cr_assert_eq(fetched(&h, G, "u", 0), -1);
	cr_assert_eq(ctl_offsets_delete(h.c, S("missing"), d, 1), CTL_ERR_GROUP_ID_NOT_FOUND);
	/* a non-consumer group that is not empty: NON_EMPTY_GROUP */
	const struct ctl_join_protocol pc[] = { { S("x"), S("") } };
	struct res c;
	h_join_p(&h, &c, "conn", "", NULL, pc, 1, "connect");
	h_join_p(&h, &c, "conn", c.member, NULL, pc, 1, "connect");
	cr_assert_eq(ctl_offsets_delete(h.c, S("conn"), d, 1), CTL_ERR_NON_EMPTY_GROUP);
	h_fini(&h);
}

struct listed {
	int n;
	char ids[8][32];
	char states[8][32];
};

static void on_list(void *arg, const char *id, const char *ptype, const char *state)
{
	(void)ptype;
	struct listed *l = arg;
	snprintf(l->ids[l->n], 32, "%s", id);
	snprintf(l->states[l->n], 32, "%s", state);
	l->n++;
}

Test(ctl_offsets, list_groups_with_states_filter_and_describe)
{
	struct h h;
	h_init(&h);
	char id[160];
	stable_one(&h, id);
	struct ctl_commit_part p[1] = { part("t", 0, 5, "") };
	commit(&h, "simple", "", -1, p, 1, true);
	struct listed l = { 0 };
	cr_assert_eq(ctl_group_list(h.c, NULL, 0, on_list, &l), 0);
	cr_assert_eq(l.n, 2);
	struct ctl_slice f[1] = { S("stable") };
	memset(&l, 0, sizeof(l));
	ctl_group_list(h.c, f, 1, on_list, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.ids[0], G);
	struct ctl_slice f2[1] = { S("Empty") };
	memset(&l, 0, sizeof(l));
	ctl_group_list(h.c, f2, 1, on_list, &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.ids[0], "simple");
	struct ctl_described_group d;
	cr_assert_eq(ctl_group_describe(h.c, S(G), &d, h_alloc, NULL), 0);
	cr_assert_str_eq(d.state, "Stable");
	cr_assert_str_eq(d.protocol_type, "consumer");
	cr_assert_str_eq(d.protocol, "range");
	cr_assert_eq(d.n_members, 1);
	cr_assert_str_eq(d.members[0].member_id, id);
	cr_assert_str_eq(d.members[0].client_host, "/127.0.0.1");
	cr_assert_eq(d.members[0].metadata.len, 13);
	free(d.members);
	h_fini(&h);
}

Test(ctl_offsets, state_is_rebuilt_from_the_log)
{
	struct h h;
	h_init(&h);
	char id[160];
	stable_one(&h, id);
	struct ctl_commit_part p[3] = { part("t", 0, 5, "m0"), part("t", 1, 6, ""), part("u", 2, 7, "") };
	commit(&h, G, id, 1, p, 3, true);
	p[0] = part("t", 0, 50, "m1");
	commit(&h, G, id, 1, p, 1, true);
	commit(&h, "simple", "", -1, p, 1, true);
	cr_assert_eq(ctl_group_delete(h.c, S("simple")), 0);
	struct ctl_commit_part d[1] = { part("u", 2, 0, "") };
	struct res r2;
	h_join_new(&h, &r2, "other");
	ctl_offsets_delete(h.c, S(G), d, 1);
	h_flush(&h, 0);

	/* a fresh coordinator (a restarted control process) reads the log back */
	struct h h2;
	h_init_cfg(&h2, &h.cfg, false);
	for (int i = 0; i < h.nlog; i++)
		cr_assert_eq(ctl_coord_load_record(h2.c, h.log[i].k, h.log[i].kl, h.log[i].v, h.log[i].vl), 0);
	ctl_coord_load_done(h2.c);
	struct ctl_offset_value v;
	cr_assert(ctl_offsets_get(h2.c, S(G), S("t"), 0, &v));
	cr_assert_eq(v.offset, 50);
	cr_assert_eq(v.metadata.len, 2);
	cr_assert_eq(v.leader_epoch, 3);
	cr_assert_eq(fetched(&h2, G, "t", 1), 6);
	cr_assert_eq(fetched(&h2, G, "u", 2), -1, "deleted offsets stay deleted");
	cr_assert_str_eq(h_state(&h2, "simple"), "Dead", "deleted groups stay deleted");
	cr_assert_str_eq(h_state(&h2, G), "Stable");
	/* the member carries on with its generation after the restart */
	cr_assert_eq(ctl_group_heartbeat(h2.c, S(G), S(id), NUL, 1), 0);
	struct res s;
	h_sync(&h2, &s, G, id, 1, NULL, 0);
	cr_assert_eq(s.err, 0);
	/* and is removed if it does not come back within its session timeout */
	h_tick(&h2, 10000);
	cr_assert_str_eq(h_state(&h2, G), "Empty");
	/* malformed records are refused without harm */
	const uint8_t junk[] = { 0, 1, 0x7f };
	cr_assert_eq(ctl_coord_load_record(h2.c, junk, sizeof(junk), junk, 3), -EBADMSG);
	h_fini(&h2);
	h_fini(&h);
}

Test(ctl_offsets, loaded_group_over_max_size_rebalances_and_turns_the_excess_away)
{
	struct h h;
	h_init(&h);
	struct res r1, r2, s;
	h_join_new(&h, &r1, G);
	h_join_new(&h, &r2, G);
	h_tick(&h, 3000);
	h_tick(&h, 3000);
	cr_assert(r1.done && r2.done);
	struct res *ld = r1.n_members ? &r1 : &r2;
	h_sync(&h, &s, G, ld->member, 1, NULL, 0);
	h_flush(&h, 0);
	cr_assert_str_eq(h_state(&h, G), "Stable");
	/* restart with group.max.size lowered to 1 */
	struct ctl_config cfg = h.cfg;
	cfg.max_size = 1;
	struct h h2;
	h_init_cfg(&h2, &cfg, false);
	for (int i = 0; i < h.nlog; i++)
		ctl_coord_load_record(h2.c, h.log[i].k, h.log[i].kl, h.log[i].v, h.log[i].vl);
	ctl_coord_load_done(h2.c);
	cr_assert_str_eq(h_state(&h2, G), "PreparingRebalance");
	struct res j1, j2;
	h_join(&h2, &j1, G, r1.member, NULL);
	h_join(&h2, &j2, G, r2.member, NULL);
	cr_assert((j1.done && j1.err == 0) || (j2.done && j2.err == 0), "one member gets in");
	cr_assert((j1.done && j1.err == CTL_ERR_GROUP_MAX_SIZE_REACHED) || (j2.done && j2.err == CTL_ERR_GROUP_MAX_SIZE_REACHED),
	          "the other is turned away");
	h_fini(&h2);
	h_fini(&h);
}
