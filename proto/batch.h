/*
 * proto/batch.h: Kafka record batches (magic v2): parse, validate, iterate, build, stamp.
 *
 * On-disk and wire layout of one batch (big-endian, offsets in bytes):
 *
 *    0  int64  base_offset
 *    8  int32  batch_length          bytes after this field (total size = 12 + batch_length)
 *   12  int32  partition_leader_epoch
 *   16  int8   magic                 must be 2
 *   17  uint32 crc                   CRC-32C of bytes 21 .. end of batch
 *   21  int16  attributes            bits 0-2 compression, 3 timestamp type (1 = LogAppendTime),
 *                                    4 transactional, 5 control, 6 has delete horizon
 *   23  int32  last_offset_delta
 *   27  int64  base_timestamp
 *   35  int64  max_timestamp
 *   43  int64  producer_id
 *   51  int16  producer_epoch
 *   53  int32  base_sequence
 *   57  int32  records_count
 *   61  ...    records (compressed as a whole when the compression bits are set)
 *
 * A record: varint length, int8 attributes, varlong timestamp_delta, varint offset_delta,
 * varint key_length (-1 = null) + key, varint value_length (-1 = null) + value,
 * varint header_count, each header: varint key_length + key, varint value_length + value.
 *
 * Return convention: 0 or a negative errno; -EBADMSG for a corrupt batch (bad length, magic,
 * CRC, record framing), -EINVAL for a well-framed but invalid record set, -E2BIG for something
 * over a configured bound (decompressed size), -ENOTSUP for an unsupported magic or codec.
 * When `why` is given it is pointed at a static string that says what was wrong.
 *
 * kp_records_validate maps these onto Kafka's outcomes the way Kafka's broker does: what the
 * CRC cannot vouch for (lengths, magic, the CRC itself, a compressed payload that does not
 * decompress) is -EBADMSG (CORRUPT_MESSAGE, which clients retry); records that do not fit a
 * batch whose CRC is good (record framing, records_count, offset deltas, control batches from
 * clients, a bad sequence) are -EINVAL (INVALID_RECORD: the client wrote them that way, a retry
 * cannot help).  The iterator itself reports any record framing problem as -EBADMSG.
 */
#ifndef KP_BATCH_H
#define KP_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"

#define KP_BATCH_HEADER_SIZE 61
#define KP_BATCH_LOG_OVERHEAD 12        /* base_offset + batch_length */
#define KP_BATCH_CRC_START 21

/* Field offsets within a batch, for stamping in place. */
#define KP_BATCH_OFF_BASE_OFFSET 0
#define KP_BATCH_OFF_LENGTH 8
#define KP_BATCH_OFF_LEADER_EPOCH 12
#define KP_BATCH_OFF_MAGIC 16
#define KP_BATCH_OFF_CRC 17
#define KP_BATCH_OFF_ATTRIBUTES 21
#define KP_BATCH_OFF_LAST_OFFSET_DELTA 23
#define KP_BATCH_OFF_BASE_TIMESTAMP 27
#define KP_BATCH_OFF_MAX_TIMESTAMP 35
#define KP_BATCH_OFF_PRODUCER_ID 43
#define KP_BATCH_OFF_PRODUCER_EPOCH 51
#define KP_BATCH_OFF_BASE_SEQUENCE 53
#define KP_BATCH_OFF_RECORDS_COUNT 57

enum kp_compression {
	KP_COMPRESSION_NONE = 0,
	KP_COMPRESSION_GZIP = 1,
	KP_COMPRESSION_SNAPPY = 2,
	KP_COMPRESSION_LZ4 = 3,
	KP_COMPRESSION_ZSTD = 4,
};

#define KP_ATTR_COMPRESSION_MASK 0x07
#define KP_ATTR_LOG_APPEND_TIME 0x08
#define KP_ATTR_TRANSACTIONAL 0x10
#define KP_ATTR_CONTROL 0x20
#define KP_ATTR_DELETE_HORIZON 0x40

