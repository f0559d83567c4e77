#!/usr/bin/python3
"""
tests/interop/test_shard_syscalls.py: no shard thread makes a file system call in the steady
state (issue 3): every byte a shard writes, syncs, renames, unlinks or closes goes through its
io_uring or the shard's file worker thread (storage/bg.h).

The real broker is started and warmed up (topic created, partitions opened, a transactional
producer initialised, a first read), then strace attaches to the shard threads only
(rt-shard-N; not the cleaner, file worker or io-wq threads, which are there to block) and
records every system call but io_uring_enter and futex, with descriptors decoded to paths
(-y).  The load that follows: acks=all produce with many segment rolls (segment.bytes is small:
each roll takes the spare files, renames them through the ring and queues a producer snapshot),
retention deleting old segments (unlinks and closes through the ring), transactions that abort
and commit across those rolls (the .txnindex writes), and read_committed fetches.  A call is a
violation when it is one of the file system calls below, or names a path in the data directory.

Then, still traced: CreateTopics, CreatePartitions and DeleteTopics (the registry write, the
new partitions' directories and first segments, the deleted partitions' files: all on the
shards' file workers) with acks=all produce to the new partitions.

The fetches of the load read their batch headers through the owner shard's ring
(stor_log_read_start): a pread64 of a *.log file on a shard thread is a violation like any other.
Also traced: a topic auto-created by a producer's Metadata request (auto.create.topics.enable),
and AlterConfigs and IncrementalAlterConfigs of the loaded topic (registry writes on the file
workers; the new retention then applies on the owners).
ListOffsets by timestamp (offsets_for_times) is asked under trace too: its search reads the
batch headers and the batch it looks into through the owner's ring (storage/read_time.c).

A second broker runs with ringtail.fetch.zero.copy=false: its fetches copy the records into
memory, and that copy is read through the owner shard's ring with the range
(stor_read_op.copy), not with a pread on the connection's shard.

A third broker runs on a small tmpfs that the test fills up (root; preallocation off): its
appends fail with ENOSPC, and the repair that cuts the failed tail back (the ftruncates of the
.log and its indexes) runs on the shard's file worker (storage/truncate.c), and so does the
producer state's rebuild after each cut (the snapshot directory listed, a snapshot and the log
tail read: storage/pstate_rebuild.c).  No file system call on a shard thread is allowed there
either.
Explicit truncation (stor_log_truncate_start) has no broker caller yet (follower truncation
comes with replication): the unit tests (tests/unit/storage/test_truncate.c) cover it.
Calls on sockets and pipes (accepting and closing connections, the control link) and log lines
written to stderr are not file system calls on the data and are not counted.

The test fails when someone puts a blocking call back on one of these paths; it also checks
that the load really rolled, deleted segments and recorded aborts, and that the tracer saw the
shard threads at all.
Usage: test_shard_syscalls.py <path to ringtail>
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from confluent_kafka.admin import ConfigResource
from kwire import Conn, alter_topic_on
from rtbroker import Broker, run_tap

TOPIC = 'steady'
NEW = 'steady-admin'
AUTO = 'steady-auto'
NPART = 2
FILE_CALLS = {
    'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'read', 'pread64', 'readv',
    'preadv', 'preadv2', 'write', 'pwrite64', 'writev', 'pwritev', 'pwritev2', 'fsync',
    'fdatasync', 'sync_file_range', 'syncfs', 'sync', 'ftruncate', 'truncate', 'fallocate',
    'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'mkdir', 'mkdirat', 'rmdir',
    'getdents64', 'stat', 'lstat', 'fstat', 'newfstatat', 'statx', 'access', 'faccessat',
    'faccessat2', 'link', 'linkat', 'symlink', 'symlinkat', 'fadvise64', 'flock', 'lseek',
    'copy_file_range', 'sendfile', 'splice',
}
LINE = re.compile(r'^(?:\[pid\s+(\d+)\]\s+)?(?:(\d+)\s+)?([a-z_0-9]+)\(')


def shard_threads(pid):
    out = []
    for t in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/comm' % (pid, t)) as f:
                if f.read().strip().startswith('rt-shard-'):
                    out.append(int(t))
        except OSError:
            pass
    return sorted(out)


def violations(trace_text, data_dir):
    """The calls in strace output that break the rule, and how many calls it holds."""
    bad, seen = [], 0
    for line in trace_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        seen += 1
        call = m.group(3)
        if call in ('io_uring_enter', 'futex'):
            continue
        rest = line[m.start(3):]
        fd = re.match(r'[a-z_0-9]+\((\d+)<([^>]*)>', rest)
        # Sockets, pipes and the ring are not files: closing an accepted connection or the
        # control link's socket does not wait on a disk.
        if fd and re.match(r'(socket|pipe|anon_inode|UNIX|TCP|UDP)', fd.group(2)):
            continue
        # Log lines go to stderr (the broker's log sink), not to the data directory.
        if call == 'write' and fd and fd.group(1) == '2' and data_dir not in fd.group(2):
            continue
        if call in FILE_CALLS or data_dir in line:
            bad.append(line.strip()[:200])
    return bad, seen


def produce(bs, n, size, key):
    p = Producer({'bootstrap.servers': bs, 'acks': 'all', 'linger.ms': 5, 'batch.size': 4096,
                  'enable.idempotence': True})
    errs = []
    for i in range(n):
        p.produce(TOPIC, (key + '%06d' % i).encode() + b'.' * size, partition=i % NPART,
                  on_delivery=lambda e, m: errs.append(e) if e else None)
        if i % 200 == 0:
            p.poll(0)
    p.flush(60)
    return errs


def produce_to(bs, topic, n, partitions=3):
    """n records spread over every partition of a topic just created; True when all are acked."""
    p = Producer({'bootstrap.servers': bs, 'acks': 'all'})
    errs = []
    for i in range(n):
        p.produce(topic, b'n%d' % i, partition=i % partitions,
                  on_delivery=lambda e, m: errs.append(e) if e else None)
    p.flush(30)
    return not errs and len(p) == 0


def transactions(tp, rounds):
    """Alternating aborted and committed transactions; returns how many records committed."""
    committed = 0
    for r in range(rounds):
        tp.begin_transaction()
        for i in range(20):
            tp.produce(TOPIC, ('t%d-%d' % (r, i)).encode() + b'-' * 300, partition=i % NPART)
        tp.flush(30)
        if r % 2:
            tp.commit_transaction(30)
            committed += 20
        else:
            tp.abort_transaction(30)
    return committed


def read_committed(bs, expect_min, timeout=40):
    """Reads every partition from the start: the values read."""
    c = Consumer({'bootstrap.servers': bs, 'group.id': 'steady-%f' % time.time(),
                  'enable.auto.commit': False, 'isolation.level': 'read_committed'})
    c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(NPART)])
    got = []
    deadline = time.time() + timeout
    idle_since = time.time()
    try:
        while time.time() < deadline:
            m = c.poll(0.3)
            if m is not None and not m.error():
                got.append(m.value())
                idle_since = time.time()
            elif len(got) >= expect_min and time.time() - idle_since > 1.5:
                break
    finally:
        c.close()
    return got


def incremental_alter(port, topic, key, value):
    """IncrementalAlterConfigs v0 (SET one topic config): the resource's error code."""
    c = Conn(port)
    try:
        res = alter_topic_on(c, topic, {key: value}, incremental=True)
        return res[0] if res else None
    finally:
        c.close()


