#!/usr/bin/python3
"""
tests/interop/test_txn_offsets.py: consume-transform-produce with confluent-kafka-python
(librdkafka) `send_offsets_to_transaction` against the real broker: AddOffsetsToTxn puts the
group's `__consumer_offsets` partition into the transaction, TxnOffsetCommit holds the offsets
pending (OffsetFetch does not show them; with require_stable, KIP-447, it answers
UNSTABLE_OFFSET_COMMIT), the COMMIT marker makes them the group's committed offsets and ABORT
drops them.  The offsets survive SIGKILL of the control process in the middle of a transaction
(the pending offsets are read back from the log and settled by the marker the restarted
coordinator writes) and SIGKILL of the whole broker.  Bad input: TxnOffsetCommit without
AddOffsetsToTxn, with a stale epoch, for an unknown transactional id, for a topic that does not
exist.  DeleteGroups while an open transaction holds the group's offsets: the group goes (as in
Kafka) and neither the commit nor a reload of the log brings its offsets back.
Usage: test_txn_offsets.py <path to ringtail>
"""
import shutil
import signal
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kwire import TXN_RETRY, Conn, W, init_pid
from rtbroker import Broker, free_port, run_tap

IN, OUT, GROUP, DEL_GROUP = 'ctp-in', 'ctp-out', 'ctp', 'ctp-del'
OVERRIDES = {'group.initial.rebalance.delay.ms': '0'}


