#!/bin/sh
# perf/broker_bench.sh: the broker against the machine's own limits, measured in one run.
#
#   perf/broker_bench.sh [BUILD_DIR] [SECONDS]
#
# 1. limits: iperf3 over loopback (one stream), loopback TCP round trip and 16 KiB fdatasync
#    latency (bench_latency_limits);
# 2. ringtail (default mode): produce 1 KiB records in 1 MiB batches with acks=1 flat out, then
#    fetch the same data, zero-copy (splice) and through the copying path
#    (ringtail.fetch.zero.copy=false); broker CPU seconds per GB for each;
# 3. p99 produce latency at 10,000 records/s with acks=1 and with acks=-1 (open loop);
# 4. the same produce, then fetch, and the acks=1 latency run in shard-aware mode
#    (ringtail.advertise.shards=true).
# Also printed: the page-cache append limit (fio) and the load generator's own CPU s/GB, to show
# whether the harness or the machine, not the broker, bounds a figure.
# Prints each figure and its ratio to the limit the issue names.  Needs iperf3 and the build's
# ringtail and ringtail-perf, fio and /usr/bin/time.  Nothing here runs in `make test`.
set -eu
B=${1:-build}
DUR=${2:-5}
RT=$B/dataplane/ringtail
PERF=$B/perf/harness/ringtail-perf
LIM=$B/perf/bench_latency_limits
TMP=$(mktemp -d /tmp/ringtail-bench.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$1')); print(eval(sys.argv[1], {}, {'d': d}))" "$2"; }

P=$(port)
iperf3 -s -B 127.0.0.1 -p "$P" >/dev/null 2>&1 &
pids="$pids $!"
sleep 0.5
iperf3 -c 127.0.0.1 -p "$P" -t "$DUR" -J > "$TMP/iperf.json"
IPERF=$(json "$TMP/iperf.json" "round(d['end']['sum_received']['bits_per_second']/8/1e6, 1)")
echo "limit  iperf3 loopback: $IPERF MB/s"
mkdir -p "$TMP/data"
$LIM "$TMP/data" 20000 > "$TMP/lim.txt"
RTT99=$(awk '$1=="loopback_rtt_1k" {sub("p99_us=","",$3); print $3}' "$TMP/lim.txt")
RTTP99=$(awk '$1=="loopback_rtt_1k_paced_10k" {sub("p99_us=","",$3); print $3}' "$TMP/lim.txt")
SYNC99=$(awk '$1=="fdatasync_16k" {sub("p99_us=","",$3); print $3}' "$TMP/lim.txt")
echo "limit  loopback RTT p99: $RTT99 us (paced at 10,000/s: $RTTP99 us), fdatasync(16 KiB) p99: $SYNC99 us"
# Appending into the page cache: 1 MiB buffered writes of 1 GiB to a new file beside the broker's
# data.  In a VM whose free memory goes back to the host (free page reporting), every new
# page-cache page is a host page fault, and this, not the network, bounds what produce can
# append (see perf/README.md).
fio --name=pagecache --directory="$TMP/data" --rw=write --bs=1M --size=1G --ioengine=psync \
	--end_fsync=0 --output-format=json > "$TMP/fio.json" 2>/dev/null || echo '{}' > "$TMP/fio.json"
rm -f "$TMP/data/pagecache"*
FIO=$(json "$TMP/fio.json" "round(d['jobs'][0]['write']['bw_bytes']/1e6, 1) if d.get('jobs') else 0")
echo "limit  page-cache append (fio, 1 MiB writes, new file): $FIO MB/s"

start_broker() { # $1 name, rest: overrides
	name=$1; shift
	BP=$(port)
	args="--override listeners=PLAINTEXT://127.0.0.1:$BP --override log.dirs=$TMP/$name"
	for o in "$@"; do args="$args --override $o"; done
	# shellcheck disable=SC2086
	$RT $args > "$TMP/$name.log" 2>&1 &
	BPID=$!
	pids="$pids $BPID"
	for _ in $(seq 100); do
		/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$BP),0.2)" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "broker did not start"; cat "$TMP/$name.log"; exit 1
}

