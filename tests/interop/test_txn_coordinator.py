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
from kwire import Conn, W, describe_producers
from rtbroker import Broker, free_port, run_tap

LOAD_IN_PROGRESS, NOT_AVAILABLE = 14, 15


def init_pid(port, txn_id, timeout=60000, pid=-1, epoch=-1, version=4):
    """InitProducerId (flexible, v3+); retries while the coordinator loads.  (err, pid, epoch)."""
    deadline = time.time() + 30
    while True:
        try:
            c = Conn(port)
            try:
                r = c.call(22, version, W().cstr(txn_id).i32(timeout).i64(pid).i16(epoch).tags(), True)
                r.i32()
                out = (r.i16(), r.i64(), r.i16())
            finally:
                c.close()
        except (ConnectionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)     # the broker is still starting its control process
            continue
        if out[0] not in (LOAD_IN_PROGRESS, NOT_AVAILABLE) or time.time() > deadline:
            return out
        time.sleep(0.2)


def describe(port, ids):
    c = Conn(port)
    try:
        b = W().uvar(len(ids) + 1)
        for i in ids:
            b.cstr(i)
        r = c.call(65, 0, b.tags(), True)
        r.i32()
        out = {}
        for _ in range(r.uvar() - 1):
            err, tid, state, tmo, start, pid, epoch = r.i16(), r.cstr(), r.cstr(), r.i32(), r.i64(), r.i64(), r.i16()
            for _ in range(r.uvar() - 1):
                r.cstr()
                for _ in range(r.uvar() - 1):
                    r.i32()
                r.tags()
            r.tags()
            out[tid] = (err, state, tmo, pid, epoch)
        return out
    finally:
        c.close()


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


def add_partitions(port, txn_id, pid, epoch, topic, parts, version=3):
    """AddPartitionsToTxn v3 (flexible): {partition: error}."""
    c = Conn(port)
    try:
        b = W().cstr(txn_id).i64(pid).i16(epoch).uvar(2).cstr(topic).uvar(len(parts) + 1)
        for p in parts:
            b.i32(p)
        r = c.call(24, version, b.tags().tags(), True)
        r.i32()
        out = {}
        for _ in range(r.uvar() - 1):
            r.cstr()
            for _ in range(r.uvar() - 1):
                part, err = r.i32(), r.i16()
                r.tags()
                out[part] = err
            r.tags()
        return out
    finally:
        c.close()


def produce_txn(port, pid, epoch, topic, partition):
    """Produce v3 of one transactional batch (sequence 0) with its transactional id: the error."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    bb = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True, producer_id=pid,
                                   producer_epoch=epoch, base_sequence=0, batch_size=1 << 20)
    bb.append(0, timestamp=None, key=None, value=b'v', headers=[])
    rec = bytes(bb.build())
    c = Conn(port)
    try:
        body = W().str('tx-c').i16(-1).i32(10000).i32(1).str(topic).i32(1).i32(partition).i32(len(rec)).raw(rec)
        r = c.call(0, 3, body, False)
        r.i32()
        r.str()
        r.i32()
        r.i32()
        return r.i16()
    finally:
        c.close()


def add_offsets(port, txn_id, pid, epoch, group):
    """AddOffsetsToTxn v3: the error code."""
    c = Conn(port)
    try:
        r = c.call(25, 3, W().cstr(txn_id).i64(pid).i16(epoch).cstr(group).tags(), True)
        r.i32()
        return r.i16()
    finally:
        c.close()


def end_txn(port, txn_id, pid, epoch, commit):
    """EndTxn v3: the error code."""
    c = Conn(port)
    try:
        r = c.call(26, 3, W().cstr(txn_id).i64(pid).i16(epoch).i8(1 if commit else 0).tags(), True)
        r.i32()
        return r.i16()
    finally:
        c.close()


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
