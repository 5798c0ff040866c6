import { readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { SubsonicAPI } from 'subsonic-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Album, catalogContract, type Track } from '../common/contracts/catalog.js';
import { Events, type TrackPlayed } from '../common/contracts/events.js';
import { playlistsContract } from '../common/contracts/playlists.js';
import { MAX_PLAYS_PER_REQUEST } from '../common/contracts/plays.js';
import { MAX_IDS } from '../common/contracts/shared.js';
import { usersContract } from '../common/contracts/users.js';
import { withTransaction } from '../common/db/pool.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { normalizeText } from '../services/catalog/index.js';
import { removeTracks } from '../services/catalog/store.js';
import { historyService } from '../services/history/service.js';
import { statsService } from '../services/stats/service.js';
import { eventually, sleep, testPool } from './support/env.js';
import { type Account, type Json, md5, type Params, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';
import { findAll, parseXml } from './support/xml.js';

let h: SubsonicHarness;
let catalog: ServiceClient<typeof catalogContract>;
let users: ServiceClient<typeof usersContract>;
let albums: Album[];
let tracks: Track[];

const { run, origin, account, token, request, json, xml, fails } = subsonicClient(
  () => h.url,
  () => users,
);

let alice: Account;
let bob: Account;

beforeAll(async () => {
  h = await startSubsonic({ authTtlMs: 300 });
  catalog = h.rpc.bind(catalogContract);
  users = h.rpc.bind(usersContract);
  albums = (await catalog.call('listAlbums', { sort: 'alphabetical', limit: 500 })).items;
  tracks = (await catalog.call('listTracks', { limit: 500 })).items;
  alice = await account('alice');
  bob = await account('bob');
});

afterAll(async () => {
  await h?.close();
});

describe('authentication', () => {
  it('accepts token auth from a published client library', async () => {
    const pong = await alice.api.ping();
    expect(pong).toMatchObject({ status: 'ok', version: '1.16.1', openSubsonic: true });
  });

  it('accepts the password in plain text and as enc:hex, by GET and by form POST', async () => {
    const u = alice.user.username;
    expect((await json('ping', { u, p: alice.password })).status).toBe('ok');
    const hex = Buffer.from(alice.password, 'utf8').toString('hex');
    expect((await json('ping', { u, p: `enc:${hex}` })).status).toBe('ok');
    expect((await json('ping', { u, p: alice.password }, { post: true })).status).toBe('ok');
    expect((await json('ping', token(alice), { post: true })).status).toBe('ok');
  });

  it('answers wrong credentials with error 40 in JSON and XML, still HTTP 200', async () => {
    const u = alice.user.username;
    await fails('ping', { u, p: 'not-her-password' }, 40);
    await fails('ping', { ...token({ ...alice, password: 'nope' }) }, 40);
    await fails('ping', { u: `ghost_${run}`, p: 'whatever1' }, 40);
    await fails('ping', { u, p: 'enc:zz' }, 40);
    const root = await xml('ping', { u, t: md5('wrong'), s: 'abcdef' });
    expect(root.attributes.status).toBe('failed');
    expect(root.children).toHaveLength(1);
    expect(root.children[0]).toMatchObject({ name: 'error', attributes: { code: '40' } });
    expect(root.children[0]!.attributes.message).toMatch(/wrong username or password/);
  });

  it('says which parameter is missing (10) and refuses incompatible versions (20, 30)', async () => {
    const reply = await request('ping', { f: 'json', ...token(alice), v: '', c: '' });
    expect(JSON.parse(reply.text)['subsonic-response'].error).toMatchObject({ code: 10 });
    expect(await fails('ping', { p: alice.password }, 10)).toMatch(/\bu\b/);
    expect(await fails('ping', { u: alice.user.username }, 10)).toMatch(/\bp\b/);
    expect(await fails('ping', { u: alice.user.username, t: md5('x') }, 10)).toMatch(/\bs\b/);
    await fails('ping', { ...token(alice), v: '2.0.0' }, 30);
    await fails('ping', { ...token(alice), v: '1.17.0' }, 30);
    await fails('ping', { ...token(alice), v: '0.9' }, 20);
    expect((await json('ping', { ...token(alice), v: '1.2.0' })).status).toBe('ok');
  });

  it('keeps only a sealed copy of the password, under the scrypt hash', async () => {
    const pool = testPool(`${h.ns}_users`);
    try {
      const { rows } = await pool.query<{ password_hash: string; subsonic_secret: string }>(
        'SELECT password_hash, subsonic_secret FROM users WHERE id = $1',
        [alice.user.id],
      );
      expect(rows[0]!.password_hash).toMatch(/^scrypt\$/);
      expect(rows[0]!.subsonic_secret).toMatch(/^aes256gcm\$[\w-]+\$[\w-]+\$[\w-]+$/);
      expect(rows[0]!.subsonic_secret).not.toContain(alice.password);
      // Sealed for this account only: copied onto another one it does not open.
      await pool.query('UPDATE users SET subsonic_secret = $1 WHERE id = $2', [
        rows[0]!.subsonic_secret,
        bob.user.id,
      ]);
      await fails('ping', token({ ...bob, password: alice.password }), 40);
      await fails('ping', token(bob), 40);
      await users.call('login', { username: bob.user.username, password: bob.password });
      expect((await bob.api.ping()).status).toBe('ok');
    } finally {
      await pool.end();
    }
  });

  it('gives accounts made before Subsonic support token auth on their next login or p= request', async () => {
    const old1 = await account('old1');
    const old2 = await account('old2');
    const pool = testPool(`${h.ns}_users`);
    try {
      await pool.query('UPDATE users SET subsonic_secret = NULL WHERE id = ANY($1)', [
        [old1.user.id, old2.user.id],
      ]);
    } finally {
      await pool.end();
    }
    expect(await fails('ping', token(old1), 40)).toMatch(/log in once/);
    await users.call('login', { username: old1.user.username, password: old1.password });
    expect((await json('ping', token(old1))).status).toBe('ok');

    await fails('ping', token(old2), 40);
    expect((await json('ping', { u: old2.user.username, p: old2.password })).status).toBe('ok');
    expect((await json('ping', token(old2))).status).toBe('ok');
  });

  it('slows guesses per username and address, without refusing a burst of good requests', async () => {
    const carol = await account('carol');
    const good = await Promise.all(Array.from({ length: 12 }, () => json('ping', token(carol))));
    expect(good.map((b) => b.status)).toEqual(Array(12).fill('ok'));

    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => json('ping', token({ ...carol, password: `guess-${i}` }))),
    );
    const codes = guesses.map((b) => b.error?.code);
    expect(codes.filter((c) => c === 40)).toHaveLength(5);
    const limited = guesses.filter((b) => b.error?.code === 0);
    expect(limited).toHaveLength(7);
    expect(limited[0].error.message).toMatch(
      /^too many failed logins for this username from this address; try again in \d+ s$/,
    );
    // The right password is refused too, from this address, until the wait is over.
    expect(await fails('ping', token(carol), 0)).toMatch(/too many/);
  });

  it('accepts an API key alone, refuses it mixed with u (43), and refuses it once revoked (44)', async () => {
    const created = await users.call('createApiKey', { name: 'phone' }, { caller: alice.caller });
    expect(created.key.length).toBeGreaterThanOrEqual(40);
    const withKey = new SubsonicAPI({ url: origin(), auth: { apiKey: created.key } });
    expect((await withKey.ping()).status).toBe('ok');
    const info = await json('tokenInfo', { apiKey: created.key });
    expect(info.tokenInfo).toEqual({ username: alice.user.username });

    await fails('ping', { apiKey: created.key, u: alice.user.username }, 43);
    await fails('ping', { ...token(alice), p: alice.password }, 43);
    await fails('ping', { apiKey: `${created.key}x` }, 44);

    const listed = await users.call('listApiKeys', {}, { caller: alice.caller });
    expect(listed).toEqual([expect.objectContaining({ id: created.id, name: 'phone' })]);
    expect(listed[0]!.lastUsedAt).not.toBeNull();
    await expect(
      users.call('revokeApiKey', { id: created.id }, { caller: bob.caller }),
    ).rejects.toMatchObject({ code: 1404 });
    await users.call('revokeApiKey', { id: created.id }, { caller: alice.caller });
    // Passed credentials are trusted for the cache's short ttl, then asked again.
    await eventually(async () => (await json('ping', { apiKey: created.key })).error?.code === 44, 5000);
  });

  it('lists the OpenSubsonic extensions without authentication', async () => {
    const reply = await fetch(`${h.url}/getOpenSubsonicExtensions?f=json`);
    const body = ((await reply.json()) as Json)['subsonic-response'];
    expect(body.status).toBe('ok');
    expect(body.openSubsonicExtensions).toEqual(
      expect.arrayContaining([
        { name: 'apiKeyAuthentication', versions: [1] },
        { name: 'formPost', versions: [1] },
      ]),
    );
    const root = parseXml(await (await fetch(`${h.url}/getOpenSubsonicExtensions.view`)).text());
    expect(findAll(root, 'openSubsonicExtensions').map((e) => e.attributes.name)).toContain('formPost');
  });

  it('answers an unknown method with a failed response naming it, HTTP 200 (a 404 makes players give up)', async () => {
    const body = await json('noSuchMethod.view', token(alice));
    expect(body).toMatchObject({ status: 'failed', error: { code: 0 } });
    expect(body.error.message).toMatch(/noSuchMethod/);
    const root = await xml('getSomethingNew', token(alice));
    expect(root.attributes.status).toBe('failed');
    expect(findAll(root, 'error')[0]!.attributes.message).toMatch(/getSomethingNew/);
  });
});

