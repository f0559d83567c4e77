#!/usr/bin/python3
"""
tests/interop/test_confluent.py: confluent-kafka-python (librdkafka) against the real broker:
records produced with each compression codec (zstd, lz4, gzip, snappy) and with none, binary
keys, values and headers, consumed back byte-identical.
Usage: test_confluent.py <path to ringtail>
"""
import os
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from rtbroker import Broker, run_tap

N = 3000


def main(tap):
    with Broker(sys.argv[1]) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        codecs = ['none', 'zstd', 'lz4', 'gzip', 'snappy']
        fs = admin.create_topics([NewTopic('cf-' + c, num_partitions=2, replication_factor=1) for c in codecs])
        for t, f in fs.items():
            err = None
            try:
                f.result(10)
            except Exception as e:  # noqa: BLE001
                err = e
            tap.ok(err is None, 'AdminClient created %s' % t, err)
        for codec in codecs:
            topic = 'cf-' + codec
            sent = []
            errors = []
            p = Producer({'bootstrap.servers': b.bootstrap, 'compression.type': codec, 'acks': 'all',
                          'linger.ms': 20, 'batch.num.messages': 500})

            def cb(err, msg):
                if err:
                    errors.append(err)

            for i in range(N):
                key = os.urandom(8)
                # Compressible values with random parts, up to a few KiB.
                val = (b'value-%d-' % i) * (i % 40) + os.urandom(i % 100)
                hdrs = [('h', os.urandom(4)), ('n', b'%d' % i)]
                sent.append((key, val, hdrs))
                p.produce(topic, value=val, key=key, headers=hdrs, partition=i % 2, on_delivery=cb)
                if i % 1000 == 0:
                    p.poll(0)
            left = p.flush(30)
            tap.ok(left == 0 and not errors, '%s: %d records acknowledged' % (codec, N), errors[:3])

            c = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': 'unused', 'enable.auto.commit': False,
                          'enable.partition.eof': True})
            c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
            got = {0: [], 1: []}
            eof = set()
            while len(eof) < 2:
                m = c.poll(10)
                if m is None:
                    break
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        eof.add(m.partition())
                        continue
                    tap.ok(False, '%s: consumer error' % codec, m.error())
                    break
                got[m.partition()].append((m.key(), m.value(), m.headers() or []))
            c.close()
            want = {0: [s for i, s in enumerate(sent) if i % 2 == 0], 1: [s for i, s in enumerate(sent) if i % 2 == 1]}
            tap.ok(got == want, '%s: consumed back byte-identical, in order, headers included' % codec,
                   'got %d+%d records' % (len(got[0]), len(got[1])))


run_tap(main)
