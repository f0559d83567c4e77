#!/usr/bin/python3
"""
tests/interop/test_shard_aware.py: shard-aware mode (ringtail.advertise.shards=true) against the
real broker: every shard listens on a port of its own and Metadata advertises it as a node that
leads the partitions the shard owns; unmodified librdkafka (confluent-kafka) then talks to each
partition's owner directly, and records go through byte-identical.
Usage: test_shard_aware.py <path to ringtail>
"""
import sys

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from rtbroker import Broker, run_tap


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


run_tap(main)
