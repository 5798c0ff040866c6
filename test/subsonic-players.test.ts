import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Album, catalogContract, type Track } from '../common/contracts/catalog.js';
import { Events, type TrackPlayed } from '../common/contracts/events.js';
import { usersContract } from '../common/contracts/users.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { EXTENSIONS } from '../gateway/subsonic/endpoints/system.js';
import { historyService } from '../services/history/service.js';
import { statsService } from '../services/stats/service.js';
import { pruneNowPlaying } from '../services/users/now-playing.js';
import { usersService } from '../services/users/service.js';
import { eventually, testPool } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';
import { findAll, type XmlElement } from './support/xml.js';

/**
 * The calls players make at start-up, when an artist or album is opened, while queueing and
 * while playing, against the real catalog, users, playlists, history and stats services.
 */

let h: SubsonicHarness;
let catalog: ServiceClient<typeof catalogContract>;
let users: ServiceClient<typeof usersContract>;
let albums: Album[];
let tracks: Track[];
let alice: Account;
let bob: Account;

const { account, token, request, json, xml, fails } = subsonicClient(
  () => h.url,
  () => users,
);

const ids = (list: Json[] | undefined) => (list ?? []).map((x: Json) => x.id as string);
const byArtist = (name: string) => tracks.filter((t) => t.artistName === name);
const attributesOf = (root: XmlElement, name: string) => findAll(root, name).map((e) => e.attributes);

beforeAll(async () => {
  h = await startSubsonic();
  await h.start(historyService);
  await h.start(statsService);
  catalog = h.rpc.bind(catalogContract);
  users = h.rpc.bind(usersContract);
  albums = (await catalog.call('listAlbums', { limit: 500 })).items;
  tracks = (await catalog.call('listTracks', { limit: 500 })).items;
  alice = await account('alice');
  bob = await account('bob');
});

afterAll(async () => {
  await h?.close();
});

describe('a player starting up', () => {
  it('gets ok for every call it makes, in the order it makes them, in JSON and in XML', async () => {
    const calls: Array<[string, Record<string, string | number>]> = [
      ['ping', {}],
      ['getLicense', {}],
      ['getOpenSubsonicExtensions', {}],
      ['getMusicFolders', {}],
      ['getArtists', {}],
      ['getIndexes', {}],
      ['getAlbumList2', { type: 'alphabeticalByName', size: 5, offset: 0 }],
      ['getAlbumList2', { type: 'alphabeticalByName', size: 5, offset: 5 }],
      ['getAlbumList2', { type: 'alphabeticalByName', size: 5, offset: 10 }],
      ['getAlbumList2', { type: 'newest', size: 20 }],
      ['getPlaylists', {}],
      ['getPlayQueue', {}],
      ['getPlayQueueByIndex', {}],
      ['getGenres', {}],
      ['getStarred2', {}],
      ['getNowPlaying', {}],
      ['getUser', {}],
      ['getScanStatus', {}],
      ['getBookmarks', {}],
      ['getInternetRadioStations', {}],
      ['getPodcasts', {}],
      ['getNewestPodcasts', {}],
      ['getShares', {}],
      ['search2', { query: '', songCount: 10 }],
    ];
    for (const [method, params] of calls) {
      const body = await json(method, { ...token(alice), ...params });
      expect([method, body.status]).toEqual([method, 'ok']);
      const root = await xml(method, { ...token(alice), ...params });
      expect([method, root.attributes.status]).toEqual([method, 'ok']);
    }
    const pages = await Promise.all(
      [0, 5, 10].map(async (offset) =>
        ids(
          (await alice.api.getAlbumList2({ type: 'alphabeticalByName', size: 5, offset })).albumList2.album,
        ),
      ),
    );
    expect(pages.flat()).toEqual(albums.map((a) => a.id));
    expect((await alice.api.getPlayQueue()).playQueue).toBeUndefined();
    expect((await json('getScanStatus', token(alice))).scanStatus).toEqual({
      scanning: false,
      count: tracks.length,
    });
    // search2 is search3 in the folder shapes: albums are directories, artists have no album counts.
    const { searchResult2 } = await json('search2', { ...token(alice), query: 'blue' });
    expect(searchResult2.album.every((a: Json) => a.isDir === true)).toBe(true);
    expect(searchResult2.artist[0]).not.toHaveProperty('albumCount');
    expect(ids(searchResult2.song).length).toBeGreaterThan(0);
  });

  it('lists exactly the extensions it implements, with versions, and each one’s endpoints answer', async () => {
    const body = await json('getOpenSubsonicExtensions', {});
    expect(body.openSubsonicExtensions).toEqual([
      { name: 'apiKeyAuthentication', versions: [1] },
      { name: 'formPost', versions: [1] },
      { name: 'indexBasedQueue', versions: [1] },
      { name: 'playbackReport', versions: [1] },
      { name: 'songLyrics', versions: [1] },
      { name: 'transcodeOffset', versions: [1] },
      { name: 'topSongsByArtistId', versions: [1] },
    ]);
    for (const endpoint of EXTENSIONS.flatMap((e) => e.endpoints)) {
      const answer = await json(endpoint, token(alice));
      expect([endpoint, answer.error?.message ?? '']).not.toEqual([
        endpoint,
        expect.stringMatching(/unknown API method/),
      ]);
    }
  });
});

