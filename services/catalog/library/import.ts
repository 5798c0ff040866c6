import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DEFAULT_LIBRARY_ID } from '../../../common/contracts/index.js';
import { InvalidInputError, type Pool, type PoolClient } from '../../../common/index.js';
import { embeddedLyrics, isSidecar, type LyricsWrite, saveLyrics, sidecarLyrics } from '../lyrics.js';
import {
  type ChangeCounts,
  emptyCounts,
  forgetUnreadable,
  knownFiles,
  recordUnreadable,
  removeEmptyAlbums,
  removeTracks,
  saveTracks,
  type TrackWrite,
} from '../store.js';
import { type PlaylistFileCounts, syncPlaylistFiles } from './playlist-files.js';
import { TagReader } from './reader.js';
import { type DiskFile, scanPaths } from './scan.js';
import { tagsOf } from './tags.js';

export interface ImportSummary {
  /** Audio files found (by extension). */
  found: number;
  /** Files whose tags were read this run (new or changed by size or modification time). */
  read: number;
  /** `unchanged`: files passed over, the same size and modification time as when last read. */
  tracks: ChangeCounts;
  albums: ChangeCounts;
  artists: ChangeCounts;
  /** Tracks whose files are gone, and the albums and artists that went with them. */
  removed: { tracks: number; albums: number; artists: number };
  /** New files that took the id of a removed track (a file moved, renamed or restored). */
  revived: number;
  /** Files that could not be read this run, with the reason. */
  skipped: Array<{ path: string; reason: string }>;
  /** Files that could not be read before and have not changed since (not tried again). */
  stillUnreadable: number;
  /** Files that are not audio by their extension. */
  ignored: number;
  /** Playlist files (`.m3u`, `.m3u8`) published to the playlists service, and those gone. */
  playlists: PlaylistFileCounts;
  elapsedMs: number;
}

export interface ImportOptions {
  /** Lines for a person (files skipped, with the reason), as they are met. */
  print?: (line: string) => void;
  /** After each file read: files read so far and files to read. */
  progress?: (done: number, total: number) => void;
  /**
   * Only these paths (files or folders, under the library folder) are compared with the
   * catalog, not the whole folder: what a watcher saw change. Default: the whole folder.
   */
  paths?: readonly string[];
  /** Reading threads (see TagReader); default one per core, at most 4. */
  threads?: number;
  /**
   * Stops reading more files (a worker stopping): what was read is written and the run ends
   * as a shorter one would; the next run reads the rest.
   */
  signal?: AbortSignal;
  /**
   * The library the files belong to. Default: the library whose folder holds `folder`, or
   * library 1 (a one-off import of a folder no library names).
   */
  libraryId?: number;
}

/** Files written per transaction: one batch is a handful of multi-row statements. */
export const IMPORT_BATCH = 1000;

/** The advisory lock every import holds while it compares and writes: one at a time. */
const WRITE_LOCK = 'catalog.library-import';

/**
 * Brings the catalog in step with a folder of music files, in place: files that are new or
 * changed (by size or modification time) have their tags read and are written in batches, a
 * changed file keeping its track id; files that are gone leave the catalog (their tracks are
 * kept in `removed_tracks` for the pages that name them, and their emptied albums and artists
 * go); unchanged files are not opened. A new file that matches a removed track (artist, album,
 * title, number, duration) takes its id, so a moved or renamed file keeps its stars, plays and
 * playlist entries. Files that cannot be read are reported, and passed over until they change.
 * Tracks not under the folder (the seed, other folders) are never touched.
 */
export async function importFolder(
  pool: Pool,
  folder: string,
  opts: ImportOptions = {},
): Promise<ImportSummary> {
  const started = performance.now();
  const root = resolve(folder);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new InvalidInputError(`${root} is not a folder`);
  // A lyrics file that changed has the audio beside it read again: its folder is compared.
  const scopes = (opts.paths ?? [root])
    .map((p) => resolve(root, p))
    .map((p) => (isSidecar(p) ? dirname(p) : p));
  const outside = scopes.find((p) => p !== root && !p.startsWith(`${root}/`));
  if (outside) throw new InvalidInputError(`${outside} is not in ${root}`);

  const summary: ImportSummary = {
    found: 0,
    read: 0,
    tracks: emptyCounts(),
    albums: emptyCounts(),
    artists: emptyCounts(),
    removed: { tracks: 0, albums: 0, artists: 0 },
    revived: 0,
    skipped: [],
    stillUnreadable: 0,
    ignored: 0,
    playlists: { published: 0, removed: 0 },
    elapsedMs: 0,
  };
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext(current_schema() || $1))', [`.${WRITE_LOCK}`]);
    try {
      const libraryId = opts.libraryId ?? (await libraryOfFolder(client, root));
      await sync(client, root, scopes, summary, { ...opts, libraryId });
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext(current_schema() || $1))', [`.${WRITE_LOCK}`]);
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    client.release(broken);
  }
  summary.elapsedMs = Math.round(performance.now() - started);
  return summary;
}

