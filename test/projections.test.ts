import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListeningReport } from '../common/contracts/index.js';
import { statsContract, type TrackPlayed } from '../common/contracts/index.js';
import type { EventEnvelope } from '../common/events/envelope.js';
import { LogReader, logBounds } from '../common/events/log.js';
import { replayProjection } from '../common/projections/replay.js';
import { reportProjection } from '../services/stats/projections.js';
import { statsService } from '../services/stats/service.js';
import { eventually, silentLogger, sleep, TEST_DATABASE_URL, testConfig } from './support/env.js';
import { fakeCatalogData, startFakeCatalog } from './support/fake-catalog.js';
import { EventWorld, playEnvelope, seededRandom } from './support/plays.js';

const DAY_MS = 86_400_000;
const catalog = fakeCatalogData();
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Plays of `users` users over the last `days` days, of the fake catalog's tracks and one it lacks. */
function playsOverMonths(
  count: number,
  { users = 6, days = 120, seed = 1 } = {},
): EventEnvelope<TrackPlayed>[] {
  const random = seededRandom(seed);
  const trackIds = [...catalog.tracks.map((t) => t.id), 'gone-track'];
  const now = Date.now();
  return Array.from({ length: count }, () =>
    playEnvelope(
      `u${Math.floor(random() * users)}`,
      trackIds[Math.floor(random() ** 1.5 * trackIds.length)]!,
      new Date(now - Math.floor(random() * days * DAY_MS)),
      Math.floor(random() * 300_000),
    ),
  );
}

/**
 * The report of `userId` for a period, computed here from the plays as posted, without the
 * projection: what the service must answer.
 */
function expectedReport(plays: readonly EventEnvelope<TrackPlayed>[], userId: string, period: string) {
  const mine = [...new Map(plays.map((p) => [p.id, p])).values()].filter(
    (p) => p.data.userId === userId && p.data.playedAt.startsWith(period),
  );
  const sum = <K>(key: (p: EventEnvelope<TrackPlayed>) => K | undefined) => {
    const m = new Map<K, { plays: number; ms: number }>();
    for (const p of mine) {
      const k = key(p);
      if (k === undefined) continue;
      const e = m.get(k) ?? m.set(k, { plays: 0, ms: 0 }).get(k)!;
      e.plays++;
      e.ms += p.data.msPlayed;
    }
    return m;
  };
  const trackOf = (p: EventEnvelope<TrackPlayed>) => catalog.tracks.find((t) => t.id === p.data.trackId);
  const tracks = sum((p) => p.data.trackId);
  const artists = sum((p) => trackOf(p)?.artistId);
  const top = (m: Map<string, { plays: number; ms: number }>) =>
    [...m]
      .map(([k, v]) => ({ k, plays: v.plays, minutes: Math.round(v.ms / 60_000) }))
      .sort((a, b) => b.plays - a.plays || b.minutes - a.minutes)
      .slice(0, 5)
      .map((e) => e.plays);
  const days = new Set(mine.map((p) => p.data.playedAt.slice(0, 10)));
  let longest = 0;
  for (const day of days) {
    if (days.has(new Date(Date.parse(day) - DAY_MS).toISOString().slice(0, 10))) continue;
    let run = 1;
    while (days.has(new Date(Date.parse(day) + run * DAY_MS).toISOString().slice(0, 10))) run++;
    longest = Math.max(longest, run);
  }
  const weekdays = sum((p) => WEEKDAYS[(new Date(p.data.playedAt).getUTCDay() + 6) % 7]);
  const bestWeekday = Math.max(0, ...[...weekdays.values()].map((v) => v.plays));
  return {
    plays: mine.length,
    minutes: Math.round(mine.reduce((s, p) => s + p.data.msPlayed, 0) / 60_000),
    distinctTracks: tracks.size,
    distinctArtists: artists.size,
    topTrackPlays: top(tracks),
    topArtistPlays: top(artists),
    busiestWeekdayPlays: bestWeekday,
    longestStreak: longest,
  };
}

function summary(r: ListeningReport) {
  return {
    plays: r.plays,
    minutes: r.minutes,
    distinctTracks: r.distinctTracks,
    distinctArtists: r.distinctArtists,
    topTrackPlays: r.topTracks.map((t) => t.plays),
    topArtistPlays: r.topArtists.map((a) => a.plays),
    busiestWeekdayPlays: r.busiestWeekday?.plays ?? 0,
    longestStreak: r.longestStreak?.days ?? 0,
  };
}

