#!/usr/bin/python3
"""
tests/interop/test_api_rules.py: the API rules of issue 4 that the client tests do not reach,
each checked on the wire against the real broker (raw requests, kwire.py, where the clients
cannot send them) or with kafka-python:
- Produce acks=0: no response (the next request on the connection is the next answer), the
  records are written; a failing acks=0 produce closes the connection (Kafka's KafkaApis).
- Produce of a batch over the topic's max.message.bytes: MESSAGE_TOO_LARGE.
- Produce checks of Kafka's ProduceRequest.validateRecords: an empty record set and a magic 1
  message set are INVALID_RECORD, two batches for one partition too, and a zstd batch in a
  Produce below v7 is UNSUPPORTED_COMPRESSION_TYPE (accepted at v7).
- Fetch at an offset inside a batch: the batch is returned whole, from its base offset; a
  partition_max_bytes below the first batch still returns that batch whole (KIP-74).
- Fetch long polling with min_bytes (Kafka's DelayedFetch): appends smaller than min_bytes do not
  end the wait, the answer comes at max_wait with what there is; appends that together reach
  min_bytes end it at once.  An offset past the log end is OFFSET_OUT_OF_RANGE.
- ListOffsets MAX_TIMESTAMP (v7): the offset of the record with the largest timestamp, even
  inside a batch, as Kafka's UnifiedLog answers (batch.offsetOfMaxTimestamp).  A partition named
  twice is INVALID_REQUEST at every occurrence (KafkaApis' duplicatePartitions).
- CreateTopics validate_only creates nothing; a replication factor of 3 is
  INVALID_REPLICATION_FACTOR, 0 partitions INVALID_PARTITIONS, both with Kafka's messages; a
  name given more than once in CreateTopics or CreatePartitions is INVALID_REQUEST at every
  occurrence (also among 5,000 names), the others are handled.
- DeleteTopics v6 by topic id; an unknown id is UNKNOWN_TOPIC_ID; a name or id given twice is
  answered once, INVALID_REQUEST "Duplicate topic name." / "Duplicate topic id.", not deleted.
- DescribeConfigs sources: a topic override is DYNAMIC_TOPIC_CONFIG, a broker key given at start
  STATIC_BROKER_CONFIG (for the topic configs it is the default of, too), anything else
  DEFAULT_CONFIG.
- Metadata: with auto.create.topics.enable=false an unknown topic is UNKNOWN_TOPIC_OR_PARTITION
  and stays unknown; a request that does not allow auto-creation never creates.
- Produce to an internal topic (__consumer_offsets) from a client: INVALID_TOPIC_EXCEPTION, as
  Kafka's ReplicaManager answers; "__mine" is an ordinary topic.
- SIGTERM: no new connection is accepted, a long-polling fetch in flight is answered at once (not
  at its max wait), exit 0.
Usage: test_api_rules.py <path to ringtail>
"""
import random
import signal
import socket
import struct
import sys
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata
from kafka.errors import InvalidPartitionsError, InvalidReplicationFactorError
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from kwire import (Conn, R, W, batch, batch_spans, create_partitions_on, create_topics_on, list_offsets_on,
                   metadata_v4_on, produce_on, topic_id)
from rtbroker import Broker, run_tap

OFFSET_OUT_OF_RANGE, INVALID_RECORD, UNSUPPORTED_COMPRESSION_TYPE = 1, 87, 76
UNKNOWN_TOPIC_OR_PARTITION, MESSAGE_TOO_LARGE, INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_ID = 3, 10, 17, 100
INVALID_REQUEST = 42
SRC_TOPIC, SRC_STATIC_BROKER, SRC_DEFAULT = 1, 4, 5


