#!/usr/bin/python3
"""Capture record batches (magic 2) written by kafka-python's own batch builder, one file per
codec and producer mode, for the golden tests in tests/unit/proto/test_batch_golden.c.

Run with Debian's interpreter (python3-kafka, python3-snappy, python3-lz4, python3-zstandard):
    /usr/bin/python3 tools/capture_batches_kafka_python.py tests/unit/proto/data/batches

The records follow golden_record(i) below; the C test computes the same records and compares
every field, so a change here must be mirrored there.  The bytes are whatever kafka-python
writes: the C side never re-encodes them, it decodes and validates them.
"""
import os
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder

BASE_TS = 1700000000000
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def golden_record(i):
    """(timestamp, key, value, headers) of record i, mirrored in test_batch_golden.c."""
    key = None if i % 5 == 4 else b"key-%d" % i
    if i % 9 == 8:
        value = None
    elif i % 13 == 12:
        value = b""
    else:
        value = (b"value-%d-" % i) * (i % 17 + 1)
    headers = []
    for j in range(i % 3):
        hv = None if (i + j) % 4 == 3 else b"v%d" % (i * j)
        headers.append(("h%d" % j, hv))
    return BASE_TS + i * 3, key, value, headers


def build(codec, count, producer_id=-1, epoch=-1, seq=-1, transactional=False):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[codec],
                                  is_transactional=transactional, producer_id=producer_id,
                                  producer_epoch=epoch, base_sequence=seq,
                                  batch_size=1 << 30)
    for i in range(count):
        ts, key, value, headers = golden_record(i)
        if b.append(i, timestamp=ts, key=key, value=value, headers=headers) is None:
            raise SystemExit("kafka-python refused record %d" % i)
    return bytes(b.build())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/unit/proto/data/batches"
    os.makedirs(out, exist_ok=True)
    files = {}
    for codec in CODECS:
        files["kafka-python-%s.bin" % codec] = build(codec, 200)
    files["kafka-python-idempotent-zstd.bin"] = build("zstd", 50, producer_id=1001, epoch=2, seq=17)
    files["kafka-python-transactional-gzip.bin"] = build("gzip", 30, producer_id=1002, epoch=0, seq=0,
                                                         transactional=True)
    # Big enough for several xerial chunks (32 KiB each) and several LZ4 blocks (64 KiB).
    files["kafka-python-large-snappy.bin"] = build("snappy", 3000)
    files["kafka-python-large-lz4.bin"] = build("lz4", 3000)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print("%-40s %7d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