describe('projections of the event log', () => {
  let world: EventWorld;

  beforeEach(async () => {
    world = await EventWorld.open('proj');
    await startFakeCatalog(world.broker);
  });

  afterEach(async () => {
    await world.close();
  });

  const stats = () => world.rpc.bind(statsContract);
  const as = (userId: string) => ({ caller: { userId, username: userId, admin: false } });
  const months = (plays: readonly EventEnvelope<TrackPlayed>[]) => [
    ...new Set(plays.map((p) => p.data.playedAt.slice(0, 7))),
  ];

  it('fills a projection added after 5,000 plays from the log, with the numbers computed from what was posted', {
    timeout: 120_000,
  }, async () => {
    const plays = playsOverMonths(5000, { seed: 11 });
    // Some events are in the log twice (a client that retried): they count once.
    const posted = [...plays, ...plays.slice(0, 300)];
    await world.publish(posted);
    // The service (and with it the report projection) comes after the plays.
    const worker = await world.start(statsService);
    await eventually(() => world.processed(worker, 'report') === posted.length, 60_000);
    let checked = 0;
    for (const userId of ['u0', 'u3', 'u5']) {
      for (const month of months(plays)) {
        expect(summary(await stats().call('report', { month }, as(userId))), `${userId} ${month}`).toEqual(
          expectedReport(plays, userId, month),
        );
        checked++;
      }
      const year = String(new Date().getUTCFullYear());
      expect(summary(await stats().call('report', { year: Number(year) }, as(userId)))).toEqual(
        expectedReport(plays, userId, year),
      );
    }
    expect(checked).toBeGreaterThanOrEqual(12);
    // And the stats projection, from the same log, counts each play once.
    const top = await stats().call('topTracks', { limit: 100 });
    expect(top.reduce((s, t) => s + t.plays, 0)).toBe(plays.length);
  });

  it('replays while plays keep arriving: the swapped-in tables equal an independent count, the live one answering throughout', {
    timeout: 120_000,
  }, async () => {
    const worker = await world.start(statsService);
    const first = playsOverMonths(3000, { seed: 21, days: 60 });
    await world.publish(first);
    await eventually(() => world.processed(worker, 'report') === first.length, 30_000);

    const during: EventEnvelope<TrackPlayed>[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let round = 0; publishing || round < 3; round++) {
        const more = playsOverMonths(50, { seed: 100 + round, days: 60 });
        await world.publish(more);
        during.push(...more);
        await sleep(50);
      }
    })();
    let answered = 0;
    const reader = (async () => {
      while (publishing) {
        await stats().call('report', { month: new Date().toISOString().slice(0, 7) }, as('u1'));
        answered++;
        await sleep(100);
      }
    })();
    const progress: number[] = [];
    const result = await replayProjection({
      projection: reportProjection,
      broker: world.broker,
      databaseUrl: TEST_DATABASE_URL,
      schema: world.schema(statsService),
      partitions: testConfig().eventLogPartitions,
      logger: silentLogger,
      onProgress: (p) => progress.push(p.applied),
    });
    publishing = false;
    await Promise.all([publisher, reader]);
    const all = [...first, ...during];
    // Caught up: every play of the log is in the swapped-in tables exactly once.
    await eventually(async () => {
      const { rows } = await world
        .pool(statsService)
        .query<{ plays: string }>('SELECT coalesce(sum(plays), 0) AS plays FROM report_tracks');
      return Number(rows[0]!.plays) === all.length;
    }, 30_000);
    for (const userId of ['u0', 'u2', 'u4']) {
      for (const month of months(all)) {
        expect(summary(await stats().call('report', { month }, as(userId))), `${userId} ${month}`).toEqual(
          expectedReport(all, userId, month),
        );
      }
    }
    expect(result.applied).toBeGreaterThanOrEqual(first.length);
    expect(progress.length).toBeGreaterThan(0);
    expect(answered).toBeGreaterThan(0);
    // Nothing of the rebuild is left behind.
    const { rowCount } = await world
      .pool(statsService)
      .query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [`${world.schema(statsService)}_rb_report`]);
    expect(rowCount).toBe(0);
  });

  it('keeps the retained part of the log only, and a replay from the start says where it begins', async () => {
    // A tiny log of one partition: segments of 20 kB, at most 60 kB kept.
    const retention = { maxAge: '400D', maxBytes: 60_000, segmentBytes: 20_000, partitions: 1 };
    const small = await EventWorld.open('projlog', retention);
    try {
      for (let i = 0; i < 6; i++) await small.publish(playsOverMonths(200, { seed: 40 + i, days: 20 }));
      // The broker truncates the log a while after the segment that went over the limit rolled:
      // wait until it has (the start has moved and stays put for a second).
      let seen = -1;
      const bounds = await eventually(
        async () => {
          const b = await logBounds(small.broker, 0);
          const settled = b !== null && b.first > 0 && b.first === seen;
          seen = b?.first ?? -1;
          return settled ? b : null;
        },
        30_000,
        1000,
      );
      await small.start(statsService, { ...testConfig(), eventLogPartitions: 1 });
      const result = await replayProjection({
        projection: reportProjection,
        broker: small.broker,
        databaseUrl: TEST_DATABASE_URL,
        schema: small.schema(statsService),
        partitions: 1,
        logger: silentLogger,
      });
      expect(result.notes.join('\n')).toContain(`p0 starts at offset ${bounds.first}`);
      expect(result.applied).toBeLessThan(1200);
      // Exactly what the log still holds (offsets are not dense: count the events).
      let retained = 0;
      const reader = new LogReader({
        broker: small.broker,
        logger: silentLogger,
        partition: 0,
        from: 'first',
        onBatch: async (records) => {
          retained += records.length;
        },
      });
      await reader.start();
      await eventually(() => reader.lastOffset === result.offsets.p0, 10_000);
      await reader.stop();
      expect(result.applied).toBe(retained);
    } finally {
      await small.close();
    }
  });

  describe('the report', () => {
    const at = (iso: string) => new Date(iso);

    it('puts plays in UTC months and years, and counts a streak across a month end in the year', async () => {
      const worker = await world.start(statsService);
      const u = 'u-edges';
      const plays = [
        playEnvelope(u, 't1', at('2025-12-31T23:59:59.999Z'), 60_000),
        playEnvelope(u, 't1', at('2026-01-01T00:00:00.000Z'), 60_000),
        playEnvelope(u, 't2', at('2026-01-30T10:00:00Z'), 120_000),
        playEnvelope(u, 't3', at('2026-01-31T22:00:00Z'), 120_000),
        playEnvelope(u, 't3', at('2026-02-01T01:00:00Z'), 180_000),
        playEnvelope(u, 't5', at('2026-02-02T23:00:00Z'), 240_000),
      ];
      await world.publish(plays);
      await eventually(() => world.processed(worker, 'report') === plays.length);
      const december = await stats().call('report', { month: '2025-12' }, as(u));
      expect(december).toMatchObject({ period: '2025-12', from: '2025-12-01', to: '2025-12-31', plays: 1 });
      const january = await stats().call('report', { month: '2026-01' }, as(u));
      expect(january).toMatchObject({
        plays: 3,
        minutes: 5,
        distinctTracks: 3,
        longestStreak: { days: 2, from: '2026-01-30', to: '2026-01-31' },
      });
      const february = await stats().call('report', { month: '2026-02' }, as(u));
      expect(february.longestStreak).toEqual({ days: 2, from: '2026-02-01', to: '2026-02-02' });
      expect(february.topGenres).toEqual([
        { genre: 'Ambient', plays: 1, minutes: 4 },
        { genre: 'Jazz', plays: 1, minutes: 3 },
      ]);
      const year = await stats().call('report', { year: 2026 }, as(u));
      expect(year).toMatchObject({
        period: '2026',
        from: '2026-01-01',
        to: '2026-12-31',
        timeZone: 'UTC',
        plays: 5,
        distinctArtists: 2,
        longestStreak: { days: 4, from: '2026-01-30', to: '2026-02-02' },
        months: [
          { month: '2026-01', plays: 3, minutes: 5 },
          { month: '2026-02', plays: 2, minutes: 7 },
        ],
      });
      expect(year.topTracks[0]).toMatchObject({ trackId: 't3', title: 'Dusk', plays: 2 });
      expect(year.topArtists[0]).toMatchObject({ artistId: 'ar1', name: 'The Blue Notes', plays: 4 });
      expect(year.topAlbums[0]).toMatchObject({ albumId: 'al2', title: 'Blue Evening', plays: 2 });
      expect(year.busiestHour?.plays).toBe(1);
      expect((await stats().call('report', { year: 2025 }, as(u))).plays).toBe(1);
    });

    it('answers a user with no plays with zeros, and refuses bad periods', async () => {
      await world.start(statsService);
      expect(await stats().call('report', { month: '2026-03' }, as('u-nobody'))).toMatchObject({
        plays: 0,
        minutes: 0,
        distinctTracks: 0,
        topTracks: [],
        busiestWeekday: null,
        busiestHour: null,
        longestStreak: null,
        months: [],
      });
      for (const params of [
        { month: '2026-13' },
        { month: '26-01' },
        { year: 1969 },
        { year: 2026, month: '2026-01' },
      ]) {
        await expect(
          world.rpc.call('stats', 'report', params, as('u1')),
          JSON.stringify(params),
        ).rejects.toMatchObject({
          code: -32602,
        });
      }
      await expect(world.rpc.call('stats', 'report', { year: 2026 })).rejects.toMatchObject({ code: 1401 });
    });
  });
});
