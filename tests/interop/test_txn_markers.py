#!/usr/bin/python3
"""
tests/interop/test_txn_markers.py: the transaction coordinator's markers (WriteTxnMarkers from
ringtail-control to the dataplane) with confluent-kafka-python: a transaction whose topic is
deleted before it commits completes anyway (Kafka drops the markers of partitions whose topic
is gone instead of retrying them forever), the transactional id goes on with new transactions,
and the group coordinator serves meanwhile.
Usage: test_txn_markers.py <path to ringtail>
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kwire import describe_transactions
from rtbroker import Broker, run_tap


def describe_txn(port, txn_id):
    """DescribeTransactions v0 on the wire: (error, state, partitions)."""
    d = describe_transactions(port, [txn_id]).get(txn_id)
    return None if d is None else (d[0], d[1], d[5])


def wait_state(port, txn_id, want, timeout=20):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = describe_txn(port, txn_id)
        if got and got[1] == want:
            break
        time.sleep(0.1)
    return got


def main(tap):
    with Broker(sys.argv[1], overrides={'group.initial.rebalance.delay.ms': '0'}) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        for f in admin.create_topics([NewTopic('mk-gone', 2, 1), NewTopic('mk-stays', 1, 1)]).values():
            f.result(15)
        p = Producer({'bootstrap.servers': b.bootstrap, 'transactional.id': 'mk-tx'})
        p.init_transactions(30)
        p.begin_transaction()
        for i in range(4):
            p.produce('mk-gone', value=b'g%d' % i, partition=i % 2)
        p.produce('mk-stays', value=b's0', partition=0)
        p.flush(30)
        admin.delete_topics(['mk-gone'])['mk-gone'].result(15)
        t0 = time.time()
        p.commit_transaction(30)
        got = wait_state(b.port, 'mk-tx', 'CompleteCommit')
        tap.ok(got and got[1] == 'CompleteCommit',
               'a transaction whose topic was deleted completes: its markers there are dropped (%.2f s)'
               % (time.time() - t0), got)
        log = b.log()
        tap.ok('mk-gone-0 no longer exists' in log and 'mk-gone-1 no longer exists' in log,
               'the control process logs each partition whose marker it dropped')
        p.begin_transaction()
        p.produce('mk-stays', value=b's1', partition=0)
        t0 = time.time()
        p.commit_transaction(30)
        got = wait_state(b.port, 'mk-tx', 'CompleteCommit')
        tap.ok(got and got[1] == 'CompleteCommit', 'the next transaction of the same id commits (%.2f s)'
               % (time.time() - t0), got)
        c = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': 'mk-g', 'enable.auto.commit': False})
        c.commit(offsets=[TopicPartition('mk-stays', 0, 1)], asynchronous=False)
        r = c.committed([TopicPartition('mk-stays', 0)], 10)
        tap.ok(r[0].offset == 1, 'the group coordinator in the same process serves meanwhile', r)
        c.close()
        tap.ok(b.alive(), 'the broker is still running')


if __name__ == '__main__':
    run_tap(main)
