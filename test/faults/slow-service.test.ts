import { describe, expect, it } from 'vitest';
import { eventually } from '../support/env.js';
import { type Reply, SYSTEM_OPS_TOKEN } from '../support/system.js';
import { demoClient, report, trackIds, useSystem } from './helpers.js';

const RPC_TIMEOUT_MS = 1500;

interface Health {
  status: string;
  checks: Record<string, { ok: boolean }>;
}

const slowest = (replies: Reply[]) => Math.round(Math.max(...replies.map((r) => r.ms)));

describe('a service that stops answering (SIGSTOP of the only catalog worker)', () => {
  const system = useSystem({ label: 'fslow', gatewayEnv: { RPC_TIMEOUT_MS: String(RPC_TIMEOUT_MS) } });

  it('times its callers out within the bound with 503 + Retry-After; other routes carry on', async () => {
    const s = system();
    const api = await demoClient(s);
    const tracks = await trackIds(s);
    // The gateway learns the tracks, so plays need no catalog call later.
    for (const t of tracks.slice(0, 5)) expect((await api.play(t)).status).toBe(202);
    const catalog = s.alive('catalog')[0]!;

    let catalogReplies: Reply[] = [];
    let others: Reply[] = [];
    let history: Reply | undefined;
    let plays: Reply[] = [];
    let health: Reply<Health> | undefined;
    s.signal(catalog, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      // Requests that need the catalog, and meanwhile requests that do not.
      const needCatalog = Promise.all([
        api.request('GET', '/api/artists'),
        api.request('GET', `/api/tracks/${tracks[0]}`),
        api.request('GET', '/api/search?q=blue'),
        api.request('GET', '/api/genres'),
      ]);
      others = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          api.request('GET', i % 2 === 0 ? '/api/me/stats' : '/api/playlists'),
        ),
      );
      plays = await Promise.all(
        tracks.slice(0, 5).map((t) => api.request('POST', '/api/plays', { json: { trackId: t } })),
      );
      // /health makes one round of checks a second: within about one it names the catalog.
      [history, health] = await Promise.all([
        api.request('GET', '/api/me/history?limit=5'),
        eventually(
          async () => {
            const r = await api.request<Health>('GET', '/health', { token: SYSTEM_OPS_TOKEN });
            return r.status === 503 ? r : undefined;
          },
          3000,
          100,
        ),
      ]);
      catalogReplies = await needCatalog;
    } finally {
      s.signal(catalog, 'SIGCONT');
    }
    const resumedAt = Date.now();
    await eventually(async () => (await api.request('GET', '/api/artists')).status === 200, 30_000, 100);
    const backMs = Date.now() - resumedAt;

    report('slow service (catalog worker stopped with SIGSTOP)', {
      'gateway RPC timeout (ms)': RPC_TIMEOUT_MS,
      'catalog routes': catalogReplies
        .map((r) => `${r.status} (Retry-After ${r.headers.get('retry-after')}) in ${Math.round(r.ms)} ms`)
        .join(', '),
      'stats and playlists meanwhile': `${others.map((r) => r.status).join(' ')}; slowest ${slowest(others)} ms`,
      'plays meanwhile': `${plays.map((r) => r.status).join(' ')}; slowest ${slowest(plays)} ms`,
      'history meanwhile (titles need the catalog)': `${history?.status} in ${Math.round(history?.ms ?? 0)} ms`,
      '/health meanwhile': `${health?.status} in ${Math.round(health?.ms ?? 0)} ms, catalog ok: ${health?.body.checks.catalog?.ok}`,
      'stopped for (ms)': resumedAt - stoppedAt,
      'catalog answering again after SIGCONT (ms)': backMs,
    });

    for (const r of catalogReplies) {
      expect(r.status, r.text).toBe(503);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(r.ms).toBeGreaterThanOrEqual(RPC_TIMEOUT_MS - 50);
      expect(r.ms).toBeLessThan(RPC_TIMEOUT_MS + 1000);
    }
    for (const r of others) {
      expect(r.status, r.text).toBe(200);
      expect(r.ms).toBeLessThan(1000);
    }
    for (const r of plays) expect(r.status, r.text).toBe(202);
    // History answers in time, without titles, since only the catalog knows them.
    expect(history?.status, history?.text).toBe(200);
    expect(history!.ms).toBeLessThan(RPC_TIMEOUT_MS);
    const recent = history!.body as Array<{ title: string | null }>;
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.every((p) => p.title === null)).toBe(true);
    // Health answers quickly, naming the catalog as the one failing.
    expect(health?.status).toBe(503);
    expect(health!.ms).toBeLessThan(RPC_TIMEOUT_MS);
    expect(health!.body.checks.catalog?.ok).toBe(false);
    expect(health!.body.checks.stats?.ok).toBe(true);
    expect(health!.body.checks.broker?.ok).toBe(true);
    // The same worker carries on (no restart); the gateway too.
    expect(catalog.exit).toBeNull();
    expect(s.gateway.exit).toBeNull();
  });
});
