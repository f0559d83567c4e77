#!/usr/bin/python3
"""
tests/interop/test_restart.py: durability across restarts of the real broker.  Records produced
with acks=all survive SIGKILL (the broker is killed while producers may still be sending);
topics, partition counts and topic ids survive.  A SIGTERM stop (issue 4: stop accepting, finish
in-flight requests, flush, write checkpoints, exit 0) answers a Produce that arrived with it,
writes Kafka's recovery-point checkpoint at every partition's log end and the clean-shutdown
marker, exits 0, and the restart finds every acknowledged record.
Usage: test_restart.py <path to ringtail>
"""
import os
import shutil
import struct
import signal
import sys
import tempfile
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from kclient import read_to_end
from rtbroker import Broker, free_port, run_tap


def checkpoint(path):
    """Kafka's offset checkpoint file (version 0, count, "topic partition offset" lines):
    {(topic, partition): offset}, or None when it is missing or not in that format."""
    try:
        with open(path) as f:
            lines = f.read().split('\n')
        n = int(lines[1])
        out = {}
        for line in lines[2:2 + n]:
            t, p, o = line.split(' ')
            out[(t, int(p))] = int(o)
        return out if lines[0] == '0' and len(out) == n else None
    except (OSError, ValueError, IndexError):
        return None


def consume_all(bootstrap, topic, nparts):
    """The values of every record in the topic's partitions."""
    out, _ = read_to_end(bootstrap, topic, range(nparts))
    return {m.value() for ms in out.values() for m in ms}


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-restart-')
    port = free_port()
    try:
        b = Broker(sys.argv[1], data_dir=data, port=port)
        with b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic('dur', 4, 1)])['dur'].result(10)
            c = kwire.Conn(b.port)
            tid = kwire.topic_id(c, 'dur')
            c.close()
            acked = set()
            lock = threading.Lock()

            def cb(err, msg):
                if err is None:
                    with lock:
                        acked.add(msg.value())

            p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'linger.ms': 2,
                          'message.timeout.ms': 20000, 'retries': 0})
            for i in range(20000):
                p.produce('dur', value=b'rec-%d' % i, partition=i % 4, on_delivery=cb)
                if i % 500 == 0:
                    p.poll(0)
                if i == 15000:
                    # Generous: on a loaded machine the first 15000 acks can take seconds.
                    p.flush(30)
                    b.stop(signal.SIGKILL)  # with records still in flight
            p.flush(5)
            tap.ok(len(acked) >= 15000, 'acknowledged before SIGKILL: %d records' % len(acked))

        b2 = Broker(sys.argv[1], data_dir=data, port=port)
        with b2:
            got = consume_all(b2.bootstrap, 'dur', 4)
            tap.ok(acked <= got, 'after SIGKILL and restart every acknowledged record is there',
                   'missing %d' % len(acked - got))
            md = AdminClient({'bootstrap.servers': b2.bootstrap}).list_topics(timeout=10)
            tap.ok('dur' in md.topics and len(md.topics['dur'].partitions) == 4, 'the topic and its 4 partitions survived')
            c = kwire.Conn(b2.port)
            tid2 = kwire.topic_id(c, 'dur')
            c.close()
            tap.ok(tid is not None and tid2 == tid, 'and so did its topic id', (tid, tid2))
            p = Producer({'bootstrap.servers': b2.bootstrap, 'acks': 'all'})
            for i in range(100):
                p.produce('dur', value=b'after-%d' % i, partition=i % 4)
            tap.ok(p.flush(10) == 0, 'produce after the restart')
            _, ends = read_to_end(b2.bootstrap, 'dur', range(4))
            # Requests in flight when the SIGTERM comes are answered: on one connection a
            # long-polling Fetch (max wait 30 s) and behind it a Produce (acks=all), whose record
            # is written at once but whose answer waits for the Fetch's (answers go in order).
            c = kwire.Conn(b2.port)
            fetch = kwire.W().i32(-1).i32(30000).i32(1).i32(1 << 20).i8(0).i32(1).str('dur').i32(1).i32(1) \
                .i64(ends[1]).i32(1 << 20)
            c.send(1, 4, fetch)
            c.send(0, 3, kwire.W().str(None).i16(-1).i32(10000).i32(1).str('dur').i32(1).i32(0)
                   .bytes(kwire.batch([(None, b'with-sigterm')])))
            deadline = time.time() + 20
            while time.time() < deadline and read_to_end(b2.bootstrap, 'dur', [0])[1][0] == ends[0]:
                time.sleep(0.1)
            t0 = time.time()
            b2.proc.send_signal(signal.SIGTERM)
            got = []
            try:
                for _ in range(2):
                    n = struct.unpack('>i', c._read(4))[0]
                    r = kwire.R(c._read(n))
                    corr = r.i32()
                    if corr == 2:
                        r.i32(), r.str(), r.i32(), r.i32()
                        got.append((corr, r.i16(), r.i64()))
                    else:
                        got.append(corr)
            except (OSError, ConnectionError) as e:
                got.append(str(e))
            waited = time.time() - t0
            c.close()
            tap.ok(got == [1, (2, 0, ends[0])] and waited < 15,
                   'the Fetch and the Produce (acks=all) in flight at SIGTERM are answered (%.1f s)' % waited, got)
            ends[0] += 1
            tap.ok(b2.proc.wait(30) == 0, 'SIGTERM: exit status 0', b2.log())
            d = os.path.join(data, 'data')
            rp = checkpoint(os.path.join(d, 'recovery-point-offset-checkpoint'))
            tap.ok(rp is not None and all(rp.get(('dur', i)) == ends[i] for i in range(4)),
                   'after SIGTERM the recovery-point checkpoint holds every partition\'s log end', (rp, ends))
            tap.ok(os.path.exists(os.path.join(d, '.kafka_cleanshutdown')), 'and the clean-shutdown marker is there')

        # The third start reads through the copying fetch path (ringtail.fetch.zero.copy=false).
        b3 = Broker(sys.argv[1], {'ringtail.fetch.zero.copy': 'false'}, data_dir=data, port=port)
        with b3:
            got = consume_all(b3.bootstrap, 'dur', 4)
            tap.ok(acked <= got and all(b'after-%d' % i in got for i in range(100)) and b'with-sigterm' in got,
                   'after a SIGTERM stop and restart nothing is lost (read through the copying fetch path)')
            tap.ok(b3.stop() == 0, 'SIGTERM again: exit status 0')
    finally:
        shutil.rmtree(data, ignore_errors=True)


run_tap(main)
