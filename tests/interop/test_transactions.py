#!/usr/bin/python3
"""
tests/interop/test_transactions.py: transactions end to end with confluent-kafka-python
(librdkafka) against the real broker and control process.

Two transactional producers run interleaved transactions over three partitions (both open at
once, so committed and aborted records alternate in every partition), some committed and some
aborted, with a plain idempotent producer writing between them.  A read_committed consumer must
see every committed and plain record exactly once, in each producer's order, and no aborted
record; a read_uncommitted consumer sees all of them.  An open transaction holds read_committed
consumers and ListOffsets(latest, read_committed) at its first offset (the last stable offset)
until it commits.  The same reads are checked after a SIGKILL of the broker and after a restart
with every .txnindex file deleted (rebuilt from the log).  Last, a second producer with the same
transactional.id fences the first.

kafka-python 2.0.2 (Debian's) has no read_committed: it always fetches read_uncommitted and
rejects an isolation_level setting, so it cannot take part here; KafkaJS's read_committed
consumer is checked in test_kafkajs_txn.py.
Usage: test_transactions.py <path to ringtail>
"""
import glob
import os
import shutil
import signal
import sys
import tempfile
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
from rtbroker import Broker, free_port, run_tap

TOPIC = 'txn-topic'
NPART = 3
ROUNDS = 8


def consume(bootstrap, isolation, expect, timeout=30, settle=2.0):
    """Reads every partition from the beginning: a list of (partition, offset, value)."""
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'g-%s-%f' % (isolation, time.time()),
                  'enable.auto.commit': False, 'isolation.level': isolation})
    c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(NPART)])
    got = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and len(got) < expect:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append((m.partition(), m.offset(), m.value().decode()))
        # a little longer: records beyond what is expected must not show up
        end = time.time() + settle
        while time.time() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append((m.partition(), m.offset(), m.value().decode()))
    finally:
        c.close()
    return got


def end_offset(bootstrap, isolation, partition):
    """ListOffsets(latest) as the consumer of that isolation level sends it."""
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'w-%f' % time.time(),
                  'isolation.level': isolation})
    try:
        return c.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=10, cached=False)[1]
    finally:
        c.close()


