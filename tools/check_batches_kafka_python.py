#!/usr/bin/python3
"""Read record batches that Ringtail's builder wrote with kafka-python's own decoder, the way a
kafka-python consumer would, and check they hold golden_record(i) (see
capture_batches_kafka_python.py).  Used by tests/unit/proto/test_batch_golden.c:

    /usr/bin/python3 tools/check_batches_kafka_python.py DIR

DIR holds files named <codec>-<count>.bin (codec: none, gzip, snappy, lz4, zstd).  Exits 0 when
every file checks out, 1 (with a message naming file and record) otherwise.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture_batches_kafka_python import CODECS, golden_record  # noqa: E402

from kafka.record.default_records import DefaultRecordBatch  # noqa: E402


def check(path, codec, count):
    batch = DefaultRecordBatch(open(path, "rb").read())
    if not batch.validate_crc():
        return "bad CRC"
    if batch.compression_type != CODECS[codec]:
        return "compression %d, not %s" % (batch.compression_type, codec)
    records = list(batch)
    if len(records) != count:
        return "%d records, not %d" % (len(records), count)
    for i, r in enumerate(records):
        ts, key, value, headers = golden_record(i)
        got = (r.offset, r.timestamp, r.key, r.value, list(r.headers))
        want = (i, ts, key, value, headers)
        if got != want:
            return "record %d is %r, not %r" % (i, got, want)
    return None


def main():
    d = sys.argv[1]
    names = sorted(f for f in os.listdir(d) if f.endswith(".bin"))
    if not names:
        print("no batches in %s" % d)
        return 1
    bad = 0
    for name in names:
        codec, count = name[:-4].rsplit("-", 1)
        err = check(os.path.join(d, name), codec, int(count))
        print("%s: %s" % (name, err or "ok"))
        bad += err is not None
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
