/*
 * dataplane/net_dpdk/stack_int.h: the stack's private structures, shared by its files
 * (stack.c, csum.c, arp.c, ipv4.c, icmp.c, tcp_*.c).  Nothing outside net_dpdk/ includes it.
 *
 * Addresses and ports are kept in host byte order; only the wire is big-endian.  Sequence
 * numbers compare modulo 2^32 through the SEQ_* macros.
 */
#ifndef DP_NET_DPDK_STACK_INT_H
#define DP_NET_DPDK_STACK_INT_H

#include <string.h>

#include "dataplane/net_dpdk/stack.h"

#define DP_ETH_HLEN 14
#define DP_IP_HLEN 20
#define DP_TCP_HLEN 20
#define DP_ETH_P_IP 0x0800
#define DP_ETH_P_ARP 0x0806
#define DP_IPPROTO_ICMP 1
#define DP_IPPROTO_TCP 6
#define DP_HDR_MAX 128  /* Ethernet + IPv4 + TCP with 40 bytes of options, rounded up */

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10 };

#define DP_ARP_SLOTS 64
#define DP_TCP_OOO_MAX 8
#define DP_TCP_SB_MAX 16    /* SACK scoreboard ranges kept (the peer reports at most 4 per ACK) */
#define DP_TCP_WHEEL 1024   /* 1 ms slots; a timer further out waits a lap or more in its slot */
#define DP_TCP_IOV_MAX 8
#define DP_TCP_HASH 4096

struct dp_arp_entry {
	uint32_t ip;          /* 0: free slot */
	uint8_t mac[6];
	bool resolved;
	uint8_t tries;
	uint64_t expires;     /* resolved: valid until; pending: next request due */
	uint64_t used;        /* last use, for replacement */
	uint8_t *held;        /* one frame waiting for resolution (owned), or NULL */
	uint16_t held_len;
};

/* One piece of a send request: borrowed memory. */
struct dp_tcp_piece {
	const uint8_t *p;
	size_t len;
};

struct dp_tcp_map {
	void *addr;
	size_t len;
	bool dma;     /* the driver registered it (dp_pktio.dma_map): dma_unmap before munmap */
};

/* A send request: pieces in order; freed with its `sent` callback. */
struct dp_tcp_sreq {
	struct dp_tcp_sreq *next;
	struct dp_stack *st;
	void *cookie;
	uint32_t pins;                /* pieces a zero-copy device still holds */
	bool finished;                /* acknowledged or failed; waits for pins to drop to 0 */
	int err;
	uint64_t len;
	uint32_t npieces, nmaps;
	struct dp_tcp_map *maps;      /* points into this allocation */
	struct dp_tcp_piece pieces[]; /* then maps[] */
};

struct dp_tcp_listener {
	struct dp_stack *st;
	struct dp_tcp_listener *next;
	uint16_t port;
	uint32_t backlog, pending;  /* pending: SYN_RCVD plus the accept queue */
	struct dp_tcp_conn *aq_head, *aq_tail;
};

