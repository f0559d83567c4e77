#!/usr/bin/python3
"""tests/interop/test_dpdk_bad_packets.py: the `ringtail` broker on the dpdk backend against bad
packets, answered as RFC 9293 (with RFC 5961's challenge ACKs) says, on a live Kafka connection.

The peer is this script itself speaking TCP from raw frames (AF_PACKET on the namespace's veth) with
an address the namespace's kernel does not own, so the kernel neither answers nor resets what the
broker sends it.  After a handshake and a Kafka ApiVersions exchange it sends, on that connection:
a data segment with a bad TCP checksum, one with a bad IPv4 header checksum, a truncated TCP
header, a data offset past the segment, options with bad lengths, an IPv4 fragment, a segment
outside the receive window, an RST inside the window but not at RCV.NXT, a SYN, and an ACK of
bytes never sent.  The broken ones must get nothing (dropped, the data not taken); the out-of-window
segment, the in-window RST, the SYN and the ACK of unsent data must each get one ACK at
RCV.NXT/SND.NXT and change nothing; then an ApiVersions request on the same connection is answered
(the stack kept serving), a SYN to a port nobody listens on gets RST+ACK, and kcat still works.
What the broker sent for each packet is what came on the connection before its answer to an
ApiVersions request sent right behind the packet (its ACK field not yet past that request), not
what came within some time: on a loaded machine an answer that came late was once counted for the
next packet.  The broker's own counters at exit must show each kind dropped.  All of it on net_af_packet (two
shards) and on net_tap (one shard; there a lone IPv4 fragment reaches the stack, where af_packet's
kernel side holds it for reassembly).  Needs root; prints TAP.

usage: test_dpdk_bad_packets.py <path to ringtail>
"""
import json
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dpdk_env import DpdkBroker, run_tap, stats_of  # noqa: E402  (same directory)
from test_dpdk_echo import checksum  # noqa: E402

NS_FLAG = "--in-namespace"
ETH_P_IP, ETH_P_ARP, ETH_P_ALL = 0x0800, 0x0806, 0x0003
PACKET_OUTGOING = 4
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# ------------------------------------------------------------- the raw peer (in the namespace)

class RawPeer:
    def __init__(self, ifname, src, dst):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.s.bind((ifname, 0))
        self.mac = self.s.getsockname()[4]
        self.src, self.dst = src, dst
        self.dmac = None
        self.ip_id = 1

    def arp(self):
        """Resolves the broker's address (and so teaches it ours)."""
        body = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1, self.mac, socket.inet_aton(self.src),
                           b"\0" * 6, socket.inet_aton(self.dst))
        for _ in range(5):
            self.s.send(b"\xff" * 6 + self.mac + struct.pack("!H", ETH_P_ARP) + body)
            deadline = time.time() + 1
            while time.time() < deadline:
                f = self.recv_frame(deadline - time.time())
                if f and struct.unpack("!H", f[12:14])[0] == ETH_P_ARP and f[20:22] == b"\0\2" and \
                        f[28:32] == socket.inet_aton(self.dst):
                    self.dmac = f[22:28]
                    return True
        return False

    def recv_frame(self, timeout):
        self.s.settimeout(max(timeout, 0.001))
        while True:
            try:
                f, addr = self.s.recvfrom(65536)
            except socket.timeout:
                return None
            if addr[2] != PACKET_OUTGOING:
                return f

    def ip(self, payload, proto=6, frag=0x4000, bad_csum=False, tot=None):
        tot = 20 + len(payload) if tot is None else tot
        self.ip_id += 1
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, self.ip_id, frag, 64, proto, 0,
                        socket.inet_aton(self.src), socket.inet_aton(self.dst))
        c = checksum(h) ^ (0x5555 if bad_csum else 0)
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    def tcp(self, sport, dport, seq, ack, flags, data=b"", opts=b"", win=65535, bad_csum=False, doff=None):
        off = (20 + len(opts)) // 4 if doff is None else doff
        h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff, off << 4, flags,
                        win, 0, 0) + opts
        ph = socket.inet_aton(self.src) + socket.inet_aton(self.dst) + struct.pack("!BBH", 0, 6, len(h) + len(data))
        c = checksum(ph + h + data) ^ (0x1111 if bad_csum else 0)
        return h[:16] + struct.pack("!H", c) + h[18:] + data

    def send_ip(self, pkt):
        self.s.send(self.dmac + self.mac + struct.pack("!H", ETH_P_IP) + pkt)

    def segments(self, sport, timeout):
        """TCP segments from the broker to sport within timeout: (seq, ack, flags, win, data)."""
        out = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            f = self.recv_frame(deadline - time.time())
            if not f or struct.unpack("!H", f[12:14])[0] != ETH_P_IP:
                continue
            p = f[14:]
            if p[9] != 6 or p[12:16] != socket.inet_aton(self.dst) or p[16:20] != socket.inet_aton(self.src):
                continue
            ihl = (p[0] & 15) * 4
            tot = struct.unpack("!H", p[2:4])[0]
            t = p[ihl:tot]
            sp, dp, seq, ack, off, fl, win = struct.unpack("!HHIIBBH", t[:16])
            if dp != sport:
                continue
            out.append((seq, ack, fl, win, t[(off >> 4) * 4:]))
        return out


