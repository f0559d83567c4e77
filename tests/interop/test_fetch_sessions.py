#!/usr/bin/python3
"""
tests/interop/test_fetch_sessions.py: incremental fetch sessions (KIP-227) on the wire against
the real broker, the way Kafka's Java consumer (FetchSessionHandler) drives them: a full fetch
that opens a session, incremental fetches that send only changed partitions and get back only
partitions that changed, forgotten partitions, closing, epoch errors (also a pipelined fetch
overtaken by the next epoch), topic-id sessions (v13) and the cache slots setting.  None of the
Debian clients (librdkafka, kafka-python 2.0.2, KafkaJS) opens sessions, so the requests are raw
(kwire.py); the same run then checks that librdkafka (confluent-kafka) still consumes everything
with its sessionless fetches on a broker holding sessions.
Usage: test_fetch_sessions.py <path to ringtail>
"""
import struct
import sys
import threading
import time

from confluent_kafka import Consumer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from kwire import Conn, R, W, batch_spans, topic_id
from rtbroker import Broker, run_tap

NONE, UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID = 0, 3, 100
SESSION_NOT_FOUND, INVALID_EPOCH, SESSION_TOPIC_ID_ERROR = 70, 71, 106


def fetch_body(version, sid, epoch, parts, forget=(), wait=0, min_bytes=1):
    """parts: [(topic name or 16-byte id, partition, offset)]; forget: [(topic, partition)]."""
    by_id = version >= 13
    w = W().i32(-1).i32(wait).i32(min_bytes).i32(1 << 20).i8(0).i32(sid).i32(epoch)

    def topics(items, one):
        groups = []
        for it in items:
            if groups and groups[-1][0] == it[0]:
                groups[-1][1].append(it)
            else:
                groups.append((it[0], [it]))
        w.uvar(len(groups) + 1)
        for t, its in groups:
            if by_id:
                w.raw(t)
            else:
                w.cstr(t)
            w.uvar(len(its) + 1)
            for it in its:
                one(it)
            w.tags()

    def part(it):
        w.i32(it[1]).i32(-1).i64(it[2]).i32(-1).i64(-1).i32(1 << 20).tags()

    topics(parts, part)
    topics(forget, lambda it: w.i32(it[1]))
    w.cstr('')
    return w.tags()


def read_fetch(r, version):
    r.i32()
    err, sid = r.i16(), r.i32()
    out = {}
    for _ in range(r.uvar() - 1):
        t = bytes(r.take(16)) if version >= 13 else r.cstr()
        for _ in range(r.uvar() - 1):
            p, perr, hwm = r.i32(), r.i16(), r.i64()
            r.i64()
            r.i64()
            r.carr(lambda r: (r.i64(), r.i64(), r.tags()))
            r.i32()
            n = r.uvar() - 1
            recs = bytes(r.take(n)) if n > 0 else b''
            r.tags()
            out[(t, p)] = (perr, hwm, next_offset(recs))
        r.tags()
    r.tags()
    return err, sid, out


def next_offset(recs):
    """The offset after the last whole batch in recs, or None when there is none."""
    spans = batch_spans(recs)
    return spans[-1][1] + 1 if spans else None


def call_fetch(c, version, *a, **kw):
    return read_fetch(c.call(1, version, fetch_body(version, *a, **kw), True), version)


