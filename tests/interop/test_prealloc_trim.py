#!/usr/bin/python3
"""
tests/interop/test_prealloc_trim.py: the real broker keeps its active segments zero-filled
ahead of the appends (storage/prealloc.c) while producers write, and after SIGTERM every
segment file is exactly its batches, as Kafka's tools expect: a walk over the batch headers of
each .log ends at the end of the file.  A restart finds every acknowledged record and logs no
preallocated tail to trim (it was cut at roll and at close).
Usage: test_prealloc_trim.py <path to ringtail>
"""
import glob
import os
import shutil
import signal
import sys
import tempfile
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from kwire import batches_end
from rtbroker import Broker, free_port, run_tap

TOPIC = 'prealloc'
NPART = 2


def walk(path):
    """(end of the batches, file size, every byte after them is zero)."""
    with open(path, 'rb') as f:
        d = f.read()
    end = batches_end(d)
    return end, len(d), not any(d[end:])


def logs(data):
    return sorted(glob.glob(os.path.join(data, 'data', TOPIC + '-*', '*.log')))


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-prealloc-')
    try:
        b = Broker(sys.argv[1], data_dir=data, port=free_port())
        with b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, NPART, 1, config={'segment.bytes': '400000'})])[TOPIC].result(10)
            acked = set()

            def cb(err, msg):
                if err is None:
                    acked.add(msg.value())

            # batch.size under segment.bytes: a client that falls behind (a loaded machine) would
            # otherwise send batches past 400 kB, which Kafka and Ringtail refuse
            # (RECORD_LIST_TOO_LARGE: a batch never spans segments).
            p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'linger.ms': 1, 'batch.size': 100000})
            # About 1 MB/s per partition for 4 s: the broker measures the rate over one-second
            # windows and keeps a quarter of a second of it ahead.
            ahead = []
            i = 0
            t0 = time.time()
            while time.time() - t0 < 4:
                for _ in range(100):
                    p.produce(TOPIC, value=b'%08d' % i + b'v' * 1016, partition=i % NPART, on_delivery=cb)
                    i += 1
                p.poll(0)
                time.sleep(0.05)
                for f in logs(data):
                    end, size, zeros = walk(f)
                    if size > end and zeros:
                        ahead.append((f, end, size))
            p.flush(30)
            tap.ok(len(acked) == i, 'every record acknowledged', '%d of %d' % (len(acked), i))
            tap.ok(len(ahead) > 0, 'while producing, active segment files run on in zeros past their data')
            nlogs = len(logs(data))
            tap.ok(nlogs > 2 * NPART, 'the partitions rolled (%d segments)' % nlogs)

            tap.ok(b.stop(signal.SIGTERM) == 0, 'SIGTERM: exit 0')
            bad = []
            for f in logs(data):
                end, size, _ = walk(f)
                if end != size:
                    bad.append('%s: batches end at %d, file %d' % (os.path.basename(f), end, size))
            tap.ok(not bad, 'after SIGTERM every .log file is exactly its batches', '; '.join(bad))

            b.start()
            read, _ = read_to_end(b.bootstrap, TOPIC, range(NPART))
            got = {m.value() for q in read for m in read[q]}
            tap.ok(got == acked, 'after a restart every acknowledged record is there',
                   '%d of %d' % (len(got & acked), len(acked)))
            tap.ok('preallocated tail' not in b.log(), 'a clean restart has no zero tail to trim')
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
