import type { Queryable } from '../../common/index.js';
import { hashString } from './audio/prng.js';
import type { TrackTags } from './library/tags.js';
import { normalizeGenre, normalizeText } from './text.js';

/**
 * The write side of the catalog, shared by the seed and the importer: every write is an
 * upsert by natural key, so running either twice changes nothing.
 */

export type Change = 'inserted' | 'updated' | 'unchanged';

export interface Upserted {
  id: string;
  change: Change;
}

/** Tallies of what a run did, per kind of row. */
export type ChangeCounts = Record<Change, number>;

export const emptyCounts = (): ChangeCounts => ({ inserted: 0, updated: 0, unchanged: 0 });

type Table = 'artists' | 'albums' | 'tracks';

const ID_SOURCE: Record<Table, { sequence: string; prefix: string }> = {
  artists: { sequence: 'artist_ids', prefix: 'ar' },
  albums: { sequence: 'album_ids', prefix: 'al' },
  tracks: { sequence: 'track_ids', prefix: 'tr' },
};

/**
 * Updates the row with this key when a value differs, or inserts it with a fresh short id.
 * Column names come from this module only, never from input. A new id is drawn only when a
 * row is really inserted, so re-runs leave the id sequences alone.
 */
async function upsert(
  db: Queryable,
  table: Table,
  key: Record<string, unknown>,
  values: Record<string, unknown>,
): Promise<Upserted> {
  const keyCols = Object.keys(key);
  const valueCols = Object.keys(values);
  const params = [...Object.values(key), ...Object.values(values)];
  const keyWhere = keyCols.map((c, i) => `${c} = $${i + 1}`).join(' AND ');
  const valueParam = (i: number) => `$${keyCols.length + i + 1}`;
  const { sequence, prefix } = ID_SOURCE[table];
  for (let attempt = 0; attempt < 3; attempt++) {
    if (valueCols.length > 0) {
      const updated = await db.query<{ id: string }>(
        `UPDATE ${table} SET ${valueCols.map((c, i) => `${c} = ${valueParam(i)}`).join(', ')}
         WHERE ${keyWhere} AND (${valueCols.map((c, i) => `${c} IS DISTINCT FROM ${valueParam(i)}`).join(' OR ')})
         RETURNING id`,
        params,
      );
      if (updated.rows[0]) return { id: updated.rows[0].id, change: 'updated' };
    }
    const existing = await db.query<{ id: string }>(
      `SELECT id FROM ${table} WHERE ${keyWhere}`,
      params.slice(0, keyCols.length),
    );
    if (existing.rows[0]) return { id: existing.rows[0].id, change: 'unchanged' };
    const cols = [...keyCols, ...valueCols];
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO ${table} (id, ${cols.join(', ')})
       VALUES ('${prefix}' || nextval('${sequence}'), ${cols.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT DO NOTHING RETURNING id`,
      params,
    );
    if (inserted.rows[0]) return { id: inserted.rows[0].id, change: 'inserted' };
    // Someone inserted the same key between our SELECT and INSERT: read theirs.
  }
  throw new Error(`could not upsert into ${table} ${JSON.stringify(key)}`);
}

export function upsertArtist(db: Queryable, name: string): Promise<Upserted> {
  return upsert(db, 'artists', { name }, { search_name: normalizeText(name) });
}

export interface AlbumInput {
  libraryId: number;
  artistId: string;
  artistName: string;
  title: string;
  year: number | null;
  genre: string | null;
}

export function upsertAlbum(db: Queryable, album: AlbumInput): Promise<Upserted> {
  return upsert(
    db,
    'albums',
    { library_id: album.libraryId, artist_id: album.artistId, title: album.title },
    {
      year: album.year,
      genre: normalizeGenre(album.genre),
      cover_color: coverColor(`${album.artistName}\n${album.title}`),
      search_name: normalizeText(album.title),
      search_context: normalizeText(album.artistName),
    },
  );
}

export interface TrackInput {
  albumId: string;
  albumTitle: string;
  artistName: string;
  title: string;
  number: number | null;
  durationMs: number;
  /** Relative to the media folder, or absolute for files imported in place. */
  filePath: string;
  mimeType: string;
  sizeBytes: number;
}

export function upsertTrack(db: Queryable, track: TrackInput): Promise<Upserted> {
  return upsert(
    db,
    'tracks',
    { file_path: track.filePath },
    {
      album_id: track.albumId,
      title: track.title,
      number: track.number,
      duration_ms: track.durationMs,
      mime_type: track.mimeType,
      size_bytes: track.sizeBytes,
      search_name: normalizeText(track.title),
      search_context: normalizeText(`${track.albumTitle} ${track.artistName}`),
    },
  );
}

/** A stable, not too dark, not too pale colour for an album's generated cover. */
export function coverColor(key: string): string {
  const h = hashString(key);
  const hue = h % 360;
  const sat = 0.45 + ((h >>> 9) % 30) / 100;
  const light = 0.4 + ((h >>> 17) % 20) / 100;
  const a = sat * Math.min(light, 1 - light);
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12;
    const v = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

// ---- The importer's batched writes ---------------------------------------------------------------
//
// A library import writes thousands of files: each batch is a handful of multi-row statements
// (arrays through unnest), never a statement per row.

/** A file whose tags were read, to be written as a track (with `id`, over that track). */
export interface TrackWrite extends TrackTags {
  /** The track this file already is (a changed file keeps its id), or none for a new file. */
  id: string | null;
  filePath: string;
  mimeType: string;
  sizeBytes: number;
  mtimeMs: number;
}

export interface BatchResult {
  tracks: ChangeCounts;
  albums: ChangeCounts;
  artists: ChangeCounts;
  /** Tracks that took the id of a removed track (a file moved or restored). */
  revived: number;
  /** Albums whose tracks changed: the only ones that may have become empty. */
  touchedAlbums: string[];
}

/**
 * The key that recognises a removed track when its file comes back under another path (moved,
 * renamed, restored from a backup): same artist, album, title, number and duration.
 */
export function matchKey(
  t: Pick<TrackWrite, 'artist' | 'album' | 'title' | 'number' | 'durationMs'>,
): string {
  return [
    normalizeText(t.artist),
    normalizeText(t.album),
    normalizeText(t.title),
    t.number ?? '',
    t.durationMs,
  ].join('\n');
}

/**
 * Writes a batch of read files of a library (call it in a transaction): their artists (shared by
 * all libraries) and albums (the library's own), found or
 * made; the tracks, updated in place by id or inserted, a new file taking the id of a removed
 * track with its match key. An album's year and genre are those most of its files in the
 * batch agree on (kept when none says).
 */
export async function saveTracks(
  db: Queryable,
  libraryId: number,
  files: readonly TrackWrite[],
): Promise<BatchResult> {
  const result: BatchResult = {
    tracks: emptyCounts(),
    albums: emptyCounts(),
    artists: emptyCounts(),
    revived: 0,
    touchedAlbums: [],
  };
  if (files.length === 0) return result;

  const artistNames = [...new Set(files.map((f) => f.artist))];
  const artists = await findOrInsert<{ id: string; name: string }>(
    db,
    `WITH input AS (SELECT * FROM unnest($1::text[], $2::text[]) AS u (name, search_name)),
     inserted AS (
       INSERT INTO artists (id, name, search_name)
       SELECT 'ar' || nextval('artist_ids'), name, search_name FROM input
       WHERE NOT EXISTS (SELECT 1 FROM artists a WHERE a.name = input.name)
       ON CONFLICT (name) DO NOTHING RETURNING id, name)
     SELECT id, name, true AS inserted FROM inserted
     UNION ALL SELECT a.id, a.name, false FROM artists a JOIN input USING (name)`,
    [artistNames, artistNames.map(normalizeText)],
    artistNames.length,
    result.artists,
  );
  const artistId = new Map(artists.map((a) => [a.name, a.id]));

  const albums = new Map<string, { artist: string; title: string; files: TrackWrite[] }>();
  for (const f of files) {
    const key = `${f.artist}\n${f.album}`;
    const group = albums.get(key) ?? { artist: f.artist, title: f.album, files: [] };
    group.files.push(f);
    albums.set(key, group);
  }
  const groups = [...albums.values()];
  const albumRows = await findOrInsert<{ id: string; artist_id: string; title: string }>(
    db,
    `WITH input AS (
       SELECT $8::int AS library_id, * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
                                                    $6::text[], $7::text[])
         AS u (artist_id, title, year, genre, cover_color, search_name, search_context)),
     updated AS (
       UPDATE albums al SET year = coalesce(input.year, al.year), genre = coalesce(input.genre, al.genre)
       FROM input WHERE al.library_id = input.library_id AND al.artist_id = input.artist_id
         AND al.title = input.title
         AND (coalesce(input.year, al.year), coalesce(input.genre, al.genre)) IS DISTINCT FROM (al.year, al.genre)
       RETURNING al.id),
     inserted AS (
       INSERT INTO albums (id, library_id, artist_id, title, year, genre, cover_color, search_name, search_context)
       SELECT 'al' || nextval('album_ids'), library_id, artist_id, title, year, genre, cover_color, search_name,
              search_context
       FROM input
       WHERE NOT EXISTS (SELECT 1 FROM albums al WHERE al.library_id = input.library_id
                         AND al.artist_id = input.artist_id AND al.title = input.title)
       ON CONFLICT (library_id, artist_id, title) DO NOTHING RETURNING id, artist_id, title)
     SELECT id, artist_id, title, true AS inserted, false AS updated FROM inserted
     UNION ALL
     SELECT al.id, al.artist_id, al.title, false, al.id IN (SELECT id FROM updated)
     FROM albums al JOIN input USING (library_id, artist_id, title)`,
    [
      groups.map((g) => artistId.get(g.artist)),
      groups.map((g) => g.title),
      groups.map((g) => mostCommon(g.files.map((f) => f.year))),
      groups.map((g) => normalizeGenre(mostCommon(g.files.map((f) => f.genre)))),
      groups.map((g) => coverColor(`${g.artist}\n${g.title}`)),
      groups.map((g) => normalizeText(g.title)),
      groups.map((g) => normalizeText(g.artist)),
      libraryId,
    ],
    groups.length,
    result.albums,
  );
  const albumId = new Map(albumRows.map((a) => [`${a.artist_id}\n${a.title}`, a.id]));
  const albumOf = (f: TrackWrite) => albumId.get(`${artistId.get(f.artist)}\n${f.album}`)!;

  // New files first look for a removed track to become.
  const fresh = files.filter((f) => f.id === null);
  const ids = new Map<TrackWrite, string>();
  if (fresh.length > 0) {
    const keys = fresh.map(matchKey);
    const { rows } = await db.query<{ id: string; match_key: string }>(
      `SELECT DISTINCT ON (match_key) id, match_key FROM removed_tracks
       WHERE match_key = ANY($1::text[]) ORDER BY match_key, removed_at DESC`,
      [[...new Set(keys)]],
    );
    const byKey = new Map(rows.map((r) => [r.match_key, r.id]));
    fresh.forEach((f, i) => {
      const id = byKey.get(keys[i]!);
      if (id) {
        ids.set(f, id);
        byKey.delete(keys[i]!);
      }
    });
    if (ids.size > 0) {
      await db.query('DELETE FROM removed_tracks WHERE id = ANY($1::text[])', [[...ids.values()]]);
      result.revived = ids.size;
    }
  }

  const { rows: written } = await db.query<{ inserted: boolean; old_album: string | null; album_id: string }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[],
                            $8::bigint[], $9::float8[], $10::text[], $11::text[],
                            $12::real[], $13::real[], $14::real[], $15::real[])
         AS u (id, album_id, file_path, title, number, duration_ms, mime_type, size_bytes, file_mtime_ms,
               search_name, search_context, track_gain, track_peak, album_gain, album_peak)),
     old AS (SELECT t.id, t.album_id FROM tracks t JOIN input USING (id)),
     updated AS (
       UPDATE tracks t SET album_id = i.album_id, file_path = i.file_path, title = i.title, number = i.number,
         duration_ms = i.duration_ms, mime_type = i.mime_type, size_bytes = i.size_bytes,
         file_mtime_ms = i.file_mtime_ms, search_name = i.search_name, search_context = i.search_context,
         track_gain = i.track_gain, track_peak = i.track_peak, album_gain = i.album_gain, album_peak = i.album_peak
       FROM input i WHERE t.id = i.id
       RETURNING t.id, t.album_id),
     inserted AS (
       INSERT INTO tracks (id, album_id, file_path, title, number, duration_ms, mime_type, size_bytes,
                           file_mtime_ms, search_name, search_context, track_gain, track_peak, album_gain, album_peak)
       SELECT coalesce(i.id, 'tr' || nextval('track_ids')), i.album_id, i.file_path, i.title, i.number,
              i.duration_ms, i.mime_type, i.size_bytes, i.file_mtime_ms, i.search_name, i.search_context,
              i.track_gain, i.track_peak, i.album_gain, i.album_peak
       FROM input i WHERE i.id IS NULL OR NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = i.id)
       ON CONFLICT (file_path) DO UPDATE SET album_id = EXCLUDED.album_id, title = EXCLUDED.title,
         number = EXCLUDED.number, duration_ms = EXCLUDED.duration_ms, mime_type = EXCLUDED.mime_type,
         size_bytes = EXCLUDED.size_bytes, file_mtime_ms = EXCLUDED.file_mtime_ms,
         search_name = EXCLUDED.search_name, search_context = EXCLUDED.search_context,
         track_gain = EXCLUDED.track_gain, track_peak = EXCLUDED.track_peak,
         album_gain = EXCLUDED.album_gain, album_peak = EXCLUDED.album_peak
       RETURNING album_id, (xmax = 0) AS inserted)
     SELECT false AS inserted, old.album_id AS old_album, updated.album_id FROM updated JOIN old USING (id)
     UNION ALL SELECT inserted, NULL, album_id FROM inserted`,
    [
      files.map((f) => f.id ?? ids.get(f) ?? null),
      files.map(albumOf),
      files.map((f) => f.filePath),
      files.map((f) => f.title),
      files.map((f) => f.number),
      files.map((f) => f.durationMs),
      files.map((f) => f.mimeType),
      files.map((f) => f.sizeBytes),
      files.map((f) => f.mtimeMs),
      files.map((f) => normalizeText(f.title)),
      files.map((f) => normalizeText(`${f.album} ${f.artist}`)),
      files.map((f) => f.replayGain.trackGain ?? null),
      files.map((f) => f.replayGain.trackPeak ?? null),
      files.map((f) => f.replayGain.albumGain ?? null),
      files.map((f) => f.replayGain.albumPeak ?? null),
    ],
  );
  const touched = new Set<string>();
  for (const w of written) {
    result.tracks[w.inserted ? 'inserted' : 'updated']++;
    if (w.old_album) touched.add(w.old_album);
    touched.add(w.album_id);
  }
  await db.query('DELETE FROM unreadable_files WHERE file_path = ANY($1::text[])', [
    files.map((f) => f.filePath),
  ]);
  result.touchedAlbums = [...touched];
  return result;
}

/**
 * Runs an insert-or-find statement whose rows say whether each was inserted (and, for albums,
 * updated); tallies them. Should another writer have inserted a key between our look and our
 * insert (neither found nor inserted), the statement runs again and finds it.
 */
async function findOrInsert<T>(
  db: Queryable,
  sql: string,
  params: unknown[],
  expected: number,
  counts: ChangeCounts,
): Promise<T[]> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const { rows } = await db.query<T & { inserted: boolean; updated?: boolean }>(sql, params);
    if (rows.length < expected) continue;
    for (const r of rows) counts[r.inserted ? 'inserted' : r.updated ? 'updated' : 'unchanged']++;
    return rows;
  }
  throw new Error('could not write the batch: its artists or albums kept changing under it');
}

