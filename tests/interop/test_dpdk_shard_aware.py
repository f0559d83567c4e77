#!/usr/bin/python3
"""tests/interop/test_dpdk_shard_aware.py: shard-aware mode (ringtail.advertise.shards=true) on
the dpdk backend: two shards on a two-queue net_af_packet port over a veth pair, the clients in
a namespace of their own.

Metadata advertises one node per shard on its own port; every one of those ports must accept
connections whichever queue a flow lands on.  af_packet has no rte_flow, so the broker says it
cannot steer and every shard listens on every shard port (a device with rte_flow would steer
port+1+i to queue i instead; see dataplane/net_dpdk/backend.c).  Then confluent-kafka produces
to each partition's owner node and consumes back byte-identical.

Then the software flow hash a device without RSS gets (ringtail.dpdk.rx.dispatch=software, here
over af_packet's two queues, whose kernel hash then no longer decides): connections to the shared
port all accepted, kcat's records back byte-identical, and the shards' counters show frames
handed from the shard that received them to the one that owns their flow, both ways, with none
lost on the way.  Needs root; prints TAP.

usage: test_dpdk_shard_aware.py <path to ringtail>
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap, stats_of  # noqa: E402  (same directory)

# Runs in the namespace.  argv: host, first port, number of ports.  Opens 16 connections to
# each port at once (the flows spread over both queues) and counts those accepted.
CONNECT_SCRIPT = r'''
import json, socket, sys, threading
host, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = {}
def one(port, k):
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.close()
        ok = 1
    except OSError:
        ok = 0
    res.setdefault(port, []).append(ok)
ts = [threading.Thread(target=one, args=(first + i, k)) for i in range(n) for k in range(16)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps({str(p): sum(v) for p, v in res.items()}))
'''

# Runs in the namespace.  argv: bootstrap, this directory (for kclient.py).
CLIENT_SCRIPT = r'''
import json, sys
sys.path.insert(0, sys.argv[2])
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kclient import read_to_end
bs = sys.argv[1]
admin = AdminClient({"bootstrap.servers": bs})
admin.create_topics([NewTopic("sa", 4, 1)])["sa"].result(30)
md = admin.list_topics(timeout=10)
res = {"nodes": {str(n.id): n.port for n in md.brokers.values()},
       "leaders": sorted(p.leader for p in md.topics["sa"].partitions.values())}
p = Producer({"bootstrap.servers": bs, "acks": "all"})
sent = {i: [] for i in range(4)}
for i in range(4000):
    v = b"sa-%d-%s" % (i, b"y" * (i % 200))
    sent[i % 4].append(v)
    p.produce("sa", value=v, partition=i % 4)
res["unflushed"] = p.flush(60)
out, _ = read_to_end(bs, "sa", range(4))
got = {i: [m.value() for m in out[i]] for i in range(4)}
res["same"] = got == sent
res["counts"] = [len(got[i]) for i in range(4)]
print(json.dumps(res))
'''


def checks(tap, ringtail):
    with DpdkBroker(ringtail, tap, "s", {"ringtail.advertise.shards": "true"}) as env:
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"3 brokers" in md, "kcat -L lists the broker and one node per shard", md[-300:])
            said = [ln for ln in env.log_lines() if "rte_flow" in ln or "steered" in ln]
            tap.ok(len(said) == 1 and "no rte_flow steering" in said[0],
                   "af_packet has no rte_flow: the broker says every shard serves every shard port", said)
            out, err = env.py_in_ns(CONNECT_SCRIPT, env.our_ip, "9093", "2", timeout=60)
            try:
                accepted = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                accepted = None
            tap.ok(accepted == {"9093": 16, "9094": 16},
                   "16 connections to each shard port are all accepted, whichever queue they land on",
                   (out + err[-300:]).replace("\n", " | "))
            out, err = env.py_in_ns(CLIENT_SCRIPT, env.bs, os.path.dirname(os.path.abspath(__file__)), timeout=240)
            try:
                r = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                r = {}
            tap.ok(r.get("nodes") == {"0": 9092, "1": 9093, "2": 9094} and r.get("leaders") == [1, 1, 2, 2],
                   "Metadata: one node per shard port, each partition led by its owner shard's node",
                   (out[-300:] + err[-300:]).replace("\n", " | "))
            tap.ok(r.get("unflushed") == 0 and r.get("same") is True,
                   "confluent-kafka produces 4000 records to the shard nodes and consumes them back identical",
                   r.get("counts"))
            rc = env.stop()
            tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "set-up or run", repr(e))


def check_software_dispatch(tap, ringtail):
    with DpdkBroker(ringtail, tap, "w", {"ringtail.dpdk.rx.dispatch": "software", "num.partitions": "2"}) as env:
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"1 brokers" in md, "software dispatch: kcat -L lists the broker", md[-300:])
            desc = [ln for ln in env.log_lines() if "dpdk: port" in ln]
            tap.ok(desc and "2 queue(s) with flows spread by a software hash" in desc[0],
                   "software dispatch: the port says flows are spread by the software hash", desc[:1])
            out, err = env.py_in_ns(CONNECT_SCRIPT, env.our_ip, "9092", "1", timeout=60)
            tap.ok(out.strip().endswith('{"9092": 16}'), "software dispatch: 16 connections at once are all accepted",
                   (out + err[-300:]).replace("\n", " | "))
            n = 20000
            recs = b"".join(b"k%d\tv%d-%s\n" % (i, i, b"z" * (i % 333)) for i in range(n))
            r = env.in_ns("kcat", "-b", env.bs, "-P", "-t", "sw", "-K", "\t", "-z", "none", stdin=recs, timeout=120)
            tap.ok(r.returncode == 0, "software dispatch: kcat produced %d records" % n, r.stderr[-300:])
            r = env.in_ns("kcat", "-b", env.bs, "-C", "-t", "sw", "-o", "beginning", "-e", "-q",
                          "-f", "%k\t%s\n", timeout=120)
            tap.ok(sorted(r.stdout.splitlines()) == sorted(recs.splitlines()),
                   "software dispatch: consumed back all %d byte-identical" % n, r.stderr[-300:])
            rc = env.stop()
            tap.ok(rc == 0, "software dispatch: SIGTERM: the broker exits 0", rc)
            shards = [stats_of([ln]) for ln in env.log_lines() if "dpdk: shard" in ln and " stats: " in ln]
            handed = [sh.get("rx_dispatched", 0) for sh in shards]
            took = [sh.get("rx_from_others", 0) for sh in shards]
            tap.ok(len(shards) == 2 and all(handed) and all(took) and sum(handed) == sum(took) and
                   not any(sh.get("rx_dispatch_dropped", 1) for sh in shards) and
                   all(sh.get("conns", 0) for sh in shards),
                   "software dispatch: each shard handed frames of the other's flows over and took its own "
                   "(handed %s, taken %s), none dropped, connections on both shards" % (handed, took), shards)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "software dispatch: set-up or run", repr(e))


def main():
    return run_tap("namespaces and veth", lambda tap: (checks(tap, sys.argv[1]),
                                                       check_software_dispatch(tap, sys.argv[1])))


if __name__ == "__main__":
    sys.exit(main())
