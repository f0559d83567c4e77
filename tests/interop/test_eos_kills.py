#!/usr/bin/python3
"""
tests/interop/test_eos_kills.py: exactly-once consume-transform-produce under SIGKILL (issue 7).
A transformer process (confluent-kafka-python: a read_committed consumer with static membership
and a transactional producer with a fixed transactional.id, `send_offsets_to_transaction` in
every transaction) copies an input topic to an output topic, and is SIGKILLed at random points
50 times; ringtail-control is SIGKILLed 10 times and the whole broker 5 times while it runs.
After a last undisturbed run to the end of the input, the output topic read with
isolation.level=read_committed holds every input record exactly once.

What it covers: a killed transformer's open transaction is aborted when its successor calls
InitProducerId (fencing), its uncommitted offsets are never seen (require_stable), markers and
pending offsets survive control and broker restarts.  The kill points are random (seeded, the
seed is printed), so a run covers kills before, during and after produce, TxnOffsetCommit and
EndTxn; the counts keep the test under about two minutes on a quiet machine.
Usage: test_eos_kills.py <path to ringtail>
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from rtbroker import Broker, free_port, run_tap

IN, OUT, GROUP, TXN = 'eos-in', 'eos-out', 'eos', 'eos-tx'
PARTS = 2
RECORDS = 2000         # at the start; FEED more before every transformer life and every kill
FEED = 300
OVERRIDES = {'group.initial.rebalance.delay.ms': '0'}


def transformer(bootstrap, batch):
    """Copies IN to OUT in transactions of at most `batch` records, until killed."""
    from confluent_kafka import Consumer, KafkaException, Producer
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': GROUP, 'group.instance.id': 'eos-1',
                  'enable.auto.commit': False, 'auto.offset.reset': 'earliest',
                  'isolation.level': 'read_committed', 'session.timeout.ms': 30000})
    p = Producer({'bootstrap.servers': bootstrap, 'transactional.id': TXN, 'transaction.timeout.ms': 60000,
                  'linger.ms': 2})
    p.init_transactions(60)
    c.subscribe([IN])
    print(json.dumps({'ev': 'ready'}), flush=True)
    while True:
        msgs = [m for m in c.consume(batch, 0.2) if not m.error()]
        if not msgs:
            continue
        try:
            p.begin_transaction()
            for m in msgs:
                p.produce(OUT, key=b'%d:%d' % (m.partition(), m.offset()), value=m.value(), partition=m.partition())
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                p.abort_transaction(30)
                # start again from the committed offsets
                for tp in c.committed(c.assignment(), 30):
                    c.seek(tp)
                continue
            raise
        print(json.dumps({'ev': 'committed', 'n': len(msgs)}), flush=True)


class Transformer:
    """The transformer process; a thread counts the transactions it reports committed."""

    def __init__(self, bootstrap, batch=10):
        self.p = subprocess.Popen([sys.executable, __file__, '--transformer', bootstrap, str(batch)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.ready = threading.Event()
        self.commits = 0
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            ev = json.loads(line)['ev']
            if ev == 'ready':
                self.ready.set()
            elif ev == 'committed':
                self.commits += 1

    def wait_commits(self, n, timeout=30):
        """True once it has committed n transactions."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.p.poll() is None:
            if self.commits >= n:
                return True
            time.sleep(0.01)
        return self.commits >= n

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.t.join(5)
        return self.commits