def trace_start(pid, path):
    """strace attached to the shard threads of broker pid; returns the tracer."""
    tids = shard_threads(pid)
    args = ['strace', '-qq', '-y', '-o', path, '-e', 'trace=!io_uring_enter,futex']
    for t in tids:
        args += ['-p', str(t)]
    st = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached (strace prints nothing with -qq; give it the time)
    return st, tids


def trace_stop(st, path, data_dir):
    """Detaches the tracer; returns (violations, calls seen, the tracer's stderr)."""
    st.send_signal(signal.SIGINT)
    try:
        st.wait(20)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    with open(path, errors='replace') as f:
        text = f.read()
    bad, seen = violations(text, data_dir)
    return bad, seen, st.stderr.read().decode(errors='replace') if st.stderr else None


def partition_times(bs, topic, partition, n_min):
    """(offset, timestamp) of every record a read_uncommitted consumer gets from the start."""
    c = Consumer({'bootstrap.servers': bs, 'group.id': 'times-%f' % time.time(),
                  'enable.auto.commit': False})
    c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    out = []
    deadline = time.time() + 30
    idle_since = time.time()
    try:
        while time.time() < deadline:
            m = c.poll(0.3)
            if m is not None and not m.error():
                out.append((m.offset(), m.timestamp()[1]))
                idle_since = time.time()
            elif len(out) >= n_min and time.time() - idle_since > 1.5:
                break
    finally:
        c.close()
    return out


