/*
 * dataplane/net_dpdk/stack.h: Ringtail's own TCP/IP stack (prefix dp_stack_, dp_tcp_), one
 * instance per shard, used by the DPDK backend.  Ethernet, ARP with a timed cache, IPv4
 * (fragments dropped), ICMP echo and TCP (passive and active open, MSS, window scaling,
 * timestamps with PAWS, SACK both ways with RFC 6675 loss recovery and the tail loss probe of
 * RFC 8985, RFC 6298 timers, NewReno for peers without SACK, delayed ACKs, persist and
 * keepalive, TIME_WAIT).
 *
 * Invariants: an instance is used by one thread only and takes no locks; nothing here knows DPDK.
 * Frames come in through dp_stack_input and go out through the packet I/O interface
 * (struct dp_pktio), so the same code runs over a NIC queue, a test harness or a wire between two
 * instances.  Time is whatever the caller says it is (dp_stack_tick): tests run on a fake clock.
 *
 * Memory: received bytes land in a per-connection ring the shard owns and are read in place
 * (dp_tcp_recv_peek / dp_tcp_recv_consume), or, while the application lends a buffer
 * (dp_tcp_recv_direct), in-order segments go from the frame straight into that buffer, or, for a
 * frame its driver can keep (dp_stack_input_lend), the application takes them as they lie in
 * the frame (dp_tcp_cb.lend) and nothing is copied.  Sent bytes are never copied by the stack: a send
 * request borrows the caller's memory (and maps FILE segments of an rt_chain read-only) until
 * the peer has acknowledged every byte, and each request gets exactly one `sent` callback.
 */
#ifndef DP_NET_DPDK_STACK_H
#define DP_NET_DPDK_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/chain.h"

struct dp_stack;
struct dp_tcp_conn;
struct dp_tcp_listener;

/* What the device does for us (dp_pktio.offload) and what it asks of a frame (dp_pkt_tx.flags). */
enum {
	DP_OFF_TX_IP_CSUM = 1 << 0,  /* device fills the IPv4 header checksum */
	DP_OFF_TX_TCP_CSUM = 1 << 1, /* device completes the TCP checksum from the pseudo-header sum */
	DP_OFF_RX_CSUM_OK = 1 << 2,  /* dp_stack_input_flags: the device verified IP and L4 checksums */
	DP_OFF_TX_PINS = 1 << 3,     /* the driver sends payload in place (zero copy) and pins it */
};

/* One outgoing frame: headers in hdr (Ethernet, IPv4, L4 with options), then the payload as
 * borrowed memory, valid during the tx call only.  A driver that sends payload in place
 * (DP_OFF_TX_PINS) calls dp_tcp_pin(iov_pin[i]) for each piece it keeps and dp_tcp_unpin once the
 * device is done with it; the stack then holds the send request (and its mapped file ranges)
 * until both the peer's acknowledgement and the last unpin. */
struct dp_pkt_tx {
	const uint8_t *hdr;
	uint16_t hdr_len;
	uint8_t l2_len, l3_len, l4_len;  /* l4_len: TCP header with options; 0 for ARP */
	uint32_t flags;                  /* DP_OFF_TX_* the device must do for this frame */
	const struct iovec *iov;
	void *const *iov_pin;            /* per iov: a pin token or NULL; set with DP_OFF_TX_PINS */
	int iovcnt;
	size_t payload_len;
};

/* Pins and unpins the memory of one payload piece (see DP_OFF_TX_PINS); any thread that owns
 * the stack.  The last unpin of a finished request delivers its `sent` callback (with c NULL). */
void dp_tcp_pin(void *token);
void dp_tcp_unpin(void *token);

/* The packet I/O interface a driver (or a test) gives the stack. */
struct dp_pktio {
	void *ctx;
	/* Sends one frame.  Returns 0, or -ENOBUFS when the queue is full (the frame is dropped and
	 * TCP recovers it as a loss). */
	int (*tx)(void *ctx, const struct dp_pkt_tx *p);
	unsigned offload;  /* DP_OFF_TX_* the device supports */
	/* Optional: a range the stack just mapped for sending (a segment file's pages, page-aligned
	 * addr) is offered to the driver, so that a device that DMAs can register it for its DMA.
	 * 0: registered, and dma_unmap(ctx, addr, len) comes before the range is unmapped; -errno:
	 * not registered (the driver copies pieces from it). */
	int (*dma_map)(void *ctx, void *addr, size_t len);
	void (*dma_unmap)(void *ctx, void *addr, size_t len);
};

