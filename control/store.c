/*
 * control/store.c: the `__consumer_offsets` client of store.h.
 *
 * States: DOWN (no socket; reconnect when the back-off passes) -> CONNECTING -> META (Metadata
 * for the topic; CreateTopics when it is missing) -> LOAD (Fetch every partition from its start
 * up to the high watermark seen) -> READY (Produce acks=-1 for appends).  Requests are pipelined
 * on the one connection (kconn.h); the broker answers in order, and each Produce in flight
 * carries the appends it answers.
 *
 * Transactional batches (TxnOffsetCommit) are numbered like an idempotent producer's.  A batch
 * whose answer is lost with the connection may or may not be in the log: its producer's next
 * sequence on that partition is then unknown, and after reconnecting the store asks the broker
 * (DescribeProducers, the partition's producer state) before it writes again, so the next batch
 * neither repeats a written batch's sequences (it would be taken for a duplicate and dropped)
 * nor leaves a gap (OUT_OF_ORDER_SEQUENCE_NUMBER).
 *
 * RINGTAIL_CONTROL_FAULT=lose-txn-produce-answer (tests only): the answer to the first Produce
 * that carries a transactional batch is dropped with the connection, as if it were lost.
 */
#include "control/store.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/log.h"
#include "control/kconn.h"
#include "kp_errors.h"
#include "kp_msgs.h"
#include "proto/batch.h"

#define V_METADATA 9
#define V_CREATE 5
#define V_PRODUCE 9
#define V_FETCH 12
#define V_DESCRIBE_PRODUCERS 0
#define RECONNECT_MS 200
#define FETCH_PART_BYTES (1 << 20)
#define CTL_STORE_MAX_IN (64u << 20)

enum st { ST_DOWN, ST_CONNECTING, ST_META, ST_LOAD, ST_READY };

/* The next sequence of a transactional producer on a partition (the store is that producer's
 * only writer there: its own records go to other topics). */
struct txn_seq {
	int32_t partition;
	int64_t pid;
	int16_t epoch;
	int32_t next;
	bool unknown;                  /* a batch's outcome was lost: ask the broker */
};

struct ctl_store {
	char topic[256];
	struct kp_str name;            /* topic, as every request names it */
	int32_t want_partitions;
	struct ctl_store_sink sink;    /* who loads the records and hears of appends */
	enum st st;
	/* In flight there: a Produce's appends (linked by ->next), NULL for the other requests. */
	struct ctl_kconn conn;
	int64_t now;
	int64_t retry_at;
	/* loading */
	int32_t nparts;
	int64_t *next_off;             /* per partition */
	int64_t *end_off;              /* high watermark seen at the first fetch; -1 unknown */
	bool fetch_out;
	bool meta_out;
	bool loaded;
	int64_t load_start;
	struct ctl_store_stats stats;
	/* appends to fail from the loop, and appends to send from the loop */
	struct ctl_append *wait_head, *wait_tail;
	struct ctl_append *q_head, *q_tail;
	bool lazy_create;              /* create the topic on the first append, not at start */
	bool no_topic;                 /* loaded, and the topic does not exist yet */
	bool creating;                 /* CreateTopics sent for appends that wait */
	struct txn_seq *seqs;          /* transactional producers' sequences */
	size_t nseqs, capseqs;
	bool relearn;                  /* some seqs are unknown: DescribeProducers before writing */
	bool describe_out;
	bool fault_lose_txn_answer;    /* RINGTAIL_CONTROL_FAULT (tests) */
};

static struct txn_seq *seq_of(struct ctl_store *s, int32_t partition, int64_t pid)
{
	for (size_t i = 0; i < s->nseqs; i++)
		if (s->seqs[i].partition == partition && s->seqs[i].pid == pid)
			return &s->seqs[i];
	if (s->nseqs == s->capseqs) {
		size_t cap = s->capseqs ? s->capseqs * 2 : 16;
		struct txn_seq *n = realloc(s->seqs, cap * sizeof(*n));
		if (!n)
			abort();
		s->seqs = n;
		s->capseqs = cap;
	}
	struct txn_seq *q = &s->seqs[s->nseqs++];
	*q = (struct txn_seq){ .partition = partition, .pid = pid, .epoch = -1, .next = 0 };
	return q;
}

/* What a batch read back says about its producer's sequence (the dataplane's rule: a new epoch,
 * from data or from a marker, starts again at 0). */
