#!/usr/bin/python3
"""
tests/interop/test_conn_balance.py: in default mode, connections to the shared port are spread
over the shards by how many each serves, not by the kernel's SO_REUSEPORT hash (which put both
producer connections of the produce benchmark on one shard in about half the runs).  64
connections are opened one after another; the broker's debug log names the shard that serves
each.  The count starts from the control process's own connections (its two stores connect at
start), and with balancing the running difference between the shards never grows past that
start (or 1) by more than one; a random spread of 64 stays that close only rarely.  A Produce on the moved connections still works.
Usage: test_conn_balance.py <path to ringtail>
"""
import re
import socket
import sys
import time

from kafka import KafkaProducer

from rtbroker import Broker, run_tap

N = 64


def wait_shard(broker, port, timeout=10):
    pat = re.compile(r'shard (\d+): connection from 127\.0\.0\.1:%d\b' % port)
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = pat.search(broker.log())
        if m:
            return int(m.group(1))
        time.sleep(0.01)
    return None


def main(tap):
    with Broker(sys.argv[1], overrides={'ringtail.cores': '0-1'}, extra_args=['--log-level', 'debug']) as b:
        # The control process's stores (__consumer_offsets, __transaction_state) connect at start.
        deadline = time.time() + 10
        while time.time() < deadline and '__transaction_state' not in b.log():
            time.sleep(0.05)
        time.sleep(0.2)
        before = [int(x) for x in re.findall(r'shard (\d+): connection from', b.log())]
        start = before.count(0) - before.count(1)
        socks, shards = [], []
        for _ in range(N):
            s = socket.create_connection(('127.0.0.1', b.port), timeout=5)
            socks.append(s)
            shards.append(wait_shard(b, s.getsockname()[1]))
        tap.ok(None not in shards, 'the log names the shard of each of %d connections' % N, shards)
        diff, worst = start, abs(start)
        for sh in shards:
            diff += 1 if sh == 0 else -1
            worst = max(worst, abs(diff))
        bound = max(abs(start), 1) + 1
        tap.ok(worst <= bound, 'the shards stay balanced as connections arrive (worst difference %d, '
               'allowed %d from %d at the start)' % (worst, bound, start),
               ' '.join(str(x) for x in shards))
        tap.ok(shards.count(0) >= N // 2 - 2 and shards.count(1) >= N // 2 - 2,
               'each shard serves about half (%d / %d)' % (shards.count(0), shards.count(1)))
        for s in socks:
            s.close()
        # Clients on connections a shard handed to the other one are served as usual.
        p = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1)
        futs = [p.send('balanced', b'v%d' % i) for i in range(20)]
        p.flush(10)
        tap.ok(all(f.get(10).offset >= 0 for f in futs), 'produce through balanced connections is acknowledged')
        p.close()
        tap.ok(b.alive(), 'the broker still runs')


run_tap(main)
