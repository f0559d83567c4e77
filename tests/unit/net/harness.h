/*
 * tests/unit/net/harness.h: a test bench for the stack of dataplane/net_dpdk: a packet I/O that
 * captures every frame the stack sends, builders for crafted frames (Ethernet, ARP, IPv4, ICMP,
 * TCP with options, correct or deliberately broken checksums), a parser for captured TCP
 * segments, and a pair of stacks wired back to back with loss and reordering injected.
 * The clock is fake: tests move it with h_tick.
 */
#ifndef TEST_NET_HARNESS_H
#define TEST_NET_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/net_dpdk/stack.h"

#define H_FRAMES 4096
#define H_FRAME_MAX 2048

struct h_frame {
	uint8_t b[H_FRAME_MAX];
	size_t len;
};

/* One stack under test and what it sent. */
struct h_bench {
	struct dp_stack *st;
	struct h_frame *out;   /* H_FRAMES captured frames */
	size_t nout;
	uint64_t now;
	/* callback log */
	struct dp_tcp_conn *accepted[64];
	int naccepted;
	int nreadable, nclosed, last_closed_err, nsent, last_sent_err, nconnected, last_connected_err;
	void *last_sent_cookie;
	int tx_fail;          /* >0: the next tx calls fail with -ENOBUFS */
	/* frames that asked the device for each checksum offload (DP_OFF_TX_IP_CSUM, TCP_CSUM; the
	 * fake device completes them), and of those, the ones that broke its contract (see cap_tx) */
	int tx_ip_offloaded, tx_tcp_offloaded, tx_bad_offload;
	unsigned io_offload;  /* the offloads this bench's device offers (h_io_offload at init) */
	/* with h_io_offload = DP_OFF_TX_PINS: tokens pinned as a zero-copy device would */
	void *pins[H_FRAMES];
	size_t npins;
	/* lending: with lend_ref set, h_send_tcp gives frames as lendable (dp_stack_input_lend);
	 * the lend callback is counted (nlend_asked) and, with lend_take, takes the bytes (copied
	 * to lent[], as an application would keep them, with the ref it saw) */
	void *lend_ref, *last_lend_ref;
	bool lend_take;
	int nlend_asked;
	uint8_t lent[8192];
	size_t lent_len;
	/* with h_io_dma: the fake device's DMA registrations (dp_pktio.dma_map/dma_unmap);
	 * dma_refuse makes dma_map fail with it */
	int dma_refuse, ndma_map, ndma_unmap;
	void *dma_addr;
	size_t dma_len, dma_registered;
};

/* The next h_bench_init gives the stack dma_map/dma_unmap hooks (false by default). */
extern bool h_io_dma;

/* io.offload of the next h_bench_init (0 by default). */
extern unsigned h_io_offload;
/* Releases every pin the fake device holds, as a device does once it has sent the frames. */
void h_unpin_all(struct h_bench *b);

extern const uint8_t H_MAC_US[6], H_MAC_PEER[6];
#define H_IP_US 0x0a000001u   /* 10.0.0.1 */
#define H_IP_PEER 0x0a000002u /* 10.0.0.2 */

/* A bench on 10.0.0.1/24 (gateway 10.0.0.254) with cfg overrides applied when non-NULL. */
void h_bench_init(struct h_bench *b, const struct dp_stack_cfg *over);
void h_bench_fini(struct h_bench *b);
void h_tick(struct h_bench *b, uint64_t ms);       /* advance the clock by ms and run timers */
void h_clear(struct h_bench *b);                    /* forget captured frames */
/* Teaches the stack the peer's MAC (an ARP request from the peer). */
void h_learn_peer(struct h_bench *b);

/* TCP segment fields, for building and for parsing. */
struct h_tcp {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int mss, ws;          /* -1: absent */
	bool ts;
	uint32_t tsval, tsecr;
	bool sackok;          /* SACK-permitted */
	int nsack;            /* SACK blocks parsed, or sent when > 0: [start, end) */
	uint32_t sack[4][2];
	const uint8_t *data;
	size_t len;
	bool bad_csum;
};
#define H_TCP_INIT(...) ((struct h_tcp){.src = H_IP_PEER, .dst = H_IP_US, .win = 65535, \
                                        .mss = -1, .ws = -1, __VA_ARGS__})

/* Builds an Ethernet frame with IPv4 and TCP into f; returns its length. */
size_t h_build_tcp(uint8_t *f, const struct h_tcp *t);
/* Builds and delivers. */
void h_send_tcp(struct h_bench *b, const struct h_tcp *t);
/* Builds Ethernet + IPv4 with the given protocol and payload (checksum fixed unless bad). */
size_t h_build_ip(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *pl,
                  size_t n, uint16_t frag, bool bad_csum);
size_t h_build_arp(uint8_t *f, uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
                   uint32_t tpa, const uint8_t *eth_dst);

/* Parses captured frame i as TCP; false when it is not a TCP segment with valid checksums. */
bool h_parse_tcp(const struct h_bench *b, size_t i, struct h_tcp *out);
/* The last captured TCP segment (asserts there is one). */
struct h_tcp h_last_tcp(const struct h_bench *b);
/* How many captured frames are TCP with all of flags set. */
int h_count_tcp(const struct h_bench *b, uint8_t flags);

/* Drives a passive open from the peer on port: SYN (with options), SYN-ACK, ACK.  Returns the
 * accepted connection; *peer_seq and *our_seq are the next sequence numbers each way. */
struct dp_tcp_conn *h_handshake(struct h_bench *b, uint16_t port, uint16_t peer_port,
                                uint32_t *peer_seq, uint32_t *our_seq, bool options);

/* Two stacks back to back. */
struct h_pair {
	struct h_bench a, b;    /* a = 10.0.0.1, b = 10.0.0.2 */
	unsigned loss_pct, reorder_pct, dup_pct;
	uint64_t rng;
	uint64_t delivered, dropped, reordered;
	struct h_frame *tmp;    /* H_FRAMES frames in transit */
};
void h_pair_init(struct h_pair *p, const struct dp_stack_cfg *over);
void h_pair_fini(struct h_pair *p);
/* Delivers what each side sent (with the configured faults), then advances 1 ms; repeats
 * ms times. */
void h_pair_run(struct h_pair *p, unsigned ms);

enum { H_FIN = 0x01, H_SYN = 0x02, H_RST = 0x04, H_PSH = 0x08, H_ACK = 0x10 };

#endif
