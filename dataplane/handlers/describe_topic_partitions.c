/*
 * dataplane/handlers/describe_topic_partitions.c: DescribeTopicPartitions (key 75): topics
 * (all when none are named) with their partitions, sorted by name, paged by
 * response_partition_limit and the cursor as Kafka pages them.
 */
#include "handlers.h"

static void fill_part(struct dp_req *req, const struct dp_topic *t, int32_t p,
                      struct kp_describe_topic_partitions_resp_partition *o)
{
	int32_t leader = dp_leader_node(dp_req_broker(req), t, p);
	o->partition_index = p;
	o->leader_id = leader;
	o->leader_epoch = 0;
	DP_ARRAY(req, o->replica_nodes, 1);
	DP_ARRAY(req, o->isr_nodes, 1);
	if (o->replica_nodes.n)
		o->replica_nodes.items[0] = leader;
	if (o->isr_nodes.n)
		o->isr_nodes.items[0] = leader;
	o->eligible_leader_replicas.n = -1;
	o->last_known_elr.n = -1;
	o->offline_replicas.n = 0;
}

void dp_h_describe_topic_partitions(struct dp_req *req, void *msg)
{
	struct kp_describe_topic_partitions_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_describe_topic_partitions_resp resp;
	kp_describe_topic_partitions_resp_init(&resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	int32_t limit = m->response_partition_limit > 0 ? m->response_partition_limit : 2000;
	int nt = m->topics.n > 0 ? m->topics.n : snap->n;
	DP_ARRAY(req, resp.topics, nt);
	int out = 0, used = 0;
	bool started = m->cursor == NULL;
	for (int i = 0; i < nt && resp.topics.items; i++) {
		struct kp_describe_topic_partitions_resp_topic *o = &resp.topics.items[out];
		const struct dp_topic *t = m->topics.n > 0 ? dp_topic_by_str(snap, m->topics.items[i].name) : snap->t[i];
		struct kp_str name = t ? dp_str(t->name) : m->topics.items[i].name;
		int32_t first = 0;
		if (!started) {
			struct kp_str cn = m->cursor->topic_name;
			if (cn.len != name.len || (name.len > 0 && memcmp(cn.ptr, name.ptr, (size_t)name.len)))
				continue;
			started = true;
			first = m->cursor->partition_index;
		}
		o->name = name;
		o->topic_authorized_operations = INT32_MIN;
		out++;
		if (!t) {
			o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		memcpy(o->topic_id, t->id, 16);
		o->is_internal = t->internal;
		int32_t n = t->nparts - first;
		if (n < 0)
			n = 0;
		if (n > limit - used)
			n = limit - used;
		DP_ARRAY(req, o->partitions, n);
		for (int32_t k = 0; k < o->partitions.n; k++)
			fill_part(req, t, first + k, &o->partitions.items[k]);
		used += o->partitions.n;
		if (first + n < t->nparts) {
			resp.next_cursor = rt_arena_alloc(&req->arena, sizeof(*resp.next_cursor));
			if (resp.next_cursor) {
				resp.next_cursor->topic_name = name;
				resp.next_cursor->partition_index = first + n;
			}
			break;
		}
	}
	resp.topics.n = out;
	dp_req_respond(req, &resp);
}
