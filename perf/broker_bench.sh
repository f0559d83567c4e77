#!/bin/sh
# perf/broker_bench.sh: the broker against the machine's own limits, measured in one run.
#
#   perf/broker_bench.sh [BUILD_DIR] [SECONDS]
#
# 1. limits: iperf3 over loopback (one stream), loopback TCP round trip and 16 KiB fdatasync
#    latency (bench_latency_limits; measured again right before each latency run, below);
# 2. ringtail (default mode): produce 1 KiB records in 1 MiB batches with acks=1 flat out, then
#    fetch the same data, zero-copy (splice) and through the copying path
#    (ringtail.fetch.zero.copy=false); broker CPU seconds per GB for each;
# 3. p99 produce latency at 10,000 records/s with acks=1 and with acks=-1 (open loop), each
#    against limits measured right before it in the same state: the dirty page cache written
#    back first (`sync`, as perf/run.sh's settle), since the flat-out produce before leaves
#    gigabytes behind whose writeback (and, in a VM, the host's) would slow the broker's
#    fdatasyncs and not the start-of-run limit's, or the other way round;
# 4. the same produce, then fetch, and the acks=1 latency run in shard-aware mode
#    (ringtail.advertise.shards=true);
# 5. the same produce in default mode with retention deleting segments as it goes (steady state);
# 6. extra lines, not issue 4's figures (those stay the disk-backed ones above): the same produce
#    with the disk out of the way, each beside its own limit measured right before it: (a) the
#    data directory on a tmpfs (/dev/shm; fio's limit: 4 GiB on the same tmpfs), so no ext4, no
#    writeback, no dirty throttling; (b) on the real disk, a run of a fixed size under the dirty
#    background threshold (3/4 of it, at most 2 GB; fio writes as many bytes), so writeback never
#    starts during it.  Both still append into new memory pages: on a VM whose free memory goes
#    back to the host that costs the same on a tmpfs (perf/README.md, "What bounds produce").
# Also printed: the page-cache append limit (fio, with its own CPU s/GB), the load generator's
# own CPU s/GB, the CPU one page-cache page costs to write into when it is new, cached or just
# freed (bench_pagecache, at the start), and after the default-mode produce line a "bound" line:
# the most any produce could reach on this machine's CPUs if every byte goes into a new page,
# from that page cost and the run's own shard and load-generator CPU per GB (and the same with
# cached pages), to show whether the harness or the machine, not the broker, bounds a figure.  Each
# produce line splits the broker's CPU into its shard threads (receive, CRC, validation, the
# response) and the rest of the process, which is io_uring's io-wq workers copying the batches
# into the page cache (ext4 buffered writes are never non-blocking, so every append is punted
# there).  The second part costs what the page cache costs: on the development VM 0.1-0.4 s/GB
# when the memory was freed moments before, 1-2 s/GB when the host has to fault it in
# (perf/README.md), so that and not the broker moves the total between runs.  So the fio limit
# is measured right before each produce run, for as long as the run and on memory in the same
# state: each of the two starts after 5 s in which nothing was freed (the VM has handed freed
# memory back to the host after 2 s), so neither appends into pages the other just gave back.
# That puts the broker's io-wq CPU s/GB beside fio's for about the same bytes.
# Prints each figure and its ratio to the limit the issue names.  Needs iperf3 and the build's
# ringtail and ringtail-perf, fio and /usr/bin/time.  Nothing here runs in `make test`.
set -eu
DUR=${2:-5}
. "$(dirname "$0")/lib.sh"
bench_init "${1:-build}" bench
SHM=""
trap 'cleanup; [ -z "$SHM" ] || rm -rf "$SHM"' EXIT INT TERM

