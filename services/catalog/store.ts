import type { Queryable } from '../../common/index.js';
import { hashString } from './audio/prng.js';
import { normalizeText } from './text.js';

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
    { artist_id: album.artistId, title: album.title },
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

/** Genres are compared and listed lower-case, so "Rock" and "rock" are one genre. */
function normalizeGenre(genre: string | null): string | null {
  const g = genre?.trim().toLowerCase();
  return g ? g : null;
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
