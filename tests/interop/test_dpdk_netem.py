#!/usr/bin/python3
"""tests/interop/test_dpdk_netem.py: the `ringtail` broker on the dpdk backend over an impaired
link: 1% loss, 1% reordering and 5 ms delay on the kernel side, each way.

With `tc ... netem` (sch_netem) the impairment is the kernel's own, on the clients' interface.
This machine's kernel is built without it (CONFIG_NET_SCH_NETEM is not set), so then the clients'
veth pair ends in a middle namespace where impair_bridge.py forwards frames to the broker's veth
pair doing what netem does (drop, delay, send some at once ahead of the delayed ones); its
counters show that frames were really dropped and reordered in both directions, and the median of
10 TCP handshakes with the broker through it takes at least the two delays (checked
either way; not the fastest: a frame the bridge reorders is sent at once, without its delay).

    clients (kernel TCP) vb | vc  [bridge]  vd | va  DPDK net_af_packet, 2 shards

kcat produces 100,000 keyed records and consumes them back byte-identical and in order within each
partition; kafka-python produces 100,000 with acks=all and consumes them back byte-identical (then
its one-at-a-time produces and its multi-segment batches, as in test_dpdk_broker); the broker's stack
reports the repairs it made (retransmissions, out-of-order segments kept, recoveries from the
clients' SACK blocks) and exits 0.
Needs root; prints TAP.   usage: test_dpdk_netem.py <path to ringtail>
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap, stats_of  # noqa: E402  (same directory)
from test_dpdk_broker import KP_SCRIPT  # noqa: E402
from test_dpdk_echo import sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOSS, REORDER, DELAY_MS = "1", "1", "5"


def have_netem():
    """True when this kernel takes a netem qdisc (tried on a throw-away dummy-less veth)."""
    tag = "rtnq%d" % (os.getpid() % 100000)
    if sh("ip", "link", "add", tag + "a", "type", "veth", "peer", "name", tag + "b", check=False).returncode:
        return False
    r = sh("tc", "qdisc", "add", "dev", tag + "a", "root", "netem", "delay", "5ms", check=False)
    sh("ip", "link", "del", tag + "a", check=False)
    return r.returncode == 0


HANDSHAKE_RTT = """
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
times = []
for _ in range(10):
    t = time.perf_counter()
    s = socket.create_connection((host, int(port)), timeout=10)
    times.append(time.perf_counter() - t)
    s.close()
