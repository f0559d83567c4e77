#!/usr/bin/python3
"""
tests/interop/test_stuck_client.py: a stuck client cannot stall a shard or grow the broker's
memory (issue 4: bounded per-connection buffers, back-pressure by not reading).  On a broker with
one shard and the copying fetch path (every answer is built in memory), clients pipeline 200
Fetch requests of 256 KiB each and never read an answer.  The broker takes no more of their
requests once five wait (the pipeline limit; before, every whole frame of a receive became a
request at once, and all 600 answers were built), so its peak memory stays far below what
the answers would take, and meanwhile a well-behaved kafka-python producer and consumer on the
same shard are served.  Once a stuck client reads, it gets all 200 answers, in request order.
Usage: test_stuck_client.py <path to ringtail>
"""
import os
import socket
import struct
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

import kwire
from rtbroker import Broker, run_tap

N_REQ = 200
STUCK = 3
MAX = 256 << 10   # each Fetch's max_bytes


def fetch_frame(corr, topic):
    """Fetch v4 of partition 0 from offset 0, MAX bytes at most."""
    t = topic.encode()
    body = struct.pack('>iiiib', -1, 0, 1, MAX, 0) + struct.pack('>ih', 1, len(t)) + t
    body += struct.pack('>iiqi', 1, 0, 0, MAX)
    hdr = struct.pack('>hhih', 1, 4, corr, 5) + b'stuck'
    return struct.pack('>i', len(hdr) + len(body)) + hdr + body


def main(tap):
    overrides = {'ringtail.fetch.zero.copy': 'false', 'ringtail.cores': '0', 'num.partitions': 1}
    with Broker(sys.argv[1], overrides=overrides) as b:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic('big', 1, 1), NewTopic('ok', 1, 1)])
        admin.close()
        c = kwire.Conn(b.port)
        for i in range(12):
            e = kwire.produce_on(c, 'big', 0, kwire.batch([(None, os.urandom(100 << 10)) for _ in range(1)]))[0]
            assert e == 0, e
        c.close()
        b.reset_peak_rss()
        before = b.peak_rss_kib()

        stuck = []
        for _ in range(STUCK):
            # A small receive buffer set before connecting (shrinking it later makes the kernel
            # drop what the window had allowed, and the broker's TCP retransmits with back-off).
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(('127.0.0.1', b.port))
            s.setblocking(False)
            frames = b''.join(fetch_frame(i + 1, 'big') for i in range(N_REQ))
            sent = 0
            end = time.time() + 5
            # Every request goes out (they are small); the broker takes five of them as requests
            # and keeps the rest unread until answers are sent.
            while sent < len(frames) and time.time() < end:
                try:
                    sent += s.send(frames[sent:])
                except BlockingIOError:
                    time.sleep(0.05)
            stuck.append((s, frames, sent))
        time.sleep(2)

        # A well-behaved client on the same (only) shard is served meanwhile.
        t0 = time.time()
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all')
        for i in range(100):
            prod.send('ok', value=b'ok-%d' % i, partition=0)
        prod.flush(20)
        prod.close()
        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=10000)
        cons.assign([TopicPartition('ok', 0)])
        cons.seek_to_beginning()
        vals = []
        for m in cons:
            vals.append(m.value)
            if len(vals) == 100:
                break
        cons.close()
        took = time.time() - t0
        tap.ok(vals == [b'ok-%d' % i for i in range(100)] and took < 30,
               'a producer and a consumer are served while %d clients do not read (%.1f s)' % (STUCK, took))

        peak = b.peak_rss_kib() - before
        tap.ok(peak < 32 * 1024, 'the broker\'s peak memory grew by %d KiB for %d unread answers of %d KiB '
               '(bounded: under 32 MiB)' % (peak, STUCK * N_REQ, MAX >> 10), peak)

        # The first stuck client reads now: every answer comes, in order.
        s, frames, sent = stuck[0]
        s.setblocking(True)
        got = []
        s.settimeout(0.05)
        deadline = time.time() + 90
        buf = b''
        while len(got) < N_REQ and time.time() < deadline:
            if sent < len(frames):
                try:
                    sent += s.send(frames[sent:sent + 65536])
                except (BlockingIOError, socket.timeout):
                    pass
            try:
                d = s.recv(1 << 20)
                if not d:
                    break
                buf += d
            except (BlockingIOError, socket.timeout):
                pass
            while len(buf) >= 8 and len(buf) >= 4 + struct.unpack_from('>i', buf)[0]:
                n = struct.unpack_from('>i', buf)[0]
                got.append((struct.unpack_from('>i', buf, 4)[0], n))
                buf = buf[4 + n:]
        tap.ok([g[0] for g in got] == list(range(1, N_REQ + 1)) and all(n > MAX // 2 for _, n in got),
               'once it reads, the stuck client gets all %d answers in request order' % N_REQ,
               (len(got), got[:3]))
        for s, _, _ in stuck:
            s.close()
        tap.ok(b.stop() == 0, 'SIGTERM: exit status 0', b.log())


run_tap(main)
