/*
 * dataplane/handlers/fetch_aborted.c: the aborted_transactions list of a read_committed Fetch
 * (see fetch_aborted.h).  The list is gathered on the owner shard from the partition's
 * .txnindex files (storage/txn_index.h) into malloc'ed memory, because the request's arena
 * belongs to the connection's shard; it is freed when the request is released.
 */
#include "fetch_aborted.h"

#include <errno.h>
#include <stdlib.h>

#include "../conn.h"
#include "storage/storage.h"

/* Enough for the usual fetch; a longer list is counted first and gathered again. */
#define ABORTED_STACK 32

int dp_fetch_aborted_collect(struct stor_log *log, int64_t offset, const struct stor_read *rd,
                             struct dp_fetch_aborted *ab)
{
	ab->items = NULL;
	ab->n = 0;
	struct stor_aborted_txn small[ABORTED_STACK], *t = small;
	/* Kafka's upper bound is the end of the returned records (an index approximation of it);
	 * the exact next offset lists no transaction that starts after them. */
	size_t n = stor_log_collect_aborted(log, offset, rd->next_offset, t, ABORTED_STACK);
	if (n == 0)
		return 0;
	if (n > ABORTED_STACK || n > INT32_MAX) {
		if (n > INT32_MAX || !(t = malloc(n * sizeof(*t))))
			return -ENOMEM;
		n = stor_log_collect_aborted(log, offset, rd->next_offset, t, n);
	}
	int rc = 0;
	ab->items = malloc(n * sizeof(*ab->items));
	if (!ab->items) {
		rc = -ENOMEM;
	} else {
		for (size_t i = 0; i < n; i++) {
			kp_fetch_resp_aborted_transaction_init(&ab->items[i]);
			ab->items[i].producer_id = t[i].producer_id;
			ab->items[i].first_offset = t[i].first_offset;
		}
		ab->n = (int32_t)n;
	}
	if (t != small)
		free(t);
	return rc;
}

bool dp_fetch_aborted_put(struct dp_req *req, struct kp_fetch_resp_partition_data *o,
                          struct dp_fetch_aborted *ab, bool committed)
{
	o->aborted_transactions.items = NULL;
	o->aborted_transactions.n = committed ? 0 : -1;
	if (!ab->items)
		return true;
	if (dp_req_on_release(req, free, ab->items)) {
		dp_fetch_aborted_drop(ab);
		return false;
	}
	o->aborted_transactions.items = ab->items;
	o->aborted_transactions.n = ab->n;
	ab->items = NULL;
	ab->n = 0;
	return true;
}

void dp_fetch_aborted_drop(struct dp_fetch_aborted *ab)
{
	free(ab->items);
	ab->items = NULL;
	ab->n = 0;
}
