#!/usr/bin/python3
"""
tests/interop/test_broker_configs_running.py: the dynamic broker configs of the log cleaner and
of the producer state change the running broker (Kafka's LogCleaner.ReconfigurableConfigs and
DynamicProducerStateManagerConfig), on two shards, driven by kafka-python and confluent-kafka
AdminClients, a real idempotent producer (librdkafka) and kwire for DescribeProducers and a
producer id of its own.
- log.cleaner.backoff.ms: the broker starts with a ten-minute backoff, so a compacted topic
  written after the cleaner's first (empty) look stays uncompacted; kafka-python's AlterConfigs
  of the cluster default (resource "") to 100 ms makes both partitions (one per shard) compact
  within seconds.  DescribeConfigs shows DYNAMIC_DEFAULT_BROKER_CONFIG, not read-only.
- producer.id.expiration.ms: idle producers are kept under the one-day default; confluent-kafka's
  AlterConfigs of this broker (resource "0") to 1 s makes the partition forget them
  (DescribeProducers no longer lists them; kwire's same batch again is a new write, not a
  duplicate); the idempotent producer's next send is accepted, as Kafka accepts any sequence from
  a producer id it no longer knows, and nothing is lost or doubled.
- Kafka's refusals: log.cleaner.threads cannot change dynamically (Ringtail's cleaners are one
  per shard), the dedupe buffer needs more than 1 MiB per cleaner thread.
- After a restart both values and their sources are back and in effect: a new idle producer is
  forgotten within seconds, and new duplicates are compacted without waiting ten minutes.
Usage: test_broker_configs_running.py <path to ringtail>
"""
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka.admin import ConfigResource as KResource, ConfigResourceType, KafkaAdminClient

import kwire
from kclient import produce_keyed, read_to_end
from rtbroker import Broker, run_tap

SRC_DYN_BROKER, SRC_DYN_DEFAULT, SRC_STATIC = 2, 3, 4
INVALID_REQUEST = 42
CMP, PIDS = 'cmp', 'pidexp'
KEYS, UPDATES = 20, 20
FILL = 300          # unique keys after the updates: 2048-byte segments, so they leave the active one
KPID, KPID2 = 7001, 7002


def wait_until(cond, timeout, step=0.2):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def write_dups(b, tag, fillers):
    """UPDATES values of each of KEYS keys, then `fillers` unique keys so the updates leave the
    active segments; returns {key: offset of its last write}."""
    recs = [(('k%d' % k).encode(), ('%s-%d-%d' % (tag, k, u)).encode()) for u in range(UPDATES) for k in range(KEYS)]
    recs += [(('%s-f%d' % (tag, i)).encode(), b'f') for i in range(fillers)]
    return produce_keyed(b.bootstrap, CMP, recs)


def read_cmp(b):
    """Every record of both partitions: {key: [offsets]} and the count."""
    got, _ = read_to_end(b.bootstrap, CMP, [0, 1], timeout=20, **{'group.id': 'cmp-reader'})
    keys = {}
    for p in (0, 1):
        for m in got[p]:
            keys.setdefault(m.key(), []).append(m.offset())
    return keys, sum(len(v) for v in keys.values())


def compacted(b, last):
    """True when the log holds exactly the newest record of every key written."""
    keys, n = read_cmp(b)
    return n == len(last) and all(keys.get(k) == [o] for k, o in last.items())


def producers(port):
    err, prods = kwire.describe_producers(port, PIDS, 0)
    return err, sorted(p[0] for p in prods)


def kdescribe(kadmin, keys):
    """kafka-python DescribeConfigs of broker 0: {key: (value, source, read_only)}."""
    resp = kadmin.describe_configs([KResource(ConfigResourceType.BROKER, '0')])
    return {e[0]: (e[1], e[3], e[2]) for r in resp[0].resources for e in r[4] if e[0] in keys}


