/*
 * dataplane/control_link.c: supervision of `ringtail-control` and the per-shard links to it
 * (see control_link.h and control/link.h for the frames).
 *
 * Threads: the supervisor thread forks, execs, reaps and restarts the control process; for each
 * incarnation it makes one socketpair per shard and publishes the shard's end in that shard's
 * slot (an atomic exchange; an end never picked up is closed when the next one replaces it).
 * A shard adopts a new end when it next forwards a request, and from then on only that shard
 * touches the link: non-blocking send, a one-shot io_uring poll for answers, its own table of
 * requests waiting for an answer.  When the link dies (the control process exited), every
 * request waiting on it is answered COORDINATOR_NOT_AVAILABLE.
 *
 * Restarts back off from 100 ms doubling to 5 s while incarnations die before they are healthy;
 * an incarnation is healthy once it has written its ready byte (state loaded, fd after the
 * links, `--ready-fd`) and served HEALTHY_MS after it, and the back-off then starts over, so a
 * control process killed again and again is back each time within its load time.
 */
#include "control_link.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/chain.h"
#include "base/bytes.h"
#include "base/ioop.h"
#include "base/log.h"
#include "broker.h"
#include "conn.h"
#include "control/link.h"
#include "handlers/handlers.h"
#include "kp_errors.h"
#include "kp_msgs.h"
#include "router.h"
#include "shard.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* An incarnation that loaded its state and then served this long was healthy: the next restart
 * starts again from BACKOFF_MIN_MS (only a process that dies while loading, or soon after,
 * makes the back-off grow). */
#define HEALTHY_MS 1000
#define STOP_GRACE_MS 5000

/* One incarnation's end of a shard's link. */
struct lconn {
	int fd;
	struct rt_ioop poll_op;
	bool poll_armed;
	bool reading;   /* on_poll is delivering answers: a retire meanwhile leaves c to on_poll */
	bool dead;
	struct shard_link *sl;
};

struct waiting {
	struct waiting *next;
	uint64_t id;
	struct dp_req *req;            /* a client's request, or NULL for the dataplane's own (cb) */
	int16_t key, version;
	void *msg;
	dp_control_cb cb;
	void *cbarg;
};

struct shard_link {
	_Atomic int new_fd;            /* published by the supervisor, -1 when none */
	struct lconn *conn;            /* the shard's current link; NULL before the first */
	struct rt_buf in;
	struct rt_chain out;           /* frames to send: its buffer only (link_send), never segments */
	size_t out_off;
	struct waiting *wait_head, *wait_tail;
	uint64_t next_id;
	struct rt_ioop out_op;
	bool out_armed;
	struct dp_shard *s;
};

static struct {
	struct dp_broker *b;
	struct shard_link *links;      /* one per shard */
	int nlinks;
	pthread_t thread;
	bool started;
	_Atomic bool stopping;
	_Atomic int pid;
	char exe[PATH_MAX];
	char **args;                   /* argv for the control process; owned */
	int nargs;
} g;

bool dp_control_link_serves(int16_t k) { return ctl_link_serves(k); }

int dp_control_pid(void)
{
	return atomic_load(&g.pid);
}

/* ---- answers made here: the control process is not there ---- */

/* OffsetCommit and TxnOffsetCommit answer alike: err for every partition asked, by topic.  Their
 * generated types differ only by prefix (api: kp_offset_commit or kp_txn_offset_commit). */
#define COMMIT_ERROR(api, req, msg, err)                                                          \
	do {                                                                                      \
		struct api##_req *m_ = (msg);                                                      \
		struct api##_resp r_;                                                             \
		api##_resp_init(&r_);                                                             \
		DP_ARRAY(req, r_.topics, m_->topics.n);                                           \
		for (int32_t t_ = 0; t_ < r_.topics.n; t_++) {                                    \
			api##_resp_topic_init(&r_.topics.items[t_]);                              \
			r_.topics.items[t_].name = m_->topics.items[t_].name;                     \
			DP_ARRAY(req, r_.topics.items[t_].partitions,                                  \
			         m_->topics.items[t_].partitions.n);                                \
			for (int32_t i_ = 0; i_ < r_.topics.items[t_].partitions.n; i_++) {       \
				api##_resp_partition_init(&r_.topics.items[t_].partitions.items[i_]); \
				r_.topics.items[t_].partitions.items[i_].partition_index =        \
					m_->topics.items[t_].partitions.items[i_].partition_index; \
				r_.topics.items[t_].partitions.items[i_].error_code = (err);     \
			}                                                                         \
		}                                                                                 \
		dp_req_respond(req, &r_);                                                         \
	} while (0)