describe('opening an artist or an album', () => {
  it('getArtistInfo2 answers our cover art and similar artists, by artist, album or song id', async () => {
    const neon = byArtist('Neon Meridian');
    const { artistInfo2 } = await alice.api.getArtistInfo2({ id: neon[0]!.artistId });
    expect(artistInfo2.biography).toBe('');
    // Los Días Raros shares a genre (electronic).
    expect(artistInfo2.similarArtist?.map((a) => a.name)).toContain('Los Días Raros');
    for (const a of artistInfo2.similarArtist ?? []) expect(a).toMatchObject({ albumCount: 2 });
    for (const field of ['smallImageUrl', 'mediumImageUrl', 'largeImageUrl'] as const) {
      expect(artistInfo2[field]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/covers\/ar-/);
    }
    // Players load image URLs as they are, without credentials.
    const image = await fetch(artistInfo2.largeImageUrl!);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');

    const byAlbum = await json('getArtistInfo2', { ...token(alice), id: neon[0]!.albumId, count: 1 });
    expect(ids(byAlbum.artistInfo2.similarArtist)).toHaveLength(1);
    const bySong = await json('getArtistInfo', { ...token(alice), id: neon[0]!.id });
    expect(bySong.artistInfo.smallImageUrl).toBe(artistInfo2.smallImageUrl);
    // The folder form: similar artists as `Artist`, without album counts.
    expect(bySong.artistInfo.similarArtist[0]).not.toHaveProperty('albumCount');

    const root = await xml('getArtistInfo2', { ...token(alice), id: neon[0]!.artistId });
    const [info] = findAll(root, 'artistInfo2');
    expect(info!.children.map((c) => c.name)).toEqual([
      'biography',
      'smallImageUrl',
      'mediumImageUrl',
      'largeImageUrl',
      ...artistInfo2.similarArtist!.map(() => 'similarArtist'),
    ]);
    expect(findAll(info!, 'largeImageUrl')[0]!.text).toBe(artistInfo2.largeImageUrl);
    await fails('getArtistInfo2', token(alice), 10);
    await fails('getArtistInfo2', { ...token(alice), id: 'ar424242' }, 70);
    await fails('getArtistInfo', { ...token(alice), id: 'zz' }, 70);
  });

  it('getAlbumInfo and getAlbumInfo2 answer the album cover, by album or song id', async () => {
    const album = albums[3]!;
    const { albumInfo } = await alice.api.getAlbumInfo2({ id: album.id });
    expect(albumInfo.notes).toBe('');
    expect(albumInfo.mediumImageUrl).toMatch(new RegExp(`/api/covers/al-${album.id}\\?size=\\d+$`));
    const track = tracks.find((t) => t.albumId === album.id)!;
    const bySong = await json('getAlbumInfo', { ...token(alice), id: track.id });
    expect(bySong.albumInfo).toEqual(albumInfo);
    const root = await xml('getAlbumInfo', { ...token(alice), id: album.id });
    expect(findAll(root, 'notes')).toHaveLength(1);
    expect(findAll(root, 'smallImageUrl')[0]!.text).toBe(albumInfo.smallImageUrl);
    await fails('getAlbumInfo2', token(alice), 10);
    await fails('getAlbumInfo2', { ...token(alice), id: 'al424242' }, 70);
  });
});

