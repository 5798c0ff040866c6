import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Events, historyContract } from '../common/contracts/index.js';
import { InvalidParamsError, UnauthorizedError } from '../common/errors.js';
import { makeEnvelope } from '../common/events/envelope.js';
import { historyService } from '../services/history/service.js';
import { eventually, testConfig } from './support/env.js';
import { fakeCatalogData, fakeCatalogHandlers, startFakeCatalog } from './support/fake-catalog.js';
import { EventWorld, HOUR_MS, playEnvelope, randomPlays } from './support/plays.js';

const alice = { userId: 'u-alice', username: 'alice', admin: false };
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

describe('history service', () => {
  let world: EventWorld;

  beforeEach(async () => {
    world = await EventWorld.open('hist');
  });

  afterEach(async () => {
    await world.close();
  });

  const history = () => world.rpc.bind(historyContract);
  const storedCount = async () =>
    Number((await world.pool(historyService).query('SELECT count(*) AS n FROM plays')).rows[0].n);

  it('stores every play exactly once however often it is delivered', async () => {
    const worker = await world.start(historyService);
    const plays = randomPlays(40);
    // Each event three times, the copies interleaved with other events.
    const deliveries = [...plays, ...plays.slice().reverse(), ...plays];
    await world.publish(deliveries);
    await eventually(() => world.handled(worker, Events.trackPlayed.type) === deliveries.length);
    expect(await storedCount()).toBe(40);
    const { rows } = await world
      .pool(historyService)
      .query('SELECT event_id, user_id, track_id, played_at, ms_played, source FROM plays');
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    for (const p of plays) {
      expect(byId.get(p.id)).toMatchObject({
        user_id: p.data.userId,
        track_id: p.data.trackId,
        played_at: new Date(p.data.playedAt),
        ms_played: p.data.msPlayed,
        source: 'test',
      });
    }
  });

  it('shares the plays between two workers, each stored once', async () => {
    const first = await world.start(historyService);
    const second = await world.start(historyService);
    const plays = randomPlays(600, { seed: 7 });
    await world.publish([...plays, ...plays.slice(0, 100)]);
    const handled = () =>
      world.handled(first, Events.trackPlayed.type) + world.handled(second, Events.trackPlayed.type);
    await eventually(() => handled() === 700, 20_000);
    expect(world.handled(first, Events.trackPlayed.type)).toBeGreaterThan(0);
    expect(world.handled(second, Events.trackPlayed.type)).toBeGreaterThan(0);
    expect(await storedCount()).toBe(600);
  });

  it('dead-letters poison events without holding up the others', async () => {
    const worker = await world.start(historyService);
    const invalid = makeEnvelope(Events.trackPlayed.type, { userId: 'u1', trackId: '', msPlayed: -5 });
    // Valid for the schema, but PostgreSQL cannot store a NUL character: never retried.
    const unstorable = playEnvelope('u\u0000null', 't1', minutesAgo(1));
    const good = randomPlays(30, { seed: 3 });
    await world.publish([invalid, ...good.slice(0, 15), unstorable, ...good.slice(15)]);
    await eventually(async () => (await world.queueDepth('history.track-played.dead')) === 2, 5000);
    await eventually(() => world.handled(worker, Events.trackPlayed.type) === 32);
    expect(await storedCount()).toBe(30);
    const ch = await world.broker.channel();
    const reasons: string[] = [];
    for (;;) {
      const msg = await ch.get(world.broker.name('history.track-played.dead'), { noAck: true });
      if (!msg) break;
      reasons.push(String(msg.properties.headers?.['x-death-reason']));
    }
    await ch.close();
    expect(reasons.sort()).toEqual([
      expect.stringMatching(/^InvalidInputError: text must not contain NUL characters \(/),
      expect.stringMatching(/^bad track\.played data: .*trackId/),
    ]);
  });

  describe('recent', () => {
    beforeEach(async () => {
      const worker = await world.start(historyService);
      const plays = [
        playEnvelope(alice.userId, 't1', minutesAgo(30), 181_000, 'web'),
        playEnvelope(alice.userId, 't3', minutesAgo(5)),
        playEnvelope(alice.userId, 'unknown-track', minutesAgo(20)),
        playEnvelope(alice.userId, 't1', minutesAgo(10)),
        playEnvelope('u-bob', 't2', minutesAgo(1)),
      ];
      await world.publish(plays);
      await eventually(() => world.handled(worker, Events.trackPlayed.type) === plays.length);
    });

    it("returns the caller's plays newest first, with titles from the catalog", async () => {
      await startFakeCatalog(world.broker);
      const plays = await history().call('recent', { limit: 3 }, { caller: alice });
      expect(plays.map((p) => [p.trackId, p.title])).toEqual([
        ['t3', 'Dusk'],
        ['t1', 'First Light'],
        ['unknown-track', null],
      ]);
      expect(plays[1]).toMatchObject({
        artistName: 'The Blue Notes',
        albumTitle: 'Blue Morning',
        source: 'test',
      });
      const all = await history().call('recent', {}, { caller: alice });
      expect(all).toHaveLength(4);
      expect(all[3]).toMatchObject({ trackId: 't1', msPlayed: 181_000, source: 'web' });
      expect(Date.parse(all[3]!.playedAt)).toBeLessThan(Date.parse(all[2]!.playedAt));
    });

    it('answers only a logged-in caller, and refuses bad params', async () => {
      await startFakeCatalog(world.broker);
      const bob = await history().call(
        'recent',
        {},
        { caller: { userId: 'u-bob', username: 'bob', admin: false } },
      );
      expect(bob.map((p) => p.title)).toEqual(['Coffee Steam']);
      expect(
        await history().call(
          'recent',
          {},
          { caller: { userId: 'nobody', username: 'nobody', admin: false } },
        ),
      ).toEqual([]);
      await expect(history().call('recent', {})).rejects.toBeInstanceOf(UnauthorizedError);
      await expect(
        world.rpc.call('history', 'recent', { userId: 'u-bob' }, { caller: alice }),
      ).rejects.toBeInstanceOf(InvalidParamsError);
      await expect(history().call('recent', { limit: 0 }, { caller: alice })).rejects.toBeInstanceOf(
        InvalidParamsError,
      );
    });

    it('returns plays without titles when the catalog is not running', async () => {
      const plays = await history().call('recent', {}, { caller: alice });
      expect(plays).toHaveLength(4);
      expect(plays.every((p) => p.title === null && p.artistName === null)).toBe(true);
    });

    it('returns plays without titles when the catalog does not answer in time', async () => {
      const catalog = await startFakeCatalog(world.broker);
      await catalog.stop(); // its queue stays, nobody takes the request
      const started = Date.now();
      const plays = await history().call('recent', { limit: 2 }, { caller: alice });
      expect(plays.map((p) => [p.trackId, p.title])).toEqual([
        ['t3', null],
        ['t1', null],
      ]);
      expect(Date.now() - started).toBeLessThan(3000);
    });
  });

  it('shows the names it fetched for TRACK_NAMES_TTL_MS without asking the catalog, then asks again', async () => {
    const worker = await world.start(historyService, testConfig({ trackNamesTtlMs: 3000 }));
    await world.publish([playEnvelope(alice.userId, 't1', minutesAgo(5))]);
    await eventually(() => world.handled(worker, Events.trackPlayed.type) === 1);
    const data = fakeCatalogData();
    const handlers = fakeCatalogHandlers(data);
    let asked = 0;
    let readers = 0;
    await startFakeCatalog(world.broker, {
      ...handlers,
      libraryTracks: (params, ctx) => {
        asked++;
        return handlers.libraryTracks(params, ctx);
      },
      libraryAccess: (params, ctx) => {
        readers++;
        return handlers.libraryAccess(params, ctx);
      },
    });
    const title = async () => (await history().call('recent', {}, { caller: alice }))[0]?.title;
    expect(await title()).toBe('First Light');
    data.tracks.find((t) => t.id === 't1')!.title = 'Renamed';
    // No hop while the names and who sees which library are fresh: the catalog is not asked again.
    expect(await title()).toBe('First Light');
    expect([asked, readers]).toEqual([1, 1]);
    await eventually(async () => (await title()) === 'Renamed', 10_000, 250);
    expect(asked).toBe(2);
  });

  it('exports the play log in pages and by event id, to internal callers only', async () => {
    const worker = await world.start(historyService);
    const plays = randomPlays(250, { seed: 11 });
    await world.publish(plays);
    await eventually(() => world.handled(worker, Events.trackPlayed.type) === plays.length);
    const pages: number[][] = [];
    const seen: string[] = [];
    let afterSeq = 0;
    for (;;) {
      const page = await history().call('export', { afterSeq, limit: 100 });
      if (page.length === 0) break;
      pages.push(page.map((p) => p.seq));
      seen.push(...page.map((p) => p.eventId));
      afterSeq = page.at(-1)!.seq;
    }
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    const seqs = pages.flat();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seen)).toEqual(new Set(plays.map((p) => p.id)));

    const wanted = [plays[3]!, plays[200]!];
    // An id of no play (changing a character of one could give that same id back).
    const unknown = randomUUID();
    expect(plays.some((p) => p.id === unknown)).toBe(false);
    const found = await history().call('export', { eventIds: [...wanted.map((p) => p.id), unknown] });
    expect(found.map((p) => p.eventId).sort()).toEqual(wanted.map((p) => p.id).sort());
    const third = found.find((p) => p.eventId === plays[3]!.id)!;
    expect(third).toMatchObject({
      userId: plays[3]!.data.userId,
      trackId: plays[3]!.data.trackId,
      playedAt: plays[3]!.data.playedAt,
      msPlayed: plays[3]!.data.msPlayed,
      source: 'test',
    });

    await expect(history().call('export', { eventIds: ['not-a-uuid'] })).rejects.toBeInstanceOf(
      InvalidParamsError,
    );
  });

  it('keeps plays published before the service ever started', async () => {
    const plays = [playEnvelope(alice.userId, 't1', new Date(Date.now() - HOUR_MS))];
    await world.publish(plays);
    const worker = await world.start(historyService);
    await eventually(() => world.handled(worker, Events.trackPlayed.type) === 1);
    expect(await storedCount()).toBe(1);
  });
});
