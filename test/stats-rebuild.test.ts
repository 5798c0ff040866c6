import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventTypes, historyContract, statsContract, type TrackPlayed } from '../common/contracts/index.js';
import { createPool, type Pool } from '../common/db/pool.js';
import { UnavailableError } from '../common/errors.js';
import { type EventEnvelope, makeEnvelope } from '../common/events/envelope.js';
import type { RunningService } from '../common/service.js';
import { historyService } from '../services/history/service.js';
import { rebuildStats } from '../services/stats/rebuild.js';
import { statsService } from '../services/stats/service.js';
import { eventually, silentLogger, sleep, TEST_DATABASE_URL } from './support/env.js';
import { consumerOf, EventWorld, randomPlays, seededRandom } from './support/plays.js';

/** Every statistics table, with the order that makes two snapshots comparable. */
const TABLES = [
  ['track_plays', 'track_id'],
  ['track_hourly', 'hour, track_id'],
  ['user_totals', 'user_id'],
  ['user_tracks', 'user_id, track_id'],
  ['minute_plays', 'minute'],
  ['counters', 'name'],
] as const;

async function snapshot(pool: Pool): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of TABLES)
    out[table] = (await pool.query(`SELECT * FROM ${table} ORDER BY ${order}`)).rows;
  return out;
}

/** What the statistics must say about a set of distinct plays, computed independently. */
function expectedFrom(plays: readonly EventEnvelope<TrackPlayed>[]) {
  const tracks = new Map<string, number>();
  const users = new Map<string, { plays: number; ms: number; last: string }>();
  for (const { data } of plays) {
    tracks.set(data.trackId, (tracks.get(data.trackId) ?? 0) + 1);
    const u = users.get(data.userId) ?? { plays: 0, ms: 0, last: '' };
    // ISO timestamps of one format order as text.
    const last = [u.last, data.playedAt].sort()[1]!;
    users.set(data.userId, { plays: u.plays + 1, ms: u.ms + data.msPlayed, last });
  }
  return { tracks, users };
}

function checkAgainst(snap: Record<string, unknown[]>, plays: readonly EventEnvelope<TrackPlayed>[]) {
  const { tracks, users } = expectedFrom(plays);
  const rows = <T>(table: string) => snap[table] as T[];
  expect(
    new Map(
      rows<{ track_id: string; plays: string }>('track_plays').map((r) => [r.track_id, Number(r.plays)]),
    ),
  ).toEqual(tracks);
  expect(
    new Map(
      rows<{ user_id: string; plays: string; ms_played: string; last_played_at: Date }>('user_totals').map(
        (r) => [
          r.user_id,
          { plays: Number(r.plays), ms: Number(r.ms_played), last: r.last_played_at.toISOString() },
        ],
      ),
    ),
  ).toEqual(users);
  const sum = (table: string) => rows<{ plays: string }>(table).reduce((s, r) => s + Number(r.plays), 0);
  expect([sum('track_hourly'), sum('user_tracks'), sum('minute_plays')]).toEqual([
    plays.length,
    plays.length,
    plays.length,
  ]);
}

