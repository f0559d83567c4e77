#!/usr/bin/python3
"""
tests/interop/test_shard_aware.py: shard-aware mode (ringtail.advertise.shards=true) against the
real broker: every shard listens on a port of its own and Metadata advertises it as a node that
leads the partitions the shard owns; unmodified librdkafka (confluent-kafka) then talks to each
partition's owner directly, and records go through byte-identical.  Ownership is persisted: after
a restart the start-up log names each partition's owner shard and Metadata agrees with it, also
where a fresh spread over the shards would have picked another shard (a topic created beside one
that was then deleted).
Usage: test_shard_aware.py <path to ringtail>
"""
import re
import shutil
import sys
import tempfile

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from rtbroker import Broker, run_tap


def owners_logged(log):
    """{topic: [owner shard of each partition]} from the start-up log's topic lines."""
    return {m.group(1): [int(x) for x in m.group(2).split(',')]
            for m in re.finditer(r'topic (\S+): \d+ partitions, owner shards \[([0-9,]*)\]', log)}


def leaders(bootstrap, topic):
    md = AdminClient({'bootstrap.servers': bootstrap}).list_topics(timeout=10)
    return [md.topics[topic].partitions[p].leader for p in sorted(md.topics[topic].partitions)]


def restart_keeps_owners(tap, exe):
    data = tempfile.mkdtemp(prefix='ringtail-owners-')
    try:
        conf = {'ringtail.advertise.shards': 'true', 'ringtail.cores': '0,1'}
        with Broker(exe, conf, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic('first', 1, 1)])['first'].result(10)
            admin.create_topics([NewTopic('second', 1, 1)])['second'].result(10)
            before = leaders(b.bootstrap, 'second')
            admin.delete_topics(['first'])['first'].result(10)
            tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')
        with Broker(exe, conf, data_dir=data) as b:
            logged = owners_logged(b.log().split('ringtail 0.1.0 started')[-1])
            after = leaders(b.bootstrap, 'second')
            # Node n + 1 is shard n.  'second' went to shard 1 beside 'first' on shard 0; a new
            # spread of the one topic left would put it on shard 0.
            tap.ok(before == [2] and after == [2] and logged.get('second') == [1] and 'first' not in logged,
                   'after a restart the persisted owner (shard 1) leads the partition, as the start-up log says',
                   (before, after, logged))
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main(tap):
    with Broker(sys.argv[1], {'ringtail.advertise.shards': 'true', 'ringtail.cores': '0,1'}) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        admin.create_topics([NewTopic('sa', 4, 1)])['sa'].result(10)
        md = admin.list_topics(timeout=10)
        nodes = {n.id: n.port for n in md.brokers.values()}
        tap.ok(nodes == {0: b.port, 1: b.port + 1, 2: b.port + 2},
               'Metadata lists the broker and one node per shard on its own port', nodes)
        leaders = {p.id: p.leader for p in md.topics['sa'].partitions.values()}
        tap.ok(sorted(leaders.values()) == [1, 1, 2, 2], 'each partition is led by its owner shard node', leaders)
        p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all'})
        sent = {i: [] for i in range(4)}
        for i in range(4000):
            v = b'sa-%d' % i
            sent[i % 4].append(v)
            p.produce('sa', value=v, partition=i % 4)
        tap.ok(p.flush(20) == 0, '4000 records produced through the shard nodes')
        out, _ = read_to_end(b.bootstrap, 'sa', range(4))
        got = {i: [m.value() for m in out[i]] for i in range(4)}
        tap.ok(got == sent, 'consumed back in order from the shard nodes',
               {i: (len(got[i]), len(sent[i]), got[i][:2], sent[i][:2]) for i in range(4)})
        logged = owners_logged(b.log())
        tap.ok(not logged, 'the start-up log of an empty data directory names no topic', logged)
    restart_keeps_owners(tap, sys.argv[1])


run_tap(main)