static void seq_learn(struct ctl_store *s, int32_t partition, const struct kp_batch_hdr *h)
{
	if (h->producer_id < 0 || !(h->attributes & KP_ATTR_TRANSACTIONAL))
		return;
	struct txn_seq *q = seq_of(s, partition, h->producer_id);
	if (h->attributes & KP_ATTR_CONTROL) {
		if (h->producer_epoch != q->epoch) {
			q->epoch = h->producer_epoch;
			q->next = 0;
		}
		return;
	}
	q->epoch = h->producer_epoch;
	q->next = h->base_sequence + h->last_offset_delta + 1;
	if (q->next < 0)
		q->next = 0;    /* Kafka's sequences wrap after INT32_MAX */
}

static int64_t now_ms(void)
{
	return (int64_t)(rt_clock_ns() / 1000000);
}

static void coord_load_record(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, int32_t vl)
{
	ctl_coord_load_record(ctx, k, kl, v, vl);
}

static void coord_load_done(void *ctx)
{
	ctl_coord_load_done(ctx);
}

static void coord_set_partitions(void *ctx, int32_t n)
{
	ctl_coord_set_partitions(ctx, n);
}

static void coord_append_done(void *ctx, struct ctl_append *a, int16_t err)
{
	ctl_coord_append_done(ctx, a, err);
}

static void coord_load_batch(void *ctx, int64_t base_offset, int64_t producer_id)
{
	ctl_coord_load_batch(ctx, base_offset, producer_id);
}

static void coord_load_marker(void *ctx, int32_t partition, int64_t producer_id, bool commit)
{
	ctl_coord_load_marker(ctx, partition, producer_id, commit);
}

struct ctl_store *ctl_store_create(const char *host, int port, const char *topic, int32_t partitions,
                                   struct ctl_coord *coord)
{
	struct ctl_store_sink sink = { coord, coord_load_record, coord_load_done, coord_set_partitions,
	                               coord_append_done, coord_load_batch, coord_load_marker };
	return ctl_store_create_sink(host, port, topic, partitions, &sink);
}

static int on_answer(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *r, struct rt_arena *a);

struct ctl_store *ctl_store_create_sink(const char *host, int port, const char *topic,
                                        int32_t partitions, const struct ctl_store_sink *sink)
{
	struct ctl_store *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	s->name = (struct kp_str){ s->topic, (int32_t)strlen(s->topic) };
	s->want_partitions = partitions;
	s->sink = *sink;
	s->st = ST_DOWN;
	ctl_kconn_init(&s->conn, "control store", host, port, CTL_STORE_MAX_IN, 256u << 20, on_answer, s);
	s->load_start = now_ms();
	const char *fault = getenv("RINGTAIL_CONTROL_FAULT");
	s->fault_lose_txn_answer = fault && !strcmp(fault, "lose-txn-produce-answer");
	return s;
}

/* A transactional batch whose answer was lost: its producer's sequence on the partition is
 * asked from the broker before the next write. */
static void seq_unknown(struct ctl_store *s, const struct ctl_append *a)
{
	if (a->seq_end < 0)
		return;
	seq_of(s, a->partition, a->producer_id)->unknown = true;
	s->relearn = true;
}

/* A transactional batch that failed was not written: its sequence is given back when nothing
 * was numbered after it. */
static void seq_unsent(struct ctl_store *s, const struct ctl_append *a)
{
	if (a->seq_end < 0)
		return;
	struct txn_seq *q = seq_of(s, a->partition, a->producer_id);
	if (q->epoch == a->producer_epoch && q->next == a->seq_end) {
		q->epoch = a->seq_prev_epoch;
		q->next = a->seq_prev_next;
	}
}

/* lost: the appends were sent and their answer is lost (they may be in the log). */
static void fail_list(struct ctl_store *s, struct ctl_append *a, bool lost)
{
	while (a) {
		struct ctl_append *n = a->next;
		if (a->transactional && lost)
			seq_unknown(s, a);
		else if (a->transactional)
			seq_unsent(s, a);
		s->stats.append_errors++;
		s->sink.append_done(s->sink.ctx, a, KP_ERR_COORDINATOR_NOT_AVAILABLE);
		a = n;
	}
}

static void fail_appends(struct ctl_store *s, struct ctl_append **head, struct ctl_append **tail)
{
	struct ctl_append *a = *head;
	*head = *tail = NULL;
	fail_list(s, a, false);
}

/* A request in flight when the connection went: its appends' answer is lost. */
static void lost_appends(void *ctx, void *arg)
{
	fail_list(ctx, arg, true);
}

static void drop_conn(struct ctl_store *s, const char *why)
{
	s->st = ST_DOWN;
	s->retry_at = s->now + RECONNECT_MS;
	s->fetch_out = s->meta_out = s->describe_out = false;
	s->creating = false;
	ctl_kconn_close(&s->conn, why, lost_appends, s);
	/* Appends are only accepted once loaded; while reconnecting they fail at once, so the
	 * clients retry rather than wait on a broker that may be gone. */
	fail_appends(s, &s->wait_head, &s->wait_tail);
	fail_appends(s, &s->q_head, &s->q_tail);
}

