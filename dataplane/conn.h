/*
 * dataplane/conn.h: a client connection and the requests it carries.
 *
 * Frames are reassembled from received bytes into an owned buffer per request, bounded by
 * socket.request.max.bytes; a larger length or a nonsense one closes the connection, as Kafka
 * does.  At most DP_CONN_PIPELINE requests of a connection are in flight; beyond that the
 * connection stops reading (back-pressure through TCP).  Responses are sent strictly in request
 * order, whichever shard finished them first.
 *
 * Lifetimes: a request holds a reference on its connection; the connection is freed once it is
 * closed, has no backend operation pending and no request left.  A request's frame (and every
 * record batch slice into it) lives until the request is released after its response is sent.
 */
#ifndef DP_CONN_H
#define DP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/bytes.h"
#include "base/chain.h"
#include "base/ioop.h"

struct iovec;

#define DP_CONN_PIPELINE 5

struct dp_shard;
struct dp_conn;
struct dp_net_ops;

/* Something to undo when the request is released (e.g. unpin a segment). */
struct dp_release {
	struct dp_release *next;
	void (*fn)(void *arg);
	void *arg;
};

/* A span of a request's frame that was not copied there (dp_conn_received_chain): its bytes lie
 * at p, in a receive buffer the request holds until released. */
struct dp_req_hole {
	uint32_t off, len;             /* in the frame */
	uint8_t *p;
};

/* What a request received in pieces holds: the receive buffers of its holes. */
struct dp_req_lent {
	void (*release)(void *ref);
	int nref, nholes;              /* nholes 0: every byte is in the frame (dp_req_fill) */
	void **ref;
	struct dp_req_hole holes[];    /* in frame order, disjoint */
};

struct dp_req {
	struct dp_conn *conn;
	struct dp_shard *s;            /* the connection's shard: where the response is sent */
	struct dp_req *next;           /* in the connection's queue, request order */
	uint8_t *frame;                /* owned: the request after its length prefix */
	size_t len;
	/* a frame lent by the backend in its receive buffer (dp_conn_received_lent): given back
	 * with frame_release(frame_ref) instead of being freed */
	void (*frame_release)(void *ref);
	void *frame_ref;
	/* a frame received in pieces (dp_conn_received_chain): frame is owned, but the bytes of
	 * lent->holes are not in it (only a Produce's records may lie there); NULL otherwise */
	struct dp_req_lent *lent;
	int16_t api_key;
	int16_t api_version;
	int32_t corr_id;
	const char *client_id;         /* borrowed from frame; not NUL-terminated */
	int16_t client_id_len;         /* -1 = null */
	size_t body_off;               /* where the request body starts in frame */
	bool flexible;                 /* request header v2 / response header v1 */
	bool done;                     /* the response (or no-response) is decided */
	bool no_response;              /* acks=0 produce */
	bool close_after;              /* close the connection when this request's turn comes */
	int holds;                     /* dp_req_hold: release waits for as many dp_req_unhold */
	bool release_due;              /* answered and dropped from its connection, held */
	struct rt_arena arena;         /* per-request memory, freed at release */
	struct rt_chain resp;          /* length, header, body */
	struct dp_release *releases;
	void *ctx;                     /* the handler's state while asynchronous */
	uint64_t lt_recv, lt_back;     /* base/lat_trace.h stamps (0 unless built with it) */
	uint64_t lt_decided, lt_send;  /* lat_trace: response decided; its send issued */
};

struct dp_conn {
	struct dp_shard *s;
	struct dp_conn *prev, *next;   /* the shard's connection list */
	int fd;
	const struct dp_net_ops *backend;  /* the backend that accepted it and serves it */
	void *net;                     /* backend state; owned by the backend */
	uint64_t last_active_ns;
	/* frame reassembly */
	uint8_t lenbuf[4];
	size_t lenhave;
	uint8_t *frame;                /* owned until handed to a request */
	size_t frame_len, frame_have;
	/* Bytes received past the pipeline limit, from a frame boundary on: taken as requests once
	 * fewer than DP_CONN_PIPELINE are queued.  No receive is armed while it holds bytes, so it
	 * holds at most about two receives' worth.  Owned. */
	uint8_t *stash;
	size_t stash_len;
	/* requests in order */
	struct dp_req *q_head, *q_tail;
	int nreq;
	struct dp_req *sending;
	bool recv_armed;
	bool recv_starved;             /* no receive buffer was free: retry from the loop */
	bool closing;
	bool closed;                   /* backend close done */
	bool internal;                 /* accepted on the internal listener (ringtail-control) */
	int ops;                       /* backend operations in flight */
	char peer[64];
};

