#!/usr/bin/python3
"""
tests/interop/test_compaction.py: the log cleaner with a real client (librdkafka through
confluent-kafka-python).  A compacted topic with 2 KiB segments takes 20 updates for each of 40
keys and tombstones for 10 of them, then unique filler keys so all of it leaves the active
segment; the broker is killed (SIGKILL) and restarted; the cleaner then leaves exactly the
newest record of every key at its original offset (tombstones still there: delete.retention.ms
is an hour), the bytes on disk shrink, and the log end does not move.  min.compaction.lag.ms holds
the cleaner off until it is lifted through AlterConfigs.  delete.retention.ms is then lowered to
1 s through AlterConfigs while the broker runs, and 10 more keys are deleted: those tombstones go
a second after the cleaning that stamped their delete horizon (KIP-534), while the first ones
keep the hour stamped in their batches.
The broker is restarted cleanly and the compacted log reads back the same.
Usage: test_compaction.py <path to ringtail>
"""
import glob
import os
import signal
import sys
import time

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kclient import produce_keyed, read_to_end
from kwire import batches_end
from rtbroker import Broker, run_tap

TOPIC = 'cmp'
KEYS = 40
UPDATES = 20
DELETED = 10


def produce(bootstrap, records):
    """records: [(key, value)]; returns {key: offset of its last write}, or raises."""
    return produce_keyed(bootstrap, TOPIC, records)


def read_all(bootstrap):
    """Every record of partition 0 from the start to the end: [(offset, key, value)], and the end."""
    got, ends = read_to_end(bootstrap, TOPIC, [0], timeout=20, **{'group.id': 'cmp-reader'})
    return [(m.offset(), m.key(), m.value()) for m in got[0]], ends[0]


def data_bytes(path):
    """The batches' bytes in a .log file: the active segment's file may run on in zeros kept
    ahead of the appends (storage/prealloc.c), which are not data."""
    with open(path, 'rb') as f:
        return batches_end(f.read())


def disk_bytes(b):
    return sum(data_bytes(f) for f in glob.glob(os.path.join(b.data_dir, 'data', TOPIC + '-0', '*.log')))


def expected(writes):
    """Newest (offset, value) per key from the ordered list of (offset, key, value) written."""
    newest = {}
    for off, k, v in writes:
        newest[k] = (off, v)
    return newest