void ctl_store_destroy(struct ctl_store *s)
{
	if (!s)
		return;
	drop_conn(s, "shutting down");
	ctl_kconn_fini(&s->conn);
	free(s->next_off);
	free(s->end_off);
	free(s->seqs);
	free(s);
}

void ctl_store_create_lazily(struct ctl_store *s)
{
	s->lazy_create = true;
}

bool ctl_store_loaded(const struct ctl_store *s)
{
	return s->loaded;
}

bool ctl_store_missing(const struct ctl_store *s)
{
	return s->no_topic;
}

void ctl_store_stats(const struct ctl_store *s, struct ctl_store_stats *out)
{
	*out = s->stats;
}

int ctl_store_fd(const struct ctl_store *s)
{
	return ctl_kconn_fd(&s->conn);
}

short ctl_store_events(const struct ctl_store *s)
{
	short ev = ctl_kconn_events(&s->conn);
	/* CONNECTING lasts until the first POLLOUT, even when connect(2) finished at once. */
	return ev && s->st == ST_CONNECTING ? POLLOUT : ev;
}

/* Encodes one request (header + body) into the output and records it as in flight, carrying
 * the appends a (NULL but for Produce). */
static void send_req(struct ctl_store *s, int16_t key, int16_t version, const void *body, struct ctl_append *a)
{
	if (ctl_kconn_send(&s->conn, key, version, body, a) == 0)
		return;
	/* Out of memory: the connection state is unknown, so start over.  The append is failed
	 * from the loop (never inside the coordinator's call). */
	while (a) {
		struct ctl_append *nx = a->next;
		a->next = NULL;
		if (s->wait_tail) s->wait_tail->next = a; else s->wait_head = a;
		s->wait_tail = a;
		a = nx;
	}
	s->retry_at = s->now + RECONNECT_MS;
}

static void send_metadata(struct ctl_store *s)
{
	struct kp_metadata_req m;
	kp_metadata_req_init(&m);
	struct kp_metadata_req_topic t;
	kp_metadata_req_topic_init(&t);
	t.name = s->name;
	m.topics.items = &t;
	m.topics.n = 1;
	m.allow_auto_topic_creation = false;
	send_req(s, KP_API_METADATA, V_METADATA, &m, NULL);
	s->meta_out = true;
}

static void send_create(struct ctl_store *s)
{
	struct kp_create_topics_req m;
	kp_create_topics_req_init(&m);
	struct kp_create_topics_req_creatable_topic t;
	kp_create_topics_req_creatable_topic_init(&t);
	struct kp_create_topics_req_creatable_topic_config cfg[2];
	kp_create_topics_req_creatable_topic_config_init(&cfg[0]);
	kp_create_topics_req_creatable_topic_config_init(&cfg[1]);
	cfg[0].name = (struct kp_str){ "cleanup.policy", 14 };
	cfg[0].value = (struct kp_str){ "compact", 7 };
	cfg[1].name = (struct kp_str){ "compression.type", 16 };
	cfg[1].value = (struct kp_str){ "producer", 8 };
	t.name = s->name;
	t.num_partitions = s->want_partitions;
	t.replication_factor = 1;
	t.assignments.n = 0;
	t.configs.items = cfg;
	t.configs.n = 2;
	m.topics.items = &t;
	m.topics.n = 1;
	m.timeout_ms = 30000;
	send_req(s, KP_API_CREATE_TOPICS, V_CREATE, &m, NULL);
}

static void send_fetch(struct ctl_store *s)
{
	struct kp_fetch_req m;
	kp_fetch_req_init(&m);
	struct kp_fetch_req_topic t;
	kp_fetch_req_topic_init(&t);
	struct kp_fetch_req_partition *ps = calloc((size_t)s->nparts, sizeof(*ps));
	if (!ps)
		abort();
	int32_t n = 0;
	for (int32_t i = 0; i < s->nparts; i++) {
		if (s->end_off[i] >= 0 && s->next_off[i] >= s->end_off[i])
			continue;
		kp_fetch_req_partition_init(&ps[n]);
		ps[n].partition = i;
		ps[n].fetch_offset = s->next_off[i];
		ps[n].partition_max_bytes = FETCH_PART_BYTES;
		n++;
	}
	t.topic = s->name;
	t.partitions.items = ps;
	t.partitions.n = n;
	m.max_wait_ms = 0;
	m.min_bytes = 0;
	m.max_bytes = 32 << 20;
	m.topics.items = &t;
	m.topics.n = 1;
	m.forgotten_topics_data.n = 0;
	send_req(s, KP_API_FETCH, V_FETCH, &m, NULL);
	free(ps);
	s->fetch_out = true;
}

