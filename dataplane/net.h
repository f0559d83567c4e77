/*
 * dataplane/net.h: the network backend interface.  A backend accepts connections, receives
 * into buffers the shard owns, and sends output chains (memory as iovecs, file ranges without
 * copying).  `uring` (net_uring.c) uses kernel sockets through the shard's io_uring; `dpdk`
 * (net_dpdk/backend.c) runs the project's own TCP/IP stack on a polled NIC queue.
 *
 * The backend is chosen per listener, and each connection carries the backend that accepted it
 * (dp_conn.backend).  `ringtail.net.backend` names the backend of the client listeners
 * (`listeners=` and the shard-aware ports); `uring` always runs as well, because the broker's
 * internal listener (dp_net_uring_listen_internal) and the links to the control process are
 * kernel sockets whatever the clients use.  Each backend keeps its own per-shard state (struct
 * dp_shard's `net` for uring, `dpdk` for dpdk).
 *
 * Why a loopback listener for the control process rather than its requests over the socketpair
 * links: its store and marker clients stay ordinary Kafka clients whose requests take exactly
 * the path of any client's (framing, pipelining, back-pressure, acks=-1 group commit, zero-copy
 * fetch), there is no second way into the data path to keep in step, and the links stay a
 * one-way forwarding channel.  The cost is one kernel TCP port on 127.0.0.1, picked by the
 * kernel: reachable only from the host, never advertised, and it grants nothing a client on
 * the broker's own listeners lacks (the broker has no authentication).
 *
 * Completions come back to the connection layer (dataplane/conn.h):
 *   a new connection              -> dp_conn_accepted(s, backend, fd)
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
	/* Per-shard set-up of the backend's own state (receive buffers; queue and stack), without
	 * listeners.  0 or -errno. */
	int (*shard_init)(struct dp_shard *s);
	/* Opens the shard's client listeners (listeners=, and the shard's own port in shard-aware
	 * mode) and starts accepting.  After shard_init.  0 or -errno. */
	int (*listen_clients)(struct dp_shard *s);
	/* Stops accepting on the shard's listeners (SIGTERM); existing connections carry on.  A
	 * no-op on a shard without this backend's state. */
	void (*stop_accept)(struct dp_shard *s);
	/* Releases the per-shard state; a no-op on a shard without it. */
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
	/* With poll: the longest the loop may sleep after poll returned false, since the device
	 * cannot wake it (0: no bound beyond the loop's own). */
	uint32_t poll_nap_us;
};

extern const struct dp_net_ops dp_net_uring;

/* Opens the broker's internal listener on shard s (after dp_net_uring.shard_init there): a
 * kernel TCP socket on 127.0.0.1 with a port the kernel picks, written to *port.  It is for
 * the control process's own Kafka client connections (its internal-topic store, WriteTxnMarkers),
 * which must reach the broker whatever backend serves the clients: only the host itself can
 * reach it, and Metadata never shows it.  0 or -errno. */
int dp_net_uring_listen_internal(struct dp_shard *s, uint16_t *port);

#endif
