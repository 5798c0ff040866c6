/**
 * events: persistent, confirmed publishes consumed and acked end to end, through our
 * EventPublisher/EventConsumer against raw amqplib doing the same (same broker, same queue type,
 * same body size, same publish window and prefetch), alternating rounds in one run.
 */
import amqp from 'amqplib';
import { z } from 'zod';
import { Broker, config, defineEvent, EventConsumer, EventPublisher, makeEnvelope } from '../common/index.js';
import { AMQP_URL, benchNamespace, median, note, pool, quiet, round } from './lib.js';

const happened = defineEvent('bench.happened', z.object({ n: z.number() }).loose());

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);
const PREFETCH = Number(process.env.BENCH_PREFETCH ?? 256);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const data = (n: number) => ({ userId: 'u1', trackId: `tr${n % 64}`, msPlayed: 30_000, n });

interface Result {
  perSecond: number;
  lost: number;
}

function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const tick = () => {
      if (check()) return resolve(true);
      if (Date.now() > until) return resolve(false);
      setTimeout(tick, 2);
    };
    tick();
  });
}

async function ours(ns: string): Promise<Result> {
  const broker = await Broker.connect({ url: AMQP_URL, name: 'bench-events', logger: quiet, namespace: ns });
  const seen = new Set<string>();
  const consumer = new EventConsumer({
    broker,
    logger: quiet,
    group: 'bench',
    event: happened.type,
    schema: happened.schema,
    handle: async (events) => {
      for (const e of events) seen.add(e.id);
    },
    batchSize: 64,
    batchWaitMs: 2,
    prefetch: PREFETCH,
  });
  await consumer.start();
  const publisher = new EventPublisher({ broker, logger: quiet });
  await publisher.start();
  const started = performance.now();
  await pool(EVENTS, WINDOW, (n) => publisher.publish(happened, data(n)));
  await waitFor(() => seen.size >= EVENTS, 60_000);
  const ms = performance.now() - started;
  await consumer.stop();
  await publisher.stop();
  const ch = await broker.channel();
  await ch.deleteQueue(consumer.queue);
  await ch.deleteQueue(consumer.deadQueue);
  for (const d of [200, 1000, 5000]) await ch.deleteQueue(`${consumer.queue}.retry.${d}ms`);
  await ch.deleteExchange(broker.name('music.events'));
  await broker.close();
  return { perSecond: (seen.size / ms) * 1000, lost: EVENTS - seen.size };
}

async function raw(ns: string): Promise<Result> {
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  const exchange = `${ns}.raw-events`;
  const queue = `${ns}.raw-queue`;
  await pub.assertExchange(exchange, 'topic', { durable: true });
  await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': config().queueType } });
  await pub.bindQueue(queue, exchange, 'bench.happened');
  await sub.prefetch(PREFETCH);
  const seen = new Set<string>();
  await sub.consume(queue, (msg) => {
    if (!msg) return;
    const event = JSON.parse(msg.content.toString());
    seen.add(event.id);
    sub.ack(msg);
  });
  const started = performance.now();
  await pool(
    EVENTS,
    WINDOW,
    (n) =>
      new Promise<void>((resolve, reject) => {
        const envelope = makeEnvelope('bench.happened', data(n));
        pub.publish(
          exchange,
          'bench.happened',
          Buffer.from(JSON.stringify(envelope)),
          { persistent: true, messageId: envelope.id, contentType: 'application/json' },
          (err) => (err ? reject(err) : resolve()),
        );
      }),
  );
  await waitFor(() => seen.size >= EVENTS, 60_000);
  const ms = performance.now() - started;
  await pub.deleteQueue(queue);
  await pub.deleteExchange(exchange);
  await conn.close();
  return { perSecond: (seen.size / ms) * 1000, lost: EVENTS - seen.size };
}

export async function runEventsBench(): Promise<Record<string, unknown>> {
  const o: number[] = [];
  const r: number[] = [];
  let lost = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const rr = await raw(benchNamespace('events'));
    const oo = await ours(benchNamespace('events'));
    r.push(rr.perSecond);
    o.push(oo.perSecond);
    lost += oo.lost;
    note(
      `round ${i + 1}: ours ${oo.perSecond.toFixed(0)}/s (lost ${oo.lost}) raw ${rr.perSecond.toFixed(0)}/s (lost ${rr.lost})`,
    );
  }
  const oursPs = median(o);
  const rawPs = median(r);
  return {
    bench: 'events',
    events: EVENTS,
    queue_type: config().queueType,
    ours_per_s: Math.round(oursPs),
    raw_per_s: Math.round(rawPs),
    // Median of the per-round ratios: each pair ran back to back, so drift cancels out.
    ratio: round(median(o.map((v, i) => v / r[i]!))),
    lost,
  };
}
