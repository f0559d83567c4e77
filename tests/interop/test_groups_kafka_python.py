#!/usr/bin/python3
"""
tests/interop/test_groups_kafka_python.py: consumer groups of kafka-python against the real
ringtail and ringtail-control.  Two consumers split a 6-partition topic 3/3, a third makes it
2/2/2, one leaving gives its partitions to the others; after a broker restart and a consumer
restart, consumption resumes exactly after the last commit.  Each consumer is a process of its
own (this script with --worker), as consumers are in real deployments.
Usage: test_groups_kafka_python.py <path to ringtail>
"""
import json
import select
import signal
import sys
import tempfile

from rtbroker import Broker, free_port, run_tap
import workers
from workers import split_is, wait_for

TOPIC = 'gt'
GROUP = 'gkp'
OVERRIDES = {'group.initial.rebalance.delay.ms': '500'}


def worker(bootstrap, group, topic, name):
    """One consumer: prints JSON events (assign, msg, commit) and leaves on 'quit' from stdin."""
    from kafka import KafkaConsumer
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id=name,
                      auto_offset_reset='earliest', enable_auto_commit=False,
                      session_timeout_ms=10000, heartbeat_interval_ms=300, max_poll_records=50)
    last = None

    def out(**kv):
        sys.stdout.write(json.dumps(kv) + '\n')
        sys.stdout.flush()

    while True:
        recs = c.poll(200)
        for tp, msgs in recs.items():
            for m in msgs:
                out(ev='msg', p=tp.partition, o=m.offset)
        if recs:
            c.commit()
            out(ev='commit')
        a = sorted(tp.partition for tp in c.assignment())
        if a != last:
            last = a
            out(ev='assign', parts=a)
        r, _, _ = select.select([sys.stdin], [], [], 0)
        if r and sys.stdin.readline().strip() == 'quit':
            c.close()
            out(ev='closed')
            return


class Worker(workers.Worker):
    def __init__(self, bootstrap, name):
        super().__init__(__file__, bootstrap, GROUP, TOPIC, name)
        self.name = name
        self.assign = None
        self.msgs = []
        self.closed = False

    def on_event(self, ev):
        if ev['ev'] == 'assign':
            self.assign = ev['parts']
        elif ev['ev'] == 'msg':
            self.msgs.append((ev['p'], ev['o']))
        elif ev['ev'] == 'closed':
            self.closed = True

    def quit(self):
        self.send('quit')


def produce(bootstrap, per_partition, start):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, acks='all')
    for i in range(per_partition):
        for part in range(6):
            p.send(TOPIC, value=b'v-%d-%d' % (part, start + i), partition=part)
    p.flush()
    p.close()


def committed(bootstrap):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    r = [c.committed(TopicPartition(TOPIC, p)) for p in range(6)]
    c.close()
    return r


def main(tap):
    from kafka.admin import KafkaAdminClient, NewTopic
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-groups-')
    port = free_port()
    workers = []
    try:
        b = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
        with b:
            admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
            admin.create_topics([NewTopic(TOPIC, 6, 1)])
            admin.close()
            produce(b.bootstrap, 100, 0)
            w1, w2 = Worker(b.bootstrap, 'w1'), Worker(b.bootstrap, 'w2')
            workers += [w1, w2]
            tap.ok(wait_for([w1, w2], lambda: split_is([w1, w2], [3, 3])), 'two consumers split 6 partitions 3/3',
                   '%s %s\n%s' % (w1.assign, w2.assign, b.log()[-3000:]))
            w3 = Worker(b.bootstrap, 'w3')
            workers.append(w3)
            tap.ok(wait_for(workers, lambda: split_is([w1, w2, w3], [2, 2, 2])), 'a third consumer makes it 2/2/2',
                   '%s %s %s' % (w1.assign, w2.assign, w3.assign))
            w2.quit()
            tap.ok(wait_for(workers, lambda: w2.closed and split_is([w1, w3], [3, 3])),
                   'one leaves and its partitions are reassigned 3/3', '%s %s' % (w1.assign, w3.assign))
            seen = set(w1.msgs + w2.msgs + w3.msgs)
            tap.ok(wait_for(workers, lambda: len(set(w1.msgs + w2.msgs + w3.msgs)) == 600),
                   'every record consumed', '%d distinct' % len(set(w1.msgs + w2.msgs + w3.msgs)))
            for w in (w1, w3):
                w.quit()
            wait_for(workers, lambda: w1.closed and w3.closed, 20)
            c = committed(b.bootstrap)
            tap.ok(c == [100] * 6, 'committed offsets are after the last record of each partition', c)
            produce(b.bootstrap, 10, 100)
            tap.ok(b.stop() == 0, 'broker stops on SIGTERM')
        b2 = Broker(exe, overrides=OVERRIDES, data_dir=data, port=port)
        with b2:
            c = committed(b2.bootstrap)
            tap.ok(c == [100] * 6, 'committed offsets survive the broker restart', c)
            w4 = Worker(b2.bootstrap, 'w4')
            workers.append(w4)
            tap.ok(wait_for([w4], lambda: len(w4.msgs) >= 60), 'a restarted consumer gets the new records',
                   '%d records\n%s' % (len(w4.msgs), b2.log()[-3000:]))
            first = {}
            for p, o in w4.msgs:
                first.setdefault(p, o)
            tap.ok(first == {p: 100 for p in range(6)} and len(w4.msgs) == 60,
                   'consumption resumes exactly after the last commit (no gap, no repeat)',
                   'first offsets %s, %d records' % (first, len(w4.msgs)))
            w4.quit()
            wait_for([w4], lambda: w4.closed, 20)
    finally:
        for w in workers:
            w.kill()
        import shutil
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        worker(*sys.argv[2:6])
    else:
        run_tap(main)
