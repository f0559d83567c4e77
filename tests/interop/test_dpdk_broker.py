#!/usr/bin/python3
"""tests/interop/test_dpdk_broker.py: the `ringtail` broker on the dpdk network backend.

The broker runs two shards, each polling its own queue of a DPDK net_af_packet port (the
kernel's fanout hash spreads flows over the queues) bound to one end of a two-queue veth pair (no
huge pages); kcat and kafka-python run in a network namespace on the other end, over the kernel's
TCP, and cannot tell the backend from the kernel one: metadata, 100,000 records produced and
consumed back byte-identical, and kafka-python's producer and consumer.  Needs root; prints TAP.

usage: test_dpdk_broker.py <path to ringtail>
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dpdk_echo import Tap, sh  # noqa: E402  (same directory)

KP_SCRIPT = r'''
import sys
from kafka import KafkaProducer, KafkaConsumer
bs = sys.argv[1]
p = KafkaProducer(bootstrap_servers=bs, acks="all", api_version_auto_timeout_ms=20000)
fs = [p.send("kp-dpdk", key=b"k%d" % i, value=b"v" * (i % 300) + b"%d" % i) for i in range(2000)]
p.flush(60)
ok = sum(1 for f in fs if f.get(30).offset >= 0)
c = KafkaConsumer("kp-dpdk", bootstrap_servers=bs, auto_offset_reset="earliest",
                  consumer_timeout_ms=15000, enable_auto_commit=False, group_id=None)
got = {m.key: m.value for m in c}
want = {b"k%d" % i: b"v" * (i % 300) + b"%d" % i for i in range(2000)}
print("acked=%d consumed=%d same=%s" % (ok, len(got), got == want))
'''


def main():
    ringtail = sys.argv[1]
    print("TAP version 13")
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for namespaces and veth")
        return 0
    tap = Tap()
    tag = "%d" % (os.getpid() % 100000)
    subnet = 100 + (os.getpid() + 7) % 100
    ns, va, vb = "rtdb" + tag, "rtb%sa" % tag, "rtb%sb" % tag
    our_ip, peer_ip = "10.214.%d.1" % subnet, "10.214.%d.2" % subnet
    bs = our_ip + ":9092"
    data = tempfile.mkdtemp(prefix="rt-dpdk-broker-")
    broker = None

    def in_ns(*cmd, timeout=120, stdin=None):
        return subprocess.run(["ip", "netns", "exec", ns] + list(cmd), capture_output=True,
                              timeout=timeout, input=stdin)
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", va, "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
           "peer", "name", vb, "numrxqueues", "2", "numtxqueues", "2")
        sh("ip", "link", "set", vb, "netns", ns)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", peer_ip + "/24", "dev", vb)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", vb, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "set", va, "up")
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % va, check=False)
        r = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                            "import sys; sys.path.insert(0, %r); import test_dpdk_echo as t; "
                            "t.disable_tx_csum_offload(%r)" % (os.path.dirname(os.path.abspath(__file__)), vb)],
                           capture_output=True, text=True)
        tap.ok(r.returncode == 0, "namespace %s with veth %s/%s" % (ns, va, vb), r.stderr)
        log = open(os.path.join(data, "broker.log"), "w")
        broker = subprocess.Popen([ringtail, "--override", "ringtail.net.backend=dpdk",
                                   "--override", "ringtail.dpdk.port=net_af_packet0,qpairs=2,iface=" + va,
                                   "--override", "ringtail.dpdk.ip=" + our_ip,
                                   "--override", "ringtail.shards=2",
                                   "--override", "ringtail.net.interface=" + va,
                                   "--override", "ringtail.allow.smt=true",
                                   "--override", "listeners=PLAINTEXT://%s" % bs,
                                   "--override", "num.partitions=3",
                                   "--override", "log.dirs=" + os.path.join(data, "logs")],
                                  stdout=log, stderr=subprocess.STDOUT)
        md = b""
        deadline = time.time() + 30
        while time.time() < deadline and broker.poll() is None:
            r = in_ns("kcat", "-b", bs, "-L", "-m", "3", timeout=20)
            md = r.stdout
            if b"1 brokers" in md:
                break
            time.sleep(0.5)
        tap.ok(b"broker 0 at " + bs.encode() in md, "kcat -L over the dpdk backend lists the broker", md[-300:])
        try:
            started = [ln for ln in open(os.path.join(data, "broker.log")) if "dpdk: port" in ln]
        except OSError:
            started = []
        tap.ok(started and "2 queue(s)" in started[0], "two shards, each on its own queue of the port", started)

        n = 100000
        recs = b"".join(b"key-%d\tvalue-%d-%s\n" % (i, i, b"x" * (i % 97)) for i in range(n))
        r = in_ns("kcat", "-b", bs, "-P", "-t", "dpdk-kcat", "-K", "\t", "-z", "none", stdin=recs, timeout=180)
        tap.ok(r.returncode == 0, "kcat produced %d keyed records" % n, r.stderr[-300:])
        r = in_ns("kcat", "-b", bs, "-C", "-t", "dpdk-kcat", "-o", "beginning", "-e", "-q",
                  "-f", "%p\t%o\t%k\t%s\n", timeout=180)
        lines = r.stdout.splitlines()
        got = sorted(b"%s\t%s" % (ln.split(b"\t")[2], ln.split(b"\t")[3]) for ln in lines if ln.count(b"\t") == 3)
        want = sorted(recs.splitlines())
        tap.ok(got == want, "consumed back all %d byte-identical (got %d)" % (n, len(got)), r.stderr[-300:])
        order_ok = True
        last = {}
        for ln in lines:
            p, o = ln.split(b"\t")[:2]
            if int(o) <= last.get(p, -1):
                order_ok = False
            last[p] = int(o)
        tap.ok(order_ok and len(last) == 3, "offsets increase within each of the 3 partitions", last)

        r = in_ns("/usr/bin/python3", "-c", KP_SCRIPT, bs, timeout=180)
        out = r.stdout.decode().strip()
        tap.ok("acked=2000 consumed=2000 same=True" in out, "kafka-python produces with acks=all and consumes back", out + r.stderr.decode()[-300:])

        broker.send_signal(signal.SIGTERM)
        try:
            rc = broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()
            rc = broker.wait()
        tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
    except Exception as e:  # noqa: BLE001 - reported as a failure
        tap.ok(False, "set-up or run", repr(e))
    finally:
        if broker and broker.poll() is None:
            broker.kill()
            broker.wait()
        if tap.failed:
            try:
                print("# broker log tail:\n# " + "\n# ".join(open(os.path.join(data, "broker.log")).read().splitlines()[-15:]))
            except OSError:
                pass
        sh("ip", "link", "del", va, check=False)
        sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(data, ignore_errors=True)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