/** The library whose folder is or holds `folder` (the innermost), or library 1. */
async function libraryOfFolder(db: PoolClient, folder: string): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `SELECT id FROM libraries WHERE path = $1 OR starts_with($1, path || '/') ORDER BY length(path) DESC LIMIT 1`,
    [folder],
  );
  return rows[0]?.id ?? DEFAULT_LIBRARY_ID;
}

async function sync(
  db: PoolClient,
  root: string,
  scopes: string[],
  summary: ImportSummary,
  opts: ImportOptions & { libraryId: number },
): Promise<void> {
  const [disk, known] = await Promise.all([scanPaths(scopes), knownFiles(db, scopes)]);
  summary.found = disk.files.size;
  summary.ignored = disk.ignored;

  const toRead: Array<{ path: string; file: DiskFile; id: string | null }> = [];
  for (const [path, file] of disk.files) {
    const k = known.get(path);
    if (k && k.sizeBytes === file.sizeBytes && k.mtimeMs === file.mtimeMs) {
      if (k.unreadable === null) summary.tracks.unchanged++;
      else summary.stillUnreadable++;
    } else {
      toRead.push({ path, file, id: k?.id ?? null });
    }
  }
  const goneIds: string[] = [];
  const goneUnreadable: string[] = [];
  for (const [path, k] of known) {
    if (disk.files.has(path)) continue;
    if (k.id) goneIds.push(k.id);
    else goneUnreadable.push(path);
  }

  // Removals first, so that a file moved within this run finds its removed track.
  const touched = new Set<string>();
  await inTransaction(db, async () => {
    for (const album of await removeTracks(db, goneIds)) touched.add(album);
    await forgetUnreadable(db, goneUnreadable);
  });
  summary.removed.tracks = goneIds.length;

  const unreadable: Array<{ filePath: string; sizeBytes: number; mtimeMs: number; reason: string }> = [];
  let batch: Array<TrackWrite & LyricsWrite> = [];
  let writing: Promise<void> = Promise.resolve();
  let queued = 0;
  let failure: Error | null = null;
  const flush = () => {
    const files = batch;
    batch = [];
    queued++;
    writing = writing.then(async () => {
      const result = await inTransaction(db, async () => {
        const saved = await saveTracks(db, opts.libraryId, files);
        await saveLyrics(db, files);
        return saved;
      });
      queued--;
      for (const kind of ['tracks', 'albums', 'artists'] as const) {
        for (const c of ['inserted', 'updated', 'unchanged'] as const) summary[kind][c] += result[kind][c];
      }
      summary.revived += result.revived;
      for (const album of result.touchedAlbums) touched.add(album);
    });
    writing.catch((err: Error) => {
      failure ??= err;
    });
  };

  if (toRead.length > 0) {
    const reader = new TagReader(opts.threads === undefined ? {} : { threads: opts.threads });
    let next = 0;
    try {
      let done = 0;
      await Promise.all(
        Array.from({ length: Math.min(reader.capacity, toRead.length) }, async () => {
          while (next < toRead.length && !failure && !opts.signal?.aborted) {
            const { path, file, id } = toRead[next++]!;
            try {
              const meta = await reader.read(path).catch((err: Error) => {
                throw new Error(`not a readable audio file (${err.message})`);
              });
              const tags = tagsOf(meta, root, path);
              const lyrics = (await sidecarLyrics(file.sidecars)) ?? embeddedLyrics(meta.common);
              batch.push({
                ...tags,
                lyrics,
                id,
                filePath: path,
                mimeType: file.mimeType,
                ...sizeAndTime(file),
              });
              if (batch.length >= IMPORT_BATCH) flush();
            } catch (err) {
              const reason = (err as Error).message;
              summary.skipped.push({ path, reason });
              unreadable.push({ filePath: path, ...sizeAndTime(file), reason });
              opts.print?.(`skipped ${path}: ${reason}`);
            }
            opts.progress?.(++done, toRead.length);
            // Reading may run ahead of writing by a batch, not by the library.
            if (queued > 1) await writing;
          }
        }),
      );
    } finally {
      await reader.close();
    }
    summary.read = Math.min(next, toRead.length);
    if (batch.length > 0) flush();
    await writing;
  }

  await inTransaction(db, async () => {
    await recordUnreadable(db, unreadable);
    const gone = await removeEmptyAlbums(db, [...touched]);
    summary.removed.albums = gone.albums;
    summary.removed.artists = gone.artists;
  });

  // Playlist files last, so that their entries find the tracks of this run.
  if (!opts.signal?.aborted) {
    const t = summary.tracks;
    summary.playlists = await syncPlaylistFiles(
      db,
      {
        root,
        libraryId: opts.libraryId,
        scopes,
        found: disk.playlists,
        tracksChanged: t.inserted + summary.revived + summary.removed.tracks > 0,
        refused: (path, reason) => {
          summary.skipped.push({ path, reason });
          opts.print?.(`skipped ${path}: ${reason}`);
        },
      },
      (fn) => inTransaction(db, fn),
    );
  }
  summary.skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
}

const sizeAndTime = (file: DiskFile) => ({ sizeBytes: file.sizeBytes, mtimeMs: file.mtimeMs });

async function inTransaction<T>(db: PoolClient, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const result = await fn();
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