iperf_loopback "$DUR"
echo "limit  iperf3 loopback: $IPERF MB/s"
mkdir -p "$TMP/data"
# latency_limits WHAT: writes back the dirty page cache (timed), then measures the latency
# limits (bench_latency_limits) and prints them; sets RTT99, RTTP99, RTTS99, SYNC99 and SYNC8.
latency_limits() {
	t0=$(date +%s.%N)
	dirty=$(awk '/^Dirty:/ {print int($2 / 1024)}' /proc/meminfo)
	sync
	settled=$(/usr/bin/python3 -c "print(round($(date +%s.%N) - $t0, 1))")
	latency_limits_measure "$TMP/data"
	echo "limit  loopback RTT p99: $RTT99 us (paced at 10,000/s: $RTTP99 us; counted from each exchange's slot, as the produce latency is: $RTTS99 us), fdatasync(16 KiB) p99: $SYNC99 us (8 files at 1,250/s each, as the acks=-1 run syncs: ${SYNC8:-?} us); $1, after writing back $dirty MB of dirty page cache in $settled s"
}
latency_limits "at the start"
# What a page-cache page costs to write into, by its state (perf/bench_pagecache.c): new (the
# state of the memory every long flat-out produce run below appends into), already cached, and
# freed a moment before.  After 5 s in which nothing was freed, like the fio limit (so that the
# memory is the host's again on a VM with free page reporting); 512 MiB, which such a VM takes
# back within one reporting pass (about 2 s) before the fio limit's own 5 s pause ends.  Sets
# NEWGB and CACHEDGB (CPU s/GB).
page_cost() {
	sleep 5
	$B/perf/bench_pagecache "$TMP/data" 512 > "$TMP/page.txt"
	pc() { awk -v k="pagecache_$1" -v f="$2" '$1==k {for (i=2;i<=NF;i++) if (index($i, f"=")==1) print substr($i, length(f)+2)}' "$TMP/page.txt"; }
	NEWGB=$(pc new cpu_s_per_gb)
	CACHEDGB=$(pc cached cpu_s_per_gb)
	echo "limit  page-cache page cost (one writer, 1 MiB writes, thread CPU per 4 KiB page): new page $(pc new us_per_page) us ($NEWGB CPU s/GB, $(pc new mb_per_s) MB/s), already cached $(pc cached us_per_page) us ($CACHEDGB), new but freed a moment before $(pc freed us_per_page) us ($(pc freed cpu_s_per_gb)); produce appends every byte into a new page"
}
page_cost
# Appending into the page cache: 1 MiB buffered writes (the size of the produce runs' appends,
# one per 1 MiB batch) to 8 new files beside the broker's data for $DUR seconds (at most 1 GiB
# each), by 8 writers at once (the produce runs append to 8 partitions, whose writes io_uring's
# io-wq runs in parallel), and fio's own CPU seconds per GB for it.  In a VM whose free memory
# goes back to the host (free page reporting), every new page-cache page is a host page fault,
# and this, not the network, bounds what produce can append (see perf/README.md); such faults
# are waited for rather than computed, so one writer alone measured a third to a half of what 8
# do.  Quiet 5 s before it and after it (the files removed first): see the top of this file.
# Sets FIO (MB/s).  With $2 (a directory) fio writes there instead; with $3 (bytes) each
# writer writes $3/8 bytes and stops, instead of writing for $DUR seconds.
pagecache_limit() { # $1: what the limit is for
	sleep 5
	fdir=${2:-$TMP/data}
	if [ -n "${3:-}" ]; then flen="--size=$(($3 / 8 / 1048576))M"; else flen="--size=1G --time_based --runtime=$DUR"; fi
	# shellcheck disable=SC2086
	fio --name=pagecache --directory="$fdir" --rw=write --bs=1M $flen --numjobs=8 \
		--group_reporting --ioengine=psync --end_fsync=0 \
		--output-format=json > "$TMP/fio.json" 2>/dev/null || echo '{}' > "$TMP/fio.json"
	rm -f "$fdir/pagecache"*
	sleep 5
	FIO=$(json "$TMP/fio.json" "round(d['jobs'][0]['write']['bw_bytes']/1e6, 1) if d.get('jobs') else 0")
	# usr_cpu and sys_cpu are per cent of job_runtime, the writers' run times added up
	FIOCPU=$(json "$TMP/fio.json" "round((d['jobs'][0]['usr_cpu']+d['jobs'][0]['sys_cpu'])/100*d['jobs'][0]['job_runtime']/1e3/(d['jobs'][0]['write']['io_bytes']/1e9), 3) if d.get('jobs') else '?'")
	FIOGB=$(json "$TMP/fio.json" "round(d['jobs'][0]['write']['io_bytes']/1e9, 2) if d.get('jobs') else 0")
	if [ -n "${3:-}" ]; then fwhat="$FIOGB GB"; else fwhat="for $DUR s"; fi
	echo "limit  page-cache append (fio, 8 writers of 1 MiB to new files $fwhat; $1): $FIO MB/s ($FIOGB GB), $FIOCPU CPU s/GB"
}
# CPU ticks of the broker's shard threads and of the whole process (every thread, also those
# that have exited, such as idle io-wq workers): "shards total".
cpu_ticks() {
	/usr/bin/python3 -c '
import os, sys
pid = sys.argv[1]
sh = 0
for t in os.listdir("/proc/%s/task" % pid):
    try:
        s = open("/proc/%s/task/%s/stat" % (pid, t)).read()
    except OSError:
        continue
    f = s[s.rindex(")") + 2:].split()
    if s[s.index("(") + 1:s.rindex(")")].startswith("rt-shard"):
        sh += int(f[11]) + int(f[12])
s = open("/proc/%s/stat" % pid).read()
f = s[s.rindex(")") + 2:].split()
print(sh, int(f[11]) + int(f[12]))' "$1"
}
# "shards X s/GB + other threads (io-wq page-cache writes) Y s/GB" between two cpu_ticks
# snapshots for the produce run in JSON file $3.
cpu_split() {
	/usr/bin/python3 -c '
import json, os, sys
a, b = [list(map(int, x.split())) for x in sys.argv[1:3]]
d = json.load(open(sys.argv[3]))
gb = d["produce_mb_per_s"] * d["elapsed_s"] / 1e3
hz = os.sysconf("SC_CLK_TCK")
sh, tot = (b[0] - a[0]) / hz, (b[1] - a[1]) / hz
print("shards %.3f + io-wq page-cache writes and the rest %.3f" % (sh / gb, (tot - sh) / gb) if gb > 0 else "?")' "$1" "$2" "$3"
}

