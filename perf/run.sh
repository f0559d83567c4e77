#!/usr/bin/env bash
# perf/run.sh: the scenario runner behind `make perf`.
#
#   perf/run.sh [--short] [--no-peers] [--no-limits] [--no-ringtail] [--tap] [BUILDDIR]
#
# In one go: the physical limits of this machine (memcpy, iperf3 over loopback, fio sequential
# writes buffered and with fdatasync at the scenario's write size), the Ringtail scenarios
# (perf/README.md says what each one means), and the peers that run here (librdkafka's mock
# cluster, NATS JetStream, Redis Streams) under the same workloads.  Every run writes one JSON
# file under $PERF_OUT/json (default perf/out); perf/report.py turns them into
# $PERF_OUT/report.md with ratio tables and gnuplot PNGs.
#
# --short runs each scenario for about a second with a reduced matrix and then checks that the
# numbers are sane (perf/report.py --check): it is what CI and the interop test use.
# PERF_ONLY="partitions-* idle-*" runs only the scenarios whose names match one of the patterns
# (the limits still run unless --no-limits; a scenario whose base was not run is skipped).
# Everything it starts it stops, on any exit.  Run output is bounded: every Ringtail run deletes
# its topic when no later run reads it (ringtail-perf --delete), each peer's and each extra
# broker's data directory goes when its section ends, and the peak size of $OUT/data and the
# free space of its file system before and after go into the report (machine.txt).
set -u
cd "$(dirname "$0")/.."

SHORT=0 PEERS=1 LIMITS=1 RINGTAIL=1 TAP=0 BUILD=build
while [ $# -gt 0 ]; do
	case "$1" in
	--short) SHORT=1 ;;
	--no-peers) PEERS=0 ;;
	--no-limits) LIMITS=0 ;;
	--no-ringtail) RINGTAIL=0 ;;
	--tap) TAP=1 ;;   # the check's verdicts as TAP on stdout (for meson test)
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	-*) echo "perf/run.sh: unknown option '$1' (--short, --no-peers, --no-limits, --no-ringtail)" >&2; exit 2 ;;
	*) BUILD=$1 ;;
	esac
	shift
done

OUT=${PERF_OUT:-perf/out}
PERF=$BUILD/perf/harness/ringtail-perf
MOCK=$BUILD/perf/harness/ringtail-perf-mock
MEMCPY=$BUILD/perf/harness/perf-memcpy
BROKER=${RINGTAIL_BIN:-$BUILD/dataplane/ringtail}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ ! -x "$PERF" ]; then
	echo "perf/run.sh: $PERF is not built (run: ninja -C $BUILD)" >&2
	exit 2
fi

if [ $SHORT = 1 ]; then
	DUR=1 SIZES="1024" ACKS="1" FRACTIONS="50" PARTS="1 16" IDLE=100 KEYED=16 MEMSECS=0.2 FIOSIZE=16M FIOBS="16k" CHURN=0.3
	# Small client queues, so that draining them after the second is short too.
	SHORTARGS=(--buffer-bytes 1048576)
	RDKARGS=(--driver-conf queue.buffering.max.kbytes=4096)
else
	DUR=10 SIZES="100 1024 16384" ACKS="1 -1" FRACTIONS="10 50 90" PARTS="1 100 1000 10000" IDLE=1000 KEYED=64 MEMSECS=1 FIOSIZE=512M FIOBS="16k 1m" CHURN=2
	SHORTARGS=()
	RDKARGS=()
fi
PROGRESS=0
[ $SHORT = 1 ] || PROGRESS=5
# The open-loop runs release their records in bursts this far apart (pace.h): one wake-up per
# 250 us instead of one per record or per network event, which is what lets the load generator
# carry an e2e point at a fraction of the server's maximum on the same two cores.  Each record
# still counts its latency from its own slot, so the figures include up to this much wait.
PACE_TICK_US=${PERF_PACE_TICK_US:-250}

