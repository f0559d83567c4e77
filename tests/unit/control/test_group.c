/*
 * The classic group protocol state by state, with time driven by the test: joins, the initial
 * rebalance delay, rebalance and session timeouts, SyncGroup and the durable assignment,
 * heartbeats during a rebalance, LeaveGroup, static membership, protocol selection, limits.
 */
#include "harness.h"

#define G "grp"

/* Two dynamic members through the initial delay into Stable; returns ids in a and b. */
static void two_stable(struct h *h, char *a, char *b)
{
	struct res r1, r2, s1, s2;
	h_join_new(h, &r1, G);
	h_join_new(h, &r2, G);
	cr_assert(!r1.done && !r2.done);
	h_tick(h, 3000); /* new member added during gen 0: one more delay */
	cr_assert(!r1.done);
	h_tick(h, 3000);
	cr_assert(r1.done && r2.done);
	strcpy(a, r1.member);
	strcpy(b, r2.member);
	const char *leader = r1.leader;
	cr_assert_str_eq(r1.leader, r2.leader);
	struct ctl_sync_assignment as[2] = { { S(a), S("A1") }, { S(b), S("B1") } };
	const char *ld = !strcmp(leader, a) ? a : b;
	const char *fl = ld == a ? b : a;
	h_sync(h, &s2, G, fl, 1, NULL, 0);
	h_sync(h, &s1, G, ld, 1, as, 2);
	cr_assert(!s1.done && !s2.done, "the assignment is answered only once durable");
	cr_assert_eq(h_flush(h, 0), 1);
	cr_assert(s1.done && s2.done);
	cr_assert_str_eq(h_state(h, G), "Stable");
}

Test(ctl_group, member_id_required_then_initial_delay_then_stable)
{
	struct h h;
	h_init(&h);
	struct res r, s;
	h_join(&h, &r, G, "", NULL);
	cr_assert(r.done);
	cr_assert_eq(r.err, CTL_ERR_MEMBER_ID_REQUIRED);
	cr_assert_eq(r.gen, -1);
	cr_assert(!strncmp(r.member, "client-", 7) && strlen(r.member) == 7 + 36, "%s", r.member);
	char id[160];
	strcpy(id, r.member);
	cr_assert_str_eq(h_state(&h, G), "Empty");
	h_join(&h, &r, G, id, NULL);
	cr_assert(!r.done, "waits for group.initial.rebalance.delay.ms");
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	h_tick(&h, 2999);
	cr_assert(!r.done);
	h_tick(&h, 1);
	cr_assert(r.done);
	cr_assert_eq(r.err, 0);
	cr_assert_eq(r.gen, 1);
	cr_assert_str_eq(r.leader, id);
	cr_assert_str_eq(r.member, id);
	cr_assert_str_eq(r.proto, "range");
	cr_assert_str_eq(r.ptype, "consumer");
	cr_assert_eq(r.n_members, 1);
	cr_assert_str_eq(r.members[0], id);
	cr_assert_str_eq(h_state(&h, G), "CompletingRebalance");
	struct ctl_sync_assignment as[1] = { { S(id), S("ASSIGN") } };
	h_sync(&h, &s, G, id, 1, as, 1);
	cr_assert(!s.done);
	cr_assert_eq(h.nq, 1);
	cr_assert_eq(h_flush(&h, 0), 1);
	cr_assert(s.done);
	cr_assert_eq(s.err, 0);
	cr_assert_eq(s.alen, 6);
	cr_assert(!memcmp(s.assign, "ASSIGN", 6));
	cr_assert_str_eq(h_state(&h, G), "Stable");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(id), NUL, 1), 0);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(id), NUL, 0), CTL_ERR_ILLEGAL_GENERATION);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S("nobody"), NUL, 1), CTL_ERR_UNKNOWN_MEMBER_ID);
	cr_assert_eq(ctl_group_heartbeat(h.c, S("other"), S(id), NUL, 1), CTL_ERR_UNKNOWN_MEMBER_ID);
	h_fini(&h);
}

Test(ctl_group, initial_delay_is_bounded_by_the_rebalance_timeout)
{
	struct h h;
	h_init(&h);
	struct res r[12];
	/* a member joins every 2.5 s: each delay is extended while new members keep coming, but
	 * never past rebalance.timeout.ms (30 s) */
	for (int i = 0; i < 12; i++) {
		h_join_new(&h, &r[i], G);
		h_tick(&h, 2500);
	}
	cr_assert(r[0].done, "at most 30 s of delay");
	cr_assert_eq(r[0].gen, 1);
	h_fini(&h);
}

