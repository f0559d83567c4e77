/*
 * control/markers.h: the transaction coordinator's WriteTxnMarkers client (prefix
 * ctl_markers_): one connection to the dataplane's listener, driven by the control process's
 * poll loop like the store (store.h), so that the loop goes on serving every other request
 * while markers are in flight.  Requests are pipelined; the dataplane answers in order.
 *
 * Each struct ctl_txn_markers handed to ctl_markers_send is answered exactly once through
 * ops.done, never from inside ctl_markers_send: with the error of each of its partitions
 * (errs[i] for m->tps[i]), or, when it could not be asked (no connection, the connection lost,
 * no answer within CTL_MARKERS_TIMEOUT_MS), with errs NULL and err set.
 */
#ifndef CTL_MARKERS_H
#define CTL_MARKERS_H

#include <stdint.h>

#include "control/txn_coord.h"

#define CTL_MARKERS_TIMEOUT_MS 10000

struct ctl_markers_ops {
	void *ctx;
	/* errs borrowed for the call; err 0 when errs is given. */
	void (*done)(void *ctx, struct ctl_txn_markers *m, const int16_t *errs, int16_t err);
};

struct ctl_markers;

/* Returns an owned client for host:port (connected on the first tick that has work), or NULL. */
struct ctl_markers *ctl_markers_create(const char *host, int port, const struct ctl_markers_ops *ops);
/* Closes; markers in flight are dropped without an answer. */
void ctl_markers_destroy(struct ctl_markers *mc);

/* Borrows m (and its partitions) until ops.done. */
void ctl_markers_send(struct ctl_markers *mc, struct ctl_txn_markers *m);

/* Poll integration: the socket (-1 while none), the events to wait for, the events seen, and
 * the timers (connect, send, time out); call ctl_markers_tick about every 20 ms. */
int ctl_markers_fd(const struct ctl_markers *mc);
short ctl_markers_events(const struct ctl_markers *mc);
void ctl_markers_io(struct ctl_markers *mc, short revents);
void ctl_markers_tick(struct ctl_markers *mc, int64_t now_ms);

#endif
