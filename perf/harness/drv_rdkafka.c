/*
 * perf/harness/drv_rdkafka.c: the workloads through librdkafka, so that the native driver's
 * figures can be checked against what a real client sees.
 *
 * Producers are rd_kafka_t instances driven from this one thread; the message opaque carries
 * the record's intended send time, and the delivery report turns it into a latency sample.
 * Keyed records use the murmur2_random partitioner (Kafka's default for keys).  Without --group
 * the consumers assign themselves partition mod consumers (no commits); with --group they are
 * high-level consumers in one group (rdk_member.c).  Consumers read the send time from the value.
 * --idle-connections opens the same silent connections as the native driver (idle.c).
 * --driver-conf K=V,... is passed to every rd_kafka_conf, last, so it can override anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "base/clock.h"
#include "perf/harness/driver.h"
#include "perf/harness/keys.h"
#include "perf/harness/pace.h"
#include "perf/harness/member.h"
#include "perf/harness/rdk_member.h"
#include "perf/harness/record.h"

#define RDK_GROUP_FORM_NS 30000000000ull      /* a group that takes longer to form fails the run */

static const char *codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

static int set(rd_kafka_conf_t *c, const char *k, const char *v, struct perf_stats *st)
{
	char err[256];
	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		perf_stats_error(st, -1, "rdkafka: %s=%s: %s", k, v, err);
		return -EINVAL;
	}
	return 0;
}

static int seti(rd_kafka_conf_t *c, const char *k, long long v, struct perf_stats *st)
{
	char s[32];
	snprintf(s, sizeof(s), "%lld", v);
	return set(c, k, s, st);
}

/* Applies --driver-conf "k=v,k=v". */
static int apply_extra(rd_kafka_conf_t *c, const char *extra, struct perf_stats *st)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", extra);
	char *save = NULL;
	for (char *kv = strtok_r(tmp, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq) {
			perf_stats_error(st, -1, "--driver-conf: '%s' is not KEY=VALUE", kv);
			return -EINVAL;
		}
		*eq = '\0';
		if (set(c, kv, eq + 1, st))
			return -EINVAL;
	}
	return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct perf_stats *st = opaque;
	uint64_t now = rt_clock_ns();
	if (m->err) {
		st->failed_records++;
		perf_stats_error(st, -1, "rdkafka delivery: %s", rd_kafka_err2str(m->err));
		return;
	}
	st->acked_records++;
	st->acked_bytes += (int64_t)m->len + (int64_t)m->key_len;
	uint64_t t = (uint64_t)(uintptr_t)m->_private;
	perf_stats_latency(st, PERF_LAT_PRODUCE, now, now > t ? now - t : 0);
}

static rd_kafka_conf_t *base_conf(const struct perf_opts *o, struct perf_stats *st)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	if (set(c, "bootstrap.servers", o->bootstrap, st) || set(c, "client.id", "ringtail-perf", st) ||
	    set(c, "log_level", "3", st)) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	rd_kafka_conf_set_opaque(c, st);
	return c;
}

static rd_kafka_t *new_producer(const struct perf_opts *o, struct perf_stats *st)
{
	rd_kafka_conf_t *c = base_conf(o, st);
	if (!c)
		return NULL;
	const char *acks = o->acks == -1 ? "all" : o->acks == 0 ? "0" : "1";
	if (set(c, "acks", acks, st) || seti(c, "linger.ms", o->linger_ms, st) ||
	    seti(c, "batch.size", o->batch_size, st) ||
	    set(c, "compression.type", codec_names[o->compression], st) ||
	    seti(c, "max.in.flight.requests.per.connection", o->inflight, st) ||
	    set(c, "enable.idempotence", "false", st) ||
	    set(c, "partitioner", "murmur2_random", st) ||
	    seti(c, "message.max.bytes", o->record_size + 1024 > 1000000 ? o->record_size + 1024 : 1000000, st) ||
	    apply_extra(c, o->driver_conf, st)) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	char err[256];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		perf_stats_error(st, -1, "rdkafka producer: %s", err);
	return rk;
}