describe('browsing', () => {
  it('getArtists indexes every artist by initial, in JSON (client library) and XML', async () => {
    const { artists } = await alice.api.getArtists();
    const listed = (artists.index ?? []).flatMap((i) => i.artist ?? []);
    expect(listed).toHaveLength(6);
    expect(artists.ignoredArticles).toBe('The A An');
    for (const index of artists.index ?? []) {
      for (const a of index.artist ?? []) {
        expect(
          normalizeText(a.name)
            .replace(/^(the|an?) /, '')
            .charAt(0)
            .toUpperCase(),
        ).toBe(index.name);
        expect(a.albumCount).toBe(2);
        expect(a.coverArt).toBe(`ar-${a.id}`);
      }
    }
    const root = await xml('getArtists', token(alice));
    const xmlArtists = findAll(root, 'artist')
      .map((e) => e.attributes.name)
      .sort();
    expect(xmlArtists).toEqual(listed.map((a) => a.name).sort());
    // Names with & and accents survive the XML escaping.
    expect(xmlArtists).toContain('Zoë & the Nightjars');
  });

  it('getArtist, getAlbum and getSong describe the catalog', async () => {
    const album = albums[0]!;
    const { artist } = await alice.api.getArtist({ id: album.artistId });
    expect(artist).toMatchObject({ id: album.artistId, name: album.artistName, albumCount: 2 });
    expect((artist.album ?? []).map((a) => a.id)).toContain(album.id);

    const { album: got } = await alice.api.getAlbum({ id: album.id });
    expect(got).toMatchObject({
      id: album.id,
      name: album.title,
      artist: album.artistName,
      artistId: album.artistId,
      songCount: album.trackCount,
      duration: Math.round(album.durationMs / 1000),
      coverArt: `al-${album.id}`,
    });
    const songs = got.song ?? [];
    expect(songs).toHaveLength(album.trackCount);
    const first = tracks.find((t) => t.id === songs[0]!.id)!;
    expect(songs[0]).toMatchObject({
      title: first.title,
      albumId: album.id,
      isDir: false,
      contentType: 'audio/wav',
      suffix: 'wav',
      size: first.sizeBytes,
      duration: Math.round(first.durationMs / 1000),
    });
    const { song } = await alice.api.getSong({ id: first.id });
    expect(song).toMatchObject({ id: first.id, title: first.title, album: album.title });
  });

  it('answers unknown ids with 70 and a missing id with 10', async () => {
    await fails('getSong', { ...token(alice), id: 'tr999999' }, 70);
    await fails('getAlbum', { ...token(alice), id: 'nope' }, 70);
    await fails('getArtist', { ...token(alice), id: 'nope' }, 70);
    await fails('getAlbum', token(alice), 10);
  });

  it('offers the folder view: music folders, indexes and directories', async () => {
    expect((await json('getMusicFolders', token(alice))).musicFolders.musicFolder).toEqual([
      { id: 1, name: 'Music' },
    ]);
    const indexes = (await json('getIndexes', token(alice))).indexes;
    const artistIds = indexes.index.flatMap((i: Json) => i.artist.map((a: Json) => a.id));
    expect(artistIds).toHaveLength(6);
    const artistDir = (await json('getMusicDirectory', { ...token(alice), id: artistIds[0] })).directory;
    expect(artistDir.child).toHaveLength(2);
    expect(artistDir.child.every((c: Json) => c.isDir === true && c.parent === artistIds[0])).toBe(true);
    const albumDir = (await json('getMusicDirectory', { ...token(alice), id: artistDir.child[0].id }))
      .directory;
    expect(albumDir.child.length).toBeGreaterThan(0);
    expect(albumDir.child.every((c: Json) => c.isDir === false)).toBe(true);
  });

  it('answers the artist index with an ETag (304 while current) and honours ifModifiedSince', async () => {
    const first = await request('getArtists', { ...token(alice), f: 'json' });
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await request(
      'getArtists',
      { ...token(alice), f: 'json' },
      { headers: { 'if-none-match': etag! } },
    );
    expect([again.status, again.headers.get('etag')]).toEqual([304, etag]);
    expect(again.body.length).toBe(0);
    // XML is another answer, with its own tag.
    const asXml = await request('getArtists', token(alice), { headers: { 'if-none-match': etag! } });
    expect(asXml.status).toBe(200);
    expect(asXml.headers.get('etag')).not.toBe(etag);
    const { indexes } = await json('getIndexes', token(alice));
    expect(indexes.lastModified).toBeLessThanOrEqual(Date.now());
    const unchanged = (await json('getIndexes', { ...token(alice), ifModifiedSince: indexes.lastModified }))
      .indexes;
    expect(unchanged).toEqual({ ignoredArticles: 'The A An', lastModified: indexes.lastModified });
    const older = (await json('getIndexes', { ...token(alice), ifModifiedSince: indexes.lastModified - 1 }))
      .indexes;
    expect(older.index).toEqual(indexes.index);
  });

  it('getGenres counts songs and albums, with the name as XML text', async () => {
    const expected = await catalog.call('listGenres', {});
    const root = await xml('getGenres', token(alice));
    const genres = findAll(root, 'genre').map((g) => ({
      value: g.text,
      songCount: Number(g.attributes.songCount),
      albumCount: Number(g.attributes.albumCount),
    }));
    expect(genres).toEqual(
      expected.map((g) => ({ value: g.name, songCount: g.trackCount, albumCount: g.albumCount })),
    );
    const { genres: fromJson } = await alice.api.getGenres();
    expect(fromJson.genre).toEqual(genres);
  });

  it('search3 finds by text, pages with offsets, and lists everything for an empty query', async () => {
    const { searchResult3 } = await alice.api.search3({ query: 'blue' });
    expect((searchResult3.artist ?? []).map((a) => a.name)).toContain('Ólafur Blue');
    expect((searchResult3.song ?? []).length).toBeGreaterThan(0);
    for (const s of searchResult3.song ?? []) expect(s.isDir).toBe(false);

    const all = (await json('search3', { ...token(alice), query: 'blue', songCount: 100 })).searchResult3
      .song;
    const paged = (await json('search3', { ...token(alice), query: 'blue', songCount: 2, songOffset: 1 }))
      .searchResult3.song;
    expect(paged.map((s: Json) => s.id)).toEqual(all.slice(1, 3).map((s: Json) => s.id));

    const everything = (
      await json('search3', {
        ...token(alice),
        query: '""',
        artistCount: 500,
        albumCount: 500,
        songCount: 500,
      })
    ).searchResult3;
    expect(everything.artist).toHaveLength(6);
    expect(everything.album).toHaveLength(12);
    expect(everything.song).toHaveLength(64);
    const page = (
      await json('search3', { ...token(alice), query: '', songCount: 10, songOffset: 60, albumCount: 0 })
    ).searchResult3;
    expect(page.song).toHaveLength(4);
    expect(page.album).toBeUndefined();
    await fails('search3', token(alice), 10);
  });

  it('getAlbumList2 lists by name, artist, newest, random, year and genre, with paging', async () => {
    const list = async (params: Params) =>
      ((await json('getAlbumList2', { ...token(alice), ...params })).albumList2.album ?? []) as Json[];
    const byName = await list({ type: 'alphabeticalByName', size: 500 });
    expect(byName.map((a) => a.id)).toEqual(albums.map((a) => a.id));
    const page = await list({ type: 'alphabeticalByName', size: 3, offset: 2 });
    expect(page.map((a) => a.id)).toEqual(albums.slice(2, 5).map((a) => a.id));

    const byArtist = await list({ type: 'alphabeticalByArtist', size: 500 });
    const names = byArtist.map((a) => a.artist as string);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    expect(byArtist).toHaveLength(12);

    const newest = await alice.api.getAlbumList2({ type: 'newest', size: 4 });
    expect(newest.albumList2.album).toHaveLength(4);
    const random = await list({ type: 'random', size: 5 });
    expect(new Set(random.map((a) => a.id)).size).toBe(5);

    const years = await list({ type: 'byYear', fromYear: 2013, toYear: 2018, size: 500 });
    const expectedYears = albums.filter((a) => a.year! >= 2013 && a.year! <= 2018);
    expect(years.map((a) => a.id).sort()).toEqual(expectedYears.map((a) => a.id).sort());
    expect(years.map((a) => a.year)).toEqual([...years.map((a) => a.year)].sort((a, b) => a - b));
    const backwards = await list({ type: 'byYear', fromYear: 2018, toYear: 2013, size: 500 });
    expect(backwards.map((a) => a.year)).toEqual([...backwards.map((a) => a.year)].sort((a, b) => b - a));

    const folk = await list({ type: 'byGenre', genre: 'folk' });
    expect(folk.length).toBeGreaterThan(0);
    expect(folk.every((a) => a.genre === 'folk')).toBe(true);

    expect(await list({ type: 'highest' })).toEqual([]);
    await fails('getAlbumList2', token(alice), 10);
    await fails('getAlbumList2', { ...token(alice), type: 'byYear', fromYear: 2000 }, 10);
    await fails('getAlbumList2', { ...token(alice), type: 'byGenre' }, 10);
    expect(await fails('getAlbumList2', { ...token(alice), type: 'loudest' }, 0)).toMatch(
      /type must be one of/,
    );
    expect(await fails('getAlbumList2', { ...token(alice), type: 'newest', size: 'ten' }, 0)).toMatch(/size/);
  });

  it('getAlbumList answers the same albums as folders', async () => {
    const body = await json('getAlbumList', { ...token(alice), type: 'alphabeticalByName', size: 3 });
    expect(body.albumList.album.map((a: Json) => a.id)).toEqual(albums.slice(0, 3).map((a) => a.id));
    expect(body.albumList.album.every((a: Json) => a.isDir === true)).toBe(true);
  });

  it('getRandomSongs draws distinct songs, by genre and year when asked', async () => {
    const { randomSongs } = await alice.api.getRandomSongs({ size: 7 });
    expect(randomSongs.song).toHaveLength(7);
    expect(new Set((randomSongs.song ?? []).map((s) => s.id)).size).toBe(7);
    const jazz = (await json('getRandomSongs', { ...token(alice), size: 50, genre: 'jazz' })).randomSongs
      .song;
    expect(jazz.length).toBe(tracks.filter((t) => t.genre === 'jazz').length);
    const old = (await json('getRandomSongs', { ...token(alice), size: 500, toYear: 2012 })).randomSongs.song;
    expect(old.length).toBe(tracks.filter((t) => t.year! <= 2012).length);
    const byGenre = (await json('getSongsByGenre', { ...token(alice), genre: 'rock', count: 3 })).songsByGenre
      .song;
    expect(byGenre).toHaveLength(3);
    expect(byGenre.every((s: Json) => s.genre === 'rock')).toBe(true);
  });
});

