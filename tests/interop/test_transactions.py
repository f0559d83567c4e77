#!/usr/bin/python3
"""
tests/interop/test_transactions.py: transactions end to end with confluent-kafka-python
(librdkafka) against the real broker: a transactional producer commits one transaction and
aborts another (markers written by WriteTxnMarkers), a read_uncommitted consumer sees both; a second producer with the same transactional.id fences
the first.  Not checked yet: read_committed skipping aborted records (Fetch does not fill
aborted_transactions yet).
Usage: test_transactions.py <path to ringtail>
"""
import shutil
import sys
import tempfile
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rtbroker import Broker, free_port, run_tap

TOPIC = 'txn-topic'


def consume_all(bootstrap, isolation, expect, timeout=20):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'g-' + isolation + str(time.time()),
                  'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
                  'isolation.level': isolation})
    c.subscribe([TOPIC])
    got = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and len(got) < expect:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append(m.value().decode())
        # a little longer: records beyond what is expected must not show up
        end = time.time() + 2
        while time.time() < end:
            m = c.poll(0.3)
            if m is not None and not m.error():
                got.append(m.value().decode())
    finally:
        c.close()
    return sorted(got)


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-txns-')
    port = free_port()
    try:
        with Broker(sys.argv[1], data_dir=data, port=port) as b:
            bs = '127.0.0.1:%d' % port
            a = AdminClient({'bootstrap.servers': bs})
            for f in a.create_topics([NewTopic(TOPIC, 1, 1)]).values():
                f.result(30)
            p = Producer({'bootstrap.servers': bs, 'transactional.id': 'tx-interop',
                          'transaction.timeout.ms': 60000})
            p.init_transactions(30)
            p.begin_transaction()
            for i in range(3):
                p.produce(TOPIC, value=b'committed-%d' % i)
            p.commit_transaction(30)
            tap.ok(True, 'a transaction of three records commits')
            p.begin_transaction()
            for i in range(2):
                p.produce(TOPIC, value=b'aborted-%d' % i)
            p.flush(30)
            p.abort_transaction(30)
            tap.ok(True, 'a transaction of two records aborts')
            p.begin_transaction()
            p.produce(TOPIC, value=b'committed-3')
            p.commit_transaction(30)
            committed = ['committed-%d' % i for i in range(4)]
            ru = consume_all(bs, 'read_uncommitted', 6)
            tap.ok(ru == sorted(committed + ['aborted-0', 'aborted-1']),
                   'read_uncommitted sees the aborted records too', ru)
            p2 = Producer({'bootstrap.servers': bs, 'transactional.id': 'tx-interop'})
            p2.init_transactions(30)
            fenced = None
            try:
                p.begin_transaction()
                p.produce(TOPIC, value=b'zombie')
                p.commit_transaction(30)
            except KafkaException as e:
                fenced = e.args[0]
            tap.ok(fenced is not None and fenced.fatal(),
                   'the first producer is fenced by a second with the same transactional.id (fatal)',
                   fenced)
            p2.begin_transaction()
            p2.produce(TOPIC, value=b'committed-4')
            p2.commit_transaction(30)
            ru = consume_all(bs, 'read_uncommitted', 7)
            tap.ok(ru == sorted(committed + ['committed-4', 'aborted-0', 'aborted-1']),
                   'the new producer commits; the fenced one wrote nothing', ru)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
