#!/bin/sh
# perf/lat_records.sh: one acks=-1 latency run (as bench_latency.sh's: 10,000 records/s, 1 KiB,
# 8 partitions, linger 0, 5 in flight) taken apart record by record (issue 4): the broker's rows
# (a lat_trace build, RINGTAIL_LT_ROWS) and the load generator's (--trace-records) joined by
# perf/lat_records.py; then perf/lat_model.py on the disk's own fdatasyncs measured right before
# (bench_latency_limits' 8-file pattern, BLL_SYNC8_RAW): what a broker that adds nothing would
# get on the disk of that minute.
#
#   meson setup build-lt -Dlat_trace=true && ninja -C build-lt
#   perf/lat_records.sh [BUILD_DIR (build-lt)] [SECONDS (5)]
#
# The disk and the CPUs are shared: compare the pieces within one run.  Nothing here runs in
# `make test`.
set -eu
DUR=${2:-5}
. "$(dirname "$0")/lib.sh"
bench_init "${1:-build-lt}" latrecords
RINGTAIL_LT_ROWS=$TMP/broker.rows
export RINGTAIL_LT_ROWS
start_broker "$TMP/data" "$TMP/broker.log" ${OVERRIDES:-}
sync
BLL_SYNC8_SECONDS=3.2
BLL_SYNC8_RAW=$TMP/sync8.raw
export BLL_SYNC8_SECONDS BLL_SYNC8_RAW
latency_limits_measure "$TMP"
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg); limit $(calc "round($SYNC99+2*$RTT99,1)") us (fdatasync(16 KiB) p99 $SYNC99 + 2 x loopback RTT p99 $RTT99; 8 files at 1,250/s: ${SYNC8:-?} us)"
$PERF --bootstrap 127.0.0.1:$BP --topic lr --create --partitions 8 --record-size 1024 --acks -1 \
	--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --prime --broker-pid $BPID --quiet \
	--json "$TMP/l.json" --trace-records "$TMP/client.rows"
stop_broker
echo "produce p99 $(json "$TMP/l.json" "round(d['latency_ms']['produce']['p99']*1000, 1)") us (p50 $(json "$TMP/l.json" "round(d['latency_ms']['produce']['p50']*1000, 1)")), $(json "$TMP/l.json" "d['requests']") requests"
grep -h '^lat_trace' "$TMP/broker.log" | grep -v 'n=0 ' | sed 's/^/  /' || true
/usr/bin/python3 "$(dirname "$0")/lat_records.py" "$TMP/client.rows" "$TMP/broker.rows"
RTT50=$(awk '$1=="loopback_rtt_1k" {sub("p50_us=","",$2); print $2}' "$TMP/lim.txt")
/usr/bin/python3 "$(dirname "$0")/lat_model.py" "$TMP/sync8.raw" --rtt-us "$RTT50"
