/*
 * The coordinator APIs on the wire: request frames built with the generated encoders go
 * through ctl_handle, and the response bodies handed to `reply` are decoded with the generated
 * decoders, over several versions of each API.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/chain.h"
#include "control/handlers.h"
#include "kp_errors.h"
#include "kp_msgs.h"

struct t {
	struct ctl_handlers hs;
	struct ctl_coord *c;
	struct ctl_append *q[64];
	int nq;
	uint8_t body[1 << 16];
	size_t len;
	int answers;
	bool closed;
	uint64_t last_id;
	int64_t now;
	struct rt_arena a;
};

static void reply(void *ctx, int origin, uint64_t id, const uint8_t *body, size_t len)
{
	struct t *t = ctx;
	cr_assert_eq(origin, 7);
	t->answers++;
	t->last_id = id;
	t->closed = body == NULL;
	if (body) {
		cr_assert_lt(len, sizeof(t->body));
		memcpy(t->body, body, len);
	}
	t->len = len;
}

static void append(void *ctx, struct ctl_append *a)
{
	struct t *t = ((struct ctl_handlers *)ctx)->ctx;
	t->q[t->nq++] = a;
}

static void rnd(void *ctx, uint8_t *p, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 37 + 11);
}

static void setup(struct t *t, bool loaded)
{
	memset(t, 0, sizeof(*t));
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	struct ctl_coord_ops ops = {
		.ctx = &t->hs, .join_done = ctl_handlers_join_done, .sync_done = ctl_handlers_sync_done,
		.commit_done = ctl_handlers_commit_done, .append = append, .random = rnd,
	};
	t->now = 5000000;
	t->c = ctl_coord_create(&cfg, &ops, t->now);
	t->hs.coord = t->c;
	t->hs.reply = reply;
	t->hs.ctx = t;
	if (loaded)
		ctl_coord_load_done(t->c);
	rt_arena_init(&t->a, 0, 1 << 24);
}

static void teardown(struct t *t)
{
	for (int i = 0; i < t->nq; i++)
		ctl_coord_append_done(t->c, t->q[i], 15);
	ctl_coord_destroy(t->c);
	ctl_handlers_fini(&t->hs);
	rt_arena_fini(&t->a);
}

static void flush(struct t *t)
{
	while (t->nq) {
		struct ctl_append *a = t->q[0];
		memmove(t->q, t->q + 1, (size_t)(t->nq - 1) * sizeof(*t->q));
		t->nq--;
		ctl_coord_append_done(t->c, a, 0);
	}
}

/* Sends one request (header + body, no size prefix); returns ctl_handle's result. */
static int send(struct t *t, int16_t key, int16_t v, const void *req)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = key;
	h.request_api_version = v;
	h.correlation_id = 42;
	h.client_id = KP_STR("cli");
	kp_req_hdr_encode(&c, &h);
	kp_api_lookup(key)->req_encode(&c, v, req);
	cr_assert_eq(rt_chain_finish(&c), 0);
	size_t n = rt_chain_len(&c);
	uint8_t *buf = malloc(n);
	cr_assert_eq(rt_chain_flatten(&c, buf), 0);
	rt_chain_fini(&c);
	int rc = ctl_handle(&t->hs, 7, 1000 + (uint64_t)t->answers, &(struct ctl_link_req){ "/127.0.0.1", 10, NULL, 0 }, buf, n);
	free(buf);
	return rc;
}

/* Decodes the last answer as the response of key/v into out. */
static void recv_as(struct t *t, int16_t key, int16_t v, void *out)
{
	struct rt_rd r;
	rt_rd_init(&r, t->body, t->len);
	const struct kp_api_info *info = kp_api_lookup(key);
	info->resp_init(out);
	cr_assert_eq(info->resp_decode(&r, v, &t->a, out), 0);
	cr_assert_eq(rt_rd_left(&r), 0);
}

static struct kp_str S(const char *s) { return KP_STR(s); }