# A batch of 1 MiB of records is a little over Kafka's default message.max.bytes (1 MiB + 12).
start_broker default message.max.bytes=2097152
/usr/bin/time -f "%U %S" -o "$TMP/pcpu" $PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/p.json"
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/p.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/c.json"
kill $BPID; wait $BPID 2>/dev/null || true
# The same fetch through the copying path (pread into memory, then send), same data directory.
mv "$TMP/default" "$TMP/copy"
start_broker copy message.max.bytes=2097152 ringtail.fetch.zero.copy=false
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/p.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/cc.json"
PMB=$(json "$TMP/p.json" "round(d['produce_mb_per_s'], 1)")
CMB=$(json "$TMP/c.json" "round(d['consume_mb_per_s'], 1)")
CLIENT=$(awk 'END {print $1 + $2}' "$TMP/pcpu")
echo "ringtail produce 1 KiB/1 MiB batches acks=1: $PMB MB/s = $(json "$TMP/p.json" "round(100*d['produce_mb_per_s']/$IPERF)")% of iperf3 (target >= 50%), $(json "$TMP/p.json" "round(100*d['produce_mb_per_s']/$FIO) if $FIO else '?'")% of the page-cache append limit; broker $(json "$TMP/p.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB, load generator $(json "$TMP/p.json" "round($CLIENT/(d['produce_mb_per_s']*d['elapsed_s']/1e3), 3)") CPU s/GB"
echo "ringtail fetch of the same data:          $CMB MB/s = $(json "$TMP/c.json" "round(100*d['consume_mb_per_s']/$IPERF)")% of iperf3 (target >= 70%), broker $(json "$TMP/c.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
echo "ringtail fetch, copying path:            $(json "$TMP/cc.json" "round(d['consume_mb_per_s'], 1)") MB/s, broker $(json "$TMP/cc.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
for acks in 1 -1; do
	$PERF --bootstrap 127.0.0.1:$BP --topic tl$acks --create --partitions 8 --record-size 1024 --acks $acks \
		--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --quiet --json "$TMP/l$acks.json"
	P99=$(json "$TMP/l$acks.json" "round(d['latency_ms']['produce']['p99']*1000, 1)")
	if [ "$acks" = 1 ]; then LIMIT=$(/usr/bin/python3 -c "print(round(2*$RTT99,1))"); else LIMIT=$(/usr/bin/python3 -c "print(round($SYNC99+2*$RTT99,1))"); fi
	echo "ringtail p99 produce latency at 10,000 rec/s acks=$acks: $P99 us (limit $LIMIT us)"
done
kill $BPID; wait $BPID 2>/dev/null || true

start_broker aware ringtail.advertise.shards=true message.max.bytes=2097152
$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/pa.json"
echo "ringtail shard-aware produce (same load): $(json "$TMP/pa.json" "round(d['produce_mb_per_s'], 1)") MB/s, broker $(json "$TMP/pa.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/pa.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/ca.json"
echo "ringtail shard-aware fetch of that data:  $(json "$TMP/ca.json" "round(d['consume_mb_per_s'], 1)") MB/s, broker $(json "$TMP/ca.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
$PERF --bootstrap 127.0.0.1:$BP --topic tla --create --partitions 8 --record-size 1024 --acks 1 \
	--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --quiet --json "$TMP/la.json"
echo "ringtail shard-aware p99 produce latency at 10,000 rec/s acks=1: $(json "$TMP/la.json" "round(d['latency_ms']['produce']['p99']*1000, 1)") us (limit $(/usr/bin/python3 -c "print(round(2*$RTT99,1))") us)"
kill $BPID; wait $BPID 2>/dev/null || true
