/*
 * perf/peers/drv_nats.c: the workloads on NATS JetStream through libnats (--driver nats).
 *
 * The topic is a JetStream stream of the same name on subject "<topic>.rec", file storage,
 * created when missing.  Producers publish asynchronously with up to --inflight unacknowledged
 * messages per connection (PublishAsync.MaxPending); an ack is JetStream's "stored" answer, the
 * counterpart of a Kafka produce response.  Consumers use a push consumer with no acks (AckNone)
 * and flow control, read through a synchronous subscription with no client-side pending limit
 * (so nothing is dropped as a slow consumer).
 *
 * Not a pull subscription: libnats 3.4's natsSubscription_Fetch can return more messages than
 * the batch it allocated room for when messages of an earlier, timed-out fetch are still queued
 * (it lowers its target by what it already holds and then waits for the lower target, which the
 * count has passed); natsMsgList_Destroy then frees pointers read past the array: the "double
 * free or corruption" aborts of the NATS consume and e2e runs (AddressSanitizer shows the read
 * past the 256-entry array).
 *
 * Durability is the server's: Debian 12's nats-server 2.9 writes each message to the OS page
 * cache before acknowledging it and syncs to disk on an interval; it has no per-message sync,
 * so it compares with Kafka's acks=1, not acks=-1 (perf/README.md says so next to the figures).
 *
 * libnats calls the ack handler on its own thread; every stats update holds `mu`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "base/clock.h"
#include "perf/harness/driver.h"
#include "perf/harness/pace.h"
#include "perf/harness/record.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

struct nats_run {
	const struct perf_opts *o;
	struct perf_stats *st;
	char subject[160];
	char url[300];
	volatile int stop;
	int64_t consume_target;        /* consume mode: messages stored when the run began */
	uint64_t start_seq;            /* first sequence after those */
};

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pa;
	struct nats_run *r = closure;
	uint64_t now = rt_clock_ns(), t;
	pthread_mutex_lock(&mu);
	if (pae) {
		r->st->failed_records++;
		perf_stats_error(r->st, -1, "nats publish: %s", pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
	} else {
		r->st->acked_records++;
		r->st->acked_bytes += natsMsg_GetDataLength(msg);
		if (perf_record_parse((const uint8_t *)natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &t))
			perf_stats_latency(r->st, PERF_LAT_PRODUCE, now, now > t ? now - t : 0);
	}
	pthread_mutex_unlock(&mu);
	natsMsg_Destroy(msg);
}

static natsStatus connect_js(struct nats_run *r, natsConnection **nc, jsCtx **js)
{
	natsStatus s = natsConnection_ConnectTo(nc, r->url);
	if (s != NATS_OK)
		return s;
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = r->o->inflight;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = r;
	jo.PublishAsync.StallWait = 1000;
	s = natsConnection_JetStream(js, *nc, &jo);
	if (s != NATS_OK) {
		/* The caller destroys what it holds at the end: leave it nothing to destroy twice. */
		natsConnection_Destroy(*nc);
		*nc = NULL;
		*js = NULL;
	}
	return s;
}

/* Counts one consumed message (under mu). */
static void consumed(struct nats_run *r, natsMsg *m, uint64_t now)
{
	int len = natsMsg_GetDataLength(m);
	uint64_t t;
	r->st->consumed_records++;
	r->st->consumed_bytes += len;
	if (r->o->mode == PERF_MODE_E2E && perf_record_parse((const uint8_t *)natsMsg_GetData(m), (size_t)len, &t))
		perf_stats_latency(r->st, PERF_LAT_E2E, now, now > t ? now - t : 0);
}

