#!/usr/bin/python3
"""
perf/bench_idempotence.py: the cost of idempotence on produce throughput (issue 7), measured in
one run against the real broker: the same confluent-kafka (librdkafka) producer load with
enable.idempotence=false and =true, alternated over several rounds, reported as records per
second and the ratio.  Not a test: run it by hand.
Usage: perf/bench_idempotence.py <path to ringtail> [records per round] [rounds]
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop'))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from rtbroker import Broker  # noqa: E402


def run(bootstrap, topic, n, idem):
    p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': idem, 'acks': 'all',
                  'linger.ms': 5, 'batch.size': 1 << 20, 'queue.buffering.max.messages': 1000000})
    v = b'x' * 100
    p.produce(topic, value=v)         # connect and (for idempotence) InitProducerId first
    p.flush(60)
    t0 = time.time()
    for i in range(n):
        while True:
            try:
                p.produce(topic, value=v, partition=i % 6)
                break
            except BufferError:
                p.poll(0.01)
    left = p.flush(120)
    dt = time.time() - t0
    assert left == 0
    return n / dt


def main():
    exe = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    data = tempfile.mkdtemp(prefix='ringtail-bench-idem-')
    try:
        with Broker(exe, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic('bench', 6, 1)])['bench'].result(20)
            plain, idem = [], []
            for r in range(rounds):
                plain.append(run(b.bootstrap, 'bench', n, False))
                idem.append(run(b.bootstrap, 'bench', n, True))
                print('round %d: plain %.0f rec/s, idempotent %.0f rec/s' % (r, plain[-1], idem[-1]), flush=True)
            bp, bi = sorted(plain)[len(plain) // 2], sorted(idem)[len(idem) // 2]
            print('median: plain %.0f rec/s, idempotent %.0f rec/s, idempotent/plain %.3f (cost %.1f%%)'
                  % (bp, bi, bi / bp, 100 * (1 - bi / bp)))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    main()
