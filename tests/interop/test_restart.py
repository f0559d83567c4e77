#!/usr/bin/python3
"""
tests/interop/test_restart.py: durability across restarts of the real broker.  Records produced
with acks=all survive SIGKILL (the broker is killed while producers may still be sending);
topics, partition counts and topic ids survive; a SIGTERM stop exits 0 and loses nothing.
Usage: test_restart.py <path to ringtail>
"""
import shutil
import signal
import sys
import tempfile
import threading

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from rtbroker import Broker, free_port, run_tap


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
            p = Producer({'bootstrap.servers': b2.bootstrap, 'acks': 'all'})
            for i in range(100):
                p.produce('dur', value=b'after-%d' % i, partition=i % 4)
            tap.ok(p.flush(10) == 0, 'produce after the restart')
            tap.ok(b2.stop() == 0, 'SIGTERM: exit status 0', b2.log())

        # The third start reads through the copying fetch path (ringtail.fetch.zero.copy=false).
        b3 = Broker(sys.argv[1], {'ringtail.fetch.zero.copy': 'false'}, data_dir=data, port=port)
        with b3:
            got = consume_all(b3.bootstrap, 'dur', 4)
            tap.ok(acked <= got and all(b'after-%d' % i in got for i in range(100)),
                   'after a SIGTERM stop and restart nothing is lost (read through the copying fetch path)')
            tap.ok(b3.stop() == 0, 'SIGTERM again: exit status 0')
    finally:
        shutil.rmtree(data, ignore_errors=True)


run_tap(main)
