#!/usr/bin/python3
"""
tests/interop/test_control_store_faults.py: ringtail-control's transactional writes to
__consumer_offsets when the answer to one is lost with its connection to the broker (issue 7).

RINGTAIL_CONTROL_FAULT=lose-txn-produce-answer makes the control process drop its connection
instead of reading the answer to its first transactional Produce: the batch (a TxnOffsetCommit of
offset 10) is in the log, the client is told COORDINATOR_NOT_AVAILABLE.  The producer then commits
offset 20 in the same transaction and commits the transaction.  The control process must not
number the second batch like the first (the broker would take it for a duplicate, keep offset 10
in the log and answer success): the committed offset is 20 at once and still 20 after the control
process reloads the log (SIGKILL) and after a broker restart.
Usage: test_control_store_faults.py <path to ringtail>
"""
import os
import shutil
import signal
import sys
import tempfile
import time

from confluent_kafka.admin import AdminClient, NewTopic
from kwire import TXN_RETRY as RETRY, add_offsets, end_txn, init_pid
from rtbroker import Broker, free_port, run_tap
from test_txn_offsets import offset_fetch, txn_offset_commit

TOPIC, GROUP, TXN = 'lost-in', 'lost-g', 'lost-tx'


def until_ok(fn, timeout=20):
    deadline = time.time() + timeout
    answers = [fn()]
    while answers[-1] in RETRY and time.time() < deadline:
        time.sleep(0.1)
        answers.append(fn())
    return answers


def settled(port, want, timeout=15):
    deadline = time.time() + timeout
    got = offset_fetch(port, True, group=GROUP, topic=TOPIC)
    while got != (want, 0) and time.time() < deadline:
        time.sleep(0.1)
        got = offset_fetch(port, True, group=GROUP, topic=TOPIC)
    return got


def main(tap):
    exe = sys.argv[1]
    data = tempfile.mkdtemp(prefix='ringtail-ctlfault-')
    port = free_port()
    os.environ['RINGTAIL_CONTROL_FAULT'] = 'lose-txn-produce-answer'
    try:
        with Broker(exe, data_dir=data, port=port) as b:
            admin = AdminClient({'bootstrap.servers': b.bootstrap})
            admin.create_topics([NewTopic(TOPIC, 1, 1)])[TOPIC].result(15)
            e, pid, ep = init_pid(port, TXN, version=3, retry=RETRY)
            tap.ok(e == 0, 'InitProducerId', (e, pid, ep))
            a = until_ok(lambda: add_offsets(port, TXN, pid, ep, GROUP))
            tap.ok(a[-1] == 0, 'AddOffsetsToTxn', a)
            first = txn_offset_commit(port, TXN, pid, ep, TOPIC, 10, group=GROUP)
            tap.ok(first == [15], 'TxnOffsetCommit(10): its answer is lost, the client is told '
                   'COORDINATOR_NOT_AVAILABLE', first)
            tap.ok('fault injection' in b.log(), 'the fault was injected', b.log()[-1500:])
            second = until_ok(lambda: txn_offset_commit(port, TXN, pid, ep, TOPIC, 20, group=GROUP)[0])
            tap.ok(second[-1] == 0, 'TxnOffsetCommit(20) in the same transaction succeeds', second)
            tap.ok('producer sequences after the lost connection read back' in b.log(),
                   'the control process read its sequences back from the broker')
            end = until_ok(lambda: end_txn(port, TXN, pid, ep, True))
            tap.ok(end[-1] == 0, 'EndTxn(commit)', end)
            got = settled(port, 20)
            tap.ok(got == (20, 0), 'the committed offset is 20', got)
            b.kill_control()
            got = settled(port, 20)
            tap.ok(got == (20, 0), 'after the control process reloads the log it is still 20 (the second '
                   'batch was written, not taken for a duplicate of the first)', got)
            b.stop(signal.SIGKILL)
        del os.environ['RINGTAIL_CONTROL_FAULT']
        with Broker(exe, data_dir=data, port=port) as b:
            got = settled(port, 20)
            tap.ok(got == (20, 0), 'after SIGKILL of the broker it is still 20', got)
    finally:
        os.environ.pop('RINGTAIL_CONTROL_FAULT', None)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == '__main__':
    run_tap(main)
