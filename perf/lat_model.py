#!/usr/bin/python3
"""perf/lat_model.py: what issue 4's acks=-1 latency run would measure against a broker that adds
nothing to the disk (issue 4: is the p99 bounded by the disk?).

    lat_model.py SYNC8_RAW [--rtt-us R] [--rounds N] [--inflight N] [--seconds S]

(prints the model with one round in flight per partition and with N, 2 by default as sync.c
allows a lone producer; 5 in flight; 5 s)

SYNC8_RAW is bench_latency_limits' BLL_SYNC8_RAW file: the disk's own write + fdatasync times
under the run's pattern (8 files, 1 KiB appends, 1,250 a second each), with when each started.
The model replays ringtail-perf's acks=-1 run (10,000 records/s, 1 KiB records, 8 partitions,
linger 0, --inflight requests on one connection, open loop: latency from each record's slot)
against an ideal broker:
  - a request reaches the broker R/2 after it is sent and its answer the client R/2 after the
    answer is sent (R: the loopback round trip, default 30 us); nothing else costs time;
  - each partition runs group commit as sync.c does: a round starts the moment an append
    arrives and none of that partition's is in flight (--rounds 1; with 2, a second may start
    while one is in flight), and covers every append that arrived before it started; a round on
    file k that starts at time t lasts as long as the first recorded fdatasync of file k that
    started at or after t, or until the one running at t ended if that is later (the trace
    repeats when the model runs longer), so the disk's stalls hit every partition as they hit
    the 8 files;
  - a request is answered when every partition in it is covered, answers go in request order;
  - the client as ringtail-perf: the batching of the harness before 2026-11-25 ("closed", every
    record a batch of its own at linger 0) and after ("open", a batch takes records until its
    connection can send it), one batch per partition per request, sticky partitions.
Prints, per client variant, the model's p50/p99 and the disk's own p99 in the trace, so that the
broker's measured p99 can be put beside what a broker adding nothing would get on the same disk.
"""
import bisect
import heapq
import sys

SLOT_NS = 100000            # 10,000 records/s
PARTS = 8
BATCH_RECORDS = 15          # a 16 KiB batch holds 15 records of 1 KiB (+ their overhead)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q / 100.0 * len(v)))] if v else 0


def load(path):
    files = [[] for _ in range(PARTS)]
    for line in open(path):
        f = line.split()
        if len(f) == 3:
            files[int(f[0]) % PARTS].append((int(f[1]), int(f[2])))
    t0 = min(x[0][0] for x in files if x)
    span = max(x[-1][0] for x in files if x) - t0
    out = []
    for x in files:
        x.sort()
        out.append(([s - t0 for s, _ in x], [d for _, d in x]))
    return out, span


