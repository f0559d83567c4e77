#!/usr/bin/python3
"""
tests/interop/test_txn_coordinator.py: the transaction coordinator of the control process on the
wire, against the real broker: InitProducerId for transactional ids (epoch bumps, KIP-360
expected producer id and epoch, fencing answered as Kafka answers per request version, bad
timeouts and ids), producer ids never reused after a SIGKILL restart, the state kept in
__transaction_state, DescribeTransactions and ListTransactions, and AddPartitionsToTxn,
AddOffsetsToTxn and EndTxn forwarded by the dataplane.
Usage: test_txn_coordinator.py <path to ringtail>
"""
import shutil
import signal
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic
from kwire import (Conn, W, add_offsets, add_partitions, batch, describe, describe_producers, end_txn,
                   init_pid, produce)
from rtbroker import Broker, free_port, run_tap

def list_txns(port, states=(), pids=(), duration=None):
    """ListTransactions v0, or v1 with a duration filter: (error, unknown states, [(id, pid, state)])."""
    c = Conn(port)
    try:
        b = W().uvar(len(states) + 1)
        for s in states:
            b.cstr(s)
        b.uvar(len(pids) + 1)
        for p in pids:
            b.i64(p)
        if duration is not None:
            b.i64(duration)
        r = c.call(66, 0 if duration is None else 1, b.tags(), True)
        r.i32()
        err = r.i16()
        unknown = [r.cstr() for _ in range(r.uvar() - 1)]
        txns = []
        for _ in range(r.uvar() - 1):
            txns.append((r.cstr(), r.i64(), r.cstr()))
            r.tags()
        return err, unknown, txns
    finally:
        c.close()