/* Kafka's error response of each coordinator API (AbstractRequest.getErrorResponse). */
static void answer_error(struct dp_req *req, int16_t key, int16_t v, void *msg, int16_t err)
{
	switch (key) {
	case KP_API_JOIN_GROUP: {
		struct kp_join_group_resp r;
		kp_join_group_resp_init(&r);
		r.error_code = err;
		r.generation_id = -1;
		r.protocol_name = v >= 7 ? (struct kp_str){ NULL, -1 } : (struct kp_str){ "", 0 };
		r.leader = (struct kp_str){ "", 0 };
		r.member_id = (struct kp_str){ "", 0 };
		r.members.n = 0;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_SYNC_GROUP: {
		struct kp_sync_group_resp r;
		kp_sync_group_resp_init(&r);
		r.error_code = err;
		r.assignment = (struct kp_bytes){ (const uint8_t *)"", 0 };
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_HEARTBEAT: {
		struct kp_heartbeat_resp r;
		kp_heartbeat_resp_init(&r);
		r.error_code = err;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_LEAVE_GROUP: {
		struct kp_leave_group_resp r;
		kp_leave_group_resp_init(&r);
		r.error_code = err;
		r.members.n = 0;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_LIST_GROUPS: {
		struct kp_list_groups_resp r;
		kp_list_groups_resp_init(&r);
		r.error_code = err;
		r.groups.n = 0;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_OFFSET_DELETE: {
		struct kp_offset_delete_resp r;
		kp_offset_delete_resp_init(&r);
		r.error_code = err;
		r.topics.n = 0;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_DESCRIBE_GROUPS: {
		struct kp_describe_groups_req *m = msg;
		struct kp_describe_groups_resp r;
		kp_describe_groups_resp_init(&r);
		DP_ARRAY(req, r.groups, m->groups.n);
		for (int32_t i = 0; i < r.groups.n; i++) {
			kp_describe_groups_resp_described_group_init(&r.groups.items[i]);
			r.groups.items[i].error_code = err;
			r.groups.items[i].group_id = m->groups.items[i];
			r.groups.items[i].group_state = (struct kp_str){ "", 0 };
			r.groups.items[i].protocol_type = (struct kp_str){ "", 0 };
			r.groups.items[i].protocol_data = (struct kp_str){ "", 0 };
			r.groups.items[i].members.n = 0;
		}
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_DELETE_GROUPS: {
		struct kp_delete_groups_req *m = msg;
		struct kp_delete_groups_resp r;
		kp_delete_groups_resp_init(&r);
		DP_ARRAY(req, r.results, m->groups_names.n);
		for (int32_t i = 0; i < r.results.n; i++) {
			kp_delete_groups_resp_deletable_group_result_init(&r.results.items[i]);
			r.results.items[i].group_id = m->groups_names.items[i];
			r.results.items[i].error_code = err;
		}
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_OFFSET_COMMIT:
		COMMIT_ERROR(kp_offset_commit, req, msg, err);
		return;
	case KP_API_TXN_OFFSET_COMMIT:
		COMMIT_ERROR(kp_txn_offset_commit, req, msg, err);
		return;
	case KP_API_OFFSET_FETCH: {
		struct kp_offset_fetch_req *m = msg;
		struct kp_offset_fetch_resp r;
		kp_offset_fetch_resp_init(&r);
		if (v >= 8) {
			DP_ARRAY(req, r.groups, m->groups.n);
			for (int32_t i = 0; i < r.groups.n; i++) {
				kp_offset_fetch_resp_group_init(&r.groups.items[i]);
				r.groups.items[i].group_id = m->groups.items[i].group_id;
				r.groups.items[i].error_code = err;
				r.groups.items[i].topics.n = 0;
			}
		} else if (v >= 2) {
			r.error_code = err;
			r.topics.n = 0;
		} else {
			DP_ARRAY(req, r.topics, m->topics.n);
			for (int32_t t = 0; t < r.topics.n; t++) {
				kp_offset_fetch_resp_topic_init(&r.topics.items[t]);
				r.topics.items[t].name = m->topics.items[t].name;
				DP_ARRAY(req, r.topics.items[t].partitions, m->topics.items[t].partition_indexes.n);
				for (int32_t i = 0; i < r.topics.items[t].partitions.n; i++) {
					struct kp_offset_fetch_resp_partition *p = &r.topics.items[t].partitions.items[i];
					kp_offset_fetch_resp_partition_init(p);
					p->partition_index = m->topics.items[t].partition_indexes.items[i];
					p->committed_offset = -1;
					p->metadata = (struct kp_str){ "", 0 };
					p->error_code = err;
				}
			}
		}
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_INIT_PRODUCER_ID: {
		struct kp_init_producer_id_resp r;
		kp_init_producer_id_resp_init(&r);
		r.error_code = err;
		r.producer_id = -1;
		r.producer_epoch = -1;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_ADD_OFFSETS_TO_TXN: {
		struct kp_add_offsets_to_txn_resp r;
		kp_add_offsets_to_txn_resp_init(&r);
		r.error_code = err;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_END_TXN: {
		struct kp_end_txn_resp r;
		kp_end_txn_resp_init(&r);
		r.error_code = err;
		r.producer_id = -1;
		r.producer_epoch = -1;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_LIST_TRANSACTIONS: {
		struct kp_list_transactions_resp r;
		kp_list_transactions_resp_init(&r);
		r.error_code = err;
		r.unknown_state_filters.n = 0;
		r.transaction_states.n = 0;
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_DESCRIBE_TRANSACTIONS: {
		struct kp_describe_transactions_req *m = msg;
		struct kp_describe_transactions_resp r;
		kp_describe_transactions_resp_init(&r);
		DP_ARRAY(req, r.transaction_states, m->transactional_ids.n);
		for (int32_t i = 0; i < r.transaction_states.n; i++) {
			struct kp_describe_transactions_resp_transaction_state *x = &r.transaction_states.items[i];
			kp_describe_transactions_resp_transaction_state_init(x);
			x->error_code = err;
			x->transactional_id = m->transactional_ids.items[i];
			x->transaction_state = (struct kp_str){ "", 0 };
			x->producer_id = -1;
			x->producer_epoch = -1;
			x->transaction_start_time_ms = -1;
			x->topics.n = 0;
		}
		dp_req_respond(req, &r);
		return;
	}
	case KP_API_ADD_PARTITIONS_TO_TXN: {
		/* v4+ (brokers verifying a transaction) carry the error at the top, as Kafka's
		 * getErrorResponse; v0-3 per partition */
		struct kp_add_partitions_to_txn_req *m = msg;
		struct kp_add_partitions_to_txn_resp r;
		kp_add_partitions_to_txn_resp_init(&r);
		if (v >= 4) {
			r.error_code = err;
			r.results_by_transaction.n = 0;
			dp_req_respond(req, &r);
			return;
		}
		DP_ARRAY(req, r.results_by_topic_v_3_and_below, m->v_3_and_below_topics.n);
		for (int32_t t = 0; t < r.results_by_topic_v_3_and_below.n; t++) {
			const struct kp_add_partitions_to_txn_req_topic *rt = &m->v_3_and_below_topics.items[t];
			struct kp_add_partitions_to_txn_resp_topic_result *o = &r.results_by_topic_v_3_and_below.items[t];
			kp_add_partitions_to_txn_resp_topic_result_init(o);
			o->name = rt->name;
			DP_ARRAY(req, o->results_by_partition, rt->partitions.n);
			for (int32_t k = 0; k < o->results_by_partition.n; k++) {
				kp_add_partitions_to_txn_resp_partition_result_init(&o->results_by_partition.items[k]);
				o->results_by_partition.items[k].partition_index = rt->partitions.items[k];
				o->results_by_partition.items[k].partition_error_code = err;
			}
		}
		dp_req_respond(req, &r);
		return;
	}
	default:
		/* every API ctl_link_serves() names has a case above */
		req->close_after = true;
		dp_req_finish(req);
		return;
	}
}

/* ---- the shard's link ---- */

static void fail_waiting(struct shard_link *sl)
{
	struct waiting *w = sl->wait_head;
	sl->wait_head = sl->wait_tail = NULL;
	while (w) {
		struct waiting *n = w->next;
		if (w->cb)
			w->cb(w->cbarg, NULL, 0, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		else
			answer_error(w->req, w->key, w->version, w->msg, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		free(w);
		w = n;
	}
}

static void conn_retire(struct shard_link *sl)
{
	struct lconn *c = sl->conn;
	sl->conn = NULL;
	rt_buf_reset(&sl->in);
	rt_chain_reset(&sl->out);
	sl->out_off = 0;
	fail_waiting(sl);
	if (!c)
		return;
	c->dead = true;
	if (c->poll_armed) {
		/* The poll completes with POLLHUP once the socket is shut; its completion frees c. */
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	if (c->reading)
		return;         /* on_poll frees it once the answer being delivered returns */
	close(c->fd);
	free(c);
}

static void arm_poll(struct lconn *c);

static void deliver(struct shard_link *sl, const uint8_t *p, size_t n)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int8_t kind = rt_rd_i8(&r);
	uint64_t id = (uint64_t)rt_rd_i64(&r);
	int8_t close_it = rt_rd_i8(&r);
	if (r.err || kind != CTL_LINK_ANSWER)
		return;
	struct waiting **pp = &sl->wait_head, *prev = NULL;
	for (; *pp; prev = *pp, pp = &(*pp)->next)
		if ((*pp)->id == id)
			break;
	struct waiting *w = *pp;
	if (!w)
		return;
	*pp = w->next;
	if (sl->wait_tail == w)
		sl->wait_tail = prev;
	if (w->cb) {
		if (close_it)
			w->cb(w->cbarg, NULL, 0, KP_ERR_UNKNOWN_SERVER_ERROR);
		else
			w->cb(w->cbarg, r.p, rt_rd_left(&r), 0);
		free(w);
		return;
	}
	struct dp_req *req = w->req;
	free(w);
	if (close_it) {
		req->close_after = true;
	} else {
		rt_buf_put(rt_chain_buf(&req->resp), r.p, rt_rd_left(&r));
	}
	dp_req_finish(req);
}

/* Reads every answer there is from c; false when the link is gone.  An answer's callback may
 * retire c (a request it starts picks up a new control process's link): reading stops there. */
static bool link_read(struct shard_link *sl, struct lconn *c)
{
	int fd = c->fd;
	for (;;) {
		if (rt_buf_reserve(&sl->in, 65536))
			return false;
		ssize_t k = recv(fd, sl->in.data + sl->in.len, sl->in.cap - sl->in.len, MSG_DONTWAIT);
		if (k == 0)
			return false;
		if (k < 0)
			return errno == EAGAIN || errno == EINTR;
		sl->in.len += (size_t)k;
		size_t off = 0;
		while (sl->in.len - off >= 4) {
			uint32_t fl = rt_be32_get(sl->in.data + off);
			if (fl > CTL_LINK_MAX_FRAME)
				return false;
			if (sl->in.len - off - 4 < fl)
				break;
			deliver(sl, sl->in.data + off + 4, fl);
			if (c->dead)
				return true;    /* retired: sl->in was reset with it */
			off += 4 + fl;
		}
		if (off) {
			memmove(sl->in.data, sl->in.data + off, sl->in.len - off);
			sl->in.len -= off;
		}
	}
}

static void on_poll(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)flags;
	struct lconn *c = rt_container_of(op, struct lconn, poll_op);
	c->poll_armed = false;
	if (c->dead) {
		close(c->fd);
		free(c);
		return;
	}
	struct shard_link *sl = c->sl;
	c->reading = true;
	bool up = res >= 0 && link_read(sl, c) && !(res & (POLLHUP | POLLERR));
	c->reading = false;
	if (c->dead) {
		/* Retired while an answer was delivered; sl->conn is another link (or none) by now,
		 * which a warning and a retire here would tear down. */
		close(c->fd);
		free(c);
		return;
	}
	if (!up) {
		RT_WARN("shard %d: the link to the control process closed", sl->s->id);
		conn_retire(sl);
		return;
	}
	arm_poll(c);
}

static void arm_poll(struct lconn *c)
{
	struct io_uring_sqe *sqe = dp_shard_sqe(c->sl->s);
	io_uring_prep_poll_add(sqe, c->fd, POLLIN);
	c->poll_op.cb = on_poll;
	io_uring_sqe_set_data(sqe, &c->poll_op);
	c->poll_armed = true;
}

static void link_flush(struct shard_link *sl);

static void on_writable(struct rt_ioop *op, int32_t res, uint32_t flags)
{
	(void)res;
	(void)flags;
	struct shard_link *sl = rt_container_of(op, struct shard_link, out_op);
	sl->out_armed = false;
	if (sl->conn)
		link_flush(sl);
}

static void link_flush(struct shard_link *sl)
{
	struct lconn *c = sl->conn;
	struct rt_buf *o = rt_chain_buf(&sl->out);
	while (o->len > sl->out_off) {
		ssize_t k = send(c->fd, o->data + sl->out_off, o->len - sl->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				if (!sl->out_armed) {
					/* The control process is slow to read: wait for room without
					 * blocking the shard.  The poll's ioop lives in sl (static). */
					struct io_uring_sqe *sqe = dp_shard_sqe(sl->s);
					io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
					sl->out_op.cb = on_writable;
					io_uring_sqe_set_data(sqe, &sl->out_op);
					sl->out_armed = true;
				}
				return;
			}
			conn_retire(sl);
			return;
		}
		sl->out_off += (size_t)k;
	}
	rt_chain_reset(&sl->out);
	sl->out_off = 0;
}

/* Picks up a link the supervisor published since; true when the shard has a live link. */
static bool link_ready(struct shard_link *sl, struct dp_shard *s)
{
	sl->s = s;
	int nfd = atomic_exchange(&sl->new_fd, -1);
	if (nfd >= 0) {
		conn_retire(sl);
		struct lconn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(nfd);
			return false;
		}
		c->fd = nfd;
		c->sl = sl;
		sl->conn = c;
		arm_poll(c);
	}
	return sl->conn && !sl->conn->dead;
}

/* Queues w as waiting and sends its link frame (see control/link.h), whose Kafka request
 * (header and body) encode(c, what) writes straight into the link's outgoing chain. */
static void link_send(struct shard_link *sl, struct dp_shard *s, struct waiting *w, const char *host, int hl,
                      const int32_t *unknown, int32_t n, dp_control_encode encode, const void *what)
{
	w->id = ++sl->next_id;
	if (sl->wait_tail)
		sl->wait_tail->next = w;
	else
		sl->wait_head = w;
	sl->wait_tail = w;
	struct rt_buf *o = rt_chain_buf(&sl->out);
	size_t at = o->len;
	rt_buf_put_i32(o, 0);           /* the frame's length, set below */
	rt_buf_put_i8(o, CTL_LINK_REQUEST);
	rt_buf_put_i64(o, (int64_t)w->id);
	rt_buf_put_i16(o, (int16_t)s->id);
	rt_buf_put_i16(o, (int16_t)hl);
	rt_buf_put(o, host, (size_t)hl);
	rt_buf_put_i32(o, n);
	for (int32_t i = 0; i < n; i++)
		rt_buf_put_i32(o, unknown[i]);
	encode(&sl->out, what);
	if (o->err || sl->out.err) {
		conn_retire(sl); /* out of memory: answers every waiting request */
		return;
	}
	assert(sl->out.nsegs == 0 && sl->out.buf_mark == 0);  /* encode wrote fixed fields only */
	rt_be32_put(o->data + at, (uint32_t)(o->len - at - 4));
	link_flush(sl);
}

/* A client's request as it came: its frame, copied once. */
static void encode_frame(struct rt_chain *c, const void *what)
{
	const struct dp_req *req = what;
	rt_buf_put(rt_chain_buf(c), req->frame, req->len);
}

void dp_control_link_forward(struct dp_req *req, void *msg, const int32_t *unknown, int32_t n)
{
	struct dp_shard *s = req->s;
	if (!g.links || s->id >= g.nlinks || atomic_load(&g.stopping)) {
		answer_error(req, req->api_key, req->api_version, msg, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	struct shard_link *sl = &g.links[s->id];
	if (!link_ready(sl, s)) {
		answer_error(req, req->api_key, req->api_version, msg, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	struct waiting *w = calloc(1, sizeof(*w));
	if (!w) {
		answer_error(req, req->api_key, req->api_version, msg, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	w->req = req;
	w->key = req->api_key;
	w->version = req->api_version;
	w->msg = msg;
	/* Kafka shows a client's address as "/host". */
	char host[80];
	const char *colon = strrchr(req->conn->peer, ':');
	int hl = snprintf(host, sizeof(host), "/%.*s", colon ? (int)(colon - req->conn->peer) : (int)strlen(req->conn->peer),
	                  req->conn->peer);
	if (hl < 0 || hl >= (int)sizeof(host))
		hl = (int)strlen(host);
	link_send(sl, s, w, host, hl, unknown, n, encode_frame, req);
}

void dp_control_link_call(struct dp_shard *s, dp_control_encode encode, const void *what, dp_control_cb cb, void *arg)
{
	struct shard_link *sl = g.links && s->id < g.nlinks && !atomic_load(&g.stopping) ? &g.links[s->id] : NULL;
	struct waiting *w = sl && link_ready(sl, s) ? calloc(1, sizeof(*w)) : NULL;
	if (!w) {
		cb(arg, NULL, 0, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		return;
	}
	w->cb = cb;
	w->cbarg = arg;
	link_send(sl, s, w, "/ringtail", 9, NULL, 0, encode, what);
}

/* ---- the supervisor ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	while (ms > 0 && !atomic_load(&g.stopping)) {
		int64_t step = ms < 50 ? ms : 50;
		struct timespec ts = { step / 1000, (step % 1000) * 1000000 };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* Starts an incarnation; *ready_rd gets the read end of its ready pipe (owned by the caller).
 * Returns the pid or -errno. */
static pid_t spawn(int *ready_rd)
{
	int n = g.nlinks;
	int *mine = calloc((size_t)n, sizeof(int)), *theirs = calloc((size_t)n, sizeof(int));
	if (!mine || !theirs) {
		free(mine);
		free(theirs);
		return -ENOMEM;
	}
	int made = 0;
	for (; made < n; made++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			break;
		mine[made] = sv[0];
		theirs[made] = sv[1];
	}
	if (made < n) {
		int e = errno;
		for (int i = 0; i < made; i++) {
			close(mine[i]);
			close(theirs[i]);
		}
		free(mine);
		free(theirs);
		return -e;
	}
	int rp[2];
	if (pipe2(rp, O_CLOEXEC)) {
		int e = errno;
		for (int i = 0; i < n; i++) {
			close(mine[i]);
			close(theirs[i]);
		}
		free(mine);
		free(theirs);
		return -e;
	}
	int core = g.b->cfg.control_core;
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: only async-signal-safe calls until exec. */
		if (core >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(core, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int base = CTL_LINK_FIRST_FD + n;    /* the ready pipe's write end goes here */
		for (int i = 0; i < n; i++)
			theirs[i] = fcntl(theirs[i], F_DUPFD_CLOEXEC, base + 1);
		int ready_wr = fcntl(rp[1], F_DUPFD_CLOEXEC, base + 1);
		for (int i = 0; i < n; i++)
			dup2(theirs[i], CTL_LINK_FIRST_FD + i); /* dup2 clears FD_CLOEXEC */
		dup2(ready_wr, base);
		syscall(SYS_close_range, (unsigned)base + 1, ~0U, 0);
		execv(g.exe, g.args);
		_exit(127);
	}
	for (int i = 0; i < n; i++)
		close(theirs[i]);
	close(rp[1]);
	if (pid < 0) {
		int e = errno;
		close(rp[0]);
		for (int i = 0; i < n; i++)
			close(mine[i]);
		free(mine);
		free(theirs);
		return -e;
	}
	for (int i = 0; i < n; i++) {
		fcntl(mine[i], F_SETFL, fcntl(mine[i], F_GETFL) | O_NONBLOCK);
		int old = atomic_exchange(&g.links[i].new_fd, mine[i]);
		if (old >= 0)
			close(old);
	}
	free(mine);
	free(theirs);
	fcntl(rp[0], F_SETFL, fcntl(rp[0], F_GETFL) | O_NONBLOCK);
	*ready_rd = rp[0];
	return pid;
}

static void *supervise(void *arg)
{
	(void)arg;
	rt_log_set_tag("control-supervisor");
	int64_t backoff = BACKOFF_MIN_MS;
	while (!atomic_load(&g.stopping)) {
		int ready_rd = -1;
		int64_t ready_at = 0;
		pid_t pid = spawn(&ready_rd);
		if (pid < 0) {
			RT_ERROR("cannot start %s: %s; retrying in %lld ms", g.exe, strerror((int)-pid), (long long)backoff);
		} else {
			atomic_store(&g.pid, pid);
			RT_INFO("control process %d started (%s)%s", (int)pid, g.exe,
			        g.b->cfg.control_core >= 0 ? ", pinned" : "");
			int status = 0;
			for (;;) {
				char byte;
				if (!ready_at && read(ready_rd, &byte, 1) == 1)
					ready_at = mono_ms();
				pid_t w = waitpid(pid, &status, WNOHANG);
				if (w == pid)
					break;
				if (atomic_load(&g.stopping)) {
					kill(pid, SIGTERM);
					int64_t until = mono_ms() + STOP_GRACE_MS;
					while (waitpid(pid, &status, WNOHANG) != pid) {
						if (mono_ms() > until) {
							kill(pid, SIGKILL);
							waitpid(pid, &status, 0);
							break;
						}
						struct timespec ts = { 0, 20000000 };
						nanosleep(&ts, NULL);
					}
					break;
				}
				struct timespec ts = { 0, 20000000 };
				nanosleep(&ts, NULL);
			}
			atomic_store(&g.pid, 0);
			close(ready_rd);
			if (atomic_load(&g.stopping))
				break;
			if (WIFSIGNALED(status))
				RT_WARN("control process %d killed by signal %d", (int)pid, WTERMSIG(status));
			else
				RT_WARN("control process %d exited with status %d", (int)pid, WEXITSTATUS(status));
			if (ready_at && mono_ms() - ready_at >= HEALTHY_MS)
				backoff = BACKOFF_MIN_MS;
		}
		RT_INFO("restarting the control process in %lld ms", (long long)backoff);
		sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return NULL;
}

static int find_exe(char *out, size_t size)
{
	const char *env = getenv("RINGTAIL_CONTROL");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK) ? -errno : 0;
	}
	char self[PATH_MAX - 64]; /* leaves room for the suffixes below */
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	snprintf(out, size, "%s/ringtail-control", self);
	if (!access(out, X_OK))
		return 0;
	snprintf(out, size, "%s/../control/ringtail-control", self);
	return access(out, X_OK) ? -ENOENT : 0;
}

int dp_control_start(struct dp_broker *b, int argc, char **argv)
{
	g.b = b;
	g.nlinks = b->nshards;
	int rc = find_exe(g.exe, sizeof(g.exe));
	if (rc) {
		RT_ERROR("ringtail-control not found (set RINGTAIL_CONTROL): %s; coordinator requests will get "
		         "COORDINATOR_NOT_AVAILABLE", strerror(-rc));
		return rc;
	}
	g.links = calloc((size_t)g.nlinks, sizeof(*g.links));
	g.args = calloc((size_t)argc * 2 + 16, sizeof(char *));
	if (!g.links || !g.args)
		return -ENOMEM;
	for (int i = 0; i < g.nlinks; i++) {
		atomic_init(&g.links[i].new_fd, -1);
		rt_buf_init(&g.links[i].in, CTL_LINK_MAX_FRAME + 65536);
		rt_chain_init(&g.links[i].out, 0);
	}
	char *links = malloc(16), *boot = malloc(300), *ready = malloc(16);
	if (!links || !boot || !ready)
		return -ENOMEM;
	snprintf(links, 16, "%d", g.nlinks);
	snprintf(ready, 16, "%d", CTL_LINK_FIRST_FD + g.nlinks);
	/* The internal loopback listener (dataplane/net.h), not the clients' one: that may be a
	 * DPDK address the kernel cannot reach. */
	snprintf(boot, 300, "127.0.0.1:%u", (unsigned)b->internal_port);
	int k = 0;
	g.args[k++] = "ringtail-control";
	g.args[k++] = "--links";
	g.args[k++] = links;
	g.args[k++] = "--bootstrap";
	g.args[k++] = boot;
	g.args[k++] = "--ready-fd";
	g.args[k++] = ready;
	g.args[k++] = "--log-level";
	g.args[k++] = (char *)rt_log_level_name(rt_log_get_level());
	/* ringtail's properties file and overrides: the control process reads its own keys. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--override") && i + 1 < argc) {
			g.args[k++] = "--override";
			g.args[k++] = argv[++i];
		} else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			i++;
		} else if (argv[i][0] != '-') {
			g.args[k++] = "--config";
			g.args[k++] = argv[i];
		}
	}
	g.args[k] = NULL;
	rc = pthread_create(&g.thread, NULL, supervise, NULL);
	if (rc)
		return -rc;
	g.started = true;
	return 0;
}

void dp_control_stop(void)
{
	if (!g.started)
		return;
	atomic_store(&g.stopping, true);
	pthread_join(g.thread, NULL);
	g.started = false;
}
