// tests/interop/kafkajs_txn.js: the KafkaJS side of test_kafkajs_txn.py.  A transactional
// KafkaJS producer commits some transactions and aborts others (over two partitions); KafkaJS's
// read_committed consumer (its default) must see every committed record once and no aborted
// one, its read_uncommitted consumer all of them; a second producer with the same
// transactionalId fences the first.  Prints "RESULT ok|fail <name>" lines and the committed and
// aborted values as JSON for the Python side.
const { Kafka, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const TOPIC = 'kjs-txn';
const ROUNDS = 6;

function result(ok, name, diag) {
  console.log(`RESULT ${ok ? 'ok' : 'fail'} ${name}`);
  if (!ok && diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`);
}

async function consumeAll(kafka, groupId, readUncommitted, want) {
  const c = kafka.consumer({ groupId, readUncommitted, sessionTimeout: 10000, heartbeatInterval: 500 });
  await c.connect();
  await c.subscribe({ topic: TOPIC, fromBeginning: true });
  const got = [];
  c.run({ eachMessage: async ({ partition, message }) => {
    got.push({ partition, offset: Number(message.offset), value: message.value.toString() });
  } });
  const deadline = Date.now() + 40000;
  while (got.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // a little longer: records beyond what is expected must not show up
  await new Promise((r) => setTimeout(r, 2000));
  await c.disconnect();
  return got;
}

async function main() {
  const kafka = new Kafka({ clientId: 'ringtail-txn', brokers: [bootstrap], logLevel: logLevel.NOTHING,
    retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 2, replicationFactor: 1 }] });
  const producer = kafka.producer({ transactionalId: 'kjs-tx', maxInFlightRequests: 1, idempotent: true });
  await producer.connect();
  const committed = [];
  const aborted = [];
  for (let i = 0; i < ROUNDS; i++) {
    const txn = await producer.transaction();
    const values = [];
    for (let k = 0; k < 4; k++) values.push({ value: `kjs-${i}-${k}`, partition: k % 2 });
    await txn.send({ topic: TOPIC, messages: values.slice(0, 2) });
    await txn.send({ topic: TOPIC, messages: values.slice(2) });
    if (i % 3 === 1) {
      await txn.abort();
      aborted.push(...values.map((v) => v.value));
    } else {
      await txn.commit();
      committed.push(...values.map((v) => v.value));
    }
  }
  result(committed.length > 0 && aborted.length > 0,
    `${ROUNDS} KafkaJS transactions: ${committed.length / 4} committed, ${aborted.length / 4} aborted`);

  const rc = await consumeAll(kafka, 'kjs-rc', false, committed.length);
  const rcv = rc.map((m) => m.value);
  const bad = rcv.filter((v) => aborted.includes(v));
  const dup = rcv.filter((v, i) => rcv.indexOf(v) !== i);
  result(JSON.stringify([...rcv].sort()) === JSON.stringify([...committed].sort()) && bad.length === 0 && dup.length === 0,
    'KafkaJS read_committed consumer: every committed record once, no aborted record',
    `got ${rcv.length}, want ${committed.length}; aborted seen: ${bad}; duplicates: ${dup}`);
  let ordered = true;
  for (const p of [0, 1]) {
    const mine = rc.filter((m) => m.partition === p).sort((a, b) => a.offset - b.offset).map((m) => m.value);
    const want = committed.filter((v) => Number(v.split('-')[2]) % 2 === p);
    if (JSON.stringify(mine) !== JSON.stringify(want)) ordered = false;
  }
  result(ordered, 'KafkaJS read_committed consumer: in the order produced, per partition');
  const ru = await consumeAll(kafka, 'kjs-ru', true, committed.length + aborted.length);
  result(ru.length === committed.length + aborted.length,
    'KafkaJS read_uncommitted consumer: the committed and the aborted records', `got ${ru.length}`);

  // fencing: a second producer with the same transactionalId
  const p2 = kafka.producer({ transactionalId: 'kjs-tx', maxInFlightRequests: 1, idempotent: true });
  await p2.connect();
  // KafkaJS sends InitProducerId with the transactionalId at its first transaction()
  const t2 = await p2.transaction();
  let fenced = null;
  try {
    const t = await producer.transaction();
    await t.send({ topic: TOPIC, messages: [{ value: 'kjs-zombie', partition: 0 }] });
    await t.commit();
  } catch (e) {
    fenced = e;
  }
  result(fenced !== null && /fenced|epoch/i.test(`${fenced.type} ${fenced.message}`),
    'the first KafkaJS producer is fenced by the second', fenced && `${fenced.type} ${fenced.message}`);
  if (!fenced) committed.push('kjs-zombie'); else aborted.push('kjs-zombie');
  await t2.send({ topic: TOPIC, messages: [{ value: 'kjs-after-fence', partition: 1 }] });
  await t2.commit();
  committed.push('kjs-after-fence');
  await p2.disconnect();
  await producer.disconnect().catch(() => {});
  await admin.disconnect();
  console.log('VALUES ' + JSON.stringify({ committed, aborted }));
}

main().then(() => process.exit(0), (e) => { result(false, 'KafkaJS raised', e.stack || e); process.exit(1); });
