#!/usr/bin/python3
"""
tests/interop/test_groups_kafkajs.py: a KafkaJS consumer group against ringtail and
ringtail-control (groups_kafkajs.js does the KafkaJS side): everything consumed once, offsets
committed, the group listed and described.
Usage: test_groups_kafkajs.py <path to ringtail>
"""
import os
import subprocess
import sys

from rtbroker import Broker, run_tap

HERE = os.path.dirname(os.path.abspath(__file__))


def main(tap):
    if not tap.ok(os.path.isdir(os.path.join(HERE, 'node_modules', 'kafkajs')),
                  'KafkaJS is installed (make deps runs npm ci in tests/interop)'):
        return
    with Broker(sys.argv[1], overrides={'group.initial.rebalance.delay.ms': '300'}) as b:
        p = subprocess.run(['node', os.path.join(HERE, 'groups_kafkajs.js'), b.bootstrap], capture_output=True,
                           timeout=150, cwd=HERE)
        diag = []
        results = 0
        for line in p.stdout.decode().splitlines():
            if line.startswith('RESULT '):
                _, status, name = line.split(' ', 2)
                tap.ok(status == 'ok', 'kafkajs: ' + name, '\n'.join(diag) or b.log()[-2000:])
                diag = []
                results += 1
            elif line.startswith('# '):
                diag.append(line[2:])
        tap.ok(p.returncode == 0 and results >= 5, 'the KafkaJS client exited cleanly', p.stderr.decode()[-2000:])


if __name__ == '__main__':
    run_tap(main)
