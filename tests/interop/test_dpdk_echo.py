#!/usr/bin/python3
"""tests/interop/test_dpdk_echo.py: the DPDK packet path against the kernel's own TCP.

ringtail-dpdk-echo runs the project's TCP/IP stack on a DPDK net_af_packet port bound to one
end of a veth pair; the other end sits in a network namespace where this script's clients
(plain kernel sockets) ping it, echo data through it, open many connections at once, send it
malformed packets, and do it all again with loss and reordering injected on the DPDK side (the
kernel here has no netem).  Needs root (namespaces, veth, raw sockets); prints TAP.

usage: test_dpdk_echo.py <path to ringtail-dpdk-echo>
"""
import fcntl
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

NS_CLIENT_FLAG = "--in-namespace"


# ---------------------------------------------------------------- client side (in the namespace)

def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def disable_tx_csum_offload(ifname):
    # veth leaves TCP checksums to the receiver's offload (CHECKSUM_PARTIAL), which af_packet
    # hands to DPDK unfinished; ETHTOOL_STXCSUM off makes the kernel compute them.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    val = struct.pack("II", 0x17, 0)  # ETHTOOL_STXCSUM, data=0
    buf = bytearray(val)
    ifr = struct.pack("16sP", ifname.encode(), 0)
    import ctypes
    cbuf = ctypes.create_string_buffer(bytes(buf))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(cbuf))
    fcntl.ioctl(s.fileno(), 0x8946, ifr)  # SIOCETHTOOL
    s.close()


def ping(dst, count=3):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(2)
    ok = 0
    for seq in range(count):
        payload = os.urandom(40)
        hdr = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq)
        c = checksum(hdr + payload)
        pkt = struct.pack("!BBHHH", 8, 0, c, 0x4242, seq) + payload
        s.sendto(pkt, (dst, 0))
        deadline = time.time() + 2
        while time.time() < deadline:
            try:
                data = s.recv(2048)
            except socket.timeout:
                break
            ihl = (data[0] & 0xF) * 4
            icmp = data[ihl:]
            if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (0x4242, seq) and icmp[8:] == payload \
                    and checksum(icmp) == 0:
                ok += 1
                break
    return ok


def echo_once(dst, port, n, seed):
    data = random.Random(seed).randbytes(n)
    s = socket.create_connection((dst, port), timeout=20)
    got = bytearray()
    err = []

    def rd():
        try:
            while len(got) < n:
                b = s.recv(65536)
                if not b:
                    break
                got.extend(b)
        except Exception as e:  # noqa: BLE001 - reported
            err.append(repr(e))
    t = threading.Thread(target=rd)
    t.start()
    t0 = time.time()
    s.sendall(data)
    t.join(60)
    dt = time.time() - t0
    s.shutdown(socket.SHUT_WR)
    s.settimeout(10)
    eof = s.recv(1) == b""
    s.close()
    return {"n": n, "got": len(got), "same": bytes(got) == data, "eof": eof, "secs": dt, "err": err}


