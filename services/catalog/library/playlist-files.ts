import { open } from 'node:fs/promises';
import {
  Events,
  type MissingEntry,
  PLAYLIST_FILE_MAX_BYTES,
  PLAYLIST_FILE_MISSING_MAX,
  type PlaylistFileChanged,
} from '../../../common/contracts/index.js';
import { enqueueEvent, type PoolClient, type Queryable } from '../../../common/index.js';
import {
  decodePlaylistFile,
  type PlaylistFileEntry,
  PlaylistFileError,
  parsePlaylistFile,
  resolveEntry,
} from './m3u.js';

/**
 * The catalog's side of playlist files: the `.m3u` / `.m3u8` files an import finds are read,
 * their entries looked up among the library's tracks by path, and what they hold published as
 * `playlist-file.changed` through the outbox (in the transaction that records the file, so it
 * is sent if and only if the file's row changed); a file that is gone is `playlist-file.removed`.
 * The playlists service makes and keeps the playlists.
 */

export interface PlaylistFileCounts {
  /** Files read and published (new or changed), and files published again (tracks found or lost). */
  published: number;
  removed: number;
}

/** Longest entry text an event carries (the row keeps it whole). */
const ENTRY_REPORT_MAX = 1000;
/** Most playlist files of a library looked up again after one import changed its tracks. */
const RELOOKUP_MAX = 1000;

interface KnownRow {
  file_path: string;
  size_bytes: string;
  file_mtime_ms: number;
}

interface StoredRow {
  file_path: string;
  name: string;
  lines: number[];
  raw: string[];
  track_ids: string[];
}

export interface PlaylistFileSync {
  /** The folder imported (absolute). */
  root: string;
  libraryId: number;
  /** The paths compared (files or folders): files under them that are gone are removed. */
  scopes: readonly string[];
  /** The playlist files found under `scopes`, by absolute path. */
  found: ReadonlyMap<string, { sizeBytes: number; mtimeMs: number }>;
  /** Tracks were added or removed by this import: the library's other files are looked up again. */
  tracksChanged: boolean;
  /** Files refused, with the reason (the import's report). */
  refused: (path: string, reason: string) => void;
}