Test(ctl_group, third_member_rebalances_and_heartbeats_say_rebalance_in_progress)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	struct res r3, ra, rb;
	h_join_new(&h, &r3, G);
	cr_assert(!r3.done);
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(a), NUL, 1), CTL_ERR_REBALANCE_IN_PROGRESS);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(b), NUL, 1), CTL_ERR_REBALANCE_IN_PROGRESS);
	h_join(&h, &ra, G, a, NULL);
	cr_assert(!ra.done);
	h_join(&h, &rb, G, b, NULL);
	cr_assert(ra.done && rb.done && r3.done, "everyone rejoined: no need to wait for the timeout");
	cr_assert_eq(ra.gen, 2);
	cr_assert_eq(r3.gen, 2);
	int with_members = (ra.n_members == 3) + (rb.n_members == 3) + (r3.n_members == 3);
	cr_assert_eq(with_members, 1, "only the leader gets the member list");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(a), NUL, 1), CTL_ERR_ILLEGAL_GENERATION);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(a), NUL, 2), 0, "CompletingRebalance accepts heartbeats");
	h_fini(&h);
}

Test(ctl_group, rebalance_timeout_drops_members_that_did_not_rejoin)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	struct res r3, ra;
	h_join_new(&h, &r3, G);
	h_join(&h, &ra, G, a, NULL);
	/* b keeps heartbeating but never rejoins */
	for (int i = 0; i < 5; i++) {
		h_tick(&h, 5000);
		cr_assert(!ra.done);
		cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(b), NUL, 1), CTL_ERR_REBALANCE_IN_PROGRESS);
	}
	h_tick(&h, 5000); /* 30 s rebalance timeout */
	cr_assert(ra.done && r3.done);
	cr_assert_eq(ra.gen, 2);
	struct res *ld = ra.n_members ? &ra : &r3;
	cr_assert_eq(ld->n_members, 2);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(b), NUL, 2), CTL_ERR_UNKNOWN_MEMBER_ID);
	h_fini(&h);
}

Test(ctl_group, session_timeout_removes_a_silent_member)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	for (int i = 0; i < 3; i++) {
		h_tick(&h, 3000);
		cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(a), NUL, 1), 0);
	}
	cr_assert_str_eq(h_state(&h, G), "Stable");
	h_tick(&h, 3000);
	/* b has been silent for 12 s > session.timeout.ms 10 s */
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(a), NUL, 1), CTL_ERR_REBALANCE_IN_PROGRESS);
	struct res ra;
	h_join(&h, &ra, G, a, NULL);
	cr_assert(ra.done);
	cr_assert_eq(ra.gen, 2);
	cr_assert_eq(ra.n_members, 1);
	cr_assert_str_eq(ra.leader, a);
	h_fini(&h);
}

Test(ctl_group, new_member_that_never_rejoins_after_member_id_required_is_forgotten)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	struct res r;
	h_join(&h, &r, G, "", NULL);
	cr_assert_eq(r.err, CTL_ERR_MEMBER_ID_REQUIRED);
	/* the pending member id does not start a rebalance and expires after its session timeout */
	cr_assert_str_eq(h_state(&h, G), "Stable");
	h_tick(&h, 10000);
	struct ctl_leave_member lm = { .member_id = S(r.member), .instance_id = NUL };
	cr_assert_eq(ctl_group_leave(h.c, S(G), &lm, 1), 0);
	cr_assert_eq(lm.error, CTL_ERR_UNKNOWN_MEMBER_ID);
	h_fini(&h);
}

Test(ctl_group, leave_several_members_then_empty)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	struct ctl_leave_member lm[3] = {
		{ .member_id = S(a), .instance_id = NUL },
		{ .member_id = S("ghost"), .instance_id = NUL },
		{ .member_id = S(b), .instance_id = NUL },
	};
	cr_assert_eq(ctl_group_leave(h.c, S(G), lm, 3), 0);
	cr_assert_eq(lm[0].error, 0);
	cr_assert_eq(lm[1].error, CTL_ERR_UNKNOWN_MEMBER_ID);
	cr_assert_eq(lm[2].error, 0);
	cr_assert_str_eq(h_state(&h, G), "Empty");
	h_flush(&h, 0);
	struct ctl_leave_member none = { .member_id = S(a), .instance_id = NUL };
	cr_assert_eq(ctl_group_leave(h.c, S("nogroup"), &none, 1), 0);
	cr_assert_eq(none.error, CTL_ERR_UNKNOWN_MEMBER_ID);
	h_fini(&h);
}

