import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Events, statsContract, type TrackPlayed } from '../common/contracts/index.js';
import { dropSchema } from '../common/db/migrate.js';
import { EVENTS_EXCHANGE, type EventEnvelope, makeEnvelope } from '../common/events/envelope.js';
import {
  declareEventLog,
  LogReader,
  type LogRecord,
  logBounds,
  logTail,
  PartitionCountError,
} from '../common/events/log.js';
import {
  LEGACY_STREAM,
  partitionFor,
  partitionKey,
  partitionNumbers,
  partitionOf,
} from '../common/events/partitions.js';
import { replayProjection } from '../common/projections/replay.js';
import { claimOrder, fairShare, groupState } from '../common/projections/runner.js';
import type { RunningService } from '../common/service.js';
import { countPlays } from '../services/stats/plays.js';
import { statsProjection } from '../services/stats/projections.js';
import { statsService } from '../services/stats/service.js';
import {
  AMQP_URL,
  cleanupBroker,
  connectBroker,
  eventually,
  namespace,
  silentLogger,
  TEST_DATABASE_URL,
  testConfig,
  testPool,
} from './support/env.js';
import { EventWorld, playEnvelope, randomPlays } from './support/plays.js';

const N = testConfig().eventLogPartitions;

describe('the partitioner', () => {
  it('places one key always in one partition, and spreads keys evenly', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 16_000; i++) {
      const key = `user-${i}`;
      const p = partitionOf(key, 8);
      expect(partitionOf(key, 8)).toBe(p);
      counts[p]!++;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    // Fixed points, so a change of the hash (which would move every user) cannot pass unseen.
    expect([partitionOf('', 8), partitionOf('a', 8), partitionOf('u1', 8)]).toEqual([5, 4, 3]);
  });

  it('keys plays and registrations by user, playlist changes by owner, anything else by id', () => {
    const play = playEnvelope('u7', 't1', new Date());
    expect(partitionKey(play)).toBe('u7');
    expect(partitionKey(makeEnvelope(Events.userRegistered.type, { userId: 'u7', username: 'x' }))).toBe(
      'u7',
    );
    const change = makeEnvelope(Events.playlistChanged.type, {
      playlistId: 'p',
      ownerId: 'u7',
      change: 'created',
    });
    expect(partitionFor(change, N)).toBe(partitionFor(play, N));
    const other = makeEnvelope('something.else', { userId: 'u7' });
    expect(partitionKey(other)).toBe(other.id);
  });
});

describe('the assignment', () => {
  it('gives each member a fair share that adds up to every partition, first members one more', () => {
    for (const total of [1, 8, 9]) {
      for (const members of [1, 2, 3, 4, 10]) {
        const shares = Array.from({ length: members }, (_, i) => fairShare(total, members, i));
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }
    }
    expect(claimOrder([0, 1, 2, 3, 4, 5, 6, 7], 2, 1)).toEqual([4, 5, 6, 7, 0, 1, 2, 3]);
    expect(claimOrder([-1, 0, 1], 1, 0)).toEqual([-1, 0, 1]);
  });
});

/** Every record of one partition from the start, until `count` are in. */
async function readPartition(world: EventWorld, partition: number, count: number): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  const reader = new LogReader({
    broker: world.broker,
    logger: silentLogger,
    partition,
    from: 'first',
    onBatch: async (batch) => {
      records.push(...batch);
    },
  });
  await reader.start();
  try {
    await eventually(() => records.length >= count, 10_000);
  } finally {
    await reader.stop();
  }
  return records;
}

