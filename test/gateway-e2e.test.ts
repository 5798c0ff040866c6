import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Track } from '../common/contracts/catalog.js';
import { SYSTEM } from '../common/contracts/index.js';
import { dropSchema } from '../common/db/migrate.js';
import type { Pool } from '../common/db/pool.js';
import { eventQueue } from '../common/events/envelope.js';
import { isLogStream } from '../common/events/partitions.js';
import type { RunningService } from '../common/service.js';
import { type RunningGateway, startGateway } from '../gateway/server.js';
import { seedCatalog } from '../services/catalog/index.js';
import {
  cleanupBroker,
  eventually,
  namespace,
  rabbitmqctl,
  silentLogger,
  testConfig,
  testPool,
} from './support/env.js';
import { SERVICE_DEFINITIONS, startAllServices } from './support/services.js';

/** The whole system in one process: the five real services and the gateway, in a test namespace. */
describe('gateway end to end with the real services', () => {
  const ns = namespace('gwe2e');
  const defs = SERVICE_DEFINITIONS;
  const running: RunningService[] = [];
  let mediaDir: string;
  let catalogPool: Pool;
  let gateway: RunningGateway;
  let url: string;

  beforeAll(async () => {
    mediaDir = await mkdtemp(join(tmpdir(), `${ns}-media-`));
    const config = testConfig({ mediaDir, rpcTimeoutMs: 5000, opsToken: 'ops-token-of-the-e2e-test' });
    running.push(...(await startAllServices(config, ns)));
    catalogPool = testPool(`${ns}_catalog`);
    await seedCatalog(catalogPool, mediaDir);

    gateway = await startGateway({ config: { ...config, port: 0 }, logger: silentLogger, namespace: ns });
    url = `http://127.0.0.1:${gateway.port}`;
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const service of running.reverse()) await service.stop();
    for (const def of defs) await dropSchema(catalogPool, `${ns}_${def.name}`);
    await catalogPool?.end();
    await cleanupBroker(ns);
    await rm(mediaDir, { recursive: true, force: true });
  });

  async function api<T = unknown>(
    path: string,
    opts: { method?: string; body?: unknown; token?: string } = {},
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${url}${path}`, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  it('is healthy', async () => {
    const health = await api<{ status: string; checks: Record<string, { ok: boolean }> }>('/health', {
      token: 'ops-token-of-the-e2e-test',
    });
    expect(health.body.checks).toMatchObject({
      broker: { ok: true },
      database: { ok: true },
      catalog: { ok: true },
      users: { ok: true },
      playlists: { ok: true },
      history: { ok: true },
      stats: { ok: true },
    });
    expect(health.status).toBe(200);
  });

  it('drives register -> login -> search -> stream -> play -> history -> stats', async () => {
    const username = `e2e_${Date.now()}`;
    const registered = await api('/api/users', {
      method: 'POST',
      body: { username, password: 'long enough pw' },
    });
    expect(registered.status).toBe(201);
    const again = await api('/api/users', { method: 'POST', body: { username, password: 'long enough pw' } });
    expect(again.status).toBe(409);

    const login = await api<{ token: string; user: { id: string } }>('/api/sessions', {
      method: 'POST',
      body: { username, password: 'long enough pw' },
    });
    expect(login.status).toBe(201);
    const { token, user } = login.body;
    expect((await api('/api/me', { token })).body).toMatchObject({ id: user.id, username });

    const found = await api<{ tracks: Track[] }>('/api/search?q=blue');
    expect(found.status).toBe(200);
    expect(found.body.tracks.length).toBeGreaterThan(0);
    const track = found.body.tracks[0]!;

    // Real audio: the streamed bytes are the seeded file's, and a range is exact.
    const full = await fetch(`${url}/api/tracks/${track.id}/stream`);
    expect(full.status).toBe(200);
    const bytes = Buffer.from(await full.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
    const ranged = await fetch(`${url}/api/tracks/${track.id}/stream`, { headers: { range: 'bytes=-100' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(bytes.length - 100))).toBe(true);

    const play = await api<{ id: string }>('/api/plays', {
      method: 'POST',
      token,
      body: { trackId: track.id, msPlayed: 1234 },
    });
    expect(play.status).toBe(202);

    const history = await eventually(async () => {
      const r = await api<Array<{ eventId: string; trackId: string; title: string | null }>>(
        '/api/me/history',
        {
          token,
        },
      );
      return r.body.length > 0 ? r.body : undefined;
    });
    expect(history![0]).toMatchObject({ eventId: play.body.id, trackId: track.id, title: track.title });

    const stats = await eventually(async () => {
      const r = await api<{ totalPlays: number; totalMs: number }>('/api/me/stats', { token });
      return r.body.totalPlays > 0 ? r.body : undefined;
    });
    expect(stats).toMatchObject({ totalPlays: 1, totalMs: 1234 });

    const top = await eventually(async () => {
      const r = await api<Array<Track & { plays: number }>>('/api/stats/top-tracks?window=hour');
      return r.body.find((t) => t.id === track.id);
    });
    expect(top!.plays).toBe(1);

    // The listening report, from the event log, with the catalog's names.
    const month = new Date().toISOString().slice(0, 7);
    const monthly = await eventually(async () => {
      const r = await api<{
        plays: number;
        topTracks: Array<{ title: string }>;
        topArtists: Array<{ name: string }>;
      }>(`/api/me/report?month=${month}`, { token });
      return r.body.plays > 0 ? r.body : undefined;
    });
    expect(monthly).toMatchObject({
      period: month,
      plays: 1,
      topTracks: [{ trackId: track.id, title: track.title, plays: 1 }],
      topArtists: [{ artistId: track.artistId, name: track.artistName, plays: 1 }],
    });
    const yearly = await api<{ period: string; plays: number }>('/api/me/report', { token });
    expect(yearly.body).toMatchObject({ period: String(new Date().getUTCFullYear()), plays: 1 });
    expect((await api('/api/me/report?month=2026-13', { token })).status).toBe(400);
    expect((await api('/api/me/report?year=2026&month=2026-01', { token })).status).toBe(400);
    expect((await api('/api/me/report')).status).toBe(401);

    // A private playlist with the track, visible to its owner only.
    const created = await api<{ id: string }>('/api/playlists', {
      method: 'POST',
      token,
      body: { name: 'Blue things', trackIds: [track.id] },
    });
    expect(created.status).toBe(201);
    expect((await api(`/api/playlists/${created.body.id}`, { token })).body).toMatchObject({ trackCount: 1 });
    const stranger = await api<{ token: string }>('/api/users', {
      method: 'POST',
      body: { username: `${username}_x`, password: 'long enough pw' },
    }).then(() =>
      api<{ token: string }>('/api/sessions', {
        method: 'POST',
        body: { username: `${username}_x`, password: 'long enough pw' },
      }),
    );
    expect((await api(`/api/playlists/${created.body.id}`, { token: stranger.body.token })).status).toBe(404);
    // Private: not found for anyone but its owner, logged in or not.
    expect((await api(`/api/playlists/${created.body.id}`)).status).toBe(404);
  });

  it('serves the same audio file the catalog seeded', async () => {
    const tracks = await api<{ items: Track[] }>('/api/tracks?limit=1');
    const track = tracks.body.items[0]!;
    const res = await fetch(`${url}/api/tracks/${track.id}/stream`);
    const served = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('content-type')).toBe(track.mimeType);
    expect(served.length).toBe(track.sizeBytes);
    const onDisk = await readFile(
      ((await gateway.rpc.call('catalog', 'getTrackFile', { id: track.id })) as { path: string }).path,
    );
    expect(served.equals(onDisk)).toBe(true);
  });

  it('has a queue for every declared subscription, each consumed, and no event queue nobody declared', async () => {
    const list = async () =>
      new Map(
        (await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name', 'consumers']))
          .split('\n')
          .map((line) => line.trim().split(/\s+/))
          .filter(([name]) => name?.startsWith(`${ns}.`))
          .map(([name, consumers]) => [name!.slice(ns.length + 1), Number(consumers)]),
      );
    const declared = SYSTEM.eventQueues.map((q) => eventQueue(q.group, q.event));
    const served = [...declared, ...[...SYSTEM.contracts.values()].map((c) => `rpc.${c.service}`)];
    // A consumer that a busy broker is re-attaching (a channel closed and reopened) shows as 0
    // for a moment; one that is really missing stays at 0.
    let queues = await list();
    await eventually(
      async () => {
        queues = await list();
        return served.every((q) => (queues.get(q) ?? 0) >= 1);
      },
      10_000,
      250,
    ).catch(() => {});
    expect(declared.length).toBeGreaterThan(0);
    for (const queue of declared) expect(queues.get(queue), queue).toBeGreaterThanOrEqual(1);
    const eventQueues = [...queues.keys()].filter(
      (q) => !q.startsWith('rpc.') && !q.endsWith('.dead') && !/\.retry\.\d+ms$/.test(q) && !isLogStream(q),
    );
    expect(eventQueues.sort()).toEqual([...declared].sort());
    // And every service's request queue is served.
    for (const contract of SYSTEM.contracts.values()) {
      expect(queues.get(`rpc.${contract.service}`), contract.service).toBeGreaterThanOrEqual(1);
    }
  });
});