def main(tap):
    overrides = {'ringtail.cores': '0,1', 'log.cleaner.backoff.ms': '600000',
                 'producer.id.expiration.check.interval.ms': '200'}
    with Broker(sys.argv[1], overrides) as b:
        admin = AdminClient({'bootstrap.servers': b.bootstrap})
        # Any dirty section is due (min.cleanable.dirty.ratio 0.01): only the backoff decides when.
        for f in admin.create_topics([NewTopic(CMP, 2, 1, config={'cleanup.policy': 'compact', 'segment.bytes': '2048',
                                                                  'min.cleanable.dirty.ratio': '0.01'}),
                                      NewTopic(PIDS, 1, 1)]).values():
            f.result(10)
        kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        nulls = ('log.roll.ms', 'log.retention.ms', 'log.flush.interval.ms', 'advertised.listeners')
        got = kdescribe(kadmin, nulls)
        tap.ok(sorted(got) == sorted(nulls) and all(v[:2] == (None, 5) for v in got.values()),
               'keys whose Kafka default is null read null (DEFAULT_CONFIG) when not given', got)

        # log.cleaner.backoff.ms.  The cleaners' first looks (a second after the start) found
        # nothing to clean: the next ones are ten minutes away.
        time.sleep(3)
        total = KEYS * UPDATES + FILL
        last = write_dups(b, 'a', FILL)
        tap.ok(len(last) == KEYS + FILL, 'wrote %d records of %d keys into the compacted topic' % (total, len(last)))
        time.sleep(6)
        _, n = read_cmp(b)
        tap.ok(n == total, 'six seconds later nothing is compacted: the cleaner backs off for ten minutes', n)
        r = kadmin.alter_configs([KResource(ConfigResourceType.BROKER, '', configs={'log.cleaner.backoff.ms': '100'})])
        tap.ok([x[:2] for x in r.resources] == [(0, None)],
               'kafka-python AlterConfigs of the cluster default: log.cleaner.backoff.ms=100', r.resources)
        t0 = time.time()
        done = wait_until(lambda: compacted(b, last), 30, 1)
        tap.ok(done, 'both partitions (both shards) are compacted %.1f s later: the newest record of every key '
               'at its offset' % (time.time() - t0), read_cmp(b)[1])
        got = kdescribe(kadmin, ('log.cleaner.backoff.ms',))
        tap.ok(got.get('log.cleaner.backoff.ms') == ('100', SRC_DYN_DEFAULT, False),
               'DescribeConfigs: 100, DYNAMIC_DEFAULT_BROKER_CONFIG, not read-only', got)

        # producer.id.expiration.ms
        errs = []
        p = Producer({'bootstrap.servers': b.bootstrap, 'enable.idempotence': True, 'linger.ms': 0})

        def report(err, msg):
            errs.append(err)
        p.produce(PIDS, b'real-0', partition=0, on_delivery=report)
        p.flush(20)
        a = kwire.batch([(None, b'wire-0')], KPID, 0, 0)
        first = kwire.produce(b.port, PIDS, 0, a)
        again = kwire.produce(b.port, PIDS, 0, a)
        err, pids = producers(b.port)
        tap.ok(errs == [None] and first == (0, 1) and again == (0, 1) and err == 0 and len(pids) == 2 and KPID in pids,
               'an idempotent producer and a kwire producer id write; a retry is a duplicate', (errs, first, again, pids))
        real_pid = [x for x in pids if x != KPID][0] if len(pids) == 2 else None
        time.sleep(2.5)
        tap.ok(producers(b.port) == (0, pids), 'idle for 2.5 s: both kept under the default (a day)', producers(b.port))
        f = admin.alter_configs([ConfigResource('broker', '0', set_config={'producer.id.expiration.ms': '1000'})])
        f[list(f)[0]].result(10)
        got = kdescribe(kadmin, ('producer.id.expiration.ms',))
        tap.ok(got.get('producer.id.expiration.ms') == ('1000', SRC_DYN_BROKER, False),
               'confluent-kafka AlterConfigs of broker 0: producer.id.expiration.ms=1000, DYNAMIC_BROKER_CONFIG', got)
        gone = wait_until(lambda: producers(b.port) == (0, []), 10)
        tap.ok(gone, 'the partition forgets both idle producers', producers(b.port))
        res = kwire.produce(b.port, PIDS, 0, a)
        tap.ok(res == (0, 2), 'the same kwire batch again is a new write: its producer state is gone', res)
        p.produce(PIDS, b'real-1', partition=0, on_delivery=report)
        p.flush(20)
        err, pids = producers(b.port)
        tap.ok(errs == [None, None] and real_pid in pids,
               'the idempotent producer\'s next send is accepted (Kafka takes any sequence from a producer id it '
               'no longer knows) and the partition knows it again', (errs, pids))
        got, _ = read_to_end(b.bootstrap, PIDS, [0], timeout=20, **{'group.id': 'pid-reader'})
        vals = [m.value() for m in got[0]]
        tap.ok(vals == [b'real-0', b'wire-0', b'wire-0', b'real-1'], 'nothing lost, nothing doubled by the producer',
               vals)

        # Kafka's refusals.
        r = kadmin.alter_configs([KResource(ConfigResourceType.BROKER, '0', configs={'log.cleaner.threads': '2'})])
        tap.ok([x[:2] for x in r.resources] == [(INVALID_REQUEST, 'Cannot update these configs dynamically: '
                                                 'Set(log.cleaner.threads)')],
               'log.cleaner.threads: one cleaner per shard, refused as Kafka refuses a static key', r.resources)
        c = kwire.Conn(b.port)
        res = kwire.incremental_alter_on(c, 4, '', [('log.cleaner.dedupe.buffer.size', 0, '1048576')])
        tap.ok(res == (INVALID_REQUEST, 'log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.'),
               'a dedupe buffer of 1 MiB: Kafka\'s per-thread rule', res)
        res = kwire.incremental_alter_on(c, 4, '', [('log.cleaner.io.max.bytes.per.second', 0, '5e6')])
        err, _, d = kwire.describe_configs_on(c, 4, '0')
        tap.ok(res == (0, None) and d.get('log.cleaner.io.max.bytes.per.second', (None,))[:3] ==
               ('5000000.0', SRC_DYN_DEFAULT, False), 'log.cleaner.io.max.bytes.per.second=5e6 reads back as Kafka '
               'prints a double', (res, d.get('log.cleaner.io.max.bytes.per.second')))
        c.close()
        kadmin.close()

        # A restart keeps them, in effect.
        tap.ok(b.stop() == 0, 'SIGTERM: exit 0')
        b.start()
        c = kwire.Conn(b.port)
        err, _, d = kwire.describe_configs_on(c, 4, '0')
        c.close()
        tap.ok(d.get('log.cleaner.backoff.ms', (None,))[:2] == ('100', SRC_DYN_DEFAULT) and
               d.get('producer.id.expiration.ms', (None,))[:2] == ('1000', SRC_DYN_BROKER) and
               d['log.cleaner.backoff.ms'][3][-2:] == [('log.cleaner.backoff.ms', '600000', SRC_STATIC),
                                                       ('log.cleaner.backoff.ms', '15000', 5)],
               'after a restart the values and their sources are back (synonyms: static, default)',
               (d.get('log.cleaner.backoff.ms'), d.get('producer.id.expiration.ms')))
        w = kwire.batch([(None, b'wire2-0')], KPID2, 0, 0)
        first = kwire.produce(b.port, PIDS, 0, w)
        listed = KPID2 in producers(b.port)[1]
        gone = wait_until(lambda: KPID2 not in producers(b.port)[1], 10)
        tap.ok(first[0] == 0 and listed and gone, 'a new idle producer is forgotten within seconds: 1 s in effect',
               (first, listed, producers(b.port)))
        last2 = write_dups(b, 'b', FILL)
        last.update(last2)
        done = wait_until(lambda: compacted(b, last), 30, 1)
        tap.ok(done, 'new duplicates are compacted within seconds, not after the static ten minutes', read_cmp(b)[1])


run_tap(main)
