import { randomUUID } from 'node:crypto';
import type { Playlist, PlaylistFileSource, SmartRules } from '../../common/contracts/index.js';
import type { PoolClient, Queryable } from '../../common/index.js';

export interface PlaylistRow {
  id: string;
  owner_id: string;
  owner_name: string;
  name: string;
  public: boolean;
  track_count: number;
  duration_ms: string;
  created_at: Date;
  updated_at: Date;
  /** A smart playlist's rules (it has no stored entries); null for an ordinary one. */
  rules: SmartRules | null;
  /** A playlist made from a library's playlist file: where from, and what was not found. */
  file: PlaylistFileSource | null;
}

export interface EntryRow {
  position: number;
  track_id: string;
}

/** A track to insert, with the duration the catalog gave for it. */
export interface NewEntry {
  trackId: string;
  durationMs: number;
}

export function toPlaylist(row: PlaylistRow): Playlist {
  return {
    id: row.id,
    ownerId: row.owner_id,
    ownerName: row.owner_name,
    name: row.name,
    public: row.public,
    trackCount: row.track_count,
    durationMs: Number(row.duration_ms),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(row.rules ? { rules: row.rules } : {}),
    ...(row.file ? { file: row.file } : {}),
  };
}

/** With `lock`, holds the row until the transaction ends so changes to one playlist run one at a time. */
export async function findPlaylist(db: Queryable, id: string, lock = false): Promise<PlaylistRow | null> {
  const { rows } = await db.query<PlaylistRow>(
    `SELECT * FROM playlists WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function listPlaylists(
  db: Queryable,
  ownerId: string,
  publicOnly: boolean,
): Promise<PlaylistRow[]> {
  const { rows } = await db.query<PlaylistRow>(
    `SELECT * FROM playlists WHERE owner_id = $1 AND (public OR NOT $2) ORDER BY created_at, id`,
    [ownerId, publicOnly],
  );
  return rows;
}

/** The entries at positions `offset` to `offset + limit - 1` (the primary key's range). */
export async function listEntries(
  db: Queryable,
  playlistId: string,
  page: { offset: number; limit: number },
): Promise<EntryRow[]> {
  const { rows } = await db.query<EntryRow>(
    `SELECT position, track_id FROM playlist_tracks
     WHERE playlist_id = $1 AND position >= $2 ORDER BY position LIMIT $3`,
    [playlistId, page.offset, page.limit],
  );
  return rows;
}

export async function insertPlaylist(
  client: PoolClient,
  fields: {
    ownerId: string;
    ownerName: string;
    name: string;
    public: boolean;
    rules?: SmartRules;
    file?: PlaylistFileSource;
  },
): Promise<PlaylistRow> {
  const { rows } = await client.query<PlaylistRow>(
    `INSERT INTO playlists (id, owner_id, owner_name, name, public, rules, file)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [
      randomUUID(),
      fields.ownerId,
      fields.ownerName,
      fields.name,
      fields.public,
      fields.rules ?? null,
      fields.file ? JSON.stringify(fields.file) : null,
    ],
  );
  return rows[0]!;
}

export async function updatePlaylist(
  client: PoolClient,
  id: string,
  fields: { name?: string; public?: boolean; rules?: SmartRules },
): Promise<PlaylistRow> {
  const { rows } = await client.query<PlaylistRow>(
    `UPDATE playlists SET name = coalesce($2, name), public = coalesce($3, public),
       rules = coalesce($4, rules), updated_at = clock_timestamp()
     WHERE id = $1 RETURNING *`,
    [id, fields.name ?? null, fields.public ?? null, fields.rules ?? null],
  );
  return rows[0]!;
}

export async function deletePlaylist(client: PoolClient, id: string): Promise<void> {
  await client.query('DELETE FROM playlists WHERE id = $1', [id]);
}

/** Inserts entries at `position`, moving the ones at and after it down. */
export async function insertEntries(
  client: PoolClient,
  playlistId: string,
  position: number,
  entries: readonly NewEntry[],
): Promise<void> {
  await client.query(
    'UPDATE playlist_tracks SET position = position + $3 WHERE playlist_id = $1 AND position >= $2',
    [playlistId, position, entries.length],
  );
  await client.query(
    `INSERT INTO playlist_tracks (playlist_id, position, track_id, duration_ms)
     SELECT $1, $2 + t.ord - 1, t.track_id, t.duration_ms
     FROM unnest($3::text[], $4::int[]) WITH ORDINALITY AS t (track_id, duration_ms, ord)`,
    [playlistId, position, entries.map((e) => e.trackId), entries.map((e) => e.durationMs)],
  );
}

/** Removes the entries at `positions` and closes the gaps, in one statement each. */
export async function removeEntries(
  client: PoolClient,
  playlistId: string,
  positions: readonly number[],
): Promise<void> {
  await client.query('DELETE FROM playlist_tracks WHERE playlist_id = $1 AND position = ANY($2::int[])', [
    playlistId,
    positions,
  ]);
  // Each entry moves up by the number of removed ones before it.
  await client.query(
    `UPDATE playlist_tracks p SET position = p.position - (SELECT count(*) FROM unnest($2::int[]) r WHERE r < p.position)
     WHERE p.playlist_id = $1 AND p.position > (SELECT min(r) FROM unnest($2::int[]) r)`,
    [playlistId, [...new Set(positions)]],
  );
}

/** Moves the entry at `from` to `to`, shifting the ones between by one. */
export async function moveEntry(
  client: PoolClient,
  playlistId: string,
  from: number,
  to: number,
): Promise<void> {
  await client.query(
    `UPDATE playlist_tracks
     SET position = CASE WHEN position = $2 THEN $3 WHEN $2 < $3 THEN position - 1 ELSE position + 1 END
     WHERE playlist_id = $1 AND position BETWEEN least($2::int, $3::int) AND greatest($2::int, $3::int)`,
    [playlistId, from, to],
  );
}

/** Recomputes the playlist's count and duration from its entries and marks it updated. */
export async function refreshTotals(client: PoolClient, id: string): Promise<PlaylistRow> {
  const { rows } = await client.query<PlaylistRow>(
    `UPDATE playlists p SET track_count = s.n, duration_ms = s.ms, updated_at = now()
     FROM (SELECT count(*)::int AS n, coalesce(sum(duration_ms), 0) AS ms
           FROM playlist_tracks WHERE playlist_id = $1) s
     WHERE p.id = $1 RETURNING p.*`,
    [id],
  );
  return rows[0]!;
}

/** How many smart playlists a user has. */
export async function countSmart(db: Queryable, ownerId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM playlists WHERE owner_id = $1 AND rules IS NOT NULL',
    [ownerId],
  );
  return rows[0]!.n;
}
