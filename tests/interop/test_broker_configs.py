#!/usr/bin/python3
"""
tests/interop/test_broker_configs.py: dynamic broker configs (Kafka's KIP-226) on the real
broker, driven by kafka-python (AlterConfigs, DescribeConfigs with synonyms), confluent-kafka
(AlterConfigs, DescribeConfigs) and, for IncrementalAlterConfigs, kwire: Debian's
confluent-kafka 1.7.0 / librdkafka 2.0.2 have no incremental_alter_configs (added in 2.2), and
neither client describes the cluster-default resource "" (both insist on a numeric name).
- A cluster-wide default (resource "") log.segment.bytes=16384 set by kafka-python: an existing
  topic without an override rolls its segments at the new size on both shards; a topic with its
  own segment.bytes does not.  DescribeConfigs shows DYNAMIC_DEFAULT_BROKER_CONFIG on the broker
  and on the topic, with Kafka's synonym order (dynamic default, static, default).
- A per-broker log.retention.bytes (IncrementalAlterConfigs SET on the broker's node id, here
  a shard's node id in shard-aware mode: the same process) makes retention delete old segments
  of the topic without an override; a topic override (retention.bytes=-1) still wins.
- The configs survive a restart; a corrupt entry in their file stops the start with a message
  naming the file, the key and the value.
- DELETE of the default brings back the static log.segment.bytes (STATIC_BROKER_CONFIG); the
  topic stops rolling at 16 KiB.
- A cluster default message.max.bytes is the produce limit of a topic without max.message.bytes.
- Kafka's errors: a key that cannot change dynamically and a bad value are INVALID_REQUEST with
  Kafka's messages ("Cannot update these configs dynamically: Set(...)", "Invalid value x for
  configuration k: ..."), APPEND to a key that is not a list INVALID_CONFIG, another broker's id
  INVALID_REQUEST; validate_only changes nothing.  (A topic's cleanup.policy takes APPEND and
  SUBTRACT too.)
Usage: test_broker_configs.py <path to ringtail>
"""
import glob
import os
import sys
import time

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource as KResource, ConfigResourceType, KafkaAdminClient

import kwire
from rtbroker import Broker, run_tap

BROKER = 4
SRC_TOPIC, SRC_DYN_BROKER, SRC_DYN_DEFAULT, SRC_STATIC, SRC_DEFAULT = 1, 2, 3, 4, 5
MESSAGE_TOO_LARGE, INVALID_CONFIG, INVALID_REQUEST = 10, 40, 42
STATIC_SEGMENT = 1048576


def segments(b, topic, p):
    return len(glob.glob(os.path.join(b.data_dir, 'data', '%s-%d' % (topic, p), '*.log')))


def produce(b, topic, parts, n):
    """n records of 1 KiB into each partition, in small batches: acknowledged."""
    pr = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1, linger_ms=0, batch_size=4096)
    futs = [pr.send(topic, b'x' * 1024, partition=p) for _ in range(n) for p in parts]
    pr.flush(30)
    pr.close()
    return all(f.succeeded() for f in futs)


def earliest(b, topic, parts):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap)
    try:
        got = c.beginning_offsets([TopicPartition(topic, p) for p in parts])
        return [got[TopicPartition(topic, p)] for p in parts]
    finally:
        c.close()


def kdescribe(kadmin, name, keys):
    """kafka-python DescribeConfigs (v1+, synonyms) of broker `name`: {key: (value, source, read_only, synonyms)}."""
    resp = kadmin.describe_configs([KResource(ConfigResourceType.BROKER, name)], include_synonyms=True)
    out = {}
    for r in resp[0].resources:
        for e in r[4]:
            if e[0] in keys:
                out[e[0]] = (e[1], e[3], e[2], [tuple(s) for s in e[5]])
    return out


