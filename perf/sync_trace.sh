#!/bin/sh
# perf/sync_trace.sh: one acks=-1 latency run (as bench_latency.sh's: 10,000 records/s, 1 KiB,
# 8 partitions, linger 0) under `perf record -a` of the block layer's and ext4's fdatasync trace
# events, and perf/sync_trace.py's account of them: the broker's fdatasyncs (how many wrote their
# inode's block), the device's flushes, and the large writes (zero chunks) beside which some of
# them ran.  For finding what an acks=-1 round waits for in the kernel and the disk (issue 4).
#
#   perf/sync_trace.sh [BUILD_DIR] [SECONDS]
#
# Needs root (perf record -a, tracepoints) and perf.  The disk and the CPUs are shared: run it on
# a quiet machine, or read its figures as proportions.  Nothing here runs in `make test`.
set -eu
DUR=${2:-5}
. "$(dirname "$0")/lib.sh"
bench_init "${1:-build}" synctrace
command -v perf >/dev/null || { echo "sync_trace.sh: perf is missing" >&2; exit 1; }
start_broker "$TMP/data" "$TMP/broker.log" ${OVERRIDES:-}
sync
latency_limits_measure "$TMP"
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg); limits: loopback RTT p99 $RTT99 us, fdatasync(16 KiB) p99 $SYNC99 us (8 files at 1,250/s: ${SYNC8:-?} us)"
perf record -a -q -o "$TMP/perf.data" -e block:block_rq_issue -e block:block_rq_complete \
	-e ext4:ext4_sync_file_enter -e ext4:ext4_sync_file_exit -- sleep $((DUR + 3)) 2>/dev/null &
PP=$!
pids="$pids $PP"
$PERF --bootstrap 127.0.0.1:$BP --topic st --create --partitions 8 --record-size 1024 --acks -1 \
	--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --prime --broker-pid $BPID --quiet --json "$TMP/l.json"
wait $PP || true
echo "produce p99 $(json "$TMP/l.json" "round(d['latency_ms']['produce']['p99']*1000, 1)") us (p50 $(json "$TMP/l.json" "round(d['latency_ms']['produce']['p50']*1000, 1)"), harness service p99 $(json "$TMP/l.json" "round(d['latency_ms'].get('service', {}).get('p99', 0)*1000, 1)")) at 10,000 records/s acks=-1"
perf script -i "$TMP/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null | /usr/bin/python3 "$(dirname "$0")/sync_trace.py" "$BPID"
stop_broker