def produce_txn(port, pid, epoch, topic, partition):
    """Produce v3 of one transactional batch (sequence 0) with its transactional id: the error."""
    return produce(port, topic, partition, batch([(None, b'v')], pid, epoch, 0, True), 'tx-c')[0]


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-txn-')
    port = free_port()
    try:
        with Broker(sys.argv[1], data_dir=data, port=port) as b:
            e, p, ep = init_pid(port, 'tx-a')
            tap.ok(e == 0 and p >= 0 and ep == 0, 'InitProducerId for a new transactional id: epoch 0', (e, p, ep))
            a = init_pid(port, 'tx-a')
            tap.ok(a == (0, p, 1), 'a second InitProducerId bumps the epoch and keeps the id', a)
            tap.ok(init_pid(port, 'tx-a', pid=p, epoch=0, version=4)[0] == 90,
                   'KIP-360 with a fenced epoch: PRODUCER_FENCED (v4)')
            tap.ok(init_pid(port, 'tx-a', pid=p, epoch=0, version=3)[0] == 47,
                   'the same with v3: INVALID_PRODUCER_EPOCH')
            k = init_pid(port, 'tx-a', pid=p, epoch=1)
            tap.ok(k == (0, p, 2), 'KIP-360 with the current epoch bumps it', k)
            tap.ok(init_pid(port, 'tx-a', pid=p, epoch=1) == (0, p, 2),
                   'its retry (answer lost) gets the same epoch back')
            tap.ok(init_pid(port, 'tx-b', timeout=0)[0] == 50, 'timeout 0: INVALID_TRANSACTION_TIMEOUT')
            tap.ok(init_pid(port, 'tx-b', timeout=900001)[0] == 50,
                   'timeout above transaction.max.timeout.ms: INVALID_TRANSACTION_TIMEOUT')
            tap.ok(init_pid(port, '')[0] == 42, 'an empty transactional id: INVALID_REQUEST')
            i1 = init_pid(port, None)
            tap.ok(i1[0] == 0 and i1[2] == 0 and i1[1] != p, 'an idempotent producer gets its own id', i1)
            d = describe(port, ['tx-a', 'nope'])
            tap.ok(d.get('tx-a') == (0, 'Empty', 60000, p, 2), 'DescribeTransactions: Empty, id and epoch', d)
            tap.ok(d.get('nope', (0,))[0] == 105, 'DescribeTransactions of an unknown id: TRANSACTIONAL_ID_NOT_FOUND')
            l = list_txns(port)
            tap.ok(l[0] == 0 and ('tx-a', p, 'Empty') in l[2], 'ListTransactions lists it', l)
            l = list_txns(port, ['Ongoing', 'Bogus'])
            tap.ok(l == (0, ['Bogus'], []), 'ListTransactions filters by state and echoes unknown states', l)
            l = list_txns(port, ['Empty'])
            tap.ok(l == (0, [], [('tx-a', p, 'Empty')]), 'ListTransactions with state Empty lists tx-a', l)
            l = list_txns(port, pids=[p])
            tap.ok(l == (0, [], [('tx-a', p, 'Empty')]), 'ListTransactions filtered by its producer id lists it', l)
            l = list_txns(port, pids=[p + 12345])
            tap.ok(l == (0, [], []), 'ListTransactions filtered by another producer id lists nothing', l)
            # AddPartitionsToTxn needs partitions that exist (test_txn_bad_input.py checks that)
            adm = AdminClient({'bootstrap.servers': b.bootstrap})
            for f in adm.create_topics([NewTopic('txtopic', 3, 1)]).values():
                f.result(30)
            e, cp, ce = init_pid(port, 'tx-c')
            a = add_partitions(port, 'tx-c', cp, ce, 'txtopic', [0, 1])
            tap.ok(a == {0: 0, 1: 0}, 'AddPartitionsToTxn through the dataplane: both partitions added', a)
            d = describe(port, ['tx-c'])
            tap.ok(d.get('tx-c', (None, None))[1] == 'Ongoing', 'the transaction is Ongoing', d)
            l = list_txns(port, ['Ongoing'])
            tap.ok(l == (0, [], [('tx-c', cp, 'Ongoing')]), 'ListTransactions with state Ongoing lists only tx-c', l)
            l = list_txns(port, ['Ongoing', 'Empty'], pids=[cp])
            tap.ok(l == (0, [], [('tx-c', cp, 'Ongoing')]), 'state and producer id filters together', l)
            time.sleep(0.05)
            l = list_txns(port, ['Ongoing'], duration=0)
            tap.ok(l == (0, [], [('tx-c', cp, 'Ongoing')]), 'ListTransactions v1: running longer than 0 ms: tx-c', l)
            l = list_txns(port, ['Ongoing'], duration=600000)
            tap.ok(l == (0, [], []), 'ListTransactions v1: running longer than 10 min: none', l)
            dp = describe_producers(port, 'txtopic', 0)
            tap.ok(dp == (0, []), 'DescribeProducers before the transaction writes: none', dp)
            tap.ok(produce_txn(port, cp, ce, 'txtopic', 0) == 0, 'a transactional batch to txtopic-0')
            dp = describe_producers(port, 'txtopic', 0)
            tap.ok(dp[0] == 0 and [(x[0], x[1], x[2], x[3] > 0, x[4], x[5]) for x in dp[1]] ==
                   [(cp, ce, 0, True, -1, 0)],
                   'DescribeProducers: its id, epoch, last sequence 0, a timestamp, no coordinator epoch '
                   'before a marker (-1) and the open transaction\'s first offset 0', dp)
            a = add_partitions(port, 'tx-c', cp, ce + 1, 'txtopic', [2])
            tap.ok(a == {2: 90}, 'AddPartitionsToTxn v3 with a wrong epoch: PRODUCER_FENCED per partition', a)
            a = add_partitions(port, 'tx-c', cp + 1000, ce, 'txtopic', [2])
            tap.ok(a == {2: 49}, 'AddPartitionsToTxn with an unknown producer id: INVALID_PRODUCER_ID_MAPPING', a)
            o = add_offsets(port, 'tx-c', cp, ce, 'txgroup')
            tap.ok(o == 0, 'AddOffsetsToTxn through the dataplane', o)
            o = end_txn(port, 'tx-c', cp, ce, False)
            tap.ok(o == 0, 'EndTxn (abort) through the dataplane once PrepareAbort is durable', o)
            d = describe(port, ['tx-c'])
            tap.ok(d.get('tx-c', (None, None))[1] in ('PrepareAbort', 'CompleteAbort'),
                   'the transaction is being aborted', d)
            # Kafka answers CONCURRENT_TRANSACTIONS (51, retriable) until CompleteAbort is durable and
            # INVALID_TXN_STATE (48) after; how long the markers take depends on the machine's load,
            # so retry as a client does and check the answer it ends with
            answers, deadline = [end_txn(port, 'tx-c', cp, ce, True)], time.time() + 30
            while answers[-1] == 51 and time.time() < deadline:
                time.sleep(0.05)
                answers.append(end_txn(port, 'tx-c', cp, ce, True))
            tap.ok(answers[-1] == 48 and all(x == 51 for x in answers[:-1]),
                   'EndTxn commit of a transaction being aborted: CONCURRENT_TRANSACTIONS until '
                   'CompleteAbort, then INVALID_TXN_STATE', answers)
            d = describe(port, ['tx-c'])
            tap.ok(d.get('tx-c', (None, None))[1] == 'CompleteAbort', 'the abort completed', d)
            b.stop(signal.SIGKILL)
        with Broker(sys.argv[1], data_dir=data, port=port) as b:
            a = init_pid(port, 'tx-a')
            tap.ok(a == (0, p, 3), 'after SIGKILL the epoch continues from __transaction_state', a)
            i2 = init_pid(port, None)
            tap.ok(i2[0] == 0 and i2[1] > max(p, i1[1]), 'after SIGKILL no producer id is handed out again',
                   (i2, p, i1))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
