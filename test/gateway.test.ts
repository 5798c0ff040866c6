import type { Channel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { HEALTH_CACHE_MS } from '../gateway/health.js';
import { startGateway } from '../gateway/server.js';
import { SERVICE_NAMES } from '../scripts/services.js';
import { eventually, silentLogger, sleep, testConfig } from './support/env.js';
import { type GatewayHarness, type Reply, startTestGateway } from './support/gateway-harness.js';

let gw: GatewayHarness;
const OPS_TOKEN = 'ops-token-of-this-test-run';
const ops = { headers: { authorization: `Bearer ${OPS_TOKEN}` } };

beforeAll(async () => {
  // A short RPC timeout so "a service does not answer" tests are quick.
  gw = await startTestGateway({ rpcTimeoutMs: 400, config: { opsToken: OPS_TOKEN } });
});

afterAll(async () => {
  await gw?.close();
});

const errorOf = (r: Reply) => (r.body as { error: { code: number; message: string } }).error;

describe('users and sessions', () => {
  it('registers, logs in and answers the profile', async () => {
    const username = `ada${Date.now()}`;
    const created = await gw.request('/api/users', {
      method: 'POST',
      body: { username, password: 'password1' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username, displayName: username });

    const session = await gw.request('/api/sessions', {
      method: 'POST',
      body: { username, password: 'password1' },
    });
    expect(session.status).toBe(201);
    const { token, expiresAt, user } = session.body as {
      token: string;
      expiresAt: string;
      user: { id: string };
    };
    expect(token).toBeTruthy();
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());

    const me = await gw.request('/api/me', { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: user.id, username });

    const patched = await gw.request('/api/me', {
      method: 'PATCH',
      token,
      body: { displayName: 'Ada L.', bio: 'counts things' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ displayName: 'Ada L.', bio: 'counts things' });
  });

  it('answers 409 for a taken username and 400 naming the field for a bad one', async () => {
    const { user } = await gw.fakes.session();
    const taken = await gw.request('/api/users', {
      method: 'POST',
      body: { username: user.username, password: 'password1' },
    });
    expect(taken.status).toBe(409);
    expect(errorOf(taken).code).toBe(ErrorCodes.CONFLICT);

    const short = await gw.request('/api/users', {
      method: 'POST',
      body: { username: 'ab', password: 'password1' },
    });
    expect(short.status).toBe(400);
    expect(errorOf(short)).toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
    expect(errorOf(short).message).toMatch(/username/);
  });

  it('answers 401 for a wrong password, a missing token and a bad token', async () => {
    const { user } = await gw.fakes.session();
    const wrong = await gw.request('/api/sessions', {
      method: 'POST',
      body: { username: user.username, password: 'not-the-password' },
    });
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong).code).toBe(ErrorCodes.UNAUTHORIZED);

    expect((await gw.request('/api/me')).status).toBe(401);
    expect((await gw.request('/api/me', { method: 'PATCH', body: { bio: 'x' } })).status).toBe(401);
    const bad = await gw.request('/api/me', { token: 'no-such-token' });
    expect(bad.status).toBe(401);
    expect(errorOf(bad).code).toBe(ErrorCodes.UNAUTHORIZED);
    const scheme = await gw.request('/api/me', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(scheme.status).toBe(401);
    // A bad token is refused even on public routes: the client thinks it is logged in.
    expect((await gw.request('/api/genres', { token: 'no-such-token' })).status).toBe(401);
  });

  it('tells the users service who the client is, believing X-Forwarded-For only from TRUST_PROXY', async () => {
    await gw.fakes.session('proxied');
    const login = (url: string) =>
      fetch(`${url}/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
        body: JSON.stringify({ username: 'proxied', password: 'password1' }),
      });
    const since = gw.fakes.world.calls.length;
    expect((await login(gw.url)).status).toBe(201);
    const [direct] = gw.fakes.callsOf('users.login', since);
    // By default the header is anyone's to write: the socket's address counts.
    expect(direct?.clientAddress).toMatch(/127\.0\.0\.1$/);

    const behindProxy = await startGateway({
      config: testConfig({ port: 0, trustProxy: 'loopback' }),
      logger: silentLogger,
      namespace: gw.ns,
      drainMs: 500,
    });
    try {
      const from = gw.fakes.world.calls.length;
      expect((await login(`http://127.0.0.1:${behindProxy.port}`)).status).toBe(201);
      expect(gw.fakes.callsOf('users.login', from)[0]?.clientAddress).toBe('203.0.113.7');
    } finally {
      await behindProxy.stop();
    }
  });

  it('logs out: the session ends and this gateway stops trusting the token at once', async () => {
    const { token } = await gw.fakes.session();
    expect((await gw.request('/api/me', { token })).status).toBe(200);
    const out = await gw.request('/api/sessions', { method: 'DELETE', token });
    expect(out).toMatchObject({ status: 200, body: { revoked: 1 } });
    expect((await gw.request('/api/me', { token })).status).toBe(401);
    expect((await gw.request('/api/sessions', { method: 'DELETE' })).status).toBe(401);
    expect(
      (
        await gw.request('/api/sessions?all=maybe', {
          method: 'DELETE',
          token: (await gw.fakes.session()).token,
        })
      ).status,
    ).toBe(400);
  });

  it('verifies a token once and serves repeat requests from its cache', async () => {
    const { token, user } = await gw.fakes.session();
    const since = gw.fakes.world.calls.length;
    for (let i = 0; i < 3; i++) expect((await gw.request('/api/me', { token })).status).toBe(200);
    expect(gw.fakes.callsOf('users.verifyToken', since)).toHaveLength(1);
    // And the services were told who is calling.
    expect(gw.fakes.callsOf('users.me', since).map((c) => c.caller)).toEqual(
      Array(3).fill({
        userId: user.id,
        username: user.username,
        sessionId: expect.any(String),
        admin: expect.any(Boolean),
      }),
    );
  });
});

describe('catalog', () => {
  it('lists and fetches artists, albums, tracks and genres', async () => {
    const artists = await gw.request('/api/artists?limit=1&offset=1');
    expect(artists.status).toBe(200);
    expect(artists.body).toMatchObject({ total: 2, limit: 1, offset: 1, items: [{ id: 'ar2' }] });

    const artist = await gw.request('/api/artists/ar1');
    expect(artist.body).toMatchObject({ id: 'ar1', albums: [{ id: 'al1' }, { id: 'al2' }] });

    const albums = await gw.request('/api/albums?genre=ambient&sort=newest');
    expect(albums.body).toMatchObject({ total: 1, items: [{ id: 'al3' }] });
    const newest = await gw.request('/api/albums?sort=newest&limit=2');
    expect((newest.body as { items: Array<{ id: string }> }).items.map((a) => a.id)).toEqual(['al2', 'al3']);
    expect((await gw.request('/api/albums/al1')).body).toMatchObject({ id: 'al1', tracks: [{}, {}] });

    const tracks = await gw.request('/api/tracks?genre=jazz&limit=3');
    expect(tracks.body).toMatchObject({ total: 4, limit: 3, offset: 0 });
    expect((tracks.body as { items: unknown[] }).items).toHaveLength(3);
    expect((await gw.request('/api/tracks/t3')).body).toMatchObject({ id: 't3', title: 'Dusk' });

    const genres = await gw.request('/api/genres');
    expect(genres.body).toEqual([
      { name: 'Jazz', albumCount: 2, trackCount: 4 },
      { name: 'Ambient', albumCount: 1, trackCount: 2 },
    ]);
  });

  it('searches', async () => {
    const found = await gw.request(`/api/search?q=${encodeURIComponent(' blue ')}&limit=10`);
    expect(found.status).toBe(200);
    const body = found.body as { artists: unknown[]; albums: Array<{ id: string }>; tracks: unknown[] };
    expect(body.artists).toHaveLength(1);
    expect(body.albums.map((a) => a.id).sort()).toEqual(['al1', 'al2']);
    expect(gw.fakes.callsOf('catalog.search').at(-1)?.params).toEqual({ q: 'blue', limit: 10 });
    const night = await gw.request('/api/search?q=night');
    expect(night.body).toMatchObject({ artists: [], albums: [], tracks: [{ id: 't4', title: 'Night Bus' }] });
  });

  it('answers 404 for unknown ids', async () => {
    for (const path of ['/api/artists/nope', '/api/albums/nope', '/api/tracks/nope']) {
      const r = await gw.request(path);
      expect(r.status, path).toBe(404);
      expect(errorOf(r).code).toBe(ErrorCodes.NOT_FOUND);
    }
  });

  it('converts and checks query strings: bad paging, enums and missing q are 400', async () => {
    const bad = [
      '/api/tracks?limit=abc',
      '/api/tracks?limit=0',
      '/api/tracks?limit=501',
      '/api/tracks?limit=1.5',
      '/api/tracks?offset=-1',
      '/api/tracks?limit=1&limit=2',
      '/api/albums?sort=sideways',
      '/api/search',
      '/api/search?q=%20%20',
      '/api/search?q=x&limit=101',
      '/api/stats/top-tracks?window=week',
    ];
    for (const path of bad) {
      const r = await gw.request(path);
      expect(r.status, path).toBe(400);
      expect(errorOf(r).code, path).toBe(ErrorCodes.INVALID_PARAMS);
    }
    const since = gw.fakes.world.calls.length;
    expect((await gw.request('/api/tracks?limit=2&offset=1')).body).toMatchObject({ limit: 2, offset: 1 });
    expect(gw.fakes.callsOf('catalog.listTracks', since)[0]?.params).toEqual({ limit: 2, offset: 1 });
  });
});

describe('plays', () => {
  let ch: Channel;
  const queue = () => `${gw.ns}.history.track-played`;

  beforeAll(async () => {
    ch = await gw.gateway.broker.channel();
  });

  afterAll(async () => {
    await ch.close().catch(() => {});
  });

  type Envelope = { id: string; type: string; data: unknown };

  /** Reads the namespace's history queue until the event with `id` shows up; every event read on the way. */
  async function eventsUntil(id: string) {
    const seen: Envelope[] = [];
    const found = await eventually(async () => {
      for (;;) {
        const msg = await ch.get(queue(), { noAck: true });
        if (!msg) return undefined;
        const envelope = JSON.parse(msg.content.toString()) as Envelope;
        seen.push(envelope);
        if (envelope.id === id) return { envelope, headers: msg.properties.headers ?? {} };
      }
    }, 5000);
    return { ...found!, seen };
  }

  const awaitEvent = async (id: string) => {
    const { envelope, headers } = await eventsUntil(id);
    return { envelope, headers };
  };

  it('publishes track.played and answers 202 with the event id once confirmed', async () => {
    const { token, user } = await gw.fakes.session();
    const r = await gw.request('/api/plays', {
      method: 'POST',
      token,
      body: { trackId: 't1', msPlayed: 750, source: 'test' },
      headers: { 'x-request-id': '00000011-0000-4000-8000-000000000000' },
    });
    expect(r.status).toBe(202);
    const { id } = r.body as { id: string };
    const { envelope, headers } = await awaitEvent(id);
    expect(envelope.type).toBe('track.played');
    expect(envelope.data).toMatchObject({ userId: user.id, trackId: 't1', msPlayed: 750, source: 'test' });
    expect(headers['x-trace-id']).toBe('00000011-0000-4000-8000-000000000000');
  });

  it('maps a retried client play id to one event id, distinct per user', async () => {
    const a = await gw.fakes.session();
    const b = await gw.fakes.session();
    const playId = '4a7c2f0e-9b1d-4c3e-8f6a-0d2b5e7a9c11';
    const post = (token: string) =>
      gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't1', playId } });
    const first = (await post(a.token)).body as { id: string };
    const retry = (await post(a.token)).body as { id: string };
    const other = (await post(b.token)).body as { id: string };
    expect(retry.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await awaitEvent(first.id);
    const bad = await gw.request('/api/plays', {
      method: 'POST',
      token: a.token,
      body: { trackId: 't1', playId: 'x' },
    });
    expect(bad.status).toBe(400);
  });

  it('fills in defaults: now, the whole track, source api', async () => {
    const { token } = await gw.fakes.session();
    const before = Date.now();
    const r = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't3' } });
    expect(r.status).toBe(202);
    const { envelope } = await awaitEvent((r.body as { id: string }).id);
    const data = envelope.data as { playedAt: string; msPlayed: number; source: string };
    expect(data.msPlayed).toBe(240_250);
    expect(data.source).toBe('api');
    expect(Date.parse(data.playedAt)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('needs a login, a known track and a valid body', async () => {
    const { token } = await gw.fakes.session();
    expect((await gw.request('/api/plays', { method: 'POST', body: { trackId: 't1' } })).status).toBe(401);
    const unknown = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 'nope' } });
    expect(unknown.status).toBe(404);
    for (const body of [
      {},
      { trackId: 't1', msPlayed: -1 },
      { trackId: 't1', msPlayed: 'long' },
      { trackId: 't1', playedAt: 'yesterday' },
      { trackId: 't1', playedAt: new Date(Date.now() + 3600_000).toISOString() },
      { trackId: 't1', extra: true },
    ]) {
      const r = await gw.request('/api/plays', { method: 'POST', token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('needs no catalog call for a track it has seen', async () => {
    const { token } = await gw.fakes.session();
    expect((await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't1' } })).status).toBe(
      202,
    );
    await gw.fakes.stop('catalog');
    try {
      const r = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't1' } });
      expect(r.status).toBe(202);
      await awaitEvent((r.body as { id: string }).id);
    } finally {
      await gw.fakes.start('catalog');
    }
  });

  it('takes a batch of plays in one request and answers their ids in order', async () => {
    const { token, user } = await gw.fakes.session();
    const playedAt = new Date(Date.now() - 3600_000).toISOString();
    const plays = [
      { trackId: 't1', msPlayed: 1000, playedAt, playId: '0f5c7d3e-1a2b-4c3d-8e4f-5a6b7c8d9e01' },
      { trackId: 't3' },
      { trackId: 't1', msPlayed: 3000, source: 'offline' },
    ];
    const r = await gw.request('/api/plays/batch', { method: 'POST', token, body: { plays } });
    expect(r.status).toBe(202);
    const { ids } = r.body as { ids: string[] };
    expect(ids).toHaveLength(3);
    const { seen } = await eventsUntil(ids[2]!);
    const mine = seen.filter((e) => (e.data as { userId: string }).userId === user.id);
    expect(mine.map((e) => e.id)).toEqual(ids);
    expect(mine.map((e) => e.data)).toMatchObject([
      { trackId: 't1', msPlayed: 1000, playedAt, source: 'api' },
      { trackId: 't3', msPlayed: 240_250 },
      { trackId: 't1', msPlayed: 3000, source: 'offline' },
    ]);
    // A retried batch keeps the ids of the plays that carry a play id.
    const again = await gw.request('/api/plays/batch', {
      method: 'POST',
      token,
      body: { plays: [plays[0]] },
    });
    expect((again.body as { ids: string[] }).ids).toEqual([ids[0]]);
    // The single route gives a play id the same event id.
    const single = await gw.request('/api/plays', { method: 'POST', token, body: plays[0] });
    expect((single.body as { id: string }).id).toBe(ids[0]);
  });

  it('refuses a whole batch naming an unknown track, or a bad or oversized one', async () => {
    const { token, user } = await gw.fakes.session();
    const post = (body: unknown) => gw.request('/api/plays/batch', { method: 'POST', token, body });
    const unknown = await post({ plays: [{ trackId: 't1' }, { trackId: 'nope' }, { trackId: 'gone' }] });
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).message).toBe('no track nope, gone');
    for (const body of [
      {},
      { plays: [] },
      { plays: [{ trackId: 't1' }, { trackId: 't1', msPlayed: -1 }] },
      { plays: Array.from({ length: 501 }, () => ({ trackId: 't1' })) },
      { plays: [{ trackId: 't1' }], extra: 1 },
    ]) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    const anonymous = { method: 'POST', body: { plays: [{ trackId: 't1' }] } } as const;
    expect((await gw.request('/api/plays/batch', anonymous)).status).toBe(401);
    // Nothing of the refused batches was published: the next event of this user is the good one.
    const good = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't2' } });
    const { seen } = await eventsUntil((good.body as { id: string }).id);
    const mine = seen.filter((e) => (e.data as { userId: string }).userId === user.id);
    expect(mine.map((e) => (e.data as { trackId: string }).trackId)).toEqual(['t2']);
  });

  it('looks a new track up once for a burst of plays of it', async () => {
    const { token } = await gw.fakes.session();
    const since = gw.fakes.world.calls.length;
    const burst = await Promise.all(
      Array.from({ length: 10 }, () =>
        gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't6' } }),
      ),
    );
    expect(burst.map((r) => r.status)).toEqual(Array(10).fill(202));
    const lookups = [
      ...gw.fakes.callsOf('catalog.getTracks', since),
      ...gw.fakes.callsOf('catalog.getTrack', since),
    ];
    expect(lookups.map((c) => c.params)).toEqual([{ ids: ['t6'], withRemoved: true }]);
  });

  it('answers 503 with Retry-After when the broker cannot confirm', async () => {
    const { token } = await gw.fakes.session();
    await gw.gateway.publisher.stop();
    try {
      const r = await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't1' } });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(errorOf(r).code).toBe(ErrorCodes.UNAVAILABLE);
    } finally {
      await gw.gateway.publisher.start();
    }
  });
});