struct dp_tcp_conn {
	struct dp_stack *st;
	struct dp_tcp_conn *hnext;            /* hash chain */
	struct dp_tcp_conn *lprev, *lnext;    /* every connection, for the timer scan */
	struct dp_tcp_listener *lis;          /* counted in lis->pending until accepted */
	struct dp_tcp_conn *aq_next;
	void *user;
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint8_t state;
	bool app_closed, dead_reported, in_aq, passive;
	bool zombie;      /* unlinked while busy: freed by the last dp_tcp_release */
	uint8_t busy;     /* holds taken by input and timer processing */
	int err;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t cwnd, ssthresh, recover, bytes_acked;
	uint16_t snd_mss;
	uint8_t snd_wscale, rcv_wscale, dupacks;
	bool ws_ok, ts_ok, in_recovery, fin_queued, fin_sent;
	uint32_t fin_seq;       /* our FIN's sequence number, once fin_sent */
	struct dp_tcp_sreq *sq_head, *sq_tail;
	uint64_t sq_bytes;      /* bytes queued from snd_una on (acked ones are gone) */
	uint64_t sq_head_off;   /* bytes of sq_head already acknowledged */
	/* SACK scoreboard (tcp_sack.c, when sack_ok): ranges the peer holds above SND.UNA, sorted,
	 * disjoint, within (SND.UNA, SND.MAX].  With SACK, SND.NXT never moves back: holes are
	 * retransmitted where they are and new data goes out at SND.MAX. */
	struct { uint32_t start, end; } sb[DP_TCP_SB_MAX];
	uint8_t nsb;
	bool loss_state;        /* after an RTO with SACK: every unSACKed byte below recover is lost */
	uint32_t high_rxt;      /* lost bytes below it were retransmitted in this recovery */
	uint32_t lost_hint;     /* unSACKed bytes below it count as lost whatever the scoreboard says */
	/* proportional rate reduction (RFC 6937) during SACK recovery: bytes the peer got and
	 * bytes we sent since it began, and the flight when it began */
	uint32_t prr_delivered, prr_out, recover_fs;
	/* tail loss probe (RFC 8985 section 7): one per flight, answered by an ACK of tlp_high */
	bool tlp_out, tlp_rxt, tlp_dsack;
	uint32_t tlp_seq, tlp_high;

	/* round trip (RFC 6298), in ms scaled by 8 (srtt) and 4 (rttvar) */
	uint32_t srtt8, rttvar4, rto;
	uint8_t backoff, retries;
	bool rtt_timing;
	uint32_t rtt_seq;
	uint64_t rtt_start;
	uint32_t ts_recent, ts_offset;
	uint64_t ts_recent_at;  /* st->now when ts_recent was last set (PAWS's 24-day rule) */

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv;
	uint8_t *rbuf;          /* ring of rcap bytes (owned); rhead is the first unread byte */
	uint32_t rcap, rhead, rlen;
	struct { uint32_t start, end; } ooo[DP_TCP_OOO_MAX];
	uint8_t nooo, delack_segs;
	bool sack_ok;           /* the peer's SYN offered SACK: our ACKs carry the ooo ranges */
	uint32_t sack_recent;   /* start of the newest out-of-order segment (first SACK block) */
	/* a duplicate segment's range, reported as the first SACK block of the next ACK (RFC 2883
	 * D-SACK): it tells the peer its retransmission was needless, so a Linux sender undoes the
	 * cwnd cut and widens its reordering window instead of retransmitting on every reordering */
	bool dsack;
	uint32_t dsack_start, dsack_end;
	bool fin_rcvd;
	uint16_t peer_mss;
	/* direct receive (dp_tcp_recv_direct): the application's buffer, borrowed until ended */
	uint8_t *dtgt;
	uint32_t dlen, dgot;

	/* timers: absolute ms, 0 = stopped (set through dp_tcp_timer_set; stopping needs nothing) */
	uint64_t t_rto, t_delack, t_persist, t_keep, t_2msl, t_tlp;
	/* the timer wheel: the connection sits in the slot of wdue (0: in none), no later than its
	 * earliest timer; a timer stopped or moved later only costs a visit that finds nothing due */
	struct dp_tcp_conn *wnext, **wpprev;
	uint64_t wdue;
	uint8_t persist_backoff, keep_probes;
};

struct dp_stack {
	struct dp_stack_cfg cfg;
	struct dp_pktio io;
	struct dp_tcp_cb cb;
	struct dp_stack_stats stats;
	uint64_t now;
	bool ticked;        /* dp_stack_tick ran once: now is the clock's */
	uint16_t ip_id, next_eph;
	unsigned rx_flags;  /* flags of the frame being processed */
	void *rx_ref;       /* its driver token when the frame may be lent (dp_stack_input_lend) */
	const uint8_t *rx_src_mac;  /* its Ethernet source */
	struct dp_arp_entry arp[DP_ARP_SLOTS];
	struct dp_tcp_listener *listeners;
	struct dp_tcp_conn *conns;         /* list head */
	struct dp_tcp_conn *wheel[DP_TCP_WHEEL];  /* connections by the ms of their next timer */
	uint64_t wheel_now;                /* the last ms whose slot was run */
	uint32_t nconns;
	struct dp_tcp_conn *hash[DP_TCP_HASH];
};