describe('streaming and cover art', () => {
  let track: Track;
  let bytes: Buffer;

  beforeAll(async () => {
    track = tracks[3]!;
    const file = await catalog.call('getTrackFile', { id: track.id });
    bytes = await readFile(file.path);
  });

  it('streams the whole file, and byte ranges with 206', async () => {
    const full = await request('stream', { ...token(alice), id: track.id });
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('audio/wav');
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.body.equals(bytes)).toBe(true);

    const part = await request(
      'stream.view',
      { ...token(alice), id: track.id },
      { headers: { range: 'bytes=100-199' } },
    );
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(part.body.equals(bytes.subarray(100, 200))).toBe(true);

    const tail = await request(
      'stream',
      { ...token(alice), id: track.id },
      { headers: { range: 'bytes=-10' } },
    );
    expect(tail.status).toBe(206);
    expect(tail.body.equals(bytes.subarray(bytes.length - 10))).toBe(true);

    const beyond = await request(
      'stream',
      { ...token(alice), id: track.id },
      { headers: { range: `bytes=${bytes.length + 10}-` } },
    );
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
  });

  it('answers a stream of an unknown song with error 70, and wrong credentials with 40, not audio', async () => {
    await fails('stream', { ...token(alice), id: 'tr424242' }, 70);
    await fails('stream', { ...token({ ...alice, password: 'x' }), id: track.id }, 40);
  });

  it('downloads as an attachment', async () => {
    const reply = await request('download', { ...token(alice), id: track.id });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-disposition')).toMatch(/^attachment; filename=/);
    expect(reply.body.equals(bytes)).toBe(true);
  });

  it('shows a started stream as now playing, with the player name', async () => {
    await request('stream', { ...token(bob), id: track.id, c: 'BobsPlayer' });
    const { nowPlaying } = await json('getNowPlaying', token(alice));
    expect(nowPlaying.entry).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: track.id,
          username: bob.user.username,
          playerName: 'BobsPlayer',
          minutesAgo: 0,
        }),
      ]),
    );
  });

  /** The size and first pixel of a generated PNG, read back by inflating its data. */
  function readPng(png: Buffer): { width: number; height: number; rgb: string } {
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(
      true,
    );
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    const idat = png.indexOf('IDAT');
    const pixels = inflateSync(png.subarray(idat + 4, idat + 4 + png.readUInt32BE(idat - 4)));
    expect(pixels.length).toBe(height * (1 + width * 3));
    return { width, height, rgb: `#${pixels.subarray(1, 4).toString('hex')}` };
  }

  it('generates cover art in the album colour, at the asked size', async () => {
    const album = albums.find((a) => a.id === track.albumId)!;
    const { album: got } = await alice.api.getAlbum({ id: album.id });
    const cover = await request('getCoverArt', { ...token(alice), id: got.coverArt!, size: 64 });
    expect(cover.status).toBe(200);
    expect(cover.headers.get('content-type')).toBe('image/png');
    expect(readPng(cover.body)).toEqual({ width: 64, height: 64, rgb: album.coverColor.toLowerCase() });

    const bySong = await request('getCoverArt', { ...token(alice), id: track.id });
    expect(readPng(bySong.body)).toEqual({ width: 300, height: 300, rgb: album.coverColor.toLowerCase() });
    const byArtist = await request('getCoverArt', { ...token(alice), id: `ar-${album.artistId}`, size: 8 });
    expect(readPng(byArtist.body).width).toBe(8);

    const again = await request(
      'getCoverArt',
      { ...token(alice), id: got.coverArt!, size: 64 },
      // fetch adds Cache-Control: no-cache to conditional requests unless one is given.
      { headers: { 'if-none-match': cover.headers.get('etag')!, 'cache-control': 'max-age=0' } },
    );
    expect(again.status).toBe(304);
    await fails('getCoverArt', { ...token(alice), id: 'al-nope' }, 70);
  });
});