def model(trace, span, client, rtt_ns, rounds_max, inflight_max, seconds):
    n = int(seconds * 1e9 / SLOT_NS)
    owd = rtt_ns // 2

    def disk(p, t):
        # The first fdatasync of file k the trace started at or after t lasts the round; one that
        # started before t and was still running holds the round until it ended (a stall).
        starts, durs = trace[p]
        t %= span
        i = min(bisect.bisect_left(starts, t), len(starts) - 1)
        d = durs[i]
        if i and starts[i - 1] + durs[i - 1] > t + d:
            d = starts[i - 1] + durs[i - 1] - t
        return d

    ev = []                      # (time, seq, kind, data)
    seq = [0]

    def push(t, kind, data):
        seq[0] += 1
        heapq.heappush(ev, (t, seq[0], kind, data))

    for i in range(n):
        push(i * SLOT_NS, "rec", i)
    # client
    sticky = [0]
    open_batch = []              # records of the open batch (on partition sticky[0])
    pending = []                 # closed batches: (partition, [records])
    inflight = [0]
    done_at = [0] * n
    # broker
    reqs = {}                    # id -> {"parts": set, "recs": [...], "ready": t or None}
    order = []                   # request ids in arrival order (one connection)
    sent_upto = [0, 0]           # index into order of the next answer; time of the last answer
    app = [[] for _ in range(PARTS)]     # per partition: (arrival seq, request id) not yet durable
    arr_seq = [0] * PARTS
    rounds = [[] for _ in range(PARTS)]  # per partition: covered-up-to seq of rounds in flight
    covered = [0] * PARTS
    nreq = [0]

    def close_open():
        if open_batch:
            pending.append((sticky[0], list(open_batch)))
            open_batch.clear()
            sticky[0] = (sticky[0] + 1) % PARTS

    def try_send(t):
        if client == "open" and inflight[0] < inflight_max:
            close_open()
        while pending and inflight[0] < inflight_max:
            taken, rest, recs = set(), [], []
            for p, r in pending:
                if p in taken:
                    rest.append((p, r))
                else:
                    taken.add(p)
                    recs.append((p, r))
            pending[:] = rest
            nreq[0] += 1
            rid = nreq[0]
            reqs[rid] = {"parts": {p for p, _ in recs}, "recs": recs, "ready": None}
            inflight[0] += 1
            push(t + owd, "arrive", rid)

    def start_round(p, t):
        rd = [arr_seq[p], False]
        rounds[p].append(rd)
        push(t + disk(p, t), "round", (p, rd))

    def answer(t):
        while sent_upto[0] < len(order):
            r = reqs[order[sent_upto[0]]]
            if r["ready"] is None:
                break
            sent_upto[1] = max(sent_upto[1], r["ready"])
            push(sent_upto[1] + owd, "resp", order[sent_upto[0]])
            sent_upto[0] += 1

    while ev:
        t, _, kind, d = heapq.heappop(ev)
        if kind == "rec":
            if client == "closed":
                pending.append((sticky[0], [d]))
                sticky[0] = (sticky[0] + 1) % PARTS
            else:
                open_batch.append(d)
                if len(open_batch) >= BATCH_RECORDS:
                    close_open()
            try_send(t)
        elif kind == "arrive":
            order.append(d)
            for p, _ in reqs[d]["recs"]:
                arr_seq[p] += 1
                app[p].append((arr_seq[p], d))
                if len(rounds[p]) < rounds_max and (not rounds[p] or rounds[p][-1][0] < arr_seq[p]):
                    start_round(p, t)
        elif kind == "round":
            p, rd = d
            rd[1] = True
            # rounds are settled in issue order (sync.c): a later one counts once the earlier have
            while rounds[p] and rounds[p][0][1]:
                covered[p] = rounds[p].pop(0)[0]
            keep = []
            for s, rid in app[p]:
                if s <= covered[p]:
                    r = reqs[rid]
                    r["parts"].discard(p)
                    if not r["parts"]:
                        r["ready"] = t
                else:
                    keep.append((s, rid))
            app[p] = keep
            if app[p] and (not rounds[p] or rounds[p][-1][0] < arr_seq[p]) and len(rounds[p]) < rounds_max:
                start_round(p, t)
            answer(t)
        elif kind == "resp":
            inflight[0] -= 1
            for _, recs in reqs[d]["recs"]:
                for i in recs:
                    done_at[i] = t
            del reqs[d]
            try_send(t)
    warm = int(1e9 / SLOT_NS)
    lat = [(done_at[i] - i * SLOT_NS) / 1e3 for i in range(warm, n)]
    return pct(lat, 50), pct(lat, 99), nreq[0]


def main():
    args = sys.argv[1:]
    opt = {"--rtt-us": 30.0, "--rounds": 2, "--inflight": 5, "--seconds": 5.0}
    for k in list(opt):
        if k in args:
            i = args.index(k)
            opt[k] = type(opt[k])(args[i + 1])
            del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    trace, span = load(args[0])
    durs = [d / 1e3 for _, x in trace for d in x]
    print("disk (8 files, 1,250/s each): %d fdatasyncs over %.1f s, p50 %.1f p99 %.1f p99.9 %.1f max %.1f us"
          % (len(durs), span / 1e9, pct(durs, 50), pct(durs, 99), pct(durs, 99.9), max(durs)))
    for client in ("closed", "open"):
        for rounds in sorted({1, opt["--rounds"]}):
            p50, p99, nreq = model(trace, span, client, int(opt["--rtt-us"] * 1e3), rounds,
                                   opt["--inflight"], opt["--seconds"])
            print("model, client batches %-6s rounds %d inflight %d: p50 %.1f p99 %.1f us, %d requests"
                  % (client, rounds, opt["--inflight"], p50, p99, nreq))


if __name__ == "__main__":
    main()