/**
 * Removes tracks whose files left the library, keeping what they were in `removed_tracks`
 * with their library (for pages that name them to those who saw it, and for a file that comes back). Returns their albums, which may
 * now be empty (`removeEmptyAlbums`).
 */
export async function removeTracks(db: Queryable, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ album_id: string }>(
    `WITH gone AS (
       SELECT t.id, t.title, t.album_id, al.title AS album_title, al.artist_id, ar.name AS artist_name, t.number,
              t.duration_ms, al.genre, al.year, t.mime_type, t.size_bytes, t.file_path, t.library_id
       FROM tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id
       WHERE t.id = ANY($1::text[])),
     kept AS (
       INSERT INTO removed_tracks (id, title, album_id, album_title, artist_id, artist_name, number, duration_ms,
                                   genre, year, mime_type, size_bytes, file_path, match_key, library_id)
       SELECT id, title, album_id, album_title, artist_id, artist_name, number, duration_ms, genre, year,
              mime_type, size_bytes, file_path, ($2::text[])[array_position($1::text[], id)], library_id
       FROM gone
       ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, album_id = EXCLUDED.album_id,
         album_title = EXCLUDED.album_title, artist_id = EXCLUDED.artist_id, artist_name = EXCLUDED.artist_name,
         number = EXCLUDED.number, duration_ms = EXCLUDED.duration_ms, genre = EXCLUDED.genre,
         year = EXCLUDED.year, mime_type = EXCLUDED.mime_type, size_bytes = EXCLUDED.size_bytes,
         file_path = EXCLUDED.file_path, match_key = EXCLUDED.match_key, removed_at = EXCLUDED.removed_at,
         library_id = EXCLUDED.library_id),
     deleted AS (DELETE FROM tracks t USING gone WHERE t.id = gone.id RETURNING t.album_id)
     SELECT DISTINCT album_id FROM deleted`,
    [ids, await matchKeysOf(db, ids)],
  );
  return rows.map((r) => r.album_id);
}