static void join(struct t *t, int16_t v, const char *member, struct kp_join_group_resp *out, bool expect_answer)
{
	struct kp_join_group_req m;
	kp_join_group_req_init(&m);
	struct kp_join_group_req_protocol p;
	kp_join_group_req_protocol_init(&p);
	p.name = S("range");
	static const uint8_t sub[] = { 0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff };
	p.metadata = (struct kp_bytes){ sub, sizeof(sub) };
	m.group_id = S("g");
	m.session_timeout_ms = 10000;
	m.rebalance_timeout_ms = 20000;
	m.member_id = S(member);
	m.protocol_type = S("consumer");
	m.protocols.items = &p;
	m.protocols.n = 1;
	int before = t->answers;
	cr_assert_eq(send(t, KP_API_JOIN_GROUP, v, &m), 0);
	if (!expect_answer) {
		cr_assert_eq(t->answers, before);
		return;
	}
	cr_assert_eq(t->answers, before + 1);
	recv_as(t, KP_API_JOIN_GROUP, v, out);
}

Test(ctl_handlers, group_lifecycle_over_the_wire)
{
	struct t t;
	setup(&t, true);
	struct kp_join_group_resp jr;
	join(&t, 7, "", &jr, true);
	cr_assert_eq(jr.error_code, KP_ERR_MEMBER_ID_REQUIRED);
	char id[128];
	snprintf(id, sizeof(id), "%.*s", jr.member_id.len, jr.member_id.ptr);
	cr_assert(!strncmp(id, "cli-", 4), "member ids start with the client id: %s", id);
	join(&t, 7, id, &jr, false);
	t.now += 3000;
	ctl_coord_tick(t.c, t.now);
	cr_assert_eq(t.answers, 2);
	recv_as(&t, KP_API_JOIN_GROUP, 7, &jr);
	cr_assert_eq(jr.error_code, 0);
	cr_assert_eq(jr.generation_id, 1);
	cr_assert_eq(jr.protocol_type.len, 8);
	cr_assert_eq(jr.members.n, 1);
	cr_assert_eq(jr.members.items[0].metadata.len, 13);

	/* SyncGroup v5: answered when the assignment is durable */
	struct kp_sync_group_req s;
	kp_sync_group_req_init(&s);
	struct kp_sync_group_req_assignment as;
	kp_sync_group_req_assignment_init(&as);
	as.member_id = S(id);
	as.assignment = (struct kp_bytes){ (const uint8_t *)"ASG", 3 };
	s.group_id = S("g");
	s.generation_id = 1;
	s.member_id = S(id);
	s.protocol_type = S("consumer");
	s.protocol_name = S("range");
	s.assignments.items = &as;
	s.assignments.n = 1;
	cr_assert_eq(send(&t, KP_API_SYNC_GROUP, 5, &s), 0);
	cr_assert_eq(t.answers, 2);
	flush(&t);
	cr_assert_eq(t.answers, 3);
	struct kp_sync_group_resp sr;
	recv_as(&t, KP_API_SYNC_GROUP, 5, &sr);
	cr_assert_eq(sr.error_code, 0);
	cr_assert_eq(sr.assignment.len, 3);
	cr_assert(!memcmp(sr.assignment.ptr, "ASG", 3));
	cr_assert_eq(sr.protocol_name.len, 5);

	/* Heartbeat v4 */
	struct kp_heartbeat_req h;
	kp_heartbeat_req_init(&h);
	h.group_id = S("g");
	h.generation_id = 1;
	h.member_id = S(id);
	cr_assert_eq(send(&t, KP_API_HEARTBEAT, 4, &h), 0);
	struct kp_heartbeat_resp hr;
	recv_as(&t, KP_API_HEARTBEAT, 4, &hr);
	cr_assert_eq(hr.error_code, 0);
	h.generation_id = 9;
	send(&t, KP_API_HEARTBEAT, 0, &h);
	recv_as(&t, KP_API_HEARTBEAT, 0, &hr);
	cr_assert_eq(hr.error_code, KP_ERR_ILLEGAL_GENERATION);

	/* OffsetCommit v8 then OffsetFetch v8 and v5 */
	struct kp_offset_commit_req oc;
	kp_offset_commit_req_init(&oc);
	struct kp_offset_commit_req_topic ot;
	kp_offset_commit_req_topic_init(&ot);
	struct kp_offset_commit_req_partition op[2];
	for (int i = 0; i < 2; i++) {
		kp_offset_commit_req_partition_init(&op[i]);
		op[i].partition_index = i;
		op[i].committed_offset = 100 + i;
		op[i].committed_leader_epoch = 4;
		op[i].committed_metadata = S(i ? "" : "md");
	}
	ot.name = S("t");
	ot.partitions.items = op;
	ot.partitions.n = 2;
	oc.group_id = S("g");
	oc.generation_id_or_member_epoch = 1;
	oc.member_id = S(id);
	oc.topics.items = &ot;
	oc.topics.n = 1;
	int before = t.answers;
	cr_assert_eq(send(&t, KP_API_OFFSET_COMMIT, 8, &oc), 0);
	cr_assert_eq(t.answers, before, "not answered before durable");
	flush(&t);
	struct kp_offset_commit_resp ocr;
	recv_as(&t, KP_API_OFFSET_COMMIT, 8, &ocr);
	cr_assert_eq(ocr.topics.n, 1);
	cr_assert_eq(ocr.topics.items[0].partitions.n, 2);
	cr_assert_eq(ocr.topics.items[0].partitions.items[1].error_code, 0);

	struct kp_offset_fetch_req of;
	kp_offset_fetch_req_init(&of);
	struct kp_offset_fetch_req_group fg;
	kp_offset_fetch_req_group_init(&fg);
	fg.group_id = S("g");
	fg.topics.n = -1; /* every committed offset */
	of.groups.items = &fg;
	of.groups.n = 1;
	send(&t, KP_API_OFFSET_FETCH, 8, &of);
	struct kp_offset_fetch_resp ofr;
	recv_as(&t, KP_API_OFFSET_FETCH, 8, &ofr);
	cr_assert_eq(ofr.groups.n, 1);
	cr_assert_eq(ofr.groups.items[0].topics.n, 1);
	cr_assert_eq(ofr.groups.items[0].topics.items[0].partitions.n, 2);
	int64_t sum = 0;
	for (int i = 0; i < 2; i++) {
		sum += ofr.groups.items[0].topics.items[0].partitions.items[i].committed_offset;
		cr_assert_eq(ofr.groups.items[0].topics.items[0].partitions.items[i].committed_leader_epoch, 4);
	}
	cr_assert_eq(sum, 201);

	struct kp_offset_fetch_req of5;
	kp_offset_fetch_req_init(&of5);
	struct kp_offset_fetch_req_topic ft;
	kp_offset_fetch_req_topic_init(&ft);
	int32_t parts[2] = { 0, 5 };
	ft.name = S("t");
	ft.partition_indexes.items = parts;
	ft.partition_indexes.n = 2;
	of5.group_id = S("g");
	of5.topics.items = &ft;
	of5.topics.n = 1;
	send(&t, KP_API_OFFSET_FETCH, 5, &of5);
	recv_as(&t, KP_API_OFFSET_FETCH, 5, &ofr);
	cr_assert_eq(ofr.error_code, 0);
	cr_assert_eq(ofr.topics.items[0].partitions.items[0].committed_offset, 100);
	cr_assert_eq(ofr.topics.items[0].partitions.items[0].metadata.len, 2);
	cr_assert_eq(ofr.topics.items[0].partitions.items[1].committed_offset, -1, "nothing committed: -1");
	cr_assert_eq(ofr.topics.items[0].partitions.items[1].metadata.len, 0);

	/* DescribeGroups v5, ListGroups v4 with a states filter */
	struct kp_describe_groups_req d;
	kp_describe_groups_req_init(&d);
	struct kp_str names[2] = { S("g"), S("nope") };
	d.groups.items = names;
	d.groups.n = 2;
	d.include_authorized_operations = true;
	send(&t, KP_API_DESCRIBE_GROUPS, 5, &d);
	struct kp_describe_groups_resp dr;
	recv_as(&t, KP_API_DESCRIBE_GROUPS, 5, &dr);
	cr_assert_eq(dr.groups.n, 2);
	cr_assert_eq(dr.groups.items[0].group_state.len, 6, "Stable");
	cr_assert_eq(dr.groups.items[0].members.n, 1);
	cr_assert_eq(dr.groups.items[0].members.items[0].member_assignment.len, 3);
	cr_assert_eq(dr.groups.items[0].members.items[0].client_host.len, 10);
	cr_assert_eq(dr.groups.items[1].group_state.len, 4, "Dead");
	cr_assert_eq(dr.groups.items[1].error_code, 0);

	struct kp_list_groups_req l;
	kp_list_groups_req_init(&l);
	struct kp_str st[1] = { S("Empty") };
	l.states_filter.items = st;
	l.states_filter.n = 1;
	send(&t, KP_API_LIST_GROUPS, 4, &l);
	struct kp_list_groups_resp lr;
	recv_as(&t, KP_API_LIST_GROUPS, 4, &lr);
	cr_assert_eq(lr.groups.n, 0);
	l.states_filter.n = 0;
	send(&t, KP_API_LIST_GROUPS, 4, &l);
	recv_as(&t, KP_API_LIST_GROUPS, 4, &lr);
	cr_assert_eq(lr.groups.n, 1);
	cr_assert_eq(lr.groups.items[0].group_state.len, 6);

	/* DeleteGroups while members are there, LeaveGroup v3, then DeleteGroups */
	struct kp_delete_groups_req dg;
	kp_delete_groups_req_init(&dg);
	dg.groups_names.items = names;
	dg.groups_names.n = 2;
	send(&t, KP_API_DELETE_GROUPS, 2, &dg);
	struct kp_delete_groups_resp dgr;
	recv_as(&t, KP_API_DELETE_GROUPS, 2, &dgr);
	cr_assert_eq(dgr.results.items[0].error_code, KP_ERR_NON_EMPTY_GROUP);
	cr_assert_eq(dgr.results.items[1].error_code, KP_ERR_GROUP_ID_NOT_FOUND);

	struct kp_leave_group_req lv;
	kp_leave_group_req_init(&lv);
	struct kp_leave_group_req_member_identity mi[2];
	kp_leave_group_req_member_identity_init(&mi[0]);
	kp_leave_group_req_member_identity_init(&mi[1]);
	mi[0].member_id = S(id);
	mi[1].member_id = S("ghost");
	lv.group_id = S("g");
	lv.members.items = mi;
	lv.members.n = 2;
	send(&t, KP_API_LEAVE_GROUP, 4, &lv);
	struct kp_leave_group_resp lvr;
	recv_as(&t, KP_API_LEAVE_GROUP, 4, &lvr);
	cr_assert_eq(lvr.error_code, 0);
	cr_assert_eq(lvr.members.n, 2);
	cr_assert_eq(lvr.members.items[0].error_code, 0);
	cr_assert_eq(lvr.members.items[1].error_code, KP_ERR_UNKNOWN_MEMBER_ID);
	flush(&t);
	send(&t, KP_API_DELETE_GROUPS, 2, &dg);
	recv_as(&t, KP_API_DELETE_GROUPS, 2, &dgr);
	cr_assert_eq(dgr.results.items[0].error_code, 0);
	teardown(&t);
}

