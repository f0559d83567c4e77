#!/usr/bin/python3
"""
tests/interop/test_grow_emfile.py: the two other ways than CreateTopics that open new partitions,
CreatePartitions and a Metadata request that auto-creates a topic, leave nothing half made when
the broker runs out of file descriptors.  The broker is started under a low RLIMIT_NOFILE with
num.partitions far past what its descriptors can hold open.  Checked: CreatePartitions to that
many is answered KAFKA_STORAGE_ERROR with a message naming the cause, the topic keeps its
partitions (metadata, records, no new partition directory left), and it can be grown a little
later; a Metadata request (v4, allow_auto_topic_creation) naming an unknown topic answers it
KAFKA_STORAGE_ERROR with no partitions, the topic is then in no listing and on no disk, and the
descriptors came back.
Usage: test_grow_emfile.py <path to ringtail>
"""
import os
import sys
import time

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

import kwire
from kclient import read_to_end
from rtbroker import LowFdBroker, run_tap

LIMIT = 128       # the broker's RLIMIT_NOFILE
BIG = 400         # partitions: several descriptors each, far past the limit
STORAGE_ERROR = 56


def fds(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def part_dirs(b, name):
    d = os.path.join(b.data_dir, 'data')
    return sorted(int(e.rsplit('-', 1)[1]) for e in os.listdir(d) if e.rsplit('-', 1)[0] == name)


def outcome(fut):
    try:
        fut.result(60)
        return None
    except Exception as e:  # noqa: BLE001 - the error is what is judged
        return e.args[0] if e.args and isinstance(e.args[0], KafkaError) else e


def main(tap):
    with LowFdBroker(sys.argv[1], LIMIT, overrides={'num.partitions': str(BIG)}) as b:
        pid = b.proc.pid
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        err = outcome(admin.create_topics([NewTopic('grow', 2, 1)], operation_timeout=30)['grow'])
        tap.ok(err is None, 'a topic of 2 partitions is created under RLIMIT_NOFILE %d' % LIMIT, err)
        p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'message.timeout.ms': 20000})
        errors = []
        for i in range(10):
            p.produce('grow', value=b'a%d' % i, partition=i % 2, on_delivery=lambda e, m: e and errors.append(e))
        p.flush(30)
        tap.ok(not errors, 'records go to it', errors[:3])
        time.sleep(0.5)
        before = fds(pid)

        # CreatePartitions past the descriptors.
        err = outcome(admin.create_partitions([NewPartitions('grow', BIG)], operation_timeout=30,
                                              request_timeout=60)['grow'])
        code = err.code() if isinstance(err, KafkaError) else None
        tap.ok(code == KafkaError.KAFKA_STORAGE_ERROR,
               'CreatePartitions to %d fails with KAFKA_STORAGE_ERROR' % BIG, repr(err))
        msg = err.str() if isinstance(err, KafkaError) else str(err)
        tap.ok('Too many open files' in msg and 'RLIMIT_NOFILE' in msg, 'the message names the cause', msg)
        md = kwire.metadata_v4(b.port, ['grow'], False)
        tap.ok(md.get('grow', (None, None))[0] == 0 and md['grow'][1] == [0, 1],
               'the topic keeps its 2 partitions in the metadata', md.get('grow'))
        deadline = time.time() + 15
        while time.time() < deadline and (part_dirs(b, 'grow') != [0, 1] or fds(pid) > before + 8):
            time.sleep(0.2)
        tap.ok(part_dirs(b, 'grow') == [0, 1], 'no new partition directory is left',
               part_dirs(b, 'grow')[:6])
        tap.ok(fds(pid) <= before + 8, 'the descriptors came back: %d held, %d before' % (fds(pid), before))
        got, _ = read_to_end(b.bootstrap, 'grow', [0, 1], timeout=20, **{'group.id': 'grow-reader'})
        tap.ok(sum(len(v) for v in got.values()) == 10, 'its 10 records are all there',
               {k: len(v) for k, v in got.items()})
        err = outcome(admin.create_partitions([NewPartitions('grow', 4)], operation_timeout=30)['grow'])
        tap.ok(err is None, 'it can then be grown to 4 partitions', err)
        md = kwire.metadata_v4(b.port, ['grow'], False)
        tap.ok(md.get('grow', (None, None))[1] == [0, 1, 2, 3], 'with 4 partitions', md.get('grow'))
        errors.clear()
        p = Producer({'bootstrap.servers': b.bootstrap, 'acks': 'all', 'message.timeout.ms': 20000})
        for i in range(8):
            p.produce('grow', value=b'b%d' % i, partition=i % 4, on_delivery=lambda e, m: e and errors.append(e))
        p.flush(30)
        tap.ok(not errors, 'and records go to each of them', errors[:3])
        tap.ok('not grown' in b.log(), 'the broker logs that the topic was not grown', b.log()[-1500:])

        # A Metadata request that would auto-create a topic of num.partitions partitions.
        time.sleep(0.5)
        before = fds(pid)
        md = kwire.metadata_v4(b.port, ['auto'], True)
        tap.ok(md.get('auto') == (STORAGE_ERROR, [], False),
               'Metadata auto-creating a topic of %d partitions answers it KAFKA_STORAGE_ERROR, '
               'no partitions' % BIG, md.get('auto'))
        tap.ok(b.alive(), 'the broker is still running')
        deadline = time.time() + 15
        while time.time() < deadline and (part_dirs(b, 'auto') or fds(pid) > before + 8):
            time.sleep(0.2)
        tap.ok(not part_dirs(b, 'auto'), 'none of its partition directories is left', part_dirs(b, 'auto')[:5])
        tap.ok(fds(pid) <= before + 8, 'the descriptors came back: %d held, %d before' % (fds(pid), before))
        listed = admin.list_topics(timeout=15).topics
        tap.ok('auto' not in listed and 'grow' in listed, 'the topic is in no listing', sorted(listed))
        md = kwire.metadata_v4(b.port, ['auto'], False)
        tap.ok(md.get('auto', (None,))[0] == 3, 'asked without auto-creation it is unknown', md.get('auto'))
        tap.ok('topic auto not created' in b.log(), 'the broker logs that the topic was not created',
               b.log()[-1500:])


run_tap(main)
