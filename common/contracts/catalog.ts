import { z } from 'zod';
import { adminMethod, defineContract, internalMethod, publicMethod, subscribe } from '../rpc/contract.js';
import { DATABASE_BATCH, Events } from './events.js';
import { id, ids, MAX_IDS, type Page, paging, windowParam } from './shared.js';
import { listeningFacts, smartRules } from './smart.js';

/** The library every existing catalog became (migration 007): seen by everyone. */
export const DEFAULT_LIBRARY_ID = 1;

/** A music folder of the catalog, as a caller may see it. */
export interface Library {
  id: number;
  name: string;
  albumCount: number;
  trackCount: number;
}

/** A library as an admin manages it: its folder, who sees it. */
export interface ManagedLibrary extends Library {
  /** The folder imported and watched; null for one with no folder (the seed's). */
  path: string | null;
  /** Every caller sees it, logged in or not. */
  everyone: boolean;
  /** Users granted it (ids of the users service), at most LIBRARY_GRANTS_MAX. */
  userIds: string[];
  /** Who owns the playlists made from its `.m3u` files (a user id); null: the first administrator. */
  ownerId: string | null;
}

/** Where a track's file lies, relative to its library's folder (for playlist files). */
export interface TrackPath {
  id: string;
  libraryId: number;
  path: string;
}

/** Most libraries a catalog holds, and most users granted one library (answers stay bounded). */
export const LIBRARIES_MAX = 100;
export const LIBRARY_GRANTS_MAX = 1000;
/**
 * Most libraries `libraryAccess` lists: every live one (at most LIBRARIES_MAX) and the most
 * recently removed; older removed ones drop out, and what their tracks were is then shown to
 * nobody.
 */
export const LIBRARIES_KNOWN_MAX = 1000;
/** The largest library id (an int column). */
export const LIBRARY_ID_MAX = 2_147_483_647;

export interface Artist {
  id: string;
  name: string;
  albumCount: number;
}

export interface Album {
  id: string;
  title: string;
  artistId: string;
  artistName: string;
  year: number | null;
  genre: string | null;
  /** CSS colour of the generated cover, e.g. `#3a6ea5`. */
  coverColor: string;
  trackCount: number;
  durationMs: number;
  createdAt: string;
}

/**
 * ReplayGain from a file's tags: gains in dB to bring the track (or its album) to the reference
 * loudness, peaks as a fraction of full scale (1 is 0 dBFS). Only what the tags hold is set.
 */
export interface ReplayGain {
  trackGain?: number;
  trackPeak?: number;
  albumGain?: number;
  albumPeak?: number;
}

export interface Track {
  id: string;
  title: string;
  albumId: string;
  albumTitle: string;
  artistId: string;
  artistName: string;
  number: number | null;
  durationMs: number;
  genre: string | null;
  year: number | null;
  mimeType: string;
  sizeBytes: number;
  /** Set when the file's tags carry ReplayGain. */
  replayGain?: ReplayGain;
  /**
   * Set on a track whose file has left the library (only `getTracks` with `withRemoved`
   * answers one): what it was when it went, so a playlist or a history can still show it.
   * Also set on `hiddenTrack`, a track of a library the reader may not see.
   */
  unavailable?: true;
  /** Set on `hiddenTrack`: a track of a library the reader may not see (no names, no duration). */
  hidden?: true;
}

/**
 * A track of a library the reader may not see, where a list they may read holds it (another
 * user's playlist): its place and id, unavailable, and nothing of what it is.
 */
export function hiddenTrack(id: string): Track {
  return {
    id,
    title: '',
    albumId: '',
    albumTitle: '',
    artistId: '',
    artistName: '',
    number: null,
    durationMs: 0,
    genre: null,
    year: null,
    mimeType: '',
    sizeBytes: 0,
    unavailable: true,
    hidden: true,
  };
}

/** A track with the library it is in (or was in, when `unavailable`): what TrackCache keeps. */
export interface LibraryTrack extends Track {
  libraryId: number;
}

