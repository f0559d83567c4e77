#!/usr/bin/python3
"""tests/interop/impair_bridge.py: what `tc qdisc add dev X root netem delay D loss L reorder R`
does to a link, in user space, for kernels built without sch_netem (this machine's:
CONFIG_NET_SCH_NETEM is not set).  It bridges two interfaces at layer 2 with AF_PACKET sockets
and, in each direction, drops each frame with probability L, sends each surviving frame with
probability R at once and the others D ms later -- netem's reordering: a frame sent at once
overtakes the delayed ones queued before it.  Frames are forwarded byte for byte (MAC addresses
included), so the two ends see each other as on one wire.

Run it in the namespace that holds both interfaces; it forwards until SIGTERM and then writes its
counters as one JSON line to the stats file (so a test can check the impairment happened).

usage: impair_bridge.py <if a> <if b> <loss %> <reorder %> <delay ms> <seed> <stats file>
"""
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def main():
    ifa, ifb = sys.argv[1], sys.argv[2]
    loss, reorder, delay = float(sys.argv[3]) / 100, float(sys.argv[4]) / 100, float(sys.argv[5]) / 1000
    rng = random.Random(int(sys.argv[6]))
    stats_path = sys.argv[7]
    socks = {}
    for name in (ifa, ifb):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.setblocking(False)
        socks[name] = s
    other = {ifa: socks[ifb], ifb: socks[ifa]}
    st = {d: {"frames": 0, "dropped": 0, "reordered": 0, "delayed": 0} for d in (ifa, ifb)}
    queue = []  # (due, seq, in interface, out socket, frame)
    held = {ifa: 0, ifb: 0}  # frames from each interface waiting in queue
    seq = 0
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    print("ready", flush=True)
    fds = {s.fileno(): n for n, s in socks.items()}
    while running[0]:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, src, out, frame = heapq.heappop(queue)
            held[src] -= 1
            try:
                out.send(frame)
            except OSError:
                pass  # a full socket buffer is a loss, as on a wire
        timeout = max(0.0, queue[0][0] - now) if queue else 0.2
        try:
            ready, _, _ = select.select(list(fds), [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            name = fds[fd]
            s = socks[name]
            for _ in range(64):
                try:
                    frame, addr = s.recvfrom(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:  # what this bridge itself sent out
                    continue
                d = st[name]
                d["frames"] += 1
                if rng.random() < loss:
                    d["dropped"] += 1
                    continue
                if rng.random() < reorder:
                    if held[name]:  # it overtakes a delayed frame of its own direction
                        d["reordered"] += 1
                    try:
                        other[name].send(frame)
                    except OSError:
                        pass
                    continue
                d["delayed"] += 1
                seq += 1
                held[name] += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, name, other[name], frame))
    with open(stats_path, "w") as f:
        f.write(json.dumps(st) + "\n")


if __name__ == "__main__":
    main()
