"""
tests/interop/kwire.py: just enough of Kafka's wire format to send requests that the Python
clients cannot (DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs, DescribeCluster,
DescribeTopicPartitions) and read their responses, written from Kafka's protocol guide.
"""
import socket
import struct


class W:
    def __init__(self):
        self.b = bytearray()

    def i8(self, v): self.b += struct.pack('>b', v); return self
    def i16(self, v): self.b += struct.pack('>h', v); return self
    def i32(self, v): self.b += struct.pack('>i', v); return self
    def i64(self, v): self.b += struct.pack('>q', v); return self

    def uvar(self, v):
        while v >= 0x80:
            self.b.append((v & 0x7f) | 0x80)
            v >>= 7
        self.b.append(v)
        return self

    def str(self, s):
        if s is None:
            return self.i16(-1)
        s = s.encode()
        return self.i16(len(s)).raw(s)

    def cstr(self, s):
        if s is None:
            return self.uvar(0)
        s = s.encode()
        return self.uvar(len(s) + 1).raw(s)

    def raw(self, b): self.b += b; return self
    def bytes(self, b): return self.i32(len(b)).raw(b)
    def tags(self): return self.uvar(0)


class R:
    def __init__(self, b):
        self.b = b
        self.p = 0

    def take(self, n):
        v = self.b[self.p:self.p + n]
        if len(v) != n:
            raise ValueError('response too short')
        self.p += n
        return v

    def i8(self): return struct.unpack('>b', self.take(1))[0]
    def i16(self): return struct.unpack('>h', self.take(2))[0]
    def i32(self): return struct.unpack('>i', self.take(4))[0]
    def i64(self): return struct.unpack('>q', self.take(8))[0]
    def bool(self): return self.i8() != 0

    def uvar(self):
        v = s = 0
        while True:
            c = self.take(1)[0]
            v |= (c & 0x7f) << s
            s += 7
            if not c & 0x80:
                return v

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def cstr(self):
        n = self.uvar() - 1
        return None if n < 0 else self.take(n).decode()

    def arr(self, fn):
        n = self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]

    def carr(self, fn):
        n = self.uvar() - 1
        return None if n < 0 else [fn(self) for _ in range(n)]

    def tags(self):
        for _ in range(self.uvar()):
            self.uvar()
            self.take(self.uvar())


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.corr = 0

    def call(self, key, version, body, flexible_header):
        self.corr += 1
        h = W().i16(key).i16(version).i32(self.corr).str('kwire')
        if flexible_header:
            h.tags()
        msg = bytes(h.b) + bytes(body.b)
        self.s.sendall(struct.pack('>i', len(msg)) + msg)
        n = struct.unpack('>i', self._read(4))[0]
        r = R(self._read(n))
        assert r.i32() == self.corr
        if flexible_header:
            r.tags()
        return r

    def _read(self, n):
        out = b''
        while len(out) < n:
            d = self.s.recv(n - len(out))
            if not d:
                raise ConnectionError('closed by the broker')
            out += d
        return out

    def close(self):
        self.s.close()


def describe_producers(port, topic, partition):
    """DescribeProducers v0: (error, [(pid, epoch, last seq, last ts, coordinator epoch, txn start)])."""
    c = Conn(port)
    try:
        r = c.call(61, 0, W().uvar(2).cstr(topic).uvar(2).i32(partition).tags().tags(), True)
        r.i32()
        out = None
        for _ in range(r.uvar() - 1):
            r.cstr()
            for _ in range(r.uvar() - 1):
                r.i32()
                err = r.i16()
                r.cstr()
                prods = []
                for _ in range(r.uvar() - 1):
                    prods.append((r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64()))
                    r.tags()
                r.tags()
                out = (err, prods)
            r.tags()
        return out
    finally:
        c.close()
