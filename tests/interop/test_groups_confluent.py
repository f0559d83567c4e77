#!/usr/bin/python3
"""
tests/interop/test_groups_confluent.py: consumer groups of confluent-kafka-python (librdkafka)
against ringtail and ringtail-control.  With the cooperative-sticky assignor two consumers split
a 6-partition topic 3/3, a third makes it 2/2/2 and one leaving gives its partitions back; with
static membership (group.instance.id) a member that restarts within the session timeout gets
its partitions back without a rebalance of the others.  After the cooperative members leave,
the broker is restarted (SIGTERM) and a restarted cooperative-sticky consumer resumes exactly
after the last commit.  Consumers are processes of their own.
Usage: test_groups_confluent.py <path to ringtail>
"""
import json
import os
import select
import shutil
import tempfile
import signal
import sys

from kclient import committed
from rtbroker import Broker, free_port, run_tap
import workers
from workers import split_is, wait_for

TOPIC = 'ct'
OVERRIDES = {'group.initial.rebalance.delay.ms': '300'}


def worker(bootstrap, group, strategy, instance):
    from confluent_kafka import Consumer
    conf = {'bootstrap.servers': bootstrap, 'group.id': group, 'enable.auto.commit': True,
            'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000, 'heartbeat.interval.ms': 300,
            'partition.assignment.strategy': strategy}
    if instance != '-':
        conf['group.instance.id'] = instance
    c = Consumer(conf)

    def out(**kv):
        sys.stdout.write(json.dumps(kv) + '\n')
        sys.stdout.flush()

    def on_assign(cons, parts):
        out(ev='assigned', parts=[p.partition for p in parts])
        if strategy == 'cooperative-sticky':
            cons.incremental_assign(parts)

    def on_revoke(cons, parts):
        out(ev='revoked', parts=[p.partition for p in parts])
        if strategy == 'cooperative-sticky':
            cons.incremental_unassign(parts)

    c.subscribe([TOPIC], on_assign=on_assign, on_revoke=on_revoke)
    last = None
    while True:
        for m in c.consume(100, 0.2):
            if not m.error():
                out(ev='msg', p=m.partition(), o=m.offset())
        a = sorted(tp.partition for tp in c.assignment())
        if a != last:
            last = a
            out(ev='assign', parts=a)
        r, _, _ = select.select([sys.stdin], [], [], 0)
        if r:
            cmd = sys.stdin.readline().strip()
            if cmd == 'quit':
                c.close()
                out(ev='closed')
                return
            if cmd == 'vanish':
                # a static member that stops without leaving (a crash or a restart)
                os._exit(0)


class Worker(workers.Worker):
    def __init__(self, bootstrap, group, strategy, instance='-'):
        super().__init__(__file__, bootstrap, group, strategy, instance)
        self.assign = None
        self.assigned_events = 0
        self.revoked_events = 0
        self.msgs = []
        self.closed = False

    def on_event(self, ev):
        if ev['ev'] == 'assign':
            self.assign = ev['parts']
        elif ev['ev'] == 'assigned':
            self.assigned_events += 1
        elif ev['ev'] == 'revoked':
            self.revoked_events += 1
        elif ev['ev'] == 'msg':
            self.msgs.append((ev['p'], ev['o']))
        elif ev['ev'] == 'closed':
            self.closed = True


