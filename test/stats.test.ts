import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Events, statsContract } from '../common/contracts/index.js';
import { InvalidParamsError, UnauthorizedError } from '../common/errors.js';
import { makeEnvelope } from '../common/events/envelope.js';
import type { RunningService } from '../common/service.js';
import { BUCKETS, pruneBuckets } from '../services/stats/buckets.js';
import { statsService } from '../services/stats/service.js';
import { eventually, testConfig } from './support/env.js';
import { EventWorld, HOUR_MS, playEnvelope, randomPlays } from './support/plays.js';

const alice = { userId: 'u-alice', username: 'alice', admin: false };
const ago = (ms: number) => new Date(Date.now() - ms);
const MINUTE_MS = 60_000;

describe('stats service', () => {
  let world: EventWorld;

  beforeEach(async () => {
    world = await EventWorld.open('stats');
  });

  afterEach(async () => {
    await world.close();
  });

  const stats = () => world.rpc.bind(statsContract);

  it('ranks the public top by listeners: one account playing a track 600 times buys no place', async () => {
    const worker = await world.start(statsService);
    const bot = Array.from({ length: 600 }, (_, i) => playEnvelope('u-bot', 't9', ago(i * 1000), 1_000));
    const people = ['u-ann', 'u-ben'].map((u, i) => playEnvelope(u, 't8', ago((i + 1) * MINUTE_MS), 100_000));
    const single = playEnvelope('u-cat', 't7', ago(2 * MINUTE_MS), 100_000);
    await world.publish([...bot, ...people, single]);
    await eventually(() => world.processed(worker, 'stats') === 603);
    for (const window of ['hour', 'day', 'all'] as const) {
      const top = await stats().call('topTracks', { window });
      expect(
        top.map((t) => [t.trackId, t.listeners]),
        window,
      ).toEqual([
        ['t8', 2],
        ['t9', 1],
        ['t7', 1],
      ]);
      // The plays are all counted: only the ranking weighs an account once.
      expect(top.find((t) => t.trackId === 't9')?.plays).toBe(600);
    }
  });

  it('shares the charts of the last hour and day for at most STATS_CHARTS_MAX_AGE_MS', async () => {
    // Renewed in the background once half as old: asked within 3 s, the chart is the first one.
    const maxAgeMs = 6000;
    const worker = await world.start(statsService, testConfig({ statsChartsMaxAgeMs: maxAgeMs }));
    await world.publish([playEnvelope('u-ann', 't1', ago(MINUTE_MS), 100_000)]);
    await eventually(() => world.processed(worker, 'stats') === 1);
    const top = () => stats().call('topTracks', { window: 'hour' });
    const computed = Date.now();
    expect(await top()).toEqual([{ trackId: 't1', plays: 1, listeners: 1 }]);
    await world.publish([playEnvelope('u-ben', 't2', ago(MINUTE_MS), 100_000)]);
    await eventually(() => world.processed(worker, 'stats') === 2);
    // Counted, but the chart asked before is still the one served...
    expect(Date.now() - computed).toBeLessThan(maxAgeMs / 2);
    expect(await top()).toHaveLength(1);
    expect(await stats().call('topTracks', { window: 'all' })).toHaveLength(2);
    // ...and within the bound, the new one.
    await eventually(async () => (await top()).length === 2, maxAgeMs + 2000, 100);
    expect(Date.now() - computed).toBeLessThan(maxAgeMs + 1000);
  });

  it('counts plays, registrations and playlist changes, and answers every query', async () => {
    const worker = await world.start(statsService);
    const plays = [
      playEnvelope(alice.userId, 't1', ago(10 * MINUTE_MS), 100_000),
      playEnvelope(alice.userId, 't1', ago(12 * MINUTE_MS), 50_000),
      playEnvelope(alice.userId, 't2', ago(3 * HOUR_MS), 20_000),
      playEnvelope('u-bob', 't2', ago(5 * HOUR_MS), 1_000),
      playEnvelope('u-bob', 't2', ago(20 * HOUR_MS), 1_000),
      playEnvelope('u-bob', 't3', ago(3 * 24 * HOUR_MS), 1_000),
      playEnvelope('u-bob', 't3', ago(4 * 24 * HOUR_MS), 1_000),
      playEnvelope('u-bob', 't3', ago(5 * 24 * HOUR_MS), 1_000),
    ];
    const registered = [1, 2, 3].map((n) =>
      makeEnvelope(Events.userRegistered.type, { userId: `u${n}`, username: `user${n}` }),
    );
    const changes = [
      makeEnvelope(Events.playlistChanged.type, { playlistId: 'p1', ownerId: 'u1', change: 'created' }),
      makeEnvelope(Events.playlistChanged.type, {
        playlistId: 'p1',
        ownerId: 'u1',
        change: 'tracks',
        trackCount: 3,
      }),
    ];
    // Every event twice (a publisher retrying): each counts once.
    await world.publish([...plays, ...registered, ...changes, ...plays, ...registered, ...changes]);
    await eventually(() => world.processed(worker, 'stats') === 26);
    expect(worker.projections.find((p) => p.name === 'stats')?.counters).toEqual({
      applied: 13,
      skipped: 13,
      rejected: 0,
    });

    // Ranked by listeners, then plays: t2 has two listeners, t3 and t1 one each.
    expect(await stats().call('topTracks', {})).toEqual([
      { trackId: 't2', plays: 3, listeners: 2 },
      { trackId: 't3', plays: 3, listeners: 1 },
      { trackId: 't1', plays: 2, listeners: 1 },
    ]);
    expect(await stats().call('topTracks', { window: 'all', limit: 1 })).toEqual([
      { trackId: 't2', plays: 3, listeners: 2 },
    ]);
    expect(await stats().call('topTracks', { window: 'day' })).toEqual([
      { trackId: 't2', plays: 3, listeners: 2 },
      { trackId: 't1', plays: 2, listeners: 1 },
    ]);
    expect(await stats().call('topTracks', { window: 'hour' })).toEqual([
      { trackId: 't1', plays: 2, listeners: 1 },
    ]);

    expect(await stats().call('user', {}, { caller: alice })).toEqual({
      userId: alice.userId,
      totalPlays: 3,
      totalMs: 170_000,
      distinctTracks: 2,
      topTracks: [
        { trackId: 't1', plays: 2 },
        { trackId: 't2', plays: 1 },
      ],
      lastPlayedAt: plays[0]!.data.playedAt,
    });
    const as = (userId: string) => ({ caller: { userId, username: userId, admin: false } });
    const bob = await stats().call('user', { limit: 1 }, as('u-bob'));
    expect(bob).toMatchObject({
      totalPlays: 5,
      totalMs: 5000,
      distinctTracks: 2,
      topTracks: [{ trackId: 't3', plays: 3 }],
    });
    expect(await stats().call('user', {}, as('nobody'))).toEqual({
      userId: 'nobody',
      totalPlays: 0,
      totalMs: 0,
      distinctTracks: 0,
      topTracks: [],
      lastPlayedAt: null,
    });

    const overview = await stats().call('overview', {});
    expect(overview).toMatchObject({ totalPlays: 8, activeUsers: 1, registeredUsers: 3, playlistChanges: 2 });
    expect(overview.perMinute).toHaveLength(60);
    const minutes = overview.perMinute.map((m) => Date.parse(m.minute));
    const thisMinute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    // Oldest first, one entry a minute, ending with the current minute (allowing for a minute turning).
    expect(minutes.every((m, i) => i === 0 || m - minutes[i - 1]! === MINUTE_MS)).toBe(true);
    expect(thisMinute - minutes.at(-1)!).toBeLessThanOrEqual(MINUTE_MS);
    const played = new Map(overview.perMinute.filter((m) => m.plays > 0).map((m) => [m.minute, m.plays]));
    const minuteOf = (e: (typeof plays)[number]) =>
      new Date(Math.floor(Date.parse(e.data.playedAt) / MINUTE_MS) * MINUTE_MS).toISOString();
    expect(played).toEqual(new Map([plays[0]!, plays[1]!].map((e) => [minuteOf(e), 1])));
  });

  it('refuses a user query without a user, and bad params', async () => {
    await world.start(statsService);
    await expect(stats().call('user', {})).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(stats().call('topTracks', { window: 'week' as 'day' })).rejects.toBeInstanceOf(
      InvalidParamsError,
    );
    await expect(stats().call('topTracks', { limit: 101 })).rejects.toBeInstanceOf(InvalidParamsError);
    const empty = await stats().call('overview', {});
    expect(empty).toMatchObject({ totalPlays: 0, activeUsers: 0, registeredUsers: 0, playlistChanges: 0 });
    expect(empty.perMinute.every((m) => m.plays === 0)).toBe(true);
  });

  it('spreads the partitions over two workers, moves them when one stops, and counts each once', async () => {
    const first = await world.start(statsService);
    const second = await world.start(statsService);
    const plays = randomPlays(800, { seed: 5 });
    const led = (w: RunningService) => w.projections.find((p) => p.name === 'stats')!.partitions;
    const partitions = testConfig().eventLogPartitions;
    // Half each.
    await eventually(
      () => led(first).length === partitions / 2 && led(second).length === partitions / 2,
      10_000,
    );
    await world.publish([...plays.slice(0, 400), ...plays.slice(0, 100)]);
    await eventually(
      () => world.processed(first, 'stats') + world.processed(second, 'stats') === 500,
      20_000,
    );
    expect(world.processed(first, 'stats')).toBeGreaterThan(0);
    expect(world.processed(second, 'stats')).toBeGreaterThan(0);
    // One stops; the other takes over its partitions from their stored offsets.
    await first.stop();
    world.workers.splice(world.workers.indexOf(first), 1);
    await eventually(() => led(second).length === partitions, 10_000);
    const before = world.processed(second, 'stats');
    await world.publish([...plays.slice(400), ...plays.slice(100, 200)]);
    await eventually(() => world.processed(second, 'stats') - before === 500, 20_000);

    const expected = new Map<string, number>();
    for (const p of plays) expected.set(p.data.trackId, (expected.get(p.data.trackId) ?? 0) + 1);
    const top = await stats().call('topTracks', { limit: 100 });
    expect(new Map(top.map((t) => [t.trackId, t.plays]))).toEqual(expected);
    expect((await stats().call('overview', {})).totalPlays).toBe(800);
    const u0 = plays.filter((p) => p.data.userId === 'u0');
    expect(
      await stats().call('user', {}, { caller: { userId: 'u0', username: 'u0', admin: false } }),
    ).toMatchObject({
      totalPlays: u0.length,
      totalMs: u0.reduce((sum, p) => sum + p.data.msPlayed, 0),
      distinctTracks: new Set(u0.map((p) => p.data.trackId)).size,
      lastPlayedAt: u0
        .map((p) => p.data.playedAt)
        .sort()
        .at(-1),
    });
  });

  it('rejects poison events with their reason and keeps counting the rest', async () => {
    const worker = await world.start(statsService);
    const badChange = makeEnvelope(Events.playlistChanged.type, {
      playlistId: 'p1',
      ownerId: 'u1',
      change: 'exploded',
    });
    const badPlay = makeEnvelope(Events.trackPlayed.type, {
      userId: 'u1',
      trackId: 't1',
      playedAt: 'yesterday',
    });
    const nulPlay = playEnvelope('u1', 't\u0000', ago(MINUTE_MS));
    const good = randomPlays(50, { seed: 9 });
    const change = makeEnvelope(Events.playlistChanged.type, {
      playlistId: 'p2',
      ownerId: 'u1',
      change: 'deleted',
    });
    await world.publish([badChange, badPlay, ...good.slice(0, 25), nulPlay, ...good.slice(25), change]);
    await eventually(() => world.processed(worker, 'stats') === 54, 10_000);
    expect(await stats().call('overview', {})).toMatchObject({ totalPlays: 50, playlistChanges: 1 });
    // Each is recorded with its reason (in our words where the database refused it), and passed.
    const { rows } = await world
      .pool(statsService)
      .query<{ event_id: string; reason: string }>(
        `SELECT event_id, reason FROM projection_rejects WHERE projection = 'stats' ORDER BY log_offset`,
      );
    expect(rows).toEqual([
      { event_id: badChange.id, reason: expect.stringMatching(/^bad playlist\.changed data: change/) },
      { event_id: badPlay.id, reason: expect.stringMatching(/^bad track\.played data: .*playedAt/) },
      {
        event_id: nulPlay.id,
        reason: expect.stringMatching(/^InvalidInputError: text must not contain NUL characters/),
      },
    ]);
  });

  it('deletes the time buckets no read looks at, and every answer stays the same', async () => {
    const worker = await world.start(statsService);
    const ages = [
      10 * MINUTE_MS,
      90 * MINUTE_MS,
      3 * HOUR_MS,
      20 * HOUR_MS,
      3 * 24 * HOUR_MS,
      10 * 24 * HOUR_MS,
    ];
    const plays = ages.flatMap((age, i) => [
      playEnvelope(alice.userId, `t${i % 3}`, ago(age), 60_000),
      playEnvelope('u-bob', `t${i % 2}`, ago(age + MINUTE_MS), 30_000),
    ]);
    await world.publish(plays);
    await eventually(async () => (await stats().call('overview', {})).totalPlays === plays.length, 15_000);
    const answers = async () => ({
      hour: await stats().call('topTracks', { window: 'hour' }),
      day: await stats().call('topTracks', { window: 'day' }),
      all: await stats().call('topTracks', { window: 'all' }),
      overview: await stats().call('overview', {}),
      user: await stats().call('user', {}, { caller: alice }),
    });
    const before = await answers();
    const pool = world.pool(statsService);
    const oldest = async () =>
      Object.fromEntries(
        await Promise.all(
          BUCKETS.map(async ({ table, column }) => {
            const { rows } = await pool.query(`SELECT min(${column}) AS t FROM ${table}`);
            return [table, (rows[0] as { t: Date | null }).t];
          }),
        ),
      );
    // Before: buckets of 10 days ago are there.
    expect((await oldest()).track_hourly!.getTime()).toBeLessThan(Date.now() - 9 * 24 * HOUR_MS);

    const deleted = await pruneBuckets(pool);
    expect(deleted.track_hourly).toBe(4); // 3 and 10 days ago, two tracks each
    expect(deleted.minute_plays).toBe(8);
    const after = await oldest();
    expect(after.track_hourly!.getTime()).toBeGreaterThan(Date.now() - 48 * HOUR_MS);
    expect(after.minute_plays!.getTime()).toBeGreaterThan(Date.now() - 2 * HOUR_MS);
    expect(await answers()).toEqual(before);
    // A second turn finds nothing more; every stats worker runs it every hour.
    expect(await pruneBuckets(pool)).toEqual({ track_hourly: 0, minute_plays: 0 });
    expect(worker.workers).toHaveLength(1);
  });
});