Test(ctl_group, leave_of_one_member_reassigns_to_the_rest)
{
	struct h h;
	h_init(&h);
	char a[160], b[160];
	two_stable(&h, a, b);
	struct ctl_leave_member lm = { .member_id = S(b), .instance_id = NUL };
	cr_assert_eq(ctl_group_leave(h.c, S(G), &lm, 1), 0);
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	struct res ra;
	h_join(&h, &ra, G, a, NULL);
	cr_assert(ra.done);
	cr_assert_eq(ra.gen, 2);
	cr_assert_eq(ra.n_members, 1);
	h_fini(&h);
}

Test(ctl_group, static_member_restart_keeps_assignment_without_rebalance)
{
	struct h h;
	h_init(&h);
	struct res r1, r2, s1, s2;
	h_join(&h, &r1, G, "", "inst-1");
	h_join(&h, &r2, G, "", "inst-2");
	cr_assert(!r1.done, "static members skip MEMBER_ID_REQUIRED and wait in the join");
	h_tick(&h, 6000);
	cr_assert(r1.done && r2.done);
	cr_assert(!strncmp(r1.member, "inst-1-", 7));
	struct res *ld = r1.n_members ? &r1 : &r2, *fl = ld == &r1 ? &r2 : &r1;
	struct ctl_sync_assignment as[2] = { { S(r1.member), S("P0") }, { S(r2.member), S("P1") } };
	h_sync(&h, &s2, G, fl->member, 1, NULL, 0);
	h_sync(&h, &s1, G, ld->member, 1, as, 2);
	h_flush(&h, 0);
	cr_assert(s1.done && s2.done);
	/* inst-1 restarts: it joins with an empty member id and the same instance id */
	char old[160];
	strcpy(old, r1.member);
	struct res rj, sj;
	h_join(&h, &rj, G, "", "inst-1");
	cr_assert(!rj.done, "answered once the new member id is durable");
	cr_assert_eq(h_flush(&h, 0), 1);
	cr_assert(rj.done);
	cr_assert_eq(rj.err, 0);
	cr_assert_eq(rj.gen, 1, "no new generation");
	cr_assert_str_neq(rj.member, old);
	cr_assert_str_eq(h_state(&h, G), "Stable");
	h_sync(&h, &sj, G, rj.member, 1, NULL, 0);
	cr_assert(sj.done);
	cr_assert_eq(sj.err, 0);
	cr_assert_eq(sj.alen, 2);
	cr_assert(!memcmp(sj.assign, "P0", 2), "the old assignment is kept");
	/* the old incarnation is fenced */
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(old), S("inst-1"), 1), CTL_ERR_FENCED_INSTANCE_ID);
	struct ctl_leave_member lm = { .member_id = S(old), .instance_id = S("inst-1") };
	ctl_group_leave(h.c, S(G), &lm, 1);
	cr_assert_eq(lm.error, CTL_ERR_FENCED_INSTANCE_ID);
	struct res fj;
	h_join(&h, &fj, G, old, "inst-1");
	cr_assert_eq(fj.err, CTL_ERR_FENCED_INSTANCE_ID);
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(rj.member), S("inst-1"), 1), 0);
	h_fini(&h);
}

Test(ctl_group, static_member_that_stays_away_is_kept_through_session_timeout_then_removed)
{
	struct h h;
	h_init(&h);
	struct res r1, s1;
	h_join(&h, &r1, G, "", "inst-1");
	h_tick(&h, 3000);
	cr_assert(r1.done);
	struct ctl_sync_assignment as[1] = { { S(r1.member), S("P") } };
	h_sync(&h, &s1, G, r1.member, 1, as, 1);
	h_flush(&h, 0);
	h_tick(&h, 9000);
	cr_assert_str_eq(h_state(&h, G), "Stable", "within the session timeout nothing happens");
	h_tick(&h, 1000);
	cr_assert_str_eq(h_state(&h, G), "Empty", "after it the member is removed");
	h_fini(&h);
}

Test(ctl_group, leave_by_instance_id_only)
{
	struct h h;
	h_init(&h);
	struct res r1, s1;
	h_join(&h, &r1, G, "", "inst-9");
	h_tick(&h, 3000);
	struct ctl_sync_assignment as[1] = { { S(r1.member), S("P") } };
	h_sync(&h, &s1, G, r1.member, 1, as, 1);
	h_flush(&h, 0);
	struct ctl_leave_member lm[2] = { { .member_id = S(""), .instance_id = S("inst-9") },
	                                  { .member_id = S(""), .instance_id = S("inst-unknown") } };
	ctl_group_leave(h.c, S(G), lm, 2);
	cr_assert_eq(lm[0].error, 0);
	cr_assert_eq(lm[1].error, CTL_ERR_UNKNOWN_MEMBER_ID);
	cr_assert_str_eq(h_state(&h, G), "Empty");
	h_fini(&h);
}

