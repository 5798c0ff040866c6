import {
  type Album,
  type Artist,
  IGNORED_ARTICLES,
  type LibraryTrack,
  type ReplayGain,
  type Track,
} from '../../common/contracts/index.js';
import { prepared, type Queryable } from '../../common/index.js';
import type { Filter } from './pages.js';
import { inScope, type Scope, scopeParam } from './scope.js';
import { normalizeGenre } from './text.js';

/**
 * The read side: one SELECT per kind of row, shared by every method that returns it, so a
 * Track looks the same whether it comes from getAlbum, search or topTracks.
 */

export const ARTIST_SELECT = `
  SELECT ar.id, ar.name, ar.album_count FROM artists ar`;

/**
 * Artists as a scoped call sees them: only those with albums in its libraries, their album
 * counts summed over those libraries (library_artists, migration 007). `param` is the scope's
 * placeholder (scopeParam); null selects every artist with its whole count.
 */
export function artistSelect(param: string | null): string {
  if (param === null) return ARTIST_SELECT;
  return `
  SELECT ar.id, ar.name, la.album_count FROM artists ar
  JOIN LATERAL (SELECT sum(x.album_count)::int AS album_count FROM library_artists x
                WHERE x.artist_id = ar.id AND x.library_id = ANY(${param})) la ON la.album_count > 0`;
}

export const ALBUM_SELECT = `
  SELECT al.id, al.title, al.artist_id, ar.name AS artist_name, al.year, al.genre, al.cover_color,
         al.created_at, al.track_count, al.duration_ms::float8 AS duration_ms
  FROM albums al
  JOIN artists ar ON ar.id = al.artist_id`;

export const TRACK_SELECT = `
  SELECT t.id, t.title, t.album_id, al.title AS album_title, al.artist_id, ar.name AS artist_name,
         t.number, t.duration_ms, t.genre, t.year, t.mime_type, t.size_bytes::float8 AS size_bytes,
         t.track_gain, t.track_peak, t.album_gain, t.album_peak, t.library_id
  FROM tracks t
  JOIN albums al ON al.id = t.album_id
  JOIN artists ar ON ar.id = al.artist_id`;

/** Counts and durations are kept with the rows (migration 004), so each row is one index probe. */
export const ARTIST_ORDER = 'ar.search_name, ar.name, ar.id';
/** A leading article of a normalised (lower-case) name, as a regular expression for SQL and JS. */
export const LEADING_ARTICLE = `^(?:${IGNORED_ARTICLES.map((a) => a.toLowerCase()).join('|')}) `;
/** Index order: by the name without a leading article. */
export const ARTIST_INDEX_ORDER = `regexp_replace(ar.search_name, '${LEADING_ARTICLE}', ''), ${ARTIST_ORDER}`;
export const ALBUM_ORDER = 'al.search_name, al.title, al.id';
/** By artist, album, number: the `tracks` listing (services/catalog/pages.ts) and its index. */
export const TRACK_ORDER =
  't.artist_sort, t.album_sort, t.album_id, coalesce(t.number, 2147483647), t.search_name, t.id';
/** The order of tracks within one album (the tracks_album index). */
export const ALBUM_TRACK_ORDER = 'coalesce(t.number, 2147483647), t.search_name, t.id';

export interface ArtistRow {
  id: string;
  name: string;
  album_count: number;
}

export interface AlbumRow {
  id: string;
  title: string;
  artist_id: string;
  artist_name: string;
  year: number | null;
  genre: string | null;
  cover_color: string;
  /** A string where the row came as JSON. */
  created_at: Date | string;
  track_count: number;
  duration_ms: number;
}

export interface TrackRow {
  id: string;
  title: string;
  album_id: string;
  album_title: string;
  artist_id: string;
  artist_name: string;
  number: number | null;
  duration_ms: number;
  genre: string | null;
  year: number | null;
  mime_type: string;
  size_bytes: number;
  library_id: number;
  /** ReplayGain columns: absent where a query does not select them (removed tracks). */
  track_gain?: number | null;
  track_peak?: number | null;
  album_gain?: number | null;
  album_peak?: number | null;
}

function replayGainOf(r: TrackRow): ReplayGain | undefined {
  const found: ReplayGain = {};
  if (r.track_gain != null) found.trackGain = r.track_gain;
  if (r.track_peak != null) found.trackPeak = r.track_peak;
  if (r.album_gain != null) found.albumGain = r.album_gain;
  if (r.album_peak != null) found.albumPeak = r.album_peak;
  return Object.keys(found).length > 0 ? found : undefined;
}

