#!/usr/bin/python3
"""
tests/interop/test_shard_locks.py: no lock on the produce and fetch paths (issue 4's shards: "no
locks and no shared mutable state on the produce and fetch paths").  The real broker runs with
lockcount.c preloaded, which counts every pthread mutex, rwlock, spinlock, semaphore and
condition wait that a shard thread (rt-shard-N) takes, by call site.  After a warm-up (topic
created, partitions opened, first records written and read), counting starts, and two shards
serve a load of acks=all and acks=1 produce (confluent-kafka) and a consumer reading every
record back with long polls, in default mode (hops between shards) and on the shard-aware ports;
then the counts are read: none may be there.  A lock taken on these paths shows up here with the
function that took it (addr2line on the call site).
Usage: test_shard_locks.py <path to ringtail> <path to lockcount.so>
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from rtbroker import Broker, run_tap

N = 20000


def produce(bootstrap, topic, n, acks, tag):
    p = Producer({'bootstrap.servers': bootstrap, 'acks': acks, 'linger.ms': 2})
    for i in range(n):
        p.produce(topic, value=b'%s-%d' % (tag, i), partition=i % 4)
        if i % 1000 == 0:
            p.poll(0)
    return p.flush(60)


def control(out, what, timeout=20):
    """Starts (what='start') or stops and reads (what='stop') the count: {line: count}."""
    if what == 'stop' and os.path.exists(out):
        os.unlink(out)
    open(out + '.' + what, 'w').close()
    deadline = time.time() + timeout
    while time.time() < deadline and os.path.exists(out + '.' + what):
        time.sleep(0.02)
    if what == 'start':
        return None
    while time.time() < deadline:
        try:
            with open(out) as f:
                lines = f.read().splitlines()
            if lines and lines[-1] == 'end':
                return lines[:-1]
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError('no lock counts written')


def named(lines):
    """Each call site with the function and source line that addr2line finds for it."""
    out = []
    for line in lines:
        n, fn, off, obj = line.split(' ', 3)
        where = ''
        if obj != '?':
            r = subprocess.run(['addr2line', '-f', '-C', '-i', '-e', obj, off], capture_output=True, text=True)
            where = ' <- ' + ' / '.join(l.strip() for l in r.stdout.splitlines()[:4])
        out.append('%s x %s at %s%s' % (n, fn, off, where))
    return out


def main(tap):
    exe, lib = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix='ringtail-locks-')
    out = os.path.join(tmp, 'locks')
    os.environ['LD_PRELOAD'] = lib
    os.environ['RT_LOCKCOUNT_OUT'] = out
    try:
        b = Broker(exe, {'ringtail.cores': '0,1', 'ringtail.advertise.shards': 'true'})
        with b:
            del os.environ['LD_PRELOAD']   # the clients of this test run without it
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic('lk', 4, 1)])['lk'].result(20)
            shard_port = '127.0.0.1:%d' % (b.port + 1)
            tap.ok(produce(b.bootstrap, 'lk', 400, 'all', b'warm') == 0, 'warm-up produce')
            got, _ = read_to_end(b.bootstrap, 'lk', range(4))
            tap.ok(sum(len(v) for v in got.values()) == 400, 'warm-up read')

            control(out, 'start')
            left = produce(b.bootstrap, 'lk', N, 'all', b'all') + produce(b.bootstrap, 'lk', N // 4, '1', b'one')
            left += produce(shard_port, 'lk', N // 4, 'all', b'aware')
            got, _ = read_to_end(b.bootstrap, 'lk', range(4))
            got2, _ = read_to_end(shard_port, 'lk', range(4))
            lines = control(out, 'stop')
            total = sum(len(v) for v in got.values())
            tap.ok(left == 0 and total == 400 + N + N // 2 and sum(len(v) for v in got2.values()) == total,
                   'produced %d records with acks=all and acks=1 and read them back (default mode and shard-aware)'
                   % (N + N // 2), (left, total))
            tap.ok(not lines, 'the shard threads took no lock meanwhile', '\n'.join(named(lines)[:12]))
            tap.ok(b.stop() == 0, 'SIGTERM: exit status 0', b.log()[-2000:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)   # a failed check must not leave it behind


run_tap(main)
