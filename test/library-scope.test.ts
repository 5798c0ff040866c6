/**
 * The libraries' rule in lists fed by listening: alice and bob each see the shared seed
 * (library 1) and a library of their own. Most played tracks and albums (REST, Subsonic
 * `frequent`), recent albums, a user's history and their listening report show each only what
 * they may see, and `musicFolderId` (REST `?library=`) narrows them; a library the caller may
 * not see is refused (Subsonic 70, REST 404) by every endpoint that takes `musicFolderId`. A
 * grant taken away leaves the plays in the user's history, unavailable and without names; a
 * removed library's tracks show in playlists and history as unavailable, to those who saw it
 * only; a deleted user's grants go (the users service's `user.deleted`, consumed by the
 * catalog).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLibrary } from '../bench/library.js';
import {
  catalogContract,
  type ManagedLibrary,
  type Track,
  TrackCache,
  usersContract,
} from '../common/contracts/index.js';
import { historyService } from '../services/history/service.js';
import { statsService } from '../services/stats/service.js';
import { eventually } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

const FILES = 10;
const NOT_FOUND = 70;

describe('libraries: lists fed by listening, and musicFolderId', () => {
  let h: SubsonicHarness;
  let root: Account;
  let alice: Account;
  let bob: Account;
  let tokens: Map<string, string>;
  const folders: string[] = [];
  let mine: ManagedLibrary;
  let theirs: ManagedLibrary;
  /** Alice's track, bob's track and one of the seed's. */
  let hers: Track;
  let his: Track;
  let shared: Track;
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
  const send = (who: Account | null, method: string, path: string, body?: unknown) =>
    rest(who, path, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const play = async (who: Account, track: Track, times: number) => {
    const plays = Array.from({ length: times }, (_, i) => ({
      trackId: track.id,
      playedAt: new Date(Date.now() - 60_000 * (times - i)).toISOString(),
    }));
    expect((await send(who, 'POST', '/api/plays/batch', { plays })).status).toBe(202);
  };
  const topTracks = async (who: Account, query = '') =>
    (await rest(who, `/api/stats/top-tracks?window=all&limit=100${query}`)).body as Array<
      Track & { plays: number }
    >;
  const albumList = async (who: Account, type: string, params: Record<string, string | number> = {}) =>
    ((await sub(who, 'getAlbumList2', { type, size: 50, ...params })).albumList2.album ?? []) as Json[];
  const idsOf = (items: Array<{ id: string }>) => items.map((i) => i.id);

  beforeAll(async () => {
    // Names on history and report pages are asked of the catalog on every page.
    h = await startSubsonic({ config: { trackNamesTtlMs: 0 } });
    root = await client.account('root');
    [alice, bob] = [await client.account('alice'), await client.account('bob')];
    const users = h.rpc.bind(usersContract);
    tokens = new Map();
    for (const who of [root, alice, bob]) {
      const session = await users.call('login', { username: who.user.username, password: who.password });
      tokens.set(who.user.id, session.token);
    }
    for (const seed of ['alice', 'bob']) {
      const dir = await mkdtemp(join(tmpdir(), `library-scope-${seed}-`));
      folders.push(dir);
      await generateLibrary({ dir, files: FILES, seed: `library-scope-${seed}`, formats: ['mp3'] });
    }
    const add = async (name: string, path: string, who: Account) => {
      const added = await send(root, 'POST', '/api/libraries', { name, path });
      expect(added.status).toBe(201);
      const library = added.body as ManagedLibrary;
      expect((await send(root, 'PUT', `/api/libraries/${library.id}/users/${who.user.id}`)).status).toBe(200);
      return library;
    };
    mine = await add(`Alice ${client.run}`, folders[0]!, alice);
    theirs = await add(`Bob ${client.run}`, folders[1]!, bob);
    const imported = async () =>
      ((await rest(root, '/api/libraries/manage')).body as ManagedLibrary[]).filter(
        (l) => l.trackCount === FILES,
      ).length === 2;
    await eventually(imported, 60_000, 200);
    const catalog = h.rpc.bind(catalogContract);
    const first = async (library: number, who: Account) =>
      (await catalog.call('listTracks', { limit: 1, library }, { caller: who.caller })).items[0]!;
    [hers, his, shared] = [await first(mine.id, alice), await first(theirs.id, bob), await first(1, bob)];
    await h.start(historyService);
    await h.start(statsService);
    // Bob's track is the most played of all; each also plays the shared one once.
    await play(bob, his, 3);
    await play(alice, hers, 2);
    await play(bob, shared, 1);
    await eventually(async () => (await topTracks(bob)).length === 2, 30_000, 200);
    await eventually(async () => (await topTracks(alice)).length === 2, 30_000, 200);
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });

  it('shows each their own most played tracks and albums, cut after what they may not see', async () => {
    expect(idsOf(await topTracks(bob))).toEqual([his.id, shared.id]);
    expect(idsOf(await topTracks(alice))).toEqual([hers.id, shared.id]);
    // The first of all is bob's: alice's list of one is still hers.
    expect(idsOf((await rest(alice, '/api/stats/top-tracks?window=all&limit=1')).body)).toEqual([hers.id]);
    expect(idsOf(await albumList(alice, 'frequent', { size: 1 }))).toEqual([hers.albumId]);
    expect(idsOf(await albumList(bob, 'frequent'))).toEqual([his.albumId, shared.albumId]);
    expect(idsOf(await albumList(alice, 'frequent'))).toEqual([hers.albumId, shared.albumId]);
  });

  it('narrows most played and recent lists to one library (musicFolderId, ?library=)', async () => {
    expect(idsOf(await topTracks(bob, '&library=1'))).toEqual([shared.id]);
    expect(idsOf(await topTracks(bob, `&library=${theirs.id}`))).toEqual([his.id]);
    expect(idsOf(await albumList(bob, 'frequent', { musicFolderId: 1 }))).toEqual([shared.albumId]);
    expect(idsOf(await albumList(bob, 'frequent', { musicFolderId: theirs.id }))).toEqual([his.albumId]);
    expect(idsOf(await albumList(bob, 'recent'))).toEqual([shared.albumId, his.albumId]);
    expect(idsOf(await albumList(bob, 'recent', { musicFolderId: 1 }))).toEqual([shared.albumId]);
    expect(idsOf(await albumList(alice, 'recent', { musicFolderId: mine.id }))).toEqual([hers.albumId]);
  });

  it('refuses a musicFolderId the caller may not see, in every endpoint that takes one', async () => {
    const calls: Array<[string, Record<string, string | number>]> = [
      ['getArtists', {}],
      ['getIndexes', {}],
      ['getGenres', {}],
      ['getRandomSongs', {}],
      ['getSongsByGenre', { genre: 'Jazz' }],
      ['search2', { query: 'a' }],
      ['search3', { query: '' }],
      ['getStarred', {}],
      ['getStarred2', {}],
      ...['random', 'newest', 'frequent', 'recent', 'highest', 'starred', 'alphabeticalByName'].map(
        (type): [string, Record<string, string | number>] => ['getAlbumList2', { type }],
      ),
      ['getAlbumList', { type: 'frequent' }],
    ];
    for (const folder of [theirs.id, 999_999]) {
      for (const [method, params] of calls) {
        const reply = await sub(alice, method, { ...params, musicFolderId: folder });
        expect(reply.status, `${method} ${JSON.stringify(params)}`).toBe('failed');
        expect(reply.error.code, method).toBe(NOT_FOUND);
      }
    }
    expect((await rest(alice, `/api/albums?library=${theirs.id}`)).status).toBe(404);
    expect((await rest(alice, `/api/stats/top-tracks?library=${theirs.id}`)).status).toBe(404);
    // One the caller sees is taken.
    expect((await sub(alice, 'getRandomSongs', { musicFolderId: mine.id })).status).toBe('ok');
  });

  it('keeps plays of a library no longer granted in history, unavailable and without names', async () => {
    const history = async (who: Account) =>
      (await rest(who, '/api/me/history?limit=50')).body as Array<{
        trackId: string;
        title: string | null;
        unavailable?: true;
      }>;
    const year = new Date().getUTCFullYear();
    const report = async (who: Account) => (await rest(who, `/api/me/report?year=${year}`)).body;
    const before = await history(bob);
    expect(before.filter((p) => p.trackId === his.id).map((p) => p.title)).toEqual([
      his.title,
      his.title,
      his.title,
    ]);
    expect((await report(bob)).topTracks.map((t: Json) => t.trackId)).toContain(his.id);

    expect((await send(root, 'DELETE', `/api/libraries/${theirs.id}/users/${bob.user.id}`)).status).toBe(200);
    try {
      const after = await history(bob);
      // Every play keeps its place; those bob may no longer see name nothing.
      expect(after.map((p) => p.trackId)).toEqual(before.map((p) => p.trackId));
      for (const p of after.filter((p) => p.trackId === his.id)) {
        expect(p).toMatchObject({ title: null, artistName: null, albumTitle: null, unavailable: true });
      }
      expect(after.find((p) => p.trackId === shared.id)).toMatchObject({ title: shared.title });
      expect(after.find((p) => p.trackId === shared.id)?.unavailable).toBeUndefined();
      // The report counts his own listening, but names only what he sees.
      const now = await report(bob);
      expect(now.plays).toBe(4);
      expect(now.topTracks.map((t: Json) => [t.trackId, t.title])).toEqual([
        [his.id, null],
        [shared.id, shared.title],
      ]);
      expect(now.topAlbums.map((a: Json) => a.albumId)).toEqual([shared.albumId]);
      expect(now.topArtists.map((a: Json) => a.artistId)).toEqual([shared.artistId]);
      expect(idsOf(await topTracks(bob))).toEqual([shared.id]);
      expect(idsOf(await albumList(bob, 'recent'))).toEqual([shared.albumId]);
    } finally {
      expect((await send(root, 'PUT', `/api/libraries/${theirs.id}/users/${bob.user.id}`)).status).toBe(200);
    }
  });

  /**
   * What history and stats pages name for each reader, through one kept TrackCache (as the
   * services run it), against what the catalog answers the reader itself.
   */
  const namedAlike = async (ids: string[], readers: Account[]) => {
    const catalog = h.rpc.bind(catalogContract);
    const cache = new TrackCache(catalog, 60_000);
    const named = new Map<Account, string[]>();
    for (const who of [...readers, ...readers]) {
      const asked = await catalog.call('getTracks', { ids, withRemoved: true }, { caller: who.caller });
      const kept = await cache.get(ids, cache.scopeOf(who.caller));
      expect([...kept.values()].map(({ libraryId: _, ...t }: Track & { libraryId?: number }) => t)).toEqual(
        asked.map((t) => expect.objectContaining(t)),
      );
      named.set(who, [...kept.keys()]);
    }
    return named;
  };

  it('names tracks from one cache for every reader, each as the catalog shows them', async () => {
    const named = await namedAlike([hers.id, his.id, shared.id], [bob, alice, root]);
    expect(named.get(bob)).toEqual([his.id, shared.id]);
    expect(named.get(alice)).toEqual([hers.id, shared.id]);
    // An administrator sees what they are granted, as anyone.
    expect(named.get(root)).toEqual([shared.id]);
  });

  it("shows a removed library's tracks as unavailable in playlists and history, to those who saw it", async () => {
    const [other] = (
      await h.rpc
        .bind(catalogContract)
        .call('listTracks', { limit: 2, offset: 1, library: theirs.id }, { caller: bob.caller })
    ).items;
    const playlist = await send(bob, 'POST', '/api/playlists', {
      name: `kept ${client.run}`,
      trackIds: [other!.id, shared.id],
    });
    expect(playlist.status).toBe(201);
    expect((await send(root, 'DELETE', `/api/libraries/${theirs.id}`)).body).toEqual({
      removed: true,
      tracks: FILES,
    });
    const read = await rest(bob, `/api/playlists/${playlist.body.id}`);
    expect(read.status).toBe(200);
    expect(
      read.body.tracks.map((e: Json) => [e.track.id, e.track.title, e.track.unavailable ?? false]),
    ).toEqual([
      [other!.id, other!.title, true],
      [shared.id, shared.title, false],
    ]);
    const named = await namedAlike([his.id, other!.id, shared.id], [bob, alice]);
    expect(named.get(bob)).toEqual([his.id, other!.id, shared.id]);
    expect(named.get(alice)).toEqual([shared.id]);
    const history = (await rest(bob, '/api/me/history?limit=50')).body as Json[];
    for (const p of history.filter((p) => p.trackId === his.id)) {
      expect(p).toMatchObject({ title: his.title, unavailable: true });
    }
    // Alice, who now sees every library there is, never saw it: its tracks stay unknown to her.
    const viaRpc = await send(alice, 'POST', '/rpc', {
      jsonrpc: '2.0',
      id: 1,
      method: 'catalog.getTracks',
      params: { ids: [his.id, other!.id], withRemoved: true },
    });
    expect(viaRpc.body.result).toEqual([]);
    const hersNow = (await rest(alice, '/api/me/history?limit=50')).body as Json[];
    expect(hersNow.every((p) => p.trackId !== his.id)).toBe(true);
    // The library's name is free again, and it is no longer managed or listed.
    expect(idsOf((await rest(root, '/api/libraries/manage')).body)).not.toContain(theirs.id);
    const renamed = await send(root, 'PATCH', `/api/libraries/${mine.id}`, { name: theirs.name });
    expect(renamed.body.name).toBe(theirs.name);
    expect((await send(root, 'PUT', `/api/libraries/${theirs.id}/users/${alice.user.id}`)).status).toBe(404);
  });

  it("takes a deleted user's grants away (user.deleted)", async () => {
    expect((await send(root, 'PUT', `/api/libraries/${mine.id}/users/${bob.user.id}`)).status).toBe(200);
    const pool = h.services.get('catalog')!.deps.pool;
    const grants = async () =>
      (
        await pool.query<{ library_id: number }>(
          'SELECT library_id FROM library_grants WHERE user_id = $1 ORDER BY library_id',
          [bob.user.id],
        )
      ).rows.map((r) => r.library_id);
    // His grant of the removed library is kept (it says he saw it), and the new one.
    expect(await grants()).toEqual([mine.id, theirs.id].sort((a, b) => a - b));
    expect((await send(root, 'DELETE', `/api/admin/users/${bob.user.id}`)).status).toBe(200);
    await eventually(async () => (await grants()).length === 0, 10_000, 100);
    const managed = (await rest(root, '/api/libraries/manage')).body as ManagedLibrary[];
    expect(managed.find((l) => l.id === mine.id)?.userIds).toEqual([alice.user.id]);
  });
});
