/*
 * storage/producer_recover.c: rebuilding a partition's producer state at open (snapshot plus
 * log tail, Kafka's loadProducerState) and reading batch headers and transaction markers for it.
 * The same replay re-derives the aborted-transaction index entries that recovery asks for
 * (stor_log_txn_rebuild_from): it starts at a snapshot at or below that offset and records every
 * abort it meets (stor_log_add_aborted skips those already recorded).
 * Blocking: runs during partition open, before the log takes appends.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/bytes.h"
#include "proto/batch.h"
#include "storage/internal.h"
#include "storage/producer_state.h"
#include "storage/storage.h"

void stor_ps_batch_from_hdr(struct stor_ps_batch *b, const struct kp_batch_hdr *h)
{
	*b = (struct stor_ps_batch){
		.producer_id = h->producer_id,
		.producer_epoch = h->producer_epoch,
		.base_sequence = h->base_sequence,
		.last_offset_delta = h->last_offset_delta,
		.max_timestamp = h->max_timestamp,
		.transactional = (h->attributes & KP_ATTR_TRANSACTIONAL) != 0,
		.control = (h->attributes & KP_ATTR_CONTROL) != 0,
		.base_offset = h->base_offset,
	};
}

int stor_ps_marker_parse(const uint8_t *p, size_t n, bool *commit, int32_t *coordinator_epoch)
{
	if (n < KP_BATCH_HEADER_SIZE)
		return -EBADMSG;
	struct rt_rd r;
	rt_rd_init(&r, p + KP_BATCH_HEADER_SIZE, n - KP_BATCH_HEADER_SIZE);
	(void)rt_rd_varint(&r);                 /* record length */
	(void)rt_rd_i8(&r);                     /* attributes */
	(void)rt_rd_varlong(&r);                /* timestamp delta */
	(void)rt_rd_varint(&r);                 /* offset delta */
	int32_t kl = rt_rd_varint(&r);
	const uint8_t *k = kl == 4 ? rt_rd_bytes(&r, 4) : NULL;
	int32_t vl = rt_rd_varint(&r);
	const uint8_t *v = vl >= 6 ? rt_rd_bytes(&r, (size_t)vl) : NULL;
	if (r.err || !k || !v)
		return -EBADMSG;
	int16_t type = (int16_t)rt_be16_get(k + 2);
	if (type != 0 && type != 1)
		return -EBADMSG;
	*commit = type == 1;
	*coordinator_epoch = (int32_t)rt_be32_get(v + 2);
	return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t pos)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = pread(fd, p + off, n - off, (off_t)(pos + off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		off += (size_t)r;
	}
	return 0;
}

/* Replays the batches of [from, to) into ps (origin LOG).  txn: also record the aborted
 * transactions met (recovery of the .txnindex).  Stops quietly after about max_bytes of log.
 * Returns 0 or -errno. */
static int replay(struct stor_pstate *ps, struct stor_log *log, int64_t from, int64_t to, bool txn,
                  size_t max_bytes)
{
	int rc = 0;
	size_t cap = 1 << 20, seen = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	int64_t off = from;
	while (off < to && seen < max_bytes) {
		struct stor_read rd;
		rc = stor_log_read(log, off, 1 << 20, to, true, &rd);
		if (rc || !rd.len)
			break;
		if (rd.len > cap) {
			uint8_t *nb = realloc(buf, rd.len);
			if (!nb) {
				stor_read_release(log, &rd);
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = rd.len;
		}
		rc = pread_all(rd.fd, buf, rd.len, rd.pos);
		stor_read_release(log, &rd);
		if (rc)
			break;
		seen += rd.len;
		for (size_t pos = 0; pos < rd.len;) {
			struct kp_batch_hdr h;
			size_t size = kp_batch_size(buf + pos, rd.len - pos);
			if (!size || size > rd.len - pos || kp_batch_hdr_parse(buf + pos, size, &h)) {
				rc = -EBADMSG;
				break;
			}
			int64_t last = h.base_offset + h.last_offset_delta;
			if (last >= off && h.base_offset < to && h.producer_id >= 0) {
				struct stor_ps_batch b;
				struct stor_ps_txn_done d;
				size_t nd = 0;
				stor_ps_batch_from_hdr(&b, &h);
				if (!b.control ||
				    !stor_ps_marker_parse(buf + pos, size, &b.commit, &b.coordinator_epoch))
					rc = stor_pstate_apply(ps, &b, 1, STOR_PS_LOG, &d, &nd);
				if (rc)
					break;
				/* a failure is logged and leaves the file to be rebuilt at the next open */
				if (txn && nd && d.aborted)
					(void)stor_log_add_aborted(log, &(struct stor_aborted_txn){
						d.producer_id, d.first_offset, d.last_offset, d.last_stable_offset });
			}
			pos += size;
		}
		if (rc)
			break;
		off = rd.next_offset;
	}
	free(buf);
	return rc;
}

/* A snapshot keeps only each producer's last batch (Kafka's format), so after loading one the
 * batches just before it are read again for the other STOR_PS_MAX_BATCHES - 1 that duplicate
 * detection needs: a client's retry of any of its last five batches (written, but the answer
 * lost with the connection or the broker) must be a duplicate, never OUT_OF_ORDER_SEQUENCE_NUMBER,
 * which idempotent clients take as acknowledged data lost (a fatal error).  Bounded: the
 * HISTORY_OFFSETS offsets and HISTORY_BYTES bytes of log before the snapshot; a producer
 * with fewer batches there keeps fewer.  Best effort: a failure here changes nothing. */
#define HISTORY_OFFSETS 4096
#define HISTORY_BYTES (16u << 20)

static void backfill_history(struct stor_pstate *ps, struct stor_log *log, int64_t start,
                             int64_t snap)
{
	if (snap <= start || !stor_pstate_count(ps))
		return;
	struct stor_pstate *older = stor_pstate_create(INT64_MAX);
	if (!older)
		return;
	int64_t from = snap - HISTORY_OFFSETS > start ? snap - HISTORY_OFFSETS : start;
	if (!replay(older, log, from, snap, false, HISTORY_BYTES))
		stor_pstate_backfill(ps, older);
	stor_pstate_destroy(older);
}

int stor_pstate_recover(struct stor_pstate *ps, struct stor_log *log, const char *dir, int64_t now_ms)
{
	int64_t leo = stor_log_end_offset(log), start = stor_log_start_offset(log), from = 0;
	int64_t rebuild = stor_log_txn_rebuild_from(log);
	int rc = stor_pstate_snapshot_load(ps, dir, rebuild < leo ? rebuild : leo, now_ms, &from);
	if (rc == -ENOENT)
		from = start;
	else if (rc)
		return rc;
	else
		backfill_history(ps, log, start, from);
	if (from < start)
		from = start;
	/* snapshots past the end belong to a log that has since been truncated */
	stor_pstate_snapshot_prune(dir, 0, leo);
	rc = replay(ps, log, from, leo, true, SIZE_MAX);
	if (!rc) {
		stor_pstate_expire(ps, now_ms);
		stor_log_txn_rebuilt(log);
		stor_log_txn_settle_sync(log);  /* open may block: nothing left for a later round */
	}
	return rc;
}
