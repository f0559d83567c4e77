#!/usr/bin/python3
"""
tests/interop/test_compacted.py: a compacted topic refuses records without a key with
INVALID_RECORD (as Kafka does) and takes keyed records and tombstones; librdkafka through
confluent-kafka-python.
Usage: test_compacted.py <path to ringtail>
"""
import sys

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from rtbroker import Broker, run_tap


def produce(bootstrap, key, value):
    """Returns the delivery error (None on success)."""
    out = []
    p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'retries': 0,
                  'enable.idempotence': False, 'message.timeout.ms': 10000})
    p.produce('cmp', key=key, value=value, on_delivery=lambda err, msg: out.append(err))
    p.flush(15)
    return out[0] if out else 'no delivery report'


def main(tap):
    with Broker(sys.argv[1]) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        admin.create_topics([NewTopic('cmp', 1, 1, config={'cleanup.policy': 'compact'})])['cmp'].result(10)
        err = produce(b.bootstrap, None, b'no key')
        tap.ok(err is not None and err.code() == KafkaError.INVALID_RECORD,
               'a record without a key is refused with INVALID_RECORD', str(err))
        tap.ok(produce(b.bootstrap, b'k', b'v') is None, 'a keyed record is accepted')
        tap.ok(produce(b.bootstrap, b'k', None) is None, 'a tombstone (keyed, null value) is accepted')


run_tap(main)
