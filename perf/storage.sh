#!/usr/bin/env bash
# perf/storage.sh: storage/ beside fio on the same disk, in the same run (issue 3's figures).
#
#   perf/storage.sh [BUILD_DIR] [SCRATCH_DIR]
#
# 1. 1 MiB appends without fsync     vs  fio --rw=write --bs=1M --ioengine=io_uring (iodepth 1)
# 2. durable 64 KiB appends, QD 1    vs  fio --rw=write --bs=64k --fdatasync=1 (psync, QD 1)
# 3. 8 concurrent durable writers    vs  1 writer (group commit), beside fio's 512 KiB + fdatasync
#    (the bytes of a round of 8) against its 64 KiB + fdatasync: the ratio the disk permits
# 4. recovery scan (cold cache)      vs  fio --rw=read --bs=1M (cold cache)
# Each pair runs REPS times (3), alternating, and keeps each side's best (the disk is shared and
# noisy: on a busy box single runs swing by 10x).
# Needs fio (Debian package, in tools/deps.txt) and root for dropping the page cache.
set -euo pipefail
BUILD=${1:-build}
SCRATCH=${2:-${STOR_BENCH_DIR:-/var/tmp/ringtail-storage-bench}}
APPEND=$BUILD/perf/bench_storage_append
RECOVER=$BUILD/perf/bench_storage_recover
NOSYNC_BYTES=${NOSYNC_BYTES:-536870912}   # 512 MiB per run
DURABLE_COUNT=${DURABLE_COUNT:-300}
RECOVER_BYTES=${RECOVER_BYTES:-1073741824} # 1 GiB
REPS=${REPS:-3}
for f in "$APPEND" "$RECOVER"; do
	[ -x "$f" ] || { echo "storage.sh: $f is not built (ninja -C $BUILD)" >&2; exit 1; }
done
command -v fio >/dev/null || { echo "storage.sh: fio is missing (apt-get install fio)" >&2; exit 1; }
mkdir -p "$SCRATCH"
df -h "$SCRATCH" | tail -1 | awk '{print "disk: " $1 " mounted on " $6}'