describe('the partitioned event log', () => {
  let world: EventWorld;
  const stats = () => world.rpc.bind(statsContract);

  beforeEach(async () => {
    world = await EventWorld.open('part');
  });
  afterEach(async () => {
    await world.close();
  });

  it('puts each event in the partition of its key, in publish order, once the publish is confirmed', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `pu${i}`);
    const plays: EventEnvelope<TrackPlayed>[] = [];
    // msPlayed numbers each user's plays in the order published.
    for (let i = 0; i < 30; i++)
      for (const u of users) plays.push(playEnvelope(u, `t${i % 5}`, new Date(), i));
    // Sequential publishes on one confirm channel: their order is the log's.
    for (const play of plays) await world.publisher.publishEnvelope(play);
    const expected = new Map<number, number>();
    for (const u of users) {
      const p = partitionOf(u, N);
      expected.set(p, (expected.get(p) ?? 0) + 30);
    }
    expect(expected.size).toBeGreaterThan(1);
    let total = 0;
    for (const partition of partitionNumbers(N)) {
      const want = expected.get(partition) ?? 0;
      if (want === 0) continue;
      const records = await readPartition(world, partition, want);
      expect(records).toHaveLength(want);
      total += records.length;
      const seen = new Map<string, number>();
      for (const r of records) {
        const data = r.envelope!.data as TrackPlayed;
        expect(partitionOf(data.userId, N)).toBe(partition);
        // In order: each user's numbers go up by one.
        expect(data.msPlayed).toBe((seen.get(data.userId) ?? -1) + 1);
        seen.set(data.userId, data.msPlayed);
      }
    }
    expect(total).toBe(plays.length);
  });

  it('puts an event published without a partition in p0, and refuses a changed partition count', async () => {
    const conn = await amqp.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      const raw = playEnvelope('nobody', 't1', new Date());
      ch.publish(world.broker.name(EVENTS_EXCHANGE), raw.type, Buffer.from(JSON.stringify(raw)));
      await ch.waitForConfirms();
      const records = await readPartition(world, 0, 1);
      expect(records.map((r) => r.envelope?.id)).toContain(raw.id);
      const settings = { maxAge: '1D', maxBytes: 0, segmentBytes: 1_000_000 };
      const refused = declareEventLog(conn, world.broker, { ...settings, partitions: N + 1 }, silentLogger);
      await expect(refused).rejects.toBeInstanceOf(PartitionCountError);
      await expect(refused).rejects.toThrow(
        `the event log has ${N} partitions but EVENT_LOG_PARTITIONS is ${N + 1}`,
      );
      // The same count is fine.
      await expect(
        declareEventLog(conn, world.broker, { ...settings, partitions: N }, silentLogger),
      ).resolves.toEqual({ partitions: N, legacy: false });
    } finally {
      await conn.close();
    }
  });

  const led = (w: RunningService) => w.projections.find((p) => p.name === 'stats')!.partitions;

  /** Waits until the workers lead every partition once, in shares that differ by one at most. */
  async function balanced(workers: RunningService[], timeoutMs = 5_000): Promise<number[][]> {
    await eventually(() => {
      const shares = workers.map(led);
      const all = shares.flat();
      const sizes = shares.map((s) => s.length);
      return all.length === N && new Set(all).size === N && Math.max(...sizes) - Math.min(...sizes) <= 1;
    }, timeoutMs);
    return workers.map(led);
  }

  it('spreads the partitions over 1, 2 and 3 workers, each led once, and back when one stops', async () => {
    const workers = [await world.start(statsService)];
    expect((await balanced(workers)).map((s) => s.length)).toEqual([N]);
    workers.push(await world.start(statsService));
    expect((await balanced(workers)).map((s) => s.length).sort()).toEqual([N / 2, N / 2]);
    workers.push(await world.start(statsService));
    const three = await balanced(workers);
    expect(three.map((s) => s.length).sort()).toEqual([2, 3, 3]);
    // Nothing moves while nothing changes.
    await new Promise((r) => setTimeout(r, 2500));
    expect(workers.map(led)).toEqual(three);
    // What PostgreSQL's lock table says agrees: three members, every partition led.
    const state = await groupState(world.pool(statsService), world.schema(statsService), 'stats');
    expect(state.members).toHaveLength(3);
    expect([...state.leaders.keys()].sort((a, b) => a - b)).toEqual(partitionNumbers(N));
    // One stops: the other two share its partitions within 5 s.
    const gone = workers.splice(1, 1)[0]!;
    await gone.stop();
    world.workers.splice(world.workers.indexOf(gone), 1);
    const started = Date.now();
    expect((await balanced(workers)).map((s) => s.length)).toEqual([N / 2, N / 2]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('counts exactly while three leaders write the shared rows at once, and a replay of every partition equals it', async () => {
    const workers = [
      await world.start(statsService),
      await world.start(statsService),
      await world.start(statsService),
    ];
    await balanced(workers);
    // Few hot tracks, many users: every batch of every partition touches the same rows.
    const plays = randomPlays(3000, { users: 300, tracks: 12, spanHours: 3, seed: 77 });
    const dupes = plays.slice(0, 200);
    await Promise.all([world.publish(plays.slice(0, 1500)), world.publish(dupes)]);
    await world.publish(plays.slice(1500));
    const snapshot = async () => {
      const db = world.pool(statsService);
      const q = async (sql: string) => (await db.query(sql)).rows;
      return {
        tracks: await q('SELECT track_id, plays, listeners FROM track_plays ORDER BY track_id'),
        hourly: await q('SELECT hour, track_id, plays FROM track_hourly ORDER BY hour, track_id'),
        minutes: await q('SELECT minute, plays FROM minute_plays ORDER BY minute'),
        users: await q('SELECT user_id, plays, ms_played, last_played_at FROM user_totals ORDER BY user_id'),
      };
    };
    await eventually(async () => (await stats().call('overview', {})).totalPlays === plays.length, 30_000);
    const expected = new Map<string, number>();
    for (const p of plays) expected.set(p.data.trackId, (expected.get(p.data.trackId) ?? 0) + 1);
    const live = await snapshot();
    expect(new Map(live.tracks.map((t) => [t.track_id, Number(t.plays)]))).toEqual(expected);
    const minuteTotal = live.minutes.reduce((n, m) => n + Number(m.plays), 0);
    expect(minuteTotal).toBe(plays.length);
    expect(workers.every((w) => world.processed(w, 'stats') > 0)).toBe(true);

    const result = await replayProjection({
      projection: statsProjection,
      broker: world.broker,
      databaseUrl: TEST_DATABASE_URL,
      schema: world.schema(statsService),
      partitions: N,
      logger: silentLogger,
    });
    expect(Object.keys(result.offsets)).toHaveLength(N);
    expect(await snapshot()).toEqual(live);
  });

  it('a replay stopped half-way, then before its swap, resumes and equals the live statistics, seen ids included', {
    timeout: 120_000,
  }, async () => {
    const worker = await world.start(statsService);
    const plays = randomPlays(4000, { users: 400, tracks: 30, spanHours: 5, seed: 91 });
    await world.publish(plays);
    await world.publish(plays.slice(0, 100));
    await eventually(() => world.processed(worker, 'stats') === plays.length + 100, 60_000);
    const db = world.pool(statsService);
    const rows = async (sql: string) => (await db.query(sql)).rows;
    const snapshot = async () => ({
      tracks: await rows('SELECT track_id, plays, listeners FROM track_plays ORDER BY track_id'),
      userTracks: await rows('SELECT user_id, track_id, plays FROM user_tracks ORDER BY user_id, track_id'),
      minutes: await rows('SELECT minute, plays FROM minute_plays ORDER BY minute'),
      seen: await rows("SELECT event_id FROM projection_seen WHERE projection = 'stats' ORDER BY event_id"),
    });
    const live = await snapshot();
    const options = {
      projection: statsProjection,
      broker: world.broker,
      databaseUrl: TEST_DATABASE_URL,
      schema: world.schema(statsService),
      partitions: N,
      logger: silentLogger,
      batchSize: 100,
    };
    let batches = 0;
    await expect(
      replayProjection({
        ...options,
        onProgress: () => {
          if (++batches === 5) throw new Error('stopped half-way');
        },
      }),
    ).rejects.toThrow('stopped half-way');
    const rebuilt = await db.query<{ n: string }>(
      `SELECT coalesce(sum(plays), 0) AS n FROM ${world.schema(statsService)}_rb_stats.minute_plays`,
    );
    expect(Number(rebuilt.rows[0]!.n)).toBeGreaterThan(0);
    expect(Number(rebuilt.rows[0]!.n)).toBeLessThan(plays.length);
    // Stopped again with every partition read to its end: the next run has nothing left to read.
    await expect(
      replayProjection({
        ...options,
        onProgress: (p) => {
          if (p.phase === 'swapping') throw new Error('stopped before the swap');
        },
      }),
    ).rejects.toThrow('stopped before the swap');
    const result = await replayProjection(options);
    expect(result.resumed).toBe(true);
    expect(result.phases.swap).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(live);
    expect(live.seen).toHaveLength(plays.length);
  });

  it('calls a partition empty only when it is: one the broker counts events in is waited for', async () => {
    // Every play in one partition, none in another.
    const users = Array.from({ length: 200 }, (_, i) => `lb${i}`);
    const full = partitionOf(users[0]!, N);
    const mine = users.filter((u) => partitionOf(u, N) === full);
    const empty = partitionNumbers(N).find((p) => p !== full)!;
    await world.publish(mine.flatMap((u) => [0, 1, 2].map((i) => playEnvelope(u, `t${i}`, new Date()))));
    // The broker's count comes a few seconds late; until then the partition may still read empty.
    await eventually(
      async () => {
        const ch = await world.broker.channel();
        try {
          return (await ch.checkQueue(world.broker.name(`music.events.log.p${full}`))).messageCount > 0;
        } finally {
          await ch.close().catch(() => {});
        }
      },
      20_000,
      250,
    );
    // A loaded broker: every delivery comes 800 ms late, past the 500 ms an empty partition gets.
    const slow = new Proxy(world.broker, {
      get(target, prop) {
        if (prop === 'channel') {
          return async () => {
            const ch = await target.channel();
            return new Proxy(ch, {
              get(c, key) {
                if (key === 'consume') {
                  return (queue: string, fn: (m: unknown) => void, options: unknown) =>
                    c.consume(
                      queue,
                      (m) =>
                        setTimeout(() => {
                          try {
                            fn(m);
                          } catch {
                            // Late past the channel's close: nothing to ack.
                          }
                        }, 800),
                      options as Parameters<typeof c.consume>[2],
                    );
                }
                const value = Reflect.get(c, key);
                return typeof value === 'function' ? value.bind(c) : value;
              },
            });
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const bounds = await logBounds(slow, full);
    expect(bounds).not.toBeNull();
    expect(bounds!.last - bounds!.first + 1).toBe(mine.length * 3);
    const tail = await logTail(slow, full);
    expect(tail).not.toBeNull();
    expect(tail!).toBeGreaterThanOrEqual(bounds!.first);
    expect(tail!).toBeLessThanOrEqual(bounds!.last);
    // Known to hold events (an offset of it is stored): waited for too.
    expect(await logBounds(slow, full, { nonEmpty: true })).toEqual(bounds);
    expect(await logBounds(slow, empty)).toBeNull();
  });
});

describe('upgrading from the single-stream log', () => {
  it('reads the old stream once as the legacy partition: its plays count once, next to new ones', async () => {
    const ns = namespace('legacy');
    const schema = `${ns}_stats`;
    const broker = await connectBroker(ns);
    const pool = testPool(schema);
    let world: EventWorld | null = null;
    try {
      // The old layout: one stream bound to every event, with 600 plays, the first 250 of
      // which the old projection applied (its counts and its offset row, before partitions).
      const ch = await broker.channel();
      await ch.assertExchange(broker.name(EVENTS_EXCHANGE), 'topic', { durable: true });
      await ch.assertQueue(broker.name(LEGACY_STREAM), {
        durable: true,
        arguments: { 'x-queue-type': 'stream' },
      });
      await ch.bindQueue(broker.name(LEGACY_STREAM), broker.name(EVENTS_EXCHANGE), '#');
      await ch.close();
      const old = randomPlays(600, { users: 40, tracks: 20, seed: 11 });
      const confirm = await broker.confirmChannel();
      for (const p of old)
        confirm.publish(broker.name(EVENTS_EXCHANGE), p.type, Buffer.from(JSON.stringify(p)));
      await confirm.waitForConfirms();
      await confirm.close();
      await oldSchema(pool, schema);
      const client = await pool.connect();
      try {
        await countPlays(
          client,
          old.slice(0, 250).map((p) => p.data),
        );
        await client.query(
          `INSERT INTO projection_offsets (projection, last_offset, applied) VALUES ('stats', 249, 250)`,
        );
      } finally {
        client.release();
      }

      // The new version starts on it, in the same namespace and schema.
      world = await EventWorld.open('legacy', undefined, ns);
      const worker = await world.start(statsService);
      const fresh = randomPlays(400, { users: 40, tracks: 20, seed: 12 });
      await world.publish(fresh);
      // An event of the old log seen again (a client's retry) counts once.
      await world.publish([old[300]!]);
      const all = [...old, ...fresh];
      await eventually(
        async () => (await world!.rpc.bind(statsContract).call('overview', {})).totalPlays === all.length,
        30_000,
      );
      const expected = new Map<string, number>();
      for (const p of all) expected.set(p.data.trackId, (expected.get(p.data.trackId) ?? 0) + 1);
      const { rows } = await pool.query<{ track_id: string; plays: string }>(
        'SELECT track_id, plays FROM track_plays',
      );
      expect(new Map(rows.map((r) => [r.track_id, Number(r.plays)]))).toEqual(expected);
      const offsets = await pool.query<{ log_partition: number; last_offset: string }>(
        `SELECT log_partition, last_offset FROM projection_offsets WHERE projection = 'stats' ORDER BY log_partition`,
      );
      expect(offsets.rows[0]).toEqual({ log_partition: -1, last_offset: '599' });
      expect(worker.projections.find((p) => p.name === 'stats')!.partitions).toContain(-1);
      // The old stream received nothing more: its 600 plays, no more.
      expect(await readPartition(world, -1, 600)).toHaveLength(600);
      // Once deleted (every projection past its end), it leaves the group; counting goes on.
      const del = await broker.channel();
      await del.deleteQueue(broker.name(LEGACY_STREAM));
      await del.close();
      const stats = worker.projections.find((p) => p.name === 'stats')!;
      await eventually(() => !stats.partitions.includes(-1) && stats.partitions.length === N, 20_000);
      await world.publish(randomPlays(50, { users: 40, tracks: 20, seed: 13 }));
      await eventually(
        async () =>
          (await world!.rpc.bind(statsContract).call('overview', {})).totalPlays === all.length + 50,
        20_000,
      );
    } finally {
      await world?.close();
      await broker.close();
      await dropSchema(pool, schema).catch(() => {});
      await pool.end();
      await cleanupBroker(ns);
    }
  });
});

/** The schema as the single-stream version left it: the migrations before partitions. */
async function oldSchema(pool: ReturnType<typeof testPool>, schema: string): Promise<void> {
  const core = join(import.meta.dirname, '../common/db/migrations');
  const stats = join(import.meta.dirname, '../services/stats/migrations');
  // The pool's connections work in `schema` (search_path) once it exists.
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(
    'CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
  );
  const files = [
    ...['001_outbox_and_inbox.sql', '002_projections.sql', '003_no_processed_events.sql'].map((f) => ({
      name: `core/${f}`,
      path: join(core, f),
    })),
    ...['001_stats.sql', '002_report.sql', '003_listeners.sql', '004_rank_by_listeners.sql'].map((f) => ({
      name: f,
      path: join(stats, f),
    })),
  ];
  for (const f of files) {
    await pool.query(await readFile(f.path, 'utf8'));
    await pool.query('INSERT INTO schema_migrations (name) VALUES ($1)', [f.name]);
  }
}
