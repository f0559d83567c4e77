#!/usr/bin/python3
"""
tests/interop/test_compaction_txn.py: the log cleaner and transactions with a real client
(librdkafka through confluent-kafka-python).  A transactional producer writes 30 transactions of
10 keys each on a compacted topic with 4 KiB segments, delete.retention.ms 1 s and
min.cleanable.dirty.ratio 0.01; every third one is aborted.  Unique filler keeps the log dirty
(so the cleaner comes back) and pushes the transactions out of the active segment; the broker is
SIGKILLed at random moments while cleanings run, until one kill caught a cleaning midway.  Then, as with Kafka's LogCleaner:
a read_uncommitted consumer sees no record of an aborted transaction (the cleaner removed them),
a read_committed one sees the newest committed value of each key at its original offset, and the
ABORT markers, once their data was gone, got a delete horizon and were removed after it (read
from the segment files).
Usage: test_compaction_txn.py <path to ringtail>
"""
import os
import random
import signal
import struct
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kclient import read_to_end
from kwire import log_batches
from rtbroker import Broker, run_tap

TOPIC = 'ctxn'
KEYS = 10
TXNS = 30


def aborted(i):
    return i % 3 == 1


def transactions(bootstrap):
    """Writes TXNS transactions; returns {key: value} of the newest committed write per key."""
    p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'ctxn-writer',
                  'linger.ms': 0, 'message.timeout.ms': 20000})
    p.init_transactions(20)
    newest = {}
    for i in range(TXNS):
        p.begin_transaction()
        for k in range(KEYS):
            v = b'%s-%d-%d' % (b'aborted' if aborted(i) else b'committed', i, k)
            p.produce(TOPIC, key=b'key-%d' % k, value=v)
            if not aborted(i):
                newest[b'key-%d' % k] = v
        p.flush(20)
        if aborted(i):
            p.abort_transaction(20)
        else:
            p.commit_transaction(20)
    return newest


