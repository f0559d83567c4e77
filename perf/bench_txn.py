#!/usr/bin/python3
"""
perf/bench_txn.py: transactions per second (issue 7) against the real broker and control
process, with transactions of 10 records each (100-byte values, acks=all, confluent-kafka /
librdkafka), beside the limit measured in the same run: the same 10 records produced by an
idempotent (non-transactional) producer and flushed as a group, one group after the other.
A transaction cannot beat that: it does the same produce round trip and then EndTxn, whose
PrepareCommit record in __transaction_state and COMMIT markers are each made durable (fdatasync)
before the coordinator completes it.  The rounds alternate the two loads; the report is the
median of each and the ratio transactions/s : groups/s.  For where the time goes it also
prints the time of commit_transaction and of a bare coordinator cycle on the wire.  `producers` > 1 runs that many
producers at once (threads; librdkafka releases the GIL while it waits), each with its own
transactional.id (or its own idempotent producer).  Not a test: run it by hand.
Usage: perf/bench_txn.py <path to ringtail> [seconds per round] [rounds] [producers]
"""
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop'))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from kwire import add_partitions, describe, end_txn, init_pid  # noqa: E402
from rtbroker import Broker  # noqa: E402

TOPIC = 'bench-txn'
PARTITIONS = 6
RECORDS = 10
VALUE = b'x' * 100


def txn_loop(bootstrap, k, seconds, out):
    p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': 'bench-%d' % k, 'linger.ms': 0,
                  'acks': 'all'})
    p.init_transactions(60)
    part = k % PARTITIONS
    n = 0
    in_commit = 0.0
    t0 = time.time()
    while time.time() - t0 < seconds:
        p.begin_transaction()
        for _ in range(RECORDS):
            p.produce(TOPIC, value=VALUE, partition=part)
        p.flush(60)                   # AddPartitionsToTxn and the produce itself
        t1 = time.time()
        p.commit_transaction(60)      # EndTxn: PrepareCommit, markers, CompleteCommit
        in_commit += time.time() - t1
        n += 1
    out[k] = (n, time.time() - t0, in_commit)


def group_loop(bootstrap, k, seconds, out):
    p = Producer({'bootstrap.servers': bootstrap, 'enable.idempotence': True, 'linger.ms': 0,
                  'acks': 'all'})
    part = k % PARTITIONS
    p.produce(TOPIC, value=VALUE, partition=part)     # connect and InitProducerId first
    p.flush(60)
    n = 0
    t0 = time.time()
    while time.time() - t0 < seconds:
        for _ in range(RECORDS):
            p.produce(TOPIC, value=VALUE, partition=part)
        if p.flush(60):
            raise RuntimeError('flush left records behind')
        n += 1
    out[k] = (n, time.time() - t0, 0.0)


def bare_cycle_ms(port, n=50):
    """The coordinator alone, on the wire: AddPartitionsToTxn, EndTxn(commit), then polling
    DescribeTransactions until CompleteCommit (markers written), with no records: the floor under
    a client's transaction."""
    e, pid, epoch = init_pid(port, 'bench-bare')
    t0 = time.time()
    for _ in range(n):
        while add_partitions(port, 'bench-bare', pid, epoch, TOPIC, [0]) != {0: 0}:
            time.sleep(0.0005)      # CONCURRENT_TRANSACTIONS until the last one completed
        if end_txn(port, 'bench-bare', pid, epoch, True):
            raise RuntimeError('EndTxn failed')
        while describe(port, ['bench-bare'])['bench-bare'][1] != 'CompleteCommit':
            time.sleep(0.0005)
    return 1000 * (time.time() - t0) / n


def measure(fn, bootstrap, seconds, producers):
    out = {}
    ts = [threading.Thread(target=fn, args=(bootstrap, k, seconds, out)) for k in range(producers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rate = sum(n / dt for n, dt, _ in out.values())
    commit_ms = 1000 * sum(c for _, _, c in out.values()) / max(1, sum(n for n, _, _ in out.values()))
    return rate, commit_ms


def main():
    exe = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    producers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    data = tempfile.mkdtemp(prefix='ringtail-bench-txn-')
    try:
        with Broker(exe, data_dir=data) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(20)
            txn, grp = [], []
            for r in range(rounds):
                grp.append(measure(group_loop, b.bootstrap, seconds, producers)[0])
                rate, commit_ms = measure(txn_loop, b.bootstrap, seconds, producers)
                txn.append(rate)
                print('round %d: %.1f transactions/s (%.1f ms of each in commit_transaction), %.1f idempotent '
                      '10-record groups/s (%d producer(s))' % (r, txn[-1], commit_ms, grp[-1], producers), flush=True)
            bare = bare_cycle_ms(b.port)
            print('bare coordinator cycle (no records, one request per connection): %.1f ms' % bare)
            mt, mg = sorted(txn)[len(txn) // 2], sorted(grp)[len(grp) // 2]
            print('median: %.1f transactions/s of %d records (%.0f records/s); limit %.1f groups/s '
                  '(%.0f records/s); transactions/limit %.3f'
                  % (mt, RECORDS, mt * RECORDS, mg, mg * RECORDS, mt / mg))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    main()
