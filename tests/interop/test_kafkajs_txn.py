#!/usr/bin/python3
"""
tests/interop/test_kafkajs_txn.py: KafkaJS transactions against the real broker and control
process (kafkajs_txn.js): commit and abort, KafkaJS's read_committed and read_uncommitted
consumers, fencing by a second producer with the same transactionalId; then the same topic read
by confluent-kafka (librdkafka) read_committed: every committed KafkaJS record once, no aborted
one.
Usage: test_kafkajs_txn.py <path to ringtail>
"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from rtbroker import Broker, run_tap

HERE = os.path.dirname(os.path.abspath(__file__))


def main(tap):
    if not tap.ok(os.path.isdir(os.path.join(HERE, 'node_modules', 'kafkajs')),
                  'KafkaJS is installed (make deps runs npm ci in tests/interop)'):
        return
    with Broker(sys.argv[1]) as b:
        p = subprocess.run(['node', os.path.join(HERE, 'kafkajs_txn.js'), b.bootstrap], capture_output=True,
                           timeout=150, cwd=HERE)
        values = None
        results = []   # [status, name, diagnostic lines that follow]
        for line in p.stdout.decode().splitlines():
            if line.startswith('RESULT '):
                _, status, name = line.split(' ', 2)
                results.append([status, name, []])
            elif line.startswith('VALUES '):
                values = json.loads(line[7:])
            elif line.startswith('# ') and results:
                results[-1][2].append(line[2:])
        for status, name, diag in results:
            tap.ok(status == 'ok', 'kafkajs: ' + name, '\n'.join(diag))
        tap.ok(p.returncode == 0 and values is not None, 'the KafkaJS client exited cleanly',
               (p.stdout.decode()[-1000:], p.stderr.decode()[-2000:]))
        if values is None:
            return
        c = Consumer({'bootstrap.servers': b.bootstrap, 'group.id': 'lrd-%f' % time.time(),
                      'enable.auto.commit': False, 'isolation.level': 'read_committed'})
        c.assign([TopicPartition('kjs-txn', q, OFFSET_BEGINNING) for q in range(2)])
        got = []
        deadline = time.time() + 20
        while time.time() < deadline and len(got) < len(values['committed']):
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value().decode())
        end = time.time() + 2
        while time.time() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value().decode())
        c.close()
        tap.ok(sorted(got) == sorted(values['committed']),
               'librdkafka read_committed reads the KafkaJS transactions: committed once, no aborted record',
               'got %d, want %d; aborted seen: %s' % (len(got), len(values['committed']),
                                                     [v for v in got if v in values['aborted']][:8]))


run_tap(main)