describe('playlists', () => {
  const ids = () => tracks.slice(10, 14).map((t) => t.id);
  let playlistId: string;

  it('creates a playlist with songs and lists it', async () => {
    const name = 'Road <trip> & "friends"';
    const created = await json('createPlaylist', { ...token(alice), name, songId: ids() });
    expect(created.playlist).toMatchObject({ name, owner: alice.user.username, songCount: 4, public: false });
    expect(created.playlist.entry.map((e: Json) => e.id)).toEqual(ids());
    playlistId = created.playlist.id;

    const { playlists } = await alice.api.getPlaylists();
    expect((playlists.playlist ?? []).map((p) => p.id)).toContain(playlistId);
    const root = await xml('getPlaylist', { ...token(alice), id: playlistId });
    const [playlist] = findAll(root, 'playlist');
    expect(playlist!.attributes.name).toBe(name);
    expect(findAll(playlist!, 'entry').map((e) => e.attributes.id)).toEqual(ids());
  });

  it('updates name, visibility and songs by index', async () => {
    const add = tracks[20]!.id;
    const body = await json('updatePlaylist', {
      ...token(alice),
      playlistId,
      name: 'Renamed',
      public: true,
      songIndexToRemove: [0, 2],
      songIdToAdd: add,
    });
    expect(body.status).toBe('ok');
    const { playlist } = await json('getPlaylist', { ...token(alice), id: playlistId });
    expect(playlist).toMatchObject({ name: 'Renamed', public: true, songCount: 3 });
    const [, b, , d] = ids();
    expect(playlist.entry.map((e: Json) => e.id)).toEqual([b, d, add]);
    expect(await fails('updatePlaylist', { ...token(alice), playlistId, songIndexToRemove: 9 }, 0)).toMatch(
      /out of range/,
    );
    // An unknown song refuses the whole update: the name, visibility and removal stay as they were.
    await fails(
      'updatePlaylist',
      {
        ...token(alice),
        playlistId,
        name: 'Half',
        public: false,
        songIndexToRemove: 0,
        songIdToAdd: 'tr999999',
      },
      70,
    );
    const after = (await json('getPlaylist', { ...token(alice), id: playlistId })).playlist;
    expect(after).toMatchObject({ name: 'Renamed', public: true, songCount: 3 });
    expect(after.entry.map((e: Json) => e.id)).toEqual([b, d, add]);
  });

  it('replaces the songs of an existing playlist with createPlaylist and playlistId', async () => {
    const replacement = [tracks[30]!.id, tracks[31]!.id];
    const body = await json('createPlaylist', { ...token(alice), playlistId, songId: replacement });
    expect(body.playlist).toMatchObject({ id: playlistId, name: 'Renamed', songCount: 2 });
    expect(body.playlist.entry.map((e: Json) => e.id)).toEqual(replacement);
    await fails('createPlaylist', { ...token(alice), playlistId, songId: 'tr777777' }, 70);
    expect((await json('getPlaylist', { ...token(alice), id: playlistId })).playlist.songCount).toBe(2);
  });

  it("shows another user's public playlists but refuses changes to them, and hides private ones", async () => {
    const mine = await json('getPlaylists', { ...token(bob), username: alice.user.username });
    expect(mine.playlists.playlist.map((p: Json) => p.id)).toEqual([playlistId]);
    expect((await json('getPlaylist', { ...token(bob), id: playlistId })).playlist.songCount).toBe(2);
    await fails('updatePlaylist', { ...token(bob), playlistId, name: 'mine now' }, 50);
    await fails('createPlaylist', { ...token(bob), playlistId, songId: tracks[0]!.id }, 50);
    await fails('deletePlaylist', { ...token(bob), id: playlistId }, 50);
    const secret = await json('createPlaylist', { ...token(alice), name: 'secret' });
    await fails('getPlaylist', { ...token(bob), id: secret.playlist.id }, 70);
    await fails('createPlaylist', token(alice), 10);
    await fails('createPlaylist', { ...token(alice), name: 'x', songId: 'tr888888' }, 70);
    await fails('getPlaylists', { ...token(bob), username: `nobody_${run}` }, 70);
  });

  it('shows the first 1,000 entries of a longer playlist, counting them all', async () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => tracks[i % tracks.length]!.id);
    const created = await json(
      'createPlaylist',
      { ...token(alice), name: 'long', songId: thousand },
      { post: true },
    );
    expect(created.playlist.entry).toHaveLength(1000);
    const id = created.playlist.id;
    expect(
      (
        await json(
          'updatePlaylist',
          { ...token(alice), playlistId: id, songIdToAdd: thousand.slice(0, 500) },
          { post: true },
        )
      ).status,
    ).toBe('ok');
    const { playlist } = await json('getPlaylist', { ...token(alice), id });
    expect(playlist.songCount).toBe(1500);
    expect(playlist.entry).toHaveLength(1000);
    expect(playlist.entry.map((e: Json) => e.id)).toEqual(thousand);
    await json('deletePlaylist', { ...token(alice), id });
  });

  it('deletes a playlist', async () => {
    expect((await json('deletePlaylist', { ...token(alice), id: playlistId })).status).toBe('ok');
    await fails('getPlaylist', { ...token(alice), id: playlistId }, 70);
    await fails('deletePlaylist', { ...token(alice), id: playlistId }, 70);
  });

  it('shows the songs still in the library, and counts song indexes among them', async () => {
    const [a, b, c] = [tracks[40]!, tracks[41]!, tracks[42]!];
    const created = await json('createPlaylist', {
      ...token(alice),
      name: 'thinned',
      songId: [a.id, b.id, c.id],
    });
    const id = created.playlist.id;
    // b's file leaves the library, as an import that finds it gone removes it.
    await withTransaction(h.services.get('catalog')!.deps.pool, (db) => removeTracks(db, [b.id]));
    const shown = await json('getPlaylist', { ...token(alice), id });
    expect(shown.playlist.entry.map((e: Json) => e.id)).toEqual([a.id, c.id]);
    // Index 1 is the second song shown (c), not the second entry (b).
    await json('updatePlaylist', { ...token(alice), playlistId: id, songIndexToRemove: 1 });
    const detail = await h.rpc.bind(playlistsContract).call('get', { id }, { caller: alice.caller });
    expect(detail.tracks.map((e) => [e.track.id, e.track.unavailable ?? false])).toEqual([
      [a.id, false],
      [b.id, true],
    ]);
    // A player's queue that still holds it is saved, and shown without it.
    await alice.api.savePlayQueue({ id: [a.id, b.id, c.id], current: a.id, position: 1000 });
    const { playQueue } = await alice.api.getPlayQueue();
    expect((playQueue?.entry ?? []).map((e) => e.id)).toEqual([a.id, c.id]);
  });
});

