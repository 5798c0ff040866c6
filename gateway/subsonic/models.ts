import type { Album, Artist, Track } from '../../common/contracts/catalog.js';
import type { Playlist } from '../../common/contracts/playlists.js';
import type { Starred } from '../../common/contracts/users.js';
import type { Body } from './response.js';

/**
 * The catalog's and playlists' objects as the API's `Child`, `AlbumID3`, `ArtistID3` and
 * `Playlist`. Durations are whole seconds; `starred` is set when the caller starred the item.
 */

export interface Stars {
  songs: ReadonlyMap<string, string>;
  albums: ReadonlyMap<string, string>;
  artists: ReadonlyMap<string, string>;
}

export function starsOf(starred: Starred): Stars {
  const map = (list: Starred['songs']) => new Map(list.map((s) => [s.id, s.starredAt]));
  return { songs: map(starred.songs), albums: map(starred.albums), artists: map(starred.artists) };
}

/** Cover art ids say what they are a cover of, so getCoverArt needs one lookup. */
export const coverId = {
  album: (id: string) => `al-${id}`,
  artist: (id: string) => `ar-${id}`,
  playlist: (id: string) => `pl-${id}`,
};

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

export function song(t: Track, stars: Stars): Body {
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
    // kbit/s: bits per millisecond.
    bitRate: t.durationMs > 0 ? Math.round((t.sizeBytes * 8) / t.durationMs) : undefined,
    path: `${pathPart(t.artistName)}/${pathPart(t.albumTitle)}/${number}${pathPart(t.title)}.${suffix}`,
    isVideo: false,
    albumId: t.albumId,
    artistId: t.artistId,
    type: 'music',
    mediaType: 'song',
    starred: stars.songs.get(t.id),
  };
}

export function album(a: Album, stars: Stars, playCount?: number): Body {
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
    starred: stars.albums.get(a.id),
  };
}

/** An album as a folder (`Child` with isDir), for the folder-based calls. */
export function albumFolder(a: Album, stars: Stars): Body {
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
    starred: stars.albums.get(a.id),
  };
}

export function artist(a: Artist, stars: Stars): Body {
  return {
    id: a.id,
    name: a.name,
    albumCount: a.albumCount,
    coverArt: coverId.artist(a.id),
    starred: stars.artists.get(a.id),
  };
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
  };
}

const ARTICLES = ['The', 'A', 'An'];
export const IGNORED_ARTICLES = ARTICLES.join(' ');
const LEADING_ARTICLE = new RegExp(`^(?:${ARTICLES.join('|')})\\s+`, 'i');

const sortName = (name: string) => name.replace(LEADING_ARTICLE, '');

/** Artists grouped under the first letter of their name without a leading article ('#' for the rest). */
export function artistIndex(artists: Artist[], render: (a: Artist) => Body): Body[] {
  const groups = new Map<string, Artist[]>();
  for (const a of artists) {
    const first = sortName(a.name).charAt(0).toUpperCase();
    const key = /\p{L}/u.test(first) ? first : '#';
    const members = groups.get(key) ?? [];
    members.push(a);
    groups.set(key, members);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, members]) => ({
      name,
      artist: members.sort((a, b) => sortName(a.name).localeCompare(sortName(b.name))).map(render),
    }));
}