static void load_finished(struct ctl_store *s)
{
	s->loaded = true;
	s->st = ST_READY;
	s->stats.load_ms = now_ms() - s->load_start;
	s->sink.load_done(s->sink.ctx);
	RT_INFO("control store: %s loaded: %lld records from %d partitions in %lld ms", s->topic,
	        (long long)s->stats.loaded_records, s->nparts, (long long)s->stats.load_ms);
}

static void maybe_continue_load(struct ctl_store *s)
{
	if (s->st != ST_LOAD || s->fetch_out)
		return;
	for (int32_t i = 0; i < s->nparts; i++)
		if (s->end_off[i] < 0 || s->next_off[i] < s->end_off[i]) {
			send_fetch(s);
			return;
		}
	if (!s->loaded)
		load_finished(s);
	else
		s->st = ST_READY;
}

/* DescribeProducers for every partition with an unknown sequence. */
static void send_describe(struct ctl_store *s)
{
	int32_t *parts = calloc(s->nseqs + 1, sizeof(*parts)), n = 0;
	if (!parts)
		abort();
	for (size_t i = 0; i < s->nseqs; i++) {
		if (!s->seqs[i].unknown)
			continue;
		int32_t k = 0;
		while (k < n && parts[k] != s->seqs[i].partition)
			k++;
		if (k == n)
			parts[n++] = s->seqs[i].partition;
	}
	struct kp_describe_producers_req m;
	kp_describe_producers_req_init(&m);
	struct kp_describe_producers_req_topic t;
	kp_describe_producers_req_topic_init(&t);
	t.name = s->name;
	t.partition_indexes.items = parts;
	t.partition_indexes.n = n;
	m.topics.items = &t;
	m.topics.n = 1;
	send_req(s, KP_API_DESCRIBE_PRODUCERS, V_DESCRIBE_PRODUCERS, &m, NULL);
	free(parts);
	s->describe_out = true;
}

/* The answers (on_describe, on_metadata, on_create, on_fetch): 0, or -EPROTO when malformed
 * (the connection is then dropped; kconn.h). */

/* The partitions' producer state: the next sequence of each producer whose batch was lost is
 * the one after the last the broker has (its epoch's), or stays as it was when the broker does
 * not know the producer there (nothing of it was written). */
static int on_describe(struct ctl_store *s, struct rt_rd *r, int16_t version, struct rt_arena *a)
{
	s->describe_out = false;
	struct kp_describe_producers_resp m;
	kp_describe_producers_resp_init(&m);
	if (kp_describe_producers_resp_decode(r, version, a, &m) || m.topics.n != 1)
		return -EPROTO;
	bool again = false;
	const struct kp_describe_producers_resp_topic *t = &m.topics.items[0];
	for (int32_t i = 0; i < t->partitions.n; i++) {
		const struct kp_describe_producers_resp_partition *pr = &t->partitions.items[i];
		if (pr->error_code) {
			again = true;
			continue;
		}
		for (size_t k = 0; k < s->nseqs; k++) {
			struct txn_seq *q = &s->seqs[k];
			if (!q->unknown || q->partition != pr->partition_index)
				continue;
			q->unknown = false;
			for (int32_t j = 0; j < pr->active_producers.n; j++) {
				const struct kp_describe_producers_resp_producer_state *ps = &pr->active_producers.items[j];
				if (ps->producer_id != q->pid)
					continue;
				q->epoch = (int16_t)ps->producer_epoch;
				q->next = ps->last_sequence < 0 || ps->last_sequence == INT32_MAX ? 0 : ps->last_sequence + 1;
			}
		}
	}
	for (size_t k = 0; k < s->nseqs; k++)
		again = again || s->seqs[k].unknown;
	if (again) {
		s->retry_at = s->now + RECONNECT_MS;   /* the metadata round asks again */
		return 0;
	}
	s->relearn = false;
	s->st = ST_READY;
	RT_INFO("control store: %s: producer sequences after the lost connection read back", s->topic);
	return 0;
}

