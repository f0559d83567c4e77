// tests/interop/kafkajs_client.js: the KafkaJS side of test_kafkajs.py.  Creates a topic,
// produces keyed records with acks=-1, reads back offsets and metadata, consumes the records back
// with a KafkaJS consumer (its group runs in ringtail-control), and prints one line per check:
// "RESULT ok|fail <name>", then the produced records as JSON for the Python side.
const { Kafka, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const N = 1000;

function result(ok, name, diag) {
  console.log(`RESULT ${ok ? 'ok' : 'fail'} ${name}`);
  if (!ok && diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`);
}

async function main() {
  const kafka = new Kafka({ clientId: 'ringtail-interop', brokers: [bootstrap], logLevel: logLevel.NOTHING,
    retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();
  const created = await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 3, replicationFactor: 1 }] });
  result(created === true, 'admin.createTopics creates a 3-partition topic');
  const topics = await admin.listTopics();
  result(topics.includes('kjs'), 'admin.listTopics lists it', topics);

  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < N; i++) messages.push({ key: `key-${i % 17}`, value: `kafkajs-${i}`, partition: i % 3 });
  let acked = 0;
  for (let i = 0; i < N; i += 100) {
    const res = await producer.send({ topic: 'kjs', acks: -1, messages: messages.slice(i, i + 100) });
    acked += res.length > 0 ? 100 : 0;
  }
  result(acked === N, `producer.send with acks=-1: ${N} records acknowledged`);
  await producer.disconnect();

  const offsets = await admin.fetchTopicOffsets('kjs');
  const high = offsets.map((o) => Number(o.high)).reduce((a, b) => a + b, 0);
  const low = offsets.map((o) => Number(o.low)).reduce((a, b) => a + b, 0);
  result(high === N && low === 0, 'admin.fetchTopicOffsets: high watermarks sum to the records sent', JSON.stringify(offsets));
  const md = await admin.fetchTopicMetadata({ topics: ['kjs'] });
  result(md.topics.length === 1 && md.topics[0].partitions.length === 3, 'admin.fetchTopicMetadata: 3 partitions',
    JSON.stringify(md));
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: 'kjs-read', sessionTimeout: 10000, heartbeatInterval: 500,
    rebalanceTimeout: 10000 });
  await consumer.connect();
  await consumer.subscribe({ topic: 'kjs', fromBeginning: true });
  const got = [[], [], []];
  let n = 0;
  consumer.run({ eachMessage: async ({ partition, message }) => {
    got[partition].push({ key: message.key.toString(), value: message.value.toString(), offset: Number(message.offset) });
    n++;
  } });
  const deadline = Date.now() + 60000;
  while (n < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  const same = [0, 1, 2].every((p) => {
    const want = messages.filter((m) => m.partition === p);
    return got[p].length === want.length &&
      got[p].every((g, i) => g.key === want[i].key && g.value === want[i].value && g.offset === i);
  });
  result(same, `a KafkaJS consumer reads the ${N} records back byte-identical, in order, at offsets 0..n-1`,
    `${n} consumed: ${got.map((g) => g.length).join('+')}`);
  console.log('RECORDS ' + JSON.stringify(messages));
}

main().catch((e) => {
  result(false, 'kafkajs raised', e && e.stack);
  process.exit(1);
});
