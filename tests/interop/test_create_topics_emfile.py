#!/usr/bin/python3
"""
tests/interop/test_create_topics_emfile.py: a CreateTopics that runs the broker out of file
descriptors fails cleanly and leaves the broker healthy.  The broker is started under a low
RLIMIT_NOFILE (as in test_accept_emfile.py) and asked for a topic with far more partitions than
its descriptors can hold open.  Checked: the topic's result carries KAFKA_STORAGE_ERROR and a
message naming the cause; the topic is not in the metadata and none of its partition directories
is left on disk; the broker holds about as many descriptors as before; it then accepts new
connections, creates a small topic, and produces to and consumes from it; and the big topic's
name can be created again (smaller) with no stale partition.metadata in the way.
Usage: test_create_topics_emfile.py <path to ringtail>
"""
import os
import sys
import time

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kclient import read_to_end
from rtbroker import LowFdBroker, run_tap

LIMIT = 128       # the broker's RLIMIT_NOFILE
BIG = 400         # partitions asked for: several descriptors each, far past the limit


def fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def topic_dirs(b, name):
    d = os.path.join(b.data_dir, 'data')
    return [e for e in os.listdir(d) if e.rsplit('-', 1)[0] == name]


def create(admin, topic):
    """The topic's CreateTopics outcome: None (created) or the KafkaError."""
    try:
        admin.create_topics([topic], operation_timeout=30, request_timeout=60)[topic.topic].result(60)
        return None
    except Exception as e:  # noqa: BLE001 - the error is what is judged
        return e.args[0] if e.args and isinstance(e.args[0], KafkaError) else e


def main(tap):
    with LowFdBroker(sys.argv[1], LIMIT) as b:
        pid = b.proc.pid
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        err = create(admin, NewTopic('small', 2, 1))
        tap.ok(err is None, 'a small topic is created under RLIMIT_NOFILE %d' % LIMIT, err)
        time.sleep(0.5)
        before = fds(pid)

        err = create(admin, NewTopic('big', BIG, 1))
        code = err.code() if isinstance(err, KafkaError) else None
        tap.ok(code == KafkaError.KAFKA_STORAGE_ERROR,
               'CreateTopics of %d partitions fails with KAFKA_STORAGE_ERROR' % BIG, repr(err))
        msg = err.str() if isinstance(err, KafkaError) else str(err)
        tap.ok('Too many open files' in msg and 'RLIMIT_NOFILE' in msg, 'the message names the cause', msg)
        tap.ok(b.alive(), 'the broker is still running')

        md = admin.list_topics(timeout=15)
        tap.ok('big' not in md.topics and 'small' in md.topics, 'the failed topic is not in the metadata',
               sorted(md.topics))
        deadline = time.time() + 15
        while time.time() < deadline and (topic_dirs(b, 'big') or fds(pid) > before + 8):
            time.sleep(0.2)
        tap.ok(not topic_dirs(b, 'big'), 'none of its partition directories is left',
               topic_dirs(b, 'big')[:5])
        tap.ok(fds(pid) <= before + 8, 'the descriptors came back: %d held, %d before' % (fds(pid), before))

        # Healthy: a new client connects, a topic is created, records go in and come out.
        admin2 = AdminClient({'bootstrap.servers': b.bootstrap})
        err = create(admin2, NewTopic('after', 3, 1))
        tap.ok(err is None, 'a new connection creates a topic of 3 partitions', err)
        p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'message.timeout.ms': 20000})
        errors = []
        for i in range(30):
            p.produce('after', value=b'v%d' % i, partition=i % 3,
                      on_delivery=lambda e, m: e and errors.append(e))
        p.flush(30)
        tap.ok(not errors, 'produce to it succeeds', errors[:3])
        got, _ = read_to_end(b.bootstrap, 'after', [0, 1, 2], timeout=20, **{'group.id': 'emfile-reader'})
        n = sum(len(v) for v in got.values())
        tap.ok(n == 30, 'and reads back all 30 records', n)
        err = create(admin2, NewTopic('big', 4, 1))
        tap.ok(err is None, 'the failed topic\'s name can be created again (4 partitions)', err)
        md = admin2.list_topics(timeout=15)
        tap.ok('big' in md.topics and len(md.topics['big'].partitions) == 4, 'with 4 partitions')
        tap.ok('not created' in b.log(), 'the broker logs that the topic was not created',
               b.log()[-1500:])


run_tap(main)
