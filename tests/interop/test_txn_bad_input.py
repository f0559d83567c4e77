#!/usr/bin/python3
"""
tests/interop/test_txn_bad_input.py: transactional requests that Kafka refuses, on the wire
against the real broker and control process, each answered with Kafka's error code:
AddPartitionsToTxn naming a topic or partition that does not exist (UNKNOWN_TOPIC_OR_PARTITION,
the rest of the request OPERATION_NOT_ATTEMPTED, nothing added), an unknown transactional id
(INVALID_PRODUCER_ID_MAPPING), a stale producer epoch (PRODUCER_FENCED from the coordinator,
INVALID_PRODUCER_EPOCH from a partition), a transaction past its transaction.timeout.ms (aborted
by the coordinator with an epoch bump: the producer is fenced).

KAFKA-17754 (a delayed produce or a delayed COMMIT/ABORT of an earlier transaction landing in a
later one): what prevents it here is the producer epoch, checked on the owner shard for data
and for markers.  A client that gives up on a request bumps its epoch before the next
transaction (KIP-360 InitProducerId with its id and epoch; librdkafka and the Java client do it
after an abortable error), so the late produce, or a marker written for the earlier epoch, is
INVALID_PRODUCER_EPOCH and the later transaction is untouched: tested below.  Markers of the
coordinator cannot arrive late on their own: the coordinator keeps a transaction in
PrepareCommit/PrepareAbort (and answers CONCURRENT_TRANSACTIONS to the next one) until every
partition has acknowledged its marker, and a partition acknowledges only after the marker is in
its log.  A late produce at the *same* epoch (a client that did not bump) that arrives after
the abort is closed as Kafka closes it with KIP-890 part 1: the first transactional write of a
producer on a partition waits for the coordinator's word that the partition is in its ongoing
transaction, else INVALID_TXN_STATE (part 2, an epoch bump at every transaction, is a client
protocol change not served here).
A Produce of transactional records without a transactional id is refused as Kafka refuses it
(TRANSACTIONAL_ID_AUTHORIZATION_FAILED); ringtail-control's own transactional writes to
__consumer_offsets carry their producer's id (test_txn_offsets.py would fail otherwise).
Usage: test_txn_bad_input.py <path to ringtail>
"""
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from kwire import Conn, W, add_offsets, add_partitions, add_partitions_multi, describe, end_txn, init_pid
from rtbroker import Broker, run_tap

TOPIC = 'tbi'
UNKNOWN_TOPIC, INVALID_EPOCH, INVALID_TXN_STATE, MAPPING, NOT_ATTEMPTED, FENCED = 3, 47, 48, 49, 55, 90


def txn_batch(pid, epoch, seq, value):
    return kwire.batch([(None, value.encode())], pid, epoch, seq, True)


def produce(port, txn_id, records, partition=0):
    """Produce v3, acks=-1: the partition's error code."""
    return kwire.produce(port, TOPIC, partition, records, txn_id)[0]


def write_marker(port, pid, epoch, commit, partition=0):
    """WriteTxnMarkers v1 (what the coordinator sends): the partition's error code."""
    c = Conn(port)
    try:
        b = W().uvar(2).i64(pid).i16(epoch).i8(1 if commit else 0)
        b.uvar(2).cstr(TOPIC).uvar(2).i32(partition).tags()
        b.i32(0).tags().tags()
        r = c.call(27, 1, b, True)
        r.uvar()
        r.i64()
        r.uvar()
        r.cstr()
        r.uvar()
        r.i32()
        return r.i16()
    finally:
        c.close()


def wait_state(port, txn_id, states, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = describe(port, [txn_id]).get(txn_id)
        if d and d[1] in states:
            return d
        time.sleep(0.1)
    return describe(port, [txn_id]).get(txn_id)


def high_watermark(bootstrap, partition):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'h%f' % time.time(), 'enable.auto.commit': False})
    try:
        return c.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=10, cached=False)[1]
    finally:
        c.close()


def committed_view(bootstrap, partition):
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'v%f' % time.time(),
                  'enable.auto.commit': False, 'isolation.level': 'read_committed'})
    try:
        lso = c.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=10, cached=False)[1]
        c.assign([TopicPartition(TOPIC, partition, OFFSET_BEGINNING)])
        got = []
        end = time.time() + 3
        while time.time() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value().decode())
        return lso, got
    finally:
        c.close()


