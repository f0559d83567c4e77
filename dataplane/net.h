/*
 * dataplane/net.h: the network backend interface.  A backend accepts connections, receives
 * into buffers the shard owns, and sends output chains (memory as iovecs, file ranges without
 * copying).  `uring` (net_uring.c) uses kernel sockets through the shard's io_uring; a DPDK
 * backend with the project's own TCP/IP stack would implement the same calls.
 *
 * Completions come back to the connection layer (dataplane/conn.h):
 *   a new connection              -> dp_conn_accepted(s, fd, listener_shard)
 *   received bytes (borrowed)     -> dp_conn_received(c, p, n); n == 0 is end of stream
 *   received into the frame       -> dp_conn_received_into(c, n)
 *   a receive failed              -> dp_conn_recv_failed(c, -errno)   (-ENOBUFS: retried later)
 *   a send finished or failed     -> dp_conn_sent(c, 0 or -errno)
 */
#ifndef DP_NET_H
#define DP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/chain.h"

struct dp_shard;
struct dp_conn;

struct dp_net_ops {
	const char *name;
	/* Per-shard set-up: receive buffers and the shard's listeners.  0 or -errno. */
	int (*shard_init)(struct dp_shard *s);
	/* Stops accepting on the shard's listeners (SIGTERM); existing connections carry on. */
	void (*stop_accept)(struct dp_shard *s);
	void (*shard_fini)(struct dp_shard *s);
	/* Arms one receive for c into the shard's buffers.  0 or -errno. */
	int (*recv)(struct dp_conn *c);
	/* Arms one receive of at most len bytes straight into p (the rest of a large frame), or
	 * NULL when the backend cannot.  Completes with dp_conn_received_into. 0 or -errno. */
	int (*recv_into)(struct dp_conn *c, uint8_t *p, size_t len);
	/* Sends the whole chain (borrowed until dp_conn_sent).  0 or -errno. */
	int (*send)(struct dp_conn *c, struct rt_chain *ch);
	/* Ends both directions so that every pending operation of c completes. */
	void (*shutdown)(struct dp_conn *c);
	/* Releases c's socket and backend state; c has no operation in flight. */
	void (*close)(struct dp_conn *c);
	/* Optional: polls a device from the shard loop and delivers completions; true keeps the
	 * loop from sleeping (the dpdk backend busy-polls its queue). */
	bool (*poll)(struct dp_shard *s);
};

extern const struct dp_net_ops dp_net_uring;

#endif
