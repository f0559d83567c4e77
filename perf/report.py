#!/usr/bin/python3
"""perf/report.py: turns the JSON results of perf/run.sh into OUT/report.md and PNG plots.

usage: perf/report.py OUT [--check [--tap]]

OUT/json holds one file per run, named SYSTEM__SCENARIO.json (ringtail-perf's result) or
limit__NAME.json (memcpy, iperf3, fio).  The report sets Ringtail beside the limits measured in
the same run (Ringtail / limit) and beside each peer under the same workload (Ringtail / peer).
--check also verifies that every run's numbers are sane (what `perf/run.sh --short` is for) and
exits 1 naming each one that is not; --tap prints one TAP line per run and limit on stdout.
OUT/json/NAME.failed marks a run whose ringtail-perf failed (its log's last lines).  Standard library only; plots need gnuplot (gnuplot-nox).
"""
import glob
import json
import os
import shutil
import subprocess
import sys

SYSTEMS = [("ringtail", "Ringtail"), ("mock", "rdkafka mock"), ("nats", "NATS JetStream"),
           ("redis", "Redis Streams")]
PEERS = SYSTEMS[1:]


def load_failed(out):
    failed = {}
    for path in sorted(glob.glob(os.path.join(out, "json", "*.failed"))):
        with open(path) as f:
            failed[os.path.basename(path)[:-7].replace("__", "/")] = " ".join(f.read().split())
    return failed


def load(out):
    runs, limits = {}, {}
    for path in sorted(glob.glob(os.path.join(out, "json", "*.json"))):
        name = os.path.basename(path)[:-5]
        system, _, scenario = name.partition("__")
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: {path}: {e}", file=sys.stderr)
            continue
        if system == "limit":
            limits[scenario] = data
        else:
            runs[(system, scenario)] = data
    return runs, limits


def limit_figures(limits):
    """MB/s (10^6 bytes per second) of each limit that was measured."""
    fig = {}
    m = limits.get("memcpy", {}).get("memcpy", [])
    if m:
        fig["memcpy (cache-sized)"] = m[0]["gb_per_s"] * 1000
        fig["memcpy (memory-sized)"] = m[-1]["gb_per_s"] * 1000
    ip = limits.get("iperf3", {})
    try:
        fig["iperf3 loopback"] = ip["end"]["sum_received"]["bits_per_second"] / 8 / 1e6
    except (KeyError, TypeError):
        pass
    for bs in ("16k", "1m"):
        for sync in ("0", "1"):
            fio = limits.get(f"fio-{bs}-sync{sync}", {})
            try:
                w = fio["jobs"][0]["write"]
                label = f"fio write {bs} " + ("fdatasync each" if sync == "1" else "buffered")
                fig[label] = w["bw_bytes"] / 1e6
            except (KeyError, IndexError, TypeError):
                pass
    return fig


def mbs(run, kind="produce"):
    if not run:
        return None
    return run.get(f"{kind}_mb_per_s")


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) < 10 and digits == 1:
        return f"{v:.2f}"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def partition_cost(r):
    """Per-partition cost of a primed run from the broker's holdings before set-up and once every
    partition was written (ringtail-perf's broker_setup / broker_ready), or None."""
    a, b, n = r.get("broker_setup"), r.get("broker_ready"), r.get("primed_partitions") or 0
    if not a or not b or n <= 0 or r.get("create_s") is None:
        return None
    return {"create_s": r["create_s"], "create_per_s": r["partitions"] / r["create_s"] if r["create_s"] > 0 else None,
            "prime_s": r["prime_s"],
            "fds": (b["fds"] - a["fds"] - b.get("harness_connections", 0)) / n,
            "maps": (b["maps"] - a["maps"]) / n if b.get("maps", -1) >= 0 and a.get("maps", -1) >= 0 else None,
            "rss_kib": (b["rss_kb"] - a["rss_kb"]) / n, "vm_kib": (b["vm_kb"] - a["vm_kb"]) / n,
            "cpu_ms": (b["cpu_s"] - a["cpu_s"]) * 1e3 / n}


