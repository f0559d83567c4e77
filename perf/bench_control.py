#!/usr/bin/python3
"""
perf/bench_control.py: figures for the control process (issue 5), measured against a running
ringtail (which starts ringtail-control) on loopback.  Not a test: run it by hand.

  perf/bench_control.py build/dataplane/ringtail [seconds]

  1. OffsetCommit requests/s (simple commits, one partition each, pipelined 64 deep on one
     connection) against Produce requests/s with acks=-1 of the same size on the same broker in
     the same run: both wait for fdatasync; the ratio is what the coordinator costs on top.
  2. Time from the first JoinGroup to Stable for 100 members (one connection each), with
     group.initial.rebalance.delay.ms=0 and with Kafka's default 3000.
  3. Time for ringtail-control to serve again after SIGKILL with 10,000 committed offsets in
     __consumer_offsets: from the kill to the first OffsetFetch answer that has the offsets.
"""
import os
import signal
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'interop'))
from kafka.protocol.admin import CreateTopicsRequest  # noqa: E402
from kafka.protocol.api import RequestHeader  # noqa: E402
from kafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest  # noqa: E402
from kafka.protocol.group import JoinGroupRequest, SyncGroupRequest  # noqa: E402
from kafka.protocol.produce import ProduceRequest  # noqa: E402
from kafka.record.memory_records import MemoryRecordsBuilder  # noqa: E402

