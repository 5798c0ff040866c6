import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSidecar, sidecarsOf } from '../lyrics.js';
import { audioType } from '../media.js';
import { isPlaylistFile } from './m3u.js';

/** An audio file on disk as a rescan compares it: by size and modification time. */
export interface DiskFile {
  sizeBytes: number;
  mtimeMs: number;
  mimeType: string;
  /** Lyrics files beside it (`Song.lrc`, `Song.txt`), in the order they are preferred. */
  sidecars: Sidecar[];
}

/** A lyrics file as the scan found it. */
export interface Sidecar {
  path: string;
  sizeBytes: number;
  mtimeMs: number;
}

export interface Scan {
  /** Audio files by absolute path, in path order. */
  files: Map<string, DiskFile>;
  /** Playlist files (`.m3u`, `.m3u8`) by absolute path. */
  playlists: Map<string, { sizeBytes: number; mtimeMs: number }>;
  /** Other files (by extension), lyrics files beside audio files aside. */
  ignored: number;
}

/** Folders read at once: their stats overlap on libuv's threads. */
const FOLDERS_AT_ONCE = 8;

/**
 * The audio files at or under each path of `scopes` (a file, a folder, or a path that is
 * gone and so holds nothing). Hidden files and folders (a leading dot) are passed over.
 */
export async function scanPaths(scopes: readonly string[]): Promise<Scan> {
  const found: Array<[string, DiskFile]> = [];
  const playlists = new Map<string, { sizeBytes: number; mtimeMs: number }>();
  let ignored = 0;
  const folders: string[] = [];
  // A lyrics file beside an audio file counts as part of it: the later of the two times is the
  // file's, so adding, changing or removing `Song.lrc` has `Song.flac` read again.
  const consider = (
    path: string,
    size: number,
    mtimeMs: number,
    sidecarOf: (p: string) => Sidecar | undefined,
  ) => {
    if (isPlaylistFile(path)) {
      playlists.set(path, { sizeBytes: size, mtimeMs });
      return;
    }
    const mimeType = audioType(path);
    if (!mimeType) {
      ignored++;
      return;
    }
    const sidecars = sidecarsOf(path).flatMap((p) => sidecarOf(p) ?? []);
    const latest = Math.max(mtimeMs, ...sidecars.map((s) => s.mtimeMs));
    found.push([path, { sizeBytes: size, mtimeMs: latest, mimeType, sidecars }]);
  };
  for (const scope of scopes) {
    const info = await stat(scope).catch(() => null);
    if (info?.isDirectory()) folders.push(scope);
    else if (info?.isFile()) {
      const sidecars = new Map<string, Sidecar>();
      for (const p of sidecarsOf(scope)) {
        const s = await stat(p).catch(() => null);
        if (s?.isFile()) sidecars.set(p, { path: p, sizeBytes: s.size, mtimeMs: s.mtimeMs });
      }
      consider(scope, info.size, info.mtimeMs, (p) => sidecars.get(p));
    }
  }
  const readFolder = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    const files: Array<[string, Sidecar]> = [];
    await Promise.all(
      entries.map(async (e) => {
        if (e.name.startsWith('.')) return;
        const path = join(dir, e.name);
        if (e.isDirectory()) folders.push(path);
        else if (e.isFile()) {
          const info = await stat(path).catch(() => null);
          if (info) files.push([path, { path, sizeBytes: info.size, mtimeMs: info.mtimeMs }]);
        }
      }),
    );
    const inFolder = new Map(files);
    const claimed = new Set<string>();
    for (const [path, info] of files) {
      if (isSidecar(path)) continue;
      consider(path, info.sizeBytes, info.mtimeMs, (p) => {
        const sidecar = inFolder.get(p);
        if (sidecar) claimed.add(p);
        return sidecar;
      });
    }
    for (const [path] of files) if (isSidecar(path) && !claimed.has(path)) ignored++;
  };
  const running = new Set<Promise<void>>();
  while (folders.length > 0 || running.size > 0) {
    while (folders.length > 0 && running.size < FOLDERS_AT_ONCE) {
      const job: Promise<void> = readFolder(folders.pop()!).finally(() => running.delete(job));
      running.add(job);
    }
    if (running.size > 0) await Promise.race(running);
  }
  found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { files: new Map(found), playlists, ignored };
}