describe('scrobble and now playing', () => {
  it('publishes track.played for a submission, at the given time, from source subsonic', async () => {
    const track = tracks[5]!;
    const time = Date.now() - 3_600_000;
    expect((await json('scrobble', { ...token(alice), id: track.id, time })).status).toBe('ok');
    const event = await h.tap.waitFor<TrackPlayed>(
      (e) => e.data.trackId === track.id && e.data.userId === alice.user.id,
    );
    expect(event).toMatchObject({
      type: Events.trackPlayed.type,
      data: {
        userId: alice.user.id,
        trackId: track.id,
        playedAt: new Date(time).toISOString(),
        msPlayed: track.durationMs,
        source: 'subsonic',
      },
    });
  });

  it('counts a retried scrobble once: its event id comes from the user, the track and the time', async () => {
    const track = tracks[4]!;
    const time = Date.now() - 7_200_000;
    const before = h.tap.events.length;
    for (let i = 0; i < 3; i++) {
      expect((await json('scrobble', { ...token(alice), id: track.id, time })).status).toBe('ok');
    }
    await json('scrobble', { ...token(bob), id: track.id, time });
    await eventually(() => h.tap.events.length >= before + 4);
    const mine = h.tap.events
      .slice(before)
      .filter(
        (e) =>
          (e.data as TrackPlayed).trackId === track.id &&
          (e.data as TrackPlayed).playedAt === new Date(time).toISOString(),
      );
    const ids = new Set(mine.map((e) => e.id));
    // Three deliveries of Alice's play share one id (history and stats keep one); Bob's is his own.
    expect(ids.size).toBe(2);
  });

  it('takes at most as many plays as REST does in one request (500), before looking any up', async () => {
    const refused = async (method: string, id: string[]) => {
      const body = await json(method, { ...token(alice), id }, { post: true });
      expect(body.status).toBe('failed');
      return body.error.message as string;
    };
    const many = Array.from({ length: MAX_PLAYS_PER_REQUEST + 1 }, () => tracks[0]!.id);
    expect(await refused('scrobble', many)).toMatch(`at most ${MAX_PLAYS_PER_REQUEST} times`);
    const star = Array.from({ length: MAX_IDS + 1 }, () => tracks[0]!.id);
    expect(await refused('star', star)).toMatch(`at most ${MAX_IDS} times`);
  });

  it('takes several ids at once (offline plays), by form POST too', async () => {
    const [a, b] = [tracks[6]!, tracks[7]!];
    const [atA, atB] = [Date.now() - 2 * 86_400_000, Date.now() - 86_400_000];
    const answer = await json(
      'scrobble',
      { ...token(bob), id: [a.id, b.id], time: [atA, atB] },
      { post: true },
    );
    expect(answer.status).toBe('ok');
    for (const [t, at] of [
      [a, atA],
      [b, atB],
    ] as const) {
      const event = await h.tap.waitFor<TrackPlayed>(
        (e) => e.data.trackId === t.id && e.data.userId === bob.user.id,
      );
      expect(event.data.playedAt).toBe(new Date(at).toISOString());
    }
  });

  it('refuses plays dated more than 30 days ago or minutes ahead, naming time', async () => {
    const old = await json('scrobble', {
      ...token(bob),
      id: tracks[6]!.id,
      time: Date.now() - 31 * 86_400_000,
    });
    expect(old.error).toEqual({ code: 0, message: 'time must not be more than 30 days in the past' });
    const ahead = await json('scrobble', { ...token(bob), id: tracks[6]!.id, time: Date.now() + 3600_000 });
    expect(ahead.error).toEqual({ code: 0, message: 'time must not be more than 300 s in the future' });
  });

  it('sets now playing without publishing a play when submission=false', async () => {
    const playing = tracks[8]!;
    const played = tracks[9]!;
    expect(
      (await json('scrobble', { ...token(alice), id: playing.id, submission: false, c: 'Feishin' })).status,
    ).toBe('ok');
    const { nowPlaying } = await json('getNowPlaying', token(bob));
    expect(nowPlaying.entry).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: playing.id, username: alice.user.username, playerName: 'Feishin' }),
      ]),
    );
    // A play published after it arrives; the now-playing report never does.
    expect((await json('scrobble', { ...token(alice), id: played.id })).status).toBe('ok');
    await h.tap.waitFor((e) => (e.data as TrackPlayed).trackId === played.id);
    expect(h.tap.events.some((e) => (e.data as TrackPlayed).trackId === playing.id)).toBe(false);
  });

  it('refuses unknown ids (70, nothing published) and times in the future', async () => {
    const before = h.tap.events.length;
    await fails('scrobble', { ...token(alice), id: [tracks[0]!.id, 'tr31337'] }, 70);
    await fails('scrobble', { ...token(alice), id: tracks[0]!.id, time: Date.now() + 3_600_000 }, 0);
    await fails('scrobble', { ...token(alice), id: tracks[0]!.id, submission: 'maybe' }, 0);
    await fails('scrobble', token(alice), 10);
    await sleep(300);
    expect(h.tap.events.length).toBe(before);
  });
});

