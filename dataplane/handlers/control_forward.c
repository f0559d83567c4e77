/*
 * dataplane/handlers/control_forward.c: the place where coordinator APIs (groups, committed
 * offsets, producer ids, transactions) leave the dataplane for the control process; the link
 * itself is dataplane/control_link.c.  APIs the control process does not serve yet close the
 * connection, as a broker that does not know an API does.
 *
 * What only the dataplane knows goes along with the request: the topic registry.  Kafka's
 * KafkaApis answers the partitions of an OffsetCommit or TxnOffsetCommit whose topic or
 * partition does not exist with UNKNOWN_TOPIC_OR_PARTITION before the coordinator sees them;
 * here their positions travel in the link frame and the control process leaves them out.
 */
#include "handlers.h"
#include "../control_link.h"

bool dp_control_serves(int16_t api_key)
{
	return dp_control_link_serves(api_key);
}

static bool known(const struct dp_snap *s, struct kp_str topic, int32_t partition)
{
	const struct dp_topic *t = dp_topic_by_str(s, topic);
	return t && partition >= 0 && partition < t->nparts;
}

/* The positions (over every topic's partitions, in request order) of partitions that do not
 * exist, in the request arena; *n = 0 when all exist.  NULL with *n = -1: out of memory. */
static int32_t *unknown_partitions(struct dp_req *req, void *msg, int32_t *n)
{
	const struct dp_snap *s = dp_meta_snap(dp_req_broker(req)->meta);
	int32_t total = 0, k = 0;
	*n = 0;
	if (req->api_key == KP_API_OFFSET_COMMIT) {
		struct kp_offset_commit_req *m = msg;
		for (int32_t t = 0; t < m->topics.n; t++)
			total += m->topics.items[t].partitions.n > 0 ? m->topics.items[t].partitions.n : 0;
	} else if (req->api_key == KP_API_TXN_OFFSET_COMMIT) {
		struct kp_txn_offset_commit_req *m = msg;
		for (int32_t t = 0; t < m->topics.n; t++)
			total += m->topics.items[t].partitions.n > 0 ? m->topics.items[t].partitions.n : 0;
	}
	if (!total)
		return NULL;
	int32_t *out = dp_req_array(req, total, sizeof(int32_t));
	if (!out) {
		*n = -1;
		return NULL;
	}
	if (req->api_key == KP_API_OFFSET_COMMIT) {
		struct kp_offset_commit_req *m = msg;
		for (int32_t t = 0; t < m->topics.n; t++)
			for (int32_t i = 0; i < m->topics.items[t].partitions.n; i++, k++)
				if (!known(s, m->topics.items[t].name, m->topics.items[t].partitions.items[i].partition_index))
					out[(*n)++] = k;
	} else {
		struct kp_txn_offset_commit_req *m = msg;
		for (int32_t t = 0; t < m->topics.n; t++)
			for (int32_t i = 0; i < m->topics.items[t].partitions.n; i++, k++)
				if (!known(s, m->topics.items[t].name, m->topics.items[t].partitions.items[i].partition_index))
					out[(*n)++] = k;
	}
	return out;
}

void dp_control_forward(struct dp_req *req, void *msg)
{
	if (!dp_control_link_serves(req->api_key)) {
		RT_INFO("%s: api %d is not served; closing the connection", req->conn->peer, req->api_key);
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
	int32_t n;
	int32_t *unknown = unknown_partitions(req, msg, &n);
	if (n < 0) {
		req->close_after = true;  /* the request arena is full: as a request too large */
		dp_req_finish(req);
		return;
	}
	dp_control_link_forward(req, msg, unknown, n);
}