/* csum.c: ones' complement sums.  dp_csum_add folds nothing; dp_csum_fold finishes. */
uint32_t dp_csum_add(uint32_t sum, const void *p, size_t len);
uint16_t dp_csum_fold(uint32_t sum);
/* Sums memory pieces as one run (odd-length pieces handled). */
uint32_t dp_csum_add_iov(uint32_t sum, const struct iovec *iov, int iovcnt);
/* Stores a checksum computed by these helpers: they sum in host order, so the bytes go in as
 * they are (no byte swap). */
static inline void dp_csum_put(void *p, uint16_t c) { memcpy(p, &c, 2); }
uint32_t dp_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* stack.c: hands a finished frame to the driver.  0 or -ENOBUFS. */
int dp_eth_tx(struct dp_stack *st, struct dp_pkt_tx *p);

/* arp.c */
void dp_arp_input(struct dp_stack *st, const uint8_t *frame, size_t len);
/* Sends a frame whose Ethernet header (at hdr) needs the next hop's address for ip: fills it
 * and sends, or holds the frame (copied, payload included) and asks.  0 or -errno. */
int dp_arp_output(struct dp_stack *st, uint32_t nexthop, uint8_t *hdr, struct dp_pkt_tx *p);
void dp_arp_timers(struct dp_stack *st);
/* Gleans a neighbour from an IPv4 frame that arrived (its Ethernet source): the sender if it is
 * on-link, else the gateway.  Needed when RSS gives each shard only some ARP traffic. */
void dp_arp_glean(struct dp_stack *st, uint32_t src_ip, const uint8_t *src_mac);
void dp_arp_fini(struct dp_stack *st);

/* ipv4.c */
void dp_ip_input(struct dp_stack *st, const uint8_t *pkt, size_t len);
/* Sends an IPv4 packet: p->hdr has room for Ethernet and IPv4 in front of the L4 header at
 * offset DP_ETH_HLEN + DP_IP_HLEN; l4 checksums are the caller's.  0 or -errno. */
int dp_ip_output(struct dp_stack *st, uint32_t dst, uint8_t proto, struct dp_pkt_tx *p);

/* icmp.c */
void dp_icmp_input(struct dp_stack *st, uint32_t src, const uint8_t *p, size_t len);

/* tcp_in.c */
void dp_tcp_input(struct dp_stack *st, uint32_t src, uint32_t dst, const uint8_t *seg, size_t len);

/* tcp_out.c */
void dp_tcp_output(struct dp_tcp_conn *c);
int dp_tcp_send_segment(struct dp_tcp_conn *c, uint32_t seq, uint8_t flags, uint64_t data_len);
void dp_tcp_send_ack(struct dp_tcp_conn *c);
void dp_tcp_send_rst_reply(struct dp_stack *st, uint32_t src, uint32_t dst, uint16_t sport,
                           uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags);
uint32_t dp_tcp_rcv_window(const struct dp_tcp_conn *c);
void dp_tcp_retransmit_first(struct dp_tcp_conn *c);

/* tcp_sack.c */
/* Takes the SACK blocks of an ACK (ack: its acknowledgment number) into the scoreboard; a first
 * block at or below ack is a D-SACK (RFC 2883) and only noted for the tail loss probe.
 * Returns the bytes newly SACKed. */
uint32_t dp_sack_update(struct dp_tcp_conn *c, const uint32_t (*blk)[2], int n, uint32_t ack);
/* Drops what SND.UNA has passed. */
void dp_sack_trim(struct dp_tcp_conn *c);
/* RFC 6675's pipe: bytes sent and not SACKed, less the lost ones not yet retransmitted. */
uint32_t dp_sack_pipe(const struct dp_tcp_conn *c);
/* The next lost hole to retransmit (NextSeg rule 1): true with *seq and *len (at most an MSS;
 * 1 for a lost FIN alone). */
