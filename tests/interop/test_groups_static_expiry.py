#!/usr/bin/python3
"""
tests/interop/test_groups_static_expiry.py: a static member (group.instance.id) whose session
expires is removed with its instance id, as Kafka's GroupCoordinator does, so its late requests
get UNKNOWN_MEMBER_ID (FENCED_INSTANCE_ID is only for an instance id that maps to another member
id; librdkafka treats it as fatal).  As Kafka's validateMember, Heartbeat, SyncGroup, OffsetCommit
and LeaveGroup that name an instance id the group does not hold get UNKNOWN_MEMBER_ID even when
the member id is known.  Checked on one coordinator incarnation and across a SIGKILL of
ringtail-control (the reloaded member's session timer restarts at load and expires).
Raw wire: JoinGroup v5, SyncGroup v3, Heartbeat v3, OffsetCommit v7, LeaveGroup v3.
Usage: test_groups_static_expiry.py <path to ringtail>
"""
import os
import signal
import sys
import time

from kwire import Conn, W
from rtbroker import Broker, run_tap

SUB = b'\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00'
SESSION = 6000
RETRY = (14, 15)  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE


class Coord:
    """One connection; every call is retried (fresh connection) while the coordinator is away."""

    def __init__(self, port):
        self.port = port
        self.c = Conn(port)

    def call(self, key, ver, body, parse, deadline=30):
        end = time.time() + deadline
        while True:
            try:
                r = parse(self.c.call(key, ver, body, False))
            except (ConnectionError, OSError):
                self.c = Conn(self.port)
                r = None
            if r is not None and r[0] not in RETRY:
                return r
            if time.time() > end:
                return r
            time.sleep(0.1)

    def join(self, group, member, instance):
        w = W().str(group).i32(SESSION).i32(30000).str(member)
        w.str(instance).str('consumer').i32(1).str('range')
        w.bytes(SUB)

        def parse(r):
            r.i32()
            err, gen = r.i16(), r.i32()
            r.str()
            leader, me = r.str(), r.str()
            return err, gen, leader, me
        return self.call(11, 5, w, parse)

    def sync(self, group, gen, member, instance, assign):
        w = W().str(group).i32(gen).str(member)
        w.str(instance).i32(len(assign))
        for m, a in assign:
            w.str(m).bytes(a)

        def parse(r):
            r.i32()
            return (r.i16(),)
        return self.call(14, 3, w, parse)

    def heartbeat(self, group, gen, member, instance):
        w = W().str(group).i32(gen).str(member)
        w.str(instance)

        def parse(r):
            r.i32()
            return (r.i16(),)
        return self.call(12, 3, w, parse)

    def commit(self, group, gen, member, instance):
        w = W().str(group).i32(gen).str(member)
        w.str(instance).i32(1).str('t').i32(1).i32(0).i64(5).i32(-1).i16(-1)

        def parse(r):
            r.i32()
            r.i32()
            r.str()
            r.i32()
            r.i32()
            return (r.i16(),)
        return self.call(8, 7, w, parse)

    def leave(self, group, member, instance):
        w = W().str(group).i32(1).str(member)
        w.str(instance)

        def parse(r):
            r.i32()
            top = r.i16()
            if top:
                return (top,)
            assert r.i32() == 1
            r.str()
            n = r.i16()
            if n > 0:
                r.take(n)
            return (top, r.i16())
        return self.call(13, 3, w, parse)

    def describe(self, group):
        w = W().i32(1).str(group)

        def parse(r):
            r.i32()
            r.i32()
            err = r.i16()
            r.str()
            state = r.str()
            r.str()
            r.str()
            return err, state, r.i32()
        return self.call(15, 1, w, parse)


def wait_empty(co, group):
    """Until the coordinator has expired every member (the session timeout passed)."""
    end = time.time() + 4 * SESSION / 1000.0
    r = None
    while time.time() < end:
        r = co.describe(group)
        if r[0] == 0 and r[1] == 'Empty' and r[2] == 0:
            return r
        time.sleep(0.3)
    return r


