import { basename, extname, relative, sep } from 'node:path';
import type { IAudioMetadata, IOptions } from 'music-metadata';
import type { ReplayGain } from '../../../common/contracts/catalog.js';

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

/** Gains beyond ±60 dB and peaks beyond +20 dBFS are damaged tags, not loudness: left out. */
const gain = (dB: number | undefined) =>
  dB !== undefined && Number.isFinite(dB) && Math.abs(dB) <= 60 ? dB : undefined;
const peak = (ratio: number | undefined) =>
  ratio !== undefined && Number.isFinite(ratio) && ratio > 0 && ratio <= 10 ? ratio : undefined;

function replayGainOf(tags: ParsedFile['common']): ReplayGain {
  const found: ReplayGain = {
    trackGain: gain(tags.replaygain_track_gain?.dB),
    trackPeak: peak(tags.replaygain_track_peak?.ratio),
    albumGain: gain(tags.replaygain_album_gain?.dB),
    albumPeak: peak(tags.replaygain_album_peak?.ratio),
  };
  return Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined));
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