bool dp_sack_next_rxt(const struct dp_tcp_conn *c, uint32_t *seq, uint32_t *len);
/* Retransmits [seq, seq+len) (the FIN when seq is its number) and moves high_rxt past it. */
void dp_sack_rxt_send(struct dp_tcp_conn *c, uint32_t seq, uint32_t len);
/* After an ACK was processed (delivered: bytes it newly acknowledged or SACKed): enters loss
 * recovery when the scoreboard or the duplicate ACKs say the first hole is lost (RFC 6675
 * section 5), and in recovery sets cwnd for what may go out on this ACK (RFC 6937 PRR). */
void dp_sack_check(struct dp_tcp_conn *c, uint32_t delivered);
/* A partial ACK in recovery: the hole now at SND.UNA, below SACKed data, counts as lost. */
void dp_sack_partial_ack(struct dp_tcp_conn *c);
/* The tail loss probe: arms its timer after new data or an ACK, and fires it. */
void dp_tcp_tlp_arm(struct dp_tcp_conn *c);
void dp_tcp_tlp_fire(struct dp_tcp_conn *c);
/* An ACK covered the probe: a retransmitted probe that repaired a loss reduces cwnd (RFC 8985
 * 7.4.2) unless a D-SACK showed the original had arrived. */
void dp_tcp_tlp_acked(struct dp_tcp_conn *c);

/* tcp_timer.c */
void dp_tcp_timers(struct dp_stack *st);
/* Sets one of c's timers (*t, one of c->t_*) to the absolute ms `when` (> 0) and makes sure the
 * wheel visits c by then. */
void dp_tcp_timer_set(struct dp_tcp_conn *c, uint64_t *t, uint64_t when);
/* Takes c out of the wheel (when it is freed). */
void dp_tcp_wheel_remove(struct dp_tcp_conn *c);
void dp_tcp_rtt_sample(struct dp_tcp_conn *c, uint32_t rtt_ms);
void dp_tcp_arm_rto(struct dp_tcp_conn *c);

/* tcp_conn.c */
struct dp_tcp_conn *dp_tcp_lookup(struct dp_stack *st, uint32_t laddr, uint16_t lport,
                                  uint32_t raddr, uint16_t rport);
struct dp_tcp_listener *dp_tcp_find_listener(struct dp_stack *st, uint16_t port);
struct dp_tcp_conn *dp_tcp_conn_new(struct dp_stack *st, uint32_t laddr, uint16_t lport,
                                    uint32_t raddr, uint16_t rport);
uint32_t dp_tcp_isn(struct dp_stack *st, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
/* Frees acknowledged bytes from the send queue, completing whole requests. */
void dp_tcp_sq_ack(struct dp_tcp_conn *c, uint64_t n);
/* Fills iov with the queued bytes [off, off+len) from snd_una; returns the iov count and may
 * shorten *len when the pieces run past DP_TCP_IOV_MAX. */
int dp_tcp_sq_gather(struct dp_tcp_conn *c, uint64_t off, uint64_t *len, struct iovec *iov,
                     void **pins);
/* The connection is dead (reset, timed out): fails sends, tells the application, frees it when
 * the application has already closed it.  err 0: a clean end (TIME_WAIT over, LAST_ACK done). */
void dp_tcp_conn_done(struct dp_tcp_conn *c, int err);
void dp_tcp_set_state(struct dp_tcp_conn *c, enum dp_tcp_state s);
/* A passive connection reached ESTABLISHED: queue it for accept. */
void dp_tcp_conn_established(struct dp_tcp_conn *c);
bool dp_tcp_rbuf_alloc(struct dp_tcp_conn *c);
/* A hold keeps c's memory while code that may call back into the application still uses it;
 * release returns false when c is gone (do not touch it again). */
static inline void dp_tcp_hold(struct dp_tcp_conn *c) { c->busy++; }
bool dp_tcp_release(struct dp_tcp_conn *c);
void dp_tcp_enter_time_wait(struct dp_tcp_conn *c);

#endif
