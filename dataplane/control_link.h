/*
 * dataplane/control_link.h: the dataplane's side of the control process.
 *
 * `ringtail` starts `ringtail-control` (fork/exec, pinned to the plan's control core), restarts
 * it with back-off when it dies, and stops it at shutdown.  Each shard has its own Unix-domain
 * link to it (control/link.h), driven by the shard's io_uring, so a forwarded coordinator
 * request's answer arrives on the shard that owns the client's connection and is put in that
 * connection's response order like any other answer.  While the control process is down, the
 * coordinator APIs are answered COORDINATOR_NOT_AVAILABLE here; while it loads its state it
 * answers COORDINATOR_LOAD_IN_PROGRESS itself.  Clients retry on both.
 */
#ifndef DP_CONTROL_LINK_H
#define DP_CONTROL_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_broker;
struct dp_req;

/* Starts the supervisor thread (after the shards exist).  argv: ringtail's own arguments, whose
 * properties file and --override pairs are handed to the control process.  The executable is
 * $RINGTAIL_CONTROL, or ringtail-control next to ringtail, or ../control/ringtail-control (the
 * build tree).  0 or -errno. */
int dp_control_start(struct dp_broker *b, int argc, char **argv);

/* Stops the control process (SIGTERM, SIGKILL after 5 s) and the supervisor; idempotent. */
void dp_control_stop(void);

/* The coordinator APIs that go to the control process. */
bool dp_control_link_serves(int16_t api_key);

/* On the connection's shard: sends req to the control process (msg is the decoded request, used
 * only to shape an error answer), with the positions of its partitions that do not exist
 * (unknown[n], borrowed; see control/link.h).  Takes req until it is finished. */
void dp_control_link_forward(struct dp_req *req, void *msg, const int32_t *unknown, int32_t n);

struct dp_shard;

/* The answer to a dataplane's own request: body (the response body after its header,
 * borrowed for the call) or, with body NULL, err (COORDINATOR_NOT_AVAILABLE: no control
 * process or its link died; UNKNOWN_SERVER_ERROR: it refused the frame). */
typedef void (*dp_control_cb)(void *arg, const uint8_t *body, size_t n, int16_t err);

/* Writes a Kafka request (header and body) into c: fixed fields only, nothing borrowed and no
 * file range, since c is the link's own outgoing buffer.  `what` is borrowed for the call. */
struct rt_chain;
typedef void (*dp_control_encode)(struct rt_chain *c, const void *what);

/* On shard s: sends a request the dataplane makes itself to the control process, e.g. KIP-890's
 * AddPartitionsToTxn verify-only check; encode(c, what) writes it straight into the link's
 * buffer (not called when there is no link).  cb runs on s, possibly before this returns (no
 * control process). */
void dp_control_link_call(struct dp_shard *s, dp_control_encode encode, const void *what, dp_control_cb cb,
                          void *arg);

/* The control process's pid (0 while none), for tests and tools. */
int dp_control_pid(void);

#endif
