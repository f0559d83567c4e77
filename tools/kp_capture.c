/*
 * tools/kp_capture.c: records the request frames real Kafka clients send, for the golden tests
 * of the codec (tests/unit/proto/test_golden.c).  A developer tool, not a broker and not a test.
 *
 *   kp-capture <port> <outdir> <seconds> [topic]
 *
 * Listens on 127.0.0.1:<port>, writes every request frame (without its 4-byte size prefix) to
 * <outdir>/<seq>-<api>-v<version>.bin, and answers just enough for a client to go on to Produce
 * and Fetch: ApiVersions (every API of kp_api_info at its served range), Metadata (this
 * listener as node 0, leader of partition 0 of each topic asked for, or of [topic]), Produce
 * (success), ListOffsets (offset 0), Fetch (no records), FindCoordinator (this node), and for
 * anything else the response's defaults.  Responses are built with the generated encoder, so
 * the capture also shows real clients parsing Ringtail's encodings.  Exits after <seconds>.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kp_msgs.h"

#define MAX_CONNS 16

struct conn {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static int port;
static const char *outdir;
static const char *default_topic = "golden";
static int seq;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void save(const uint8_t *frame, size_t n, const char *api, int version)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%03d-%s-v%d.bin", outdir, seq++, api, version);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(frame, 1, n, f) != n || fclose(f)) die(path);
	fprintf(stderr, "kp-capture: %s (%zu bytes)\n", path, n);
}

static void *arr(struct rt_arena *a, int32_t n, size_t sz)
{
	void *p = rt_arena_calloc(a, (size_t)(n > 0 ? n : 1), sz);
	if (!p) die("arena");
	return p;
}

/* The answers below fill m, initialised by handle(), which decoded q (when there is one) and
 * encodes m. */
static void answer_api_versions(struct kp_api_versions_resp *m, struct rt_arena *a)
{
	m->api_keys.n = (int32_t)kp_api_count;
	m->api_keys.items = arr(a, m->api_keys.n, sizeof(*m->api_keys.items));
	for (size_t i = 0; i < kp_api_count; i++) {
		kp_api_versions_resp_api_version_init(&m->api_keys.items[i]);
		m->api_keys.items[i].api_key = kp_api_info[i].key;
		m->api_keys.items[i].min_version = kp_api_info[i].advertised_min;
		m->api_keys.items[i].max_version = kp_api_info[i].max_version;
	}
}

static void answer_metadata(struct kp_metadata_resp *m, const struct kp_metadata_req *q, struct rt_arena *a)
{
	m->brokers.n = 1;
	m->brokers.items = arr(a, 1, sizeof(*m->brokers.items));
	kp_metadata_resp_broker_init(&m->brokers.items[0]);
	m->brokers.items[0].node_id = 0;
	m->brokers.items[0].host = KP_STR("127.0.0.1");
	m->brokers.items[0].port = port;
	m->cluster_id = KP_STR("kp-capture");
	m->controller_id = 0;
	int32_t nt = q->topics.n > 0 ? q->topics.n : 1;
	m->topics.n = nt;
	m->topics.items = arr(a, nt, sizeof(*m->topics.items));
	for (int32_t i = 0; i < nt; i++) {
		struct kp_metadata_resp_topic *t = &m->topics.items[i];
		kp_metadata_resp_topic_init(t);
		t->name = q->topics.n > 0 ? q->topics.items[i].name : KP_STR(default_topic);
		memset(t->topic_id, 0, 16);
		t->topic_id[15] = (uint8_t)(i + 1);
		t->partitions.n = 1;
		t->partitions.items = arr(a, 1, sizeof(*t->partitions.items));
		struct kp_metadata_resp_partition *p = &t->partitions.items[0];
		kp_metadata_resp_partition_init(p);
		p->leader_id = 0;
		p->leader_epoch = 0;
		p->replica_nodes.n = 1;
		p->replica_nodes.items = arr(a, 1, sizeof(int32_t));
		p->isr_nodes.n = 1;
		p->isr_nodes.items = arr(a, 1, sizeof(int32_t));
		p->offline_replicas.n = 0;
	}
}

