"""
tests/interop/workers.py: client processes a test drives.  Each is the test's own file run again
as `<file> --worker ARGS...`: a consumer (librdkafka's or kafka-python's) in a process of its own,
as an application's would be, that prints one JSON event per line and reads commands ('quit', ...)
on its stdin.  The consumer group tests use it to run several members at once.
"""
import json
import os
import subprocess
import sys
import time


class Worker:
    """One worker process.  pump() reads what it printed so far and hands each event (a dict)
    to on_event, which the test's subclass defines."""

    def __init__(self, script, *args):
        self.p = subprocess.Popen([sys.executable, script, '--worker', *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = ''

    def on_event(self, ev):
        raise NotImplementedError

    def pump(self):
        try:
            chunk = os.read(self.p.stdout.fileno(), 1 << 20)
        except (OSError, ValueError):  # nothing yet (BlockingIOError), or the pipe is closed
            chunk = b''
        self.buf += chunk.decode()
        while '\n' in self.buf:
            line, self.buf = self.buf.split('\n', 1)
            self.on_event(json.loads(line))

    def send(self, cmd):
        """Writes one command line to the worker (nothing when it has exited)."""
        try:
            self.p.stdin.write((cmd + '\n').encode())
            self.p.stdin.flush()
        except OSError:
            pass

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def wait_for(workers, cond, timeout=45):
    """Pumps the workers until cond() holds (True) or timeout seconds have passed (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for w in workers:
            w.pump()
        if cond():
            return True
        time.sleep(0.05)
    return False


def split_is(workers, sizes, partitions=6):
    """The workers' assignments (w.assign, a list of partitions) have these sizes, in any order,
    and cover partitions 0 .. partitions-1 once each."""
    a = [w.assign or [] for w in workers]
    return sorted(len(x) for x in a) == sorted(sizes) and sorted(sum(a, [])) == list(range(partitions))
