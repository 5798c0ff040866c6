import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { parseFile } from 'music-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogContract, type Track } from '../common/contracts/catalog.js';
import { statsContract, type TrackCount } from '../common/contracts/stats.js';
import {
  ErrorCodes,
  InvalidInputError,
  NotFoundError,
  type Pool,
  RpcServer,
  type ServiceClient,
  UnavailableError,
} from '../common/index.js';
import { renderTrack, SAMPLE_RATE } from '../services/catalog/audio/synth.js';
import { encodeWav, readWavHeader, WAV_HEADER_BYTES } from '../services/catalog/audio/wav.js';
import {
  catalogService,
  importFolder,
  normalizeText,
  type SeedReport,
  seedCatalog,
} from '../services/catalog/index.js';
import { silentLogger, testConfig } from './support/env.js';
import { ServiceHarness } from './support/service-harness.js';

type Catalog = ServiceClient<typeof catalogContract>;

/** Stats as an in-memory play log, served on the test namespace; it remembers what it was asked. */
class InMemoryStats {
  readonly plays: Array<{ trackId: string; userId: string; at: number; ms: number }> = [];
  readonly asked: Array<{ window: string; limit: number }> = [];
  server: RpcServer<typeof statsContract> | null = null;

  play(trackId: string, times: number, agoMs = 0, userId = 'u1'): void {
    for (let i = 0; i < times; i++) this.plays.push({ trackId, userId, at: Date.now() - agoMs, ms: 1000 });
  }

  private top(window: 'hour' | 'day' | 'all', limit: number, userId?: string): TrackCount[] {
    const since = { hour: Date.now() - 3_600_000, day: Date.now() - 86_400_000, all: 0 }[window];
    const counts = new Map<string, number>();
    for (const p of this.plays) {
      if (p.at >= since && (!userId || p.userId === userId))
        counts.set(p.trackId, (counts.get(p.trackId) ?? 0) + 1);
    }
    return [...counts]
      .map(([trackId, plays]) => ({ trackId, plays }))
      .sort((a, b) => b.plays - a.plays || a.trackId.localeCompare(b.trackId))
      .slice(0, limit);
  }

  async start(h: ServiceHarness): Promise<void> {
    this.server = new RpcServer({
      broker: h.broker,
      contract: statsContract,
      logger: silentLogger,
      handlers: {
        projectionLag: async () => [],
        topTracks: async ({ window, limit }) => {
          this.asked.push({ window, limit });
          return this.top(window, limit).map((t) => ({ ...t, listeners: 1 }));
        },
        report: async () => {
          throw new NotFoundError('no reports in this fake');
        },
        user: async ({ limit }, ctx) => {
          const userId = ctx.caller.userId;
          const mine = this.plays.filter((p) => p.userId === userId);
          return {
            userId,
            totalPlays: mine.length,
            totalMs: mine.reduce((sum, p) => sum + p.ms, 0),
            distinctTracks: new Set(mine.map((p) => p.trackId)).size,
            topTracks: this.top('all', limit, userId),
            lastPlayedAt: mine.length ? new Date(Math.max(...mine.map((p) => p.at))).toISOString() : null,
          };
        },
        trackPlays: async ({ trackIds }) =>
          this.top('all', 100_000).filter((c) => trackIds.includes(c.trackId)),
        coPlayed: async ({ trackIds, limit }) => {
          const listeners = new Set(
            this.plays.filter((p) => trackIds.includes(p.trackId)).map((p) => p.userId),
          );
          const byTrack = new Map<string, { users: Set<string>; plays: number }>();
          for (const p of this.plays) {
            if (!listeners.has(p.userId) || trackIds.includes(p.trackId)) continue;
            const entry = byTrack.get(p.trackId) ?? { users: new Set(), plays: 0 };
            entry.users.add(p.userId);
            entry.plays++;
            byTrack.set(p.trackId, entry);
          }
          return [...byTrack]
            .map(([trackId, e]) => ({ trackId, listeners: e.users.size, plays: e.plays }))
            .sort(
              (a, b) => b.listeners - a.listeners || b.plays - a.plays || a.trackId.localeCompare(b.trackId),
            )
            .slice(0, limit);
        },
        overview: async () => ({
          totalPlays: this.plays.length,
          activeUsers: new Set(this.plays.filter((p) => p.at > Date.now() - 3_600_000).map((p) => p.userId))
            .size,
          perMinute: [],
          registeredUsers: new Set(this.plays.map((p) => p.userId)).size,
          playlistChanges: 0,
        }),
      },
    });
    await this.server.start();
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }
}

async function snapshot(pool: Pool): Promise<unknown[]> {
  const tables = ['artists', 'albums', 'tracks'];
  const rows = await Promise.all(
    tables.map(async (t) => (await pool.query(`SELECT * FROM ${t} ORDER BY id`)).rows),
  );
  const seqs = await pool.query(
    'SELECT last_value FROM artist_ids UNION ALL SELECT last_value FROM album_ids UNION ALL SELECT last_value FROM track_ids',
  );
  return [...rows, seqs.rows];
}

