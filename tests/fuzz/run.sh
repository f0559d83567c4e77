#!/bin/sh
# Runs one libFuzzer target for $RT_FUZZ_SECONDS (default 30) seconds on a copy of its seed
# corpus and prints the outcome as one TAP case.  A crash, leak or sanitizer report fails it.
exe=$1 corpus=$2 name=$3
secs=${RT_FUZZ_SECONDS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
[ -d "$corpus" ] && cp -r "$corpus"/. "$work/corpus/" 2>/dev/null
echo "1..1"
if "$exe" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=1048576 -artifact_prefix="$work/" \
	"$work/corpus" >"$work/log" 2>&1; then
	echo "ok 1 - fuzz $name ($secs s, $(grep -o '#[0-9][0-9]*' "$work/log" | tail -1 | tr -d '#') runs)"
else
	echo "not ok 1 - fuzz $name"
	tail -40 "$work/log" | sed 's/^/# /'
	for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -f "$f" ] && echo "# artifact: $(basename "$f") $(od -An -tx1 "$f" | head -4 | tr -s ' ')"
	done
	exit 1
fi
