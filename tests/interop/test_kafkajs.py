#!/usr/bin/python3
"""
tests/interop/test_kafkajs.py: KafkaJS (npm, installed in tests/interop by `make deps`) against
the real broker: admin calls, acks=-1 produce and a consumer (its group served by ringtail-control)
from KafkaJS (kafkajs_client.js), the records then read back byte-identical by kafka-python too.
Usage: test_kafkajs.py <path to ringtail>
"""
import json
import os
import subprocess
import sys

from kafka import KafkaConsumer, TopicPartition

from rtbroker import Broker, run_tap

HERE = os.path.dirname(os.path.abspath(__file__))


def main(tap):
    if not tap.ok(os.path.isdir(os.path.join(HERE, 'node_modules', 'kafkajs')),
                  'KafkaJS is installed (make deps runs npm ci in tests/interop)'):
        return
    with Broker(sys.argv[1], {'group.initial.rebalance.delay.ms': '300'}) as b:
        p = subprocess.run(['node', os.path.join(HERE, 'kafkajs_client.js'), b.bootstrap], capture_output=True,
                           timeout=120, cwd=HERE)
        records = []
        diag = []
        for line in p.stdout.decode().splitlines():
            if line.startswith('RESULT '):
                _, status, name = line.split(' ', 2)
                tap.ok(status == 'ok', 'kafkajs: ' + name, '\n'.join(diag))
                diag = []
            elif line.startswith('RECORDS '):
                records = json.loads(line[8:])
            elif line.startswith('# '):
                diag.append(line[2:])
        tap.ok(p.returncode == 0, 'the KafkaJS client exited cleanly', p.stderr.decode()[-2000:])
        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
        cons.assign([TopicPartition('kjs', i) for i in range(3)])
        cons.seek_to_beginning()
        got = {0: [], 1: [], 2: []}
        n = 0
        for m in cons:
            got[m.partition].append({'key': m.key.decode(), 'value': m.value.decode(), 'partition': m.partition})
            n += 1
            if n == len(records):
                break
        cons.close()
        want = {i: [r for r in records if r['partition'] == i] for i in range(3)}
        tap.ok(len(records) == 1000 and got == want, 'the KafkaJS records read back byte-identical and in order')


run_tap(main)