def offsets_for_times(bs, topic, partition, stamps):
    """ListOffsets by timestamp, one request per timestamp: the offsets the broker names."""
    c = Consumer({'bootstrap.servers': bs, 'group.id': 'oft-%f' % time.time()})
    try:
        return [c.offsets_for_times([TopicPartition(topic, partition, ts)], 20)[0].offset
                for ts in stamps]
    finally:
        c.close()


def time_answers_ok(times, stamps, answers):
    """Kafka's rule: the first offset whose record has a timestamp at or after ts; records the
    consumer does not see (transaction markers) may lie between the ones it saw."""
    for ts, got in zip(stamps, answers):
        after = [o for o, t in times if t >= ts]
        before = [o for o, t in times if t < ts]
        if not after:
            if got != -1:
                return False
        elif not (got <= after[0] and (not before or got > before[-1])):
            return False
    return True


def copy_fetch_phase(tap, exe):
    """A broker with ringtail.fetch.zero.copy=false: the copying fetch reads through the ring."""
    with Broker(exe, overrides={'ringtail.fetch.zero.copy': 'false'}) as b:
        bs = b.bootstrap
        data_dir = os.path.join(b.data_dir, 'data')
        a = AdminClient({'bootstrap.servers': bs})
        for f in a.create_topics([NewTopic('copied', 1, 1)]).values():
            f.result(30)
        p = Producer({'bootstrap.servers': bs, 'acks': 'all', 'linger.ms': 5})
        want = [b'c%05d.' % i + b'x' * 300 for i in range(600)]
        for v in want:
            p.produce('copied', v, partition=0)
        p.flush(30)
        # Warm-up, not traced: the consumer's group and the first fetch answer.
        partition_times(bs, 'copied', 0, 1)
        trace = os.path.join(b.data_dir, 'copy.strace')
        st, _ = trace_start(b.proc.pid, trace)
        try:
            c = Consumer({'bootstrap.servers': bs, 'group.id': 'copy-read',
                          'enable.auto.commit': False,
                          'max.partition.fetch.bytes': 16384})
            c.assign([TopicPartition('copied', 0, OFFSET_BEGINNING)])
            got = []
            deadline = time.time() + 30
            while len(got) < len(want) and time.time() < deadline:
                m = c.poll(0.3)
                if m is not None and not m.error():
                    got.append(m.value())
            c.close()
        finally:
            bad, seen, err = trace_stop(st, trace, data_dir)
        tap.ok(got == want, 'a copying fetch (zero.copy=false) reads every record (%d of %d)'
               % (len(got), len(want)))
        tap.ok(seen > 0, 'the tracer saw the second broker\'s shard threads (%d)' % seen, err)
        tap.ok(not bad, 'no file system call on a shard thread in copying fetches (%d found)' % len(bad),
               '\n'.join(bad[:30]))
        tap.ok(b.stop() == 0, 'the second broker stops cleanly')


def fill_disk(path):
    """Writes a file until the file system is full; returns its size."""
    n = 0
    with open(path, 'wb', buffering=0) as f:
        chunk = b'z' * 65536
        while True:
            try:
                n += f.write(chunk)
            except OSError:
                break
        while True:  # the last partial block
            try:
                if not f.write(b'z' * 512):
                    break
                n += 512
            except OSError:
                break
    return n