/** The match keys of tracks, in the order of `ids` (computed here: normalizeText is not SQL). */
async function matchKeysOf(db: Queryable, ids: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{
    id: string;
    artist: string;
    album: string;
    title: string;
    number: number | null;
    duration_ms: number;
  }>(
    `SELECT t.id, ar.name AS artist, al.title AS album, t.title, t.number, t.duration_ms
     FROM tracks t JOIN albums al ON al.id = t.album_id JOIN artists ar ON ar.id = al.artist_id
     WHERE t.id = ANY($1::text[])`,
    [ids],
  );
  const byId = new Map(
    rows.map((r) => [
      r.id,
      matchKey({
        artist: r.artist,
        album: r.album,
        title: r.title,
        number: r.number,
        durationMs: r.duration_ms,
      }),
    ]),
  );
  return ids.map((id) => byId.get(id) ?? '');
}

/** Deletes those of the albums that have no track left, then their artists left without albums. */
export async function removeEmptyAlbums(
  db: Queryable,
  albumIds: readonly string[],
): Promise<{ albums: number; artists: number }> {
  if (albumIds.length === 0) return { albums: 0, artists: 0 };
  const { rows } = await db.query<{ albums: number; artists: number }>(
    `WITH albums_gone AS (
       DELETE FROM albums al WHERE al.id = ANY($1::text[])
         AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = al.id)
       RETURNING al.id, al.artist_id),
     artists_gone AS (
       DELETE FROM artists ar WHERE ar.id IN (SELECT artist_id FROM albums_gone)
         AND NOT EXISTS (SELECT 1 FROM albums al WHERE al.artist_id = ar.id
                         AND al.id NOT IN (SELECT id FROM albums_gone))
       RETURNING ar.id)
     SELECT (SELECT count(*) FROM albums_gone)::int AS albums, (SELECT count(*) FROM artists_gone)::int AS artists`,
    [albumIds],
  );
  return rows[0]!;
}