static int on_metadata(struct ctl_store *s, struct rt_rd *r, int16_t version, struct rt_arena *a)
{
	s->meta_out = false;
	struct kp_metadata_resp m;
	kp_metadata_resp_init(&m);
	if (kp_metadata_resp_decode(r, version, a, &m))
		return -EPROTO;
	if (m.topics.n < 1 || m.topics.items[0].error_code == KP_ERR_UNKNOWN_TOPIC_OR_PARTITION) {
		if (s->lazy_create && !s->q_head && !s->creating) {
			/* Nothing to load; as Kafka, the topic is created when first needed. */
			s->no_topic = true;
			if (!s->loaded) {
				RT_INFO("control store: %s does not exist yet; it is created on the first write", s->topic);
				s->nparts = 0;
				load_finished(s);
			}
			s->st = ST_READY;
			return 0;
		}
		RT_INFO("control store: creating %s with %d partitions", s->topic, s->want_partitions);
		s->creating = true;
		send_create(s);
		return 0;
	}
	struct kp_metadata_resp_topic *t = &m.topics.items[0];
	if (t->error_code || t->partitions.n <= 0) {
		s->retry_at = s->now + RECONNECT_MS; /* LEADER_NOT_AVAILABLE etc.: ask again */
		return 0;
	}
	/* Kafka lists each partition of the topic once, so the indexes are 0 .. partitions.n - 1:
	 * an index outside that (a broken answer) is not taken as a partition count to allocate. */
	int32_t n = 0;
	for (int32_t i = 0; i < t->partitions.n; i++) {
		int32_t idx = t->partitions.items[i].partition_index;
		if (idx < 0 || idx >= t->partitions.n) {
			RT_WARN("control store: %s: Metadata names partition %d of %d; asking again", s->topic, idx,
			        t->partitions.n);
			s->retry_at = s->now + RECONNECT_MS;
			return 0;
		}
		if (idx + 1 > n)
			n = idx + 1;
	}
	if (n != s->want_partitions)
		RT_WARN("control store: %s has %d partitions, offsets.topic.num.partitions says %d; using %d",
		        s->topic, n, s->want_partitions, n);
	if (!s->loaded || n != s->nparts) {
		free(s->next_off);
		free(s->end_off);
		s->nparts = n;
		s->next_off = calloc((size_t)n, sizeof(*s->next_off));
		s->end_off = malloc((size_t)n * sizeof(*s->end_off));
		if (!s->next_off || !s->end_off)
			abort();
		for (int32_t i = 0; i < n; i++)
			s->end_off[i] = -1;
	}
	s->no_topic = false;
	s->creating = false;
	if (s->sink.set_partitions)
		s->sink.set_partitions(s->sink.ctx, n);
	if (s->loaded) {
		if (s->relearn)
			send_describe(s);      /* READY once answered */
		else
			s->st = ST_READY;
		return 0;
	}
	s->st = ST_LOAD;
	maybe_continue_load(s);
	return 0;
}

static int on_create(struct ctl_store *s, struct rt_rd *r, int16_t version, struct rt_arena *a)
{
	struct kp_create_topics_resp m;
	kp_create_topics_resp_init(&m);
	if (kp_create_topics_resp_decode(r, version, a, &m))
		return -EPROTO;
	int16_t e = m.topics.n > 0 ? m.topics.items[0].error_code : KP_ERR_UNKNOWN_SERVER_ERROR;
	if (e && e != KP_ERR_TOPIC_ALREADY_EXISTS)
		RT_WARN("control store: creating %s: %s", s->topic, kp_error_name(e));
	send_metadata(s);
	return 0;
}

static void load_batches(struct ctl_store *s, int32_t part, const uint8_t *p, int32_t len, struct rt_arena *a)
{
	size_t off = 0, n = len > 0 ? (size_t)len : 0;
	while (off + KP_BATCH_LOG_OVERHEAD <= n) {
		size_t bs = kp_batch_size(p + off, n - off);
		if (!bs || off + bs > n)
			break; /* a batch cut by the fetch size: fetched again from its start */
		struct kp_batch_iter it;
		int rc = kp_batch_iter_init(&it, p + off, bs, a, 64u << 20);
		if (it.hdr.magic == 2)          /* the header parsed (batch.h), whatever its records */
			s->next_off[part] = it.hdr.base_offset + it.hdr.last_offset_delta + 1;
		if (rc) {
			RT_WARN("control store: %s-%d: unreadable batch at offset %lld skipped", s->topic, part,
			        (long long)rt_be64_get(p + off));
		} else if (it.hdr.attributes & KP_ATTR_CONTROL) {
			/* A transaction marker: its one record's key is int16 version, int16 type
			 * (0 ABORT, 1 COMMIT). */
			struct kp_record rec;
			seq_learn(s, part, &it.hdr);
			if (s->sink.load_marker && kp_batch_iter_next(&it, &rec) == 1 && rec.key_len >= 4)
				s->sink.load_marker(s->sink.ctx, part, it.hdr.producer_id, rt_be16_get(rec.key + 2) == 1);
		} else {
			struct kp_record rec;
			seq_learn(s, part, &it.hdr);
			if (s->sink.load_batch)
				s->sink.load_batch(s->sink.ctx, it.hdr.base_offset,
				                   (it.hdr.attributes & KP_ATTR_TRANSACTIONAL) ? it.hdr.producer_id : -1);
			while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
				if (rec.key_len < 0)
					continue;
				s->sink.load_record(s->sink.ctx, rec.key, (size_t)rec.key_len, rec.value, rec.value_len);
				s->stats.loaded_records++;
			}
		}
		off += bs;
	}
}