/**
 * What one reader sees (`librariesSeenBy`): the libraries they see (null: every one), and every
 * library whose removed tracks they may be told about (those they see or saw, removed ones
 * included).
 */
export interface ReaderLibraries {
  visible: number[] | null;
  seen: number[];
}

/**
 * Who sees which library, for every library the catalog has or had (removed ones stay, up to
 * LIBRARIES_KNOWN_MAX: what their tracks were is still shown to those who saw them). The catalog decides every call's
 * scope from it, and services that name tracks to many readers keep a copy (TrackCache).
 */
export interface LibraryAccessList {
  libraries: Array<{
    id: number;
    removed: boolean;
    /** Every caller sees it, anonymous ones included. */
    everyone: boolean;
    ownerId: string | null;
    /** Users granted it, at most LIBRARY_GRANTS_MAX. */
    userIds: string[];
  }>;
}

/**
 * The rule of who sees which library: a library marked `everyone` is seen by every caller
 * (`userId` '' for an anonymous one), the others by the users granted them and by their owner
 * (who owns the playlists of its playlist files).
 */
export function librariesSeenBy(userId: string, access: LibraryAccessList): ReaderLibraries {
  const index = accessIndex(access);
  const own = userId === '' ? undefined : index.byUser.get(userId);
  // The list's order, whether a library is seen by everyone or by this user.
  const libraries = own ? [...index.everyone, ...own].sort((a, b) => a.at - b.at) : index.everyone;
  const seen = libraries.map((l) => l.id);
  const visible = libraries.filter((l) => !l.removed).map((l) => l.id);
  return { visible: visible.length === index.live ? null : visible, seen };
}

interface IndexedLibrary {
  id: number;
  removed: boolean;
  /** Its place in the list. */
  at: number;
}

/** A list of who sees which library, by user: built once per list, in one pass over its grants. */
interface AccessIndex {
  everyone: IndexedLibrary[];
  /** Per user, the libraries not seen by everyone that they own or are granted. */
  byUser: Map<string, IndexedLibrary[]>;
  /** Libraries not removed. */
  live: number;
}

const indexes = new WeakMap<LibraryAccessList, AccessIndex>();

/**
 * The index of a list (kept as long as the list is): a call's scope costs the caller's own
 * libraries, not every library times its grants (up to LIBRARIES_KNOWN_MAX x LIBRARY_GRANTS_MAX).
 */
function accessIndex(access: LibraryAccessList): AccessIndex {
  const kept = indexes.get(access);
  if (kept) return kept;
  const index: AccessIndex = { everyone: [], byUser: new Map(), live: 0 };
  access.libraries.forEach((library, at) => {
    const entry = { id: library.id, removed: library.removed, at };
    if (!library.removed) index.live++;
    if (library.everyone) {
      index.everyone.push(entry);
      return;
    }
    const users = new Set(library.userIds);
    if (library.ownerId) users.add(library.ownerId);
    for (const user of users) {
      const list = index.byUser.get(user);
      if (list) list.push(entry);
      else index.byUser.set(user, [entry]);
    }
  });
  indexes.set(access, index);
  return index;
}

/**
 * Whether a reader is shown a track, by the rule `getTracks` with `withRemoved` applies for
 * them: a track of a library they see, or a removed one (unavailable) of a library they see
 * or saw. For services that keep tracks and who sees which library for many readers
 * (TrackCache); test/library-scope.test.ts holds the two to the same answers.
 */
export function readerSees(track: LibraryTrack, libraries: ReaderLibraries): boolean {
  if (track.unavailable) return libraries.seen.includes(track.libraryId);
  return libraries.visible === null || libraries.visible.includes(track.libraryId);
}

export interface TrackFile {
  id: string;
  /** Absolute path of the audio file on this machine. */
  path: string;
  mimeType: string;
  sizeBytes: number;
  durationMs: number;
}

export interface Genre {
  name: string;
  albumCount: number;
  trackCount: number;
}