Test(ctl_group, protocol_selection_and_inconsistent_protocols)
{
	struct h h;
	h_init(&h);
	const struct ctl_join_protocol p1[] = { { S("range"), S("x") }, { S("roundrobin"), S("y") } };
	const struct ctl_join_protocol p2[] = { { S("roundrobin"), S("z") }, { S("range"), S("w") } };
	const struct ctl_join_protocol p3[] = { { S("roundrobin"), S("q") } };
	const struct ctl_join_protocol p4[] = { { S("sticky"), S("q") } };
	struct res r1, r2, r3, bad;
	h_join_p(&h, &r1, G, "", NULL, p1, 2, "consumer");
	h_join_p(&h, &r1, G, r1.member, NULL, p1, 2, "consumer");
	h_join_p(&h, &r2, G, "", NULL, p2, 2, "consumer");
	h_join_p(&h, &r2, G, r2.member, NULL, p2, 2, "consumer");
	h_join_p(&h, &r3, G, "", NULL, p3, 1, "consumer");
	h_join_p(&h, &r3, G, r3.member, NULL, p3, 1, "consumer");
	h_join_p(&h, &bad, G, "", NULL, p4, 1, "consumer");
	cr_assert_eq(bad.err, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL);
	h_join_p(&h, &bad, G, "", NULL, p3, 1, "connect");
	cr_assert_eq(bad.err, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL);
	h_tick(&h, 30000);
	cr_assert(r1.done && r2.done && r3.done);
	cr_assert_str_eq(r1.proto, "roundrobin", "the only protocol every member supports");
	/* any protocol type passes through: a "connect" group in another id */
	struct res c1;
	h_join_p(&h, &c1, "connect-cluster", "", NULL, p4, 1, "connect");
	h_join_p(&h, &c1, "connect-cluster", c1.member, NULL, p4, 1, "connect");
	h_tick(&h, 3000);
	cr_assert(c1.done);
	cr_assert_str_eq(c1.ptype, "connect");
	cr_assert_str_eq(c1.proto, "sticky");
	/* an empty protocol type or protocol list is refused on an empty group */
	h_join_p(&h, &bad, "g2", "", NULL, p4, 1, "");
	cr_assert_eq(bad.err, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL);
	h_join_p(&h, &bad, "g3", "", NULL, p4, 0, "consumer");
	cr_assert_eq(bad.err, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL);
	h_fini(&h);
}

Test(ctl_group, group_max_size)
{
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	cfg.max_size = 2;
	struct h h;
	h_init_cfg(&h, &cfg, true);
	struct res r1, r2, r3;
	h_join_new(&h, &r1, G);
	h_join_new(&h, &r2, G);
	h_join(&h, &r3, G, "", NULL);
	cr_assert(r3.done);
	cr_assert_eq(r3.err, CTL_ERR_GROUP_MAX_SIZE_REACHED);
	h_tick(&h, 6000);
	cr_assert(r1.done && r2.done);
	cr_assert_eq(r1.n_members + r2.n_members, 2);
	h_fini(&h);
}