# shards_gb CPU0 CPU1 JSON: the shard threads' CPU s/GB between two cpu_ticks snapshots for the
# produce run in JSON (what the broker spends besides the page-cache writes).
shards_gb() {
	/usr/bin/python3 -c '
import json, os, sys
a, b = [list(map(int, x.split())) for x in sys.argv[1:3]]
d = json.load(open(sys.argv[3]))
gb = d["produce_mb_per_s"] * d["elapsed_s"] / 1e3
print(round((b[0] - a[0]) / os.sysconf("SC_CLK_TCK") / gb, 3) if gb > 0 else 0)' "$1" "$2" "$3"
}

# settle [DIR ...]: removes the data directories of runs that are over and writes back what is
# still dirty, so that a produce run (and the fio limit before it) does not pay for the runs
# before it: one flat-out run leaves gigabytes dirty, over the dirty background threshold, and
# the kernel then throttles every writer while it flushes them (as run.sh's settle; before
# 2026-11-25 the shard-aware and retention runs here appended while the default-mode run's 4-5
# GB were still being written back).
settle() {
	for d in "$@"; do rm -rf "$d"; done
	sdirty=$(awk '/^Dirty:/ {print int($2 / 1024)}' /proc/meminfo)
	st0=$(date +%s.%N)
	sync
	echo "settle ${sdirty} MB dirty written back in $(/usr/bin/python3 -c "import time; print(round(time.time() - $st0, 1))") s"
}

# A batch of 1 MiB of records is a little over Kafka's default message.max.bytes (1 MiB + 12).
start_broker "$TMP/default" "$TMP/default.log" message.max.bytes=2097152
pagecache_limit "before the default-mode produce"
C0=$(cpu_ticks $BPID)
/usr/bin/time -f "%U %S" -o "$TMP/pcpu" $PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/p.json"
C1=$(cpu_ticks $BPID)
SPLIT=$(cpu_split "$C0" "$C1" "$TMP/p.json")
SHARDGB=$(shards_gb "$C0" "$C1" "$TMP/p.json")
FIO_DEFAULT=$FIO
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/p.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/c.json"
stop_broker
# The same fetch through the copying path (pread into memory, then send), same data directory.
mv "$TMP/default" "$TMP/copy"
start_broker "$TMP/copy" "$TMP/copy.log" message.max.bytes=2097152 ringtail.fetch.zero.copy=false
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/p.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/cc.json"
PMB=$(json "$TMP/p.json" "round(d['produce_mb_per_s'], 1)")
CMB=$(json "$TMP/c.json" "round(d['consume_mb_per_s'], 1)")
CLIENT=$(awk 'END {print $1 + $2}' "$TMP/pcpu")
echo "ringtail produce 1 KiB/1 MiB batches acks=1: $PMB MB/s ($(json "$TMP/p.json" "round(d['produce_mb_per_s']*d['elapsed_s']/1e3, 2)") GB) = $(json "$TMP/p.json" "round(100*d['produce_mb_per_s']/$IPERF)")% of iperf3 (target >= 50%), $(json "$TMP/p.json" "round(100*d['produce_mb_per_s']/$FIO_DEFAULT) if $FIO_DEFAULT else '?'")% of the page-cache append limit; broker $(json "$TMP/p.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB ($SPLIT), load generator $(json "$TMP/p.json" "round($CLIENT/(d['produce_mb_per_s']*d['elapsed_s']/1e3), 3)") CPU s/GB"
# The bound the page cost puts on that produce: per GB it needs the shards' work, the load
# generator's and one write of the GB into new pages (the page cost above), all on this
# machine's CPUs; so even with every CPU to itself and nothing else, it could not go faster
# than the CPUs over their sum.  With cached pages instead (a machine whose free memory stays
# resident) the same sum gives the second figure.  Not a measurement of the broker: a ceiling,
# to show whether the target is within this machine's reach at all.
LGGB=$(json "$TMP/p.json" "round($CLIENT/(d['produce_mb_per_s']*d['elapsed_s']/1e3), 3)")
NCPU=$(nproc)
if [ -n "$NEWGB" ] && [ -n "$CACHEDGB" ]; then
	echo "bound  produce into new pages on $NCPU CPUs: shards $SHARDGB + load generator $LGGB + new-page writes $NEWGB = $(calc "round($SHARDGB+$LGGB+$NEWGB,3)") CPU s/GB -> at most $(calc "round($NCPU*1e3/($SHARDGB+$LGGB+$NEWGB))") MB/s = $(calc "round(100*$NCPU*1e3/($SHARDGB+$LGGB+$NEWGB)/$IPERF)")% of iperf3 with nothing else running; into cached pages ($CACHEDGB): $(calc "round($NCPU*1e3/($SHARDGB+$LGGB+$CACHEDGB))") MB/s = $(calc "round(100*$NCPU*1e3/($SHARDGB+$LGGB+$CACHEDGB)/$IPERF)")%; 50% of iperf3 needs at most $(calc "round($NCPU*1e3/(0.5*$IPERF),3)") CPU s/GB in all"
