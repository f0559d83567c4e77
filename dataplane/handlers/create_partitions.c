/*
 * dataplane/handlers/create_partitions.c: CreatePartitions (key 37).  Grows topics to the
 * requested count (never shrinks: INVALID_PARTITIONS with Kafka's message); new partitions get owner shards as at
 * creation, and the registry is persisted before the answer.  A manual assignment names this
 * broker or, in shard-aware mode, the node of the shard that is to own the new partition.  A topic some of whose new partitions cannot be opened (out of file descriptors, a
 * failing disk) is answered with the error and goes back to its partitions before the request:
 * the registry's count is restored and what was opened of the new ones deleted (offload.h).
 */
#include "handlers.h"
#include "offload.h"

/* On the connection's shard: topic i was grown but a new partition could not be opened. */
static void cp_open_failed(struct dp_off *off, int32_t i, int err)
{
	struct kp_create_partitions_resp *resp = off->resp;
	struct kp_create_partitions_resp_topic_result *o = &resp->results.items[i];
	o->error_code = dp_off_open_error(off, err, "the topic keeps the partitions it had", &o->error_message);
}

static void cp_replicas(const void *list, int32_t k, int32_t *partition, const int32_t **ids, int32_t *nids)
{
	const struct kp_create_partitions_req_assignment *a =
		&((const struct kp_create_partitions_req_topic *)list)->assignments.items[k];
	*partition = k; /* the k-th new partition */
	*ids = a->broker_ids.items;
	*nids = a->broker_ids.n;
}

/* The owner shards topic q's assignments name for its new partitions, checked as Kafka checks
 * them with one replica per partition (dp_owners_assign); `was` is the topic as last seen (NULL:
 * the registry answers UNKNOWN_TOPIC_OR_PARTITION).  Returns 0 with *owners (request arena, one
 * per new partition: the shard, or -1 where the registry picks; NULL without assignments), or
 * INVALID_REPLICA_ASSIGNMENT with *msg. */
static int16_t cp_assignments(struct dp_req *req, const struct kp_create_partitions_req_topic *q, const struct dp_topic *was,
                              int16_t **owners, struct kp_str *msg)
{
	*owners = NULL;
	if (q->assignments.n < 0 || !was || q->count <= was->nparts)
		return 0;
	int32_t adding = q->count - was->nparts;
	if (q->assignments.n != adding) {
		*msg = dp_req_msg(req, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.",
		                  adding, q->assignments.n);
		return KP_ERR_INVALID_REPLICA_ASSIGNMENT;
	}
	int16_t *own = dp_req_array(req, adding, sizeof(*own));
	if (!own) {
		*msg = dp_str("The request's assignments do not fit in the broker's per-request memory");
		return KP_ERR_INVALID_REQUEST;
	}
	struct dp_owners_nodes nodes = dp_assign_nodes(dp_req_broker(req));
	char text[200];
	int16_t e = dp_owners_assign(&nodes, q, adding, cp_replicas, true, own, text, sizeof(text));
	if (e) {
		*msg = dp_req_msg(req, "%s", text);
		return e;
	}
	*owners = own;
	return 0;
}

/* On the shard's file worker: the registry write blocks (offload.h). */
static void cp_run(struct dp_off *off)
{
	struct dp_req *req = off->req;
	struct kp_create_partitions_req *m = off->msg;
	struct dp_broker *b = dp_req_broker(req);
	struct kp_create_partitions_resp *resp = off->resp;
	kp_create_partitions_resp_init(resp);
	DP_ARRAY(req, resp->results, m->topics.n);
	off->open = dp_req_array(req, resp->results.n, sizeof(*off->open));  /* per topic: grown now */
	off->nopen = resp->results.n;
	off->open_first = dp_req_array(req, resp->results.n, sizeof(*off->open_first));
	off->open_failed = cp_open_failed;
	/* A topic named twice is refused at every occurrence (an empty name is left to the
	 * registry's UNKNOWN_TOPIC_OR_PARTITION). */
	struct dp_dup_name *keys = dp_req_array(req, resp->results.n, sizeof(*keys));
	int32_t nkeys = 0;
	for (int32_t i = 0; keys && i < resp->results.n; i++)
		if (m->topics.items[i].name.len > 0)
			keys[nkeys++] = (struct dp_dup_name){ 0, m->topics.items[i].name, i };
	bool *dup = dp_req_dup_marks(req, keys, nkeys, resp->results.n);
	for (int32_t i = 0; i < resp->results.n; i++) {
		struct kp_create_partitions_req_topic *q = &m->topics.items[i];
		struct kp_create_partitions_resp_topic_result *o = &resp->results.items[i];
		o->name = q->name;
		o->error_message = (struct kp_str){ NULL, -1 };
		if (!dup || dup[i]) {
			o->error_code = KP_ERR_INVALID_REQUEST;
			o->error_message = dp_str(dup ? "Duplicate topic in the request"
			                              : "The request's topics do not fit in the broker's per-request memory");
			continue;
		}
		const char *why = NULL;
		const struct dp_topic *was = dp_topic_by_str(dp_meta_snap(b->meta), q->name);
		int16_t *owners = NULL;
		o->error_code = cp_assignments(req, q, was, &owners, &o->error_message);
		if (o->error_code)
			continue;
		o->error_code = dp_meta_add_partitions(b->meta, q->name.len > 0 ? q->name.ptr : "",
		                                       q->name.len > 0 ? (size_t)q->name.len : 0, q->count, owners,
		                                       owners ? q->count - was->nparts : 0, m->validate_only, &why);
		if (o->error_code && why)
			o->error_message = dp_str(why);
		const struct dp_topic *now = o->error_code == KP_ERR_INVALID_PARTITIONS
		                             ? dp_topic_by_str(dp_meta_snap(b->meta), q->name) : NULL;
		if (now && q->count == now->nparts)   /* Kafka's words (ReplicationControlManager) */
			o->error_message = dp_req_msg(req, "Topic already has %d partition(s).", now->nparts);
		else if (now && q->count < now->nparts)
			o->error_message = dp_req_msg(req, "The topic %s currently has %d partition(s); %d would not be an increase.",
			                              now->name, now->nparts, q->count);
		if (!o->error_code && !m->validate_only && off->open && off->open_first && was) {
			off->open[i] = dp_topic_by_str(dp_meta_snap(b->meta), q->name);
			off->open_first[i] = was->nparts;
		}
	}
}

void dp_h_create_partitions(struct dp_req *req, void *msg)
{
	dp_off_answer(req, msg, sizeof(struct kp_create_partitions_resp), cp_run, NULL);
}