def api_versions(corr):
    body = struct.pack("!hhi", 18, 0, corr) + struct.pack("!h", 3) + b"raw"
    return struct.pack("!i", len(body)) + body


def peer_main(ifname, src, dst, port):
    r = {}
    p = RawPeer(ifname, src, dst)
    r["arp"] = p.arp()
    if not r["arp"]:
        print(json.dumps(r))
        return
    sport = 40000 + random.Random(os.getpid()).randrange(20000)
    iss = 1000
    synack = []
    for _ in range(5):  # the broker's SYN-ACK, however loaded the machine (a lost one: SYN again)
        p.send_ip(p.ip(p.tcp(sport, port, iss, 0, SYN, opts=b"\x02\x04\x05\xb4")))
        synack = [s for s in p.segments(sport, 2) if s[2] & (SYN | ACK) == SYN | ACK]
        if synack:
            break
    r["synack"] = bool(synack) and synack[0][1] == iss + 1
    if not r["synack"]:
        print(json.dumps(r))
        return
    rcv_nxt = synack[0][0] + 1
    snd_nxt = iss + 1
    p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK)))

    def request(corr, wait=20):
        """Sends ApiVersions and reads its answer, which it ACKs.  Returns (the answer's
        correlation id or None, the other segments that came before the answer's first byte
        and whose ACK field is not past the request: what the broker sent before taking it)."""
        nonlocal snd_nxt, rcv_nxt
        req = api_versions(corr)
        p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=req)))
        snd_nxt += len(req)
        got, before = b"", []
        deadline = time.time() + wait
        while time.time() < deadline:
            # short looks, so the answer is ACKed at once: an answer left unACKed for two round
            # trips draws the broker's tail loss probe (a retransmission, right by RFC 8985)
            for seg in p.segments(sport, 0.01):
                seq, ack, fl, win, data = seg
                if data and seq == rcv_nxt + len(got) and ack == snd_nxt:
                    got += data
                elif data and (rcv_nxt - (seq + len(data))) & 0xffffffff < 1 << 31:
                    # bytes we have ACKed already, sent again because that ACK came late (the
                    # tail loss probe or the RTO): the broker's timing, not an answer to anything
                    r["resent_old"] = r.get("resent_old", 0) + 1
                elif not got and ack != snd_nxt:  # sent before the request was taken
                    before.append(seg)
            if len(got) >= 8 and len(got) >= 4 + struct.unpack("!i", got[:4])[0]:
                rcv_nxt += len(got)
                p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK)))
                return struct.unpack("!i", got[4:8])[0], before
        return None, before

    r["first_answer"] = request(7)[0] == 7

    # Pipelined requests are answered without waiting for the peer to ACK each answer (a kernel
    # client delays its ACKs): three ApiVersions in one segment, nothing acknowledged, and all
    # three answers must come.
    reqs = api_versions(11) + api_versions(12) + api_versions(13)
    p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=reqs)))
    snd_nxt += len(reqs)
    stream = b""
    corrs = []
    deadline = time.time() + 20
    while time.time() < deadline and len(corrs) < 3:
        for seq, ack, fl, win, data in p.segments(sport, 0.1):
            if data and seq == rcv_nxt + len(stream):
                stream += data
        corrs, at = [], 0
        while at + 8 <= len(stream) and at + 4 + struct.unpack("!i", stream[at:at + 4])[0] <= len(stream):
            corrs.append(struct.unpack("!i", stream[at + 4:at + 8])[0])
            at += 4 + struct.unpack("!i", stream[at:at + 4])[0]
    r["pipelined_unacked"] = corrs
    rcv_nxt += len(stream)
    p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK)))

    # What the broker answers to a packet: everything it sends on the connection from then until
    # its answer to an ApiVersions request sent right behind the packet, whose answer can only
    # come after the packet was dealt with (one connection, one queue, in order).  No clock
    # decides what belongs to which packet, so a slow machine cannot move an answer from one
    # packet to the next.  A packet wrongly taken shows too: the request's answer does not come
    # (its bytes land after junk) or the connection is reset.
    corr_next = [100]

    def answer_to(make):
        """make() builds the packet from the current sequence numbers; returns (the segments the
        broker sent for it, whether the marker request after it was answered)."""
        p.send_ip(make())
        corr_next[0] += 1
        got, before = request(corr_next[0])
        return before, got == corr_next[0]

    junk = api_versions(99)
    bad = {
        "tcp_bad_csum": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk, bad_csum=True)),
        "ip_bad_csum": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk), bad_csum=True),
        "truncated_header": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK)[:12]),
        "doff_past_end": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK, doff=15)),
        "doff_below_20": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, ACK, data=junk, doff=3)),
        "opt_len_0": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk,
                                        opts=b"\x08\x00\x01\x01")),
        "opt_len_past_end": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk,
                                               opts=b"\x01\x03\x0c\x00")),
        "mss_len_9": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk,
                                        opts=b"\x02\x09\x05\xb4")),
        "fragment": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk), frag=0x2000),
        "ip_tot_len_past_frame": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt, PSH | ACK, data=junk),
                                              tot=1400),
    }
    r["dropped_silently"] = {}
    r["detail"] = {}
    for k, make in bad.items():
        at_seq, at_ack = rcv_nxt, snd_nxt
        segs, marker = answer_to(make)
        r["dropped_silently"][k] = not segs and marker
        if not r["dropped_silently"][k]:  # what came instead: (seq, ack, flags, window, data bytes) relative to ours
            r["detail"][k] = [marker] + [(s[0] - at_seq, s[1] - at_ack, s[2], s[3], len(s[4])) for s in segs[:4]]

    answers = {
        # RFC 9293 3.10.7.4 first check: unacceptable segment -> <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        "outside_window": lambda: p.ip(p.tcp(sport, port, snd_nxt + (1 << 30), rcv_nxt, PSH | ACK, data=junk)),
        # RFC 5961 3.2 (RFC 9293 3.10.7.4 second check): RST in the window, not at RCV.NXT
        "rst_in_window": lambda: p.ip(p.tcp(sport, port, snd_nxt + 100, rcv_nxt, RST)),
        # RFC 5961 4.2: SYN in a synchronized state
        "syn_established": lambda: p.ip(p.tcp(sport, port, snd_nxt, 0, SYN)),
        # RFC 9293 3.10.7.4 fifth check: SEG.ACK > SND.NXT -> ACK and drop
        "ack_of_unsent": lambda: p.ip(p.tcp(sport, port, snd_nxt, rcv_nxt + 100000, PSH | ACK, data=junk)),
    }
    r["acked"] = {}
    for k, make in answers.items():
        at_seq, at_ack = rcv_nxt, snd_nxt
        segs, marker = answer_to(make)
        ok = marker and len(segs) == 1 and segs[0][2] & (SYN | RST | FIN | ACK) == ACK and \
            segs[0][0] == at_seq and segs[0][1] == at_ack and not segs[0][4]
        r["acked"][k] = ok
        if not ok:
            r["detail"][k] = [marker] + [(s[0] - at_seq, s[1] - at_ack, s[2], s[3], len(s[4])) for s in segs[:4]]
    # the connection lives on, with nothing of the junk taken: the next request is answered
    r["answer_after"] = request(8)[0] == 8
    # RFC 9293 3.10.7.1: a SYN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>
    cport = sport + 1
    r["closed_port_rst"] = False
    for _ in range(3):
        p.send_ip(p.ip(p.tcp(cport, 9, 5000, 0, SYN)))
        if any(s[2] & (RST | ACK) == RST | ACK and s[1] == 5001 for s in p.segments(cport, 3)):
            r["closed_port_rst"] = True
            break
    # an exact RST ends the connection (RFC 9293 3.10.7.4 second check)
    p.send_ip(p.ip(p.tcp(sport, port, snd_nxt, 0, RST)))
    print(json.dumps(r))