def committed_all(bootstrap, timeout=60):
    """True once the group's committed offsets reach the end of every input partition."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': GROUP, 'enable.auto.commit': False,
                  'isolation.level': 'read_committed'})
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            try:
                got = c.committed([TopicPartition(IN, p) for p in range(PARTS)], 10)
                ends = [c.get_watermark_offsets(TopicPartition(IN, p), 10)[1] for p in range(PARTS)]
                if all(t.offset == e for t, e in zip(got, ends)):
                    return True
            except KafkaException:
                pass
            time.sleep(0.5)
        return False
    finally:
        c.close()


def read_output(bootstrap):
    from confluent_kafka import Consumer
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': 'eos-check-%f' % time.time(),
                  'enable.auto.commit': False, 'auto.offset.reset': 'earliest',
                  'isolation.level': 'read_committed'})
    c.subscribe([OUT])
    vals = []
    idle = time.time()
    while time.time() - idle < 5:
        m = c.poll(0.5)
        if m is not None and not m.error():
            vals.append(m.value().decode())
            idle = time.time()
    c.close()
    return vals


def main(tap):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    exe = sys.argv[1]
    seed = int(os.environ.get('EOS_SEED', time.time()))
    rnd = random.Random(seed)
    print('# seed %d' % seed)
    data = tempfile.mkdtemp(prefix='ringtail-eos-')
    port = free_port()
    t = None
    b = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
    try:
        b.start()
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        for f in admin.create_topics([NewTopic(IN, PARTS, 1), NewTopic(OUT, PARTS, 1)]).values():
            f.result(15)
        src = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'enable.idempotence': True})
        total = [0]

        def feed(n):
            # a fast transformer would otherwise have read all the input after a few lives, and
            # the later kills would hit an idle pipeline
            for i in range(total[0], total[0] + n):
                src.produce(IN, value=b'%d' % i, partition=i % PARTS)
            total[0] += n
            src.flush(60)

        feed(RECORDS)
        # Each kill comes at a random point after the transformer has committed at least one
        # transaction in this life, so that it hits a pipeline at work (mid-transaction, mid
        # TxnOffsetCommit, mid EndTxn, or between transactions).
        t0 = time.time()
        kills = working = 0
        for i in range(50):
            feed(FEED)
            t = Transformer(b.bootstrap)
            working += t.wait_commits(1)
            time.sleep(rnd.uniform(0.0, 0.3))
            t.kill()
            kills += 1
        tap.ok(kills == 50 and working == 50,
               'the transformer was SIGKILLed at random points 50 times, each time after it had committed '
               '(%d of 50; %.0f s)' % (working, time.time() - t0))

        t0 = time.time()
        t = Transformer(b.bootstrap)
        ckills = working = 0
        for i in range(10):
            feed(FEED)
            working += t.wait_commits(t.commits + 1, 60)
            time.sleep(rnd.uniform(0.0, 0.3))
            if b.kill_control()[0]:
                ckills += 1
        # More input after the last kill too: a quick transformer has often copied all of the
        # last feed before the kill and would have nothing left to commit.
        feed(FEED)
        working += t.wait_commits(t.commits + 1, 60)
        alive = t.p.poll() is None
        t.kill()
        tap.ok(ckills == 10 and working == 11 and alive,
               'ringtail-control was SIGKILLed 10 times under a working transformer, which went on committing '
               '(%d of 11; %.0f s)' % (working, time.time() - t0))

        t0 = time.time()
        bkills = working = 0
        for i in range(5):
            feed(FEED)
            t = Transformer(b.bootstrap)
            working += t.wait_commits(1, 60)
            time.sleep(rnd.uniform(0.0, 0.3))
            b.stop(signal.SIGKILL)
            t.kill()
            bkills += 1
            b = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
            b.start()
        tap.ok(bkills == 5 and working == 5 and b.alive(),
               'the broker was SIGKILLed 5 times under a working transformer, and restarted (%.0f s)'
               % (time.time() - t0))

        t = Transformer(b.bootstrap, 500)
        done = committed_all(b.bootstrap, 120)
        t.kill()
        tap.ok(done, 'an undisturbed transformer reaches the end of the input', b.log()[-2000:])
        vals = read_output(b.bootstrap)
        seen = {}
        for v in vals:
            seen[v] = seen.get(v, 0) + 1
        dups = sorted((int(v) for v, n in seen.items() if n > 1))
        missing = sorted(set(range(total[0])) - set(int(v) for v in seen))
        tap.ok(not dups, 'read_committed, no input record appears twice in the output (%d records read)' % len(vals),
               'duplicates (%d): %s' % (len(dups), dups[:20]))
        tap.ok(not missing, 'read_committed, every input record is in the output',
               'missing (%d): %s' % (len(missing), missing[:20]))
    finally:
        if t:
            t.kill()
        if b.proc and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) > 3 and sys.argv[1] == '--transformer':
        transformer(sys.argv[2], int(sys.argv[3]))
    else:
        run_tap(main)
