#!/usr/bin/python3
"""tests/interop/test_dpdk_broker.py: the `ringtail` broker on the dpdk network backend.

The broker runs two shards, each polling its own queue of a DPDK net_af_packet port (the
kernel's fanout hash spreads flows over the queues) bound to one end of a two-queue veth pair (no
huge pages); kcat and kafka-python run in a network namespace on the other end, over the kernel's
TCP, and cannot tell the backend from the kernel one: metadata, 100,000 records produced and
consumed back byte-identical with kcat and again with kafka-python's producer and consumer.  Needs root; prints TAP.

usage: test_dpdk_broker.py <path to ringtail>
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap, stats_of  # noqa: E402  (same directory)

KP_SCRIPT = r'''
import sys
from kafka import KafkaProducer, KafkaConsumer
bs, n = sys.argv[1], int(sys.argv[2])
p = KafkaProducer(bootstrap_servers=bs, acks="all", api_version_auto_timeout_ms=20000)
fs = [p.send("kp-dpdk", key=b"k%d" % i, value=b"v" * (i % 300) + b"%d" % i) for i in range(n)]
p.flush(120)
ok = sum(1 for f in fs if f.get(30).offset >= 0)
c = KafkaConsumer("kp-dpdk", bootstrap_servers=bs, auto_offset_reset="earliest",
                  consumer_timeout_ms=15000, enable_auto_commit=False, group_id=None,
                  api_version_auto_timeout_ms=20000)
got = {}
for m in c:
    if m.key in got:
        got[b"dup"] = b""  # a record read twice: not byte-identical to what was produced
    got[m.key] = m.value
want = {b"k%d" % i: b"v" * (i % 300) + b"%d" % i for i in range(n)}
print("acked=%d consumed=%d same=%s" % (ok, len(got), got == want))
# one request at a time: each Produce is one TCP segment, which the broker takes in its mbuf
q = KafkaProducer(bootstrap_servers=bs, acks=1, linger_ms=0, api_version_auto_timeout_ms=20000)
small = [b"s%d-" % i + bytes((i * 7 + k) % 251 for k in range(i * 5 % 1000)) for i in range(200)]
sok = sum(1 for v in small if q.send("kp-dpdk-small", value=v).get(30).offset >= 0)
c = KafkaConsumer("kp-dpdk-small", bootstrap_servers=bs, auto_offset_reset="earliest",
                  consumer_timeout_ms=15000, enable_auto_commit=False, group_id=None,
                  api_version_auto_timeout_ms=20000)
sgot = sorted(m.value for m in c)
print("small acked=%d consumed=%d same=%s bytes=%d" % (sok, len(sgot), sgot == sorted(small), sum(map(len, small))))
# batches up to 16 KB (several segments each; three partitions a request), one request in
# flight: the broker keeps each frame in its mbufs until whole and storage writes the batches
# from them
r = KafkaProducer(bootstrap_servers=bs, acks=1, linger_ms=30, batch_size=16384,
                  max_in_flight_requests_per_connection=1, api_version_auto_timeout_ms=20000)
big = [b"b%d-" % i + bytes((i * 13 + k) % 251 for k in range(300 + i * 37 % 900)) for i in range(2000)]
bfs = [r.send("kp-dpdk-big", value=v) for v in big]
r.flush(60)
bok = sum(1 for f in bfs if f.get(30).offset >= 0)
c = KafkaConsumer("kp-dpdk-big", bootstrap_servers=bs, auto_offset_reset="earliest",
                  consumer_timeout_ms=15000, enable_auto_commit=False, group_id=None,
                  api_version_auto_timeout_ms=20000)
bgot = [m.value for m in c]
print("big acked=%d consumed=%d same=%s bytes=%d" % (bok, len(bgot), sorted(bgot) == sorted(big), sum(map(len, big))))
'''


def checks(tap, ringtail):
    # An MTU the device cannot carry (af_packet stops at 1,500 in DPDK 22.11) is refused at
    # start with the key, the value and the limit, not ethdev's bare "Invalid argument".
    with DpdkBroker(ringtail, tap, "j", {"ringtail.dpdk.mtu": "9000"}) as env:
        try:
            env.setup_net()
            env.start(wait_s=20)
            rc = env.broker.wait(timeout=20)
            said = [ln for ln in env.log_lines() if "ringtail.dpdk.mtu=9000" in ln]
            tap.ok(rc != 0 and said and "an MTU of 1500 at most" in said[0],
                   "an MTU the device cannot carry stops the start, naming key, value and limit", (rc, said[:1]))
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "MTU set-up", repr(e))
    # Multi-segment Produce frames in place (off by default: copying costs less CPU at this MTU,
    # perf/README.md) are turned on here so that the path is exercised and checked.
    with DpdkBroker(ringtail, tap, "b", {"num.partitions": "3", "ringtail.dpdk.rx.zerocopy.max": "64k"}) as env:
        bs = env.bs
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"broker 0 at " + bs.encode() in md, "kcat -L over the dpdk backend lists the broker", md[-300:])
            started = [ln for ln in env.log_lines() if "dpdk: port" in ln]
            tap.ok(started and "2 queue(s)" in started[0], "two shards, each on its own queue of the port", started)
            # SIGTERM must reach the main thread's sigtimedwait: a thread that does not block it
            # (DPDK's EAL threads, if started before the mask was set) could take it with the
            # default action, and the broker would die instead of stopping in order.
            unblocked = []
            task = "/proc/%d/task" % env.broker.pid
            for tid in os.listdir(task):
                if int(tid) == env.broker.pid:
                    continue  # the main thread: unblocked only while in sigtimedwait, which takes them
                try:
                    with open("%s/%s/status" % (task, tid)) as f:
                        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
                    with open("%s/%s/comm" % (task, tid)) as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                if not int(st["SigBlk"].strip(), 16) & (1 << 14) or not int(st["SigBlk"].strip(), 16) & (1 << 1):
                    unblocked.append(comm)
            tap.ok(not unblocked, "every thread but the main one blocks SIGTERM and SIGINT", unblocked)

            n = 100000
            recs = b"".join(b"key-%d\tvalue-%d-%s\n" % (i, i, b"x" * (i % 97)) for i in range(n))
            r = env.in_ns("kcat", "-b", bs, "-P", "-t", "dpdk-kcat", "-K", "\t", "-z", "none", stdin=recs, timeout=180)
            tap.ok(r.returncode == 0, "kcat produced %d keyed records" % n, r.stderr[-300:])
            r = env.in_ns("kcat", "-b", bs, "-C", "-t", "dpdk-kcat", "-o", "beginning", "-e", "-q",
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

            out, err = env.py_in_ns(KP_SCRIPT, bs, "%d" % n, timeout=280)
            tap.ok("acked=%d consumed=%d same=True" % (n, n) in out,
                   "kafka-python produces %d records with acks=all and consumes them back byte-identical" % n,
                   out.strip() + err[-300:])
            tap.ok("small acked=200 consumed=200 same=True" in out,
                   "kafka-python's 200 one-at-a-time produces (up to 1 KB values) read back byte-identical",
                   out.strip() + err[-300:])

            tap.ok("big acked=2000 consumed=2000 same=True" in out,
                   "kafka-python's batches of several segments (3 partitions a request) read back byte-identical",
                   out.strip() + err[-300:])

            rc = env.stop()
            tap.ok(rc == 0, "SIGTERM: the broker exits 0", rc)
            # Fetch answers attach the mapped segment bytes as external mbufs: at least the record
            # bytes kcat read back left in place, and what was copied (response headers, pieces
            # under 256 bytes) is a small part of it.
            st = stats_of(env.log_lines())
            tap.ok(st.get("zerocopy_bytes", 0) >= len(recs) and st.get("copied_bytes", 1 << 60) * 20 < st["zerocopy_bytes"],
                   "record bytes left as external mbufs over segment memory, not copied (%d in place, %d copied)"
                   % (st.get("zerocopy_bytes", 0), st.get("copied_bytes", -1)), st)
            # kcat's produce requests are large frames: the connection layer lends the rest of each
            # frame (recv_into) and the stack puts in-order segments there, not in the ring; or the
            # stack lends the backend the bytes in their mbuf (rx_lend.c), copied once into the
            # request or taken in place.  Which of the two gets a segment depends on timing (how
            # much is waiting when it comes), so the check counts both: neither goes via the ring.
            direct = st.get("rx_direct_bytes", 0) + st.get("rx_lent_bytes", 0)
            tap.ok(direct * 2 > len(recs),
                   "most produced bytes went from the frames straight into request buffers (%d direct, %d lent, %d via the ring)"
                   % (st.get("rx_direct_bytes", 0), st.get("rx_lent_bytes", 0), st.get("rx_ring_bytes", -1)), st)
            # A request frame that arrives whole in one segment, with nothing before it waiting,
            # becomes a request in its mbuf and storage writes its batch from there: no copy on
            # receive.  The other frames' first segments are lent too and then copied (counted).
            tap.ok(st.get("rx_zc_frames", 0) >= 200 and st.get("rx_zc_bytes", 0) > 100000,
                   "one-segment requests (the 200 produces) taken in their mbufs, no copy (%d frames, %d bytes; "
                   "%d lent bytes copied, %d lends declined)"
                   % (st.get("rx_zc_frames", 0), st.get("rx_zc_bytes", 0), st.get("rx_lent_copied_bytes", -1),
                      st.get("rx_lend_declined", -1)), st)
            # A Produce frame over several segments waits in its mbufs until whole and becomes a
            # request there; its batches are validated over the pieces and written by one writev
            # each (dp_conn_received_chain, kp_records_validate_iov).  kafka-python's requests of
            # 16 KB batches (one in flight, so each frame starts a segment) go that way, most of
            # them: a lend the stack declines (the mbufs ran low) sends a frame the copying way.
            tap.ok(st.get("rx_chain_frames", 0) >= 10 and st.get("rx_pieces_batches", 0) >= 10
                   and st.get("rx_pieces_bytes", 0) > 300000,
                   "multi-segment batches taken in place from their mbufs (%d frames, %d batches of %d bytes "
                   "written from the pieces, %d filled)"
                   % (st.get("rx_chain_frames", 0), st.get("rx_pieces_batches", 0), st.get("rx_pieces_bytes", 0),
                      st.get("rx_pieces_filled", -1)), st)
            # small answers (Produce, metadata) are copied into buffers from the shard's pool:
            # a buffer given back at the peer's ACK serves a later answer without a malloc
            tap.ok(st.get("copy_gets", 0) > 0 and st.get("copy_mallocs", 1 << 60) * 2 < st["copy_gets"],
                   "copied answers reuse the shard's pool buffers (%d copies, %d mallocs)"
                   % (st.get("copy_gets", 0), st.get("copy_mallocs", -1)), st)
            desc = [ln for ln in env.log_lines() if "dpdk: port" in ln]
            tap.ok(desc and "zero-copy payload (external mbufs: a software device" in desc[0],
                   "the port sends in place because the device is a software one (its bus), not by its name",
                   desc[:1])
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "set-up or run", repr(e))


def main():
    return run_tap("namespaces and veth", lambda tap: checks(tap, sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