rm -rf "$OUT/json" "$OUT/logs" "$OUT/data" "$OUT/plots" "$OUT/skipped.txt"
mkdir -p "$OUT/json" "$OUT/logs" "$OUT/data" "$OUT/plots"
# The machine the figures come from; a busy one makes every ratio noisy, so the report says so.
{ echo "cores $(nproc)"; echo "start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$OUT/machine.txt"
# Free MB on the file system the run writes to: a full disk fails every run after it with
# empty results (a make perf of issue 6 once left 41 GB of run output in /tmp).
free_mb() { df -Pm "$OUT/data" | awk 'NR == 2 { print $4 }'; }
echo "disk_free_mb_start $(free_mb)" >> "$OUT/machine.txt"
DATA_PEAK_MB=0
# note_data: the size of $OUT/data now, kept as the run's peak.
note_data() {
	local mb
	mb=$(du -sm "$OUT/data" 2>/dev/null | cut -f1)
	[ "${mb:-0}" -gt "$DATA_PEAK_MB" ] && DATA_PEAK_MB=$mb
}
# Open files: the broker holds one per segment of a partition (its .log; storage/fds.c opens the
# indexes, the .txnindex and the directory only while a write or sync needs them, and the next
# segment's four spare files only from half way to a roll) and one per connection, so
# partitions-10000 needs about 12,000 with the connections (it needed 50,000-90,000 before
# storage/fds.c); Kafka's docs recommend 100,000 or more for a broker.
# Raise the hard limit as far as the kernel allows (fs.nr_open; root with CAP_SYS_RESOURCE
# only), then the soft one to it (the broker also does that itself at start).  Never lower the
# hard limit: doing so (to 8192, as this script once did when 65536 was refused) left the broker
# unable to accept the idle connections (accept: EMFILE) and the scenario timed out.
NOFILE_WANT=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
NOFILE_NOTE=""
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$NOFILE_WANT" ]; then
	if ! NOFILE_ERR=$( (ulimit -Hn "$NOFILE_WANT") 2>&1 ); then
		NOFILE_NOTE="the hard limit $(ulimit -Hn) could not be raised to fs.nr_open $NOFILE_WANT (${NOFILE_ERR##*: }; raising it needs CAP_SYS_RESOURCE)"
	else
		ulimit -Hn "$NOFILE_WANT"
	fi
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -Sn)
{ echo "nofile $NOFILE"; [ -n "$NOFILE_NOTE" ] && echo "nofile_note $NOFILE_NOTE"; } >> "$OUT/machine.txt"
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt 100000 ] && [ $SHORT = 0 ]; then
	echo "perf: open files are limited to $NOFILE here${NOFILE_NOTE:+ ($NOFILE_NOTE)}; the broker holds about" \
		"1 per partition written plus one per connection, so the largest partition counts may not run" >&2
fi
# The descriptors a partition costs the broker, in hundredths, from the last partitions run of
# this run (its broker_setup and broker_ready figures); 1.2 until one was measured (1.0 measured
# by storage/fds.c's test and in partitions-1000, with a margin).
FDS_PER_PART=120 FDS_PER_SRC="the .log of its one segment, with a margin"

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "perf: $*" >&2; }

