/*
 * perf/harness/drv_native.c: the native driver: the workloads over the Kafka protocol with
 * proto/ (generated codec, record batch builder), on one thread with epoll.
 *
 * Set-up is blocking and sequential: ApiVersions (version negotiation), CreateTopics when asked,
 * Metadata (retried until every partition has a leader) to find each partition's leader; in
 * shard-aware mode the broker advertises one node per shard and the driver connects to each
 * leader node.  Consumers ask ListOffsets for their start (and, in consume mode, end) offsets.
 * Idle connections are opened, say ApiVersions once, and stay silent.
 *
 * The run:
 *   - Producer p owns one connection per leader node and one open batch per partition.
 *     Records go to partitions by key (murmur2, as Kafka's default partitioner) or, without
 *     keys, stickily: one partition until its batch closes, then the next (Kafka's sticky
 *     partitioner).  A batch closes when full (--batch-size), or once --linger-ms has passed and
 *     its connection can take a request (until then it takes more records, as Kafka's producers'
 *     batches do); closed batches queue on the leader's connection and leave in Produce
 *     requests (at most one batch per partition per request, at most 1 MiB) while fewer than
 *     --inflight requests are outstanding.
 *   - Open loop (--rate R): record i is created for its slot start + i/R whatever the broker
 *     does; its latency counts from that slot (coordinated omission corrected).  Flat out
 *     (--rate 0): records are created while the producer's queued bytes are under
 *     --buffer-bytes (Kafka's buffer.memory); latency counts from creation.
 *   - Consumer c owns partitions p with p mod consumers == c, one connection per leader node,
 *     one Fetch outstanding per connection (as Kafka's consumer), and counts whole batches.
 *     With --group the consumers are members of a consumer group instead and read what the
 *     group assigns them (member.c); the run's clock starts once the group has formed and the
 *     run ends when every member has committed and left.
 * Responses come back in request order on each connection (the Kafka protocol guarantees it).
 * Nothing is retried: a partition error is counted and named in the result.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "kp_errors.h"
#include "perf/harness/driver.h"
#include "perf/harness/member.h"
#include "perf/harness/native.h"
#include "perf/harness/record.h"

#define GROUP_FORM_NS 30000000000ull            /* a group that takes longer to form fails the run */
#define GROUP_LEAVE_NS 15000000000ull           /* and members that take longer to leave */

/* ------------------------------------------------------------------ sockets */

