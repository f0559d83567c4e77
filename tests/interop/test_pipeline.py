#!/usr/bin/python3
"""
tests/interop/test_pipeline.py: the connection layer of issue 4's "Network (kernel path)" on the
real broker (two shards), with raw requests where clients cannot send them:
- one SO_REUSEPORT listening socket per shard on the client port;
- five pipelined requests are in flight at once and answered in request order whatever shards
  they touched: two long-polling fetches, of partitions owned by different shards, the first
  with the longer wait, then ApiVersions, Metadata and a Produce.  The Produce is the fifth and
  must wake the second fetch (which finds its record) while the first still waits, so all five
  were taken at once; every answer waits for the first fetch's;
- frames reassembled across receives: a Produce sent a few bytes at a time (its length prefix
  split over receives), and a 600 KiB one in 7 KiB pieces, are acknowledged and read back;
- a frame of exactly socket.request.max.bytes is taken (Kafka refuses only a larger one);
- receives that find the shard's provided-buffer ring empty (ENOBUFS: 300 connections whose
  requests all arrive while the broker is stopped with SIGSTOP) are retried, and every
  connection is answered;
- a connection in use is not closed as idle, while connections.max.idle.ms passes many times;
  nor are the control process's connections to the internal listener, which may be idle.
Usage: test_pipeline.py <path to ringtail>
"""
import os
import signal
import socket
import struct
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from kwire import R, W, batch
from rtbroker import Broker, run_tap

LIMIT = 1 << 20
IDLE_MS = 4000


def frame(key, version, corr, body):
    msg = struct.pack('>hhih', key, version, corr, 4) + b'pipe' + bytes(body.b)
    return struct.pack('>i', len(msg)) + msg


def fetch_body(topic, partition, offset, max_wait):
    """Fetch v4 of one partition, min_bytes 1."""
    return W().i32(-1).i32(max_wait).i32(1).i32(1 << 20).i8(0).i32(1).str(topic).i32(1).i32(partition) \
        .i64(offset).i32(1 << 20)


def produce_body(topic, partition, records, acks=1):
    """Produce v3 of one partition's records."""
    return W().str(None).i16(acks).i32(10000).i32(1).str(topic).i32(1).i32(partition).i32(len(records)).raw(records)


def read_frame(s):
    def take(n):
        out = b''
        while len(out) < n:
            d = s.recv(n - len(out))
            if not d:
                raise ConnectionError('closed by the broker')
            out += d
        return out
    n = struct.unpack('>i', take(4))[0]
    return take(n)


def fetch_records(body):
    """A Fetch v4 answer (after its correlation id): (error, records bytes) of its one partition."""
    r = R(body)
    r.i32()                                  # throttle
    r.i32()                                  # topics
    r.str()
    r.i32()                                  # partitions
    r.i32()
    err = r.i16()
    r.i64()
    r.i64()
    naborted = r.i32()
    for _ in range(max(naborted, 0)):
        r.i64()
        r.i64()
    n = r.i32()
    return err, r.take(n) if n > 0 else b''


def produce_result(body):
    """A Produce v3 answer (after its correlation id): (error, base offset)."""
    r = R(body)
    r.i32()
    r.str()
    r.i32()
    r.i32()
    return r.i16(), r.i64()


