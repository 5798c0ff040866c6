import { beforeAll, describe, expect, it } from 'vitest';
import type { ScrobbleStatus } from '../../common/contracts/scrobbler.js';
import { eventually } from '../support/env.js';
import { ScrobbleStandIn } from '../support/scrobble-standin.js';
import { demoClient, report, since, trackIds, useSystem } from './helpers.js';

const TOKEN = 'f00dcafe-0000-4000-8000-0000000000aa';
const OUTAGE_MS = 30_000;

/**
 * ListenBrainz (a stand-in: the real service cannot be reached from here) goes down for 30 s
 * while a listener plays on: the plays, the pages and everything else carry on as usual; the
 * scrobbler keeps the listens and, once the service is back, each play arrives exactly once.
 */
describe('the scrobbling service down for 30 s under plays', () => {
  const standIn = new ScrobbleStandIn();
  beforeAll(async () => {
    await standIn.listen();
    standIn.lbTokens.set(TOKEN, 'demo-lb');
  });
  const system = useSystem(() => ({
    label: 'fscrobble',
    env: {
      LISTENBRAINZ_URL: standIn.listenbrainzUrl,
      SCROBBLE_TIMEOUT_MS: '2000',
      SCROBBLE_BACKOFF_MAX_MS: '4000',
    },
  }));

  it('keeps every play through the outage and sends each exactly once after', async () => {
    const s = system();
    const api = await demoClient(s);
    const tracks = await trackIds(s);
    const linked = await api.request('PUT', '/api/me/scrobbling/listenbrainz', { json: { token: TOKEN } });
    expect(linked.status, linked.text).toBe(200);
    const linkedAt = Date.parse((linked.body as { linkedAt: string }).linkedAt);

    // One play every 400 ms for 45 s, each dated a second apart (so each is one listen to look for).
    const dates: number[] = [];
    const statuses: number[] = [];
    const pages: number[] = [];
    let outageAt = 0;
    let backAt = 0;
    const started = Date.now();
    const outage = (async () => {
      await new Promise((r) => setTimeout(r, 5000));
      standIn.down();
      outageAt = Date.now();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      standIn.up();
      backAt = Date.now();
    })();
    for (let i = 0; Date.now() - started < 45_000; i++) {
      const playedAt = Math.floor(linkedAt / 1000) * 1000 + 1000 * (i + 1);
      const reply = await api.request('POST', '/api/plays', {
        json: { trackId: tracks[i % tracks.length], playedAt: new Date(playedAt).toISOString() },
      });
      statuses.push(reply.status);
      if (reply.status === 202) dates.push(playedAt / 1000);
      if (i % 10 === 0) {
        const t0 = performance.now();
        const page = await api.request('GET', '/api/me/history?limit=5');
        pages.push(page.status === 200 ? performance.now() - t0 : -1);
      }
      await new Promise((r) => setTimeout(r, 400));
    }
    await outage;
    const during = (await api.request<ScrobbleStatus>('GET', '/api/me/scrobbling')).body;

    await eventually(() => standIn.lbListens.length >= dates.length, 120_000, 250);
    const allSentMs = since(backAt);
    await new Promise((r) => setTimeout(r, 3000));
    const got = standIn.lbListens.map((l) => l.listened_at!);
    const counts = new Map<number, number>();
    for (const t of got) counts.set(t, (counts.get(t) ?? 0) + 1);
    const twice = [...counts.values()].filter((n) => n > 1).length;
    const missing = dates.filter((t) => !counts.has(t)).length;
    const after = (await api.request<ScrobbleStatus>('GET', '/api/me/scrobbling')).body.links[0]!;

    report('scrobbling service down for 30 s under plays (ListenBrainz stand-in)', {
      'plays posted / accepted (202)': `${statuses.length} / ${statuses.filter((x) => x === 202).length}`,
      'history page during the run (ms, slowest)': Math.round(Math.max(...pages)),
      'outage (ms)': backAt - outageAt,
      'waiting at the end of the plays': during.links[0]?.counts.queued,
      'every listen in, from the return of the service (ms; plays went on to 45 s)': allSentMs,
      'listens received / distinct / sent twice / missing': `$got.length/ ${counts.size} / $twice/ ${missing}`,
      'stand-in calls answered': standIn.calls,
    });
    expect(statuses.every((x) => x === 202)).toBe(true);
    expect(pages.every((ms) => ms >= 0)).toBe(true);
    expect(missing).toBe(0);
    expect(twice).toBe(0);
    expect(got.length).toBe(dates.length);
    expect(after).toMatchObject({ state: 'ok', counts: { queued: 0, sent: dates.length, refused: 0 } });
    expect(standIn.violations).toEqual([]);
    await standIn.close();
  });
});