fi
echo "ringtail fetch of the same data:          $CMB MB/s = $(json "$TMP/c.json" "round(100*d['consume_mb_per_s']/$IPERF)")% of iperf3 (target >= 70%), broker $(json "$TMP/c.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
echo "ringtail fetch, copying path:            $(json "$TMP/cc.json" "round(d['consume_mb_per_s'], 1)") MB/s, broker $(json "$TMP/cc.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
for acks in 1 -1; do
	latency_limits "right before the acks=$acks latency run"
	$PERF --bootstrap 127.0.0.1:$BP --topic tl$acks --create --partitions 8 --record-size 1024 --acks $acks \
		--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --quiet --json "$TMP/l$acks.json"
	P99=$(json "$TMP/l$acks.json" "round(d['latency_ms']['produce']['p99']*1000, 1)")
	# SAME: the same figure against the round trip counted the same way (paced, from each
	# exchange's slot: the client's own lateness in both); LIMIT stays the issue's.
	produce_limits "$acks"
	echo "ringtail p99 produce latency at 10,000 rec/s acks=$acks: $P99 us (limit $LIMIT us; with the round trip counted from its slot as this is: $SAME us)"
done
stop_broker
settle "$TMP/copy"

start_broker "$TMP/aware" "$TMP/aware.log" ringtail.advertise.shards=true message.max.bytes=2097152
pagecache_limit "before the shard-aware produce"
C0=$(cpu_ticks $BPID)
$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/pa.json"
SPLIT=$(cpu_split "$C0" "$(cpu_ticks $BPID)" "$TMP/pa.json")
echo "ringtail shard-aware produce (same load): $(json "$TMP/pa.json" "round(d['produce_mb_per_s'], 1)") MB/s = $(json "$TMP/pa.json" "round(100*d['produce_mb_per_s']/$FIO) if $FIO else '?'")% of the page-cache append limit, broker $(json "$TMP/pa.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB ($SPLIT)"
$PERF --mode consume --bootstrap 127.0.0.1:$BP --topic tp --consumers 2 --fetch-max-bytes 52428800 \
	--fetch-partition-max-bytes 1048576 --records "$(json "$TMP/pa.json" "d['acked_records']")" --duration 60 \
	--broker-pid $BPID --quiet --json "$TMP/ca.json"
echo "ringtail shard-aware fetch of that data:  $(json "$TMP/ca.json" "round(d['consume_mb_per_s'], 1)") MB/s, broker $(json "$TMP/ca.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB"
latency_limits "right before the shard-aware latency run"
$PERF --bootstrap 127.0.0.1:$BP --topic tla --create --partitions 8 --record-size 1024 --acks 1 \
	--rate 10000 --linger-ms 0 --duration "$DUR" --warmup 1 --quiet --json "$TMP/la.json"
echo "ringtail shard-aware p99 produce latency at 10,000 rec/s acks=1: $(json "$TMP/la.json" "round(d['latency_ms']['produce']['p99']*1000, 1)") us (limit $(calc "round(2*$RTT99,1)") us)"
stop_broker
settle "$TMP/aware"

