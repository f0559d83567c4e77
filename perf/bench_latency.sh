#!/bin/sh
# perf/bench_latency.sh: only the latency part of broker_bench.sh, repeated, so that a quiet
# window on a shared machine is spent on the figures the issue's latency targets name.
#
#   perf/bench_latency.sh [BUILD_DIR] [SECONDS] [REPEATS]
#
# Each repeat measures the limits again (bench_latency_limits: loopback TCP round trip p99 and
# 16 KiB fdatasync p99) and then, against one default-mode broker, p99 produce latency at
# 10,000 records/s (1 KiB records, 8 partitions, linger 0, open loop with coordinated-omission
# correction) with acks=1 and acks=-1, and prints each figure beside its limit and the ratio:
#   acks=1  limit: 2 x loopback RTT p99
#   acks=-1 limit: fdatasync p99 + 2 x loopback RTT p99
# Also printed per run: the harness's own service time p99 (request sent -> response read) and
# the load generator's CPU, to tell the harness's lateness from the broker's; the ratio to the
# same limit with the round trip counted as the produce latency is (paced at 10,000/s, from each
# exchange's slot: the client's own lateness in both); the broker's CPU time per 10,000 records;
# and with a lat_trace build (-Dlat_trace=true) the broker's per-stage histograms of each run.
# ACKS in the environment picks the runs (default "1 -1"); OVERRIDES ("key=value ...") are
# given to the broker (ringtail.shard.poll.us=0, ringtail.advertise.shards=true and the like,
# for an A/B on one binary); the broker also inherits the environment (RINGTAIL_NO_PREALLOC=1...).
# Before each run the dirty page cache is written back (`sync`) and the limits are measured
# again, so that a run and its limits see the disk in the same state (the acks=1 run leaves
# about 60 MB of dirty pages behind); the limits' line also gives the disk's fdatasync p99 under
# the acks=-1 run's own pattern (8 files at 1,250/s each: bench_latency_limits), for context.
# Nothing here runs in `make test`.
set -eu
DUR=${2:-5}
REP=${3:-3}
. "$(dirname "$0")/lib.sh"
bench_init "${1:-build}" lat

# The first write to a partition creates its log (files and fsyncs): --prime writes one record
# to every partition before the clock starts, so that the runs measure appends, not creation
# (a harness without the option, e.g. an older build's, runs without).
PRIME=""
if $PERF --help 2>&1 | grep -q -- --prime; then PRIME=--prime; fi
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) build=$B seconds=$DUR repeats=$REP prime=${PRIME:-no} overrides=${OVERRIDES:-none}"
mkdir -p "$TMP/data"
i=0
while [ "$i" -lt "$REP" ]; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	start_broker "$TMP/b$i" "$TMP/b$i.log" ${OVERRIDES:-}
	for acks in ${ACKS:-1 -1}; do
		sync
		latency_limits_measure "$TMP/data"
		echo "run $i load $(cut -d' ' -f1 /proc/loadavg) limits: loopback RTT p99 $RTT99 us (paced 10k/s $RTTP99 us, from slot $RTTS99 us), fdatasync(16 KiB) p99 $SYNC99 us (8 files at 1,250/s: ${SYNC8:-?} us)"
		/usr/bin/time -f "%U %S" -o "$TMP/cpu" $PERF --bootstrap 127.0.0.1:$BP --topic tl$acks --create \
			--partitions 8 --record-size 1024 --acks $acks --rate 10000 --linger-ms 0 --duration "$DUR" \
			--warmup 1 $PRIME --broker-pid $BPID --quiet --json "$TMP/l$acks.json"
		P99=$(json "$TMP/l$acks.json" "round(d['latency_ms']['produce']['p99']*1000, 1)")
		P50=$(json "$TMP/l$acks.json" "round(d['latency_ms']['produce']['p50']*1000, 1)")
		S99=$(json "$TMP/l$acks.json" "round(d['latency_ms'].get('service', {}).get('p99', 0)*1000, 1)")
		produce_limits "$acks"
		BCPU=$(json "$TMP/l$acks.json" "round(1e7*d['broker_cpu_s']/max(1, d['acked_records'])) if d.get('broker_cpu_s') is not None else '?'")
		echo "run $i acks=$acks p99 $P99 us (p50 $P50, harness service p99 $S99) limit $LIMIT us ratio $(calc "round($P99/$LIMIT,2)") (from-slot limit $SAME us: $(calc "round($P99/$SAME,2)")) client cpu $(awk '{print $1+$2}' "$TMP/cpu") s, broker $BCPU ms CPU per 10,000 records"
	done
	stop_broker
	grep -h '^lat_trace' "$TMP/b$i.log" | grep -v 'n=0 ' | sed 's/^/  /' || true
	rm -rf "$TMP/b$i"
done
