#!/usr/bin/python3
"""perf/sync_trace.py: where an acks=-1 round's fdatasync spends its time, from the block and
ext4 trace events of `perf script` (perf/sync_trace.sh records them during a latency run).

    perf script -i FILE -F comm,pid,tid,time,event,trace | perf/sync_trace.py PID [SKIP_S]

PID: the broker's process; only its fdatasyncs (ext4_sync_file_enter/exit on its io_uring
worker threads) are counted, the device's requests are everyone's (the disk is shared).  The
first SKIP_S seconds (default 1.5, the run's warm-up and the first window before preallocation)
are left out.  Prints:
  - the fdatasyncs: how many, p50/p90/p99/p99.9, and how many of them wrote their inode's table
    block (a synchronous metadata write "WSM" issued by the same thread between enter and exit:
    on ext4 without a journal an fdatasync writes the inode whenever it is dirty, e.g. after an
    mtime change), each group's percentiles;
  - the device: flushes per second (blk-mq runs one flush at a time and serves every waiter of
    the next one with it) and their device time, writes of at least 128 KiB (preallocation's
    zero chunks are written back as one request each) and their device time, and the most of
    them at the device at once (chunks of partitions that issue theirs together);
  - the fdatasyncs that ran while such a write was at the device, and their percentiles.
Pairs a request's issue with its completion by sector (the first unpaired issue); flushes are
paired in order (blk-mq has one in flight).  Diagnostics only; nothing here runs in `make test`.
"""
import collections
import re
import sys

LINE = re.compile(r'\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s+(.*)')
BIG = 128 * 1024


def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(len(a) * p))] if a else 0


def dist(a):
    return "n=%d p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f us" % (
        len(a), pct(a, .5), pct(a, .9), pct(a, .99), pct(a, .999))


def main():
    pid = int(sys.argv[1])
    skip = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5
    syncs = []                        # [enter, exit, wrote_inode]
    open_sync = {}                    # tid -> its record
    pend = collections.defaultdict(list)   # (kind, sector) -> [issue time, size]
    flush_issue = None
    flushes = []                      # device times (us)
    big = []                          # (issue, complete, size)
    t_first = None
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        comm, tgid, tid, t, ev, rest = m.groups()
        t = float(t)
        f = rest.split()
        if ev == 'ext4:ext4_sync_file_enter' and int(tgid) == pid and comm.startswith('iou-wrk'):
            if t_first is None:
                t_first = t
            open_sync[tid] = [t, None, False]
        elif ev == 'ext4:ext4_sync_file_exit' and tid in open_sync:
            r = open_sync.pop(tid)
            r[1] = t
            syncs.append(r)
        elif ev == 'block:block_rq_issue' and len(f) > 4:
            kind = f[1]
            if kind == 'FF':
                flush_issue = t
                continue
            if 'M' in kind and tid in open_sync:
                open_sync[tid][2] = True
            if kind.startswith('W'):
                pend[f[4]].append((t, int(f[2])))
        elif ev == 'block:block_rq_complete' and len(f) > 3:
            kind = f[1]
            if kind == 'FF':
                if flush_issue is not None:
                    flushes.append((flush_issue, (t - flush_issue) * 1e6))
                    flush_issue = None
                continue
            q = pend.get(f[3])
            if q and kind.startswith('W'):
                ti, size = q.pop(0)
                if size >= BIG and t - ti < 0.05:   # a longer one is a mispairing
                    big.append((ti, t, size))
    if t_first is None:
        sys.exit("sync_trace: no fdatasync of process %d in the trace" % pid)
    syncs = [r for r in syncs if r[0] - t_first >= skip]
    if not syncs:
        sys.exit("sync_trace: no fdatasync after the first %.1f s" % skip)
    span = syncs[-1][1] - syncs[0][0]
    lo, hi = syncs[0][0], syncs[-1][1]
    dur = lambda rs: [(r[1] - r[0]) * 1e6 for r in rs]
    print("fdatasyncs (broker %d, from %.1f s on, %.1f s):  %s" % (pid, skip, span, dist(dur(syncs))))
    ino = [r for r in syncs if r[2]]
    print("  that wrote the inode's block: %.0f%%: %s" % (100 * len(ino) / len(syncs), dist(dur(ino))))
    print("  the others:                        %s" % dist(dur([r for r in syncs if not r[2]])))
    fl = [d for ti, d in flushes if lo <= ti <= hi]
    print("device flushes: %.0f/s for %.0f fdatasyncs/s; device time %s" % (
        len(fl) / span if span else 0, len(syncs) / span if span else 0, dist(fl)))
    bw = [b for b in big if lo <= b[0] <= hi]
    burst, at = 0, []
    for ti, tc, _ in bw:   # in issue order: the most at the device at once
        at = [c for c in at if c > ti] + [tc]
        burst = max(burst, len(at))
    print("writes >= 128 KiB: %d (%.1f/s), mean %.0f KiB, device time %s; at most %d at the device at once" % (
        len(bw), len(bw) / span if span else 0, sum(b[2] for b in bw) / 1024 / len(bw) if bw else 0,
        dist([(b[1] - b[0]) * 1e6 for b in bw]), burst))
    ov, rest_ = [], []
    for r in syncs:
        hit = False
        for ti, tc, _ in bw:
            if ti < r[1] and tc > r[0]:
                hit = True
                break
        (ov if hit else rest_).append(r)
    print("  fdatasyncs beside one at the device: %.1f%%: %s" % (100 * len(ov) / len(syncs), dist(dur(ov))))
    print("  the others:                             %s" % dist(dur(rest_)))


if __name__ == '__main__':
    main()
