/*
 * perf/harness/wire.h: the Kafka requests ringtail-perf sends and the responses it reads, on
 * the generated codec (proto/gen).  Nothing here does I/O: requests are encoded into a byte
 * buffer as whole frames, responses are decoded from whole frames, so the tests can drive
 * every path without a socket.
 *
 * Versions are negotiated from the broker's ApiVersions answer: for each API the highest
 * version both sides serve, capped where a newer version would change what the harness must
 * send (Fetch v13+ names topics by id; the harness keeps names).
 */
#ifndef PERF_WIRE_H
#define PERF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/chain.h"
#include "kp_msgs.h"

struct perf_versions {
	int16_t api_versions, metadata, produce, fetch, list_offsets, create_topics;
	int16_t delete_topics;     /* -1 when not served: only --delete needs it */
	/* -1 when the broker does not serve them: only a --group run needs them. */
	int16_t find_coordinator, join_group, sync_group, heartbeat, offset_fetch, offset_commit, leave_group;
};

/* The version ApiVersions is first sent at (answered by every broker since Kafka 2.4). */
#define PERF_API_VERSIONS_VERSION 3

/* Chooses versions from an ApiVersions response.  0, or -ENOTSUP with a message in err naming
 * the API the broker does not serve in a range the harness can speak. */
int perf_wire_pick_versions(const struct kp_api_versions_resp *r, struct perf_versions *v,
                            char *err, size_t errlen);

/* Appends one request frame (size, header with client id "ringtail-perf", body m of the
 * API's request struct) to out.  Borrows m (and the record sets it points at).
 * 0, -ENOMEM, -EINVAL (a value the version cannot carry) or -ENOTSUP (unknown API). */
int perf_wire_request(struct rt_buf *out, int16_t api, int16_t version, int32_t corr, const void *m);

/* The same frame encoded into c (initialised or reset by the caller, finished here): its record
 * sets are borrowed memory segments of the chain, not copies.  0 or the errors above. */
int perf_wire_request_chain(struct rt_chain *c, int16_t api, int16_t version, int32_t corr, const void *m);

/* Size of the frame at p when all of it is there (4 + size), 0 when more bytes are needed, or
 * -EBADMSG when the size is negative or above max_frame. */
int64_t perf_wire_frame_size(const uint8_t *p, size_t n, size_t max_frame);

/* Decodes a whole response frame (with its size prefix) of api/version into out (the API's
 * response struct, initialised here), borrowing from frame and allocating from a.
 * *corr gets the correlation id; bytes after the body are ignored.  0, -EBADMSG, -E2BIG or
 * -ENOTSUP. */
int perf_wire_response(const uint8_t *frame, size_t n, int16_t api, int16_t version,
                       struct rt_arena *a, int32_t *corr, void *out);

/* What one partition's fetched record set held. */
struct perf_fetch_scan {
	int64_t records;       /* records in whole batches */
	int64_t payload;       /* key + value bytes of those records */
	int64_t next_offset;   /* offset after the last whole batch (unchanged when none) */
	int batches;
	bool corrupt;          /* a batch failed its CRC or record framing */
};

/* Called for each record carrying the harness's header (e2e latency). */
typedef void (*perf_send_time_fn)(void *ctx, uint64_t send_ns);

/* Walks the record set of a fetch answer: whole batches only (a fetch may end inside one),
 * checking each CRC; batches below from_offset (a fetch may start before the asked offset)
 * count nothing.  With fn, iterates the records (decompressing into a) and reports each send
 * time.  Borrows records. */
void perf_wire_scan_records(const uint8_t *records, size_t len, int64_t from_offset, struct rt_arena *a,
                            perf_send_time_fn fn, void *ctx, struct perf_fetch_scan *out);

#endif
