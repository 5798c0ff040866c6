/**
 * `npm run bench -- catalog`: every catalog read a client makes, over HTTP (REST and
 * Subsonic), at 10,000 tracks and at N (CATALOG_TRACKS, default 1,000,000), in one run.
 *
 * Two systems of their own (bench/system.ts), side by side: one gets 10,000 tracks, the other N,
 * of the same generated library (bench/catalog-data.ts: 1M tracks are 100,000 albums and 20,000
 * artists, spread artist by artist over 5 libraries) written with COPY. Every read is made as a
 * user who sees three of the five libraries (library 1 and two granted), so each is filtered as
 * any such user's; a few read one library alone (`?library=`, `musicFolderId`). Each read runs
 * READS_PER times after a warm-up, request by request against the small and the big system in
 * turn (which goes first alternates), so both sizes are measured under the same machine load;
 * p50/p99 are printed per read and size. A ranking check asks fixed queries whose first result is
 * known. The last line is one JSON object (with the load average at start and end).
 */
import { createHash, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import type { Pool } from '../common/index.js';
import { normalizeText } from '../services/catalog/text.js';
import { DEMO_PASSWORD, DEMO_USERNAME } from '../services/users/seed.js';
import {
  ALBUMS_PER_ARTIST,
  grantLibraries,
  ID_BASE,
  LIBRARIES,
  libraryOfArtist,
  loadCatalog,
  TRACKS_PER_ALBUM,
} from './catalog-data.js';
import { note, percentile, round } from './lib.js';
import { BenchSystem } from './system.js';

const SMALL = 10_000;
/** Samples per read and size: with 200, p99 is the second slowest rather than the slowest. */
const READS_PER = Number(process.env.CATALOG_READS ?? 200);
const WARMUP = 3;
/**
 * The bench's user sees library 1 (everyone's) and these (granted): every read answers from
 * three of the five libraries, filtered as any user's would be.
 */
const GRANTED = [2, 3];
const VISIBLE = new Set([1, ...GRANTED]);
/** What every read must stay under at N, and within this factor of its time at SMALL. */
const P99_LIMIT_MS = 50;
const FLAT_FACTOR = 2;

interface Totals {
  artists: number;
  albums: number;
  tracks: number;
}

/** The reads, each a path to GET (a function, for reads that pick a random row each time). */
function reads(
  totals: Totals,
  generatedTracks: number,
  sub: (method: string, params?: Record<string, string | number>) => string,
) {
  const random = (n: number) => Math.floor(Math.random() * n);
  const artists = Math.floor(generatedTracks / TRACKS_PER_ALBUM / ALBUMS_PER_ARTIST);
  /** An artist (by number) of a library the user sees; its albums and tracks are there too. */
  const visibleArtist = () => {
    for (;;) {
      const a = random(artists);
      if (VISIBLE.has(libraryOfArtist(a))) return a;
    }
  };
  const visibleAlbum = () => visibleArtist() * ALBUMS_PER_ARTIST + random(ALBUMS_PER_ARTIST);
  const trackId = () => `tr${ID_BASE + visibleAlbum() * TRACKS_PER_ALBUM + random(TRACKS_PER_ALBUM)}`;
  const albumId = () => `al${ID_BASE + visibleAlbum()}`;
  const artistId = () => `ar${ID_BASE + visibleArtist()}`;
  const library = GRANTED[0]!;
  const deep = (n: number) => Math.floor(n * 0.9);
  return {
    rest_search_blue: () => '/api/search?q=blue',
    rest_search_typed: () => '/api/search?q=midnight%20riv',
    rest_search_none: () => '/api/search?q=zqxjv',
    rest_artists: () => '/api/artists?limit=50',
    rest_artists_deep: () => `/api/artists?limit=50&offset=${deep(totals.artists)}`,
    rest_albums: () => '/api/albums?limit=50',
    rest_albums_deep: () => `/api/albums?limit=50&offset=${deep(totals.albums)}`,
    rest_tracks: () => '/api/tracks?limit=50',
    rest_tracks_deep: () => `/api/tracks?limit=50&offset=${deep(totals.tracks)}`,
    rest_tracks_genre_deep: () => `/api/tracks?genre=jazz&limit=50&offset=${Math.floor(totals.tracks / 20)}`,
    rest_album: () => `/api/albums/${albumId()}`,
    rest_artist: () => `/api/artists/${artistId()}`,
    rest_track: () => `/api/tracks/${trackId()}`,
    rest_genres: () => '/api/genres',
    sub_getArtists: () => sub('getArtists'),
    sub_getIndexes: () => sub('getIndexes'),
    sub_getArtist: () => sub('getArtist', { id: artistId() }),
    sub_getAlbum: () => sub('getAlbum', { id: albumId() }),
    sub_getSong: () => sub('getSong', { id: trackId() }),
    sub_albumList2_newest: () => sub('getAlbumList2', { type: 'newest', size: 50 }),
    sub_albumList2_random: () => sub('getAlbumList2', { type: 'random', size: 50 }),
    sub_albumList2_alpha_deep: () =>
      sub('getAlbumList2', { type: 'alphabeticalByName', size: 50, offset: Math.floor(totals.albums / 2) }),
    sub_albumList2_byArtist_deep: () =>
      sub('getAlbumList2', { type: 'alphabeticalByArtist', size: 50, offset: Math.floor(totals.albums / 2) }),
    sub_albumList2_byYear: () =>
      sub('getAlbumList2', { type: 'byYear', size: 50, fromYear: 1990, toYear: 2000 }),
    sub_albumList2_byYear_desc: () =>
      sub('getAlbumList2', { type: 'byYear', size: 50, fromYear: 2020, toYear: 1970, offset: 500 }),
    sub_albumList2_byGenre: () => sub('getAlbumList2', { type: 'byGenre', genre: 'Rock', size: 50 }),
    sub_search3_blue: () => sub('search3', { query: 'blue' }),
    sub_search3_all_deep: () =>
      sub('search3', {
        query: '',
        songCount: 100,
        songOffset: Math.floor(totals.tracks / 2),
        albumCount: 0,
        artistCount: 0,
      }),
    sub_getRandomSongs: () => sub('getRandomSongs', { size: 50 }),
    sub_getRandomSongs_genre: () => sub('getRandomSongs', { size: 50, genre: 'Jazz' }),
    sub_getGenres: () => sub('getGenres'),
    sub_getSongsByGenre: () => sub('getSongsByGenre', { genre: 'Folk', count: 50 }),
    sub_getSongsByGenre_deep: () =>
      sub('getSongsByGenre', { genre: 'Folk', count: 50, offset: Math.floor(totals.tracks / 20) }),
    sub_getSimilarSongs2: () => sub('getSimilarSongs2', { id: artistId(), count: 50 }),
    sub_getTopSongs: () => sub('getTopSongs', { artist: 'Blue' }),
    sub_getMusicFolders: () => sub('getMusicFolders'),
    rest_tracks_library_deep: () =>
      `/api/tracks?library=${library}&limit=50&offset=${deep(totals.tracks / 3)}`,
    rest_search_library: () => `/api/search?q=blue&library=${library}`,
    sub_getArtists_folder: () => sub('getArtists', { musicFolderId: library }),
    sub_albumList2_folder_deep: () =>
      sub('getAlbumList2', {
        type: 'alphabeticalByName',
        size: 50,
        offset: Math.floor(totals.albums / 6),
        musicFolderId: library,
      }),
    sub_getRandomSongs_folder: () => sub('getRandomSongs', { size: 50, musicFolderId: library }),
  } satisfies Record<string, () => string>;
}

type ReadName = keyof ReturnType<typeof reads>;

/** One size's system as the reads see it: where to ask, as whom, and its reads. */
interface Side {
  system: BenchSystem;
  token: string;
  list: Record<string, () => string>;
}

interface Timing {
  p50: number;
  p99: number;
}

async function timeOne(side: Side, name: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${side.system.baseUrl}${side.list[name]!()}`, {
    headers: { authorization: `Bearer ${side.token}` },
  });
  const text = await res.text();
  const ms = performance.now() - started;
  if (res.status !== 200 || text.includes('"status":"failed"')) {
    throw new Error(`${name}: ${res.status} ${text.slice(0, 300)}`);
  }
  return ms;
}

/**
 * A warm-up request, asked again while it times out: the first deep page of a listing samples
 * its offset anchors (one pass over the listing's index, seconds at 1M on a loaded machine),
 * which goes on after the gateway gave up waiting, and is kept for the next request.
 */
async function warm(side: Side, name: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await timeOne(side, name);
      return;
    } catch (err) {
      if (attempt >= 10 || !/: 503 /.test((err as Error).message)) throw err;
      note(`  ${name}: warm-up answered 503 (${side.system.ns}); asking again`);
    }
  }
}

/**
 * Every read, request by request against the small and the big system in turn (the one asked
 * first alternates), so a change of machine load meets both sizes alike.
 */
async function measureSideBySide(
  small: Side,
  big: Side,
): Promise<Record<string, { small: Timing; big: Timing; load: number }>> {
  const out: Record<string, { small: Timing; big: Timing; load: number }> = {};
  const stats = (times: number[]): Timing => {
    times.sort((a, b) => a - b);
    return { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)) };
  };
  for (const name of Object.keys(big.list)) {
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < WARMUP + READS_PER; i++) {
      const order = i % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
      for (const k of order) {
        const side = k === 0 ? small : big;
        if (i < WARMUP) {
          await warm(side, name);
          continue;
        }
        times[k].push(await timeOne(side, name));
      }
    }
    const load = round(loadavg()[0]!, 1);
    out[name] = { small: stats(times[0]), big: stats(times[1]), load };
    const f = (t: Timing) => `${t.p50.toFixed(1).padStart(6)} /${t.p99.toFixed(1).padStart(7)}`;
    note(
      `  ${name.padEnd(30)} big p50/p99 ${f(out[name].big)} ms  small ${f(out[name].small)} ms  load ${load}`,
    );
  }
  return out;
}

interface Named {
  name?: string;
  title?: string;
  artistName?: string;
  albumTitle?: string;
}

/** Fixed queries and what must come first. */
async function ranking(system: BenchSystem, token: string) {
  const words = (s: string) =>
    normalizeText(s)
      .split(/[^\p{L}\p{N}]+/u)
      .filter(Boolean);
  const everyWordStarts = (q: string) => (t: Named) => {
    const have = words(`${t.title} ${t.albumTitle} ${t.artistName}`);
    return words(q).every((w) => have.some((h) => h.startsWith(w)));
  };
  const checks: Array<{
    q: string;
    kind: 'artists' | 'albums' | 'tracks';
    ok: (first: Named) => boolean;
    want: string;
  }> = [
    { q: 'blue', kind: 'artists', ok: (f) => f.name === 'Blue', want: 'artist Blue' },
    { q: 'blue', kind: 'albums', ok: (f) => f.title === 'Blue', want: 'album Blue' },
    { q: 'blue', kind: 'tracks', ok: (f) => f.title === 'Blue', want: 'a track titled Blue' },
    { q: 'BLUE', kind: 'tracks', ok: (f) => f.title === 'Blue', want: 'a track titled Blue (any case)' },
    { q: 'zoe angstrom', kind: 'artists', ok: (f) => f.name === 'Zoë Ängström', want: 'Zoë Ängström' },
    { q: 'ängst', kind: 'artists', ok: (f) => f.name === 'Zoë Ängström', want: 'Zoë Ängström (fragment)' },
    { q: 'paper lanterns', kind: 'albums', ok: (f) => f.title === 'Paper Lanterns', want: 'Paper Lanterns' },
    { q: '100%', kind: 'tracks', ok: (f) => f.title === '100% Blue', want: '100% Blue' },
    {
      q: 'midnight riv',
      kind: 'tracks',
      ok: (f) => normalizeText(f.title ?? '').startsWith('midnight riv'),
      want: 'a title starting "midnight riv"',
    },
    { q: 'river midn', kind: 'tracks', ok: everyWordStarts('river midn'), want: 'every word found' },
  ];
  const results = [];
  for (const c of checks) {
    const res = await fetch(`${system.baseUrl}/api/search?q=${encodeURIComponent(c.q)}&limit=10`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as Record<string, Named[]>;
    const first = body[c.kind]?.[0];
    const ok = first !== undefined && c.ok(first);
    results.push({ q: c.q, kind: c.kind, ok, want: c.want, got: first?.title ?? first?.name ?? null });
    note(
      `  ranking ${ok ? 'ok  ' : 'FAIL'} ${c.kind} "${c.q}": ${first?.title ?? first?.name ?? '(nothing)'}`,
    );
  }
  return { ok: results.every((r) => r.ok), results };
}

/** Pages through a deep stretch of tracks by cursor and checks it agrees with the offsets. */
async function cursorAgrees(system: BenchSystem, token: string, offset: number): Promise<boolean> {
  const get = async (path: string) =>
    (await (
      await fetch(`${system.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { items: Array<{ id: string }>; nextCursor: string | null };
  let page = await get(`/api/tracks?limit=100&offset=${offset}`);
  for (let i = 1; i <= 3; i++) {
    if (!page.nextCursor) return false;
    const byCursor = await get(`/api/tracks?limit=100&cursor=${page.nextCursor}`);
    const byOffset = await get(`/api/tracks?limit=100&offset=${offset + i * 100}`);
    if (JSON.stringify(byCursor.items.map((t) => t.id)) !== JSON.stringify(byOffset.items.map((t) => t.id))) {
      return false;
    }
    page = byCursor;
  }
  return true;
}

/** Plans of the hot statements at N (as services/catalog/pages.ts and search.ts write them), to stderr. */
export async function explain(db: Pool): Promise<Record<string, number>> {
  const client = await db.connect();
  const times: Record<string, number> = {};
  try {
    await client.query('SET search_path TO catalog, public');
    const keyList = [
      't.artist_sort',
      't.album_sort',
      't.album_id',
      'coalesce(t.number, 2147483647)',
      't.search_name',
      't.id',
    ];
    const keys = keyList.join(', ');
    const asText = keyList.map((k) => `(${k})::text`).join(', ');
    const { rows } = await client.query<{ k: string[] }>(
      `SELECT ARRAY[${asText}] AS k FROM tracks t
       ORDER BY ${keys} OFFSET (SELECT tracks * 9 / 10 FROM catalog_totals) LIMIT 1`,
    );
    const anchor = rows[0]!.k;
    const statements: Record<string, [string, unknown[]]> = {
      'tracks page at 90% (from its anchor)': [
        `SELECT t.id FROM tracks t WHERE (${keys}) > ($1, $2, $3, $4::int, $5, $6) ORDER BY ${keys} LIMIT 50 OFFSET 999`,
        anchor,
      ],
      'tracks anchors (once per catalog version)': [
        `SELECT keys FROM (SELECT ARRAY[${asText}] AS keys,
           row_number() OVER (ORDER BY ${keys}) AS n FROM tracks t) s WHERE n % 1000 = 0`,
        [],
      ],
      'search tracks "blue" (tiers)': [
        `SELECT * FROM (
           (SELECT t.id, 0 AS tier FROM tracks t WHERE t.search_name = $1 LIMIT 20)
           UNION ALL (SELECT t.id, 1 FROM tracks t WHERE t.search_name ~>=~ $1 AND t.search_name ~<~ $2
                      AND t.search_name <> $1 ORDER BY t.search_name USING ~<~ LIMIT 20)
           UNION ALL (SELECT t.id, 2 FROM tracks t WHERE t.search_name LIKE $3
                      AND NOT (t.search_name ~>=~ $1 AND t.search_name ~<~ $2) LIMIT 20)
           UNION ALL (SELECT t.id, 3 FROM tracks t WHERE (t.search_name || ' ' || t.search_context) LIKE $3
                      AND t.search_name NOT LIKE $3 LIMIT 20)) tiers LIMIT 20`,
        ['blue', `blue${String.fromCodePoint(0x10ffff)}`, '%blue%'],
      ],
      'search tracks "zqxjv" (no match)': [
        `SELECT * FROM (
           (SELECT t.id, 2 FROM tracks t WHERE t.search_name LIKE $1 LIMIT 20)
           UNION ALL (SELECT t.id, 3 FROM tracks t WHERE (t.search_name || ' ' || t.search_context) LIKE $1
                      AND t.search_name NOT LIKE $1 LIMIT 20)) tiers LIMIT 20`,
        ['%zqxjv%'],
      ],
      'random track probe (one of n)': [
        `SELECT t.id FROM tracks t WHERE t.seq >= (SELECT (min(seq) + max(seq)) / 2 FROM tracks)
         ORDER BY t.seq LIMIT 1`,
        [],
      ],
      'album row with its counts': [
        `SELECT al.id, al.track_count, al.duration_ms, ar.name FROM albums al JOIN artists ar ON ar.id = al.artist_id
         WHERE al.id = $1`,
        [`al${ID_BASE + 4242}`],
      ],
      genres: ['SELECT name, album_count, track_count FROM genres WHERE album_count > 0 ORDER BY name', []],
    };
    for (const [name, [sql, params]] of Object.entries(statements)) {
      const plan = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) ${sql}`,
        params,
      );
      const lines = plan.rows.map((r) => r['QUERY PLAN']);
      const ms = /Execution Time: ([\d.]+)/.exec(lines.join('\n'));
      times[name] = ms ? Number(ms[1]) : -1;
      note(`plan: ${name}\n  ${lines.join('\n  ')}`);
    }
  } finally {
    client.release();
  }
  return times;
}

/** A started system with the demo user granted GRANTED once loaded, and how to ask it. */
async function prepare(label: string) {
  const system = await BenchSystem.start({ label });
  const token = await system.login();
  const salt = randomBytes(6).toString('hex');
  const auth = `u=${DEMO_USERNAME}&t=${createHash('md5')
    .update(DEMO_PASSWORD + salt)
    .digest('hex')}&s=${salt}`;
  const sub = (method: string, params: Record<string, string | number> = {}) =>
    `/rest/${method}?${auth}&v=1.16.1&c=bench&f=json&${new URLSearchParams(
      Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]),
    )}`;
  const { rows: demo } = await system.db.query<{ id: string }>(
    'SELECT id FROM users.users WHERE username = $1',
    [DEMO_USERNAME],
  );
  /** Loads tracks 0 to `tracks`, grants the user their libraries; returns the seconds the load took. */
  const load = async (tracks: number) => {
    const seconds = await loadCatalog(system.db, 'catalog', { from: 0, to: tracks }, new Set());
    // The libraries exist once the load made them.
    await grantLibraries(system.db, 'catalog', demo[0]!.id, GRANTED);
    return seconds;
  };
  /** What the user sees (the catalog's own totals hold all five libraries). */
  const totals = async (): Promise<Totals> => {
    const total = async (path: string) =>
      (
        (await (
          await fetch(`${system.baseUrl}${path}?limit=1`, { headers: { authorization: `Bearer ${token}` } })
        ).json()) as { total: number }
      ).total;
    const [artists, albums, tracks] = await Promise.all(
      ['/api/artists', '/api/albums', '/api/tracks'].map(total),
    );
    return { artists: artists!, albums: albums!, tracks: tracks! };
  };
  return { system, token, sub, load, totals };
}

export async function runCatalogBench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.CATALOG_TRACKS ?? 1_000_000);
  if (!Number.isInteger(n) || n < SMALL)
    throw new Error(`CATALOG_TRACKS must be an integer of at least ${SMALL}`);
  const loadAtStart = loadavg().map((l) => round(l, 1));
  const systems: BenchSystem[] = [];
  try {
    const smallSide = await prepare('catsmall');
    systems.push(smallSide.system);
    const bigSide = await prepare('catbig');
    systems.push(bigSide.system);

    note(`loading ${SMALL} tracks into ${smallSide.system.ns}`);
    await smallSide.load(SMALL);
    const small = await smallSide.totals();
    note(`loading ${n} tracks into ${bigSide.system.ns}`);
    const loadS = await bigSide.load(n);
    const big = await bigSide.totals();
    const { rows: size } = await bigSide.system.db.query<{ mb: string }>(
      `SELECT round(sum(pg_total_relation_size(c.oid)) / 1e6) AS mb FROM pg_class c
       JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'catalog' AND c.relkind = 'r'`,
    );
    note(
      `${SMALL} and ${n} tracks in ${LIBRARIES} libraries (catalog ${size[0]!.mb} MB at ${n}); the user sees ${small.tracks} and ${big.tracks} tracks (${small.albums} and ${big.albums} albums, ${small.artists} and ${big.artists} artists), load ${loadavg()[0]!.toFixed(1)}:`,
    );
    const measured = await measureSideBySide(
      { system: smallSide.system, token: smallSide.token, list: reads(small, SMALL, smallSide.sub) },
      { system: bigSide.system, token: bigSide.token, list: reads(big, n, bigSide.sub) },
    );
    const rank = await ranking(bigSide.system, bigSide.token);
    const cursorOk = await cursorAgrees(bigSide.system, bigSide.token, Math.floor(big.tracks * 0.8));
    const plans = await explain(bigSide.system.db).catch((err: Error) => {
      note(`plans: ${err.message}`);
      return {};
    });
    note(`  cursor pages agree with offset pages: ${cursorOk}`);

    const readsOut: Record<
      string,
      { p50_ms: number; p99_ms: number; p99_small_ms: number; p50_small_ms: number; load: number }
    > = {};
    const slow: string[] = [];
    for (const name of Object.keys(measured) as ReadName[]) {
      const { small: s, big: b, load } = measured[name]!;
      readsOut[name] = { p50_ms: b.p50, p99_ms: b.p99, p99_small_ms: s.p99, p50_small_ms: s.p50, load };
      // Within 2x of the small catalog, with a millisecond of slack for sub-millisecond reads.
      if (b.p99 >= P99_LIMIT_MS || b.p99 > FLAT_FACTOR * s.p99 + 1) slow.push(name);
    }
    if (slow.length > 0)
      note(`over ${P99_LIMIT_MS} ms or ${FLAT_FACTOR}x the small catalog: ${slow.join(', ')}`);
    return {
      bench: 'catalog',
      libraries: LIBRARIES,
      granted: GRANTED,
      tracks: n,
      visible_tracks: big.tracks,
      albums: big.albums,
      artists: big.artists,
      small_tracks: small.tracks,
      load_s: round(loadS, 1),
      load_rows_per_s: Math.round(n / loadS),
      catalog_mb: Number(size[0]!.mb),
      side_by_side: true,
      reads_per_read: READS_PER,
      loadavg_start: loadAtStart,
      loadavg_end: loadavg().map((l) => round(l, 1)),
      reads: readsOut,
      slow,
      ranking_ok: rank.ok,
      ranking: rank.results,
      cursor_ok: cursorOk,
      plan_ms: plans,
    };
  } catch (err) {
    for (const system of systems) note(await system.logTails());
    throw err;
  } finally {
    await Promise.all(systems.map((system) => system.stop()));
  }
}
