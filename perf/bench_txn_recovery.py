#!/usr/bin/python3
"""
perf/bench_txn_recovery.py: how long a control process restart takes to finish the transactions
it had prepared (issue 7), against the real broker and ringtail-control.

Each round leaves `txns` transactions in exactly the state a coordinator dies in between its two
phases: every transactional id has a producer id and epoch from InitProducerId, its partition
added by AddPartitionsToTxn (Ongoing, durable), 10 records produced as a transactional batch
(so the partition's last stable offset stays below them), and then a PrepareCommit record in
`__transaction_state` (Kafka's TransactionLogKey/Value v0, written to the id's partition
Utils.abs(String.hashCode) % 50 by this script, because the real coordinator would send its markers
within a millisecond of its own PrepareCommit and leave nothing to recover).  Then ringtail-control
is killed with SIGKILL; ringtail restarts it, it reloads `__transaction_state`, finds the prepared
transactions and writes their COMMIT markers.  The clock runs from the kill until every
partition's last stable offset (ListOffsets, read_committed) has reached its high watermark,
i.e. until a read_committed consumer can read every record.  It also reports when the
restarted process first answered DescribeTransactions (reloaded) and when all the ids read
CompleteCommit.  Not a test: run it by hand.
Usage: perf/bench_txn_recovery.py <path to ringtail> [transactions per round] [rounds]
"""
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop'))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from kwire import Conn, W, add_partitions, batch, describe, init_pid  # noqa: E402
from kwire import produce as kwire_produce  # noqa: E402
from rtbroker import Broker  # noqa: E402

TOPIC = 'bench-txn-recovery'
PARTITIONS = 6
TXN_LOG_PARTITIONS = 50
PREPARE_COMMIT = 2


def java_hash(s):
    """Java's String.hashCode (over UTF-16 code units), as Kafka picks the partition."""
    data = s.encode('utf-16-be')
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i:i + 2], 'big')) & 0xffffffff
    return h


def txn_log_partition(txn_id):
    """Kafka's Utils.abs(hashCode) % partitions (abs of Integer.MIN_VALUE is 0)."""
    h = java_hash(txn_id)
    h = h - (1 << 32) if h & 0x80000000 else h
    return (0 if h == -(1 << 31) else abs(h)) % TXN_LOG_PARTITIONS


def produce(port, topic, partition, records, txn_id=None):
    """Produce v3, acks=-1, one partition: its error code."""
    return kwire_produce(port, topic, partition, records, txn_id, timeout_ms=30000)[0]


def offsets(port, isolation):
    """ListOffsets v2, latest, every partition: {partition: offset} (the LSO with read_committed)."""
    c = Conn(port)
    try:
        b = W().i32(-1).i8(isolation).i32(1).str(TOPIC).i32(PARTITIONS)
        for p in range(PARTITIONS):
            b.i32(p).i64(-1)
        r = c.call(2, 2, b, False)
        r.i32()
        out = {}
        for _ in range(r.i32()):
            r.str()
            for _ in range(r.i32()):
                p, err = r.i32(), r.i16()
                r.i64()
                off = r.i64()
                out[p] = off if not err else -1
        return out
    finally:
        c.close()


def prepare_commit_value(pid, epoch, partitions, now_ms):
    v = W().i16(0).i64(pid).i16(epoch).i32(60000).i8(PREPARE_COMMIT)
    v.i32(1).str(TOPIC).i32(len(partitions))
    for p in partitions:
        v.i32(p)
    return bytes(v.i64(now_ms).i64(now_ms).b)


def control_pid(b):
    pids = re.findall(r'control process (\d+) started', b.log())
    return int(pids[-1]) if pids else None


def one_round(b, r, n):
    port = b.port
    internal = int(re.findall(r'internal 127\.0\.0\.1:(\d+)', b.log())[-1])
    ids = ['rec-%d-%d' % (r, i) for i in range(n)]
    for i, tid in enumerate(ids):
        err, pid, epoch = init_pid(port, tid)
        part = i % PARTITIONS
        if err or add_partitions(port, tid, pid, epoch, TOPIC, [part]) != {part: 0}:
            raise RuntimeError('could not start transaction %s' % tid)
        recs = batch([(None, b'%s-%d' % (tid.encode(), k)) for k in range(10)], pid, epoch, 0, True)
        e = produce(port, TOPIC, part, recs, tid)
        if e:
            raise RuntimeError('transactional produce failed: %d' % e)
        now = int(time.time() * 1000)
        key = bytes(W().i16(0).str(tid).b)
        rec = batch([(key, prepare_commit_value(pid, epoch, [part], now))])
        if produce(internal, '__transaction_state', txn_log_partition(tid), rec):
            raise RuntimeError('PrepareCommit record not written')
    hw = offsets(port, 0)
    lso = offsets(port, 1)
    if any(lso[p] >= hw[p] for p in range(PARTITIONS) if any(i % PARTITIONS == p for i in range(n))):
        raise RuntimeError('the open transactions do not hold the LSO back: %s vs %s' % (lso, hw))
    old = control_pid(b)
    t0 = time.time()
    os.kill(old, signal.SIGKILL)
    t_load = t_lso = t_done = None
    deadline = t0 + 120
    while time.time() < deadline and not (t_lso and t_done):
        now = time.time()
        try:
            d = describe(port, ids[-1:]) if not t_done else None
        except OSError:
            d = None
        if d and t_load is None and d.get(ids[-1], (15,))[0] == 0 and control_pid(b) != old:
            t_load = now
        if t_load and not t_done:
            states = describe(port, ids)
            if all(states.get(t, (1, ''))[1] == 'CompleteCommit' for t in ids):
                t_done = time.time()
        if not t_lso:
            lso = offsets(port, 1)
            end = offsets(port, 0)
            if all(lso[p] == end[p] and end[p] > hw[p] for p in range(PARTITIONS)
                   if any(i % PARTITIONS == p for i in range(n))):
                t_lso = time.time()
        time.sleep(0.002)
    if not (t_load and t_lso and t_done):
        raise RuntimeError('the restarted control process did not finish within 120 s (reloaded %s, '
                           'LSO %s, complete %s):\n%s' % (t_load, t_lso, t_done, b.log()[-2000:]))
    return t_load - t0, t_lso - t0, t_done - t0


def main():
    exe = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    data = tempfile.mkdtemp(prefix='ringtail-bench-txnrec-')
    try:
        with Broker(exe, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(20)
            init_pid(b.port, 'rec-warmup')       # __transaction_state exists and is loaded
            res = []
            for r in range(rounds):
                res.append(one_round(b, r, n))
                print('round %d: %d prepared transactions: control reloaded %.3f s after SIGKILL, '
                      'every LSO at the end %.3f s, all CompleteCommit %.3f s' % ((r, n) + res[-1]), flush=True)
            med = [sorted(x)[len(x) // 2] for x in zip(*res)]
            print('median of %d rounds, %d transactions each: reloaded %.3f s, records readable '
                  '(read_committed) %.3f s, transactions complete %.3f s after the kill'
                  % ((rounds, n) + tuple(med)))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    main()