describe('the play queue', () => {
  it('is saved by one player and read back by another, with current, position, changed and changedBy', async () => {
    const queue = tracks.slice(0, 4).map((t) => t.id);
    const before = Date.now();
    await alice.api.savePlayQueue({ id: queue, current: queue[2], position: 81_500 });
    const { playQueue } = await alice.api.getPlayQueue();
    expect(ids(playQueue!.entry)).toEqual(queue);
    expect(playQueue).toMatchObject({ current: queue[2], position: 81_500, username: alice.user.username });
    expect(playQueue!.changedBy).toBe('subsonic-api');
    expect(Date.parse(String(playQueue!.changed))).toBeGreaterThanOrEqual(before - 1000);

    // Another player, by form POST, then the XML view.
    await json(
      'savePlayQueue',
      { ...token(alice), id: queue.slice(1), current: queue[1]!, c: 'Desk' },
      { post: true },
    );
    const root = await xml('getPlayQueue', token(alice));
    const [pq] = attributesOf(root, 'playQueue');
    expect(pq).toMatchObject({
      current: queue[1],
      position: '0',
      changedBy: 'Desk',
      username: alice.user.username,
    });
    expect(attributesOf(root, 'entry').map((e) => e.id)).toEqual(queue.slice(1));
  });

  it('keeps duplicates and the current index with the index-based calls', async () => {
    const [a, b] = [tracks[5]!.id, tracks[6]!.id];
    await json('savePlayQueueByIndex', {
      ...token(alice),
      id: [a, b, a, b],
      currentIndex: 2,
      position: 1000,
    });
    const byIndex = (await json('getPlayQueueByIndex', token(alice))).playQueueByIndex;
    expect(byIndex).toMatchObject({ currentIndex: 2, position: 1000, username: alice.user.username });
    expect(ids(byIndex.entry)).toEqual([a, b, a, b]);
    // The id-based view names the current song by its id.
    expect((await json('getPlayQueue', token(alice))).playQueue.current).toBe(a);
    const root = await xml('getPlayQueueByIndex', token(alice));
    expect(attributesOf(root, 'playQueueByIndex')[0]).toMatchObject({ currentIndex: '2' });
  });

  it('is durable and per user: it survives the users service restarting, and bob cannot read it', async () => {
    const saved = (await json('getPlayQueueByIndex', token(alice))).playQueueByIndex;
    await h.stop('users');
    await h.start(usersService);
    expect((await json('getPlayQueueByIndex', token(alice))).playQueueByIndex).toEqual(saved);
    const bobs = await json('getPlayQueue', token(bob));
    expect(bobs.status).toBe('ok');
    expect(bobs.playQueue).toBeUndefined();
    await fails('getPlayQueue', { ...token(bob), username: alice.user.username }, 50);
  });

  it('refuses unknown songs, a current song not in the queue and a bad index, changing nothing', async () => {
    const saved = (await json('getPlayQueueByIndex', token(alice))).playQueueByIndex;
    const id = tracks[0]!.id;
    await fails('savePlayQueue', { ...token(alice), id: [id, 'tr424242'], current: id }, 70);
    await fails('savePlayQueue', { ...token(alice), id: [id], current: tracks[1]!.id }, 10);
    await fails('savePlayQueue', { ...token(alice), id: [id] }, 10);
    await fails('savePlayQueueByIndex', { ...token(alice), id: [id], currentIndex: 1 }, 10);
    await fails('savePlayQueueByIndex', { ...token(alice), id: [id] }, 10);
    await fails('savePlayQueueByIndex', { ...token(alice), id: [id], currentIndex: -1 }, 0);
    expect((await json('getPlayQueueByIndex', token(alice))).playQueueByIndex).toEqual(saved);
  });

  it('is cleared by a save without songs', async () => {
    expect((await json('savePlayQueue', token(alice))).status).toBe('ok');
    const body = await json('getPlayQueue', token(alice));
    expect(body.status).toBe('ok');
    expect(body.playQueue).toBeUndefined();
    expect((await json('getPlayQueueByIndex', token(alice))).playQueueByIndex).toBeUndefined();
  });
});

