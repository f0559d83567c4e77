#!/usr/bin/python3
"""
tests/interop/test_partition_shards.py: partition ownership as the operator sets it and as tools
see it.  The topic config ringtail.partition.shards (one owner shard per partition) is taken by
CreateTopics (confluent-kafka), and in shard-aware mode Kafka's own replica assignments name a
shard by its node, in CreateTopics and CreatePartitions.  Metadata's leaders follow the
assignment, records go through, DescribeConfigs shows the list read-only (kafka-python and
confluent-kafka), AlterConfigs cannot change it (Kafka's INVALID_REQUEST for a static config)
but may send it back unchanged, bad lists and assignments get Kafka's error codes with messages
that name the value, and the owners survive a restart; with fewer shards the owners that no
longer exist are re-spread, logged, and persisted.  `ringtail --show-partitions` prints topic,
partition, owner shard and core from the data directory, beside a running broker too, and
writes nothing.
Usage: test_partition_shards.py <path to ringtail>
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KPResource, ConfigResourceType

import kwire
from kclient import read_to_end
from rtbroker import Broker, run_tap

KEY = 'ringtail.partition.shards'


def leaders(admin, topic):
    md = admin.list_topics(topic, timeout=10)
    return [md.topics[topic].partitions[p].leader for p in sorted(md.topics[topic].partitions)]


def error_of(future):
    """(code, message) of a failed admin future, (0, None) when it succeeded."""
    e = future.exception(15)
    if e is None:
        return 0, None
    err = e.args[0]
    return err.code(), err.str()


def described(admin, topic):
    """confluent-kafka's DescribeConfigs entry of the key: (value, read-only, source)."""
    res = ConfigResource('topic', topic)
    e = admin.describe_configs([res])[res].result(10)[KEY]
    src = e.source if isinstance(e.source, ConfigSource) else ConfigSource(e.source)  # an int in 1.7.0
    return e.value, e.is_read_only, src


def described_kafka_python(bootstrap, topic):
    """kafka-python's DescribeConfigs entry of the key: (value, read-only)."""
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        resp = a.describe_configs([KPResource(ConfigResourceType.TOPIC, topic)])[0]
        entries = {e[0]: e for e in resp.resources[0][4]}
        e = entries.get(KEY)
        return (e[1], e[2]) if e else None
    finally:
        a.close()


def owners_logged(log):
    return {m.group(1): m.group(2)
            for m in re.finditer(r'topic (\S+): \d+ partitions, owner shards \[([0-9,]*)\]', log)}