def member_of(co, group, instance):
    j = co.join(group, '', instance)
    if j[0] != 0:
        return j, None
    s = co.sync(group, j[1], j[3], instance, [(j[3], b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00')])
    return j, s


def main(tap):
    with Broker(sys.argv[1], overrides={'group.initial.rebalance.delay.ms': '0'}) as b:
        from kafka.admin import KafkaAdminClient, NewTopic
        adm = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
        adm.create_topics([NewTopic('t', 1, 1)])
        adm.close()
        co = Coord(b.port)
        # 0. A live member's id with an instance id the group does not hold (Kafka's validateMember).
        j, s = member_of(co, 'gc', 'inst-c')
        tap.ok(j[0] == 0 and s == (0,), 'static member inst-c joins and syncs', (j, s))
        gen, me = j[1], j[3]
        r = co.heartbeat('gc', gen, me, 'other')
        tap.ok(r == (25,), 'Heartbeat with its member id and an unknown instance id: UNKNOWN_MEMBER_ID', r)
        r = co.sync('gc', gen, me, 'other', [])
        tap.ok(r == (25,), 'SyncGroup likewise: UNKNOWN_MEMBER_ID', r)
        r = co.commit('gc', gen, me, 'other')
        tap.ok(r == (25,), 'OffsetCommit likewise: UNKNOWN_MEMBER_ID', r)
        r = co.leave('gc', me, 'other')
        tap.ok(r == (0, 25), 'LeaveGroup likewise: UNKNOWN_MEMBER_ID for that member', r)
        r = co.heartbeat('gc', gen, me, None)
        tap.ok(r == (0,), 'the member is still there (Heartbeat without an instance id)', r)
        r = co.commit('gc', gen, me, 'inst-c')
        tap.ok(r == (0,), 'its OffsetCommit with its own instance id is stored', r)
        r = co.leave('gc', me, 'inst-c')
        tap.ok(r == (0, 0), 'it leaves with its own instance id', r)

        # 1. One incarnation: the static member stops heartbeating and its session expires.
        j, s = member_of(co, 'ga', 'inst-a')
        tap.ok(j[0] == 0 and s == (0,), 'static member inst-a joins and syncs', (j, s))
        gen, me = j[1], j[3]
        tap.ok(co.heartbeat('ga', gen, me, 'inst-a') == (0,), 'its heartbeat is answered')
        r = wait_empty(co, 'ga')
        tap.ok(r[:3] == (0, 'Empty', 0), 'after the session timeout the group is Empty', r)
        r = co.heartbeat('ga', gen, me, 'inst-a')
        tap.ok(r == (25,), 'the expired member\'s Heartbeat: UNKNOWN_MEMBER_ID, not FENCED_INSTANCE_ID', r)
        r = co.sync('ga', gen, me, 'inst-a', [])
        tap.ok(r == (25,), 'its SyncGroup: UNKNOWN_MEMBER_ID', r)
        r = co.commit('ga', gen, me, 'inst-a')
        tap.ok(r == (25,), 'its OffsetCommit: UNKNOWN_MEMBER_ID', r)
        r = co.leave('ga', me, 'inst-a')
        tap.ok(r == (0, 25), 'its LeaveGroup: UNKNOWN_MEMBER_ID for that member', r)
        j2, s2 = member_of(co, 'ga', 'inst-a')
        tap.ok(j2[0] == 0 and s2 == (0,) and j2[3] != me, 'inst-a joins again with a new member id', (j2, s2))
        r = co.heartbeat('ga', j2[1], me, 'inst-a')
        tap.ok(r == (82,), 'the old member id with the instance id now mapped to the new one: FENCED_INSTANCE_ID', r)
        tap.ok(co.heartbeat('ga', j2[1], j2[3], 'inst-a') == (0,), 'the new member id heartbeats')

        # 2. Across a SIGKILL of ringtail-control: the member is reloaded from __consumer_offsets,
        # its session restarts at load, and it expires there.
        j, s = member_of(co, 'gb', 'inst-b')
        tap.ok(j[0] == 0 and s == (0,), 'static member inst-b joins and syncs', (j, s))
        gen, me = j[1], j[3]
        pid = b.control_pid()
        tap.ok(pid is not None, 'ringtail-control runs')
        os.kill(pid, signal.SIGKILL)
        r = co.describe('gb')
        tap.ok(r[0] == 0 and r[2] == 1, 'the restarted coordinator loaded the member', r)
        r = wait_empty(co, 'gb')
        tap.ok(r[:3] == (0, 'Empty', 0), 'after the session timeout the reloaded member expired', r)
        r = co.heartbeat('gb', gen, me, 'inst-b')
        tap.ok(r == (25,), 'the expired reloaded member\'s Heartbeat: UNKNOWN_MEMBER_ID', r)
        # The expiry must have reached the log: after another restart the instance is still gone.
        # A Heartbeat alone cannot tell: while the new coordinator loads it answers Heartbeat
        # NONE blindly (Kafka's handleHeartbeat), so a Heartbeat that lands in the load window
        # got 0 under load.  DescribeGroups answers COORDINATOR_LOAD_IN_PROGRESS until the load
        # is over (Coord.call retries it), so its answer is the reloaded state itself.
        pid2 = b.control_pid()
        tap.ok(pid2 is not None and pid2 != pid, 'the restarted ringtail-control runs', (pid, pid2))
        if pid2:
            os.kill(pid2, signal.SIGKILL)
        r = co.describe('gb')
        tap.ok(r[:3] == (0, 'Empty', 0), 'after another restart the group is loaded Empty, without inst-b', r)
        r = co.heartbeat('gb', gen, me, 'inst-b')
        tap.ok(r == (25,), 'after another restart: still UNKNOWN_MEMBER_ID', r)
        tap.ok(b.alive(), 'the broker is still running')


if __name__ == '__main__':
    run_tap(main)
