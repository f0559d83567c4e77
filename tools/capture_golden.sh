#!/bin/sh
# Captures the request frames of real clients for tests/unit/proto/test_golden.c:
#   tools/capture_golden.sh <build dir> <out dir>      (e.g. build tests/unit/proto/data/golden)
# kcat (librdkafka) and kafka-python (Debian's /usr/bin/python3) each produce one message to
# topic "golden" and then consume from partition 0, against build/tools/kp-capture, which
# writes every frame to <out dir>/<client>/.  The C test asserts what the frames contain, so a
# re-capture means re-checking the expected values there.
set -eu
build=$1 out=$2
cap=$build/tools/kp-capture
[ -x "$cap" ] || { echo "capture_golden: build $cap first (ninja -C $build)" >&2; exit 1; }
port=$((20000 + $$ % 20000))

run() { # <client dir> <seconds> <command...>
	dir=$out/$1 secs=$2; shift 2
	rm -rf "$dir"; mkdir -p "$dir"
	"$cap" "$port" "$dir" "$secs" golden & pid=$!
	sleep 0.5
	"$@" || true
	wait "$pid"
	port=$((port + 1))
}

run kcat-produce 4 sh -c "printf 'golden-value' | timeout 3 kcat -P -b 127.0.0.1:$port -t golden -p 0 -k golden-key -c 1"
run kcat-consume 4 timeout 3 kcat -C -b 127.0.0.1:$port -t golden -p 0 -o beginning -c 1 -e
run kafka-python-produce 6 timeout 5 /usr/bin/python3 -c "
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers='127.0.0.1:$port', client_id='golden-py', acks=1)
p.send('golden', key=b'golden-key', value=b'golden-value', partition=0).get(timeout=4)
p.close()"
run kafka-python-consume 6 timeout 5 /usr/bin/python3 -c "
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers='127.0.0.1:$port', client_id='golden-py', group_id=None,
                  auto_offset_reset='earliest', consumer_timeout_ms=3000)
c.assign([TopicPartition('golden', 0)])
for m in c: break
c.close()"
ls -R "$out"