fio_bw() {  # prints MB/s of a fio job (json)
	fio --output-format=json "$@" | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
rw = j["write"] if j["write"]["io_bytes"] else j["read"]
print("%.1f %.1f" % (rw["bw_bytes"] / 1e6, rw["iops"]))'
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
best() { awk 'BEGIN{m=0} {if ($1>m) m=$1} END{print m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# 1. 1 MiB appends, no fsync
fio_w=(); ours_w=()
for i in $(seq $REPS); do
	fio_w+=("$(fio_bw --name=seqw --directory="$SCRATCH" --rw=write --bs=1M --size=$NOSYNC_BYTES \
		--ioengine=io_uring --iodepth=1 --end_fsync=0 | cut -d' ' -f1)")
	rm -f "$SCRATCH"/seqw*
	sync
	ours_w+=("$($APPEND nosync "$SCRATCH/a" 1048576 $NOSYNC_BYTES 1 | field MBps)")
	sync
done
F1=$(printf '%s\n' "${fio_w[@]}" | best); O1=$(printf '%s\n' "${ours_w[@]}" | best)
echo "1 MiB appends, no fsync:   storage $O1 MB/s   fio io_uring $F1 MB/s   ratio $(ratio "$O1" "$F1") (goal >= 0.90)"

# 2. durable 64 KiB appends at queue depth 1
fio_s=(); ours_s=()
for i in $(seq $REPS); do
	fio_s+=("$(fio_bw --name=syncw --directory="$SCRATCH" --rw=write --bs=64k \
		--size=$((DURABLE_COUNT * 65536)) --fdatasync=1 --iodepth=1 | cut -d' ' -f2)")
	rm -f "$SCRATCH"/syncw*
	ours_s+=("$($APPEND durable "$SCRATCH/b" 65536 $DURABLE_COUNT 1 | field appends_per_s)")
done
F2=$(printf '%s\n' "${fio_s[@]}" | best); O2=$(printf '%s\n' "${ours_s[@]}" | best)
echo "durable 64 KiB, QD 1:      storage $O2 appends/s   fio fdatasync=1 $F2 IOPS   ratio $(ratio "$O2" "$F2") (goal >= 0.90)"

# 3. group commit: 8 writers vs 1, and what the disk permits for the same bytes.  One partition
# is one file: 8 appends of 64 KiB can share a round, i.e. 512 KiB written and one fdatasync,
# which is what fio --bs=512k --fdatasync=1 does (8 x its IOPS: the appends/s of that shape;
# storage's 8 appends, queued together, are one writev too: storage/coalesce.c); once on a file laid out by fallocate (fio's default, as a
# growing segment's blocks are new) and once over data already written (--overwrite=1, as a
# segment with zeros kept ahead, prealloc.c: the single writer's case).  The same against 64 KiB
# gives the ratio the disk allows that shape.  For scale, 8 fio jobs each with its own file (what
# 8 partitions could share: the block layer merges their cache flushes).
one=(); eight=(); rounds=""; f64=(); f512=(); f64o=(); f512o=(); f8=()
for i in $(seq $REPS); do
	one+=("$($APPEND durable "$SCRATCH/c" 65536 $DURABLE_COUNT 1 | field appends_per_s)")
	out=$($APPEND durable "$SCRATCH/d" 65536 $((DURABLE_COUNT * 4)) 8)
	eight+=("$(echo "$out" | field appends_per_s)")
	rounds="$(echo "$out" | field appends) appends in $(echo "$out" | field flush_rounds) flush rounds"
	for o in 0 1; do
		a=$(fio_bw --name=gc64 --directory="$SCRATCH" --rw=write --bs=64k --size=$((DURABLE_COUNT * 65536)) \
			--fdatasync=1 --overwrite=$o | cut -d' ' -f2)
		rm -f "$SCRATCH"/gc64*
		b=$(fio_bw --name=gc512 --directory="$SCRATCH" --rw=write --bs=512k --size=$((DURABLE_COUNT * 4 * 65536)) \
			--fdatasync=1 --overwrite=$o | cut -d' ' -f2)
		rm -f "$SCRATCH"/gc512*
		if [ $o = 0 ]; then f64+=("$a"); f512+=("$b"); else f64o+=("$a"); f512o+=("$b"); fi
	done
	f8+=("$(fio --output-format=json --name=gc8 --directory="$SCRATCH" --rw=write --bs=64k \
		--size=$((DURABLE_COUNT * 65536 / 2)) --fdatasync=1 --numjobs=8 | /usr/bin/python3 -c '
import json, sys
print("%.1f" % sum(j["write"]["iops"] for j in json.load(sys.stdin)["jobs"]))')")
	rm -f "$SCRATCH"/gc8*
done
O1W=$(printf '%s\n' "${one[@]}" | best); O8W=$(printf '%s\n' "${eight[@]}" | best)
F64=$(printf '%s\n' "${f64[@]}" | best); F512=$(printf '%s\n' "${f512[@]}" | best)
F64O=$(printf '%s\n' "${f64o[@]}" | best); F512O=$(printf '%s\n' "${f512o[@]}" | best)
F8=$(printf '%s\n' "${f8[@]}" | best)
x8() { awk -v a="$1" 'BEGIN{printf "%.1f", 8 * a}'; }
echo "group commit:              8 writers $O8W appends/s   1 writer $O1W appends/s   ratio $(ratio "$O8W" "$O1W") (goal >= 3; last run: $rounds)"
echo "  disk, 512 KiB + fdatasync: new blocks $(x8 "$F512") appends/s (vs 64 KiB $F64 IOPS: ratio $(ratio "$(x8 "$F512")" "$F64")),   over written data $(x8 "$F512O") (vs 64 KiB $F64O: ratio $(ratio "$(x8 "$F512O")" "$F64O"))"
echo "  storage 8 writers against the first: $(ratio "$O8W" "$(x8 "$F512")");   8 fio jobs on 8 files: $F8 IOPS ($(ratio "$F8" "$F64") x one job)"

# 4. recovery scan against a sequential read, both from a cold cache
scan=(); rd=()
fio --name=seqr --directory="$SCRATCH" --rw=write --bs=1M --size=$RECOVER_BYTES --end_fsync=1 \
	--output-format=terse >/dev/null
for i in $(seq $REPS); do
	scan+=("$($RECOVER "$SCRATCH/r" $RECOVER_BYTES 16384 drop | field scan_GBps)")
	sync; echo 3 > /proc/sys/vm/drop_caches
	rd+=("$(fio_bw --name=seqr --directory="$SCRATCH" --rw=read --bs=1M --size=$RECOVER_BYTES \
		--invalidate=1 | awk '{printf "%.3f", $1 / 1000}')")
done
MAXRD=$(fio_bw --name=seqr --directory="$SCRATCH" --rw=read --bs=1M --size=$RECOVER_BYTES \
	--ioengine=io_uring --direct=1 --iodepth=16 | awk '{printf "%.3f", $1 / 1000}')
rm -f "$SCRATCH"/seqr*
SCAN=$(printf '%s\n' "${scan[@]}" | best); READ=$(printf '%s\n' "${rd[@]}" | best)
echo "recovery scan (cold):      storage $SCAN GB/s   fio sequential read (psync 1M) $READ GB/s   ratio $(ratio "$SCAN" "$READ")"
echo "                           disk limit (fio io_uring O_DIRECT QD16 1M read) $MAXRD GB/s   ratio $(ratio "$SCAN" "$MAXRD")"
out=$($RECOVER "$SCRATCH/r" $((RECOVER_BYTES / 4)) 16384)
echo "recovery scan (warm):      storage $(echo "$out" | field scan_GBps) GB/s (page cache; CRC-32C and header checks bound it)"
rmdir "$SCRATCH" 2>/dev/null || true
