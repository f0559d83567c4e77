#!/usr/bin/python3
"""
tests/interop/test_expiration.py: producer ids and transactional ids expire as in Kafka (issue 7),
with Kafka's keys set short on the real broker:

- producer.id.expiration.ms / producer.id.expiration.check.interval.ms: a partition forgets an
  idle idempotent producer (DescribeProducers no longer lists it, and the same batch sent again
  is a new write, not a duplicate: the state is really gone), but not one with an open
  transaction.
- transactional.id.expiration.ms / transaction.remove.expired.transaction.cleanup.interval.ms:
  the coordinator forgets an idle transactional id (DescribeTransactions answers
  TRANSACTIONAL_ID_NOT_FOUND, InitProducerId then hands out a new producer id at epoch 0), but
  not one with an ongoing transaction; the expiry is durable (still gone after a SIGKILL).
Usage: test_expiration.py <path to ringtail>
"""
import signal
import sys
import tempfile
import shutil
import time

from kafka.admin import KafkaAdminClient, NewTopic

import kwire
from kwire import add_partitions, describe, init_pid
from rtbroker import Broker, free_port, run_tap
from test_idempotent_wire import TOPIC, PID, produce, describe_producers

EXPIRE_MS = 2000
OVERRIDES = {
    'producer.id.expiration.ms': str(EXPIRE_MS),
    'producer.id.expiration.check.interval.ms': '200',
    'transactional.id.expiration.ms': str(EXPIRE_MS),
    'transaction.remove.expired.transaction.cleanup.interval.ms': '200',
}
NOT_FOUND = 105       # TRANSACTIONAL_ID_NOT_FOUND


def batch(pid, seq, n, tag, transactional=False, epoch=0):
    return kwire.batch([(None, ('%s-%d' % (tag, i)).encode()) for i in range(n)], pid, epoch, seq, transactional)


def produce_txn(port, txn_id, records):
    """Produce v3 with a transactional id: (error, base offset) of the one partition."""
    return kwire.produce(port, TOPIC, 0, records, txn_id)


def wait_until(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return None


def main(tap):
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-expiry-')
    port = free_port()
    try:
        with Broker(exe, overrides=OVERRIDES, data_dir=data, port=port) as b:
            admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
            admin.create_topics([NewTopic(TOPIC, 1, 1), NewTopic('exp-txn', 1, 1)])
            admin.close()

            # producer ids on the partition
            a = batch(PID, 0, 2, 'a')
            t0 = time.time()
            tap.ok(produce(port, a) == (0, 0), 'an idempotent batch is written at offset 0')
            tap.ok(produce(port, a) == (0, 0), 'its retry is a duplicate while the producer is known')
            e, tpid, tep = init_pid(port, 'tx-raw')
            open_txn = batch(tpid, 0, 1, 't', transactional=True, epoch=tep)
            tap.ok(e == 0 and add_partitions(port, 'tx-raw', tpid, tep, TOPIC, [0]) == {0: 0} and
                   produce_txn(port, 'tx-raw', open_txn) == (0, 2), 'a transactional producer writes and leaves it open')
            d = describe_producers(port, 0)
            tap.ok(d[0] == 0 and sorted(p[0] for p in d[1]) == sorted([PID, tpid]), 'DescribeProducers lists both', d)
            gone = wait_until(lambda: [p[0] for p in describe_producers(port, 0)[1]] == [tpid], 10)
            waited = time.time() - t0
            tap.ok(gone and waited >= EXPIRE_MS / 1000.0 - 0.2,
                   'the idle producer is forgotten after producer.id.expiration.ms (%.1f s), the one with '
                   'an open transaction is kept' % waited, describe_producers(port, 0))
            tap.ok(produce(port, a) == (0, 3),
                   'the same batch again is a new write: its producer state is gone (as in Kafka)')

            # transactional ids in the coordinator
            # t0 before tx-idle's InitProducerId: the coordinator stamps the id no earlier than
            # this, so it must stay found for at least EXPIRE_MS after t0. (t0 used to be taken
            # after tx-open's InitProducerId too; under load that durable write alone took long
            # enough for the check to fail while the expiry was right.)
            t0 = time.time()
            e, p, ep = init_pid(port, 'tx-idle')
            tap.ok(e == 0 and ep == 0, 'InitProducerId for tx-idle', (e, p, ep))
            e2, p2, ep2 = init_pid(port, 'tx-open')
            tap.ok(add_partitions(port, 'tx-open', p2, ep2, 'exp-txn', [0]) == {0: 0},
                   'tx-open starts a transaction')
            gone = wait_until(lambda: describe(port, ['tx-idle']).get('tx-idle', (0,))[0] == NOT_FOUND, 10)
            waited = time.time() - t0
            tap.ok(gone and waited >= EXPIRE_MS / 1000.0 - 0.05,
                   'the idle transactional id expires after transactional.id.expiration.ms (%.1f s)' % waited,
                   describe(port, ['tx-idle']))
            d = describe(port, ['tx-open'])
            tap.ok(d.get('tx-open', (None, None))[:2] == (0, 'Ongoing'), 'the id with an ongoing transaction is kept', d)
            b.stop(signal.SIGKILL)
        with Broker(exe, overrides=OVERRIDES, data_dir=data, port=port) as b:
            d = describe(port, ['tx-idle'])
            if d.get('tx-idle', (0,))[0] in (14, 15):
                wait_until(lambda: describe(port, ['tx-idle']).get('tx-idle', (0,))[0] not in (14, 15), 15)
                d = describe(port, ['tx-idle'])
            tap.ok(d.get('tx-idle', (0,))[0] == NOT_FOUND, 'after SIGKILL the expired id is still gone', d)
            e3, p3, ep3 = init_pid(port, 'tx-idle')
            tap.ok(e3 == 0 and ep3 == 0 and p3 != p, 'InitProducerId for it starts afresh: a new producer id, epoch 0',
                   (p, (e3, p3, ep3)))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