/* Application callbacks; ctx is passed back.  Any may be NULL. */
struct dp_tcp_cb {
	void *ctx;
	/* A listener has a connection ready for dp_tcp_accept. */
	void (*acceptable)(void *ctx, struct dp_tcp_listener *l);
	/* An active open finished: 0, -ECONNREFUSED or -ETIMEDOUT.  On error c is dead (close it). */
	void (*connected)(void *ctx, struct dp_tcp_conn *c, int err);
	/* New in-order bytes, or the peer's FIN (dp_tcp_eof). */
	void (*readable)(void *ctx, struct dp_tcp_conn *c);
	/* Lending (frames given with dp_stack_input_lend only): n in-order bytes at p, inside the
	 * frame whose driver token is ref, arrived while nothing else waits to be read (the ring
	 * empty, no hole, no direct buffer).  Return true to take them as they lie: they are then
	 * the application's, delivered (rcv_nxt moves past them and they are acknowledged as usual)
	 * and never in the ring; the application holds ref with the driver for as long as it
	 * keeps p.  False: the stack copies them into the ring as for any other frame.  The
	 * `readable` callback follows either way. */
	bool (*lend)(void *ctx, struct dp_tcp_conn *c, uint8_t *p, size_t n, void *ref);
	/* A send request is finished: err 0 when every byte was acknowledged, else -ECONNRESET,
	 * -ETIMEDOUT or -ECONNABORTED when the connection died first.  The request's memory is
	 * the caller's again.  Exactly once per accepted request.  c is NULL when a zero-copy
	 * device still held the memory when the connection was freed: key on the cookie. */
	void (*sent)(void *ctx, struct dp_tcp_conn *c, void *cookie, int err);
	/* The connection died before the application closed it (-ECONNRESET, -ETIMEDOUT).  c stays
	 * allocated until dp_tcp_close. */
	void (*closed)(void *ctx, struct dp_tcp_conn *c, int err);
};

struct dp_stack_cfg {
	uint8_t mac[6];
	uint32_t ip, netmask, gateway;  /* host byte order; gateway 0: on-link only */
	uint16_t mtu;                   /* IP MTU; default 1500 */
	uint32_t rcvbuf;                /* receive ring per connection; default 256 KiB */
	uint32_t max_conns;             /* default 65536 */
	uint32_t rto_init_ms, rto_min_ms, rto_max_ms;  /* defaults 1000, 200, 60000 */
	uint32_t delack_ms;             /* default 40 */
	uint32_t time_wait_ms;          /* 2*MSL; default 60000 */
	uint32_t fin_wait2_ms;          /* orphaned FIN_WAIT_2 limit; default 60000 */
	uint32_t keepalive_idle_ms;     /* 0: no keepalive (the default) */
	uint32_t keepalive_intvl_ms;    /* default 75000 */
	uint32_t keepalive_probes;      /* default 9 */
	uint32_t max_retries;           /* RTO expiries before giving up; default 15 (SYN: 6) */
	uint32_t arp_ttl_ms;            /* default 60000 */
	uint64_t isn_secret;            /* 0: taken from getrandom */
	/* Segments (other than SYNs) for no connection are dropped instead of reset: on a port
	 * with several queues a device may hand one of a flow's packets to another shard (af_packet
	 * rolls over to another socket when a ring is full), and a reset would kill the flow that
	 * the owning shard still serves; the lost segment is retransmitted. */
	bool quiet_unknown;
};

