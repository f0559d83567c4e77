#!/bin/sh
# perf/send_zc.sh: does IORING_OP_SENDMSG_ZC pay for responses sent from memory?
#
#   perf/send_zc.sh [BUILD_DIR] [SECONDS] [ROUNDS]
#
# Produces 1 KiB records in 1 MiB batches for SECONDS (as perf/broker_bench.sh), then fetches
# the same data through the copying path (ringtail.fetch.zero.copy=false, so the records leave
# from memory) ROUNDS times each with plain sendmsg and with zero-copy sends of every memory
# run of at least 64 KiB (ringtail.net.send.zc.min.bytes=65536), alternating, on the same data
# directory.  Prints consume MB/s and broker CPU seconds per GB for each run and the medians.
# iperf3 over loopback in the same run is the limit.  Nothing here runs in `make test`.
set -eu
DUR=${2:-5}
ROUNDS=${3:-3}
. "$(dirname "$0")/lib.sh"
bench_init "${1:-build}" zc

iperf_loopback "$DUR"
echo "limit  iperf3 loopback: $IPERF MB/s"

start_broker "$TMP/data" "$TMP/broker.log" message.max.bytes=2097152
$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --quiet --json "$TMP/p.json"
stop_broker
REC=$(json "$TMP/p.json" "d['acked_records']")
echo "produced $REC records of 1 KiB"

for r in $(seq "$ROUNDS"); do
	for mode in plain zc; do
		if [ $mode = zc ]; then zc=65536; else zc=0; fi
		start_broker "$TMP/data" "$TMP/broker.log" message.max.bytes=2097152 ringtail.fetch.zero.copy=false \
			ringtail.net.send.zc.min.bytes=$zc
		$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
			--fetch-partition-max-bytes 1048576 --records "$REC" --duration 60 \
			--broker-pid $BPID --quiet --json "$TMP/$mode.$r.json"
		stop_broker
		echo "round $r $mode: $(json "$TMP/$mode.$r.json" "round(d['consume_mb_per_s'], 1)") MB/s, broker $(json "$TMP/$mode.$r.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
	done
done
for mode in plain zc; do
	/usr/bin/python3 - "$TMP" "$mode" "$ROUNDS" <<'PY'
import json, statistics, sys
tmp, mode, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.load(open('%s/%s.%d.json' % (tmp, mode, r))) for r in range(1, rounds + 1)]
mb = statistics.median(d['consume_mb_per_s'] for d in runs)
cpu = statistics.median(d.get('broker_cpu_s_per_gb') or 0 for d in runs)
print('median %-5s copying-path fetch: %.1f MB/s, broker %.2f CPU s/GB' % (mode, mb, cpu))
PY
done
/usr/bin/python3 - "$TMP/broker.log" <<'PY'
import re, sys
n = c = 0
for m in re.finditer(r'(\d+) zero-copy sends, (\d+) of them copied', open(sys.argv[1]).read()):
    n += int(m.group(1)); c += int(m.group(2))
print('zero-copy sends over all zc runs: %d, of which the kernel copied: %d' % (n, c))
PY