def repair_phase(tap, exe):
    """A failed write on a full disk: the repair cuts the tail back, and its file calls (the
    ftruncates of the .log and its indexes) run on the shard's file worker (storage/truncate.c),
    as do those of the producer state's rebuild after the cut (storage/pstate_rebuild.c).
    A 16 MiB tmpfs is mounted for it (root: the mount failing fails the test; it never skips);
    preallocation is off so that the append's own write meets the full disk."""
    mnt = tempfile.mkdtemp(prefix='ringtail-full-')
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt],
                       stderr=subprocess.PIPE)
    tap.ok(r.returncode == 0, 'a small tmpfs is mounted for the disk-full repair (needs root)',
           r.stderr.decode(errors='replace'))
    if r.returncode:
        os.rmdir(mnt)
        return
    os.environ['RINGTAIL_NO_PREALLOC'] = '1'
    blog = os.path.join('/tmp', 'ringtail-full-%d.log' % os.getpid())
    try:
        b = Broker(exe, data_dir=mnt)
        b.log_path = blog   # not on the full disk
        with b:
            bs = b.bootstrap
            data_dir = os.path.join(b.data_dir, 'data')
            a = AdminClient({'bootstrap.servers': bs})
            for f in a.create_topics([NewTopic('full', 1, 1)]).values():
                f.result(30)
            first = produce_values(bs, 'full', [b'before%03d' % i for i in range(50)])
            filler = os.path.join(mnt, 'filler')
            trace = os.path.join('/tmp', 'ringtail-repair-%d.strace' % os.getpid())
            st, _ = trace_start(b.proc.pid, trace)
            try:
                fill_disk(filler)
                failed = produce_values(bs, 'full', [b'x' * 3000 + b'%03d' % i for i in range(40)])
                os.unlink(filler)
                # Retried: the last repair's cut may still be on the worker (appends are
                # refused with KAFKA_STORAGE_ERROR, retriable, until it is back).
                after = produce_values(bs, 'full', [b'after%03d' % i for i in range(50)], retries=True)
            finally:
                bad, seen, err = trace_stop(st, trace, data_dir)
                os.unlink(trace)
            log = b.log()
            tap.ok(first == 50 and failed < 40 and after == 50,
                   'on the full disk appends fail, and after it they work (%d, %d of 40, %d)'
                   % (first, failed, after))
            tap.ok('tail cut back' in log, 'the failed write\'s tail was cut back',
                   '\n'.join(l for l in log.splitlines() if 'storage' in l.lower())[-2000:])
            c = Consumer({'bootstrap.servers': bs, 'group.id': 'full-read', 'enable.auto.commit': False})
            c.assign([TopicPartition('full', 0, OFFSET_BEGINNING)])
            got = []
            deadline = time.time() + 20
            while time.time() < deadline and len(got) < 100 + failed:
                m = c.poll(0.3)
                if m is not None and not m.error():
                    got.append((m.offset(), m.value()))
            c.close()
            offs = [o for o, _ in got]
            tap.ok(offs == list(range(100 + failed)) and got[-1][1] == b'after049',
                   'the log holds every acknowledged record, with no hole (%d)' % len(got))
            tap.ok(seen > 0 and not bad,
                   'around the repair and the producer-state rebuild no file system call on a '
                   'shard thread (%d found)' % len(bad), '\n'.join(bad[:20]))
            tap.ok(b.stop() == 0, 'the disk-full broker stops cleanly')
    finally:
        del os.environ['RINGTAIL_NO_PREALLOC']
        if os.path.exists(blog):
            os.unlink(blog)
        subprocess.run(['umount', '-l', mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def produce_values(bs, topic, values, retries=False):
    """acks=1, one batch per record: how many of values were acknowledged."""
    p = Producer({'bootstrap.servers': bs, 'acks': 1, 'retries': 100 if retries else 0,
                  'retry.backoff.ms': 50, 'linger.ms': 0, 'enable.idempotence': False,
                  'message.timeout.ms': 20000})
    ok = []
    for v in values:
        p.produce(topic, v, partition=0, on_delivery=lambda e, m: ok.append(1) if not e else None)
        p.flush(10)   # one batch per record: the failing ones fail alone
    return len(ok)


def main(tap):
    exe = sys.argv[1]
    if not shutil.which('strace'):
        tap.ok(False, 'strace is installed (tools/deps.txt)')
        return
    overrides = {
        'log.segment.bytes': '65536',
        'log.retention.bytes': '262144',
    }
    with Broker(exe, overrides=overrides) as b:
        bs = b.bootstrap
        data_dir = os.path.join(b.data_dir, 'data')
        a = AdminClient({'bootstrap.servers': bs})
        for f in a.create_topics([NewTopic(TOPIC, NPART, 1)]).values():
            f.result(30)
        # Warm-up, not traced: partitions opened, the control process and its transaction
        # state partitions up, the producer id of the transactional producer allocated.
        errs = produce(bs, 40, 100, 'w')
        tap.ok(not errs, 'warm-up produce succeeds', errs[:3])
        tp = Producer({'bootstrap.servers': bs, 'transactional.id': 'steady-txn'})
        tp.init_transactions(60)
        committed = transactions(tp, 2)
        read_committed(bs, 40 + committed, timeout=20)

        trace = os.path.join(b.data_dir, 'shards.strace')
        st, tids = trace_start(b.proc.pid, trace)
        tap.ok(len(tids) >= 1, 'found the shard threads', tids)
        try:
            n_before = len(glob.glob(os.path.join(data_dir, TOPIC + '-*', '*.log')))
            errs = produce(bs, 2500, 300, 'a')
            tap.ok(not errs, 'acks=all produce with rolls succeeds', errs[:3])
            committed += transactions(tp, 6)
            errs = produce(bs, 1500, 300, 'b')
            tap.ok(not errs, 'more produce after the transactions succeeds', errs[:3])
            # Retention may already have removed the oldest records: whatever is left is read.
            got = read_committed(bs, 1)
            # ListOffsets by timestamp: before, inside and after the records partition 0 holds.
            times = partition_times(bs, TOPIC, 0, 1)
            uniq = sorted(set(t for _, t in times))
            mid = uniq[::max(1, len(uniq) // 6)] + [t + 1 for t in uniq[1::max(1, len(uniq) // 3)]]
            stamps = [0] + mid + [uniq[-1] + 1 if uniq else 0, int(time.time() * 1000) + 3600000]
            answers = offsets_for_times(bs, TOPIC, 0, stamps)
            # Topic administration: the registry writes and the new partitions' files are made
            # on the file workers, and the deleted topic's files are removed there.
            for f in a.create_topics([NewTopic(NEW, 3, 1)]).values():
                f.result(30)
            new_ok = produce_to(bs, NEW, 60)
            for f in a.create_partitions([NewPartitions(NEW, 5)]).values():
                f.result(30)
            new_ok = produce_to(bs, NEW, 60, partitions=5) and new_ok
            for f in a.delete_topics([NEW]).values():
                f.result(30)
            # A topic auto-created by the producer's Metadata request, then written to.
            auto_ok = produce_to(bs, AUTO, 10, partitions=1)
            # Topic configs: AlterConfigs and IncrementalAlterConfigs write the registry.
            fs = a.alter_configs([ConfigResource('topic', TOPIC, set_config={
                'retention.bytes': '262144', 'segment.bytes': '65536'})])
            for f in fs.values():
                f.result(30)
            inc_err = incremental_alter(b.port, TOPIC, 'retention.ms', '86400000')
            # Retention runs once a second on each shard; let it delete what the load rolled
            # (and the deleted topic's directories go meanwhile).
            time.sleep(3.0)
        finally:
            bad, seen, err = trace_stop(st, trace, data_dir)
        tap.ok(seen > 0, 'the tracer saw system calls of the shard threads (%d)' % seen, err)
        tap.ok(not bad, 'no file system call on a shard thread in the steady state (%d found)' % len(bad),
               '\n'.join(bad[:30]))

        log = b.log()
        tap.ok('retention deletes' in log, 'retention deleted segments during the load')
        snaps = glob.glob(os.path.join(data_dir, TOPIC + '-*', '*.snapshot'))
        tap.ok(len(snaps) >= 1, 'producer snapshots were written at rolls (%d)' % len(snaps))
        txn = [p for p in glob.glob(os.path.join(data_dir, TOPIC + '-*', '*.txnindex'))
               if os.path.getsize(p) > 0]
        tap.ok(len(txn) >= 1, 'aborted transactions are in .txnindex files (%d non-empty)' % len(txn))
        aborted = [v for v in got if re.match(rb't\d*[02468]-', v)]
        tap.ok(len(got) > 0 and not aborted, 'read_committed fetches read %d records, none aborted'
               % len(got), aborted[:3])
        tap.ok(n_before >= 1, 'segments existed before the load (%d)' % n_before)
        tap.ok(len(times) > 10 and len(uniq) > 3 and answers[-1] == -1 and len(set(answers)) > 3 and
               time_answers_ok(times, stamps, answers),
               'ListOffsets by timestamp under trace names the first record at or after each '
               'of %d timestamps' % len(stamps), (stamps, answers, times[:3], times[-3:]))
        tap.ok(new_ok, 'a topic created and grown under trace takes acks=all records')
        tap.ok(auto_ok and os.path.isdir(os.path.join(data_dir, AUTO + '-0')),
               'a topic auto-created under trace takes records')
        tap.ok(inc_err == 0, 'IncrementalAlterConfigs under trace succeeds (%r)' % inc_err)
        left = [d for d in os.listdir(data_dir) if d.startswith(NEW)]
        tap.ok(not left, 'the deleted topic left no directory', left)
        tap.ok(b.stop() == 0, 'broker stops cleanly')
    copy_fetch_phase(tap, exe)
    repair_phase(tap, exe)


run_tap(main)
