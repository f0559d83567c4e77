#!/usr/bin/python3
"""
tests/interop/test_idempotent_faults.py: an idempotent producer (confluent-kafka-python,
enable.idempotence=true, acks=all, five requests in flight) across injected connection drops and
broker restarts (issue 7): no duplicate, no gap, order kept in every partition.

The producer reaches the broker only through a TCP proxy in this test (the broker advertises the
proxy's port).  The proxy cuts each connection with a reset at a random point: after a random
number of bytes in either direction (so in the middle of a request, between a request and its
response, or in the middle of a response: the broker may have written a batch whose
acknowledgement the client never sees, and the client retries it) or after a random time.  The
broker is also killed with SIGKILL twice and stopped with SIGTERM once while the producer sends.
Then, with the proxy no longer cutting, every partition must hold exactly the values produced to
it, each once, in the order they were produced, and every delivery must have succeeded.
Usage: test_idempotent_faults.py <path to ringtail>
(RINGTAIL_IDPF_SEED=<n> sets the proxy's seed; the seed used is printed.)
"""
import os
import random
import selectors
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import json

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import Deliveries, read_to_end
from rtbroker import Broker, free_port, run_tap

TOPIC = 'idpf'
PARTS = 3
MESSAGES = 8000


class CuttingProxy:
    """Forwards 127.0.0.1:port to the broker; while `cutting`, resets each connection at a random
    point (a byte budget per direction or a deadline).  Counts the cuts by where they fell."""

    def __init__(self, target_port, seed):
        self.target = target_port
        self.rng = random.Random(seed)
        self.cutting = True
        self.cuts = {'to_broker': 0, 'to_client': 0, 'time': 0}
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _budget(self, way):
        # small budgets cut the handshake and single requests; large ones let several
        # produce round trips through first.  Responses are short (a produce answer is ~70
        # bytes, requests carry batches), so the client side gets smaller budgets: with the
        # same ones as requests, cuts inside responses were rare enough that a run had only 2
        if way == 'to_client':
            return self.rng.choice([self.rng.randint(1, 200), self.rng.randint(200, 1500),
                                    self.rng.randint(1500, 20000)])
        return self.rng.choice([self.rng.randint(1, 600), self.rng.randint(600, 8000),
                                self.rng.randint(8000, 60000)])

    def _new_pair(self, sel, pairs):
        c, _ = self.lsock.accept()
        try:
            s = socket.create_connection(('127.0.0.1', self.target), timeout=1)
        except OSError:
            self._reset(c)                  # the broker is down: the client sees a drop
            return
        s.setblocking(False)
        c.setblocking(False)
        p = {'c': c, 's': s, 'left': {'to_broker': self._budget('to_broker'), 'to_client': self._budget('to_client')},
             'deadline': time.time() + self.rng.uniform(0.02, 1.0)}
        pairs[c] = pairs[s] = p
        sel.register(c, selectors.EVENT_READ, ('to_broker', p))
        sel.register(s, selectors.EVENT_READ, ('to_client', p))

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        except OSError:
            pass
        sock.close()

    def _close(self, sel, pairs, p):
        for k in ('c', 's'):
            sock = p[k]
            if pairs.pop(sock, None) is not None:
                sel.unregister(sock)
                self._reset(sock)

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ, None)
        pairs = {}
        while not self.stop_ev.is_set():
            for key, _ in sel.select(0.02):
                if key.data is None:
                    self._new_pair(sel, pairs)
                    continue
                way, p = key.data
                if key.fileobj not in pairs:
                    continue
                src, dst = (p['c'], p['s']) if way == 'to_broker' else (p['s'], p['c'])
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b''
                if not data:
                    self._close(sel, pairs, p)
                    continue
                cut = self.cutting and len(data) >= p['left'][way]
                if cut:
                    data = data[:p['left'][way]]    # forward part of it, then reset both ends
                p['left'][way] -= len(data)
                try:
                    dst.setblocking(True)
                    dst.sendall(data)
                    dst.setblocking(False)
                except OSError:
                    cut = False
                    self._close(sel, pairs, p)
                    continue
                if cut:
                    self.cuts[way] += 1
                    self._close(sel, pairs, p)
            if self.cutting:
                now = time.time()
                for p in {id(p): p for p in pairs.values()}.values():
                    if now > p['deadline']:
                        self.cuts['time'] += 1
                        self._close(sel, pairs, p)
        for p in {id(p): p for p in pairs.values()}.values():
            self._close(sel, pairs, p)
        sel.close()
        self.lsock.close()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)