def offset_fetch(port, require_stable, group=GROUP, topic=IN, partition=0, timeout=30):
    """OffsetFetch v7 on the wire: (offset, error) of one partition; retries while the
    coordinator starts or loads (14, 15 at the top level)."""
    deadline = time.time() + timeout
    while True:
        try:
            c = Conn(port)
            body = W().cstr(group).uvar(2).cstr(topic).uvar(2).i32(partition).tags().i8(
                1 if require_stable else 0).tags()
            r = c.call(9, 7, body, True)
            r.i32()                                  # throttle
            got = None
            for _ in range(r.uvar() - 1):
                r.cstr()
                for _ in range(r.uvar() - 1):
                    p, off, _epoch, _md, err = r.i32(), r.i64(), r.i32(), r.cstr(), r.i16()
                    r.tags()
                    if p == partition:
                        got = (off, err)
                r.tags()
            top = r.i16()
            c.close()
            if top in (14, 15) and time.time() < deadline:
                time.sleep(0.1)
                continue
            return got if top == 0 else (None, top)
        except (OSError, ConnectionError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def settled(port, timeout=15):
    """OffsetFetch with require_stable until the transaction's marker has settled the offset:
    EndTxn is answered once PrepareCommit/PrepareAbort is durable, and the markers follow (in
    Kafka as here), so a consumer retries UNSTABLE_OFFSET_COMMIT meanwhile."""
    deadline = time.time() + timeout
    while True:
        got = offset_fetch(port, True)
        if got[1] != 88 or time.time() > deadline:
            return got
        time.sleep(0.05)


def txn_offset_commit(port, txn_id, pid, epoch, topic, offset, group=GROUP):
    """TxnOffsetCommit v3 on the wire: the error of its one partition."""
    c = Conn(port)
    body = (W().cstr(txn_id).cstr(group).i64(pid).i16(epoch).i32(-1).cstr('').cstr(None)
            .uvar(2).cstr(topic).uvar(2).i32(0).i64(offset).i32(-1).cstr('').tags().tags().tags())
    r = c.call(28, 3, body, True)
    r.i32()
    errs = []
    for _ in range(r.uvar() - 1):
        r.cstr()
        for _ in range(r.uvar() - 1):
            r.i32()
            errs.append(r.i16())
            r.tags()
        r.tags()
    c.close()
    return errs


def delete_groups(port, groups):
    """DeleteGroups v2 on the wire: {group: error}; retries while the coordinator loads."""
    deadline = time.time() + 30
    while True:
        c = Conn(port)
        b = W().uvar(len(groups) + 1)
        for g in groups:
            b.cstr(g)
        r = c.call(42, 2, b.tags(), True)
        r.i32()
        out = {}
        for _ in range(r.uvar() - 1):
            g, err = r.cstr(), r.i16()
            r.tags()
            out[g] = err
        c.close()
        if any(e in (14, 15) for e in out.values()) and time.time() < deadline:
            time.sleep(0.1)
            continue
        return out


def consume(c, n, timeout=30):
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    return got


def transform(p, c, msgs):
    for m in msgs:
        p.produce(OUT, value=b'T-' + m.value(), partition=0)
    pos = c.position(c.assignment())
    p.send_offsets_to_transaction(pos, c.consumer_group_metadata(), 30)
    return {tp.partition: tp.offset for tp in pos}


def main(tap):
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-txnoff-')
    port = free_port()
    try:
        with Broker(exe, overrides=OVERRIDES, data_dir=data, port=port) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            for f in admin.create_topics([NewTopic(IN, 1, 1), NewTopic(OUT, 1, 1)]).values():
                f.result(15)
            src = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all'})
            for i in range(40):
                src.produce(IN, value=b'%d' % i, partition=0)
            src.flush(30)
            c = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': GROUP, 'enable.auto.commit': False,
                          'auto.offset.reset': 'earliest', 'isolation.level': 'read_committed'})
            c.subscribe([IN])
            p = Producer({'bootstrap.servers': b.bootstrap, 'transactional.id': 'ctp-tx'})
            p.init_transactions(30)

            # 1: commit
            msgs = consume(c, 10)
            tap.ok(len(msgs) == 10, 'the transformer consumes 10 input records', len(msgs))
            p.begin_transaction()
            sent = transform(p, c, msgs[:10])
            pending = offset_fetch(b.port, False)
            unstable = offset_fetch(b.port, True)
            tap.ok(pending == (-1, 0), 'offsets sent in an open transaction are not committed yet', pending)
            tap.ok(unstable == (-1, 88), 'OffsetFetch require_stable: UNSTABLE_OFFSET_COMMIT while pending',
                   unstable)
            p.commit_transaction(30)
            got = settled(b.port)
            tap.ok(got == (sent[0], 0), 'after commit the committed offset is the one sent (%d)' % sent[0], got)
            cc = c.committed([TopicPartition(IN, 0)], 10)
            tap.ok(cc[0].offset == sent[0], 'the consumer sees the same committed offset', cc)

            # 2: abort
            msgs = consume(c, 10)
            p.begin_transaction()
            sent2 = transform(p, c, msgs)
            p.abort_transaction(30)
            got = settled(b.port)
            tap.ok(sent2[0] > sent[0] and got == (sent[0], 0),
                   'after abort the committed offset is unchanged (%d, not %d)' % (sent[0], sent2[0]), got)

            # 3: SIGKILL of the control process between TxnOffsetCommit and EndTxn
            p.begin_transaction()
            p.produce(OUT, value=b'T-x', partition=0)
            p.send_offsets_to_transaction([TopicPartition(IN, 0, sent[0] + 20)], c.consumer_group_metadata(), 30)
            b.kill_control()
            got = offset_fetch(b.port, False)
            tap.ok(got == (sent[0], 0), 'after the control process restarts the pending offset is still pending',
                   got)
            tap.ok(offset_fetch(b.port, True) == (-1, 88), 'and still unstable for require_stable')
            p.commit_transaction(60)
            got = settled(b.port)
            tap.ok(got == (sent[0] + 20, 0), 'the commit after the restart makes it committed', got)
            committed_before = got[0]
            c.close()

            # 4: bad input on the wire
            err, pid, epoch = init_pid(b.port, 'ctp-raw', version=3, retry=TXN_RETRY)
            tap.ok(err == 0, 'a raw transactional producer gets an id', (err, pid, epoch))
            e = txn_offset_commit(b.port, 'ctp-raw', pid, epoch, IN, 5)
            tap.ok(e == [48], 'TxnOffsetCommit without AddOffsetsToTxn: INVALID_TXN_STATE', e)
            e = txn_offset_commit(b.port, 'ctp-raw', pid, epoch - 1 if epoch > 0 else epoch + 5, IN, 5)
            tap.ok(e == [90], 'TxnOffsetCommit with another epoch: PRODUCER_FENCED', e)
            e = txn_offset_commit(b.port, 'nobody', pid, epoch, IN, 5)
            tap.ok(e == [49], 'TxnOffsetCommit for an unknown transactional id: INVALID_PRODUCER_ID_MAPPING', e)
            e = txn_offset_commit(b.port, 'ctp-raw', pid, epoch, 'no-such-topic', 5)
            tap.ok(e == [3], 'TxnOffsetCommit for a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION', e)
            tap.ok(offset_fetch(b.port, True) == (committed_before, 0), 'none of them changed the committed offset')

            # 5: DeleteGroups of a group whose offsets an open transaction holds: Kafka deletes
            # the Empty group (NONE) and tombstones the pending offsets, so the commit that
            # follows brings nothing back, neither at once nor after the control process reloads
            dc = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': DEL_GROUP, 'enable.auto.commit': False})
            p.begin_transaction()
            p.produce(OUT, value=b'T-del', partition=0)
            p.send_offsets_to_transaction([TopicPartition(IN, 0, 7)], dc.consumer_group_metadata(), 30)
            tap.ok(offset_fetch(b.port, True, group=DEL_GROUP) == (-1, 88),
                   'a group that only an open transaction has offsets for: UNSTABLE_OFFSET_COMMIT')
            tap.ok(delete_groups(b.port, [DEL_GROUP]) == {DEL_GROUP: 0},
                   'DeleteGroups takes it with the transaction still open (NONE, as Kafka)')
            p.commit_transaction(30)
            got = offset_fetch(b.port, True, group=DEL_GROUP)
            tap.ok(got == (-1, 0), 'the commit does not bring the deleted offsets back', got)
            b.kill_control()
            got = offset_fetch(b.port, True, group=DEL_GROUP)
            tap.ok(got == (-1, 0), 'nor does the restarted control process reloading the log', got)
            dc.close()

            p.flush(10)
            b.stop(signal.SIGKILL)
        with Broker(exe, overrides=OVERRIDES, data_dir=data, port=port) as b2:
            got = offset_fetch(b2.port, True)
            tap.ok(got == (committed_before, 0),
                   'after SIGKILL of the broker the committed offset is read back from the log (%d)'
                   % committed_before, got)
            c = Consumer({'bootstrap.servers': b2.bootstrap, 'group.id': GROUP, 'enable.auto.commit': False,
                          'isolation.level': 'read_committed'})
            c.subscribe([IN])
            msgs = consume(c, 1)
            tap.ok(msgs and msgs[0].offset() == committed_before,
                   'a restarted consumer resumes exactly there', [m.offset() for m in msgs])
            got = offset_fetch(b2.port, True, group=DEL_GROUP)
            tap.ok(got == (-1, 0), 'after SIGKILL of the broker the deleted group still has no offsets', got)
            c.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