def listening_sockets(port):
    """How many TCP sockets listen on port (state 0A in /proc/net/tcp and tcp6)."""
    n = 0
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    local, st = line.split()[1], line.split()[3]
                    if st == '0A' and int(local.rsplit(':', 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def consume(bootstrap, topic, partition, n):
    cons = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         consumer_timeout_ms=10000)
    cons.assign([TopicPartition(topic, partition)])
    cons.seek_to_beginning()
    out = []
    for m in cons:
        out.append(m.value)
        if len(out) == n:
            break
    cons.close()
    return out


def exact_frame(topic, limit):
    """A Produce v3 frame of exactly `limit` bytes after its length prefix (one record, sized)."""
    size = limit - 200
    for _ in range(20):
        f = frame(0, 3, 1, produce_body(topic, 0, batch([(None, b'z' * size)])))
        if len(f) - 4 == limit:
            return f
        size += limit - (len(f) - 4)
    raise RuntimeError('no value size gives a frame of %d bytes' % limit)


def main(tap):
    overrides = {'ringtail.cores': '0,1', 'socket.request.max.bytes': LIMIT,
                 'connections.max.idle.ms': IDLE_MS}
    with Broker(sys.argv[1], overrides) as b:
        tap.ok(listening_sockets(b.port) == 2, 'one SO_REUSEPORT listening socket per shard on port %d (%d)'
               % (b.port, listening_sockets(b.port)))
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        # p0 owned by shard 0, p1 by shard 1: whichever shard the connection lands on, one of
        # the fetches below is served by another shard.
        admin.create_topics([NewTopic('pl', 2, 1, topic_configs={'ringtail.partition.shards': '0,1'}),
                             NewTopic('pieces', 1, 1), NewTopic('edge', 1, 1)])
        admin.close()

        # Five pipelined requests in one write.  Fetch 1 (p0) waits 8 s, fetch 2 (p1) 4 s;
        # the Produce (the fifth) to p1 wakes fetch 2 at once if it was taken at once: with
        # fewer than five in flight it would be read only after fetch 1's answer (8 s), when
        # fetch 2 has timed out empty.  Every answer is ready before fetch 1's and must wait.
        s = connect(b.port)
        reqs = [frame(1, 4, 1, fetch_body('pl', 0, 0, 8000)),
                frame(1, 4, 2, fetch_body('pl', 1, 0, 4000)),
                frame(18, 0, 3, W()),
                frame(3, 1, 4, W().i32(1).str('pl')),
                frame(0, 3, 5, produce_body('pl', 1, batch([(b'k', b'wakes-fetch-2')])))]
        t0 = time.time()
        s.sendall(b''.join(reqs))
        answers = []
        try:
            for _ in range(5):
                f = read_frame(s)
                answers.append((struct.unpack_from('>i', f)[0], f[4:], time.time() - t0))
        except (OSError, ConnectionError) as e:
            answers.append((None, str(e), time.time() - t0))
        corrs = [a[0] for a in answers]
        tap.ok(corrs == [1, 2, 3, 4, 5], 'five pipelined requests over two shards answered in request order',
               corrs)
        if corrs == [1, 2, 3, 4, 5]:
            e1, r1 = fetch_records(answers[0][1])
            e2, r2 = fetch_records(answers[1][1])
            pe, base = produce_result(answers[4][1])
            tap.ok(e1 == 0 and r1 == b'' and answers[0][2] > 6.0,
                   'fetch 1 (shard 0) waited its max wait and came back empty (%.1f s)' % answers[0][2])
            tap.ok(e2 == 0 and b'wakes-fetch-2' in r2 and pe == 0 and base == 0,
                   'fetch 2 (shard 1) was woken by the fifth request, a Produce: all five were in flight at '
                   'once', (e2, len(r2), pe, base))
        else:
            tap.ok(False, 'fetch 1 waited its max wait and came back empty')
            tap.ok(False, 'fetch 2 was woken by the fifth request')
        s.close()

        # Frames reassembled across receives: the length prefix and the header a few bytes at a
        # time, then the rest; and a frame larger than the shard's receive buffers (64 KiB) in
        # 7 KiB pieces.
        small = frame(0, 3, 11, produce_body('pieces', 0, batch([(b'k', b'in-pieces')]), acks=-1))
        big_value = os.urandom(600 << 10)
        big = frame(0, 3, 12, produce_body('pieces', 0, batch([(b'k', big_value)]), acks=-1))
        s = connect(b.port)
        for i in range(0, 13):
            s.sendall(small[i:i + 1])
            time.sleep(0.02)
        s.sendall(small[13:])
        f = read_frame(s)
        tap.ok(struct.unpack_from('>i', f)[0] == 11 and produce_result(f[4:]) == (0, 0),
               'a Produce sent a byte at a time (its length prefix over four receives) is acknowledged',
               produce_result(f[4:]))
        for i in range(0, len(big), 7 << 10):
            s.sendall(big[i:i + (7 << 10)])
            time.sleep(0.002)
        f = read_frame(s)
        tap.ok(struct.unpack_from('>i', f)[0] == 12 and produce_result(f[4:]) == (0, 1),
               'a 600 KiB Produce sent in 7 KiB pieces is acknowledged', produce_result(f[4:]))
        s.close()
        got = consume(b.bootstrap, 'pieces', 0, 2)
        tap.ok(got == [b'in-pieces', big_value], 'both records read back byte-identical',
               [len(v) for v in got])

        # socket.request.max.bytes bounds the frame: exactly the limit is taken (Kafka's
        # NetworkReceive refuses receiveSize > maxSize only).
        s = connect(b.port)
        ef = exact_frame('edge', LIMIT)
        s.sendall(ef)
        try:
            f = read_frame(s)
            res = (struct.unpack_from('>i', f)[0],) + produce_result(f[4:])
        except (OSError, ConnectionError) as e:
            res = str(e)
        tap.ok(res == (1, 0, 0), 'a frame of exactly socket.request.max.bytes (%d) is taken' % LIMIT, res)
        s.close()

        # ENOBUFS: every request arrives while the broker is stopped, so when it runs again
        # more receives complete at once than its buffer ring holds (128).
        conns = [connect(b.port) for _ in range(300)]
        time.sleep(0.5)                        # every connection adopted by its shard
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            for i, c in enumerate(conns):
                c.sendall(frame(18, 0, 1000 + i, W()))
            time.sleep(0.5)
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        answered = 0
        for i, c in enumerate(conns):
            try:
                c.settimeout(20)
                f = read_frame(c)
                answered += struct.unpack_from('>ih', f) == (1000 + i, 0)
            except (OSError, ConnectionError):
                pass
            c.close()
        tap.ok(answered == 300, '300 requests that arrived at once: every one answered (receives that found no '
               'buffer were retried)', answered)

        # A connection in use outlives connections.max.idle.ms many times over.
        s = connect(b.port)
        ok = True
        for i in range(int(IDLE_MS * 2.5 / 500)):
            s.sendall(frame(18, 0, 2000 + i, W()))
            try:
                f = read_frame(s)
                ok = ok and struct.unpack_from('>i', f)[0] == 2000 + i
            except (OSError, ConnectionError):
                ok = False
                break
            time.sleep(0.5)
        tap.ok(ok, 'a connection that sends a request every 0.5 s stays open past 2.5 x connections.max.idle.ms')
        s.close()
        lost = [l for l in b.log().splitlines() if 'control store: connection' in l and 'lost' in l]
        tap.ok(not lost, 'the control process\'s own connections are not closed as idle', lost[:2])
        tap.ok(b.stop() == 0, 'SIGTERM: exit status 0', b.log()[-2000:])


run_tap(main)