/* Counters, for tests and the broker's metrics. */
struct dp_stack_stats {
	uint64_t rx_frames, tx_frames, tx_nobufs;
	uint64_t eth_dropped;                         /* not for us, unknown type, runt */
	uint64_t arp_requests_in, arp_replies_out, arp_requests_out, arp_resolved, arp_dropped;
	uint64_t ip_bad_header, ip_bad_csum, ip_frags_dropped, ip_not_for_us, ip_no_route;
	uint64_t icmp_echo_replied, icmp_dropped;
	uint64_t tcp_bad_header, tcp_bad_csum, tcp_bad_options;
	uint64_t tcp_rst_out, tcp_rst_in, tcp_syn_backlog_drops, tcp_out_of_window;
	uint64_t tcp_ooo_segments, tcp_dup_segments, tcp_retransmits, tcp_fast_retransmits;
	uint64_t tcp_rto_expiries, tcp_persist_probes, tcp_keepalive_probes, tcp_challenge_acks;
	uint64_t tcp_conns_established, tcp_conns_freed, tcp_unknown_dropped;
	uint64_t tcp_paws_rejected;                   /* older timestamp than TS.Recent (RFC 7323) */
	uint64_t tcp_timer_visits;                    /* connections the timer wheel looked at */
	uint64_t tcp_rx_direct_bytes;                 /* received straight into the application's buffer */
	uint64_t tcp_rx_ring_bytes;                   /* received through the connection's ring */
	uint64_t tcp_rx_lent_bytes;                   /* lent to the application in the frame (dp_tcp_cb.lend) */
	uint64_t tcp_sacked_bytes;                    /* newly SACKed by the peer (scoreboard input) */
	uint64_t tcp_sack_recoveries;                 /* loss recoveries entered from SACK or dupacks */
	uint64_t tcp_tlp_probes, tcp_tlp_recoveries;  /* tail loss probes sent; losses they repaired */
};

/* Creates an instance.  cfg, io and cb are copied.  Returns an owned stack or NULL. */
struct dp_stack *dp_stack_create(const struct dp_stack_cfg *cfg, const struct dp_pktio *io,
                                 const struct dp_tcp_cb *cb);
/* Frees every connection and listener without sending anything (shutdown). */
void dp_stack_destroy(struct dp_stack *st);

/* Processes one received frame (borrowed for the call).  flags: DP_OFF_RX_CSUM_OK or 0. */
void dp_stack_input(struct dp_stack *st, const void *frame, size_t len);
void dp_stack_input_flags(struct dp_stack *st, const void *frame, size_t len, unsigned flags);

/* The same for a frame in writable memory that its driver can keep alive past the call
 * (ref, its token: an mbuf): in-order TCP payload may be lent to the application as it lies
 * (dp_tcp_cb.lend) instead of being copied into the connection's ring. */
void dp_stack_input_lend(struct dp_stack *st, void *frame, size_t len, unsigned flags, void *ref);

/* Sets the clock (milliseconds, monotonic) and runs every timer that is due.  Call it before
 * input and then regularly; every other call uses the time given here last. */
void dp_stack_tick(struct dp_stack *st, uint64_t now_ms);

/* The earliest time a timer is due (UINT64_MAX: none); a driver may sleep until then. */
uint64_t dp_stack_next_timer(const struct dp_stack *st);

const struct dp_stack_stats *dp_stack_stats(const struct dp_stack *st);

/* ARP: the cached hardware address of ip (host order) or false when unknown or expired. */
bool dp_arp_lookup(struct dp_stack *st, uint32_t ip, uint8_t mac[6]);

/* ---- TCP, socket-like ---- */

enum dp_tcp_state {
	DP_TCP_CLOSED, DP_TCP_LISTEN, DP_TCP_SYN_SENT, DP_TCP_SYN_RCVD, DP_TCP_ESTABLISHED,
	DP_TCP_FIN_WAIT_1, DP_TCP_FIN_WAIT_2, DP_TCP_CLOSING, DP_TCP_TIME_WAIT,
	DP_TCP_CLOSE_WAIT, DP_TCP_LAST_ACK,
};
const char *dp_tcp_state_name(enum dp_tcp_state s);

/* Listens on port with a backlog bounding half-open plus not yet accepted connections.
 * Returns a listener owned by the stack, or NULL (-EADDRINUSE, -ENOMEM in errno). */
struct dp_tcp_listener *dp_tcp_listen(struct dp_stack *st, uint16_t port, uint32_t backlog);
/* Takes the next established connection, or NULL when none is ready.  The caller owns the
 * handle until dp_tcp_close. */
struct dp_tcp_conn *dp_tcp_accept(struct dp_tcp_listener *l);
/* Stops listening: half-open connections are reset, unaccepted ones too. */
void dp_tcp_unlisten(struct dp_tcp_listener *l);