describe('history and statistics', () => {
  it('answers the caller history and stats, top tracks and the overview', async () => {
    const { token, user } = await gw.fakes.session();
    const other = await gw.fakes.session();
    const at = (m: number) => new Date(Date.UTC(2024, 0, 1, 0, m)).toISOString();
    gw.fakes.world.plays.push(
      { userId: user.id, trackId: 't1', playedAt: at(1), msPlayed: 500 },
      { userId: user.id, trackId: 't3', playedAt: at(2), msPlayed: 700 },
      { userId: user.id, trackId: 't3', playedAt: at(3), msPlayed: 900 },
      { userId: other.user.id, trackId: 't2', playedAt: at(4), msPlayed: 100 },
    );

    const history = await gw.request('/api/me/history?limit=2', { token });
    expect(history.status).toBe(200);
    expect(history.body).toMatchObject([
      { trackId: 't3', playedAt: at(3), title: 'Dusk' },
      { trackId: 't3', playedAt: at(2) },
    ]);

    const stats = await gw.request('/api/me/stats', { token });
    expect(stats.body).toMatchObject({
      userId: user.id,
      totalPlays: 3,
      totalMs: 2100,
      distinctTracks: 2,
      topTracks: [{ trackId: 't3', plays: 2 }, { trackId: 't1' }],
    });

    const top = await gw.request('/api/stats/top-tracks?window=day&limit=1');
    expect(top.status).toBe(200);
    expect(top.body).toEqual([expect.objectContaining({ id: 't3', title: 'Dusk', plays: 2 })]);

    const overview = await gw.request('/api/stats/overview');
    expect(overview.status).toBe(200);
    expect(overview.body).toMatchObject({
      totalPlays: expect.any(Number),
      registeredUsers: expect.any(Number),
    });

    expect((await gw.request('/api/me/history')).status).toBe(401);
    expect((await gw.request('/api/me/stats')).status).toBe(401);
    expect((await gw.request('/api/me/history?limit=0', { token })).status).toBe(400);
  });
});

