import { z } from 'zod';
import { defineContract, publicMethod, subscribe, userMethod } from '../rpc/contract.js';
import type { Track } from './catalog.js';
import { Events, type MissingEntry } from './events.js';
import { id, ids, MAX_IDS, paging } from './shared.js';
import { shareMethods } from './shares.js';
import { type SmartRules, smartRules } from './smart.js';

export interface Playlist {
  id: string;
  ownerId: string;
  ownerName: string;
  name: string;
  public: boolean;
  trackCount: number;
  durationMs: number;
  createdAt: string;
  updatedAt: string;
  /**
   * A smart playlist's rules: its tracks are what they pick now, and its entries cannot be
   * changed (only its name, visibility and rules). Absent on ordinary playlists.
   */
  rules?: SmartRules;
  /**
   * A playlist made from a `.m3u` / `.m3u8` file of a library: its tracks follow the file, and
   * it cannot be renamed, changed or deleted here (only made public or private). Absent on others.
   */
  file?: PlaylistFileSource;
}

/** Where a file playlist comes from, and what of the file was not found. */
export interface PlaylistFileSource {
  libraryId: number;
  /** The file's path relative to its library's folder. */
  path: string;
  /** Entries that name no track of the library (at most PLAYLIST_FILE_MISSING_MAX of them). */
  missing: MissingEntry[];
  missingCount: number;
  /** Why the file's last version was refused (its tracks are those of the version before). */
  error?: string;
}

/** A playlist written as an extended M3U file (UTF-8). */
export interface PlaylistExport {
  /** A file name for it (the playlist's name, made safe), ending in `.m3u8`. */
  fileName: string;
  text: string;
  /** Tracks written; entries the caller may not see or whose files are gone are left out. */
  trackCount: number;
  leftOut: number;
}

export interface PlaylistEntry {
  /** 0-based position in the playlist. */
  position: number;
  track: Track;
}

/**
 * A playlist with one page of its entries: those at positions `offset` to `offset + limit - 1`
 * (fewer at the end; tracks the catalog no longer has are left out). `trackCount` counts them all.
 */
export interface PlaylistDetail extends Playlist {
  tracks: PlaylistEntry[];
  offset: number;
  limit: number;
}

/** Most smart playlists one user has (a list of them evaluates each). */
export const SMART_PLAYLISTS_MAX = 100;
/** Longest Navidrome `.nsp` file an import takes, in characters. */
export const NSP_MAX_CHARS = 64_000;

/** Most tracks one playlist holds: every position addressable, every page of it cheap. */
export const PLAYLIST_MAX_TRACKS = 10_000;

const name = z.string().trim().min(1, 'name must not be empty').max(200);
const position = z.number().int().min(0).max(PLAYLIST_MAX_TRACKS);
/** Which entries a read (or the answer to a change) shows: a page, never the whole list. */
const entries = {
  limit: paging.limit,
  offset: z.number().int().min(0).max(PLAYLIST_MAX_TRACKS).default(0),
};

/**
 * Changes act as the logged-in caller and only the owner may make them; a private playlist is
 * visible to its owner only (anyone else gets "not found"), a public one to everyone. Every
 * answer with entries holds one page of them: a change answers its playlist's first page.
 */
