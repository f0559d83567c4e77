#!/usr/bin/python3
"""perf/lat_records.py: where each produce record's time went, record by record (issue 4).

    lat_records.py CLIENT_ROWS BROKER_ROWS [--skip S]

CLIENT_ROWS is ringtail-perf's --trace-records file (corr partition slot sent answered, one line
per acknowledged record), BROKER_ROWS the broker's RINGTAIL_LT_ROWS file (a lat_trace build:
base/lat_trace.h, 'A' rows per append and 'R' rows per response).  Both clocks are this machine's
CLOCK_MONOTONIC, so a record's life is cut into consecutive pieces that add up to its latency:

  client wait   slot -> request written (the in-flight limit, linger, the harness's lateness)
  to broker     request written -> frame complete on the broker
  to owner      frame complete -> the append runs on its partition's owner
  write         owner -> the append's write completion reaped
  round wait    write completion -> a group-commit round covering it issued (0 when the round
                went linked to the write)
  round         round issued (or write completion, when linked) -> storage done
  back          storage done -> the outcome on the connection's shard
  other parts   -> the request's last partition back (the slowest partition of its request)
  order wait    -> the response's send issued (earlier responses on the connection first)
  send          send issued -> its completion
  to client     -> the client has read the answer

Records whose slot falls in the first S seconds (the harness's warm-up, 1 by default) are left
out, as the harness leaves them out of its histograms.  Prints the latency percentiles and, for
the records at and above the p99 (and for a band around it), the mean of every piece.
"""
import sys
from collections import defaultdict

PIECES = ["client wait", "to broker", "to owner", "write", "round wait", "round", "back",
          "other parts", "order wait", "send", "to client"]


def pct(v, q):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(q / 100.0 * len(v)))]


def main():
    args = sys.argv[1:]
    skip = 1.0
    if "--skip" in args:
        i = args.index("--skip")
        skip = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    recs = []
    for line in open(args[0]):
        f = line.split()
        if len(f) == 5:
            recs.append((int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4])))
    apps, resps = {}, {}
    for line in open(args[1]):
        f = line.split()
        if len(f) < 5:
            continue
        t = [int(x) for x in f[4:]]
        if f[0] == "A":
            apps[(int(f[2]), int(f[3]))] = t
        elif f[0] == "R":
            resps[int(f[2])] = t
    if not recs:
        sys.exit("no client rows")
    t0 = min(r[2] for r in recs) + skip * 1e9
    rows = []
    missing = 0
    for corr, part, slot, sent, ans in recs:
        if slot < t0:
            continue
        a, r = apps.get((corr, part)), resps.get(corr)
        if not a or not r or not all(a[:4]) or not a[5] or not a[6] or not all(r[:5]):
            missing += 1
            continue
        recv, _handler, owner, written, rnd, done, back = a[:7]
        _rrecv, lastback, _decided, send, sentcqe = r[:5]
        rstart = max(rnd, written) if rnd else written
        p = [sent - slot, recv - sent, owner - recv, written - owner, rstart - written,
             done - rstart, back - done, lastback - back, send - lastback, sentcqe - send,
             ans - sentcqe]
        rows.append((ans - slot, [x / 1e3 for x in p], part, corr))
    if not rows:
        sys.exit("no record found in both files (%d missing)" % missing)
    lat = [x[0] / 1e3 for x in rows]
    print("records %d (%d without broker rows); latency p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f us"
          % (len(rows), missing, pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 99.9), max(lat)))
    p98, p99, p995 = pct(lat, 98), pct(lat, 99), pct(lat, 99.5)
    bands = [("all", lambda x: True),
             ("p98-p99.5", lambda x: p98 <= x < p995),
             (">= p99", lambda x: x >= p99)]
    print("%-12s" % "piece" + "".join("%14s" % b[0] for b in bands) + "%12s%12s" % ("p50 alone", "p99 alone"))
    sel = [[r for r in rows if b[1](r[0] / 1e3)] for b in bands]
    for k, name in enumerate(PIECES):
        col = [sum(r[1][k] for r in s) / max(1, len(s)) for s in sel]
        alone = [r[1][k] for r in rows]
        print("%-12s" % name + "".join("%14.1f" % c for c in col) + "%12.1f%12.1f" % (pct(alone, 50), pct(alone, 99)))
    print("%-12s" % "(records)" + "".join("%14d" % len(s) for s in sel))
    # How many partitions the tail's requests carried, and how many requests were in flight.
    parts = defaultdict(int)
    for _lat, _p, _part, corr in rows:
        parts[corr] += 1
    for name, s in zip([b[0] for b in bands], sel):
        n = [parts[r[3]] for r in s]
        print("records per request (%s): mean %.2f" % (name, sum(n) / max(1, len(n))))


if __name__ == "__main__":
    main()
