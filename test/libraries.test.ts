/**
 * Libraries: two more folders beside the seeded catalog (library 1, seen by everyone), one
 * granted to alice and one to bob. Each sees their own library's artists, searches, random
 * songs and album lists, and gets "not found" for the other's tracks through REST, /rpc and
 * Subsonic (song, stream, cover, lyrics); musicFolderId narrows; a user who is not an
 * administrator cannot add a library; a removed library's tracks are gone. The administrator
 * (the first account) manages libraries over REST; the running catalog's own workers import
 * the added folders.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLibrary } from '../bench/library.js';
import {
  catalogContract,
  DEFAULT_LIBRARY_ID,
  hiddenTrack,
  LIBRARY_GRANTS_MAX,
  type ManagedLibrary,
  type Track,
} from '../common/contracts/catalog.js';
import { usersContract } from '../common/contracts/users.js';
import { eventually } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

const FILES = 20;
const NOT_FOUND = 70;

describe('libraries: who sees what, through every door', () => {
  let h: SubsonicHarness;
  let root: Account;
  let alice: Account;
  let bob: Account;
  let tokens: Map<string, string>;
  const folders: string[] = [];
  let mine: ManagedLibrary;
  let theirs: ManagedLibrary;
  /** Tracks of alice's and bob's libraries, by library. */
  const tracksOf = new Map<number, Track[]>();
  const client = subsonicClient(
    () => h.url,
    () => h.rpc.bind(usersContract),
  );
  const sub = (who: Account, method: string, params: Record<string, string | number> = {}): Promise<Json> =>
    client.json(method, { ...client.token(who), ...params });
  const rest = async (who: Account | null, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (who) headers.set('authorization', `Bearer ${tokens.get(who.user.id)}`);
    const res = await fetch(`${client.origin()}${path}`, { ...init, headers });
    return { status: res.status, body: (await res.json().catch(() => null)) as Json };
  };
  const rpc = (who: Account, method: string, params: Record<string, unknown>) =>
    rest(who, '/rpc', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: `catalog.${method}`, params }),
    });
  const idsOf = (items: Array<{ id: string | number }>) => items.map((i) => i.id);
  const send = (who: Account | null, method: string, path: string, body?: unknown) =>
    rest(who, path, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const managed = async (): Promise<ManagedLibrary[]> => (await rest(root, '/api/libraries/manage')).body;

  beforeAll(async () => {
    h = await startSubsonic();
    // The first account of an install is its administrator.
    root = await client.account('root');
    [alice, bob] = [await client.account('alice'), await client.account('bob')];
    const users = h.rpc.bind(usersContract);
    tokens = new Map();
    for (const who of [root, alice, bob]) {
      const session = await users.call('login', { username: who.user.username, password: who.password });
      tokens.set(who.user.id, session.token);
    }
    for (const seed of ['alice', 'bob']) {
      const dir = await mkdtemp(join(tmpdir(), `libraries-${seed}-`));
      folders.push(dir);
      await generateLibrary({ dir, files: FILES, seed: `libraries-${seed}`, formats: ['mp3'] });
    }
    // Added and granted by the administrator over REST; the catalog's workers find the new
    // libraries at once and import their folders.
    const add = async (name: string, path: string) => {
      const added = await send(root, 'POST', '/api/libraries', { name, path });
      expect(added.status).toBe(201);
      return added.body as ManagedLibrary;
    };
    mine = await add(`Alice ${client.run}`, folders[0]!);
    theirs = await add(`Bob ${client.run}`, folders[1]!);
    expect(
      (await send(root, 'PUT', `/api/libraries/${mine.id}/users/${alice.user.id}`)).body.userIds,
    ).toEqual([alice.user.id]);
    expect((await send(root, 'PUT', `/api/libraries/${theirs.id}/users/${bob.user.id}`)).status).toBe(200);
    const imported = async () => (await managed()).filter((l) => l.trackCount === FILES).length === 2;
    await eventually(imported, 60_000, 200);
    const catalog = h.rpc.bind(catalogContract);
    for (const [library, who] of [
      [mine, alice],
      [theirs, bob],
    ] as const) {
      const page = await catalog.call(
        'listTracks',
        { limit: 100, library: library.id },
        { caller: who.caller },
      );
      expect(page.items).toHaveLength(FILES);
      tracksOf.set(library.id, page.items);
    }
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });

  it('lists the libraries each caller sees (Subsonic getMusicFolders, REST)', async () => {
    const folderIds = async (who: Account) =>
      (await sub(who, 'getMusicFolders')).musicFolders.musicFolder.map((f: { id: number }) => f.id);
    expect(await folderIds(alice)).toEqual([DEFAULT_LIBRARY_ID, mine.id]);
    expect(await folderIds(bob)).toEqual([DEFAULT_LIBRARY_ID, theirs.id]);
    expect(idsOf((await rest(null, '/api/libraries')).body)).toEqual([DEFAULT_LIBRARY_ID]);
    const own = (await rest(alice, '/api/libraries')).body;
    expect(own[1]).toEqual({ id: mine.id, name: mine.name, albumCount: FILES / 10, trackCount: FILES });
  });

  it('shows each their own artists, searches, random songs and album lists', async () => {
    const aliceArtist = tracksOf.get(mine.id)![0]!.artistName;
    const bobArtist = tracksOf.get(theirs.id)![0]!.artistName;
    const artistNames = async (who: Account, params = {}) =>
      ((await sub(who, 'getArtists', params)).artists.index ?? []).flatMap((i: Json) =>
        i.artist.map((a: { name: string }) => a.name),
      );
    expect(await artistNames(alice)).toContain(aliceArtist);
    expect(await artistNames(alice)).not.toContain(bobArtist);
    expect(await artistNames(bob)).toContain(bobArtist);
    expect(await artistNames(bob)).not.toContain(aliceArtist);
    // musicFolderId narrows to one library: bob's alone holds none of the seeded artists.
    expect(await artistNames(bob, { musicFolderId: theirs.id })).toEqual([bobArtist]);
    // One the caller may not see is not found, as players expect.
    await client.fails('getArtists', { ...client.token(bob), musicFolderId: mine.id }, NOT_FOUND);

    const found = async (who: Account, q: string) =>
      (await sub(who, 'search3', { query: q })).searchResult3.artist?.map((a: { name: string }) => a.name) ??
      [];
    expect(await found(alice, bobArtist)).not.toContain(bobArtist);
    expect(await found(bob, bobArtist)).toContain(bobArtist);
    expect((await rest(alice, `/api/search?q=${encodeURIComponent(aliceArtist)}`)).body.artists[0].name).toBe(
      aliceArtist,
    );

    const bobsIds = new Set(idsOf(tracksOf.get(theirs.id)!));
    const random = async (who: Account, params = {}) =>
      (await sub(who, 'getRandomSongs', { size: 500, ...params })).randomSongs.song ?? [];
    for (let i = 0; i < 5; i++)
      expect((await random(alice)).some((s: Track) => bobsIds.has(s.id))).toBe(false);
    const onlyBobs = await random(bob, { musicFolderId: theirs.id });
    expect(onlyBobs.length).toBeGreaterThan(0);
    expect(onlyBobs.every((s: Track) => bobsIds.has(s.id))).toBe(true);
    await client.fails('getRandomSongs', { ...client.token(alice), musicFolderId: theirs.id }, NOT_FOUND);

    const albums = async (who: Account, params = {}) =>
      ((await sub(who, 'getAlbumList2', { type: 'alphabeticalByName', size: 500, ...params })).albumList2
        .album ?? []) as Array<{ id: string; artist: string }>;
    const bobAlbums = new Set(tracksOf.get(theirs.id)!.map((t) => t.albumId));
    expect((await albums(alice)).some((a) => bobAlbums.has(a.id))).toBe(false);
    expect(new Set(idsOf(await albums(bob, { musicFolderId: theirs.id })))).toEqual(bobAlbums);
    // REST: the total is the caller's, and ?library= narrows.
    const restAlbums = (await rest(bob, `/api/albums?library=${theirs.id}&limit=100`)).body;
    expect(restAlbums.total).toBe(bobAlbums.size);

    // A smart playlist picks from its owner's libraries only: rules that match every track.
    const everything = {
      rule: { all: [{ field: 'title', op: 'notContains', value: 'zq-none-zq' }] },
      limit: 1000,
    };
    const smart = await send(alice, 'POST', '/api/playlists/smart', { name: 'all of it', rules: everything });
    expect(smart.status).toBe(201);
    const picked = await rest(alice, `/api/playlists/${smart.body.id}?limit=500`);
    expect(picked.body.trackCount).toBeGreaterThan(0);
    expect(picked.body.tracks.some((e: { track: Track }) => bobsIds.has(e.track.id))).toBe(false);
  });

  it("answers not found for the other's tracks through REST, /rpc and Subsonic", async () => {
    const track = tracksOf.get(theirs.id)![0]!;
    // Bob, who sees it, gets it everywhere.
    expect((await rest(bob, `/api/tracks/${track.id}`)).status).toBe(200);
    expect((await sub(bob, 'getSong', { id: track.id })).status).toBe('ok');
    expect((await client.request('stream', { ...client.token(bob), id: track.id })).status).toBe(200);
    // Alice, who does not, is told it does not exist.
    expect((await rest(alice, `/api/tracks/${track.id}`)).status).toBe(404);
    expect((await rest(null, `/api/tracks/${track.id}`)).status).toBe(404);
    expect((await rest(alice, `/api/tracks/${track.id}/stream`)).status).toBe(404);
    expect((await rest(alice, `/api/tracks/${track.id}/lyrics`)).status).toBe(404);
    expect((await rest(alice, `/api/albums/${track.albumId}`)).status).toBe(404);
    expect((await rest(alice, `/api/artists/${track.artistId}`)).status).toBe(404);
    expect((await rest(alice, `/api/covers/${track.id}`)).status).toBe(404);
    const viaRpc = await rpc(alice, 'getTrack', { id: track.id });
    expect(viaRpc.body.error.code).toBe(1404);
    expect((await rpc(alice, 'getTracks', { ids: [track.id], withRemoved: true })).body.result).toEqual([]);
    await client.fails('getSong', { ...client.token(alice), id: track.id }, NOT_FOUND);
    await client.fails('getAlbum', { ...client.token(alice), id: track.albumId }, NOT_FOUND);
    await client.fails('getLyricsBySongId', { ...client.token(alice), id: track.id }, NOT_FOUND);
    const stream = await client.request('stream', { ...client.token(alice), id: track.id, f: 'json' });
    expect(stream.text).toContain(`"code":${NOT_FOUND}`);
    const cover = await client.request('getCoverArt', { ...client.token(alice), id: track.id, f: 'json' });
    expect(cover.text).toContain(`"code":${NOT_FOUND}`);
    // Starred items of a library out of sight are left out.
    await h.rpc.bind(usersContract).call('star', { songIds: [track.id] }, { caller: bob.caller });
    expect((await sub(bob, 'getStarred2', { musicFolderId: theirs.id })).starred2.song).toHaveLength(1);
    expect(
      (await sub(bob, 'getStarred2', { musicFolderId: DEFAULT_LIBRARY_ID })).starred2.song ?? [],
    ).toEqual([]);
  });

  it("keeps the other's tracks out of playlists and share links", async () => {
    const bobsTrack = tracksOf.get(theirs.id)![0]!;
    const alicesTrack = tracksOf.get(mine.id)![0]!;
    // Bob's public playlist holds a track of his library and one of the shared seed.
    const playlist = await send(bob, 'POST', '/api/playlists', {
      name: `mixed ${client.run}`,
      public: true,
      trackIds: [bobsTrack.id],
    });
    expect(playlist.status).toBe(201);
    expect(playlist.body.tracks.map((e: { track: Track }) => e.track.id)).toEqual([bobsTrack.id]);
    // Alice, and a visitor, see the track's place as unavailable, and nothing of what it is.
    for (const who of [alice, null]) {
      const read = await rest(who, `/api/playlists/${playlist.body.id}`);
      expect(read.status).toBe(200);
      expect(read.body.tracks).toEqual([{ position: 0, track: hiddenTrack(bobsTrack.id) }]);
    }
    // Players get no entry they could not play.
    const forPlayer = await sub(alice, 'getPlaylist', { id: playlist.body.id });
    expect(forPlayer.playlist.entry ?? []).toEqual([]);
    // Nor can Alice add it to a playlist of hers, or share it (its album neither).
    const hers = await send(alice, 'POST', '/api/playlists', {
      name: `mine ${client.run}`,
      trackIds: [bobsTrack.id],
    });
    expect(hers.status).toBe(404);
    for (const [kind, id] of [
      ['track', bobsTrack.id],
      ['album', bobsTrack.albumId],
    ] as const) {
      const share = await send(alice, 'POST', '/api/me/shares', { kind, id });
      expect(share.status, kind).toBe(404);
    }
    // Her own track she shares, and the link plays it for anyone.
    const link = await send(alice, 'POST', '/api/me/shares', { kind: 'track', id: alicesTrack.id });
    expect(link.status).toBe(201);
    const opened = await rest(null, `/api/shares/${link.body.path.split('/').pop()}`);
    expect(opened.status).toBe(200);
    expect(opened.body.tracks.map((t: Track) => t.id)).toEqual([alicesTrack.id]);
  });

  it('refuses library management to a user who is not an administrator', async () => {
    const body = { name: 'Mine now', path: join(tmpdir(), 'libraries-nobody') };
    expect((await send(alice, 'POST', '/api/libraries', body)).status).toBe(403);
    expect((await send(null, 'POST', '/api/libraries', body)).status).toBe(401);
    expect((await rpc(alice, 'addLibrary', body)).body.error.code).toBe(1403);
    expect((await rpc(alice, 'grantLibrary', { id: theirs.id, userId: alice.user.id })).body.error.code).toBe(
      1403,
    );
    expect((await rest(alice, `/api/libraries/${theirs.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await rest(alice, '/api/libraries/manage')).status).toBe(403);
    expect(await managed()).toHaveLength(3);
  });

  it('grants a library to at most LIBRARY_GRANTS_MAX users', async () => {
    const pool = h.services.get('catalog')!.deps.pool;
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM library_grants WHERE library_id = $1',
      [mine.id],
    );
    const filler = Array.from({ length: LIBRARY_GRANTS_MAX - rows[0]!.n }, (_, i) => `grant-filler-${i}`);
    await pool.query('INSERT INTO library_grants (library_id, user_id) SELECT $1, unnest($2::text[])', [
      mine.id,
      filler,
    ]);
    try {
      const refused = await send(root, 'PUT', `/api/libraries/${mine.id}/users/${bob.user.id}`);
      expect(refused.status).toBe(409);
      // One already granted is granted again, as before.
      expect((await send(root, 'PUT', `/api/libraries/${mine.id}/users/${alice.user.id}`)).status).toBe(200);
    } finally {
      await pool.query('DELETE FROM library_grants WHERE library_id = $1 AND user_id = ANY($2::text[])', [
        mine.id,
        filler,
      ]);
    }
  });

  it('takes a removed library and its tracks out of the catalog', async () => {
    const track = tracksOf.get(theirs.id)![0]!;
    const before = (await rest(null, '/api/tracks?limit=1')).body.total;
    expect((await send(root, 'DELETE', `/api/libraries/${theirs.id}`)).body).toEqual({
      removed: true,
      tracks: FILES,
    });
    await eventually(async () => (await rest(bob, `/api/tracks/${track.id}`)).status === 404, 10_000);
    await client.fails('getSong', { ...client.token(bob), id: track.id }, NOT_FOUND);
    expect(idsOf((await sub(bob, 'getMusicFolders')).musicFolders.musicFolder)).toEqual([DEFAULT_LIBRARY_ID]);
    // The totals of what everyone sees did not move; the artists of bob's folder are gone.
    expect((await rest(null, '/api/tracks?limit=1')).body.total).toBe(before);
    expect((await rest(bob, `/api/artists/${track.artistId}`)).status).toBe(404);
    const pool = h.services.get('catalog')!.deps.pool;
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM tracks WHERE library_id = $1', [
      theirs.id,
    ]);
    expect(rows[0].n).toBe(0);
  });
});