def ts_batch(records):
    """One uncompressed batch of [(value, timestamp)]: its bytes."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, (v, ts) in enumerate(records):
        b.append(i, timestamp=ts, key=None, value=v, headers=[])
    return bytes(b.build())


def zstd_batch(records):
    """One zstd-compressed batch of [(key, value)] (kafka-python's encoder): its bytes."""
    b = DefaultRecordBatchBuilder(magic=2, compression_type=4, is_transactional=False, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for i, (k, v) in enumerate(records):
        b.append(i, timestamp=None, key=k, value=v, headers=[])
    return bytes(b.build())


def legacy_set(records):
    """A magic 1 message set of [(key, value)] (kafka-python's legacy encoder): its bytes."""
    b = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    for i, (k, v) in enumerate(records):
        b.append(i, timestamp=int(time.time() * 1000), key=k, value=v)
    return bytes(b.build())


def produce_v(c, version, topic, partition, records):
    """Produce (v3-v8: one request shape) of one partition's record bytes: (error, base offset)."""
    r = c.call(0, version, produce_body(topic, partition, records, -1), False)
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16(), r.i64()


def send_raw(c, key, version, body, flexible_header=False):
    """Sends one request on kwire connection c without reading; returns its correlation id."""
    return c.send(key, version, body, flexible_header, client_id='api-rules')


def read_frame(c):
    n = struct.unpack('>i', c._read(4))[0]
    return R(c._read(n))


def produce_body(topic, partition, records, acks):
    return W().str(None).i16(acks).i32(10000).i32(1).str(topic).i32(1).i32(partition).i32(len(records)).raw(records)


def fetch_v4(c, topic, partition, offset, part_max, wait=0, min_bytes=1):
    """Fetch v4 of one partition: (error, high watermark, record bytes)."""
    body = W().i32(-1).i32(wait).i32(min_bytes).i32(1 << 20).i8(0).i32(1).str(topic).i32(1)
    body.i32(partition).i64(offset).i32(part_max)
    r = c.call(1, 4, body, False)
    r.i32()
    r.i32()
    r.str()
    r.i32()
    r.i32()
    err, hwm = r.i16(), r.i64()
    r.i64()
    r.arr(lambda r: (r.i64(), r.i64()))
    n = r.i32()
    return err, hwm, bytes(r.take(n)) if n > 0 else b''


def list_offsets_v7_many(c, topics):
    """ListOffsets v7 (LATEST) of [(topic, [partition])]: [(topic, [(partition, error, offset)])]."""
    body = W().i32(-1).i8(0).uvar(len(topics) + 1)
    for topic, parts in topics:
        body.cstr(topic).uvar(len(parts) + 1)
        for p in parts:
            body.i32(p).i32(-1).i64(-1).tags()
        body.tags()
    r = c.call(2, 7, body.tags(), True)
    r.i32()

    def part(x):
        p, e, _, off, _ = x.i32(), x.i16(), x.i64(), x.i64(), x.i32()
        x.tags()
        return p, e, off

    def topic(x):
        name, parts = x.cstr(), x.carr(part)
        x.tags()
        return name, parts
    return r.carr(topic)


def delete_topics_v6(c, name=None, tid=None):
    """DeleteTopics v6 of one topic by name or by id: (name, id, error)."""
    body = W().uvar(2).cstr(name).raw(tid or bytes(16)).tags().i32(10000).tags()
    r = c.call(20, 6, body, True)
    r.i32()
    r.uvar()
    n, i, e = r.cstr(), bytes(r.take(16)), r.i16()
    return n, i, e


def delete_topics_v6_many(c, entries):
    """DeleteTopics v6 of [(name or None, id or None)]: [(name, id, error, message)]."""
    body = W().uvar(len(entries) + 1)
    for name, tid in entries:
        body.cstr(name).raw(tid or bytes(16)).tags()
    r = c.call(20, 6, body.i32(10000).tags(), True)
    r.i32()
    return r.carr(lambda x: (x.cstr(), bytes(x.take(16)), x.i16(), x.cstr(), x.tags())[:4])


def delete_topics_v1(c, names):
    """DeleteTopics v1 of names: [(name, error)]."""
    body = W().i32(len(names))
    for name in names:
        body.str(name)
    r = c.call(20, 1, body.i32(10000), False)
    r.i32()
    return r.arr(lambda x: (x.str(), x.i16()))


def describe_configs_v1(c, rtype, name):
    """DescribeConfigs v1 of one resource, every key: (error, {key: (value, source, read_only)})."""
    body = W().i32(1).i8(rtype).str(name).i32(-1).i8(0)
    r = c.call(32, 1, body, False)
    r.i32()
    r.i32()
    err = r.i16()
    r.str()
    r.i8()
    r.str()
    out = {}
    for _ in range(r.i32()):
        k, v, ro, src = r.str(), r.str(), r.bool(), r.i8()
        r.bool()
        r.arr(lambda r: (r.str(), r.str(), r.i8()))
        out[k] = (v, src, ro)
    return err, out


def main(tap):
    with Broker(sys.argv[1], {'auto.create.topics.enable': 'false', 'num.partitions': 2,
                              'log.retention.ms': 5 * 3600000}) as b:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic('ar', 3, 1), NewTopic('small', 1, 1, topic_configs={'max.message.bytes': '2000'}),
                             NewTopic('mb', 1, 1)])
        c = Conn(b.port)

        # acks=0: no answer; the ApiVersions after it is the next frame on the connection.
        first = send_raw(c, 0, 3, produce_body('ar', 0, batch([(b'k', b'zero-%d' % i) for i in range(3)]), 0))
        av = send_raw(c, 18, 0, W())
        r = read_frame(c)
        corr = r.i32()
        tap.ok(corr == av and corr == first + 1, 'acks=0: no answer to the produce; the next request is answered next',
               (first, av, corr))
        err, hwm, recs = fetch_v4(c, 'ar', 0, 0, 1 << 20)
        tap.ok(err == 0 and hwm == 3 and batch_spans(recs) and batch_spans(recs)[0][:2] == (0, 2),
               'acks=0: the records were written (high watermark 3)', (err, hwm, batch_spans(recs)))
        # A failing acks=0 produce (an unknown partition) closes the connection.
        bad = Conn(b.port)
        send_raw(bad, 0, 3, produce_body('ar', 7, batch([(b'k', b'v')]), 0))
        send_raw(bad, 18, 0, W())
        closed = False
        bad.s.settimeout(5)
        try:
            closed = bad.s.recv(4096) == b''
        except (ConnectionResetError, OSError):
            closed = True
        bad.close()
        tap.ok(closed, 'acks=0 to an unknown partition: the connection is closed, nothing answered')

        # max.message.bytes of the topic (2000).
        err, _, _ = produce_on(c, 'small', 0, batch([(b'k', b'x' * 3000)]))
        tap.ok(err == MESSAGE_TOO_LARGE, 'a batch over max.message.bytes is MESSAGE_TOO_LARGE (10)', err)
        err, base, _ = produce_on(c, 'small', 0, batch([(b'k', b'x' * 1000)]))
        tap.ok(err == 0 and base == 0, 'a batch under it is appended', (err, base))

        # ProduceRequest.validateRecords (topic 'small', 1 record so far).
        got = [produce_v(c, 3, 'small', 0, recs) for recs in
               (b'', legacy_set([(b'k', b'old')]), batch([(b'k', b'a')]) + batch([(b'k', b'b')]))]
        tap.ok([e for e, _ in got] == [INVALID_RECORD] * 3,
               'Produce of no batch, of a magic 1 message set, of two batches: INVALID_RECORD each', got)
        z = zstd_batch([(b'k', b'zstd-%d' % i) for i in range(3)])
        got = [produce_v(c, v, 'small', 0, z) for v in (6, 7)]
        tap.ok(got == [(UNSUPPORTED_COMPRESSION_TYPE, -1), (0, 1)],
               'a zstd batch: UNSUPPORTED_COMPRESSION_TYPE in Produce v6, appended in v7', got)

        # Fetch inside a batch: the batch from its base offset, whole.
        err, base, _ = produce_on(c, 'ar', 1, batch([(b'k', b'five-%d' % i) for i in range(5)]))
        err2, base2, _ = produce_on(c, 'ar', 1, batch([(b'k', b'next-%d' % i) for i in range(2)]))
        tap.ok((err, base, err2, base2) == (0, 0, 0, 5), 'two batches of 5 and 2 records', (err, base, err2, base2))
        err, hwm, recs = fetch_v4(c, 'ar', 1, 3, 1 << 20)
        bs = batch_spans(recs)
        tap.ok(err == 0 and [x[:2] for x in bs] == [(0, 4), (5, 6)] and sum(x[2] for x in bs) == len(recs),
               'Fetch at offset 3: the batch holding it comes back whole from offset 0, then the next', (err, bs))
        err, hwm, recs = fetch_v4(c, 'ar', 1, 3, 10)
        bs = batch_spans(recs)
        tap.ok(err == 0 and [x[:2] for x in bs] == [(0, 4)] and bs[0][2] == len(recs),
               'partition_max_bytes 10: the first batch still comes back whole, and only it', (err, bs))

        # Fetch min_bytes: two small appends (about 80 bytes each) while a fetch of min_bytes 2000
        # waits; it is answered at its max wait (3 s) with both, not at the first append.
        def produce_later(steps):
            def run():
                pc = Conn(b.port)
                for delay, recs in steps:
                    time.sleep(delay)
                    produce_on(pc, 'mb', 0, batch(recs))
                pc.close()
            th = threading.Thread(target=run)
            th.start()
            return th
        th = produce_later([(0.3, [(b'k', b'small-1')]), (0.3, [(b'k', b'small-2')])])
        t0 = time.time()
        err, hwm, recs = fetch_v4(c, 'mb', 0, 0, 1 << 20, wait=3000, min_bytes=2000)
        waited = time.time() - t0
        th.join()
        tap.ok(err == 0 and waited >= 2.9 and [x[:2] for x in batch_spans(recs)] == [(0, 0), (1, 1)],
               'Fetch min_bytes 2000, max wait 3 s: small appends do not end the wait; answered at the max wait '
               'with both (%.1f s)' % waited, (err, hwm, batch_spans(recs)))
        # A small append, then one that brings the total past min_bytes: answered then, with both.
        th = produce_later([(0.3, [(b'k', b'small-3')]), (0.5, [(b'k', b'x' * 3000)])])
        t0 = time.time()
        err, hwm, recs = fetch_v4(c, 'mb', 0, 2, 1 << 20, wait=20000, min_bytes=2000)
        waited = time.time() - t0
        th.join()
        tap.ok(err == 0 and 0.7 <= waited < 10 and [x[:2] for x in batch_spans(recs)] == [(2, 2), (3, 3)],
               'appends that reach min_bytes end the wait at once (%.1f s of 20 s), both batches answered' % waited,
               (err, hwm, batch_spans(recs)))
        err, hwm, recs = fetch_v4(c, 'mb', 0, 5, 1 << 20)
        tap.ok((err, hwm, recs) == (OFFSET_OUT_OF_RANGE, -1, b''), 'Fetch past the log end (5 of 4): OFFSET_OUT_OF_RANGE, '
               'without offsets (high watermark -1), as Kafka answers',
               (err, hwm, len(recs)))

        # ListOffsets MAX_TIMESTAMP: the record with the largest timestamp is inside a batch.
        now = int(time.time() * 1000)
        err, base, _ = produce_on(c, 'ar', 0, ts_batch([(b'a', now - 500), (b'b', now + 900), (b'c', now - 100)]))
        err2, base2, _ = produce_on(c, 'ar', 0, ts_batch([(b'd', now), (b'e', now + 10)]))
        tap.ok((err, base, err2, base2) == (0, 3, 0, 6), 'batches with timestamps written at offsets 3 and 6',
               (err, base, err2, base2))
        got = list_offsets_on(c, 7, 'ar', 0, -3)
        tap.ok(got == (0, now + 900, 4), 'ListOffsets MAX_TIMESTAMP: the offset of the record with the largest timestamp '
               '(4, inside the batch at 3)', got)
        err, base, _ = produce_on(c, 'ar', 2, ts_batch([(b'x', now + 5)] * 3))
        err2, base2, _ = produce_on(c, 'ar', 2, ts_batch([(b'y', now + 5)] * 2))
        got = list_offsets_on(c, 7, 'ar', 2, -3)
        tap.ok((err, base, err2, base2) == (0, 0, 0, 3) and got == (0, now + 5, 0),
               'MAX_TIMESTAMP when several records carry it: the first of them (offset 0, not the last batch)', got)
        got = list_offsets_on(c, 7, 'ar', 1, -3)
        tap.ok(got[0] == 0 and 0 <= got[2] <= 6 and got[1] > 0, 'MAX_TIMESTAMP of records stamped by the client', got)
        # A partition named twice, also through its topic named twice, is INVALID_REQUEST at every
        # occurrence (KafkaApis: duplicatePartitions), an unknown one too; the others are answered.
        got = list_offsets_v7_many(c, [('ar', [0, 2, 0, 9, 9]), ('ar', [1, 2]), ('nope', [0])])
        want = [('ar', [(0, INVALID_REQUEST, -1), (2, INVALID_REQUEST, -1), (0, INVALID_REQUEST, -1),
                        (9, INVALID_REQUEST, -1), (9, INVALID_REQUEST, -1)]),
                ('ar', [(1, 0, list_offsets_on(c, 7, 'ar', 1, -1)[2]), (2, INVALID_REQUEST, -1)]),
                ('nope', [(0, UNKNOWN_TOPIC_OR_PARTITION, -1)])]
        tap.ok(got == want, 'ListOffsets naming ar-0, ar-2 and ar-9 twice: INVALID_REQUEST at each, ar-1 answered', got)
        c2 = Conn(b.port)
        admin.create_topics([NewTopic('empty', 1, 1)])
        tap.ok(list_offsets_on(c2, 7, 'empty', 0, -3) == (0, -1, -1), 'MAX_TIMESTAMP of an empty partition: -1, -1')
        c2.close()

        # CreateTopics: validate_only, replication factor.
        admin.create_topics([NewTopic('vo', 3, 1)], validate_only=True)
        md = metadata_v4_on(c, ['vo'], False)
        tap.ok(md.get('vo', (None,))[0] == UNKNOWN_TOPIC_OR_PARTITION, 'validate_only creates nothing', md)
        err = None
        try:
            admin.create_topics([NewTopic('rf3', 1, 3)])
        except InvalidReplicationFactorError as e:
            err = e
        tap.ok(err is not None and 'rf3' not in admin.list_topics(), 'replication factor 3: INVALID_REPLICATION_FACTOR')
        tap.ok('Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached '
               'because only 1 broker(s) are registered.' in str(err), 'with Kafka\'s message', err)
        err = None
        try:
            admin.create_topics([NewTopic('p0', 0, 1)])
        except InvalidPartitionsError as e:
            err = e
        tap.ok(err is not None and 'Number of partitions was set to an invalid non-positive value.' in str(err),
               '0 partitions: INVALID_PARTITIONS with Kafka\'s message', err)

        # A name given more than once: INVALID_REQUEST at every occurrence, the others handled as
        # usual, answers in the request's order.  5,000 names with 52 of them repeated (one three
        # times), shuffled: the broker sorts the names rather than comparing every pair.  (Many
        # more short names than that fill the request's arena, whose bound is 1 MiB + 4 x the
        # frame: the answer is then an empty list.)
        names = ['many%05d' % i for i in range(5000)]
        dups = set(names[::97])
        req = [(n, 1) for n in names] + [(n, 2) for n in dups] + [(names[0], 3)]
        random.Random(4).shuffle(req)
        got = create_topics_on(c, req, validate_only=True)
        want = [(n, INVALID_REQUEST if n in dups else 0) for n, _ in req]
        tap.ok(got is not None and [(n, e) for n, e, _ in got] == want,
               'CreateTopics of 5,000 names, 52 repeated: INVALID_REQUEST at each of their %d occurrences, the '
               'others validated' % sum(1 for n, _ in req if n in dups),
               None if got is None else (len(got), len(want), [(x, y) for x, y in zip(got, want) if x[:2] != y][:5]))
        tap.ok(got is not None and all(m for n, e, m in got if n in dups),
               'each refused occurrence says why', None if got is None else got[:3])
        md = metadata_v4_on(c, [names[1], names[0]], False)
        tap.ok(all(v[0] == UNKNOWN_TOPIC_OR_PARTITION for v in md.values()) and len(md) == 2,
               'validate_only: none of them was created', md)
        got = create_topics_on(c, [('dupa', 1), ('dupb', 2), ('dupa', 1)])
        md = metadata_v4_on(c, ['dupa', 'dupb'], False)
        tap.ok([x[:2] for x in (got or [])] == [('dupa', INVALID_REQUEST), ('dupb', 0), ('dupa', INVALID_REQUEST)]
               and md.get('dupa', (None,))[0] == UNKNOWN_TOPIC_OR_PARTITION and md.get('dupb') == (0, [0, 1], False),
               'CreateTopics: the repeated name is not created, the other one is', (got, md))
        got = create_partitions_on(c, [('dupb', 3), ('ar', 4), ('dupb', 4)], validate_only=True)
        tap.ok([x[:2] for x in (got or [])] == [('dupb', INVALID_REQUEST), ('ar', 0), ('dupb', INVALID_REQUEST)],
               'CreatePartitions: INVALID_REQUEST at every occurrence of a repeated topic', got)

        # Metadata and auto-creation (disabled on this broker).
        md = metadata_v4_on(c, ['nosuch'], True)
        tap.ok(md.get('nosuch', (None,))[0] == UNKNOWN_TOPIC_OR_PARTITION and 'nosuch' not in admin.list_topics(),
               'auto.create.topics.enable=false: an unknown topic is UNKNOWN_TOPIC_OR_PARTITION and not created', md)

        # DescribeConfigs sources.
        err, cfg = describe_configs_v1(c, 2, 'small')
        tap.ok(err == 0 and cfg.get('max.message.bytes', (None,))[:2] == ('2000', SRC_TOPIC),
               'DescribeConfigs: a topic override is DYNAMIC_TOPIC_CONFIG', cfg.get('max.message.bytes'))
        tap.ok(cfg.get('retention.ms', (None,))[:2] == (str(5 * 3600000), SRC_STATIC_BROKER),
               'a topic config whose broker default was given at start (log.retention.ms) is STATIC_BROKER_CONFIG',
               cfg.get('retention.ms'))
        tap.ok(cfg.get('segment.bytes', (None,))[:2] == (str(1 << 30), SRC_DEFAULT),
               'a topic config left at Kafka\'s default is DEFAULT_CONFIG', cfg.get('segment.bytes'))
        err, bcfg = describe_configs_v1(c, 4, '0')
        tap.ok(err == 0 and bcfg.get('auto.create.topics.enable', (None,))[:2] == ('false', SRC_STATIC_BROKER)
               and bcfg.get('log.dirs', (None, None))[1] == SRC_STATIC_BROKER,
               'broker keys given at start are STATIC_BROKER_CONFIG', (bcfg.get('auto.create.topics.enable'), bcfg.get('log.dirs')))
        tap.ok(bcfg.get('log.segment.bytes', (None,))[:2] == (str(1 << 30), SRC_DEFAULT)
               and bcfg.get('message.max.bytes', (None, None))[1] == SRC_DEFAULT,
               'broker keys left at their defaults are DEFAULT_CONFIG', (bcfg.get('log.segment.bytes'), bcfg.get('message.max.bytes')))

        # DeleteTopics by id.
        tid = topic_id(c, 'small')
        tap.ok(tid is not None and tid != bytes(16), 'Metadata v12 gives the topic id', tid)
        got = delete_topics_v6(c, tid=tid)
        tap.ok(got == ('small', tid, 0), 'DeleteTopics v6 by id deletes the topic and names it', got)
        tap.ok('small' not in admin.list_topics(), 'the topic is gone')
        got = delete_topics_v6(c, tid=tid)
        tap.ok(got[2] == UNKNOWN_TOPIC_ID, 'deleting the id again: UNKNOWN_TOPIC_ID (100)', got)
        # A name or id given twice: answered once, INVALID_REQUEST with Kafka's message, and not
        # deleted; the other entries are handled (Kafka's ControllerApis.deleteTopics).
        got = create_topics_on(c, [('dd1', 1), ('dd2', 1)])
        tap.ok([e for _, e, _ in got] == [0, 0], 'topics dd1, dd2 created', got)
        tid2, gone = topic_id(c, 'dd2'), bytes(range(1, 17))
        got = delete_topics_v6_many(c, [('dd1', None), ('dd1', None), ('dd2', None), (None, gone), ('dd1', None),
                                        (None, gone)])
        want = [('dd1', bytes(16), INVALID_REQUEST, 'Duplicate topic name.'), ('dd2', tid2, 0, None),
                (None, gone, INVALID_REQUEST, 'Duplicate topic id.')]
        tap.ok(sorted(got, key=repr) == sorted(want, key=repr),
               'DeleteTopics v6 naming dd1 three times and an id twice: each duplicate answered once '
               '(INVALID_REQUEST), dd2 deleted', got)
        got = delete_topics_v1(c, ['dd1', 'dd1'])
        tap.ok(got == [('dd1', INVALID_REQUEST)], 'DeleteTopics v1 naming dd1 twice: one INVALID_REQUEST', got)
        names = admin.list_topics()
        tap.ok('dd1' in names and 'dd2' not in names, 'dd1 is still there, dd2 is gone', names)
        # Internal topics take records only from ringtail-control (Kafka's ReplicaManager: only
        # its coordinators append there); a name that merely starts with "__" is an ordinary topic.
        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id='ar-group', enable_auto_commit=False)
        cons.commit({TopicPartition('ar', 0): OffsetAndMetadata(5, '')})
        err, base, _ = produce_on(c, '__consumer_offsets', 0, batch([(b'k', b'not group state')]))
        tap.ok(err == INVALID_TOPIC_EXCEPTION, 'a client\'s Produce to __consumer_offsets: INVALID_TOPIC_EXCEPTION (17)',
               (err, base))
        tap.ok(cons.committed(TopicPartition('ar', 0)) == 5, 'the group\'s committed offset is still read back')
        cons.close()
        admin.create_topics([NewTopic('__mine', 1, 1)])
        err, base, _ = produce_on(c, '__mine', 0, batch([(b'k', b'v')]))
        md = metadata_v4_on(c, ['__mine', '__consumer_offsets'], False)
        tap.ok(err == 0 and md.get('__mine') == (0, [0], False) and md.get('__consumer_offsets', (0, 0, False))[2],
               'a topic named __mine is an ordinary one; __consumer_offsets is internal', (err, md))
        admin.close()

        # SIGTERM: no new connections; a long-polling fetch in flight is answered; exit 0.
        body = W().i32(-1).i32(30000).i32(1).i32(1 << 20).i8(0).i32(1).str('ar').i32(1).i32(1).i64(7).i32(1 << 20)
        corr = send_raw(c, 1, 4, body)
        time.sleep(0.3)
        t0 = time.time()
        b.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = False
        try:
            socket.create_connection(('127.0.0.1', b.port), timeout=2).close()
        except OSError:
            refused = True
        tap.ok(refused, 'after SIGTERM the broker accepts no new connection')
        try:
            r = read_frame(c)
            answered = r.i32() == corr
        except (ConnectionError, OSError):
            answered = False
        waited = time.time() - t0
        # Its max wait is 30 s; the drain ends it at once (a loaded machine gets 15 s of slack).
        tap.ok(answered and waited < 15, 'the fetch waiting (max wait 30 s) when SIGTERM came is answered '
               'when the drain starts, not at its max wait (%.1f s)' % waited)
        c.close()
        tap.ok(b.proc.wait(30) == 0, 'SIGTERM: exit status 0', b.log())


run_tap(main)
