import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Broker } from '../common/amqp/broker.js';
import { dropSchema, migrate } from '../common/db/migrate.js';
import { enqueueEvent, OutboxRelay } from '../common/db/outbox.js';
import { type Pool, withTransaction } from '../common/db/pool.js';
import { EventConsumer, PermanentError } from '../common/events/consumer.js';
import { defineEvent, type EventEnvelope, eventQueue, makeEnvelope } from '../common/events/envelope.js';
import { partitionNumbers, partitionStream } from '../common/events/partitions.js';
import { EventPublisher } from '../common/events/publisher.js';
import { logRetention } from '../common/service.js';
import { withTrace } from '../common/trace.js';
import {
  cleanupBroker,
  closeConnections,
  connectBroker,
  eventually,
  namespace,
  silentLogger,
  sleep,
  testConfig,
  testPool,
} from './support/env.js';

const pingSchema = z.object({ n: z.number().int() });
const ping = defineEvent('ping', pingSchema);
type Ping = z.infer<typeof pingSchema>;

describe('events', () => {
  let ns: string;
  const brokers: Broker[] = [];
  const stoppers: Array<() => Promise<void>> = [];

  async function broker(name: string) {
    const b = await connectBroker(ns, name);
    brokers.push(b);
    return b;
  }

  async function publisher(b: Broker, queues = [{ group: 'g1', event: 'ping' }]) {
    const p = new EventPublisher({ broker: b, logger: silentLogger, queues });
    await p.start();
    stoppers.push(() => p.stop());
    return p;
  }

  async function consumer(
    b: Broker,
    group: string,
    handle: (events: EventEnvelope<Ping>[]) => Promise<void>,
    extra: Partial<ConstructorParameters<typeof EventConsumer<Ping>>[0]> = {},
  ) {
    const c = new EventConsumer<Ping>({
      broker: b,
      logger: silentLogger,
      group,
      event: 'ping',
      schema: pingSchema,
      handle,
      retryDelaysMs: [50, 100],
      maxAttempts: 3,
      ...extra,
    });
    await c.start();
    stoppers.push(() => c.stop());
    return c;
  }

  beforeEach(() => {
    ns = namespace('ev');
  });

  afterEach(async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop();
    for (const b of brokers.splice(0)) await b.close();
    await cleanupBroker(ns);
  });

  it('delivers each event once to every consumer group', async () => {
    const b = await broker('pub');
    const seen = { g1: [] as number[], g2: [] as number[] };
    await consumer(b, 'g1', async (evs) => void seen.g1.push(...evs.map((e) => e.data.n)));
    await consumer(b, 'g2', async (evs) => void seen.g2.push(...evs.map((e) => e.data.n)));
    const p = await publisher(b);
    for (let n = 0; n < 20; n++) await p.publish(ping, { n });
    await eventually(() => seen.g1.length === 20 && seen.g2.length === 20);
    await sleep(200);
    expect([...seen.g1].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(seen.g2).toHaveLength(20);
  });

  it('keeps events published before any consumer started, in the declared group queue', async () => {
    const b = await broker('pub');
    const p = await publisher(b, [{ group: 'late', event: 'ping' }]);
    await p.publish(ping, { n: 1 });
    const seen: number[] = [];
    await consumer(b, 'late', async (evs) => void seen.push(...evs.map((e) => e.data.n)));
    await eventually(() => seen.length === 1);
  });

  it('carries the trace id from publisher to handler', async () => {
    const b = await broker('pub');
    const { currentTraceId } = await import('../common/trace.js');
    let traceSeen: string | undefined;
    await consumer(b, 'g1', async () => {
      traceSeen = currentTraceId();
    });
    const p = await publisher(b);
    await withTrace('trace-abc', () => p.publish(ping, { n: 1 }));
    await eventually(() => traceSeen === 'trace-abc');
  });

  it('retries a failing event with back-off, then dead-letters it with the reason', async () => {
    const b = await broker('pub');
    const attempts: number[] = [];
    const c = await consumer(b, 'g1', async (evs) => {
      for (const e of evs) {
        attempts.push(Date.now());
        if (e.data.n === 13) throw new Error('unlucky');
      }
    });
    const p = await publisher(b);
    await p.publish(ping, { n: 13 });
    await eventually(() => c.counters.deadLettered === 1, 5000);
    expect(attempts).toHaveLength(3);
    expect(attempts[2]! - attempts[0]!).toBeGreaterThanOrEqual(140); // 50 ms + 100 ms back-off
    const ch = await b.channel();
    const dead = await eventually(async () => (await ch.get(c.deadQueue, { noAck: true })) || undefined);
    expect(JSON.parse(dead.content.toString()).data).toEqual({ n: 13 });
    expect(dead.properties.headers?.['x-death-reason']).toBe('Error: unlucky');
    expect(dead.properties.headers?.['x-attempt']).toBe(3);
    await ch.close();
  });

  it('dead-letters poison messages at once without blocking the ones behind them', async () => {
    const b = await broker('pub');
    const seen: number[] = [];
    const c = await consumer(
      b,
      'g1',
      async (evs) => {
        for (const e of evs) {
          if (e.data.n < 0) throw new PermanentError('negative');
          seen.push(e.data.n);
        }
      },
      { batchSize: 10, batchWaitMs: 20 },
    );
    const p = await publisher(b);
    const ch = await b.channel();
    ch.publish(p.exchange, 'ping', Buffer.from('{not json'), { persistent: true });
    ch.publish(p.exchange, 'ping', Buffer.from(JSON.stringify(makeEnvelope('ping', { n: 'x' }))));
    await p.publish(ping, { n: -1 });
    for (let n = 0; n < 10; n++) await p.publish(ping, { n });
    await eventually(() => seen.length === 10 && c.counters.deadLettered === 3, 5000);
    expect(c.counters.retried).toBe(0);
    const reasons: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await ch.get(c.deadQueue, { noAck: true });
      if (m) reasons.push(String(m.properties.headers?.['x-death-reason']));
    }
    expect(reasons.sort()).toEqual([
      'PermanentError: negative',
      'bad ping data: n: Invalid input: expected number, received string',
      'body is not valid JSON',
    ]);
    await ch.close();
  });

  it('recovers its consumer after the broker connection is force-closed', async () => {
    const pubBroker = await broker('pub');
    const consBroker = await broker('cons');
    const seen = new Set<number>();
    await consumer(consBroker, 'g1', async (evs) => {
      for (const e of evs) seen.add(e.data.n);
    });
    const p = await publisher(pubBroker);
    await p.publish(ping, { n: 1 });
    await eventually(() => seen.has(1));
    expect(await closeConnections(`cons:${ns}`)).toBe(1);
    await p.publish(ping, { n: 2 });
    await eventually(() => seen.has(2), 15_000, 100);
  });

  it('publishes at once on a new connection, declares its topology there again, and fails what lands nowhere', async () => {
    const b = await broker('pub');
    const p = new EventPublisher({
      broker: b,
      logger: silentLogger,
      queues: [{ group: 'g9', event: 'ping' }],
      log: logRetention(testConfig()),
    });
    await p.start();
    stoppers.push(() => p.stop());
    const partitions = partitionNumbers(testConfig().eventLogPartitions).map((n) =>
      b.name(partitionStream(n)),
    );
    const queues = [b.name(eventQueue('g9', ping.type)), ...partitions];
    const present = async () => {
      let found = 0;
      for (const q of queues) {
        const probe = await b.channel();
        await probe.checkQueue(q).then(
          () => found++,
          () => {},
        );
        await probe.close().catch(() => {});
      }
      return found;
    };
    expect(await present()).toBe(queues.length);
    await p.publish(ping, { n: 1 });
    // The topology lost (as by a broker reset): an event that lands in no queue is refused,
    // not confirmed and dropped.
    const ch = await b.channel();
    for (const q of queues) await ch.deleteQueue(q);
    await ch.close();
    await expect(p.publish(ping, { n: 2 })).rejects.toThrow(/routed to no queue/);
    // A new connection publishes at once, and declares the topology again beside it.
    expect(await closeConnections(`pub:${ns}`)).toBe(1);
    await eventually(() => p.connected && b.connected, 10_000, 20);
    await eventually(async () => (await present()) === queues.length, 5000, 50);
    await eventually(
      () =>
        p.publish(ping, { n: 3 }).then(
          () => true,
          () => false,
        ),
      5000,
      50,
    );
    const check = await b.channel();
    expect((await check.checkQueue(queues[0]!)).messageCount).toBeGreaterThanOrEqual(1);
    await check.close();
  });

  it('re-declares and resumes when its queue is deleted under it', async () => {
    const b = await broker('pub');
    const seen: number[] = [];
    const c = await consumer(b, 'g1', async (evs) => void seen.push(...evs.map((e) => e.data.n)));
    const ch = await b.channel();
    await ch.deleteQueue(c.queue);
    await ch.close();
    // The consumer notices the cancellation and declares its queue again by itself.
    await eventually(async () => {
      const probe = await b.channel();
      try {
        return (await probe.checkQueue(c.queue)).consumerCount === 1;
      } finally {
        await probe.close().catch(() => {});
      }
    });
    const p = await publisher(b);
    await eventually(
      async () => {
        await p.publish(ping, { n: 5 });
        return seen.includes(5);
      },
      10_000,
      300,
    );
  });

  it('rejects a publish that the broker cannot take', async () => {
    const b = await broker('pub');
    const p = await publisher(b);
    await b.close();
    await expect(p.publish(ping, { n: 1 })).rejects.toMatchObject({ code: 1503 });
  });

  describe('with PostgreSQL', () => {
    let pool: Pool;
    let schema: string;

    beforeEach(async () => {
      schema = `${ns}_svc`;
      pool = testPool(schema);
      await migrate(pool, schema, '/nonexistent');
    });

    afterEach(async () => {
      // Relays and consumers hold pool clients: stop them before the pool ends.
      for (const stop of stoppers.splice(0).reverse()) await stop();
      await dropSchema(pool, schema);
      await pool.end();
    });

    it('applies an effect once however often an event is redelivered, its id the key of the effect', async () => {
      await pool.query('CREATE TABLE effects (event_id uuid PRIMARY KEY)');
      const b = await broker('pub');
      const c = await consumer(
        b,
        'g1',
        async (evs) => {
          await pool.query('INSERT INTO effects SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING', [
            evs.map((e) => e.id),
          ]);
        },
        { batchSize: 25, batchWaitMs: 10 },
      );
      const p = await publisher(b);
      const envelopes = Array.from({ length: 50 }, (_, n) => makeEnvelope('ping', { n }));
      // every event three times, interleaved, as a redelivering broker would
      for (let round = 0; round < 3; round++) await Promise.all(envelopes.map((e) => p.publishEnvelope(e)));
      await eventually(() => c.counters.acked === 150, 10_000);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM effects');
      expect(rows[0].n).toBe(50);
    });

    it('deletes published outbox rows past their retention, never pending ones', async () => {
      const b = await broker('relay');
      const p = await publisher(b);
      const relay = new OutboxRelay({ pool, publisher: p, logger: silentLogger, retainMs: 60_000 });
      await withTransaction(pool, async (db) => {
        for (let n = 0; n < 3; n++) await enqueueEvent(db, ping, { n });
      });
      await relay.flush();
      await pool.query(
        `UPDATE outbox SET published_at = now() - interval '2 minutes' WHERE id IN (SELECT min(id) FROM outbox)`,
      );
      await withTransaction(pool, (db) => enqueueEvent(db, ping, { n: 3 }));
      expect(await relay.prune()).toBe(1);
      const { rows } = await pool.query<{ pending: number; sent: number }>(
        'SELECT count(*) FILTER (WHERE published_at IS NULL)::int AS pending, count(*) FILTER (WHERE published_at IS NOT NULL)::int AS sent FROM outbox',
      );
      expect(rows[0]).toEqual({ pending: 1, sent: 2 });
    });

    it('keeps outbox rows while the broker is unreachable and publishes them when it returns', async () => {
      const consBroker = await broker('cons');
      const seen: number[] = [];
      await consumer(consBroker, 'g1', async (evs) => void seen.push(...evs.map((e) => e.data.n)));
      const pubBroker = await broker('relay');
      const p = await publisher(pubBroker);
      const relay = new OutboxRelay({ pool, publisher: p, logger: silentLogger, intervalMs: 100 });
      await relay.start();
      stoppers.push(() => relay.stop());

      // Cut the relay's connection, then commit events while it is down.
      expect(await closeConnections(`relay:${ns}`)).toBe(1);
      await withTransaction(pool, async (db) => {
        for (let n = 0; n < 5; n++) await enqueueEvent(db, ping, { n });
      });
      // A rolled-back transaction's events must never go out.
      await withTransaction(pool, async (db) => {
        await enqueueEvent(db, ping, { n: 99 });
        throw new Error('rollback');
      }).catch(() => {});

      await eventually(() => seen.length === 5, 15_000, 100);
      await sleep(300);
      expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
      const { rows } = await pool.query(
        'SELECT count(*)::int AS pending FROM outbox WHERE published_at IS NULL',
      );
      expect(rows[0].pending).toBe(0);
    });
  });
});
