import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { IAudioMetadata } from 'music-metadata';
import {
  LYRICS_MAX_LINE,
  LYRICS_MAX_LINES,
  LYRICS_UNKNOWN_LANGUAGE,
  type LyricLine,
  type Lyrics,
} from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';
import { inScope, type Scope, scopeParam } from './scope.js';
import { normalizeText } from './text.js';

/**
 * Lyrics as the catalog keeps them: read at import from the file's tags (ID3v2 USLT and SYLT,
 * Vorbis LYRICS and UNSYNCEDLYRICS, MP4 ©lyr) or from a sidecar file beside the audio
 * (`Song.lrc`, then `Song.txt`), which wins over the tags as it is what a person added by hand.
 * Synced lyrics keep their timestamps and LRC's `[offset:]`.
 */
export type FoundLyrics = Omit<Lyrics, 'trackId'>;

/** Sidecar extensions, in the order they are preferred. */
export const SIDECAR_EXTENSIONS = ['.lrc', '.txt'] as const;

/** Largest sidecar file read: lyrics are text, a few KB; anything larger is not lyrics. */
const MAX_SIDECAR_BYTES = 256 * 1024;

/** `[mm:ss]`, `[mm:ss.x]`, `[mm:ss.xx]`, `[mm:ss.xxx]` (also `:` before the fraction). */
const TIME_TAG = /\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]/g;
/** `[ar:Artist]`, `[offset:+250]`: LRC's ID tags. */
const ID_TAG = /^\[([a-z#]+):(.*)\]$/i;

/**
 * Parses LRC text (or plain text). Lines with time tags become synced lines (a line with
 * several tags repeats at each time), sorted by time; when no line has a time tag, the text is
 * plain lyrics, one line per line. `[offset:]` is kept as LRC means it (positive: the lyrics
 * come sooner), which is also OpenSubsonic's `offset`.
 */
export function parseLyrics(text: string, lang?: string | null): FoundLyrics | null {
  const synced: LyricLine[] = [];
  const plain: string[] = [];
  let offsetMs = 0;
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    const id = ID_TAG.exec(line);
    if (id && !/^\d/.test(id[1]!)) {
      if (id[1]!.toLowerCase() === 'offset') {
        const n = Number.parseInt(id[2]!.trim(), 10);
        if (Number.isFinite(n) && Math.abs(n) <= 3_600_000) offsetMs = n;
      }
      continue;
    }
    const times: number[] = [];
    let rest = line;
    TIME_TAG.lastIndex = 0;
    for (let m = TIME_TAG.exec(rest); m && m.index === 0; m = TIME_TAG.exec(rest)) {
      const fraction = m[3] ?? '0';
      const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
      times.push((Number(m[1]) * 60 + Number(m[2])) * 1000 + ms);
      rest = rest.slice(m[0].length);
      TIME_TAG.lastIndex = 0;
    }
    if (times.length > 0) {
      for (const startMs of times) synced.push({ startMs, text: bound(rest.trim()) });
    } else {
      plain.push(bound(line));
    }
  }
  if (synced.length > 0) {
    synced.sort((a, b) => a.startMs! - b.startMs!);
    return finish({ synced: true, offsetMs, lines: synced }, lang);
  }
  while (plain.length > 0 && plain[plain.length - 1] === '') plain.pop();
  while (plain.length > 0 && plain[0] === '') plain.shift();
  if (plain.length === 0) return null;
  return finish({ synced: false, offsetMs: 0, lines: plain.map((text) => ({ text })) }, lang);
}

/** Control characters (a terminal would obey them) leave; a line is cut at its bound. */
const CONTROL = /\p{Cc}/gu;
const bound = (text: string) => text.replace(CONTROL, '').slice(0, LYRICS_MAX_LINE);

function finish(found: Omit<FoundLyrics, 'lang'>, lang?: string | null): FoundLyrics {
  return {
    ...found,
    lang: lang && /^[a-z]{2,3}$/i.test(lang) ? lang.toLowerCase() : LYRICS_UNKNOWN_LANGUAGE,
    lines: found.lines.slice(0, LYRICS_MAX_LINES),
  };
}

/** The lyrics in a file's tags: synced ones first (SYLT, or LRC text in a lyrics tag). */
export function embeddedLyrics(tags: Pick<IAudioMetadata['common'], 'lyrics'>): FoundLyrics | null {
  const all = tags.lyrics ?? [];
  let plain: FoundLyrics | null = null;
  for (const tag of all) {
    const lang = tag.language;
    // USLT comes without syncText, whatever the type says.
    const syncText = tag.syncText ?? [];
    if (syncText.length > 0) {
      const lines = syncText
        .filter((l) => typeof l.timestamp === 'number')
        .map((l) => ({ startMs: Math.max(0, Math.round(l.timestamp!)), text: bound(l.text.trim()) }))
        .sort((a, b) => a.startMs - b.startMs);
      if (lines.length > 0) return finish({ synced: true, offsetMs: 0, lines }, lang);
    }
    const parsed = tag.text ? parseLyrics(tag.text, lang) : null;
    if (parsed?.synced) return parsed;
    plain ??= parsed;
  }
  return plain;
}

/** The sidecar files of an audio file: `Song.lrc` and `Song.txt` beside `Song.flac`. */
export function sidecarsOf(audioPath: string): string[] {
  const base = audioPath.slice(0, audioPath.length - extname(audioPath).length);
  return SIDECAR_EXTENSIONS.map((ext) => base + ext);
}

/** Whether a path is a sidecar's (a watcher saw it change: its audio file is to be read again). */
export const isSidecar = (path: string): boolean =>
  (SIDECAR_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());

/**
 * The lyrics of the first of an audio file's sidecars (as the scan found them, in the order
 * they are preferred) that holds any; none of them is looked for again.
 */
export async function sidecarLyrics(
  sidecars: ReadonlyArray<{ path: string; sizeBytes: number }>,
): Promise<FoundLyrics | null> {
  for (const { path, sizeBytes } of sidecars) {
    if (sizeBytes > MAX_SIDECAR_BYTES) continue;
    const text = await readFile(path, 'utf8').catch(() => null);
    const found = text === null ? null : parseLyrics(text);
    if (found) return found;
  }
  return null;
}

/** What a batch of imported files says of lyrics: each file's, or null when it has none. */
export interface LyricsWrite {
  filePath: string;
  artist: string;
  title: string;
  lyrics: FoundLyrics | null;
}

/** How `getLyrics` finds a song by name: its artist and title, normalised as search does. */
const nameKey = (artist: string, title: string) => `${normalizeText(artist)}\n${normalizeText(title)}`;

/**
 * Stores the lyrics of a batch of files just written (their tracks found by path), and
 * forgets those of files that no longer have any. One statement each, whatever the batch.
 */
export async function saveLyrics(db: Queryable, files: readonly LyricsWrite[]): Promise<void> {
  if (files.length === 0) return;
  const withLyrics = files.filter((f) => f.lyrics);
  await db.query(
    `DELETE FROM lyrics l USING tracks t
     WHERE l.track_id = t.id AND t.file_path = ANY($1::text[])`,
    [files.filter((f) => !f.lyrics).map((f) => f.filePath)],
  );
  if (withLyrics.length === 0) return;
  await db.query(
    `INSERT INTO lyrics (track_id, name_key, lang, synced, offset_ms, lines)
     SELECT t.id, u.name_key, u.lang, u.synced, u.offset_ms, u.lines
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::int[], $6::jsonb[])
       AS u (file_path, name_key, lang, synced, offset_ms, lines)
     JOIN tracks t ON t.file_path = u.file_path
     ON CONFLICT (track_id) DO UPDATE
       SET name_key = EXCLUDED.name_key, lang = EXCLUDED.lang, synced = EXCLUDED.synced,
           offset_ms = EXCLUDED.offset_ms, lines = EXCLUDED.lines`,
    [
      withLyrics.map((f) => f.filePath),
      withLyrics.map((f) => nameKey(f.artist, f.title)),
      withLyrics.map((f) => f.lyrics!.lang),
      withLyrics.map((f) => f.lyrics!.synced),
      withLyrics.map((f) => f.lyrics!.offsetMs),
      withLyrics.map((f) => JSON.stringify(f.lyrics!.lines)),
    ],
  );
}

interface LyricsRow {
  track_id: string;
  lang: string;
  synced: boolean;
  offset_ms: number;
  lines: LyricLine[];
}

const toLyrics = (r: LyricsRow): Lyrics => ({
  trackId: r.track_id,
  lang: r.lang,
  synced: r.synced,
  offsetMs: r.offset_ms,
  lines: r.lines,
});

/** The lyrics of a track, or null when it has none. */
export async function lyricsOfTrack(db: Queryable, trackId: string): Promise<Lyrics | null> {
  const { rows } = await db.query<LyricsRow>(
    'SELECT track_id, lang, synced, offset_ms, lines FROM lyrics WHERE track_id = $1',
    [trackId],
  );
  return rows[0] ? toLyrics(rows[0]) : null;
}

/**
 * The lyrics of a song by its artist and title (letter case and accents aside), as Subsonic's
 * `getLyrics` asks: synced ones first, then the lowest track id.
 */
export async function lyricsByName(
  db: Queryable,
  artist: string,
  title: string,
  scope: Scope,
): Promise<Lyrics | null> {
  const params: unknown[] = [nameKey(artist, title)];
  const libraries = scopeParam(scope, params);
  const { rows } = await db.query<LyricsRow>(
    `SELECT track_id, lang, synced, offset_ms, lines FROM lyrics l
     WHERE name_key = $1 AND ${
       libraries === null
         ? 'true'
         : `EXISTS (SELECT 1 FROM tracks t WHERE t.id = l.track_id AND ${inScope('t.library_id', libraries)})`
     }
     ORDER BY synced DESC, track_id LIMIT 1`,
    params,
  );
  return rows[0] ? toLyrics(rows[0]) : null;
}
