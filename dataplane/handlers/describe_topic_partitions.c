/*
 * dataplane/handlers/describe_topic_partitions.c: DescribeTopicPartitions (key 75): topics
 * (all when none are named) with their partitions, paged as Kafka pages them
 * (DescribeTopicPartitionsRequestHandler, KRaftMetadataCache.getTopicMetadataForDescribeTopic-
 * Response): the topics are taken once each, sorted by name, from the cursor's topic on (when
 * none are named, the cursor's topic is taken even if it has been deleted since, so that the
 * pages go on past it); the cursor's partition index starts its topic, every other starts at 0.
 * At most min(response_partition_limit, 2000) partitions are answered (Kafka's
 * max.request.partition.size.limit); a topic cut short gets the next cursor, and when the limit
 * is used up at a topic's end the cursor names the next topic at partition 0.  Named topics
 * that do not include the cursor's topic are INVALID_REQUEST, each.
 */
#include <stdlib.h>

#include "handlers.h"

#define DTP_MAX_PARTITIONS 2000   /* Kafka's max.request.partition.size.limit default */

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

/* Byte order of two wire strings (a null one as empty), shorter first on a common prefix: the
 * order of Java's String.compareTo for the names Kafka allows. */
static int name_cmp(struct kp_str a, struct kp_str b)
{
	int32_t la = a.len > 0 ? a.len : 0, lb = b.len > 0 ? b.len : 0;
	int c = memcmp(a.ptr ? a.ptr : "", b.ptr ? b.ptr : "", (size_t)(la < lb ? la : lb));
	return c ? c : (la > lb) - (la < lb);
}

static int name_qcmp(const void *a, const void *b)
{
	return name_cmp(*(const struct kp_str *)a, *(const struct kp_str *)b);
}

static bool internal_name(struct kp_str n)
{
	static const char *const names[] = { "__consumer_offsets", "__transaction_state" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n.len == (int32_t)strlen(names[i]) && !memcmp(n.ptr, names[i], (size_t)n.len))
			return true;
	return false;
}

/* The request names topics but not the cursor's: every named topic is INVALID_REQUEST, as
 * Kafka's error response lists them. */
static void refuse(struct dp_req *req, const struct kp_describe_topic_partitions_req *m,
                   struct kp_describe_topic_partitions_resp *resp)
{
	DP_ARRAY(req, resp->topics, m->topics.n);
	for (int32_t i = 0; i < resp->topics.n; i++) {
		struct kp_describe_topic_partitions_resp_topic *o = &resp->topics.items[i];
		o->error_code = KP_ERR_INVALID_REQUEST;
		o->name = m->topics.items[i].name;
		o->topic_authorized_operations = INT32_MIN;
	}
}

void dp_h_describe_topic_partitions(struct dp_req *req, void *msg)
{
	struct kp_describe_topic_partitions_req *m = msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_describe_topic_partitions_resp resp;
	kp_describe_topic_partitions_resp_init(&resp);
	const struct dp_snap *snap = dp_meta_snap(b->meta);
	const struct kp_describe_topic_partitions_req_cursor *cur = m->cursor;
	bool all = m->topics.n <= 0;

	/* The names to answer, sorted, each once, none before the cursor's topic. */
	int32_t cap = (all ? snap->n : m->topics.n) + (cur ? 1 : 0);
	struct kp_str *names = dp_req_array(req, cap, sizeof(*names));
	int32_t nn = 0;
	bool has_cursor_topic = false;
	for (int32_t i = 0; names && i < cap - (cur ? 1 : 0); i++) {
		struct kp_str n = all ? dp_str(snap->t[i]->name) : m->topics.items[i].name;
		if (cur && name_cmp(n, cur->topic_name) < 0)
			continue;
		has_cursor_topic |= cur && !name_cmp(n, cur->topic_name);
		names[nn++] = n;
	}
	if (cur && !has_cursor_topic) {
		if (!all) {
			refuse(req, m, &resp);
			dp_req_respond(req, &resp);
			return;
		}
		if (names)
			names[nn++] = cur->topic_name;   /* deleted since the last page */
	}
	if (nn > 1)
		qsort(names, (size_t)nn, sizeof(*names), name_qcmp);

	int32_t remaining = m->response_partition_limit < DTP_MAX_PARTITIONS ? m->response_partition_limit
	                                                                     : DTP_MAX_PARTITIONS;
	DP_ARRAY(req, resp.topics, nn);
	int32_t out = 0;
	for (int32_t i = 0; i < nn && resp.topics.items; i++) {
		if (i > 0 && !name_cmp(names[i], names[i - 1]))
			continue;
		if (remaining < 0)
			break;     /* Kafka's loop answers nothing for a negative limit */
		if (remaining == 0) {
			/* The limit ended with the topic before: the next page starts here. */
			resp.next_cursor = rt_arena_calloc(&req->arena, 1, sizeof(*resp.next_cursor));
			if (resp.next_cursor)
				resp.next_cursor->topic_name = names[i];
			break;
		}
		struct kp_describe_topic_partitions_resp_topic *o = &resp.topics.items[out++];
		const struct dp_topic *t = dp_topic_by_str(snap, names[i]);
		o->name = t ? dp_str(t->name) : names[i];
		o->topic_authorized_operations = INT32_MIN;
		if (!t) {
			const char *why;
			o->error_code = dp_topic_name_check(names[i].ptr ? names[i].ptr : "",
			                                    names[i].len > 0 ? (size_t)names[i].len : 0, &why);
			if (!o->error_code)
				o->error_code = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			o->is_internal = internal_name(names[i]);
			continue;
		}
		memcpy(o->topic_id, t->id, 16);
		o->is_internal = t->internal;
		int32_t first = cur && !name_cmp(names[i], cur->topic_name) ? cur->partition_index : 0;
		if (first < 0)
			first = 0;
		int64_t end = (int64_t)first + remaining;
		int32_t upper = end < t->nparts ? (int32_t)end : t->nparts;
		int32_t n = upper > first ? upper - first : 0;
		DP_ARRAY(req, o->partitions, n);
		for (int32_t k = 0; k < o->partitions.n; k++)
			fill_part(req, t, first + k, &o->partitions.items[k]);
		if (upper < t->nparts) {
			resp.next_cursor = rt_arena_calloc(&req->arena, 1, sizeof(*resp.next_cursor));
			if (resp.next_cursor) {
				resp.next_cursor->topic_name = o->name;
				resp.next_cursor->partition_index = upper;
			}
			break;
		}
		remaining -= n;
	}
	resp.topics.n = out;
	dp_req_respond(req, &resp);
}
