/*
 * dataplane/shard.h: a shard is one pinned thread with its own io_uring, connections,
 * partitions and timers.  Nothing on a shard is touched by another thread except its inbound
 * cross-shard rings (dataplane/xring.h) and its `sleeping` flag.
 *
 * The loop: drain the inbound rings, run due timers, submit and wait on the io_uring (bounded
 * by the next timer), hand every completion to its rt_ioop (base/ioop.h).  A shard about to
 * sleep sets `sleeping`, re-checks its rings, then waits; a sender that finds `sleeping` set
 * clears it and wakes the shard with io_uring_prep_msg_ring from its own ring.
 *
 * Before it sleeps, a shard polls its rings, its completion queue and its pending task work,
 * yielding the CPU between looks, for poll_ns (ringtail.shard.poll.us) after its last work and
 * while it owes its clients answers (requests in flight): under load the next job from another
 * shard, the next receive or its own write's completion usually comes within that, and picking
 * it up from memory saves the sender a msg_ring and this shard a wake-up on a sleeping (in a
 * VM: halted) CPU, which cost 20-40 us at the median and milliseconds at the p99 on the 2-vCPU
 * development VM (issue 4).  A shard with no work for poll_ns sleeps.
 */
#ifndef DP_SHARD_H
#define DP_SHARD_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/ioop.h"
#include "xring.h"

/* Frame size classes cached per shard: 64 KiB << 0 .. 64 KiB << (DP_FRAME_CLASSES - 1). */
#define DP_FRAME_CLASSES 9
#define DP_FRAME_CACHE_MAX (64u << 20)

struct dp_broker;
struct dp_conn;
struct dp_fs_cache;
struct dp_net_shard;
struct dp_parts;

/* A one-shot timer embedded in its owner's object; fn runs on the shard when due. */
struct dp_timer {
	uint64_t due_ns;
	void (*fn)(struct dp_shard *s, struct dp_timer *t);
	struct dp_timer *prev, *next;
	bool armed;
	/* Set by its owner when the timer ends a client's wait (a long-polling fetch's max_wait):
	 * such a timer is due at once when the broker starts draining, so that a SIGTERM is not
	 * held up by waits of up to fetch.max.wait.ms that nothing will end sooner. */
	bool ends_wait;
};

/* Messages that did not fit a full ring wait here, in order, on the sending shard. */
struct dp_xpend {
	struct dp_xpend *next;
	int dst;
	struct dp_xmsg m;
};

struct dp_shard {
	int id;
	int cpu;
	struct dp_broker *b;
	struct io_uring ring;
	pthread_t thread;
	_Atomic int sleeping;
	_Atomic int polling;           /* polling before sleeping (diagnostics and tests only) */
	uint64_t wakes;                /* msg_ring wake-ups this shard sent (its own thread's) */
	struct dp_xring **in;          /* in[src]: from shard src to this one; owned */
	struct dp_xpend *pend_head, *pend_tail;
	struct dp_timer *timers;       /* sorted by due_ns */
	struct dp_conn *conns;         /* every open connection of this shard */
	struct dp_net_shard *net;      /* the uring backend's per-shard state (NULL where it has no
	                                * listener); owned */
	void *dpdk;                    /* the dpdk backend's per-shard state, when it serves the
	                                * clients; owned */
	struct dp_parts *parts;        /* partitions this shard owns; owned */
	struct dp_fs_cache *fsess;     /* fetch sessions of this shard's clients; owned */
	uint64_t now_ns;               /* CLOCK_MONOTONIC at the top of this loop iteration */
	uint64_t last_work_ns;         /* when the loop last ran a message or a completion (0: never) */
	uint64_t poll_ns;              /* how long to poll before sleeping (cfg.shard_poll_us); 0: never */
	_Atomic int nconns;            /* open client connections, not the internal listener's
	                                * (read by other shards' accept balancing) */
	int inflight;                  /* requests received and not yet answered or dropped */
	int nstarved;                  /* connections waiting for a receive buffer or frame memory */
	size_t frame_bytes;            /* request frames held by this shard's connections */
	int ioops;                     /* own SQEs whose completion is still due (drain at exit) */
	bool accepting;
	bool draining;                 /* the loop has seen the broker start draining (SIGTERM) */
	bool stopped;                  /* the loop has exited */
	struct dp_timer idle_timer;
	struct rt_arena scratch;       /* decompression while validating; reset after each use */
	/* Produce batches of frames received in pieces (conn.h, dp_conn_received_chain): appended
	 * from the pieces without a copy, and their bytes, or copied into the frame first */
	uint64_t pieces_batches, pieces_bytes, pieces_filled;
	/* Large request frames released here, kept for the next ones by power-of-two size class
	 * (dataplane/conn.c): a fresh allocation per 1 MiB Produce costs page faults and zeroing
	 * on every receive.  Owned; bounded by DP_FRAME_CACHE_MAX bytes. */
	void *frame_cache[DP_FRAME_CLASSES];
	size_t frame_cached;
};

/* Constructor for shard `id` pinned to `cpu`: sets up the io_uring; polls before sleeping as
 * b->cfg.shard_poll_us says.  NULL on failure (errno). */
struct dp_shard *dp_shard_create(struct dp_broker *b, int id, int cpu);
void dp_shard_destroy(struct dp_shard *s);

/* Test hook, off unless RINGTAIL_FAULT is set: reads RINGTAIL_FAULT=POINT:SKIP:RES:COUNT once
 * (call it before dp_shard_start) and makes every shard thread arm storage's fault point POINT
 * (storage/fault.h's number) in its own thread, once its partitions are open, as
 * stor_fault_arm(POINT, SKIP, RES, COUNT) does: RES a -errno (-5 is EIO) or 1 for a short
 * write, COUNT at least 1; each shard counts its own operations.  So an interop test makes the
 * real broker's disk fail (2:0:-5:1000000: every group-commit fdatasync fails with EIO).
 * Returns 0 (unset or valid) or -EINVAL with a message naming the variable, its value and the
 * format in err. */
int dp_shard_fault_env(char *err, size_t errlen);

/* Starts the shard's thread.  0 or -errno. */
int dp_shard_start(struct dp_shard *s);
void dp_shard_join(struct dp_shard *s);

/* Runs fn(arg) on shard `dst` (this shard included), in the order posted from this shard;
 * takes ownership of arg on behalf of fn.  Never fails: a full ring queues locally. */
void dp_shard_post(struct dp_shard *from, int dst, void (*fn)(struct dp_shard *, void *), void *arg);

/* A free SQE on the shard's ring, submitting first if the SQ is full.  Never NULL. */
struct io_uring_sqe *dp_shard_sqe(struct dp_shard *s);

/* Arms t to run after ms milliseconds (re-arming moves it). */
void dp_timer_arm(struct dp_shard *s, struct dp_timer *t, uint64_t ms);
void dp_timer_cancel(struct dp_shard *s, struct dp_timer *t);

uint64_t dp_now_ns(void);
int64_t dp_wall_ms(void);

/* The shard running on this thread, or NULL off the shards. */
struct dp_shard *dp_shard_self(void);

#endif