int perf_nv_dial(const char *host, int port, char *err, size_t errlen)
{
	char ports[16];
	snprintf(ports, sizeof(ports), "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, ports, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s:%d: %s", host, port, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	int fd = -1, e = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "connect %s:%d: %s", host, port, strerror(e));
		return -e;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {SETUP_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One blocking request/response exchange (set-up only).  resp is the API's response struct,
 * decoded from a frame held in `frame` (which the caller frees with rt_buf_fini). */
int perf_nv_call(struct native *nv, int fd, int16_t api, int16_t version, const void *req, void *resp,
                struct rt_buf *frame)
{
	struct rt_buf out;
	rt_buf_init(&out, 0);
	int32_t corr = ++nv->corr;
	int rc = perf_wire_request(&out, api, version, corr, req);
	if (!rc)
		rc = write_all(fd, out.data, out.len);
	rt_buf_fini(&out);
	if (rc)
		return rc;
	rt_buf_reset(frame);
	int64_t size;
	while ((size = perf_wire_frame_size(frame->data, frame->len, MAX_FRAME)) == 0) {
		if (rt_buf_reserve(frame, 65536))
			return -ENOMEM;
		ssize_t r = read(fd, frame->data + frame->len, frame->cap - frame->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -ECONNRESET;
		frame->len += (size_t)r;
	}
	if (size < 0)
		return (int)size;
	int32_t got;
	rc = perf_wire_response(frame->data, (size_t)size, api, version, &nv->arena, &got, resp);
	if (!rc && got != corr)
		rc = -EBADMSG;
	return rc;
}

int perf_nv_api_versions(struct native *nv, int fd, struct kp_api_versions_resp *r, struct rt_buf *frame)
{
	struct kp_api_versions_req q;
	kp_api_versions_req_init(&q);
	q.client_software_name = KP_STR("ringtail-perf");
	q.client_software_version = KP_STR("0.1");
	int rc = perf_nv_call(nv, fd, KP_API_API_VERSIONS, PERF_API_VERSIONS_VERSION, &q, r, frame);
	/* A broker that does not serve this version answers UNSUPPORTED_VERSION in an older
	 * format (KIP-511; librdkafka's mock cluster in one of its own): ask again in v0, which
	 * every broker serves, and learn the versions from that. */
	if (rc == -EBADMSG || (!rc && r->error_code == KP_ERR_UNSUPPORTED_VERSION)) {
		rt_arena_reset(&nv->arena);
		rc = perf_nv_call(nv, fd, KP_API_API_VERSIONS, 0, &q, r, frame);
	}
	if (!rc && r->error_code)
		rc = -EPROTO;
	return rc;
}

/* ------------------------------------------------------------------ set-up */

int perf_nv_fail(struct native *nv, int rc, const char *what, const char *detail)
{
	perf_stats_error(nv->st, -1, "%s: %s", what, detail && *detail ? detail : strerror(rc < 0 ? -rc : rc));
	return rc < 0 ? rc : -EIO;
}

/* The set-up timeout plus 50 ms a partition (5x the creation time measured here), at most 1 h. */
static int create_wait_ms(int32_t partitions)
{
	int64_t ms = SETUP_TIMEOUT_MS + (int64_t)(partitions > 0 ? partitions : 0) * 50;
	return ms > 3600000 ? 3600000 : (int)ms;
}

static int create_topic(struct native *nv, int fd, struct rt_buf *frame)
{
	const struct perf_opts *o = nv->o;
	if (nv->v.create_topics < 0) {
		/* librdkafka's mock cluster: topics come from auto-creation (or are made when it starts). */
		if (!o->quiet)
			fprintf(stderr, "ringtail-perf: the broker does not serve CreateTopics; relying on auto-creation\n");
		return 0;
	}
	struct kp_create_topics_req q;
	kp_create_topics_req_init(&q);
	struct kp_create_topics_req_creatable_topic t;
	kp_create_topics_req_creatable_topic_init(&t);
	t.name = (struct kp_str){o->topic, (int32_t)strlen(o->topic)};
	t.num_partitions = o->partitions;
	t.replication_factor = 1;
	t.assignments.n = 0;
	t.configs.n = 0;
	q.topics.items = &t;
	q.topics.n = 1;
	/* A broker that creates every partition's log before it answers (Ringtail: a directory,
	 * files and fsyncs each, about 100 a second on this VM's disk) needs longer than the other
	 * set-up calls for 10,000 partitions: the wait grows with the count. */
	int wait_ms = create_wait_ms(o->partitions);
	q.timeout_ms = wait_ms;
	struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct kp_create_topics_resp r;
	int rc = perf_nv_call(nv, fd, KP_API_CREATE_TOPICS, nv->v.create_topics, &q, &r, frame);
	tv = (struct timeval){SETUP_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (rc) {
		char why[96] = "";
		if (rc == -ETIMEDOUT)
			snprintf(why, sizeof(why), "no answer within %d s", wait_ms / 1000);
		return perf_nv_fail(nv, rc, "CreateTopics", why);
	}
	for (int32_t i = 0; i < r.topics.n; i++) {
		int16_t e = r.topics.items[i].error_code;
		if (e && e != KP_ERR_TOPIC_ALREADY_EXISTS) {
			perf_stats_error(nv->st, e, "CreateTopics %s: %s", o->topic, kp_error_name(e));
			return -EIO;
		}
	}
	return 0;
}

static int metadata(struct native *nv, int fd, struct rt_buf *frame)
{
	const struct perf_opts *o = nv->o;
	uint64_t until = rt_clock_ns() + (uint64_t)SETUP_TIMEOUT_MS * 1000000;
	for (;;) {
		rt_arena_reset(&nv->arena);
		struct kp_metadata_req q;
		kp_metadata_req_init(&q);
		struct kp_metadata_req_topic t;
		kp_metadata_req_topic_init(&t);
		t.name = (struct kp_str){o->topic, (int32_t)strlen(o->topic)};
		q.topics.items = &t;
		q.topics.n = 1;
		q.allow_auto_topic_creation = true;
		struct kp_metadata_resp r;
		int rc = perf_nv_call(nv, fd, KP_API_METADATA, nv->v.metadata, &q, &r, frame);
		if (rc)
			return perf_nv_fail(nv, rc, "Metadata", NULL);
		const char *why = NULL;
		int16_t code = 0;
		if (r.topics.n != 1) {
			why = "no topic in the answer";
		} else if ((code = r.topics.items[0].error_code)) {
			why = kp_error_name(code);
		} else if (r.topics.items[0].partitions.n == 0) {
			why = "the topic has no partitions";
		} else {
			for (int32_t i = 0; i < r.topics.items[0].partitions.n && !why; i++)
				if (r.topics.items[0].partitions.items[i].leader_id < 0 ||
				    r.topics.items[0].partitions.items[i].error_code)
					why = "a partition has no leader yet";
		}
		if (why) {
			if (rt_clock_ns() > until) {
				perf_stats_error(nv->st, code, "Metadata for %s: %s", o->topic, why);
				return -EIO;
			}
			struct timespec ts = {0, 100000000};
			nanosleep(&ts, NULL);
			continue;
		}
		nv->nnodes = r.brokers.n;
		nv->nodes = calloc((size_t)r.brokers.n, sizeof(*nv->nodes));
		const struct kp_metadata_resp_topic *tp = &r.topics.items[0];
		int32_t all = tp->partitions.n;
		nv->nparts = o->partitions > 0 && o->partitions < all ? o->partitions : all;
		nv->leader = calloc((size_t)all, sizeof(int));
		if (!nv->nodes || !nv->leader)
			return -ENOMEM;
		for (int32_t i = 0; i < r.brokers.n; i++) {
			const struct kp_metadata_resp_broker *b = &r.brokers.items[i];
			nv->nodes[i].id = b->node_id;
			snprintf(nv->nodes[i].host, sizeof(nv->nodes[i].host), "%.*s", b->host.len, b->host.ptr);
			nv->nodes[i].port = b->port;
		}
		for (int32_t i = 0; i < nv->nparts; i++)
			nv->leader[i] = -1;
		for (int32_t i = 0; i < all; i++) {
			const struct kp_metadata_resp_partition *p = &tp->partitions.items[i];
			if (p->partition_index < 0 || p->partition_index >= nv->nparts)
				continue;
			for (int k = 0; k < nv->nnodes; k++)
				if (nv->nodes[k].id == p->leader_id)
					nv->leader[p->partition_index] = k;
		}
		for (int32_t i = 0; i < nv->nparts; i++)
			if (nv->leader[i] < 0) {
				perf_stats_error(nv->st, -1, "Metadata for %s: partition %d's leader is not among the brokers",
				                 o->topic, i);
				return -EIO;
			}
		if (o->partitions > all && !o->quiet)
			fprintf(stderr, "ringtail-perf: %s has %d partitions, not %d; using %d\n", o->topic, all,
			        o->partitions, all);
		return 0;
	}
}

struct conn *perf_nv_conn_new(struct native *nv, enum role role, int node, int cap, char *err, size_t errlen,
                              int *rc)
{
	int fd = perf_nv_dial(nv->nodes[node].host, nv->nodes[node].port, err, errlen);
	if (fd < 0) {
		*rc = fd;
		return NULL;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c || (nv->nconns == nv->capconns &&
	           !(nv->conns = realloc(nv->conns, sizeof(*nv->conns) * (size_t)(nv->capconns = nv->capconns * 2 + 8))))) {
		close(fd);
		free(c);
		*rc = -ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->role = role;
	c->node = node;
	for (int32_t p = 0; nv->leader && p < nv->nparts; p++)
		c->led += nv->leader[p] == node;
	c->cap = cap;
	c->reqs = calloc((size_t)c->cap, sizeof(*c->reqs));
	perf_outq_init(&c->out);
	rt_buf_init(&c->in, 0);
	nv->conns[nv->nconns++] = c;
	if (!c->reqs) {
		*rc = -ENOMEM;
		return NULL;
	}
	return c;
}

int perf_nv_conn_register(struct native *nv, struct conn *c)
{
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	return epoll_ctl(nv->ep, EPOLL_CTL_ADD, c->fd, &ev) ? -errno : 0;
}

int perf_nv_list_offsets(struct native *nv, int fd, const int32_t *parts, int n, int64_t ts, int64_t *dst,
                         struct rt_buf *frame)
{
	struct kp_list_offsets_req q;
	kp_list_offsets_req_init(&q);
	struct kp_list_offsets_req_topic t;
	kp_list_offsets_req_topic_init(&t);
	t.name = (struct kp_str){nv->o->topic, (int32_t)strlen(nv->o->topic)};
	struct kp_list_offsets_req_partition *ps = rt_arena_calloc(&nv->arena, (size_t)n, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		kp_list_offsets_req_partition_init(&ps[i]);
		ps[i].partition_index = parts[i];
		ps[i].timestamp = ts;
	}
	t.partitions.items = ps;
	t.partitions.n = n;
	q.replica_id = -1;
	q.topics.items = &t;
	q.topics.n = 1;
	q.timeout_ms = SETUP_TIMEOUT_MS;
	struct kp_list_offsets_resp r;
	int rc = perf_nv_call(nv, fd, KP_API_LIST_OFFSETS, nv->v.list_offsets, &q, &r, frame);
	if (rc)
		return perf_nv_fail(nv, rc, "ListOffsets", NULL);
	int found = 0;
	for (int32_t i = 0; i < r.topics.n; i++)
		for (int32_t k = 0; k < r.topics.items[i].partitions.n; k++) {
			const struct kp_list_offsets_resp_partition *p = &r.topics.items[i].partitions.items[k];
			if (p->error_code) {
				perf_stats_error(nv->st, p->error_code, "ListOffsets partition %d: %s", p->partition_index,
				                 kp_error_name(p->error_code));
				return -EIO;
			}
			for (int j = 0; j < n; j++)
				if (parts[j] == p->partition_index) {
					dst[j] = p->offset;
					found++;
				}
		}
	if (found != n) {
		perf_stats_error(nv->st, -1, "ListOffsets: %d of %d partitions answered", found, n);
		return -EIO;
	}
	return 0;
}

/* One partition's entry of a Produce request: its records are data (borrowed until the request is
 * encoded), size bytes. */
static void produce_part(struct kp_produce_req_partition_data *pd, int32_t partition, const uint8_t *data,
                         size_t size)
{
	kp_produce_req_partition_data_init(pd);
	pd->index = partition;
	pd->records = (struct kp_records){data, (int32_t)size, -1, 0};
}

/* q as a Produce request of the run's topic with the n partition entries pd; td is the caller's
 * storage for the one topic entry.  q borrows td, pd and o->topic until it is encoded. */
static void produce_req(const struct perf_opts *o, struct kp_produce_req *q, struct kp_produce_req_topic_data *td,
                        struct kp_produce_req_partition_data *pd, int n, int16_t acks)
{
	kp_produce_req_topic_data_init(td);
	td->name = (struct kp_str){o->topic, (int32_t)strlen(o->topic)};
	td->partition_data.items = pd;
	td->partition_data.n = n;
	kp_produce_req_init(q);
	q->transactional_id = KP_STR_NULL;
	q->acks = acks;
	q->timeout_ms = 30000;
	q->topic_data.items = td;
	q->topic_data.n = 1;
}

/* --prime: one record to every partition, in blocking Produce requests of PRIME_CHUNK partitions
 * on producer 0's connection to each leader, before the clock starts.  The broker opens (and on
 * first use creates) a partition's log on its first write; this keeps that out of the run, and
 * the time it took goes into the result (prime_s).  The records are not counted.  0 or a negative
 * errno with the error recorded. */
#define PRIME_CHUNK 100
static int prime(struct native *nv, struct rt_buf *frame)
{
	const struct perf_opts *o = nv->o;
	uint64_t t0 = rt_clock_ns();
	int32_t *parts = malloc(sizeof(int32_t) * PRIME_CHUNK);
	struct kp_batch_builder *b = calloc(PRIME_CHUNK, sizeof(*b));
	struct kp_produce_req_partition_data *pd = calloc(PRIME_CHUNK, sizeof(*pd));
	int rc = parts && b && pd ? 0 : -ENOMEM;
	for (int k = 0; k < nv->nnodes && !rc; k++) {
		struct conn *c = nv->prods[0].conns[k];
		if (!c)
			continue;
		for (int32_t p = 0; p < nv->nparts && !rc;) {
			int n = 0;
			for (; p < nv->nparts && n < PRIME_CHUNK; p++)
				if (nv->leader[p] == k)
					parts[n++] = p;
			if (!n)
				break;
			for (int i = 0; i < n; i++) {
				size_t size = 0;
				const uint8_t *data = NULL;
				kp_batch_builder_init(&b[i], (enum kp_compression)o->compression, 0, -1, -1, -1);
				perf_record_stamp(nv->value, rt_clock_ns(), 0);
				if (!kp_batch_builder_add(&b[i], rt_clock_wall_ms(), NULL, -1, nv->value, o->record_size, NULL, 0))
					data = kp_batch_builder_finish(&b[i], &size);
				if (!data)
					rc = -ENOMEM;
				produce_part(&pd[i], parts[i], data, size);
			}
			if (!rc) {
				struct kp_produce_req_topic_data td;
				struct kp_produce_req q;
				produce_req(o, &q, &td, pd, n, o->acks ? o->acks : 1);
				struct kp_produce_resp resp;
				rt_arena_reset(&nv->arena);
				rc = perf_nv_call(nv, c->fd, KP_API_PRODUCE, nv->v.produce, &q, &resp, frame);
				if (rc) {
					rc = perf_nv_fail(nv, rc, "--prime: Produce", rc == -ETIMEDOUT ?
					                  "no answer within 10 s" : NULL);
				} else {
					int ok = 0;
					for (int32_t t = 0; t < resp.responses.n; t++)
						for (int32_t i = 0; i < resp.responses.items[t].partition_responses.n; i++) {
							const struct kp_produce_resp_partition *r =
								&resp.responses.items[t].partition_responses.items[i];
							if (r->error_code && !rc) {
								perf_stats_error(nv->st, r->error_code, "--prime: Produce partition %d: %s",
								                 r->index, kp_error_name(r->error_code));
								rc = -EIO;
							}
							ok += !r->error_code;
						}
					if (!rc && ok != n) {
						perf_stats_error(nv->st, -1, "--prime: %d of %d partitions answered", ok, n);
						rc = -EIO;
					}
					nv->st->primed_partitions += ok;
				}
			}
			for (int i = 0; i < n; i++)
				kp_batch_builder_fini(&b[i]);
		}
	}
	rt_arena_reset(&nv->arena);
	free(parts);
	free(b);
	free(pd);
	nv->st->prime_s = (double)(rt_clock_ns() - t0) / 1e9;
	return rc;
}

/* A blocking connection to the first bootstrap address with the versions negotiated (nv->v).
 * The descriptor, or a negative errno with the error recorded. */
static int bootstrap(struct native *nv, struct rt_buf *frame)
{
	char err[512] = "";
	char host[256];
	snprintf(host, sizeof(host), "%s", nv->o->bootstrap);
	char *comma = strchr(host, ',');
	if (comma)
		*comma = '\0';
	char *colon = strrchr(host, ':');
	*colon = '\0';
	int fd = perf_nv_dial(host, atoi(colon + 1), err, sizeof(err));
	if (fd < 0)
		return perf_nv_fail(nv, fd, "bootstrap", err);
	struct kp_api_versions_resp av;
	int rc = perf_nv_api_versions(nv, fd, &av, frame);
	if (rc)
		rc = perf_nv_fail(nv, rc, "ApiVersions", NULL);
	else if ((rc = perf_wire_pick_versions(&av, &nv->v, err, sizeof(err))))
		rc = perf_nv_fail(nv, rc, "ApiVersions", err);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int perf_delete_topic(const struct perf_opts *o, struct perf_stats *st)
{
	struct native nv = {.o = o, .st = st, .ep = -1};
	rt_arena_init(&nv.arena, 1 << 16, (size_t)1 << 20);
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	int fd = bootstrap(&nv, &frame), rc = fd < 0 ? fd : 0;
	if (!rc && nv.v.delete_topics < 0)
		rc = perf_nv_fail(&nv, -ENOTSUP, "--delete", "the broker does not serve DeleteTopics v1-5");
	if (!rc) {
		struct kp_delete_topics_req q;
		kp_delete_topics_req_init(&q);
		struct kp_str name = {o->topic, (int32_t)strlen(o->topic)};
		q.topic_names.items = &name;
		q.topic_names.n = 1;
		q.timeout_ms = SETUP_TIMEOUT_MS;
		struct kp_delete_topics_resp r;
		rc = perf_nv_call(&nv, fd, KP_API_DELETE_TOPICS, nv.v.delete_topics, &q, &r, &frame);
		if (rc)
			rc = perf_nv_fail(&nv, rc, "DeleteTopics", NULL);
		for (int32_t i = 0; !rc && i < r.responses.n; i++)
			if (r.responses.items[i].error_code) {
				int16_t e = r.responses.items[i].error_code;
				perf_stats_error(st, e, "DeleteTopics %s: %s", o->topic, kp_error_name(e));
				rc = -EIO;
			}
		if (!rc && r.responses.n != 1) {
			perf_stats_error(st, -1, "DeleteTopics %s: %d topics in the answer", o->topic, r.responses.n);
			rc = -EIO;
		}
	}
	if (fd >= 0)
		close(fd);
	rt_buf_fini(&frame);
	rt_arena_fini(&nv.arena);
	return rc;
}

static int setup(struct native *nv)
{
	const struct perf_opts *o = nv->o;
	char err[512] = "";
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	int rc = 0;
	int fd = bootstrap(nv, &frame);
	if (fd < 0) {
		rt_buf_fini(&frame);
		return fd;
	}
	if (o->broker_pid > 0)
		perf_procres_read(o->broker_pid, &nv->st->broker_setup);
	uint64_t t_create = rt_clock_ns();
	if (!rc && o->create)
		rc = create_topic(nv, fd, &frame);
	if (!rc)
		rc = metadata(nv, fd, &frame);
	if (!rc && o->create)
		nv->st->create_s = (double)(rt_clock_ns() - t_create) / 1e9;
	close(fd);
	if (rc)
		goto out;

	/* Producers: one connection per node that leads one of the partitions. */
	bool *leads = calloc((size_t)nv->nnodes, sizeof(bool));
	if (!leads) {
		rc = -ENOMEM;
		goto out;
	}
	for (int32_t p = 0; p < nv->nparts; p++)
		leads[nv->leader[p]] = true;
	nv->nprods = o->mode == PERF_MODE_CONSUME ? 0 : o->producers;
	nv->prods = calloc((size_t)nv->nprods + 1, sizeof(*nv->prods));
	for (int i = 0; nv->prods && i < nv->nprods && !rc; i++) {
		struct producer *pr = &nv->prods[i];
		pr->idx = i;
		pr->sticky = (int32_t)(i % nv->nparts);
		pr->accs = calloc((size_t)nv->nparts, sizeof(*pr->accs));
		pr->conns = calloc((size_t)nv->nnodes, sizeof(*pr->conns));
		if (!pr->accs || !pr->conns) {
			rc = -ENOMEM;
			break;
		}
		for (int32_t p = 0; p < nv->nparts; p++) {
			pr->accs[p].partition = p;
			pr->accs[p].owner = pr;
		}
		for (int k = 0; k < nv->nnodes && !rc; k++) {
			if (!leads[k])
				continue;
			pr->conns[k] = perf_nv_conn_new(nv, ROLE_PRODUCER, k, o->inflight + 1, err, sizeof(err), &rc);
			if (pr->conns[k])
				pr->conns[k]->prod = pr;
			else
				rc = perf_nv_fail(nv, rc, "producer connection", err);
		}
	}
	free(leads);
	if (!nv->prods)
		rc = -ENOMEM;
	if (rc)
		goto out;

	/* Consumers: in a group (--group) the members find their coordinator and are given their
	 * partitions by the group (member.c); otherwise partitions p mod consumers == c, one
	 * connection per leader node. */
	int nc = o->mode == PERF_MODE_PRODUCE || o->group[0] ? 0 : o->consumers;
	if (o->group[0] && o->mode != PERF_MODE_PRODUCE)
		rc = perf_grp_setup(nv, &frame);
	for (int c = 0; c < nc && !rc; c++) {
		for (int k = 0; k < nv->nnodes && !rc; k++) {
			int cnt = 0;
			for (int32_t p = c; p < nv->nparts; p += nc)
				cnt += nv->leader[p] == k;
			if (!cnt)
				continue;
			struct conn *cn = perf_nv_conn_new(nv, ROLE_CONSUMER, k, 2, err, sizeof(err), &rc);
			if (!cn) {
				rc = perf_nv_fail(nv, rc, "consumer connection", err);
				break;
			}
			cn->parts = calloc((size_t)cnt, sizeof(int32_t));
			cn->offsets = calloc((size_t)cnt, sizeof(int64_t));
			cn->ends = calloc((size_t)cnt, sizeof(int64_t));
			if (!cn->parts || !cn->offsets || !cn->ends) {
				rc = -ENOMEM;
				break;
			}
			for (int32_t p = c; p < nv->nparts; p += nc)
				if (nv->leader[p] == k)
					cn->parts[cn->nparts++] = p;
			bool latest = o->from_latest || o->mode == PERF_MODE_E2E;
			rt_arena_reset(&nv->arena);
			rc = perf_nv_list_offsets(nv, cn->fd, cn->parts, cn->nparts, latest ? -1 : -2, cn->offsets, &frame);
			if (!rc && o->mode == PERF_MODE_CONSUME) {
				rt_arena_reset(&nv->arena);
				rc = perf_nv_list_offsets(nv, cn->fd, cn->parts, cn->nparts, -1, cn->ends, &frame);
				for (int i = 0; i < cn->nparts; i++)
					nv->consume_left += cn->offsets[i] < cn->ends[i];
			}
		}
	}
	if (rc)
		goto out;

	if (o->prime && nv->nprods && (rc = prime(nv, &frame)))
		goto out;
	if (o->broker_pid > 0) {
		perf_procres_read(o->broker_pid, &nv->st->broker_ready);
		nv->st->ready_connections = nv->nconns;
	}

	/* Idle connections: each says ApiVersions once, then nothing (idle.c). */
	if (o->idle_connections && (rc = perf_idle_open(o, nv->st, &nv->idle_fds, &nv->nidle)))
		goto out;

	/* The run is non-blocking. */
	for (int i = 0; i < nv->nconns; i++)
		if ((rc = perf_nv_conn_register(nv, nv->conns[i]))) {
			rc = perf_nv_fail(nv, rc, "epoll", NULL);
			goto out;
		}
out:
	rt_buf_fini(&frame);
	rt_arena_reset(&nv->arena);
	return rc;
}

/* ------------------------------------------------------------------ producing */

static void linger_unlink(struct native *nv, struct acc *a)
{
	if (!a->linked)
		return;
	if (a->lprev)
		a->lprev->lnext = a->lnext;
	else
		nv->lhead = a->lnext;
	if (a->lnext)
		a->lnext->lprev = a->lprev;
	else
		nv->ltail = a->lprev;
	a->lprev = a->lnext = NULL;
	a->linked = false;
}

/* Closes an open batch onto its leader connection's queue. */
static void close_batch(struct native *nv, struct acc *a)
{
	linger_unlink(nv, a);
	if (!a->count)
		return;
	struct pbatch *pb = calloc(1, sizeof(*pb));
	size_t size = 0;
	/* The batch is a new buffer each time (the last one left with its request): sized at once,
	 * not grown by doubling while the records are copied in. */
	if (nv->o->compression == KP_COMPRESSION_NONE)
		rt_buf_reserve(&a->b.out, KP_BATCH_HEADER_SIZE + a->b.recs.len);
	const uint8_t *data = pb ? kp_batch_builder_finish(&a->b, &size) : NULL;
	if (!data) {
		perf_stats_error(nv->st, -1, "building a batch failed (out of memory?)");
		nv->st->failed_records += a->count;
		free(pb);
	} else {
		pb->partition = a->partition;
		pb->data = rt_buf_steal(&a->b.out, &pb->size);
		pb->count = a->count;
		pb->payload = a->payload;
		pb->times = a->times;
		a->times = NULL;
		a->cap = 0;
		struct conn *c = a->owner->conns[nv->leader[a->partition]];
		if (c->pend_tail)
			c->pend_tail->next = pb;
		else
			c->pend_head = pb;
		c->pend_tail = pb;
		c->pend_bytes += (int64_t)pb->size;
	}
	/* Start the next batch on the same builder. */
	kp_batch_builder_fini(&a->b);
	a->inited = false;
	a->count = 0;
	a->payload = 0;
	if (nv->o->keys == PERF_KEYS_NONE && a->owner->sticky == a->partition)
		a->owner->sticky = (a->partition + 1) % nv->nparts;
}

static struct conn *acc_conn(struct native *nv, const struct acc *a)
{
	return a->owner->conns[nv->leader[a->partition]];
}

/* The connection takes another Produce request now (the in-flight limit, and no more than a
 * few requests' bytes waiting to be written). */
static bool can_send(const struct native *nv, const struct conn *c)
{
	return c->n < nv->o->inflight && perf_outq_pending(&c->out) < MAX_REQUEST * 4;
}

/* Closes the open batches whose linger has passed and whose connection can send them now.  A
 * batch that cannot leave yet stays open and takes more records until a request takes it, as
 * Kafka's producers do: the Java client's RecordAccumulator appends to a partition's last batch
 * until it is full or drained into a request (linger only makes it ready), and librdkafka builds
 * a partition's batch from its queue when it sends.  So at linger 0 the records that arrive
 * while the connection has --inflight requests outstanding leave together in one batch (and the
 * sticky partition stays until it closes).  Until 2026-11-25 a batch closed at its linger
 * whatever the connection could do, so such a backlog left as one-record batches, one per
 * partition per request, spread over more requests than any Kafka client sends. */
static void close_lingered(struct native *nv, uint64_t now, uint64_t linger_ns)
{
	struct acc *a = nv->lhead;
	while (a && a->first_ns + linger_ns <= now) {
		struct acc *next = a->lnext;
		if (can_send(nv, acc_conn(nv, a)))
			close_batch(nv, a);
		a = next;
	}
}

static void free_batch(struct pbatch *pb)
{
	free(pb->data);
	free(pb->times);
	free(pb);
}

/* Adds one record (intended time t) for producer pr at now (the loop's clock: a burst reads it
 * once, and its wall-clock timestamp wall_ms once). */
static void produce_record(struct native *nv, struct producer *pr, uint64_t t, uint64_t now, int64_t wall_ms)
{
	const struct perf_opts *o = nv->o;
	uint8_t key[PERF_KEY_LEN];
	uint32_t k = perf_keygen_next(&nv->kg);
	int32_t part;
	if (k == UINT32_MAX) {
		part = pr->sticky;
	} else {
		perf_key_format(k, key);
		part = perf_partition_for_key(key, PERF_KEY_LEN, nv->nparts);
	}
	struct acc *a = &pr->accs[part];
	if (!a->inited) {
		kp_batch_builder_init(&a->b, (enum kp_compression)o->compression, 0, -1, -1, -1);
		/* The batch closes at --batch-size: one allocation instead of a doubling series of
		 * reallocs that copy the records again and again. */
		rt_buf_reserve(&a->b.recs, (size_t)o->batch_size + (size_t)o->record_size + 64);
		a->inited = true;
	}
	if (a->count == a->cap) {
		int32_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *tt = realloc(a->times, sizeof(uint64_t) * (size_t)cap);
		if (!tt) {
			nv->st->failed_records++;
			perf_stats_error(nv->st, -1, "out of memory");
			return;
		}
		a->times = tt;
		a->cap = cap;
	}
	perf_record_stamp(nv->value, t, (uint32_t)pr->idx);
	if (kp_batch_builder_add(&a->b, wall_ms, k == UINT32_MAX ? NULL : key,
	                         k == UINT32_MAX ? -1 : PERF_KEY_LEN, nv->value, o->record_size, NULL, 0)) {
		nv->st->failed_records++;
		perf_stats_error(nv->st, -1, "adding a record to a batch failed");
		return;
	}
	int64_t bytes = o->record_size + (k == UINT32_MAX ? 0 : PERF_KEY_LEN);
	if (!a->count) {
		a->first_ns = now;
		a->lprev = nv->ltail;
		a->lnext = NULL;
		if (nv->ltail)
			nv->ltail->lnext = a;
		else
			nv->lhead = a;
		nv->ltail = a;
		a->linked = true;
	}
	a->times[a->count++] = t;
	a->payload += bytes;
	pr->queued += bytes;
	nv->queued_total += bytes;
	nv->st->sent_records++;
	nv->st->sent_bytes += bytes;
	if ((int64_t)a->b.recs.len + KP_BATCH_HEADER_SIZE >= o->batch_size)
		close_batch(nv, a);
}

void perf_nv_queue_request(struct native *nv, struct conn *c, int16_t api, int16_t version, const void *m,
                          struct pbatch *batches, bool expect_response)
{
	int32_t corr = ++nv->corr;
	/* The batches' bytes go out from the batches themselves: a request's batches live in its
	 * nreq until the response, which cannot come before the request is written. */
	rt_chain_reset(&nv->chain);
	int rc = perf_wire_request_chain(&nv->chain, api, version, corr, m);
	if (!rc)
		rc = perf_outq_add_chain(&c->out, &nv->chain, batches && expect_response);
	if (rc) {
		perf_stats_error(nv->st, -1, "encoding a request failed: %s", strerror(-rc));
		nv->failed = true;
		return;
	}
	nv->st->requests++;
	if (!expect_response) {
		while (batches) {
			struct pbatch *n = batches->next;
			nv->st->acked_records += batches->count;
			nv->st->acked_bytes += batches->payload;
			c->prod->queued -= batches->payload;
			nv->queued_total -= batches->payload;
			free_batch(batches);
			batches = n;
		}
		return;
	}
	struct nreq *r = &c->reqs[(c->head + c->n) % c->cap];
	c->n++;
	r->corr = corr;
	r->api = api;
	r->version = version;
	r->sent_ns = rt_clock_ns();
	r->batches = batches;
}

/* One Produce request from the connection's queued batches (one batch per partition). */
static void send_produce(struct native *nv, struct conn *c)
{
	const struct perf_opts *o = nv->o;
	int n = 0;
	size_t bytes = 0;
	struct pbatch *take = NULL, **tail = &take, **pp = &c->pend_head, *prev = NULL;
	/* A partition already in this request is marked with its serial, and the walk ends once
	 * every partition of the node is in: with many partitions and small batches, a scan of what
	 * was taken for each queued batch, and then the walk over the whole queue, were most of the
	 * harness's CPU time. */
	uint64_t serial = ++nv->produce_serial;
	while (*pp && bytes < MAX_REQUEST && n < c->led) {
		struct pbatch *pb = *pp;
		struct acc *a = &c->prod->accs[pb->partition];
		if (a->taken_in == serial || (n && bytes + pb->size > MAX_REQUEST)) {
			prev = pb;
			pp = &pb->next;
			continue;
		}
		a->taken_in = serial;
		*pp = pb->next;
		if (c->pend_tail == pb)
			c->pend_tail = prev;
		pb->next = NULL;
		*tail = pb;
		tail = &pb->next;
		bytes += pb->size;
		c->pend_bytes -= (int64_t)pb->size;
		n++;
	}
	if (!n)
		return;
	struct kp_produce_req_partition_data *pd = rt_arena_calloc(&nv->arena, (size_t)n, sizeof(*pd));
	if (!pd) {
		perf_stats_error(nv->st, -1, "out of memory");
		nv->failed = true;
		return;
	}
	int i = 0;
	for (struct pbatch *t = take; t; t = t->next, i++)
		produce_part(&pd[i], t->partition, t->data, t->size);
	struct kp_produce_req_topic_data td;
	struct kp_produce_req q;
	produce_req(o, &q, &td, pd, n, o->acks);
	perf_nv_queue_request(nv, c, KP_API_PRODUCE, nv->v.produce, &q, take, o->acks != 0);
	rt_arena_reset(&nv->arena);
}

static void on_produce(struct native *nv, struct conn *c, struct nreq *r, const struct kp_produce_resp *resp,
                       uint64_t now)
{
	perf_stats_latency(nv->st, PERF_LAT_SERVICE, now, now - r->sent_ns);
	/* The request has one topic; the answer lists its partitions, in the request's order from
	 * Kafka and Ringtail, so each batch's is found by going on from the one before (any order
	 * is still found, in more steps). */
	const struct kp_produce_resp_partition *rp = NULL;
	int32_t nrp = 0, hint = 0;
	if (resp->responses.n == 1) {
		rp = resp->responses.items[0].partition_responses.items;
		nrp = resp->responses.items[0].partition_responses.n;
	}
	for (struct pbatch *pb = r->batches; pb;) {
		int16_t code = KP_ERR_UNKNOWN_SERVER_ERROR;
		bool found = false;
		for (int32_t k = 0; k < nrp && !found; k++) {
			int32_t j = (hint + k) % nrp;
			if (rp[j].index == pb->partition) {
				found = true;
				code = rp[j].error_code;
				hint = j + 1;
			}
		}
		if (code) {
			nv->st->failed_records += pb->count;
			perf_stats_error(nv->st, code, "Produce partition %d: %s", pb->partition,
			                 found ? kp_error_name(code) : "missing from the response");
		} else {
			nv->st->acked_records += pb->count;
			nv->st->acked_bytes += pb->payload;
			for (int32_t i = 0; i < pb->count; i++)
				perf_stats_latency(nv->st, PERF_LAT_PRODUCE, now, now > pb->times[i] ? now - pb->times[i] : 0);
			/* Where each record's time went, joined with the broker's own rows by
			 * perf/lat_records.py (both clocks are CLOCK_MONOTONIC of this machine). */
			if (nv->trace)
				for (int32_t i = 0; i < pb->count; i++)
					fprintf(nv->trace, "%d %d %llu %llu %llu\n", r->corr, pb->partition,
					        (unsigned long long)pb->times[i], (unsigned long long)r->sent_ns,
					        (unsigned long long)now);
		}
		c->prod->queued -= pb->payload;
		nv->queued_total -= pb->payload;
		struct pbatch *next = pb->next;
		free_batch(pb);
		pb = next;
	}
	r->batches = NULL;
}

/* ------------------------------------------------------------------ consuming */

void perf_nv_send_fetch(struct native *nv, struct conn *c)
{
	const struct perf_opts *o = nv->o;
	struct kp_fetch_req_partition *ps = rt_arena_calloc(&nv->arena, (size_t)c->nparts, sizeof(*ps));
	if (!ps) {
		nv->failed = true;
		return;
	}
	int n = 0;
	for (int i = 0; i < c->nparts; i++) {
		if (o->mode == PERF_MODE_CONSUME && c->offsets[i] >= c->ends[i])
			continue;
		kp_fetch_req_partition_init(&ps[n]);
		ps[n].partition = c->parts[i];
		ps[n].fetch_offset = c->offsets[i];
		ps[n].partition_max_bytes = o->fetch_partition_max_bytes;
		n++;
	}
	if (!n)
		return;
	struct kp_fetch_req_topic t;
	kp_fetch_req_topic_init(&t);
	t.topic = (struct kp_str){o->topic, (int32_t)strlen(o->topic)};
	t.partitions.items = ps;
	t.partitions.n = n;
	struct kp_fetch_req q;
	kp_fetch_req_init(&q);
	q.replica_id = -1;
	q.max_wait_ms = o->fetch_max_wait_ms;
	q.min_bytes = o->fetch_min_bytes;
	q.max_bytes = o->fetch_max_bytes;
	q.isolation_level = 0;
	q.session_id = 0;
	q.session_epoch = -1;
	q.topics.items = &t;
	q.topics.n = 1;
	q.forgotten_topics_data.n = 0;
	q.rack_id = KP_STR("");
	perf_nv_queue_request(nv, c, KP_API_FETCH, nv->v.fetch, &q, NULL, true);
	rt_arena_reset(&nv->arena);
}

struct e2e_ctx {
	struct perf_stats *st;
	uint64_t now;
};

static void on_send_time(void *ctx, uint64_t t)
{
	struct e2e_ctx *e = ctx;
	perf_stats_latency(e->st, PERF_LAT_E2E, e->now, e->now > t ? e->now - t : 0);
}

static void on_fetch(struct native *nv, struct conn *c, struct nreq *r, const struct kp_fetch_resp *resp,
                     uint64_t now)
{
	perf_stats_latency(nv->st, PERF_LAT_SERVICE, now, now - r->sent_ns);
	if (resp->error_code)
		perf_stats_error(nv->st, resp->error_code, "Fetch: %s", kp_error_name(resp->error_code));
	struct e2e_ctx e = {nv->st, now};
	int hint = 0;
	for (int32_t i = 0; i < resp->responses.n; i++)
		for (int32_t k = 0; k < resp->responses.items[i].partitions.n; k++) {
			const struct kp_fetch_resp_partition_data *p = &resp->responses.items[i].partitions.items[k];
			/* The answer comes in the request's order: going on from the partition before
			 * finds each at once (a scan from the start for each was quadratic in the
			 * partitions a connection reads: 25 million steps a Fetch at 5,000). */
			int j = -1;
			for (int n = 0; n < c->nparts && j < 0; n++) {
				int x = (hint + n) % c->nparts;
				if (c->parts[x] == p->partition_index)
					j = x;
			}
			if (j < 0)
				continue;
			hint = j + 1;
			if (p->error_code == KP_ERR_OFFSET_OUT_OF_RANGE && p->log_start_offset > c->offsets[j]) {
				/* The log dropped what the consumer had not read yet (retention; the mock
				 * cluster keeps little): go on from the log start, as auto.offset.reset=
				 * earliest does, and count what was skipped. */
				nv->st->skipped_records += p->log_start_offset - c->offsets[j];
				c->offsets[j] = p->log_start_offset;
				continue;
			}
			if (p->error_code) {
				perf_stats_error(nv->st, p->error_code, "Fetch partition %d: %s", p->partition_index,
				                 kp_error_name(p->error_code));
				continue;
			}
			if (p->records.len <= 0)
				continue;
			struct perf_fetch_scan s;
			perf_wire_scan_records(p->records.ptr, (size_t)p->records.len, c->offsets[j], &nv->arena,
			                       nv->o->mode == PERF_MODE_E2E ? on_send_time : NULL, &e, &s);
			if (s.corrupt)
				perf_stats_error(nv->st, KP_ERR_CORRUPT_MESSAGE, "Fetch partition %d: a corrupt batch",
				                 p->partition_index);
			nv->st->consumed_records += s.records;
			nv->st->consumed_bytes += s.payload;
			if (s.next_offset > c->offsets[j]) {
				bool was_left = nv->o->mode == PERF_MODE_CONSUME && c->offsets[j] < c->ends[j];
				if (nv->grp)
					perf_grp_consumed(nv, p->partition_index, c->offsets[j], s.next_offset);
				c->offsets[j] = s.next_offset;
				if (was_left && c->offsets[j] >= c->ends[j] && !nv->grp)
					nv->consume_left--;
			}
		}
}

/* ------------------------------------------------------------------ I/O */

static void flush_out(struct native *nv, struct conn *c)
{
	int rc = perf_outq_write(&c->out, c->fd);
	if (rc) {
		perf_stats_error(nv->st, -1, "write to %s:%d: %s", nv->nodes[c->node].host, nv->nodes[c->node].port,
		                 rc == -EPIPE ? "closed" : strerror(-rc));
		nv->failed = true;
		return;
	}
	bool want = perf_outq_pending(&c->out) > 0;
	if (want != c->epollout) {
		struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
		epoll_ctl(nv->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->epollout = want;
	}
}

static void read_in(struct native *nv, struct conn *c)
{
	for (;;) {
		if (rt_buf_reserve(&c->in, 256 << 10)) {
			nv->failed = true;
			return;
		}
		ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			perf_stats_error(nv->st, -1, "read from %s:%d: %s", nv->nodes[c->node].host, nv->nodes[c->node].port,
			                 r < 0 ? strerror(errno) : "the broker closed the connection");
			nv->failed = true;
			return;
		}
		c->in.len += (size_t)r;
		if ((size_t)r < 65536)
			break;
	}
	size_t pos = 0;
	uint64_t now = rt_clock_ns();
	while (pos < c->in.len) {
		int64_t size = perf_wire_frame_size(c->in.data + pos, c->in.len - pos, MAX_FRAME);
		if (size == 0)
			break;
		if (size < 0 || c->n == 0) {
			perf_stats_error(nv->st, -1, size < 0 ? "a response frame with a bad size" : "a response nobody asked for");
			nv->failed = true;
			return;
		}
		struct nreq *r = &c->reqs[c->head];
		if (c->role == ROLE_COORD) {
			/* Off the ring first: the member may send its next request from the handler. */
			struct nreq done = *r;
			c->head = (c->head + 1) % c->cap;
			c->n--;
			perf_grp_on_response(nv, c, &done, c->in.data + pos, (size_t)size, now);
			rt_arena_reset(&nv->arena);
			pos += (size_t)size;
			if (nv->failed)
				return;
			continue;
		}
		union {
			struct kp_produce_resp p;
			struct kp_fetch_resp f;
		} u;
		int32_t corr = 0;
		int rc = perf_wire_response(c->in.data + pos, (size_t)size, r->api, r->version, &nv->arena, &corr, &u);
		if (rc || corr != r->corr) {
			perf_stats_error(nv->st, -1, "undecodable %s response (%s)", r->api == KP_API_PRODUCE ? "Produce" : "Fetch",
			                 rc ? strerror(-rc) : "correlation id out of order");
			nv->failed = true;
			return;
		}
		if (r->api == KP_API_PRODUCE)
			on_produce(nv, c, r, &u.p, now);
		else
			on_fetch(nv, c, r, &u.f, now);
		rt_arena_reset(&nv->arena);
		c->head = (c->head + 1) % c->cap;
		c->n--;
		pos += (size_t)size;
	}
	if (pos) {
		memmove(c->in.data, c->in.data + pos, c->in.len - pos);
		c->in.len -= pos;
	}
}

/* ------------------------------------------------------------------ the run */

static void teardown(struct native *nv)
{
	for (int i = 0; i < nv->nconns; i++) {
		struct conn *c = nv->conns[i];
		if (!c)
			continue;
		if (c->fd >= 0)
			close(c->fd);
		for (int k = 0; k < c->n; k++) {
			struct nreq *r = &c->reqs[(c->head + k) % c->cap];
			for (struct pbatch *pb = r->batches, *n; pb; pb = n) {
				n = pb->next;
				free_batch(pb);
			}
		}
		for (struct pbatch *pb = c->pend_head, *n; pb; pb = n) {
			n = pb->next;
			free_batch(pb);
		}
		perf_outq_fini(&c->out);
		rt_buf_fini(&c->in);
		free(c->reqs);
		free(c->parts);
		free(c->offsets);
		free(c->ends);
		free(c);
	}
	free(nv->conns);
	perf_grp_fini(nv);
	for (int i = 0; nv->prods && i < nv->nprods; i++) {
		struct producer *pr = &nv->prods[i];
		for (int32_t p = 0; pr->accs && p < nv->nparts; p++) {
			if (pr->accs[p].inited)
				kp_batch_builder_fini(&pr->accs[p].b);
			free(pr->accs[p].times);
		}
		free(pr->accs);
		free(pr->conns);
	}
	free(nv->prods);
	perf_idle_close(nv->idle_fds, nv->nidle);
	free(nv->nodes);
	free(nv->leader);
	free(nv->value);
	perf_keygen_fini(&nv->kg);
	rt_arena_fini(&nv->arena);
	rt_chain_fini(&nv->chain);
	if (nv->ep >= 0)
		close(nv->ep);
	if (nv->trace)
		fclose(nv->trace);
}

int perf_run_native(const struct perf_opts *o, struct perf_stats *st)
{
	struct native nv = {.o = o, .st = st, .ep = -1};
	/* The loop's waits end at a record's slot or a linger expiry; the default 50 us timer slack
	 * would let every one of them end late and count the harness's own lateness as the
	 * broker's latency. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	/* Batches and request buffers of a MiB come and go all the time: keep them in the heap
	 * instead of mapping and unmapping (page faults and zeroing on every batch). */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	rt_arena_init(&nv.arena, 1 << 20, (size_t)512 << 20);
	rt_chain_init(&nv.chain, 0);
	nv.value = malloc((size_t)o->record_size);
	int rc = perf_keygen_init(&nv.kg, o->keys, o->key_count, o->zipf_s, 1);
	nv.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!nv.value || rc || nv.ep < 0) {
		teardown(&nv);
		return rc ? rc : -ENOMEM;
	}
	perf_record_fill(nv.value, (size_t)o->record_size, 0, 0);
	if (o->trace_path[0] && !(nv.trace = fopen(o->trace_path, "w"))) {
		rc = -errno;
		fprintf(stderr, "ringtail-perf: --trace-records %s: %s\n", o->trace_path, strerror(errno));
		teardown(&nv);
		return rc;
	}
	if ((rc = setup(&nv))) {
		teardown(&nv);
		return rc;
	}
	st->connections = nv.nconns + nv.nidle;

	const bool produce = nv.nprods > 0;
	const uint64_t linger_ns = (uint64_t)o->linger_ms * 1000000;
	uint64_t start = rt_clock_ns();
	perf_stats_start(st, start);
	perf_pace_init(&nv.pace, start, o->rate, produce ? (uint64_t)o->records : 0);
	perf_pace_set_tick(&nv.pace, (uint64_t)(o->pace_tick_us * 1000));
	bool stopping = false;
	uint64_t stop_at = 0, seq = 0;
	struct epoll_event evs[64];
	/* A group run starts its clock (and its producers) once the group has given out every
	 * partition; at its end the members hand over and leave before the loop ends. */
	bool forming = nv.grp != NULL, leaving = false;
	uint64_t leave_at = 0;
	const uint64_t catch_up_ns = (nv.grp ? 15 : 5) * 1000000000ull;

	while (!nv.failed) {
		uint64_t now = rt_clock_ns();
		if (forming && perf_grp_formed(&nv)) {
			forming = false;
			start = now;
			perf_stats_start(st, start);
			perf_pace_init(&nv.pace, start, o->rate, produce ? (uint64_t)o->records : 0);
			perf_pace_set_tick(&nv.pace, (uint64_t)(o->pace_tick_us * 1000));
		} else if (forming && now - start > GROUP_FORM_NS) {
			perf_stats_error(st, -1, "group %s did not give out every partition within %llu s", o->group,
			                 (unsigned long long)(GROUP_FORM_NS / 1000000000ull));
			perf_stats_stop(st, now);
			stopping = leaving = true;
			stop_at = leave_at = now;
		}
		if (!stopping && !forming) {
			bool done = o->duration_s > 0 && now - start >= (uint64_t)(o->duration_s * 1e9);
			if (produce && o->records && (int64_t)nv.pace.issued >= o->records)
				done = true;
			if (o->mode == PERF_MODE_CONSUME &&
			    ((nv.grp ? perf_grp_read_all(&nv) : nv.consume_left == 0) ||
			     (o->records && st->consumed_records >= o->records)))
				done = true;
			if (done) {
				stopping = true;
				stop_at = now;
				while (nv.lhead)
					close_batch(&nv, nv.lhead);
			}
		}
		if (stopping) {
			bool idle = true;
			for (int i = 0; i < nv.nconns && idle; i++) {
				struct conn *c = nv.conns[i];
				if (c->role == ROLE_PRODUCER && (c->n || c->pend_head || perf_outq_pending(&c->out)))
					idle = false;
			}
			/* A group counts each record once: a redelivered one must not stand in for one
			 * not read yet. */
			bool caught_up = o->mode != PERF_MODE_E2E ||
			                 (nv.grp ? perf_grp_reached(&nv) : st->consumed_records) >= st->acked_records;
			bool drained = idle && (caught_up || now - stop_at > catch_up_ns);
			if (drained && !nv.grp)
				break;
			if (drained && !leaving) {
				/* The run's figures end here; the members' hand-over and leaving are not
				 * part of them. */
				perf_stats_stop(st, now);
				leaving = true;
				leave_at = now;
			}
			if (leaving && perf_grp_gone(&nv))
				break;
			if (leaving && now - leave_at > GROUP_LEAVE_NS) {
				perf_stats_error(st, -1, "group members still in the group %llu s after the end",
				                 (unsigned long long)(GROUP_LEAVE_NS / 1000000000ull));
				break;
			}
			if (!leaving && now - stop_at > 30000000000ull) {
				perf_stats_error(st, KP_ERR_REQUEST_TIMED_OUT, "requests still unanswered 30 s after the end");
				break;
			}
		}
		if (nv.grp)
			perf_grp_step(&nv, now, leaving);

		/* New records. */
		if (produce && !stopping && !forming) {
			uint64_t due = perf_pace_due(&nv.pace, now);
			int64_t wall_ms = due ? rt_clock_wall_ms() : 0;
			for (uint64_t i = 0; i < due && i < 65536; i++) {
				struct producer *pr = &nv.prods[seq % (uint64_t)nv.nprods];
				if (o->rate == 0 && pr->queued >= o->buffer_bytes)
					break;
				if (o->rate > 0 && nv.queued_total >= OPEN_LOOP_LIMIT) {
					perf_stats_error(st, -1, "the broker fell 1 GiB behind the offered %.0f records/s; stopping",
					                 o->rate);
					st->fell_behind = true;
					stopping = true;
					stop_at = now;
					break;
				}
				seq++;
				produce_record(&nv, pr, perf_pace_take(&nv.pace, now), now, wall_ms);
			}
			close_lingered(&nv, now, linger_ns);
		}

		/* Requests. */
		for (int i = 0; i < nv.nconns; i++) {
			struct conn *c = nv.conns[i];
			if (c->role == ROLE_PRODUCER) {
				while (c->pend_head && can_send(&nv, c) && !nv.failed)
					send_produce(&nv, c);
			} else if (c->role == ROLE_CONSUMER && c->n == 0 && c->nparts && !c->paused &&
			           (!stopping || o->mode == PERF_MODE_E2E)) {
				perf_nv_send_fetch(&nv, c);
			}
			if (c->role != ROLE_DEAD && perf_outq_pending(&c->out))
				flush_out(&nv, c);
		}

		/* Wait for the network, the next record's slot or the next linger expiry. */
		uint64_t wait = 100000000;
		if (nv.grp)
			wait = perf_grp_wait_ns(&nv, rt_clock_ns(), wait);
		if (produce && !stopping && !forming) {
			uint64_t w = perf_pace_wait_ns(&nv.pace, rt_clock_ns());
			bool can_make = o->rate > 0 || nv.prods[seq % (uint64_t)nv.nprods].queued < o->buffer_bytes;
			/* Above 1e9 / PACE_GRAIN_NS records/s, records are made in bursts at most
			 * PACE_GRAIN_NS apart rather than one wake-up per record: each still carries its
			 * own intended time, so the burst's delay is counted in its latency, and the
			 * harness stays cheap at high rates.  Below that rate a wake-up per record is
			 * cheap, and rounding a wait up would count up to PACE_GRAIN_NS of the harness's
			 * own lateness in records that a latency target is measured on.  A tick
			 * (--pace-tick-us) sets the bursts instead (pace.h). */
			if (can_make && w > 0 && w < PACE_GRAIN_NS && nv.pace.interval_ns < PACE_GRAIN_NS && !nv.pace.tick_ns)
				w = PACE_GRAIN_NS;
			if (can_make && w < wait)
				wait = w;
			/* The next linger expiry; batches already expired wait for their connection, and a
			 * response (a network event) is what frees it. */
			uint64_t t = rt_clock_ns();
			struct acc *a = nv.lhead;
			while (a && a->first_ns + linger_ns <= t && !can_send(&nv, acc_conn(&nv, a)))
				a = a->lnext;
			if (a) {
				uint64_t exp = a->first_ns + linger_ns;
				wait = exp <= t ? 0 : (exp - t < wait ? exp - t : wait);
			}
		}
		if (o->progress_s > 0 && wait > 50000000)
			wait = 50000000;
		struct timespec ts = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
		int n = epoll_pwait2(nv.ep, evs, 64, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			perf_stats_error(st, -1, "epoll: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				read_in(&nv, c);
			if (evs[i].events & EPOLLOUT)
				flush_out(&nv, c);
		}
		perf_stats_tick(st, rt_clock_ns());
	}
	if (!leaving)
		perf_stats_stop(st, rt_clock_ns());
	if (nv.grp)
		perf_grp_finish(&nv);
	/* Group members open their fetch connections as partitions come their way. */
	st->connections = nv.nidle;
	for (int i = 0; i < nv.nconns; i++)
		st->connections += nv.conns[i]->role != ROLE_DEAD;
	/* What never got an answer failed. */
	for (int i = 0; i < nv.nconns; i++) {
		struct conn *c = nv.conns[i];
		for (int k = 0; k < c->n; k++)
			for (struct pbatch *pb = c->reqs[(c->head + k) % c->cap].batches; pb; pb = pb->next)
				st->failed_records += pb->count;
		for (struct pbatch *pb = c->pend_head; pb; pb = pb->next)
			st->failed_records += pb->count;
	}
	teardown(&nv);
	return 0;
}