export const playlistsContract = defineContract(
  'playlists',
  {
    create: userMethod(
      z.strictObject({ name, public: z.boolean().default(false), trackIds: ids(MAX_IDS).optional() }),
    ).returns<PlaylistDetail>(),
    /** The caller's playlists, or another user's public ones with `ownerId` (no login needed). */
    list: publicMethod(z.strictObject({ ownerId: id.optional() })).returns<Playlist[]>(),
    /** The playlist with one page of its entries (`limit`, `offset`: positions). */
    get: publicMethod(z.strictObject({ id, ...entries })).returns<PlaylistDetail>(),
    rename: userMethod(z.strictObject({ id, name })).returns<Playlist>(),
    setPublic: userMethod(z.strictObject({ id, public: z.boolean() })).returns<Playlist>(),
    delete: userMethod(z.strictObject({ id })).returns<{ deleted: true }>(),
    /** Adds tracks at `position` (default: the end). */
    addTracks: userMethod(
      z.strictObject({ id, trackIds: ids(MAX_IDS).min(1), position: position.optional() }),
    ).returns<PlaylistDetail>(),
    /** Replaces all of a playlist's tracks in one step (an empty list clears it). */
    replaceTracks: userMethod(
      z.strictObject({ id, trackIds: ids(PLAYLIST_MAX_TRACKS) }),
    ).returns<PlaylistDetail>(),
    removeTrack: userMethod(z.strictObject({ id, position })).returns<PlaylistDetail>(),
    /** Removes the tracks at several positions (as they are before the removal) in one step. */
    removeTracks: userMethod(
      z.strictObject({ id, positions: z.array(position).min(1).max(MAX_IDS) }),
    ).returns<PlaylistDetail>(),
    moveTrack: userMethod(z.strictObject({ id, from: position, to: position })).returns<PlaylistDetail>(),
    /**
     * Several changes as one: a new name, visibility, and either all the tracks replaced
     * (`trackIds`) or the entries at `removePositions` (as they are before the change) removed and
     * `addTrackIds` added at the end. All are applied or none (an unknown track or a position out
     * of range changes nothing). The one way the doors make a change of several parts.
     */
    update: userMethod(
      z
        .strictObject({
          id,
          name: name.optional(),
          public: z.boolean().optional(),
          trackIds: ids(PLAYLIST_MAX_TRACKS).optional(),
          removePositions: z.array(position).max(MAX_IDS).optional(),
          addTrackIds: ids(MAX_IDS).optional(),
        })
        .refine(
          (u) => u.trackIds === undefined || (u.removePositions === undefined && u.addTrackIds === undefined),
          'trackIds replaces every track: give it without removePositions and addTrackIds',
        )
        .refine(
          (u) =>
            u.name !== undefined ||
            u.public !== undefined ||
            u.trackIds !== undefined ||
            (u.removePositions?.length ?? 0) > 0 ||
            (u.addTrackIds?.length ?? 0) > 0,
          'give at least one of name, public, trackIds, removePositions, addTrackIds',
        ),
    ).returns<PlaylistDetail>(),
    ...shareMethods,
    /**
     * A smart playlist: its tracks are those its rules pick from the catalog and the caller's
     * own listening, kept up to date as plays and the catalog change (common/contracts/smart.ts).
     */
    createSmart: userMethod(
      z.strictObject({ name, public: z.boolean().default(false), rules: smartRules }),
    ).returns<PlaylistDetail>(),
    /** Replaces a smart playlist's rules. */
    setRules: userMethod(z.strictObject({ id, rules: smartRules })).returns<PlaylistDetail>(),
    /**
     * A smart playlist from a Navidrome `.nsp` file (its JSON text): refused, naming them, when
     * it has fields or operators with no counterpart here. `name` overrides the file's.
     */
    importNsp: userMethod(
      z.strictObject({
        nsp: z.string().min(1).max(NSP_MAX_CHARS),
        name: name.optional(),
        public: z.boolean().default(false),
      }),
    ).returns<PlaylistDetail>(),
    /**
     * Any playlist the caller may read, as an `.m3u8` file: each track's path relative to its
     * library's folder, tracks the caller may not see left out.
     */
    exportM3u: publicMethod(z.strictObject({ id })).returns<PlaylistExport>(),
  },
  {
    subscriptions: {
      /** A library's `.m3u` / `.m3u8` files become playlists of its owner (or the first admin). */
      playlistFiles: subscribe(Events.playlistFileChanged, { retryDelaysMs: [1000, 5000, 30_000] }),
      playlistFilesRemoved: subscribe(Events.playlistFileRemoved, { retryDelaysMs: [1000, 5000, 30_000] }),
    },
  },
);
export type PlaylistsContract = typeof playlistsContract;