def main(tap):
    with Broker(sys.argv[1]) as b:
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        admin.create_topics([NewTopic('fs', 4, 1)])
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all', linger_ms=0)
        for p in range(4):
            for i in range(10):
                prod.send('fs', value=b'v%d-%d' % (p, i), partition=p)
        prod.flush()
        c = Conn(b.port)

        # Full fetch asking for a session (epoch 0): every partition, a session id.
        full = [('fs', p, 0) for p in range(4)]
        err, sid, out = call_fetch(c, 12, 0, 0, full)
        tap.ok(err == NONE and sid > 0, 'a full fetch with epoch 0 opens a session', (err, sid))
        tap.ok(sorted(out) == [('fs', p) for p in range(4)] and
               all(v == (NONE, 10, 10) for v in out.values()),
               'the full answer has every partition with its records', out)

        # Epoch 1: the client sends its new offsets; nothing changed, so nothing comes back.
        t0 = time.time()
        err, sid1, out = call_fetch(c, 12, sid, 1, [('fs', p, 10) for p in range(4)], wait=300)
        tap.ok(err == NONE and sid1 == sid and out == {},
               'an incremental fetch with nothing new answers no partition, same session', (err, sid1, out))
        tap.ok(time.time() - t0 >= 0.25, 'and it waited max_wait_ms for data first')

        # Epoch 2, no partitions in the request: the cached offsets are used; only the partition
        # that got a record comes back.
        prod.send('fs', value=b'new', partition=2).get(10)
        err, _, out = call_fetch(c, 12, sid, 2, [], wait=300)
        tap.ok(err == NONE and out == {('fs', 2): (NONE, 11, 11)},
               'an empty incremental request reads the session: only the partition with a new record', out)

        # Epoch 3: the session's cached offset of partition 2 is still 10, so the record is sent
        # again until the client tells the new offset (the client owns its offsets).
        err, _, out = call_fetch(c, 12, sid, 3, [('fs', 2, 11)], wait=200)
        tap.ok(err == NONE and out == {}, 'the client moves partition 2 on: nothing to send', out)

        # Long poll inside a session: a record produced while the fetch waits wakes it.
        def later():
            time.sleep(0.3)
            p2 = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all')
            p2.send('fs', value=b'late', partition=3).get(10)
            p2.close()
        th = threading.Thread(target=later)
        th.start()
        t0 = time.time()
        err, _, out = call_fetch(c, 12, sid, 4, [], wait=8000)
        th.join()
        tap.ok(err == NONE and out == {('fs', 3): (NONE, 11, 11)} and time.time() - t0 < 6,
               'an append wakes a waiting incremental fetch; only that partition comes back', out)

        # Epoch errors and unknown sessions; the session survives them.
        err, esid, out = call_fetch(c, 12, sid, 4, [])
        tap.ok(err == INVALID_EPOCH and out == {}, 'a used epoch is INVALID_FETCH_SESSION_EPOCH', (err, esid))
        err, esid, out = call_fetch(c, 12, 987654, 1, [])
        tap.ok(err == SESSION_NOT_FOUND and esid == 0, 'an unknown session is FETCH_SESSION_ID_NOT_FOUND', (err, esid))
        err, _, out = call_fetch(c, 13, sid, 5, [])
        tap.ok(err == SESSION_TOPIC_ID_ERROR, 'a name session used by Fetch v13 is FETCH_SESSION_TOPIC_ID_ERROR', err)

        # Forgotten partitions leave the session: their new records are not sent any more.
        err, _, out = call_fetch(c, 12, sid, 5, [('fs', 3, 11)], forget=[('fs', 0), ('fs', 1)], wait=100)
        tap.ok(err == NONE and out == {}, 'forgetting partitions 0 and 1', (err, out))
        for p in (0, 1, 3):
            prod.send('fs', value=b'more', partition=p)
        prod.flush()
        err, _, out = call_fetch(c, 12, sid, 6, [], wait=100)
        tap.ok(err == NONE and out == {('fs', 3): (NONE, 12, 12)},
               'records on forgotten partitions are not sent; the kept one is', out)

        # A partition the broker does not have: its error is in every answer.
        err, _, out = call_fetch(c, 12, sid, 7, [('fs', 3, 12), ('fs', 9, 0)], wait=100)
        tap.ok(out == {('fs', 9): (UNKNOWN_TOPIC_OR_PARTITION, -1, None)}, 'an unknown partition answers its error', out)
        err, _, out = call_fetch(c, 12, sid, 8, [], wait=100)
        tap.ok(out == {('fs', 9): (UNKNOWN_TOPIC_OR_PARTITION, -1, None)}, 'and again in the next answer', out)

        # Pipelined: epoch 9 waits for data, epoch 10 is sent behind it.  Kafka answers the
        # first with INVALID_FETCH_SESSION_EPOCH (the session moved on), the second normally.
        forget9 = [('fs', 9)]
        frames = []
        for corr, (ep, wait) in enumerate([(9, 1500), (10, 0)], start=100):
            body = fetch_body(12, sid, ep, [], forget=forget9 if ep == 9 else (), wait=wait)
            h = W().i16(1).i16(12).i32(corr).str('kwire').tags()
            msg = bytes(h.b) + bytes(body.b)
            frames.append(struct.pack('>i', len(msg)) + msg)
        c.s.sendall(b''.join(frames))
        answers = []
        for _ in range(2):
            n = struct.unpack('>i', c._read(4))[0]
            r = R(c._read(n))
            corr = r.i32()
            r.tags()
            answers.append((corr,) + read_fetch(r, 12))
        tap.ok(answers[0][0] == 100 and answers[0][1] == INVALID_EPOCH and answers[0][2] == sid,
               'a waiting fetch overtaken by the next epoch answers INVALID_FETCH_SESSION_EPOCH', answers[0])
        tap.ok(answers[1][0] == 101 and answers[1][1] == NONE and answers[1][2] == sid,
               'the overtaking fetch is answered from the session', answers[1])

        # Closing: epoch -1 with the session id is a sessionless full fetch; the id is gone.
        err, csid, out = call_fetch(c, 12, sid, -1, [('fs', 3, 0)])
        tap.ok(err == NONE and csid == 0 and out == {('fs', 3): (NONE, 12, 12)},
               'epoch -1 closes the session and answers sessionless', (err, csid, out))
        err, _, _ = call_fetch(c, 12, sid, 11, [])
        tap.ok(err == SESSION_NOT_FOUND, 'the closed session is not found any more', err)

        # Sessions by topic id (v13).
        tid = topic_id(c, 'fs')
        tap.ok(tid is not None and tid != bytes(16), 'Metadata v12 gives the topic id', tid)
        ghost = bytes(range(1, 17))
        err, sid13, out = call_fetch(c, 13, 0, 0, [(tid, 0, 0), (ghost, 0, 0)])
        tap.ok(err == NONE and sid13 > 0 and out.get((tid, 0), (None, None, None))[2] == 11 and
               out.get((ghost, 0), (None,))[0] == UNKNOWN_TOPIC_ID,
               'v13 full fetch by topic id opens a session; an unknown id is UNKNOWN_TOPIC_ID', (err, sid13, out))
        err, _, out = call_fetch(c, 13, sid13, 1, [(tid, 0, 11)], forget=[(ghost, 0)], wait=100)
        tap.ok(err == NONE and out == {}, 'v13 incremental: forgetting by id, nothing new', (err, out))
        err, _, _ = call_fetch(c, 12, sid13, 2, [])
        tap.ok(err == SESSION_TOPIC_ID_ERROR, 'a topic-id session used by v12 is FETCH_SESSION_TOPIC_ID_ERROR', err)
        prod.send('fs', value=b'id', partition=0).get(10)
        err, _, out = call_fetch(c, 13, sid13, 2, [], wait=100)
        tap.ok(err == NONE and out == {(tid, 0): (NONE, 12, 12)}, 'v13 incremental answers the new record by id', out)

        # A new connection may land on another shard: either the session is there, or the
        # answer is FETCH_SESSION_ID_NOT_FOUND (never anything else).
        c2 = Conn(b.port)
        err, s2, _ = call_fetch(c2, 13, sid13, 3, [], wait=0)
        tap.ok((err == NONE and s2 == sid13) or (err == SESSION_NOT_FOUND and s2 == 0),
               'a session named from another connection is served or not found', (err, s2))
        # and a full fetch from there closes it wherever it lives
        err, s3, _ = call_fetch(c2, 13, sid13, 0, [(tid, 0, 0)])
        tap.ok(err == NONE and s3 > 0 and s3 != sid13, 'a full fetch naming it opens a new session', (err, s3))
        time.sleep(0.2)
        err, _, _ = call_fetch(c, 13, sid13, 4, [])
        tap.ok(err == SESSION_NOT_FOUND, 'the named session was closed, on whichever shard held it', err)
        c2.close()
        c.close()

        # librdkafka fetches sessionless (session 0, epoch -1) and must get everything.
        cons = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': 'fs-cons',
                         'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
        cons.subscribe(['fs'])
        got, deadline = 0, time.time() + 30
        while got < 46 and time.time() < deadline:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                got += 1
        cons.close()
        tap.ok(got == 46, 'confluent-kafka (librdkafka, sessionless) consumes all 46 records', got)
        prod.close()

    # max.incremental.fetch.session.cache.slots=0: full fetches get no session.
    with Broker(sys.argv[1], {'max.incremental.fetch.session.cache.slots': '0'}) as b:
        KafkaAdminClient(bootstrap_servers=b.bootstrap).create_topics([NewTopic('z', 1, 1)])
        c = Conn(b.port)
        err, sid, out = call_fetch(c, 12, 0, 0, [('z', 0, 0)])
        tap.ok(err == NONE and sid == 0 and ('z', 0) in out,
               'with no cache slots a full fetch is answered without a session', (err, sid, out))
        c.close()


if __name__ == '__main__':
    run_tap(main)