def main(tap):
    overrides = {'ringtail.cores': '0,1', 'ringtail.advertise.shards': 'true',
                 'log.segment.bytes': STATIC_SEGMENT}
    with Broker(sys.argv[1], overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        for t in (admin.create_topics([NewTopic('dyn', 2, 1), NewTopic('own', 2, 1, config={
                'segment.bytes': str(STATIC_SEGMENT), 'retention.bytes': '-1'})])).values():
            t.result(10)
        kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        c = kwire.Conn(b.port)

        # Cluster-wide default by kafka-python's AlterConfigs.
        r = kadmin.alter_configs([KResource(ConfigResourceType.BROKER, '', configs={'log.segment.bytes': '16384'})])
        tap.ok([x[:2] for x in r.resources] == [(0, None)], 'AlterConfigs of the cluster default (resource "")',
               r.resources)
        err, msg, d = kwire.describe_configs_on(c, BROKER, '')
        tap.ok(err == 0 and list(d) == ['log.segment.bytes'] and d['log.segment.bytes'][:3] == ('16384', SRC_DYN_DEFAULT, False),
               'DescribeConfigs of "" lists the cluster defaults only, DYNAMIC_DEFAULT_BROKER_CONFIG', (err, msg, d))
        got = kdescribe(kadmin, '0', ('log.segment.bytes',))
        tap.ok(got.get('log.segment.bytes') == ('16384', SRC_DYN_DEFAULT, False, [
            ('log.segment.bytes', '16384', SRC_DYN_DEFAULT), ('log.segment.bytes', str(STATIC_SEGMENT), SRC_STATIC),
            ('log.segment.bytes', '1073741824', SRC_DEFAULT)]),
            'the broker shows the new value, its source and the synonyms in Kafka\'s order', got)
        err, _, t = kwire.describe_configs_on(c, 2, 'dyn')
        tap.ok(t.get('segment.bytes', (None,))[:2] == ('16384', SRC_DYN_DEFAULT) and
               t['segment.bytes'][3][0] == ('log.segment.bytes', '16384', SRC_DYN_DEFAULT),
               'a topic without an override follows the default: DYNAMIC_DEFAULT_BROKER_CONFIG', t.get('segment.bytes'))
        err, _, t = kwire.describe_configs_on(c, 2, 'own')
        tap.ok(t.get('segment.bytes', (None,))[:2] == (str(STATIC_SEGMENT), SRC_TOPIC),
               'a topic override still wins: TOPIC_CONFIG', t.get('segment.bytes'))

        # The effect on every shard: segments roll at 16 KiB in the topic that follows the default.
        tap.ok(produce(b, 'dyn', (0, 1), 120) and produce(b, 'own', (0, 1), 120), 'produced 120 KiB per partition')
        rolled = [segments(b, 'dyn', p) for p in (0, 1)]
        kept = [segments(b, 'own', p) for p in (0, 1)]
        tap.ok(min(rolled) >= 6 and kept == [1, 1],
               'partitions on both shards roll at the dynamic segment size; the override keeps one segment',
               (rolled, kept))

        # Per-broker retention through a shard's node id (shard-aware mode: the same broker).
        md = admin.list_topics(timeout=10)
        shard_id = str(max(md.brokers))
        tap.ok(shard_id != '0', 'shard-aware mode advertises shard node ids', sorted(md.brokers))
        res = kwire.incremental_alter_on(c, BROKER, shard_id, [('log.retention.bytes', 0, '40000')])
        tap.ok(res == (0, None), 'IncrementalAlterConfigs SET on a shard\'s node id', res)
        deadline, first = time.time() + 20, None
        while time.time() < deadline:
            first = earliest(b, 'dyn', (0, 1))
            if min(first) > 0:
                break
            time.sleep(0.5)
        tap.ok(min(first) > 0 and earliest(b, 'own', (0, 1)) == [0, 0],
               'retention deletes old segments of the topic that follows the broker; the override (-1) keeps all',
               (first, earliest(b, 'own', (0, 1))))
        got = kdescribe(kadmin, '0', ('log.retention.bytes',))
        tap.ok(got.get('log.retention.bytes', (None,))[:2] == ('40000', SRC_DYN_BROKER),
               'the per-broker value is DYNAMIC_BROKER_CONFIG', got)

        # message.max.bytes: the produce check of every topic without max.message.bytes follows.
        big = kwire.batch([(None, b'y' * 3000)])
        res = kwire.incremental_alter_on(c, BROKER, '', [('message.max.bytes', 0, '2000')])
        err = kwire.produce_on(c, 'dyn', 1, big, acks=1)[0]
        res2 = kwire.incremental_alter_on(c, BROKER, '', [('message.max.bytes', 1, None)])
        err2 = kwire.produce_on(c, 'dyn', 1, big, acks=1)[0]
        tap.ok(res == (0, None) and err == MESSAGE_TOO_LARGE and res2 == (0, None) and err2 == 0,
               'a dynamic message.max.bytes=2000 refuses a 3 KB batch (MESSAGE_TOO_LARGE); DELETE accepts it again',
               (res, err, res2, err2))

        # Kafka's errors.
        res = kwire.incremental_alter_on(c, BROKER, '0', [('auto.create.topics.enable', 0, 'false')])
        tap.ok(res == (INVALID_REQUEST, 'Cannot update these configs dynamically: Set(auto.create.topics.enable)'),
               'a key Kafka cannot change dynamically: INVALID_REQUEST with Kafka\'s message', res)
        r = kadmin.alter_configs([KResource(ConfigResourceType.BROKER, '0', configs={'log.segment.bytes': 'abc'})])
        tap.ok([x[:2] for x in r.resources] == [(INVALID_REQUEST, 'Invalid value abc for configuration '
                                                 'log.segment.bytes: Not a number of type INT')],
               'a bad value: INVALID_REQUEST naming key, value and what is allowed', r.resources)
        res = kwire.incremental_alter_on(c, BROKER, '', [('log.segment.bytes', 0, '5')])
        tap.ok(res == (INVALID_REQUEST, 'Invalid value 5 for configuration log.segment.bytes: Value must be at least 14'),
               'a value below the minimum: INVALID_REQUEST', res)
        res = kwire.incremental_alter_on(c, BROKER, '', [('log.segment.bytes', 2, '5')])
        tap.ok(res == (INVALID_CONFIG, 'Config value append is not allowed for config key: log.segment.bytes'),
               'APPEND to a key that is not a list: INVALID_CONFIG', res)
        # APPEND adds at the end of the default list, as Kafka's prepareIncrementalConfigs does.
        res = kwire.incremental_alter_on(c, 2, 'own', [('cleanup.policy', 2, 'compact')])
        _, _, t = kwire.describe_configs_on(c, 2, 'own')
        res2 = kwire.incremental_alter_on(c, 2, 'own', [('retention.ms', 3, '1')])
        res3 = kwire.incremental_alter_on(c, 2, 'own', [('cleanup.policy', 3, 'compact')])
        tap.ok(res == (0, None) and t.get('cleanup.policy', (None,))[:2] == ('delete,compact', SRC_TOPIC) and
               res2 == (INVALID_CONFIG, "Can't SUBTRACT to key retention.ms because its type is not LIST.") and
               res3 == (0, None), 'a topic\'s cleanup.policy takes APPEND and SUBTRACT; a non-list key is '
               'INVALID_CONFIG with the controller\'s message', (res, t.get('cleanup.policy'), res2, res3))
        res = kwire.incremental_alter_on(c, BROKER, '7', [('log.roll.ms', 0, '1000')])
        tap.ok(res == (INVALID_REQUEST, 'Unexpected broker id, expected 0, but received 7'),
               'another broker\'s id: INVALID_REQUEST', res)
        res = kwire.incremental_alter_on(c, BROKER, '', [('log.roll.ms', 0, '1000')], validate_only=True)
        err, _, d = kwire.describe_configs_on(c, BROKER, '')
        tap.ok(res == (0, None) and 'log.roll.ms' not in d, 'validate_only checks and changes nothing', (res, d))
        c.close()
        kadmin.close()

        # A restart keeps them.
        tap.ok(b.stop() == 0, 'SIGTERM: exit 0')
        b.start()
        c = kwire.Conn(b.port)
        err, _, d = kwire.describe_configs_on(c, BROKER, '0')
        err2, _, t = kwire.describe_configs_on(c, 2, 'dyn')
        tap.ok(d.get('log.segment.bytes', (None,))[:2] == ('16384', SRC_DYN_DEFAULT) and
               d.get('log.retention.bytes', (None,))[:2] == ('40000', SRC_DYN_BROKER) and
               t.get('segment.bytes', (None,))[:2] == ('16384', SRC_DYN_DEFAULT),
               'after a restart the dynamic configs and their sources are back',
               (d.get('log.segment.bytes'), d.get('log.retention.bytes'), t.get('segment.bytes')))

        # DELETE restores the static value, and the topic stops rolling at 16 KiB.
        res = kwire.incremental_alter_on(c, BROKER, '', [('log.segment.bytes', 1, None)])
        res2 = kwire.incremental_alter_on(c, BROKER, '0', [('log.retention.bytes', 1, None)])
        tap.ok(res == (0, None) and res2 == (0, None), 'IncrementalAlterConfigs DELETE', (res, res2))
        err, _, t = kwire.describe_configs_on(c, 2, 'dyn')
        tap.ok(t.get('segment.bytes', (None,))[:2] == (str(STATIC_SEGMENT), SRC_STATIC),
               'the topic is back on the static log.segment.bytes: STATIC_BROKER_CONFIG', t.get('segment.bytes'))
        before = [segments(b, 'dyn', p) for p in (0, 1)]
        tap.ok(produce(b, 'dyn', (0, 1), 60), 'produced 60 KiB more per partition')
        after = [segments(b, 'dyn', p) for p in (0, 1)]
        tap.ok(all(a <= x + 1 for a, x in zip(after, before)), 'no more rolls at 16 KiB', (before, after))
        cres = ConfigResource('broker', '0')
        got = admin.describe_configs([cres])[cres].result(10)
        tap.ok(got['log.segment.bytes'].value == str(STATIC_SEGMENT) and
               got['log.segment.bytes'].source == SRC_STATIC and got['log.retention.bytes'].source == SRC_DEFAULT,
               'confluent-kafka sees the static and default sources again',
               (got['log.segment.bytes'].value, got['log.segment.bytes'].source, got['log.retention.bytes'].source))

        # confluent-kafka's AlterConfigs (the whole per-broker set) and a corrupt file at start.
        f = admin.alter_configs([ConfigResource('broker', '0', set_config={'log.roll.ms': '3600000'})])
        f[list(f)[0]].result(10)
        err, _, d = kwire.describe_configs_on(c, BROKER, '0')
        tap.ok(d.get('log.roll.ms', (None,))[:2] == ('3600000', SRC_DYN_BROKER),
               'confluent-kafka AlterConfigs of the broker', d.get('log.roll.ms'))
        c.close()
        b.stop()
        path = os.path.join(b.data_dir, 'data', 'ringtail-broker-configs')
        with open(path, 'a') as fh:
            fh.write('default log.retention.ms=soon\n')
        try:
            b.start()
            failed = ''
        except RuntimeError as e:
            failed = str(e)
        tap.ok('ringtail-broker-configs' in failed and 'log.retention.ms=soon' in failed,
               'a corrupt entry stops the start naming the file, the key and the value', failed[-400:])


run_tap(main)