/** Brings `playlist_files` (and so the playlists) in step with the playlist files found. */
export async function syncPlaylistFiles(
  db: PoolClient,
  s: PlaylistFileSync,
  inTransaction: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<PlaylistFileCounts> {
  const counts: PlaylistFileCounts = { published: 0, removed: 0 };
  const library = await libraryOf(db, s.libraryId, s.root);
  const { rows: known } = await db.query<KnownRow>(
    `WITH scope AS (SELECT unnest($1::text[]) AS path)
     SELECT file_path, size_bytes, file_mtime_ms FROM playlist_files
     WHERE EXISTS (SELECT 1 FROM scope WHERE file_path = scope.path OR starts_with(file_path, scope.path || '/'))`,
    [s.scopes],
  );
  const knownByPath = new Map(known.map((k) => [k.file_path, k]));
  const done = new Set<string>();

  for (const k of known) {
    if (s.found.has(k.file_path)) continue;
    await inTransaction(async () => {
      const { rowCount } = await db.query('DELETE FROM playlist_files WHERE file_path = $1', [k.file_path]);
      if (rowCount) await publishRemoved(db, s.libraryId, library.relative(k.file_path));
    });
    counts.removed++;
  }

  for (const [path, file] of s.found) {
    const k = knownByPath.get(path);
    if (k && Number(k.size_bytes) === file.sizeBytes && k.file_mtime_ms === file.mtimeMs) continue;
    done.add(path);
    const read = await readPlaylistFile(path, file.sizeBytes, library.root);
    await inTransaction(async () => {
      if ('error' in read) {
        const error = `playlist file refused: ${read.error}`;
        s.refused(path, error);
        const { rows } = await db.query<{ name: string; version: string }>(
          `INSERT INTO playlist_files AS f (file_path, library_id, size_bytes, file_mtime_ms, name, error, version)
           VALUES ($1, $2, $3, $4, $5, $6, nextval('playlist_file_versions'))
           ON CONFLICT (file_path) DO UPDATE SET size_bytes = EXCLUDED.size_bytes,
             file_mtime_ms = EXCLUDED.file_mtime_ms, error = EXCLUDED.error, version = EXCLUDED.version
           RETURNING f.name, f.version`,
          [path, s.libraryId, file.sizeBytes, file.mtimeMs, fallbackName(path), error],
        );
        await publishChanged(db, {
          libraryId: s.libraryId,
          path: library.relative(path),
          name: rows[0]!.name,
          ownerId: library.ownerId,
          trackIds: [],
          durationsMs: [],
          missing: [],
          missingCount: 0,
          error,
          version: Number(rows[0]!.version),
        });
        return;
      }
      const found = await lookUp(db, read.entries);
      const { rows } = await db.query<{ version: string }>(
        `INSERT INTO playlist_files (file_path, library_id, size_bytes, file_mtime_ms, name, lines, raw,
           track_ids, missing_count, error, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, nextval('playlist_file_versions'))
         ON CONFLICT (file_path) DO UPDATE SET library_id = EXCLUDED.library_id, size_bytes = EXCLUDED.size_bytes,
           file_mtime_ms = EXCLUDED.file_mtime_ms, name = EXCLUDED.name, lines = EXCLUDED.lines, raw = EXCLUDED.raw,
           track_ids = EXCLUDED.track_ids, missing_count = EXCLUDED.missing_count, error = NULL,
           version = EXCLUDED.version
         RETURNING version`,
        [
          path,
          s.libraryId,
          file.sizeBytes,
          file.mtimeMs,
          read.name,
          read.entries.map((e) => e.line),
          read.entries.map((e) => e.raw),
          found.trackIds,
          found.missingCount,
        ],
      );
      await publishChanged(db, {
        libraryId: s.libraryId,
        path: library.relative(path),
        name: read.name,
        ownerId: library.ownerId,
        ...found,
        version: Number(rows[0]!.version),
      });
    });
    counts.published++;
  }

  // Entries that name files imported (or removed) since their playlist file was read.
  if (s.tracksChanged) {
    const { rows } = await db.query<StoredRow>(
      `SELECT file_path, name, lines, raw, track_ids FROM playlist_files
       WHERE library_id = $1 AND error IS NULL AND NOT (file_path = ANY($2::text[]))
       ORDER BY file_path LIMIT ${RELOOKUP_MAX}`,
      [s.libraryId, [...done]],
    );
    for (const row of rows) {
      const entries = row.raw.map((raw, i) =>
        resolveEntry(raw, row.lines[i] ?? i + 1, row.file_path, library.root),
      );
      const found = await lookUp(db, entries);
      if (sameIds(found.trackIds, row.track_ids)) continue;
      await inTransaction(async () => {
        const { rows: updated } = await db.query<{ version: string }>(
          `UPDATE playlist_files SET track_ids = $2, missing_count = $3, version = nextval('playlist_file_versions')
           WHERE file_path = $1 RETURNING version`,
          [row.file_path, found.trackIds, found.missingCount],
        );
        await publishChanged(db, {
          libraryId: s.libraryId,
          path: library.relative(row.file_path),
          name: row.name,
          ownerId: library.ownerId,
          ...found,
          version: Number(updated[0]!.version),
        });
      });
      counts.published++;
    }
  }
  return counts;
}

/**
 * Publishes every playlist file of a library again (its owner changed): the playlists move to
 * the new owner. Runs in the caller's transaction.
 */
export async function republishLibrary(db: PoolClient, libraryId: number): Promise<number> {
  const library = await libraryOf(db, libraryId, null);
  const { rows } = await db.query<StoredRow & { error: string | null; version: string }>(
    `UPDATE playlist_files SET version = nextval('playlist_file_versions') WHERE library_id = $1
     RETURNING file_path, name, lines, raw, track_ids, error, version`,
    [libraryId],
  );
  for (const row of rows) {
    const entries = row.raw.map((raw, i) =>
      resolveEntry(raw, row.lines[i] ?? i + 1, row.file_path, library.root),
    );
    const found = await lookUp(db, entries);
    await publishChanged(db, {
      libraryId,
      path: library.relative(row.file_path),
      name: row.name,
      ownerId: library.ownerId,
      ...found,
      ...(row.error ? { error: row.error, trackIds: [], durationsMs: [], missing: [], missingCount: 0 } : {}),
      version: Number(row.version),
    });
  }
  return rows.length;
}

/** Publishes the removal of every playlist file of a library (it is being removed). */
export async function removeLibraryFiles(db: PoolClient, libraryId: number): Promise<void> {
  const library = await libraryOf(db, libraryId, null);
  const { rows } = await db.query<{ file_path: string }>(
    'DELETE FROM playlist_files WHERE library_id = $1 RETURNING file_path',
    [libraryId],
  );
  for (const row of rows) await publishRemoved(db, libraryId, library.relative(row.file_path));
}

async function libraryOf(db: Queryable, libraryId: number, root: string | null) {
  const { rows } = await db.query<{ path: string | null; owner_id: string | null }>(
    'SELECT path, owner_id FROM libraries WHERE id = $1',
    [libraryId],
  );
  const folder = rows[0]?.path ?? null;
  // Paths are named relative to the library's folder (an import of a folder inside it too).
  const base =
    folder && (root === null || root === folder || root.startsWith(`${folder}/`)) ? folder : (root ?? '/');
  return {
    root: base,
    ownerId: rows[0]?.owner_id ?? null,
    relative: (path: string) => (path.startsWith(`${base}/`) ? path.slice(base.length + 1) : path),
  };
}

type Read = { name: string; entries: PlaylistFileEntry[] } | { error: string };

async function readPlaylistFile(path: string, sizeBytes: number, root: string): Promise<Read> {
  const tooLarge = { error: `it is larger than ${PLAYLIST_FILE_MAX_BYTES / 1024 / 1024} MiB` };
  if (sizeBytes > PLAYLIST_FILE_MAX_BYTES) return tooLarge;
  let bytes: Buffer;
  try {
    // Read at most one byte past the bound: a file that grew since its stat is still refused.
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(PLAYLIST_FILE_MAX_BYTES + 1);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      bytes = buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (err) {
    return { error: `it could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (bytes.length > PLAYLIST_FILE_MAX_BYTES) return tooLarge;
  try {
    return parsePlaylistFile(decodePlaylistFile(bytes, path), path, root);
  } catch (err) {
    if (err instanceof PlaylistFileError) return { error: err.message };
    throw err;
  }
}

type Found = Pick<PlaylistFileChanged, 'trackIds' | 'durationsMs' | 'missing' | 'missingCount'>;

/** The tracks the entries name, in their order, and the entries that name none. */
async function lookUp(db: Queryable, entries: readonly PlaylistFileEntry[]): Promise<Found> {
  const paths = [...new Set(entries.flatMap((e) => (e.path ? [e.path] : [])))];
  const { rows } =
    paths.length === 0
      ? { rows: [] }
      : await db.query<{ file_path: string; id: string; duration_ms: number }>(
          'SELECT file_path, id, duration_ms FROM tracks WHERE file_path = ANY($1::text[])',
          [paths],
        );
  const byPath = new Map(rows.map((r) => [r.file_path, r]));
  const found: Found = { trackIds: [], durationsMs: [], missing: [], missingCount: 0 };
  const miss = (e: PlaylistFileEntry, reason: string) => {
    found.missingCount++;
    if (found.missing.length < PLAYLIST_FILE_MISSING_MAX) {
      const entry: MissingEntry = { line: e.line, entry: e.raw.slice(0, ENTRY_REPORT_MAX), reason };
      found.missing.push(entry);
    }
  };
  for (const e of entries) {
    const track = e.path ? byPath.get(e.path) : undefined;
    if (track) {
      found.trackIds.push(track.id);
      found.durationsMs.push(track.duration_ms);
    } else miss(e, e.problem ?? 'no track of the library has this file');
  }
  return found;
}

const sameIds = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const fallbackName = (path: string) =>
  (path.split('/').at(-1) ?? 'Playlist').replace(/\.m3u8?$/i, '').slice(0, 200) || 'Playlist';

async function publishChanged(db: PoolClient, data: PlaylistFileChanged): Promise<void> {
  await enqueueEvent(db, Events.playlistFileChanged, data);
}

async function publishRemoved(db: PoolClient, libraryId: number, path: string): Promise<void> {
  const { rows } = await db.query<{ v: string }>("SELECT nextval('playlist_file_versions')::text AS v");
  await enqueueEvent(db, Events.playlistFileRemoved, { libraryId, path, version: Number(rows[0]!.v) });
}