async function allTracks(catalog: Catalog): Promise<Track[]> {
  return (await catalog.call('listTracks', { limit: 500 })).items;
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: { code?: number }) => e.code,
  );

describe('catalog service', () => {
  let h: ServiceHarness;
  let catalog: Catalog;
  let mediaDir: string;
  let seeded: SeedReport;

  beforeAll(async () => {
    mediaDir = await mkdtemp(join(tmpdir(), 'catalog-media-'));
    h = await ServiceHarness.open(catalogService, { config: testConfig({ mediaDir, rpcTimeoutMs: 2000 }) });
    h.onClose(() => rm(mediaDir, { recursive: true, force: true }));
    catalog = h.rpc.bind(catalogContract);
    seeded = await seedCatalog(h.pool, mediaDir);
  });

  afterAll(async () => {
    await h?.close();
  });

  describe('seed', () => {
    it('creates at least 5 artists, 10 albums and 60 tracks, each with a generated file', () => {
      expect(seeded.artists).toEqual({ inserted: 6, updated: 0, unchanged: 0 });
      expect(seeded.albums).toEqual({ inserted: 12, updated: 0, unchanged: 0 });
      expect(seeded.tracks.inserted).toBe(64);
      expect(seeded.filesWritten).toBe(64);
      expect(seeded.filesKept).toBe(0);
    });

    it('is idempotent: a second run changes no row, id sequence or file', async () => {
      const before = await snapshot(h.pool);
      const again = await seedCatalog(h.pool, mediaDir);
      expect(again.artists).toEqual({ inserted: 0, updated: 0, unchanged: 6 });
      expect(again.albums).toEqual({ inserted: 0, updated: 0, unchanged: 12 });
      expect(again.tracks).toEqual({ inserted: 0, updated: 0, unchanged: 64 });
      expect(again.filesWritten).toBe(0);
      expect(await snapshot(h.pool)).toEqual(before);
    });

    it('gives short ids users can type', async () => {
      const tracks = await allTracks(catalog);
      expect(tracks).toHaveLength(64);
      for (const t of tracks) expect(t.id).toMatch(/^tr\d{1,3}$/);
      expect(tracks.every((t) => /^al\d+$/.test(t.albumId) && /^ar\d+$/.test(t.artistId))).toBe(true);
    });

    it('regenerates a damaged audio file, identical to the original', async () => {
      const file = await catalog.call('getTrackFile', { id: 'tr1' });
      const original = await readFile(file.path);
      await truncate(file.path, 100);
      const again = await seedCatalog(h.pool, mediaDir);
      expect(again.filesWritten).toBe(1);
      expect(again.tracks.unchanged).toBe(64);
      expect((await readFile(file.path)).equals(original)).toBe(true);
    });
  });

  describe('generated audio', () => {
    it('is valid 16-bit mono PCM WAV whose duration and size match the catalog', async () => {
      const hashes = new Set<string>();
      for (const track of await allTracks(catalog)) {
        const file = await catalog.call('getTrackFile', { id: track.id });
        const bytes = await readFile(file.path);
        const wav = readWavHeader(bytes);
        expect(wav).toMatchObject({ sampleRate: SAMPLE_RATE, channels: 1, bitsPerSample: 16 });
        expect(wav.durationMs).toBe(track.durationMs);
        expect(track.durationMs).toBeGreaterThanOrEqual(8000);
        expect(track.durationMs).toBeLessThanOrEqual(40_000);
        expect(bytes.length).toBe(WAV_HEADER_BYTES + wav.dataBytes);
        expect(file.sizeBytes).toBe(bytes.length);
        expect(track.sizeBytes).toBe(bytes.length);
        expect(track.mimeType).toBe('audio/wav');
        hashes.add(createHash('sha1').update(bytes.subarray(WAV_HEADER_BYTES)).digest('hex'));
      }
      expect(hashes.size).toBe(64); // every track sounds different
    });

    it('is read back by an independent decoder with the same duration, and is not silence', async () => {
      const tracks = (await allTracks(catalog)).filter((_, i) => i % 13 === 0);
      for (const track of tracks) {
        const { path } = await catalog.call('getTrackFile', { id: track.id });
        const meta = await parseFile(path, { duration: true });
        expect(meta.format.sampleRate).toBe(SAMPLE_RATE);
        expect(meta.format.numberOfChannels).toBe(1);
        expect(Math.abs(meta.format.duration! * 1000 - track.durationMs)).toBeLessThan(5);
        const pcm = await readFile(path);
        let energy = 0;
        for (let i = WAV_HEADER_BYTES; i < pcm.length; i += 2) energy += Math.abs(pcm.readInt16LE(i));
        expect(energy / ((pcm.length - WAV_HEADER_BYTES) / 2)).toBeGreaterThan(1000);
      }
    });

    it('renders the same track identically every time', () => {
      const spec = { seed: 'x/y/z', style: 'jazz', durationMs: 8000 };
      expect(
        encodeWav(renderTrack(spec), SAMPLE_RATE).equals(encodeWav(renderTrack(spec), SAMPLE_RATE)),
      ).toBe(true);
    });
  });

  describe('browsing', () => {
    it('lists artists alphabetically, ignoring accents, and pages through them', async () => {
      const all = await catalog.call('listArtists', {});
      expect(all.total).toBe(6);
      expect(all.items.map((a) => a.name)).toEqual([
        'Café Lumière Quartet',
        'Los Días Raros',
        'Neon Meridian',
        'Ólafur Blue',
        'The Velvet Static',
        'Zoë & the Nightjars',
      ]);
      expect(all.items.every((a) => a.albumCount === 2)).toBe(true);
      const page = await catalog.call('listArtists', { limit: 2, offset: 2 });
      expect(page).toMatchObject({ total: 6, limit: 2, offset: 2 });
      expect(page.items).toEqual(all.items.slice(2, 4));
      expect((await catalog.call('listArtists', { offset: 10 })).items).toEqual([]);
    });

    it('gets an artist with its albums in release order', async () => {
      const [velvet] = (await catalog.call('search', { q: 'velvet static' })).artists;
      const artist = await catalog.call('getArtist', { id: velvet!.id });
      expect(artist.name).toBe('The Velvet Static');
      expect(artist.albums.map((a) => [a.title, a.year])).toEqual([
        ['Fuse Box Heart', 2009],
        ['Midnight Overdrive', 2013],
      ]);
    });

    it('gets an album with its tracks in order and consistent totals', async () => {
      const albums = await catalog.call('listAlbums', { limit: 500 });
      const hours = albums.items.find((a) => a.title === 'Blue Hour Sessions')!;
      const album = await catalog.call('getAlbum', { id: hours.id });
      expect(album).toMatchObject({
        artistName: 'Café Lumière Quartet',
        year: 2018,
        genre: 'jazz',
        trackCount: 6,
      });
      expect(album.coverColor).toMatch(/^#[0-9a-f]{6}$/);
      expect(Date.parse(album.createdAt)).not.toBeNaN();
      expect(album.tracks.map((t) => t.number)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(album.tracks[0]!.title).toBe('Blue Hour');
      expect(album.durationMs).toBe(album.tracks.reduce((sum, t) => sum + t.durationMs, 0));
      for (const t of album.tracks) {
        expect(t).toMatchObject({
          albumId: album.id,
          albumTitle: album.title,
          artistId: album.artistId,
          year: 2018,
        });
      }
    });

    it('lists albums in each sort order, filtered by genre case-insensitively', async () => {
      const alpha = (await catalog.call('listAlbums', { limit: 500 })).items.map((a) => a.title);
      expect(alpha).toHaveLength(12);
      expect(alpha.slice(0, 3)).toEqual(['Blue Hour Sessions', 'Canción del Desvelo', 'Chromatic City']);
      const byYear = (await catalog.call('listAlbums', { sort: 'year', limit: 500 })).items.map(
        (a) => a.year!,
      );
      expect(byYear).toEqual([...byYear].sort((a, b) => a - b));
      const newest = (await catalog.call('listAlbums', { sort: 'newest', limit: 500 })).items;
      expect(newest[0]!.title).toBe('Señales'); // seeded last
      const random = (await catalog.call('listAlbums', { sort: 'random', limit: 500 })).items.map(
        (a) => a.title,
      );
      expect([...random].sort()).toEqual([...alpha].sort());
      const jazz = await catalog.call('listAlbums', { genre: 'JAZZ' });
      expect(jazz.total).toBe(2);
      expect(jazz.items.map((a) => a.title)).toEqual(['Blue Hour Sessions', 'Rue des Étoiles']);
      const page = await catalog.call('listAlbums', { limit: 5, offset: 10 });
      expect(page.items.map((a) => a.title)).toEqual(alpha.slice(10));
      expect(page.total).toBe(12);
    });

    it('lists albums by artist, and by release years in either direction', async () => {
      const all = (await catalog.call('listAlbums', { limit: 500 })).items;
      const byArtist = (await catalog.call('listAlbums', { sort: 'artist', limit: 500 })).items;
      const artistOrder = (await catalog.call('listArtists', {})).items.map((a) => a.id);
      expect(byArtist.map((a) => artistOrder.indexOf(a.artistId))).toEqual(
        [...byArtist.map((a) => artistOrder.indexOf(a.artistId))].sort((a, b) => a - b),
      );
      const inYears = all.filter((a) => a.year! >= 2012 && a.year! <= 2017);
      const up = (
        await catalog.call('listAlbums', { sort: 'year', fromYear: 2012, toYear: 2017, limit: 500 })
      ).items;
      expect(up.map((a) => a.id).sort()).toEqual(inYears.map((a) => a.id).sort());
      expect(up.map((a) => a.year)).toEqual(up.map((a) => a.year).sort((a, b) => a! - b!));
      const down = await catalog.call('listAlbums', { sort: 'year', fromYear: 2017, toYear: 2012, limit: 2 });
      expect(down.total).toBe(inYears.length);
      expect(down.items.map((a) => a.year)).toEqual(
        inYears
          .map((a) => a.year)
          .sort((a, b) => b! - a!)
          .slice(0, 2),
      );
      expect((await catalog.call('listAlbums', { fromYear: 2100 })).total).toBe(0);
    });

    it('indexes every artist under the initial of its name without an article', async () => {
      const index = await catalog.call('artistIndex', {});
      expect(index.map((g) => g.name)).toEqual(['C', 'L', 'N', 'O', 'V', 'Z']);
      expect(index.find((g) => g.name === 'V')!.artists.map((a) => a.name)).toEqual(['The Velvet Static']);
      expect(index.flatMap((g) => g.artists)).toHaveLength(6);
    });

    it('lists the albums of tracks, each once, in the order of its first track, by pages', async () => {
      const all = (await catalog.call('listAlbums', { limit: 500 })).items;
      const tracksOf = async (albumId: string) => (await catalog.call('getAlbum', { id: albumId })).tracks;
      const [a, b, c] = await Promise.all(all.slice(0, 3).map((al) => tracksOf(al.id)));
      const trackIds = [b![1]!.id, a![0]!.id, b![0]!.id, 'tr9999', c![2]!.id, a![1]!.id];
      const albums = await catalog.call('albumsOfTracks', { trackIds });
      expect(albums.map((al) => al.id)).toEqual([all[1]!.id, all[0]!.id, all[2]!.id]);
      const page = await catalog.call('albumsOfTracks', { trackIds, limit: 1, offset: 1 });
      expect(page.map((al) => al.id)).toEqual([all[0]!.id]);
    });

    it('pages through every track exactly once, and filters by genre', async () => {
      const seen: string[] = [];
      for (let offset = 0; ; offset += 25) {
        const page = await catalog.call('listTracks', { limit: 25, offset });
        expect(page.total).toBe(64);
        seen.push(...page.items.map((t) => t.id));
        if (page.items.length < 25) break;
      }
      expect(new Set(seen).size).toBe(64);
      const folk = await catalog.call('listTracks', { genre: 'Folk', limit: 500 });
      expect(folk.total).toBe(16);
      expect(folk.items.every((t) => t.genre === 'folk')).toBe(true);
      expect((await catalog.call('listTracks', { genre: 'polka' })).total).toBe(0);
    });

    it('gets tracks one at a time and several at once, in the order asked', async () => {
      const [a, b, c] = await allTracks(catalog);
      expect(await catalog.call('getTrack', { id: b!.id })).toEqual(b);
      const many = await catalog.call('getTracks', { ids: [c!.id, 'tr9999', a!.id, c!.id] });
      expect(many.map((t) => t.id)).toEqual([c!.id, a!.id, c!.id]);
      expect(await catalog.call('getTracks', { ids: [] })).toEqual([]);
    });

    it('lists genres with album and track counts', async () => {
      expect(await catalog.call('listGenres', {})).toEqual([
        { name: 'ambient', albumCount: 2, trackCount: 10 },
        { name: 'electronic', albumCount: 3, trackCount: 16 },
        { name: 'folk', albumCount: 3, trackCount: 16 },
        { name: 'jazz', albumCount: 2, trackCount: 11 },
        { name: 'rock', albumCount: 2, trackCount: 11 },
      ]);
    });

    it('picks random tracks of some years only', async () => {
      const all = await allTracks(catalog);
      const old = await catalog.call('randomTracks', { limit: 500, toYear: 2012 });
      expect(old.length).toBe(all.filter((t) => t.year! <= 2012).length);
      const some = await catalog.call('randomTracks', {
        limit: 500,
        fromYear: 2016,
        toYear: 2014,
        genre: 'folk',
      });
      expect(some.length).toBe(
        all.filter((t) => t.year! >= 2014 && t.year! <= 2016 && t.genre === 'folk').length,
      );
    });

    it('picks random tracks, distinct, optionally of one genre', async () => {
      const some = await catalog.call('randomTracks', { limit: 20 });
      expect(some).toHaveLength(20);
      expect(new Set(some.map((t) => t.id)).size).toBe(20);
      const ambient = await catalog.call('randomTracks', { genre: 'ambient', limit: 50 });
      expect(ambient).toHaveLength(10);
      expect(ambient.every((t) => t.artistName === 'Ólafur Blue')).toBe(true);
      expect(await catalog.call('randomTracks', {})).toHaveLength(10);
    });

    it('returns the absolute path of a track file under the media folder', async () => {
      const file = await catalog.call('getTrackFile', { id: 'tr2' });
      expect(isAbsolute(file.path)).toBe(true);
      expect(file.path.startsWith(join(mediaDir, 'seed'))).toBe(true);
      expect(file).toMatchObject({
        id: 'tr2',
        mimeType: 'audio/wav',
        sizeBytes: (await stat(file.path)).size,
      });
    });

    it('answers unknown ids with not found', async () => {
      for (const method of ['getArtist', 'getAlbum', 'getTrack', 'getTrackFile'] as const) {
        const err = await catalog.call(method, { id: 'nope1' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toMatch(/nope1/);
      }
    });

    it('answers bad params with -32602 naming the field', async () => {
      const bad = ErrorCodes.INVALID_PARAMS;
      expect(await codeOf(catalog.call('getTrack', { id: '' }))).toBe(bad);
      expect(await codeOf(catalog.call('getTrack', { id: 'x'.repeat(65) }))).toBe(bad);
      expect(await codeOf(h.rpc.call('catalog', 'getTrack', { id: 'tr1', extra: 1 }))).toBe(bad);
      expect(await codeOf(h.rpc.call('catalog', 'listAlbums', { sort: 'loudest' }))).toBe(bad);
      expect(await codeOf(catalog.call('listArtists', { limit: 0 }))).toBe(bad);
      expect(await codeOf(catalog.call('listTracks', { offset: -1 }))).toBe(bad);
      expect(await codeOf(catalog.call('randomTracks', { limit: 501 }))).toBe(bad);
      expect(await codeOf(catalog.call('search', { q: '   ' }))).toBe(bad);
      expect(await codeOf(catalog.call('topTracks', { window: 'week' as 'day' }))).toBe(bad);
      const err = await h.rpc.call('catalog', 'search', { q: 'blue', limit: 'ten' }).catch((e: Error) => e);
      expect((err as Error).message).toMatch(/limit/);
    });
  });

  describe('search', () => {
    const names = (xs: Array<{ name?: string; title?: string }>) => xs.map((x) => x.name ?? x.title);

    it('ignores case and accents, both ways', async () => {
      for (const q of ['olafur', 'ÓLAFUR', 'Ólafur blue', 'OLAFUR BLUE']) {
        expect(names((await catalog.call('search', { q })).artists)).toEqual(['Ólafur Blue']);
      }
      for (const q of ['zoe', 'Zoë', 'ZOE & THE', 'zoe nightjars']) {
        expect(names((await catalog.call('search', { q })).artists)).toEqual(['Zoë & the Nightjars']);
      }
      expect(names((await catalog.call('search', { q: 'cafe lumiere' })).artists)).toEqual([
        'Café Lumière Quartet',
      ]);
      expect(names((await catalog.call('search', { q: 'etoiles' })).albums)).toEqual(['Rue des Étoiles']);
      expect(names((await catalog.call('search', { q: 'SONDAG' })).tracks)).toEqual(['Søndag Morgen']);
      expect(names((await catalog.call('search', { q: 'þögn' })).tracks)).toEqual(['Þögn']);
      expect(names((await catalog.call('search', { q: 'manana quizas' })).tracks)).toEqual(['Mañana Quizás']);
    });

    it('matches words as they are typed, and fragments inside words', async () => {
      expect(names((await catalog.call('search', { q: 'ferry' })).tracks)).toEqual([
        "The Ferryman's Daughter",
      ]);
      expect(names((await catalog.call('search', { q: 'blue hou' })).tracks)[0]).toBe('Blue Hour');
      expect(names((await catalog.call('search', { q: 'blue hou' })).albums)).toEqual(['Blue Hour Sessions']);
      expect(names((await catalog.call('search', { q: 'ohertz' })).tracks)).toEqual(['Kilohertz']);
    });

    it('ranks exact and leading title matches above other matches', async () => {
      const { artists, albums, tracks } = await catalog.call('search', { q: 'blue', limit: 100 });
      expect(names(artists)).toEqual(['Ólafur Blue']);
      expect(names(albums)[0]).toBe('Blue Hour Sessions');
      expect(names(albums)).toEqual(expect.arrayContaining(['Glacier Hymns', 'Fjörður']));
      const titles = names(tracks) as string[];
      const leading = titles.filter((t) => /^blue/i.test(t));
      expect(titles.slice(0, leading.length)).toEqual(leading);
      expect(leading.sort()).toEqual(['Blue Collar Comet', 'Blue Hour', 'Blue Ice Choir', 'Bluebell Wood']);
      const inTitle = titles.findLastIndex((t) => /blue/i.test(t));
      const byContext = titles.findIndex((t) => !/blue/i.test(t));
      expect(inTitle).toBeLessThan(byContext);
      // Tracks match through their artist ("Ólafur Blue") and album ("Blue Hour Sessions") too.
      expect(titles).toEqual(
        expect.arrayContaining(['Meltwater', 'Smoke Rings', 'Half Past Blue', 'Electric Blue']),
      );
      const exact = await catalog.call('search', { q: 'Blue Hour' });
      expect(names(exact.tracks)[0]).toBe('Blue Hour');
    });

    it('treats %, _, quotes and backslashes literally', async () => {
      expect(names((await catalog.call('search', { q: '%' })).tracks)).toEqual(['50% Chance of Rain']);
      expect(names((await catalog.call('search', { q: '50%' })).tracks)).toEqual(['50% Chance of Rain']);
      expect(await catalog.call('search', { q: '_' })).toEqual({ artists: [], albums: [], tracks: [] });
      expect(await catalog.call('search', { q: '\\' })).toEqual({ artists: [], albums: [], tracks: [] });
      expect(names((await catalog.call('search', { q: "don't" })).tracks)).toEqual(["Don't Wake the Fox"]);
      expect((names((await catalog.call('search', { q: "'" })).tracks) as string[]).sort()).toEqual([
        "Don't Wake the Fox",
        "The Ferryman's Daughter",
      ]);
      expect(await catalog.call('search', { q: "'; DROP TABLE tracks; --" })).toEqual({
        artists: [],
        albums: [],
        tracks: [],
      });
      expect((await catalog.call('listTracks', {})).total).toBe(64);
    });

    it('returns artists, albums and tracks exactly as the by-id methods do', async () => {
      const { artists, albums, tracks } = await catalog.call('search', { q: 'blue' });
      expect(artists.length * albums.length * tracks.length).toBeGreaterThan(0);
      for (const artist of artists) {
        const { albums: _, ...byId } = await catalog.call('getArtist', { id: artist.id });
        expect(artist).toEqual(byId);
      }
      for (const album of albums) {
        const { tracks: _, ...byId } = await catalog.call('getAlbum', { id: album.id });
        expect(album).toEqual(byId);
      }
      for (const track of tracks) expect(track).toEqual(await catalog.call('getTrack', { id: track.id }));
    });

    it('honours the limit per kind', async () => {
      const res = await catalog.call('search', { q: 'blue', limit: 2 });
      expect(res.tracks).toHaveLength(2);
      expect(res.albums.length).toBeLessThanOrEqual(2);
    });

    it('normalises text the same way it is stored', () => {
      expect(normalizeText('  Zoë   &  ÆSIR Straße Łódź ')).toBe('zoe & aesir strasse lodz');
    });
  });

  describe('topTracks', () => {
    const stats = new InMemoryStats();

    afterAll(() => stats.stop());

    it('fails fast with unavailable when no stats service exists', async () => {
      const started = Date.now();
      const err = await catalog.call('topTracks', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('joins the play counts from stats with catalog details', async () => {
      await stats.start(h);
      const [a, b, c] = await allTracks(catalog);
      stats.play(b!.id, 3);
      stats.play(a!.id, 2);
      stats.play(c!.id, 1);
      stats.play('tr9999', 5); // played, then removed from the catalog
      stats.play(c!.id, 4, 2 * 3_600_000); // two hours ago
      const top = await catalog.call('topTracks', { window: 'hour', limit: 3 });
      expect(stats.asked.at(-1)).toEqual({ window: 'hour', limit: 3 });
      expect(top.map((t) => [t.id, t.plays])).toEqual([
        [b!.id, 3],
        [a!.id, 2],
      ]);
      expect(top[0]).toEqual({ ...b, plays: 3 });
      const all = await catalog.call('topTracks', {});
      expect(stats.asked.at(-1)).toEqual({ window: 'all', limit: 10 });
      expect(all.map((t) => [t.id, t.plays])).toEqual([
        [c!.id, 5],
        [b!.id, 3],
        [a!.id, 2],
      ]);
    });

    it('answers unavailable, not a hang, when stats stops answering', async () => {
      await stats.stop(); // its queue stays, nobody consumes it
      const started = Date.now();
      const err = await catalog.call('topTracks', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toMatch(/stats|play counts/);
      expect(Date.now() - started).toBeLessThan(2000); // half the catalog's 2 s budget, plus slack
    });
  });

  describe('what the play counts say', () => {
    const stats = new InMemoryStats();
    let tracks: Track[];
    const byArtist = (name: string) => tracks.filter((t) => t.artistName === name);

    beforeAll(async () => {
      tracks = await allTracks(catalog);
    });

    afterAll(() => stats.stop());

    it('still finds similar tracks and artists, by artist and genre, while stats is away', async () => {
      const seed = byArtist('Neon Meridian')[0]!;
      const similar = await catalog.call('similarTracks', { id: seed.id, limit: 10 });
      expect(similar).toHaveLength(10);
      expect(similar.map((t) => t.id)).not.toContain(seed.id);
      // Same artist first (random among them), then the same genre.
      const sameArtist = similar.filter((t) => t.artistId === seed.artistId).length;
      expect(similar.slice(0, sameArtist).every((t) => t.artistId === seed.artistId)).toBe(true);
      expect(similar.slice(sameArtist).every((t) => t.genre === 'electronic')).toBe(true);
      const info = await catalog.call('artistInfo', { id: seed.albumId });
      expect(info.artist.name).toBe('Neon Meridian');
      // Los Días Raros has an electronic album too.
      expect(info.similar.map((a) => a.name)).toEqual(['Los Días Raros']);
      await expect(catalog.call('artistTopTracks', { artistId: seed.artistId })).rejects.toBeInstanceOf(
        UnavailableError,
      );
    });

    it('ranks tracks and artists the same listeners play first', async () => {
      await stats.start(h);
      const neon = byArtist('Neon Meridian');
      const velvet = byArtist('The Velvet Static');
      const cafe = byArtist('Café Lumière Quartet');
      // Two listeners of a Neon Meridian track also play a Velvet Static track, one a Café track.
      stats.play(neon[0]!.id, 1, 0, 'ann');
      stats.play(neon[0]!.id, 1, 0, 'bob');
      stats.play(velvet[2]!.id, 3, 0, 'ann');
      stats.play(velvet[2]!.id, 1, 0, 'bob');
      stats.play(cafe[1]!.id, 5, 0, 'bob');
      const similar = await catalog.call('similarTracks', { id: neon[0]!.id, limit: 5 });
      expect(similar.slice(0, 2).map((t) => t.id)).toEqual([velvet[2]!.id, cafe[1]!.id]);
      expect(similar.slice(2).every((t) => t.artistId === neon[0]!.artistId)).toBe(true);
      const byAlbum = await catalog.call('similarTracks', { id: neon[0]!.albumId, limit: 2 });
      expect(byAlbum.map((t) => t.id)).toEqual([velvet[2]!.id, cafe[1]!.id]);

      const info = await catalog.call('artistInfo', { id: neon[3]!.id, similarLimit: 3 });
      expect(info.similar.map((a) => a.name)).toEqual([
        'The Velvet Static',
        'Café Lumière Quartet',
        'Los Días Raros',
      ]);
      expect((await catalog.call('artistInfo', { id: neon[0]!.artistId, similarLimit: 0 })).similar).toEqual(
        [],
      );
    });

    it("lists an artist's most played tracks by id or by name, leaving out the unplayed", async () => {
      const velvet = byArtist('The Velvet Static');
      stats.play(velvet[0]!.id, 2, 0, 'cy');
      const byId = await catalog.call('artistTopTracks', { artistId: velvet[0]!.artistId });
      expect(byId.map((t) => [t.id, t.plays])).toEqual([
        [velvet[2]!.id, 4],
        [velvet[0]!.id, 2],
      ]);
      const byName = await catalog.call('artistTopTracks', { artistName: 'the VELVET static', limit: 1 });
      expect(byName.map((t) => t.id)).toEqual([velvet[2]!.id]);
      expect(await catalog.call('artistTopTracks', { artistName: 'Nobody At All' })).toEqual([]);
      expect(await codeOf(catalog.call('artistTopTracks', { artistId: 'ar9999' }))).toBe(
        ErrorCodes.NOT_FOUND,
      );
    });

    it('lists albums by the plays of their tracks', async () => {
      const top = await catalog.call('topAlbums', {});
      const velvet = byArtist('The Velvet Static');
      const cafe = byArtist('Café Lumière Quartet');
      // Velvet Static's album of tracks 0 and 2 (if one) or each album on its own.
      const plays = new Map<string, number>();
      for (const [track, n] of [
        [velvet[2]!, 4],
        [velvet[0]!, 2],
        [cafe[1]!, 5],
        [byArtist('Neon Meridian')[0]!, 2],
      ] as const)
        plays.set(track.albumId, (plays.get(track.albumId) ?? 0) + n);
      const expected = [...plays].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
      expect(top.map((a) => [a.id, a.plays])).toEqual(expected);
      const page = await catalog.call('topAlbums', { limit: 1, offset: 1 });
      expect(page.map((a) => a.id)).toEqual([expected[1]![0]]);
    });

    it('refuses ids of nothing in the catalog', async () => {
      expect(await codeOf(catalog.call('similarTracks', { id: 'zz1' }))).toBe(ErrorCodes.NOT_FOUND);
      expect(await codeOf(catalog.call('artistInfo', { id: 'zz1' }))).toBe(ErrorCodes.NOT_FOUND);
    });
  });

  describe('import', () => {
    let folder: string;
    const lines: string[] = [];

    async function wav(relPath: string, seconds: number): Promise<void> {
      const path = join(folder, relPath);
      await mkdir(dirname(path), { recursive: true });
      const samples = renderTrack({ seed: relPath, style: 'folk', durationMs: seconds * 1000 });
      await writeFile(path, encodeWav(samples, SAMPLE_RATE));
    }

    beforeAll(async () => {
      folder = await mkdtemp(join(tmpdir(), 'catalog-import-'));
      h.onClose(() => rm(folder, { recursive: true, force: true }));
      await wav('Ímport Artist/First Album/01 Opening Night.wav', 2);
      await wav('Ímport Artist/First Album/02 - Second Wind.wav', 3);
      await wav('Loose Ends/Untitled Sketch.wav', 1);
      await writeFile(join(folder, 'Ímport Artist/First Album/03 Broken.mp3'), 'this is not audio at all');
      // An MP4 whose first atom claims more bytes than the file has: the parser gives up.
      const truncated = Buffer.concat([
        Buffer.from([0, 0, 0, 0x18]),
        Buffer.from('ftypM4A '),
        Buffer.alloc(40, 0xee),
      ]);
      await writeFile(join(folder, 'Ímport Artist/First Album/04 Truncated.m4a'), truncated);
      await writeFile(join(folder, 'Ímport Artist/First Album/cover.txt'), 'not music');
    });

    it('imports audio in place, names from folders when there are no tags, skipping bad files', async () => {
      const summary = await importFolder(h.pool, folder, { print: (l) => lines.push(l) });
      expect(summary.found).toBe(5);
      expect(summary.ignored).toBe(1);
      expect(summary.tracks).toEqual({ inserted: 3, updated: 0, unchanged: 0 });
      expect(summary.artists.inserted).toBe(2);
      expect(summary.albums.inserted).toBe(2);
      expect(summary.skipped.map((s) => [basename(s.path), s.reason])).toEqual([
        ['03 Broken.mp3', expect.stringMatching(/no playable audio/)],
        ['04 Truncated.m4a', expect.stringMatching(/not a readable audio file \(.+\)/)],
      ]);
      // Printed as they are met: files are read several at once, so in any order.
      expect(lines.filter((l) => l.startsWith('skipped ')).sort()).toEqual(
        summary.skipped.map((s) => `skipped ${s.path}: ${s.reason}`).sort(),
      );

      const { tracks } = await catalog.call('search', { q: 'import artist' });
      expect(tracks.map((t) => [t.title, t.number, t.albumTitle, t.artistName, t.durationMs])).toEqual([
        ['Opening Night', 1, 'First Album', 'Ímport Artist', 2000],
        ['Second Wind', 2, 'First Album', 'Ímport Artist', 3000],
      ]);
      const [loose] = (await catalog.call('search', { q: 'untitled sketch' })).tracks;
      expect(loose).toMatchObject({ albumTitle: 'Loose Ends', artistName: 'Unknown Artist', number: null });
      const file = await catalog.call('getTrackFile', { id: tracks[0]!.id });
      expect(file.path).toBe(join(folder, 'Ímport Artist/First Album/01 Opening Night.wav'));
      expect(file.mimeType).toBe('audio/wav');
      expect((await catalog.call('listTracks', {})).total).toBe(67);
    });

    it('is idempotent by file path', async () => {
      const before = await snapshot(h.pool);
      const again = await importFolder(h.pool, folder);
      expect(again.tracks).toEqual({ inserted: 0, updated: 0, unchanged: 3 });
      expect(await snapshot(h.pool)).toEqual(before);
    });

    it('picks up a file that changed, keeping its id', async () => {
      const [opening] = (await catalog.call('search', { q: 'opening night' })).tracks;
      await wav('Ímport Artist/First Album/01 Opening Night.wav', 4);
      const again = await importFolder(h.pool, folder);
      expect(again.tracks).toEqual({ inserted: 0, updated: 1, unchanged: 2 });
      expect(await catalog.call('getTrack', { id: opening!.id })).toMatchObject({ durationMs: 4000 });
    });

    it('reports a track whose file has gone as not found', async () => {
      const [sketch] = (await catalog.call('search', { q: 'untitled sketch' })).tracks;
      await rm(join(folder, 'Loose Ends/Untitled Sketch.wav'));
      const err = await catalog.call('getTrackFile', { id: sketch!.id }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect((err as Error).message).toMatch(/missing/);
    });

    it('refuses something that is not a folder', async () => {
      await expect(importFolder(h.pool, join(folder, 'nope'))).rejects.toBeInstanceOf(InvalidInputError);
      const file = await open(join(folder, 'plain-file'), 'w');
      await file.close();
      await expect(importFolder(h.pool, join(folder, 'plain-file'))).rejects.toBeInstanceOf(
        InvalidInputError,
      );
    });
  });
});