describe('stars', () => {
  it('stars songs, albums and artists, shows them in getStarred2 and on the items, and unstars', async () => {
    const song = tracks[40]!;
    const album = albums[4]!;
    const artistId = albums[7]!.artistId;
    await json('star', { ...token(alice), id: song.id, albumId: album.id, artistId });
    const { starred2 } = await alice.api.getStarred2();
    expect((starred2.song ?? []).map((s) => s.id)).toEqual([song.id]);
    expect((starred2.album ?? []).map((a) => a.id)).toEqual([album.id]);
    expect((starred2.artist ?? []).map((a) => a.id)).toEqual([artistId]);
    for (const item of [...(starred2.song ?? []), ...(starred2.album ?? []), ...(starred2.artist ?? [])]) {
      expect(new Date(item.starred!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    }
    const { song: got } = await json('getSong', { ...token(alice), id: song.id });
    expect(got.starred).toBeDefined();
    expect((await json('getSong', { ...token(bob), id: song.id })).song.starred).toBeUndefined();
    const starredAlbums = await json('getAlbumList2', { ...token(alice), type: 'starred' });
    expect(starredAlbums.albumList2.album.map((a: Json) => a.id)).toEqual([album.id]);

    const xmlStarred = await xml('getStarred2', token(alice));
    expect(findAll(xmlStarred, 'song').map((s) => s.attributes.id)).toEqual([song.id]);

    await json('unstar', { ...token(alice), id: song.id, albumId: album.id, artistId });
    const after = await json('getStarred2', token(alice));
    expect(after.starred2).toEqual({});
  });

  it('stars an album or artist folder given as id, and refuses unknown ids', async () => {
    const album = albums[2]!;
    await json('star', { ...token(bob), id: [album.id, album.artistId] });
    const { starred } = await json('getStarred', token(bob));
    expect(starred.album.map((a: Json) => a.id)).toEqual([album.id]);
    expect(starred.artist.map((a: Json) => a.id)).toEqual([album.artistId]);
    await json('unstar', { ...token(bob), id: [album.id, album.artistId] });
    expect((await json('getStarred', token(bob))).starred).toEqual({});
    await fails('star', { ...token(bob), id: 'zz404' }, 70);
    await fails('star', { ...token(bob), albumId: 'zz404' }, 70);
    await fails('star', token(bob), 10);
  });
});

describe('getUser', () => {
  it('describes the caller and refuses other users (50) to a user who is not an admin', async () => {
    const { user } = await json('getUser', { ...token(bob), username: bob.user.username });
    expect(user).toMatchObject({
      username: bob.user.username,
      streamRole: true,
      adminRole: false,
      folder: [1],
    });
    const root = await xml('getUser', token(bob));
    const [u] = findAll(root, 'user');
    expect(findAll(u!, 'folder').map((f) => f.text)).toEqual(['1']);
    await fails('getUser', { ...token(bob), username: alice.user.username }, 50);
  });

  it('answers an admin (alice, the first account) about anyone', async () => {
    const { user } = await json('getUser', { ...token(alice), username: bob.user.username });
    expect(user).toMatchObject({ username: bob.user.username, adminRole: false, streamRole: true });
    expect((await json('getUser', token(alice))).user).toMatchObject({ adminRole: true });
  });
});

describe('recent and frequent album lists', () => {
  const list = async (type: string) =>
    ((await json('getAlbumList2', { ...token(alice), type, size: 50 })).albumList2.album ?? []) as Json[];

  it('degrade to empty lists while history and stats are not running', async () => {
    expect(await list('recent')).toEqual([]);
    expect(await list('frequent')).toEqual([]);
  });

  it('come from the history and stats services once they run', async () => {
    await h.start(historyService);
    await h.start(statsService);
    // Albums none of the earlier tests played from.
    const played = new Set(h.tap.events.map((e) => (e.data as TrackPlayed).trackId));
    const fresh = albums.filter((a) => !tracks.some((t) => t.albumId === a.id && played.has(t.id)));
    const favourite = tracks.find((t) => t.albumId === fresh[0]!.id)!;
    const other = tracks.find((t) => t.albumId === fresh[1]!.id)!;
    for (let i = 0; i < 3; i++) {
      await json('scrobble', { ...token(alice), id: favourite.id, time: Date.now() - 60_000 * (i + 1) });
    }
    await json('scrobble', { ...token(alice), id: other.id });
    const recent = await eventually(async () => {
      const albumsNow = await list('recent');
      return albumsNow[0]?.id === other.albumId ? albumsNow : undefined;
    });
    expect(recent!.map((a) => a.id)).toContain(favourite.albumId);
    const frequent = await eventually(async () => {
      const albumsNow = await list('frequent');
      return albumsNow[0]?.id === favourite.albumId && albumsNow[0].playCount >= 3 ? albumsNow : undefined;
    });
    expect(frequent![0].playCount).toBeGreaterThanOrEqual(3);
    // Bob's own history does not include Alice's plays.
    const bobs = (await json('getAlbumList2', { ...token(bob), type: 'recent' })).albumList2.album ?? [];
    expect(bobs.map((a: Json) => a.id)).not.toContain(favourite.albumId);
  });
});