Test(ctl_group, bad_requests_get_kafka_errors)
{
	struct h h;
	h_init(&h);
	struct res r;
	struct ctl_join_req rq = {
		.group_id = S(G), .member_id = S(""), .instance_id = NUL, .client_id = S("c"), .client_host = S("h"),
		.protocol_type = S("consumer"), .session_timeout_ms = 5999, .rebalance_timeout_ms = 1000,
		.protocols = proto_range, .n_protocols = 1, .require_known_member_id = true,
	};
	ctl_group_join(h.c, &rq, &r);
	cr_assert_eq(r.err, CTL_ERR_INVALID_SESSION_TIMEOUT);
	rq.session_timeout_ms = 1800001;
	ctl_group_join(h.c, &rq, &r);
	cr_assert_eq(r.err, CTL_ERR_INVALID_SESSION_TIMEOUT);
	rq.session_timeout_ms = 10000;
	rq.group_id = S("");
	ctl_group_join(h.c, &rq, &r);
	cr_assert_eq(r.err, CTL_ERR_INVALID_GROUP_ID);
	h_join(&h, &r, "unknown", "some-member", NULL);
	cr_assert_eq(r.err, CTL_ERR_UNKNOWN_MEMBER_ID);
	cr_assert_str_eq(h_state(&h, "unknown"), "Dead", "a refused join leaves no group behind");
	h_sync(&h, &r, "unknown", "some-member", 1, NULL, 0);
	cr_assert_eq(r.err, CTL_ERR_UNKNOWN_MEMBER_ID);
	char a[160], b[160];
	two_stable(&h, a, b);
	h_sync(&h, &r, G, a, 7, NULL, 0);
	cr_assert_eq(r.err, CTL_ERR_ILLEGAL_GENERATION);
	h_sync(&h, &r, G, "nobody", 1, NULL, 0);
	cr_assert_eq(r.err, CTL_ERR_UNKNOWN_MEMBER_ID);
	h_join(&h, &r, G, "nobody", NULL);
	cr_assert_eq(r.err, CTL_ERR_UNKNOWN_MEMBER_ID);
	struct ctl_sync_req sq = { .group_id = S(G), .member_id = S(a), .instance_id = NUL,
	                           .protocol_type = S("connect"), .protocol_name = NUL, .generation = 1 };
	ctl_group_sync(h.c, &sq, &r);
	cr_assert_eq(r.err, CTL_ERR_INCONSISTENT_GROUP_PROTOCOL);
	h_fini(&h);
}

Test(ctl_group, loading_answers)
{
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	struct h h;
	h_init_cfg(&h, &cfg, false);
	struct res r;
	h_join(&h, &r, G, "", NULL);
	cr_assert_eq(r.err, CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	h_sync(&h, &r, G, "m", 1, NULL, 0);
	cr_assert_eq(r.err, CTL_ERR_REBALANCE_IN_PROGRESS, "Kafka sends members back to JoinGroup");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S("m"), NUL, 1), 0, "Kafka answers heartbeats blindly");
	struct ctl_leave_member lm = { .member_id = S("m"), .instance_id = NUL };
	cr_assert_eq(ctl_group_leave(h.c, S(G), &lm, 1), CTL_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	cr_assert(ctl_coord_loading(h.c));
	ctl_coord_load_done(h.c);
	cr_assert(!ctl_coord_loading(h.c));
	h_fini(&h);
}

Test(ctl_group, failed_assignment_store_sends_members_back_to_join)
{
	struct h h;
	h_init(&h);
	struct res r1, s1;
	h_join_new(&h, &r1, G);
	h_tick(&h, 3000);
	struct ctl_sync_assignment as[1] = { { S(r1.member), S("P") } };
	h_sync(&h, &s1, G, r1.member, 1, as, 1);
	h_flush(&h, 19 /* NOT_ENOUGH_REPLICAS */);
	cr_assert(s1.done);
	cr_assert_eq(s1.err, CTL_ERR_COORDINATOR_NOT_AVAILABLE);
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance");
	h_fini(&h);
}

Test(ctl_group, follower_that_never_syncs_is_removed)
{
	struct h h;
	h_init(&h);
	struct res r1, r2, s;
	h_join_new(&h, &r1, G);
	h_join_new(&h, &r2, G);
	h_tick(&h, 6000);
	struct res *ld = r1.n_members ? &r1 : &r2, *fl = ld == &r1 ? &r2 : &r1;
	h_sync(&h, &s, G, ld->member, 1, NULL, 0);
	h_flush(&h, 0);
	cr_assert_str_eq(h_state(&h, G), "Stable");
	for (int i = 0; i < 10; i++) {
		h_tick(&h, 3000);
		ctl_group_heartbeat(h.c, S(G), S(ld->member), NUL, 1);
		ctl_group_heartbeat(h.c, S(G), S(fl->member), NUL, 1);
	}
	cr_assert_str_eq(h_state(&h, G), "PreparingRebalance", "pending sync expired after the rebalance timeout");
	cr_assert_eq(ctl_group_heartbeat(h.c, S(G), S(fl->member), NUL, 1), CTL_ERR_UNKNOWN_MEMBER_ID);
	h_fini(&h);
}

Test(ctl_group, hundred_members_reach_stable)
{
	struct h h;
	h_init(&h);
	static struct res r[100];
	for (int i = 0; i < 100; i++)
		h_join_new(&h, &r[i], G);
	h_tick(&h, 6000);
	int leaders = 0;
	for (int i = 0; i < 100; i++) {
		cr_assert(r[i].done);
		cr_assert_eq(r[i].gen, 1);
		leaders += r[i].n_members == 100;
	}
	cr_assert_eq(leaders, 1);
	h_fini(&h);
}