describe('playlists', () => {
  it('creates, reads, changes and deletes a playlist', async () => {
    const { token, user } = await gw.fakes.session();
    const created = await gw.request('/api/playlists', {
      method: 'POST',
      token,
      body: { name: 'Morning', trackIds: ['t1', 't2'] },
    });
    expect(created.status).toBe(201);
    const { id } = created.body as { id: string };
    expect(created.body).toMatchObject({ name: 'Morning', public: false, ownerId: user.id, trackCount: 2 });

    expect((await gw.request(`/api/playlists/${id}`, { token })).body).toMatchObject({ id, trackCount: 2 });
    expect((await gw.request('/api/playlists', { token })).body).toEqual([expect.objectContaining({ id })]);

    const patched = await gw.request(`/api/playlists/${id}`, {
      method: 'PATCH',
      token,
      body: { name: 'Evening', public: true },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, name: 'Evening', public: true });

    const added = await gw.request(`/api/playlists/${id}/tracks`, {
      method: 'POST',
      token,
      body: { trackIds: ['t3'], position: 0 },
    });
    expect(added.status).toBe(200);
    const order = (r: Reply) =>
      (r.body as { tracks: Array<{ track: { id: string } }> }).tracks.map((e) => e.track.id);
    expect(order(added)).toEqual(['t3', 't1', 't2']);

    const moved = await gw.request(`/api/playlists/${id}/tracks/move`, {
      method: 'POST',
      token,
      body: { from: 0, to: 2 },
    });
    expect(order(moved)).toEqual(['t1', 't2', 't3']);

    const removed = await gw.request(`/api/playlists/${id}/tracks/1`, { method: 'DELETE', token });
    expect(order(removed)).toEqual(['t1', 't3']);
    // A position is bounded by the playlist maximum before any call.
    const since = gw.fakes.world.calls.length;
    const far = await gw.request(`/api/playlists/${id}/tracks/10001`, { method: 'DELETE', token });
    expect(far.status).toBe(400);
    expect(far.body).toMatchObject({ error: { message: 'position must be an integer from 0 to 10000' } });
    expect(gw.fakes.callsOf('playlists.removeTrack', since)).toHaveLength(0);

    const deleted = await gw.request(`/api/playlists/${id}`, { method: 'DELETE', token });
    expect(deleted.status).toBe(200);
    expect((await gw.request(`/api/playlists/${id}`, { token })).status).toBe(404);
  });

  it('shows public playlists of an owner to anyone and keeps private ones private', async () => {
    const owner = await gw.fakes.session();
    const other = await gw.fakes.session();
    const make = async (name: string, isPublic: boolean) =>
      (
        (
          await gw.request('/api/playlists', {
            method: 'POST',
            token: owner.token,
            body: { name, public: isPublic },
          })
        ).body as { id: string }
      ).id;
    const open = await make('Open', true);
    const secret = await make('Secret', false);

    const listed = await gw.request(`/api/playlists?ownerId=${owner.user.id}`);
    expect(listed.status).toBe(200);
    expect((listed.body as Array<{ id: string }>).map((p) => p.id)).toEqual([open]);
    expect((await gw.request(`/api/playlists/${open}`)).status).toBe(200);
    expect((await gw.request(`/api/playlists/${secret}`, { token: other.token })).status).toBe(404);

    const stolen = await gw.request(`/api/playlists/${open}`, {
      method: 'PATCH',
      token: other.token,
      body: { name: 'Mine now' },
    });
    expect(stolen.status).toBe(403);
    expect(errorOf(stolen).code).toBe(ErrorCodes.FORBIDDEN);
  });

  it('refuses changes without a login and bad input with 400', async () => {
    const { token } = await gw.fakes.session();
    expect((await gw.request('/api/playlists')).status).toBe(401);
    expect((await gw.request('/api/playlists', { method: 'POST', body: { name: 'x' } })).status).toBe(401);
    expect((await gw.request('/api/playlists/p1', { method: 'DELETE' })).status).toBe(401);
    expect((await gw.request('/api/playlists/p1/tracks/0', { method: 'DELETE' })).status).toBe(401);

    const created = await gw.request('/api/playlists', { method: 'POST', token, body: { name: 'Box' } });
    const { id } = created.body as { id: string };
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/api/playlists', { name: '' }],
      ['POST', '/api/playlists', { name: 'x', public: 'yes' }],
      ['PATCH', `/api/playlists/${id}`, {}],
      ['PATCH', `/api/playlists/${id}`, { name: '   ' }],
      ['POST', `/api/playlists/${id}/tracks`, { trackIds: [] }],
      ['POST', `/api/playlists/${id}/tracks/move`, { from: -1, to: 0 }],
      ['DELETE', `/api/playlists/${id}/tracks/first`, undefined],
    ];
    for (const [method, path, body] of cases) {
      const r = await gw.request(path, { method, token, body });
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
    }
    // A valid name with an invalid visibility changes nothing.
    await gw.request(`/api/playlists/${id}`, { method: 'PATCH', token, body: { name: 'New', public: 1 } });
    expect((await gw.request(`/api/playlists/${id}`, { token })).body).toMatchObject({ name: 'Box' });
    // A position past the end is the service's call.
    const past = await gw.request(`/api/playlists/${id}/tracks/5`, { method: 'DELETE', token });
    expect(past.status).toBe(400);
    expect(errorOf(past).code).toBe(ErrorCodes.INVALID_INPUT);
  });
});

