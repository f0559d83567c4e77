#!/usr/bin/python3
"""
tests/interop/test_port_taken.py: a second broker on a port that is already served refuses to
start with a message naming the address, as Kafka does, instead of joining the first broker's
SO_REUSEPORT group and taking half of its connections; the first broker keeps serving.  A port
that is released soon after the start (the listener of a SIGKILLed broker outlives it while the
kernel tears down its io_uring) is waited for.
Usage: test_port_taken.py <path to ringtail>
"""
import sys

from confluent_kafka.admin import AdminClient

from rtbroker import Broker, run_tap


def main(tap):
    with Broker(sys.argv[1]) as first:
        second = Broker(sys.argv[1], port=first.port)
        try:
            # start() cannot tell the two apart (the first broker answers the port), so wait for
            # the second process itself: it must exit with an error.
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
        finally:
            second.close()
        md = AdminClient({'bootstrap.servers': first.bootstrap}).list_topics(timeout=10)
        tap.ok(md.brokers and first.alive(), 'the first broker still serves')
        # A port that is released shortly after the start (a SIGKILLed broker's listening socket
        # lives on until the kernel has torn down its io_uring, tens of ms under I/O load): the
        # restarted broker waits for it instead of giving up.
        import socket
        import threading
        hold = socket.socket()
        hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hold.bind(('127.0.0.1', 0))
        hold.listen(1)
        port = hold.getsockname()[1]
        threading.Timer(0.5, hold.close).start()
        late = Broker(sys.argv[1], port=port)
        try:
            late.start(timeout=15)
            tap.ok(late.alive(), 'a broker whose port is released 0.5 s after its start waits and starts')
        except RuntimeError as e:
            tap.ok(False, 'a broker whose port is released 0.5 s after its start waits and starts', str(e)[-800:])
        finally:
            late.stop(9)
            late.close()


run_tap(main)