/* Active open to ip:port (host order).  Returns a handle the caller owns until dp_tcp_close;
 * the `connected` callback reports the outcome.  NULL with errno on failure. */
struct dp_tcp_conn *dp_tcp_connect(struct dp_stack *st, uint32_t ip, uint16_t port);

/* Queues memory for sending (borrowed until the `sent` callback with this cookie).
 * Returns 0, -ENOTCONN (not open for sending) or -ENOMEM. */
int dp_tcp_send(struct dp_tcp_conn *c, const struct iovec *iov, int iovcnt, void *cookie);
/* Queues a finished chain: BUF and MEM segments are borrowed, FILE segments are mapped read-only
 * (and unmapped at the `sent` callback), so record bytes are not copied.  Same returns, plus
 * -errno from mmap. */
int dp_tcp_send_chain(struct dp_tcp_conn *c, const struct rt_chain *ch, void *cookie);

/* In-order received bytes not yet consumed: up to two spans of the ring (p2 may be empty). */
size_t dp_tcp_recv_peek(struct dp_tcp_conn *c, const uint8_t **p1, size_t *n1,
                        const uint8_t **p2, size_t *n2);
/* Releases n bytes of what peek showed; the window reopens (and is announced when it grew). */
void dp_tcp_recv_consume(struct dp_tcp_conn *c, size_t n);
/* Copies up to n bytes out and consumes them.  Returns the count (0: nothing now). */
size_t dp_tcp_recv(struct dp_tcp_conn *c, void *dst, size_t n);
/* Direct receive: while it is on, an in-order segment that arrives when the ring is empty and
 * nothing waits out of order, and that fits whole in what is left of p, is copied from the frame
 * straight into p instead of into the ring (one copy less; the `readable` callback still comes).
 * Anything else goes to the ring as usual.  p is borrowed until dp_tcp_recv_direct_end, which
 * returns how many bytes were placed at its start.  Setting it again replaces the buffer. */
void dp_tcp_recv_direct(struct dp_tcp_conn *c, uint8_t *p, size_t len);
size_t dp_tcp_recv_direct_end(struct dp_tcp_conn *c);
/* Bytes placed into the direct buffer so far (0 when direct receive is off). */
size_t dp_tcp_recv_direct_got(const struct dp_tcp_conn *c);
/* True once the peer's FIN has been received and every byte before it consumed. */
bool dp_tcp_eof(const struct dp_tcp_conn *c);

/* Graceful close: queued data goes out, then a FIN.  The handle is the stack's afterwards;
 * pending send requests still get their `sent` callbacks (c is passed but must only be used
 * as a key).  A connection that already died is freed at once. */
void dp_tcp_close(struct dp_tcp_conn *c);
/* Abortive close: sends RST, fails pending sends (-ECONNABORTED), frees the handle. */
void dp_tcp_abort(struct dp_tcp_conn *c);

enum dp_tcp_state dp_tcp_state(const struct dp_tcp_conn *c);
/* The application's pointer (NULL until set). */
void dp_tcp_set_user(struct dp_tcp_conn *c, void *user);
void *dp_tcp_user(const struct dp_tcp_conn *c);

/* Introspection for tests and metrics. */
struct dp_tcp_info {
	uint32_t srtt_ms, rttvar_ms, rto_ms, cwnd, ssthresh, snd_wnd, rcv_wnd, snd_mss;
	uint8_t snd_wscale, rcv_wscale, backoff;
	bool ts_ok, in_recovery;
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port;
	uint64_t unacked_bytes, unsent_bytes;
};
void dp_tcp_get_info(const struct dp_tcp_conn *c, struct dp_tcp_info *out);

/* The software flow hash a driver without RSS uses to pick a shard (symmetric in nothing: it is
 * computed on the packet as received, remote then local). */
static inline uint32_t dp_flow_hash(uint32_t rip, uint16_t rport, uint32_t lip, uint16_t lport)
{
	uint64_t h = ((uint64_t)rip << 32 | lip) ^ ((uint64_t)rport << 16 | lport) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29; h *= 0xbf58476d1ce4e5b9ull; h ^= h >> 32;
	return (uint32_t)h;
}

#endif