def main(tap):
    over = {'transaction.abort.timed.out.transaction.cleanup.interval.ms': '200'}
    with Broker(sys.argv[1], overrides=over) as b:
        port = b.port
        adm = AdminClient({'bootstrap.servers': b.bootstrap})
        for f in adm.create_topics([NewTopic(TOPIC, 2, 1)]).values():
            f.result(30)

        # AddPartitionsToTxn naming what does not exist
        e, p, ep = init_pid(port, 'tx-bad')
        tap.ok(add_partitions(port, 'tx-bad', p, ep, 'no-such-topic', [0]) == {0: UNKNOWN_TOPIC},
               'AddPartitionsToTxn for an unknown topic: UNKNOWN_TOPIC_OR_PARTITION')
        a = add_partitions_multi(port, 'tx-bad', p, ep, [(TOPIC, [0, 7]), ('no-such-topic', [1])])
        tap.ok(a == {(TOPIC, 0): NOT_ATTEMPTED, (TOPIC, 7): UNKNOWN_TOPIC, ('no-such-topic', 1): UNKNOWN_TOPIC},
               'with a known partition beside: that one OPERATION_NOT_ATTEMPTED, the unknown ones '
               'UNKNOWN_TOPIC_OR_PARTITION', a)
        d = describe(port, ['tx-bad']).get('tx-bad')
        tap.ok(d is not None and d[1] == 'Empty', 'and nothing was added to the transaction', d)

        # an unknown transactional id
        tap.ok(add_partitions(port, 'tx-none', p, ep, TOPIC, [0]) == {0: MAPPING},
               'AddPartitionsToTxn of an unknown transactional id: INVALID_PRODUCER_ID_MAPPING')
        tap.ok(add_offsets(port, 'tx-none', p, ep, 'g') == MAPPING,
               'AddOffsetsToTxn of an unknown transactional id: INVALID_PRODUCER_ID_MAPPING')
        tap.ok(end_txn(port, 'tx-none', p, ep, True) == MAPPING,
               'EndTxn of an unknown transactional id: INVALID_PRODUCER_ID_MAPPING')

        # a stale epoch at the coordinator
        e, p, ep1 = init_pid(port, 'tx-bad')
        tap.ok(ep1 == ep + 1, 'InitProducerId again bumps the epoch', (ep, ep1))
        tap.ok(add_partitions(port, 'tx-bad', p, ep, TOPIC, [0]) == {0: FENCED},
               'AddPartitionsToTxn with the stale epoch: PRODUCER_FENCED')
        tap.ok(add_offsets(port, 'tx-bad', p, ep, 'g') == FENCED, 'AddOffsetsToTxn with the stale epoch: PRODUCER_FENCED')
        tap.ok(end_txn(port, 'tx-bad', p, ep, True) == FENCED, 'EndTxn with the stale epoch: PRODUCER_FENCED')

        # a transaction past its timeout is aborted by the coordinator, which bumps the epoch
        e, sp, sep = init_pid(port, 'tx-slow', timeout=1000)
        tap.ok(add_partitions(port, 'tx-slow', sp, sep, TOPIC, [1]) == {1: 0} and
               produce(port, 'tx-slow', txn_batch(sp, sep, 0, 'slow-0'), partition=1) == 0,
               'a transaction with transaction.timeout.ms=1000 writes a record')
        d = wait_state(port, 'tx-slow', ('CompleteAbort',))
        tap.ok(d is not None and d[1] == 'CompleteAbort' and d[4] == sep + 1,
               'past its timeout the coordinator aborts it and bumps the epoch', d)
        tap.ok(end_txn(port, 'tx-slow', sp, sep, True) == FENCED,
               'the producer\'s EndTxn(commit) after that: PRODUCER_FENCED')
        tap.ok(produce(port, 'tx-slow', txn_batch(sp, sep, 1, 'slow-1'), partition=1) == INVALID_EPOCH,
               'its produce to the partition after the abort marker: INVALID_PRODUCER_EPOCH')
        tap.ok(produce(port, None, txn_batch(sp, sep + 1, 0, 'no-id'), partition=1) == 53,
               'transactional records without a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED '
               '(as Kafka\'s KafkaApis)')
        lso, got = committed_view(b.bootstrap, 1)
        tap.ok(got == [], 'read_committed sees nothing of the timed-out transaction', got)

        # KAFKA-17754: T1's late produce and late marker cannot land in T2
        e, lp, le = init_pid(port, 'tx-late')
        tap.ok(add_partitions(port, 'tx-late', lp, le, TOPIC, [0]) == {0: 0} and
               produce(port, 'tx-late', txn_batch(lp, le, 0, 'T1-0')) == 0, 'T1 writes a record')
        late = txn_batch(lp, le, 1, 'T1-late')          # its next request, "delayed in the network"
        tap.ok(end_txn(port, 'tx-late', lp, le, False) == 0 and
               wait_state(port, 'tx-late', ('CompleteAbort',))[1] == 'CompleteAbort', 'T1 is aborted')
        e, lp2, le2 = init_pid(port, 'tx-late', pid=lp, epoch=le)
        tap.ok(e == 0 and lp2 == lp and le2 == le + 1, 'the client bumps its epoch (KIP-360)', (e, lp2, le2))
        tap.ok(add_partitions(port, 'tx-late', lp, le2, TOPIC, [0]) == {0: 0} and
               produce(port, 'tx-late', txn_batch(lp, le2, 0, 'T2-0')) == 0, 'T2 writes a record')
        tap.ok(produce(port, 'tx-late', late) == INVALID_EPOCH,
               'the delayed produce of T1 arrives during T2: INVALID_PRODUCER_EPOCH')
        tap.ok(write_marker(port, lp, le, True) == INVALID_EPOCH,
               'a delayed COMMIT marker of T1 arrives during T2: INVALID_PRODUCER_EPOCH')
        lso, got = committed_view(b.bootstrap, 0)
        tap.ok(got == [], 'T2 is still open: read_committed sees nothing yet (the late marker ended nothing)',
               (lso, got))
        tap.ok(end_txn(port, 'tx-late', lp, le2, True) == 0 and
               wait_state(port, 'tx-late', ('CompleteCommit',))[1] == 'CompleteCommit', 'T2 commits')
        lso, got = committed_view(b.bootstrap, 0)
        tap.ok(got == ['T2-0'], 'read_committed sees exactly T2\'s record: nothing of T1 landed in it', got)

        # KIP-890 part 1: a delayed produce at the *same* epoch (a client that did not bump it)
        # arriving after the abort would open a transaction on the partition that nothing ends
        # (a hanging transaction); the partition asks the coordinator first
        e, vp, ve = init_pid(port, 'tx-same')
        tap.ok(add_partitions(port, 'tx-same', vp, ve, TOPIC, [1]) == {1: 0} and
               produce(port, 'tx-same', txn_batch(vp, ve, 0, 'S1-0'), partition=1) == 0, 'S1 writes a record')
        tap.ok(end_txn(port, 'tx-same', vp, ve, False) == 0 and
               wait_state(port, 'tx-same', ('CompleteAbort',))[1] == 'CompleteAbort', 'S1 is aborted')
        tap.ok(produce(port, 'tx-same', txn_batch(vp, ve, 1, 'S1-late'), partition=1) == INVALID_TXN_STATE,
               'S1\'s delayed produce at the same epoch after the abort: INVALID_TXN_STATE (KIP-890)')
        lso, got = committed_view(b.bootstrap, 1)
        hw = high_watermark(b.bootstrap, 1)
        tap.ok(lso == hw, 'no hanging transaction: the last stable offset is the high watermark', (lso, hw))
        e, vp2, ve2 = init_pid(port, 'tx-same', pid=vp, epoch=ve)
        tap.ok(e == 0 and add_partitions(port, 'tx-same', vp, ve2, TOPIC, [1]) == {1: 0}, 'S2 adds partition 1 only')
        tap.ok(produce(port, 'tx-same', txn_batch(vp, ve2, 0, 'S2-p0'), partition=0) == INVALID_TXN_STATE,
               'S2 producing to partition 0, never added to it: INVALID_TXN_STATE')
        tap.ok(produce(port, 'tx-same', txn_batch(vp, ve2, 0, 'S2-p1'), partition=1) == 0 and
               produce(port, 'tx-same', txn_batch(vp, ve2, 1, 'S2-p1b'), partition=1) == 0,
               'S2 writes to partition 1 (verified once, then the open transaction is known)')
        tap.ok(end_txn(port, 'tx-same', vp, ve2, True) == 0 and
               wait_state(port, 'tx-same', ('CompleteCommit',))[1] == 'CompleteCommit', 'S2 commits')
        lso, got = committed_view(b.bootstrap, 1)
        tap.ok(got == ['S2-p1', 'S2-p1b'], 'read_committed on partition 1: S2\'s records only', got)
        lso, got = committed_view(b.bootstrap, 0)
        tap.ok('S2-p0' not in got, 'nothing of S2 on partition 0', got)


run_tap(main)