export const toArtist = (r: ArtistRow): Artist => ({ id: r.id, name: r.name, albumCount: r.album_count });

export const toAlbum = (r: AlbumRow): Album => ({
  id: r.id,
  title: r.title,
  artistId: r.artist_id,
  artistName: r.artist_name,
  year: r.year,
  genre: r.genre,
  coverColor: r.cover_color,
  trackCount: r.track_count,
  durationMs: r.duration_ms,
  createdAt: new Date(r.created_at).toISOString(),
});

export const toTrack = (r: TrackRow): Track => ({
  id: r.id,
  title: r.title,
  albumId: r.album_id,
  albumTitle: r.album_title,
  artistId: r.artist_id,
  artistName: r.artist_name,
  number: r.number,
  durationMs: r.duration_ms,
  genre: r.genre,
  year: r.year,
  mimeType: r.mime_type,
  sizeBytes: r.size_bytes,
  ...withGain(replayGainOf(r)),
});

const withGain = (replayGain: ReplayGain | undefined) => (replayGain ? { replayGain } : {});

export async function queryArtists(db: Queryable, sql: string, params: unknown[]): Promise<Artist[]> {
  return (await db.query<ArtistRow>(prepared(sql, params))).rows.map(toArtist);
}

export async function queryAlbums(db: Queryable, sql: string, params: unknown[]): Promise<Album[]> {
  return (await db.query<AlbumRow>(prepared(sql, params))).rows.map(toAlbum);
}

export async function queryTracks(db: Queryable, sql: string, params: unknown[]): Promise<Track[]> {
  return (await db.query<TrackRow>(prepared(sql, params))).rows.map(toTrack);
}

