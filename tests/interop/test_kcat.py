#!/usr/bin/python3
"""
tests/interop/test_kcat.py: librdkafka through kcat against the real broker: 100,000 keyed
records produced with acks=all into a 6-partition topic (auto-created with num.partitions=6),
consumed back byte-identical with each partition's order kept; `kcat -L` lists the topic and
its partitions.
Usage: test_kcat.py <path to ringtail>
"""
import collections
import random
import subprocess
import sys

from rtbroker import Broker, run_tap

N = 100000


def main(tap):
    rnd = random.Random(4)
    lines = []
    for i in range(N):
        key = 'key-%d' % rnd.randrange(500)
        val = '%d-%s' % (i, ''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(rnd.randrange(1, 60))))
        lines.append((key, val))
    payload = ''.join('%s\t%s\n' % kv for kv in lines).encode()
    with Broker(sys.argv[1], {'num.partitions': 6}) as b:
        p = subprocess.run(['kcat', '-b', b.bootstrap, '-P', '-t', 'kc', '-K', '\t', '-X', 'acks=all',
                            '-X', 'linger.ms=5'], input=payload, capture_output=True, timeout=120)
        tap.ok(p.returncode == 0, 'kcat produced %d keyed records with acks=all' % N, p.stderr.decode())

        p = subprocess.run(['kcat', '-b', b.bootstrap, '-L', '-t', 'kc'], capture_output=True, timeout=30)
        out = p.stdout.decode()
        tap.ok(p.returncode == 0 and 'topic "kc" with 6 partitions' in out, 'kcat -L lists the topic with 6 partitions', out + p.stderr.decode())
        tap.ok(all('partition %d, leader 0' % i in out for i in range(6)), 'kcat -L lists every partition with its leader', out)

        p = subprocess.run(['kcat', '-b', b.bootstrap, '-C', '-t', 'kc', '-o', 'beginning', '-e', '-q',
                            '-f', '%p\t%o\t%k\t%s\n'], capture_output=True, timeout=120)
        tap.ok(p.returncode == 0, 'kcat consumed to the end of every partition', p.stderr.decode())
        got = collections.defaultdict(list)
        for line in p.stdout.decode().splitlines():
            part, off, key, val = line.split('\t', 3)
            got[int(part)].append((int(off), key, val))
        total = sum(len(v) for v in got.values())
        tap.ok(total == N, 'all %d records came back (got %d)' % (N, total))
        tap.ok(sorted((k, v) for recs in got.values() for _, k, v in recs) == sorted(lines),
               'keys and values are byte-identical')
        order = {kv: i for i, kv in enumerate(lines)}
        ordered = True
        offsets_dense = True
        key_part = {}
        keys_stable = True
        for part, recs in got.items():
            idx = [order[(k, v)] for _, k, v in recs]
            ordered &= idx == sorted(idx)
            offsets_dense &= [o for o, _, _ in recs] == list(range(len(recs)))
            for _, k, _ in recs:
                keys_stable &= key_part.setdefault(k, part) == part
        tap.ok(ordered, 'each partition kept the produce order')
        tap.ok(offsets_dense, 'each partition has offsets 0..n-1 without gaps')
        tap.ok(keys_stable and len(got) == 6, 'records of a key share one partition, all 6 partitions used')
        tap.ok(b.stop() == 0, 'SIGTERM stops the broker with exit status 0', b.log())


run_tap(main)
