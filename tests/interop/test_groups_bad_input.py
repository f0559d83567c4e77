#!/usr/bin/python3
"""
tests/interop/test_groups_bad_input.py: coordinator requests that Kafka refuses get Kafka's error
codes from ringtail-control: unknown groups, unknown members, wrong generations, invalid session
timeouts and group ids, inconsistent protocols, oversized offset metadata, commits for topics or
partitions that do not exist (UNKNOWN_TOPIC_OR_PARTITION per partition, as Kafka's KafkaApis
answers them), deleting unknown or live groups.  Requests are built with kafka-python's protocol classes and sent on one
connection, then a well-formed commit shows the coordinator still serves.
Usage: test_groups_bad_input.py <path to ringtail>
"""
import sys
import time

from kafka.client_async import KafkaClient
from kafka.protocol.admin import CreateTopicsRequest, DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest

from rtbroker import Broker, run_tap

SUB = b'\x00\x00\x00\x00\x00\x01\x00\x01t\x00\x00\x00\x00'


def main(tap):
    with Broker(sys.argv[1], overrides={'group.initial.rebalance.delay.ms': '0'}) as b:
        cl = KafkaClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
        node = None
        deadline = time.time() + 15
        while time.time() < deadline:
            cl.poll(timeout_ms=100)
            node = cl.least_loaded_node()
            if node is not None and cl.ready(node):
                break

        def call(req):
            for _ in range(300):
                f = cl.send(node, req)
                cl.poll(future=f)
                if f.failed():
                    raise f.exception
                v = f.value
                # the control process may still be loading or starting: retry as clients do
                if getattr(v, 'error_code', 0) in (14, 15):
                    time.sleep(0.1)
                    continue
                return v
            return v

        # Until it has loaded its state, Kafka's coordinator answers heartbeats blindly (NONE):
        # wait until OffsetFetch is answered without a coordinator error.
        call(OffsetFetchRequest[3]('warmup', [('t', [0])]))
        r = call(CreateTopicsRequest[2]([('t', 2, 1, [], [])], 30000, False))
        tap.ok(r.topic_errors[0][1] == 0, 'topic t with 2 partitions is created', r)
        r = call(HeartbeatRequest[1]('nogroup', 1, 'nobody'))
        tap.ok(r.error_code == 25, 'Heartbeat to an unknown group: UNKNOWN_MEMBER_ID', r)
        r = call(JoinGroupRequest[2]('nogroup', 10000, 30000, 'nobody', 'consumer', [('range', SUB)]))
        tap.ok(r.error_code == 25, 'JoinGroup with an unknown member id: UNKNOWN_MEMBER_ID', r)
        r = call(JoinGroupRequest[2]('g', 1000, 30000, '', 'consumer', [('range', SUB)]))
        tap.ok(r.error_code == 26, 'JoinGroup with a 1 s session timeout: INVALID_SESSION_TIMEOUT', r)
        r = call(JoinGroupRequest[2]('', 10000, 30000, '', 'consumer', [('range', SUB)]))
        tap.ok(r.error_code == 24, 'JoinGroup with an empty group id: INVALID_GROUP_ID', r)
        r = call(SyncGroupRequest[1]('nogroup', 1, 'nobody', []))
        tap.ok(r.error_code == 25, 'SyncGroup to an unknown group: UNKNOWN_MEMBER_ID', r)

        j = call(JoinGroupRequest[2]('g', 10000, 30000, '', 'consumer', [('range', SUB)]))
        tap.ok(j.error_code == 0 and j.generation_id == 1 and j.leader_id == j.member_id,
               'a real member joins (generation 1, leader)', j)
        me = j.member_id
        r = call(SyncGroupRequest[1]('g', 1, me, [(me, b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00')]))
        tap.ok(r.error_code == 0, 'its SyncGroup is answered', r)
        r = call(HeartbeatRequest[1]('g', 7, me))
        tap.ok(r.error_code == 22, 'Heartbeat with a wrong generation: ILLEGAL_GENERATION', r)
        r = call(HeartbeatRequest[1]('g', 1, 'stranger'))
        tap.ok(r.error_code == 25, 'Heartbeat from an unknown member: UNKNOWN_MEMBER_ID', r)
        r = call(SyncGroupRequest[1]('g', 3, me, []))
        tap.ok(r.error_code == 22, 'SyncGroup with a wrong generation: ILLEGAL_GENERATION', r)
        r = call(JoinGroupRequest[2]('g', 10000, 30000, '', 'connect', [('x', b'')]))
        tap.ok(r.error_code == 23, 'JoinGroup with another protocol type: INCONSISTENT_GROUP_PROTOCOL', r)

        r = call(OffsetCommitRequest[2]('g', 1, 'stranger', -1, [('t', [(0, 5, '')])]))
        tap.ok(r.topics[0][1][0][1] == 25, 'OffsetCommit from an unknown member: UNKNOWN_MEMBER_ID', r)
        r = call(OffsetCommitRequest[2]('g', 9, me, -1, [('t', [(0, 5, '')])]))
        tap.ok(r.topics[0][1][0][1] == 22, 'OffsetCommit with a wrong generation: ILLEGAL_GENERATION', r)
        r = call(OffsetCommitRequest[2]('nogroup2', 4, 'm', -1, [('t', [(0, 5, '')])]))
        tap.ok(r.topics[0][1][0][1] == 22, 'OffsetCommit with a generation for an unknown group: ILLEGAL_GENERATION', r)
        r = call(OffsetCommitRequest[2]('g', 1, me, -1, [('t', [(0, 5, 'm' * 5000), (1, 6, 'ok')])]))
        errs = dict((p[0], p[1]) for p in r.topics[0][1])
        tap.ok(errs == {0: 12, 1: 0}, 'oversized offset metadata: OFFSET_METADATA_TOO_LARGE for that partition only', r)
        r = call(OffsetFetchRequest[3]('g', [('t', [0, 1])]))
        got = dict((p[0], (p[1], p[2])) for p in r.topics[0][1])
        tap.ok(r.error_code == 0 and got == {0: (-1, ''), 1: (6, 'ok')}, 'OffsetFetch returns only what was stored', r)
        r = call(OffsetCommitRequest[2]('g', 1, me, -1, [('nosuch', [(0, 7, ''), (1, 7, '')]),
                                                         ('t', [(2, 7, ''), (0, 8, 'x')])]))
        errs = dict(((t[0], p[0]), p[1]) for t in r.topics for p in t[1])
        tap.ok(errs == {('nosuch', 0): 3, ('nosuch', 1): 3, ('t', 2): 3, ('t', 0): 0},
               'OffsetCommit: UNKNOWN_TOPIC_OR_PARTITION for an unknown topic and partition, the rest stored', r)
        r = call(OffsetCommitRequest[2]('g2', -1, '', -1, [('nosuch', [(0, 7, '')])]))
        tap.ok(r.topics[0][1][0][1] == 3, 'a simple commit to an unknown topic alone: UNKNOWN_TOPIC_OR_PARTITION', r)
        r = call(OffsetFetchRequest[3]('g', [('nosuch', [0]), ('t', [0, 2])]))
        got = dict(((t[0], p[0]), p[1]) for t in r.topics for p in t[1])
        tap.ok(r.error_code == 0 and got == {('nosuch', 0): -1, ('t', 0): 8, ('t', 2): -1},
               'nothing was stored for the unknown partitions', r)
        r = call(ListGroupsRequest[1]())
        tap.ok(r.error_code == 0 and 'g2' not in [x[0] for x in r.groups],
               'a refused simple commit leaves no group behind', r)

        r = call(DescribeGroupsRequest[1](['nogroup']))
        tap.ok(r.groups[0][0] == 0 and r.groups[0][2] == 'Dead', 'DescribeGroups of an unknown group: Dead', r)
        r = call(DeleteGroupsRequest[1](['nogroup', 'g']))
        errs = dict(r.results)
        tap.ok(errs == {'nogroup': 69, 'g': 68}, 'DeleteGroups: GROUP_ID_NOT_FOUND and NON_EMPTY_GROUP', r)
        r = call(LeaveGroupRequest[1]('g', 'stranger'))
        tap.ok(r.error_code == 25, 'LeaveGroup of an unknown member: UNKNOWN_MEMBER_ID', r)
        r = call(ListGroupsRequest[1]())
        tap.ok(r.error_code == 0 and ('g', 'consumer') in [tuple(x) for x in r.groups], 'ListGroups lists the group', r)
        r = call(LeaveGroupRequest[1]('g', me))
        tap.ok(r.error_code == 0, 'the member leaves', r)
        r = call(DeleteGroupsRequest[1](['g']))
        tap.ok(dict(r.results) == {'g': 0}, 'the empty group is deleted', r)
        r = call(OffsetFetchRequest[3]('g', [('t', [1])]))
        tap.ok(r.topics[0][1][0][1] == -1, 'its offsets are gone', r)
        tap.ok(b.alive(), 'the broker is still running')
        cl.close()


if __name__ == '__main__':
    run_tap(main)
