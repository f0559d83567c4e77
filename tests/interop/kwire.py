"""
tests/interop/kwire.py: just enough of Kafka's wire format to send requests that the Python
clients cannot (DeleteRecords, OffsetForLeaderEpoch, DescribeLogDirs, DescribeCluster,
DescribeTopicPartitions, a transaction coordinator's requests with chosen producer ids and
epochs, a Produce of hand-made batches) and read their responses, written from Kafka's protocol
guide.  The requests several tests and perf scripts send are here once.
"""
import socket
import struct
import time


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

    def send(self, key, version, body, flexible_header=False, client_id='kwire'):
        """Sends one request without reading its answer; returns its correlation id."""
        self.corr += 1
        h = W().i16(key).i16(version).i32(self.corr).str(client_id)
        if flexible_header:
            h.tags()
        msg = bytes(h.b) + bytes(body.b)
        self.s.sendall(struct.pack('>i', len(msg)) + msg)
        return self.corr

    def call(self, key, version, body, flexible_header):
        self.send(key, version, body, flexible_header)
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


def batches_end(d):
    """Where the record batches of a segment file's bytes d end: the walk over the batch headers
    (base offset, then the int32 length of the rest) stops at a zero length, where the zeros a
    broker keeps ahead of its appends begin, or at a batch that runs past the end."""
    pos = 0
    while pos + 12 <= len(d):
        n = int.from_bytes(d[pos + 8:pos + 12], 'big')
        if n <= 0 or pos + 12 + n > len(d):
            break
        pos += 12 + n
    return pos


def batch_spans(recs):
    """[(base offset, last offset, size)] of the whole record batches in recs, a Fetch
    response's record bytes (which may end inside a batch: that one is left out)."""
    out, pos = [], 0
    while len(recs) - pos >= 61:
        base, blen = struct.unpack_from('>qi', recs, pos)
        if pos + 12 + blen > len(recs):
            break
        out.append((base, base + struct.unpack_from('>i', recs, pos + 23)[0], 12 + blen))
        pos += 12 + blen
    return out


def topic_id(c, name):
    """The topic id that Metadata v12 on connection c gives for topic name, or None when it
    answers the topic with an error."""
    w = W().uvar(2).raw(bytes(16)).cstr(name).tags().i8(0).i8(0).tags()
    r = c.call(3, 12, w, True)
    r.i32()
    for _ in range(r.uvar() - 1):
        r.i32(); r.cstr(); r.i32(); r.cstr(); r.tags()
    r.cstr()
    r.i32()
    found = None
    for _ in range(r.uvar() - 1):
        err = r.i16()
        n = r.cstr()
        tid = bytes(r.take(16))
        r.bool()
        for _ in range(r.uvar() - 1):
            r.i16(); r.i32(); r.i32(); r.i32()
            for _ in range(3):
                r.carr(lambda r: r.i32())
            r.tags()
        r.i32()
        r.tags()
        if n == name and err == 0:
            found = tid
    return found


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


# Error codes a client retries while a coordinator starts, loads or completes a transaction.
LOAD_IN_PROGRESS, NOT_AVAILABLE, CONCURRENT_TRANSACTIONS = 14, 15, 51
# ... and also while the id's previous transaction completes (a transactional producer's retries).
TXN_RETRY = (LOAD_IN_PROGRESS, NOT_AVAILABLE, CONCURRENT_TRANSACTIONS)


