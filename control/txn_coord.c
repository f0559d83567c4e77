/*
 * control/txn_coord.c: the transaction coordinator's state machine (see txn_coord.h).
 *
 * Invariants: a transaction has at most one transition in flight (`pending`, its target in
 * `next`), and at most one WriteTxnMarkers (`markers_out`, only in PrepareCommit/PrepareAbort);
 * an EndTxn that prepared the transaction waits in `end_req` until Complete* is durable;
 * `m` is always what the log holds durably (or the initial Empty/-1 state of an id whose first
 * record is not yet durable).  The partitions of `m` are owned copies.  Producer ids come only
 * from durable blocks (pid_block.h).
 */
#include "control/txn_coord.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/map.h"
#include "control/pid_block.h"
#include "control/records.h"

#define NO_PID (-1)
#define NO_EPOCH ((int16_t)-1)
#define OFFSETS_TOPIC "__consumer_offsets"

enum op { OP_INIT, OP_ADD, OP_PREPARE, OP_COMPLETE, OP_EXPIRE, OP_BLOCK };
enum reply { REPLY_NONE, REPLY_INIT, REPLY_DONE, REPLY_FENCE };

struct meta {
	int64_t pid, last_pid;
	int16_t epoch, last_epoch;
	int32_t timeout_ms;
	enum ctl_txn_state state;
	struct ctl_txn_tp *tps;
	size_t ntps;
	int64_t start_ms, update_ms;
};

struct txn {
	char *id;
	size_t idlen;
	int32_t partition;
	struct meta m;
	bool pending;
	struct meta next;
	void *req;
	enum reply reply;
	bool markers_out, need_markers, need_complete;
	struct ctl_txn_markers mk;
	void *end_req;                  /* the EndTxn answered when Complete* is durable */
};

struct ctl_txn_coord {
	struct ctl_txn_config cfg;
	struct ctl_txn_ops ops;
	struct ctl_map txns;
	struct ctl_pid pids;
	bool ids_deferred;      /* no block before an id is asked for (ctl_txn_defer_ids) */
	struct ctl_txn_append *out;     /* appends handed to the owner */
	bool loading;
	int64_t now;
	int64_t next_abort_check, next_expire_check;
};

void ctl_txn_config_default(struct ctl_txn_config *cfg)
{
	*cfg = (struct ctl_txn_config){
		.max_timeout_ms = 900000,
		.abort_interval_ms = 10000,
		.id_expiration_ms = 604800000,
		.expire_interval_ms = 3600000,
		.log_partitions = 50,
		.offsets_partitions = 50,
		.coordinator_epoch = 0,
		.value_version = 0,
	};
}

int16_t ctl_txn_fenced_error(int16_t err, int16_t api_key, int16_t api_version)
{
	if (err != CTL_TXN_ERR_PRODUCER_FENCED)
		return err;
	if ((api_key == 22 && api_version < 4) ||                       /* InitProducerId */
	    ((api_key == 24 || api_key == 25 || api_key == 26) && api_version < 2))
		return CTL_TXN_ERR_INVALID_PRODUCER_EPOCH;
	return err;
}

/* --- metadata copies ------------------------------------------------------------------------- */

static void meta_fini(struct meta *m)
{
	for (size_t i = 0; i < m->ntps; i++)
		free(m->tps[i].topic);
	free(m->tps);
	m->tps = NULL;
	m->ntps = 0;
}

static bool has_tp(const struct meta *m, const struct ctl_txn_tp *tp)
{
	for (size_t i = 0; i < m->ntps; i++)
		if (m->tps[i].partition == tp->partition && !strcmp(m->tps[i].topic, tp->topic))
			return true;
	return false;
}