static void *consumer_main(void *arg)
{
	struct nats_run *r = arg;
	const struct perf_opts *o = r->o;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	jsErrCode jerr = 0;
	if (connect_js(r, &nc, &js) != NATS_OK) {
		pthread_mutex_lock(&mu);
		perf_stats_error(r->st, -1, "nats consumer: cannot connect to %s", r->url);
		pthread_mutex_unlock(&mu);
		return NULL;
	}
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = o->topic;
	so.Config.AckPolicy = js_AckNone;
	/* The server holds back when the client falls behind instead of cutting it off. */
	so.Config.FlowControl = true;
	so.Config.Heartbeat = (int64_t)5 * 1000000000;
	/* "Latest" is the stream's last sequence when the run began, not DeliverNew, so that no
	 * message published before this subscription exists is missed. */
	if (o->mode == PERF_MODE_E2E || o->from_latest) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = r->start_seq;
	} else {
		so.Config.DeliverPolicy = js_DeliverAll;
	}
	natsStatus s = js_SubscribeSync(&sub, js, r->subject, NULL, &so, &jerr);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, -1, -1);
	if (s != NATS_OK) {
		pthread_mutex_lock(&mu);
		perf_stats_error(r->st, -1, "nats subscribe: %s (%d)", natsStatus_GetText(s), (int)jerr);
		pthread_mutex_unlock(&mu);
	}
	while (s == NATS_OK && !r->stop) {
		natsMsg *m = NULL;
		s = natsSubscription_NextMsg(&m, sub, 100);
		if (s == NATS_TIMEOUT) {
			s = NATS_OK;
			continue;
		}
		if (s != NATS_OK) {
			pthread_mutex_lock(&mu);
			perf_stats_error(r->st, -1, "nats next message: %s", natsStatus_GetText(s));
			pthread_mutex_unlock(&mu);
			break;
		}
		uint64_t now = rt_clock_ns();
		pthread_mutex_lock(&mu);
		consumed(r, m, now);
		pthread_mutex_unlock(&mu);
		natsMsg_Destroy(m);
	}
	/* Close first: the connection's threads stop delivering before the subscription goes. */
	natsConnection_Close(nc);
	if (sub)
		natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return NULL;
}