def malformed(dst, port):
    """Sends segments the stack must drop: a bad TCP checksum, a truncated header, a bad option
    length, and an IPv4 fragment; returns how many went out."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src = "10.213.%d.2" % int(dst.split(".")[2])
    sent = 0

    def ip(payload, frag=0x4000, proto=6):
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                          socket.inet_aton(src), socket.inet_aton(dst))
        return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload

    def tcp(flags, opts=b"", csum_ok=True):
        off = (20 + len(opts)) // 4
        h = struct.pack("!HHIIBBHHH", 40000, port, 1, 0, off << 4, flags, 65535, 0, 0) + opts
        ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(h))
        c = checksum(ph + h)
        if not csum_ok:
            c ^= 0x1111
        return h[:16] + struct.pack("!H", c) + h[18:]
    for pkt in (ip(tcp(0x02, csum_ok=False)),            # SYN with a bad checksum
                ip(tcp(0x02)[:12]),                        # truncated TCP header
                ip(tcp(0x02, opts=b"\x02\x09\x05\xb4")),  # MSS option claiming 9 bytes
                ip(tcp(0x02), frag=0x2000)):               # a first fragment
        s.sendto(pkt, (dst, 0))
        sent += 1
    s.close()
    return sent


def client_main(args):
    dst, port, ifname, what = args[0], int(args[1]), args[2], args[3]
    if what == "setup":
        disable_tx_csum_offload(ifname)
        print(json.dumps({"ok": True}))
    elif what == "ping":
        print(json.dumps({"replies": ping(dst)}))
    elif what == "echo":
        print(json.dumps(echo_once(dst, port, int(args[4]), int(args[5]))))
    elif what == "parallel":
        k, n = int(args[4]), int(args[5])
        res = [None] * k

        def one(i):
            try:
                res[i] = echo_once(dst, port, n, 1000 + i)
            except Exception as e:  # noqa: BLE001 - reported
                res[i] = {"same": False, "err": [repr(e)]}
        ts = [threading.Thread(target=one, args=(i,)) for i in range(k)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        print(json.dumps({"all_same": all(r and r.get("same") and r.get("eof") for r in res), "res": res}))
    elif what == "malformed":
        print(json.dumps({"sent": malformed(dst, port)}))


# ---------------------------------------------------------------- the test (host side)

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s%s" % ("ok" if cond else "not ok", self.n, what, "" if cond else "  # " + str(detail)[:300]))
        sys.stdout.flush()


def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def main():
    if len(sys.argv) > 1 and sys.argv[1] == NS_CLIENT_FLAG:
        client_main(sys.argv[2:])
        return 0
    echo_bin = sys.argv[1]
    print("TAP version 13")
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root for namespaces and veth")
        return 0
    tap = Tap()
    tag = "%d" % (os.getpid() % 100000)
    subnet = 100 + os.getpid() % 100
    ns, va, vb = "rtdp" + tag, "rtd%sa" % tag, "rtd%sb" % tag
    our_ip, peer_ip = "10.213.%d.1" % subnet, "10.213.%d.2" % subnet

    def in_ns(*args, timeout=180):
        r = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", os.path.abspath(__file__),
                            NS_CLIENT_FLAG, our_ip, "7", vb] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            return {"error": r.stderr.strip()[-400:]}
        return json.loads(r.stdout.strip().splitlines()[-1])

    procs = []

    def start_echo(*extra):
        p = subprocess.Popen([echo_bin, "ringtail.dpdk.port=net_af_packet0,iface=" + va,
                              "ringtail.dpdk.ip=" + our_ip, "listen.port=7"] + list(extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        line = p.stdout.readline()
        return p, line

    def stop_echo(p):
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        stats = {}
        for ln in out.splitlines():
            if ln.startswith("stats:") or ln.startswith("faults:"):
                for kv in ln.split(":", 1)[1].split():
                    k, v = kv.split("=")
                    stats[k] = int(v)
        return p.returncode, stats, err

    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", vb, "netns", ns)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", peer_ip + "/24", "dev", vb)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", vb, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "set", va, "up")
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % va, check=False)
        r = in_ns("setup")
        tap.ok(r.get("ok"), "namespace %s with veth %s/%s; kernel TX checksums on" % (ns, va, vb), r)

        p, line = start_echo()
        tap.ok(line.startswith("ready:"), "ringtail-dpdk-echo starts on net_af_packet without huge pages",
               line + p.stderr.read() if not line else line)
        if not line.startswith("ready:"):
            raise RuntimeError("echo did not start")
        print("# " + line.strip())
        r = in_ns("ping")
        tap.ok(r.get("replies") == 3, "ICMP echo: 3 of 3 answered (ARP resolved by the stack)", r)
        r = in_ns("echo", 1 << 20, 1)
        tap.ok(r.get("same") and r.get("eof"), "1 MiB echoed byte-identical, FIN answered", r)
        if r.get("same"):
            print("# 1 MiB each way in %.3f s" % r["secs"])
        r = in_ns("parallel", 16, 256 << 10)
        tap.ok(r.get("all_same"), "16 concurrent connections of 256 KiB each, all byte-identical",
               [x.get("err") for x in r.get("res", [])] if "res" in r else r)
        r = in_ns("malformed")
        tap.ok(r.get("sent") == 4, "sent a bad checksum, a truncated header, a bad option length and a fragment", r)
        r = in_ns("echo", 64 << 10, 2)
        tap.ok(r.get("same"), "the stack keeps serving after malformed packets", r)
        rc, stats, err = stop_echo(p)
        tap.ok(rc == 0, "ringtail-dpdk-echo exits 0 on SIGTERM", err[-300:])
        tap.ok(stats.get("bad_csum", 0) >= 1, "the bad checksum was counted and dropped", stats)
        tap.ok(stats.get("zerocopy_segs", 0) > 0, "payload went out as external mbufs (zero copy)", stats)
        tap.ok(stats.get("conns", 0) == 18, "every connection (1 + 16 + 1) was established by the stack", stats)

        p, line = start_echo("test.drop.pct=2", "test.reorder.pct=2")
        tap.ok(line.startswith("ready:"), "restarted with 2% loss each way and 2% reordering injected", line)
        r = in_ns("echo", 2 << 20, 3)
        tap.ok(r.get("same") and r.get("eof"), "2 MiB echoed byte-identical through loss and reordering", r)
        r = in_ns("parallel", 4, 256 << 10)
        tap.ok(r.get("all_same"), "4 concurrent connections through loss and reordering",
               [x.get("err") for x in r.get("res", [])] if "res" in r else r)
        rc, stats, err = stop_echo(p)
        tap.ok(stats.get("fault_dropped_out", 0) > 0 and stats.get("fault_dropped_in", 0) > 0
               and stats.get("fault_reordered_out", 0) > 0,
               "faults were injected both ways", stats)
        tap.ok(stats.get("retransmits", 0) > 0, "the stack retransmitted what was lost", stats)
        print("# faults run: " + json.dumps(stats))
    except Exception as e:  # noqa: BLE001 - reported as a failure
        tap.ok(False, "set-up or run", repr(e))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        sh("ip", "link", "del", va, check=False)
        sh("ip", "netns", "del", ns, check=False)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
