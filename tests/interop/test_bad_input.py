#!/usr/bin/python3
"""
tests/interop/test_bad_input.py: hostile and broken input against the real broker.  Each case
gets Kafka's answer (an error code, or a closed connection), the broker keeps serving a
well-behaved client on other connections, and every record acknowledged before is still there.
Usage: test_bad_input.py <path to ringtail>
"""
import random
import socket
import struct
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.record.default_records import DefaultRecordBatchBuilder

from rtbroker import Broker, run_tap

LIMIT = 1 << 20


def conn(b):
    s = socket.create_connection(('127.0.0.1', b.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_broker(s, timeout=5):
    """True when the broker closes the connection (EOF or reset) without answering."""
    s.settimeout(timeout)
    try:
        data = s.recv(65536)
        return data == b''
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def recv_frame(s, timeout=5):
    s.settimeout(timeout)
    hdr = b''
    while len(hdr) < 4:
        d = s.recv(4 - len(hdr))
        if not d:
            return None
        hdr += d
    n = struct.unpack('>i', hdr)[0]
    body = b''
    while len(body) < n:
        d = s.recv(n - len(body))
        if not d:
            return None
        body += d
    return body


def request(api_key, version, corr, body, client=b'bad-input', tagged=False):
    hdr = struct.pack('>hhih', api_key, version, corr, len(client)) + client
    if tagged:
        hdr += b'\0'                                 # request header v2: no tagged fields
    msg = hdr + body
    return struct.pack('>i', len(msg)) + msg


def produce_v7(topic, partition, records, acks=-1):
    t = topic.encode()
    body = struct.pack('>h', -1)                      # transactional_id null
    body += struct.pack('>hi', acks, 10000)
    body += struct.pack('>i', 1) + struct.pack('>h', len(t)) + t
    body += struct.pack('>i', 1) + struct.pack('>i', partition)
    body += struct.pack('>i', len(records)) + records
    return body


def batch(value):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                  producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    b.append(0, timestamp=int(time.time() * 1000), key=b'k', value=value, headers=[])
    return bytes(b.build())


def parse_produce_v7(body):
    corr, = struct.unpack_from('>i', body, 0)
    off = 4
    ntopics, = struct.unpack_from('>i', body, off); off += 4
    tl, = struct.unpack_from('>h', body, off); off += 2 + tl
    nparts, = struct.unpack_from('>i', body, off); off += 4
    part, err, base = struct.unpack_from('>ihq', body, off)
    return corr, err, base


def main(tap):
    rnd = random.Random(7)
    with Broker(sys.argv[1], {'socket.request.max.bytes': LIMIT, 'num.partitions': 2,
                              'connections.max.idle.ms': 2500}) as b:
        prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks='all')
        acked = [prod.send('bad', key=b'%d' % i, value=b'before-%d' % i, partition=i % 2).get(10) for i in range(200)]
        tap.ok(len(acked) == 200, '200 records acknowledged before the bad input')

        # An idle connection is closed after connections.max.idle.ms (swept once a second).
        idle = conn(b)
        t0 = time.time()
        closed = closed_by_broker(idle, timeout=10)
        took = time.time() - t0
        tap.ok(closed and 2.0 <= took <= 5.0, 'an idle connection is closed after connections.max.idle.ms (%.1f s)' % took)

        # A well-behaved connection held open through all the bad input.
        good = conn(b)

        s = conn(b)
        s.sendall(struct.pack('>i', 0x7fffff00) + bytes(rnd.randrange(256) for _ in range(1000)))
        tap.ok(closed_by_broker(s), 'random bytes (a huge length prefix): connection closed')

        s = conn(b)
        s.sendall(struct.pack('>i', LIMIT + 1) + b'\0' * 64)
        tap.ok(closed_by_broker(s), 'a frame length one over socket.request.max.bytes: connection closed')

        s = conn(b)
        s.sendall(struct.pack('>i', -5))
        tap.ok(closed_by_broker(s), 'a negative frame length: connection closed')

        s = conn(b)
        garbage = bytes(rnd.randrange(256) for _ in range(300))
        s.sendall(struct.pack('>i', len(garbage)) + struct.pack('>h', 9999) + garbage[2:])
        tap.ok(closed_by_broker(s), 'a whole frame of random bytes (unknown API key 9999): connection closed')

        s = conn(b)
        s.sendall(request(77, 0, 1, b''))
        tap.ok(closed_by_broker(s), 'an API key Kafka does not define (77): connection closed')

        s = conn(b)
        req = request(3, 0, 5, b'')
        s.sendall(req[:len(req) - 3])
        s.shutdown(socket.SHUT_WR)
        tap.ok(closed_by_broker(s), 'a truncated frame followed by end of stream: connection closed')

        for tagged in (True, False):
            s = conn(b)
            s.sendall(request(18, 99, 42, b'\0\0\0' if tagged else b'', tagged=tagged))
            f = recv_frame(s)
            ok = f is not None and struct.unpack_from('>ih', f, 0) == (42, 35)
            # Kafka's ApiVersionsRequest.getErrorResponse lists ApiVersions alone (KIP-511):
            # one entry, key 18 from v0 to the highest version served.
            apis = struct.unpack_from('>ihhh', f, 6) if ok and len(f) >= 16 else None
            tap.ok(ok and apis is not None and apis[:3] == (1, 18, 0) and apis[3] >= 3,
                   'ApiVersions v99 (header %s): a v0 response with UNSUPPORTED_VERSION (35) listing ApiVersions alone'
                   % ('v2' if tagged else 'v1'), f and f[:24].hex())
            s.close()

        # SASL on a PLAINTEXT listener: Kafka's KafkaApis answers SaslHandshake and SaslAuthenticate
        # with ILLEGAL_SASL_STATE (34) and keeps the connection; ApiVersions lists both.
        s = conn(b)
        s.sendall(request(17, 1, 50, struct.pack('>h', 5) + b'PLAIN'))
        f = recv_frame(s)
        tap.ok(f is not None and len(f) == 10 and struct.unpack('>ihi', f) == (50, 34, 0),
               'SaslHandshake v1: ILLEGAL_SASL_STATE (34), no mechanisms', f and f.hex())
        s.sendall(request(36, 0, 51, struct.pack('>i', 4) + b'\0u\0p'))
        f = recv_frame(s)
        want = b'SaslAuthenticate request received after successful authentication'
        tap.ok(f is not None and f == struct.pack('>ihh', 51, 34, len(want)) + want + struct.pack('>i', 0),
               'SaslAuthenticate v0 on the same connection: ILLEGAL_SASL_STATE with Kafka\'s message', f)
        s.sendall(request(36, 2, 52, b'\x05\0u\0p\0', tagged=True))
        f = recv_frame(s)
        tap.ok(f is not None and f == struct.pack('>ibh', 52, 0, 34) + bytes([len(want) + 1]) + want
               + b'\x01' + struct.pack('>q', 0) + b'\0',
               'SaslAuthenticate v2 (flexible): ILLEGAL_SASL_STATE with Kafka\'s message', f)
        s.sendall(request(18, 0, 53, b''))
        f = recv_frame(s)
        apis = {}
        if f is not None and struct.unpack_from('>ih', f, 0) == (53, 0):
            for k in range(struct.unpack_from('>i', f, 6)[0]):
                key, lo, hi = struct.unpack_from('>hhh', f, 10 + 6 * k)
                apis[key] = (lo, hi)
        tap.ok(apis.get(17) == (1, 1) and apis.get(36) == (0, 2),
               'then ApiVersions on the same connection lists SaslHandshake v1 and SaslAuthenticate v0-2',
               (apis.get(17), apis.get(36)))
        s.close()

        s = conn(b)
        s.sendall(request(3, 99, 43, b''))
        tap.ok(closed_by_broker(s), 'Metadata v99 (unsupported): connection closed')

        s = conn(b)
        s.sendall(request(0, 7, 44, b'\0\0\0'))
        tap.ok(closed_by_broker(s), 'a Produce body cut short: connection closed')

        s = conn(b)
        bad = bytearray(batch(b'corrupt-me'))
        bad[-3] ^= 0xff                                 # inside the value: the CRC no longer matches
        s.sendall(request(0, 7, 45, produce_v7('bad', 0, bytes(bad))))
        f = recv_frame(s)
        corr, err, base = parse_produce_v7(f) if f else (None, None, None)
        tap.ok(corr == 45 and err == 2, 'Produce with a corrupt batch: CORRUPT_MESSAGE (2)', (corr, err))

        bad = bytearray(batch(b'x'))
        struct.pack_into('>i', bad, 8, len(bad) - 12 + 50)   # batch length past the end
        s.sendall(request(0, 7, 46, produce_v7('bad', 0, bytes(bad))))
        f = recv_frame(s)
        corr, err, base = parse_produce_v7(f) if f else (None, None, None)
        tap.ok(corr == 46 and err == 2, 'Produce with a batch length past the data: CORRUPT_MESSAGE (2)', (corr, err))

        s.sendall(request(0, 7, 47, produce_v7('bad', 1, batch(b'good-after'))))
        f = recv_frame(s)
        corr, err, base = parse_produce_v7(f) if f else (None, None, None)
        tap.ok(corr == 47 and err == 0 and base == 100, 'the same connection then produces a good batch (offset 100)',
               (corr, err, base))
        s.sendall(request(0, 7, 48, produce_v7('nosuch', 0, batch(b'x'))))
        f = recv_frame(s)
        corr, err, base = parse_produce_v7(f) if f else (None, None, None)
        tap.ok(corr == 48 and err == 3, 'Produce to an unknown topic: UNKNOWN_TOPIC_OR_PARTITION (3)', (corr, err))
        s.close()

        # Topic names Kafka refuses (Topic.validate): Metadata answers INVALID_TOPIC_EXCEPTION for
        # each, with auto-creation on, and creates nothing; a valid unknown name is created.
        names = ['a/b', '..', '.', 'x' * 250, 'caf\u00e9', 'ok.name_-1']
        s = conn(b)
        body = struct.pack('>i', len(names))
        for n in names:
            e = n.encode()
            body += struct.pack('>h', len(e)) + e
        s.sendall(request(3, 1, 49, body))
        f = recv_frame(s)
        errs = {}
        if f:
            off = 4
            nb, = struct.unpack_from('>i', f, off); off += 4
            for _ in range(nb):
                off += 4
                hl, = struct.unpack_from('>h', f, off); off += 2 + hl + 4
                rl, = struct.unpack_from('>h', f, off); off += 2 + max(rl, 0)
            off += 4                                     # controller id
            nt, = struct.unpack_from('>i', f, off); off += 4
            for _ in range(nt):
                err, tl = struct.unpack_from('>hh', f, off); off += 4
                name = f[off:off + tl].decode('utf-8', 'replace'); off += tl + 1
                np_, = struct.unpack_from('>i', f, off); off += 4
                for _ in range(np_):
                    off += 2 + 4 + 4
                    for _ in range(2):
                        n_, = struct.unpack_from('>i', f, off); off += 4 + 4 * n_
                errs[name] = err
        want = {n: 17 for n in names[:-1]}
        tap.ok({n: errs.get(n) for n in names[:-1]} == want and errs.get('ok.name_-1') in (0, 5),
               'Metadata with names Kafka refuses: INVALID_TOPIC_EXCEPTION (17) for each; a valid one is created',
               errs)
        s.close()

        # Pipelining: five requests in one write, answered in order.
        s = conn(b)
        s.sendall(b''.join(request(18, 0, 100 + i, b'') for i in range(5)))
        corrs = [struct.unpack_from('>i', recv_frame(s) or b'\0\0\0\0')[0] for _ in range(5)]
        tap.ok(corrs == [100, 101, 102, 103, 104], 'five pipelined requests answered in order', corrs)
        s.close()

        good.sendall(request(18, 0, 7, b''))
        f = recv_frame(good)
        tap.ok(f is not None and struct.unpack_from('>ih', f, 0) == (7, 0), 'the connection held open meanwhile is served')
        good.close()
        tap.ok(b.alive(), 'the broker is still running')

        cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000)
        cons.assign([TopicPartition('bad', 0), TopicPartition('bad', 1)])
        cons.seek_to_beginning()
        vals = set()
        for m in cons:
            vals.add(m.value)
            if len(vals) >= 201:
                break
        cons.close()
        want = {b'before-%d' % i for i in range(200)} | {b'good-after'}
        tap.ok(vals == want, 'every acknowledged record is there, and nothing of the corrupt batches',
               len(vals))
        prod.close()
        tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')


run_tap(main)
