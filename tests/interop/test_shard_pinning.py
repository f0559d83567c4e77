#!/usr/bin/python3
"""
tests/interop/test_shard_pinning.py: one thread per configured core, pinned.  The real broker is
started with ringtail.cores listing two CPUs, then one, and ringtail.control.core; the kernel's
view (/proc/<pid>/task/*/status Cpus_allowed_list, and comm for the thread names) must show
exactly one rt-shard-<n> thread per configured core, each allowed on its own core only, every
thread of ringtail-control on the control core, and the start-up log's affinity table naming the
same shard -> core mapping.  hw/'s unit tests check hw_pin_self; this checks that the broker uses
it for every shard.
Usage: test_shard_pinning.py <path to ringtail>
"""
import os
import re
import sys
import time

from rtbroker import Broker, run_tap


def threads(pid):
    """[(thread name, Cpus_allowed_list)] of every thread of process pid."""
    out = []
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
                name = f.read().strip()
            with open('/proc/%d/task/%s/status' % (pid, tid)) as f:
                allowed = re.search(r'^Cpus_allowed_list:\s*(\S+)', f.read(), re.M).group(1)
        except OSError:
            continue  # a thread that ended meanwhile
        out.append((name, allowed))
    return out


def plan_logged(log):
    """({shard: core}, control core) from the start-up log's affinity table."""
    rows, control, in_table = {}, None, False
    for line in log.splitlines():
        text = line.split('] ', 1)[-1]
        if text.startswith('shard  core'):
            in_table = True
            continue
        m = re.match(r'control process: core (\d+)', text)
        if m:
            control, in_table = int(m.group(1)), False
            continue
        m = re.match(r'(\d+)\s+(\d+)\s', text)
        if in_table and m:
            rows[int(m.group(1))] = int(m.group(2))
    return rows, control


def check(tap, exe, cores, control):
    conf = {'ringtail.cores': ','.join(str(c) for c in cores), 'ringtail.control.core': str(control)}
    what = 'ringtail.cores=%s, ringtail.control.core=%d' % (conf['ringtail.cores'], control)
    with Broker(exe, conf) as b:
        end = time.time() + 20
        while b.control_pid() is None and time.time() < end:
            time.sleep(0.05)
        shards = sorted((n, a) for n, a in threads(b.proc.pid) if n.startswith('rt-shard-'))
        want = sorted(('rt-shard-%d' % i, str(c)) for i, c in enumerate(cores))
        tap.ok(shards == want, '%s: one rt-shard-<n> thread per core, each allowed on its core only' % what,
               (shards, want))
        ctl = b.control_pid()
        ctl_threads = threads(ctl) if ctl else []
        tap.ok(ctl_threads and all(a == str(control) for _, a in ctl_threads),
               '%s: every thread of ringtail-control on core %d' % (what, control), ctl_threads)
        rows, logged_control = plan_logged(b.log())
        tap.ok(rows == {i: c for i, c in enumerate(cores)} and logged_control == control,
               '%s: the start-up log names shard -> core and the control core' % what, (rows, logged_control))


def main(tap):
    exe = sys.argv[1]
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        check(tap, exe, cpus[:2], cpus[0])
        check(tap, exe, [cpus[1], cpus[0]], cpus[1])   # shard order is the list's order
    check(tap, exe, [cpus[-1]], cpus[0])


run_tap(main)