export interface SearchResult {
  artists: Artist[];
  albums: Album[];
  tracks: Track[];
}

/** A line of lyrics: with its time (ms from the start of the track) when the lyrics are synced. */
export interface LyricLine {
  startMs?: number;
  text: string;
}

/** A track's lyrics, as read from its tags or from a `.lrc` / `.txt` file beside it. */
export interface Lyrics {
  trackId: string;
  /** ISO 639 code from the tags, or `und` when the file does not say. */
  lang: string;
  synced: boolean;
  /** LRC's `[offset:]` in ms: positive shows each line that much sooner. */
  offsetMs: number;
  lines: LyricLine[];
}

/** Most lines kept of a track's lyrics, and most characters of a line: the answer stays bounded. */
export const LYRICS_MAX_LINES = 2000;
export const LYRICS_MAX_LINE = 500;
export const LYRICS_UNKNOWN_LANGUAGE = 'und';

/** Articles an index leaves out when it sorts and groups names ("The Beatles" under B). */
export const IGNORED_ARTICLES = ['The', 'A', 'An'] as const;

/** Every artist, by the first letter of the name without a leading article ('#' for the rest). */
export interface ArtistIndexGroup {
  name: string;
  artists: Artist[];
}

/**
 * Most artists `artistIndex` lists: the answer stays bounded, and holds a collector's whole
 * library (a million tracks are some 20,000 artists; players sync the artist list from it).
 */
export const ARTIST_INDEX_MAX = 50_000;

/** An artist (the one an artist, album or track id belongs to) and those like it. */
export interface ArtistInfo {
  artist: Artist;
  /** Artists whose tracks the same listeners play, then artists of the same genres. */
  similar: Artist[];
}

/** How `listAlbums` orders. */
export const ALBUM_SORTS = ['newest', 'alphabetical', 'artist', 'random', 'year'] as const;

const year = z.number().int().min(0).max(9999);
/** Albums or tracks of the years between `fromYear` and `toYear` (either order), both included. */
const years = { fromYear: year.optional(), toYear: year.optional() };
const genre = z.string().max(100).optional();
/** Only this library, one of those the caller sees (any other is NotFound). */
const library = z.number().int().min(1).max(LIBRARY_ID_MAX).optional();
const libraryName = z.string().trim().min(1).max(100);
const libraryPath = z.string().trim().min(1).max(4096);
const libraryId = z.number().int().min(1).max(LIBRARY_ID_MAX);
const libraryOwner = z.string().min(1).max(100).nullable();
const count = (max: number, fallback: number) => z.number().int().min(1).max(max).default(fallback);
/** Longest `cursor` accepted (a row's sort keys, encoded). */
export const CURSOR_MAX = 2000;
/**
 * Where a page starts, as the previous page's `nextCursor` said (beside `offset`, which it
 * replaces): pages by cursor stay consistent while the catalog changes.
 */
const cursor = z.string().max(CURSOR_MAX).optional();

/** A page of a listing, with the cursor of the page after it (null after the last). */
export type CursorPage<T> = Page<T> & { nextCursor: string | null };

