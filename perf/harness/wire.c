/*
 * perf/harness/wire.c: request frames and response decoding on proto/gen (see wire.h).
 */
#include "perf/harness/wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/chain.h"
#include "perf/harness/record.h"
#include "proto/batch.h"

struct want {
	int16_t key;
	int16_t min, cap;      /* the harness's own range */
	int16_t *dst;
	const char *name;
	bool optional;         /* -1 when not served; the run needing it says so */
};

int perf_wire_pick_versions(const struct kp_api_versions_resp *r, struct perf_versions *v,
                            char *err, size_t errlen)
{
	struct want w[] = {
		{KP_API_API_VERSIONS, 0, 3, &v->api_versions, "ApiVersions"},
		{KP_API_METADATA, 1, 12, &v->metadata, "Metadata"},
		{KP_API_PRODUCE, 3, 11, &v->produce, "Produce"},
		{KP_API_FETCH, 4, 12, &v->fetch, "Fetch"},
		{KP_API_LIST_OFFSETS, 1, 3, &v->list_offsets, "ListOffsets"}, /* v4+ adds leader-epoch fencing the harness has no use for */
		{KP_API_CREATE_TOPICS, 2, 7, &v->create_topics, "CreateTopics", true},
		/* v6+ names topics in a struct that may carry an id instead; names are enough here. */
		{KP_API_DELETE_TOPICS, 1, 5, &v->delete_topics, "DeleteTopics", true},
		/* Consumer groups (--group): FindCoordinator v4+ batches keys and OffsetFetch v8+
		 * batches groups, which one member of one group has no use for. */
		{KP_API_FIND_COORDINATOR, 1, 3, &v->find_coordinator, "FindCoordinator", true},
		{KP_API_JOIN_GROUP, 1, 7, &v->join_group, "JoinGroup", true},
		{KP_API_SYNC_GROUP, 1, 5, &v->sync_group, "SyncGroup", true},
		{KP_API_HEARTBEAT, 1, 4, &v->heartbeat, "Heartbeat", true},
		{KP_API_OFFSET_FETCH, 1, 7, &v->offset_fetch, "OffsetFetch", true},
		{KP_API_OFFSET_COMMIT, 2, 8, &v->offset_commit, "OffsetCommit", true},
		{KP_API_LEAVE_GROUP, 1, 4, &v->leave_group, "LeaveGroup", true},
	};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		const struct kp_api_info *mine = kp_api_lookup(w[i].key);
		int16_t lo = w[i].min, hi = w[i].cap;
		if (mine && mine->min_version > lo)
			lo = mine->min_version;
		if (mine && mine->max_version < hi)
			hi = mine->max_version;
		*w[i].dst = -1;
		for (int32_t k = 0; k < r->api_keys.n; k++) {
			const struct kp_api_versions_resp_api_version *a = &r->api_keys.items[k];
			if (a->api_key != w[i].key)
				continue;
			int16_t top = a->max_version < hi ? a->max_version : hi;
			if (top >= lo && top >= a->min_version)
				*w[i].dst = top;
		}
		if (*w[i].dst < 0 && !w[i].optional) {
			snprintf(err, errlen, "the broker does not serve %s in versions %d..%d", w[i].name, lo, hi);
			return -ENOTSUP;
		}
	}
	return 0;
}

int perf_wire_request_chain(struct rt_chain *c, int16_t api, int16_t version, int32_t corr, const void *m)
{
	const struct kp_api_info *info = kp_api_lookup(api);
	if (!info)
		return -ENOTSUP;
	struct kp_frame f = kp_frame_begin(c);
	struct kp_req_hdr h = {
		.request_api_key = api,
		.request_api_version = version,
		.correlation_id = corr,
		.client_id = KP_STR("ringtail-perf"),
	};
	kp_req_hdr_encode(c, &h);
	info->req_encode(c, version, m);
	kp_frame_end(c, f);
	return c->err ? c->err : rt_chain_finish(c);
}

int perf_wire_request(struct rt_buf *out, int16_t api, int16_t version, int32_t corr, const void *m)
{
	struct rt_chain c;
	rt_chain_init(&c, 0);
	int rc = perf_wire_request_chain(&c, api, version, corr, m);
	if (!rc) {
		size_t n = rt_chain_len(&c);
		/* Reserved, not extended: zeroing a 1 MiB Produce first would cost as much as the
		 * copy itself. */
		rc = rt_buf_reserve(out, n);
		if (!rc)
			rc = rt_chain_flatten(&c, out->data + out->len);
		if (!rc)
			out->len += n;
	}
	rt_chain_fini(&c);
	return rc;
}

int64_t perf_wire_frame_size(const uint8_t *p, size_t n, size_t max_frame)
{
	if (n < 4)
		return 0;
	int32_t size = (int32_t)rt_be32_get(p);
	if (size < 0 || (size_t)size > max_frame)
		return -EBADMSG;
	return (size_t)size + 4 <= n ? (int64_t)size + 4 : 0;
}

int perf_wire_response(const uint8_t *frame, size_t n, int16_t api, int16_t version,
                       struct rt_arena *a, int32_t *corr, void *out)
{
	const struct kp_api_info *info = kp_api_lookup(api);
	if (!info)
		return -ENOTSUP;
	if (n < 4 || rt_be32_get(frame) != n - 4)
		return -EBADMSG;
	struct rt_rd r;
	rt_rd_init(&r, frame + 4, n - 4);
	struct kp_resp_hdr h;
	int rc = kp_resp_hdr_decode(&r, api, version, a, &h);
	if (rc)
		return rc;
	*corr = h.correlation_id;
	info->resp_init(out);
	/* Bytes after the body are ignored, as Kafka's clients ignore them (librdkafka's mock
	 * cluster writes some after ListOffsets v5). */
	return info->resp_decode(&r, version, a, out);
}

void perf_wire_scan_records(const uint8_t *records, size_t len, int64_t from_offset, struct rt_arena *a,
                            perf_send_time_fn fn, void *ctx, struct perf_fetch_scan *out)
{
	memset(out, 0, sizeof(*out));
	out->next_offset = -1;
	size_t pos = 0;
	while (pos < len) {
		size_t size = kp_batch_size(records + pos, len - pos);
		if (size == 0 || size > len - pos)
			break; /* a partial batch at the end of the fetch: read again from its offset */
		const uint8_t *b = records + pos;
		pos += size;
		struct kp_batch_hdr h;
		if (kp_batch_hdr_parse(b, size, &h) || !kp_batch_crc_ok(b, size)) {
			out->corrupt = true;
			return;
		}
		int64_t next = h.base_offset + h.last_offset_delta + 1;
		if (next <= from_offset)
			continue;
		out->next_offset = next;
		out->batches++;
		if (h.attributes & KP_ATTR_CONTROL)
			continue;
		struct kp_batch_iter it;
		if (kp_batch_iter_init(&it, b, size, a, (size_t)64 << 20)) {
			out->corrupt = true;
			return;
		}
		struct kp_record rec;
		int rc;
		while ((rc = kp_batch_iter_next(&it, &rec)) == 1) {
			if (h.base_offset + rec.offset_delta < from_offset)
				continue;
			out->records++;
			out->payload += (rec.key_len > 0 ? rec.key_len : 0) + (rec.value_len > 0 ? rec.value_len : 0);
			uint64_t t;
			if (fn && rec.value_len > 0 && perf_record_parse(rec.value, (size_t)rec.value_len, &t))
				fn(ctx, t);
		}
		if (rc < 0) {
			out->corrupt = true;
			return;
		}
	}
}