int perf_run_nats(const struct perf_opts *o, struct perf_stats *st)
{
	struct nats_run r = {.o = o, .st = st};
	snprintf(r.subject, sizeof(r.subject), "%s.rec", o->topic);
	snprintf(r.url, sizeof(r.url), "nats://%s", o->bootstrap);
	bool produce = o->mode != PERF_MODE_CONSUME, consume = o->mode != PERF_MODE_PRODUCE;
	int np = produce ? o->producers : 0, nc_ = consume ? o->consumers : 0;

	natsConnection **conns = calloc((size_t)np + 1, sizeof(*conns));
	jsCtx **jss = calloc((size_t)np + 1, sizeof(*jss));
	pthread_t *threads = calloc((size_t)nc_ + 1, sizeof(*threads));
	uint8_t *value = malloc((size_t)o->record_size);
	if (!conns || !jss || !threads || !value) {
		free(conns); free(jss); free(threads); free(value);
		return -ENOMEM;
	}
	perf_record_fill(value, (size_t)o->record_size, 0, 0);
	int rc = 0, started = 0;

	/* The stream: created when missing (an existing one is used as it is). */
	natsConnection *admin_nc = NULL;
	jsCtx *admin = NULL;
	if (connect_js(&r, &admin_nc, &admin) != NATS_OK) {
		perf_stats_error(st, -1, "nats: cannot connect to %s", r.url);
		rc = -ECONNREFUSED;
		goto out;
	}
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	if (js_GetStreamInfo(&si, admin, o->topic, NULL, &jerr) != NATS_OK) {
		jsStreamConfig cfg;
		jsStreamConfig_Init(&cfg);
		const char *subjects[] = {r.subject};
		cfg.Name = o->topic;
		cfg.Subjects = subjects;
		cfg.SubjectsLen = 1;
		cfg.Storage = js_FileStorage;
		natsStatus s = js_AddStream(&si, admin, &cfg, NULL, &jerr);
		if (s != NATS_OK) {
			perf_stats_error(st, -1, "nats add stream %s: %s (%d)", o->topic, natsStatus_GetText(s), (int)jerr);
			rc = -EIO;
			goto out;
		}
	}
	r.consume_target = (int64_t)si->State.Msgs;
	r.start_seq = si->State.LastSeq + 1;
	jsStreamInfo_Destroy(si);

	for (int i = 0; i < np; i++)
		if (connect_js(&r, &conns[i], &jss[i]) != NATS_OK) {
			perf_stats_error(st, -1, "nats: cannot connect to %s", r.url);
			rc = -ECONNREFUSED;
			goto out;
		}

	uint64_t start = rt_clock_ns();
	perf_stats_start(st, start);
	for (int i = 0; i < nc_; i++)
		if (!pthread_create(&threads[i], NULL, consumer_main, &r))
			started++;
	struct perf_pace pace;
	perf_pace_init(&pace, start, o->rate, o->mode == PERF_MODE_CONSUME ? 0 : (uint64_t)o->records);
	perf_pace_set_tick(&pace, (uint64_t)(o->pace_tick_us * 1000));
	uint64_t seq = 0;
	for (;;) {
		uint64_t now = rt_clock_ns();
		pthread_mutex_lock(&mu);
		bool done = o->duration_s > 0 && now - start >= (uint64_t)(o->duration_s * 1e9);
		if (o->mode == PERF_MODE_CONSUME)
			done = done || st->consumed_records >= (o->records ? o->records : r.consume_target);
		perf_stats_tick(st, now);
		pthread_mutex_unlock(&mu);
		if (done || (produce && o->records && (int64_t)pace.issued >= o->records))
			break;
		uint64_t due = produce ? perf_pace_due(&pace, now) : 0;
		for (uint64_t i = 0; i < due && i < 1024; i++) {
			uint64_t t = perf_pace_take(&pace, now);
			int p = (int)(seq++ % (uint64_t)np);
			perf_record_stamp(value, t, (uint32_t)p);
			/* Blocks (up to StallWait) while MaxPending messages await their ack: the
			 * in-flight bound.  Open-loop latency still counts from t. */
			natsStatus s = js_PublishAsync(jss[p], r.subject, value, o->record_size, NULL);
			pthread_mutex_lock(&mu);
			if (s == NATS_OK) {
				st->sent_records++;
				st->sent_bytes += o->record_size;
			} else {
				st->failed_records++;
				perf_stats_error(st, -1, "nats publish: %s", natsStatus_GetText(s));
			}
			pthread_mutex_unlock(&mu);
		}
		if (!due) {
			uint64_t w = produce ? perf_pace_wait_ns(&pace, rt_clock_ns()) : 1000000;
			struct timespec ts = {0, (long)(w > 1000000 ? 1000000 : w ? w : 10000)};
			nanosleep(&ts, NULL);
		}
	}
	for (int i = 0; i < np; i++) {
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = 30000;
		js_PublishAsyncComplete(jss[i], &po);
	}
	if (o->mode == PERF_MODE_E2E) {
		uint64_t until = rt_clock_ns() + 5000000000ull;
		for (;;) {
			pthread_mutex_lock(&mu);
			bool caught_up = st->consumed_records >= st->acked_records;
			pthread_mutex_unlock(&mu);
			if (caught_up || rt_clock_ns() > until)
				break;
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&mu);
	perf_stats_stop(st, rt_clock_ns());
	st->connections = np + nc_;
	pthread_mutex_unlock(&mu);
out:
	r.stop = 1;
	for (int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	/* Close first: no ack handler runs once a connection is closed, so none can run while
	 * (or after) its context is destroyed. */
	for (int i = 0; i < np; i++)
		if (conns[i])
			natsConnection_Close(conns[i]);
	for (int i = 0; i < np; i++) {
		if (jss[i])
			jsCtx_Destroy(jss[i]);
		if (conns[i])
			natsConnection_Destroy(conns[i]);
	}
	if (admin_nc)
		natsConnection_Close(admin_nc);
	if (admin)
		jsCtx_Destroy(admin);
	if (admin_nc)
		natsConnection_Destroy(admin_nc);
	free(conns);
	free(jss);
	free(threads);
	free(value);
	return rc;
}