from rtbroker import Broker  # noqa: E402


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.corr = 0

    def frame(self, req):
        self.corr += 1
        h = RequestHeader(req, correlation_id=self.corr, client_id='bench')  # encode() holds a weak ref
        body = h.encode() + req.encode()
        return struct.pack('>i', len(body)) + body

    def send(self, data):
        self.s.sendall(data)

    def recv_one(self):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack('>i', self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return f
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError
            self.buf += d

    def call(self, req):
        self.send(self.frame(req))
        return req.RESPONSE_TYPE.decode(self.recv_one()[4:])


def wait_serving(port, group='warm'):
    c = Conn(port)
    while True:
        r = c.call(OffsetFetchRequest[3](group, [('t', [0])]))
        if r.error_code == 0:
            return


def pipelined(port, frames_fn, seconds, depth=64):
    c = Conn(port)
    sent = got = 0
    t0 = time.time()
    while sent < depth:
        c.send(frames_fn(c))
        sent += 1
    while time.time() - t0 < seconds:
        c.recv_one()
        got += 1
        c.send(frames_fn(c))
        sent += 1
    elapsed = time.time() - t0
    for _ in range(sent - got):
        c.recv_one()
    return got / elapsed


def bench_commits_vs_produce(b, seconds):
    wait_serving(b.port)
    c = Conn(b.port)
    from kafka.protocol.metadata import MetadataRequest
    c.call(MetadataRequest[1](['bench']))  # auto-creates the topic
    time.sleep(0.5)
    commit = OffsetCommitRequest[2]('bench-group', -1, '', -1, [('bench', [(0, 123456, 'm' * 16)])])
    def size_of(req):
        h = RequestHeader(req, correlation_id=1, client_id='bench')
        return len(h.encode() + req.encode())
    size_commit = size_of(commit)
    # a Produce request of the same size: one record whose value pads it
    def produce_req(pad):
        mb = MemoryRecordsBuilder(2, 0, 0)
        mb.append(0, None, b'x' * pad, [])
        mb.close()
        return ProduceRequest[3](None, -1, 30000, [('bench', [(0, mb.buffer())])])
    pad = 1
    while True:
        p = produce_req(pad)
        if size_of(p) >= size_commit or pad > 4096:
            break
        pad += 1
    r_commit = pipelined(b.port, lambda cc: cc.frame(commit), seconds)
    r_produce = pipelined(b.port, lambda cc: cc.frame(p), seconds)
    print('OffsetCommit: %.0f requests/s; Produce acks=-1 (%d-byte requests): %.0f requests/s; ratio %.2f'
          % (r_commit, size_commit, r_produce, r_commit / r_produce))


def bench_join(b, n=100):
    """Each member acts as a client does: JoinGroup, SyncGroup, and JoinGroup again when told
    REBALANCE_IN_PROGRESS, until all n have their assignment from one generation."""
    import select
    wait_serving(b.port)
    sub = b'\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00'
    conns = [Conn(b.port) for _ in range(n)]
    group = 'join-%d' % time.time_ns()
    member = [''] * n
    kind = [None] * n
    synced = {}

    def join(i):
        kind[i] = JoinGroupRequest[2]
        conns[i].send(conns[i].frame(JoinGroupRequest[2](group, 30000, 60000, member[i], 'consumer', [('range', sub)])))

    t0 = time.time()
    for i in range(n):
        join(i)
    by_sock = {c.s: i for i, c in enumerate(conns)}
    while True:
        ready, _, _ = select.select([c.s for c in conns], [], [], 30)
        if not ready:
            raise RuntimeError('no progress for 30 s')
        for sk in ready:
            i = by_sock[sk]
            r = kind[i].RESPONSE_TYPE.decode(conns[i].recv_one()[4:])
            if kind[i] is JoinGroupRequest[2]:
                if r.error_code:
                    join(i)
                    continue
                member[i] = r.member_id
                assign = [(m[0], b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00') for m in r.members]
                kind[i] = SyncGroupRequest[1]
                conns[i].send(conns[i].frame(SyncGroupRequest[1](group, r.generation_id, member[i], assign)))
                synced.pop(i, None)
                conns[i].gen = r.generation_id
            else:
                if r.error_code:
                    join(i)
                    continue
                synced[i] = conns[i].gen
        if len(synced) == n and len(set(synced.values())) == 1:
            break
    elapsed = time.time() - t0
    for c in conns:
        c.s.close()
    return elapsed


def bench_restart(b, n=10000):
    wait_serving(b.port)
    c = Conn(b.port)
    # n offsets over n // 100 groups on one 100-partition topic (commits to topics that do not
    # exist are refused, as Kafka refuses them)
    r = c.call(CreateTopicsRequest[2]([('rt-restart', 100, 1, [], [])], 30000, False))
    assert r.topic_errors[0][1] in (0, 36), 'CreateTopics failed: %r' % (r,)
    for g in range(n // 100):
        r = c.call(OffsetCommitRequest[2]('restart-group-%d' % g, -1, '', -1,
                                          [('rt-restart', [(p, 1000 + p, '') for p in range(100)])]))
        assert all(p[1] == 0 for t in r.topics for p in t[1]), 'commit failed: %r' % (r,)
    pid = b.control_pid()
    t0 = time.time()
    os.kill(pid, signal.SIGKILL)
    while True:
        try:
            c = Conn(b.port)
            while True:
                r = c.call(OffsetFetchRequest[3]('restart-group-%d' % (n // 100 - 1), [('rt-restart', [99])]))
                if r.error_code == 0 and r.topics[0][1][0][1] == 1099:
                    elapsed = time.time() - t0
                    loaded = [l for l in b.log().splitlines() if 'loaded:' in l]
                    print('restart with %d committed offsets: serving again %.3f s after SIGKILL (%s)'
                          % (n, elapsed, loaded[-1].split('] ')[-1] if loaded else '?'))
                    return
        except (EOFError, OSError):
            time.sleep(0.01)


def main():
    exe = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    with Broker(exe, overrides={'group.initial.rebalance.delay.ms': '0'}) as b:
        bench_commits_vs_produce(b, seconds)
        print('100 members, first JoinGroup to Stable, initial delay 0: %.3f s' % bench_join(b))
        bench_restart(b)
    with Broker(exe) as b:
        print('100 members, first JoinGroup to Stable, initial delay 3000 ms (default): %.3f s' % bench_join(b))


if __name__ == '__main__':
    main()
