import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { audioType } from '../media.js';

/** An audio file on disk as a rescan compares it: by size and modification time. */
export interface DiskFile {
  sizeBytes: number;
  mtimeMs: number;
  mimeType: string;
}

export interface Scan {
  /** Audio files by absolute path, in path order. */
  files: Map<string, DiskFile>;
  /** Other files (by extension). */
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
  let ignored = 0;
  const folders: string[] = [];
  const consider = (path: string, size: number, mtimeMs: number) => {
    const mimeType = audioType(path);
    if (mimeType) found.push([path, { sizeBytes: size, mtimeMs, mimeType }]);
    else ignored++;
  };
  for (const scope of scopes) {
    const info = await stat(scope).catch(() => null);
    if (info?.isDirectory()) folders.push(scope);
    else if (info?.isFile()) consider(scope, info.size, info.mtimeMs);
  }
  const readFolder = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries.map(async (e) => {
        if (e.name.startsWith('.')) return;
        const path = join(dir, e.name);
        if (e.isDirectory()) folders.push(path);
        else if (e.isFile()) {
          const info = await stat(path).catch(() => null);
          if (info) consider(path, info.size, info.mtimeMs);
        }
      }),
    );
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
  return { files: new Map(found), ignored };
}
