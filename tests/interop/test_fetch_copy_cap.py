#!/usr/bin/python3
"""
tests/interop/test_fetch_copy_cap.py: a copying broker (ringtail.fetch.zero.copy=false) bounds
what one fetch allocates, and answers within Kafka's byte limits.  A topic of 24 partitions holds
5 batches of 256 KiB in each.  Checked, with Fetch v4 on a raw connection:
- max_bytes 1 MiB and partition_max_bytes int32-max on every partition: the broker's peak
  resident memory (VmHWM, reset before) grows by well under the 24 MiB that copying each
  partition's own range would take, and the answer is the first partitions in request order,
  whole batches from offset 0, within 1 MiB;
- max_bytes 100 KiB: the first partition's first batch (256 KiB) still comes whole (min_one);
- max_bytes int32-max: the broker's fetch.max.bytes (2 MiB here) caps the answer, as Kafka's
  (without it, all 30 MiB would come).
Then the same data through the default zero-copy path (restarted with fetch.max.bytes 64 MiB):
one fetch answers all 30 MiB while the broker's peak memory grows by well under 8 MiB, so the
records went from the files to the socket without passing through its memory.
Usage: test_fetch_copy_cap.py <path to ringtail>
"""
import os
import sys

import kwire
from confluent_kafka.admin import AdminClient, NewTopic
from rtbroker import Broker, run_tap

NPART = 24
NBATCH = 5
VALUE = 256 * 1024
CAP = 2 * 1024 * 1024        # the broker's fetch.max.bytes
INT32_MAX = 2 ** 31 - 1


def fetch_v4(port, topic, parts, max_bytes, part_max):
    """Fetch v4 from offset 0: [(partition, error, records bytes)] in answer order."""
    c = kwire.Conn(port)
    try:
        body = kwire.W().i32(-1).i32(0).i32(0).i32(max_bytes).i8(0).i32(1).str(topic).i32(len(parts))
        for p in parts:
            body.i32(p).i64(0).i32(part_max)
        r = c.call(1, 4, body, False)
        r.i32()
        out = []
        for _ in range(r.i32()):
            r.str()
            for _ in range(r.i32()):
                p, err = r.i32(), r.i16()
                r.i64()
                r.i64()
                r.arr(lambda r: (r.i64(), r.i64()))
                n = r.i32()
                out.append((p, err, r.take(n) if n > 0 else b''))
        return out
    finally:
        c.close()


def batches(d):
    """[(base offset, size)] of the whole batches in d; None when d ends inside one."""
    out, pos = [], 0
    while pos < len(d):
        if pos + 12 > len(d):
            return None
        n = int.from_bytes(d[pos + 8:pos + 12], 'big')
        if pos + 12 + n > len(d):
            return None
        out.append((int.from_bytes(d[pos:pos + 8], 'big'), 12 + n))
        pos += 12 + n
    return out


def main(tap):
    overrides = {'ringtail.fetch.zero.copy': 'false', 'fetch.max.bytes': str(CAP)}
    with Broker(sys.argv[1], overrides=overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        admin.create_topics([NewTopic('cap', NPART, 1)], operation_timeout=30)['cap'].result(60)
        errs = []
        c = kwire.Conn(b.port)
        for p in range(NPART):
            for i in range(NBATCH):
                e = kwire.produce_on(c, 'cap', p, kwire.batch([(None, os.urandom(VALUE))]))[0]
                if e:
                    errs.append((p, i, e))
        c.close()
        tap.ok(not errs, '%d partitions of %d batches of %d KiB produced' % (NPART, NBATCH, VALUE // 1024), errs[:3])
        batch_size = len(kwire.batch([(None, b'x' * VALUE)]))

        # No fetch before: memory a fetch freed stays resident for the next to reuse unseen.
        b.reset_peak_rss()
        before = b.peak_rss_kib()
        got = fetch_v4(b.port, 'cap', list(range(NPART)), 1 << 20, INT32_MAX)
        grown = b.peak_rss_kib() - before
        tap.ok(0 <= grown < 8 * 1024, 'max_bytes 1 MiB over %d partitions of int32-max: the broker\'s peak '
               'memory grew by %d KiB (copying every range would take %d KiB)'
               % (NPART, grown, NPART * (1 << 20) // 1024), grown)
        total = sum(len(d) for _, _, d in got)
        with_data = [p for p, _, d in got if d]
        tap.ok(not any(e for _, e, _ in got), 'no partition error', [(p, e) for p, e, _ in got if e][:3])
        tap.ok(0 < total <= 1 << 20 and with_data == list(range(len(with_data))),
               'the answer is the first partitions in request order within 1 MiB', (total, with_data))
        seen = [batches(d) for _, _, d in got if d]
        tap.ok(all(bs and bs == [(i, batch_size) for i in range(len(bs))] for bs in seen),
               'whole batches from offset 0, as produced', seen)

        got = fetch_v4(b.port, 'cap', list(range(NPART)), 100 * 1024, INT32_MAX)
        first = [(p, batches(d)) for p, _, d in got if d]
        tap.ok(first == [(0, [(0, batch_size)])], 'max_bytes 100 KiB: the first partition\'s first batch '
               '(%d bytes) comes whole, nothing else' % batch_size, first)

        got = fetch_v4(b.port, 'cap', list(range(NPART)), INT32_MAX, INT32_MAX)
        total = sum(len(d) for _, _, d in got)
        with_data = [p for p, _, d in got if d]
        tap.ok(0 < total <= CAP and with_data == list(range(len(with_data))),
               'max_bytes int32-max: the broker\'s fetch.max.bytes (%d) caps the answer: %d bytes of the '
               'first partitions (of %d)' % (CAP, total, NPART * NBATCH * batch_size), (total, with_data))
        tap.ok(all(batches(d) for _, _, d in got if d), 'in whole batches')

        # The default path (issue 4: fetched records go from the segment files to the socket
        # without a user-space buffer): the same data through a restart with
        # ringtail.fetch.zero.copy at its default and a fetch.max.bytes that takes all of it.
        tap.ok(b.stop() == 0, 'SIGTERM: exit status 0')
        b.overrides = {'fetch.max.bytes': str(64 << 20)}
        b.start()
        every = NPART * NBATCH * batch_size
        got = fetch_v4(b.port, 'cap', list(range(NPART)), 1 << 20, INT32_MAX)  # opens the segments
        b.reset_peak_rss()
        before = b.peak_rss_kib()
        got = fetch_v4(b.port, 'cap', list(range(NPART)), INT32_MAX, INT32_MAX)
        grown = b.peak_rss_kib() - before
        total = sum(len(d) for _, _, d in got)
        tap.ok(total == every and all(batches(d) for _, _, d in got),
               'zero-copy (the default): one fetch answers all %d bytes in whole batches' % every, total)
        tap.ok(0 <= grown < 8 * 1024, 'and the broker\'s peak memory grew by %d KiB for it: the records '
               'did not pass through its memory' % grown, grown)


run_tap(main)