# fds_settle PID: waits (at most 20 s) until the broker's descriptor count has held still for
# 1.5 s.  The topic the run before deleted closes its files on the broker's file workers after
# DeleteTopics answered: measured from the middle of that, the 2026-11-24 22:45 run gave 0.90
# descriptors per partition for 1,000 and 10,000 partitions (the one before still closing
# 100 and 1,000 of its own), where each holds 1.0.
fds_settle() {
	local pid=$1 last=-1 same=0 n i
	[ -n "$pid" ] || return 0
	for i in $(seq 40); do
		n=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
		if [ "$n" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && return 0
		else
			same=0
		fi
		last=$n
		sleep 0.5
	done
}

# fds_per_partition JSON: the broker's descriptors per partition a primed run of at least 100
# partitions added (its harness connections taken off), in hundredths rounded up; nothing when
# not measured.
fds_per_partition() {
	"$PY" - "$1" <<'EOF'
import json, math, sys
try:
    r = json.load(open(sys.argv[1]))
    a, b, n = r["broker_setup"], r["broker_ready"], r["primed_partitions"]
    if n >= 100:
        v = math.ceil(100 * (b["fds"] - a["fds"] - b["harness_connections"]) / n)
        if v > 0:
            print(v)
except (OSError, ValueError, KeyError, TypeError):
    pass
EOF
}

# A base port with `n` free ports after it (shard-aware mode takes one port per shard).
free_ports() {
	"$PY" - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
EOF
}

# Waits until something accepts on 127.0.0.1:$1 (up to $2 seconds).
wait_port() {
	"$PY" - "$1" "${2:-10}" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

# True when the result FILE says the open loop fell too far behind the offered rate.
fell_behind() {
	"$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("fell_behind") else 1)' "$1" 2>/dev/null
}

FAILED=0
# settle: writes back every dirty page before a scenario starts, so that no scenario pays for the
# one before it.  A flat-out run leaves gigabytes of dirty page cache behind, and while the kernel
# flushes them it throttles every writer (balance_dirty_pages sleeps of up to 200 ms in whichever
# thread writes, here the broker's io-wq workers), which shows as the next scenario's tail latency:
# e2e at 51,000 records/s had p99 224 ms right after a flat-out e2e run (2.2 GB dirty) and
# 5-9 ms from a settled page cache (2026-11-24, load 7).  The time it took is in the run's log.
settle() {  # NAME
	local dirty t0
	dirty=$(awk '/^Dirty:/ {print int($2 / 1024)}' /proc/meminfo)
	t0=$(date +%s.%N)
	sync
	awk -v n="$1" -v d="$dirty" -v a="$t0" -v b="$(date +%s.%N)" \
		'BEGIN { printf "%s: settled %s MB of dirty page cache in %.1f s\n", n, d, b - a }' >> "$OUT/logs/settle.log"
}

# run NAME BOOTSTRAP PID ringtail-perf-args...: one scenario, its JSON in $OUT/json/NAME.json.
# With ALLOW_BEHIND=1 a run that fell behind its offered rate (and only that) is not a failure.
run() {
	local name=$1 boot=$2 pid=$3
	shift 3
	if [ -n "${PERF_ONLY:-}" ]; then
		local pat want=0
		for pat in $PERF_ONLY; do
			# shellcheck disable=SC2254
			case "${name#*/}" in $pat) want=1 ;; esac
		done
		[ $want = 1 ] || return 0
	fi
	local file=$OUT/json/${name//\//__}.json
	local pidarg=()
	[ -n "$pid" ] && pidarg=(--broker-pid "$pid")
	say "$name: $*"
	settle "$name"
	if ! timeout $((DUR * 6 + 60)) "$PERF" --bootstrap "$boot" "${pidarg[@]}" --label "$name" \
		--duration "$DUR" --progress "$PROGRESS" --json "$file" "${SHORTARGS[@]}" "$@" 2>"$OUT/logs/${name//\//__}.log"; then
		if [ "${ALLOW_BEHIND:-0}" = 1 ] && fell_behind "$file"; then
			# A peer that cannot take the offered load is a result: the report shows it.
			say "$name: could not keep up with the offered load (in the report, not a failure)"
			grep -h '^ringtail-perf:' "$OUT/logs/${name//\//__}.log" >&2 || true
			return 0
		fi
		say "$name: failed (see $OUT/logs/${name//\//__}.log)"
		tail -3 "$OUT/logs/${name//\//__}.log" >&2
		# The report's check names every run that failed, not only the ones with a result.
		tail -3 "$OUT/logs/${name//\//__}.log" > "$OUT/json/${name//\//__}.failed"
		FAILED=$((FAILED + 1))
	fi
	grep -h '^ringtail-perf:' "$OUT/logs/${name//\//__}.log" >&2 || true
	note_data
}

# ---------------------------------------------------------------- limits
if [ $LIMITS = 1 ]; then
	say "limits: memcpy"
	"$MEMCPY" "$MEMSECS" > "$OUT/json/limit__memcpy.json" || FAILED=$((FAILED + 1))
	if command -v iperf3 >/dev/null; then
		port=$(free_ports 1)
		# No probe of the port: iperf3's server takes any connection for a test's control
		# channel, and a probe that hangs up makes the real client's test fail.  Retry instead.
		iperf3 -s -B 127.0.0.1 -p "$port" >/dev/null 2>&1 &
		ipid=$!
		PIDS+=($ipid)
		say "limits: iperf3 over loopback"
		for try in 1 2 3 4 5; do
			sleep 0.3
			iperf3 -c 127.0.0.1 -p "$port" -t "$DUR" -J > "$OUT/json/limit__iperf3.json" 2>/dev/null && break
			say "iperf3 try $try failed"
		done
		kill "$ipid" 2>/dev/null
	else
		say "limits: iperf3 is not installed (tools/deps.txt)"
	fi
	if command -v fio >/dev/null; then
		mkdir -p "$OUT/data/fio"
		for bs in $FIOBS; do
			for sync in 0 1; do
				say "limits: fio sequential write bs=$bs fdatasync=$sync"
				fio --name=seq --directory="$OUT/data/fio" --rw=write --bs=$bs --size=$FIOSIZE \
					--ioengine=psync --fdatasync=$sync --end_fsync=0 --runtime=$DUR --time_based=0 \
					--output-format=json > "$OUT/json/limit__fio-$bs-sync$sync.json" 2>/dev/null ||
					say "fio failed"
				rm -f "$OUT/data/fio"/*
			done
		done
	else
		say "limits: fio is not installed (tools/deps.txt)"
	fi
fi

# ---------------------------------------------------------------- Ringtail
# start_ringtail NAME SHARDS ADVERTISE_SHARDS: sets RT_BOOT and RT_PID.
RT_PID="" RT_BOOT=""
start_ringtail() {
	local name=$1 shards=$2 adv=$3
	local dir=$OUT/data/ringtail-$name
	mkdir -p "$dir/log"
	local port
	port=$(free_ports $((shards + 1)))
	local cores=0
	[ "$shards" -gt 1 ] && cores="0-$((shards - 1))"
	cat > "$dir/server.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$port
log.dirs=$dir/log
num.partitions=1
auto.create.topics.enable=true
ringtail.cores=$cores
ringtail.advertise.shards=$adv
group.initial.rebalance.delay.ms=0
EOF
	"$BROKER" "$dir/server.properties" > "$dir/broker.log" 2>&1 &
	RT_PID=$!
	PIDS+=($RT_PID)
	RT_BOOT=127.0.0.1:$port
	if ! wait_port "$port" 10; then
		say "ringtail did not start (see $dir/broker.log)"
		tail -5 "$dir/broker.log" >&2
		return 1
	fi
}
# stop_ringtail NAME: stops the broker, keeps its log in $OUT/logs and removes its data.
stop_ringtail() {
	[ -n "$RT_PID" ] && kill "$RT_PID" 2>/dev/null && wait "$RT_PID" 2>/dev/null
	RT_PID=""
	cp "$OUT/data/ringtail-$1/broker.log" "$OUT/logs/ringtail-$1.broker.log" 2>/dev/null
	note_data
	rm -rf "$OUT/data/ringtail-$1"
}

# The produce/consume/e2e matrix against one Kafka-protocol server (Ringtail or the mock).
# kafka_matrix SYSTEM BOOT PID ACKS_LIST [--delete]: with --delete each topic is deleted after
# the last run that reads it (the 1 KiB acks=1 one after consume-1024).
kafka_matrix() {
	local sys=$1 boot=$2 pid=$3 acks_list=$4 del=("${@:5}")
	local size acks
	for size in $SIZES; do
		for acks in $acks_list; do
			local d=("${del[@]}")
			[ "$size-$acks" = 1024-1 ] && d=()
			run "$sys/produce-$size-acks$acks" "$boot" "$pid" --topic "p$size-a${acks/-1/all}" \
				--create --partitions 8 --record-size "$size" --acks "$acks" --producers 4 --inflight 8 "${d[@]}"
		done
	done
	# Consumers stop at the end of the log; the duration only bounds a stuck run.
	run "$sys/consume-1024" "$boot" "$pid" --mode consume --topic p1024-a1 --consumers 2 --duration $((DUR * 5)) \
		"${del[@]}"
}

# The producers-only maximum (the group scenarios take a quarter of it): the 1 KiB acks=1
# produce result.
max_rate() {
	"$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["produce_records_per_s"]))' "$1" 2>/dev/null || echo 0
}

# The e2e maximum of a flat-out e2e run: what the producers got acknowledged and the consumers
# read at the same time, whichever is lower (both over the run, drain included).
e2e_max_rate() {
	"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(int(min(r["produce_records_per_s"], r["consume_records_per_s"])))' "$1" 2>/dev/null || echo 0
}

# e2e_sweep SYSTEM BOOT PID TOPIC [args]: each run writes its own topic (TOPIC, then TOPIC10,
# TOPIC50, ...: a Ringtail run deletes its topic with --delete in args, and a name deleted and
# created again at once would race the deletion).  First the system's e2e maximum (max-e2e: the e2e
# workload flat out, producers as fast as their queues allow while the consumers read), then
# the open-loop e2e runs at each fraction of it.  The producers-only rate is not the base: an e2e
# run adds the fetches on the server and the consuming side on the same machine, so half of the
# producers-only rate could be more than the machine carries end to end (perf/README.md).  A
# system that still falls behind the offered rate (the open loop stopped 1 GiB behind) is a
# measured result, not a broken run: the report lists it under "Could not keep up" and the run
# does not fail `make perf`.  Any other failure does.
e2e_sweep() {
	local sys=$1 boot=$2 pid=$3 topic=$4 extra=("${@:5}")
	local f max behind=1
	run "$sys/max-e2e" "$boot" "$pid" --mode e2e --topic "$topic" --create --partitions 8 \
		--record-size 1024 --acks 1 --producers 4 --inflight 8 "${extra[@]}"
	max=$(e2e_max_rate "$OUT/json/${sys}__max-e2e.json")
	[ "$max" -gt 0 ] || { say "$sys: no e2e maximum measured; e2e sweep skipped"; return; }
	say "$sys: e2e at $FRACTIONS% of its own e2e maximum, $max records/s"
	for f in $FRACTIONS; do
		ALLOW_BEHIND=$behind run "$sys/e2e-$f" "$boot" "$pid" --mode e2e --topic "$topic$f" --create --partitions 8 \
			--record-size 1024 --acks 1 --producers 4 --inflight 8 --rate $((max * f / 100)) \
			--pace-tick-us "$PACE_TICK_US" "${extra[@]}"
	done
}

RINGTAIL_NOTE=""
if [ $RINGTAIL = 1 ] && [ -x "$BROKER" ]; then
	if start_ringtail one 1 false; then
		kafka_matrix ringtail "$RT_BOOT" "$RT_PID" "$ACKS" --delete
		e2e_sweep ringtail "$RT_BOOT" "$RT_PID" e2e --delete
		# A consumer group of 4 at a quarter of the maximum rate, one member leaving and rejoining
		# every $CHURN s: every record must still be read exactly once (the check says so).
		max=$(max_rate "$OUT/json/ringtail__produce-1024-acks1.json")
		[ "$max" -gt 0 ] && run ringtail/group-4 "$RT_BOOT" "$RT_PID" --mode e2e --topic grp --create --partitions 8 \
			--record-size 1024 --acks 1 --producers 4 --inflight 8 --consumers 4 --group perf --group-churn "$CHURN" \
			--rate $((max / 4)) --pace-tick-us "$PACE_TICK_US" --delete
		# CreateTopics creates every partition's log (directory, files, fsyncs) before it
		# answers, and a partition's first write opens its next segment's spare files: --prime
		# writes one record to every partition before the clock starts, so the figure is
		# per-partition overhead, not creation (the JSON gives both times and what the broker
		# held before and after: descriptors, memory, CPU).  Where the open-files limit cannot
		# take a count (descriptors per partition as measured by the run before, 2,000 for
		# connections and the rest), the scenario is not run (it would exhaust the broker's
		# descriptors, and every scenario after it would fail on EMFILE), and the report says so.
		for n in $PARTS; do
			need=$(((n * FDS_PER_PART + 99) / 100 + 2000))
			fpp_text=$(printf '%d.%02d' $((FDS_PER_PART / 100)) $((FDS_PER_PART % 100)))
			if [ "$NOFILE" != unlimited ] && [ "$need" -gt "$NOFILE" ]; then
				why="$n partitions need about $need open files in the broker ($fpp_text per partition written, $FDS_PER_SRC, and 2,000 for connections and the rest); its open-files limit is $NOFILE${NOFILE_NOTE:+: $NOFILE_NOTE}"
				say "partitions-$n: not run: $why"
				echo "ringtail partitions-$n: not run: $why" >> "$OUT/skipped.txt"
				continue
			fi
			fds_settle "$RT_PID"
			run "ringtail/partitions-$n" "$RT_BOOT" "$RT_PID" --topic "parts$n" --create --partitions "$n" \
				--record-size 1024 --acks 1 --producers 4 --inflight 8 --prime --delete
			fpp=$(fds_per_partition "$OUT/json/ringtail__partitions-$n.json")
			[ -n "$fpp" ] && FDS_PER_PART=$fpp FDS_PER_SRC="measured in partitions-$n"
		done
		run "ringtail/keyed-$KEYED" "$RT_BOOT" "$RT_PID" --topic keyed --create --partitions "$KEYED" \
			--record-size 1024 --acks 1 --producers "$KEYED" --inflight 4 --keys uniform:100000 --delete
		run "ringtail/idle-$IDLE" "$RT_BOOT" "$RT_PID" --topic idle --create --partitions 8 --record-size 1024 \
			--acks 1 --producers 4 --inflight 8 --idle-connections "$IDLE" --delete
		run ringtail/rdkafka-produce-1024-acks1 "$RT_BOOT" "$RT_PID" --driver rdkafka --topic rdk --create \
			--partitions 8 --record-size 1024 --acks 1 --producers 4 --inflight 8 --delete "${RDKARGS[@]}"
		# The group and the idle connections through librdkafka too: every workload runs with
		# either driver, and the group's ledger checks hold for librdkafka's consumer.
		[ "$max" -gt 0 ] && run ringtail/rdkafka-group-4 "$RT_BOOT" "$RT_PID" --driver rdkafka --mode e2e --topic rdkgrp \
			--create --partitions 8 --record-size 1024 --acks 1 --producers 4 --inflight 8 --consumers 4 \
			--group perf-rdk --group-churn "$CHURN" --rate $((max / 4)) \
			--pace-tick-us "$PACE_TICK_US" --delete "${RDKARGS[@]}"
		# The same with KIP-429's cooperative-sticky assignor, which Kafka users pick against
		# rebalance pauses: only the partitions that move stop, the others are read on.  Not in
		# the short mode: churn every 0.3 s there keeps its members in the commit races that
		# rdk_member.c counts as lost assignments (test_perf_group.py checks them at 0.5 s).
		[ "$max" -gt 0 ] && [ $SHORT = 0 ] && run ringtail/rdkafka-group-4-coop "$RT_BOOT" "$RT_PID" --driver rdkafka --mode e2e \
			--topic rdkcoop --create --partitions 8 --record-size 1024 --acks 1 --producers 4 --inflight 8 \
			--consumers 4 --group perf-coop --assignor cooperative-sticky --group-churn "$CHURN" \
			--rate $((max / 4)) --pace-tick-us "$PACE_TICK_US" --delete "${RDKARGS[@]}"
		run "ringtail/rdkafka-idle-$IDLE" "$RT_BOOT" "$RT_PID" --driver rdkafka --topic rdkidle --create --partitions 8 \
			--record-size 1024 --acks 1 --producers 4 --inflight 8 --idle-connections "$IDLE" --delete "${RDKARGS[@]}"
		run ringtail/shards-1 "$RT_BOOT" "$RT_PID" --topic shards --create --partitions 8 --record-size 1024 \
			--acks 1 --producers 4 --inflight 8 --delete
		stop_ringtail one
	else
		RINGTAIL_NOTE="the broker did not start"
	fi
	# More shards: PERF_SHARDS lists the counts (default 2); a count above the online cores is
	# skipped.  Partitions grow with the shards so that each shard owns several.
	for n in ${PERF_SHARDS:-2}; do
		[ "$n" -le "$(nproc)" ] || { say "shards-$n: only $(nproc) cores here; skipped"; continue; }
		parts=$((n * 4 > 8 ? n * 4 : 8))
		for adv in false true; do
			name=shards-$n
			[ $adv = true ] && name=shard-aware-$n
			if start_ringtail "$name" "$n" $adv; then
				run "ringtail/$name" "$RT_BOOT" "$RT_PID" --topic shards --create --partitions $parts \
					--record-size 1024 --acks 1 --producers $((n * 4 > 4 ? n * 2 : 4)) --inflight 8
				stop_ringtail "$name"
			fi
		done
	done
elif [ $RINGTAIL = 1 ]; then
	RINGTAIL_NOTE="$BROKER is not built"
	say "ringtail: $RINGTAIL_NOTE; limits and peers only"
fi

# ---------------------------------------------------------------- peers
if [ $PEERS = 1 ]; then
	# librdkafka's mock cluster: a Kafka-protocol server in C with no storage, driven natively.
	if [ -x "$MOCK" ]; then
		mtopics=e2e
		for f in $FRACTIONS; do mtopics="$mtopics,e2e$f"; done
		for size in $SIZES; do mtopics="$mtopics,p$size-a1"; done
		"$MOCK" --brokers 1 --topic "$mtopics" --partitions 8 > "$OUT/data/mock.out" 2>"$OUT/logs/mock.log" &
		mpid=$!
		PIDS+=($mpid)
		for _ in $(seq 50); do grep -q '^bootstrap=' "$OUT/data/mock.out" && break; sleep 0.1; done
		mboot=$(sed -n 's/^bootstrap=//p' "$OUT/data/mock.out")
		if [ -n "$mboot" ]; then
			# The mock keeps everything in memory and ignores durability: acks=1 only.
			kafka_matrix mock "$mboot" "$mpid" 1
			e2e_sweep mock "$mboot" "$mpid" e2e
		fi
		kill "$mpid" 2>/dev/null
	fi

	# NATS JetStream, file storage.
	if command -v nats-server >/dev/null; then
		port=$(free_ports 1)
		mkdir -p "$OUT/data/nats"
		nats-server -js -sd "$OUT/data/nats" -a 127.0.0.1 -p "$port" > "$OUT/logs/nats-server.log" 2>&1 &
		npid=$!
		PIDS+=($npid)
		if wait_port "$port" 10; then
			for size in $SIZES; do
				run "nats/produce-$size-acks1" "127.0.0.1:$port" "$npid" --driver nats --topic "p$size" \
					--record-size "$size" --producers 4 --inflight 256
			done
			run nats/consume-1024 "127.0.0.1:$port" "$npid" --driver nats --mode consume --topic p1024 --consumers 1 \
				--duration $((DUR * 5))
			e2e_sweep nats "127.0.0.1:$port" "$npid" e2e --driver nats --inflight 256
		fi
		kill "$npid" 2>/dev/null
		wait "$npid" 2>/dev/null
		note_data
		rm -rf "$OUT/data/nats"
	fi

	# Redis Streams with an append-only file: everysec for acks=1, always for acks=-1.
	if command -v redis-server >/dev/null; then
		for acks in $ACKS; do
			fsync=everysec
			[ "$acks" = -1 ] && fsync=always
			port=$(free_ports 1)
			mkdir -p "$OUT/data/redis-$fsync"
			redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly yes --appendfsync $fsync \
				--dir "$OUT/data/redis-$fsync" > "$OUT/logs/redis-$fsync.log" 2>&1 &
			rpid=$!
			PIDS+=($rpid)
			if wait_port "$port" 10; then
				for size in $SIZES; do
					run "redis/produce-$size-acks$acks" "127.0.0.1:$port" "$rpid" --driver redis \
						--topic "p$size" --record-size "$size" --producers 4 --inflight 64
				done
				if [ "$acks" = 1 ]; then
					run redis/consume-1024 "127.0.0.1:$port" "$rpid" --driver redis --mode consume --topic p1024 \
						--duration $((DUR * 5))
					e2e_sweep redis "127.0.0.1:$port" "$rpid" e2e --driver redis --inflight 64
				fi
			fi
			kill "$rpid" 2>/dev/null
			wait "$rpid" 2>/dev/null
			note_data
			rm -rf "$OUT/data/redis-$fsync"
		done
	fi
fi
cleanup
note_data
{
	echo "end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "data_peak_mb $DATA_PEAK_MB"
	echo "disk_free_mb_end $(free_mb)"
} >> "$OUT/machine.txt"
say "run output: at most $DATA_PEAK_MB MB under $OUT/data; $(free_mb) MB free on its file system"

# ---------------------------------------------------------------- report
check=()
[ $SHORT = 1 ] && check=(--check)
[ $TAP = 1 ] && check+=(--tap)
# Asked for Ringtail and it is built: the check fails when it was not measured.
require=0
[ $RINGTAIL = 1 ] && [ -x "$BROKER" ] && require=1
RINGTAIL_NOTE="$RINGTAIL_NOTE" PERF_REQUIRE_RINGTAIL=$require "$PY" perf/report.py "$OUT" "${check[@]}"
rc=$?
rm -rf "$OUT/data"
say "report: $OUT/report.md"
if [ $FAILED -gt 0 ]; then
	say "$FAILED run(s) failed"
	exit 1
fi
exit $rc