/** Rows by id, in the order asked (repeats kept); unknown ids are left out. */
async function byIds<T extends { id: string }>(
  ids: readonly string[],
  load: (distinct: string[]) => Promise<T[]>,
): Promise<T[]> {
  if (ids.length === 0) return [];
  const byId = new Map((await load([...new Set(ids)])).map((row) => [row.id, row]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** A select by ids (`$1`) within a scope, its alias's library checked. */
function byIdsIn(select: string, alias: 'al' | 't', scope: Scope, distinct: string[]): [string, unknown[]] {
  const params: unknown[] = [distinct];
  const param = scopeParam(scope, params);
  return [
    `${select} WHERE ${alias}.id = ANY($1::text[]) AND ${inScope(`${alias}.library_id`, param)}`,
    params,
  ];
}

export const tracksByIds = (db: Queryable, ids: readonly string[], scope: Scope): Promise<Track[]> =>
  byIds(ids, (distinct) => queryTracks(db, ...byIdsIn(TRACK_SELECT, 't', scope, distinct)));

/** What tracks whose files left the library were (`removed_tracks`), marked unavailable. */
const REMOVED_SELECT = `
  SELECT id, title, album_id, album_title, artist_id, artist_name, number, duration_ms, genre, year, mime_type,
         size_bytes::float8 AS size_bytes, library_id
  FROM removed_tracks WHERE id = ANY($1::text[])`;

/**
 * Tracks by id, in the order asked, those removed from the library included (unavailable).
 * A track of a library out of `scope` is left out, as an unknown one; a removed track is
 * shown only within `removedScope` (the libraries the caller sees or saw, removed ones
 * included: LibraryAccess.removedOf).
 */
export const tracksWithRemovedByIds = (
  db: Queryable,
  ids: readonly string[],
  scope: Scope,
  removedScope: Scope,
): Promise<Track[]> => withRemovedByIds(db, ids, scope, removedScope, toTrack);

/** As `tracksWithRemovedByIds` for a service (every library), each with its library. */
export const libraryTracksByIds = (db: Queryable, ids: readonly string[]): Promise<LibraryTrack[]> =>
  withRemovedByIds(db, ids, null, null, (r) => ({ ...toTrack(r), libraryId: r.library_id }));

function withRemovedByIds<T extends Track>(
  db: Queryable,
  ids: readonly string[],
  scope: Scope,
  removedScope: Scope,
  toRow: (r: TrackRow) => T,
): Promise<T[]> {
  const query = async (sql: string, params: unknown[]) =>
    (await db.query<TrackRow>(prepared(sql, params))).rows.map(toRow);
  return byIds(ids, async (distinct) => {
    const found = await query(...byIdsIn(TRACK_SELECT, 't', scope, distinct));
    if (found.length === distinct.length) return found;
    const known = new Set(found.map((t) => t.id));
    const params: unknown[] = [distinct.filter((id) => !known.has(id))];
    const seen = inScope('removed_tracks.library_id', scopeParam(removedScope, params));
    const gone = await query(
      `${REMOVED_SELECT} AND ${seen} AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = removed_tracks.id)`,
      params,
    );
    return [...found, ...gone.map((t): T => ({ ...t, unavailable: true }))];
  });
}

export const albumsByIds = (db: Queryable, ids: readonly string[], scope: Scope): Promise<Album[]> =>
  byIds(ids, (distinct) => queryAlbums(db, ...byIdsIn(ALBUM_SELECT, 'al', scope, distinct)));

export const artistsByIds = (db: Queryable, ids: readonly string[], scope: Scope): Promise<Artist[]> =>
  byIds(ids, (distinct) => {
    const params: unknown[] = [distinct];
    const select = artistSelect(scopeParam(scope, params));
    return queryArtists(db, `${select} WHERE ar.id = ANY($1::text[])`, params);
  });

export async function count(db: Queryable, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    prepared(`SELECT count(*)::int AS n FROM (${sql}) counted`, params),
  );
  return rows[0]?.n ?? 0;
}

/** Ids from a single-column query, in its order. */
export async function queryIds(db: Queryable, sql: string, params: unknown[]): Promise<string[]> {
  return (await db.query<{ id: string }>(prepared(sql, params))).rows.map((r) => r.id);
}

/**
 * Filters on albums (alias `al`), or tracks (alias `t`, which carry their album's genre, year
 * and library), by genre, release years and scope, as conditions and their parameters from `$1`.
 */
export function albumFilter(
  f: {
    genre?: string | undefined;
    fromYear?: number | undefined;
    toYear?: number | undefined;
  },
  alias: 'al' | 't',
  scope: Scope,
): Filter {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (f.genre !== undefined) conditions.push(`${alias}.genre = ${param(normalizeGenre(f.genre))}`);
  if (f.fromYear !== undefined || f.toYear !== undefined) {
    const [from, to] = [f.fromYear ?? 0, f.toYear ?? 9999];
    // On albums, as the by-year index holds the year (no year: 10000, outside every range).
    const year = alias === 'al' ? 'coalesce(al.year, 10000)' : 't.year';
    conditions.push(`${year} BETWEEN ${param(Math.min(from, to))} AND ${param(Math.max(from, to))}`);
  }
  const libraries = scopeParam(scope, params);
  if (libraries !== null) conditions.push(inScope(`${alias}.library_id`, libraries));
  return { where: conditions, params };
}

/** `WHERE` and the conditions, or nothing. */
export function whereOf(filter: Filter): string {
  return filter.where.length > 0 ? `WHERE ${filter.where.join(' AND ')}` : '';
}

/**
 * Up to `limit` distinct rows at random, each found by one index probe at a random point of
 * the dense `seq` column (the number in the id): a few rows read, however large the table.
 */
export async function randomIds(
  db: Queryable,
  from: 'tracks t' | 'albums al',
  filter: Filter,
  limit: number,
) {
  const alias = from.split(' ')[1]!;
  const where = filter.where.map((w) => ` AND ${w}`).join('');
  const n = filter.params.length;
  const ids = await queryIds(
    db,
    `WITH bounds AS MATERIALIZED (
       SELECT (SELECT ${alias}.seq FROM ${from} WHERE true${where} ORDER BY ${alias}.seq LIMIT 1) AS lo,
              (SELECT ${alias}.seq FROM ${from} WHERE true${where} ORDER BY ${alias}.seq DESC LIMIT 1) AS hi),
     probes AS (
       SELECT lo + floor(random() * (hi - lo + 1))::bigint AS at FROM bounds, generate_series(1, $${n + 1})
       WHERE lo IS NOT NULL)
     SELECT DISTINCT picked.id FROM probes CROSS JOIN LATERAL (
       SELECT ${alias}.id FROM ${from} WHERE ${alias}.seq >= probes.at${where} ORDER BY ${alias}.seq LIMIT 1
     ) picked`,
    [...filter.params, limit * 2],
  );
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids.slice(0, limit);
}
