/*
 * dataplane/net_dpdk/port.h: the DPDK port driver (prefix dp_port_): EAL start-up, one port
 * with one receive and one transmit queue per shard, and the glue that feeds a shard's
 * dp_stack from its queue and sends the stack's frames on it.  Only this file pair and the
 * programs that use it see DPDK; the stack does not.
 *
 * Threads: dp_port_open and dp_port_steer_tcp run on the main thread before the shards start;
 * each dp_port_queue is used by exactly one shard thread (its poll, its transmit), so no locks.
 * Flows reach queues by the device's RSS on the TCP 4-tuple where it has it (af_packet, tap:
 * the kernel's hash); on a device without either (or with ringtail.dpdk.rx.dispatch=software)
 * each shard hands the frames of other shards' flows to them by a software flow hash (port.c).
 * Where the device has rte_flow, dp_port_steer_tcp pins a destination port to one queue
 * (shard-aware mode).
 */
#ifndef DP_NET_DPDK_PORT_H
#define DP_NET_DPDK_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/net_dpdk/dpdk_config.h"
#include "dataplane/net_dpdk/stack.h"

struct dp_port;
struct dp_port_queue;

/* Starts the EAL with cfg->eal_args (plus --vdev for a virtual port), probes and starts the
 * port with nqueues queue pairs.  Returns the port or NULL with a message in err naming what
 * failed (no huge pages, no such device, ...). */
struct dp_port *dp_port_open(const struct dp_dpdk_cfg *cfg, uint16_t nqueues, char *err, size_t errlen);
void dp_port_close(struct dp_port *p);

uint16_t dp_port_nqueues(const struct dp_port *p);
void dp_port_mac(const struct dp_port *p, uint8_t mac[6]);
/* A short description: driver name, queues, offloads found. */
const char *dp_port_describe(const struct dp_port *p);

/* Installs an rte_flow rule: IPv4 TCP segments to ip:tcp_port (host order) go to queue q.
 * 0, or -errno (-ENOTSUP: the device has no rte_flow or refuses this rule) with the device's
 * reason in why.  The rules live until dp_port_unsteer or dp_port_close. */
int dp_port_steer_tcp(struct dp_port *p, uint32_t ip, uint16_t tcp_port, uint16_t q, char *why, size_t whylen);
/* Removes every rule dp_port_steer_tcp installed. */
void dp_port_unsteer(struct dp_port *p);

/* Queue q's handle (borrowed from the port). */
struct dp_port_queue *dp_port_queue(struct dp_port *p, uint16_t q);

/* Sets every field of io: queue q's transmit function, the device's offloads and, for a DMA
 * device whose memory the port registers, the dma_map hooks; for dp_stack_create. */
void dp_port_queue_pktio(struct dp_port_queue *q, struct dp_pktio *io);

/* One polling round on the queue's shard: receives a burst into st, runs its timers at
 * now_ms, and flushes what the stack sent.  Returns the number of frames received. */
unsigned dp_port_queue_poll(struct dp_port_queue *q, struct dp_stack *st, uint64_t now_ms);

/* Frames handed to the stack are lendable (dp_stack_input_lend): their token is the mbuf, and
 * these take and drop a reference on it (any thread; the last drop frees the mbuf). */
void dp_port_frame_hold(void *ref);
void dp_port_frame_release(void *ref);
/* False when half of the mbufs of the queue the frame ref came from are out (held by lent
 * frames, in the device's rings or the transmit backlog): lending more could leave the device
 * without receive buffers.  (A frame handed over by the software dispatch counts against the
 * queue that received it, whichever shard holds it.) */
bool dp_port_frame_can_lend(const void *ref);

/* Test hook: drop pct percent of received frames before the stack sees them (0: off). */
void dp_port_queue_set_rx_drop(struct dp_port_queue *q, unsigned pct);

/* Frames and bytes moved, for logs and tests.  Payload bytes leave either attached in place
 * (tx_zerocopy_bytes, in tx_zerocopy_segs external mbufs) or copied into the frame's own mbufs
 * (tx_copied_bytes: pieces under 256 bytes such as response headers, and everything on a device
 * without zero copy); headers are not counted. */
struct dp_port_stats {
	uint64_t rx_frames, rx_fault_dropped, tx_frames, tx_dropped, tx_zerocopy_segs, tx_zerocopy_bytes,
	         tx_copied_bytes;
	uint64_t dma_maps, dma_map_failed;  /* segment ranges registered for a DMA device's reads */
	/* software dispatch: frames handed to other shards (dropped: their ring was full) and
	 * frames of this shard's flows other shards received */
	uint64_t rx_dispatched, rx_dispatch_dropped, rx_from_others;
};
void dp_port_queue_stats(const struct dp_port_queue *q, struct dp_port_stats *out);

#endif