def consume_all(bootstrap):
    """The values stored in each partition, from its start to its end (a duplicate included), in
    log order."""
    got, _ = read_to_end(bootstrap, TOPIC, range(PARTS))
    return {q: [m.value().decode() for m in got[q]] for q in range(PARTS)}


def main(tap):
    # RINGTAIL_IDPF_SEED replays a failed run's proxy cuts (the broker kills stay timed)
    seed = int(os.environ.get('RINGTAIL_IDPF_SEED') or int(time.time()))
    print('# proxy seed %d (replay: RINGTAIL_IDPF_SEED=%d)' % (seed, seed), flush=True)
    data = tempfile.mkdtemp(prefix='ringtail-idpf-')
    port = free_port()
    proxy = None
    b = None
    try:
        proxy = CuttingProxy(port, seed)
        proxy.cutting = False
        adv = {'advertised.listeners': 'PLAINTEXT://127.0.0.1:%d' % proxy.port}
        b = Broker(sys.argv[1], overrides=adv, data_dir=data, port=port)
        b.start()
        boot = '127.0.0.1:%d' % proxy.port
        admin = AdminClient({'bootstrap.servers': boot})
        admin.create_topics([NewTopic(TOPIC, PARTS, 1)])[TOPIC].result(20)
        proxy.cutting = True
        sent = [0]

        def on_stats(js):
            # messages the client has sent, those it sent again after a drop counted again
            st = json.loads(js)
            parts = st.get('topics', {}).get(TOPIC, {}).get('partitions', {})
            sent[0] = max(sent[0], sum(v.get('txmsgs', 0) for k, v in parts.items() if k != '-1'))

        p = Producer({'bootstrap.servers': boot, 'enable.idempotence': True, 'acks': 'all',
                      'linger.ms': 2, 'max.in.flight.requests.per.connection': 5,
                      'message.timeout.ms': 180000, 'retry.backoff.ms': 50,
                      'reconnect.backoff.ms': 20, 'reconnect.backoff.max.ms': 300,
                      'statistics.interval.ms': 200, 'stats_cb': on_stats})
        produced = {q: [] for q in range(PARTS)}
        cb = Deliveries(PARTS)
        delivered, errors = cb.delivered, cb.errors
        done = threading.Event()

        def run():
            i = 0
            while i < MESSAGES:
                v = 'v%06d' % i
                try:
                    p.produce(TOPIC, value=v.encode(), partition=i % PARTS, on_delivery=cb)
                except BufferError:
                    p.poll(0.05)
                    continue
                produced[i % PARTS].append(v)
                i += 1
                p.poll(0)
                if i % 10 == 0:
                    time.sleep(0.01)        # about 1,000 a second: the faults land mid-stream
            done.set()

        t = threading.Thread(target=run)
        t.start()
        restarts = [signal.SIGKILL, signal.SIGTERM, signal.SIGKILL]
        for sig in restarts:
            time.sleep(1.5)
            b.stop(sig)
            time.sleep(0.3)
            b = Broker(sys.argv[1], overrides=adv, data_dir=data, port=port)
            b.start()
        t.join()
        left = p.flush(150)
        proxy.cutting = False
        cuts = dict(proxy.cuts)
        p.poll(0.5)                     # a last statistics callback
        print('# cuts: %s; messages sent by the client %d for %d produced' % (cuts, sent[0], MESSAGES),
              flush=True)
        tap.ok(cuts['to_broker'] >= 3 and cuts['to_client'] >= 3,
               'the proxy cut connections inside requests and inside responses', cuts)
        tap.ok(sent[0] > MESSAGES, 'the client sent messages again after the drops (retried batches)',
               sent[0])
        tap.ok(left == 0, 'every message is resolved', '%d left' % left)
        tap.ok(not errors, 'no delivery failed', errors[:5])
        got = consume_all(boot)
        for q in range(PARTS):
            want, g, d = produced[q], got[q], delivered[q]
            dup = len(g) - len(set(g))
            tap.ok(dup == 0, 'partition %d: no duplicate' % q, '%d duplicates' % dup)
            missing = [v for v in want if v not in set(g)]
            tap.ok(not missing, 'partition %d: no gap (all %d produced values stored)' % (q, len(want)),
                   missing[:10])
            tap.ok(g == want, 'partition %d: exactly the produced values, in the order produced' % q,
                   next(('first difference at %d: %r vs %r' % (k, a, c)
                         for k, (a, c) in enumerate(zip(g, want)) if a != c), '%d vs %d' % (len(g), len(want))))
            tap.ok(d == want, 'partition %d: delivery reports in produce order' % q)
        b.stop()
    finally:
        if b is not None and b.alive():
            b.stop(signal.SIGKILL)
        if proxy is not None:
            proxy.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