/* The decoded fixed header of one batch. */
struct kp_batch_hdr {
	int64_t base_offset;
	int32_t batch_length;
	int32_t leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

/* Decodes the header at p (n bytes available) without checking the CRC.  0 or -EBADMSG
 * (fewer than 61 bytes, batch_length out of range for n, unknown magic) or -ENOTSUP (magic 0
 * or 1, the message formats Kafka 4.0 no longer accepts). */
int kp_batch_hdr_parse(const uint8_t *p, size_t n, struct kp_batch_hdr *h);

/* As kp_batch_hdr_parse, but needs only the 61 header bytes, not the whole batch: for a reader
 * that fetches the header of a batch on disk before its body.  batch_length is still checked
 * to be at least a header's worth. */
int kp_batch_hdr_peek(const uint8_t *p, size_t n, struct kp_batch_hdr *h);

/* Size of the whole batch starting at p, read from its length field, or 0 when fewer than 12
 * bytes are there or the length is negative.  Lets storage and recovery walk a log. */
size_t kp_batch_size(const uint8_t *p, size_t n);

/* True when the stored CRC matches CRC-32C of bytes 21 .. end.  p holds one whole batch. */
bool kp_batch_crc_ok(const uint8_t *p, size_t size);

/* Recomputes and stores the CRC (after changing attributes or later fields in place). */
void kp_batch_crc_update(uint8_t *p, size_t size);

/* Stamps the base offset and leader epoch in place (neither is covered by the CRC). */
void kp_batch_stamp(uint8_t *p, int64_t base_offset, int32_t leader_epoch);

/* Bound on one batch's decompressed records when a caller passes 0. */
#define KP_BATCH_DEFAULT_MAX_DECOMPRESSED ((size_t)256 << 20)

/* Limits applied while validating a record set from a client. */
struct kp_validate_opts {
	size_t max_batch_bytes;        /* message.max.bytes: largest batch accepted; 0 = no limit */
	size_t max_decompressed;       /* bound on one batch's decompressed records; 0 = default */
	bool check_records;            /* iterate every record (decompressing as needed) */
	bool require_keys;             /* with check_records: a record without a key is -EINVAL, as
	                                * Kafka refuses keyless records on compacted topics */
	bool internal_origin;          /* written by Ringtail itself (recovery, control records):
	                                * lifts the rules Kafka applies to clients only: exactly one
	                                * batch, base offset 0, no control batches, sequence >= 0
	                                * when a producer id is set */
};

/* What validation learned about a record set. */
struct kp_records_info {
	int32_t batches;
	int64_t records;               /* sum of records_count */
	int64_t offset_count;          /* sum of last_offset_delta + 1: offsets the set consumes */
	int64_t max_timestamp;          /* -1 when no record has a timestamp */
	int64_t min_timestamp;          /* of records whose timestamp is not -1 (Kafka's NO_TIMESTAMP);
	                                 * with max_timestamp, what message.timestamp.before.max.ms and
	                                 * after.max.ms are checked against; -1 when none */
	int64_t first_timestamp;        /* base_timestamp of the first batch */
	int64_t producer_id;           /* of the first batch (-1 when none) */
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t last_offset_delta;      /* of the first batch (-1 when none) */
	int64_t header_max_timestamp;   /* the first batch's header field (-1 when none), whatever its
	                                 * records say: what a producer's state keeps, as Kafka's
	                                 * batch.maxTimestamp() */
	bool transactional;
	bool control;
	enum kp_compression compression; /* of the first batch */
};

/* Validates a record set as it arrives in a Produce request: whole batches (exactly one from a
 * client, as Kafka requires for magic 2), each magic 2 with a consistent length, a good CRC,
 * base offset 0, records_count == last_offset_delta + 1 > 0, not a control batch, and (with
 * check_records) records_count records that parse exactly to the end of the batch, offset
 * deltas 0..n-1.  Trailing bytes that do not make a whole batch are -EBADMSG (Kafka drops
 * them silently; no client sends them).  With check_records, max_timestamp and min_timestamp
 * are computed from the records (as Kafka's broker does), otherwise taken from the batch
 * headers (max_timestamp, and base_timestamp as the minimum).
 * Borrows p; `scratch` is used for decompression and may be reset by the caller afterwards.
 * Returns 0, -EBADMSG (corrupt: CORRUPT_MESSAGE), -EINVAL (INVALID_RECORD), -E2BIG
 * (MESSAGE_TOO_LARGE or a decompression bound), -ENOTSUP (old magic, unknown codec). */
int kp_records_validate(const uint8_t *p, size_t n, const struct kp_validate_opts *o,
                        struct rt_arena *scratch, struct kp_records_info *info, const char **why);

struct iovec;

/* kp_records_validate for a client's record set that lies in pieces (v[0..cnt), e.g. in received
 * frames): the same checks, outcomes and info when the set is one uncompressed batch.  Its header
 * may be split anywhere (it is gathered), the CRC is summed piece by piece, and the records are
 * read where they lie; a record split between two pieces is copied into scratch.  -EXDEV when the
 * set is not one uncompressed batch (several, compressed) or o->internal_origin is set: nothing
 * was decided and the caller validates the bytes gathered into one buffer.  Borrows v. */
int kp_records_validate_iov(const struct iovec *v, int cnt, const struct kp_validate_opts *o,
                            struct rt_arena *scratch, struct kp_records_info *info, const char **why);

/* One record, with slices borrowed from the batch (or from its decompressed copy). */
struct kp_record_header {
	const uint8_t *key;
	int32_t key_len;               /* -1 = null */
	const uint8_t *value;
	int32_t value_len;             /* -1 = null */
};

struct kp_record {
	int8_t attributes;
	int64_t timestamp_delta;
	int32_t offset_delta;
	const uint8_t *key;
	int32_t key_len;               /* -1 = null */
	const uint8_t *value;
	int32_t value_len;             /* -1 = null */
	int32_t header_count;
	const uint8_t *headers;        /* raw headers; walk with kp_record_header_next */
	size_t headers_len;
};

/* Iterates the records of one batch.  For a compressed batch, kp_batch_iter_init decompresses
 * into memory from `arena` (bounded by max_decompressed). */
struct kp_batch_iter {
	struct kp_batch_hdr hdr;
	const uint8_t *p, *end;        /* the (decompressed) records */
	int32_t left;
	int err;
	const char *why;               /* what was wrong when err is set (static string) */
};

/* Does not check the CRC (kp_records_validate or kp_batch_crc_ok does).  Borrows batch (and
 * arena, which owns the decompressed copy); `arena` may be NULL for an uncompressed batch.
 * 0, -EBADMSG (header, negative records_count, payload that does not decompress), -E2BIG
 * (over max_decompressed, 0 = KP_BATCH_DEFAULT_MAX_DECOMPRESSED), -ENOTSUP (magic, codec),
 * -ENOMEM.  Whatever it returns, it->hdr is the batch's header when that parsed (hdr.magic is
 * then 2), so a reader that skips a batch it cannot read still learns its offsets; zeroed when it
 * did not. */
int kp_batch_iter_init(struct kp_batch_iter *it, const uint8_t *batch, size_t size,
                       struct rt_arena *arena, size_t max_decompressed);
/* 1 with *rec filled, 0 at the end, or -EBADMSG.  At the end, any bytes left over are -EBADMSG. */
int kp_batch_iter_next(struct kp_batch_iter *it, struct kp_record *rec);
/* 1 with *h filled, 0 at the end, or -EBADMSG; *pos starts at 0 and advances. */
int kp_record_header_next(const struct kp_record *rec, size_t *pos, struct kp_record_header *h);

/* Building batches (for the control process, tools, tests and the perf harness). */
struct kp_batch_builder {
	struct rt_buf out;             /* the batch; owned */
	struct rt_buf recs;            /* uncompressed records; owned */
	enum kp_compression compression;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int32_t count;
	int16_t attributes;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
};

/* Embedded lifetime.  producer_id -1 / epoch -1 / sequence -1 for a plain batch. */
void kp_batch_builder_init(struct kp_batch_builder *b, enum kp_compression c, int16_t extra_attributes,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);
void kp_batch_builder_fini(struct kp_batch_builder *b);

/* Adds a record (key/value NULL with len -1 for null; headers may be NULL with n 0; a header
 * key may not be null).  Borrows everything.  0, -EINVAL (a length below -1), -E2BIG (a record
 * or the batch over 2 GiB) or -ENOMEM. */
int kp_batch_builder_add(struct kp_batch_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                         const void *value, int32_t value_len,
                         const struct kp_record_header *headers, int32_t header_count);

/* Finishes the batch (base offset 0, compression applied, CRC set) and returns it; the memory
 * stays owned by the builder until kp_batch_builder_fini.  NULL on failure. */
const uint8_t *kp_batch_builder_finish(struct kp_batch_builder *b, size_t *size);

/* Initialises b (kp_batch_builder_fini after) as the control batch of producer (producer_id,
 * producer_epoch) holding its one end transaction marker, stamped `timestamp`: Kafka's control
 * record, key int16 version 0 + int16 type (0 ABORT, 1 COMMIT), value int16 version 0 + int32
 * coordinator epoch.  Returns as kp_batch_builder_add (0 or -ENOMEM). */
int kp_batch_builder_marker(struct kp_batch_builder *b, int64_t producer_id, int16_t producer_epoch, bool commit,
                            int32_t coordinator_epoch, int64_t timestamp);

#endif
