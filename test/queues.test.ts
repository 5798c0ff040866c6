/**
 * Every queue that holds work or failed messages is a quorum queue (replicated on a cluster),
 * retry queues dead-letter at least once, request queues are transient classic queues, and
 * queues an earlier version declared otherwise (classic work queues, durable quorum request
 * queues) keep working, with one warning, until `npm run queues:migrate` moves them, messages
 * included.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Broker } from '../common/amqp/broker.js';
import { MIGRATE_COMMAND, mismatchOf } from '../common/amqp/queues.js';
import { EventConsumer } from '../common/events/consumer.js';
import { defineEvent, EVENTS_EXCHANGE } from '../common/events/envelope.js';
import { EventPublisher } from '../common/events/publisher.js';
import { groupQueues, queueNames, retryQueue } from '../common/events/topology.js';
import { RpcClient } from '../common/rpc/client.js';
import { defineContract, internalMethod as method } from '../common/rpc/contract.js';
import { RpcServer, requestQueue } from '../common/rpc/server.js';
import { holdingQueue, migrateQueue, type SystemQueue } from '../scripts/queue-migration.js';
import { AMQP_URL, cleanupBroker, eventually, namespace, queueDetails } from './support/env.js';

const math = defineContract('math', {
  add: method(z.object({ a: z.number(), b: z.number() })).returns<{ sum: number }>(),
});
const ping = z.object({ n: z.number() });
const GROUP = { group: 'g1', event: 'ping' } as const;
const DELAYS = [50, 100];

describe('queues', () => {
  let ns: string;
  let lines: string[];
  const stops: Array<() => Promise<void>> = [];

  async function broker(name: string): Promise<Broker> {
    // Warnings of the broker and its components, as JSON lines.
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const b = await Broker.connect({ url: AMQP_URL, name: `${name}:${ns}`, logger, namespace: ns });
    stops.push(() => b.close());
    return b;
  }

  async function serve(b: Broker) {
    const server = new RpcServer({
      broker: b,
      contract: math,
      handlers: { add: async ({ a, b: c }) => ({ sum: a + c }) },
      logger: b.log,
    });
    await server.start();
    const client = new RpcClient({ broker: b, logger: b.log, timeoutMs: 5000 });
    await client.start();
    stops.push(
      () => client.stop(),
      () => server.stop(),
    );
    return client.bind(math);
  }

  async function consume(
    b: Broker,
    seen: number[],
    fail: () => boolean = () => false,
  ): Promise<EventConsumer<{ n: number }>> {
    const consumer = new EventConsumer({
      broker: b,
      logger: b.log,
      ...GROUP,
      schema: ping,
      retryDelaysMs: DELAYS,
      handle: async (events) => {
        if (fail()) throw new Error('not yet');
        seen.push(...events.map((e) => e.data.n));
      },
    });
    await consumer.start();
    stops.push(() => consumer.stop());
    return consumer;
  }

  async function publish(b: Broker, ns: number[]) {
    const publisher = new EventPublisher({ broker: b, logger: b.log, queues: [GROUP] });
    await publisher.start();
    for (const n of ns) await publisher.publish(defineEvent('ping', ping), { n });
    await publisher.stop();
  }

  /** This test's queues as this version declares them. */
  function declared(b: Broker): SystemQueue[] {
    const [main, dead] = groupQueues(b, GROUP);
    return [
      requestQueue(b, 'math'),
      { ...main!, binding: { exchange: b.name(EVENTS_EXCHANGE), routingKey: GROUP.event } },
      dead!,
      ...DELAYS.map((d) => retryQueue(b, GROUP, d)),
    ];
  }

  /**
   * The queues as earlier versions declared them: classic work queues, retry queues without a
   * strategy, and a durable quorum request queue.
   */
  async function declareClassic(b: Broker) {
    const ch = await b.channel();
    const names = queueNames(b, GROUP);
    await ch.assertExchange(b.name(EVENTS_EXCHANGE), 'topic', { durable: true });
    await ch.assertQueue(requestQueue(b, 'math').name, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum' },
    });
    await ch.assertQueue(names.main, { durable: true });
    await ch.bindQueue(names.main, b.name(EVENTS_EXCHANGE), GROUP.event);
    await ch.assertQueue(names.dead, { durable: true });
    for (const d of DELAYS) {
      await ch.assertQueue(names.retry(d), {
        durable: true,
        arguments: {
          'x-message-ttl': d,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': names.main,
        },
      });
    }
    await ch.close();
  }

  const warnings = () =>
    lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);

  beforeEach(() => {
    ns = namespace('qq');
    lines = [];
  });

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
    await cleanupBroker(ns);
  });

  it('declares event, dead-letter and retry queues as quorum queues, request queues as transient classic', async () => {
    const b = await broker('declare');
    const seen: number[] = [];
    const call = await serve(b);
    await consume(b, seen);
    expect(await call.call('add', { a: 1, b: 2 })).toEqual({ sum: 3 });
    const [request, ...work] = declared(b);
    const details = await queueDetails(request!.name);
    expect([details.type, details.durable, details.arguments]).toEqual(['classic', false, {}]);
    for (const q of work) {
      const details = await queueDetails(q.name);
      expect(details.type, q.name).toBe('quorum');
      expect(details.durable, q.name).toBe(true);
      expect(details.arguments).toEqual(q.arguments);
    }
    const retry = await queueDetails(queueNames(b, GROUP).retry(50));
    expect(retry.arguments).toMatchObject({
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
      'x-message-ttl': 50,
      'x-dead-letter-routing-key': queueNames(b, GROUP).main,
    });
    expect(warnings()).toEqual([]);
  });

  it('retries through quorum retry queues: a failing event comes back until it succeeds', async () => {
    const b = await broker('retry');
    let failures = 0;
    const seen: number[] = [];
    const consumer = await consume(b, seen, () => failures++ < 3);
    await publish(b, [7]);
    await eventually(() => seen.length === 1, 10_000);
    expect(seen).toEqual([7]);
    expect(consumer.counters.retried).toBe(3);
  });

  it('keeps working on queues earlier versions declared otherwise, warns once, and never loops on 406', async () => {
    const setup = await broker('setup');
    await declareClassic(setup);
    const b = await broker('old');
    let connects = 0;
    b.on('connect', () => connects++);
    const seen: number[] = [];
    const call = await serve(b);
    await consume(b, seen);
    await publish(b, [1, 2, 3]);
    expect(await call.call('add', { a: 2, b: 2 })).toEqual({ sum: 4 });
    await eventually(() => seen.length === 3, 10_000);
    await eventually(() => warnings().length > 0, 5000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(connects).toBe(0);
    expect(b.connected).toBe(true);
    const [request, ...work] = declared(b);
    expect((await queueDetails(request!.name)).type).toBe('quorum');
    for (const q of work) expect((await queueDetails(q.name)).type, q.name).toBe('classic');
    // One warning for all of them (server, consumer and publisher declare them in turn).
    const warned = warnings();
    expect(warned.length).toBe(1);
    const text = warned.map((w) => w.msg).join('\n');
    for (const q of declared(b)) expect(text).toContain(q.name);
    expect(text).toContain(MIGRATE_COMMAND);
    expect(text).toContain('x-queue-type: has none, declared quorum');
    expect(text).toContain('durable: has true, declared false');
  });

  it('migrates classic work queues to quorum, a quorum request queue to transient classic, with every message, refusing while consumed', async () => {
    const b = await broker('migrate');
    await declareClassic(b);
    const names = queueNames(b, GROUP);
    const ch = await b.confirmChannel();
    for (let i = 0; i < 250; i++)
      ch.sendToQueue(names.main, Buffer.from(`main ${i}`), { persistent: true, messageId: `m${i}` });
    for (let i = 0; i < 5; i++)
      ch.sendToQueue(names.dead, Buffer.from(`dead ${i}`), { headers: { 'x-death-reason': 'r' } });
    ch.sendToQueue(requestQueue(b, 'math').name, Buffer.from('{}'));
    await ch.waitForConfirms();

    // While something consumes the request queue, it is left alone.
    const tag = await ch.consume(requestQueue(b, 'math').name, () => {}, { noAck: false });
    expect(await migrateQueue(b, declared(b)[0]!)).toMatchObject({ result: 'refused' });
    await ch.cancel(tag.consumerTag);
    await ch.close();
    // A quorum queue counts the consumer gone a moment after the cancel.
    const check = await b.channel();
    await eventually(
      async () => (await check.checkQueue(requestQueue(b, 'math').name)).consumerCount === 0,
      5000,
    );
    await check.close();

    const outcomes = [];
    for (const q of declared(b)) outcomes.push(await migrateQueue(b, q));
    expect(outcomes.map((o) => [o.result, 'moved' in o ? o.moved : null])).toEqual([
      ['migrated', 1],
      ['migrated', 250],
      ['migrated', 5],
      ['migrated', 0],
      ['migrated', 0],
    ]);
    for (const q of declared(b)) {
      const details = await queueDetails(q.name);
      expect(details.type).toBe(q.durable === false ? 'classic' : 'quorum');
      expect(details.durable).toBe(q.durable ?? true);
      expect(details.arguments).toEqual(q.arguments);
      await expect(queueDetails(holdingQueue(q.name))).rejects.toThrow(/404/);
    }
    const request = await read0(b, requestQueue(b, 'math').name);
    expect(request).toBe('{}');
    // Every message is there, in order, with its properties; the binding works again.
    const read = await b.channel();
    const got: string[] = [];
    for (let m = await read.get(names.main); m; m = await read.get(names.main)) {
      got.push(`${m.content.toString()}|${m.properties.messageId}`);
      read.ack(m);
    }
    expect(got).toEqual(Array.from({ length: 250 }, (_, i) => `main ${i}|m${i}`));
    const dead = await read.get(names.dead);
    expect(dead ? dead.properties.headers?.['x-death-reason'] : undefined).toBe('r');
    await read.close();
    const seen: number[] = [];
    await consume(b, seen);
    await publish(b, [42]);
    await eventually(() => seen.includes(42), 10_000);
    // A second run finds nothing to do.
    for (const q of declared(b)) expect((await migrateQueue(b, q)).result).toBe('current');
  });

  it('finishes a migration that was interrupted after the old queue was deleted', async () => {
    const b = await broker('resume');
    const q = declared(b)[2]!;
    const ch = await b.confirmChannel();
    await ch.assertQueue(holdingQueue(q.name), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 3; i++) ch.sendToQueue(holdingQueue(q.name), Buffer.from(`held ${i}`));
    await ch.waitForConfirms();
    await ch.close();
    expect(await migrateQueue(b, q)).toMatchObject({ result: 'migrated', moved: 3 });
    expect((await queueDetails(q.name)).type).toBe('quorum');
    await expect(queueDetails(holdingQueue(q.name))).rejects.toThrow(/404/);
  });

  /** The body of the first message of a queue, taken off it. */
  async function read0(b: Broker, queue: string): Promise<string | null> {
    const ch = await b.channel();
    const m = await ch.get(queue, { noAck: true });
    await ch.close();
    return m ? m.content.toString() : null;
  }

  it('reads the argument a 406 names', () => {
    const err = Object.assign(
      new Error(
        "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': received the value 'quorum' of type 'longstr' but current is the value 'classic' of type 'longstr'\"",
      ),
      { code: 406 },
    );
    expect(mismatchOf(err)).toBe('x-queue-type: has classic, declared quorum');
    const durable = Object.assign(
      new Error(
        "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'\"",
      ),
      { code: 406 },
    );
    expect(mismatchOf(durable)).toBe('durable: has true, declared false');
    expect(mismatchOf(Object.assign(new Error('x'), { code: 404 }))).toBeNull();
  });
});