def main(tap):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    workers = []
    data = tempfile.mkdtemp(prefix='ringtail-gconf-')
    port = free_port()
    try:
        with Broker(sys.argv[1], overrides=OVERRIDES, data_dir=data, port=port) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, 6, 1)])[TOPIC].result(10)
            p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all'})
            for i in range(600):
                p.produce(TOPIC, value=b'%d' % i, partition=i % 6)
            p.flush(30)

            # cooperative-sticky
            w1 = Worker(b.bootstrap, 'coop', 'cooperative-sticky')
            w2 = Worker(b.bootstrap, 'coop', 'cooperative-sticky')
            workers += [w1, w2]
            tap.ok(wait_for(workers, lambda: split_is([w1, w2], [3, 3])), 'cooperative-sticky: 3/3',
                   '%s %s\n%s' % (w1.assign, w2.assign, b.log()[-2000:]))
            before = {1: set(w1.assign), 2: set(w2.assign)}
            w3 = Worker(b.bootstrap, 'coop', 'cooperative-sticky')
            workers.append(w3)
            tap.ok(wait_for(workers, lambda: split_is([w1, w2, w3], [2, 2, 2])), 'cooperative-sticky: a third makes 2/2/2',
                   '%s %s %s' % (w1.assign, w2.assign, w3.assign))
            tap.ok(set(w1.assign) <= before[1] and set(w2.assign) <= before[2],
                   'sticky: the first two keep a subset of what they had', '%s %s %s' % (before, w1.assign, w2.assign))
            w2.send('quit')
            tap.ok(wait_for(workers, lambda: w2.closed and split_is([w1, w3], [3, 3])),
                   'cooperative-sticky: one leaves, its partitions go to the others', '%s %s' % (w1.assign, w3.assign))
            tap.ok(wait_for(workers, lambda: len(set(w1.msgs + w2.msgs + w3.msgs)) == 600),
                   'cooperative-sticky: every record consumed', len(set(w1.msgs + w2.msgs + w3.msgs)))
            for w in (w1, w3):
                w.send('quit')
            wait_for(workers, lambda: w1.closed and w3.closed, 20)
            c = committed(b.bootstrap, 'coop', TOPIC, range(6))
            tap.ok(c == {q: 100 for q in range(6)}, 'cooperative-sticky: the committed offsets are after the last record', c)
            for i in range(60):
                p.produce(TOPIC, value=b'n%d' % i, partition=i % 6)
            p.flush(30)
            tap.ok(b.stop() == 0, 'the broker stops on SIGTERM')
        with Broker(sys.argv[1], overrides=OVERRIDES, data_dir=data, port=port) as b:
            w4 = Worker(b.bootstrap, 'coop', 'cooperative-sticky')
            workers.append(w4)
            tap.ok(wait_for([w4], lambda: len(w4.msgs) >= 60), 'after the broker restart a restarted '
                   'cooperative-sticky consumer gets the new records', '%d\n%s' % (len(w4.msgs), b.log()[-2000:]))
            wait_for([w4], lambda: False, 1)
            first = {}
            for part, off in w4.msgs:
                first.setdefault(part, off)
            tap.ok(first == {q: 100 for q in range(6)} and len(w4.msgs) == 60,
                   'it resumes exactly after the last commit (no gap, no repeat)', (first, len(w4.msgs)))
            w4.send('quit')
            wait_for([w4], lambda: w4.closed, 20)

            # static membership
            s1 = Worker(b.bootstrap, 'static', 'range', 'inst-1')
            s2 = Worker(b.bootstrap, 'static', 'range', 'inst-2')
            workers += [s1, s2]
            tap.ok(wait_for(workers, lambda: split_is([s1, s2], [3, 3])), 'static members: 3/3',
                   '%s %s\n%s' % (s1.assign, s2.assign, b.log()[-2000:]))
            had = list(s1.assign)
            wait_for(workers, lambda: False, 1)
            s2_events = (s2.assigned_events, s2.revoked_events)
            s1.send('vanish')
            s1.p.wait(10)
            s1b = Worker(b.bootstrap, 'static', 'range', 'inst-1')
            workers.append(s1b)
            tap.ok(wait_for(workers, lambda: s1b.assign == had), 'a static member restarted within the session '
                   'timeout gets the same partitions', '%s vs %s' % (s1b.assign, had))
            wait_for(workers, lambda: False, 2)
            tap.ok((s2.assigned_events, s2.revoked_events) == s2_events and split_is([s1b, s2], [3, 3]),
                   'the other member saw no rebalance', '%s -> %s' % (s2_events, (s2.assigned_events, s2.revoked_events)))
            for w in (s1b, s2):
                w.send('quit')
            wait_for(workers, lambda: s1b.closed and s2.closed, 20)
    finally:
        for w in workers:
            w.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        worker(*sys.argv[2:6])
    else:
        run_tap(main)
