#!/bin/sh
# perf/dpdk_vs_kernel.sh: the broker on the dpdk backend against the same broker on the kernel
# (uring) backend, on the same veth pair, in the same run.  For each backend:
#   throughput  kcat in a network namespace produces N records of S bytes (acks=1, no
#               compression) and consumes them back; seconds, MB/s and the broker's CPU seconds
#               per GB for each direction;
#   latency     ringtail-perf in the namespace produces 1 KiB records open loop at R records/s
#               (acks=1, linger 0, L seconds after 1 s of warm-up): p50/p99 produce latency
#               (coordinated-omission corrected) and the harness's own service p99.
# The limit printed beside them, measured in the same run over the same veth pair: the kernel's
# TCP round trip p99 between the namespace and the host (1 KiB ping-pong, python) -- what the wire
# and the kernel side of it cost before any broker work.  A DPDK shard busy-polls its queue, so
# its CPU per GB is bounded below by wall time (one core for the run), not by work done.
# K is kcat's batch.size (librdkafka's largest batch, a Produce request per batch here).  The dpdk
# backend runs twice: as configured by default (a Produce over several segments is copied once),
# and with ringtail.dpdk.rx.zerocopy.max=64k ("dpdk-rxinplace": requests up to 64 KiB are taken
# from their mbufs without a copy; give K <= 65536 for kcat's to qualify).
# Prints JSON lines: a header (the command line, date, uptime, kernel), the limit, one line per
# backend (with the load average at its end), then a summary of DPDK/kernel ratios.  The machine's
# load moves these figures by a third or more: compare ratios of one run, and give its uptime.
# Needs root and a build with -Ddpdk=enabled.
#   usage: perf/dpdk_vs_kernel.sh <build dir> [N] [S] [R] [L] [K]
# Environment (for A/B runs; each is echoed in the header):
#   BACKENDS    which runs, in order (default "dpdk dpdk-rxinplace uring")
#   DPDK_EXTRA  more --override options for the dpdk runs (e.g. "--override ringtail.dpdk.tcp.rcvbuf=1m")
#   RT          the broker binary (default <build dir>/dataplane/ringtail)
#   KEEP_LOGS   a directory to copy each run's broker log into (the dpdk stats line is at its end)
#   AFP_ARGS    more net_af_packet device arguments, e.g. ",framecnt=4096" (its ring: 512 frames)
set -eu
B=${1:?build dir}; N=${2:-200000}; S=${3:-1000}; R=${4:-2000}; L=${5:-5}; K=${6:-1048576}
RT=${RT:-$B/dataplane/ringtail}
BACKENDS=${BACKENDS:-dpdk dpdk-rxinplace uring}
DPDK_EXTRA=${DPDK_EXTRA:-}
KEEP_LOGS=${KEEP_LOGS:-}
AFP_ARGS=${AFP_ARGS:-}
PERF=$B/perf/harness/ringtail-perf
NS=rtperf$$; VA=rtp$$a; VB=rtp$$b
DATA=$(mktemp -d)
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; ip link del $VA 2>/dev/null; ip netns del $NS 2>/dev/null
	[ -n "$KEEP_LOGS" ] && mkdir -p "$KEEP_LOGS" && cp "$DATA"/*.log "$KEEP_LOGS"/ 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
ip netns add $NS
ip link add $VA type veth peer name $VB
ip link set $VB netns $NS
ip netns exec $NS ip addr add 10.216.0.2/24 dev $VB
ip netns exec $NS ip link set $VB up
ip netns exec $NS ip link set lo up
ip link set $VA up
ip netns exec $NS /usr/bin/python3 -c "import sys; sys.path.insert(0, '$(dirname "$0")/../tests/interop'); import test_dpdk_echo as t; t.disable_tx_csum_offload('$VB')"
python3 -c "import os,sys; sys.stdout.buffer.write(b''.join(b'%08d%s\n' % (i, b'x' * ($S - 9)) for i in range($N)))" > "$DATA/recs"
python3 - "$0 $*" "$RT" "$BACKENDS" "$DPDK_EXTRA" "$N" "$S" "$R" "$L" "$K" <<'PY'
import json, os, subprocess, sys, time
cmd, rt, backends, extra = sys.argv[1:5]
n, s, r, l, k = map(int, sys.argv[5:10])
print(json.dumps({"command": "sh " + cmd, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                  "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
                  "kernel": os.uname().release, "cpus": os.cpu_count(), "broker": rt, "backends": backends,
                  "dpdk_extra": extra, "afp_args": os.environ.get("AFP_ARGS", ""), "records": n, "record_bytes": s, "latency_rate": r, "latency_s": l,
                  "kcat_batch_size": k,
                  "what": "kcat produce/fetch MB/s of N records of S bytes, broker CPU s/GB, ringtail-perf "
                          "produce p50/p99 (acks=1, 1 KiB at R/s); limit: kernel TCP RTT over the same veth"}))
PY
cpu() { awk '{print ($14 + $15) / 100}' /proc/$1/stat; }
run() { # backend, listener ip, extra overrides
	be=$1; ip=$2; shift 2
	rm -rf "$DATA/logs"
	"$RT" --override ringtail.shards=1 --override listeners=PLAINTEXT://$ip:9092 --override num.partitions=1 \
	      --override log.dirs="$DATA/logs" "$@" > "$DATA/$be.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do ip netns exec $NS kcat -b $ip:9092 -L -m 2 >/dev/null 2>&1 && break; sleep 0.2; done
	c0=$(cpu $PID); t0=$(date +%s.%N)
	ip netns exec $NS kcat -b $ip:9092 -P -t perf -z none -X linger.ms=5 -X batch.size=$K -l "$DATA/recs"
	t1=$(date +%s.%N); c1=$(cpu $PID)
	got=$(ip netns exec $NS kcat -b $ip:9092 -C -t perf -o beginning -e -q | wc -l)
	t2=$(date +%s.%N); c2=$(cpu $PID)
	ip netns exec $NS "$PERF" --bootstrap $ip:9092 --topic lat --create --partitions 1 --record-size 1024 \
		--acks 1 --rate "$R" --linger-ms 0 --duration "$L" --warmup 1 --prime --quiet --json "$DATA/lat.json"
	kill -TERM $PID; wait $PID || true; PID=
	python3 - "$be" "$N" "$S" "$got" "$t0" "$t1" "$t2" "$c0" "$c1" "$c2" "$DATA/lat.json" "$DATA/$be.log" <<'PY' | tee -a "$DATA/results"
import json, sys
be, n, s, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1, t2, c0, c1, c2 = map(float, sys.argv[5:11])
lat = json.load(open(sys.argv[11]))["latency_ms"]
rx = {}  # the dpdk backend's receive counters (its stats line at exit)
for ln in open(sys.argv[12], errors="replace"):
    if " stats: " in ln and "dpdk: shard" in ln:
        for kv in ln.split(" stats: ", 1)[1].split():
            k, _, v = kv.partition("=")
            if k in ("rx_chain_bytes", "rx_pieces_bytes", "rx_direct_bytes", "rx_lent_bytes", "rx_ring_bytes",
                     "rx_lent_copied_bytes", "rx_lend_declined") and v.isdigit():
                rx[k] = rx.get(k, 0) + int(v)
gb = n * s / 1e9
print(json.dumps({"backend": be, "records": n, "record_bytes": s, "consumed": got,
                  "produce_s": round(t1 - t0, 3), "produce_MBps": round(n * s / (t1 - t0) / 1e6, 1),
                  "fetch_s": round(t2 - t1, 3), "fetch_MBps": round(n * s / (t2 - t1) / 1e6, 1),
                  "broker_cpu_s_per_GB_produce": round((c1 - c0) / gb, 2),
                  "broker_cpu_s_per_GB_fetch": round((c2 - c1) / gb, 2),
                  "produce_p50_us": round(lat["produce"]["p50"] * 1000, 1),
                  "produce_p99_us": round(lat["produce"]["p99"] * 1000, 1),
                  "service_p99_us": round(lat.get("service", {}).get("p99", 0) * 1000, 1),
                  "load": open("/proc/loadavg").read().split()[:3], **rx}))
PY
}
# The limit: the kernel's own TCP round trip over this veth pair (host side listens).
ip addr add 10.216.0.1/24 dev $VA
python3 - <<'PY' &
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.216.0.1", 9099)); s.listen(1)
s.settimeout(30)    # a client that never comes must not leave the script's wait hanging
c, _ = s.accept(); c.settimeout(None); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    b = c.recv(1024, socket.MSG_WAITALL)
    if not b:
        break
    c.sendall(b)
PY
ip netns exec $NS /usr/bin/python3 - <<'PY' | tee "$DATA/limit"
import json, socket, time
for i in range(50):     # the listener is started in the background just before
    try:
        s = socket.create_connection(("10.216.0.1", 9099))
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
else:
    raise SystemExit("no listener on 10.216.0.1:9099")
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
b = b"x" * 1024
rtt = []
for i in range(5000):
    t = time.perf_counter(); s.sendall(b); s.recv(1024, socket.MSG_WAITALL); rtt.append(time.perf_counter() - t)
s.close()
rtt = sorted(rtt[500:])
print(json.dumps({"limit": "kernel TCP round trip over the veth pair, 1 KiB", "p50_us": round(rtt[len(rtt) // 2] * 1e6, 1),
                  "p99_us": round(rtt[int(len(rtt) * 0.99)] * 1e6, 1)}))
PY
wait
ip addr del 10.216.0.1/24 dev $VA
DPDK="--override ringtail.net.backend=dpdk --override ringtail.dpdk.port=net_af_packet0,iface=$VA$AFP_ARGS --override ringtail.dpdk.ip=10.216.0.1"
for be in $BACKENDS; do
	case $be in
	dpdk) run dpdk 10.216.0.1 $DPDK $DPDK_EXTRA ;;
	dpdk-rxinplace) run dpdk-rxinplace 10.216.0.1 $DPDK --override ringtail.dpdk.rx.zerocopy.max=64k $DPDK_EXTRA ;;
	uring)
		ip addr add 10.216.0.1/24 dev $VA
		run uring 10.216.0.1 --override ringtail.net.backend=uring
		ip addr del 10.216.0.1/24 dev $VA ;;
	*) echo "dpdk_vs_kernel.sh: unknown backend $be (allowed: dpdk dpdk-rxinplace uring)" >&2; exit 2 ;;
	esac
done
# The summary: each dpdk run against the kernel's of this run (produce and fetch MB/s, produce p99,
# CPU s/GB), and the uptime at the end.
python3 - "$DATA/results" "$DATA/limit" <<'PY'
import json, subprocess, sys
runs = {}
for ln in open(sys.argv[1]):
    d = json.loads(ln)
    runs[d["backend"]] = d
k = runs.get("uring")
out = {"summary": "dpdk / kernel (uring) of this run" if k else "no kernel run: no ratios"}
for be, d in runs.items():
    if be == "uring" or not k:
        continue
    r = lambda f: round(d[f] / k[f], 2) if k[f] else None
    out[be] = {"produce": r("produce_MBps"), "fetch": r("fetch_MBps"), "produce_p99": r("produce_p99_us"),
               "cpu_per_GB_produce": r("broker_cpu_s_per_GB_produce"), "cpu_per_GB_fetch": r("broker_cpu_s_per_GB_fetch")}
lim = json.load(open(sys.argv[2]))
out["p99_over_kernel_rtt_p99"] = {be: round(d["produce_p99_us"] / lim["p99_us"], 1) for be, d in runs.items()}
out["uptime_at_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
print(json.dumps(out))
PY