def lat(run, kind, key):
    if not run:
        return None
    v = run.get("latency_ms", {}).get(kind, {})
    return v.get(key) if v.get("count") else None


def produce_limit(lim, acks):
    """The slowest part a produce must cross: the loopback network, then the disk write at the
    scenario's write size (16 KiB batches), buffered for acks=1 and synced for acks=-1."""
    net = lim.get("iperf3 loopback")
    disk = lim.get("fio write 16k " + ("fdatasync each" if acks == "-1" else "buffered"))
    vals = [v for v in (net, disk) if v]
    name = "iperf3" if net and (not disk or net <= disk) else ("fio 16k sync" if acks == "-1" else "fio 16k")
    return (min(vals), name) if vals else (None, "-")


def scenarios(runs, system, prefix):
    return sorted((s for (sy, s) in runs if sy == system and s.startswith(prefix)),
                  key=lambda s: [int(x) if x.isdigit() else x for x in s.replace("-", " ").split()])


def gen(g):
    """A group's generation count; librdkafka's members cannot see theirs (-1)."""
    v = g.get("generations", "-")
    return "n/a" if isinstance(v, int) and v < 0 else v


def behind(r):
    """Why an open-loop run did not keep up with its offered load ("" when it did): it fell so far
    behind that the harness stopped, it got fewer records acknowledged than the schedule made due,
    or its consumers saw (or were handed) less than was produced."""
    if r.get("mode") != "e2e" or not r.get("rate_target"):
        return ""
    if r.get("fell_behind"):
        return f"fell 1 GiB behind the offered {r['rate_target']:,.0f} records/s and was stopped"
    due = r["rate_target"] * r.get("duration_s", 0)
    if due and r["acked_records"] < 0.9 * due:
        return f"{r['acked_records']:,} of the {due:,.0f} records due were acknowledged"
    if r["acked_records"] and r["consumed_records"] < 0.9 * r["acked_records"]:
        skipped = r.get("skipped_records", 0)
        return (f"consumers read {r['consumed_records']:,} of {r['acked_records']:,} records"
                + (f" ({skipped:,} dropped by the server before they were read)" if skipped else ""))
    return ""


def e2e_bound(r, cores, load):
    """What held a flat-out e2e run (max-e2e) back, from its own figures: the CPU time of the
    server and of the load generator over the run against the machine's cores, the consumers'
    rate against the producers', and the machine's load average (other processes)."""
    el = r.get("elapsed_s") or 0
    if el <= 0:
        return "-"
    b = (r.get("broker_cpu_s") or 0) / el
    h = (r.get("harness_cpu_s") or 0) / el
    prod, cons = r["produce_records_per_s"], r["consume_records_per_s"]
    use = f"server {b:.2f} + load generator {h:.2f} cores"
    if cores and b + h >= 0.85 * cores:
        return f"the machine's {cores} cores ({use})"
    if prod and cons < 0.95 * prod:
        return f"the consumers (they read {cons / prod:.0%} of the produced rate; {use})"
    if b >= 0.85:
        return f"the server's CPU ({use})"
    if cores and load is not None and load >= cores:
        return (f"other processes: the machine's load average was {load:.1f} on {cores} cores, and this "
                f"run got {use}")
    return f"not CPU ({use} of {cores or '?'}): waiting (I/O, fetch waits)"


