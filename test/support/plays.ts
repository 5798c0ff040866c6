import type { Broker } from '../../common/amqp/broker.js';
import { Events, type TrackPlayed } from '../../common/contracts/events.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { dropSchema } from '../../common/db/migrate.js';
import type { Pool } from '../../common/db/pool.js';
import type { EventConsumer } from '../../common/events/consumer.js';
import { type EventEnvelope, eventSlug, makeEnvelope } from '../../common/events/envelope.js';
import type { LogSettings } from '../../common/events/log.js';
import { EventPublisher } from '../../common/events/publisher.js';
import { RpcClient } from '../../common/rpc/client.js';
import {
  logRetention,
  type RunningService,
  type ServiceDefinition,
  startService,
} from '../../common/service.js';
import { cleanupBroker, connectBroker, namespace, silentLogger, testConfig, testPool } from './env.js';

/**
 * One test's world for the event-fed services: a namespace, a broker with a publisher and an
 * RPC client on it, workers started in-process, and pools on their schemas. `close` stops and
 * removes everything it made.
 */
export class EventWorld {
  readonly workers: RunningService[] = [];
  private readonly pools = new Map<string, Pool>();

  private constructor(
    readonly ns: string,
    readonly broker: Broker,
    readonly publisher: EventPublisher,
    readonly rpc: RpcClient,
  ) {}

  /**
   * A world of its own (or in namespace `ns`, left by a test as an older version would have);
   * `retention` is the event log's (default: the configuration's).
   */
  static async open(
    label: string,
    retention: LogSettings = logRetention(testConfig()),
    ns: string = namespace(label),
  ): Promise<EventWorld> {
    const broker = await connectBroker(ns);
    const publisher = new EventPublisher({
      broker,
      logger: silentLogger,
      queues: SYSTEM.eventQueues,
      log: retention,
    });
    const rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: 10_000 });
    await publisher.start();
    await rpc.start();
    return new EventWorld(ns, broker, publisher, rpc);
  }

  /** The schema a service uses in this world. */
  schema(def: ServiceDefinition): string {
    return `${this.ns}_${def.name}`;
  }

  /** A pool on a service's schema, for checking what it stored. */
  pool(def: ServiceDefinition): Pool {
    const schema = this.schema(def);
    let pool = this.pools.get(schema);
    if (!pool) {
      pool = testPool(schema);
      this.pools.set(schema, pool);
    }
    return pool;
  }

  /** Starts one more worker of a service (the first one migrates). */
  async start(def: ServiceDefinition, config = testConfig()): Promise<RunningService> {
    // Its pool exists from the start, so close() drops every schema a worker made.
    this.pool(def);
    const worker = await startService(def, {
      system: SYSTEM,
      config,
      logger: silentLogger,
      namespace: this.ns,
      schema: this.schema(def),
    });
    this.workers.push(worker);
    return worker;
  }

  /** Publishes each envelope, in parallel, and resolves once the broker confirmed them all. */
  async publish(envelopes: readonly EventEnvelope[]): Promise<void> {
    await Promise.all(envelopes.map((e) => this.publisher.publishEnvelope(e)));
  }

  /** Messages of `worker`'s consumer of `event` handled so far (acked or dead-lettered). */
  handled(worker: RunningService, event: string): number {
    const c = consumerOf(worker, event);
    return c.counters.acked + c.counters.deadLettered;
  }

  /** Records of the event log one worker's projection has read (applied, skipped or rejected). */
  processed(worker: RunningService, projection: string): number {
    const runner = worker.projections.find((p) => p.name === projection);
    if (!runner) throw new Error(`no projection ${projection}`);
    const { applied, skipped, rejected } = runner.counters;
    return applied + skipped + rejected;
  }

  /** Messages in a namespaced queue, e.g. `history.track-played.dead`. */
  async queueDepth(queue: string): Promise<number> {
    const ch = await this.broker.channel();
    try {
      return (await ch.checkQueue(this.broker.name(queue))).messageCount;
    } finally {
      await ch.close();
    }
  }

  async close(): Promise<void> {
    for (const w of this.workers.splice(0)) await w.stop();
    await this.rpc.stop();
    await this.publisher.stop();
    await this.broker.close();
    for (const [schema, pool] of this.pools) {
      await dropSchema(pool, schema);
      await pool.end();
    }
    await cleanupBroker(this.ns);
  }
}

/** The consumer of `event` in a running service's group. */
export function consumerOf(worker: RunningService, event: string): EventConsumer<unknown> {
  const found = worker.consumers.find((c) => c.queue.endsWith(`.${eventSlug(event)}`));
  if (!found) throw new Error(`no consumer of ${event}`);
  return found;
}

export const HOUR_MS = 3_600_000;

/** A track.played envelope. */
export function playEnvelope(
  userId: string,
  trackId: string,
  playedAt: Date,
  msPlayed = 30_000,
  source = 'test',
): EventEnvelope<TrackPlayed> {
  return makeEnvelope(Events.trackPlayed.type, {
    userId,
    trackId,
    playedAt: playedAt.toISOString(),
    msPlayed,
    source,
  });
}

/** A deterministic pseudo-random generator (mulberry32), so a failing run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` plays by `users` users of `tracks` tracks, spread over the last `spanHours` hours
 * (a few older), with the given seed.
 */
export function randomPlays(
  count: number,
  { users = 30, tracks = 80, spanHours = 30, seed = 1 } = {},
): EventEnvelope<TrackPlayed>[] {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() ** 2 * n); // skewed: some tracks are hits
  const now = Date.now();
  return Array.from({ length: count }, () =>
    playEnvelope(
      `u${pick(users)}`,
      `t${pick(tracks)}`,
      new Date(now - random() * spanHours * HOUR_MS),
      Math.floor(random() * 300_000),
    ),
  );
}