def batch(records, pid=-1, epoch=-1, seq=-1, transactional=False):
    """One v2 record batch of records [(key, value)], encoded by kafka-python (a real client's
    encoder), with the producer fields given: its bytes."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                  producer_id=pid, producer_epoch=epoch, base_sequence=seq, batch_size=1 << 20)
    for i, (k, v) in enumerate(records):
        b.append(i, timestamp=None, key=k, value=v, headers=[])
    return bytes(b.build())


def produce_on(c, topic, partition, records, txn_id=None, acks=-1, timeout_ms=10000):
    """Produce v3 of one partition's records (a batch's bytes) on connection c, carrying txn_id
    as the transactional id when given: (error code, base offset, log append time)."""
    body = W().str(txn_id).i16(acks).i32(timeout_ms).i32(1).str(topic).i32(1).i32(partition)
    body.i32(len(records)).raw(records)
    r = c.call(0, 3, body, False)
    r.i32()                 # topics
    r.str()
    r.i32()                 # partitions
    r.i32()
    return r.i16(), r.i64(), r.i64()


def produce(port, topic, partition, records, txn_id=None, acks=-1, timeout_ms=10000):
    """produce_on over a connection of its own: (error code, base offset)."""
    c = Conn(port)
    try:
        return produce_on(c, topic, partition, records, txn_id, acks, timeout_ms)[:2]
    finally:
        c.close()


def list_offsets_on(c, version, topic, partition, ts):
    """ListOffsets (flexible, v6+) of one partition: (error, timestamp, offset)."""
    body = W().i32(-1).i8(0).uvar(2).cstr(topic).uvar(2).i32(partition).i32(-1).i64(ts).tags().tags()
    if version >= 10:
        body.i32(10000)
    r = c.call(2, version, body.tags(), True)
    r.i32()
    r.uvar()
    r.cstr()
    r.uvar()
    r.i32()
    return r.i16(), r.i64(), r.i64()


def metadata_v4_on(c, topics, allow_auto):
    """Metadata v4 of the named topics on connection c: {name: (error code, [partition indexes],
    is_internal)} for the topics answered."""
    body = W().i32(len(topics))
    for t in topics:
        body.str(t)
    r = c.call(3, 4, body.i8(1 if allow_auto else 0), False)
    r.i32()                                                # throttle
    r.arr(lambda r: (r.i32(), r.str(), r.i32(), r.str()))  # brokers
    r.str()                                                # cluster id
    r.i32()                                                # controller

    def part(r):
        r.i16()
        index = r.i32()
        r.i32()                                            # leader
        for _ in range(2):                                 # replicas, isr (offline ones: v5)
            r.arr(lambda r: r.i32())
        return index

    out = {}
    for _ in range(r.i32()):
        err, name, internal = r.i16(), r.str(), r.bool()
        out[name] = (err, r.arr(part) or [], internal)
    return out


def metadata_v4(port, topics, allow_auto):
    """metadata_v4_on over a connection of its own."""
    c = Conn(port)
    try:
        return metadata_v4_on(c, topics, allow_auto)
    finally:
        c.close()


def create_topics_on(c, topics, validate_only=False, timeout_ms=30000):
    """CreateTopics v2 of [(name, partitions)] (replication factor 1, no assignments or configs)
    on connection c: [(name, error code, error message)] in the response's order."""
    body = W().i32(len(topics))
    for name, partitions in topics:
        body.str(name).i32(partitions).i16(1).i32(0).i32(0)
    r = c.call(19, 2, body.i32(timeout_ms).i8(1 if validate_only else 0), False)
    r.i32()                 # throttle
    return r.arr(lambda x: (x.str(), x.i16(), x.str()))


def create_partitions_on(c, topics, validate_only=False, timeout_ms=30000):
    """CreatePartitions v0 of [(name, new count)] (no assignments) on connection c:
    [(name, error code, error message)] in the response's order."""
    body = W().i32(len(topics))
    for name, count in topics:
        body.str(name).i32(count).i32(-1)
    r = c.call(37, 0, body.i32(timeout_ms).i8(1 if validate_only else 0), False)
    r.i32()                 # throttle
    return r.arr(lambda x: (x.str(), x.i16(), x.str()))


def alter_many_on(c, resources, incremental):
    """AlterConfigs v0 (or IncrementalAlterConfigs v0, SET) of [(type, name, {key: value})] on
    connection c: [(error code, error message, type, name)] in the response's order."""
    body = W().i32(len(resources))
    for rtype, name, configs in resources:
        body.i8(rtype).str(name).i32(len(configs))
        for k, v in configs.items():
            body.str(k)
            if incremental:
                body.i8(0)
            body.str(v)
    r = c.call(44 if incremental else 33, 0, body.i8(0), False)
    r.i32()                 # throttle
    return r.arr(lambda x: (x.i16(), x.str(), x.i8(), x.str()))


def alter_topic_on(c, topic, configs, incremental=False):
    """AlterConfigs v0 (the topic's whole set of overrides), or IncrementalAlterConfigs v0 (SET
    each one), of {name: value} on connection c: the resource's (error code, error message)."""
    res = alter_many_on(c, [(2, topic, configs)], incremental)
    return res[0][:2] if res else None


def incremental_alter_on(c, rtype, name, ops, validate_only=False):
    """IncrementalAlterConfigs v0 of one resource (rtype 2 topic, 4 broker) on connection c, ops a
    list of (config name, operation: 0 SET 1 DELETE 2 APPEND 3 SUBTRACT, value or None): the
    resource's (error code, error message)."""
    body = W().i32(1).i8(rtype).str(name).i32(len(ops))
    for k, op, v in ops:
        body.str(k).i8(op).str(v)
    r = c.call(44, 0, body.i8(1 if validate_only else 0), False)
    r.i32()                 # throttle
    res = r.arr(lambda x: (x.i16(), x.str(), x.i8(), x.str()))
    return res[0][:2] if res else None