describe('statistics rebuild', () => {
  let world: EventWorld;
  let statsPool: Pool;

  beforeEach(async () => {
    world = await EventWorld.open('rebuild');
    statsPool = world.pool(statsService);
  });

  afterEach(async () => {
    await world.close();
  });

  const handledBy = (workers: RunningService[], event: string) =>
    workers.reduce((sum, w) => sum + world.handled(w, event), 0);
  const rebuild = (catchUpTimeoutMs?: number) =>
    rebuildStats({
      pool: statsPool,
      history: world.rpc.bind(historyContract),
      log: silentLogger,
      pageSize: 500,
      ...(catchUpTimeoutMs ? { catchUpTimeoutMs } : {}),
    });
  /** Every query answer, for comparing what users see before and after. */
  const answers = async () => {
    const stats = world.rpc.bind(statsContract);
    return {
      all: await stats.call('topTracks', { window: 'all', limit: 100 }),
      day: await stats.call('topTracks', { window: 'day', limit: 100 }),
      hour: await stats.call('topTracks', { window: 'hour', limit: 100 }),
      overview: await stats.call('overview', {}),
      users: await Promise.all(
        ['u0', 'u1', 'u7'].map((userId) =>
          stats.call('user', { limit: 100 }, { caller: { userId, username: userId } }),
        ),
      ),
    };
  };
  const leftovers = async () => ({
    tables: Number(
      (
        await statsPool.query(
          "SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '%_rebuild'",
        )
      ).rows[0].n,
    ),
    claims: Number(
      (await statsPool.query("SELECT count(*) AS n FROM processed_events WHERE consumer LIKE '%:rebuild'"))
        .rows[0].n,
    ),
  });

  it('recomputes from the play log exactly what the live counters hold', async () => {
    const histories = [await world.start(historyService), await world.start(historyService)];
    const statsWorkers = [await world.start(statsService), await world.start(statsService)];
    const plays = randomPlays(3000, { seed: 42, spanHours: 48 });
    const random = seededRandom(43);
    const redelivered = plays.filter(() => random() < 0.15);
    const others = [
      ...Array.from({ length: 20 }, (_, n) =>
        makeEnvelope(EventTypes.USER_REGISTERED, { userId: `u${n}`, username: `n${n}` }),
      ),
      ...Array.from({ length: 10 }, () =>
        makeEnvelope(EventTypes.PLAYLIST_CHANGED, { playlistId: 'p', ownerId: 'u1', change: 'tracks' }),
      ),
    ];
    const deliveries = plays.length + redelivered.length;
    await world.publish([...plays, ...others, ...redelivered]);
    await eventually(
      () =>
        handledBy(histories, EventTypes.TRACK_PLAYED) === deliveries &&
        handledBy(statsWorkers, EventTypes.TRACK_PLAYED) === deliveries &&
        handledBy(statsWorkers, EventTypes.USER_REGISTERED) === 20 &&
        handledBy(statsWorkers, EventTypes.PLAYLIST_CHANGED) === 10,
      30_000,
    );
    const live = await snapshot(statsPool);
    checkAgainst(live, plays);
    const liveAnswers = await answers();
    expect(liveAnswers.overview).toMatchObject({
      totalPlays: 3000,
      registeredUsers: 20,
      playlistChanges: 10,
    });

    // A second rebuild while one runs is refused, and leaves the first alone.
    const [first, second] = await Promise.allSettled([rebuild(), rebuild()]);
    const results = [first, second];
    expect(
      results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
    ).toEqual([expect.stringMatching(/already running/)]);
    const result = (
      results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<
        Awaited<ReturnType<typeof rebuild>>
      >
    ).value;
    expect(result).toMatchObject({
      plays: 3000,
      tracks: live.track_plays!.length,
      users: live.user_totals!.length,
    });
    expect(result.durationMs).toBeGreaterThan(0);

    expect(await snapshot(statsPool)).toEqual(live);
    expect(await answers()).toEqual(liveAnswers);
    expect(await leftovers()).toEqual({ tables: 0, claims: 0 });

    // Live counting goes on after the swap without counting anything twice.
    const more = randomPlays(100, { seed: 44 });
    await world.publish([...more, ...plays.slice(0, 300)]);
    await eventually(() => handledBy(statsWorkers, EventTypes.TRACK_PLAYED) === deliveries + 400, 20_000);
    checkAgainst(await snapshot(statsPool), [...plays, ...more]);

    // Rebuilding again on the same connection: its scratch tables are made anew, and the
    // statements it prepared against the dropped ones are planned again.
    const one = createPool({ url: TEST_DATABASE_URL, schema: world.schema(statsService), max: 1 });
    try {
      for (let i = 0; i < 2; i++) {
        const again = await rebuildStats({
          pool: one,
          history: world.rpc.bind(historyContract),
          log: silentLogger,
        });
        expect(again.plays).toBe(3100);
      }
    } finally {
      await one.end();
    }
    checkAgainst(await snapshot(statsPool), [...plays, ...more]);
    expect(await leftovers()).toEqual({ tables: 0, claims: 0 });
  });

  it('counts every play once when events keep arriving during the rebuild', async () => {
    const histories = [await world.start(historyService)];
    const statsWorkers = [await world.start(statsService), await world.start(statsService)];
    const before = randomPlays(1500, { seed: 1 });
    await world.publish(before);
    await eventually(() => handledBy(statsWorkers, EventTypes.TRACK_PLAYED) === 1500, 20_000);

    const during = randomPlays(1500, { seed: 2 });
    const again = before.slice(0, 300);
    const publishing = (async () => {
      for (let i = 0; i < 15; i++) {
        await world.publish([...during.slice(i * 100, (i + 1) * 100), ...again.slice(i * 20, (i + 1) * 20)]);
        await sleep(15);
      }
    })();
    const [result] = await Promise.all([rebuild(), publishing]);
    expect(result.plays).toBeGreaterThanOrEqual(1500);

    const deliveries = 1500 + during.length + again.length;
    await eventually(
      () =>
        handledBy(statsWorkers, EventTypes.TRACK_PLAYED) === deliveries &&
        handledBy(histories, EventTypes.TRACK_PLAYED) === deliveries,
      30_000,
    );
    const live = await snapshot(statsPool);
    checkAgainst(live, [...before, ...during]);

    // And a rebuild now, with everything settled, agrees.
    expect((await rebuild()).plays).toBe(3000);
    expect(await snapshot(statsPool)).toEqual(live);
  });

  it('changes nothing while history lags behind the live counters, and succeeds once it caught up', async () => {
    const history = await world.start(historyService);
    const stats = await world.start(statsService);
    const early = randomPlays(100, { seed: 5 });
    await world.publish(early);
    await eventually(
      () =>
        world.handled(history, EventTypes.TRACK_PLAYED) === 100 &&
        world.handled(stats, EventTypes.TRACK_PLAYED) === 100,
    );
    // History still answers RPC, but stores nothing new for now.
    await consumerOf(history, EventTypes.TRACK_PLAYED).stop();
    const late = randomPlays(50, { seed: 6 });
    await world.publish(late);
    await eventually(() => world.handled(stats, EventTypes.TRACK_PLAYED) === 150);
    const live = await snapshot(statsPool);
    checkAgainst(live, [...early, ...late]);

    const err = await rebuild(300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/history has not stored 50 plays .*Nothing was changed/);
    expect(await snapshot(statsPool)).toEqual(live);
    expect(await leftovers()).toEqual({ tables: 0, claims: 0 });

    const caughtUp = await world.start(historyService);
    await eventually(() => world.handled(caughtUp, EventTypes.TRACK_PLAYED) === 50);
    expect((await rebuild()).plays).toBe(150);
    expect(await snapshot(statsPool)).toEqual(live);
  });
});
