#!/usr/bin/python3
"""
tests/interop/test_perf_group.py: ringtail-perf's consumer groups (--group) against the real
ringtail and ringtail-control, through both drivers (native: the harness's own members;
rdkafka: librdkafka's high-level consumer with the harness's commits, with the eager range
assignor and with KIP-429's cooperative-sticky one).  Short runs whose figures must agree with each other and with
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
import time

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
    """The figures every group run must show: no error, no record read twice or skipped (a
    cooperative member may lose its partitions in one race, below, and the next owner then reads
    again what came after the last commit)."""
    if not tap.ok(rc == 0 and res is not None, '%s: ringtail-perf exits 0 with a result' % name,
                  'exit %s\n%s\n%s' % (rc, err, json.dumps(res))):
        return False
    g = res['group']
    tap.ok(res['errors'] == 0 and g['group_errors'] == 0, '%s: no errors' % name, res['error'])
    # The harness commits before every hand-over, so a healthy run loses no assignment and
    # redelivers nothing; a record read twice otherwise is a duplicate (ledger.h tells them apart).
    # With cooperative-sticky a closing member whose JoinGroup was answered commits with the
    # generation before and is answered ILLEGAL_GENERATION, as by Kafka (rdk_member.c,
    # commit_sync): its partitions count as lost, and only then may records be redelivered.
    if g.get('assignor') == 'cooperative-sticky':
        tap.ok(g['redelivered_records'] == 0 or g['lost_assignments'] > 0,
               '%s: records redelivered only after a lost assignment' % name, g)
    else:
        tap.ok(g['lost_assignments'] == 0 and g['redelivered_records'] == 0,
               '%s: no assignment lost, no record redelivered after a missed commit' % name, g)
    tap.ok(g['duplicate_records'] == 0, '%s: no record consumed twice' % name, g)
    tap.ok(g['gap_records'] == 0, '%s: no offset skipped' % name, g)
    tap.ok(g['unread_records'] == unread_expected, '%s: %d records left unread' % (name, unread_expected), g)
    tap.ok(g['uncommitted_records'] == 0, '%s: everything read is committed' % name, g)
    # A member that left for churn and had not joined again when the run ended does not leave
    # twice; any member still in the group at the end is an error above.
    tap.ok(g['churns'] <= g['leaves'] <= g['churns'] + g['members'],
           '%s: one LeaveGroup per churn and per member at the end' % name, g)
    return True


def group_runs(tap, b, ringtail_perf, driver, assignor='range'):
    """The group scenarios through one driver and assignor; names, topics and groups carry both."""
    d = ['--driver', driver, '--assignor', assignor]
    label = driver if assignor == 'range' else '%s %s' % (driver, assignor)
    gid = lambda g: '%s-%s-%s' % (g, driver, assignor)
    top = lambda t: '%s-%s-%s' % (t, driver, assignor)
    # 1. Producers and a churning group together: members leave and come back as new
    #    members every half second, and every record is still consumed exactly once.
    name = '%s: e2e with churn' % label
    rc, res, err = perf(ringtail_perf, b.bootstrap, *d, '--mode', 'e2e', '--topic', top('pg1'), '--create',
                        '--partitions', '6', '--record-size', '256', '--producers', '2', '--consumers', '3',
                        '--group', gid('ga'), '--group-churn', '0.5', '--commit-interval-ms', '200',
                        '--rate', '5000', '--duration', '3')
    if check_clean(tap, name, rc, res, err):
        g = res['group']
        tap.ok(res['acked_records'] == res['sent_records'] > 0, '%s: every record acknowledged' % name,
               (res['sent_records'], res['acked_records']))
        tap.ok(res['consumed_records'] - g['redelivered_records'] == res['acked_records'],
               '%s: consumed %d - redelivered %d = acknowledged %d'
               % (name, res['consumed_records'], g['redelivered_records'], res['acked_records']))
        # librdkafka keeps generation ids to itself (-1): there, every member's assignment
        # after a churn is a join beyond the first one each member made.
        rejoined = g['generations'] >= 2 if driver == 'native' else g['joins'] > g['members']
        tap.ok(g['churns'] >= 1 and rejoined,
               '%s: members left and rejoined (%d churns, %d generations, %d joins)'
               % (name, g['churns'], g['generations'], g['joins']), g)
        com, ends, state = committed_and_ends(b.bootstrap, gid('ga'), top('pg1'))
        tap.ok(com == ends and sum(ends.values()) == res['acked_records'],
               '%s: kafka-python reads the committed offsets at the log end' % name,
               'committed %s\nends %s' % (com, ends))
        # A cooperative-sticky member churned before its first assignment is never destroyed
        # (librdkafka 4312, perf/harness/rdk_member.c), so it sends no LeaveGroup: as with Kafka,
        # the group then waits out that member's rebalance/session timeout (10 s) before it is
        # Empty.  Anything else must be Empty at once; nothing may stay longer than the timeout.
        waited = 0.0
        while state != 'Empty' and driver != 'native' and waited < 20:
            time.sleep(0.5)
            waited += 0.5
            state = committed_and_ends(b.bootstrap, gid('ga'), top('pg1'))[2]
        tap.ok(state == 'Empty', '%s: the group is empty after the run' % name,
               '%s after %.1f s more' % (state, waited))
        if waited:
            print('# %s: %s %.1f s after the run (a member left without LeaveGroup)' % (name, state, waited), flush=True)

    # 2. A stored topic read by one group in two runs: the second resumes at the first's
    #    commits, with other members (and churn), and the two together read it once.
    name = '%s: stored' % label
    rc, res, err = perf(ringtail_perf, b.bootstrap, '--topic', top('pg2'), '--create', '--partitions', '5',
                        '--record-size', '100', '--producers', '2', '--records', '30000', '--duration', '0')
    tap.ok(rc == 0 and res and res['acked_records'] == 30000, '%s: 30000 records produced' % name,
           'exit %s\n%s' % (rc, err))
    rc1, r1, err1 = perf(ringtail_perf, b.bootstrap, *d, '--mode', 'consume', '--topic', top('pg2'),
                         '--consumers', '2', '--group', gid('gb'), '--records', '10000',
                         '--fetch-partition-max-bytes', '16384')
    first = r1['consumed_records'] if r1 else 0
    check_clean(tap, name + ', first run', rc1, r1, err1, unread_expected=30000 - first)
    tap.ok(10000 <= first < 30000, '%s, first run: stopped after reading %d of 30000' % (name, first))
    rc2, r2, err2 = perf(ringtail_perf, b.bootstrap, *d, '--mode', 'consume', '--topic', top('pg2'),
                         '--consumers', '3', '--group', gid('gb'), '--group-churn', '0.2',
                         '--fetch-partition-max-bytes', '16384')
    if check_clean(tap, name + ', second run', rc2, r2, err2):
        tap.ok(first + r2['consumed_records'] == 30000,
               '%s: the runs read %d + %d = 30000' % (name, first, r2['consumed_records']))
        com, ends, state = committed_and_ends(b.bootstrap, gid('gb'), top('pg2'))
        tap.ok(com == ends and sum(ends.values()) == 30000,
               '%s: kafka-python reads the committed offsets at the log end' % name,
               'committed %s\nends %s' % (com, ends))


def established_to(port):
    """TCP connections in ESTABLISHED state whose local end is 127.0.0.1:port (the broker's side)."""
    n = 0
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == '0100007F:%04X' % port and fields[3] == '01':
                n += 1
    return n


def idle_runs(tap, b, ringtail_perf, driver):
    """Idle connections beside a produce load: each is open at the broker during the run,
    counted in the result, and the load beside them is clean."""
    name = '%s: 50 idle connections' % driver
    path = tempfile.mktemp(suffix='.json')
    p = subprocess.Popen([ringtail_perf, '--bootstrap', b.bootstrap, '--quiet', '--json', path, '--driver', driver,
                          '--topic', 'idle-' + driver, '--create', '--partitions', '4', '--record-size', '512',
                          '--producers', '2', '--idle-connections', '50', '--duration', '1.5'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    most = 0
    while p.poll() is None:
        most = max(most, established_to(b.port))
        time.sleep(0.05)
    err = p.stderr.read().decode('utf-8', 'replace')
    try:
        with open(path) as f:
            res = json.load(f)
        os.unlink(path)
    except (OSError, ValueError):
        res = None
    if tap.ok(p.returncode == 0 and res is not None, '%s: ringtail-perf exits 0 with a result' % name,
              'exit %s\n%s' % (p.returncode, err)):
        tap.ok(res['errors'] == 0 and res['acked_records'] == res['sent_records'] > 0,
               '%s: the load beside them is acknowledged without errors' % name, res['error'])
        tap.ok(res['connections'] >= 52, '%s: %d connections counted (load + 50 idle)'
               % (name, res['connections']))
    tap.ok(most >= 52, '%s: the broker held %d connections at once during the run' % (name, most))


def main(tap):
    ringtail, ringtail_perf = sys.argv[1], sys.argv[2]
    with Broker(ringtail, overrides=OVERRIDES) as b:
        for driver in ('native', 'rdkafka'):
            group_runs(tap, b, ringtail_perf, driver)
            idle_runs(tap, b, ringtail_perf, driver)
        # KIP-429: librdkafka's incremental (cooperative) rebalances against Ringtail's
        # coordinator, members reading on through them; the same checks hold.
        group_runs(tap, b, ringtail_perf, 'rdkafka', 'cooperative-sticky')


if __name__ == '__main__':
    run_tap(main)