/* Backend callbacks (see net.h). */
/* Returns the new connection, or NULL when it was closed at once (the broker stopping, no
 * memory, a failed first receive). */
struct dp_conn *dp_conn_accepted(struct dp_shard *s, const struct dp_net_ops *backend, int fd);
void dp_conn_received(struct dp_conn *c, const uint8_t *p, size_t n);
void dp_conn_received_into(struct dp_conn *c, int32_t res);
/* Received bytes in memory the backend can lend (a NIC's receive buffer, writable): when no
 * frame is in progress and p holds whole request frames only, each becomes a request in place
 * -- no copy; the request calls hold(ref) when made and release(ref) when released (possibly
 * after c is gone), so the backend's own reference can go after the call.  Returns true when it
 * took the bytes (completing the receive as dp_conn_received does), false when they do not
 * qualify: nothing was done and the backend hands them to dp_conn_received instead. */
bool dp_conn_received_lent(struct dp_conn *c, uint8_t *p, size_t n, void (*hold)(void *ref),
                           void (*release)(void *ref), void *ref);
/* One request frame (its length prefix included) that lies in cnt received buffers the backend
 * can lend (v[i] in the buffer refs[i]), when no frame is in progress: a Produce becomes a
 * request whose frame holds copies of everything but its record sets past their batch headers
 * (dataplane/produce_scan.h finds them); those stay where they are as holes (the request calls
 * hold(refs[i]) for each buffer a hole lies in and release at its release), so that a record
 * batch goes from them to storage without a copy (dp_req_iov).  Returns true when it took the
 * frame (completing the receive as dp_conn_received does), false when it does not qualify
 * (another API or version, a frame that does not parse, a bad length, a frame in progress):
 * nothing was done. */
bool dp_conn_received_chain(struct dp_conn *c, const struct iovec *v, void *const *refs, int cnt,
                            void (*hold)(void *ref), void (*release)(void *ref));
void dp_conn_recv_failed(struct dp_conn *c, int err);
void dp_conn_sent(struct dp_conn *c, int err);

/* Closes c: stops reading, drops pending responses, frees once nothing refers to it. */
void dp_conn_close(struct dp_conn *c, const char *why);

/* Loop hooks: closes idle connections; re-arms receives that found no buffer. */
void dp_conn_sweep_idle(struct dp_shard *s);
void dp_conn_retry_starved(struct dp_shard *s);
/* Frees the shard's cached request frames (at shard destruction). */
void dp_frame_cache_fini(struct dp_shard *s);
/* Closes every connection of the shard (at exit). */
void dp_conn_close_all(struct dp_shard *s);

/* Called on the connection's shard when the request's response is complete in req->resp (or
 * no_response / close_after is set).  Patches the frame length and sends in order. */
void dp_req_finish(struct dp_req *req);

/* Keeps req (its frame, arena and connection) alive after its response is sent, until the
 * matching dp_req_unhold: for work that still runs on the request's memory when the answer has
 * to go (a produce answered REQUEST_TIMED_OUT while its appends write from the frame).  On the
 * connection's shard only. */
void dp_req_hold(struct dp_req *req);
void dp_req_unhold(struct dp_req *req);

/* Registers fn(arg) to run when req is released.  0 or -ENOMEM. */
int dp_req_on_release(struct dp_req *req, void (*fn)(void *), void *arg);

/* Copies the bytes of every hole into the frame (a decode that needs them, or a batch that is
 * validated whole); the buffers stay held until the request goes. */
void dp_req_fill(struct dp_req *req);

/* The frame bytes [p, p + n) as pieces: the frame's own copies and the holes' buffers, in order,
 * written to v (at most max).  Returns the count, or -1 when more than max are needed. */
int dp_req_iov(const struct dp_req *req, const uint8_t *p, size_t n, struct iovec *v, int max);

/* True when [p, p + n) of the frame overlaps a hole. */
bool dp_req_in_holes(const struct dp_req *req, const uint8_t *p, size_t n);

/* A read cursor over the request body. */
static inline struct rt_rd dp_req_body(const struct dp_req *req)
{
	struct rt_rd r;
	rt_rd_init(&r, req->frame + req->body_off, req->len - req->body_off);
	return r;
}

#endif
