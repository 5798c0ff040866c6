import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Events, scrobblerContract } from '../common/contracts/index.js';
import { makeEnvelope } from '../common/events/envelope.js';
import { partitionOf } from '../common/events/partitions.js';
import { createLogger } from '../common/logger.js';
import type { RunningService } from '../common/service.js';
import { apiSignature } from '../services/scrobbler/lastfm.js';
import { backoffMs, skipReason } from '../services/scrobbler/sender.js';
import { scrobblerService } from '../services/scrobbler/service.js';
import { eventually, testConfig } from './support/env.js';
import { startFakeCatalog } from './support/fake-catalog.js';
import { EventWorld, playEnvelope } from './support/plays.js';
import { ScrobbleStandIn } from './support/scrobble-standin.js';

const alice = { userId: 'u-alice', username: 'alice', admin: false };
const bob = { userId: 'u-bob', username: 'bob', admin: false };
const DAY_MS = 86_400_000;
const LB_TOKEN = 'a1b2c3d4-0000-4000-8000-00000000cafe';

/** t1 lasts 181 s (counts after 90.5 s), t5 320 s (after 160 s), t6 95 s: fakeCatalogData. */
const heard = (trackId: string, at: Date, ms = 200_000) => playEnvelope(alice.userId, trackId, at, ms);