Test(ctl_handlers, offset_delete_over_the_wire)
{
	struct t t;
	setup(&t, true);
	struct kp_offset_commit_req oc;
	kp_offset_commit_req_init(&oc);
	struct kp_offset_commit_req_topic ot;
	kp_offset_commit_req_topic_init(&ot);
	struct kp_offset_commit_req_partition op[2];
	for (int i = 0; i < 2; i++) {
		kp_offset_commit_req_partition_init(&op[i]);
		op[i].partition_index = i;
		op[i].committed_offset = 10 + i;
		op[i].committed_metadata = S("");
	}
	ot.name = S("t");
	ot.partitions.items = op;
	ot.partitions.n = 2;
	oc.group_id = S("od");
	oc.generation_id_or_member_epoch = -1;
	oc.member_id = S("");
	oc.topics.items = &ot;
	oc.topics.n = 1;
	send(&t, KP_API_OFFSET_COMMIT, 8, &oc);
	flush(&t);
	struct kp_offset_delete_req od;
	kp_offset_delete_req_init(&od);
	struct kp_offset_delete_req_topic dt;
	kp_offset_delete_req_topic_init(&dt);
	struct kp_offset_delete_req_partition dp;
	kp_offset_delete_req_partition_init(&dp);
	dp.partition_index = 1;
	dt.name = S("t");
	dt.partitions.items = &dp;
	dt.partitions.n = 1;
	od.group_id = S("od");
	od.topics.items = &dt;
	od.topics.n = 1;
	cr_assert_eq(send(&t, KP_API_OFFSET_DELETE, 0, &od), 0);
	struct kp_offset_delete_resp odr;
	recv_as(&t, KP_API_OFFSET_DELETE, 0, &odr);
	cr_assert_eq(odr.error_code, 0);
	cr_assert_eq(odr.topics.n, 1);
	cr_assert_eq(odr.topics.items[0].partitions.items[0].partition_index, 1);
	cr_assert_eq(odr.topics.items[0].partitions.items[0].error_code, 0);
	struct ctl_offset_value v;
	cr_assert(ctl_offsets_get(t.c, (struct ctl_slice){ "od", 2 }, (struct ctl_slice){ "t", 1 }, 0, &v));
	cr_assert(!ctl_offsets_get(t.c, (struct ctl_slice){ "od", 2 }, (struct ctl_slice){ "t", 1 }, 1, &v));
	od.group_id = S("missing");
	send(&t, KP_API_OFFSET_DELETE, 0, &od);
	recv_as(&t, KP_API_OFFSET_DELETE, 0, &odr);
	cr_assert_eq(odr.error_code, KP_ERR_GROUP_ID_NOT_FOUND);
	teardown(&t);
}

