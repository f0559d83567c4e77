#!/usr/bin/python3
"""
tests/interop/test_plan_cli.py: the affinity plan as the real `ringtail` executable shows and
enforces it on this machine: `--print-plan` prints the table (one row per shard, the control
process, the reasons) and exits without serving; an invalid plan (an offline core, a core given
twice, more queues than the NIC has, a control core that is not online) stops the start with one
line naming the key, the value and what is allowed, before anything is created or bound; a
broker that starts logs the same table.  The plan's rules themselves are unit-tested on made-up
sysfs trees (tests/unit/hw/test_plan.c); this checks the executable wires them in.
Usage: test_plan_cli.py <path to ringtail>
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

from rtbroker import Broker, free_port, run_tap


def online_cpus():
    with open('/sys/devices/system/cpu/online') as f:
        spec = f.read().strip()
    cpus = []
    for part in spec.split(','):
        lo, _, hi = part.partition('-')
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def nic_with_queues():
    """(name, receive queue count) of the interface the plan picks by default, if exactly one
    interface has a device (the plan's rule), else None."""
    devs = [n for n in os.listdir('/sys/class/net') if os.path.exists('/sys/class/net/%s/device' % n)]
    if len(devs) != 1:
        return None
    q = [d for d in os.listdir('/sys/class/net/%s/queues' % devs[0]) if d.startswith('rx-')]
    return devs[0], len(q)


def ringtail(exe, *args):
    """Runs ringtail to completion (it must not serve); returns (status, stdout, stderr)."""
    p = subprocess.run([exe] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def main(tap):
    exe = sys.argv[1]
    cpus = online_cpus()
    tmp = tempfile.mkdtemp(prefix='ringtail-plan-')
    try:
        logdir = os.path.join(tmp, 'log')
        port = free_port()
        base = ['--override', 'log.dirs=' + logdir, '--override', 'listeners=PLAINTEXT://127.0.0.1:%d' % port]

        # --print-plan: the table, and nothing served or created.
        rc, out, err = ringtail(exe, '--print-plan', *base)
        lines = out.splitlines()
        tap.ok(rc == 0 and lines and lines[0].startswith('affinity plan: '),
               '--print-plan exits 0 with the plan title', 'exit %s\n%s%s' % (rc, out, err))
        head = [i for i, l in enumerate(lines) if l.split()[:2] == ['shard', 'core']]
        rows = []
        if head:
            for l in lines[head[0] + 1:]:
                f = l.split()
                if not f or not f[0].isdigit():
                    break
                rows.append(f)
        nshards = int(lines[0].split()[2]) if lines and lines[0].split()[2].isdigit() else -1
        tap.ok(head and len(rows) == nshards >= 1,
               '--print-plan: one table row per shard (%d shards)' % nshards, out)
        tap.ok(all(int(r[1]) in cpus for r in rows) and len({r[1] for r in rows}) == len(rows),
               '--print-plan: every shard on its own online core', out)
        tap.ok(any(l.startswith('control process: core ') for l in lines) and any(l.startswith('why: ') for l in lines),
               '--print-plan: the control process core and the reasons', out)
        tap.ok(not os.path.exists(logdir), '--print-plan creates no log directory')

        rc, out, err = ringtail(exe, '--print-plan', *base, '--override', 'ringtail.cores=%d' % cpus[0])
        tap.ok(rc == 0 and re.match(r'affinity plan: 1 shards?,', out) is not None,
               '--print-plan follows ringtail.cores=%d: one shard' % cpus[0], out + err)

        # Invalid plans: exit 1, one line naming key, value and what is allowed; nothing bound.
        off = max(cpus) + 100
        bad = [('ringtail.cores', '%d' % off, 'core %d is not online (allowed: online cores' % off),
               ('ringtail.cores', '%d,%d' % (cpus[0], cpus[0]), '%d is given twice (allowed: each once)' % cpus[0]),
               ('ringtail.control.core', '%d' % off, 'core %d is not online (allowed: auto or one of' % off)]
        nic = nic_with_queues()
        if nic:
            name, nq = nic
            bad.append(('ringtail.nic.queues', '0,%d' % nq,
                        'queue %d does not exist: %s has %d receive queues' % (nq, name, nq)))
            if len(cpus) == 1:
                bad[-1] = ('ringtail.nic.queues', '%d' % nq, 'queue %d does not exist' % nq)
        for key, value, want in bad:
            args = base + ['--override', '%s=%s' % (key, value)]
            if key == 'ringtail.nic.queues' and len(cpus) >= 2:
                args += ['--override', 'ringtail.cores=%d,%d' % (cpus[0], cpus[1])]
            rc, out, err = ringtail(exe, *args)
            msg = err.strip()
            tap.ok(rc == 1 and msg.startswith('ringtail: %s=%s: ' % (key, value)) and want in msg,
                   'start refused: %s=%s names the key, the value and what is allowed' % (key, value),
                   'exit %s: %s' % (rc, msg))
            s = socket.socket()
            try:
                bound = s.connect_ex(('127.0.0.1', port)) == 0
            finally:
                s.close()
            tap.ok(not bound and not os.path.exists(logdir),
                   '%s=%s: nothing listens, no log directory' % (key, value))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # A broker that starts logs the plan table.
    with Broker(exe) as b:
        log = b.log()
        tap.ok('affinity plan: ' in log and ' shard  core  node' in log,
               'the broker logs the plan at start', log[-2000:])


if __name__ == '__main__':
    run_tap(main)
