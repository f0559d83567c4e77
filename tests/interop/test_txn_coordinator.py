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
from kwire import Conn, W
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


def list_txns(port, states=()):
    c = Conn(port)
    try:
        b = W().uvar(len(states) + 1)
        for s in states:
            b.cstr(s)
        r = c.call(66, 0, b.uvar(1).tags(), True)
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
            # AddPartitionsToTxn needs partitions that exist (test_txn_bad_input.py checks that)
            adm = AdminClient({'bootstrap.servers': b.bootstrap})
            for f in adm.create_topics([NewTopic('txtopic', 3, 1)]).values():
                f.result(30)
            e, cp, ce = init_pid(port, 'tx-c')
            a = add_partitions(port, 'tx-c', cp, ce, 'txtopic', [0, 1])
            tap.ok(a == {0: 0, 1: 0}, 'AddPartitionsToTxn through the dataplane: both partitions added', a)
            d = describe(port, ['tx-c'])
            tap.ok(d.get('tx-c', (None, None))[1] == 'Ongoing', 'the transaction is Ongoing', d)
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