static int on_fetch(struct ctl_store *s, struct rt_rd *r, int16_t version, struct rt_arena *a)
{
	s->fetch_out = false;
	struct kp_fetch_resp m;
	kp_fetch_resp_init(&m);
	if (kp_fetch_resp_decode(r, version, a, &m))
		return -EPROTO;
	bool retry = false;
	for (int32_t t = 0; t < m.responses.n; t++) {
		struct kp_fetch_resp_fetchable_topic *ft = &m.responses.items[t];
		for (int32_t i = 0; i < ft->partitions.n; i++) {
			struct kp_fetch_resp_partition_data *pd = &ft->partitions.items[i];
			int32_t p = pd->partition_index;
			if (p < 0 || p >= s->nparts)
				continue;
			if (pd->error_code == KP_ERR_OFFSET_OUT_OF_RANGE) {
				s->next_off[p] = pd->log_start_offset > s->next_off[p] ? pd->log_start_offset : pd->high_watermark;
				continue;
			}
			if (pd->error_code) {
				retry = true;
				continue;
			}
			if (s->end_off[p] < 0)
				s->end_off[p] = pd->high_watermark;
			int64_t before = s->next_off[p];
			load_batches(s, p, pd->records.ptr, pd->records.len, a);
			if (s->next_off[p] == before && s->next_off[p] < s->end_off[p] && pd->records.len <= 0)
				/* nothing below the high watermark came back (compacted away): done */
				s->next_off[p] = s->end_off[p];
		}
	}
	if (retry)
		s->retry_at = s->now + RECONNECT_MS;
	else
		maybe_continue_load(s);
	return 0;
}

static void on_produce(struct ctl_store *s, struct rt_rd *r, int16_t version, struct rt_arena *a, struct ctl_append *list)
{
	struct kp_produce_resp m;
	kp_produce_resp_init(&m);
	bool ok = !kp_produce_resp_decode(r, version, a, &m) && m.responses.n > 0;
	while (list) {
		struct ctl_append *ap = list, *n = list->next;
		int16_t err = KP_ERR_UNKNOWN_SERVER_ERROR;
		for (int32_t t = 0; ok && t < m.responses.n; t++)
			for (int32_t i = 0; i < m.responses.items[t].partition_responses.n; i++)
				if (m.responses.items[t].partition_responses.items[i].index == ap->partition) {
					err = m.responses.items[t].partition_responses.items[i].error_code;
					ap->log_offset = m.responses.items[t].partition_responses.items[i].base_offset;
				}
		if (err) {
			s->stats.append_errors++;
			ap->log_offset = -1;
			if (ap->transactional)
				seq_unsent(s, ap);
		}
		ap->next = NULL;
		s->sink.append_done(s->sink.ctx, ap, err);
		list = n;
	}
}

/* One Produce request for every append queued since the last: the records of all appends to a
 * partition go into one batch (Kafka takes one batch per partition in a request), so commits
 * that arrive together share one write and one fdatasync. */
