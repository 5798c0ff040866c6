import type {
  Album,
  Artist,
  ArtistIndexGroup,
  Playlist,
  Ratings,
  Starred,
  Track,
} from '../../common/contracts/index.js';
import { coverId } from '../covers.js';
import { sourceKbps } from '../transcode.js';
import type { Body } from './response.js';

/**
 * The catalog's and playlists' objects as the API's `Child`, `AlbumID3`, `ArtistID3` and
 * `Playlist`. Durations are whole seconds; `starred` and `userRating` are the caller's.
 */

interface ByKind<T> {
  songs: ReadonlyMap<string, T>;
  albums: ReadonlyMap<string, T>;
  artists: ReadonlyMap<string, T>;
}

/** What the caller starred (when) and rated (1-5), by kind and id. */
export interface Marks {
  starred: ByKind<string>;
  rated: ByKind<number>;
}

export function marksOf(starred: Starred, ratings: Ratings): Marks {
  const map = <I extends { id: string }, T>(list: I[], value: (item: I) => T) =>
    new Map(list.map((item) => [item.id, value(item)]));
  const byKind = <I extends { id: string }, T>(
    lists: { songs: I[]; albums: I[]; artists: I[] },
    value: (item: I) => T,
  ): ByKind<T> => ({
    songs: map(lists.songs, value),
    albums: map(lists.albums, value),
    artists: map(lists.artists, value),
  });
  return { starred: byKind(starred, (s) => s.starredAt), rated: byKind(ratings, (r) => r.rating) };
}

/** The caller's marks on one item: `starred` and `userRating` when set. */
const marksOn = (marks: Marks, kind: keyof ByKind<unknown>, id: string) => ({
  starred: marks.starred[kind].get(id),
  userRating: marks.rated[kind].get(id),
});

const SUFFIXES: Record<string, string> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/mpeg': 'mp3',
  'audio/flac': 'flac',
  'audio/x-flac': 'flac',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
};

export const suffixOf = (mimeType: string) => SUFFIXES[mimeType] ?? mimeType.split('/')[1] ?? 'bin';
const seconds = (ms: number) => Math.round(ms / 1000);
const pathPart = (name: string) => name.replace(/[/\\]/g, '_');

export function song(t: Track, marks: Marks): Body {
  const suffix = suffixOf(t.mimeType);
  const number = t.number === null ? '' : `${String(t.number).padStart(2, '0')} `;
  return {
    id: t.id,
    parent: t.albumId,
    isDir: false,
    title: t.title,
    album: t.albumTitle,
    artist: t.artistName,
    track: t.number,
    year: t.year,
    genre: t.genre,
    coverArt: coverId.album(t.albumId),
    size: t.sizeBytes,
    contentType: t.mimeType,
    suffix,
    duration: seconds(t.durationMs),
    bitRate: t.durationMs > 0 ? Math.round(sourceKbps(t)) : undefined,
    path: `${pathPart(t.artistName)}/${pathPart(t.albumTitle)}/${number}${pathPart(t.title)}.${suffix}`,
    isVideo: false,
    albumId: t.albumId,
    artistId: t.artistId,
    type: 'music',
    mediaType: 'song',
    // OpenSubsonic: only what the file's tags hold.
    ...(t.replayGain ? { replayGain: { ...t.replayGain } } : {}),
    ...marksOn(marks, 'songs', t.id),
  };
}

export function album(a: Album, marks: Marks, playCount?: number): Body {
  return {
    id: a.id,
    name: a.title,
    artist: a.artistName,
    artistId: a.artistId,
    coverArt: coverId.album(a.id),
    songCount: a.trackCount,
    duration: seconds(a.durationMs),
    playCount,
    created: a.createdAt,
    year: a.year,
    genre: a.genre,
    ...marksOn(marks, 'albums', a.id),
  };
}

/** An album as a folder (`Child` with isDir), for the folder-based calls. */
export function albumFolder(a: Album, marks: Marks): Body {
  return {
    id: a.id,
    parent: a.artistId,
    isDir: true,
    title: a.title,
    name: a.title,
    album: a.title,
    artist: a.artistName,
    year: a.year,
    genre: a.genre,
    coverArt: coverId.album(a.id),
    songCount: a.trackCount,
    duration: seconds(a.durationMs),
    created: a.createdAt,
    ...marksOn(marks, 'albums', a.id),
  };
}

export function artist(a: Artist, marks: Marks): Body {
  return {
    id: a.id,
    name: a.name,
    albumCount: a.albumCount,
    coverArt: coverId.artist(a.id),
    ...marksOn(marks, 'artists', a.id),
  };
}

/** An artist as a folder (`Artist`, for the folder-based calls). */
export function artistFolder(a: Artist, marks: Marks): Body {
  return { id: a.id, name: a.name, ...marksOn(marks, 'artists', a.id) };
}

export function playlist(p: Playlist): Body {
  return {
    id: p.id,
    name: p.name,
    owner: p.ownerName,
    public: p.public,
    songCount: p.trackCount,
    duration: seconds(p.durationMs),
    created: p.createdAt,
    changed: p.updatedAt,
    coverArt: coverId.playlist(p.id),
    // OpenSubsonic: a smart playlist's songs follow its rules, a file playlist's its file, so
    // players offer no editing.
    ...(p.rules || p.file ? { readonly: true } : {}),
  };
}

/** The catalog's artist index as the API's `index` elements. */
export const artistIndex = (groups: ArtistIndexGroup[], render: (a: Artist) => Body): Body[] =>
  groups.map((g) => ({ name: g.name, artist: g.artists.map(render) }));