/* Copies src into dst plus the partitions of add[] it lacks.  0 or -ENOMEM (dst empty). */
static int meta_copy(struct meta *dst, const struct meta *src, const struct ctl_txn_tp *add,
                     size_t nadd)
{
	*dst = *src;
	dst->tps = NULL;
	dst->ntps = 0;
	if (!src->ntps && !nadd)
		return 0;
	dst->tps = calloc(src->ntps + nadd, sizeof(*dst->tps));
	if (!dst->tps)
		return -ENOMEM;
	for (size_t i = 0; i < src->ntps + nadd; i++) {
		const struct ctl_txn_tp *tp = i < src->ntps ? &src->tps[i] : &add[i - src->ntps];
		if (i >= src->ntps && has_tp(dst, tp))
			continue;
		char *s = strdup(tp->topic);
		if (!s) {
			meta_fini(dst);
			return -ENOMEM;
		}
		dst->tps[dst->ntps++] = (struct ctl_txn_tp){ s, tp->partition };
	}
	return 0;
}

static bool epoch_exhausted(int16_t e)
{
	return e >= INT16_MAX - 1;
}

/* --- lifetime --------------------------------------------------------------------------------- */

struct ctl_txn_coord *ctl_txn_create(const struct ctl_txn_config *cfg, const struct ctl_txn_ops *ops)
{
	struct ctl_txn_coord *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = *cfg;
	c->ops = *ops;
	ctl_map_init(&c->txns);
	ctl_pid_init(&c->pids);
	c->loading = true;
	return c;
}

static void txn_free(struct txn *t)
{
	meta_fini(&t->m);
	if (t->pending)
		meta_fini(&t->next);
	free(t->id);
	free(t);
}

static void append_free(struct ctl_txn_append *a)
{
	rt_buf_fini(&a->key);
	rt_buf_fini(&a->value);
	free(a);
}

void ctl_txn_destroy(struct ctl_txn_coord *c)
{
	if (!c)
		return;
	struct ctl_map_iter it;
	ctl_map_iter_init(&it, &c->txns);
	struct txn *t;
	while ((t = ctl_map_next(&it)))
		txn_free(t);
	ctl_map_fini(&c->txns);
	while (c->out) {
		struct ctl_txn_append *a = c->out;
		c->out = a->next;
		append_free(a);
	}
	free(c);
}

static struct txn *find(struct ctl_txn_coord *c, const char *id, size_t len)
{
	return ctl_map_get(&c->txns, id, len);
}

static struct txn *txn_new(struct ctl_txn_coord *c, const char *id, size_t len)
{
	struct txn *t = calloc(1, sizeof(*t));
	if (!t || !(t->id = malloc(len + 1))) {
		free(t);
		return NULL;
	}
	memcpy(t->id, id, len);
	t->id[len] = 0;
	t->idlen = len;
	t->partition = ctl_offsets_partition(id, len, c->cfg.log_partitions);
	t->m = (struct meta){ .pid = NO_PID, .last_pid = NO_PID, .epoch = NO_EPOCH,
	                      .last_epoch = NO_EPOCH, .state = CTL_TXN_EMPTY, .start_ms = -1 };
	if (ctl_map_put(&c->txns, id, len, t, NULL)) {
		free(t->id);
		free(t);
		return NULL;
	}
	return t;
}

/* --- writing to the log ----------------------------------------------------------------------- */

static struct ctl_txn_append *append_new(struct ctl_txn_coord *c, int op)
{
	struct ctl_txn_append *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	rt_buf_init(&a->key, 0);
	rt_buf_init(&a->value, 0);
	a->op = op;
	a->next = c->out;
	c->out = a;
	return a;
}

static void append_unlink(struct ctl_txn_coord *c, struct ctl_txn_append *a)
{
	struct ctl_txn_append **pp = &c->out;
	while (*pp && *pp != a)
		pp = &(*pp)->next;
	assert(*pp == a);
	*pp = a->next;
}

