"""
tests/interop/rtbroker.py: what every interop test uses: start the real `ringtail` on a free
loopback port with a temporary data directory, wait until it accepts connections, stop it (always,
even when the test fails), and print TAP.
"""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """One ringtail process.  Use as a context manager; data_dir may be reused across restarts."""

    def __init__(self, exe, overrides=None, data_dir=None, port=None, extra_args=()):
        self.exe = exe
        self.extra_args = list(extra_args)  # e.g. ['--log-level', 'debug']
        self.overrides = dict(overrides or {})
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix='ringtail-interop-')
        # A port we picked may be taken by someone else before the broker binds it (other tests
        # run in parallel; shard-aware mode also needs the ports after it): then start() picks
        # another.  A port the test chose is never changed.
        self.port_chosen = port is not None
        self.port = port or free_port()
        self.proc = None
        self.preexec_fn = None  # run in the broker's process before exec (limits a test sets)
        self.log_path = os.path.join(self.data_dir, 'broker.log')

    @property
    def bootstrap(self):
        return '127.0.0.1:%d' % self.port

    def start(self, timeout=15):
        for _ in range(5):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if self.port_chosen or 'Address already in use' not in str(e):
                    raise
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout):
        args = [self.exe,
                '--override', 'listeners=PLAINTEXT://127.0.0.1:%d' % self.port,
                '--override', 'log.dirs=%s' % os.path.join(self.data_dir, 'data')]
        for k, v in self.overrides.items():
            args += ['--override', '%s=%s' % (k, v)]
        args += self.extra_args
        log = open(self.log_path, 'ab')
        log_from = log.tell()
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=self.preexec_fn)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('ringtail exited with %d:\n%s' % (self.proc.returncode, self.log()))
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                # The shared port answers before the shard-aware ports are open: only the
                # "started" line says that every listener is there.
                with open(self.log_path, 'rb') as f:
                    f.seek(log_from)
                    if b' started: ' in f.read():
                        return self
                time.sleep(0.05)
            except OSError:
                time.sleep(0.05)
        # Not left running: a retry on another port would start a second broker on the same
        # data directory (refused by its lock) and the first would outlive the test.
        self.kill()
        raise RuntimeError('ringtail did not listen within %d s:\n%s' % (timeout, self.log()))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signals the broker and waits; returns its exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def peak_rss_kib(self):
        """The broker's peak resident memory (VmHWM) in KiB, -1 when unknown."""
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
        return -1

    def reset_peak_rss(self):
        """Starts peak_rss_kib's count again from the current resident memory."""
        with open('/proc/%d/clear_refs' % self.proc.pid, 'w') as f:
            f.write('5')

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def control_pid(self):
        """The broker's ringtail-control child, or None (children are listed per forking thread)."""
        try:
            for tid in os.listdir('/proc/%d/task' % self.proc.pid):
                with open('/proc/%d/task/%s/children' % (self.proc.pid, tid)) as f:
                    for pid in f.read().split():
                        with open('/proc/%s/comm' % pid) as c:
                            if c.read().startswith('ringtail-contro'):
                                return int(pid)
        except OSError:
            pass
        return None

    def kill_control(self, timeout=15):
        """SIGKILLs ringtail-control and waits until the broker has forked another one.
        Returns (old pid, new pid or None when none came within timeout)."""
        old = self.control_pid()
        if old:
            os.kill(old, signal.SIGKILL)
        end = time.time() + timeout
        while time.time() < end:
            new = self.control_pid()
            if new not in (None, old):
                return old, new
            time.sleep(0.02)
        return old, None

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def __enter__(self):
        # A start that fails never reaches __exit__: stop what it started and remove the data
        # directory here, or a broker that did not answer in time runs on after the test.
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.kill()
            sys.stdout.write(''.join('# ' + l + '\n' for l in self.log().splitlines()[-40:]))
        self.close()
        return False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Kills the broker if it still runs and removes the data directory it made itself (never
        one the test passed in).  `with` calls it; a Broker started without `with` (one whose
        start is expected to fail) must, in a finally."""
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class LowFdBroker(Broker):
    """A broker started with RLIMIT_NOFILE `limit`, soft and hard, set in its own process before
    exec: the broker raises its soft limit to the hard one at start, so the hard one is the cap
    (and io_uring reads the limit when an accept is armed, so a prlimit on the running broker
    would not reach its armed multishot accepts)."""

    def __init__(self, exe, limit, **kw):
        super().__init__(exe, **kw)
        self.limit = limit
        self.preexec_fn = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class Tap:
    """TAP output: each check prints at once; finish() prints the plan and exits."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, name), flush=True)
        if not cond and diag:
            for line in str(diag).splitlines()[:40]:
                print('# ' + line, flush=True)
        return cond

    def finish(self):
        print('1..%d' % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def run_tap(fn):
    """Runs fn(tap), turning an exception into a failed check so the plan is always printed."""
    tap = Tap()
    try:
        fn(tap)
    except Exception as e:  # noqa: BLE001 - any failure is a failed test
        import traceback
        tap.ok(False, 'test raised %s' % type(e).__name__, traceback.format_exc())
    tap.finish()