Test(ctl_handlers, old_versions)
{
	struct t t;
	setup(&t, true);
	/* JoinGroup v3: no MEMBER_ID_REQUIRED; the member joins at once */
	struct kp_join_group_resp jr;
	join(&t, 3, "", &jr, false);
	t.now += 3000;
	ctl_coord_tick(t.c, t.now);
	recv_as(&t, KP_API_JOIN_GROUP, 3, &jr);
	cr_assert_eq(jr.error_code, 0);
	cr_assert_eq(jr.generation_id, 1);
	/* LeaveGroup v1: one member, its error is the response's */
	struct kp_leave_group_req lv;
	kp_leave_group_req_init(&lv);
	lv.group_id = S("g");
	lv.member_id = S("ghost");
	send(&t, KP_API_LEAVE_GROUP, 1, &lv);
	struct kp_leave_group_resp lvr;
	recv_as(&t, KP_API_LEAVE_GROUP, 1, &lvr);
	cr_assert_eq(lvr.error_code, KP_ERR_UNKNOWN_MEMBER_ID);
	/* OffsetCommit v2 simple commit to another group; OffsetFetch v1 reads it */
	struct kp_offset_commit_req oc;
	kp_offset_commit_req_init(&oc);
	struct kp_offset_commit_req_topic ot;
	kp_offset_commit_req_topic_init(&ot);
	struct kp_offset_commit_req_partition op;
	kp_offset_commit_req_partition_init(&op);
	op.partition_index = 3;
	op.committed_offset = 77;
	op.committed_metadata = S("x");
	ot.name = S("t");
	ot.partitions.items = &op;
	ot.partitions.n = 1;
	oc.group_id = S("simple");
	oc.generation_id_or_member_epoch = -1;
	oc.member_id = S("");
	oc.topics.items = &ot;
	oc.topics.n = 1;
	send(&t, KP_API_OFFSET_COMMIT, 2, &oc);
	flush(&t);
	struct kp_offset_commit_resp ocr;
	recv_as(&t, KP_API_OFFSET_COMMIT, 2, &ocr);
	cr_assert_eq(ocr.topics.items[0].partitions.items[0].error_code, 0);
	struct kp_offset_fetch_req of;
	kp_offset_fetch_req_init(&of);
	struct kp_offset_fetch_req_topic ft;
	kp_offset_fetch_req_topic_init(&ft);
	int32_t parts[1] = { 3 };
	ft.name = S("t");
	ft.partition_indexes.items = parts;
	ft.partition_indexes.n = 1;
	of.group_id = S("simple");
	of.topics.items = &ft;
	of.topics.n = 1;
	const struct kp_api_info *oi = kp_api_lookup(KP_API_OFFSET_FETCH);
	int16_t v = oi->min_version;
	send(&t, KP_API_OFFSET_FETCH, v, &of);
	struct kp_offset_fetch_resp ofr;
	recv_as(&t, KP_API_OFFSET_FETCH, v, &ofr);
	cr_assert_eq(ofr.topics.items[0].partitions.items[0].committed_offset, 77);
	teardown(&t);
}

