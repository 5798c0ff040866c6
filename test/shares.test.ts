/**
 * Share links end to end: the real catalog, users and playlists services and a gateway in one
 * namespace (test/support/subsonic-harness.ts). Owners create, list, change and delete shares
 * through REST and Subsonic; a link streams, downloads, shows covers of and counts plays of
 * exactly what it shares, without a login, and stops at once when it expires or is deleted.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Album, catalogContract, type Track } from '../common/contracts/catalog.js';
import { Events, type TrackPlayed } from '../common/contracts/events.js';
import type { OpenedShare, Share } from '../common/contracts/shares.js';
import { usersContract } from '../common/contracts/users.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { shareListener } from '../gateway/routes/shares.js';
import { eventually, sleep } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';
import { findAll, parseXml } from './support/xml.js';

let h: SubsonicHarness;
let catalog: ServiceClient<typeof catalogContract>;
let users: ServiceClient<typeof usersContract>;
let album: Album & { tracks: Track[] };
/** A track on no album of `album`. */
let outsider: Track;

const { account, token, json, fails, request } = subsonicClient(
  () => h.url,
  () => users,
);

let alice: Account & { bearer: string };
let bob: Account & { bearer: string };

interface Answer<T = Json> {
  status: number;
  headers: Headers;
  body: T;
  bytes: Buffer;
}