def show_partitions(exe, data, cores):
    """`ringtail --show-partitions` for data dir `data` with ringtail.cores=cores:
    (exit status, {topic: [(shard, core) of each partition]}, stderr)."""
    p = subprocess.run([exe, '--override', 'log.dirs=%s' % os.path.join(data, 'data'),
                        '--override', 'ringtail.cores=%s' % cores, '--show-partitions'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    rows = {}
    for line in p.stdout.decode().splitlines()[1:]:
        topic, part, shard, core = line.split()
        rows.setdefault(topic, []).append((int(part), int(shard), int(core)))
    table = {t: [(sh, co) for _, sh, co in sorted(r)] for t, r in rows.items()}
    return p.returncode, table, p.stderr.decode()


def shard_aware(tap, b):
    admin = AdminClient({'bootstrap.servers': b.bootstrap})
    # Node 0 is the broker, node 1 + s is shard s.
    tap.ok(error_of(admin.create_topics([NewTopic('own', 4, 1, config={KEY: '1,1,0,1'})])['own']) == (0, None),
           'CreateTopics takes %s=1,1,0,1' % KEY)
    tap.ok(leaders(admin, 'own') == [2, 2, 1, 2], 'Metadata: each partition is led by the node of the shard named',
           leaders(admin, 'own'))
    p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all'})
    sent = {i: [b'own-%d-%d' % (i, k) for k in range(50)] for i in range(4)}
    for i in range(4):
        for v in sent[i]:
            p.produce('own', value=v, partition=i)
    tap.ok(p.flush(20) == 0, 'records produced to every partition through the shard nodes')
    out, _ = read_to_end(b.bootstrap, 'own', range(4))
    got = {i: [m.value() for m in out[i]] for i in range(4)}
    tap.ok(got == sent, 'and consumed back in order', {i: len(got[i]) for i in got})
    tap.ok(described(admin, 'own') == ('1,1,0,1', True, ConfigSource.DYNAMIC_TOPIC_CONFIG),
           'confluent-kafka DescribeConfigs: the list, read-only, a topic config', described(admin, 'own'))
    tap.ok(described_kafka_python(b.bootstrap, 'own') == ('1,1,0,1', True),
           'kafka-python DescribeConfigs: the list, read-only', described_kafka_python(b.bootstrap, 'own'))

    # Kafka's replica assignments: a shard's node, or the broker (the registry spreads).
    f = admin.create_topics([NewTopic('man', 3, replica_assignment=[[2], [1], [0]])])['man']
    tap.ok(error_of(f) == (0, None), 'CreateTopics with replica assignments naming shard nodes', error_of(f))
    lead = leaders(admin, 'man')
    tap.ok(lead[:2] == [2, 1] and lead[2] in (1, 2), 'Metadata follows the assignment', lead)
    f = admin.create_partitions([NewPartitions('man', 5, replica_assignment=[[1], [2]])])['man']
    tap.ok(error_of(f) == (0, None), 'CreatePartitions with assignments naming shard nodes', error_of(f))
    tap.ok(leaders(admin, 'man')[3:] == [1, 2], 'the new partitions are led by the shards named',
           leaders(admin, 'man'))
    tap.ok(described(admin, 'man')[0] == ','.join(str(n - 1) for n in leaders(admin, 'man')),
           'DescribeConfigs agrees with Metadata', (described(admin, 'man'), leaders(admin, 'man')))

    bad = [
        (NewTopic('b1', 2, 1, config={KEY: '0,5'}), KafkaError.INVALID_CONFIG,
         KEY + '=0,5: shard 5 does not exist (allowed: shards 0 to 1)'),
        (NewTopic('b2', 3, 1, config={KEY: '0,1'}), KafkaError.INVALID_CONFIG,
         KEY + '=0,1: 2 shards listed for 3 partitions (allowed: one shard from 0 to 1 per partition)'),
        (NewTopic('b3', 2, 1, config={KEY: 'one,two'}), KafkaError.INVALID_CONFIG,
         KEY + '=one,two: not a list of shard numbers'),
        (NewTopic('b4', 1, replica_assignment=[[7]]), KafkaError.INVALID_REPLICA_ASSIGNMENT,
         'The manual partition assignment includes broker 7, but no such broker is registered.'),
        (NewTopic('b5', 2, replica_assignment=[[1], [2]], config={KEY: '0,0'}), KafkaError.INVALID_REPLICA_ASSIGNMENT,
         'The manual partition assignment puts partition 1 on shard 1 (node 2), but ' + KEY + ' names shard 0'),
        (NewTopic('b6', 1, replica_assignment=[[1, 2]]), KafkaError.INVALID_REPLICA_ASSIGNMENT,
         'The manual partition assignment includes a partition with 2 replicas'),
    ]
    for nt, code, msg in bad:
        got = error_of(admin.create_topics([nt])[nt.topic])
        tap.ok(got[0] == code and got[1].startswith(msg), 'CreateTopics %s: %s' % (nt.topic, msg), got)
    tap.ok(set(admin.list_topics(timeout=10).topics) & {'b1', 'b2', 'b3', 'b4', 'b5', 'b6'} == set(),
           'no refused topic was created')
    got = error_of(admin.create_partitions([NewPartitions('man', 7, replica_assignment=[[1]])])['man'])
    tap.ok(got == (KafkaError.INVALID_REPLICA_ASSIGNMENT,
                   'Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.'),
           'CreatePartitions with too few assignments: Kafka\'s answer', got)

    c = kwire.Conn(b.port)
    try:
        static = (42, 'Cannot update these configs dynamically: Set(%s)' % KEY)
        for incremental in (False, True):
            api = 'IncrementalAlterConfigs' if incremental else 'AlterConfigs'
            got = kwire.alter_topic_on(c, 'own', {KEY: '0,0,0,0'}, incremental)
            tap.ok(got == static, '%s that changes the owners: INVALID_REQUEST, as Kafka for a static config' % api,
                   got)
        got = kwire.alter_topic_on(c, 'own', {KEY: '1,1,0,1', 'retention.ms': '3600000'})
        tap.ok(got == (0, None), 'AlterConfigs that sends the owners back unchanged is accepted', got)
    finally:
        c.close()
    tap.ok(described(admin, 'own')[0] == '1,1,0,1' and leaders(admin, 'own') == [2, 2, 1, 2],
           'the owners did not change', (described(admin, 'own'), leaders(admin, 'own')))


def main(tap):
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-pshards-')
    try:
        conf = {'ringtail.advertise.shards': 'true', 'ringtail.cores': '0,1'}
        with Broker(exe, conf, data_dir=data) as b:
            shard_aware(tap, b)
            rc, table, err = show_partitions(exe, data, '0,1')
            tap.ok(rc == 0 and table.get('own') == [(1, 1), (1, 1), (0, 0), (1, 1)],
                   '--show-partitions beside the running broker: owner shard and core of each partition',
                   (rc, table, err))
            tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')
        registry = os.path.join(data, 'data', 'ringtail-topics')
        with open(registry, 'rb') as f:
            before = f.read()
        rc, table, err = show_partitions(exe, data, '1,0')
        tap.ok(rc == 0 and table.get('own') == [(1, 0), (1, 0), (0, 1), (1, 0)],
               '--show-partitions: the core is the configured core of the owner shard', (rc, table, err))
        rc, table, err = show_partitions(exe, data, '1')
        with open(registry, 'rb') as f:
            after = f.read()
        tap.ok(rc == 0 and table.get('own') == [(0, 1)] * 4 and 'no longer exist' in err and after == before,
               '--show-partitions with one shard shows (and warns of) the re-spread a start would do, '
               'and writes nothing', (rc, table, err))
        with Broker(exe, conf, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            log = owners_logged(b.log().split(' started: ')[-1])
            tap.ok(leaders(admin, 'own') == [2, 2, 1, 2] and described(admin, 'own')[0] == '1,1,0,1'
                   and log.get('own') == '1,1,0,1',
                   'after a restart Metadata, DescribeConfigs and the start-up log keep the owners',
                   (leaders(admin, 'own'), described(admin, 'own'), log))
            tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')
        # One shard, default mode: the owners on shard 1 are re-spread (partition mod 1 = 0).
        with Broker(exe, {'ringtail.cores': '0'}, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            text = b.log().split('ringtail 0.1.0 started')[-2]  # this run's start-up, before its started line
            tap.ok('topic own: 3 of its 4 partitions were owned by shards that no longer exist (1 shards now)'
                   in text, 'the re-spread is logged', text[-3000:])
            tap.ok(described(admin, 'own')[0] == '0,0,0,0' and leaders(admin, 'own') == [0, 0, 0, 0],
                   'with one shard every partition belongs to shard 0, led by the broker',
                   (described(admin, 'own'), leaders(admin, 'own')))
            got = error_of(admin.create_topics([NewTopic('d1', 1, replica_assignment=[[1]])])['d1'])
            tap.ok(got[0] == KafkaError.INVALID_REPLICA_ASSIGNMENT,
                   'without shard-aware mode a shard node is not a broker here', got)
            tap.ok(error_of(admin.create_topics([NewTopic('d2', 2, 1, config={KEY: '0,0'})])['d2']) == (0, None)
                   and described(admin, 'd2')[0] == '0,0', 'the key works in the default mode too')
            tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')
        with Broker(exe, conf, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            tap.ok(described(admin, 'own')[0] == '0,0,0,0',
                   'the re-spread was persisted: two shards again keep them on shard 0', described(admin, 'own'))
    finally:
        shutil.rmtree(data, ignore_errors=True)


run_tap(main)
