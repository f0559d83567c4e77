/*
 * control/pid_block.h: producer id allocation for InitProducerId (prefix ctl_pid_).
 *
 * Producer ids are handed out from blocks of CTL_PID_BLOCK_SIZE (Kafka's 1000).  A block is
 * claimed by making a record durable in `__transaction_state` before any id of it is used, so an
 * id is never handed out twice, also across restarts: after a restart allocation resumes at the
 * highest "next producer id" any block record claimed, and the unused rest of the last block is
 * skipped, as Kafka does with its ProducerIdsRecord / latest_producer_id_block.
 *
 * The block record.  Key: int16 version 0x7fff, then a Kafka string "ringtail.producer-id-block"
 * (Kafka's transaction log loader skips keys of an unknown version, so the record does not
 * confuse a Kafka reading the topic).  Value: Kafka's KRaft ProducerIdsRecord in its metadata
 * record framing: uvarint frame version 1, uvarint api key 15, uvarint version 0, int32 broker
 * id, int64 broker epoch, int64 next producer id, uvarint 0 (no tagged fields).
 *
 * Pure logic, no I/O: the owner writes the record the allocator asks for and reports back.
 */
#ifndef CTL_PID_BLOCK_H
#define CTL_PID_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define CTL_PID_BLOCK_SIZE 1000
/* Start asking for the next block when this many ids of the current one are left. */
#define CTL_PID_PREFETCH 100

struct ctl_pid {
	int64_t next;                   /* next id to hand out */
	int64_t end;                    /* end of the durable block (exclusive) */
	int64_t claimed;                /* end of the highest block claimed (durable or in flight) */
	bool writing;                   /* a block record is being written */
};

/* An allocator that has claimed nothing yet. */
void ctl_pid_init(struct ctl_pid *p);

/* Feeds one block record read back from `__transaction_state` at start (its next producer id). */
void ctl_pid_load(struct ctl_pid *p, int64_t next_producer_id);

/* Hands out one producer id: returns true with *id set, or false when no durable id is left
 * (the caller writes the block record from ctl_pid_want_block and retries after
 * ctl_pid_block_done). */
bool ctl_pid_take(struct ctl_pid *p, int64_t *id);

/* When a block record should be written now (none in flight and the current block is empty or
 * nearly so): returns true with the record's next producer id in *next_producer_id and marks
 * the write in flight. */
bool ctl_pid_want_block(struct ctl_pid *p, int64_t *next_producer_id);

/* The block record with next_producer_id was written (ok) or failed (!ok, retried later). */
void ctl_pid_block_done(struct ctl_pid *p, int64_t next_producer_id, bool ok);

/* Encodes the block record's key and value (appended to the buffers).  The buffers' sticky
 * error says when they were full. */
void ctl_pid_record_key(struct rt_buf *key);
void ctl_pid_record_value(struct rt_buf *value, int64_t next_producer_id);

/* True when key is a block record key. */
bool ctl_pid_is_record_key(const uint8_t *key, size_t len);
/* Decodes a block record value.  Returns 0 with *next_producer_id, or -EBADMSG. */
int ctl_pid_record_parse(const uint8_t *value, size_t len, int64_t *next_producer_id);

#endif