def describe_configs_on(c, rtype, name, synonyms=True):
    """DescribeConfigs v1 of one resource (every key) on connection c: (error code, error message,
    {key: (value, source, read_only, [(synonym name, value, source)])})."""
    body = W().i32(1).i8(rtype).str(name).i32(-1).i8(1 if synonyms else 0)
    r = c.call(32, 1, body, False)
    r.i32()                 # throttle
    r.i32()                 # one result
    err, msg = r.i16(), r.str()
    r.i8()
    r.str()
    out = {}
    for _ in range(r.i32()):
        k, v, ro, src = r.str(), r.str(), r.bool(), r.i8()
        r.bool()            # sensitive
        out[k] = (v, src, ro, r.arr(lambda x: (x.str(), x.str(), x.i8())))
    return err, msg, out


def init_pid(port, txn_id, timeout=60000, pid=-1, epoch=-1, version=4, retry=(LOAD_IN_PROGRESS, NOT_AVAILABLE)):
    """InitProducerId (flexible, v3+): (error, producer id, epoch).  A refused or dropped
    connection (the broker starting its control process) and the error codes in `retry` are
    tried again for up to 30 s."""
    deadline = time.time() + 30
    while True:
        try:
            c = Conn(port)
            try:
                r = c.call(22, version, W().cstr(txn_id).i32(timeout).i64(pid).i16(epoch).tags(), True)
                r.i32()
                out = (r.i16(), r.i64(), r.i16())
            finally:
                c.close()
        except (ConnectionError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
            continue
        if out[0] not in retry or time.time() > deadline:
            return out
        time.sleep(0.1)


def describe_transactions(port, ids):
    """DescribeTransactions v0: {transactional id: (error, state, timeout ms, producer id, epoch,
    [(topic, partition)])}."""
    c = Conn(port)
    try:
        b = W().uvar(len(ids) + 1)
        for i in ids:
            b.cstr(i)
        r = c.call(65, 0, b.tags(), True)
        r.i32()
        out = {}
        for _ in range(r.uvar() - 1):
            err, tid, state, tmo = r.i16(), r.cstr(), r.cstr(), r.i32()
            r.i64()             # transaction start time
            pid, epoch = r.i64(), r.i16()
            parts = []
            for _ in range(r.uvar() - 1):
                t = r.cstr()
                parts += [(t, r.i32()) for _ in range(r.uvar() - 1)]
                r.tags()
            r.tags()
            out[tid] = (err, state, tmo, pid, epoch, parts)
        return out
    finally:
        c.close()


def describe(port, ids):
    """DescribeTransactions v0 without the partitions: {transactional id: (error, state, timeout
    ms, producer id, epoch)}."""
    return {tid: d[:5] for tid, d in describe_transactions(port, ids).items()}


def add_partitions_multi(port, txn_id, pid, epoch, topics, version=3):
    """AddPartitionsToTxn (flexible, v3) of topics [(topic, [partition])]: {(topic, partition): error}."""
    c = Conn(port)
    try:
        b = W().cstr(txn_id).i64(pid).i16(epoch).uvar(len(topics) + 1)
        for name, parts in topics:
            b.cstr(name).uvar(len(parts) + 1)
            for p in parts:
                b.i32(p)
            b.tags()
        r = c.call(24, version, b.tags(), True)
        r.i32()
        out = {}
        for _ in range(r.uvar() - 1):
            name = r.cstr()
            for _ in range(r.uvar() - 1):
                part, err = r.i32(), r.i16()
                r.tags()
                out[(name, part)] = err
            r.tags()
        return out
    finally:
        c.close()


def add_partitions(port, txn_id, pid, epoch, topic, parts, version=3):
    """AddPartitionsToTxn of one topic's partitions: {partition: error}."""
    got = add_partitions_multi(port, txn_id, pid, epoch, [(topic, parts)], version)
    return {p: e for (_t, p), e in got.items()}


def add_offsets(port, txn_id, pid, epoch, group):
    """AddOffsetsToTxn v3: the error code."""
    c = Conn(port)
    try:
        r = c.call(25, 3, W().cstr(txn_id).i64(pid).i16(epoch).cstr(group).tags(), True)
        r.i32()
        return r.i16()
    finally:
        c.close()


def end_txn(port, txn_id, pid, epoch, commit):
    """EndTxn v3: the error code."""
    c = Conn(port)
    try:
        r = c.call(26, 3, W().cstr(txn_id).i64(pid).i16(epoch).i8(1 if commit else 0).tags(), True)
        r.i32()
        return r.i16()
    finally:
        c.close()


def log_batches(log_dir):
    """The record batches in a partition directory's .log files, in file order, read from disk:
    yields (data, position, attributes, base timestamp, record count); stops at a torn tail."""
    import glob
    import os
    for f in sorted(glob.glob(os.path.join(log_dir, '*.log'))):
        with open(f, 'rb') as fh:
            data = fh.read()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack_from('>i', data, pos + 8)[0]
            if length < 49 or pos + 12 + length > len(data):
                break
            yield (data, pos, struct.unpack_from('>h', data, pos + 21)[0],
                   struct.unpack_from('>q', data, pos + 27)[0], struct.unpack_from('>i', data, pos + 57)[0])
            pos += 12 + length