# Steady state: retention deletes old segments while produce appends, as on a broker that has
# been running for a while, so new appends land in page-cache pages that deleted segments have
# just given back instead of memory the host must fault in.  An unmeasured first run fills the
# 1 GiB that retention keeps (128 MiB per partition) and more.
start_broker "$TMP/steady" "$TMP/steady.log" message.max.bytes=2097152 log.segment.bytes=67108864 log.retention.bytes=134217728
$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --records 1572864 --duration 60 --quiet --json "$TMP/pw.json"
C0=$(cpu_ticks $BPID)
$PERF --bootstrap 127.0.0.1:$BP --topic tp --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/ps.json"
SPLIT=$(cpu_split "$C0" "$(cpu_ticks $BPID)" "$TMP/ps.json")
echo "ringtail produce with retention (64 MiB segments, 128 MiB kept per partition; default mode): $(json "$TMP/ps.json" "round(d['produce_mb_per_s'], 1)") MB/s, broker $(json "$TMP/ps.json" "d.get('broker_cpu_s_per_gb')") CPU s/GB ($SPLIT)"
stop_broker
settle "$TMP/steady"

# 6. The disk out of the way (extra lines; issue 4's produce figure is the disk-backed one).
# produce_line LABEL JSON CPU0 CPU1: the produce run's line against iperf3 and $FIO.
produce_line() {
	echo "extra  ringtail produce, $1: $(json "$2" "round(d['produce_mb_per_s'], 1)") MB/s ($(json "$2" "round(d['produce_mb_per_s']*d['elapsed_s']/1e3, 2)") GB) = $(json "$2" "round(100*d['produce_mb_per_s']/$IPERF)")% of iperf3, $(json "$2" "round(100*d['produce_mb_per_s']/$FIO) if $FIO else '?'")% of the limit above; broker $(json "$2" "d.get('broker_cpu_s_per_gb')") CPU s/GB ($(cpu_split "$3" "$4" "$2"))"
}
if [ -d /dev/shm ] && SHM=$(mktemp -d /dev/shm/ringtail-bench.XXXXXX); then
	mkdir -p "$SHM/fio"
	# A fixed 4 GiB (at most half the tmpfs): fio for $DUR s on 8 files of 1 GiB wraps round
	# and overwrites pages it has already written whenever it goes faster than 1.7 GB/s, as it
	# does on warm memory (19 GB in 5 s measured), and an overwrite takes no new page.
	SHMB=$(/usr/bin/python3 -c "import os; v = os.statvfs('$SHM'); print(min(4 << 30, v.f_bavail * v.f_frsize // 2))")
	pagecache_limit "on a tmpfs, before the tmpfs produce" "$SHM/fio" "$SHMB"
	start_broker "$SHM/data" "$TMP/shm.log" message.max.bytes=2097152
	C0=$(cpu_ticks $BPID)
	$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
		--linger-ms 5 --acks 1 --producers 2 --inflight 5 --duration "$DUR" --broker-pid $BPID --quiet --json "$TMP/pt.json"
	produce_line "data on a tmpfs, $DUR s" "$TMP/pt.json" "$C0" "$(cpu_ticks $BPID)"
	stop_broker
	settle "$SHM"
	SHM=""
fi
# Under the dirty background threshold: dirty_background_ratio per cent of the memory the kernel
# counts as dirtyable (about MemAvailable), unless dirty_background_bytes is set.
BG=$(/usr/bin/python3 -c '
m = dict((l.split(":")[0], int(l.split()[1]) * 1024) for l in open("/proc/meminfo"))
b = int(open("/proc/sys/vm/dirty_background_bytes").read())
r = int(open("/proc/sys/vm/dirty_background_ratio").read())
print(b or m["MemAvailable"] * r // 100)')
SHORT=$(/usr/bin/python3 -c "print(min($BG * 3 // 4, 2000000000) // 8388608 * 8388608)")
pagecache_limit "$SHORT bytes, before the short produce" "$TMP/data" "$SHORT"
start_broker "$TMP/short" "$TMP/short.log" message.max.bytes=2097152
C0=$(cpu_ticks $BPID)
$PERF --bootstrap 127.0.0.1:$BP --topic tp --create --partitions 8 --record-size 1024 --batch-size 1048576 \
	--linger-ms 5 --acks 1 --producers 2 --inflight 5 --records $((SHORT / 1024)) --duration 60 --broker-pid $BPID --quiet --json "$TMP/pu.json"
produce_line "$SHORT bytes on the disk (dirty background threshold $BG bytes)" "$TMP/pu.json" "$C0" "$(cpu_ticks $BPID)"
stop_broker
settle "$TMP/short"
