#!/usr/bin/python3
"""
tests/interop/test_idempotent_wire.py: the owner shard's sequence checks for idempotent
producers, driven with Produce requests whose batches carry a producer id, epoch and sequence
(built by kafka-python's record batch builder), against the real broker: a retried batch is
acknowledged with its original offset and written once, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER,
an older epoch INVALID_PRODUCER_EPOCH, a new epoch must start at sequence 0; and all of it holds
across SIGKILL (log replay) and SIGTERM (producer snapshot) restarts.
Usage: test_idempotent_wire.py <path to ringtail>
"""
import glob
import os
import shutil
import signal
import sys
import tempfile
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

import kwire
from rtbroker import Broker, free_port, run_tap

TOPIC = 'idem'
ROLL = 'idem-roll'
PID = 4242
OUT_OF_ORDER = 45
INVALID_EPOCH = 47


def batch(epoch, seq, n, tag):
    return kwire.batch([(None, ('%s-%d' % (tag, i)).encode()) for i in range(n)], PID, epoch, seq)


def produce(port, records, acks=-1, topic=TOPIC):
    """Produce v3; returns (error code, base offset) of the one partition.  A connection the
    broker drops while it starts up is retried, as clients do."""
    deadline = time.time() + 15
    while True:
        try:
            return kwire.produce(port, topic, 0, records, acks=acks)
        except (ConnectionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def describe_producers(port, partition):
    """DescribeProducers v0 of TOPIC: (error code, [(pid, epoch, last seq, txn start)])."""
    err, prods = kwire.describe_producers(port, TOPIC, partition)
    return err, [(p[0], p[1], p[2], p[5]) for p in prods]


def values(bootstrap):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=3000)
    tp = TopicPartition(TOPIC, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    out = [(m.offset, m.value.decode()) for m in c]
    c.close()
    return out


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-idem-')
    port = free_port()
    try:
        b = Broker(sys.argv[1], data_dir=data, port=port)
        with b:
            admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
            admin.create_topics([NewTopic(TOPIC, 1, 1),
                                 NewTopic(ROLL, 1, 1, topic_configs={'segment.bytes': '300'})])
            admin.close()
            # a segment per batch or so: a producer snapshot at every roll (Kafka's rule)
            res = [produce(port, batch(0, i * 2, 2, 'r%d' % i), topic=ROLL) for i in range(6)]
            tap.ok(res == [(0, i * 2) for i in range(6)], 'roll topic: six batches in sequence', res)
            rdir = os.path.join(data, 'data', ROLL + '-0')
            # The shard's file worker writes a roll's snapshot after the roll (pstate_snap.c), so
            # it may land after the produce is answered: wait for it a while.
            deadline = time.time() + 10
            while True:
                snaps = sorted(os.path.basename(f) for f in glob.glob(os.path.join(rdir, '*.snapshot')))
                logs = sorted(os.path.basename(f) for f in glob.glob(os.path.join(rdir, '*.log')))
                if [l.replace('.log', '.snapshot') for l in logs[1:]] == snaps or time.time() > deadline:
                    break
                time.sleep(0.05)
            tap.ok(len(logs) > 1 and [l.replace('.log', '.snapshot') for l in logs[1:]] == snaps,
                   'a producer snapshot at each roll, named by the new segment', (logs, snaps))
            a = batch(0, 0, 3, 'a')
            tap.ok(produce(port, a) == (0, 0), 'first batch of a new producer at offset 0')
            tap.ok(produce(port, a) == (0, 0), 'its retry is acknowledged with the original offset')
            tap.ok(produce(port, batch(0, 3, 2, 'b')) == (0, 3), 'the next sequence follows')
            tap.ok(produce(port, batch(0, 9, 1, 'x'))[0] == OUT_OF_ORDER, 'a gap is OUT_OF_ORDER_SEQUENCE_NUMBER')
            tap.ok(produce(port, batch(1, 4, 1, 'x'))[0] == OUT_OF_ORDER,
                   'a new epoch not starting at 0 is OUT_OF_ORDER_SEQUENCE_NUMBER')
            c = batch(1, 0, 1, 'c')
            tap.ok(produce(port, c) == (0, 5), 'a new epoch starts at sequence 0')
            tap.ok(produce(port, batch(0, 5, 1, 'x'))[0] == INVALID_EPOCH,
                   'the older epoch is INVALID_PRODUCER_EPOCH')
            d = describe_producers(port, 0)
            tap.ok(d == (0, [(PID, 1, 0, -1)]), 'DescribeProducers shows the producer, its epoch and last sequence', d)
            tap.ok(describe_producers(port, 7)[0] == 3, 'DescribeProducers of a missing partition: UNKNOWN_TOPIC_OR_PARTITION')
            b.stop(signal.SIGKILL)
        with Broker(sys.argv[1], data_dir=data, port=port) as b:
            tap.ok(produce(port, c) == (0, 5), 'after SIGKILL the last batch is still a duplicate (log replay)')
            d = batch(1, 1, 2, 'd')
            tap.ok(produce(port, d) == (0, 6), 'after SIGKILL the producer continues in sequence')
            tap.ok(produce(port, batch(1, 9, 1, 'x'))[0] == OUT_OF_ORDER, 'after SIGKILL a gap is still refused')
            tap.ok(produce(port, batch(0, 10, 2, 'r5'), topic=ROLL) == (0, 10),
                   'roll topic after SIGKILL: the last batch is a duplicate (snapshot at the last roll + tail)')
            tap.ok(produce(port, batch(0, 12, 1, 'r6'), topic=ROLL) == (0, 12),
                   'roll topic after SIGKILL: the next sequence follows')
            tap.ok(b.stop(signal.SIGTERM) == 0, 'SIGTERM stops the broker cleanly')
        snaps = glob.glob(os.path.join(data, 'data', TOPIC + '-0', '*.snapshot'))
        tap.ok(len(snaps) == 1 and os.path.basename(snaps[0]) == '%020d.snapshot' % 8,
               'a clean stop leaves one producer snapshot at the log end', snaps)
        with Broker(sys.argv[1], data_dir=data, port=port) as b:
            tap.ok(produce(port, d) == (0, 6), 'after SIGTERM the retry is a duplicate (snapshot)')
            tap.ok(produce(port, batch(1, 3, 1, 'e'), acks=1) == (0, 8), 'and the next batch follows')
            got = values(b.bootstrap)
            want = [(0, 'a-0'), (1, 'a-1'), (2, 'a-2'), (3, 'b-0'), (4, 'b-1'), (5, 'c-0'),
                    (6, 'd-0'), (7, 'd-1'), (8, 'e-0')]
            tap.ok(got == want, 'the log holds every batch exactly once, in order', got)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
