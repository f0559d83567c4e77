"""
tests/interop/kclient.py: what several interop tests do with confluent-kafka-python (librdkafka):
read partitions back to their end, read a group's committed offsets, and collect a producer's delivery reports from its callback
thread.  The tests judge what comes back; nothing here decides a test's outcome.
"""
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def produce_keyed(bootstrap, topic, records):
    """records: [(key, value)] to topic with acks=all; returns {key: offset of its last write},
    or raises when a delivery failed."""
    p = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 0,
                  'batch.num.messages': 5, 'message.timeout.ms': 20000})
    last, errors = {}, []

    def report(err, msg):
        if err:
            errors.append(err)
        else:
            k = msg.key()
            last[k] = max(last.get(k, -1), msg.offset())
    for k, v in records:
        p.produce(topic, key=k, value=v, on_delivery=report)
        p.poll(0)
    p.flush(30)
    if errors:
        raise RuntimeError('delivery failed: %s' % errors[:3])
    return last


def read_to_end(bootstrap, topic, partitions, timeout=60, **conf):
    """Every record of each partition in `partitions`, from its log start up to the end it has
    when the reader reaches it (librdkafka's partition EOF: the high watermark, or the last
    stable offset with isolation.level read_committed).  conf: more consumer settings.
    Returns ({partition: [Message]}, {partition: end offset asked at the start}); a partition
    not at its end by `timeout` seconds comes back with what was read.  A partition error raises;
    a client-level error (no topic: a connection dropped, brokers down) does not, librdkafka
    retries those itself."""
    c = Consumer(dict({'bootstrap.servers': bootstrap, 'group.id': 'kclient-reader', 'enable.auto.commit': False,
                       'enable.partition.eof': True, 'auto.offset.reset': 'earliest'}, **conf))
    try:
        ends, start = {}, []
        for p in partitions:
            lo, ends[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            start.append(TopicPartition(topic, p, lo))
        c.assign(start)
        out = {p: [] for p in partitions}
        eof = set()
        deadline = time.time() + timeout
        while len(eof) < len(out) and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                elif m.topic() == topic:
                    raise RuntimeError('%s-%s: %s' % (topic, m.partition(), m.error()))
                continue
            out[m.partition()].append(m)
        return out, ends
    finally:
        c.close()


def committed(bootstrap, group, topic, partitions, timeout=30):
    """The group's committed offsets of the partitions: {partition: offset} (-1001: none).
    Failures are tried again for `timeout` seconds, as an application does while the broker and
    its control process come up (COORDINATOR_NOT_AVAILABLE, _LOAD_IN_PROGRESS, transport
    errors: librdkafka does not flag all of them retriable)."""
    c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'enable.auto.commit': False})
    try:
        deadline = time.time() + timeout
        while True:
            try:
                r = c.committed([TopicPartition(topic, q) for q in partitions], timeout=30)
                return {tp.partition: tp.offset for tp in r}
            except KafkaException:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        c.close()


class Deliveries:
    """A producer's delivery reports (pass the object as on_delivery): the values delivered to each
    partition in report order, decoded, and the errors, guarded by `lock` (the producer's poll
    thread writes them)."""

    def __init__(self, partitions):
        self.lock = threading.Lock()
        self.delivered = {q: [] for q in range(partitions)}
        self.errors = []

    def __call__(self, err, msg):
        with self.lock:
            if err:
                self.errors.append(str(err))
            else:
                self.delivered[msg.partition()].append(msg.value().decode())

    def count(self):
        """Messages delivered so far."""
        with self.lock:
            return sum(len(v) for v in self.delivered.values())