static void send_queued(struct ctl_store *s)
{
	struct ctl_append *list = s->q_head;
	s->q_head = s->q_tail = NULL;
	if (!list)
		return;
	int32_t np = 0;
	for (struct ctl_append *x = list; x; x = x->next)
		np++;
	struct kp_produce_req_partition_data *pd = calloc((size_t)np, sizeof(*pd));
	struct kp_batch_builder *bb = calloc((size_t)np, sizeof(*bb));
	struct ctl_append **owner = calloc((size_t)np, sizeof(*owner));   /* the batch's first append */
	int32_t *held = calloc((size_t)np, sizeof(*held));                 /* partitions put off */
	int32_t nheld = 0;
	struct ctl_append *txn_owner = NULL;   /* the request's transactional producer, if any */
	if (!pd || !bb || !owner || !held)
		abort();
	int32_t n = 0;
	int64_t ts = rt_clock_wall_ms();
	struct ctl_append *send = NULL, **send_tail = &send;
	struct ctl_append *x = list;
	while (x) {
		struct ctl_append *nx = x->next;
		x->next = NULL;
		int32_t k = 0;
		while (k < n && pd[k].index != x->partition)
			k++;
		bool after_held = false;
		for (int32_t i = 0; i < nheld && !after_held; i++)
			after_held = held[i] == x->partition;
		bool other_txn = x->transactional && txn_owner && (txn_owner->producer_id != x->producer_id ||
		                                                   txn_owner->producer_epoch != x->producer_epoch);
		if (after_held || other_txn ||
		    (k < n && (owner[k]->transactional != x->transactional ||
		               (x->transactional && (owner[k]->producer_id != x->producer_id ||
		                                     owner[k]->producer_epoch != x->producer_epoch))))) {
			/* Kafka takes one batch per partition in a request, a batch has one producer,
			 * and a request one transactional id: this append goes in the next request,
			 * and so does every later append to its partition, which must not reach the
			 * log before it (a DeleteGroups tombstone must follow the transactional
			 * offsets it covers). */
			if (!after_held)
				held[nheld++] = x->partition;
			if (s->q_tail)
				s->q_tail->next = x;
			else
				s->q_head = x;
			s->q_tail = x;
			x = nx;
			continue;
		}
		if (x->transactional && !txn_owner)
			txn_owner = x;
		if (k == n) {
			kp_produce_req_partition_data_init(&pd[n]);
			pd[n].index = x->partition;
			owner[n] = x;
			if (x->transactional) {
				struct txn_seq *q = seq_of(s, x->partition, x->producer_id);
				int32_t base = q->epoch == x->producer_epoch ? q->next : 0;
				kp_batch_builder_init(&bb[n], KP_COMPRESSION_NONE, KP_ATTR_TRANSACTIONAL, x->producer_id,
				                      x->producer_epoch, base);
			} else {
				kp_batch_builder_init(&bb[n], KP_COMPRESSION_NONE, 0, -1, -1, -1);
			}
			n++;
		}
		for (int32_t i = 0; i < x->n; i++) {
			const struct ctl_kv *kv = &x->kv[i];
			kp_batch_builder_add(&bb[k], ts, x->data.data + kv->koff, (int32_t)kv->klen,
			                     kv->vlen >= 0 ? x->data.data + kv->voff : NULL, kv->vlen, NULL, 0);
		}
		*send_tail = x;
		send_tail = &x->next;
		x = nx;
	}
	/* Number the transactional batches: each append remembers what to give back if its batch
	 * is not written. */
	for (int32_t k = 0; k < n; k++) {
		if (!owner[k]->transactional)
			continue;
		struct txn_seq *q = seq_of(s, owner[k]->partition, owner[k]->producer_id);
		int16_t prev_epoch = q->epoch;
		int32_t prev_next = q->next;
		int32_t end = bb[k].base_sequence + bb[k].count;
		q->epoch = owner[k]->producer_epoch;
		q->next = end < 0 ? 0 : end;
		for (struct ctl_append *y = send; y; y = y->next)
			if (y->transactional && y->partition == owner[k]->partition) {
				y->seq_end = q->next;
				y->seq_prev_epoch = prev_epoch;
				y->seq_prev_next = prev_next;
			}
	}
	bool failed = false;
	for (int32_t k = 0; k < n; k++) {
		size_t size = 0;
		const uint8_t *batch = kp_batch_builder_finish(&bb[k], &size);
		if (!batch)
			failed = true;
		pd[k].records = (struct kp_records){ batch, (int32_t)size, -1, 0 };
	}
	if (failed) {
		/* only memory exhaustion gets here: fail them from the loop */
		struct ctl_append *h = send, *t = send;
		while (t && t->next)
			t = t->next;
		fail_appends(s, &h, &t);
	} else {
		struct kp_produce_req m;
		kp_produce_req_init(&m);
		struct kp_produce_req_topic_data t;
		kp_produce_req_topic_data_init(&t);
		t.name = s->name;
		t.partition_data.items = pd;
		t.partition_data.n = n;
		m.acks = -1;
		m.timeout_ms = 30000;
		/* Kafka refuses transactional records without their producer's transactional id */
		if (txn_owner && txn_owner->transactional_id)
			m.transactional_id = (struct kp_str){ txn_owner->transactional_id,
			                                      (int32_t)strlen(txn_owner->transactional_id) };
		m.topic_data.items = &t;
		m.topic_data.n = 1;
		for (struct ctl_append *y = send; y; y = y->next)
			s->stats.appends++;
		s->stats.produce_requests++;
		send_req(s, KP_API_PRODUCE, V_PRODUCE, &m, send);
	}
	for (int32_t k = 0; k < n; k++)
		kp_batch_builder_fini(&bb[k]);
	free(bb);
	free(pd);
	free(owner);
	free(held);
}

