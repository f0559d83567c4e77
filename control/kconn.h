/*
 * control/kconn.h: the control process's Kafka client connection to the dataplane's listener
 * (prefix ctl_kconn_), shared by the store (store.h) and the WriteTxnMarkers client
 * (markers.h): a non-blocking TCP connection driven by the owner's poll loop, requests
 * encoded into one output buffer and pipelined, whole size-prefixed response frames read in
 * and matched to their requests in send order by correlation id (a Kafka broker answers a
 * connection's requests in order).
 *
 * The connection only moves bytes and pairs answers with requests; what to do when it fails
 * (the error each request gets, when to reconnect, time-outs) stays with the owner, which
 * closes it with ctl_kconn_close and is handed back every request still in flight.
 *
 * Embedded (ctl_kconn_init / ctl_kconn_fini); the fields are the module's own.
 */
#ifndef CTL_KCONN_H
#define CTL_KCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/bytes.h"

/* One answer, in order, for the request queued with `arg`; body is positioned after the
 * response header (already checked against the request's correlation id) and a is the
 * answer's arena, both borrowed for the call.  Returns 0, or -EPROTO when the body is
 * malformed: the request then stays the oldest in flight and ctl_kconn_read fails with
 * -EPROTO.  The callback may close the connection (ctl_kconn_close); reading then stops. */
typedef int (*ctl_kconn_answer_fn)(void *ctx, void *arg, int16_t key, int16_t version, struct rt_rd *body,
                                   struct rt_arena *a);
/* A request in flight when the connection closed, with its arg. */
typedef void (*ctl_kconn_lost_fn)(void *ctx, void *arg);

struct ctl_kconn_req;

struct ctl_kconn {
	const char *who;                /* names the owner in log lines; borrowed, static */
	char host[256];
	int port;
	int fd;                         /* -1 while closed */
	bool connecting;                /* connect(2) in progress */
	int32_t corr;
	size_t arena_max;               /* the byte limit of each answer's arena */
	ctl_kconn_answer_fn answer;
	void *ctx;
	struct rt_buf out;              /* requests not yet sent, from out_off */
	size_t out_off;
	struct rt_buf in;               /* bytes received, a frame at the start */
	struct ctl_kconn_req *fl_head, *fl_tail;  /* in flight, in send order */
	char why[96];                   /* the reason ctl_kconn_read last failed */
};

/* Sets up a closed connection to host:port (copied).  who: the owner's name in log lines
 * (static).  max_in: the largest response frame accepted, size field included; arena_max:
 * the arena limit for decoding one answer; answer(ctx, ...) gets every answer. */
void ctl_kconn_init(struct ctl_kconn *k, const char *who, const char *host, int port, size_t max_in,
                    size_t arena_max, ctl_kconn_answer_fn answer, void *ctx);
/* Closes without a log line; requests in flight are dropped without lost() (their args stay
 * the owner's). */
void ctl_kconn_fini(struct ctl_kconn *k);

/* Starts a non-blocking connect (TCP_NODELAY).  Returns 0 (connected, or connecting:
 * ctl_kconn_connecting) or -errno (nothing open). */
int ctl_kconn_connect(struct ctl_kconn *k);
bool ctl_kconn_connecting(const struct ctl_kconn *k);
/* After POLLOUT on a connecting socket: returns 0 once connected, or -errno (the connect
 * failed; the socket is still open, for the owner to close). */
int ctl_kconn_connect_done(struct ctl_kconn *k);

/* Closes (a no-op when closed): logs "<who>: connection to host:port lost: why" when it was
 * open and why is not NULL, empties both buffers, and then hands every request that was in
 * flight, oldest first, to lost(ctx, arg) (lost may be NULL). */
void ctl_kconn_close(struct ctl_kconn *k, const char *why, ctl_kconn_lost_fn lost, void *ctx);

/* Queues a request (header with client id "ringtail-control", then body encoded at version)
 * and records it in flight with arg (borrowed until answered or lost).  Returns 0 or -ENOMEM
 * (nothing queued). */
int ctl_kconn_send(struct ctl_kconn *k, int16_t key, int16_t version, const void *body, void *arg);

/* The arg of the oldest request in flight, or NULL. */
void *ctl_kconn_oldest(const struct ctl_kconn *k);

/* Poll integration: the socket (-1 while closed), the events to wait for (POLLOUT while
 * connecting; POLLIN, and POLLOUT while bytes wait to be sent). */
int ctl_kconn_fd(const struct ctl_kconn *k);
short ctl_kconn_events(const struct ctl_kconn *k);
bool ctl_kconn_pending(const struct ctl_kconn *k);

/* Reads until the socket would block, handing each whole answer to the answer callback.
 * Returns 0 (also when the callback closed the connection), or, leaving the connection open
 * for the owner to close: -EPROTO when the broker's bytes break the protocol (a frame larger
 * than max_in, an answer nobody asked for, a header that does not match its request, a
 * malformed body), -ENOMEM, or -errno of the socket (-ECONNRESET when the broker closed it).  *why is
 * then set to the reason, valid until the next call. */
int ctl_kconn_read(struct ctl_kconn *k, const char **why);
/* Sends what is queued until the socket would block.  Returns 0 or -errno of send(2) (the
 * connection is left open for the owner to close). */
int ctl_kconn_write(struct ctl_kconn *k);

#endif
