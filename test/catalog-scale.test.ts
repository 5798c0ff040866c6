/**
 * The catalog at a size CI affords (50,000 tracks, generated with COPY as the benchmark does):
 * listing orders, offsets and cursors, and kept counts, each checked against an independent
 * computation over the base tables (plain SQL and sorting in JavaScript), before and after the
 * importer's batched writes change the catalog; and search ranking.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALBUMS_PER_ARTIST,
  grantLibraries,
  ID_BASE,
  loadCatalog,
  TRACKS_PER_ALBUM,
} from '../bench/catalog-data.js';
import { type Album, catalogContract, DEFAULT_LIBRARY_ID, type Track } from '../common/contracts/catalog.js';
import { ErrorCodes, type ServiceClient, withTransaction } from '../common/index.js';
import { catalogService, normalizeText } from '../services/catalog/index.js';
import { removeEmptyAlbums, removeTracks, saveTracks } from '../services/catalog/store.js';
import { testConfig } from './support/env.js';
import { ServiceHarness } from './support/service-harness.js';

const TRACKS = Number(process.env.CATALOG_TEST_TRACKS ?? 50_000);

/** Byte order of UTF-8 text, as the C.UTF-8 collation and text_pattern_ops compare. */
const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
/** Compares tuples of keys, each text (bytes) or a number. */
function byKeys<T>(keys: (row: T) => Array<string | number>) {
  return (x: T, y: T) => {
    const [a, b] = [keys(x), keys(y)];
    for (let i = 0; i < a.length; i++) {
      const [p, q] = [a[i]!, b[i]!];
      const c = typeof p === 'number' ? p - (q as number) : bytes(p, q as string);
      if (c !== 0) return c;
    }
    return 0;
  };
}

interface AlbumQuery {
  sort: 'alphabetical' | 'artist' | 'newest' | 'year';
  genre?: string;
  fromYear?: number;
  toYear?: number;
}

interface BaseTrack {
  id: string;
  title: string;
  number: number | null;
  album_id: string;
  album_title: string;
  artist_name: string;
  artist_id: string;
  genre: string | null;
}

