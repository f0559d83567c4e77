#!/usr/bin/python3
"""
tests/interop/test_admin_apis.py: the admin APIs beyond topics and configs against the real
broker: CreatePartitions (kafka-python), DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs,
DescribeCluster and DescribeTopicPartitions (raw requests, kwire.py), each checked against what
was produced; Metadata's auto-creation (allowed or not by the request) and topic ids (DeleteRecords refused on a compact-only topic with POLICY_VIOLATION, as Kafka's
Partition.deleteRecordsOnLeader); ListOffsets' special timestamps (EARLIEST_LOCAL, LATEST_TIERED, versions).  DescribeTopicPartitions pages as Kafka's DescribeTopicPartitionsRequestHandler: named
topics sorted and taken once, a page that ends at a topic's end points the cursor at the next
topic, a cursor on a topic not named is INVALID_REQUEST, and paging every topic goes on past a
cursor whose topic was deleted.
Usage: test_admin_apis.py <path to ringtail>
"""
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import InvalidPartitionsError

from kwire import Conn, W, list_offsets_on, metadata_v4_on, topic_id
from rtbroker import Broker, run_tap


INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION, UNSUPPORTED_VERSION, POLICY_VIOLATION = 42, 3, 35, 44
UNKNOWN_TOPIC_ID = 100


def delete_records(c, topic, partition, offset):
    """DeleteRecords v1 of one partition: (partition, low watermark, error)."""
    body = W().i32(1).str(topic).i32(1).i32(partition).i64(offset).i32(5000)
    r = c.call(21, 1, body, False)
    r.i32()
    return r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i64(), r.i16()))))[0][1][0]


def describe_topic_partitions(c, names, limit, cursor=None):
    """DescribeTopicPartitions v0 of names (every topic when empty) with a partition limit and a
    cursor (topic, partition) or None: ([(error, name, [partition index])], next cursor or None)."""
    body = W().uvar(len(names) + 1)
    for n in names:
        body.cstr(n).tags()
    body.i32(limit)
    if cursor is None:
        body.i8(-1)
    else:
        body.i8(1).cstr(cursor[0]).i32(cursor[1]).tags()
    r = c.call(75, 0, body.tags(), True)
    r.i32()

    def part(r):
        e, idx = r.i16(), r.i32()
        r.i32()
        r.i32()
        for _ in range(2):
            r.carr(lambda r: r.i32())
        for _ in range(3):
            r.carr(lambda r: r.i32())
        r.tags()
        return idx if e == 0 else (e, idx)

    def topic(r):
        e, name = r.i16(), r.cstr()
        r.take(16)
        r.bool()
        ps = r.carr(part)
        r.i32()
        r.tags()
        return e, name, ps

    topics = r.carr(topic)
    nxt = None
    if r.i8() == 1:
        nxt = (r.cstr(), r.i32())
        r.tags()
    return topics, nxt


def metadata_by_id(c, ids):
    """Metadata v12 of topics by id (null names): [(error, name, id, partition count)]."""
    w = W().uvar(len(ids) + 1)
    for i in ids:
        w.raw(i).cstr(None).tags()
    r = c.call(3, 12, w.i8(0).i8(0).tags(), True)
    r.i32()
    r.carr(lambda r: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags()))
    r.cstr()
    r.i32()

    def part(r):
        r.i16(); r.i32(); r.i32(); r.i32()
        for _ in range(3):
            r.carr(lambda r: r.i32())
        r.tags()

    def topic(r):
        err, name, tid = r.i16(), r.cstr(), bytes(r.take(16))
        r.bool()
        n = len(r.carr(part) or [])
        r.i32()
        r.tags()
        return err, name, tid, n

    return r.carr(topic)


