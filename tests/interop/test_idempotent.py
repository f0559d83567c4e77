#!/usr/bin/python3
"""
tests/interop/test_idempotent.py: confluent-kafka-python (librdkafka) with
enable.idempotence=true against the real broker: InitProducerId is answered by the control
process from a durable producer id block, and a producer that keeps sending while the broker is
killed with SIGKILL and started again loses nothing it was told is delivered, writes nothing
twice, and keeps each partition's order.  A second producer gets a different producer id, also
after the restart.
Usage: test_idempotent.py <path to ringtail>
"""
import shutil
import signal
import sys
import tempfile
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import Deliveries, read_to_end
from rtbroker import Broker, free_port, run_tap

TOPIC = 'idp'
PARTS = 3


def consume_all(bootstrap):
    """The values stored in each partition, from its start to its end, in log order."""
    got, _ = read_to_end(bootstrap, TOPIC, range(PARTS))
    return {q: [m.value().decode() for m in got[q]] for q in range(PARTS)}


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-idp-')
    port = free_port()
    try:
        b = Broker(sys.argv[1], data_dir=data, port=port)
        b.start()
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        admin.create_topics([NewTopic(TOPIC, PARTS, 1)])[TOPIC].result(20)
        p = Producer({'bootstrap.servers': b.bootstrap, 'enable.idempotence': True, 'acks': 'all',
                      'linger.ms': 5, 'message.timeout.ms': 120000, 'retry.backoff.ms': 100,
                      'reconnect.backoff.max.ms': 500})
        cb = Deliveries(PARTS)
        delivered, errors = cb.delivered, cb.errors
        stop = threading.Event()

        def run():
            i = 0
            while not stop.is_set() and i < 20000:
                try:
                    p.produce(TOPIC, value=('v%06d' % i).encode(), partition=i % PARTS, on_delivery=cb)
                    i += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0)
                if i % 20 == 0:
                    time.sleep(0.01)        # about 2000 messages a second: still sending at the kill

        t = threading.Thread(target=run)
        t.start()
        # the control process answers InitProducerId once its topics are loaded; then kill the
        # broker while the producer is in full flow
        deadline = time.time() + 30
        before = 0
        while before < 1000 and time.time() < deadline:
            time.sleep(0.1)
            before = cb.count()
        tap.ok(before > 0 and not errors, 'the idempotent producer delivers (InitProducerId answered)',
               '%d delivered, errors %s\n%s' % (before, errors[:5], b.log()[-3000:]))
        b.stop(signal.SIGKILL)
        time.sleep(0.5)
        b = Broker(sys.argv[1], data_dir=data, port=port)
        b.start()
        time.sleep(2)
        stop.set()
        t.join()
        left = p.flush(90)
        after = cb.count()
        tap.ok(after > before, 'the producer kept delivering across the SIGKILL restart',
               '%d before, %d after' % (before, after))
        tap.ok(left == 0, 'every message is resolved after the restart', '%d left' % left)
        tap.ok(not errors, 'no delivery failed', errors[:5])
        got = consume_all(b.bootstrap)
        for q in range(PARTS):
            d, g = delivered[q], got[q]
            dup = len(g) - len(set(g))
            tap.ok(dup == 0, 'partition %d: no duplicate' % q, '%d duplicates' % dup)
            tap.ok(set(d) <= set(g), 'partition %d: every delivered message is there' % q,
                   sorted(set(d) - set(g))[:10])
            tap.ok(g == sorted(g), 'partition %d: order kept' % q)
        p2 = Producer({'bootstrap.servers': b.bootstrap, 'enable.idempotence': True})
        p2.produce(TOPIC, value=b'second', partition=0)
        tap.ok(p2.flush(30) == 0, 'a second producer after the restart delivers')
        b.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
