// tests/interop/groups_kafkajs.js: the KafkaJS side of test_groups_kafkajs.py.  Two KafkaJS
// consumers in one group consume a 4-partition topic; every record is seen exactly once between
// them and their committed offsets reach the end.  Prints "RESULT ok|fail <name>" lines.
const { Kafka, logLevel } = require('kafkajs');

const bootstrap = process.argv[2];
const N = 400;

function result(ok, name, diag) {
  console.log(`RESULT ${ok ? 'ok' : 'fail'} ${name}`);
  if (!ok && diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`);
}

async function main() {
  const kafka = new Kafka({ clientId: 'ringtail-groups', brokers: [bootstrap], logLevel: logLevel.NOTHING,
    retry: { retries: 10 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: 'kjg', numPartitions: 4, replicationFactor: 1 }] });
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let i = 0; i < N; i++) messages.push({ value: `v-${i}`, partition: i % 4 });
  await producer.send({ topic: 'kjg', acks: -1, messages });
  await producer.disconnect();

  const seen = new Map();
  const members = [];
  for (let k = 0; k < 2; k++) {
    const c = kafka.consumer({ groupId: 'kjs-group', sessionTimeout: 10000, heartbeatInterval: 500,
      rebalanceTimeout: 10000 });
    await c.connect();
    await c.subscribe({ topic: 'kjg', fromBeginning: true });
    c.run({ eachMessage: async ({ partition, message }) => {
      const key = `${partition}:${message.offset}`;
      seen.set(key, (seen.get(key) || 0) + 1);
    } });
    members.push(c);
  }
  const deadline = Date.now() + 60000;
  while (seen.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  result(seen.size === N, `a KafkaJS group consumes all ${N} records`, `${seen.size} seen`);
  const dup = [...seen.values()].filter((n) => n > 1).length;
  result(dup === 0, 'each record once', `${dup} seen more than once`);
  // let the consumers commit (KafkaJS commits on its interval and when stopping)
  for (const c of members) await c.disconnect();
  const offs = await admin.fetchOffsets({ groupId: 'kjs-group', topics: ['kjg'] });
  const parts = offs[0].partitions.map((p) => Number(p.offset)).sort();
  result(JSON.stringify(parts) === JSON.stringify([100, 100, 100, 100]), 'the group committed every partition to its end',
    JSON.stringify(offs));
  const groups = await admin.listGroups();
  result(groups.groups.some((g) => g.groupId === 'kjs-group'), 'admin.listGroups lists the group', JSON.stringify(groups));
  const desc = await admin.describeGroups(['kjs-group']);
  result(desc.groups[0].state === 'Empty', 'admin.describeGroups: Empty after both left', JSON.stringify(desc));
  await admin.disconnect();
}

main().then(() => process.exit(0), (e) => { result(false, 'KafkaJS raised', e.stack || e); process.exit(1); });
