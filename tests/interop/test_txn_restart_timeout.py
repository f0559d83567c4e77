#!/usr/bin/python3
"""
tests/interop/test_txn_restart_timeout.py: a transaction whose producer vanished is aborted at its
timeout even when ringtail-control was restarted in between and no client ever talks to the
transaction coordinator again (and, before any producer asked, the topic is not created).  Kafka loads `__transaction_state` when it becomes the leader of its
partitions, so timed-out transactions are aborted and prepared ones finished without a client's
request; a coordinator that loaded only on the next transactional request left the partition's
last stable offset stuck, and with it every read_committed consumer and every require_stable
OffsetFetch that waited on the transaction (the failure interop/eos_kills once showed).
DescribeProducers is answered by the dataplane alone, so watching it does not wake the coordinator.
Usage: test_txn_restart_timeout.py <path to ringtail>
"""
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic
from kwire import add_partitions, batch, describe_producers, init_pid, produce
from rtbroker import Broker, run_tap

TIMEOUT_MS = 3000


def open_txn_start(port, topic):
    """The first offset of the open transaction on topic-0 (None when none is open)."""
    dp = describe_producers(port, topic, 0)
    if not dp or dp[0] != 0:
        return 'error %r' % (dp,)
    starts = [x[5] for x in dp[1] if x[5] >= 0]
    return starts[0] if starts else None


def main(tap):
    over = {'transaction.abort.timed.out.transaction.cleanup.interval.ms': '200'}
    with Broker(sys.argv[1], overrides=over) as b:
        port = b.port
        adm = AdminClient({'bootstrap.servers': b.bootstrap})
        for f in adm.create_topics([NewTopic('rt-t', 1, 1)]).values():
            f.result(30)
        # Loaded at start, but created only when a producer first needs it, as in Kafka.
        deadline = time.time() + 10
        while time.time() < deadline and '__transaction_state loaded' not in b.log():
            time.sleep(0.05)
        time.sleep(0.5)
        topics = adm.list_topics(timeout=10).topics
        tap.ok('__transaction_state loaded' in b.log() and '__transaction_state' not in topics,
               'the coordinator loads at start and creates no __transaction_state before a producer asks',
               (sorted(topics), b.log()[-1500:]))
        e, pid, epoch = init_pid(port, 'tx-gone', timeout=TIMEOUT_MS)
        tap.ok(e == 0 and pid >= 0, 'InitProducerId with a %d ms transaction timeout' % TIMEOUT_MS, (e, pid, epoch))
        a = add_partitions(port, 'tx-gone', pid, epoch, 'rt-t', [0])
        rec = batch([(None, b'never committed')], pid, epoch, 0, True)
        pe = produce(port, 'rt-t', 0, rec, 'tx-gone')[0]
        tap.ok(a == {0: 0} and pe == 0 and open_txn_start(port, 'rt-t') == 0,
               'a transaction is open on rt-t-0 from offset 0', (a, pe, open_txn_start(port, 'rt-t')))
        old, new = b.kill_control()
        tap.ok(old and new, 'ringtail-control SIGKILLed and started again', (old, new))
        # The producer is gone; nothing asks the coordinator anything from here on.
        deadline = time.time() + TIMEOUT_MS / 1000 + 20
        start = 0
        while time.time() < deadline:
            start = open_txn_start(port, 'rt-t')
            if start is None:
                break
            time.sleep(0.2)
        tap.ok(start is None, 'the restarted coordinator aborted the timed-out transaction by itself '
               '(no open transaction on rt-t-0 within %d s)' % (TIMEOUT_MS / 1000 + 20), (start, b.log()[-3000:]))


if __name__ == '__main__':
    run_tap(main)
