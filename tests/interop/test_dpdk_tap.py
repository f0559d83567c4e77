#!/usr/bin/python3
"""tests/interop/test_dpdk_tap.py: the `ringtail` broker on the dpdk backend over DPDK's net_tap
device (the other virtual device the issue names, beside net_af_packet).  Unlike af_packet, tap
offloads the IPv4 header checksum and receive checksums and takes multi-segment frames, so
Fetch's zero-copy chains (record bytes attached as external mbufs) reach the kernel as such.
Its TCP checksum offload is not used: it is wrong for chains with odd-length pieces (see
dataplane/net_dpdk/port.c), which this test caught as consumers stalling.  DPDK creates the
kernel interface; the test moves it into a namespace where kcat and kafka-python run: 50,000
records produced and consumed back byte-identical, then a group consumer that commits and a
second member that resumes at the committed offsets.  Needs root; prints TAP.

usage: test_dpdk_tap.py <path to ringtail>
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap  # noqa: E402  (same directory)
from test_dpdk_coordinators import check_group  # noqa: E402


def checks(tap, ringtail):
    overrides = {"num.partitions": "3", "group.initial.rebalance.delay.ms": "300",
                 "offsets.topic.num.partitions": "3"}
    with DpdkBroker(ringtail, tap, "t", overrides, device="tap") as env:
        bs = env.bs
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"broker 0 at " + bs.encode() in md, "kcat -L over net_tap lists the broker", md[-300:])
            port = [ln for ln in env.log_lines() if "dpdk: port" in ln]
            tap.ok(port and "driver net_tap" in port[0] and "tx csum software" in port[0] and
                   "rx csum offloaded" in port[0] and "zero-copy" in port[0],
                   "the port is net_tap: zero-copy chains, receive checksums offloaded, TCP's sent ones not", port)
            n = 50000
            recs = b"".join(b"key-%d\tvalue-%d-%s\n" % (i, i, b"z" * (i % 301)) for i in range(n))
            r = env.in_ns("kcat", "-b", bs, "-P", "-t", "tap-kcat", "-K", "\t", "-z", "none", stdin=recs, timeout=180)
            tap.ok(r.returncode == 0, "kcat produced %d keyed records" % n, r.stderr[-300:])
            r = env.in_ns("kcat", "-b", bs, "-C", "-t", "tap-kcat", "-o", "beginning", "-e", "-q",
                          "-f", "%k\t%s\n", timeout=180)
            got = sorted(r.stdout.splitlines())
            tap.ok(got == sorted(recs.splitlines()), "consumed back all %d byte-identical (got %d)" % (n, len(got)),
                   r.stderr[-300:])
            check_group(tap, env)
            rc = env.stop()
            tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "set-up or run", repr(e))


def main():
    return run_tap("namespaces and tap", lambda tap: checks(tap, sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