# ------------------------------------------------------------- the test (host side)

def run(tap, ringtail, device):
    with DpdkBroker(ringtail, tap, "x", device=device) as env:
        try:
            env.setup_net()
            md = env.start()
            tap.ok(b"broker 0 at " + env.bs.encode() in md, "%s: kcat -L lists the broker" % device, md[-300:])
            raw_ip = env.peer_ip.rsplit(".", 1)[0] + ".3"  # not the namespace kernel's
            ifname = env.va if device == "tap" else env.vb
            r = env.in_ns("/usr/bin/python3", os.path.abspath(__file__), NS_FLAG, ifname, raw_ip, env.our_ip,
                          "9092", timeout=90)
            try:
                res = json.loads(r.stdout.decode().strip().splitlines()[-1])
            except (ValueError, IndexError):
                res = {}
            err = r.stderr.decode(errors="replace")[-300:]
            if res.get("resent_old"):
                print("# %s: the broker resent %d answer segment(s) the peer's ACK had not reached yet"
                      % (device, res["resent_old"]))
            tap.ok(res.get("arp") and res.get("synack") and res.get("first_answer"),
                   "%s: a raw-frame peer resolves the broker, connects and gets an ApiVersions answer" % device,
                   (res, err))
            for k, v in sorted(res.get("dropped_silently", {}).items()):
                tap.ok(v, "%s: dropped without an answer: %s" % (device, k), (res.get("detail", {}).get(k), res))
            for k, v in sorted(res.get("acked", {}).items()):
                tap.ok(v, "%s: answered with one ACK at SND.NXT/RCV.NXT and nothing else: %s" % (device, k),
                       res.get("detail", {}).get(k))
            tap.ok(len(res.get("dropped_silently", {})) == 10 and len(res.get("acked", {})) == 4,
                   "%s: every bad packet was sent" % device, res)
            tap.ok(res.get("pipelined_unacked") == [11, 12, 13],
                   "%s: three pipelined requests are all answered though the peer ACKs none of the answers"
                   % device, res.get("pipelined_unacked"))
            tap.ok(res.get("answer_after"),
                   "%s: the same connection answers the next request: nothing bad was taken" % device, res)
            tap.ok(res.get("closed_port_rst"), "%s: a SYN to a closed port gets RST+ACK" % device, res)
            md = env.in_ns("kcat", "-b", env.bs, "-L", "-m", "5", timeout=20).stdout
            tap.ok(b"1 brokers" in md, "%s: kcat still gets metadata" % device, md[-200:])
            rc = env.stop()
            tap.ok(rc == 0, "%s: SIGTERM: the broker exits 0" % device, rc)
            st = stats_of(env.log_lines())
            want = {"tcp_bad_csum": 1, "ip_bad_csum": 1, "tcp_bad_header": 3, "tcp_bad_options": 3,
                    "challenge_acks": 2, "out_of_window": 1}
            # af_packet's fanout asks the kernel to reassemble (PACKET_FANOUT_FLAG_DEFRAG): a lone
            # fragment waits there and never reaches DPDK.  tap hands it over as it came.
            if device == "tap":
                want["frags_dropped"] = 1
            tap.ok(all(st.get(k, 0) >= v for k, v in want.items()),
                   "%s: the broker counted each drop: %s" % (device, ", ".join("%s>=%d" % kv for kv in want.items())),
                   st)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            tap.ok(False, "%s: set-up or run" % device, repr(e))


def checks(tap, ringtail):
    for device in ("af_packet", "tap"):
        run(tap, ringtail, device)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == NS_FLAG:
        peer_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    return run_tap("namespaces, veth and raw sockets", lambda tap: checks(tap, sys.argv[1]))


if __name__ == "__main__":
    sys.exit(main())
