#!/usr/bin/python3
"""
tests/interop/test_accept_emfile.py: a broker out of file descriptors does not spin on its
listener.  With the broker started under a low RLIMIT_NOFILE (soft and hard, set in its process
before exec: the broker raises its soft limit to the hard one at start, and io_uring reads the
limit when an accept is armed, so a prlimit on the running broker would not reach its armed
multishot accepts) a crowd of connections makes its accepts fail with EMFILE; the kernel keeps
the rest in the backlog, so an
accept re-armed at once fails again at once.  Checked: the broker logs a handful of EMFILE
warnings naming RLIMIT_NOFILE (not one per failure), burns well under a core while the
connections are held, and once they are closed serves a new client.
Usage: test_accept_emfile.py <path to ringtail>
"""
import os
import resource
import socket
import sys
import time

from confluent_kafka.admin import AdminClient

from rtbroker import LowFdBroker, run_tap

LIMIT = 64        # the broker's RLIMIT_NOFILE (it holds about 15 descriptors after its start)
CLIENTS = 100     # connections opened: well past the limit


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    # utime and stime are fields 14 and 15 of the line; fields[0] here is field 3 (state).
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def emfile_lines(log):
    return [l for l in log.splitlines() if 'Too many open files' in l]


def main(tap):
    with LowFdBroker(sys.argv[1], LIMIT) as b:
        pid = b.proc.pid
        held = len(os.listdir('/proc/%d/fd' % pid))
        limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)[0]
        socks = []
        try:
            for _ in range(CLIENTS):
                socks.append(socket.create_connection(('127.0.0.1', b.port), timeout=5))
            deadline = time.time() + 10
            while time.time() < deadline and not emfile_lines(b.log()):
                time.sleep(0.05)
            tap.ok(emfile_lines(b.log()),
                   'with RLIMIT_NOFILE %d (%d held at start) and %d connections, accept fails with '
                   'EMFILE' % (limit, held, CLIENTS), b.log()[-2000:])
            # The connections stay open: a broker that re-arms its accept at once spins a core.
            time.sleep(0.2)
            before = cpu_seconds(pid)
            time.sleep(1.0)
            used = cpu_seconds(pid) - before
            tap.ok(used < 0.3, 'holding them for 1 s the broker used %.2f s of CPU (< 0.3)' % used)
            lines = emfile_lines(b.log())
            tap.ok(0 < len(lines) <= 8, '%d EMFILE log lines (at most 8: one per listener and '
                   'episode)' % len(lines), '\n'.join(lines[:10]))
            tap.ok(lines and all('RLIMIT_NOFILE' in l for l in lines), 'the warning names RLIMIT_NOFILE',
                   '\n'.join(lines[:3]))
        finally:
            for s in socks:
                s.close()
        # Closed: the broker's descriptors come back and it accepts again (back-off at most 1 s).
        md = AdminClient({'bootstrap.servers': b.bootstrap}).list_topics(timeout=15)
        tap.ok(md.brokers and b.alive(), 'after the connections close a new client is served')
        # Each shard has its own SO_REUSEPORT listener and the kernel picks one per connection by
        # a hash: that client may have reached a listener that never paused.  The paused one
        # logs its first accept, so connect until one lands there.
        deadline = time.time() + 5
        while time.time() < deadline and 'accepting again' not in b.log():
            try:
                socket.create_connection(('127.0.0.1', b.port), timeout=2).close()
            except OSError:
                pass
            time.sleep(0.1)
        tap.ok('accepting again' in b.log(), 'the broker logs that it accepts again',
               b.log()[-2000:])


run_tap(main)