/** Records files that could not be read, so a rescan passes them over until they change. */
export async function recordUnreadable(
  db: Queryable,
  files: ReadonlyArray<{ filePath: string; sizeBytes: number; mtimeMs: number; reason: string }>,
): Promise<void> {
  if (files.length === 0) return;
  await db.query(
    `INSERT INTO unreadable_files (file_path, size_bytes, file_mtime_ms, reason)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::text[])
     ON CONFLICT (file_path) DO UPDATE SET size_bytes = EXCLUDED.size_bytes,
       file_mtime_ms = EXCLUDED.file_mtime_ms, reason = EXCLUDED.reason`,
    [
      files.map((f) => f.filePath),
      files.map((f) => f.sizeBytes),
      files.map((f) => f.mtimeMs),
      files.map((f) => f.reason),
    ],
  );
}

/** What the catalog knows of the files at or under each of `scopes` (absolute paths). */
export interface KnownFile {
  id: string | null;
  sizeBytes: number;
  mtimeMs: number | null;
  /** Why it could not be read, for a file recorded as unreadable. */
  unreadable: string | null;
}

export async function knownFiles(db: Queryable, scopes: readonly string[]): Promise<Map<string, KnownFile>> {
  const { rows } = await db.query<{
    file_path: string;
    id: string | null;
    size_bytes: string;
    file_mtime_ms: number | null;
    reason: string | null;
  }>(
    `WITH scope AS (SELECT unnest($1::text[]) AS path)
     SELECT file_path, id, size_bytes, file_mtime_ms, NULL AS reason FROM tracks
     WHERE EXISTS (SELECT 1 FROM scope WHERE file_path = scope.path OR starts_with(file_path, scope.path || '/'))
     UNION ALL
     SELECT file_path, NULL, size_bytes, file_mtime_ms, reason FROM unreadable_files
     WHERE EXISTS (SELECT 1 FROM scope WHERE file_path = scope.path OR starts_with(file_path, scope.path || '/'))`,
    [scopes],
  );
  return new Map(
    rows.map((r) => [
      r.file_path,
      { id: r.id, sizeBytes: Number(r.size_bytes), mtimeMs: r.file_mtime_ms, unreadable: r.reason },
    ]),
  );
}

/** Forgets unreadable files that are gone or now read. */
export async function forgetUnreadable(db: Queryable, paths: readonly string[]): Promise<void> {
  if (paths.length > 0)
    await db.query('DELETE FROM unreadable_files WHERE file_path = ANY($1::text[])', [paths]);
}

/** The value most files agree on (tags are often missing on a few). */
function mostCommon<T>(values: Array<T | null>): T | null {
  const counts = new Map<T, number>();
  for (const v of values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | null = null;
  let bestCount = 0;
  for (const [v, n] of counts) {
    if (n > bestCount) {
      best = v;
      bestCount = n;
    }
  }
  return best;
}