def report(out, runs, limits):
    lim = limit_figures(limits)
    md = ["# Ringtail performance report", ""]
    note = os.environ.get("RINGTAIL_NOTE", "")
    have_rt = any(sy == "ringtail" for (sy, _) in runs)
    md += ["Produced by `make perf` (perf/run.sh); perf/README.md says what each scenario means. "
           "MB = 10^6 bytes of record payload; latencies in ms; ratios are Ringtail / other "
           "(above 1 means Ringtail moves more bytes; for latency, above 1 means Ringtail is slower).", ""]
    machine = {}
    try:
        with open(os.path.join(out, "machine.txt")) as f:
            m = machine = dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)
        md += [f"Machine: {m.get('cores', '?')} cores; {m.get('start', '?')}; {m.get('end', '')} "
               "(load averages over 1, 5, 15 minutes: anything near or above the core count means "
               "the run shared the CPUs and its figures are noisy); open files limit "
               f"{m.get('nofile', '?')}."]
        if "data_peak_mb" in m:
            md += [f"Run output: at most {int(m['data_peak_mb']):,} MB of data on disk at once (each run's "
                   "topic is deleted when no later run reads it); free space on its file system "
                   f"{int(m.get('disk_free_mb_start', 0)):,} MB before the run, "
                   f"{int(m.get('disk_free_mb_end', 0)):,} MB after."]
        md += [""]
    except (OSError, ValueError):
        pass
    if not have_rt:
        md += [f"**Ringtail was not measured in this run**: {note or 'no Ringtail results'}. "
               "The limits and peers below were measured.", ""]

    # Summary.
    md += ["## Summary", "",
           "| scenario | Ringtail | limit | Ringtail / limit | " +
           " | ".join(n for _, n in PEERS) + " | " + " | ".join(f"Ringtail / {n}" for _, n in PEERS) + " |",
           "|---" * (4 + 2 * len(PEERS)) + "|"]
    prod = sorted({s for (_, s) in runs if s.startswith("produce-")},
                  key=lambda s: (int(s.split("-")[1]), s))
    for s in prod:
        acks = s.split("acks")[1]
        limv, limn = produce_limit(lim, acks)
        rt = mbs(runs.get(("ringtail", s)))
        peers = [mbs(runs.get((p, s))) for p, _ in PEERS]
        md.append(f"| {s} MB/s | {fmt(rt)} | {fmt(limv)} ({limn}) | {ratio(rt, limv)} | " +
                  " | ".join(fmt(v) for v in peers) + " | " + " | ".join(ratio(rt, v) for v in peers) + " |")
    for s in sorted({s for (_, s) in runs if s.startswith("consume-")}):
        limv = lim.get("iperf3 loopback")
        rt = mbs(runs.get(("ringtail", s)), "consume")
        peers = [mbs(runs.get((p, s)), "consume") for p, _ in PEERS]
        md.append(f"| {s} MB/s | {fmt(rt)} | {fmt(limv)} (iperf3) | {ratio(rt, limv)} | " +
                  " | ".join(fmt(v) for v in peers) + " | " + " | ".join(ratio(rt, v) for v in peers) + " |")
    def e2e_cell(r):
        v = fmt(lat(r, "e2e", "p99"), 3)
        return v + " (behind)" if r and behind(r) else v
    def e2e_max(r):
        return min(r["produce_records_per_s"], r["consume_records_per_s"]) if r else None
    if any(s == "max-e2e" for (_, s) in runs):
        rt = e2e_max(runs.get(("ringtail", "max-e2e")))
        peers = [e2e_max(runs.get((p, "max-e2e"))) for p, _ in PEERS]
        md.append(f"| e2e maximum records/s (consumers reading) | {fmt(rt, 0)} | - | - | " +
                  " | ".join(fmt(v, 0) for v in peers) + " | " + " | ".join(ratio(rt, v) for v in peers) + " |")
    for s in sorted({s for (_, s) in runs if s.startswith("e2e-")}, key=lambda s: int(s.split("-")[1])):
        rtr = runs.get(("ringtail", s))
        rt = lat(rtr, "e2e", "p99")
        peers = [runs.get((p, s)) for p, _ in PEERS]
        # A latency measured while a system fell behind is not comparable: no ratio for it.
        md.append(f"| {s}% of max, e2e p99 ms | {e2e_cell(rtr)} | - | - | " +
                  " | ".join(e2e_cell(r) for r in peers) + " | " +
                  " | ".join("-" if (r and behind(r)) or (rtr and behind(rtr)) else ratio(rt, lat(r, "e2e", "p99"))
                             for r in peers) + " |")
    md.append("")
    lagging = [(sy, s, behind(r)) for (sy, s), r in sorted(runs.items()) if behind(r)]
    if lagging:
        md += ["Could not keep up (each system's e2e points are fractions of its own e2e maximum, measured "
               "flat out with the consumers reading; a system that still cannot carry that load is "
               "reported here, and its latency at that point is not compared):", ""]
        md += [f"- {sy} {s}: {why}" for sy, s, why in lagging] + [""]

    md += ["## Physical limits (same run)", "", "| limit | MB/s |", "|---|---|"]
    md += [f"| {k} | {fmt(v)} |" for k, v in lim.items()]
    md.append("")

    def run_table(title, rows, extra=None):
        nonlocal md
        if not rows:
            return
        md += [f"## {title}", "",
               "| system | scenario | records/s | MB/s | p50 | p99 | p99.9 | p99.99 | max | broker CPU s/GB | errors |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (sy, s) in rows:
            r = runs[(sy, s)]
            kind = "e2e" if r["mode"] == "e2e" else "produce"
            side = "consume" if r["mode"] == "consume" else "produce"
            cpu = r.get("broker_cpu_s_per_gb")
            md.append(f"| {sy} | {s} | {fmt(r[side + '_records_per_s'], 0)} | {fmt(r[side + '_mb_per_s'])} | " +
                      " | ".join(fmt(lat(r, kind, k), 3) for k in ("p50", "p99", "p99_9", "p99_99", "max")) +
                      f" | {fmt(cpu, 2) if cpu is not None else '-'} | {r['errors']} |")
        md.append("")
        if extra:
            md += extra

    order = {sy: i for i, (sy, _) in enumerate(SYSTEMS)}
    def rows(prefix):
        return sorted(((sy, s) for (sy, s) in runs if s.startswith(prefix)),
                      key=lambda k: (order.get(k[0], 9), [int(x) if x.isdigit() else x for x in k[1].split("-")]))

    run_table("Produce", rows("produce-"),
              ["Latency: produce request to acknowledgement, per record, from its creation (flat-out runs "
               "are closed-loop: not corrected for coordinated omission).", ""])
    run_table("Consume from the page cache", rows("consume-"))
    maxes = [k for k in rows("max-e2e")]
    if maxes:
        cores = int(machine["cores"]) if str(machine.get("cores", "")).isdigit() else 0
        loads = [float(x) for x in (machine.get("start", "") + " " + machine.get("end", "")).split()
                 if x.replace(".", "", 1).isdigit()]
        load = max(loads[0::3]) if loads else None   # the 1-minute averages at start and end
        md += ["## End-to-end maximum", "",
               "| system | producers only records/s | e2e maximum records/s | e2e / producers only | "
               "produced /s | consumed /s | e2e p99 ms | what bounds it |",
               "|---|---|---|---|---|---|---|---|"]
        for (sy, s) in maxes:
            r = runs[(sy, s)]
            po = runs.get((sy, "produce-1024-acks1"))
            po = po["produce_records_per_s"] if po else None
            mx = e2e_max(r)
            md.append(f"| {sy} | {fmt(po, 0)} | {fmt(mx, 0)} | {ratio(mx, po)} | "
                      f"{fmt(r['produce_records_per_s'], 0)} | {fmt(r['consume_records_per_s'], 0)} | "
                      f"{fmt(lat(r, 'e2e', 'p99'), 3)} | {e2e_bound(r, cores, load)} |")
        md += ["", "The e2e workload (1 KiB records, acks=1, 8 partitions) flat out: producers as fast as "
               "their queues allow while the consumers read. Its maximum is the lower of the rates "
               "acknowledged and consumed over the run (the drain included); the e2e points below are "
               "fractions of it. What bounds it comes from the run's own CPU seconds (server process tree "
               "and the load generator, over the run) against the machine's cores; other processes on the "
               "machine show in its load averages above.", ""]
    run_table("End-to-end latency against offered load", rows("e2e-"),
              ["Open loop at the given percentage of the system's own e2e maximum (above); latency "
               "from each record's intended send time (coordinated-omission corrected) to a consumer "
               "seeing it.", ""])
    parts = rows("partitions-")
    notes = []
    cost = []
    for (sy, s) in parts:
        r = runs[(sy, s)]
        if not r.get("primed_partitions"):
            notes.append(f"- {sy} {s}: not primed: the figure includes creating each partition's log on "
                         "its first write, not only writing (perf/README.md).")
        c = partition_cost(r)
        # Below 16 partitions the descriptors and memory the previous run's deleted topic is
        # still giving back outweigh the partitions' own.
        if c and r["primed_partitions"] >= 16:
            cost.append(f"| {sy} | {s} | {fmt(c['create_s'], 1)} | {fmt(c['create_per_s'], 0)} | "
                        f"{fmt(c['prime_s'], 1)} | {fmt(c['fds'], 2)} | {fmt(c['maps'], 2)} | {fmt(c['rss_kib'], 1)} | "
                        f"{fmt(c['vm_kib'], 0)} | {fmt(c['cpu_ms'], 2)} |")
    if cost:
        notes += ([""] if notes else []) + ["What each partition cost the broker, from its process before CreateTopics and after "
                  "every partition had been written once (--prime): creation time (CreateTopics until "
                  "Metadata gave every leader), the priming time, and per partition the descriptors "
                  "(the harness's own connections taken off), memory mappings (vm.max_map_count bounds them), resident and virtual memory and CPU "
                  "(creating and priming); runs of 16 partitions or more.", "",
                  "| system | scenario | create s | created/s | prime s | descriptors | mappings | RSS KiB | "
                  "virtual KiB | CPU ms |", "|---|---|---|---|---|---|---|---|---|---|"] + cost
    try:
        with open(os.path.join(out, "skipped.txt")) as f:
            skipped = [line.strip() for line in f if line.strip()]
    except OSError:
        skipped = []
    skipped = [f"- {line}" for line in skipped if " partitions-" in line]
    if skipped:
        notes += [""] + skipped
    run_table("Partitions", parts, notes + [""] if parts else None)
    groups = [k for k in rows("") if runs[k].get("group")]
    run_table("Consumer group", groups)
    if groups:
        md += ["| system | scenario | assignor | members | churn every s | generations | commits | lost assignments | "
               "redelivered | duplicates | gaps | unread | longest pause ms | mean pause ms | longest group poll ms |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for (sy, s) in groups:
            g = runs[(sy, s)].get("group") or {}
            md.append(f"| {sy} | {s} | {g.get('assignor', 'range')} | {g.get('members', '-')} | {g.get('churn_s', '-')} | {gen(g)} | "
                      f"{g.get('commits', '-')} | {g.get('lost_assignments', '-')} | "
                      f"{g.get('redelivered_records', '-')} | {g.get('duplicate_records', '-')} | "
                      f"{g.get('gap_records', '-')} | {g.get('unread_records', '-')} | "
                      f"{fmt(g.get('pause_ms_max'), 1)} | {fmt(g.get('pause_ms_mean'), 1)} | "
                      f"{fmt(g.get('poll_ms_max'), 1) if g.get('poll_ms_max') is not None else 'n/a'} |")
        md += ["", "A consumer group (ringtail-perf --group) reading while the producers write, one member "
               "leaving and joining again as a new member every few seconds; a pause is how long a member "
               "held no partitions during a rebalance. Lost assignments, redeliveries (records after the last "
               "commit read again by the next owner, which Kafka allows after a lost assignment), duplicates "
               "(any other record read twice), gaps and unread records must all be 0: the members commit "
               "before every hand-over. rdkafka-group-*: the "
               "same through librdkafka's consumer (its generation ids are not visible: n/a); the longest group poll "
               "is the longest the driver's thread spent serving the group in one turn (n/a: the native members "
               "never block).", ""]
    other = [k for k in runs if k[0] == "ringtail" and k[1].split("-")[0] in
             ("keyed", "idle", "shards", "shard", "rdkafka") and not runs[k].get("group")]
    run_table("Keyed producers, idle connections, shards, client cross-check",
              sorted(other, key=lambda k: k[1]),
              ["shards-1 / shards-2: the same load on one and on two shards (default mode, one advertised "
               "node). shard-aware-2: two shards with `ringtail.advertise.shards=true` (clients connect "
               "to each partition's owning shard). rdkafka-*: the same workload through librdkafka, to "
               "check the native driver's figures against a real client.", ""])

    plots = plot(out, runs)
    if plots:
        md += ["## Plots", ""] + [f"![{t}](plots/{p})" for p, t in plots] + [""]
    if note:
        md += [f"Note: {note}", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md))
    return [p for p, _ in plots]


def plot(out, runs):
    if not shutil.which("gnuplot"):
        print("report: gnuplot is not installed (gnuplot-nox); no plots", file=sys.stderr)
        return []
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    made = []
    # Throughput against record size, acks=1.
    series = []
    for sy, name in SYSTEMS:
        pts = sorted((int(s.split("-")[1]), r["produce_mb_per_s"]) for (y, s), r in runs.items()
                     if y == sy and s.startswith("produce-") and s.endswith("acks1"))
        if pts:
            dat = os.path.join(pdir, f"tput_{sy}.dat")
            with open(dat, "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in pts)
            series.append(f"'{dat}' using 1:2 with linespoints title '{name}'")
    if series:
        gp = ["set terminal pngcairo size 900,560" if has_cairo() else "set terminal png size 900,560",
              f"set output '{os.path.join(pdir, 'throughput_vs_record_size.png')}'",
              "set logscale x 2", "set xlabel 'record size (bytes)'", "set ylabel 'produce MB/s (acks=1)'",
              "set key top left", "set grid", "plot " + ", ".join(series)]
        if run_gnuplot(gp):
            made.append(("throughput_vs_record_size.png", "produce throughput against record size"))
    # Latency percentiles against offered load.
    series = []
    for sy, name in SYSTEMS:
        pts = sorted((r["rate_target"], r["latency_ms"]["e2e"]) for (y, s), r in runs.items()
                     if y == sy and s.startswith("e2e-") and r["latency_ms"]["e2e"]["count"] and not behind(r))
        if not pts:
            continue
        dat = os.path.join(pdir, f"lat_{sy}.dat")
        with open(dat, "w") as f:
            f.writelines(f"{x} {l['p50']} {l['p99']} {l['p99_9']} {l['max']}\n" for x, l in pts)
        if sy == "ringtail" or not any(y == "ringtail" for (y, _) in runs):
            for col, q in ((2, "p50"), (3, "p99"), (4, "p99.9"), (5, "max")):
                series.append(f"'{dat}' using 1:{col} with linespoints title '{name} {q}'")
        else:
            series.append(f"'{dat}' using 1:3 with linespoints title '{name} p99'")
    if series:
        gp = ["set terminal pngcairo size 900,560" if has_cairo() else "set terminal png size 900,560",
              f"set output '{os.path.join(pdir, 'latency_vs_load.png')}'",
              "set logscale y", "set xlabel 'offered load (records/s, 1 KiB)'",
              "set ylabel 'end-to-end latency (ms)'", "set key top left", "set grid", "plot " + ", ".join(series)]
        if run_gnuplot(gp):
            made.append(("latency_vs_load.png", "end-to-end latency percentiles against offered load"))
    return made


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        p = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        _cairo = "pngcairo" in (p.stdout + p.stderr)
    return _cairo


def run_gnuplot(lines):
    p = subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if p.returncode != 0:
        print(f"report: gnuplot failed: {p.stderr.strip()}", file=sys.stderr)
    return p.returncode == 0


def check_report(out, runs, made, bad, verdicts):
    """The report itself: its summary table, and each PNG plot its runs call for (when gnuplot is
    installed), each a real PNG file."""
    try:
        with open(os.path.join(out, "report.md")) as f:
            text = f.read()
    except OSError as e:
        text = ""
        bad.append(f"report: {e}")
    ok = "## Summary" in text and "| scenario | Ringtail | limit |" in text
    if not ok:
        bad.append("report: report.md has no summary table")
    verdicts.append(("report: summary table", ok))
    if not shutil.which("gnuplot"):
        return
    want = []
    if any(s.startswith("produce-") and s.endswith("acks1") for (_, s) in runs):
        want.append("throughput_vs_record_size.png")
    if any(s.startswith("e2e-") and r["latency_ms"]["e2e"]["count"] and not behind(r) for (_, s), r in runs.items()):
        want.append("latency_vs_load.png")
    for p in want:
        path = os.path.join(out, "plots", p)
        try:
            with open(path, "rb") as f:
                ok = p in made and f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000
        except OSError:
            ok = False
        if not ok:
            bad.append(f"report: plot {p} missing or not a PNG")
        verdicts.append((f"report: plot {p}", ok))


def check(runs, limits, failed, tap, out=None, made=()):
    """Sanity of every run: what a harness bug (or a broken broker) would violate."""
    bad = []
    verdicts = []
    if out:
        check_report(out, runs, made, bad, verdicts)
    for name, why in failed.items():
        bad.append(f"{name}: ringtail-perf failed: {why}")
        verdicts.append((name, False))
    if os.environ.get("PERF_REQUIRE_RINGTAIL") == "1" and not any(sy == "ringtail" for (sy, _) in runs):
        bad.append("ringtail: not measured (" + (os.environ.get("RINGTAIL_NOTE") or "no results") + ")")
        verdicts.append(("ringtail", False))
    for (sy, s), r in sorted(runs.items()):
        name = f"{sy}/{s}"
        before = len(bad)
        check_run(name, r, bad)
        verdicts.append((name, len(bad) == before))
    for k, data in sorted(limits.items()):
        if isinstance(data, dict) and data.get("error"):
            bad.append(f"limit {k}: {data['error']}")
            verdicts.append((f"limit {k}", False))
    lim = limit_figures(limits)
    for k, v in lim.items():
        ok = v > 0
        if not ok:
            bad.append(f"limit {k}: {v} MB/s")
        verdicts.append((f"limit {k}", ok))
    for b in bad:
        print(f"perf check: {b}", file=sys.stderr)
    print(f"perf check: {len(runs)} runs, {len(lim)} limits, {len(bad)} problems", file=sys.stderr)
    if tap:
        print(f"1..{len(verdicts)}")
        for i, (name, ok) in enumerate(verdicts, 1):
            print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    return not bad


def check_run(name, r, bad):
    """Appends to bad what is wrong with one run's numbers."""
    if (r["errors"] or r["failed_records"]) and not (r.get("fell_behind") and r["errors"] == 1):
        bad.append(f"{name}: {r['errors']} errors, {r['failed_records']} failed records ({r['error']})")
    mode = r["mode"]
    side = "consume" if mode == "consume" else "produce"
    recs, mb = r[side + "_records_per_s"], r[side + "_mb_per_s"]
    if recs <= 0:
        bad.append(f"{name}: no records {side}d")
        return
    per = r["record_size"] + (8 if r["keys"] != "none" else 0)
    if mode != "consume" and abs(mb - recs * per / 1e6) > 0.01 * mb + 0.001:
        bad.append(f"{name}: {mb} MB/s does not match {recs} records/s of {per} bytes")
    if mode != "consume":
        if r["acked_records"] != r["sent_records"]:
            bad.append(f"{name}: {r['sent_records']} sent but {r['acked_records']} acknowledged")
    kind = "e2e" if mode == "e2e" else ("produce" if mode == "produce" and r["acks"] != 0 else None)
    if kind:
        l = r["latency_ms"][kind]
        if not l["count"]:
            bad.append(f"{name}: no {kind} latency samples")
        elif not (0 < l["p50"] <= l["p99"] <= l["p99_9"] <= l["p99_99"] <= l["max"] * 1.001):
            bad.append(f"{name}: {kind} percentiles out of order: {l}")
    if mode == "e2e" and behind(r) and not r.get("group"):
        # A system that cannot take the offered load is a result (the report says so), not a
        # harness fault.
        print(f"note: {name}: could not keep up: {behind(r)}", file=sys.stderr)
        return
    if mode == "e2e":
        seen = r["consumed_records"] + r.get("skipped_records", 0)
        if seen < 0.9 * r["acked_records"]:
            bad.append(f"{name}: consumed {r['consumed_records']} of {r['acked_records']} produced")
        # A rate under the offered one is a figure, not a fault: on a shared machine the
        # scheduler decides it, so the check reports it and does not fail the run on it.
        if r["rate_target"] > 0 and recs < 0.5 * r["rate_target"]:
            print(f"note: {name}: {recs:.0f} records/s, under half the offered "
                  f"{r['rate_target']:.0f}", file=sys.stderr)
    g = r.get("group")
    if g:
        # A cooperative member's revoke commit can lose a race with the join it had already sent
        # (rdk_member.c, commit_sync): its partitions are lost and the records since the last
        # commit read again, as Kafka allows; the eager members commit before they rejoin.
        coop = g.get("assignor") == "cooperative-sticky"
        for k in ("duplicate_records", "redelivered_records", "lost_assignments", "gap_records",
                  "uncommitted_records", "group_errors"):
            allowed = coop and (k == "lost_assignments" or (k == "redelivered_records" and g["lost_assignments"]))
            if g[k] and not allowed:
                bad.append(f"{name}: group {k.replace('_', ' ')}: {g[k]}")
        read_once = r["consumed_records"] - (g.get("redelivered_records", 0) if coop else 0)
        if mode == "e2e" and (g["unread_records"] or read_once != r["acked_records"]):
            bad.append(f"{name}: the group consumed {r['consumed_records']} of {r['acked_records']} produced "
                       f"({g['unread_records']} left unread, {g.get('redelivered_records', 0)} redelivered, "
                       f"{g['duplicate_records']} duplicates)")
    # Every partition written holds its .log open (and, since storage/fds.c, nothing else once
    # idle); the descriptors of a topic deleted by the run before, or of a directory whose sync
    # was due, may still be closing while it is measured, so only half of that is checked
    # (0.94 was measured at 16 partitions: one descriptor of the run before closed meanwhile).
    c = partition_cost(r)
    if c and r["primed_partitions"] >= 16 and c["fds"] < 0.5:
        bad.append(f"{name}: the broker's descriptors grew by {c['fds']:.2f} per partition written")
    if c and c["create_s"] <= 0:
        bad.append(f"{name}: creating the topic took {c['create_s']} s")
    cpu = r.get("broker_cpu_s")
    if cpu is not None and cpu < 0:
        bad.append(f"{name}: negative broker CPU time {cpu}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    runs, limits = load(out)
    made = report(out, runs, limits)
    if "--check" in sys.argv[1:]:
        return 0 if check(runs, limits, load_failed(out), "--tap" in sys.argv[1:], out, made) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