def filler(bootstrap, start, n):
    p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 0, 'batch.num.messages': 5,
                  'message.timeout.ms': 20000})
    errors = []
    for i in range(start, start + n):
        p.produce(TOPIC, key=b'filler-%d' % i, value=b'f' * 100,
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    p.flush(30)
    if errors:
        raise RuntimeError('delivery failed: %s' % errors[:3])


def read_all(bootstrap, isolation):
    """Every record of partition 0 up to the end: [(offset, key, value)], and the end."""
    got, ends = read_to_end(bootstrap, TOPIC, [0], timeout=20,
                            **{'group.id': 'ctxn-' + isolation, 'isolation.level': isolation})
    return [(m.offset(), m.key(), m.value()) for m in got[0]], ends[0]


def markers_on_disk(b):
    """(ABORT, COMMIT) control batches in the partition's segment files, and the horizons seen."""
    counts, horizons = [0, 0], 0
    for data, pos, attrs, _, count in log_batches(os.path.join(b.data_dir, 'data', TOPIC + '-0')):
        if attrs & 0x40:
            horizons += 1
        if attrs & 0x20 and count > 0 and not attrs & 0x07:
            # The one control record: varint length, attributes, varlong timestamp delta,
            # varint offset delta, varint key length, then the key (int16 version, int16 type).
            p = pos + 61
            p = skip_varint(data, p)
            p += 1
            p = skip_varint(data, p)
            p = skip_varint(data, p)
            p = skip_varint(data, p)
            ctype = struct.unpack_from('>h', data, p + 2)[0]
            if ctype in (0, 1):
                counts[ctype] += 1
    return counts[0], counts[1], horizons


def skip_varint(data, p):
    while data[p] & 0x80:
        p += 1
    return p + 1


def main(tap):
    overrides = {'log.cleaner.backoff.ms': '100'}
    with Broker(sys.argv[1], overrides=overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        # min.compaction.lag.ms holds the cleaner off until the markers were counted.
        conf = {'cleanup.policy': 'compact', 'segment.bytes': '4096', 'min.cleanable.dirty.ratio': '0.01',
                'delete.retention.ms': '1000', 'min.compaction.lag.ms': '3600000'}
        admin.create_topics([NewTopic(TOPIC, 1, 1, config=conf)])[TOPIC].result(10)
        newest = transactions(b.bootstrap)
        n = 0
        filler(b.bootstrap, n, 1500)
        n += 1500
        ab0, cm0, _ = markers_on_disk(b)
        tap.ok(ab0 == TXNS // 3 and cm0 == TXNS - TXNS // 3,
               'the transactions left their markers on disk', '%d ABORT, %d COMMIT' % (ab0, cm0))
        conf['min.compaction.lag.ms'] = '0'
        res = ConfigResource('topic', TOPIC, set_config=conf)
        admin.alter_configs([res])[res].result(10)

        # SIGKILLs in the middle of cleanings: the partition directory is watched and the broker
        # killed as soon as a cleaning's .cleaned files appear (or after a random wait).
        kills, caught = 0, 0
        pdir = os.path.join(b.data_dir, 'data', TOPIC + '-0')

        def cleaning():
            return any(f.endswith('.cleaned') or f.endswith('.swap') for f in os.listdir(pdir))
        while kills < 4 or (caught < 2 and kills < 10):
            filler(b.bootstrap, n, 60)
            n += 60
            until = time.time() + random.uniform(0.5, 5.0)
            while time.time() < until and not cleaning():
                time.sleep(0.002)
            b.stop(signal.SIGKILL)
            kills += 1
            caught += cleaning()
            b.start()
        tap.ok(b.alive() and caught >= 2, 'the broker came back from SIGKILLs, some in the middle of a cleaning',
               '%d kills, %d left cleaning files behind' % (kills, caught))

        # Keep the log dirty until the cleaner has had its passes: aborted data removed, then
        # (a pass later) the ABORT markers stamped with a horizon, then (after 1 s) removed.
        deadline = time.time() + 90
        done = False
        while time.time() < deadline and not done:
            filler(b.bootstrap, n, 40)
            n += 40
            time.sleep(0.5)
            ab, cm, _ = markers_on_disk(b)
            unc, _ = read_all(b.bootstrap, 'read_uncommitted')
            done = ab == 0 and not [v for o, k, v in unc if v and v.startswith(b'aborted')]
        unc, hi = read_all(b.bootstrap, 'read_uncommitted')
        bad = [(o, k, v) for o, k, v in unc if v and v.startswith(b'aborted')]
        tap.ok(not bad, 'read_uncommitted sees no record of an aborted transaction', bad[:3])
        com, hi2 = read_all(b.bootstrap, 'read_committed')
        got = {k: v for o, k, v in com if k.startswith(b'key-')}
        tap.ok(got == newest, 'read_committed sees the newest committed value of every key',
               '%s vs %s' % (sorted(got.items())[:3], sorted(newest.items())[:3]))
        keyed = [k for o, k, v in com if k.startswith(b'key-')]
        tap.ok(len(keyed) == KEYS, 'and only that value (older committed ones compacted away)', len(keyed))
        fill = {k for o, k, v in com if k.startswith(b'filler-')}
        tap.ok(len(fill) == n, 'every filler record is there', '%d of %d' % (len(fill), n))
        ab, cm, hz = markers_on_disk(b)
        tap.ok(ab == 0, 'the ABORT markers went once their data was gone and the horizon passed',
               '%d ABORT, %d COMMIT, %d batches with a horizon' % (ab, cm, hz))
        tap.ok(cm >= 1, 'the producer\'s last COMMIT marker stays (its last data is there)', cm)

        code = b.stop()
        tap.ok(code == 0, 'clean stop', 'exit %s' % code)
        b.start()
        com3, hi3 = read_all(b.bootstrap, 'read_committed')
        tap.ok({k: v for o, k, v in com3 if k.startswith(b'key-')} == newest and hi3 == hi2,
               'the cleaned log reads back the same after a restart', '%s vs %s' % (hi3, hi2))
        leftovers = [f for f in os.listdir(os.path.join(b.data_dir, 'data', TOPIC + '-0'))
                     if f.endswith('.cleaned') or f.endswith('.swap')]
        tap.ok(not leftovers, 'no .cleaned or .swap files are left', str(leftovers))


if __name__ == "__main__":
    run_tap(main)