def create_topic_v5(c, name, nparts, configs, validate_only=False):
    """CreateTopics v5 (flexible) of one topic: (error, partitions, [(config, value, read only,
    source)] or None)."""
    w = W().uvar(2).cstr(name).i32(nparts).i16(1).uvar(1).uvar(len(configs) + 1)
    for k, v in configs.items():
        w.cstr(k).cstr(v).tags()
    w.tags().i32(10000).i8(1 if validate_only else 0).tags()
    r = c.call(19, 5, w, True)
    r.i32()
    r.uvar()
    r.cstr()
    err = r.i16()
    r.cstr()
    n = r.i32()
    r.i16()
    cfg = r.carr(lambda r: (r.cstr(), r.cstr(), r.bool(), r.i8(), r.bool(), r.tags())[:4])
    return err, n, cfg


def main(tap):
    with Broker(sys.argv[1], {'num.partitions': 3}) as b:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic('adm', 2, 1)])
        admin.create_partitions({'adm': NewPartitions(5)})
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all')
        md = prod.partitions_for('adm')
        tap.ok(md == set(range(5)), 'CreatePartitions grew the topic to 5 partitions', md)
        errs = []
        for n in (3, 5):
            try:
                admin.create_partitions({'adm': NewPartitions(n)})
                errs.append(None)
            except InvalidPartitionsError as e:
                errs.append(str(e))
        tap.ok(errs[0] and 'The topic adm currently has 5 partition(s); 3 would not be an increase.' in errs[0],
               'shrinking is INVALID_PARTITIONS with Kafka\'s message', errs[0])
        tap.ok(errs[1] and 'Topic already has 5 partition(s).' in errs[1],
               'the same count is INVALID_PARTITIONS with Kafka\'s message', errs[1])
        for i in range(10):
            prod.send('adm', value=b'r%d' % i, partition=4).get(10)
        prod.send('adm', value=b'x', partition=0).get(10)
        prod.close()

        c = Conn(b.port)
        # DeleteRecords v1: p4 before offset 6; p0 past its high watermark.
        body = W().i32(1).str('adm').i32(2).i32(4).i64(6).i32(0).i64(99).i32(5000)
        r = c.call(21, 1, body, False)
        r.i32()
        res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i64(), r.i16()))))
        parts = dict((p, (low, e)) for p, low, e in res[0][1])
        tap.ok(parts.get(4) == (6, 0), 'DeleteRecords: low watermark 6 on partition 4', parts)
        tap.ok(parts.get(0, (0, 0))[1] == 1, 'DeleteRecords past the high watermark: OFFSET_OUT_OF_RANGE', parts)
        # A compact-only topic keeps every key's latest record: Kafka refuses DeleteRecords there.
        admin.create_topics([NewTopic('adm-c', 1, 1, topic_configs={'cleanup.policy': 'compact'}),
                             NewTopic('adm-cd', 1, 1, topic_configs={'cleanup.policy': 'compact,delete'})])
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all')
        for t in ('adm-c', 'adm-cd'):
            for i in range(3):
                prod.send(t, key=b'k%d' % i, value=b'v', partition=0).get(10)
        prod.close()
        got = [delete_records(c, t, 0, 2) for t in ('adm-c', 'adm-cd')]
        tap.ok(got == [(0, -1, POLICY_VIOLATION), (0, 2, 0)],
               'DeleteRecords on cleanup.policy=compact: POLICY_VIOLATION; on compact,delete it deletes', got)
        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None)
        beg = cons.beginning_offsets([TopicPartition('adm', 4)])
        tap.ok(beg[TopicPartition('adm', 4)] == 6, 'ListOffsets earliest follows DeleteRecords', beg)
        # ListOffsets' special timestamps after DeleteRecords: EARLIEST_LOCAL (v8+) is the log start
        # offset, LATEST_TIERED (v9+) -1 with nothing tiered; a version that does not know one
        # (or an unknown one) is UNSUPPORTED_VERSION, as Kafka's ReplicaManager answers.
        got = [list_offsets_on(c, 9, 'adm', 4, ts) for ts in (-4, -5, -2, -1)]
        tap.ok(got == [(0, -1, 6), (0, -1, -1), (0, -1, 6), (0, -1, 10)],
               'ListOffsets v9: EARLIEST_LOCAL 6, LATEST_TIERED -1, EARLIEST 6, LATEST 10', got)
        got = [list_offsets_on(c, v, 'adm', 4, ts)[0] for v, ts in ((7, -4), (8, -5), (6, -3), (9, -7))]
        tap.ok(got == [UNSUPPORTED_VERSION] * 4, 'EARLIEST_LOCAL at v7, LATEST_TIERED at v8, MAX_TIMESTAMP at v6, '
               'timestamp -7: UNSUPPORTED_VERSION', got)
        cons.assign([TopicPartition('adm', 4)])
        cons.seek(TopicPartition('adm', 4), 6)
        vals = [m.value for m in [next(iter(cons)) for _ in range(4)]]
        tap.ok(vals == [b'r6', b'r7', b'r8', b'r9'], 'records from the new start offset are still served', vals)
        cons.close()

        # OffsetForLeaderEpoch v3: epoch 0 ends at the log end offset; a later epoch is unknown.
        body = W().i32(-1).i32(1).str('adm').i32(3).i32(4).i32(-1).i32(0).i32(4).i32(-1).i32(7).i32(4).i32(-1).i32(-1)
        r = c.call(23, 3, body, False)
        r.i32()
        res = r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i16(), r.i32(), r.i32(), r.i64()))))
        got = res[0][1]
        tap.ok(got[0] == (0, 4, 0, 10), 'OffsetForLeaderEpoch: epoch 0 ends at offset 10', got)
        tap.ok(got[1] == (0, 4, -1, -1), 'OffsetForLeaderEpoch: a future epoch is undefined (-1, -1)', got)
        tap.ok(got[2] == (0, 4, -1, -1), 'OffsetForLeaderEpoch: the undefined epoch -1 is answered undefined too', got)

        # DescribeLogDirs v1, every topic.
        r = c.call(35, 1, W().i32(-1), False)
        r.i32()
        res = r.arr(lambda r: (r.i16(), r.str(), r.arr(lambda r: (r.str(), r.arr(lambda r: (r.i32(), r.i64(), r.i64(), r.bool()))))))
        sizes = {(t, p): size for _, _, topics in res for t, ps in topics for p, size, _, _ in ps}
        tap.ok(len(res) == 1 and res[0][0] == 0, 'DescribeLogDirs: one log dir', res and res[0][:2])
        tap.ok(sizes.get(('adm', 4), 0) > 0 and sizes.get(('adm', 1)) == 0 and len([k for k in sizes if k[0] == 'adm']) == 5,
               'DescribeLogDirs: partition sizes match what was written', sizes)

        # DescribeCluster v0 (flexible).
        r = c.call(60, 0, W().i8(0).tags(), True)
        r.i32()
        err = r.i16()
        r.cstr()
        cluster = r.cstr()
        ctrl = r.i32()
        brokers = r.carr(lambda r: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags())[:3])
        tap.ok(err == 0 and cluster and ctrl == 0 and brokers == [(0, '127.0.0.1', b.port)],
               'DescribeCluster: cluster id, controller 0, this broker', (err, cluster, ctrl, brokers))

        # DescribeTopicPartitions v0 (flexible), with a page limit of 3 partitions.
        topics, cursor = describe_topic_partitions(c, ['adm'], 3)
        tap.ok(topics == [(0, 'adm', [0, 1, 2])] and cursor == ('adm', 3),
               'DescribeTopicPartitions: first page of 3 partitions and a cursor at partition 3', (topics, cursor))
        # Kafka's paging: the named topics sorted and taken once; a page that ends with a topic's
        # last partition points the cursor at the next topic; the cursor's topic must be named.
        admin.create_topics([NewTopic('dtp-a', 2, 1), NewTopic('dtp-b', 3, 1), NewTopic('dtp-c', 1, 1)])
        names = ['dtp-b', 'dtp-a', 'dtp-b']
        pages = []
        cursor = None
        for _ in range(4):
            topics, cursor = describe_topic_partitions(c, names, 2, cursor)
            pages.append((topics, cursor))
            if cursor is None:
                break
        tap.ok(pages == [([(0, 'dtp-a', [0, 1])], ('dtp-b', 0)), ([(0, 'dtp-b', [0, 1])], ('dtp-b', 2)),
                         ([(0, 'dtp-b', [2])], None)],
               'DescribeTopicPartitions pages named topics sorted, each once; a page full at a topic\'s end '
               'points the cursor at the next topic', pages)
        got = describe_topic_partitions(c, ['dtp-a'], 2, ('dtp-b', 0))
        tap.ok(got == ([(INVALID_REQUEST, 'dtp-a', [])], None),
               'a cursor on a topic the request does not name: INVALID_REQUEST', got)
        # Every topic, from a cursor whose topic is gone: that one is answered unknown, the pages
        # go on with the topics after it.
        got = describe_topic_partitions(c, [], 100, ('dtp-ab', 0))
        tap.ok(got == ([(UNKNOWN_TOPIC_OR_PARTITION, 'dtp-ab', []), (0, 'dtp-b', [0, 1, 2]), (0, 'dtp-c', [0])], None),
               'every topic from a cursor on a deleted topic: it is UNKNOWN_TOPIC_OR_PARTITION, the later ones follow',
               got)
        # FindCoordinator v4 (batched keys, Kafka 3.0+ clients): every group and transactional id
        # is coordinated by this broker.
        for kt in (0, 1):
            body = W().i8(kt).uvar(3).cstr('k1').cstr('k2').tags()
            r = c.call(10, 4, body, True)
            r.i32()
            got = r.carr(lambda r: (r.cstr(), r.i32(), r.cstr(), r.i32(), r.i16(), r.cstr(), r.tags())[:5])
            tap.ok(got == [(k, 0, '127.0.0.1', b.port, 0) for k in ('k1', 'k2')],
                   'FindCoordinator v4, key type %d: both keys on this broker' % kt, got)
        # CreateTopics v5+ answers every config of the new topic in effect, sorted by name, with
        # its source, as Kafka's ReplicationControlManager does (KIP-525).
        err, n, cfg = create_topic_v5(c, 'ct5', 2, {'retention.ms': '3600000'})
        byname = {k: (v, ro, src) for k, v, ro, src in cfg or []}
        tap.ok(err == 0 and n == 2 and [k for k, _, _, _ in cfg] == sorted(byname) and
               byname.get('retention.ms') == ('3600000', False, 1) and
               byname.get('segment.bytes') == (str(1 << 30), False, 5) and
               byname.get('cleanup.policy') == ('delete', False, 5) and len(byname) >= 20,
               'CreateTopics v5: every config in effect, sorted, the override DYNAMIC_TOPIC_CONFIG, the rest '
               'DEFAULT_CONFIG', (err, n, cfg))
        # Metadata and auto.create.topics.enable (on by default): a v4+ request that does not allow
        # auto-creation creates nothing; one that does creates num.partitions partitions.
        got = metadata_v4_on(c, ['auto-no'], False)
        tap.ok(got == {'auto-no': (UNKNOWN_TOPIC_OR_PARTITION, [], False)} and 'auto-no' not in admin.list_topics(),
               'Metadata with allow_auto_topic_creation=false: UNKNOWN_TOPIC_OR_PARTITION, nothing created', got)
        got = metadata_v4_on(c, ['auto-yes'], True)
        tap.ok(got == {'auto-yes': (0, [0, 1, 2], False)}, 'Metadata allowing it creates the topic with num.partitions (3)', got)
        # Metadata v12 by topic id.
        tid = topic_id(c, 'auto-yes')
        got = metadata_by_id(c, [tid, bytes(range(1, 17))])
        tap.ok(got == [(0, 'auto-yes', tid, 3), (UNKNOWN_TOPIC_ID, None, bytes(range(1, 17)), 0)],
               'Metadata v12 by topic id: the topic named; an unknown id is UNKNOWN_TOPIC_ID', got)
        c.close()
        admin.close()


run_tap(main)