/* Creates the topic with o->partitions partitions; an existing topic is fine. */
static int create_topic(rd_kafka_t *rk, const struct perf_opts *o, struct perf_stats *st)
{
	char err[256];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof(err));
	if (!nt) {
		perf_stats_error(st, -1, "rdkafka create topic: %s", err);
		return -EINVAL;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
	int rc = 0;
	if (!ev) {
		perf_stats_error(st, -1, "rdkafka create topic: no answer in 30 s");
		rc = -ETIMEDOUT;
	} else {
		const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
		size_t n = 0;
		const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
		if (rd_kafka_event_error(ev)) {
			perf_stats_error(st, -1, "rdkafka create topic: %s", rd_kafka_event_error_string(ev));
			rc = -EIO;
		} else if (n == 1 && rd_kafka_topic_result_error(tr[0]) &&
		           rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			perf_stats_error(st, -1, "rdkafka create topic: %s", rd_kafka_topic_result_error_string(tr[0]));
			rc = -EIO;
		}
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	return rc;
}

int perf_rdk_topic_wait(rd_kafka_t *rk, const char *topic, struct perf_stats *st, int32_t *nparts)
{
	uint64_t until = rt_clock_ns() + 10000000000ull;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rkt) {
		perf_stats_error(st, -1, "rdkafka topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
		return -EIO;
	}
	rd_kafka_resp_err_t e;
	bool ready = false;
	for (;;) {
		const rd_kafka_metadata_t *md = NULL;
		e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
		if (!e && md->topic_cnt != 1)
			e = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		if (!e)
			e = md->topics[0].err;
		ready = !e && md->topics[0].partition_cnt > 0;
		for (int p = 0; ready && p < md->topics[0].partition_cnt; p++)
			if (md->topics[0].partitions[p].leader < 0)
				ready = false;
		if (ready)
			*nparts = md->topics[0].partition_cnt;
		if (md)
			rd_kafka_metadata_destroy(md);
		if (ready || rt_clock_ns() >= until)
			break;
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	rd_kafka_topic_destroy(rkt);
	if (!ready) {
		perf_stats_error(st, -1, "rdkafka: no leader for every partition of %s in 10 s (%s)", topic,
		                 e ? rd_kafka_err2str(e) : "no partitions");
		return -EIO;
	}
	return 0;
}

rd_kafka_conf_t *perf_rdk_consumer_conf(const struct perf_opts *o, struct perf_stats *st, bool group)
{
	rd_kafka_conf_t *c = base_conf(o, st);
	if (!c)
		return NULL;
	/* In a group the members' heartbeat and session match the native driver's (member.h). */
	if (set(c, "group.id", group ? o->group : "ringtail-perf", st) || set(c, "enable.auto.commit", "false", st) ||
	    set(c, "enable.partition.eof", group ? "false" : "true", st) ||
	    seti(c, "fetch.max.bytes", o->fetch_max_bytes, st) ||
	    seti(c, "max.partition.fetch.bytes", o->fetch_partition_max_bytes, st) ||
	    seti(c, "fetch.wait.max.ms", o->fetch_max_wait_ms, st) ||
	    seti(c, "fetch.min.bytes", o->fetch_min_bytes, st) ||
	    (group && (set(c, "partition.assignment.strategy", o->assignor, st) ||
	               seti(c, "session.timeout.ms", PERF_GRP_SESSION_MS, st) ||
	               seti(c, "heartbeat.interval.ms", PERF_GRP_HEARTBEAT_MS, st))) ||
	    apply_extra(c, o->driver_conf, st)) {
		rd_kafka_conf_destroy(c);
		return NULL;
	}
	return c;
}

void perf_rdk_consumed(const struct perf_opts *o, struct perf_stats *st, const rd_kafka_message_t *m)
{
	uint64_t t, tn = rt_clock_ns();
	st->consumed_records++;
	st->consumed_bytes += (int64_t)m->len + (int64_t)m->key_len;
	if (o->mode == PERF_MODE_E2E && perf_record_parse(m->payload, m->len, &t))
		perf_stats_latency(st, PERF_LAT_E2E, tn, tn > t ? tn - t : 0);
}

static rd_kafka_t *new_consumer(const struct perf_opts *o, struct perf_stats *st, int idx, int nconsumers)
{
	rd_kafka_conf_t *c = perf_rdk_consumer_conf(o, st, false);
	if (!c)
		return NULL;
	char err[256];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rk) {
		perf_stats_error(st, -1, "rdkafka consumer: %s", err);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	/* This consumer's share of the partitions: p mod nconsumers == idx. */
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	rd_kafka_topic_destroy(rkt);
	if (e || md->topic_cnt != 1 || md->topics[0].err) {
		perf_stats_error(st, -1, "rdkafka metadata for %s: %s", o->topic,
		                 rd_kafka_err2str(e ? e : md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
		if (md)
			rd_kafka_metadata_destroy(md);
		rd_kafka_destroy(rk);
		return NULL;
	}
	int np = md->topics[0].partition_cnt;
	if (o->partitions > 0 && o->partitions < np)
		np = o->partitions;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
	for (int p = idx; p < np; p += nconsumers)
		rd_kafka_topic_partition_list_add(l, o->topic, p)->offset =
			o->from_latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	if (l->cnt)
		rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	return rk;
}

/* Polls the group-less consumers: each message counted, end-of-partition events counted into
 * *eofs.  True when something came. */
static bool poll_consumers(const struct perf_opts *o, struct perf_stats *st, rd_kafka_t **cons, int nc,
                           int64_t *eofs, int timeout_ms)
{
	bool busy = false;
	for (int i = 0; i < nc; i++) {
		for (int k = 0; k < 1000; k++) {
			rd_kafka_message_t *m = rd_kafka_consumer_poll(cons[i], timeout_ms);
			if (!m)
				break;
			busy = true;
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				(*eofs)++;
			else if (m->err)
				perf_stats_error(st, -1, "rdkafka consume: %s", rd_kafka_message_errstr(m));
			else
				perf_rdk_consumed(o, st, m);
			rd_kafka_message_destroy(m);
		}
	}
	return busy;
}

int perf_run_rdkafka(const struct perf_opts *o, struct perf_stats *st)
{
	bool produce = o->mode != PERF_MODE_CONSUME, consume = o->mode != PERF_MODE_PRODUCE;
	bool group = consume && o->group[0];
	int np = produce ? o->producers : 0, nc = consume && !group ? o->consumers : 0;
	rd_kafka_t **prod = calloc((size_t)np + 1, sizeof(*prod));
	rd_kafka_t **cons = calloc((size_t)nc + 1, sizeof(*cons));
	struct perf_rdk_grp *grp = NULL;
	int *idle = NULL, nidle = 0;
	uint8_t *value = malloc((size_t)o->record_size);
	struct perf_keygen kg;
	int rc = perf_keygen_init(&kg, o->keys, o->key_count, o->zipf_s, 1);
	if (!prod || !cons || !value || rc) {
		free(prod); free(cons); free(value);
		return rc ? rc : -ENOMEM;
	}
	perf_record_fill(value, (size_t)o->record_size, 0, 0);

	for (int i = 0; i < np; i++)
		if (!(prod[i] = new_producer(o, st))) { rc = -EINVAL; goto out; }
	if (o->create) {
		rd_kafka_t *admin = np ? prod[0] : new_producer(o, st);
		if (!admin) { rc = -EINVAL; goto out; }
		rc = create_topic(admin, o, st);
		if (admin != prod[0])
			rd_kafka_destroy(admin);
		if (rc)
			goto out;
	}
	/* Every producer learns the topic's leaders before the clock starts: a producer that
	 * meets the topic in its first record queues the run's first second (librdkafka's
	 * metadata refresh of a topic it does not know) and that wait would count as latency. */
	for (int i = 0; i < np; i++) {
		int32_t n;
		if ((rc = perf_rdk_topic_wait(prod[i], o->topic, st, &n)))
			goto out;
	}
	int64_t nparts_assigned = 0;
	for (int i = 0; i < nc; i++) {
		if (!(cons[i] = new_consumer(o, st, i, nc))) { rc = -EIO; goto out; }
		rd_kafka_topic_partition_list_t *l = NULL;
		if (!rd_kafka_assignment(cons[i], &l)) {
			nparts_assigned += l->cnt;
			rd_kafka_topic_partition_list_destroy(l);
		}
	}
	/* Idle connections beside the load (idle.c): each said ApiVersions once. */
	if ((rc = perf_idle_open(o, st, &idle, &nidle)))
		goto out;
	/* A group: the run's clock and its producers start once every partition is given out. */
	if (group) {
		if (!(grp = perf_rdk_grp_new(o, st))) { rc = -EIO; goto out; }
		if ((rc = perf_rdk_grp_wait_formed(grp, RDK_GROUP_FORM_NS)))
			goto out;
	}
	int64_t eofs = 0;

	uint64_t start = rt_clock_ns();
	perf_stats_start(st, start);
	struct perf_pace pace;
	perf_pace_init(&pace, start, o->rate, o->mode == PERF_MODE_CONSUME ? 0 : (uint64_t)o->records);
	perf_pace_set_tick(&pace, (uint64_t)(o->pace_tick_us * 1000));
	bool have_pending = false;
	uint64_t pending_t = 0;
	uint32_t pending_key = 0;
	uint64_t seq = 0;
	const uint64_t duration_ns = (uint64_t)(o->duration_s * 1e9);

	for (;;) {
		uint64_t now = rt_clock_ns();
		bool time_up = o->duration_s > 0 && now - start >= duration_ns;
		if (time_up)
			break;
		if (o->mode == PERF_MODE_CONSUME &&
		    ((o->records && st->consumed_records >= o->records) || (nparts_assigned && eofs >= nparts_assigned) ||
		     (grp && perf_rdk_grp_read_all(grp))))
			break;
		if (produce && o->records && (int64_t)pace.issued >= o->records && !have_pending &&
		    o->mode == PERF_MODE_PRODUCE)
			break;
		bool busy = false;
		if (produce) {
			uint64_t due = perf_pace_due(&pace, now) + (have_pending ? 1 : 0);
			for (uint64_t i = 0; i < due && i < 4096; i++) {
				if (!have_pending) {
					pending_t = perf_pace_take(&pace, now);
					pending_key = perf_keygen_next(&kg);
					have_pending = true;
				}
				int p = (int)(seq % (uint64_t)np);
				perf_record_stamp(value, pending_t, (uint32_t)p);
				uint8_t key[PERF_KEY_LEN];
				perf_key_format(pending_key, key);
				bool keyed = pending_key != UINT32_MAX;
				rd_kafka_resp_err_t e = rd_kafka_producev(prod[p],
					RD_KAFKA_V_TOPIC(o->topic),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_VALUE(value, (size_t)o->record_size),
					RD_KAFKA_V_KEY(keyed ? key : NULL, keyed ? PERF_KEY_LEN : 0),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)pending_t),
					RD_KAFKA_V_END);
				if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
					break;
				have_pending = false;
				seq++;
				if (e) {
					st->failed_records++;
					perf_stats_error(st, -1, "rdkafka produce: %s", rd_kafka_err2str(e));
					continue;
				}
				st->sent_records++;
				st->sent_bytes += o->record_size + (keyed ? PERF_KEY_LEN : 0);
				busy = true;
			}
			for (int i = 0; i < np; i++)
				rd_kafka_poll(prod[i], 0);
		}
		busy |= poll_consumers(o, st, cons, nc, &eofs, 0);
		if (grp)
			busy |= perf_rdk_grp_poll(grp, now);
		perf_stats_tick(st, now);
		if (!busy) {
			uint64_t w = produce ? perf_pace_wait_ns(&pace, rt_clock_ns()) : UINT64_MAX;
			if (w > 200000)
				w = 200000;
			if (np)
				rd_kafka_poll(prod[0], 0);
			struct timespec ts = {0, (long)(w ? w : 20000)};
			nanosleep(&ts, NULL);
		}
	}
	/* Drain: what was handed to the client is acknowledged (or fails) before the clock stops. */
	for (int i = 0; i < np; i++)
		rd_kafka_flush(prod[i], 30000);
	if (o->mode == PERF_MODE_E2E) {
		/* A group waits longer: members paused by a rebalance resume from the commits. */
		uint64_t until = rt_clock_ns() + (grp ? 15000000000ull : 5000000000ull);
		/* A group counts each record once (consumed_records counts every read): a record
		 * read again after a rebalance must not stand in for one not read yet. */
		while ((grp ? perf_rdk_grp_reached(grp) : st->consumed_records) < st->acked_records &&
		       rt_clock_ns() < until) {
			bool busy = poll_consumers(o, st, cons, nc, &eofs, 10);
			if (grp)
				busy |= perf_rdk_grp_poll(grp, rt_clock_ns());
			if (!busy) {
				struct timespec ts = {0, 1000000};
				nanosleep(&ts, NULL);
			}
		}
	}
	/* The figures end when the work is drained, before the members hand over and leave. */
	perf_stats_stop(st, rt_clock_ns());
	st->connections = np + nc + perf_rdk_grp_members(grp) + nidle;
	if (grp)
		perf_rdk_grp_finish(grp);
	rc = 0;
out:
	perf_rdk_grp_free(grp);
	perf_idle_close(idle, nidle);
	for (int i = 0; i < np; i++)
		if (prod[i])
			rd_kafka_destroy(prod[i]);
	for (int i = 0; i < nc; i++)
		if (cons[i]) {
			rd_kafka_consumer_close(cons[i]);
			rd_kafka_destroy(cons[i]);
		}
	free(prod);
	free(cons);
	free(value);
	perf_keygen_fini(&kg);
	return rc;
}
