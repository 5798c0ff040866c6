import { basename, extname, relative, sep } from 'node:path';
import type { IAudioMetadata, IOptions } from 'music-metadata';
import { cleanGain, type ReplayGain } from '../../../common/contracts/index.js';

/**
 * What the catalog takes from a file's tags. One place maps music-metadata's answer onto it
 * (`tagsOf`), so a new field (lyrics, ReplayGain) is a line here, a column and a line in the
 * store's batched write.
 */
export interface TrackTags {
  artist: string;
  album: string;
  title: string;
  number: number | null;
  year: number | null;
  genre: string | null;
  durationMs: number;
  replayGain: ReplayGain;
}

/** What music-metadata reads: covers are left in the file (the catalog draws its own). */
export const PARSE_OPTIONS: IOptions = { duration: true, skipCovers: true };

/** The parts of music-metadata's answer `tagsOf` reads: all that crosses from a reading thread. */
export type ParsedFile = Pick<IAudioMetadata, 'common' | 'format'>;

const UNKNOWN_ARTIST = 'Unknown Artist';
const UNKNOWN_ALBUM = 'Unknown Album';

/**
 * The tags of a parsed file, falling back to an `Artist/Album/NN Title.ext` layout for what
 * is missing. Throws when the file holds no playable audio.
 */
export function tagsOf(meta: ParsedFile, root: string, path: string): TrackTags {
  const seconds = meta.format.duration;
  if (!seconds || !Number.isFinite(seconds) || seconds <= 0) {
    throw new Error('no playable audio found (not an audio file, or damaged)');
  }
  const fallback = fromPath(relative(root, path));
  const tags = meta.common;
  return {
    artist: clean(tags.albumartist) ?? clean(tags.artist) ?? fallback.artist,
    album: clean(tags.album) ?? fallback.album,
    title: clean(tags.title) ?? fallback.title,
    number: tags.track.no !== null && tags.track.no >= 0 ? tags.track.no : fallback.number,
    year: tags.year && tags.year > 0 && tags.year <= 9999 ? tags.year : null,
    genre: clean(tags.genre?.[0]) ?? null,
    durationMs: Math.round(seconds * 1000),
    replayGain: replayGainOf(tags),
  };
}

/** The tags' ReplayGain; damaged values (out of range) are left out. */
function replayGainOf(tags: ParsedFile['common']): ReplayGain {
  const found = cleanGain({
    trackGain: tags.replaygain_track_gain?.dB,
    trackPeak: tags.replaygain_track_peak?.ratio,
    albumGain: tags.replaygain_album_gain?.dB,
    albumPeak: tags.replaygain_album_peak?.ratio,
  });
  return found ?? {};
}

const clean = (value: string | undefined): string | undefined => {
  const v = value?.trim();
  return v ? v : undefined;
};

/** Names from an `Artist/Album/NN Title.ext` layout, for files without tags. */
function fromPath(relativePath: string): Pick<TrackTags, 'artist' | 'album' | 'title' | 'number'> {
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
