#!/usr/bin/python3
"""
tests/interop/test_kafka_python.py: kafka-python (Debian python3-kafka) against the real broker:
create and delete topics, produce with acks=all, consume from the beginning, offsets by
timestamp, and describe / alter a topic config.
Usage: test_kafka_python.py <path to ringtail>
"""
import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError, InvalidTopicError

from rtbroker import Broker, run_tap

N = 2000


def main(tap):
    with Broker(sys.argv[1], {'auto.create.topics.enable': 'false'}) as b:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000)
        admin.create_topics([NewTopic('kp-a', 3, 1), NewTopic('kp-b', 1, 1)])
        tap.ok({'kp-a', 'kp-b'} <= set(admin.list_topics()), 'create_topics: both topics are listed')
        err = None
        try:
            admin.create_topics([NewTopic('kp-a', 3, 1)])
        except TopicAlreadyExistsError as e:
            err = e
        tap.ok(err is not None, 'creating an existing topic is TOPIC_ALREADY_EXISTS')
        err = None
        try:
            admin.create_topics([NewTopic('bad/name', 1, 1)])
        except InvalidTopicError as e:
            err = e
        tap.ok(err is not None, 'an illegal topic name is INVALID_TOPIC_EXCEPTION')
        admin.delete_topics(['kp-b'])
        tap.ok('kp-b' not in admin.list_topics(), 'delete_topics removes the topic')
        err = None
        try:
            admin.delete_topics(['kp-b'])
        except UnknownTopicOrPartitionError as e:
            err = e
        tap.ok(err is not None, 'deleting it again is UNKNOWN_TOPIC_OR_PARTITION')

        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all', linger_ms=5)
        t0 = int(time.time() * 1000) - 100000
        futs = [prod.send('kp-a', key=b'k%d' % i, value=b'v%d' % i, partition=i % 3, timestamp_ms=t0 + i)
                for i in range(N)]
        prod.flush(30)
        metas = [f.get(10) for f in futs]
        tap.ok(len(metas) == N and all(m.offset >= 0 for m in metas), 'acks=all produce: %d records acknowledged' % N)
        tap.ok(sorted(m.offset for m in metas if m.partition == 0) == list(range((N + 2) // 3)),
               'partition 0 offsets are dense from 0')
        prod.close()

        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, auto_offset_reset='earliest',
                             enable_auto_commit=False, consumer_timeout_ms=5000)
        tps = [TopicPartition('kp-a', p) for p in range(3)]
        cons.assign(tps)
        cons.seek_to_beginning()
        got = {}
        for m in cons:
            got.setdefault(m.partition, []).append((m.key, m.value, m.timestamp))
            if sum(len(v) for v in got.values()) == N:
                break
        want = {p: [(b'k%d' % i, b'v%d' % i, t0 + i) for i in range(N) if i % 3 == p] for p in range(3)}
        tap.ok(got == want, 'consume from the beginning: every record, in order, with its timestamp',
               {p: len(v) for p, v in got.items()})

        end = cons.end_offsets(tps)
        tap.ok([end[tp] for tp in tps] == [len(want[p]) for p in range(3)], 'end_offsets are the log end offsets')
        beg = cons.beginning_offsets(tps)
        tap.ok(all(beg[tp] == 0 for tp in tps), 'beginning_offsets are 0')
        q = cons.offsets_for_times({TopicPartition('kp-a', 1): t0 + 1000})
        r = q[TopicPartition('kp-a', 1)]
        # partition 1 holds i = 1, 4, 7, ...; the first with timestamp >= t0+1000 is i = 1000 (offset 333)
        tap.ok(r is not None and r.offset == 333 and r.timestamp == t0 + 1000,
               'offsets_for_times finds the first record at or after the timestamp', r)
        q = cons.offsets_for_times({TopicPartition('kp-a', 1): t0 + 10 * N})
        tap.ok(q[TopicPartition('kp-a', 1)] is None, 'offsets_for_times after the last record is None')
        cons.close()

        # Long poll: a fetch waiting on an empty partition is woken by the append, long before
        # its max wait.
        admin.create_topics([NewTopic('kp-wait', 1, 1)])
        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=20000, request_timeout_ms=40000, consumer_timeout_ms=15000)
        cons.assign([TopicPartition('kp-wait', 0)])
        cons.seek(TopicPartition('kp-wait', 0), 0)
        cons.poll(timeout_ms=200)   # the first fetch is now parked in the broker

        def later():
            time.sleep(1.0)
            p2 = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1)
            p2.send('kp-wait', value=b'wake', partition=0).get(10)
            p2.close()

        th = threading.Thread(target=later)
        t1 = time.time()
        th.start()
        got = None
        for m in cons:
            got = m.value
            break
        waited = time.time() - t1
        th.join()
        cons.close()
        tap.ok(got == b'wake' and waited < 8, 'a long-polling fetch is woken by the append (%.1f s of 20 s max wait)' % waited)

        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp-a')])
        cfg = {c[0]: c[1] for c in res[0].resources[0][4]}
        tap.ok(cfg.get('retention.ms') == '604800000' and 'cleanup.policy' in cfg,
               'describe_configs lists the topic configs with defaults', cfg)
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp-a', configs={'retention.ms': '3600000'})])
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'kp-a')])
        cfg = {c[0]: c[1] for c in res[0].resources[0][4]}
        tap.ok(cfg.get('retention.ms') == '3600000', 'alter_configs changes retention.ms', cfg.get('retention.ms'))
        admin.close()


run_tap(main)
