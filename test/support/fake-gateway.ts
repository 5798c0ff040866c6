/**
 * A small stand-in for the gateway's REST API, for testing the terminal client without the
 * services: the routes the client uses, with in-memory data, the same error shape
 * ({error:{code,message}}) and a log of every request the client sent.
 */
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Album, Artist, Play, PlaylistDetail, Track, User } from '../../common/contracts/index.js';

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: unknown;
  authorization: string | undefined;
}

export interface FakeGateway {
  url: string;
  requests: Recorded[];
  plays: Array<{ username: string; trackId: string; msPlayed: number }>;
  /** Bytes served by the stream route (the same for every track). */
  audio: Buffer;
  /** How many of the next play reports get a 503, as a gateway whose broker is down would answer. */
  unavailablePlays: number;
  /** How many of the next play reports get a 429, as for an account over its plays per hour. */
  limitedPlays: number;
  close(): Promise<void>;
}

const artists: Artist[] = [
  { id: 'ar1', name: 'Blue Lanterns', albumCount: 1 },
  { id: 'ar2', name: 'Quiet Harbour', albumCount: 1 },
];

function album(id: string, title: string, artist: Artist, genre: string): Album {
  return {
    id,
    title,
    artistId: artist.id,
    artistName: artist.name,
    year: 2021,
    genre,
    coverColor: '#336699',
    trackCount: 0,
    durationMs: 0,
    createdAt: '2024-01-01T00:00:00.000Z',
  };
}

const albums = [
  album('al1', 'Blue Hours', artists[0]!, 'jazz'),
  album('al2', 'Low Tide', artists[1]!, 'ambient'),
];

function track(id: string, title: string, al: Album, number: number, durationMs: number): Track {
  return {
    id,
    title,
    albumId: al.id,
    albumTitle: al.title,
    artistId: al.artistId,
    artistName: al.artistName,
    number,
    durationMs,
    genre: al.genre,
    year: al.year,
    mimeType: 'audio/wav',
    sizeBytes: 4096,
  };
}

export const FAKE_TRACKS: Track[] = [
  track('tr1', 'Blue in Green Light', albums[0]!, 1, 180_000),
  track('tr2', 'Cobalt Morning', albums[0]!, 2, 95_000),
  track('tr3', 'Harbour Lights at Dusk, Extended Version With a Very Long Title', albums[1]!, 1, 3_725_000),
];
for (const al of albums) {
  const mine = FAKE_TRACKS.filter((t) => t.albumId === al.id);
  al.trackCount = mine.length;
  al.durationMs = mine.reduce((sum, t) => sum + t.durationMs, 0);
}

const fail = (res: Response, status: number, code: string, message: string) =>
  res.status(status).json({ error: { code, message } });

