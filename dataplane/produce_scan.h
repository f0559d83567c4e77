/*
 * dataplane/produce_scan.h: where the record sets of a Produce request lie in its frame, read
 * from the frame while it is still in the receive buffers it arrived in (pieces), without
 * gathering it (prefix dp_).  A frame received over several segments becomes a request whose
 * record bytes stay in those buffers (conn.h, dp_conn_received_chain): this finds them.
 *
 * Only what the layout needs is read: the request header (v1, or v2 with tagged fields), then
 * Produce v3..v11's transactional id, acks, timeout and the topic and partition arrays (compact
 * from v9, with tagged fields), stepping over every record set.  Anything else (another API or
 * version, a field that runs past the frame, trailing bytes) is "does not parse": the caller
 * copies the frame as before and the decoder says what is wrong with it.
 */
#ifndef DP_PRODUCE_SCAN_H
#define DP_PRODUCE_SCAN_H

#include <stddef.h>
#include <stdint.h>

struct iovec;

/* A span of a frame (offsets after its length prefix). */
struct dp_span {
	uint32_t off, len;
};

/* Scans the Produce frame of len bytes that starts skip bytes into the pieces v[0..cnt) (borrowed)
 * and writes the spans of its non-empty record sets, in frame order, to out (at most max).
 * Returns their count, or -1 when the frame does not parse as a Produce v3..v11 or has more than
 * max record sets. */
int dp_produce_scan(const struct iovec *v, int cnt, size_t skip, size_t len, struct dp_span *out, int max);

#endif
