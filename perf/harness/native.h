/*
 * perf/harness/native.h: the native driver's private header (shared by drv_native.c, the run,
 * and member.c, the consumer-group members).  Not part of the harness's surface: only these two
 * files include it.
 *
 * One thread owns everything here.  A connection's requests are answered in the order sent
 * (the Kafka protocol guarantees it), so each connection keeps its in-flight requests in a ring
 * and matches each response frame to the ring's head.
 */
#ifndef PERF_NATIVE_H
#define PERF_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "perf/harness/outq.h"
#include "perf/harness/keys.h"
#include "perf/harness/opts.h"
#include "perf/harness/pace.h"
#include "perf/harness/stats.h"
#include "perf/harness/wire.h"
#include "proto/batch.h"

#define MAX_FRAME ((size_t)256 << 20)
#define MAX_REQUEST ((size_t)1 << 20)           /* max.request.size */
#define OPEN_LOOP_LIMIT ((int64_t)1 << 30)      /* queued bytes at which an open-loop run gives up */
#define SETUP_TIMEOUT_MS 10000
#define PACE_GRAIN_NS 50000                     /* see the run's wait (drv_native.c) */

enum role {
	ROLE_PRODUCER,
	ROLE_CONSUMER,
	ROLE_COORD,             /* a group member's connection to its coordinator (member.c) */
	ROLE_DEAD,              /* closed (a coordinator that moved); kept so indexes stay valid */
};

/* A closed batch, queued on its leader's connection and then carried by one request. */
struct pbatch {
	struct pbatch *next;
	int32_t partition;
	uint8_t *data;         /* owned */
	size_t size;
	int32_t count;
	int64_t payload;
	uint64_t *times;       /* owned: each record's latency origin */
};

/* An open batch of one producer for one partition. */
struct acc {
	struct kp_batch_builder b;
	bool inited;
	int32_t count;
	int64_t payload;
	uint64_t first_ns;
	uint64_t *times;       /* owned */
	int32_t cap;
	int32_t partition;
	struct producer *owner;
	struct acc *lprev, *lnext;   /* the linger list (open batches by age) */
	bool linked;
	uint64_t taken_in;           /* the Produce request (native.produce_serial) that last took a
	                              * queued batch of this partition: one batch per partition each */
};

struct nreq {
	int32_t corr;
	int16_t api, version;
	uint64_t sent_ns;
	struct pbatch *batches;      /* produce: owned */
};

struct conn {
	int fd;
	enum role role;
	int node;                    /* index into nodes */
	struct producer *prod;
	struct perf_outq out;         /* requests not yet written (outq.h) */
	struct rt_buf in;
	struct nreq *reqs;           /* ring of in-flight requests */
	int head, n, cap;
	bool epollout;
	struct pbatch *pend_head, *pend_tail;
	int64_t pend_bytes;
	int32_t led;                 /* partitions the node leads: a Produce holds at most that many */
	/* consumer */
	int32_t *parts;
	int64_t *offsets, *ends;
	int nparts;
	int capparts;                /* room in parts/offsets/ends (group members reassign) */
	bool paused;                 /* a group member is giving its partitions up: no new Fetch */
	struct member *member;       /* group mode: the member owning this connection */
};

struct producer {
	int idx;
	struct acc *accs;            /* one per partition */
	struct conn **conns;         /* one per node (NULL where the node leads nothing) */
	int32_t sticky;
	int64_t queued;              /* bytes in open and queued batches */
};

struct node {
	int32_t id;
	char host[256];
	int port;
};

struct native {
	const struct perf_opts *o;
	struct perf_stats *st;
	struct perf_versions v;
	int ep;
	struct node *nodes;
	int nnodes;
	int32_t nparts;
	int *leader;                 /* per partition: index into nodes */
	struct producer *prods;
	int nprods;
	struct conn **conns;
	int nconns, capconns;
	int *idle_fds;
	int nidle;
	int32_t corr;
	struct acc *lhead, *ltail;
	struct rt_arena arena;
	struct rt_chain chain;       /* the request being encoded (perf_nv_queue_request) */
	uint8_t *value;
	struct perf_keygen kg;
	struct perf_pace pace;
	int64_t queued_total;
	uint64_t produce_serial;     /* Produce requests built so far (acc.taken_in) */
	int64_t consume_left;        /* consume mode: partitions not yet at their end offset */
	bool failed;                 /* a connection broke: stop */
	struct perf_grp *grp;        /* --group: the members and their ledger (member.c); owned */
	FILE *trace;                 /* --trace-records; owned, NULL = none */
};


/* Connects to host:port (blocking, TCP_NODELAY, set-up timeouts).  The fd, or -errno with the
 * reason in err. */
int perf_nv_dial(const char *host, int port, char *err, size_t errlen);

/* One blocking request/response exchange (set-up only).  resp is the API's response struct,
 * decoded from a frame held in `frame` (which the caller frees with rt_buf_fini) and from
 * nv->arena.  0 or -errno (-ETIMEDOUT, -ECONNRESET, -EBADMSG). */
int perf_nv_call(struct native *nv, int fd, int16_t api, int16_t version, const void *req, void *resp,
                 struct rt_buf *frame);

/* ApiVersions on fd (blocking), asking again in v0 when the broker does not serve the version
 * the harness asks in.  0, -EPROTO (an error code in the answer) or an errno as perf_nv_call. */
int perf_nv_api_versions(struct native *nv, int fd, struct kp_api_versions_resp *r, struct rt_buf *frame);

/* Records a set-up failure (what: detail, or the errno text) and returns a negative errno. */
int perf_nv_fail(struct native *nv, int rc, const char *what, const char *detail);

/* Opens a connection of role to nodes[node] with room for cap requests in flight, added to
 * nv->conns (which owns it; teardown frees it).  Blocking; the run's loop makes it
 * non-blocking when it is registered with epoll (perf_nv_conn_register).  NULL with *rc and
 * err on failure. */
struct conn *perf_nv_conn_new(struct native *nv, enum role role, int node, int cap, char *err, size_t errlen,
                              int *rc);

/* Makes c non-blocking and adds it to the run's epoll set.  0 or -errno. */
int perf_nv_conn_register(struct native *nv, struct conn *c);

/* Offsets at time ts (-1 latest, -2 earliest) of parts[0..n) from the connection fd (blocking)
 * into dst[i].  0, or a negative errno with the error recorded. */
int perf_nv_list_offsets(struct native *nv, int fd, const int32_t *parts, int n, int64_t ts, int64_t *dst,
                         struct rt_buf *frame);

/* Encodes request m onto c's output; with expect_response its ring entry (taking batches)
 * waits for the answer.  Borrows m. */
void perf_nv_queue_request(struct native *nv, struct conn *c, int16_t api, int16_t version, const void *m,
                           struct pbatch *batches, bool expect_response);

/* One Fetch for c's partitions (none when nothing is left to read). */
void perf_nv_send_fetch(struct native *nv, struct conn *c);

#endif
