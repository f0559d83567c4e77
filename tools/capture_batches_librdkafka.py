#!/usr/bin/python3
"""Capture the record batches librdkafka (through confluent-kafka-python) puts in a Produce
request, one file per codec, for the golden tests in tests/unit/proto/test_batch_golden.c.

    /usr/bin/python3 tools/capture_batches_librdkafka.py tests/unit/proto/data/batches

It runs a capture listener on 127.0.0.1 that answers just enough of the protocol for a
producer to send one Produce request: ApiVersions (advertising only non-flexible versions of
the other APIs, so that every later frame has the plain v1 request header), Metadata v4 (one
topic, one partition, this listener as its leader), InitProducerId v1 for the idempotent case,
and Produce v7, whose record set is written to a file as it arrived.  It is a capture tool, not
a broker: Ringtail's own broker never serves from it, and tests only read the files it wrote.

The records are golden_record(i) of capture_batches_kafka_python.py (the C test mirrors it).
"""
import os
import socket
import socketserver
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture_batches_kafka_python import golden_record  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

TOPIC = "golden"
# (api key, min, max) advertised: none of these versions is flexible.  librdkafka derives its
# features from these ranges: message format v2 needs Produce 3 and Fetch 4, zstd Produce 7 and
# Fetch 10, lz4 FindCoordinator 0.  With Produce advertised only from v3 (as KIP-896 alone would
# have it) librdkafka 2.0 logs "Broker does not support compression type gzip" and sends gzip
# and snappy batches uncompressed; advertised from v0 (as Kafka 4.0 does, KAFKA-18659) they are
# compressed.  Fetch from v4 is enough.  Fetch and FindCoordinator are only advertised, never
# called by a producer.
APIS = [(0, 0, 7), (1, 4, 10), (3, 0, 4), (10, 0, 2), (18, 0, 3), (22, 0, 1)]


class Reader:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError("short frame")
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)


def s16(v): return struct.pack(">h", v)
def s32(v): return struct.pack(">i", v)
def s64(v): return struct.pack(">q", v)
def string(v): return s16(-1) if v is None else s16(len(v)) + v.encode()


def uvarint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


class Capture:
    def __init__(self):
        self.record_sets = []
        self.cond = threading.Condition()
        self.port = None


def api_versions_body(version):
    if version >= 3:  # flexible body; the response header stays v0 for ApiVersions
        body = s16(0) + uvarint(len(APIS) + 1)
        for k, lo, hi in APIS:
            body += s16(k) + s16(lo) + s16(hi) + uvarint(0)
        return body + s32(0) + uvarint(0)
    body = s16(0) + s32(len(APIS))
    for k, lo, hi in APIS:
        body += s16(k) + s16(lo) + s16(hi)
    return body + (s32(0) if version >= 1 else b"")


def metadata_body(port):
    body = s32(0)                                           # throttle_time_ms
    body += s32(1) + s32(1) + string("127.0.0.1") + s32(port) + string(None)
    body += string("capture") + s32(1)                      # cluster id, controller id
    body += s32(1) + s16(0) + string(TOPIC) + b"\x00"       # one topic, not internal
    body += s32(1) + s16(0) + s32(0) + s32(1)               # partition 0, leader 1
    body += s32(1) + s32(1) + s32(1) + s32(1)               # replicas [1], isr [1]
    return body


def handler_for(cap):
    class Handler(socketserver.BaseRequestHandler):
        def recv_exact(self, n):
            buf = b""
            while len(buf) < n:
                chunk = self.request.recv(n - len(buf))
                if not chunk:
                    raise EOFError
                buf += chunk
            return buf

        def handle(self):
            try:
                while True:
                    size = struct.unpack(">i", self.recv_exact(4))[0]
                    self.frame(Reader(self.recv_exact(size)))
            except (EOFError, ConnectionError):
                pass

        def frame(self, r):
            key, version, corr = r.i16(), r.i16(), r.i32()
            if os.environ.get("CAPTURE_DEBUG"):
                print("request key %d v%d" % (key, version), file=sys.stderr)
            r.string()  # client id
            if key == 18:
                body = api_versions_body(version)
            elif key == 3:
                body = metadata_body(cap.port)
            elif key == 22:
                body = s32(0) + s16(0) + s64(4711) + s16(3)
            elif key == 0:
                r.string()                                  # transactional id
                acks = r.i16()
                r.i32()                                     # timeout
                topics = r.i32()
                body = s32(topics)
                for _ in range(topics):
                    name = r.string()
                    parts = r.i32()
                    body += string(name) + s32(parts)
                    for _ in range(parts):
                        idx = r.i32()
                        records = r.bytes_()
                        with cap.cond:
                            cap.record_sets.append(records)
                            cap.cond.notify_all()
                        body += s32(idx) + s16(0) + s64(0) + s64(-1) + s64(0)
                body += s32(0)
                if acks == 0:
                    return
            else:
                raise SystemExit("capture listener: unexpected api key %d v%d" % (key, version))
            resp = s32(corr) + body
            self.request.sendall(s32(len(resp)) + resp)
    return Handler


def produce(port, codec, count, idempotent=False):
    conf = {
        "bootstrap.servers": "127.0.0.1:%d" % port,
        "compression.type": codec,
        "linger.ms": 2000,
        "batch.num.messages": 100000,
        "enable.idempotence": idempotent,
        "message.timeout.ms": 20000,
        **({"debug": os.environ["CAPTURE_DEBUG"]} if os.environ.get("CAPTURE_DEBUG") else {}),
    }
    p = Producer(conf)
    for i in range(count):
        ts, key, value, headers = golden_record(i)
        p.produce(TOPIC, value=value, key=key, partition=0, timestamp=ts,
                  headers=[(k, v) for k, v in headers])
    left = p.flush(30)
    if left:
        raise SystemExit("librdkafka did not deliver %d messages" % left)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/unit/proto/data/batches"
    os.makedirs(out, exist_ok=True)
    cap = Capture()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler_for(cap))
    srv.daemon_threads = True
    cap.port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    runs = [("none", 200, False), ("gzip", 200, False), ("snappy", 200, False),
            ("lz4", 200, False), ("zstd", 200, False), ("lz4", 50, True)]
    for codec, count, idem in runs:
        before = len(cap.record_sets)
        produce(cap.port, codec, count, idem)
        sets = cap.record_sets[before:]
        if len(sets) != 1:
            raise SystemExit("%s: expected one Produce record set, got %d (raise linger.ms?)" % (codec, len(sets)))
        name = "librdkafka-%s%s.bin" % ("idempotent-" if idem else "", codec)
        with open(os.path.join(out, name), "wb") as f:
            f.write(sets[0])
        print("%-40s %7d bytes" % (name, len(sets[0])))
    srv.shutdown()


if __name__ == "__main__":
    main()