describe('ratings', () => {
  it('rates songs, albums and artists 1-5, shows userRating to the rater only, and 0 removes it', async () => {
    const album = albums[1]!;
    const song = tracks.find((t) => t.albumId === album.id)!;
    await alice.api.setRating({ id: song.id, rating: 4 });
    await json('setRating', { ...token(alice), id: album.id, rating: 5 });
    await json('setRating', { ...token(alice), id: album.artistId, rating: 2 });
    expect((await json('getSong', { ...token(alice), id: song.id })).song.userRating).toBe(4);
    const got = (await json('getAlbum', { ...token(alice), id: album.id })).album;
    expect(got.userRating).toBe(5);
    expect(got.song.find((s: Json) => s.id === song.id).userRating).toBe(4);
    expect((await json('getArtist', { ...token(alice), id: album.artistId })).artist.userRating).toBe(2);
    const root = await xml('getSong', { ...token(alice), id: song.id });
    expect(attributesOf(root, 'song')[0]!.userRating).toBe('4');
    expect((await json('getSong', { ...token(bob), id: song.id })).song.userRating).toBeUndefined();

    await json('setRating', { ...token(alice), id: albums[6]!.id, rating: 3 });
    const highest = (await json('getAlbumList2', { ...token(alice), type: 'highest' })).albumList2.album;
    expect(ids(highest)).toEqual([album.id, albums[6]!.id]);

    await json('setRating', { ...token(alice), id: song.id, rating: 0 });
    expect((await json('getSong', { ...token(alice), id: song.id })).song.userRating).toBeUndefined();
  });

  it('refuses ratings out of range, unknown ids and missing parameters', async () => {
    await fails('setRating', { ...token(alice), id: tracks[0]!.id, rating: 6 }, 0);
    await fails('setRating', { ...token(alice), id: 'tr424242', rating: 3 }, 70);
    await fails('setRating', { ...token(alice), rating: 3 }, 10);
    await fails('setRating', { ...token(alice), id: tracks[0]!.id }, 10);
  });
});

describe('top and similar songs, from our own plays', () => {
  const velvet = () => byArtist('The Velvet Static');
  const neon = () => byArtist('Neon Meridian');

  beforeAll(async () => {
    // Alice and Bob both play a Neon Meridian song and a Velvet Static one; Velvet's [1] most.
    const plays: Array<[Account, Track, number]> = [
      [alice, velvet()[1]!, 3],
      [alice, velvet()[0]!, 1],
      [alice, neon()[0]!, 1],
      [bob, neon()[0]!, 1],
      [bob, velvet()[1]!, 1],
    ];
    for (const [who, track, times] of plays) {
      // Each play at its own time: the same user, track and time is one play, however often sent.
      for (let i = 0; i < times; i++) {
        await json('scrobble', { ...token(who), id: track.id, time: Date.now() - 60_000 * (i + 1) });
      }
    }
  });

  it('getTopSongs lists an artist’s most played songs by name or id, with play counts', async () => {
    const top = await eventually(async () => {
      const { topSongs } = await alice.api.getTopSongs({ artist: 'The Velvet Static' });
      const songs = topSongs.song ?? [];
      return songs.length === 2 && songs[0]!.playCount === 4 ? songs : undefined;
    });
    expect(top.map((s) => [s.id, s.playCount])).toEqual([
      [velvet()[1]!.id, 4],
      [velvet()[0]!.id, 1],
    ]);
    const byId = await json('getTopSongs', { ...token(alice), id: velvet()[0]!.artistId, count: 1 });
    expect(ids(byId.topSongs.song)).toEqual([velvet()[1]!.id]);
    const root = await xml('getTopSongs', { ...token(alice), artist: 'the velvet static' });
    expect(attributesOf(root, 'song').map((s) => s.id)).toEqual(top.map((s) => s.id));
    const nobody = await json('getTopSongs', { ...token(alice), artist: 'Nobody' });
    expect(nobody.status).toBe('ok');
    expect(nobody.topSongs).toEqual({});
    await fails('getTopSongs', token(alice), 10);
    await fails('getTopSongs', { ...token(alice), id: 'ar424242' }, 70);
  });

  it('getSimilarSongs and getSimilarSongs2 put what the same listeners play first, then artist and genre', async () => {
    const seed = neon()[0]!;
    const similar = await eventually(async () => {
      const { similarSongs2 } = await alice.api.getSimilarSongs2({ id: seed.id, count: 5 });
      const songs = similarSongs2.song ?? [];
      return songs[0]?.id === velvet()[1]!.id ? songs : undefined;
    });
    expect(similar).toHaveLength(5);
    expect(ids(similar)).not.toContain(seed.id);
    expect(similar[1]!.id).toBe(velvet()[0]!.id);
    expect(similar.slice(2).every((s) => s.artistId === seed.artistId || s.genre === seed.genre)).toBe(true);
    const byArtistId = await json('getSimilarSongs', { ...token(alice), id: seed.artistId, count: 3 });
    expect(ids(byArtistId.similarSongs.song)[0]).toBe(velvet()[1]!.id);
    const root = await xml('getSimilarSongs2', { ...token(alice), id: seed.albumId, count: 2 });
    expect(attributesOf(root, 'song')).toHaveLength(2);
    await fails('getSimilarSongs', token(alice), 10);
    await fails('getSimilarSongs2', { ...token(alice), id: 'tr424242' }, 70);
  });
});