static void reply(struct ctl_txn_coord *c, void *req, enum reply kind, int16_t err,
                  const struct meta *m)
{
	switch (kind) {
	case REPLY_INIT:
		if (err)
			c->ops.init_pid_done(c->ops.ctx, req, err, NO_PID, NO_EPOCH);
		else
			c->ops.init_pid_done(c->ops.ctx, req, 0, m->pid, m->epoch);
		break;
	case REPLY_FENCE:
		/* the old producer's transaction is being aborted: the new one retries */
		c->ops.init_pid_done(c->ops.ctx, req, err ? err : CTL_TXN_ERR_CONCURRENT_TRANSACTIONS,
		                     NO_PID, NO_EPOCH);
		break;
	case REPLY_DONE:
		c->ops.done(c->ops.ctx, req, err);
		break;
	case REPLY_NONE:
		break;
	}
}

/* Starts transition of t to *next (taken), answering req when it is durable. */
static void transit(struct ctl_txn_coord *c, struct txn *t, struct meta *next, int op, void *req,
                    enum reply kind)
{
	struct ctl_txn_append *a = append_new(c, op);
	if (!a) {
		meta_fini(next);
		reply(c, req, kind, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	a->partition = t->partition;
	a->txn = t;
	ctl_txnlog_key_encode(&a->key, t->id, t->idlen);
	if (op == OP_EXPIRE) {
		a->tombstone = true;
	} else {
		struct ctl_txnlog_value v = {
			.version = c->cfg.value_version, .producer_id = next->pid,
			.prev_producer_id = next->last_pid, .next_producer_id = -1,
			.producer_epoch = next->epoch, .timeout_ms = next->timeout_ms,
			.state = next->state, .tps = next->tps, .ntps = next->ntps,
			.last_update_ms = next->update_ms, .start_ms = next->start_ms,
		};
		ctl_txnlog_value_encode(&a->value, &v);
	}
	if (a->key.err || a->value.err) {
		append_unlink(c, a);
		append_free(a);
		meta_fini(next);
		reply(c, req, kind, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	t->pending = true;
	t->next = *next;
	t->req = req;
	t->reply = kind;
	c->ops.append(c->ops.ctx, a);
}

static void claim_block(struct ctl_txn_coord *c)
{
	int64_t next;
	if (!ctl_pid_want_block(&c->pids, &next))
		return;
	struct ctl_txn_append *a = append_new(c, OP_BLOCK);
	if (!a) {
		ctl_pid_block_done(&c->pids, next, false);
		return;
	}
	a->partition = 0;
	a->block = next;
	ctl_pid_record_key(&a->key);
	ctl_pid_record_value(&a->value, next);
	c->ops.append(c->ops.ctx, a);
}

static bool take_pid(struct ctl_txn_coord *c, int64_t *pid)
{
	c->ids_deferred = false;
	bool ok = ctl_pid_take(&c->pids, pid);
	claim_block(c);
	return ok;
}

/* Kafka's mapping of a failed transaction log append to what the client is told. */
static int16_t append_error(int16_t err)
{
	switch (err) {
	case 3: case 19: case 20: case 7:       /* UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT */
		return CTL_TXN_ERR_COORDINATOR_NOT_AVAILABLE;
	case 6: case 56:                        /* NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR */
		return CTL_TXN_ERR_NOT_COORDINATOR;
	case 10: case 18:                       /* MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE */
		return CTL_TXN_ERR_UNKNOWN_SERVER_ERROR;
	default:
		return err;
	}
}

static void send_markers(struct ctl_txn_coord *c, struct txn *t);
static void write_complete(struct ctl_txn_coord *c, struct txn *t);

void ctl_txn_append_done(struct ctl_txn_coord *c, struct ctl_txn_append *a, int16_t err)
{
	append_unlink(c, a);
	int op = a->op;
	struct txn *t = a->txn;
	int64_t block = a->block;
	append_free(a);
	if (op == OP_BLOCK) {
		ctl_pid_block_done(&c->pids, block, err == 0);
		return;
	}
	assert(t->pending);
	t->pending = false;
	void *req = t->req;
	enum reply kind = t->reply;
	t->req = NULL;
	t->reply = REPLY_NONE;
	if (err) {
		meta_fini(&t->next);
		if (op == OP_COMPLETE)
			t->need_complete = true;        /* retried by the tick */
		reply(c, req, kind, append_error(err), NULL);
		return;
	}
	if (op == OP_EXPIRE) {
		meta_fini(&t->next);
		ctl_map_del(&c->txns, t->id, t->idlen);
		txn_free(t);
		return;
	}
	meta_fini(&t->m);
	t->m = t->next;
	memset(&t->next, 0, sizeof(t->next));
	if (op == OP_PREPARE && kind == REPLY_DONE) {
		assert(!t->end_req);
		t->end_req = req;               /* answered at Complete* (see txn_coord.h) */
	} else {
		reply(c, req, kind, 0, &t->m);
	}
	if (op == OP_COMPLETE && t->end_req) {
		reply(c, t->end_req, REPLY_DONE, 0, &t->m);
		t->end_req = NULL;
	}
	if (op == OP_PREPARE)
		send_markers(c, t);
}

/* --- markers ---------------------------------------------------------------------------------- */

static void send_markers(struct ctl_txn_coord *c, struct txn *t)
{
	assert(t->m.state == CTL_TXN_PREPARE_COMMIT || t->m.state == CTL_TXN_PREPARE_ABORT);
	t->need_markers = false;
	if (!t->m.ntps) {
		write_complete(c, t);
		return;
	}
	t->markers_out = true;
	t->mk = (struct ctl_txn_markers){
		.producer_id = t->m.pid, .producer_epoch = t->m.epoch,
		.coordinator_epoch = c->cfg.coordinator_epoch,
		.commit = t->m.state == CTL_TXN_PREPARE_COMMIT,
		.tps = t->m.tps, .ntps = t->m.ntps, .txn = t,
	};
	c->ops.markers(c->ops.ctx, &t->mk);
}

static void write_complete(struct ctl_txn_coord *c, struct txn *t)
{
	t->need_complete = false;
	struct meta next;
	if (meta_copy(&next, &t->m, NULL, 0)) {
		t->need_complete = true;
		return;
	}
	meta_fini(&next);               /* Complete* holds no partitions */
	next.state = t->m.state == CTL_TXN_PREPARE_COMMIT ? CTL_TXN_COMPLETE_COMMIT
	                                                  : CTL_TXN_COMPLETE_ABORT;
	next.update_ms = c->now;
	transit(c, t, &next, OP_COMPLETE, NULL, REPLY_NONE);
}

void ctl_txn_markers_done(struct ctl_txn_coord *c, struct ctl_txn_markers *m, int16_t err)
{
	struct txn *t = m->txn;
	assert(t->markers_out);
	t->markers_out = false;
	if (err) {
		t->need_markers = true;         /* Kafka retries markers until they land */
		return;
	}
	write_complete(c, t);
}

/* --- requests --------------------------------------------------------------------------------- */

void ctl_txn_init_pid(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                      int32_t timeout_ms, int64_t expected_pid, int16_t expected_epoch)
{
	int64_t pid;
	if (c->loading) {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS, NULL);
		return;
	}
	if (!txn_id) {
		if (!take_pid(c, &pid)) {
			reply(c, req, REPLY_INIT, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS, NULL);
			return;
		}
		c->ops.init_pid_done(c->ops.ctx, req, 0, pid, 0);
		return;
	}
	if (!idlen) {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_INVALID_REQUEST, NULL);
		return;
	}
	if (timeout_ms <= 0 || timeout_ms > c->cfg.max_timeout_ms) {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_INVALID_TRANSACTION_TIMEOUT, NULL);
		return;
	}
	struct txn *t = find(c, txn_id, idlen);
	if (!t) {
		if (!take_pid(c, &pid)) {
			reply(c, req, REPLY_INIT, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS, NULL);
			return;
		}
		if (!(t = txn_new(c, txn_id, idlen))) {
			reply(c, req, REPLY_INIT, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
			return;
		}
		t->m.pid = pid;
		t->m.timeout_ms = timeout_ms;
		t->m.update_ms = c->now;
	}
	if (t->pending) {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_CONCURRENT_TRANSACTIONS, NULL);
		return;
	}
	const struct meta *m = &t->m;
	bool expected = expected_pid != NO_PID;
	if (expected && !(m->epoch == NO_EPOCH || expected_pid == m->pid ||
	                  (expected_pid == m->last_pid && epoch_exhausted(expected_epoch)))) {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_PRODUCER_FENCED, NULL);
		return;
	}
	struct meta next;
	switch (m->state) {
	case CTL_TXN_PREPARE_COMMIT:
	case CTL_TXN_PREPARE_ABORT:
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_CONCURRENT_TRANSACTIONS, NULL);
		return;
	case CTL_TXN_ONGOING:
		/* fence the running producer: abort its transaction at a bumped epoch */
		if (meta_copy(&next, m, NULL, 0)) {
			reply(c, req, REPLY_INIT, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
			return;
		}
		if (next.epoch < INT16_MAX)
			next.epoch++;
		next.last_epoch = NO_EPOCH;
		next.state = CTL_TXN_PREPARE_ABORT;
		next.update_ms = c->now;
		transit(c, t, &next, OP_PREPARE, req, REPLY_FENCE);
		return;
	case CTL_TXN_EMPTY:
	case CTL_TXN_COMPLETE_COMMIT:
	case CTL_TXN_COMPLETE_ABORT:
		break;
	default:
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	next = (struct meta){ .pid = m->pid, .last_pid = m->last_pid, .timeout_ms = timeout_ms,
	                      .state = CTL_TXN_EMPTY, .start_ms = -1, .update_ms = c->now };
	if (epoch_exhausted(m->epoch) && (!expected || expected_epoch == m->epoch)) {
		/* epochs used up: a new producer id at epoch 0 (KIP-360) */
		if (!take_pid(c, &pid)) {
			reply(c, req, REPLY_INIT, CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS, NULL);
			return;
		}
		next.pid = pid;
		next.last_pid = m->pid;
		next.epoch = 0;
		next.last_epoch = expected ? m->epoch : NO_EPOCH;
	} else if (!expected) {
		next.epoch = (int16_t)(m->epoch + 1);
		next.last_epoch = NO_EPOCH;
	} else if (m->epoch == NO_EPOCH || expected_epoch == m->epoch) {
		next.epoch = (int16_t)(m->epoch + 1);
		next.last_epoch = m->epoch;
	} else if (expected_epoch == m->last_epoch) {
		/* a retry of a bump whose answer was lost */
		next.epoch = m->epoch;
		next.last_epoch = m->last_epoch;
	} else {
		reply(c, req, REPLY_INIT, CTL_TXN_ERR_PRODUCER_FENCED, NULL);
		return;
	}
	transit(c, t, &next, OP_INIT, req, REPLY_INIT);
}

/* The checks AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and the verification share. */
static int16_t owner_check(struct ctl_txn_coord *c, const char *txn_id, size_t idlen, int64_t pid,
                           int16_t epoch, struct txn **out)
{
	if (c->loading)
		return CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	if (!txn_id || !idlen)
		return CTL_TXN_ERR_INVALID_REQUEST;
	struct txn *t = find(c, txn_id, idlen);
	if (!t || t->m.pid != pid)
		return CTL_TXN_ERR_INVALID_PRODUCER_ID_MAPPING;
	if (t->m.epoch != epoch)
		return CTL_TXN_ERR_PRODUCER_FENCED;
	*out = t;
	return 0;
}

void ctl_txn_add_partitions(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                            int64_t pid, int16_t epoch, const struct ctl_txn_tp *tps, size_t n)
{
	struct txn *t = NULL;
	int16_t err = owner_check(c, txn_id, idlen, pid, epoch, &t);
	if (!err && (t->pending || t->m.state == CTL_TXN_PREPARE_COMMIT ||
	             t->m.state == CTL_TXN_PREPARE_ABORT))
		err = CTL_TXN_ERR_CONCURRENT_TRANSACTIONS;
	if (err) {
		reply(c, req, REPLY_DONE, err, NULL);
		return;
	}
	bool all = t->m.state == CTL_TXN_ONGOING;
	for (size_t i = 0; all && i < n; i++)
		all = has_tp(&t->m, &tps[i]);
	if (all) {
		reply(c, req, REPLY_DONE, 0, NULL);
		return;
	}
	struct meta next;
	if (meta_copy(&next, &t->m, tps, n)) {
		reply(c, req, REPLY_DONE, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	if (t->m.state != CTL_TXN_ONGOING)
		next.start_ms = c->now;
	next.state = CTL_TXN_ONGOING;
	next.update_ms = c->now;
	transit(c, t, &next, OP_ADD, req, REPLY_DONE);
}

int16_t ctl_txn_verify_partitions(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                                  int64_t pid, int16_t epoch, const struct ctl_txn_tp *tps,
                                  size_t n, int16_t *errs)
{
	struct txn *t = NULL;
	int16_t err = owner_check(c, txn_id, idlen, pid, epoch, &t);
	if (!err && (t->m.state == CTL_TXN_PREPARE_COMMIT || t->m.state == CTL_TXN_PREPARE_ABORT))
		err = CTL_TXN_ERR_CONCURRENT_TRANSACTIONS;
	for (size_t i = 0; i < n; i++)
		errs[i] = err ? err : has_tp(&t->m, &tps[i]) ? 0 : CTL_TXN_ERR_INVALID_TXN_STATE;
	return err;
}

void ctl_txn_add_offsets(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                         int64_t pid, int16_t epoch, const char *group, size_t glen)
{
	struct ctl_txn_tp tp = { (char *)OFFSETS_TOPIC,
	                         ctl_offsets_partition(group, glen, c->cfg.offsets_partitions) };
	ctl_txn_add_partitions(c, req, txn_id, idlen, pid, epoch, &tp, 1);
}

void ctl_txn_end(struct ctl_txn_coord *c, void *req, const char *txn_id, size_t idlen,
                 int64_t pid, int16_t epoch, bool commit)
{
	struct txn *t = NULL;
	int16_t err = owner_check(c, txn_id, idlen, pid, epoch, &t);
	/* Kafka holds the Complete* transition pending from the moment Prepare* is durable until
	 * Complete* is: the whole marker phase answers CONCURRENT_TRANSACTIONS, for either result */
	if (!err && (t->pending || t->markers_out || t->need_markers || t->need_complete))
		err = CTL_TXN_ERR_CONCURRENT_TRANSACTIONS;
	if (!err) {
		switch (t->m.state) {
		case CTL_TXN_ONGOING:
			break;
		case CTL_TXN_COMPLETE_COMMIT:
			err = commit ? 0 : CTL_TXN_ERR_INVALID_TXN_STATE;
			break;
		case CTL_TXN_COMPLETE_ABORT:
			err = commit ? CTL_TXN_ERR_INVALID_TXN_STATE : 0;
			break;
		case CTL_TXN_PREPARE_COMMIT:
			err = commit ? CTL_TXN_ERR_CONCURRENT_TRANSACTIONS : CTL_TXN_ERR_INVALID_TXN_STATE;
			break;
		case CTL_TXN_PREPARE_ABORT:
			err = commit ? CTL_TXN_ERR_INVALID_TXN_STATE : CTL_TXN_ERR_CONCURRENT_TRANSACTIONS;
			break;
		default:
			err = CTL_TXN_ERR_INVALID_TXN_STATE;
			break;
		}
		if (!err && t->m.state != CTL_TXN_ONGOING) {
			reply(c, req, REPLY_DONE, 0, NULL);     /* a retry of an EndTxn that completed */
			return;
		}
	}
	if (err) {
		reply(c, req, REPLY_DONE, err, NULL);
		return;
	}
	struct meta next;
	if (meta_copy(&next, &t->m, NULL, 0)) {
		reply(c, req, REPLY_DONE, CTL_TXN_ERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	next.state = commit ? CTL_TXN_PREPARE_COMMIT : CTL_TXN_PREPARE_ABORT;
	next.update_ms = c->now;
	transit(c, t, &next, OP_PREPARE, req, REPLY_DONE);
}

int16_t ctl_txn_check_producer(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                               int64_t pid, int16_t epoch)
{
	struct txn *t;
	return owner_check(c, txn_id, idlen, pid, epoch, &t);
}

/* --- loading ---------------------------------------------------------------------------------- */

int ctl_txn_load_record(struct ctl_txn_coord *c, const uint8_t *key, size_t klen,
                        const uint8_t *value, size_t vlen)
{
	const char *id;
	size_t idlen;
	int rc = ctl_txnlog_key_decode(key, klen, &id, &idlen);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		int64_t next;
		if (ctl_pid_is_record_key(key, klen) && value) {
			if (ctl_pid_record_parse(value, vlen, &next))
				return -EBADMSG;
			ctl_pid_load(&c->pids, next);
		}
		return 0;
	}
	struct txn *t = find(c, id, idlen);
	if (!value) {
		if (t) {
			ctl_map_del(&c->txns, id, idlen);
			txn_free(t);
		}
		return 0;
	}
	struct ctl_txnlog_value v;
	if ((rc = ctl_txnlog_value_decode(value, vlen, &v)))
		return rc;
	if (!t && !(t = txn_new(c, id, idlen))) {
		ctl_txnlog_value_fini(&v);
		return -ENOMEM;
	}
	meta_fini(&t->m);
	t->m = (struct meta){
		.pid = v.producer_id, .last_pid = v.prev_producer_id, .epoch = v.producer_epoch,
		.last_epoch = NO_EPOCH, .timeout_ms = v.timeout_ms, .state = v.state, .tps = v.tps,
		.ntps = v.ntps, .start_ms = v.start_ms, .update_ms = v.last_update_ms,
	};
	return 0;
}

/* Transactions that want work now, collected first because the work may free them. */
static size_t collect(struct ctl_txn_coord *c, struct txn ***out)
{
	size_t n = 0, cap = ctl_map_size(&c->txns);
	*out = cap ? malloc(cap * sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	struct ctl_map_iter it;
	ctl_map_iter_init(&it, &c->txns);
	struct txn *t;
	while ((t = ctl_map_next(&it)))
		(*out)[n++] = t;
	return n;
}

void ctl_txn_defer_ids(struct ctl_txn_coord *c)
{
	c->ids_deferred = true;
}

void ctl_txn_load_done(struct ctl_txn_coord *c, int64_t now_ms)
{
	c->loading = false;
	c->now = now_ms;
	c->next_abort_check = now_ms + c->cfg.abort_interval_ms;
	c->next_expire_check = now_ms + c->cfg.expire_interval_ms;
	struct txn **v;
	size_t n = collect(c, &v);
	for (size_t i = 0; i < n; i++)
		if (v[i]->m.state == CTL_TXN_PREPARE_COMMIT || v[i]->m.state == CTL_TXN_PREPARE_ABORT)
			v[i]->need_markers = true;
	free(v);
	ctl_txn_tick(c, now_ms);
}

/* --- timers ----------------------------------------------------------------------------------- */

static void abort_timed_out(struct ctl_txn_coord *c, struct txn *t)
{
	struct meta next;
	if (meta_copy(&next, &t->m, NULL, 0))
		return;
	if (next.epoch < INT16_MAX)
		next.epoch++;           /* fence the producer that let it time out */
	next.last_epoch = NO_EPOCH;
	next.state = CTL_TXN_PREPARE_ABORT;
	next.update_ms = c->now;
	transit(c, t, &next, OP_PREPARE, NULL, REPLY_NONE);
}

static void expire(struct ctl_txn_coord *c, struct txn *t)
{
	struct meta next = t->m;
	next.tps = NULL;
	next.ntps = 0;
	next.state = CTL_TXN_DEAD;
	transit(c, t, &next, OP_EXPIRE, NULL, REPLY_NONE);
}

void ctl_txn_tick(struct ctl_txn_coord *c, int64_t now_ms)
{
	c->now = now_ms;
	if (c->loading)
		return;
	if (!c->ids_deferred)
		claim_block(c);
	bool aborts = now_ms >= c->next_abort_check, expiry = now_ms >= c->next_expire_check;
	if (aborts)
		c->next_abort_check = now_ms + c->cfg.abort_interval_ms;
	if (expiry)
		c->next_expire_check = now_ms + c->cfg.expire_interval_ms;
	struct txn **v;
	size_t n = collect(c, &v);
	for (size_t i = 0; i < n; i++) {
		struct txn *t = v[i];
		if (t->pending || t->markers_out)
			continue;
		if (t->need_markers)
			send_markers(c, t);
		else if (t->need_complete)
			write_complete(c, t);
		else if (aborts && t->m.state == CTL_TXN_ONGOING &&
		         t->m.start_ms + t->m.timeout_ms < now_ms)
			abort_timed_out(c, t);
		else if (expiry && t->m.epoch != NO_EPOCH &&
		         (t->m.state == CTL_TXN_EMPTY || t->m.state == CTL_TXN_COMPLETE_COMMIT ||
		          t->m.state == CTL_TXN_COMPLETE_ABORT) &&
		         t->m.update_ms <= now_ms - c->cfg.id_expiration_ms)
			expire(c, t);
	}
	free(v);
}

/* --- describe --------------------------------------------------------------------------------- */

static void info_of(const struct txn *t, struct ctl_txn_info *out)
{
	*out = (struct ctl_txn_info){
		.txn_id = t->id, .idlen = t->idlen, .state = t->m.state, .producer_id = t->m.pid,
		.producer_epoch = t->m.epoch, .timeout_ms = t->m.timeout_ms,
		.start_ms = t->m.state == CTL_TXN_EMPTY ? -1 : t->m.start_ms,
		.tps = t->m.tps, .ntps = t->m.ntps,
	};
}

int16_t ctl_txn_describe(struct ctl_txn_coord *c, const char *txn_id, size_t idlen,
                         struct ctl_txn_info *out)
{
	if (c->loading)
		return CTL_TXN_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	struct txn *t = find(c, txn_id, idlen);
	if (!t || t->m.epoch == NO_EPOCH)
		return CTL_TXN_ERR_TRANSACTIONAL_ID_NOT_FOUND;
	info_of(t, out);
	return 0;
}

bool ctl_txn_loading(const struct ctl_txn_coord *c)
{
	return c->loading;
}

int64_t ctl_txn_now(const struct ctl_txn_coord *c)
{
	return c->now;
}

void ctl_txn_list(struct ctl_txn_coord *c, void (*fn)(void *arg, const struct ctl_txn_info *t),
                  void *arg)
{
	struct ctl_map_iter it;
	ctl_map_iter_init(&it, &c->txns);
	struct txn *t;
	while ((t = ctl_map_next(&it))) {
		if (t->m.epoch == NO_EPOCH)
			continue;
		struct ctl_txn_info info;
		info_of(t, &info);
		fn(arg, &info);
	}
}