def main(tap):
    data = tempfile.mkdtemp(prefix='ringtail-txns-')
    port = free_port()
    try:
        b = Broker(sys.argv[1], data_dir=data, port=port)
        with b:
            bs = '127.0.0.1:%d' % port
            a = AdminClient({'bootstrap.servers': bs})
            for f in a.create_topics([NewTopic(TOPIC, NPART, 1)]).values():
                f.result(30)
            pa = Producer({'bootstrap.servers': bs, 'transactional.id': 'tx-a',
                           'transaction.timeout.ms': 60000, 'linger.ms': 0})
            pb = Producer({'bootstrap.servers': bs, 'transactional.id': 'tx-b',
                           'transaction.timeout.ms': 60000, 'linger.ms': 0})
            plain = Producer({'bootstrap.servers': bs, 'enable.idempotence': True, 'linger.ms': 0})
            pa.init_transactions(30)
            pb.init_transactions(30)
            committed = {p: [] for p in range(NPART)}
            everything = {p: [] for p in range(NPART)}
            outcomes = []
            for i in range(ROUNDS):
                pa.begin_transaction()
                pb.begin_transaction()
                recs = {'a': [], 'b': []}
                # two waves so that both transactions' records alternate in each partition
                for wave in range(2):
                    for p in range(NPART):
                        for name, prod in (('a', pa), ('b', pb)):
                            v = '%s-%d-%d-%d' % (name, i, wave, p)
                            prod.produce(TOPIC, value=v.encode(), partition=p)
                            recs[name].append((p, v))
                    pa.flush(30)
                    pb.flush(30)
                pv = 'plain-%d' % i
                plain.produce(TOPIC, value=pv.encode(), partition=i % NPART)
                plain.flush(30)
                committed[i % NPART].append(pv)
                everything[i % NPART].append(pv)
                commit_a, commit_b = i % 3 != 1, i % 2 == 0
                for name, prod, ok in (('a', pa, commit_a), ('b', pb, commit_b)):
                    if ok:
                        prod.commit_transaction(30)
                    else:
                        prod.abort_transaction(30)
                    outcomes.append(ok)
                    for p, v in recs[name]:
                        everything[p].append(v)
                        if ok:
                            committed[p].append(v)
            aborted = {v for p in range(NPART) for v in everything[p]} - \
                {v for p in range(NPART) for v in committed[p]}
            tap.ok(True in outcomes and False in outcomes and len(aborted) > 0,
                   '%d interleaved transactions: %d committed, %d aborted' % (
                       len(outcomes), outcomes.count(True), outcomes.count(False)))

            def check(when):
                got = consume(bs, 'read_committed', sum(len(v) for v in committed.values()))
                values = [v for _, _, v in got]
                bad = [v for v in values if v in aborted]
                dup = sorted({v for v in values if values.count(v) > 1})
                want = sorted(v for vs in committed.values() for v in vs)
                tap.ok(sorted(values) == want and not bad and not dup,
                       '%s: read_committed sees every committed record exactly once and no aborted one' % when,
                       'got %d, want %d; aborted seen: %s; duplicates: %s' % (len(values), len(want), bad[:8], dup[:8]))
                in_order = True
                for p in range(NPART):
                    mine = [v for q, _, v in sorted(got) if q == p]
                    for prefix in ('a-', 'b-', 'plain-'):
                        if [v for v in mine if v.startswith(prefix)] != \
                                [v for v in committed[p] if v.startswith(prefix)]:
                            in_order = False
                tap.ok(in_order, "%s: read_committed keeps each producer's order in every partition" % when)
                ru = consume(bs, 'read_uncommitted', sum(len(v) for v in everything.values()))
                tap.ok(sorted(v for _, _, v in ru) == sorted(v for vs in everything.values() for v in vs),
                       '%s: read_uncommitted sees the committed and the aborted records' % when,
                       'got %d, want %d' % (len(ru), sum(len(v) for v in everything.values())))

            check('live')

            # An open transaction holds the last stable offset at its first offset.
            hw = end_offset(bs, 'read_uncommitted', 0)
            tap.ok(end_offset(bs, 'read_committed', 0) == hw,
                   'ListOffsets latest, read_committed, no open transaction: the high watermark', hw)
            pa.begin_transaction()
            pa.produce(TOPIC, value=b'open-0', partition=0)
            pa.flush(30)
            pb.begin_transaction()
            pb.produce(TOPIC, value=b'after-open', partition=0)
            pb.commit_transaction(30)
            lso, hw2 = end_offset(bs, 'read_committed', 0), end_offset(bs, 'read_uncommitted', 0)
            tap.ok(lso == hw and hw2 == hw + 3,
                   'ListOffsets latest: read_committed stops at the open transaction, read_uncommitted '
                   'at the high watermark', (hw, lso, hw2))
            got = consume(bs, 'read_committed', 10 ** 6, timeout=3, settle=0)
            seen = {v for _, _, v in got}
            tap.ok('open-0' not in seen and 'after-open' not in seen,
                   'read_committed does not pass an open transaction, not even to a later commit')
            pa.commit_transaction(30)
            committed[0] += ['open-0', 'after-open']
            everything[0] += ['open-0', 'after-open']
            tap.ok(end_offset(bs, 'read_committed', 0) == hw + 4,
                   'after the commit read_committed reaches the high watermark')

            # the fencing of the first producer by a second with the same transactional.id
            p2 = Producer({'bootstrap.servers': bs, 'transactional.id': 'tx-a'})
            p2.init_transactions(30)
            fenced = None
            try:
                pa.begin_transaction()
                pa.produce(TOPIC, value=b'zombie', partition=1)
                pa.commit_transaction(30)
            except KafkaException as e:
                fenced = e.args[0]
            tap.ok(fenced is not None and fenced.fatal(),
                   'the first producer is fenced by a second with the same transactional.id (fatal)',
                   fenced)
            p2.begin_transaction()
            p2.produce(TOPIC, value=b'after-fence', partition=1)
            p2.commit_transaction(30)
            committed[1].append('after-fence')
            everything[1].append('after-fence')
            aborted.add('zombie')
            check('after fencing')

            # SIGKILL: the indexes and the last stable offset come back from the disk
            b.stop(signal.SIGKILL)
            b.start()
            check('after SIGKILL')
            tap.ok('recovery truncated' not in b.log(),
                   'after SIGKILL recovery finds every batch, markers included, where it belongs',
                   [l for l in b.log().splitlines() if 'recovery truncated' in l][:3])
            b.stop()
            gone = glob.glob(os.path.join(data, 'data', TOPIC + '-*', '*.txnindex'))
            for f in gone:
                os.unlink(f)
            b.start()
            check('after rebuilding the .txnindex files')
            tap.ok(len(gone) >= NPART and 'derived again from the log' in b.log(),
                   'restart with the %d .txnindex files deleted: recovery said it rebuilt them' % len(gone))
            rebuilt = glob.glob(os.path.join(data, 'data', TOPIC + '-*', '*.txnindex'))
            tap.ok(len(rebuilt) >= NPART and any(os.path.getsize(f) > 0 for f in rebuilt),
                   'the rebuilt .txnindex files are on disk again', rebuilt)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