times.sort()
print("%.3f" % ((times[4] + times[5]) / 2 * 1000))
"""


class ImpairedBroker(DpdkBroker):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.mid = self.ns + "m"
        self.vc, self.vd = self.va[:-1] + "c", self.va[:-1] + "d"
        self.bridge = None
        self.bridge_stats = os.path.join(self.data, "bridge.json")
        self.netem = have_netem()

    def setup_net(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "netns", "add", self.mid)
        # the broker's pair: va (DPDK, two queues) to vd in the middle
        sh("ip", "link", "add", self.va, "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
           "peer", "name", self.vd, "numrxqueues", "2", "numtxqueues", "2")
        sh("ip", "link", "set", self.vd, "netns", self.mid)
        # the clients' pair: vb (kernel TCP) to vc in the middle
        sh("ip", "link", "add", self.vb, "type", "veth", "peer", "name", self.vc)
        sh("ip", "link", "set", self.vb, "netns", self.ns)
        sh("ip", "link", "set", self.vc, "netns", self.mid)
        for v in (self.vc, self.vd):
            sh("ip", "netns", "exec", self.mid, "ip", "link", "set", v, "promisc", "on", "up")
            sh("ip", "netns", "exec", self.mid, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % v,
               check=False)
        r = self.setup_ends()
        if r.returncode:
            raise RuntimeError("ethtool tx off on %s: %s" % (self.vb, r.stderr))
        if self.netem:  # the kernel's own netem on the clients' side; the bridge only forwards
            sh("ip", "netns", "exec", self.ns, "tc", "qdisc", "add", "dev", self.vb, "root", "netem",
               "delay", DELAY_MS + "ms", "loss", LOSS + "%", "reorder", REORDER + "%")
            impair = ["0", "0", "0"]
        else:
            impair = [LOSS, REORDER, DELAY_MS]
        self.bridge = subprocess.Popen(["ip", "netns", "exec", self.mid, "/usr/bin/python3",
                                        os.path.join(HERE, "impair_bridge.py"), self.vc, self.vd] + impair +
                                       ["%d" % os.getpid(), self.bridge_stats],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.bridge.stdout.readline().strip()
        what = ("tc netem on %s" % self.vb) if self.netem else \
            "no sch_netem in this kernel: impair_bridge.py between the pairs"
        return self.tap.ok(line == "ready", "%s: %s%% loss, %s%% reorder, %s ms delay each way"
                           % (what, LOSS, REORDER, DELAY_MS), line + self.bridge.stderr.read(300) if line != "ready" else "")

    def stop_bridge(self):
        """SIGTERM to the bridge; its counters ({} when it wrote none)."""
        if not self.bridge:
            return {}
        subprocess.run(["kill", "-TERM", str(self.bridge.pid)])
        # `ip netns exec` runs python in place (exec), so the pid is the bridge's own
        try:
            self.bridge.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.bridge.kill()
            self.bridge.wait()
        self.bridge = None
        try:
            with open(self.bridge_stats) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def __exit__(self, *exc):
        if self.bridge and self.bridge.poll() is None:
            self.bridge.kill()
            self.bridge.wait()
        r = super().__exit__(*exc)
        sh("ip", "netns", "del", self.mid, check=False)
        return r


def checks(tap, ringtail):
    with ImpairedBroker(ringtail, tap, "n", {"num.partitions": "3"}) as env:
        bs = env.bs
        try:
            env.setup_net()
            md = env.start(wait_s=60)
            tap.ok(b"broker 0 at " + bs.encode() in md, "kcat -L through the impaired link lists the broker", md[-300:])
            # the delay is there both ways: a TCP handshake with the broker (SYN out, SYN-ACK
            # back) takes at least 2 x DELAY_MS. The median of 10: a lost SYN slows one, and the
            # 1% of frames the bridge reorders go at once, undelayed, so the fastest of 10 was
            # 5.2 ms once (about one run in six has such a handshake).
            out, err = env.py_in_ns(HANDSHAKE_RTT, bs)
            try:
                rtt_ms = float(out.strip())
            except ValueError:
                rtt_ms = -1.0
            tap.ok(rtt_ms >= 2 * float(DELAY_MS) * 0.95,
                   "the median handshake through the link took %.1f ms (>= 2 x %s ms delay)" % (rtt_ms, DELAY_MS),
                   out + err[-300:])
            n = 100000
            recs = b"".join(b"key-%d\tvalue-%d-%s\n" % (i, i, b"q" * (i % 89)) for i in range(n))
            t0 = time.time()
            r = env.in_ns("kcat", "-b", bs, "-P", "-t", "netem", "-K", "\t", "-z", "none", stdin=recs, timeout=240)
            tap.ok(r.returncode == 0, "kcat produced %d keyed records (%.1f s)" % (n, time.time() - t0), r.stderr[-300:])
            t0 = time.time()
            r = env.in_ns("kcat", "-b", bs, "-C", "-t", "netem", "-o", "beginning", "-e", "-q",
                          "-f", "%p\t%o\t%k\t%s\n", timeout=240)
            lines = r.stdout.splitlines()
            got = sorted(b"%s\t%s" % tuple(ln.split(b"\t")[2:4]) for ln in lines if ln.count(b"\t") == 3)
            tap.ok(got == sorted(recs.splitlines()), "consumed back all %d byte-identical (got %d, %.1f s)"
                   % (n, len(got), time.time() - t0), r.stderr[-300:])
            last, order_ok = {}, True
            for ln in lines:
                p, o = ln.split(b"\t")[:2]
                order_ok = order_ok and int(o) > last.get(p, -1)
                last[p] = int(o)
            tap.ok(order_ok and len(last) == 3, "offsets increase within each of the 3 partitions", last)
            t0 = time.time()
            out, err = env.py_in_ns(KP_SCRIPT, bs, "%d" % n, timeout=400)
            tap.ok("acked=%d consumed=%d same=True" % (n, n) in out,
                   "kafka-python produces %d records with acks=all and consumes them back byte-identical (%.1f s)"
                   % (n, time.time() - t0), out.strip() + err[-300:])
            rc = env.stop()
            tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
            st = stats_of(env.log_lines())
            print("# broker stack: " + json.dumps(st))
            tap.ok(st.get("retransmits", 0) > 0 and st.get("ooo_segments", 0) > 0,
                   "the broker's stack retransmitted lost segments and kept out-of-order ones", st)
            tap.ok(st.get("sacked_bytes", 0) > 0 and st.get("sack_recoveries", 0) > 0,
                   "the broker's stack took the clients' SACK blocks and recovered from them "
                   "(%d RTO expiries, %d tail loss probes)" % (st.get("rto_expiries", 0), st.get("tlp_probes", 0)), st)
            bridge = env.stop_bridge()
            if not env.netem:
                print("# bridge: " + json.dumps(bridge))
                a, b = bridge.get(env.vc, {}), bridge.get(env.vd, {})
                tap.ok(a.get("dropped", 0) > 0 and b.get("dropped", 0) > 0 and
                       a.get("reordered", 0) > 0 and b.get("reordered", 0) > 0,
                       "the bridge dropped and reordered frames both ways", bridge)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "set-up or run", repr(e))


def main():
    return run_tap("namespaces and veth", lambda tap: checks(tap, sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