describe('scrobbler service against stand-ins of ListenBrainz and Last.fm', () => {
  let world: EventWorld;
  let standIn: ScrobbleStandIn;
  let worker: RunningService;

  const scrobbler = () => world.rpc.bind(scrobblerContract);
  const status = async (caller = alice) => (await scrobbler().call('status', {}, { caller })).links;
  const link = async (service: 'listenbrainz' | 'lastfm', caller = alice) =>
    (await status(caller)).find((l) => l.service === service);

  beforeEach(async () => {
    standIn = new ScrobbleStandIn();
    await standIn.listen();
    standIn.lbTokens.set(LB_TOKEN, 'alice-lb');
    world = await EventWorld.open('scrobbler');
    await startFakeCatalog(world.broker);
    worker = await world.start(
      scrobblerService,
      testConfig({
        listenbrainzUrl: standIn.listenbrainzUrl,
        lastfmUrl: standIn.lastfmUrl,
        lastfmAuthUrl: 'https://www.last.fm/api/auth/',
        lastfmApiKey: standIn.lastfmApiKey,
        lastfmSecret: standIn.lastfmSecret,
        scrobbleTimeoutMs: 1500,
        scrobbleBackoffMaxMs: 1000,
      }),
    );
  });

  afterEach(async () => {
    await world.close();
    await standIn.close();
  });

  it('links ListenBrainz with a checked token, sends each play that counts once, and stops at unlink', async () => {
    await expect(
      scrobbler().call('link', { service: 'listenbrainz', token: 'not-a-token' }, { caller: alice }),
    ).rejects.toMatchObject({ message: 'ListenBrainz refused this token' });
    const before = new Date(Date.now() - 60_000);
    const linked = await scrobbler().call(
      'link',
      { service: 'listenbrainz', token: LB_TOKEN },
      { caller: alice },
    );
    expect(linked).toMatchObject({
      service: 'listenbrainz',
      account: 'alice-lb',
      state: 'ok',
      problem: null,
    });
    // The token is in no answer and is kept sealed.
    expect(JSON.stringify(await scrobbler().call('status', {}, { caller: alice }))).not.toContain(LB_TOKEN);
    const { rows } = await world.pool(scrobblerService).query<{ secret: string }>('SELECT secret FROM links');
    expect(rows[0]!.secret).toMatch(/^aes256gcm\$/);
    expect(rows[0]!.secret).not.toContain(LB_TOKEN);

    const first = heard('t1', new Date());
    await world.publish([
      heard('t1', before), // before the link: only "send my earlier plays" sends it
      first,
      first, // the same event twice in the log: sent once
      playEnvelope(alice.userId, 't5', new Date(), 100_000), // less than half of 320 s and < 4 min
      playEnvelope(bob.userId, 't2', new Date(), 200_000), // bob has no link
    ]);
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 1, 15_000, 100);
    await eventually(async () => (await link('listenbrainz'))?.counts.skipped === 1, 15_000, 100);
    expect(standIn.lbListens).toHaveLength(1);
    expect(standIn.lbListens[0]).toMatchObject({
      type: 'single',
      token: LB_TOKEN,
      listened_at: Math.floor(Date.parse(first.data.playedAt) / 1000),
      track_metadata: {
        artist_name: 'The Blue Notes',
        track_name: 'First Light',
        release_name: 'Blue Morning',
      },
    });
    const { rows: skipped } = await world
      .pool(scrobblerService)
      .query<{ reason: string }>(`SELECT reason FROM listens WHERE state = 'skipped'`);
    expect(skipped[0]!.reason).toMatch(/half the track/);

    expect(await scrobbler().call('unlink', { service: 'listenbrainz' }, { caller: alice })).toEqual({
      unlinked: true,
    });
    await world.publish([heard('t2', new Date())]);
    await eventually(() => world.processed(worker, 'scrobble') >= 6);
    await new Promise((r) => setTimeout(r, 1500));
    expect(standIn.lbListens).toHaveLength(1);
    expect(await status()).toEqual([]);
    expect(standIn.violations).toEqual([]);
  });

  it('keeps listens through an outage, a 429 and a spent rate-limit window, and sends each once after', async () => {
    await scrobbler().call('link', { service: 'listenbrainz', token: LB_TOKEN }, { caller: alice });
    standIn.mode = 'error';
    const plays = Array.from({ length: 5 }, (_, i) => heard('t2', new Date(Date.now() + i * 1000)));
    await world.publish(plays);
    await eventually(async () => (await link('listenbrainz'))?.retryAt !== null, 15_000, 100);
    const during = await link('listenbrainz');
    expect(during).toMatchObject({ state: 'ok', counts: { queued: 5, sent: 0 } });
    // Back up but rate limiting: the next answer is a 429 with Retry-After.
    standIn.rateLimitNext = 1;
    standIn.retryAfterSeconds = 2;
    standIn.up();
    const callsAt429 = await eventually(
      () => (standIn.calls > 0 && standIn.rateLimitNext === 0 ? Date.now() : null),
      15_000,
      20,
    );
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 5, 20_000, 100);
    expect(Date.now() - callsAt429).toBeGreaterThanOrEqual(1900);
    // Queued while the service was away, they go together as an import.
    expect(standIn.lbAccepted.map((s) => [s.type, s.payload.length])).toEqual([['import', 5]]);
    expect(new Set(standIn.lbListens.map((l) => l.listened_at)).size).toBe(5);

    // A window with nothing left: the next call waits for X-RateLimit-Reset-In.
    standIn.windowLeft = 1;
    standIn.resetInSeconds = 2;
    await world.publish([heard('t3', new Date())]);
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 6, 15_000, 100);
    await world.publish([heard('t4', new Date())]);
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 7, 15_000, 100);
    expect(standIn.windowBroken).toBe(0);
    expect(standIn.violations).toEqual([]);
  });

  it('marks a link whose token ListenBrainz refuses as broken, keeps its listens, and sends them once linked again', async () => {
    await scrobbler().call('link', { service: 'listenbrainz', token: LB_TOKEN }, { caller: alice });
    standIn.lbTokens.delete(LB_TOKEN); // revoked at ListenBrainz
    await world.publish([heard('t1', new Date()), heard('t2', new Date(Date.now() + 1))]);
    const broken = await eventually(
      async () => {
        const l = await link('listenbrainz');
        return l?.state === 'broken' ? l : null;
      },
      15_000,
      100,
    );
    expect(broken.problem).toBe('ListenBrainz refused your token');
    expect(broken.counts).toMatchObject({ queued: 2, sent: 0 });
    const token2 = 'a1b2c3d4-0000-4000-8000-00000000beef';
    standIn.lbTokens.set(token2, 'alice-lb');
    await scrobbler().call('link', { service: 'listenbrainz', token: token2 }, { caller: alice });
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 2, 15_000, 100);
    expect(standIn.lbListens.map((l) => l.token)).toEqual([token2, token2]);
    expect(standIn.violations).toEqual([]);
  });

  it('links Last.fm through its web flow, scrobbles signed batches of at most 50, sends now playing', async () => {
    const { url, authToken } = await scrobbler().call('lastfmAuthorize', {}, { caller: alice });
    expect(url).toBe(`https://www.last.fm/api/auth/?api_key=${standIn.lastfmApiKey}&token=${authToken}`);
    await expect(
      scrobbler().call('link', { service: 'lastfm', authToken }, { caller: alice }),
    ).rejects.toMatchObject({ message: /not authorised/ });
    standIn.lastfmAllowed.add(authToken); // the user allowed it on Last.fm's page
    const linked = await scrobbler().call('link', { service: 'lastfm', authToken }, { caller: alice });
    expect(linked).toMatchObject({ service: 'lastfm', account: 'lastfm-user', state: 'ok' });
    const sessionKey = [...standIn.lastfmSessions.keys()][0]!;
    expect(JSON.stringify(await status())).not.toContain(sessionKey);

    await world.publish([
      makeEnvelope(Events.playbackStarted.type, {
        userId: alice.userId,
        trackId: 't3',
        startedAt: new Date().toISOString(),
        client: 'test-player',
      }),
    ]);
    await eventually(
      () => standIn.lastfmAccepted.some((c) => c.method === 'track.updateNowPlaying'),
      15_000,
      100,
    );
    expect(standIn.lastfmAccepted.find((c) => c.method === 'track.updateNowPlaying')?.params).toMatchObject({
      artist: 'The Blue Notes',
      track: 'Dusk',
      sk: sessionKey,
    });

    // Held back while Last.fm is down, 120 plays then go in batches of at most 50.
    standIn.mode = 'error';
    const start = Date.now();
    const plays = Array.from({ length: 120 }, (_, i) => heard('t4', new Date(start + i * 1000)));
    plays.push(playEnvelope(alice.userId, 't6', new Date(start + 500_000), 95_000)); // 95 s track: counts
    await world.publish(plays);
    await eventually(async () => (await link('lastfm'))?.counts.queued === 121, 15_000, 100);
    standIn.up();
    await eventually(async () => (await link('lastfm'))?.counts.sent === 121, 30_000, 100);
    const batches = standIn.lastfmAccepted.filter((c) => c.method === 'track.scrobble');
    expect(batches.length).toBeGreaterThanOrEqual(3);
    for (const b of batches)
      expect(Object.keys(b.params).filter((k) => k.startsWith('artist[')).length).toBeLessThanOrEqual(50);
    expect(new Set(standIn.lastfmScrobbles.map((s) => s.timestamp)).size).toBe(121);

    // The session revoked at Last.fm (error 9): the link is broken with the reason.
    standIn.lastfmSessions.clear();
    await world.publish([heard('t1', new Date(start + 600_000))]);
    await eventually(async () => (await link('lastfm'))?.state === 'broken', 15_000, 100);
    expect((await link('lastfm'))?.problem).toBe('Last.fm refused your session');
    expect(standIn.violations).toEqual([]);
  });

  it('sends the earlier plays the log holds: all to ListenBrainz as import, the last 14 days to Last.fm', async () => {
    const now = Date.now();
    const earlier = [
      heard('t1', new Date(now - 20 * DAY_MS)),
      heard('t2', new Date(now - 10 * DAY_MS)),
      heard('t3', new Date(now - 2 * DAY_MS)),
      playEnvelope(alice.userId, 't5', new Date(now - DAY_MS), 10_000), // too short for either
      playEnvelope(bob.userId, 't4', new Date(now - DAY_MS), 200_000), // another user's
    ];
    await world.publish(earlier);
    await eventually(() => world.processed(worker, 'scrobble') === 5);
    await scrobbler().call('link', { service: 'listenbrainz', token: LB_TOKEN }, { caller: alice });
    const { sessionKey } = { sessionKey: 'sk-given-by-user-0123456789abcdef' };
    standIn.lastfmSessions.set(sessionKey, 'lastfm-user');
    await scrobbler().call('link', { service: 'lastfm', sessionKey }, { caller: alice });
    await new Promise((r) => setTimeout(r, 1000));
    expect(standIn.lbListens).toHaveLength(0);

    for (const service of ['listenbrainz', 'lastfm'] as const) {
      const asked = await scrobbler().call('sendEarlier', { service }, { caller: alice });
      expect(asked.state).toBe('reading');
    }
    await eventually(async () => (await status()).every((l) => l.earlier?.state === 'done'), 30_000, 200);
    // Alice's partition of the log is read whole (bob's play is there only if his id falls in it).
    const mine = earlier.filter(
      (e) =>
        partitionOf(e.data.userId, testConfig().eventLogPartitions) ===
        partitionOf(alice.userId, testConfig().eventLogPartitions),
    ).length;
    for (const l of await status()) {
      // Progress is in offsets of the partition (increasing, not always dense): at least its events.
      expect(l.earlier).toMatchObject({ state: 'done', queued: 4 });
      expect(l.earlier!.read).toBe(l.earlier!.total);
      expect(l.earlier!.total).toBeGreaterThanOrEqual(mine);
    }
    await eventually(async () => (await link('listenbrainz'))?.counts.sent === 3, 15_000, 100);
    await eventually(async () => (await link('lastfm'))?.counts.sent === 2, 15_000, 100);
    expect((await link('lastfm'))?.counts.skipped).toBe(2);
    expect(standIn.lbAccepted.every((s) => s.type === 'import')).toBe(true);
    expect(standIn.lbListens.map((l) => l.track_metadata.track_name).sort()).toEqual([
      'Coffee Steam',
      'Dusk',
      'First Light',
    ]);
    expect(standIn.lastfmScrobbles.map((s) => s.track).sort()).toEqual(['Coffee Steam', 'Dusk']);

    // Asked again: what the log got since is read; nothing is sent twice.
    await scrobbler().call('sendEarlier', { service: 'listenbrainz' }, { caller: alice });
    await eventually(async () => (await link('listenbrainz'))?.earlier?.state === 'done', 30_000, 200);
    await new Promise((r) => setTimeout(r, 1000));
    expect(standIn.lbListens).toHaveLength(3);
    expect(standIn.violations).toEqual([]);
  });
});

