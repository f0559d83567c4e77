# perf/lib.sh: what the perf shell scripts share; sourced (`. "$(dirname "$0")/lib.sh"`) first,
# then `bench_init BUILD_DIR NAME` sets their paths.  Sourcing arms the clean-up: every process
# started here, or added to $pids, is killed on exit and TMP removed.

pids=""
TMP=""
# bench_init BUILD_DIR NAME: the paths of the build's programs: RT (the broker), PERF (the load
# generator, ringtail-perf) and LIM (bench_latency_limits); and TMP, a new scratch directory
# /tmp/ringtail-NAME.XXXXXX that the clean-up removes.
bench_init() {
	B=$1
	RT=$B/dataplane/ringtail
	PERF=$B/perf/harness/ringtail-perf
	LIM=$B/perf/bench_latency_limits
	TMP=$(mktemp -d "/tmp/ringtail-$2.XXXXXX")
}
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

# port: a free TCP port on 127.0.0.1.
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# json FILE EXPR: EXPR (Python, the document as d) evaluated over the JSON in FILE.
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1], {}, {'d': d}))" "$2"; }

# calc EXPR: EXPR evaluated by Python (the scripts' floating-point arithmetic).
calc() { /usr/bin/python3 -c "print($1)"; }

# latency_limits_read FILE: the p99s (us) that bench_latency_limits wrote to FILE: sets RTT99
# (loopback round trip of 1 KiB), RTTP99 (the same paced at 10,000/s), RTTS99 (paced, counted
# from each exchange's slot, as the produce latency is), SYNC99 (fdatasync of 16 KiB) and SYNC8
# (1 KiB fdatasyncs to 8 files at 1,250/s each, the acks=-1 runs' pattern; empty when absent).
lim_p99() { awk -v k="$2" '$1==k {sub("p99_us=","",$3); print $3}' "$1"; }
latency_limits_read() {
	RTT99=$(lim_p99 "$1" loopback_rtt_1k)
	RTTP99=$(lim_p99 "$1" loopback_rtt_1k_paced_10k)
	RTTS99=$(lim_p99 "$1" loopback_rtt_1k_paced_10k_from_slot)
	SYNC99=$(lim_p99 "$1" fdatasync_16k)
	SYNC8=$(lim_p99 "$1" fdatasync_1k_8files_paced)
}
# latency_limits_measure DIR: measures the latency limits (bench_latency_limits, 20,000 samples,
# its files in DIR) into $TMP/lim.txt and reads them (latency_limits_read).  The caller writes
# back the dirty page cache first (`sync`) so that the limits and the run after them see the disk
# in the same state.
latency_limits_measure() {
	$LIM "$1" 20000 > "$TMP/lim.txt"
	latency_limits_read "$TMP/lim.txt"
}
# produce_limits ACKS: the p99 produce latency limits for ACKS from latency_limits_read's
# figures: LIMIT, the issue's (2 x RTT99, plus SYNC99 with acks=-1), and SAME, the same with the
# round trip counted as the produce latency is (RTTS99).
produce_limits() {
	if [ "$1" = 1 ]; then sync_us=0; else sync_us=$SYNC99; fi
	LIMIT=$(calc "round($sync_us+2*$RTT99,1)")
	SAME=$(calc "round($sync_us+2*$RTTS99,1)")
}

# iperf_loopback SECONDS: one iperf3 stream over loopback for SECONDS; sets IPERF (MB/s).
iperf_loopback() {
	ip=$(port)
	iperf3 -s -B 127.0.0.1 -p "$ip" >/dev/null 2>&1 &
	pids="$pids $!"
	sleep 0.5
	iperf3 -c 127.0.0.1 -p "$ip" -t "$1" -J > "$TMP/iperf.json"
	IPERF=$(json "$TMP/iperf.json" "round(d['end']['sum_received']['bits_per_second']/8/1e6, 1)")
}

# port_run N: a free port P whose next N ports are free too.  In shard-aware mode shard i also
# listens on P+1+i, and a broker that finds one of them taken stops, after P had answered.
port_run() {
	/usr/bin/python3 -c '
import socket, sys
n = int(sys.argv[1])
for _ in range(100):
    socks = [socket.socket()]
    socks[0].bind(("127.0.0.1", 0))
    p = socks[0].getsockname()[1]
    try:
        for i in range(1, n + 1):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p + i))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(p)
    break
else:
    sys.exit("no run of %d free ports" % (n + 1))' "$1"
}

# start_broker DATA_DIR LOG [KEY=VALUE ...]: starts $RT on a free port with its data in DATA_DIR
# and the overrides given, its output appended to LOG, and waits until it accepts on every port
# it opens (the shard ports too with ringtail.advertise.shards=true); sets BP (the port) and
# BPID.  Exits the script when the broker does not come up in 10 s or stops.
start_broker() {
	dir=$1; log=$2; shift 2
	ns=$(nproc)   # the embedded default: one shard per online core
	BP=$(port_run "$ns")
	args="--override listeners=PLAINTEXT://127.0.0.1:$BP --override log.dirs=$dir"
	for o in "$@"; do args="$args --override $o"; done
	case "$args" in
	*advertise.shards=true*) last=$((BP + ns)) ;;
	*) last=$BP ;;
	esac
	# shellcheck disable=SC2086
	$RT $args >> "$log" 2>&1 &
	BPID=$!
	pids="$pids $BPID"
	for _ in $(seq 100); do
		/usr/bin/python3 -c "
import socket
for p in range($BP, $last + 1):
    socket.create_connection(('127.0.0.1', p), 0.2).close()" 2>/dev/null && return 0
		kill -0 "$BPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "broker did not start"; cat "$log"; exit 1
}
# stop_broker: SIGTERM to the broker start_broker started, and waits for it.
stop_broker() { kill "$BPID"; wait "$BPID" 2>/dev/null || true; }