/** A REST request to the gateway, as `who` (a bearer token) or nobody. */
async function rest<T = Json>(
  method: string,
  path: string,
  opts: { as?: { bearer: string }; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.as) headers.authorization = `Bearer ${opts.as.bearer}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${h.url.replace(/\/rest$/, '')}${path}`, {
    method,
    headers,
    ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json = res.headers.get('content-type')?.includes('json');
  return {
    status: res.status,
    headers: res.headers,
    body: (json ? JSON.parse(bytes.toString()) : null) as T,
    bytes,
  };
}

async function loggedIn(name: string): Promise<Account & { bearer: string }> {
  const a = await account(name);
  const session = await users.call('login', { username: a.user.username, password: a.password });
  return { ...a, bearer: session.token };
}

const share = async (who: { bearer: string }, body: Record<string, unknown>): Promise<Share> => {
  const reply = await rest<Share>('POST', '/api/me/shares', { as: who, body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return reply.body;
};
const link = (s: Share, rest = '') => `/api/shares/${s.token}${rest}`;

beforeAll(async () => {
  h = await startSubsonic({ authTtlMs: 300 });
  catalog = h.rpc.bind(catalogContract);
  users = h.rpc.bind(usersContract);
  const albums = (await catalog.call('listAlbums', { sort: 'alphabetical', limit: 50 })).items;
  for (const a of albums) {
    const full = await catalog.call('getAlbum', { id: a.id });
    if (full.tracks.length >= 3) {
      album = full;
      break;
    }
  }
  const tracks = (await catalog.call('listTracks', { limit: 200 })).items;
  outsider = tracks.find((t) => t.albumId !== album.id)!;
  alice = await loggedIn('alice');
  bob = await loggedIn('bob');
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('share links through REST', () => {
  it('shares an album: the owner lists it, others cannot see or change it', async () => {
    const created = await share(alice, { kind: 'album', id: album.id, description: 'for Bob' });
    expect(created.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created).toMatchObject({
      kind: 'album',
      itemId: album.id,
      name: album.title,
      description: 'for Bob',
      downloadable: false,
      expiresAt: null,
      expired: false,
      visitCount: 0,
      path: `/s/${created.token}`,
      trackCount: album.tracks.length,
    });
    expect(created.entries.map((t) => t.id)).toEqual(album.tracks.map((t) => t.id).slice(0, 20));

    const mine = await rest<Share[]>('GET', '/api/me/shares', { as: alice });
    expect(mine.body.map((s) => s.id)).toContain(created.id);
    expect((await rest<Share[]>('GET', '/api/me/shares', { as: bob })).body).toEqual([]);
    expect((await rest('GET', '/api/me/shares')).status).toBe(401);
    expect(
      (await rest('PATCH', `/api/me/shares/${created.id}`, { as: bob, body: { description: 'x' } })).status,
    ).toBe(404);
    expect((await rest('DELETE', `/api/me/shares/${created.id}`, { as: bob })).status).toBe(404);
    expect((await rest<Share[]>('GET', '/api/me/shares', { as: alice })).body[0]!.description).toBe(
      'for Bob',
    );
  });

  it('opens without a login, plays only its own tracks, and counts the visit', async () => {
    const s = await share(alice, { kind: 'album', id: album.id });
    const opened = await rest<OpenedShare>('GET', link(s));
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ kind: 'album', name: album.title, ownerName: alice.user.username });
    expect(opened.body.tracks.map((t) => t.id)).toEqual(album.tracks.map((t) => t.id));
    // Nothing in it opens anything else: no token, no owner id.
    expect(opened.bytes.toString()).not.toContain(s.token);
    expect(opened.bytes.toString()).not.toContain(alice.user.id);
    const page = await rest<OpenedShare>('GET', link(s, '?offset=1&limit=1'));
    expect(page.body.tracks.map((t) => t.id)).toEqual([album.tracks[1]!.id]);

    const inside = album.tracks[0]!.id;
    const audio = await rest('GET', link(s, `/tracks/${inside}/stream`));
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toMatch(/^audio\//);
    expect(audio.bytes.length).toBeGreaterThan(1000);
    const ranged = await rest('GET', link(s, `/tracks/${inside}/stream`), {
      headers: { range: 'bytes=0-99' },
    });
    expect(ranged.status).toBe(206);
    expect(ranged.bytes.equals(audio.bytes.subarray(0, 100))).toBe(true);
    expect((await rest('GET', link(s, `/tracks/${inside}/cover?size=32`))).headers.get('content-type')).toBe(
      'image/png',
    );

    // Another track, its cover, a transcode-free door to it: refused with this link.
    expect((await rest('GET', link(s, `/tracks/${outsider.id}/stream`))).status).toBe(403);
    expect((await rest('GET', link(s, `/tracks/${outsider.id}/cover`))).status).toBe(403);
    expect((await rest('POST', link(s, '/plays'), { body: { trackId: outsider.id } })).status).toBe(403);
    // A token of the right shape that is no share, and one of the wrong shape.
    const forged = `${s.token.slice(0, -1)}${s.token.endsWith('A') ? 'B' : 'A'}`;
    expect((await rest('GET', `/api/shares/${forged}/tracks/${inside}/stream`)).status).toBe(404);
    expect((await rest('GET', '/api/shares/short/tracks/x/stream')).status).toBe(404);
    // Not downloadable until its owner says so.
    expect((await rest('GET', link(s, `/tracks/${inside}/download`))).status).toBe(403);
    const changed = await rest<Share>('PATCH', `/api/me/shares/${s.id}`, {
      as: alice,
      body: { downloadable: true },
    });
    expect(changed.body.downloadable).toBe(true);
    const download = await rest('GET', link(s, `/tracks/${inside}/download`));
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment/);

    const listed = (await rest<Share[]>('GET', '/api/me/shares', { as: alice })).body.find(
      (x) => x.id === s.id,
    )!;
    expect(listed.visitCount).toBe(1);
    expect(listed.lastVisitedAt).not.toBeNull();
  });

  it('counts a play through the link as a play of the track by no user', async () => {
    const s = await share(alice, { kind: 'track', id: outsider.id });
    const playId = crypto.randomUUID();
    const posted = await rest('POST', link(s, '/plays'), {
      body: { trackId: outsider.id, msPlayed: 5000, playId },
    });
    expect(posted.status).toBe(202);
    const event = await h.tap.waitFor<TrackPlayed>((e) => e.id === posted.body.id);
    expect(event.type).toBe(Events.trackPlayed.type);
    expect(event.data).toMatchObject({
      userId: shareListener(s.id),
      trackId: outsider.id,
      msPlayed: 5000,
      source: 'share',
    });
    // Sent again (a retry), it is the same play.
    const again = await rest('POST', link(s, '/plays'), {
      body: { trackId: outsider.id, msPlayed: 5000, playId },
    });
    expect(again.body.id).toBe(posted.body.id);
    expect((await rest('POST', link(s, '/plays'), { body: { trackId: album.tracks[0]!.id } })).status).toBe(
      403,
    );
  });

  it('shares only your own playlists, and a playlist share follows the playlist', async () => {
    const made = await rest('POST', '/api/playlists', {
      as: bob,
      body: { name: 'road', trackIds: [outsider.id] },
    });
    const privateId = made.body.id as string;
    expect(
      (await rest('POST', '/api/me/shares', { as: alice, body: { kind: 'playlist', id: privateId } })).status,
    ).toBe(404);
    await rest('PATCH', `/api/playlists/${privateId}`, { as: bob, body: { public: true } });
    expect(
      (await rest('POST', '/api/me/shares', { as: alice, body: { kind: 'playlist', id: privateId } })).status,
    ).toBe(403);
    const s = await share(bob, { kind: 'playlist', id: privateId });
    expect((await rest('GET', link(s, `/tracks/${outsider.id}/stream`))).status).toBe(200);
    expect((await rest('GET', link(s, `/tracks/${album.tracks[0]!.id}/stream`))).status).toBe(403);
    await rest('POST', `/api/playlists/${privateId}/tracks`, {
      as: bob,
      body: { trackIds: [album.tracks[0]!.id] },
    });
    expect((await rest('GET', link(s, `/tracks/${album.tracks[0]!.id}/stream`))).status).toBe(200);
    // Deleting the playlist deletes its share.
    await rest('DELETE', `/api/playlists/${privateId}`, { as: bob });
    expect((await rest('GET', link(s))).status).toBe(404);
    expect((await rest('GET', link(s, `/tracks/${outsider.id}/stream`))).status).toBe(404);
    expect((await rest<Share[]>('GET', '/api/me/shares', { as: bob })).body.map((x) => x.id)).not.toContain(
      s.id,
    );
  });

  it('refuses bad input: unknown items, past expiries, long descriptions', async () => {
    expect(
      (await rest('POST', '/api/me/shares', { as: alice, body: { kind: 'track', id: 'no-such' } })).status,
    ).toBe(404);
    expect(
      (await rest('POST', '/api/me/shares', { as: alice, body: { kind: 'album', id: 'no-such' } })).status,
    ).toBe(404);
    const past = new Date(Date.now() - 1000).toISOString();
    const body = { kind: 'track', id: outsider.id, expiresAt: past };
    expect((await rest('POST', '/api/me/shares', { as: alice, body })).status).toBe(400);
    const long = { kind: 'track', id: outsider.id, description: 'x'.repeat(501) };
    expect((await rest('POST', '/api/me/shares', { as: alice, body: long })).status).toBe(400);
    expect(
      (await rest('POST', '/api/me/shares', { as: alice, body: { kind: 'artist', id: 'x' } })).status,
    ).toBe(400);
  });

  it('closes at once when the share expires or is deleted, and reopens when its expiry is lifted', async () => {
    const expiresAt = new Date(Date.now() + 2000).toISOString();
    const s = await share(alice, { kind: 'album', id: album.id, expiresAt });
    const stream = link(s, `/tracks/${album.tracks[0]!.id}/stream`);
    expect((await rest('GET', stream)).status).toBe(200);
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 50);
    expect((await rest('GET', link(s))).status).toBe(404);
    expect((await rest('GET', stream)).status).toBe(404);
    const listed = (await rest<Share[]>('GET', '/api/me/shares', { as: alice })).body.find(
      (x) => x.id === s.id,
    )!;
    expect(listed.expired).toBe(true);
    const lifted = await rest<Share>('PATCH', `/api/me/shares/${s.id}`, {
      as: alice,
      body: { expiresAt: null },
    });
    expect(lifted.body).toMatchObject({ expiresAt: null, expired: false });
    expect((await rest('GET', stream)).status).toBe(200);

    expect((await rest('DELETE', `/api/me/shares/${s.id}`, { as: alice })).status).toBe(200);
    // The very next request, on a gateway that just served it: no cache keeps it open.
    expect((await rest('GET', stream)).status).toBe(404);
    expect((await rest('GET', link(s))).status).toBe(404);
  });
});

describe('share links through Subsonic', () => {
  it('createShare, getShares, updateShare and deleteShare', async () => {
    const expires = Date.now() + 86_400_000;
    const created = await json('createShare', { ...token(alice), id: album.id, description: 'sub', expires });
    expect(created.status).toBe('ok');
    const [made] = created.shares.share;
    expect(made).toMatchObject({ description: 'sub', username: alice.user.username, visitCount: 0 });
    expect(made.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/s\/[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(made.expires)).toBe(expires);
    expect(made.entry.map((e: Json) => e.id)).toEqual(album.tracks.map((t) => t.id).slice(0, 20));

    // The url opens the share for anyone.
    const shareToken = (made.url as string).split('/s/')[1]!;
    expect((await rest('GET', `/api/shares/${shareToken}`)).status).toBe(200);

    const listed = await json('getShares', token(alice));
    expect(listed.shares.share.map((s: Json) => s.id)).toContain(made.id);
    const xml = parseXml((await request('getShares', token(alice))).text);
    const shares = findAll(xml, 'share');
    expect(shares.some((s) => s.attributes.id === made.id)).toBe(true);
    expect(findAll(xml, 'entry').length).toBeGreaterThan(0);

    expect(
      (await json('updateShare', { ...token(alice), id: made.id, description: 'changed', expires: 0 }))
        .status,
    ).toBe('ok');
    const after = (await json('getShares', token(alice))).shares.share.find((s: Json) => s.id === made.id);
    expect(after.description).toBe('changed');
    expect(after.expires).toBeUndefined();

    await fails('updateShare', { ...token(bob), id: made.id, description: 'x' }, 70);
    await fails('deleteShare', { ...token(bob), id: made.id }, 70);
    expect((await json('deleteShare', { ...token(alice), id: made.id })).status).toBe('ok');
    const gone = (await json('getShares', token(alice))).shares.share ?? [];
    expect(gone.map((s: Json) => s.id)).not.toContain(made.id);
    expect((await rest('GET', `/api/shares/${shareToken}`)).status).toBe(404);
  });

  it('shares a song or a playlist by id, one per share', async () => {
    const song = await json('createShare', { ...token(bob), id: outsider.id });
    expect(song.shares.share[0].entry.map((e: Json) => e.id)).toEqual([outsider.id]);
    await fails('createShare', { ...token(bob), id: [outsider.id, album.id] }, 0);
    await fails('createShare', { ...token(bob), id: 'no-such-thing' }, 70);
    await fails('createShare', token(bob), 10);
    const user = await json('getUser', { ...token(bob), username: bob.user.username });
    expect(user.user.shareRole).toBe(true);
    await eventually(async () => (await json('getShares', token(bob))).shares.share.length === 1);
  });
});

describe('share links from the terminal client', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  /** One run of the client against the harness's gateway, in its own home. */
  const client = async (home: string, args: string[]) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'client/main.ts', ...args],
      {
        cwd: ROOT,
        timeout: 30_000,
        env: {
          ...process.env,
          GATEWAY_URL: h.url.replace(/\/rest$/, ''),
          MUSIC_CLIENT_HOME: home,
          MUSIC_PLAYER: 'none',
          NO_COLOR: '1',
        },
      },
    );
    return stdout;
  };

  it('share, shares and unshare', { timeout: 120_000 }, async () => {
    const home = await mkdtemp(join(tmpdir(), 'music-share-client-'));
    try {
      const who = await loggedIn('carol');
      await client(home, ['login', who.user.username, who.password]);
      const made = JSON.parse(
        await client(home, [
          'share',
          'album',
          album.id,
          '--expires',
          '7d',
          '--description',
          'from the terminal',
          '--json',
        ]),
      ) as Share;
      expect(made).toMatchObject({ kind: 'album', itemId: album.id, description: 'from the terminal' });
      expect(Date.parse(made.expiresAt!) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
      const text = await client(home, ['shares']);
      expect(text).toContain(`/s/${made.token}`);
      expect((await rest('GET', link(made))).status).toBe(200);
      await client(home, ['unshare', made.id]);
      expect((await rest('GET', link(made))).status).toBe(404);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