const catalogMethods = {
  // Every read answers only from the libraries the caller sees (anonymous callers: those marked
  // `everyone`); an id of another library is NotFound. `library` narrows a listing to one.
  listArtists: publicMethod(z.strictObject({ ...paging, cursor, library })).returns<CursorPage<Artist>>(),
  /** Every artist (at most ARTIST_INDEX_MAX), grouped and sorted for an index view. */
  artistIndex: publicMethod(z.strictObject({ library })).returns<ArtistIndexGroup[]>(),
  getArtist: publicMethod(z.strictObject({ id })).returns<Artist & { albums: Album[] }>(),
  /** Several artists at once, in the order asked; unknown ids are left out. */
  getArtists: publicMethod(z.strictObject({ ids: ids(MAX_IDS), library })).returns<Artist[]>(),
  /**
   * The artist an artist, album or track id belongs to, with up to `similarLimit` similar
   * artists (listeners in common, counted by the stats service, then shared genres).
   */
  artistInfo: publicMethod(
    z.strictObject({ id, similarLimit: z.number().int().min(0).max(100).default(20) }),
  ).returns<ArtistInfo>(),
  getAlbum: publicMethod(z.strictObject({ id })).returns<Album & { tracks: Track[] }>(),
  /** Several albums at once (without their tracks), in the order asked; unknown ids are left out. */
  getAlbums: publicMethod(z.strictObject({ ids: ids(MAX_IDS), library })).returns<Album[]>(),
  /**
   * A page of albums: by title, by artist then title, newest added first, random, or by
   * release year (with `fromYear` after `toYear`, the latest years first).
   */
  listAlbums: publicMethod(
    z.strictObject({
      sort: z.enum(ALBUM_SORTS).default('alphabetical'),
      genre,
      ...years,
      ...paging,
      cursor,
      library,
    }),
  ).returns<CursorPage<Album>>(),
  /** The albums of the given tracks, each once, in the order its first track comes: a page of them. */
  albumsOfTracks: publicMethod(z.strictObject({ trackIds: ids(MAX_IDS), ...paging, library })).returns<
    Album[]
  >(),
  /**
   * Albums by their tracks' plays (the stats service's most played tracks, summed per album),
   * of the libraries the caller sees: the page is cut after tracks out of sight are left out.
   */
  topAlbums: publicMethod(z.strictObject({ window: windowParam, ...paging, library })).returns<
    Array<Album & { plays: number }>
  >(),
  listTracks: publicMethod(z.strictObject({ genre, ...paging, cursor, library })).returns<
    CursorPage<Track>
  >(),
  getTrack: publicMethod(z.strictObject({ id })).returns<Track>(),
  /**
   * Several tracks at once, in the order asked; unknown ids are left out. With `withRemoved`,
   * tracks whose files have left the library come too, as they were, marked `unavailable`
   * (to a caller who saw their library: a removed library's tracks too, to those it was
   * granted to).
   */
  getTracks: publicMethod(
    z.strictObject({ ids: ids(MAX_IDS), withRemoved: z.boolean().default(false), library }),
  ).returns<Track[]>(),
  /**
   * The tracks a smart playlist's rules pick (common/contracts/smart.ts), in their order, at
   * most their limit; its owner's listening comes in `facts` (the playlists service keeps it).
   * Only tracks of the libraries `ownerId` sees are picked.
   */
  matchTracks: internalMethod(
    z.strictObject({ rules: smartRules, facts: listeningFacts.optional(), seed: id, ownerId: id }),
  ).returns<Array<{ id: string; durationMs: number }>>(),
  /** Who sees which library, for a service naming tracks to many readers from a cache of its own (TrackCache). */
  libraryAccess: internalMethod(z.strictObject({})).returns<LibraryAccessList>(),
  /**
   * Tracks by id as `getTracks` with `withRemoved` answers a service (every library), each with
   * its library, so one cache serves every reader (`readerSees` filters it per reader).
   */
  libraryTracks: internalMethod(z.strictObject({ ids: ids(MAX_IDS) })).returns<LibraryTrack[]>(),
  /**
   * Where tracks' files lie relative to their libraries' folders, in the order asked (unknown
   * ids left out): what an exported playlist file names. Callers filter what their reader sees.
   */
  trackPaths: internalMethod(z.strictObject({ ids: ids(MAX_IDS) })).returns<TrackPath[]>(),
  /** Where the audio of a track lives (a path on the server), for streaming. */
  getTrackFile: internalMethod(z.strictObject({ id })).returns<TrackFile>(),
  /** A track's lyrics, or null when it has none (an unknown track is NotFound). */
  getLyrics: publicMethod(z.strictObject({ trackId: id })).returns<Lyrics | null>(),
  /** The lyrics of a song named by artist and title (letter case and accents aside), or null. */
  findLyrics: publicMethod(
    z.strictObject({ artist: z.string().trim().min(1).max(200), title: z.string().trim().min(1).max(200) }),
  ).returns<Lyrics | null>(),
  listGenres: publicMethod(z.strictObject({ library })).returns<Genre[]>(),
  /**
   * The catalog's version as the caller sees it (for caches): it changes with every change to
   * artists, albums or tracks, and differs between callers who see different libraries.
   */
  version: publicMethod(z.strictObject({ library })).returns<{ version: string }>(),
  randomTracks: publicMethod(z.strictObject({ limit: count(500, 10), genre, ...years, library })).returns<
    Track[]
  >(),
  search: publicMethod(
    z.strictObject({
      q: z.string().trim().min(1, 'q must not be empty').max(200),
      limit: z.number().int().min(1).max(100).default(20),
      library,
    }),
  ).returns<SearchResult>(),
  /**
   * Most played tracks (counts from the stats service), with their catalog details: those of
   * the libraries the caller sees, among the 100 most played of all.
   */
  topTracks: publicMethod(z.strictObject({ window: windowParam, limit: count(100, 10), library })).returns<
    Array<Track & { plays: number }>
  >(),
  /**
   * An artist's most played tracks (all-time counts from the stats service), most played
   * first; tracks nobody played are left out. By artist id, or by name (any letter case; an
   * unknown name has no tracks).
   */
  artistTopTracks: publicMethod(
    z.union([
      z.strictObject({ artistId: id, limit: count(500, 50) }),
      z.strictObject({ artistName: z.string().trim().min(1).max(200), limit: count(500, 50) }),
    ]),
  ).returns<Array<Track & { plays: number }>>(),
  /**
   * Tracks like an artist's, an album's or a track's: those the same listeners played (stats
   * service), then the same artist's, then the same genres' (random among equals). A track
   * is never similar to itself.
   */
  similarTracks: publicMethod(z.strictObject({ id, limit: count(500, 50) })).returns<Track[]>(),

  /** The libraries the caller sees, by name. */
  listLibraries: publicMethod(z.strictObject({})).returns<Library[]>(),
  // Managing libraries: administrators only.
  /** Every library, with its folder and who sees it. */
  manageLibraries: adminMethod(z.strictObject({})).returns<ManagedLibrary[]>(),
  /**
   * Adds a library of a folder on the server (absolute; not inside another library's, nor
   * holding one): the catalog's workers import it and watch it.
   */
  addLibrary: adminMethod(
    z.strictObject({
      name: libraryName,
      path: libraryPath,
      everyone: z.boolean().default(false),
      ownerId: libraryOwner.optional(),
    }),
  ).returns<ManagedLibrary>(),
  /**
   * Renames a library, changes whether everyone sees it, or who owns the playlists of its
   * playlist files (`ownerId`; null: the first administrator; they move to the new owner).
   */
  updateLibrary: adminMethod(
    z.strictObject({
      id: libraryId,
      name: libraryName.optional(),
      everyone: z.boolean().optional(),
      ownerId: libraryOwner.optional(),
    }),
  ).returns<ManagedLibrary>(),
  /** Removes a library and everything in it from the catalog (its files stay on disk). */
  removeLibrary: adminMethod(z.strictObject({ id: libraryId })).returns<{ removed: true; tracks: number }>(),
  /** Lets a user see a library (idempotent). */
  grantLibrary: adminMethod(
    z.strictObject({ id: libraryId, userId: z.string().min(1).max(100) }),
  ).returns<ManagedLibrary>(),
  /** Stops a user seeing a library (idempotent). */
  revokeLibrary: adminMethod(
    z.strictObject({ id: libraryId, userId: z.string().min(1).max(100) }),
  ).returns<ManagedLibrary>(),
};

export const catalogContract = defineContract('catalog', catalogMethods, {
  subscriptions: {
    /** A deleted account's library grants go with it. */
    usersDeleted: subscribe(Events.userDeleted, { batch: DATABASE_BATCH }),
  },
});
export type CatalogContract = typeof catalogContract;