def wait_compacted(b, want, timeout=40):
    """Polls until the log holds exactly `want` ({key: (offset, value)}); returns the last read."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got, hi = read_all(b.bootstrap)
        if {k: (o, v) for o, k, v in got} == want and len(got) == len(want):
            return got, hi
        time.sleep(1)
    return got, None


def main(tap):
    overrides = {'log.cleaner.backoff.ms': '100'}
    with Broker(sys.argv[1], overrides=overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        # min.compaction.lag.ms holds the cleaner off while the test writes (so the bytes before
        # cleaning can be measured); it is lifted through AlterConfigs after the restart.
        conf = {'cleanup.policy': 'compact', 'segment.bytes': '2048', 'min.cleanable.dirty.ratio': '0.01',
                'delete.retention.ms': '3600000', 'min.compaction.lag.ms': '3600000'}
        admin.create_topics([NewTopic(TOPIC, 1, 1, config=conf)])[TOPIC].result(10)
        recs = []
        for u in range(UPDATES):
            for k in range(KEYS):
                recs.append((b'key-%d' % k, b'value-%d-%d' % (k, u)))
        recs += [(b'key-%d' % k, None) for k in range(DELETED)]
        last = produce(b.bootstrap, recs)
        filler = [(b'filler-%d' % i, b'x' * 40) for i in range(60)]
        last.update(produce(b.bootstrap, filler))
        writes = sorted((last[k], k, v) for k, v in dict(recs + filler).items())
        end_before = max(last.values()) + 1
        before = disk_bytes(b)
        tap.ok(len(glob.glob(os.path.join(b.data_dir, 'data', TOPIC + '-0', '*.log'))) > 10,
               'small segments: the updates span many segments')

        # A crash before the cleaner is due must not matter.
        b.stop(signal.SIGKILL)
        b.start()
        time.sleep(2)
        tap.ok(disk_bytes(b) == before, 'nothing is cleaned within min.compaction.lag.ms',
               '%d vs %d bytes' % (disk_bytes(b), before))
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        conf['min.compaction.lag.ms'] = '0'
        res = ConfigResource('topic', TOPIC, set_config=conf)
        admin.alter_configs([res])[res].result(10)
        want = expected(writes)
        # The active segment is never cleaned: the filler (unique keys) comes last, so every
        # update and tombstone is in an inactive segment and the whole log can be checked.
        got, hi = wait_compacted(b, want, timeout=40)
        tap.ok(hi is not None, 'after SIGKILL + restart the cleaner leaves only the newest record of each key',
               'read %d records, want %d' % (len(got or []), len(want)))
        tap.ok(hi == end_before, 'the log end offset is unchanged by compaction', '%s vs %d' % (hi, end_before))
        tombs = [k for o, k, v in (got or []) if v is None]
        tap.ok(len(tombs) == DELETED, 'tombstones stay while delete.retention.ms has not passed',
               '%d tombstones' % len(tombs))
        after = disk_bytes(b)
        tap.ok(after < before / 3, 'the segments shrank on disk', '%d -> %d bytes' % (before, after))

        # AlterConfigs at run time, and KIP-534: a cleaning stamps each batch that keeps a
        # tombstone with a delete horizon (now + delete.retention.ms at that cleaning), so the
        # tombstones above keep their hour while new ones, written after delete.retention.ms is
        # lowered to 1 s, go at a cleaning a second after the one that stamped them.
        conf['delete.retention.ms'] = '1000'
        res = ConfigResource('topic', TOPIC, set_config=conf)
        admin.alter_configs([res])[res].result(10)
        deleted2 = [b'key-%d' % k for k in range(DELETED, 2 * DELETED)]
        writes2 = list(writes)
        got2, hi2, n = None, None, 0
        deadline = time.time() + 60
        batch = [(k, None) for k in deleted2]
        while time.time() < deadline:
            # Unique filler keeps the log dirty (so the cleaner comes back) and pushes the new
            # tombstones out of the active segment.
            batch += [(b'filler2-%d' % (n + i), b'y' * 40) for i in range(30)]
            n += 30
            last2 = produce(b.bootstrap, batch)
            writes2 += sorted((last2[k], k, v) for k, v in batch)
            batch = []
            want2 = {k: ov for k, ov in expected(writes2).items() if k not in deleted2}
            got2, hi2 = read_all(b.bootstrap)
            if {k: (o, v) for o, k, v in got2} == want2 and len(got2) == len(want2):
                break
            got2 = None
            time.sleep(1)
        tap.ok(got2 is not None, 'tombstones written after delete.retention.ms is lowered by AlterConfigs are '
               'gone a horizon later', 'read %s' % (None if got2 is None else len(got2)))
        tap.ok(got2 is not None and not [k for o, k, v in got2 if k in deleted2],
               'the keys deleted then are gone entirely')
        tap.ok(got2 is not None and len([k for o, k, v in got2 if v is None]) == DELETED,
               'the first tombstones keep the horizon stamped in their batches (an hour)')

        code = b.stop()
        tap.ok(code == 0, 'clean stop', 'exit %s' % code)
        b.start()
        got3, hi3 = read_all(b.bootstrap)
        tap.ok(got3 == got2 and hi3 == hi2, 'the compacted log reads back the same after a restart',
               '%d records, end %s' % (len(got3), hi3))
        leftovers = [f for f in os.listdir(os.path.join(b.data_dir, 'data', TOPIC + '-0'))
                     if f.endswith('.cleaned') or f.endswith('.swap')]
        tap.ok(not leftovers, 'no .cleaned or .swap files are left', str(leftovers))


if __name__ == "__main__":
    run_tap(main)
