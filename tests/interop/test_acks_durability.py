#!/usr/bin/python3
"""
tests/interop/test_acks_durability.py: acks=-1 is acknowledged only once an fdatasync covers the
batch (ARCHITECTURE.md's durability rule, dataplane/handlers/produce.c asking storage for a
durable append), against the real broker.  RINGTAIL_FAULT (dataplane/shard.h's test hook) makes
every group-commit fdatasync of every shard fail with EIO: an acks=1 produce, which needs no
fdatasync, is still acknowledged, while an acks=-1 produce gets KAFKA_STORAGE_ERROR (its
partition goes offline, as Kafka takes a log directory offline on an IOException) and is never
answered as a success, on the wire (exact per-partition codes) or to confluent-kafka's producer;
the broker goes on answering ApiVersions and Metadata.  A control run without the variable: the
same acks=-1 produce succeeds.  A malformed RINGTAIL_FAULT stops the start, naming it.
Usage: test_acks_durability.py <path to ringtail>
"""
import os
import sys

import confluent_kafka

import kwire
from kwire import Conn, W
from rtbroker import Broker, run_tap

KAFKA_STORAGE_ERROR = 56
# storage/fault.h: point 2 is STOR_FAULT_FSYNC (an fdatasync of a group commit); skip none, then
# fail the next million of them on each shard with -5 (-EIO).
FSYNC_EIO = '2:0:-5:1000000'


def api_versions_error(c):
    """ApiVersions v0 on connection c: its error code."""
    r = c.call(18, 0, W(), False)
    return r.i16()


def create(c, topic, partitions):
    out = kwire.create_topics_on(c, [(topic, partitions)])
    return out == [(topic, 0, None)], out


def confluent_delivery(port, topic, partition, acks):
    """One record from confluent-kafka's producer with `acks`, no retries past 8 s: the delivery
    report's error (None for success)."""
    p = confluent_kafka.Producer({'bootstrap.servers': '127.0.0.1:%d' % port, 'acks': acks,
                                  'message.timeout.ms': 8000, 'enable.idempotence': False,
                                  'retry.backoff.ms': 200})
    got = []
    p.produce(topic, b'confluent-%s' % str(acks).encode(), partition=partition,
              on_delivery=lambda err, msg: got.append(err))
    left = p.flush(20)
    return got[0] if got else 'no delivery report (%d left)' % left


def with_env(value, fn):
    """fn() with RINGTAIL_FAULT set to value in the environment the brokers it starts inherit."""
    os.environ['RINGTAIL_FAULT'] = value
    try:
        return fn()
    finally:
        del os.environ['RINGTAIL_FAULT']


def fault_run(tap, exe, rec):
    """The checks against a broker whose group-commit fdatasyncs all fail."""
    with Broker(exe) as b:
        tap.ok('RINGTAIL_FAULT=%s: test hook' % FSYNC_EIO in b.log(), 'the broker says the hook is on',
               b.log()[-2000:])
        c = Conn(b.port)
        ok, out = create(c, 'ad', 4)
        tap.ok(ok, 'fault: topic created', out)
        out = kwire.produce_on(c, 'ad', 0, rec, acks=1)[:2]
        tap.ok(out == (0, 0), 'fault: acks=1 produce acknowledged (no fdatasync needed)', out)
        out = kwire.produce_on(c, 'ad', 1, rec, acks=-1)[:2]
        tap.ok(out == (KAFKA_STORAGE_ERROR, -1),
               'fault: acks=-1 produce is KAFKA_STORAGE_ERROR, not acknowledged', (out, b.log()[-600:]))
        out = kwire.produce_on(c, 'ad', 1, rec, acks=-1)[:2]
        tap.ok(out == (KAFKA_STORAGE_ERROR, -1), 'fault: the partition stays failed for the next acks=-1', out)
        tap.ok(api_versions_error(c) == 0, 'fault: ApiVersions still answered on the same connection')
        md = kwire.metadata_v4(b.port, ['ad'], False)
        tap.ok(md.get('ad', (None, []))[:2] == (0, [0, 1, 2, 3]), 'fault: Metadata still answered', md)
        c.close()

        # A real client: confluent-kafka's producer never sees an acks=all delivery succeed.
        err = confluent_delivery(b.port, 'ad', 3, 'all')
        tap.ok(err is not None, 'fault: confluent-kafka acks=all delivery fails', err)
        err = confluent_delivery(b.port, 'ad', 2, 1)
        tap.ok(err is None, 'fault: confluent-kafka acks=1 delivery succeeds', err)
        c = Conn(b.port)
        tap.ok(api_versions_error(c) == 0, 'fault: ApiVersions still answered on a new connection')
        c.close()
        tap.ok(b.alive(), 'fault: the broker is still running')


def main(tap):
    exe = sys.argv[1]
    rec = kwire.batch([(b'k', b'durable')])

    # Control: no fault, acks=-1 is acknowledged.
    with Broker(exe) as b:
        c = Conn(b.port)
        ok, out = create(c, 'ad', 2)
        tap.ok(ok, 'control: topic created', out)
        out = kwire.produce_on(c, 'ad', 0, rec, acks=-1)[:2]
        tap.ok(out == (0, 0), 'control: acks=-1 produce acknowledged at offset 0', out)
        out = kwire.produce_on(c, 'ad', 1, rec, acks=1)[:2]
        tap.ok(out == (0, 0), 'control: acks=1 produce acknowledged at offset 0', out)
        c.close()

    # Every group-commit fdatasync fails with EIO.
    with_env(FSYNC_EIO, lambda: fault_run(tap, exe, rec))

    # A malformed value stops the start with a message naming the variable and the format.
    bad = Broker(exe)
    try:
        with_env('fsync:EIO', lambda: bad.start(timeout=10))
        tap.ok(False, 'a malformed RINGTAIL_FAULT stops the start', bad.log()[-2000:])
    except RuntimeError as e:
        tap.ok("RINGTAIL_FAULT='fsync:EIO': expected POINT:SKIP:RES:COUNT" in str(e),
               'a malformed RINGTAIL_FAULT stops the start, naming the variable, value and format', e)
    finally:
        bad.close()


if __name__ == '__main__':
    run_tap(main)
