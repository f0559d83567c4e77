#!/usr/bin/python3
"""
tests/interop/test_compaction_horizon.py: a quiet compacted log's tombstones go once their delete
horizon passes, across a broker restart, with no new write (librdkafka through
confluent-kafka-python).  Keys are updated, some deleted, and unique filler pushes it all out of
the active segment; the cleaner stamps the tombstones' batches with a delete horizon (KIP-534:
attribute bit 6, the base timestamp = that cleaning + delete.retention.ms).  The broker is
stopped before the horizon and started again: nothing is written any more, yet once the horizon
passes the tombstones are gone (the cleaner read the horizon back from the batches after the
start), while every other key keeps its newest value at its offset.
Usage: test_compaction_horizon.py <path to ringtail>
"""
import os
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

from kclient import produce_keyed, read_to_end
from kwire import log_batches
from rtbroker import Broker, run_tap

TOPIC = 'hzn'
KEYS = 10
DELETED = 5
RETENTION_MS = 15000


def produce(bootstrap, records):
    """records: [(key, value)]; returns {key: offset of its last write}, or raises."""
    return produce_keyed(bootstrap, TOPIC, records)


def read_all(bootstrap):
    got, ends = read_to_end(bootstrap, TOPIC, [0], timeout=20, **{'group.id': 'hzn-reader'})
    return {m.key(): (m.offset(), m.value()) for m in got[0]}, len(got[0])


def horizons_on_disk(b):
    """Base timestamps of the batches that carry a delete horizon and still hold records."""
    return [ts for _, _, attrs, ts, count in log_batches(os.path.join(b.data_dir, 'data', TOPIC + '-0'))
            if attrs & 0x40 and count > 0]


def main(tap):
    overrides = {'log.cleaner.backoff.ms': '100'}
    with Broker(sys.argv[1], overrides=overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        conf = {'cleanup.policy': 'compact', 'segment.bytes': '2048', 'min.cleanable.dirty.ratio': '0.01',
                'delete.retention.ms': str(RETENTION_MS)}
        admin.create_topics([NewTopic(TOPIC, 1, 1, config=conf)])[TOPIC].result(10)
        recs = [(b'key-%d' % k, b'value-%d-%d' % (k, u)) for u in range(10) for k in range(KEYS)]
        last = produce(b.bootstrap, recs)
        tombs = [(b'key-%d' % k, None) for k in range(DELETED)]
        last.update(produce(b.bootstrap, tombs))
        filler = [(b'filler-%d' % i, b'x' * 40) for i in range(60)]
        last.update(produce(b.bootstrap, filler))
        newest = dict(recs + filler)
        newest.update(dict(tombs))
        want_before = {k: (last[k], v) for k, v in newest.items()}
        want_after = {k: ov for k, ov in want_before.items() if ov[1] is not None}

        # The first cleaning stamps the tombstones' batches.
        deadline = time.time() + 40
        stamped = []
        while time.time() < deadline and not stamped:
            stamped = horizons_on_disk(b)
            time.sleep(0.2)
        tap.ok(stamped, 'a cleaning stamped the tombstones\' batches with a delete horizon')
        # Cleanings run while the records are produced (backoff 100 ms): the first stamp can come
        # from one that ended inside the tombstones, before the filler pushed the rest out of the
        # active segment, and a cleaned segment is installed a moment after its files are renamed
        # in (below).  So the cleaned state is waited for (once 72 records were read against 70,
        # under load), and the horizon taken from the latest stamp.
        deadline = time.time() + 20
        while True:
            got, n = read_all(b.bootstrap)
            if (got == want_before and n == len(want_before)) or time.time() > deadline:
                break
            time.sleep(0.5)
        stamped = horizons_on_disk(b) or stamped
        horizon = max(stamped) / 1000.0 if stamped else time.time()
        tap.ok(got == want_before and n == len(want_before),
               'cleaned: the newest record of each key, tombstones still there',
               'read %d records, want %d' % (n, len(want_before)))

        code = b.stop()
        tap.ok(code == 0, 'clean stop', 'exit %s' % code)
        left = horizon - time.time()
        tap.ok(horizons_on_disk(b) and left > 1,
               'stopped before the horizon, with the tombstones on disk', '%.1f s left' % left)
        log_from = len(b.log())
        b.start()
        # No write from here on: only the horizon in the batches can bring the cleaner back.
        got, n = read_all(b.bootstrap)
        tap.ok(time.time() >= horizon or (got == want_before and n == len(want_before)),
               'after the start, before the horizon: the tombstones are still there')
        deadline = horizon + 30
        while time.time() < deadline:
            if not horizons_on_disk(b):
                break
            time.sleep(0.5)
        gone_at = time.time()
        tap.ok(not horizons_on_disk(b), 'the horizon passed after the restart: the stamped tombstones are gone',
               'still %s, horizon %.0f' % (horizons_on_disk(b), horizon * 1000))
        tap.ok(gone_at >= horizon - 0.5, 'not before their horizon', '%.1f s early' % (horizon - gone_at))
        # The cleaner renames the cleaned files in on its worker; the owner shard installs the
        # segment (and logs it) a moment later, and fetches read the old one until then.
        deadline = time.time() + 15
        while time.time() < deadline and 'cleaned offsets below' not in b.log()[log_from:]:
            time.sleep(0.2)
        got, n = read_all(b.bootstrap)
        tap.ok(got == want_after and n == len(want_after),
               'every other key keeps its newest value at its offset, no tombstone left',
               'read %d records, want %d' % (n, len(want_after)))
        tap.ok('latest delete horizon in the cleaned batches' in b.log()[log_from:],
               'the broker says it read the latest horizon back from the batches')


if __name__ == "__main__":
    run_tap(main)
