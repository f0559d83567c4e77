#!/usr/bin/python3
"""tests/interop/test_dpdk_coordinators.py: consumer groups and transactions on a broker whose
clients reach it only through the dpdk backend (net_af_packet on a veth pair; the clients in a
namespace of their own, over the kernel's TCP).

ringtail-control keeps its state and sends WriteTxnMarkers through its own Kafka connections to
the broker's internal listener (a kernel socket on 127.0.0.1, dataplane/net.h), since the DPDK
address is not the kernel's.  Checked here: that listener is on loopback only, is not in
Metadata and cannot be reached from the clients' side; a kafka-python group consumer commits and
a second member of the group resumes exactly at the committed offsets; a confluent-kafka
transactional producer commits and aborts (the markers are in the log; read_committed skips the
aborted records, read_uncommitted does not), and a second producer with the same
transactional.id fences the first.  Needs root; prints TAP.

usage: test_dpdk_coordinators.py <path to ringtail>
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap  # noqa: E402  (same directory)

# Runs in the namespace.  argv: bootstrap, internal port.
REACH_SCRIPT = r'''
import socket, sys
host, port = sys.argv[1].split(":")[0], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=5).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error %s" % e)
'''

# Runs in the namespace.  argv: bootstrap, topic, group.  A first member consumes at least 90
# of the 300 records and commits; a second member of the same group must start at the
# committed offsets and read the rest, with no record twice and none missing.
GROUP_SCRIPT = r'''
import json, sys, time
from kafka import KafkaConsumer, KafkaProducer
bs, topic, group = sys.argv[1:4]
N = 300
# api_version_auto_timeout_ms: kafka-python's default gives the first connection and its version
# probe 2 s, which a client beside two busy-polling DPDK shards on a loaded 2-core machine once
# missed (NoBrokersAvailable); the checks below are about groups, not about that delay.
p = KafkaProducer(bootstrap_servers=bs, acks="all", api_version_auto_timeout_ms=20000)
fs = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(N)]
p.flush(60)
acked = sum(1 for f in fs if f.get(30).offset >= 0)
p.close()

def member():
    return KafkaConsumer(topic, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, max_poll_records=15, session_timeout_ms=10000,
                         heartbeat_interval_ms=500, api_version_auto_timeout_ms=20000)

def drain(c, got, until_total, limit_s):
    deadline = time.time() + limit_s
    while time.time() < deadline and len(got) < until_total:
        for tp, ms in c.poll(300).items():
            got += [(tp.partition, m.offset, m.value.decode()) for m in ms]

c = member()
first = []
drain(c, first, 90, 60)
c.commit()
committed = {tp.partition: c.committed(tp) for tp in c.assignment()}
c.close()
c = member()
second = []
drain(c, second, N - len(first), 60)
drain(c, second, N + 1, 2)   # anything beyond the rest would be a duplicate
c.close()
print(json.dumps({"acked": acked, "first": first, "second": second,
                  "committed": {str(k): v for k, v in committed.items()}}))
'''

# Runs in the namespace.  argv: bootstrap, topic.
TXN_SCRIPT = r'''
import json, sys, time
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic = sys.argv[1:3]
res = {}
admin = AdminClient({"bootstrap.servers": bs})
for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
    f.result(30)
p = Producer({"bootstrap.servers": bs, "transactional.id": "tx-dpdk", "transaction.timeout.ms": 60000})
p.init_transactions(30)
p.begin_transaction()
for i in range(3):
    p.produce(topic, value=b"committed-%d" % i)
p.commit_transaction(30)
res["commit"] = True
p.begin_transaction()
for i in range(2):
    p.produce(topic, value=b"aborted-%d" % i)
p.flush(30)
p.abort_transaction(30)
res["abort"] = True
p.begin_transaction()
p.produce(topic, value=b"committed-3")
p.commit_transaction(30)
p2 = Producer({"bootstrap.servers": bs, "transactional.id": "tx-dpdk"})
p2.init_transactions(30)
try:
    p.begin_transaction()
    p.produce(topic, value=b"zombie")
    p.commit_transaction(30)
    res["fenced"] = "not fenced"
except KafkaException as e:
    res["fenced"] = "fatal" if e.args[0].fatal() else "not fatal: %s" % e.args[0]
p2.begin_transaction()
p2.produce(topic, value=b"committed-4")
p2.commit_transaction(30)

def consume(isolation, expect):
    c = Consumer({"bootstrap.servers": bs, "group.id": "g-dpdk-" + isolation, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "isolation.level": isolation})
    res["watermarks"] = list(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 30
    while time.time() < deadline and len(got) < expect:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    end = time.time() + 2   # anything beyond what is expected must not show up
    while time.time() < end:
        m = c.poll(0.3)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    return sorted(got)

res["read_uncommitted"] = consume("read_uncommitted", 7)
res["read_committed"] = consume("read_committed", 5)
print(json.dumps(res))
'''


def listening_sockets(port):
    """(local address hex, port) of the kernel's IPv4 and IPv6 TCP listeners on port."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            addr, p = f[1].split(":")
            if f[3] == "0A" and int(p, 16) == port:
                found.append(addr)
    return found


