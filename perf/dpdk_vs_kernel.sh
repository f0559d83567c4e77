#!/bin/sh
# perf/dpdk_vs_kernel.sh: the broker on the dpdk backend against the same broker on the kernel
# (uring) backend, on the same veth pair, in the same run.  kcat in a network namespace produces
# N records of S bytes (acks=1, no compression) and consumes them back; the script prints
# seconds, MB/s and the broker's CPU seconds per GB for each backend, as JSON lines.
# Needs root and a build with -Ddpdk=enabled.   usage: perf/dpdk_vs_kernel.sh <build dir> [N] [S]
set -eu
B=${1:?build dir}; N=${2:-200000}; S=${3:-1000}
RT=$B/dataplane/ringtail
NS=rtperf$$; VA=rtp$$a; VB=rtp$$b
DATA=$(mktemp -d)
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; ip link del $VA 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$DATA"; }
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
cpu() { awk '{print ($14 + $15) / 100}' /proc/$1/stat; }
run() { # backend, listener ip, extra overrides
	be=$1; ip=$2; shift 2
	rm -rf "$DATA/logs"
	"$RT" --override ringtail.shards=1 --override listeners=PLAINTEXT://$ip:9092 --override num.partitions=1 \
	      --override log.dirs="$DATA/logs" "$@" > "$DATA/$be.log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do ip netns exec $NS kcat -b $ip:9092 -L -m 2 >/dev/null 2>&1 && break; sleep 0.2; done
	c0=$(cpu $PID); t0=$(date +%s.%N)
	ip netns exec $NS kcat -b $ip:9092 -P -t perf -z none -X linger.ms=5 -X batch.size=1048576 -l "$DATA/recs"
	t1=$(date +%s.%N); c1=$(cpu $PID)
	got=$(ip netns exec $NS kcat -b $ip:9092 -C -t perf -o beginning -e -q | wc -l)
	t2=$(date +%s.%N); c2=$(cpu $PID)
	kill -TERM $PID; wait $PID || true; PID=
	python3 - "$be" "$N" "$S" "$got" "$t0" "$t1" "$t2" "$c0" "$c1" "$c2" <<'PY'
import json, sys
be, n, s, got = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0, t1, t2, c0, c1, c2 = map(float, sys.argv[5:])
gb = n * s / 1e9
print(json.dumps({"backend": be, "records": n, "record_bytes": s, "consumed": got,
                  "produce_s": round(t1 - t0, 3), "produce_MBps": round(n * s / (t1 - t0) / 1e6, 1),
                  "fetch_s": round(t2 - t1, 3), "fetch_MBps": round(n * s / (t2 - t1) / 1e6, 1),
                  "broker_cpu_s_per_GB_produce": round((c1 - c0) / gb, 2),
                  "broker_cpu_s_per_GB_fetch": round((c2 - c1) / gb, 2)}))
PY
}
run dpdk 10.216.0.1 --override ringtail.net.backend=dpdk --override ringtail.dpdk.port=net_af_packet0,iface=$VA --override ringtail.dpdk.ip=10.216.0.1
ip addr add 10.216.0.1/24 dev $VA
run uring 10.216.0.1 --override ringtail.net.backend=uring
