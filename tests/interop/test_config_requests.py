#!/usr/bin/python3
"""
tests/interop/test_config_requests.py: request-level rules of the config APIs that the clients
cannot break (raw requests, kwire.py), each against the real broker:
- CreateTopics with a null config name (a non-nullable string in Kafka's schema): Kafka's parser
  refuses the request and closes the connection; the broker keeps serving others.
- cleanup.policy given as "delete,compact" (and " compact , delete") reads back in the order
  given, as Kafka's LIST type prints it (blanks around the items dropped), not normalised.
- AlterConfigs and IncrementalAlterConfigs naming a resource twice: every occurrence is
  INVALID_REQUEST "Each resource must appear at most once." (Kafka's ConfigAdminManager) and
  changes nothing, the other resources of the request are altered; DescribeConfigs answers each
  occurrence, as Kafka does.
Usage: test_config_requests.py <path to ringtail>
"""
import sys

from kwire import Conn, W, alter_many_on, describe_configs_on
from rtbroker import Broker, run_tap

TOPIC = 2
INVALID_CONFIG, INVALID_REQUEST = 40, 42
BROKER = 4
DUP_MSG = 'Each resource must appear at most once.'


def create_topic_on(c, name, configs, validate_only=False):
    """CreateTopics v4 of one topic (1 partition) with configs [(name, value)] on connection c:
    (error code, error message)."""
    body = W().i32(1).str(name).i32(1).i16(1).i32(0).i32(len(configs))
    for k, v in configs:
        body.str(k).str(v)
    r = c.call(19, 4, body.i32(10000).i8(1 if validate_only else 0), False)
    r.i32()                 # throttle
    res = r.arr(lambda x: (x.str(), x.i16(), x.str()))
    return res[0][1:]


def describe_many_on(c, resources):
    """DescribeConfigs v1 of [(type, name)], every key: [(error code, type, name, {key: value})]."""
    body = W().i32(len(resources))
    for rtype, name in resources:
        body.i8(rtype).str(name).i32(-1)
    r = c.call(32, 1, body.i8(0), False)
    r.i32()                 # throttle
    out = []
    for _ in range(r.i32()):
        err, _, rtype, name = r.i16(), r.str(), r.i8(), r.str()
        cfg = {}
        for _ in range(r.i32()):
            k, v = r.str(), r.str()
            r.bool(), r.i8(), r.bool()
            r.arr(lambda x: (x.str(), x.str(), x.i8()))
            cfg[k] = v
        out.append((err, rtype, name, cfg))
    return out


def main(tap):
    with Broker(sys.argv[1]) as b:
        c = Conn(b.port)
        closed = False
        try:
            create_topic_on(c, 'nullname', [(None, 'x')])
        except ConnectionError:
            closed = True
        c.close()
        tap.ok(closed, 'CreateTopics with a null config name: the connection is closed')
        c = Conn(b.port)
        tap.ok(create_topic_on(c, 'nullvalue', [('retention.ms', None)])[0] == INVALID_CONFIG,
               'a null config value is INVALID_CONFIG; the broker still serves')

        for name, given, shown in (('pol1', 'delete,compact', 'delete,compact'),
                                   ('pol2', ' compact , delete', 'compact,delete'),
                                   ('pol3', 'compact', 'compact')):
            e = create_topic_on(c, name, [('cleanup.policy', given)])
            err, _, cfg = describe_configs_on(c, TOPIC, name)
            tap.ok(e[0] == 0 and err == 0 and cfg['cleanup.policy'][0] == shown,
                   'cleanup.policy %r reads back as %r' % (given, shown), (e, cfg.get('cleanup.policy')))
        err, _, cfg = describe_configs_on(c, TOPIC, 'nullvalue')
        tap.ok(err != 0, 'the refused topic does not exist', err)

        before = describe_many_on(c, [(TOPIC, 'pol1')])[0][3].get('retention.ms')
        for incremental, api in ((False, 'AlterConfigs'), (True, 'IncrementalAlterConfigs')):
            res = alter_many_on(c, [(TOPIC, 'pol1', {'retention.ms': '1001'}),
                                    (TOPIC, 'pol2', {'retention.ms': '2002'}),
                                    (TOPIC, 'pol1', {'retention.ms': '3003'})], incremental)
            tap.ok(res == [(INVALID_REQUEST, DUP_MSG, TOPIC, 'pol1'), (0, None, TOPIC, 'pol2'),
                           (INVALID_REQUEST, DUP_MSG, TOPIC, 'pol1')],
                   '%s: a topic named twice is INVALID_REQUEST each time, the other is altered' % api, res)
            got = describe_many_on(c, [(TOPIC, 'pol1'), (TOPIC, 'pol2'), (TOPIC, 'pol1')])
            tap.ok([(g[0], g[2], g[3].get('retention.ms')) for g in got] ==
                   [(0, 'pol1', before), (0, 'pol2', '2002'), (0, 'pol1', before)],
                   '%s: the duplicate changed nothing; DescribeConfigs answers each occurrence' % api,
                   [(g[0], g[2], g[3].get('retention.ms')) for g in got])
            alter_many_on(c, [(TOPIC, 'pol2', {})], False)
        res = alter_many_on(c, [(BROKER, '0', {'log.retention.bytes': '5000'}),
                                (BROKER, '0', {'log.retention.bytes': '6000'}),
                                (BROKER, '', {'log.retention.bytes': '7000'})], True)
        tap.ok([r[:2] for r in res] == [(INVALID_REQUEST, DUP_MSG), (INVALID_REQUEST, DUP_MSG), (0, None)],
               'the broker named twice: both refused; the cluster default (another resource) is set', res)
        got = describe_many_on(c, [(BROKER, '0')])
        tap.ok(got and got[0][3].get('log.retention.bytes') == '7000',
               'the per-broker value was not set, the default was', got and got[0][3].get('log.retention.bytes'))
        c.close()


run_tap(main)