export async function startFakeGateway(): Promise<FakeGateway> {
  const requests: Recorded[] = [];
  const audio = Buffer.alloc(64 * 1024, 7);
  const plays: FakeGateway['plays'] = [];
  const fake: FakeGateway = {
    url: '',
    requests,
    plays,
    audio,
    unavailablePlays: 0,
    limitedPlays: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const history: Array<Play & { username: string }> = [];
  const users = new Map<string, { user: User; password: string }>([
    [
      'demo',
      {
        password: 'demo1234',
        user: {
          id: 'u1',
          username: 'demo',
          displayName: 'Demo',
          bio: '',
          createdAt: '2024-01-01T00:00:00.000Z',
        },
      },
    ],
  ]);
  const playlists = new Map<string, PlaylistDetail>();
  let nextPlaylist = 1;

  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    requests.push({
      method: req.method,
      path: req.path,
      query: { ...req.query },
      body: req.body,
      authorization: req.headers.authorization,
    });
    next();
  });

  const caller = (req: Request) => {
    const m = /^Bearer tok-(.+)$/.exec(req.headers.authorization ?? '');
    return m ? users.get(m[1]!)?.user : undefined;
  };
  const auth = (req: Request, res: Response, next: NextFunction) => {
    if (!caller(req)) return fail(res, 401, 'UNAUTHORIZED', 'authentication required');
    next();
  };
  const findTrack = (id: string) => FAKE_TRACKS.find((t) => t.id === id);
  const ownPlaylist = (req: Request, res: Response): PlaylistDetail | undefined => {
    const p = playlists.get(String(req.params.id));
    if (!p || p.ownerId !== caller(req)!.id) {
      fail(res, 404, 'NOT_FOUND', `playlist ${req.params.id} not found`);
      return undefined;
    }
    return p;
  };
  const renumber = (p: PlaylistDetail) => {
    p.tracks.forEach((e, i) => {
      e.position = i;
    });
    p.trackCount = p.tracks.length;
    p.durationMs = p.tracks.reduce((s, e) => s + e.track.durationMs, 0);
    return p;
  };

  app.post('/api/users', (req, res) => {
    const { username, password } = req.body ?? {};
    if (typeof username !== 'string' || typeof password !== 'string') {
      return fail(res, 400, 'INVALID_PARAMS', 'username and password are required');
    }
    if (password.length < 8) return fail(res, 422, 'INVALID_INPUT', 'password must be at least 8 characters');
    if (users.has(username)) return fail(res, 409, 'CONFLICT', `username ${username} is taken`);
    const user: User = {
      id: `u${users.size + 1}`,
      username,
      displayName: username,
      bio: '',
      createdAt: new Date().toISOString(),
    };
    users.set(username, { user, password });
    res.status(201).json(user);
  });
  app.post('/api/sessions', (req, res) => {
    const found = users.get(req.body?.username);
    if (!found || found.password !== req.body?.password) {
      return fail(res, 401, 'UNAUTHORIZED', 'invalid username or password');
    }
    res.status(201).json({
      token: `tok-${found.user.username}`,
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      user: found.user,
    });
  });
  app.delete('/api/sessions', auth, (_req, res) => {
    res.json({ revoked: 1 });
  });
  app.get('/api/me', auth, (req, res) => {
    res.json(caller(req));
  });
  app.get('/api/me/stats', auth, (req, res) => {
    const mine = plays.filter((p) => p.username === caller(req)!.username);
    res.json({
      userId: caller(req)!.id,
      totalPlays: mine.length,
      totalMs: mine.reduce((s, p) => s + p.msPlayed, 0),
      distinctTracks: new Set(mine.map((p) => p.trackId)).size,
      topTracks: [],
      lastPlayedAt: history.at(-1)?.playedAt ?? null,
    });
  });
  app.get('/api/me/report', auth, (req, res) => {
    const period = String(req.query.month ?? req.query.year ?? '');
    res.json({
      userId: caller(req)!.id,
      period,
      from: `${period}-01`.slice(0, 10),
      to: `${period}-28`.slice(0, 10),
      timeZone: 'UTC',
      plays: 12,
      minutes: 47,
      distinctTracks: 3,
      distinctArtists: 2,
      topTracks: [
        { trackId: 'tr1', title: 'Blue Hour', artistName: 'Ana Ray', plays: 8, minutes: 30 },
        { trackId: 'tr2', title: 'Low Tide', artistName: 'Ana Ray', plays: 4, minutes: 17 },
      ],
      topArtists: [{ artistId: 'ar1', name: 'Ana Ray', plays: 12, minutes: 47 }],
      topAlbums: [{ albumId: 'al1', title: 'Tides', artistName: 'Ana Ray', plays: 12, minutes: 47 }],
      topGenres: [{ genre: 'Jazz', plays: 12, minutes: 47 }],
      busiestWeekday: { weekday: 'Sunday', plays: 5 },
      busiestHour: { hour: 21, plays: 4 },
      longestStreak: { days: 3, from: '2026-02-01', to: '2026-02-03' },
      months: [{ month: '2026-02', plays: 12, minutes: 47 }],
    });
  });
  app.get('/api/me/history', auth, (req, res) => {
    res.json(
      history
        .filter((p) => p.username === caller(req)!.username)
        .map(({ username: _u, ...play }) => play)
        .reverse(),
    );
  });

  app.get('/api/artists', (_req, res) => {
    res.json({ items: artists, total: artists.length, limit: 500, offset: 0 });
  });
  app.get('/api/artists/:id', (req, res) => {
    const a = artists.find((x) => x.id === req.params.id);
    if (!a) return fail(res, 404, 'NOT_FOUND', `artist ${req.params.id} not found`);
    res.json({ ...a, albums: albums.filter((al) => al.artistId === a.id) });
  });
  app.get('/api/albums/:id', (req, res) => {
    const al = albums.find((x) => x.id === req.params.id);
    if (!al) return fail(res, 404, 'NOT_FOUND', `album ${req.params.id} not found`);
    res.json({ ...al, tracks: FAKE_TRACKS.filter((t) => t.albumId === al.id) });
  });
  app.get('/api/tracks', (req, res) => {
    const genre = req.query.genre as string | undefined;
    const all = FAKE_TRACKS.filter((t) => !genre || t.genre === genre);
    const limit = Number(req.query.limit ?? 50);
    const offset = Number(req.query.offset ?? 0);
    res.json({ items: all.slice(offset, offset + limit), total: all.length, limit, offset });
  });
  app.get('/api/tracks/:id', (req, res) => {
    const t = findTrack(req.params.id);
    if (!t) return fail(res, 404, 'NOT_FOUND', `track ${req.params.id} not found`);
    res.json(t);
  });
  app.get('/api/tracks/:id/stream', (req, res) => {
    if (!findTrack(req.params.id)) return fail(res, 404, 'NOT_FOUND', `track ${req.params.id} not found`);
    res.type('audio/wav').send(audio);
  });
  app.get('/api/search', (req, res) => {
    const q = String(req.query.q ?? '')
      .trim()
      .toLowerCase();
    if (!q) return fail(res, 400, 'INVALID_PARAMS', 'q must not be empty');
    const words = q.split(/\s+/);
    const hit = (s: string) => words.every((w) => s.toLowerCase().includes(w));
    res.json({
      artists: artists.filter((a) => hit(a.name)),
      albums: albums.filter((a) => hit(`${a.title} ${a.artistName}`)),
      tracks: FAKE_TRACKS.filter((t) => hit(`${t.title} ${t.artistName} ${t.albumTitle}`)),
    });
  });
  const seenPlayIds = new Set<string>();
  type PlayBody = { trackId?: unknown; msPlayed?: unknown; playedAt?: unknown; playId?: unknown };
  /** Checks plays as the gateway does: all of them first, then records each once per playId. */
  const takePlays = (req: Request, res: Response, bodies: PlayBody[]): string[] | undefined => {
    if (fake.limitedPlays > 0) {
      fake.limitedPlays--;
      res.set('retry-after', '60');
      fail(res, 429, 'RATE_LIMITED', 'this account has posted more plays than anyone listens to');
      return undefined;
    }
    if (fake.unavailablePlays > 0) {
      fake.unavailablePlays--;
      res.set('retry-after', '1');
      fail(res, 503, 'UNAVAILABLE', 'the broker did not confirm the play');
      return undefined;
    }
    const unknown = bodies.filter((b) => !findTrack(b.trackId as string)).map((b) => String(b.trackId));
    if (unknown.length > 0) {
      fail(res, 404, 'NOT_FOUND', `no track ${unknown.join(', ')}`);
      return undefined;
    }
    if (bodies.some((b) => !Number.isInteger(b.msPlayed) || (b.msPlayed as number) < 0)) {
      fail(res, 400, 'INVALID_PARAMS', 'msPlayed must be a whole number of ms');
      return undefined;
    }
    const username = caller(req)!.username;
    return bodies.map(({ trackId, msPlayed, playedAt, playId }, i) => {
      const id = typeof playId === 'string' ? playId : `e${history.length + i + 1}`;
      // A retried play (same playId) counts once, as the real system does.
      if (seenPlayIds.has(id)) return id;
      seenPlayIds.add(id);
      const t = findTrack(trackId as string)!;
      plays.push({ username, trackId: t.id, msPlayed: msPlayed as number });
      history.push({
        username,
        eventId: id,
        trackId: t.id,
        title: t.title,
        artistName: t.artistName,
        albumTitle: t.albumTitle,
        playedAt: typeof playedAt === 'string' ? playedAt : new Date().toISOString(),
        msPlayed: msPlayed as number,
        source: 'api',
      });
      return id;
    });
  };
  app.post('/api/plays', auth, (req, res) => {
    const ids = takePlays(req, res, [req.body ?? {}]);
    if (ids) res.status(202).json({ id: ids[0] });
  });
  app.post('/api/plays/batch', auth, (req, res) => {
    const bodies = req.body?.plays;
    if (!Array.isArray(bodies) || bodies.length === 0 || bodies.length > 500) {
      return fail(res, 400, 'INVALID_PARAMS', 'plays must be a list of 1 to 500 plays');
    }
    const ids = takePlays(req, res, bodies);
    if (ids) res.status(202).json({ ids });
  });
  app.get('/api/stats/top-tracks', (req, res) => {
    const window = req.query.window ?? 'all';
    if (!['hour', 'day', 'all'].includes(String(window))) {
      return fail(res, 400, 'INVALID_PARAMS', 'window must be hour, day or all');
    }
    const counts = new Map<string, number>();
    for (const p of plays) counts.set(p.trackId, (counts.get(p.trackId) ?? 0) + 1);
    res.json([...counts].sort((a, b) => b[1] - a[1]).map(([id, n]) => ({ ...findTrack(id)!, plays: n })));
  });

  app.get('/api/playlists', auth, (req, res) => {
    res.json(
      [...playlists.values()].filter((p) => p.ownerId === caller(req)!.id).map(({ tracks: _t, ...p }) => p),
    );
  });
  app.post('/api/playlists', auth, (req, res) => {
    const me = caller(req)!;
    const name = String(req.body?.name ?? '').trim();
    if (!name) return fail(res, 400, 'INVALID_PARAMS', 'name must not be empty');
    const now = new Date().toISOString();
    const p: PlaylistDetail = {
      id: `pl${nextPlaylist++}`,
      ownerId: me.id,
      ownerName: me.username,
      name,
      public: req.body?.public === true,
      trackCount: 0,
      durationMs: 0,
      offset: 0,
      limit: 50,
      createdAt: now,
      updatedAt: now,
      tracks: [],
    };
    playlists.set(p.id, p);
    res.status(201).json(p);
  });
  app.get('/api/playlists/:id', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (p) res.json(p);
  });
  app.patch('/api/playlists/:id', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (!p) return;
    if (typeof req.body?.name === 'string') p.name = req.body.name;
    if (typeof req.body?.public === 'boolean') p.public = req.body.public;
    const { tracks: _t, ...rest } = p;
    res.json(rest);
  });
  app.delete('/api/playlists/:id', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (!p) return;
    playlists.delete(p.id);
    res.json({ deleted: true });
  });
  app.post('/api/playlists/:id/tracks', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (!p) return;
    const ids: string[] = req.body?.trackIds ?? [];
    const unknown = ids.find((id) => !findTrack(id));
    if (unknown) return fail(res, 404, 'NOT_FOUND', `track ${unknown} not found`);
    const at = req.body?.position ?? p.tracks.length;
    p.tracks.splice(at, 0, ...ids.map((id) => ({ position: 0, track: findTrack(id)! })));
    res.json(renumber(p));
  });
  app.delete('/api/playlists/:id/tracks/:position', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (!p) return;
    const pos = Number(req.params.position);
    if (!(pos >= 0 && pos < p.tracks.length))
      return fail(res, 404, 'NOT_FOUND', `no track at position ${pos}`);
    p.tracks.splice(pos, 1);
    res.json(renumber(p));
  });
  app.post('/api/playlists/:id/tracks/move', auth, (req, res) => {
    const p = ownPlaylist(req, res);
    if (!p) return;
    const { from, to } = req.body ?? {};
    if (!(from >= 0 && from < p.tracks.length && to >= 0 && to < p.tracks.length)) {
      return fail(res, 400, 'INVALID_INPUT', 'position out of range');
    }
    const [moved] = p.tracks.splice(from, 1);
    p.tracks.splice(to, 0, moved!);
    res.json(renumber(p));
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  return fake;
}
