#!/usr/bin/python3
"""
tests/interop/test_port_taken.py: a second broker on a port that is already served refuses to
start with a message naming the address, as Kafka does, instead of joining the first broker's
SO_REUSEPORT group and taking half of its connections; the first broker keeps serving.
Usage: test_port_taken.py <path to ringtail>
"""
import sys

from confluent_kafka.admin import AdminClient

from rtbroker import Broker, run_tap


def main(tap):
    with Broker(sys.argv[1]) as first:
        second = Broker(sys.argv[1], port=first.port)
        # start() cannot tell the two apart (the first broker answers the port), so wait for the
        # second process itself: it must exit with an error.
        try:
            second.start(timeout=10)
        except RuntimeError:
            pass
        try:
            rc = second.proc.wait(10)
        except Exception:  # noqa: BLE001 - still running is the failure we look for
            rc = None
        second.stop(9)
        tap.ok(rc not in (None, 0), 'a second broker on a served port exits with an error (status %s)' % rc)
        tap.ok('Address already in use' in second.log() and str(first.port) in second.log(),
               'its log names the address and the reason', second.log())
        md = AdminClient({'bootstrap.servers': first.bootstrap}).list_topics(timeout=10)
        tap.ok(md.brokers and first.alive(), 'the first broker still serves')


run_tap(main)
