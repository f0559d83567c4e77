#!/usr/bin/python3
"""
tests/interop/test_perf_group.py: ringtail-perf's consumer groups (--group) against the real
ringtail and ringtail-control.  Short runs whose figures must agree with each other and with
what a real client (kafka-python) reads back: every produced record consumed exactly once across
the group while members leave and join (--group-churn), the group's committed offsets at the
log end, and a second run of the same group resuming exactly where the first stopped.  Nothing
here asserts a rate or a latency.
Usage: test_perf_group.py <path to ringtail> <path to ringtail-perf>
"""
import json
import os
import subprocess
import sys
import tempfile

from rtbroker import Broker, run_tap

OVERRIDES = {'group.initial.rebalance.delay.ms': '0'}


def perf(exe, bootstrap, *args):
    """Runs ringtail-perf; returns (exit status, JSON result or None, stderr)."""
    with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f:
        path = f.name
    try:
        p = subprocess.run([exe, '--bootstrap', bootstrap, '--quiet', '--json', path] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
        try:
            with open(path) as f:
                res = json.load(f)
        except (OSError, ValueError):
            res = None
        return p.returncode, res, p.stderr.decode('utf-8', 'replace')
    finally:
        os.unlink(path)


def committed_and_ends(bootstrap, group, topic):
    """The group's committed offsets and the log end offsets, as kafka-python reads them."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        com = {tp.partition: om.offset for tp, om in admin.list_consumer_group_offsets(group).items()
               if tp.topic == topic}
        state = admin.describe_consumer_groups([group])[0].state
    finally:
        admin.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = c.partitions_for_topic(topic) or set()
        ends = {tp.partition: o for tp, o in c.end_offsets([TopicPartition(topic, p) for p in parts]).items()}
    finally:
        c.close()
    return com, ends, state


def check_clean(tap, name, rc, res, err, unread_expected=0):
    """The figures every group run must show: no error, no record read twice or skipped."""
    if not tap.ok(rc == 0 and res is not None, '%s: ringtail-perf exits 0 with a result' % name,
                  'exit %s\n%s' % (rc, err)):
        return False
    g = res['group']
    tap.ok(res['errors'] == 0 and g['group_errors'] == 0, '%s: no errors' % name, res['error'])
    tap.ok(g['duplicate_records'] == 0, '%s: no record consumed twice' % name, g)
    tap.ok(g['gap_records'] == 0, '%s: no offset skipped' % name, g)
    tap.ok(g['unread_records'] == unread_expected, '%s: %d records left unread' % (name, unread_expected), g)
    tap.ok(g['uncommitted_records'] == 0, '%s: everything read is committed' % name, g)
    # A member that left for churn and had not joined again when the run ended does not leave
    # twice; any member still in the group at the end is an error above.
    tap.ok(g['churns'] <= g['leaves'] <= g['churns'] + g['members'],
           '%s: one LeaveGroup per churn and per member at the end' % name, g)
    return True


def main(tap):
    ringtail, ringtail_perf = sys.argv[1], sys.argv[2]
    with Broker(ringtail, overrides=OVERRIDES) as b:
        # 1. Producers and a churning group together: members leave and come back as new
        #    members every half second, and every record is still consumed exactly once.
        rc, res, err = perf(ringtail_perf, b.bootstrap, '--mode', 'e2e', '--topic', 'pg1', '--create',
                            '--partitions', '6', '--record-size', '256', '--producers', '2', '--consumers', '3',
                            '--group', 'ga', '--group-churn', '0.5', '--commit-interval-ms', '200',
                            '--rate', '5000', '--duration', '3')
        if check_clean(tap, 'e2e with churn', rc, res, err):
            g = res['group']
            tap.ok(res['acked_records'] == res['sent_records'] > 0, 'e2e with churn: every record acknowledged',
                   (res['sent_records'], res['acked_records']))
            tap.ok(res['consumed_records'] == res['acked_records'],
                   'e2e with churn: consumed %d = acknowledged %d' % (res['consumed_records'], res['acked_records']))
            tap.ok(g['churns'] >= 1 and g['generations'] >= 2,
                   'e2e with churn: members left and rejoined (%d churns, %d generations)'
                   % (g['churns'], g['generations']), g)
            com, ends, state = committed_and_ends(b.bootstrap, 'ga', 'pg1')
            tap.ok(com == ends and sum(ends.values()) == res['acked_records'],
                   'e2e with churn: kafka-python reads the committed offsets at the log end',
                   'committed %s\nends %s' % (com, ends))
            tap.ok(state == 'Empty', 'e2e with churn: the group is empty after the run', state)

        # 2. A stored topic read by one group in two runs: the second resumes at the first's
        #    commits, with other members (and churn), and the two together read it once.
        rc, res, err = perf(ringtail_perf, b.bootstrap, '--topic', 'pg2', '--create', '--partitions', '5',
                            '--record-size', '100', '--producers', '2', '--records', '30000', '--duration', '0')
        tap.ok(rc == 0 and res and res['acked_records'] == 30000, 'stored: 30000 records produced',
               'exit %s\n%s' % (rc, err))
        rc1, r1, err1 = perf(ringtail_perf, b.bootstrap, '--mode', 'consume', '--topic', 'pg2', '--consumers', '2',
                             '--group', 'gb', '--records', '10000', '--fetch-partition-max-bytes', '16384')
        first = r1['consumed_records'] if r1 else 0
        check_clean(tap, 'stored, first run', rc1, r1, err1, unread_expected=30000 - first)
        tap.ok(10000 <= first < 30000, 'stored, first run: stopped after reading %d of 30000' % first)
        rc2, r2, err2 = perf(ringtail_perf, b.bootstrap, '--mode', 'consume', '--topic', 'pg2', '--consumers', '3',
                             '--group', 'gb', '--group-churn', '0.2', '--fetch-partition-max-bytes', '16384')
        if check_clean(tap, 'stored, second run', rc2, r2, err2):
            tap.ok(first + r2['consumed_records'] == 30000,
                   'stored: the runs read %d + %d = 30000' % (first, r2['consumed_records']))
            com, ends, state = committed_and_ends(b.bootstrap, 'gb', 'pg2')
            tap.ok(com == ends and sum(ends.values()) == 30000,
                   'stored: kafka-python reads the committed offsets at the log end',
                   'committed %s\nends %s' % (com, ends))


if __name__ == '__main__':
    run_tap(main)