/* The answers to Produce, ListOffsets and Fetch mirror the request's topic -> partition lists:
 * MIRROR gives the answer's list rl (topics, each with the partition list rpl) one initialised
 * element for each of the request's ql (with qpl), the topic's name copied from qt->qname to
 * rt->rname, then runs the statement `topic` with rt and qt (answer and request topic) in scope
 * and, for each partition, the statements after it with rp and qp also in scope. */
#define MIRROR(a, rl, rpl, rname, ql, qpl, qname, init_t, init_p, topic, ...)               \
	do {                                                                                \
		(rl).n = (ql).n;                                                            \
		(rl).items = arr(a, (ql).n, sizeof(*(rl).items));                           \
		for (int32_t i_ = 0; i_ < (ql).n; i_++) {                                   \
			__typeof__(*(rl).items) *rt = &(rl).items[i_];                      \
			const __typeof__(*(ql).items) *qt = &(ql).items[i_];                \
			init_t(rt);                                                         \
			rt->rname = qt->qname;                                              \
			topic;                                                              \
			rt->rpl.n = qt->qpl.n;                                              \
			rt->rpl.items = arr(a, qt->qpl.n, sizeof(*rt->rpl.items));          \
			for (int32_t j_ = 0; j_ < qt->qpl.n; j_++) {                        \
				__typeof__(*rt->rpl.items) *rp = &rt->rpl.items[j_];        \
				const __typeof__(*qt->qpl.items) *qp = &qt->qpl.items[j_];  \
				init_p(rp);                                                 \
				__VA_ARGS__;                                                \
			}                                                                   \
		}                                                                           \
	} while (0)

static void answer_produce(struct kp_produce_resp *m, const struct kp_produce_req *q, struct rt_arena *a)
{
	MIRROR(a, m->responses, partition_responses, name, q->topic_data, partition_data, name,
	       kp_produce_resp_topic_init, kp_produce_resp_partition_init, (void)qt,
	       rp->index = qp->index;
	       rp->log_start_offset = 0);
}

static void answer_list_offsets(struct kp_list_offsets_resp *m, const struct kp_list_offsets_req *q,
                                struct rt_arena *a)
{
	MIRROR(a, m->topics, partitions, name, q->topics, partitions, name,
	       kp_list_offsets_resp_topic_init, kp_list_offsets_resp_partition_init, (void)qt,
	       rp->partition_index = qp->partition_index;
	       rp->offset = 0;
	       rp->timestamp = -1);
}

static void answer_fetch(struct kp_fetch_resp *m, const struct kp_fetch_req *q, struct rt_arena *a)
{
	MIRROR(a, m->responses, partitions, topic, q->topics, partitions, topic,
	       kp_fetch_resp_fetchable_topic_init, kp_fetch_resp_partition_data_init,
	       memcpy(rt->topic_id, qt->topic_id, 16),
	       rp->partition_index = qp->partition;
	       rp->high_watermark = 0;
	       rp->last_stable_offset = 0;
	       rp->log_start_offset = 0;
	       rp->aborted_transactions.n = 0;
	       rp->records.len = 0;
	       rp->records.ptr = (const uint8_t *)"");
	/* An empty answer right away would make the client spin; wait like fetch.max.wait.ms. */
	usleep(200000);
}

static void answer_find_coordinator(struct kp_find_coordinator_resp *m, const struct kp_find_coordinator_req *q,
                                    struct rt_arena *a)
{
	m->node_id = 0;
	m->host = KP_STR("127.0.0.1");
	m->port = port;
	int32_t n = q->coordinator_keys.n > 0 ? q->coordinator_keys.n : 0;
	m->coordinators.n = n;
	m->coordinators.items = arr(a, n, sizeof(*m->coordinators.items));
	for (int32_t i = 0; i < n; i++) {
		kp_find_coordinator_resp_coordinator_init(&m->coordinators.items[i]);
		m->coordinators.items[i].key = q->coordinator_keys.items[i];
		m->coordinators.items[i].node_id = 0;
		m->coordinators.items[i].host = KP_STR("127.0.0.1");
		m->coordinators.items[i].port = port;
	}
}

/* The request's body, decoded into the arena (the tool gives up on one it cannot read). */
static void *request(const struct kp_api_info *api, int16_t v, struct rt_arena *a, struct rt_rd *r)
{
	void *q = arr(a, 1, api->req_size);
	if (api->req_decode(r, v, a, q)) die(api->name);
	return q;
}

