/**
 * The server side of the rpc benchmark, in its own process: our RpcServer and a raw amqplib
 * responder, both serving the same echo method on their own queues of the same kind, on the
 * broker of AMQP_URL (one node, or a cluster's). A script with side effects only: importing it
 * starts the servers (bench/rpc.ts forks it).
 */
import amqp from 'amqplib';
import { Broker, config, RpcServer, requestQueue } from '../common/index.js';
import { echoContract } from './echo.js';
import { AMQP_URL, quiet } from './lib.js';

const ns = process.argv[2]!;
const prefetch = Number(process.argv[3] ?? 64);

const broker = await Broker.connect({
  url: AMQP_URL,
  name: 'bench-ours',
  logger: quiet,
  namespace: ns,
  queueType: config().queueType,
});
const ours = new RpcServer({
  broker,
  contract: echoContract,
  handlers: { echo: async (p) => ({ text: p.text, n: p.n }) },
  logger: quiet,
  prefetch,
});
await ours.start();

// raw amqplib takes one URL: a cluster's first node.
const raw = await amqp.connect(AMQP_URL.split(',')[0]!, { noDelay: true });
const ch = await raw.createChannel();
const rawQueue = `${ns}.raw`;
// The same kind of queue as ours (a transient classic queue).
const same = requestQueue(broker, 'raw');
await ch.assertQueue(rawQueue, { durable: same.durable ?? true, arguments: same.arguments });
await ch.prefetch(prefetch);
await ch.consume(rawQueue, (msg) => {
  if (!msg) return;
  const req = JSON.parse(msg.content.toString());
  const res = { jsonrpc: '2.0', id: req.id, result: { text: req.params.text, n: req.params.n } };
  ch.publish('', msg.properties.replyTo, Buffer.from(JSON.stringify(res)), {
    correlationId: msg.properties.correlationId,
    contentType: 'application/json',
  });
  ch.ack(msg);
});

process.send?.('ready');
process.on('message', async (m) => {
  if (m !== 'stop') return;
  await ours.stop();
  await broker.close();
  await ch.deleteQueue(ours.queue);
  await ch.deleteQueue(rawQueue);
  await raw.close();
  process.exit(0);
});
