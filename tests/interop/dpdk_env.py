"""tests/interop/dpdk_env.py: what the DPDK broker tests share: a veth pair whose one end the
broker's DPDK net_af_packet port takes (two queues, one per shard, no huge pages) and whose other
end sits in a network namespace of its own, where the clients run over the kernel's TCP -- or,
with device="tap", a net_tap port (one shard) whose kernel interface DPDK creates and the test
then moves into the namespace; the `ringtail` process on the dpdk backend; and the clean-up of
all of it.  Needs root.

    with DpdkBroker(ringtail, tap) as env:
        env.in_ns("kcat", "-b", env.bs, "-L")
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from test_dpdk_echo import Tap, sh  # noqa: E402  (same directory)

HERE = os.path.dirname(os.path.abspath(__file__))


def run_tap(needs, checks):
    """The frame of a DPDK test: TAP header, a skip when not root (needs says for what),
    checks(tap), the plan; the exit status."""
    print("TAP version 13")
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for " + needs)
        return 0
    tap = Tap()
    checks(tap)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


def stats_of(lines):
    """Sums the counters of the broker's per-shard 'dpdk: shard N stats:' lines (written at exit)."""
    tot = {}
    for ln in lines:
        if "dpdk: shard" not in ln or " stats: " not in ln:
            continue
        for kv in ln.split(" stats: ", 1)[1].split():
            k, _, v = kv.partition("=")
            if v.isdigit():
                tot[k] = tot.get(k, 0) + int(v)
    return tot


class DpdkBroker:
    """The namespace, the veth pair and the broker.  tag names this test's interfaces."""

    def __init__(self, ringtail, tap, tag, overrides=None, device="af_packet"):
        self.ringtail = ringtail
        self.tap = tap
        self.device = device
        pid = "%d" % (os.getpid() % 100000)
        subnet = 100 + (os.getpid() + 7) % 100
        self.ns, self.va, self.vb = "rt%s%s" % (tag, pid), "rt%s%sa" % (tag, pid), "rt%s%sb" % (tag, pid)
        self.our_ip, self.peer_ip = "10.214.%d.1" % subnet, "10.214.%d.2" % subnet
        self.bs = self.our_ip + ":9092"
        self.data = tempfile.mkdtemp(prefix="rt-dpdk-%s-" % tag)
        self.log_path = os.path.join(self.data, "broker.log")
        self.overrides = dict(overrides or {})
        self.broker = None

    def in_ns(self, *cmd, timeout=120, stdin=None):
        return subprocess.run(["ip", "netns", "exec", self.ns] + list(cmd), capture_output=True,
                              timeout=timeout, input=stdin)

    def py_in_ns(self, script, *args, timeout=180):
        """Runs Debian's python3 on script in the namespace; returns (stdout, stderr) as text."""
        r = self.in_ns("/usr/bin/python3", "-c", script, *args, timeout=timeout)
        return r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def setup_net(self):
        sh("ip", "netns", "add", self.ns)
        if self.device == "tap":  # the interface appears when the broker opens the port
            return self.tap.ok(True, "namespace %s" % self.ns)
        sh("ip", "link", "add", self.va, "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
           "peer", "name", self.vb, "numrxqueues", "2", "numtxqueues", "2")
        sh("ip", "link", "set", self.vb, "netns", self.ns)
        r = self.setup_ends()
        return self.tap.ok(r.returncode == 0, "namespace %s with veth %s/%s" % (self.ns, self.va, self.vb),
                           r.stderr)

    def setup_ends(self):
        """Brings up the clients' vb (already in the namespace, with peer_ip) and the broker's va;
        the result of turning vb's checksum offload off (returncode, stderr)."""
        sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", self.peer_ip + "/24", "dev", self.vb)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.vb, "up")
        sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "set", self.va, "up")
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.va, check=False)
        return subprocess.run(["ip", "netns", "exec", self.ns, "/usr/bin/python3", "-c",
                               "import sys; sys.path.insert(0, %r); import test_dpdk_echo as t; "
                               "t.disable_tx_csum_offload(%r)" % (HERE, self.vb)],
                              capture_output=True, text=True)

    def start(self, wait_s=30):
        """Starts the broker and waits until kcat in the namespace sees it; kcat -L's output."""
        if self.device == "tap":
            # One shard: the affinity plan counts the queues of a kernel interface, and the tap
            # one does not exist before the port is opened.
            dev = ["--override", "ringtail.dpdk.port=net_tap0,iface=" + self.va,
                   "--override", "ringtail.shards=1"]
        else:
            dev = ["--override", "ringtail.dpdk.port=net_af_packet0,qpairs=2,iface=" + self.va,
                   "--override", "ringtail.shards=2",
                   "--override", "ringtail.net.interface=" + self.va]
        args = [self.ringtail, "--override", "ringtail.net.backend=dpdk",
                "--override", "ringtail.dpdk.ip=" + self.our_ip] + dev + [
                "--override", "ringtail.allow.smt.siblings=true",
                "--override", "listeners=PLAINTEXT://%s" % self.bs,
                "--override", "log.dirs=" + os.path.join(self.data, "logs")]
        for k, v in self.overrides.items():
            args += ["--override", "%s=%s" % (k, v)]
        with open(self.log_path, "w") as log:
            self.broker = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + wait_s
        if self.device == "tap":
            # Only once the port has started: DPDK attaches each queue to the interface by its
            # name, and a name missing from our namespace would make a second interface.
            while time.time() < deadline and self.broker.poll() is None and \
                    not any(" started: " in ln for ln in self.log_lines()):
                time.sleep(0.2)
            sh("ip", "link", "set", self.va, "netns", self.ns)
            sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", self.peer_ip + "/24", "dev", self.va)
            sh("ip", "netns", "exec", self.ns, "ip", "link", "set", self.va, "up")
            sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        md = b""
        while time.time() < deadline and self.broker.poll() is None:
            md = self.in_ns("kcat", "-b", self.bs, "-L", "-m", "3", timeout=20).stdout
            if b"1 brokers" in md:
                break
            time.sleep(0.5)
        # The shards serve before the broker logs its start-up line (it is written after
        # ringtail-control is forked), so a client can see the broker first; callers read that
        # line (the internal listener's port), so wait for it too.
        while time.time() < deadline and self.broker.poll() is None and \
                not any(" started: " in ln for ln in self.log_lines()):
            time.sleep(0.1)
        return md

    def log_lines(self):
        try:
            with open(self.log_path) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def stop(self):
        """SIGTERM; the broker's exit status."""
        self.broker.send_signal(signal.SIGTERM)
        try:
            return self.broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.broker.kill()
            return self.broker.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.broker and self.broker.poll() is None:
            self.broker.kill()
            self.broker.wait()
        if self.tap.failed:
            print("# broker log tail:\n# " + "\n# ".join(self.log_lines()[-15:]))
        sh("ip", "link", "del", self.va, check=False)
        sh("ip", "netns", "exec", self.ns, "ip", "link", "del", self.va, check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.data, ignore_errors=True)
        return False