/* Handles one frame; returns 0, or -1 to drop the connection. */
static int handle(int fd, const uint8_t *frame, size_t n)
{
	struct rt_arena a;
	rt_arena_init(&a, 0, 0);
	struct rt_rd r;
	rt_rd_init(&r, frame, n);
	struct kp_req_hdr h;
	if (kp_req_hdr_decode(&r, &a, &h)) { rt_arena_fini(&a); return -1; }
	const struct kp_api_info *api = kp_api_lookup(h.request_api_key);
	int16_t v = h.request_api_version;
	save(frame, n, api ? api->name : "Unknown", v);
	if (!api || v > api->max_version) { rt_arena_fini(&a); return -1; }

	struct rt_chain c;
	rt_chain_init(&c, 0);
	struct kp_frame f = kp_frame_begin(&c);
	struct kp_resp_hdr rh;
	memset(&rh, 0, sizeof(rh));
	rh.correlation_id = h.correlation_id;
	kp_resp_hdr_encode(&c, h.request_api_key, v, &rh);
	/* Anything not answered below goes out with the response's defaults. */
	void *m = arr(&a, 1, api->resp_size);
	api->resp_init(m);
	switch (h.request_api_key) {
	case KP_API_API_VERSIONS: answer_api_versions(m, &a); break;
	case KP_API_METADATA: answer_metadata(m, request(api, v, &a, &r), &a); break;
	case KP_API_PRODUCE: answer_produce(m, request(api, v, &a, &r), &a); break;
	case KP_API_LIST_OFFSETS: answer_list_offsets(m, request(api, v, &a, &r), &a); break;
	case KP_API_FETCH: answer_fetch(m, request(api, v, &a, &r), &a); break;
	case KP_API_FIND_COORDINATOR: answer_find_coordinator(m, request(api, v, &a, &r), &a); break;
	}
	api->resp_encode(&c, v, m);
	kp_frame_end(&c, f);
	int rc = rt_chain_finish(&c);
	if (rc == 0) {
		size_t len = rt_chain_len(&c);
		uint8_t *out = malloc(len);
		if (!out || rt_chain_flatten(&c, out)) die("flatten");
		size_t off = 0;
		while (off < len) {
			ssize_t w = write(fd, out + off, len - off);
			if (w <= 0) { rc = -1; break; }
			off += (size_t)w;
		}
		free(out);
	}
	rt_chain_fini(&c);
	rt_arena_fini(&a);
	return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: kp-capture <port> <outdir> <seconds> [topic]\n");
		return 2;
	}
	port = atoi(argv[1]);
	outdir = argv[2];
	int seconds = atoi(argv[3]);
	if (argc > 4) default_topic = argv[4];

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 8)) die("listen");

	struct conn conns[MAX_CONNS];
	int nconns = 0;
	time_t end = time(NULL) + seconds;
	while (time(NULL) < end) {
		struct pollfd pfd[MAX_CONNS + 1];
		pfd[0] = (struct pollfd){ .fd = ls, .events = POLLIN };
		for (int i = 0; i < nconns; i++) pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)nconns + 1, 200) < 0 && errno != EINTR) die("poll");
		if ((pfd[0].revents & POLLIN) && nconns < MAX_CONNS) {
			int fd = accept(ls, NULL, NULL);
			if (fd >= 0) conns[nconns++] = (struct conn){ .fd = fd };
		}
		for (int i = nconns - 1; i >= 0; i--) {
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
			struct conn *k = &conns[i];
			if (k->cap - k->len < 65536) {
				k->cap = k->cap ? k->cap * 2 : 1 << 20;
				k->buf = realloc(k->buf, k->cap);
				if (!k->buf) die("realloc");
			}
			ssize_t got = read(k->fd, k->buf + k->len, k->cap - k->len);
			int drop = got <= 0;
			if (got > 0) k->len += (size_t)got;
			while (!drop && k->len >= 4) {
				size_t flen = rt_be32_get(k->buf);
				if (k->len < 4 + flen) break;
				drop = handle(k->fd, k->buf + 4, flen) != 0;
				memmove(k->buf, k->buf + 4 + flen, k->len - 4 - flen);
				k->len -= 4 + flen;
			}
			if (drop) {
				close(k->fd);
				free(k->buf);
				conns[i] = conns[--nconns];
			}
		}
	}
	return 0;
}
