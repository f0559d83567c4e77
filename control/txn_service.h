/*
 * control/txn_service.h: the transaction coordinator (txn_coord.h) put to work in the control
 * process (prefix ctl_txnsvc_): its state in `__transaction_state` through a store connection
 * (store.h), loaded at start, its records written with acks=-1.
 *
 * Markers go to the dataplane as WriteTxnMarkers through a non-blocking client (markers.h)
 * driven by the process's poll loop; their answers drive CompleteCommit / CompleteAbort.  A
 * partition whose topic no longer exists gets no marker (as in Kafka); other failures are
 * retried.  Markers on `__consumer_offsets` settle the group coordinator's pending
 * transactional offsets (ctl_coord_txn_complete), and wait while a TxnOffsetCommit of the same
 * producer is being written.
 */
#ifndef CTL_TXN_SERVICE_H
#define CTL_TXN_SERVICE_H

#include <stdint.h>

#include "control/coord.h"
#include "control/txn_coord.h"

struct ctl_store;
struct ctl_txnsvc;

/* Creates the coordinator (answers through ops' init_pid_done / done, with ops.ctx) and opens its
 * store connection to host:port at once: an existing `__transaction_state` is loaded, a missing
 * one is created with the first write, as Kafka creates it only when a producer first needs it.  `cfg` and `ops` are copied (ops.append and ops.markers are
 * the service's own).  Returns an owned service or NULL. */
struct ctl_txnsvc *ctl_txnsvc_create(const char *host, int port, const struct ctl_txn_config *cfg,
                                     const struct ctl_txn_ops *ops);
void ctl_txnsvc_destroy(struct ctl_txnsvc *t);

/* The coordinator (borrowed) for a request (opens the store if creation could not); until the
 * store is loaded the coordinator answers COORDINATOR_LOAD_IN_PROGRESS. */
struct ctl_txn_coord *ctl_txnsvc_use(struct ctl_txnsvc *t);
/* The coordinator without opening anything, and the store (NULL if it could not be opened), borrowed. */
struct ctl_txn_coord *ctl_txnsvc_coord(struct ctl_txnsvc *t);
struct ctl_store *ctl_txnsvc_store(struct ctl_txnsvc *t);

/* Timers of the coordinator and the markers client; call about every 20 ms with the wall
 * clock. */
void ctl_txnsvc_tick(struct ctl_txnsvc *t, int64_t now_ms);

/* The group coordinator whose transactional offsets the markers settle (borrowed). */
void ctl_txnsvc_set_groups(struct ctl_txnsvc *t, struct ctl_coord *groups);

/* Poll integration of the markers connection (see markers.h). */
int ctl_txnsvc_markers_fd(const struct ctl_txnsvc *t);
short ctl_txnsvc_markers_events(const struct ctl_txnsvc *t);
void ctl_txnsvc_markers_io(struct ctl_txnsvc *t, short revents);

#endif
