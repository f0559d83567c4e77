#!/usr/bin/python3
"""
tests/interop/test_send_zc.py: zero-copy sends (IORING_OP_SENDMSG_ZC, off by default) deliver
the same bytes: the broker sends fetched records from memory (ringtail.fetch.zero.copy=false)
with ringtail.net.send.zc.min.bytes=4096, confluent-kafka consumes 3,000 records of 1 KiB
byte-identical and in order, and the broker stops cleanly with no send left waiting for its
notification.
Usage: test_send_zc.py <path to ringtail>
"""
import os
import re
import sys
import time

from confluent_kafka import Consumer, Producer

from rtbroker import Broker, run_tap

N = 3000


def main(tap):
    over = {'ringtail.fetch.zero.copy': 'false', 'ringtail.net.send.zc.min.bytes': '4096'}
    with Broker(sys.argv[1], over) as b:
        vals = [os.urandom(1024) for _ in range(N)]
        p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'linger.ms': 5})
        for i, v in enumerate(vals):
            p.produce('zc', value=v, key=b'%d' % i, partition=0)
            p.poll(0)
        left = p.flush(30)
        tap.ok(left == 0, 'produced %d records' % N, left)
        c = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': 'zc', 'auto.offset.reset': 'earliest',
                      'enable.auto.commit': False, 'fetch.max.bytes': 4 << 20})
        c.subscribe(['zc'])
        got, deadline = [], time.time() + 60
        while len(got) < N and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value())
        c.close()
        tap.ok(got == vals, 'consumed byte-identical and in order through zero-copy sends',
               '%d of %d' % (len(got), N))
        rc = b.stop()
        tap.ok(rc == 0, 'SIGTERM: clean exit', rc)
        zc = [int(m.group(1)) for m in re.finditer(r'(\d+) zero-copy sends', b.log())]
        tap.ok(sum(zc) > 0, 'the records went out through zero-copy sends (the shards count them)', zc)


if __name__ == '__main__':
    run_tap(main)
