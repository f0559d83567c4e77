#!/usr/bin/python3
"""
tests/interop/test_produce_timeout.py: Produce timeout_ms against the real broker.  With acks=-1
a partition whose append is not durable when timeout_ms expires is answered REQUEST_TIMED_OUT,
as Kafka's DelayedProduce answers; the append itself goes on and its record stays in the log
(as in Kafka, where a retry may then duplicate it).  The broker runs one shard so that the
timeout is deterministic: with timeout_ms=0 the timer is due before the shard even submits the
write.  acks=1 ignores timeout_ms, as in Kafka; a timed-out request held by its appends neither
breaks the connection nor the shutdown.
Usage: test_produce_timeout.py <path to ringtail>
"""
import struct
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.record.default_records import DefaultRecordBatchBuilder

from kwire import Conn, R, W
from rtbroker import Broker, run_tap

REQUEST_TIMED_OUT, UNKNOWN_TOPIC_OR_PARTITION = 7, 3


def batch(value):
    b = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    b.append(0, int(time.time() * 1000), None, value, [])
    return bytes(b.build())


def produce_body(acks, timeout, parts):
    """Produce v8: parts = [(topic, partition, value)], one topic entry per item."""
    w = W().i16(-1).i16(acks).i32(timeout).i32(len(parts))
    for t, p, v in parts:
        rec = batch(v)
        w.str(t).i32(1).i32(p).i32(len(rec)).raw(rec)
    return w


def read_produce(r):
    out = {}
    for _ in range(r.i32()):
        t = r.str()
        for _ in range(r.i32()):
            p, err, base = r.i32(), r.i16(), r.i64()
            r.i64()
            r.i64()
            r.arr(lambda r: (r.i32(), r.str()))
            r.str()
            out[(t, p)] = (err, base)
    r.i32()
    return out


def produce(c, acks, timeout, parts):
    return read_produce(c.call(0, 8, produce_body(acks, timeout, parts), False))


def main(tap):
    b = Broker(sys.argv[1], {'ringtail.shards': '1'})
    with b:
        KafkaAdminClient(bootstrap_servers=b.bootstrap).create_topics([NewTopic('pt', 2, 1)])
        c = Conn(b.port)
        out = produce(c, -1, 0, [('pt', 0, b'late')])
        tap.ok(out == {('pt', 0): (REQUEST_TIMED_OUT, -1)},
               'acks=-1 with timeout_ms=0: REQUEST_TIMED_OUT (the fdatasync had not come)', out)
        out = produce(c, -1, 30000, [('pt', 0, b'ontime')])
        tap.ok(out == {('pt', 0): (0, 1)},
               'the connection goes on; a 30 s timeout is met; the timed-out record took offset 0', out)
        out = produce(c, -1, 0, [('pt', 1, b'x'), ('pt', 7, b'y')])
        tap.ok(out == {('pt', 1): (REQUEST_TIMED_OUT, -1), ('pt', 7): (UNKNOWN_TOPIC_OR_PARTITION, -1)},
               'per partition: the unknown one keeps its own error', out)
        out = produce(c, 1, 0, [('pt', 1, b'acks1')])
        tap.ok(out == {('pt', 1): (0, 1)}, 'acks=1 ignores timeout_ms, as in Kafka', out)

        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, consumer_timeout_ms=5000)
        tp = TopicPartition('pt', 0)
        cons.assign([tp])
        cons.seek(tp, 0)
        vals = [m.value for m in cons]
        cons.close()
        tap.ok(vals == [b'late', b'ontime'], 'the timed-out record is in the log, as Kafka keeps it', vals)

        # Many timed-out requests pipelined, then SIGTERM while their appends may still run.
        frames = b''
        for i in range(5):
            body = produce_body(-1, 0, [('pt', 0, b'p%d' % i), ('pt', 1, b'q%d' % i)])
            h = W().i16(0).i16(8).i32(1000 + i).str('kwire')
            msg = bytes(h.b) + bytes(body.b)
            frames += struct.pack('>i', len(msg)) + msg
        c.s.sendall(frames)
        errs = []
        for i in range(5):
            n = struct.unpack('>i', c._read(4))[0]
            r = R(c._read(n))
            r.i32()
            errs.append(sorted(e for e, _ in read_produce(r).values()))
        tap.ok(errs == [[REQUEST_TIMED_OUT, REQUEST_TIMED_OUT]] * 5,
               'pipelined timed-out requests are each answered, in order', errs)
        c.close()
        rc = b.stop()
        tap.ok(rc == 0, 'SIGTERM with held requests: clean exit', (rc, b.log()[-2000:]))
        b2 = Broker(sys.argv[1], {'ringtail.shards': '1'}, data_dir=b.data_dir, port=b.port)
        with b2:
            cons = KafkaConsumer(bootstrap_servers=b2.bootstrap, group_id=None, consumer_timeout_ms=5000)
            cons.assign([TopicPartition('pt', 0), TopicPartition('pt', 1)])
            cons.seek_to_beginning()
            n = sum(1 for _ in cons)
            cons.close()
            tap.ok(n == 2 + 2 + 10, 'after the restart every appended record is there', n)


if __name__ == '__main__':
    run_tap(main)
