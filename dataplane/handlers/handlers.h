/*
 * dataplane/handlers/handlers.h: what every API handler uses: the broker of a request, topic
 * lookups by wire strings, arena arrays, the node this broker advertises.
 */
#ifndef DP_HANDLERS_H
#define DP_HANDLERS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "../broker.h"
#include "../conn.h"
#include "../dup_names.h"
#include "../meta.h"
#include "../owners.h"
#include "../router.h"
#include "../shard.h"
#include "kp_errors.h"
#include "kp_msgs.h"

static inline struct dp_broker *dp_req_broker(const struct dp_req *req) { return req->s->b; }

/* n zeroed elements of size sz from the request arena (NULL when n is 0 or the arena is full). */
static inline void *dp_req_array(struct dp_req *req, int32_t n, size_t sz)
{
	if (n <= 0)
		return NULL;
	return rt_arena_calloc(&req->arena, (size_t)n, sz);
}
/* A response array of count zeroed elements from the request arena.  A null request array
 * (count -1) is answered empty, and so is a full arena (the caller's loops then run over none). */
#define DP_ARRAY(req, arr, count)                                                      \
	do {                                                                            \
		int32_t n_ = (count);                                                   \
		(arr).n = n_ > 0 ? n_ : 0;                                              \
		(arr).items = dp_req_array((req), (arr).n, sizeof(*(arr).items));       \
		if ((arr).n && !(arr).items)                                            \
			(arr).n = 0;                                                    \
	} while (0)

/* The names of a request of n entries given more than once (dup_names.h): keys (nkeys of them,
 * request arena, reordered here) name them; returns a mark per request index (n, request arena:
 * true for a name given more than once), or NULL when the arena is full (keys NULL too). */
static inline bool *dp_req_dup_marks(struct dp_req *req, struct dp_dup_name *keys, int32_t nkeys, int32_t n)
{
	bool *dup = dp_req_array(req, n, sizeof(*dup));
	if (!dup || !keys)
		return NULL;
	dp_dup_names_mark(keys, nkeys, dup);
	return dup;
}

static inline const struct dp_topic *dp_topic_by_str(const struct dp_snap *s, struct kp_str n)
{
	if (n.len <= 0)
		return NULL;
	return dp_snap_find(s, n.ptr, (size_t)n.len);
}

static inline struct kp_str dp_str(const char *s) { return (struct kp_str){ s, (int32_t)strlen(s) }; }

/* A NUL-terminated copy of a wire string in the request arena ("" for null). */
static inline char *dp_req_cstr(struct dp_req *req, struct kp_str s)
{
	return rt_arena_strndup(&req->arena, s.len > 0 ? s.ptr : "", s.len > 0 ? (size_t)s.len : 0);
}

static inline bool dp_uuid_zero(const uint8_t *u)
{
	for (int i = 0; i < 16; i++)
		if (u[i])
			return false;
	return true;
}

/* The node id that leads partition p of t: the broker, or in shard-aware mode the owner shard's
 * own node. */
static inline int32_t dp_leader_node(const struct dp_broker *b, const struct dp_topic *t, int32_t p)
{
	if (b->cfg.advertise_shards)
		return b->cfg.node_id * 1000 + 1 + t->owner[p];
	return b->cfg.node_id;
}

/* The nodes a replica assignment may name on this broker (owners.h). */
static inline struct dp_owners_nodes dp_assign_nodes(const struct dp_broker *b)
{
	return (struct dp_owners_nodes){ .node_id = b->cfg.node_id, .nshards = b->nshards,
	                                 .shard_nodes = b->cfg.advertise_shards };
}

/* A message built with printf's format in the request arena (null when the arena is full). */
__attribute__((format(printf, 2, 3))) static inline struct kp_str dp_req_msg(struct dp_req *req, const char *fmt, ...)
{
	char text[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	char *m = rt_arena_strndup(&req->arena, text, strlen(text));
	return m ? dp_str(m) : (struct kp_str){ NULL, -1 };
}

#endif
