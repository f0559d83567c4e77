#!/usr/bin/python3
"""
tests/interop/test_config_requests.py: request-level rules of the config APIs that the clients
cannot break (raw requests, kwire.py), each against the real broker:
- CreateTopics with a null config name (a non-nullable string in Kafka's schema): Kafka's parser
  refuses the request and closes the connection; the broker keeps serving others.
- cleanup.policy given as "delete,compact" (and " compact , delete") reads back in the order
  given, as Kafka's LIST type prints it (blanks around the items dropped), not normalised.
Usage: test_config_requests.py <path to ringtail>
"""
import sys

from kwire import Conn, W, describe_configs_on
from rtbroker import Broker, run_tap

TOPIC = 2
INVALID_CONFIG = 40


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
        c.close()


run_tap(main)