def check_internal_listener(tap, env, md):
    started = [ln for ln in env.log_lines() if "started:" in ln]
    m = re.search(r"internal 127\.0\.0\.1:(\d+)", started[0] if started else "")
    tap.ok(m is not None, "the broker names its internal listener (127.0.0.1:port)", started)
    if m is None:
        return
    port = int(m.group(1))
    socks = listening_sockets(port)
    tap.ok(socks == ["0100007F"], "the internal listener is a kernel socket on 127.0.0.1 only", socks)
    tap.ok((":%d" % port).encode() not in md and b"1 brokers" in md,
           "Metadata does not show the internal listener", md[-300:])
    out, err = env.py_in_ns(REACH_SCRIPT, env.bs, str(port), timeout=30)
    tap.ok(out.strip() == "refused", "the clients' side cannot reach the internal port", out + err[-300:])


def check_group(tap, env):
    out, err = env.py_in_ns(GROUP_SCRIPT, env.bs, "dpdk-grp", "g-dpdk", timeout=240)
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tap.ok(False, "kafka-python group consumer over the dpdk backend", (out[-200:] + err[-400:]).replace("\n", " | "))
        return
    first, second = r["first"], r["second"]
    committed = {int(k): v for k, v in r["committed"].items()}
    tap.ok(r["acked"] == 300, "kafka-python produced 300 records with acks=all", r["acked"])
    want_commit = {}
    for p, o, _ in first:
        want_commit[p] = max(want_commit.get(p, 0), o + 1)
    tap.ok(len(first) >= 90 and all(committed.get(p) == o for p, o in want_commit.items()),
           "a group member consumed %d records and committed their offsets" % len(first),
           (committed, want_commit))
    start = {}
    for p, o, _ in second:
        start[p] = min(start.get(p, o), o)
    tap.ok(second and all(o == committed.get(p, 0) for p, o in start.items()),
           "a new member of the group resumes at the committed offsets", (start, committed))
    values = [v for _, _, v in first + second]
    tap.ok(len(values) == 300 and set(values) == {"v%d" % i for i in range(300)},
           "together they read every record once (%d + %d)" % (len(first), len(second)),
           "%d values, %d distinct" % (len(values), len(set(values))))


def check_txn(tap, env):
    out, err = env.py_in_ns(TXN_SCRIPT, env.bs, "dpdk-txn", timeout=240)
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tap.ok(False, "confluent-kafka transactional producer over the dpdk backend", (out[-200:] + err[-400:]).replace("\n", " | "))
        return
    tap.ok(r.get("commit") and r.get("abort"), "a transaction commits and the next one aborts", r)
    tap.ok(r["fenced"] == "fatal", "a second producer with the same transactional.id fences the first", r["fenced"])
    # 7 records and 4 markers (commit, abort, commit, commit): the control process's
    # WriteTxnMarkers reached the partition.
    tap.ok(r["watermarks"] == [0, 11], "the log holds the 7 records and the 4 transaction markers",
           r["watermarks"])
    committed = ["committed-%d" % i for i in range(5)]
    tap.ok(r["read_uncommitted"] == sorted(committed + ["aborted-0", "aborted-1"]),
           "a read_uncommitted group consumer reads them all; the fenced producer wrote nothing",
           r["read_uncommitted"])
    tap.ok(r["read_committed"] == committed, "a read_committed group consumer reads only the committed ones",
           r["read_committed"])


def checks(tap, ringtail):
    overrides = {"num.partitions": "3", "group.initial.rebalance.delay.ms": "300",
                 "offsets.topic.num.partitions": "3", "transaction.state.log.num.partitions": "3"}
    with DpdkBroker(ringtail, tap, "c", overrides) as env:
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"1 brokers" in md, "kcat -L over the dpdk backend lists the broker", md[-300:])
            check_internal_listener(tap, env, md)
            check_group(tap, env)
            check_txn(tap, env)
            rc = env.stop()
            tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "set-up or run", repr(e))


def main():
    return run_tap("namespaces and veth", lambda tap: checks(tap, sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