describe('request handling', () => {
  it('answers 400 for malformed JSON, invalid UTF-8 and non-object bodies, 413 for a huge one', async () => {
    const broken = await gw.request('/api/users', { method: 'POST', body: '{"username": "x",' });
    expect(broken.status).toBe(400);
    expect(errorOf(broken).code).toBe(ErrorCodes.PARSE_ERROR);

    const latin1 = Buffer.concat([Buffer.from('{"username":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const notUtf8 = await gw.request('/api/users', { method: 'POST', body: latin1 });
    expect(notUtf8.status).toBe(400);
    expect(errorOf(notUtf8).message).toMatch(/UTF-8/);

    expect((await gw.request('/api/users', { method: 'POST', body: '[1,2]' })).status).toBe(400);
    expect((await gw.request('/api/users', { method: 'POST' })).status).toBe(400);

    const huge = await gw.request('/api/users', {
      method: 'POST',
      body: { username: 'x', password: 'y'.repeat(1_100_000) },
    });
    expect(huge.status).toBe(413);
    expect(errorOf(huge).code).toBe(ErrorCodes.INVALID_REQUEST);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await gw.request('/api/nothing/here');
    expect(r.status).toBe(404);
    expect(errorOf(r).code).toBe(ErrorCodes.NOT_FOUND);
  });

  it('answers 503 with Retry-After when a service does not answer in time', async () => {
    await gw.fakes.stop('catalog');
    try {
      const started = Date.now();
      const r = await gw.request('/api/tracks/t1');
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(errorOf(r).code).toBe(ErrorCodes.TIMEOUT);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await gw.fakes.start('catalog');
    }
  });

  it('round-trips the trace id and carries it to the services', async () => {
    const given = await gw.request('/api/tracks/t1', {
      headers: { 'x-request-id': '00000042-0000-4000-8000-000000000000' },
    });
    expect(given.headers.get('x-request-id')).toBe('00000042-0000-4000-8000-000000000000');
    expect(
      gw.fakes.world.calls
        .filter((c) => c.traceId === '00000042-0000-4000-8000-000000000000')
        .map((c) => c.method),
    ).toEqual(['catalog.getTrack']);

    // Only ids the gateway could have made are kept: anything else, however harmless, gets a new one.
    for (const unsafe of [
      'has spaces',
      'x'.repeat(65),
      'semi;colon',
      'req-42.abc',
      '00000042-0000-4000-8000-00000000000G',
      'AAAAAAAA-0000-4000-8000-000000000000',
    ]) {
      const r = await gw.request('/api/genres', { headers: { 'x-request-id': unsafe } });
      expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.headers.get('x-request-id')).not.toBe(unsafe);
    }
    const fresh = await gw.request('/api/genres');
    const id = fresh.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(gw.fakes.world.calls.some((c) => c.traceId === id && c.method === 'catalog.listGenres')).toBe(
      true,
    );
    // Error answers carry it too.
    expect(
      (
        await gw.request('/api/nothing', {
          headers: { 'x-request-id': '000000e1-0000-4000-8000-000000000000' },
        })
      ).headers.get('x-request-id'),
    ).toBe('000000e1-0000-4000-8000-000000000000');
  });
});

describe('report periods', () => {
  it('refuses periods that have not begun, or are no dates at all, with 400', async () => {
    const { token } = await gw.fakes.session();
    const next = new Date().getUTCFullYear() + 1;
    for (const query of ['year=9999', `year=${next}`, 'month=9999-12', `month=${next}-06`, 'month=1969-12']) {
      const r = await gw.request(`/api/me/report?${query}`, { token });
      expect(r.status, `${query}: ${r.text}`).toBe(400);
    }
    const rpc = await gw.request('/rpc', {
      method: 'POST',
      token,
      body: { jsonrpc: '2.0', id: 1, method: 'stats.report', params: { year: 9999 } },
    });
    expect(rpc.body).toMatchObject({ error: { code: ErrorCodes.INVALID_PARAMS } });
  });
});

describe('health and metrics', () => {
  afterEach(async () => {
    await gw.fakes.start();
  });

  it('answers its plain status to anyone, at most one round of checks a second', async () => {
    await sleep(HEALTH_CACHE_MS);
    const before = gw.fakes.world.calls.filter((c) => c.method === 'catalog.listGenres').length;
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => gw.request('/health')));
    const elapsed = performance.now() - started;
    for (const r of answers) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok' });
    }
    const probes = gw.fakes.world.calls.filter((c) => c.method === 'catalog.listGenres').length - before;
    // One round per HEALTH_CACHE_MS, however long a busy machine takes to send the 50.
    expect(probes).toBeGreaterThanOrEqual(1);
    expect(probes).toBeLessThanOrEqual(1 + Math.floor(elapsed / HEALTH_CACHE_MS));
    // The checks and the metrics are the operator's: refused without the token, or a wrong one.
    expect((await gw.request('/metrics')).status).toBe(401);
    expect((await gw.request('/metrics', { token: 'not-the-ops-token' })).status).toBe(401);
    expect((await gw.request('/health', { token: 'not-the-ops-token' })).body).toEqual({ status: 'ok' });
  });

  it('reports every check with its latency, 200 when all are up', async () => {
    const r = await gw.request('/health', ops);
    expect(r.status).toBe(200);
    const body = r.body as { status: string; checks: Record<string, { ok: boolean; ms: number }> };
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual(['broker', 'database', ...SERVICE_NAMES].sort());
    for (const [name, check] of Object.entries(body.checks)) {
      expect(check.ok, name).toBe(true);
      expect(check.ms, name).toBeGreaterThanOrEqual(0);
    }
  });

  it('answers 503 naming the service that does not answer', async () => {
    await gw.fakes.stop('stats');
    await sleep(HEALTH_CACHE_MS);
    const r = await gw.request('/health', ops);
    expect(r.status).toBe(503);
    const body = r.body as { status: string; checks: Record<string, { ok: boolean; error?: string }> };
    expect(body.status).toBe('failing');
    expect(body.checks.stats).toMatchObject({ ok: false, error: expect.stringMatching(/stats/) });
    expect(body.checks.catalog?.ok).toBe(true);
  });

  it('exposes Prometheus metrics by route pattern, RPC method and event type', async () => {
    const { token } = await gw.fakes.session();
    await gw.request('/api/tracks/t2');
    await gw.request('/api/tracks/nope');
    await gw.request('/api/plays', { method: 'POST', token, body: { trackId: 't2' } });
    const r = await gw.request('/metrics', ops);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    const text = r.text;
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/api\/tracks\/:id",status="200"\} \d+/);
    expect(text).toMatch(/http_requests_total\{method="GET",route="\/api\/tracks\/:id",status="404"\} \d+/);
    expect(text).toMatch(
      /http_request_duration_seconds_bucket\{le="[\d.]+",method="POST",route="\/api\/plays"/,
    );
    expect(text).not.toMatch(/route="\/api\/tracks\/t2"/);
    expect(text).toMatch(/rpc_call_duration_seconds_count\{method="catalog.getTrack",outcome="ok"\} \d+/);
    expect(text).toMatch(/rpc_call_duration_seconds_count\{method="catalog.getTrack",outcome="error"\} \d+/);
    expect(text).toMatch(/events_published_total\{type="track.played"\} [1-9]\d*/);
    expect(text).toMatch(/process_cpu_user_seconds_total/);
  });
});