describe('scrobbling rules', () => {
  it('signs Last.fm calls as documented: sorted by bytes, format left out, secret last', () => {
    const params = {
      'artist[10]': 'b',
      'artist[1]': 'a',
      method: 'track.scrobble',
      api_key: 'k',
      format: 'json',
    };
    // artist[10] comes before artist[1] in ASCII order ('0' < ']').
    const text = 'api_keykartist[10]bartist[1]amethodtrack.scrobbles3cr3t';
    expect(apiSignature(params, 's3cr3t')).toBe(createHash('md5').update(text).digest('hex'));
  });

  it('counts a play after half the track or 4 minutes; Last.fm takes 30 s tracks and 14 days', () => {
    const track = (durationMs: number) => ({ durationMs }) as Parameters<typeof skipReason>[2];
    const now = Date.now();
    const at = new Date(now);
    expect(skipReason('listenbrainz', { ms_played: 240_000, played_at: at }, track(3_600_000))).toBeNull();
    expect(
      skipReason('listenbrainz', { ms_played: 239_000, played_at: at }, track(3_600_000)),
    ).not.toBeNull();
    expect(skipReason('listenbrainz', { ms_played: 50_000, played_at: at }, track(100_000))).toBeNull();
    expect(skipReason('listenbrainz', { ms_played: 20_000, played_at: at }, track(25_000))).toBeNull();
    expect(skipReason('lastfm', { ms_played: 20_000, played_at: at }, track(25_000))).toMatch(/30 s/);
    expect(
      skipReason('lastfm', { ms_played: 60_000, played_at: new Date(now - 15 * DAY_MS) }, track(100_000)),
    ).toMatch(/14 days/);
    expect(
      skipReason(
        'listenbrainz',
        { ms_played: 60_000, played_at: new Date(now - 400 * DAY_MS) },
        track(100_000),
      ),
    ).toBeNull();
    expect(skipReason('listenbrainz', { ms_played: 60_000, played_at: at }, undefined)).toMatch(
      /no such track/,
    );
  });

  it('keeps every kind of scrobbling credential out of the logs', () => {
    const lines: string[] = [];
    const log = createLogger('t', { write: (line: string) => lines.push(line) });
    log.level = 'info';
    log.info({ params: { service: 'lastfm', sessionKey: 'sk-secret-1', authToken: 'at-secret-2' } }, 'call');
    log.info({ params: { service: 'listenbrainz', token: 'lb-secret-3' } }, 'call');
    log.info({ sessionKey: 'sk-secret-4' }, 'plain');
    expect(lines).toHaveLength(3);
    expect(lines.join('')).not.toMatch(/secret-\d/);
  });

  it('backs off doubling from a second, with jitter, up to the cap', () => {
    for (let i = 0; i < 50; i++) {
      expect(backoffMs(1, 300_000)).toBeGreaterThanOrEqual(500);
      expect(backoffMs(1, 300_000)).toBeLessThanOrEqual(1000);
      expect(backoffMs(4, 300_000)).toBeGreaterThanOrEqual(4000);
      expect(backoffMs(30, 300_000)).toBeLessThanOrEqual(300_000);
    }
  });
});