Test(ctl_handlers, loading_errors_per_version)
{
	struct t t;
	setup(&t, false);
	struct kp_offset_fetch_req of;
	kp_offset_fetch_req_init(&of);
	struct kp_offset_fetch_req_topic ft;
	kp_offset_fetch_req_topic_init(&ft);
	int32_t parts[1] = { 0 };
	ft.name = S("t");
	ft.partition_indexes.items = parts;
	ft.partition_indexes.n = 1;
	of.group_id = S("g");
	of.topics.items = &ft;
	of.topics.n = 1;
	send(&t, KP_API_OFFSET_FETCH, 5, &of);
	struct kp_offset_fetch_resp ofr;
	recv_as(&t, KP_API_OFFSET_FETCH, 5, &ofr);
	cr_assert_eq(ofr.error_code, KP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	const struct kp_api_info *oi = kp_api_lookup(KP_API_OFFSET_FETCH);
	if (oi->min_version <= 1) {
		send(&t, KP_API_OFFSET_FETCH, 1, &of);
		recv_as(&t, KP_API_OFFSET_FETCH, 1, &ofr);
		cr_assert_eq(ofr.topics.items[0].partitions.items[0].error_code, KP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	}
	struct kp_join_group_resp jr;
	join(&t, 9, "", &jr, true);
	cr_assert_eq(jr.error_code, KP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	cr_assert_eq(jr.protocol_name.len, -1, "v7+: null protocol name with an error");
	teardown(&t);
}

Test(ctl_handlers, bad_frames_are_refused_not_answered)
{
	struct t t;
	setup(&t, true);
	const uint8_t junk[] = { 0, 11, 0 };
	cr_assert_eq(ctl_handle(&t.hs, 7, 1, &(struct ctl_link_req){ "/h", 2, NULL, 0 }, junk, sizeof(junk)), -EBADMSG);
	/* a Produce header: not a coordinator API */
	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_req_hdr h;
	memset(&h, 0, sizeof(h));
	h.request_api_key = KP_API_PRODUCE;
	h.request_api_version = 9;
	h.client_id = S("x");
	kp_req_hdr_encode(&c, &h);
	rt_chain_finish(&c);
	uint8_t buf[256];
	size_t n = rt_chain_len(&c);
	rt_chain_flatten(&c, buf);
	rt_chain_fini(&c);
	cr_assert_eq(ctl_handle(&t.hs, 7, 1, &(struct ctl_link_req){ "/h", 2, NULL, 0 }, buf, n), -ENOTSUP);
	/* a JoinGroup whose body is cut short */
	struct kp_heartbeat_req hb;
	kp_heartbeat_req_init(&hb);
	hb.group_id = S("g");
	hb.member_id = S("m");
	rt_chain_init(&c, 0);
	h.request_api_key = KP_API_HEARTBEAT;
	h.request_api_version = 3;
	kp_req_hdr_encode(&c, &h);
	kp_heartbeat_req_encode(&c, 3, &hb);
	rt_chain_finish(&c);
	n = rt_chain_len(&c);
	rt_chain_flatten(&c, buf);
	rt_chain_fini(&c);
	cr_assert_eq(ctl_handle(&t.hs, 7, 1, &(struct ctl_link_req){ "/h", 2, NULL, 0 }, buf, n - 3), -EBADMSG);
	cr_assert_eq(t.answers, 0);
	cr_assert_eq(t.hs.pending, 0, "nothing kept");
	/* an oversized metadata string gets OFFSET_METADATA_TOO_LARGE */
	static char big[5000];
	memset(big, 'm', sizeof(big) - 1);
	struct kp_offset_commit_req oc;
	kp_offset_commit_req_init(&oc);
	struct kp_offset_commit_req_topic ot;
	kp_offset_commit_req_topic_init(&ot);
	struct kp_offset_commit_req_partition op;
	kp_offset_commit_req_partition_init(&op);
	op.committed_metadata = S(big);
	ot.name = S("t");
	ot.partitions.items = &op;
	ot.partitions.n = 1;
	oc.group_id = S("g2");
	oc.generation_id_or_member_epoch = -1;
	oc.member_id = S("");
	oc.topics.items = &ot;
	oc.topics.n = 1;
	send(&t, KP_API_OFFSET_COMMIT, 8, &oc);
	struct kp_offset_commit_resp ocr;
	recv_as(&t, KP_API_OFFSET_COMMIT, 8, &ocr);
	cr_assert_eq(ocr.topics.items[0].partitions.items[0].error_code, KP_ERR_OFFSET_METADATA_TOO_LARGE);
	teardown(&t);
}
