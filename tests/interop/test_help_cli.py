#!/usr/bin/python3
"""
tests/interop/test_help_cli.py: `ringtail --help` as an operator sees it: the usage line, then
every key the properties file accepts (the broker's, the DPDK backend's and ringtail-control's,
from the same table the loader validates against) with its default and the values it expects;
the broker exits 0 without serving or creating anything.
Usage: test_help_cli.py <path to ringtail>
"""
import os
import re
import subprocess
import sys
import tempfile

from rtbroker import run_tap


def main(tap):
    exe = os.path.abspath(sys.argv[1])
    cwd = tempfile.mkdtemp(prefix='ringtail-help-')
    try:
        p = subprocess.run([exe, '--help'], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
        out = p.stdout.decode('utf-8', 'replace')
        tap.ok(p.returncode == 0 and out.startswith('usage: ringtail '), '--help exits 0 with the usage line',
               'exit %d: %s' % (p.returncode, out[:300]))
        keys = re.findall(r'^(\S+)  \((?:default: [^)]*|no default|required)\)$', out, re.M)
        # One key of each table the loader joins, and the shard poll key of issue 4.
        for key in ('log.dirs', 'listeners', 'num.partitions', 'ringtail.shard.poll.us',
                    'ringtail.net.backend', 'ringtail.dpdk.rx.zerocopy.max', 'group.initial.rebalance.delay.ms'):
            tap.ok(key in keys, '--help lists %s' % key, 'keys listed: %d' % len(keys))
        block = out[out.find('ringtail.shard.poll.us  '):][:600]
        tap.ok('(default: 500)' in block.splitlines()[0] and '\n    expects ' in block,
               '--help gives ringtail.shard.poll.us its default and what it expects', block)
        tap.ok(len(keys) == len(set(keys)) and len(keys) >= 50, 'each key once, %d keys' % len(keys))
        tap.ok(os.listdir(cwd) == [], '--help creates nothing (no ringtail-data)', str(os.listdir(cwd)))
    finally:
        for root, dirs, files in os.walk(cwd, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(cwd)


if __name__ == '__main__':
    run_tap(main)
