/*
 * control/link.h: the frames on the Unix-domain link between the dataplane (`ringtail`) and
 * the control process (`ringtail-control`).  Header-only so that both sides share one
 * definition without linking each other.
 *
 * Kafka framing: every frame is an int32 size (the bytes after it) and then, big-endian:
 *
 *   dataplane -> control, CTL_LINK_REQUEST:
 *      int8   kind = 1
 *      int64  link_id       the dataplane's handle for the client request (echoed back)
 *      int16  shard         the shard of the client's connection
 *      int16  host_len      the client's address as Kafka shows it ("/127.0.0.1"), then its bytes
 *      int32  n_unknown     then n_unknown int32: for OffsetCommit and TxnOffsetCommit, the
 *                           positions (over all topics' partitions, in request order) of the
 *                           partitions that do not exist, which the control process answers
 *                           UNKNOWN_TOPIC_OR_PARTITION (the dataplane holds the topic registry,
 *                           as Kafka's KafkaApis checks its metadata cache); 0 otherwise
 *      ...    the client's request frame: request header and body, without its size prefix
 *
 *   control -> dataplane, CTL_LINK_ANSWER:
 *      int8   kind = 2
 *      int64  link_id
 *      int8   close         1: the request could not be parsed; close the client's connection
 *      ...    the response body (the dataplane has written the size and response header)
 *
 * The dataplane opens one link per shard (a socketpair made before the control process is
 * started; the control process finds them as file descriptors 3 .. 3+links-1), so answers
 * arrive on the shard that owns the client's connection and that shard puts them in the
 * connection's response order.  A link frame is bounded by CTL_LINK_MAX_FRAME.
 */
#ifndef CTL_LINK_H
#define CTL_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "kp_msgs.h"

#define CTL_LINK_REQUEST 1
#define CTL_LINK_ANSWER 2
#define CTL_LINK_REQUEST_HDR 13          /* kind, link_id, shard, host_len (then host, n_unknown, ...) */
#define CTL_LINK_ANSWER_HDR 10           /* kind, link_id, close */
#define CTL_LINK_FIRST_FD 3
#define CTL_LINK_MAX_FRAME (128u << 20)

/* The API keys the control process answers: the dataplane forwards exactly these over the link
 * (COORDINATOR_NOT_AVAILABLE while the control process is down), and the control process refuses
 * anything else.  One list for both sides, so they cannot drift apart. */
static inline bool ctl_link_serves(int16_t api_key)
{
	switch (api_key) {
	case KP_API_JOIN_GROUP:
	case KP_API_SYNC_GROUP:
	case KP_API_HEARTBEAT:
	case KP_API_LEAVE_GROUP:
	case KP_API_OFFSET_COMMIT:
	case KP_API_TXN_OFFSET_COMMIT:
	case KP_API_OFFSET_FETCH:
	case KP_API_DESCRIBE_GROUPS:
	case KP_API_LIST_GROUPS:
	case KP_API_DELETE_GROUPS:
	case KP_API_OFFSET_DELETE:
	case KP_API_INIT_PRODUCER_ID:      /* the transaction coordinator (issue 7) */
	case KP_API_DESCRIBE_TRANSACTIONS:
	case KP_API_LIST_TRANSACTIONS:
	case KP_API_ADD_PARTITIONS_TO_TXN:
	case KP_API_ADD_OFFSETS_TO_TXN:
	case KP_API_END_TXN:
		return true;
	default:
		return false;
	}
}

#endif
