#!/usr/bin/python3
"""
tests/interop/test_alter_configs_shards.py: an AlterConfigs or IncrementalAlterConfigs answer
means the change is in effect on every shard.  In shard-aware mode (each shard on a port of its
own) a topic config is altered through one shard's port and, as soon as the answer is in, a
produce goes straight to the partition's owner through the other shard's port: the produce
must see the new message.timestamp.type (the owner's open log carries it; the produce answer's
log_append_time is -1 for CreateTime and the broker's clock for LogAppendTime).  The type is
flipped many times per API so that an answer that ran ahead of the owner shard would show.
Then an AlterConfigs whose 60,000 configs do not fit in the broker's per-request memory is
refused and leaves the topic's overrides as they were (it must not be taken as an empty set).
Usage: test_alter_configs_shards.py <path to ringtail>
"""
import sys

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

import kwire
from kwire import Conn
from rtbroker import Broker, run_tap

TOPIC = 'acs'
ROUNDS = 60


def main(tap):
    with Broker(sys.argv[1], {'ringtail.advertise.shards': 'true', 'ringtail.cores': '0,1'}) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(10)
        md = admin.list_topics(timeout=10)
        ports = {n.id: n.port for n in md.brokers.values()}
        leaders = {p.id: p.leader for p in md.topics[TOPIC].partitions.values()}
        tap.ok(sorted(leaders.values()) == [1, 2], 'the two partitions are owned by different shards', leaders)
        shard_nodes = sorted(n for n in ports if n != 0)
        record = kwire.batch([(None, b'v')])
        for incremental in (False, True):
            api = 'IncrementalAlterConfigs' if incremental else 'AlterConfigs'
            errors, stale = [], []
            for p, owner in sorted(leaders.items()):
                other = [n for n in shard_nodes if n != owner][0]
                alter, prod = Conn(ports[other]), Conn(ports[owner])
                try:
                    for i in range(ROUNDS):
                        ts_type = 'LogAppendTime' if i % 2 == 0 else 'CreateTime'
                        res = kwire.alter_topic_on(alter, TOPIC, {'message.timestamp.type': ts_type}, incremental)
                        if res != (0, None):
                            errors.append((p, i, res))
                            continue
                        err, _, append_time = kwire.produce_on(prod, TOPIC, p, record, acks=1)
                        if err or (append_time > 0) != (ts_type == 'LogAppendTime'):
                            stale.append((p, i, ts_type, err, append_time))
                finally:
                    alter.close()
                    prod.close()
            tap.ok(not errors, '%s answers every change without an error' % api, errors[:5])
            tap.ok(not stale, '%s: a produce sent to the owner shard right after the answer, on a connection '
                   'of another shard, sees the new message.timestamp.type (%d rounds per partition)' % (api, ROUNDS),
                   stale[:5])

        # The per-request arena holds 1 MiB plus 4 bytes per frame byte: 60,000 configs of 6 wire
        # bytes each decode within it, their C strings do not.
        c = Conn(b.port)
        try:
            tap.ok(kwire.alter_topic_on(c, TOPIC, {'retention.ms': '3600000'}) == (0, None),
                   'AlterConfigs sets retention.ms')
            many = {'%05d' % i: 'v' for i in range(60000)}
            err, msg = kwire.alter_topic_on(c, TOPIC, many)
            tap.ok(err != 0 and 'per-request memory' in (msg or ''),
                   'an AlterConfigs whose configs do not fit the request memory is refused', (err, msg))
        finally:
            c.close()
        res = ConfigResource('topic', TOPIC)
        cfg = admin.describe_configs([res])[res].result(10)
        tap.ok(cfg['retention.ms'].value == '3600000', 'the refused request left the override in place',
               cfg['retention.ms'].value)


run_tap(main)
