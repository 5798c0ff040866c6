import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { parseFile } from 'music-metadata';
import { InvalidInputError, type Pool, withTransaction } from '../../common/index.js';
import { audioType } from './media.js';
import { type ChangeCounts, emptyCounts, upsertAlbum, upsertArtist, upsertTrack } from './store.js';

export interface ImportSummary {
  /** Audio files found (by extension). */
  found: number;
  tracks: ChangeCounts;
  albums: ChangeCounts;
  artists: ChangeCounts;
  skipped: Array<{ path: string; reason: string }>;
  /** Files that are not audio by their extension. */
  ignored: number;
}

interface ReadTrack {
  path: string;
  artist: string;
  album: string;
  title: string;
  number: number | null;
  year: number | null;
  genre: string | null;
  durationMs: number;
  mimeType: string;
  sizeBytes: number;
}

const UNKNOWN_ARTIST = 'Unknown Artist';
const UNKNOWN_ALBUM = 'Unknown Album';

/**
 * Imports a folder of music files in place: reads each file's tags (falling back to an
 * `Artist/Album/NN Title.ext` layout for files without them), then upserts artists, albums
 * and tracks by file path, one transaction per album. Files that cannot be read are skipped
 * with the reason, reported through `print` as they are met.
 */
export async function importFolder(
  pool: Pool,
  folder: string,
  print: (line: string) => void = () => {},
): Promise<ImportSummary> {
  const root = resolve(folder);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new InvalidInputError(`${root} is not a folder`);
  const summary: ImportSummary = {
    found: 0,
    tracks: emptyCounts(),
    albums: emptyCounts(),
    artists: emptyCounts(),
    skipped: [],
    ignored: 0,
  };
  const read: ReadTrack[] = [];
  for await (const path of walk(root)) {
    const mimeType = audioType(path);
    if (!mimeType) {
      summary.ignored++;
      continue;
    }
    summary.found++;
    try {
      read.push(await readTrack(root, path, mimeType));
    } catch (err) {
      const reason = (err as Error).message;
      summary.skipped.push({ path, reason });
      print(`skipped ${path}: ${reason}`);
    }
  }
  for (const album of groupByAlbum(read)) {
    const changes = await withTransaction(pool, async (db) => {
      const artist = await upsertArtist(db, album.artist);
      summary.artists[artist.change]++;
      const saved = await upsertAlbum(db, {
        artistId: artist.id,
        artistName: album.artist,
        title: album.title,
        year: mostCommon(album.tracks.map((t) => t.year)),
        genre: mostCommon(album.tracks.map((t) => t.genre)),
      });
      summary.albums[saved.change]++;
      const counts = emptyCounts();
      for (const t of album.tracks) {
        const track = await upsertTrack(db, {
          albumId: saved.id,
          albumTitle: album.title,
          artistName: album.artist,
          title: t.title,
          number: t.number,
          durationMs: t.durationMs,
          filePath: t.path,
          mimeType: t.mimeType,
          sizeBytes: t.sizeBytes,
        });
        counts[track.change]++;
      }
      return counts;
    });
    for (const k of Object.keys(changes) as Array<keyof ChangeCounts>) summary.tracks[k] += changes[k];
    print(
      `${album.artist} - ${album.title}: ${album.tracks.length} tracks ` +
        `(${changes.inserted} new, ${changes.updated} updated, ${changes.unchanged} unchanged)`,
    );
  }
  return summary;
}

/** Every file under `dir`, depth first, in name order (so runs are reproducible). */
async function* walk(dir: string): AsyncGenerator<string> {
  const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else if (e.isFile()) yield path;
  }
}

async function readTrack(root: string, path: string, mimeType: string): Promise<ReadTrack> {
  const meta = await parseFile(path, { duration: true, skipCovers: true }).catch((err: Error) => {
    throw new Error(`not a readable audio file (${err.message})`);
  });
  const seconds = meta.format.duration;
  if (!seconds || !Number.isFinite(seconds) || seconds <= 0) {
    throw new Error('no playable audio found (not an audio file, or damaged)');
  }
  const fallback = fromPath(relative(root, path));
  const tags = meta.common;
  const year = tags.year && tags.year > 0 && tags.year <= 9999 ? tags.year : null;
  return {
    path,
    artist: clean(tags.albumartist) ?? clean(tags.artist) ?? fallback.artist,
    album: clean(tags.album) ?? fallback.album,
    title: clean(tags.title) ?? fallback.title,
    number: tags.track.no !== null && tags.track.no >= 0 ? tags.track.no : fallback.number,
    year,
    genre: clean(tags.genre?.[0]) ?? null,
    durationMs: Math.round(seconds * 1000),
    mimeType,
    sizeBytes: (await stat(path)).size,
  };
}

const clean = (value: string | undefined): string | undefined => {
  const v = value?.trim();
  return v ? v : undefined;
};

/** Names from an `Artist/Album/NN Title.ext` layout, for files without tags. */
function fromPath(relativePath: string): {
  artist: string;
  album: string;
  title: string;
  number: number | null;
} {
  const parts = relativePath.split(sep);
  const file = basename(parts.pop() ?? '', extname(relativePath));
  const album = parts.pop() ?? UNKNOWN_ALBUM;
  const artist = parts.pop() ?? UNKNOWN_ARTIST;
  const numbered = /^(\d{1,3})[\s._-]+(.+)$/.exec(file);
  return {
    artist,
    album,
    title: (numbered ? numbered[2]! : file).trim() || file,
    number: numbered ? Number(numbered[1]) : null,
  };
}

interface AlbumGroup {
  artist: string;
  title: string;
  tracks: ReadTrack[];
}

function groupByAlbum(tracks: ReadTrack[]): AlbumGroup[] {
  const groups = new Map<string, AlbumGroup>();
  for (const t of tracks) {
    const key = `${t.artist}\n${t.album}`;
    const group = groups.get(key) ?? { artist: t.artist, title: t.album, tracks: [] };
    group.tracks.push(t);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** The value most tracks of an album agree on (tags are often missing on a few). */
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
