/*
 * perf/peers/drv_redis.c: the workloads on Redis Streams through hiredis (--driver redis).
 *
 * A producer connection pipelines up to --inflight XADD commands (one record each: field "v",
 * the record as value, MAXLEN ~ bounding the stream to about 1 GB of values so a long run
 * cannot fill memory); a reply is Redis's acknowledgement.  Durability is the server's
 * (appendonly with appendfsync always for acks=-1, everysec for acks=1: perf/run.sh starts it
 * so).  A consumer connection repeats XREAD COUNT 1000 BLOCK 100 from the last id it saw, the
 * counterpart of Fetch.  One thread, poll() over every connection; hiredis's reader parses.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "base/clock.h"
#include "perf/harness/driver.h"
#include "perf/harness/pace.h"
#include "perf/harness/record.h"

struct rconn {
	redisContext *c;
	bool consumer;
	uint64_t *times;       /* producer: intended time of each command in flight (ring) */
	int head, n;
	bool waiting;          /* consumer: an XREAD is outstanding */
	char last_id[64];
};

static redisContext *connect_to(const char *bootstrap, struct perf_stats *st)
{
	char host[256];
	snprintf(host, sizeof(host), "%s", bootstrap);
	char *colon = strrchr(host, ':');
	if (!colon)
		return NULL;
	*colon = '\0';
	redisContext *c = redisConnect(host, atoi(colon + 1));
	if (!c || c->err) {
		perf_stats_error(st, -1, "redis: cannot connect to %s: %s", bootstrap, c ? c->errstr : "no memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	return c;
}

static void make_nonblocking(redisContext *c)
{
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->flags &= ~REDIS_BLOCK;
}

static void send_xread(struct rconn *rc, const char *topic)
{
	const char *argv[] = {"XREAD", "COUNT", "1000", "BLOCK", "100", "STREAMS", topic, rc->last_id};
	redisAppendCommandArgv(rc->c, 8, argv, NULL);
	rc->waiting = true;
}

/* Consumer reply: [[stream, [[id, [field, value, ...]], ...]]] or nil on timeout. */
static void on_xread(struct rconn *rc, redisReply *r, const struct perf_opts *o, struct perf_stats *st)
{
	rc->waiting = false;
	if (r->type == REDIS_REPLY_ERROR) {
		perf_stats_error(st, -1, "redis XREAD: %s", r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->elements < 2)
		return;
	redisReply *entries = r->element[0]->element[1];
	uint64_t now = rt_clock_ns(), t;
	for (size_t i = 0; i < entries->elements; i++) {
		redisReply *e = entries->element[i];
		if (e->elements < 2 || e->element[1]->elements < 2)
			continue;
		snprintf(rc->last_id, sizeof(rc->last_id), "%s", e->element[0]->str);
		redisReply *v = e->element[1]->element[1];
		st->consumed_records++;
		st->consumed_bytes += (int64_t)v->len;
		if (o->mode == PERF_MODE_E2E && perf_record_parse((const uint8_t *)v->str, v->len, &t))
			perf_stats_latency(st, PERF_LAT_E2E, now, now > t ? now - t : 0);
	}
}

int perf_run_redis(const struct perf_opts *o, struct perf_stats *st)
{
	bool produce = o->mode != PERF_MODE_CONSUME, consume = o->mode != PERF_MODE_PRODUCE;
	int np = produce ? o->producers : 0, nc = consume ? o->consumers : 0, n = np + nc;
	struct rconn *conns = calloc((size_t)n + 1, sizeof(*conns));
	struct pollfd *pfd = calloc((size_t)n + 1, sizeof(*pfd));
	uint8_t *value = malloc((size_t)o->record_size);
	int rc = 0;
	if (!conns || !pfd || !value) {
		rc = -ENOMEM;
		goto out;
	}
	perf_record_fill(value, (size_t)o->record_size, 0, 0);
	char maxlen[32];
	snprintf(maxlen, sizeof(maxlen), "%d", 1000000000 / o->record_size + 1000);

	int64_t consume_target = 0;
	for (int i = 0; i < n; i++) {
		struct rconn *c = &conns[i];
		if (!(c->c = connect_to(o->bootstrap, st))) {
			rc = -ECONNREFUSED;
			goto out;
		}
		c->consumer = i >= np;
		if (c->consumer) {
			/* "Latest" is the id of the stream's last entry now, not "$", so that
			 * no record produced before the first XREAD is missed. */
			snprintf(c->last_id, sizeof(c->last_id), "0-0");
			if (o->mode == PERF_MODE_E2E || o->from_latest) {
				redisReply *r = redisCommand(c->c, "XREVRANGE %s + - COUNT 1", o->topic);
				if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
				    r->element[0]->elements >= 1)
					snprintf(c->last_id, sizeof(c->last_id), "%s", r->element[0]->element[0]->str);
				freeReplyObject(r);
			}
			if (i == np) {
				redisReply *r = redisCommand(c->c, "XLEN %s", o->topic);
				if (r && r->type == REDIS_REPLY_INTEGER)
					consume_target = r->integer;
				freeReplyObject(r);
			}
		} else if (!(c->times = calloc((size_t)o->inflight, sizeof(uint64_t)))) {
			rc = -ENOMEM;
			goto out;
		}
		make_nonblocking(c->c);
		pfd[i].fd = c->c->fd;
	}

	uint64_t start = rt_clock_ns();
	perf_stats_start(st, start);
	struct perf_pace pace;
	perf_pace_init(&pace, start, o->rate, o->mode == PERF_MODE_CONSUME ? 0 : (uint64_t)o->records);
	perf_pace_set_tick(&pace, (uint64_t)(o->pace_tick_us * 1000));
	size_t argvlen[9] = {4, strlen(o->topic), 6, 1, strlen(maxlen), 1, 1, (size_t)o->record_size};
	const char *argv[9] = {"XADD", o->topic, "MAXLEN", "~", maxlen, "*", "v", (const char *)value};
	bool draining = false;
	uint64_t drain_until = 0;
	int next = 0;
	for (;;) {
		uint64_t now = rt_clock_ns();
		int64_t inflight = 0;
		for (int i = 0; i < np; i++)
			inflight += conns[i].n;
		if (!draining) {
			bool done = o->duration_s > 0 && now - start >= (uint64_t)(o->duration_s * 1e9);
			if (o->mode == PERF_MODE_CONSUME)
				done = done || st->consumed_records >= (o->records ? o->records : consume_target);
			if (produce && o->records && (int64_t)pace.issued >= o->records)
				done = true;
			if (done) {
				draining = true;
				drain_until = now + 30000000000ull;
			}
		}
		if (draining) {
			bool caught_up = o->mode != PERF_MODE_E2E || st->consumed_records >= st->acked_records;
			if ((inflight == 0 && caught_up) || now > drain_until ||
			    (o->mode == PERF_MODE_E2E && inflight == 0 && now > drain_until - 25000000000ull))
				break;
		}
		/* Hand due records to producers with room in their window, round-robin. */
		uint64_t due = produce && !draining ? perf_pace_due(&pace, now) : 0;
		for (uint64_t k = 0; k < due && k < 4096; k++) {
			struct rconn *c = NULL;
			for (int tries = 0; tries < np; tries++) {
				struct rconn *cand = &conns[(next + tries) % np];
				if (cand->n < o->inflight) {
					c = cand;
					next = (next + tries + 1) % np;
					break;
				}
			}
			if (!c)
				break;
			uint64_t t = perf_pace_take(&pace, now);
			perf_record_stamp(value, t, (uint32_t)(c - conns));
			redisAppendCommandArgv(c->c, 8, argv, argvlen);
			c->times[(c->head + c->n) % o->inflight] = t;
			c->n++;
			st->sent_records++;
			st->sent_bytes += o->record_size;
		}
		for (int i = np; i < n; i++)
			if (!conns[i].waiting && !draining)
				send_xread(&conns[i], o->topic);
		if (draining && o->mode == PERF_MODE_E2E)
			for (int i = np; i < n; i++)
				if (!conns[i].waiting)
					send_xread(&conns[i], o->topic);
		for (int i = 0; i < n; i++) {
			int done_w = 0;
			if (redisBufferWrite(conns[i].c, &done_w) == REDIS_ERR) {
				perf_stats_error(st, -1, "redis write: %s", conns[i].c->errstr);
				rc = -EIO;
				goto stop;
			}
			pfd[i].events = POLLIN | (done_w ? 0 : POLLOUT);
		}
		uint64_t w = produce && !draining ? perf_pace_wait_ns(&pace, rt_clock_ns()) : 1000000;
		int timeout_ms = w >= 1000000 ? 1 : 0;
		if (due && w == 0)
			timeout_ms = 0;
		if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR) {
			rc = -errno;
			goto stop;
		}
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			struct rconn *c = &conns[i];
			if (redisBufferRead(c->c) == REDIS_ERR) {
				perf_stats_error(st, -1, "redis read: %s", c->c->errstr);
				rc = -EIO;
				goto stop;
			}
			void *reply;
			uint64_t tn = rt_clock_ns();
			while (redisGetReplyFromReader(c->c, &reply) == REDIS_OK && reply) {
				redisReply *r = reply;
				if (c->consumer) {
					on_xread(c, r, o, st);
				} else if (c->n > 0) {
					uint64_t t = c->times[c->head];
					c->head = (c->head + 1) % o->inflight;
					c->n--;
					if (r->type == REDIS_REPLY_ERROR) {
						st->failed_records++;
						perf_stats_error(st, -1, "redis XADD: %s", r->str);
					} else {
						st->acked_records++;
						st->acked_bytes += o->record_size;
						perf_stats_latency(st, PERF_LAT_PRODUCE, tn, tn > t ? tn - t : 0);
					}
				}
				freeReplyObject(r);
			}
		}
		perf_stats_tick(st, now);
	}
stop:
	perf_stats_stop(st, rt_clock_ns());
	st->connections = n;
	if (rc && (st->acked_records || st->consumed_records))
		rc = 0; /* the run took place; the error is counted */
out:
	for (int i = 0; i < n && conns; i++) {
		if (conns[i].c)
			redisFree(conns[i].c);
		free(conns[i].times);
	}
	free(conns);
	free(pfd);
	free(value);
	return rc;
}