void ctl_store_append(struct ctl_store *s, struct ctl_append *a)
{
	a->next = NULL;
	if (s->st == ST_READY && s->no_topic) {
		/* The first write: create the topic; the append waits in the queue for it. */
		if (s->q_tail)
			s->q_tail->next = a;
		else
			s->q_head = a;
		s->q_tail = a;
		if (!s->creating) {
			RT_INFO("control store: creating %s with %d partitions", s->topic, s->want_partitions);
			s->creating = true;
			send_create(s);
		}
		return;
	}
	if (s->st != ST_READY || a->partition >= s->nparts) {
		/* Not connected (or the coordinator's partitioning disagrees with the topic): the
		 * append fails and the client retries. */
		s->stats.append_errors++;
		/* never complete from inside the coordinator's call: queue and fail from the loop */
		if (s->wait_tail)
			s->wait_tail->next = a;
		else
			s->wait_head = a;
		s->wait_tail = a;
		return;
	}
	/* Sent from the loop (ctl_store_tick), together with whatever else arrives meanwhile. */
	if (s->q_tail)
		s->q_tail->next = a;
	else
		s->q_head = a;
	s->q_tail = a;
}

static int on_answer(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *r, struct rt_arena *a)
{
	struct ctl_store *s = ctx;
	if (s->fault_lose_txn_answer && key == KP_API_PRODUCE) {
		bool txn = false;
		for (struct ctl_append *x = arg; x && !txn; x = x->next)
			txn = x->transactional;
		if (txn) {
			/* its answer is lost with the connection */
			s->fault_lose_txn_answer = false;
			fail_list(s, arg, true);
			drop_conn(s, "fault injection: a transactional Produce's answer is lost");
			return 0;
		}
	}
	switch (key) {
	case KP_API_METADATA: return on_metadata(s, r, version, a);
	case KP_API_DESCRIBE_PRODUCERS: return on_describe(s, r, version, a);
	case KP_API_CREATE_TOPICS: return on_create(s, r, version, a);
	case KP_API_FETCH: return on_fetch(s, r, version, a);
	case KP_API_PRODUCE: on_produce(s, r, version, a, arg); break;
	}
	return 0;
}

static void do_write(struct ctl_store *s)
{
	int rc = ctl_kconn_write(&s->conn);
	if (rc)
		drop_conn(s, strerror(-rc));
}

void ctl_store_io(struct ctl_store *s, short revents)
{
	s->now = now_ms();
	if (ctl_kconn_fd(&s->conn) < 0)
		return;
	if (s->st == ST_CONNECTING) {
		if (ctl_kconn_connect_done(&s->conn)) {
			ctl_kconn_close(&s->conn, NULL, lost_appends, s);   /* nothing in flight yet */
			s->st = ST_DOWN;
			s->retry_at = s->now + RECONNECT_MS;
			return;
		}
		s->st = ST_META;
		send_metadata(s);
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		const char *why;
		if (ctl_kconn_read(&s->conn, &why))
			drop_conn(s, why);
	}
	if (ctl_kconn_fd(&s->conn) >= 0)
		do_write(s);
}

static void try_connect(struct ctl_store *s)
{
	if (ctl_kconn_connect(&s->conn)) {
		s->retry_at = s->now + RECONNECT_MS;
		return;
	}
	s->st = ST_CONNECTING;
}

int64_t ctl_store_tick(struct ctl_store *s, int64_t now)
{
	s->now = now;
	if (s->wait_head)
		fail_appends(s, &s->wait_head, &s->wait_tail);
	if (s->st == ST_DOWN && now >= s->retry_at)
		try_connect(s);
	if (s->retry_at && now >= s->retry_at && ctl_kconn_fd(&s->conn) >= 0) {
		s->retry_at = 0;
		if (s->st == ST_META && !s->meta_out)
			send_metadata(s);
		else if (s->st == ST_LOAD && !s->fetch_out)
			maybe_continue_load(s);
	}
	if (s->q_head) {
		if (s->st == ST_READY && !s->no_topic)
			send_queued(s);
		else if (!(s->creating && ctl_kconn_fd(&s->conn) >= 0))
			fail_appends(s, &s->q_head, &s->q_tail);
		/* else: waiting for the topic to be created */
	}
	if (ctl_kconn_fd(&s->conn) >= 0 && ctl_kconn_pending(&s->conn))
		do_write(s);
	return s->retry_at ? s->retry_at : now + 1000;
}