describe('playback reports and now playing', () => {
  const track = () => tracks[20]!;
  const report = (who: Account, params: Record<string, string | number | boolean>) =>
    json('reportPlayback', { ...token(who), mediaId: track().id, mediaType: 'song', ...params });

  it('shows state, position and rate, moving the position on while playing', async () => {
    await report(alice, { state: 'starting', positionMs: 0, c: 'Phone' });
    let entry = (await json('getNowPlaying', token(bob))).nowPlaying.entry.find(
      (e: Json) => e.playerName === 'Phone',
    );
    expect(entry).toMatchObject({
      id: track().id,
      username: alice.user.username,
      state: 'starting',
      positionMs: 0,
    });
    await alice.api.reportPlayback({
      mediaId: track().id,
      mediaType: 'song',
      positionMs: 2000,
      state: 'playing',
      playbackRate: 1.5,
    });
    const playing = (await alice.api.getNowPlaying()).nowPlaying.entry?.find(
      (e) => e.playerName === 'subsonic-api',
    );
    expect(playing).toMatchObject({ state: 'playing', playbackRate: 1.5, minutesAgo: 0 });
    expect(playing!.positionMs).toBeGreaterThanOrEqual(2000);
    // The position moves on at the rate between reports.
    await eventually(async () => {
      const now = (await json('getNowPlaying', token(bob))).nowPlaying.entry.find(
        (e: Json) => e.playerName === 'subsonic-api',
      );
      return now.positionMs >= 2300;
    });
    await report(alice, { state: 'paused', positionMs: 5000, c: 'Phone' });
    const root = await xml('getNowPlaying', token(bob));
    const paused = attributesOf(root, 'entry').find((e) => e.playerName === 'Phone');
    expect(paused).toMatchObject({ state: 'paused', positionMs: '5000', playbackRate: '1' });
    entry = (await json('getNowPlaying', token(bob))).nowPlaying.entry.find(
      (e: Json) => e.playerName === 'Phone',
    );
    expect(entry.positionMs).toBe(5000);
  });

  it('lives in the users service: another gateway shows the same', async () => {
    const other = await h.gateway();
    try {
      const otherClient = subsonicClient(
        () => `http://127.0.0.1:${other.port}/rest`,
        () => users,
      );
      const there = await otherClient.json('getNowPlaying', token(bob));
      expect(there.nowPlaying.entry.find((e: Json) => e.playerName === 'Phone')).toMatchObject({
        state: 'paused',
        username: alice.user.username,
      });
    } finally {
      await other.stop();
    }
  });

  it('does not let a stream starting replace what the player reported', async () => {
    await request('stream', { ...token(alice), id: tracks[21]!.id, c: 'Phone' });
    const entry = (await json('getNowPlaying', token(bob))).nowPlaying.entry.find(
      (e: Json) => e.playerName === 'Phone',
    );
    expect(entry).toMatchObject({ id: track().id, state: 'paused' });
  });

  const playsOf = (trackId: string, userId: string) =>
    h.tap.events.filter(
      (e) => (e.data as TrackPlayed).trackId === trackId && (e.data as TrackPlayed).userId === userId,
    ).length;

  /**
   * A play recorded through the same outbox after what a test did: once it is published,
   * any play those reports made has been too (the relay publishes in order).
   */
  async function outboxMarker(who: Account): Promise<void> {
    const marker = tracks[30]!;
    const before = playsOf(marker.id, who.user.id);
    const params = { ...token(who), mediaId: marker.id, c: `marker-${before}` };
    await json('reportPlayback', { ...params, positionMs: 0, state: 'starting' });
    await json('reportPlayback', { ...params, positionMs: marker.durationMs, state: 'stopped' });
    await eventually(() => playsOf(marker.id, who.user.id) > before);
  }

  it('records a playback stopped far enough as one play, however often the stop is reported', async () => {
    const half = Math.ceil(track().durationMs / 2);
    const before = playsOf(track().id, alice.user.id);
    await report(alice, { state: 'stopped', positionMs: half, c: 'Phone' });
    await report(alice, { state: 'stopped', positionMs: half, c: 'Phone' });
    const play = await h.tap.waitFor<TrackPlayed>(
      (e) => e.data.trackId === track().id && e.data.source === 'playback-report',
    );
    expect(play).toMatchObject({
      type: Events.trackPlayed.type,
      data: { userId: alice.user.id, msPlayed: half, source: 'playback-report' },
    });
    // Stopped is not playing: the entry is gone from the list.
    const list = (await json('getNowPlaying', token(bob))).nowPlaying.entry ?? [];
    expect(list.find((e: Json) => e.playerName === 'Phone')).toBeUndefined();
    await outboxMarker(alice);
    expect(playsOf(track().id, alice.user.id)).toBe(before + 1);
  });

  it('records no play when told to ignore scrobbling, or when stopped early', async () => {
    const other = tracks[22]!;
    const tab = { ...token(bob), mediaId: other.id };
    await json('reportPlayback', { ...tab, positionMs: 0, state: 'starting', c: 'Tab' });
    await json('reportPlayback', {
      ...tab,
      positionMs: other.durationMs,
      state: 'stopped',
      ignoreScrobble: true,
      c: 'Tab',
    });
    await json('reportPlayback', { ...tab, positionMs: 1000, state: 'stopped', c: 'Tab2' });
    await outboxMarker(bob);
    expect(playsOf(other.id, bob.user.id)).toBe(0);
  });

  it('forgets a player that goes quiet', async () => {
    await report(bob, { state: 'paused', positionMs: 1000, c: 'Quiet' });
    const listed = async () =>
      ((await json('getNowPlaying', token(alice))).nowPlaying.entry ?? []).some(
        (e: Json) => e.playerName === 'Quiet',
      );
    expect(await listed()).toBe(true);
    // As if the entry's time had run out.
    const pool = testPool(`${h.ns}_users`);
    try {
      await pool.query(
        `UPDATE now_playing SET expires_at = now() - interval '1 second' WHERE client = 'Quiet'`,
      );
      expect(await listed()).toBe(false);
      // Long expired, the row itself goes at the users workers' next pruning.
      const quiet = "SELECT 1 FROM now_playing WHERE client = 'Quiet'";
      expect(await pruneNowPlaying(pool)).toBe(0);
      expect((await pool.query(quiet)).rowCount).toBe(1);
      await pool.query(
        `UPDATE now_playing SET expires_at = now() - interval '2 hours' WHERE client = 'Quiet'`,
      );
      expect(await pruneNowPlaying(pool)).toBe(1);
      expect((await pool.query(quiet)).rowCount).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it('refuses reports without a song, of unknown songs, and in states or media types it does not know', async () => {
    await fails('reportPlayback', { ...token(alice), positionMs: 0, state: 'playing' }, 10);
    await fails('reportPlayback', { ...token(alice), mediaId: track().id, state: 'playing' }, 10);
    await fails('reportPlayback', { ...token(alice), mediaId: track().id, positionMs: 0 }, 10);
    await fails(
      'reportPlayback',
      { ...token(alice), mediaId: 'tr424242', positionMs: 0, state: 'playing' },
      70,
    );
    await fails(
      'reportPlayback',
      { ...token(alice), mediaId: track().id, positionMs: 0, state: 'rewinding' },
      0,
    );
    await fails(
      'reportPlayback',
      { ...token(alice), mediaId: track().id, mediaType: 'podcast', positionMs: 0, state: 'playing' },
      0,
    );
    await fails(
      'reportPlayback',
      { ...token(alice), mediaId: track().id, positionMs: -5, state: 'playing' },
      0,
    );
  });
});
