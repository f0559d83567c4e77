#!/usr/bin/python3
"""
tests/interop/test_groups_fault.py: faults while producers produce and a group consumes.
SIGKILL of ringtail-control: produce goes on without an error, the supervisor has the control
process back within seconds, the group resumes, and no acknowledged commit is lost.  Then
SIGKILL of the whole broker and a restart on the same data: again no acknowledged commit is lost
and the group resumes.  The consumer (confluent-kafka) is a process of its own that reports
every commit the coordinator acknowledged.
Usage: test_groups_fault.py <path to ringtail>
"""
import json
import select
import signal
import sys
import tempfile
import threading
import time

from kclient import committed
from rtbroker import Broker, free_port, run_tap
import workers

TOPIC = 'ft'
GROUP = 'gf'
OVERRIDES = {'group.initial.rebalance.delay.ms': '0'}


def worker(bootstrap):
    from confluent_kafka import Consumer, KafkaException
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': GROUP, 'enable.auto.commit': False,
                  'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000})
    c.subscribe([TOPIC])

    def out(**kv):
        sys.stdout.write(json.dumps(kv) + '\n')
        sys.stdout.flush()

    while True:
        msgs = c.consume(100, 0.2)
        offs = {}
        for m in msgs:
            if m.error():
                continue
            out(ev='msg', p=m.partition(), o=m.offset())
            offs[m.partition()] = m.offset() + 1
        if offs:
            try:
                res = c.commit(asynchronous=False)
                out(ev='commit', offs={str(tp.partition): tp.offset for tp in res if tp.error is None})
            except KafkaException as e:
                out(ev='commit_failed', err=str(e))
        r, _, _ = select.select([sys.stdin], [], [], 0)
        if r and sys.stdin.readline().strip() == 'quit':
            c.close()
            return


class Worker(workers.Worker):
    def __init__(self, bootstrap):
        super().__init__(__file__, bootstrap)
        self.msgs = 0
        self.commits = 0
        self.acked = {}   # partition -> highest acknowledged committed offset

    def on_event(self, ev):
        if ev['ev'] == 'msg':
            self.msgs += 1
        elif ev['ev'] == 'commit':
            self.commits += 1
            for p, o in ev['offs'].items():
                self.acked[int(p)] = max(self.acked.get(int(p), -1), o)


def wait_for(w, cond, timeout=30):
    return workers.wait_for([w], cond, timeout)


class Producing:
    def __init__(self, bootstrap):
        from confluent_kafka import Producer
        self.p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 5,
                           'message.timeout.ms': 60000})
        self.errors = []
        self.acked = 0
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def cb(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acked += 1

    def run(self):
        i = 0
        while not self.stop:
            self.p.produce(TOPIC, value=b'r-%d' % i, partition=i % 3, on_delivery=self.cb)
            i += 1
            self.p.poll(0.002)
        self.p.flush(60)

    def finish(self):
        self.stop = True
        self.t.join()


def main(tap):
    from confluent_kafka.admin import AdminClient, NewTopic
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-gfault-')
    port = free_port()
    w = None
    try:
        b = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
        with b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, 3, 1)])[TOPIC].result(10)
            prod = Producing(b.bootstrap)
            w = Worker(b.bootstrap)
            tap.ok(wait_for(w, lambda: w.commits >= 5 and w.msgs >= 100), 'the group consumes and commits',
                   '%d msgs %d commits\n%s' % (w.msgs, w.commits, b.log()[-2000:]))
            old = b.control_pid()
            tap.ok(old is not None, 'the broker runs ringtail-control as its child')
            acked_before = dict(w.acked)
            t0 = time.time()
            new = b.kill_control()[1]
            back = time.time() - t0
            tap.ok(new and new != old, 'the control process is back after SIGKILL (%.2f s)' % back)
            commits0, msgs0 = w.commits, w.msgs
            tap.ok(wait_for(w, lambda: w.commits >= commits0 + 5 and w.msgs > msgs0 + 100, 40),
                   'the group resumes: new records consumed and commits acknowledged again',
                   '%d -> %d commits\n%s' % (commits0, w.commits, b.log()[-3000:]))
            c = committed(b.bootstrap, GROUP, TOPIC, range(3))
            tap.ok(all(c.get(p, -1) >= o for p, o in acked_before.items()),
                   'no acknowledged commit is lost across the control process restart',
                   'before %s now %s' % (acked_before, c))
            prod.finish()
            tap.ok(not prod.errors and prod.acked > 0,
                   'produce went on without an error (%d records acknowledged)' % prod.acked, prod.errors[:5])
            wait_for(w, lambda: False, 1)
            acked_before = dict(w.acked)
            b.stop(signal.SIGKILL)
        b2 = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
        with b2:
            c = committed(b2.bootstrap, GROUP, TOPIC, range(3))
            tap.ok(all(c.get(p, -1) >= o for p, o in acked_before.items()),
                   'no acknowledged commit is lost across SIGKILL of the broker', 'before %s now %s' % (acked_before, c))
            from confluent_kafka import Producer
            p = Producer({'bootstrap.servers': b2.bootstrap, 'acks': 'all'})
            for i in range(300):
                p.produce(TOPIC, value=b'after-%d' % i, partition=i % 3)
            p.flush(30)
            msgs0 = w.msgs
            tap.ok(wait_for(w, lambda: w.msgs >= msgs0 + 300, 60), 'the group resumes on the restarted broker',
                   '%d new records\n%s' % (w.msgs - msgs0, b2.log()[-3000:]))
    finally:
        if w:
            w.kill()
        import shutil
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        worker(sys.argv[2])
    else:
        run_tap(main)