describe('catalog at scale', () => {
  let h: ServiceHarness;
  let catalog: ServiceClient<typeof catalogContract>;

  /** Every track from the base tables, in listing order computed here. */
  async function tracksInOrder(genre?: string): Promise<string[]> {
    const { rows } = await h.pool.query<BaseTrack>(
      `SELECT t.id, t.title, t.number, t.album_id, al.title AS album_title, ar.name AS artist_name, ar.id AS artist_id,
              al.genre
       FROM tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id
       ${genre ? 'WHERE al.genre = $1' : ''}`,
      genre ? [genre] : [],
    );
    // Keys computed once per row, not per comparison: a long sort would hold up the event loop
    // (and the broker connection's heartbeats) for many seconds on a busy machine.
    return rows
      .map((t) => ({
        id: t.id,
        keys: [
          normalizeText(t.artist_name),
          normalizeText(t.album_title),
          t.album_id,
          t.number ?? 2 ** 31,
          normalizeText(t.title),
          t.id,
        ],
      }))
      .sort(byKeys((t) => t.keys))
      .map((t) => t.id);
  }

  interface BaseAlbum {
    id: string;
    title: string;
    artist_id: string;
    artist_name: string;
    year: number | null;
    genre: string | null;
    created_at: string;
  }

  async function albumsFromBase(): Promise<BaseAlbum[]> {
    const { rows } = await h.pool.query<BaseAlbum>(
      `SELECT al.id, al.title, al.artist_id, ar.name AS artist_name, al.year, al.genre, al.created_at::text
       FROM albums al JOIN artists ar ON ar.id = al.artist_id`,
    );
    return rows;
  }

  const albumTie = (a: BaseAlbum) => [normalizeText(a.title), a.title, a.id];

  /** Counts as the base tables say, in the shape the kept counts have. */
  async function countsFromBase() {
    const q = async (sql: string) => (await h.pool.query(sql)).rows;
    return {
      albums: await q(
        `SELECT al.id, count(t.id)::int AS track_count, coalesce(sum(t.duration_ms), 0)::bigint::text AS duration_ms
         FROM albums al LEFT JOIN tracks t ON t.album_id = al.id GROUP BY al.id ORDER BY al.id`,
      ),
      artists: await q(
        `SELECT ar.id, count(DISTINCT al.id)::int AS album_count, count(t.id)::int AS track_count
         FROM artists ar LEFT JOIN albums al ON al.artist_id = ar.id LEFT JOIN tracks t ON t.album_id = al.id
         GROUP BY ar.id ORDER BY ar.id`,
      ),
      genres: await q(
        `SELECT al.genre AS name, count(DISTINCT al.id)::int AS album_count, count(t.id)::int AS track_count
         FROM albums al LEFT JOIN tracks t ON t.album_id = al.id WHERE al.genre IS NOT NULL
         GROUP BY al.genre ORDER BY al.genre`,
      ),
      totals: await q(
        `SELECT (SELECT count(*) FROM artists)::int AS artists, (SELECT count(*) FROM albums)::int AS albums,
                (SELECT count(*) FROM tracks)::int AS tracks`,
      ),
      libraries: await q(
        `SELECT l.id, count(DISTINCT al.id)::int AS album_count, count(t.id)::int AS track_count
         FROM libraries l LEFT JOIN albums al ON al.library_id = l.id LEFT JOIN tracks t ON t.album_id = al.id
         GROUP BY l.id ORDER BY l.id`,
      ),
      libraryArtists: await q(
        `SELECT al.library_id, al.artist_id, count(DISTINCT al.id)::int AS album_count, count(t.id)::int AS track_count
         FROM albums al LEFT JOIN tracks t ON t.album_id = al.id GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
      libraryGenres: await q(
        `SELECT al.library_id, al.genre AS name, count(DISTINCT al.id)::int AS album_count,
                count(t.id)::int AS track_count
         FROM albums al LEFT JOIN tracks t ON t.album_id = al.id WHERE al.genre IS NOT NULL
         GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
      libraryYears: await q(
        `SELECT library_id, coalesce(year, 10000) AS year, count(*)::int AS album_count
         FROM albums GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
      // Tracks carry their album's library.
      strays: await q(
        'SELECT t.id FROM tracks t JOIN albums al ON al.id = t.album_id WHERE t.library_id <> al.library_id',
      ),
    };
  }

  async function keptCounts() {
    const q = async (sql: string) => (await h.pool.query(sql)).rows;
    return {
      albums: await q('SELECT id, track_count, duration_ms::text AS duration_ms FROM albums ORDER BY id'),
      artists: await q('SELECT id, album_count, track_count FROM artists ORDER BY id'),
      genres: await q(
        'SELECT name, album_count, track_count FROM genres WHERE album_count > 0 ORDER BY name',
      ),
      totals: await q('SELECT artists, albums, tracks FROM catalog_totals'),
      libraries: await q('SELECT id, album_count, track_count FROM libraries ORDER BY id'),
      libraryArtists: await q(
        'SELECT library_id, artist_id, album_count, track_count FROM library_artists ORDER BY 1, 2',
      ),
      libraryGenres: await q(
        'SELECT library_id, name, album_count, track_count FROM library_genres WHERE album_count > 0 ORDER BY 1, 2',
      ),
      libraryYears: await q('SELECT library_id, year, album_count FROM library_years ORDER BY 1, 2'),
      strays: [],
    };
  }

  /** Ids of a listing page by page through cursors, `limit` at a time. */
  async function walk<T extends { id: string }>(
    page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>,
  ): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const p = await page(cursor);
      ids.push(...p.items.map((i) => i.id));
      if (!p.nextCursor) return ids;
      cursor = p.nextCursor;
    }
  }

  /** Pages at offsets spread over the listing, deep ones included, against `expected`. */
  async function checkOffsets(expected: string[], page: (offset: number) => Promise<Array<{ id: string }>>) {
    const offsets = [
      0,
      249,
      250,
      251,
      999,
      1000,
      1001,
      2500,
      Math.floor(expected.length / 2),
      expected.length - 30,
    ];
    for (const offset of offsets.filter((o) => o >= 0 && o < expected.length)) {
      expect(
        (await page(offset)).map((i) => i.id),
        `offset ${offset}`,
      ).toEqual(expected.slice(offset, offset + 50));
    }
    expect(await page(expected.length)).toEqual([]);
  }

  beforeAll(async () => {
    const mediaDir = await mkdtemp(join(tmpdir(), 'catalog-scale-'));
    h = await ServiceHarness.open(catalogService, { config: testConfig({ mediaDir }) });
    h.onClose(() => rm(mediaDir, { recursive: true, force: true }));
    catalog = h.rpc.bind(catalogContract);
    await loadCatalog(h.pool, h.schema, { from: 0, to: TRACKS }, new Set());
  }, 180_000);

  afterAll(async () => {
    await h?.close();
  });

  it('keeps the counts of the loaded catalog', async () => {
    const base = await countsFromBase();
    expect(base.totals).toEqual([
      {
        artists: TRACKS / TRACKS_PER_ALBUM / ALBUMS_PER_ARTIST,
        albums: TRACKS / TRACKS_PER_ALBUM,
        tracks: TRACKS,
      },
    ]);
    expect(await keptCounts()).toEqual(base);
    const genres = await catalog.call('listGenres', {});
    expect(genres.map((g) => [g.name, g.albumCount, g.trackCount])).toEqual(
      base.genres.map((g) => [g.name, g.album_count, g.track_count]),
    );
  });

  it('lists every track exactly once by cursor, and by offset at any depth, in order', async () => {
    const expected = await tracksInOrder();
    const byCursor = await walk((cursor) => catalog.call('listTracks', { limit: 500, cursor }));
    expect(byCursor).toEqual(expected);
    await checkOffsets(
      expected,
      async (offset) => (await catalog.call('listTracks', { limit: 50, offset })).items,
    );
    const page = await catalog.call('listTracks', { limit: 50, offset: 12_345 });
    expect(page.total).toBe(TRACKS);
    // A cursor goes on where its offset page ended.
    const next = await catalog.call('listTracks', { limit: 50, cursor: page.nextCursor! });
    expect(next.items.map((t) => t.id)).toEqual(expected.slice(12_395, 12_445));
  });

  it('lists the tracks of a genre in order, at depth, with its total', async () => {
    const expected = await tracksInOrder('jazz');
    await checkOffsets(
      expected,
      async (offset) => (await catalog.call('listTracks', { genre: 'Jazz', limit: 50, offset })).items,
    );
    expect((await catalog.call('listTracks', { genre: 'JAZZ', limit: 1 })).total).toBe(expected.length);
  });

  it('lists artists and albums in every order, at depth', async () => {
    const { rows: artists } = await h.pool.query<{ id: string; name: string }>(
      'SELECT id, name FROM artists',
    );
    const artistOrder = artists.sort(byKeys((a) => [normalizeText(a.name), a.name, a.id])).map((a) => a.id);
    expect(await walk((cursor) => catalog.call('listArtists', { limit: 500, cursor }))).toEqual(artistOrder);
    await checkOffsets(
      artistOrder,
      async (offset) => (await catalog.call('listArtists', { limit: 50, offset })).items,
    );

    const albums = await albumsFromBase();
    const orders: Array<[AlbumQuery, BaseAlbum[]]> = [
      [{ sort: 'alphabetical' }, [...albums].sort(byKeys(albumTie))],
      [
        { sort: 'artist' },
        [...albums].sort(byKeys((a) => [normalizeText(a.artist_name), a.artist_id, ...albumTie(a)])),
      ],
      [{ sort: 'newest' }, [...albums].sort(byKeys((a) => [a.created_at, a.id])).reverse()],
      [{ sort: 'year' }, [...albums].sort(byKeys((a) => [a.year ?? 10_000, ...albumTie(a)]))],
      [
        { sort: 'year', fromYear: 2000, toYear: 1980 },
        albums
          .filter((a) => a.year !== null && a.year >= 1980 && a.year <= 2000)
          .sort(byKeys((a) => [-(a.year ?? 0), ...albumTie(a)])),
      ],
      [
        { sort: 'alphabetical', genre: 'Rock' },
        albums.filter((a) => a.genre === 'rock').sort(byKeys(albumTie)),
      ],
    ];
    for (const [params, sorted] of orders) {
      const expected = sorted.map((a) => a.id);
      if (params.sort === 'newest') {
        const walked = await walk((cursor) => catalog.call('listAlbums', { ...params, limit: 500, cursor }));
        expect(walked).toEqual(expected);
      }
      const first = await catalog.call('listAlbums', { ...params, limit: 50 });
      expect(first.total, JSON.stringify(params)).toBe(expected.length);
      await checkOffsets(
        expected,
        async (offset) => (await catalog.call('listAlbums', { ...params, limit: 50, offset })).items,
      );
    }
  });

  it('refuses a cursor it did not give', async () => {
    const forged = (keys: string[]) => Buffer.from(JSON.stringify(keys)).toString('base64url');
    for (const cursor of ['nonsense', forged(['a', 'b']), forged(['a', 'b', 'c', 'x', 'e', 'f'])]) {
      const err = await catalog.call('listTracks', { limit: 5, cursor }).catch((e: Error) => e);
      expect((err as { code?: unknown }).code, cursor).toBe(ErrorCodes.INVALID_PARAMS);
    }
  });

  it('answers a caller granted some libraries from those alone, in order, at depth, with their totals', async () => {
    // Library 1 is everyone's; this caller is granted 2 and 3 of the five.
    const caller = { userId: `u-scale-${h.schema}`, username: 'scale', admin: false };
    await grantLibraries(h.pool, h.schema, caller.userId, [2, 3]);
    const as = { caller };
    const visible = new Set([1, 2, 3]);
    const { rows } = await h.pool.query<{ id: string; library_id: number }>(
      'SELECT id, library_id FROM tracks',
    );
    const libraryOf = new Map(rows.map((r) => [r.id, r.library_id]));
    const expected = (await tracksInOrder()).filter((id) => visible.has(libraryOf.get(id)!));
    expect(expected.length).toBeLessThan(rows.length);
    expect(await walk((cursor) => catalog.call('listTracks', { limit: 500, cursor }, as))).toEqual(expected);
    await checkOffsets(
      expected,
      async (offset) => (await catalog.call('listTracks', { limit: 50, offset }, as)).items,
    );
    expect((await catalog.call('listTracks', { limit: 1 }, as)).total).toBe(expected.length);
    // One library alone.
    const second = expected.filter((id) => libraryOf.get(id) === 2);
    await checkOffsets(
      second,
      async (offset) => (await catalog.call('listTracks', { limit: 50, offset, library: 2 }, as)).items,
    );
    // A library the caller does not see is not found (Subsonic's 70 for its musicFolderId).
    const refused = await catalog.call('listTracks', { limit: 1, library: 4 }, as).catch((e: Error) => e);
    expect((refused as { code?: unknown }).code).toBe(ErrorCodes.NOT_FOUND);

    const { rows: artists } = await h.pool.query<{ id: string; name: string }>(
      `SELECT id, name FROM artists ar WHERE EXISTS (
         SELECT 1 FROM albums al WHERE al.artist_id = ar.id AND al.library_id = ANY($1::int[]))`,
      [[...visible]],
    );
    const artistOrder = artists.sort(byKeys((a) => [normalizeText(a.name), a.name, a.id])).map((a) => a.id);
    await checkOffsets(
      artistOrder,
      async (offset) => (await catalog.call('listArtists', { limit: 50, offset }, as)).items,
    );
    expect((await catalog.call('listArtists', { limit: 1 }, as)).total).toBe(artistOrder.length);

    const albums = await albumsFromBase();
    const { rows: albumLibraries } = await h.pool.query<{ id: string; library_id: number }>(
      'SELECT id, library_id FROM albums',
    );
    const albumLibrary = new Map(albumLibraries.map((a) => [a.id, a.library_id]));
    const seen = albums.filter((a) => visible.has(albumLibrary.get(a.id)!)).sort(byKeys(albumTie));
    await checkOffsets(
      seen.map((a) => a.id),
      async (offset) =>
        (await catalog.call('listAlbums', { sort: 'alphabetical', limit: 50, offset }, as)).items,
    );
    expect((await catalog.call('listAlbums', { limit: 1 }, as)).total).toBe(seen.length);
    // Totals of a range of years (kept per library and year), either way round, of one library too.
    const { rows: yearAlbums } = await h.pool.query<{ id: string; year: number | null }>(
      'SELECT id, year FROM albums',
    );
    const inYears = (from: number, to: number, libraries: Set<number>) =>
      yearAlbums.filter(
        (a) => a.year !== null && a.year >= from && a.year <= to && libraries.has(albumLibrary.get(a.id)!),
      ).length;
    for (const [fromYear, toYear, library] of [
      [1990, 2000, undefined],
      [2020, 1970, undefined],
      [1965, 1966, 2],
    ] as const) {
      const page = await catalog.call(
        'listAlbums',
        { sort: 'year', fromYear, toYear, limit: 1, library },
        as,
      );
      const want = inYears(
        Math.min(fromYear, toYear),
        Math.max(fromYear, toYear),
        library ? new Set([library]) : visible,
      );
      expect(want).toBeGreaterThan(0);
      expect(page.total, `${fromYear}-${toYear}`).toBe(want);
    }

    for (const t of await catalog.call('randomTracks', { limit: 200 }, as))
      expect(visible.has(libraryOf.get(t.id)!)).toBe(true);
    const found = await catalog.call('search', { q: 'blue', limit: 100 }, as);
    expect(found.tracks.length).toBeGreaterThan(0);
    for (const t of found.tracks) expect(visible.has(libraryOf.get(t.id)!)).toBe(true);
    const hidden = rows.find((r) => !visible.has(r.library_id))!;
    const err = await catalog.call('getTrack', { id: hidden.id }, as).catch((e: Error) => e);
    expect((err as { code?: unknown }).code).toBe(ErrorCodes.NOT_FOUND);
    const genres = await catalog.call('listGenres', {}, as);
    const { rows: genreCounts } = await h.pool.query<{ name: string; tracks: number }>(
      `SELECT genre AS name, count(*)::int AS tracks FROM tracks WHERE library_id = ANY($1::int[]) AND genre IS NOT NULL
       GROUP BY genre ORDER BY genre`,
      [[...visible]],
    );
    expect(genres.map((g) => [g.name, g.trackCount])).toEqual(genreCounts.map((g) => [g.name, g.tracks]));
  });

  it('keeps counts, orders and deep offsets right through the importer writes', async () => {
    const before = await tracksInOrder();
    // Warm the offset anchors, so a stale anchor would show below.
    await catalog.call('listTracks', { limit: 50, offset: 30_000 });
    const artist = `Aardvark Ensemble`;
    await withTransaction(h.pool, async (db) => {
      await saveTracks(
        db,
        DEFAULT_LIBRARY_ID,
        Array.from({ length: 40 }, (_, i) => ({
          id: null,
          artist,
          album: `First Light ${i % 4}`,
          title: `Dawn ${i}`,
          number: (i % 10) + 1,
          year: 1999,
          genre: i % 4 === 0 ? 'Jazz' : 'Ambient',
          durationMs: 1000 + i,
          filePath: `/scale/${i}.mp3`,
          mimeType: 'audio/mpeg',
          sizeBytes: 100,
          mtimeMs: 1,
          replayGain: {},
        })),
      );
      // A generated track moves to the new artist's album in place; another's album changes genre.
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM tracks WHERE file_path = '/scale/0.mp3'`,
      );
      await saveTracks(db, DEFAULT_LIBRARY_ID, [
        {
          id: `tr${ID_BASE + 7}`,
          artist,
          album: 'First Light 1',
          title: 'Moved',
          number: 11,
          year: 1999,
          genre: 'Folk',
          durationMs: 5,
          filePath: `/library/${ID_BASE + 7}.mp3`,
          mimeType: 'audio/mpeg',
          sizeBytes: 1,
          mtimeMs: 2,
          replayGain: {},
        },
      ]);
      // The same artist in another library too: one artist, counted in each library.
      await saveTracks(db, 3, [
        {
          id: null,
          artist,
          album: 'Zzz Elsewhere',
          title: 'Away',
          number: 1,
          year: 2001,
          genre: 'Jazz',
          durationMs: 7,
          filePath: '/scale/elsewhere.mp3',
          mimeType: 'audio/mpeg',
          sizeBytes: 1,
          mtimeMs: 1,
          replayGain: {},
        },
      ]);
      const gone = await removeTracks(db, [rows[0]!.id, `tr${ID_BASE + 20}`]);
      await removeEmptyAlbums(db, gone);
    });
    expect(await keptCounts()).toEqual(await countsFromBase());
    const after = await tracksInOrder();
    expect(after.length).toBe(before.length + 41 - 2);
    // The new artist sorts first (with the track moved to it): every deep page moved.
    expect(after.slice(0, 40).filter((id) => !before.includes(id))).toHaveLength(39);
    await checkOffsets(
      after,
      async (offset) => (await catalog.call('listTracks', { limit: 50, offset })).items,
    );
    expect((await catalog.call('listTracks', { limit: 1 })).total).toBe(after.length);
    const album = (await catalog.call('search', { q: 'first light 1' })).albums[0] as Album;
    expect(album.title).toBe('First Light 1');
    expect(album.trackCount).toBe(11);
    const { rows: in1999 } = await h.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM albums WHERE year = 1999',
    );
    expect(
      (await catalog.call('listAlbums', { sort: 'year', fromYear: 1999, toYear: 1999, limit: 1 })).total,
    ).toBe(in1999[0]!.n);
  });

  it('ranks exact, then leading, then inner matches first, among thousands that match', async () => {
    const first = async (q: string) => {
      const r = await catalog.call('search', { q, limit: 20 });
      return { artist: r.artists[0]?.name, album: r.albums[0]?.title, track: r.tracks[0]?.title, r };
    };
    const blue = await first('BLUE');
    expect([blue.artist, blue.album, blue.track]).toEqual(['Blue', 'Blue', 'Blue']);
    // After the exact matches, names starting with the query, then names containing it.
    const tiers = blue.r.tracks.map((t: Track) => {
      const name = normalizeText(t.title);
      return name === 'blue' ? 0 : name.startsWith('blue') ? 1 : name.includes('blue') ? 2 : 3;
    });
    expect(tiers).toEqual([...tiers].sort());
    expect(blue.r.tracks).toHaveLength(20);
    expect((await first('zoe ÄNGSTRÖM')).artist).toBe('Zoë Ängström');
    expect((await first('ngstr')).artist).toBe('Zoë Ängström');
    expect((await first('paper lanterns')).album).toBe('Paper Lanterns');
    expect((await first('100%')).track).toBe('100% Blue');
    expect(normalizeText((await first('midnight riv')).track ?? '')).toMatch(/^midnight riv/);
    // Words in any order, each starting a word of the title, album or artist.
    const swapped = (await catalog.call('search', { q: 'river midn', limit: 20 })).tracks;
    expect(swapped.length).toBeGreaterThan(0);
    for (const t of swapped) {
      const words = normalizeText(`${t.title} ${t.albumTitle} ${t.artistName}`).split(/[^\p{L}\p{N}]+/u);
      expect(words.some((w) => w.startsWith('river')) && words.some((w) => w.startsWith('midn'))).toBe(true);
    }
    expect(await catalog.call('search', { q: 'zqxjv' })).toEqual({ artists: [], albums: [], tracks: [] });
  });
});
