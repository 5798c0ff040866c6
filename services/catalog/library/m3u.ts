import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLAYLIST_FILE_MAX_ENTRIES } from '../../../common/contracts/index.js';

/** A playlist file by its extension: `.m3u` (any encoding) or `.m3u8` (UTF-8). */
export const isPlaylistFile = (path: string): boolean => /\.m3u8?$/i.test(path);

/** An entry of a playlist file: its line, its text, and the file it names (null: refused, with why). */
export interface PlaylistFileEntry {
  /** 1-based line number. */
  line: number;
  /** The entry as written. */
  raw: string;
  /** The absolute path it names inside the library, or null. */
  path: string | null;
  problem?: string;
}

export interface ParsedPlaylistFile {
  name: string;
  entries: PlaylistFileEntry[];
}

/** Longest playlist name. */
const NAME_MAX = 200;

/** A file refused whole, in words for its owner. */
export class PlaylistFileError extends Error {}

/**
 * The text of a playlist file: `.m3u8` is UTF-8; `.m3u` is UTF-8 when it decodes as such, and
 * Latin-1 otherwise (the encoding of the format's old players). A byte order mark is dropped.
 */
export function decodePlaylistFile(bytes: Uint8Array, filePath: string): string {
  let text: string;
  if (/\.m3u8$/i.test(filePath)) text = new TextDecoder('utf-8').decode(bytes);
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      text = new TextDecoder('latin1').decode(bytes);
    }
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * Reads an (extended) M3U playlist: one entry a line; `#` lines are comments (`#EXTM3U`,
 * `#EXTINF` included) except `#PLAYLIST:<name>`, which names it (otherwise the file's name
 * does). A relative entry is resolved against the file's folder, an absolute one (or a
 * `file://` URL) is taken as it is; either must lie inside the library folder `root`. Other
 * URLs are refused (reported with the entries not found). Backslashes count as folder
 * separators (files written on Windows). More than PLAYLIST_FILE_MAX_ENTRIES entries refuse
 * the file whole.
 */
export function parsePlaylistFile(text: string, filePath: string, root: string): ParsedPlaylistFile {
  let name = basename(filePath, extname(filePath)).trim();
  const entries: PlaylistFileEntry[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const named = /^#PLAYLIST:(.*)$/i.exec(line)?.[1]?.trim();
      if (named) name = named;
      continue;
    }
    if (entries.length >= PLAYLIST_FILE_MAX_ENTRIES) {
      throw new PlaylistFileError(
        `it has more than ${PLAYLIST_FILE_MAX_ENTRIES} entries (a playlist holds at most ${PLAYLIST_FILE_MAX_ENTRIES} tracks)`,
      );
    }
    entries.push(resolveEntry(line, i + 1, filePath, root));
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is dropped
  name = name.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, NAME_MAX) || 'Playlist';
  return { name, entries };
}

/** The file an entry of the playlist file `filePath` names, inside the library folder `root`. */
export function resolveEntry(raw: string, line: number, filePath: string, root: string): PlaylistFileEntry {
  const folder = dirname(filePath);
  const refused = (problem: string): PlaylistFileEntry => ({ line, raw, path: null, problem });
  let written = raw;
  if (/^file:/i.test(written)) {
    try {
      written = fileURLToPath(written);
    } catch {
      return refused('not a file URL of this server');
    }
  } else if (/^[a-z][a-z0-9+.-]+:/i.test(written)) return refused('a URL, not a file of the library');
  else if (/^[a-z]:[\\/]/i.test(written)) return refused('a Windows path, outside the library folder');
  if (written.includes('\0')) return refused('not a path');
  written = written.replace(/\\/g, '/');
  const path = isAbsolute(written) ? resolve(written) : resolve(folder, written);
  if (!path.startsWith(`${root}/`)) return refused('outside the library folder');
  return { line, raw, path };
}
